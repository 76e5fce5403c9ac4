//! The extractors of every handler: `ApiJson` (a JSON object body), `ApiPath` and `ApiQuery`.
//! Each is axum's own, except that whatever it rejects (400 / 413 / 415) is answered with the
//! shop's error body, never axum's plain text.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::ApiError;

/// A JSON request body, which must be an object (every body the shop takes is one), or a
/// JSON response. A struct is never read from an array (`[[]]`), as serde would allow.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(unreadable_body)?;
        if !opens_an_object(&bytes) {
            // Malformed JSON is told as such; well-formed JSON of another kind is the wrong body.
            return Err(match serde_json::from_slice::<IgnoredAny>(&bytes) {
                Err(e) => malformed(&e.to_string()),
                Ok(_) => {
                    ApiError::bad_request("invalid_body", "Request body must be a JSON object")
                }
            });
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json`, or a `+json` type, with any parameters (`; charset=utf-8`): what
/// axum's `Json` takes.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the body's first character (after blanks) opens an object.
fn opens_an_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

fn malformed(detail: &str) -> ApiError {
    ApiError::bad_request("invalid_json", format!("Malformed JSON: {detail}"))
}

fn unreadable_body(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body too large",
        );
    }
    ApiError::bad_request("invalid_body", rejection.body_text())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => malformed(&e.body_text()),
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request("invalid_body", format!("Invalid body: {}", e.body_text()))
        }
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; one that cannot be read (bad percent-encoding) is a 400 `invalid_id`,
/// every path parameter of the shop being an id.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        // A route and its extractor that disagree: the server's fault, not the client's.
        return ApiError::internal(&rejection.body_text());
    }
    ApiError::bad_request("invalid_id", rejection.body_text())
}

/// The query string; one that does not read as `T` (a parameter twice, a value of the wrong
/// type) is a 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::body::Body;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Ids {
        #[allow(dead_code)]
        product_ids: Vec<i64>,
    }

    async fn read(content_type: Option<&str>, body: &str) -> Result<ApiJson<Ids>, ApiError> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body.to_owned())).unwrap();
        ApiJson::<Ids>::from_request(req, &()).await
    }

    #[tokio::test]
    async fn only_a_json_object_is_a_body() {
        let json = Some("application/json; charset=utf-8");
        assert!(read(json, r#"{"product_ids": [1]}"#).await.is_ok());
        assert!(
            read(
                Some("application/merge-patch+json"),
                r#" {"product_ids": []}"#
            )
            .await
            .is_ok()
        );
        for (ct, body, status, code) in [
            (json, "[[]]", 400, "invalid_body"),
            (json, "[[1, 2]]", 400, "invalid_body"),
            (json, "7", 400, "invalid_body"),
            (json, "[1", 400, "invalid_json"),
            (json, "{\"product_ids\": [1.5]}", 400, "invalid_body"),
            (json, "{\"product_ids\": [1]", 400, "invalid_json"),
            (None, "{}", 415, "unsupported_media_type"),
            (Some("text/plain"), "{}", 415, "unsupported_media_type"),
        ] {
            let err = read(ct, body).await.err().unwrap();
            assert_eq!((err.status.as_u16(), err.code), (status, code), "{body}");
        }
    }

    #[tokio::test]
    async fn a_query_it_cannot_read_is_a_json_400() {
        #[derive(Deserialize)]
        struct Page {
            #[allow(dead_code)]
            limit: Option<String>,
        }
        let req = Request::builder()
            .uri("/orders?limit=1&limit=2")
            .body(Body::empty())
            .unwrap();
        let (mut parts, _) = req.into_parts();
        let err = ApiQuery::<Page>::from_request_parts(&mut parts, &())
            .await
            .err()
            .unwrap();
        assert_eq!((err.status.as_u16(), err.code), (400, "invalid_query"));
        assert!(err.message.contains("duplicate field"), "{}", err.message);
    }
}
