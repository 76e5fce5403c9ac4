//! The `tracemart load` flags, their defaults and the small parsers clap needs.

use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

use crate::scenario::Mix;
use crate::slo::Objective;

/// Default base URL of the order service.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:8080";
/// Default base URL of the product service (browse scenario).
pub const DEFAULT_PRODUCT_URL: &str = "http://127.0.0.1:8082";
/// Default base URL of the user service (user reads in the mix).
pub const DEFAULT_USER_URL: &str = "http://127.0.0.1:8081";
/// How long a run lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Flags of `tracemart load`: generate synthetic, traced traffic against the shop and report
/// latency percentiles, throughput and errors. The command's help, in the binary, explains the
/// two loop modes and Ctrl-C.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Base URL of the order service (POST /orders, GET /orders/{id}).
    #[arg(value_name = "TARGET", default_value = DEFAULT_TARGET)]
    pub target: String,

    /// Base URL of the product service, used by the browse scenario.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PRODUCT_URL)]
    pub product_url: String,

    /// Base URL of the user service, for the mix's user reads (`--mix user=N`).
    #[arg(long, value_name = "URL", default_value = DEFAULT_USER_URL)]
    pub user_url: String,

    /// Open loop: start this many requests per second on a fixed timetable, whatever the server
    /// does; latency counts from each request's scheduled time. Omit for closed loop.
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,

    /// Closed loop: number of concurrent clients (ignored with --rate).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub connections: usize,

    /// Stop starting requests after this long (e.g. 500ms, 10s, 2m). Defaults to 10s unless
    /// --requests alone bounds the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many requests; with --duration, whichever bound comes first.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,

    /// What to send: order (POST /orders), get-order (GET /orders/{id}), browse
    /// (GET /products[/{id}] on --product-url) or mix (see --mix). Default: order, or mix when
    /// --mix is given.
    #[arg(long, value_enum, value_name = "SCENARIO")]
    pub scenario: Option<ScenarioKind>,

    /// Weights of the mix scenario, e.g. order=1,get=3,browse=6 (implies --scenario mix);
    /// user=N adds GET /users/{id} on --user-url (needs --token).
    #[arg(long, value_name = "WEIGHTS", value_parser = Mix::parse)]
    pub mix: Option<Mix>,

    /// Print one JSON document with every figure on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Service level objectives; exit code 3 when one is missed. Repeat or comma-separate:
    /// p50|p90|p99|p999|max=<duration>, error_rate=<percent>%, e.g. --slo p99=50ms,error_rate=1%.
    #[arg(long, value_name = "OBJECTIVE", value_delimiter = ',', value_parser = Objective::parse)]
    pub slo: Vec<Objective>,

    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,

    /// Send `Authorization: Bearer TOKEN` with every request. Orders are their user's and the
    /// operator's to read: the get-order and mix scenarios need one, e.g.
    /// `--token "$(tracemart token admin)"`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Telemetry console (Jaeger query API) to fetch sampled traces from after the run, to show
    /// server-side latency beside client-side latency. Skipped with a note if unreachable.
    #[arg(long, value_name = "URL")]
    pub console: Option<String>,

    /// How many sampled traces to fetch from --console.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub console_traces: usize,

    /// Per-request timeout (counted as a timeout error).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Seed for request bodies and the scenario mix, for reproducible runs (trace ids stay random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Open loop: most requests outstanding at once; a request due while at the cap is not sent
    /// and is counted as dropped.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_in_flight: usize,

    /// Size of the reservoir of per-request samples (trace id, schedule, latency, status) kept
    /// for the JSON report and the console join.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub samples: usize,
}

/// The request scenarios `--scenario` accepts.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioKind {
    /// `POST /orders` with realistic bodies.
    Order,
    /// `GET /orders/{id}` of orders created before or during the run.
    GetOrder,
    /// `GET /products` and `GET /products/{id}` on the product service.
    Browse,
    /// A weighted mix of the three (see `--mix`).
    Mix,
}

#[derive(Parser, Debug)]
#[command(name = "load", no_binary_name = true)]
struct Standalone {
    #[command(flatten)]
    args: LoadArgs,
}

impl LoadArgs {
    /// Parses flags as `tracemart load` would (without the program name), for tests and for
    /// embedding the generator elsewhere.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Standalone::try_parse_from(args).map(|s| s.args)
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h`, `1.5s` or `250us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 10s or 2m)"))?;
    let seconds_per_unit = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use us, ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("250us", Duration::from_micros(250)),
            ("3", Duration::from_secs(3)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn nonsense_durations_are_rejected() {
        for text in ["", "ms", "10 parsecs", "-1s", "1e400s"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn defaults_are_a_closed_loop_order_run_against_the_local_shop() {
        let args = LoadArgs::try_parse_from(Vec::<String>::new()).unwrap();
        assert_eq!(args.target, DEFAULT_TARGET);
        assert_eq!(args.product_url, DEFAULT_PRODUCT_URL);
        assert_eq!(args.connections, 32);
        assert_eq!(args.rate, None);
        assert_eq!(args.timeout, Duration::from_secs(10));
        assert_eq!(args.max_in_flight, 10_000);
    }
}
