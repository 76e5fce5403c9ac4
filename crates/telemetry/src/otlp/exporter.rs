//! The OTLP/HTTP protobuf span and log exporters: each batch encoded into one reused buffer and
//! handed to the shared `ProtobufPoster`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_otlp::ExporterBuildError;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::encode::TraceEncoder;
use super::encode_logs::LogEncoder;
use super::envelope::ScopeGroups;
use super::poster::{ProtobufPoster, Signal};
use crate::config::OtlpExportSettings;

#[cfg(test)]
mod tests;

/// An encoder of one signal's export requests, and where they go.
pub(crate) trait SignalEncoder: Default {
    const SIGNAL: Signal;
}

impl SignalEncoder for TraceEncoder {
    const SIGNAL: Signal = Signal::Traces;
}

impl SignalEncoder for LogEncoder {
    const SIGNAL: Signal = Signal::Logs;
}

/// Exports spans (`E` = [`TraceEncoder`]) or log records (`E` = [`LogEncoder`]) as OTLP
/// protobuf over HTTP without building opentelemetry-proto's structs.
#[derive(Debug)]
pub(crate) struct HttpProtoExporter<E> {
    poster: ProtobufPoster,
    encoder: E,
    buffers: Mutex<Buffers>,
}

/// Kept from one export to the next, so that a batch allocates (nearly) nothing.
#[derive(Debug, Default)]
struct Buffers {
    body: Vec<u8>,
    groups: ScopeGroups,
}

impl<E: SignalEncoder> HttpProtoExporter<E> {
    /// Exports to `{endpoint}/v1/traces` or `{endpoint}/v1/logs` with the signal's headers and
    /// timeout.
    pub(crate) fn new(
        endpoint: &str,
        settings: &OtlpExportSettings,
    ) -> Result<Self, ExporterBuildError> {
        Ok(Self {
            poster: ProtobufPoster::new(E::SIGNAL, endpoint, &settings.headers, settings.timeout)?,
            encoder: E::default(),
            buffers: Mutex::default(),
        })
    }

    /// Encodes into the kept buffers with `encode`, then posts. Blocking, as opentelemetry-otlp's
    /// exporters with the blocking client: the SDK's batch processors call it on threads of
    /// their own.
    fn export_with(
        &self,
        items: usize,
        encode: impl FnOnce(&E, &mut ScopeGroups, &mut Vec<u8>),
    ) -> OTelSdkResult {
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        let Buffers { body, groups } = &mut *buffers;
        self.poster
            .export(body, items, |body| encode(&self.encoder, groups, body))
    }
}

impl SpanExporter for HttpProtoExporter<TraceEncoder> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.export_with(batch.len(), |encoder, groups, body| {
            encoder.encode(&batch, groups, body);
        })
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.poster.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.encoder = TraceEncoder::new(resource);
    }
}

impl LogExporter for HttpProtoExporter<LogEncoder> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.export_with(batch.iter().count(), |encoder, groups, body| {
            encoder.encode(&batch, groups, body);
        })
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.poster.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.encoder = LogEncoder::new(resource);
    }
}
