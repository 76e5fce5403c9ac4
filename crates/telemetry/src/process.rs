//! Process metrics (`process_*`) read from `/proc` at scrape time, and the count of spans this
//! process dropped (`otel_spans_dropped_total`).
//!
//! Hand-written because prometheus-client ships no process collector; the names and meanings
//! follow the Prometheus client libraries' standard process metrics.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug)]
pub(crate) struct ProcessCollector;

/// Kernel clock ticks per second; 100 on every Linux platform we run on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    open_fds: i64,
    threads: i64,
}

fn read_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let utime = num(11)?;
    let stime = num(12)?;
    let threads = num(17)?;
    let vsize = num(20)?;
    let rss_pages = num(21)?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as i64)
        .unwrap_or(0);
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / CLOCK_TICKS_PER_SECOND,
        resident_bytes: (rss_pages * PAGE_SIZE) as i64,
        virtual_bytes: vsize as i64,
        open_fds,
        threads: threads as i64,
    })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = ConstCounter::new(crate::export_queue::spans_dropped());
        dropped.encode(encoder.encode_descriptor(
            "otel_spans_dropped",
            "Spans dropped because the export queue was full (collector slow or unreachable)",
            None,
            MetricType::Counter,
        )?)?;
        let Some(s) = read_stats() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds,
            ),
            ("process_threads", "Number of OS threads", s.threads),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }
}
