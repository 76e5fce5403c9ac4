//! OTLP/gRPC on the same router: tonic frames the messages, this module decodes them itself so
//! that a malformed message is INVALID_ARGUMENT (tonic's own decoder says INTERNAL) and an
//! oversized one RESOURCE_EXHAUSTED; a full queue is UNAVAILABLE, which exporters retry.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::Response;
use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use super::{ExportError, Receiver};

pub(super) const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub(super) const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
pub(super) const METRICS_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Passes message bytes through; decoding happens in the handler.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

fn status(e: ExportError) -> Status {
    match e {
        ExportError::Malformed(message) => {
            Status::invalid_argument(format!("malformed OTLP message: {message}"))
        }
        ExportError::Submit(e) => Status::unavailable(e.to_string()),
    }
}

fn decode<T: Message + Default>(bytes: Bytes) -> Result<T, Status> {
    T::decode(bytes).map_err(|e| Status::invalid_argument(format!("malformed OTLP message: {e}")))
}

/// Runs one unary call through tonic's framing with `handle` on the message bytes.
async fn unary<F, Fut>(receiver: &Receiver, req: Request, handle: F) -> Response
where
    F: FnOnce(Receiver, Bytes) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Bytes, Status>> + Send + 'static,
{
    let limit = receiver.max_request_bytes;
    let state = receiver.clone();
    let service = tower::service_fn(move |call: tonic::Request<Bytes>| {
        let state = state.clone();
        let handle = handle.clone();
        async move {
            let bytes = call.into_inner();
            if bytes.len() > limit {
                return Err(Status::resource_exhausted(format!(
                    "message exceeds {limit} bytes"
                )));
            }
            handle(state, bytes).await.map(tonic::Response::new)
        }
    });
    let mut grpc = tonic::server::Grpc::new(RawCodec).max_decoding_message_size(limit);
    let mut response = grpc.unary(service, req).await;
    // tonic refuses a frame over the limit before reading it, as OUT_OF_RANGE; OTLP asks for
    // RESOURCE_EXHAUSTED.
    let out_of_range = HeaderValue::from(Code::OutOfRange as i32);
    if response.headers().get("grpc-status") == Some(&out_of_range) {
        response.headers_mut().insert(
            "grpc-status",
            HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
    response.map(axum::body::Body::new)
}

pub(super) async fn traces(State(receiver): State<Receiver>, req: Request) -> Response {
    unary(&receiver, req, |r: Receiver, bytes: Bytes| async move {
        let answer = r.export_traces(bytes).await.map_err(status)?;
        Ok(Bytes::from(answer.encode_to_vec()))
    })
    .await
}

pub(super) async fn logs(State(receiver): State<Receiver>, req: Request) -> Response {
    unary(&receiver, req, |r: Receiver, bytes: Bytes| async move {
        let answer = r.export_logs(bytes).await.map_err(status)?;
        Ok(Bytes::from(answer.encode_to_vec()))
    })
    .await
}

/// Accepted and discarded, like its HTTP counterpart.
pub(super) async fn metrics(State(receiver): State<Receiver>, req: Request) -> Response {
    unary(&receiver, req, |_r: Receiver, bytes: Bytes| async move {
        let _: ExportMetricsServiceRequest = decode(bytes)?;
        Ok(Bytes::from(
            ExportMetricsServiceResponse {
                partial_success: None,
            }
            .encode_to_vec(),
        ))
    })
    .await
}
