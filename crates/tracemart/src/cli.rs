//! Command-line interface: `up`, `serve <service>`, `console`, `load`, `assess`, `events`,
//! `orders`, `token`, `chaos`, `traces`, `trace`, `logs`, `top`, `diagnose`, `experiment`, `ps`,
//! `stop`, `start`, `restart`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracemart_platform::ServiceName;

pub use crate::console_client::ConsoleFlags;

/// tracemart: an observable microservices shop (order, user, product, inventory, payment) with
/// an embedded telemetry console, in one binary.
///
/// Configuration is read from defaults, then `tracemart.toml` (or --config), then TRACEMART_*
/// and OTEL_* environment variables, then flags.
#[derive(Debug, Parser)]
#[command(name = "tracemart", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start all five services and the console as child processes; Ctrl-C stops them all.
    Up(UpArgs),
    /// Run one service in this process (what `up` runs for each child).
    Serve(ServeArgs),
    /// Run the telemetry console: OTLP receiver, trace store, Jaeger API and web UI.
    Console(ConsoleArgs),
    /// Generate load against the shop and report latency percentiles.
    ///
    /// Without --rate the run is closed loop (--connections clients, each sending its next
    /// request when the previous one answered). With --rate it is open loop: requests start on
    /// a fixed timetable and latency is measured from the scheduled start, so a stalled server
    /// cannot hide its queue (no coordinated omission).
    ///
    /// Ctrl-C ends the run early: requests in flight finish, the report covers what was sent,
    /// and the exit code is 130. A second Ctrl-C quits at once.
    Load(tracemart_loadgen::LoadArgs),
    /// Score an organisation's readiness for microservices (the seed's 100-point checklist).
    Assess(tracemart_assess::AssessArgs),
    /// The event pipeline: list, inspect, replay or discard dead letters.
    ///
    /// Works on the services' databases in the data directory, whether or not the shop runs,
    /// and, when a broker is configured (broker_url, TRACEMART_BROKER_URL), on its dead-letter
    /// queues.
    Events(EventsArgs),
    /// The order service's data: rebuild the `orders` read model from the event streams.
    Orders(OrdersArgs),
    /// Print a token: a user's (what the user service issues on registration) or the
    /// operator's, signed with the key in the keys directory (DATA_DIR/keys, or keys_dir).
    ///
    /// Send it as `Authorization: Bearer <token>`: a user's token reads that user and their
    /// orders; the operator's reads everything and may make payments directly.
    Token(TokenArgs),
    /// Faults on purpose, at run time: make a service slow, failing, hanging or dropping
    /// connections (on a share of its requests, optionally of one route), its database slow,
    /// its payments declined, or the events it consumes duplicated, delayed or lost; by hand
    /// or on a scenario's timeline.
    ///
    /// Talks to each service's `/admin/faults` with an operator token signed from the keys
    /// directory (DATA_DIR/keys); the admin endpoints answer loopback clients only unless
    /// admin_remote is set. What a fault touches carries `fault.injected=true` and `fault.type`
    /// on its span, counts in `faults_injected_total` and logs a line. Exit codes: 0 done, 1 a
    /// service could not be reached or refused, 2 a bad fault or scenario file, 130 a scenario
    /// stopped by Ctrl-C.
    Chaos(ChaosArgs),
    /// Search the console's traces, as its search page does: newest first, one line each.
    ///
    /// Exit codes: 0 traces found, 3 none matched, 1 the console could not be read.
    Traces(TracesArgs),
    /// One trace from the console as an indented tree: each span's start offset, duration,
    /// service, name and kind, ERROR where it failed, and the log lines it wrote under it.
    Trace(TraceArgs),
    /// Log records of every service from the console, oldest first; with --follow, new ones
    /// as they are stored, until Ctrl-C.
    ///
    /// Exit codes: 0 records found (or --follow ended), 3 none matched, 1 the console could not
    /// be read.
    Logs(LogsArgs),
    /// Requests per second, error share and latency percentiles per service over the last
    /// window, from the console, refreshed in place until Ctrl-C (like top).
    Top(TopArgs),
    /// Name the likely culprit of recent failures and slowness, from the traces alone.
    ///
    /// Asks the console (`GET /api/diagnose`) to compare the last --since with the window
    /// before it: where failing traces start to fail (a callee that timed out or dropped the
    /// connection is named, not its caller), which operation's own time grew, which consumer's
    /// messages wait. Prints the culprit, the ranked candidates and example traces. Exit codes:
    /// 0 a culprit named, 3 nothing stands out, 1 the console could not be asked.
    Diagnose(DiagnoseArgs),
    /// Measure what resilience buys: the same open-loop load and fault timeline twice, each
    /// on a fresh shop started by this binary (own data directory, free ports, no console),
    /// with resilience off (the seed's plain calls) and on (today's defaults).
    ///
    /// `propagation`: inventory slow, then answering errors, then hanging; the share of reads
    /// that never need inventory (orders, products, users) and of orders that fail or miss
    /// their objective, per phase. `availability`: user, product, inventory and payment each
    /// answer 503 to 5 % of requests and hang on 0.5 %; the order success rate and p99, and
    /// whether every saga settled and the stock adds up. Prints a table (or --json) and
    /// writes OUT/<experiment>.json and OUT/<experiment>.svg. Exit codes: 0 done, 1 a run
    /// failed.
    Experiment(crate::experiment::ExperimentArgs),
    /// The processes of the running `up`: each child's state (starting, ready, stopped,
    /// crashed, backoff), pid, uptime, restarts and ports.
    ///
    /// Asks the control API of the `up` that runs with this data directory (it names itself
    /// in DATA_DIR/up.json). Exit codes: 0 done, 1 no `up` runs or it could not be reached.
    Ps(PsArgs),
    /// Stop one process of the running `up` (SIGTERM, in-flight requests finish); it stays
    /// stopped, and is not restarted, until `tracemart start`.
    ///
    /// Signs an operator token from the keys directory. Returns once the process has stopped.
    /// Exit codes: 0 done, 1 no `up` runs, it could not be reached or it refused, 2 a bad
    /// argument.
    Stop(ProcessArgs),
    /// Start one stopped process of the running `up`; returns once it is ready.
    Start(ProcessArgs),
    /// Restart one process of the running `up` (stop, then start); returns once it is ready
    /// again.
    Restart(ProcessArgs),
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// The control API's answer as JSON (with each process's last log lines).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataFlags,
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The process: a service or the console.
    #[arg(value_enum)]
    pub process: ProcessArg,
    #[command(flatten)]
    pub data: DataFlags,
}

/// A child of `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProcessArg {
    Order,
    User,
    Product,
    Inventory,
    Payment,
    Console,
}

impl ProcessArg {
    /// The name `up` knows the process by, as on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug, Args)]
pub struct TracesArgs {
    /// Only traces with a span of this service (e.g. order-service).
    #[arg(long)]
    pub service: Option<String>,
    /// Only traces with a span of this operation (with --service).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only traces at least this long (e.g. 100ms, 1.5s).
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<String>,
    /// Only traces at most this long.
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,
    /// Only traces with a span carrying this attribute; repeat for several (all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// Only traces with a failed request (see "What counts as an error" in the README).
    #[arg(long)]
    pub errors: bool,
    /// How far back to search (e.g. 15m, 1h, 2d).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub lookback: String,
    /// Most traces to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// The console's answer as one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub console: ConsoleFlags,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this service's records (e.g. payment-service).
    #[arg(long)]
    pub service: Option<String>,
    /// Only records of this level or above: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Only records whose message contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Only records with this attribute value, e.g. `order.id=…` or `http.response.status_code=500`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub attr: Option<String>,
    /// Only the records of this trace.
    #[arg(long, value_name = "TRACE_ID")]
    pub trace: Option<String>,
    /// How far back to look (e.g. 15m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub lookback: String,
    /// Most records to show (the newest ones).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Keep printing the records stored from now on (checked every second).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// JSON: one array (oldest first), or with --follow one object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub console: ConsoleFlags,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The trace id (32 hex digits, as the X-Trace-ID answer header and `tracemart traces`
    /// show it).
    #[arg(value_name = "TRACE_ID")]
    pub trace_id: String,
    /// The trace (Jaeger's JSON) and its log records as one JSON object instead of the tree.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub console: ConsoleFlags,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The window each figure covers (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = tracemart_loadgen::parse_duration)]
    pub window: std::time::Duration,
    /// Time between refreshes.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = tracemart_loadgen::parse_duration)]
    pub interval: std::time::Duration,
    /// Print once and exit.
    #[arg(long)]
    pub once: bool,
    /// Print the figures once as JSON and exit.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub console: ConsoleFlags,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The window to diagnose, back from now (`5m`, `20s`, `1h`).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub since: String,
    /// The window before it to compare with (default: as long as --since).
    #[arg(long, value_name = "DURATION")]
    pub baseline: Option<String>,
    /// Print the console's JSON answer instead of a report.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub console: ConsoleFlags,
}

#[derive(Debug, Args)]
pub struct ChaosArgs {
    #[command(subcommand)]
    pub action: ChaosAction,
    #[command(flatten)]
    pub data: DataFlags,
}

#[derive(Debug, Subcommand)]
pub enum ChaosAction {
    /// Set a fault on a service, e.g. `inventory latency=800ms rate=50%`.
    ///
    /// On its requests: `latency=DURATION` (with `jitter=DURATION`, uniform), `error=STATUS`
    /// (400-599), `hang` (no answer until the service's 30 s timeout) or `drop` (the connection
    /// closes without an answer), with `route=PATH` (a path prefix; without it every route but
    /// /health, /metrics and /admin). On its database (any service, either engine):
    /// `db-latency=DURATION` (with `jitter=`). On the saga: `decline` (payment only: it
    /// declines payments it would authorise), and on what order or payment consume:
    /// `event-duplicate` (handled, then delivered again), `event-delay=DURATION`, `event-loss`
    /// (dropped unacknowledged; its transport delivers it again). Then `rate=PERCENT` (default
    /// 100%): the share of requests, operations, payments or messages it touches.
    Inject {
        #[arg(value_enum)]
        service: ServiceArg,
        /// The fault's words, e.g. `latency=800ms rate=50%`.
        #[arg(required = true, num_args = 1.., value_name = "WORD")]
        fault: Vec<String>,
    },
    /// The faults set on every service (or one).
    List {
        #[arg(value_enum)]
        service: Option<ServiceArg>,
        /// One JSON object per service instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove the faults of every service (or one).
    Clear {
        #[arg(value_enum)]
        service: Option<ServiceArg>,
    },
    /// Play a scenario file: faults set and cleared on a timeline, each step printed as it
    /// happens; at the end, or on Ctrl-C, every fault the run set is cleared.
    ///
    /// The file (TOML) is checked whole before anything is sent; a mistake is named with its
    /// line and field (exit code 2). Format: `duration = "60s"`, an optional `name`, then
    /// `[[step]]` tables, each with `at = "20s"` and either `service = "inventory"` and
    /// `fault = "latency=800ms rate=50%"` (the words of `inject`) or `clear = "inventory"`
    /// (a service, or "all"). Examples in examples/chaos/.
    Run {
        /// The scenario file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Check the file and print its timeline without playing it.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Whose token: `user` (with --user-id) or `admin`.
    #[arg(value_enum)]
    pub subject: TokenSubject,
    /// The user, for a user token.
    #[arg(long, required_if_eq("subject", "user"))]
    pub user_id: Option<i64>,
    /// How long the token is valid, in seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub ttl: u64,
    #[command(flatten)]
    pub data: DataFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenSubject {
    User,
    Admin,
}

/// Where a maintenance command finds the shop's data.
#[derive(Debug, Args, Clone)]
pub struct DataFlags {
    /// Configuration file (default: ./tracemart.toml if present).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Directory of the services' databases [default: ./.tracemart; env: TRACEMART_DATA_DIR].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataFlags {
    pub fn shop(&self) -> ShopFlags {
        ShopFlags {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            ..ShopFlags::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Dead letters: events whose delivery failed at their consumer `event_max_failures`
    /// times. Exit codes: 0 done, 1 a database or the broker failed, 2 no such dead letter.
    Dlq(DlqArgs),
}

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub action: DlqAction,
    /// Only this service's dead letters (default: every service that publishes events).
    #[arg(long, value_enum, global = true)]
    pub service: Option<PublisherArg>,
    #[command(flatten)]
    pub data: DataFlags,
}

/// The services that publish events (and so may have dead letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublisherArg {
    Order,
    Payment,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// The newest dead letters, one line each.
    List {
        /// At most this many per service.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full: payload, trace context headers, last error.
    Show {
        /// The message id (as `list` shows it).
        id: String,
    },
    /// Put dead letters back in the outbox: each is delivered once more (a consumer that
    /// handled it before acknowledges it without a second effect).
    Replay {
        /// The message id; or --all.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete dead letters for good.
    Discard {
        /// The message id; or --all.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Debug, Args)]
pub struct OrdersArgs {
    #[command(subcommand)]
    pub command: OrdersCommand,
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Fold every order's event stream again and correct the `orders` rows that differ from
    /// it (the read model is a projection of the streams). Safe while the shop runs.
    Rebuild {
        #[command(flatten)]
        data: DataFlags,
    },
}

/// Settings shared by every command that runs services.
#[derive(Debug, Args, Clone, Default)]
pub struct ShopFlags {
    /// Configuration file (default: ./tracemart.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the databases and logs [default: ./.tracemart; env: TRACEMART_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address the services bind [default: 127.0.0.1; env: TRACEMART_HOST].
    #[arg(long)]
    pub host: Option<String>,
    /// Initial stock of each demo product, on first start [default: 1000000; env: TRACEMART_DEMO_STOCK].
    #[arg(long, value_name = "N")]
    pub demo_stock: Option<i64>,
    /// Timeout of each call to another service, in milliseconds [default: 10000].
    #[arg(long, value_name = "MS")]
    pub downstream_timeout_ms: Option<u64>,
    /// Calls in flight to each other service at most (a bulkhead); further calls wait for a slot
    /// within their timeout [default: 32].
    #[arg(long, value_name = "N")]
    pub downstream_concurrency: Option<usize>,
    /// `off`: calls between services as the seed made them (a 10 s timeout; no bulkhead,
    /// retries or circuit breaker), whatever the other downstream settings say
    /// [default: on; env: TRACEMART_RESILIENCE].
    #[arg(long, value_name = "on|off")]
    pub resilience: Option<tracemart_platform::Resilience>,
    /// Log format on standard output [default: json].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Send traces and logs to this OTLP endpoint (e.g. http://127.0.0.1:4318) instead of the
    /// embedded console [env: TRACEMART_OTLP_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT].
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Carry events between services through this RabbitMQ broker
    /// (amqp://user:password@host:5672/vhost) instead of over HTTP [env: TRACEMART_BROKER_URL].
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Json,
    Pretty,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub shop: ShopFlags,
    /// Do not start the embedded console (telemetry goes to --otlp-endpoint, or nowhere).
    #[arg(long)]
    pub no_console: bool,
    /// Stream the services' logs to this terminal instead of DATA_DIR/logs/*.log.
    #[arg(long)]
    pub attach_logs: bool,
    /// Seconds to wait for every service to become ready.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub ready_timeout: u64,
    /// Keep every service's data on this PostgreSQL server (postgres://user@host:5432), each
    /// in a database of its own named PREFIX_<service>, created if missing.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// The first part of the databases' names under --postgres.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "tracemart",
        requires = "postgres"
    )]
    pub postgres_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceArg {
    Order,
    User,
    Product,
    Inventory,
    Payment,
}

impl From<ServiceArg> for ServiceName {
    fn from(s: ServiceArg) -> Self {
        match s {
            ServiceArg::Order => ServiceName::Order,
            ServiceArg::User => ServiceName::User,
            ServiceArg::Product => ServiceName::Product,
            ServiceArg::Inventory => ServiceName::Inventory,
            ServiceArg::Payment => ServiceName::Payment,
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which service to run.
    #[arg(value_enum)]
    pub service: ServiceArg,
    #[command(flatten)]
    pub shop: ShopFlags,
    /// Port to listen on (default: the service's port from the configuration; 0 picks one).
    #[arg(long)]
    pub port: Option<u16>,
    /// The service's database: a SQLite file (a path or sqlite:PATH) or, for user, product and
    /// inventory, a PostgreSQL database (postgres://user@host:5432/name, which must exist)
    /// [default: DATA_DIR/<service>.db; env: TRACEMART_<SERVICE>_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// Where a service or the console writes its logs.
#[derive(Debug, Args)]
pub struct OutputFlags {
    /// Write logs, standard output and standard error to FILE (appending). JSON logs are
    /// rotated by size: FILE.1 is the newest older file [see log_file_max_bytes and
    /// log_files_kept; `up` gives each child DATA_DIR/logs/<name>.log].
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub shop: ShopFlags,
    /// Web UI and Jaeger API port [default: 16686].
    #[arg(long)]
    pub ui_port: Option<u16>,
    /// OTLP/gRPC port [default: 4317].
    #[arg(long)]
    pub otlp_grpc_port: Option<u16>,
    /// OTLP/HTTP port [default: 4318].
    #[arg(long)]
    pub otlp_http_port: Option<u16>,
    /// The control API of the `up` this console runs under, shown on its Processes page
    /// (`up` sets it).
    #[arg(long, value_name = "URL")]
    pub processes_url: Option<String>,
    #[command(flatten)]
    pub output: OutputFlags,
}
