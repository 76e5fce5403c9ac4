//! The OTLP receiver: HTTP (`/v1/traces`, `/v1/logs`, `/v1/metrics`; protobuf or JSON) and gRPC
//! on one router, served on both OTLP ports. Requests are decoded and flattened here, on the
//! caller's task, then queued for the single writer.

mod convert;
mod grpc;
mod http;

use axum::Router;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use crate::store::ingest::{Ingest, SubmitError};
use crate::store::model::Batch;

pub(crate) use convert::kind_name;

/// What the OTLP handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) ingest: Ingest,
    pub(crate) max_request_bytes: usize,
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

impl Receiver {
    async fn export_traces(
        &self,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, SubmitError> {
        let converted = convert::spans(req);
        if !converted.rows.is_empty() {
            self.ingest.submit(Batch::Spans(converted.rows)).await?;
        }
        Ok(ExportTraceServiceResponse {
            partial_success: (converted.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: converted.rejected,
                error_message: "spans with an invalid trace_id or span_id were dropped".into(),
            }),
        })
    }

    async fn export_logs(
        &self,
        req: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, SubmitError> {
        let converted = convert::logs(req);
        if !converted.rows.is_empty() {
            self.ingest.submit(Batch::Logs(converted.rows)).await?;
        }
        Ok(ExportLogsServiceResponse {
            partial_success: (converted.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: converted.rejected,
                error_message: "log records were dropped".into(),
            }),
        })
    }
}
