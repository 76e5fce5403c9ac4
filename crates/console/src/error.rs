//! The crate's two error types: `ConsoleError` ends `run`, `ApiError` answers one HTTP request.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the console could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened, migrated or queried.
    #[error("console store: {0}")]
    Store(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("console store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A listener failed while serving.
    #[error("console server: {0}")]
    Serve(#[from] std::io::Error),
    /// The ingest writer stopped unexpectedly (or is stopping).
    #[error("console ingest writer stopped")]
    WriterGone,
    /// The ingest writer's database work failed.
    #[error("console store writer: {0}")]
    Writer(#[from] rusqlite::Error),
    /// The ingest writer's thread could not be started.
    #[error("cannot start the console writer thread: {0}")]
    WriterThread(std::io::Error),
}

/// A failed API request; rendered in Jaeger's error shape.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    /// A client beyond loopback without a valid token.
    #[error("{0}")]
    Unauthorized(String),
    /// Another server's refusal, passed on with its status.
    #[error("{1}")]
    Upstream(StatusCode, String),
    #[error("storage error")]
    Store(#[from] sqlx::Error),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Upstream(status, _) => *status,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Seconds a refused OTLP sender should wait before retrying.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Store(e) = &self {
            tracing::error!(error = %e, "console query failed");
        }
        // Jaeger's structuredResponse: {"data":null,"total":0,"limit":0,"offset":0,"errors":[{code,msg}]}
        let body = json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": self.to_string()}],
        });
        (status, Json(body)).into_response()
    }
}
