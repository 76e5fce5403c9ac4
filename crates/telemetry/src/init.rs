//! `init()`: traces, logs and propagators for one process, torn down by the returned guard.

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanExporter,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{
    LogFile, LogFormat, OtlpExportSettings, OtlpProtocol, SamplerSetting, TelemetryConfig,
};
use crate::export_queue::BoundedQueue;
use crate::logs::{JsonLogLayer, LogWriter, LogWriterGuard, WithContext, redirect_std_streams};
use crate::names::attr::resource;
use crate::otlp::{HttpProtoExporter, LogEncoder, SignalEncoder, TraceEncoder};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot build the OTLP {signal} exporter for {endpoint}: {source}")]
    Exporter {
        signal: &'static str,
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("cannot start the log writer thread: {0}")]
    LogWriter(#[source] std::io::Error),
    #[error("cannot write logs to {path}: {source}")]
    LogFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Keeps the providers alive; flushes and shuts them down when dropped.
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    /// JSON lines to stdout; dropped last, so that what the providers log on the way out is
    /// written too.
    log_writer: Option<LogWriterGuard>,
}

impl TelemetryGuard {
    /// Exports what is queued. Blocking: call it from `spawn_blocking` in async code.
    pub fn flush(&self) {
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.force_flush();
        }
        if let Some(lp) = &self.logger_provider {
            let _ = lp.force_flush();
        }
        if let Some(writer) = &self.log_writer {
            writer.flush();
        }
    }

    /// The provider behind the tracing layer, for code that makes spans with the SDK directly.
    pub(crate) fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(tp) = self.tracer_provider.take() {
            let _ = tp.shutdown();
        }
        if let Some(lp) = self.logger_provider.take() {
            let _ = lp.shutdown();
        }
        drop(self.log_writer.take());
    }
}

pub(crate) fn resource(config: &TelemetryConfig) -> Resource {
    let host = hostname();
    let mut attrs = vec![
        KeyValue::new(resource::SERVICE_VERSION, config.service_version.clone()),
        KeyValue::new(resource::DEPLOYMENT_ENVIRONMENT, config.environment.clone()),
        KeyValue::new(
            resource::DEPLOYMENT_ENVIRONMENT_NAME,
            config.environment.clone(),
        ),
        KeyValue::new(
            resource::SERVICE_INSTANCE_ID,
            uuid::Uuid::new_v4().to_string(),
        ),
        KeyValue::new(resource::HOST_NAME, host),
    ];
    for (k, v) in &config.extra_resource {
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attributes(attrs)
        .build()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

fn sampler(setting: SamplerSetting) -> Sampler {
    match setting {
        SamplerSetting::AlwaysOn => Sampler::AlwaysOn,
        SamplerSetting::AlwaysOff => Sampler::AlwaysOff,
        SamplerSetting::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerSetting::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerSetting::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerSetting::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

/// The hand-written OTLP/HTTP protobuf exporter of one signal, if it serves it: it does not
/// compress, so with `OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION` set opentelemetry-otlp's exporter
/// serves http/protobuf too (and reads the variable itself), as it serves gRPC and http/json.
fn hand_written_exporter<E: SignalEncoder>(
    protocol: OtlpProtocol,
    settings: &OtlpExportSettings,
    endpoint: &str,
) -> Result<Option<HttpProtoExporter<E>>, TelemetryError> {
    if protocol != OtlpProtocol::HttpProtobuf || settings.compression.is_some() {
        return Ok(None);
    }
    HttpProtoExporter::new(endpoint, settings)
        .map(Some)
        .map_err(|source| TelemetryError::Exporter {
            signal: E::SIGNAL.name(),
            endpoint: endpoint.to_owned(),
            source,
        })
}

/// Batches ended spans for the exporter the protocol calls for, behind the bounded queue.
fn span_processor(
    config: &TelemetryConfig,
    endpoint: &str,
) -> Result<BoundedQueue<BatchSpanProcessor>, TelemetryError> {
    let protocol = config.otlp_protocol;
    let queue = config.max_queue_size;
    Ok(
        match hand_written_exporter::<TraceEncoder>(protocol, &config.otlp_traces, endpoint)? {
            Some(exporter) => batch_processor(exporter, queue),
            None => batch_processor(span_exporter(endpoint, protocol)?, queue),
        },
    )
}

/// The logger provider, its records batched for the exporter the protocol calls for.
fn build_logger_provider(
    config: &TelemetryConfig,
    endpoint: &str,
    resource: Resource,
) -> Result<SdkLoggerProvider, TelemetryError> {
    let builder = SdkLoggerProvider::builder().with_resource(resource);
    let protocol = config.otlp_protocol;
    let builder = match hand_written_exporter::<LogEncoder>(protocol, &config.otlp_logs, endpoint)?
    {
        Some(exporter) => builder.with_batch_exporter(exporter),
        None => builder.with_batch_exporter(log_exporter(endpoint, protocol)?),
    };
    Ok(builder.build())
}

fn batch_processor<E: SpanExporter + 'static>(
    exporter: E,
    max_queue_size: usize,
) -> BoundedQueue<BatchSpanProcessor> {
    let (exporter, queue) = crate::export_queue::bounded(exporter, max_queue_size);
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(max_queue_size)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    queue.around(batch)
}

fn span_exporter(
    endpoint: &str,
    protocol: OtlpProtocol,
) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let built = match protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(http_protocol(protocol))
                // Set in code the path is used verbatim, so it must be complete.
                .with_endpoint(format!("{endpoint}/v1/traces"))
                .build()
        }
    };
    built.map_err(|source| TelemetryError::Exporter {
        signal: "traces",
        endpoint: endpoint.to_owned(),
        source,
    })
}

fn log_exporter(
    endpoint: &str,
    protocol: OtlpProtocol,
) -> Result<opentelemetry_otlp::LogExporter, TelemetryError> {
    let built = match protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
            opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_protocol(http_protocol(protocol))
                .with_endpoint(format!("{endpoint}/v1/logs"))
                .build()
        }
    };
    built.map_err(|source| TelemetryError::Exporter {
        signal: "logs",
        endpoint: endpoint.to_owned(),
        source,
    })
}

fn http_protocol(protocol: OtlpProtocol) -> Protocol {
    if protocol == OtlpProtocol::HttpJson {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    }
}

/// Installs the global tracing subscriber, tracer provider and W3C propagators.
///
/// Without an OTLP endpoint spans are still created (so ids reach logs and response headers)
/// but nothing is exported. With `sdk_disabled` no spans are created at all.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    install(config, None)
}

/// What [`init`] installs, but with ended spans batched (as for OTLP) for `exporter` and no log
/// export: the span bench measures today's layers against an exporter that does not post.
pub(crate) fn init_exporting_spans_to<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    exporter: E,
) -> Result<TelemetryGuard, TelemetryError> {
    install(
        config,
        Some(batch_processor(exporter, config.max_queue_size)),
    )
}

/// `init`'s work; `spans_to`, when given, takes the place of the OTLP exporters.
fn install(
    config: &TelemetryConfig,
    spans_to: Option<BoundedQueue<BatchSpanProcessor>>,
) -> Result<TelemetryGuard, TelemetryError> {
    // The default global propagator is a no-op: without this nothing would propagate.
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));

    let stdout_filter =
        EnvFilter::try_new(&config.log_filter).map_err(|source| TelemetryError::Filter {
            filter: config.log_filter.clone(),
            source,
        })?;
    let mut guard = TelemetryGuard {
        tracer_provider: None,
        logger_provider: None,
        log_writer: None,
    };
    let log_file_error = |file: &LogFile| {
        let path = file.path.clone();
        move |source| TelemetryError::LogFile { path, source }
    };
    let stdout_layer = match config.log_format {
        LogFormat::Json => {
            let (writer, writer_guard) = match &config.log_file {
                Some(file) => LogWriter::to_file(file).map_err(log_file_error(file))?,
                None => LogWriter::stdout().map_err(TelemetryError::LogWriter)?,
            };
            guard.log_writer = Some(writer_guard);
            JsonLogLayer::new(&config.service_name, &config.service_version, writer)
                .with_filter(stdout_filter)
                .boxed()
        }
        LogFormat::Pretty => {
            // Pretty lines are for reading as they come: the file takes them, unrotated.
            if let Some(file) = &config.log_file {
                redirect_std_streams(&file.path).map_err(log_file_error(file))?;
            }
            tracing_subscriber::fmt::layer()
                .event_format(WithContext(tracing_subscriber::fmt::format().compact()))
                .with_filter(stdout_filter)
                .boxed()
        }
    };

    let registry = tracing_subscriber::registry().with(stdout_layer);

    if config.sdk_disabled {
        return registry
            .try_init()
            .map(|()| guard)
            .map_err(|_| TelemetryError::AlreadyInstalled);
    }

    let resource = resource(config);
    let mut tracer_builder = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(config.sampler));
    let mut logger_provider = None;
    if let Some(processor) = spans_to {
        tracer_builder = tracer_builder.with_span_processor(processor);
    } else if let Some(endpoint) = &config.otlp_endpoint {
        tracer_builder = tracer_builder.with_span_processor(span_processor(config, endpoint)?);
        logger_provider = Some(build_logger_provider(config, endpoint, resource)?);
    }
    let tracer_provider = tracer_builder.build();
    global::set_tracer_provider(tracer_provider.clone());
    let tracer = tracer_provider.tracer(config.service_name.clone());

    let otel_logs = logger_provider.as_ref().map(|lp| {
        // Exporter internals must not feed back into export.
        let filter = EnvFilter::new(
            "info,hyper=off,h2=off,tonic=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,tracemart_telemetry::otlp=off,tower=off",
        );
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(lp)
            .with_filter(filter)
    });
    let result = registry.with(otel_logs).try_init();
    if result.is_ok() {
        crate::span::install(tracer);
    }
    guard.tracer_provider = Some(tracer_provider);
    guard.logger_provider = logger_provider;
    result
        .map(|()| guard)
        .map_err(|_| TelemetryError::AlreadyInstalled)
}
