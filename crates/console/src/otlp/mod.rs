//! The OTLP receiver: HTTP (`/v1/traces`, `/v1/logs`, `/v1/metrics`; protobuf or JSON) and gRPC
//! on one router, served on both OTLP ports. Requests are decoded and flattened here, on the
//! caller's task, then queued for the single writer.

mod convert;
mod grpc;
mod http;
mod wire;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::store::ingest::{Ingest, SubmitError};
use crate::store::model::Batch;

pub(crate) use convert::kind_name;

/// What the OTLP handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) ingest: Ingest,
    pub(crate) max_request_bytes: usize,
    /// Spans one export may bring; the rest are refused as a partial success.
    pub(crate) max_spans_per_request: usize,
}

/// The OTLP router (HTTP and gRPC paths) plus `GET /health`.
pub(crate) fn router(receiver: Receiver) -> Router {
    Router::new()
        .route("/v1/traces", post(http::traces))
        .route("/v1/logs", post(http::logs))
        .route("/v1/metrics", post(http::metrics))
        .route(grpc::TRACES_PATH, post(grpc::traces))
        .route(grpc::LOGS_PATH, post(grpc::logs))
        .route(grpc::METRICS_PATH, post(grpc::metrics))
        .route("/health", get(crate::api::health))
        .with_state(receiver)
}

/// Middleware of the OTLP ports: with a header configured, an export without it (or with
/// another value) is refused: 401 over HTTP, UNAUTHENTICATED over gRPC. `/health` stays open.
pub(crate) async fn require_header(
    axum::extract::State(required): axum::extract::State<Option<std::sync::Arc<(String, String)>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let Some(required) = required else {
        return next.run(req).await;
    };
    let (name, value) = required.as_ref();
    let carried = req
        .headers()
        .get(name.as_str())
        .is_some_and(|v| v.as_bytes() == value.as_bytes());
    if carried || req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let message =
        format!("OTLP exports to this console need the {name} header it was configured with");
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        // gRPC answers 200 and puts the outcome in its status headers (16 UNAUTHENTICATED).
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from_static("16"));
        if let Ok(text) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", text);
        }
        return response;
    }
    (StatusCode::UNAUTHORIZED, message).into_response()
}

/// Why an export was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    /// The message is not valid OTLP protobuf (or its text is not UTF-8).
    #[error("{0}")]
    Malformed(String),
    /// The ingest queue did not take the batch.
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

impl Receiver {
    /// Decodes, converts and queues an `ExportTraceServiceRequest` in protobuf.
    async fn export_traces(&self, body: Bytes) -> Result<ExportTraceServiceResponse, ExportError> {
        let size = body.len();
        let req = wire::TraceRequest::decode(body).map_err(malformed)?;
        let converted =
            convert::spans(&req, size, self.max_spans_per_request).map_err(malformed)?;
        drop(req);
        if !converted.batch.rows.is_empty() {
            self.ingest.submit(Batch::Spans(converted.batch)).await?;
        }
        let mut why = Vec::new();
        if converted.rejected > 0 {
            why.push("spans with an invalid trace_id or span_id were dropped".to_owned());
        }
        if converted.over_limit > 0 {
            why.push(format!(
                "{} spans beyond the limit of {} per request were dropped; export smaller batches",
                converted.over_limit, self.max_spans_per_request
            ));
        }
        let rejected_spans = converted.rejected + converted.over_limit;
        Ok(ExportTraceServiceResponse {
            partial_success: (rejected_spans > 0).then(|| ExportTracePartialSuccess {
                rejected_spans,
                error_message: why.join("; "),
            }),
        })
    }

    /// Decodes, converts and queues an `ExportLogsServiceRequest` in protobuf.
    async fn export_logs(&self, body: Bytes) -> Result<ExportLogsServiceResponse, ExportError> {
        let size = body.len();
        let req = wire::LogsRequest::decode(body).map_err(malformed)?;
        let converted = convert::logs(&req, size).map_err(malformed)?;
        drop(req);
        if !converted.batch.rows.is_empty() {
            self.ingest.submit(Batch::Logs(converted.batch)).await?;
        }
        Ok(ExportLogsServiceResponse {
            partial_success: (converted.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: converted.rejected,
                error_message: "log records were dropped".into(),
            }),
        })
    }
}

fn malformed(e: impl std::fmt::Display) -> ExportError {
    ExportError::Malformed(e.to_string())
}
