//! The request faults: a middleware that applies those drawn for each request.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use tracemart_telemetry::Metrics;

use super::{FaultKind, FaultTarget, Faults};
use crate::error::ApiError;

/// What the middleware and the admin routes share.
#[derive(Clone)]
pub struct FaultState {
    pub faults: Faults,
    pub metrics: Metrics,
}

/// Middleware: applies the request faults drawn for the request. Latency first, then the
/// first fault that ends the request (error, hang or drop) if any; each recorded on the
/// request's span.
pub async fn inject(State(state): State<FaultState>, req: Request, next: Next) -> Response {
    let drawn = state.faults.draw(FaultTarget::Request, req.uri().path());
    if drawn.is_empty() {
        return next.run(req).await;
    }
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let endpoint = matched.as_ref().map_or("", MatchedPath::as_str);
    for fault in &drawn {
        if let Some(delay) = fault.spec.kind.delay() {
            fault.record(
                &state.metrics,
                endpoint,
                &format!("added {} ms", delay.as_millis()),
            );
            tokio::time::sleep(delay).await;
        }
    }
    for fault in &drawn {
        match fault.spec.kind {
            FaultKind::Error { status } => {
                fault.record(&state.metrics, endpoint, &format!("answered {status}"));
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return ApiError::new(status, "fault_injected", "Fault injected on purpose")
                    .into_response();
            }
            FaultKind::Hang => {
                fault.record(&state.metrics, endpoint, "no answer");
                std::future::pending::<()>().await;
            }
            FaultKind::Drop => {
                fault.record(&state.metrics, endpoint, "closed the connection");
                return Response::new(axum::body::Body::new(BrokenBody));
            }
            _ => {}
        }
    }
    next.run(req).await
}

/// A body whose first read fails: the server closes the connection without an answer.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "fault injected: connection dropped",
        ))))
    }
}
