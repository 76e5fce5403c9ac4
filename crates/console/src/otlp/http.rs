//! OTLP/HTTP: protobuf or JSON bodies, answers and errors in the request's encoding, as the
//! OTLP specification asks (a `google.rpc.Status` body on errors, `Retry-After` on 503).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ExportError, Receiver};
use crate::error::RETRY_AFTER_SECS;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A refused OTLP/HTTP request.
#[derive(Debug)]
struct OtlpError {
    status: StatusCode,
    message: String,
    encoding: Encoding,
}

impl OtlpError {
    fn new(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            encoding,
        }
    }

    fn malformed(encoding: Encoding, e: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            encoding,
            format!("malformed OTLP payload: {e}"),
        )
    }

    fn export(e: ExportError, encoding: Encoding) -> Self {
        match e {
            ExportError::Malformed(message) => Self::malformed(encoding, message),
            ExportError::Submit(e) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, encoding, e.to_string())
            }
        }
    }
}

impl IntoResponse for OtlpError {
    fn into_response(self) -> Response {
        // gRPC codes: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, 12 UNIMPLEMENTED.
        let code = match self.status {
            StatusCode::PAYLOAD_TOO_LARGE => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => 12,
            _ => 3,
        };
        let body = RpcStatus {
            code,
            message: self.message,
        };
        let mut response = encode(self.encoding, &body);
        *response.status_mut() = self.status;
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

fn encode<T: Message + Serialize>(encoding: Encoding, msg: &T) -> Response {
    match encoding {
        Encoding::Protobuf => {
            ([(header::CONTENT_TYPE, PROTOBUF)], msg.encode_to_vec()).into_response()
        }
        Encoding::Json => match serde_json::to_vec(msg) {
            Ok(body) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
    }
}

/// Checks the headers and reads the body within the size limit.
async fn read(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Encoding, Bytes), OtlpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let encoding = if mime.eq_ignore_ascii_case(PROTOBUF) {
        Encoding::Protobuf
    } else if mime.eq_ignore_ascii_case(JSON) {
        Encoding::Json
    } else {
        return Err(OtlpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            format!("unsupported content type {content_type:?}: use {PROTOBUF} or {JSON}"),
        ));
    };
    if let Some(enc) = headers.get(header::CONTENT_ENCODING)
        && enc.as_bytes() != b"identity"
    {
        return Err(OtlpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            encoding,
            "compressed bodies are not supported; send them uncompressed",
        ));
    }
    let limit = receiver.max_request_bytes;
    let too_large = || {
        OtlpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("request body exceeds {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok((encoding, collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(OtlpError::new(
            StatusCode::BAD_REQUEST,
            encoding,
            format!("cannot read request body: {e}"),
        )),
    }
}

fn decode<T: Message + Default + DeserializeOwned>(
    encoding: Encoding,
    bytes: &Bytes,
) -> Result<T, OtlpError> {
    match encoding {
        Encoding::Protobuf => {
            T::decode(bytes.clone()).map_err(|e| OtlpError::malformed(encoding, e))
        }
        Encoding::Json => {
            serde_json::from_slice(bytes).map_err(|e| OtlpError::malformed(encoding, e))
        }
    }
}

/// The request as protobuf: the receiver decodes protobuf only, so a JSON body (rare, and
/// slower anyway) is parsed into `T` and encoded once more.
fn protobuf<T: Message + Default + DeserializeOwned>(
    encoding: Encoding,
    bytes: Bytes,
) -> Result<Bytes, OtlpError> {
    match encoding {
        Encoding::Protobuf => Ok(bytes),
        Encoding::Json => decode::<T>(encoding, &bytes).map(|req| req.encode_to_vec().into()),
    }
}

pub(super) async fn traces(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let (encoding, bytes) = read(&receiver, &headers, body).await?;
        let body = protobuf::<ExportTraceServiceRequest>(encoding, bytes)?;
        let answer = receiver
            .export_traces(body)
            .await
            .map_err(|e| OtlpError::export(e, encoding))?;
        Ok::<_, OtlpError>(encode(encoding, &answer))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn logs(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let (encoding, bytes) = read(&receiver, &headers, body).await?;
        let body = protobuf::<ExportLogsServiceRequest>(encoding, bytes)?;
        let answer = receiver
            .export_logs(body)
            .await
            .map_err(|e| OtlpError::export(e, encoding))?;
        Ok::<_, OtlpError>(encode(encoding, &answer))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// Metrics are accepted (so exporters configured for them stay quiet) and not stored.
pub(super) async fn metrics(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let (encoding, bytes) = read(&receiver, &headers, body).await?;
        let _: ExportMetricsServiceRequest = decode(encoding, &bytes)?;
        Ok::<_, OtlpError>(encode(
            encoding,
            &ExportMetricsServiceResponse {
                partial_success: None,
            },
        ))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}
