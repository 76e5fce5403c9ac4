//! Metrics: the console scrapes every service's `/metrics` (OpenMetrics, with the trace ids of
//! exemplars) and stores the samples; queries compute rates and quantiles from them.
//!
//! Scraping rather than OTLP: the services already serve `/metrics` in OpenMetrics with
//! exemplars, so the console sees exactly what Prometheus would (cumulative counters, the same
//! buckets, the same trace ids), and a service need not run a second metrics pipeline.

pub(crate) mod parse;
pub(crate) mod scrape;
pub(crate) mod series;
