//! The web UI: plain HTML, JS and CSS embedded in the binary (also in debug builds), served as
//! a single-page app, so `/trace/{traceId}` and the other UI paths all load `index.html`.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

const INDEX: &str = "index.html";

/// Serves an asset, or `index.html` for any other non-API path.
pub(crate) async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") {
        return ApiError::NotFound(format!("no such endpoint: {}", uri.path())).into_response();
    }
    let (name, file) = match Assets::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (path, file),
        None => match Assets::get(INDEX) {
            Some(file) => (INDEX, file),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let cache = if name == INDEX {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        file.data,
    )
        .into_response()
}
