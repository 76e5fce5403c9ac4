//! `tracemart up`: the console and the five services as child processes, each supervised:
//! started, polled until ready, restarted with backoff when it crashes, and stopped with
//! SIGTERM (in-flight requests finish) when we are told to stop. Each child is also a row of
//! the processes table (`procs/`), which the control API shows and through which one child
//! can be stopped, started or restarted while the others run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tracemart_platform::{DatabaseUrl, ServiceName, ShopConfig};

use crate::cli::UpArgs;
use crate::procs::control::{self, Running};
use crate::procs::table::{Slot, Table, Wanted};
use crate::settings;

/// How long a child gets to finish in-flight work after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// A crash is restarted at once (a one-off crash costs no downtime); a crash soon after that
/// waits this long, doubling up to `MAX_BACKOFF`, so that a crash loop does not spin.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long is considered healthy again: its next crash restarts at once.
const STABLE_AFTER: Duration = Duration::from_secs(10);

const CONSOLE: &str = "console";

/// The shell's code for a command stopped by a signal it was sent (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// Why `up` did not reach "ready".
enum StartFailure {
    /// A child failed to start or to become ready in time.
    Failed(String),
    /// SIGINT or SIGTERM arrived first.
    Stopped,
}

/// A child that exited on its own.
struct Exited {
    name: &'static str,
    status: String,
    log_file: Option<PathBuf>,
}

impl Exited {
    /// What happened, with the end of the child's log when it has one.
    fn describe(&self) -> String {
        let mut text = format!("{} exited during start-up ({})", self.name, self.status);
        if let Some(path) = &self.log_file {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(5)..];
            text.push_str(&format!(
                "; last lines of {}:\n  {}",
                path.display(),
                tail.join("\n  ")
            ));
        }
        text
    }
}

/// One supervised process.
struct ChildSpec {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ready_url: String,
    log_file: Option<PathBuf>,
    /// The ports it listens on, for the processes table.
    ports: Vec<u16>,
}

pub(crate) async fn run(args: UpArgs) -> u8 {
    // Listen before any child exists: a stop request at any moment from here on stops the
    // children cleanly instead of killing `up` and orphaning them.
    let stop_requested = crate::shutdown::signal_received();
    tokio::pin!(stop_requested);
    let mut config = match settings::resolve(&args.shop) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    if let Some(server) = &args.postgres
        && let Err(code) =
            crate::up_postgres::point_services_at(server, &args.postgres_prefix, &mut config).await
    {
        return code;
    }
    if let Err(e) = std::fs::create_dir_all(config.data_dir.join("logs")) {
        eprintln!("error: cannot create {}: {e}", config.data_dir.display());
        return 1;
    }
    // Every principal's key pair, made once here rather than by the children racing.
    if let Err(e) = tracemart_platform::identity::ensure_keys(&config.keys_dir()) {
        eprintln!("error: {e}");
        return 1;
    }
    let effective = config.data_dir.join("effective-config.toml");
    if let Err(e) = toml::to_string(&config)
        .map_err(|e| e.to_string())
        .and_then(|t| std::fs::write(&effective, t).map_err(|e| e.to_string()))
    {
        eprintln!("error: cannot write {}: {e}", effective.display());
        return 1;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the tracemart executable: {e}");
            return 1;
        }
    };
    // The control listener first: the console child is told where it is.
    let table = Table::new();
    let control_url = match start_control(&table, &config).await {
        Ok(url) => url,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let specs = child_specs(&config, &effective, &args, &control_url);
    let started = Instant::now();
    // The console stops last, so that the services' final spans and logs still reach it.
    let (stop_services, services_rx) = watch::channel(false);
    let (stop_console, console_rx) = watch::channel(false);
    let (exits_tx, mut exits) = mpsc::unbounded_channel::<Exited>();
    let mut tasks = Vec::new();
    for spec in specs {
        let stop = if spec.name == CONSOLE {
            console_rx.clone()
        } else {
            services_rx.clone()
        };
        let slot = table.add(
            spec.name,
            spec.ports.clone(),
            spec.ready_url.clone(),
            spec.log_file.clone(),
        );
        tasks.push((
            spec.name,
            spec.ready_url.clone(),
            tokio::spawn(supervise(exe.clone(), spec, slot, stop, exits_tx.clone())),
        ));
    }
    let readiness = tokio::spawn(crate::procs::watch_readiness(table.clone()));

    let deadline = started + Duration::from_secs(args.ready_timeout);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    let all_ready_in_time = async {
        for (name, url, _) in &tasks {
            if !wait_ready(&http, url, deadline).await {
                return Err(format!(
                    "{name} did not become ready within {}s ({url})",
                    args.ready_timeout
                ));
            }
        }
        Ok(())
    };
    // A child that dies while starting (a port in use, a bad value) fails `up` at once.
    let started_up = tokio::select! {
        r = all_ready_in_time => r.map_err(StartFailure::Failed),
        Some(e) = exits.recv() => Err(StartFailure::Failed(e.describe())),
        () = &mut stop_requested => Err(StartFailure::Stopped),
    };
    let exit_code = match started_up {
        Ok(()) => {
            // Each answered its readiness check just now: the table need not wait for its own.
            for row in table.rows() {
                if let Some(pid) = row.pid {
                    table.set_ready(row.name, pid, true);
                }
            }
            print_banner(&config, &args, started.elapsed());
            stop_requested.await;
            eprintln!("stopping: waiting for in-flight requests to finish...");
            0
        }
        Err(StartFailure::Failed(why)) => {
            eprintln!("error: {why}");
            1
        }
        Err(StartFailure::Stopped) => {
            eprintln!("stopping: told to stop before every service was ready");
            EXIT_INTERRUPTED
        }
    };
    let _ = stop_services.send(true);
    let mut console = None;
    for (name, _, task) in tasks {
        if name == CONSOLE {
            console = Some(task);
        } else {
            let _ = task.await;
        }
    }
    let _ = stop_console.send(true);
    if let Some(task) = console {
        let _ = task.await;
    }
    readiness.abort();
    let _ = std::fs::remove_file(control::running_file(&config.data_dir));
    if exit_code != 1 {
        eprintln!("stopped.");
    }
    exit_code
}

/// Serves the control API on loopback and names it in `DATA_DIR/up.json`; returns its URL.
async fn start_control(table: &Table, config: &ShopConfig) -> Result<String, String> {
    let listener = control::bind()
        .await
        .map_err(|e| format!("cannot listen for the control API on loopback: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("the control API's address: {e}"))?;
    let url = format!("http://{addr}");
    let running = Running {
        control_url: url.clone(),
        pid: std::process::id(),
    };
    let file = control::running_file(&config.data_dir);
    let text = serde_json::to_string(&running).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let router = control::router(table.clone(), &config.keys_dir());
    let limits = tracemart_platform::connection_limits(config);
    tokio::spawn(tracemart_serve::serve(
        router,
        listener,
        limits,
        (),
        std::future::pending(),
    ));
    Ok(url)
}

fn child_specs(
    config: &ShopConfig,
    effective: &Path,
    args: &UpArgs,
    control_url: &str,
) -> Vec<ChildSpec> {
    let log = |name: &str| {
        (!args.attach_logs).then(|| config.data_dir.join("logs").join(format!("{name}.log")))
    };
    // The child writes and rotates its own log file; `up` also points the child's output at
    // it from the start, so that even a failure before logging is set up lands there.
    let log_args = |file: &Option<PathBuf>| match file {
        Some(path) => vec!["--log-file".to_owned(), path.display().to_string()],
        None => Vec::new(),
    };
    let base = vec!["--config".to_owned(), effective.display().to_string()];
    let mut specs = Vec::new();
    let mut otlp = config.otlp_endpoint.clone();
    if !args.no_console && otlp.is_empty() {
        otlp = format!("http://{}:{}", config.host, config.console.otlp_http_port);
        let log_file = log("console");
        specs.push(ChildSpec {
            name: CONSOLE,
            args: [
                vec!["console".to_owned()],
                base.clone(),
                log_args(&log_file),
                vec!["--processes-url".to_owned(), control_url.to_owned()],
            ]
            .concat(),
            env: Vec::new(),
            ready_url: format!("http://{}:{}/health", config.host, config.console.ui_port),
            log_file,
            ports: vec![
                config.console.ui_port,
                config.console.otlp_grpc_port,
                config.console.otlp_http_port,
            ],
        });
    }
    for s in ServiceName::ALL {
        let mut env = vec![];
        if !otlp.is_empty() {
            env.push(("TRACEMART_OTLP_ENDPOINT".to_owned(), otlp.clone()));
        }
        env.extend(export_headers(config, args.no_console));
        let log_file = log(s.as_str());
        specs.push(ChildSpec {
            name: s.as_str(),
            args: [
                vec!["serve".to_owned(), s.as_str().to_owned()],
                base.clone(),
                log_args(&log_file),
            ]
            .concat(),
            env,
            // The child's own address: the URL others reach it by (`url_of`) may be a proxy or
            // a load balancer, whose answers say nothing about this child.
            ready_url: format!(
                "http://{}:{}/health/ready",
                config.host,
                config.endpoint(s).port
            ),
            log_file,
            ports: vec![config.endpoint(s).port],
        });
    }
    specs
}

/// The services' OTLP header variables when the embedded console wants a header of its
/// exports (`console.otlp_header`): for traces and for logs, the operator's own headers of that
/// signal, if any, and that one.
fn export_headers(config: &ShopConfig, no_console: bool) -> Vec<(String, String)> {
    if no_console || !config.otlp_endpoint.is_empty() {
        return Vec::new();
    }
    let Some((name, value)) = config.otlp_header() else {
        return Vec::new();
    };
    // Read as the services read them, so that theirs are kept beside ours.
    let own = tracemart_telemetry::TelemetryConfig::new("tracemart", env!("CARGO_PKG_VERSION"))
        .with_env();
    let with_ours = |headers: Vec<(String, String)>| {
        headers
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(&name))
            .chain([(name.clone(), value.clone())])
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS".to_owned(),
            with_ours(own.otlp_traces.headers),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS".to_owned(),
            with_ours(own.otlp_logs.headers),
        ),
    ]
}

async fn wait_ready(http: &reqwest::Client, url: &str, deadline: Instant) -> bool {
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_banner(config: &ShopConfig, args: &UpArgs, took: Duration) {
    println!(
        "tracemart is up ({} ms). Data: {}",
        took.as_millis(),
        config.data_dir.display()
    );
    for s in [
        ServiceName::Order,
        ServiceName::User,
        ServiceName::Product,
        ServiceName::Inventory,
        ServiceName::Payment,
    ] {
        println!("  {:<10} {}", s.as_str(), config.url_of(s));
    }
    for s in ServiceName::ALL {
        if let Ok(url @ DatabaseUrl::Postgres(_)) = config.database_url(s) {
            println!("  {:<10} {url}", format!("{s} db"));
        }
    }
    if let Ok(Some(broker)) = config.broker() {
        println!(
            "  {:<10} {}",
            "events",
            tracemart_platform::database_url::redact_password(broker)
        );
    }
    if !args.no_console && config.otlp_endpoint.is_empty() {
        let ui = format!("http://{}:{}", config.host, config.console.ui_port);
        println!(
            "  {:<10} {ui}  (a trace: {ui}/trace/<X-Trace-ID>)",
            "console"
        );
        println!(
            "  {:<10} grpc {}:{}, http {}:{}",
            "otlp",
            config.host,
            config.console.otlp_grpc_port,
            config.host,
            config.console.otlp_http_port
        );
        if !crate::console_cmd::is_loopback(&config.host) {
            // Beyond loopback the console wants a token; this link sets it in the browser.
            match crate::console_cmd::access_link(config, config.console.ui_port) {
                Ok(link) => println!("  {:<10} {link}", "access"),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
    } else if !config.otlp_endpoint.is_empty() {
        println!("  telemetry  {}", config.otlp_endpoint);
    }
    if !args.attach_logs {
        println!("  logs       {}", config.data_dir.join("logs").display());
    }
    println!("  processes  tracemart ps | stop | start | restart <name>");
    println!(
        "Try: curl -s -XPOST {}/orders -H 'content-type: application/json' \\",
        config.url_of(ServiceName::Order)
    );
    println!(
        "       -d '{{\"user_id\":7,\"items\":[{{\"product_id\":1,\"quantity\":2}}],\"shipping_address\":{{\"city\":\"Seoul\",\"country\":\"KR\"}}}}'"
    );
    println!("Press Ctrl-C to stop.");
}

fn spawn(exe: &Path, spec: &ChildSpec) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.args(&spec.args).stdin(Stdio::null()).kill_on_drop(true);
    // A process group of its own: Ctrl-C in the terminal reaches `up` alone, which stops the
    // children in order (SIGTERM, drain) instead of each seeing the SIGINT, exiting on its
    // own and being taken for a crash. A child whose `up` is gone stops by itself
    // (shutdown::signal_or_orphaned).
    cmd.process_group(0);
    // Each child names itself; a shared OTEL_SERVICE_NAME would make them all one service.
    cmd.env_remove("OTEL_SERVICE_NAME");
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(path) = &spec.log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        cmd.stdout(file.try_clone()?).stderr(file);
    }
    cmd.spawn()
}

/// Keeps one child running as the table wants it (running, stopped, restarted) until `stop`
/// turns true, then stops it gracefully. A child that exits on its own is started again; one
/// stopped on request stays stopped until it is started.
async fn supervise(
    exe: PathBuf,
    spec: ChildSpec,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
    exits: mpsc::UnboundedSender<Exited>,
) {
    let mut wanted = slot.wanted.clone();
    let mut backoff = Duration::ZERO;
    let mut restart = false;
    loop {
        let now = *wanted.borrow_and_update();
        if !now.running {
            tokio::select! {
                r = wanted.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
            continue;
        }
        let mut child = match spawn(&exe, &spec) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: cannot start {}: {e}", spec.name);
                slot.crashed(&format!("cannot start: {e}"), false);
                return;
            }
        };
        slot.started(child.id(), restart);
        let started = Instant::now();
        tokio::select! {
            status = child.wait() => {
                if *stop.borrow() {
                    return;
                }
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let _ = exits.send(Exited { name: spec.name, status: status.clone(), log_file: spec.log_file.clone() });
                if started.elapsed() > STABLE_AFTER {
                    backoff = Duration::ZERO;
                }
                slot.crashed(&status, !backoff.is_zero());
                if backoff.is_zero() {
                    eprintln!("warning: {} exited ({status}); restarting it", spec.name);
                } else {
                    eprintln!("warning: {} exited ({status}); restarting in {} ms", spec.name, backoff.as_millis());
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    w = change(&mut wanted, now.generation) => if !w.running {
                        slot.stopped(None);
                        continue;
                    },
                    _ = stop.changed() => return,
                }
                backoff = if backoff.is_zero() {
                    FIRST_BACKOFF
                } else {
                    (backoff * 2).min(MAX_BACKOFF)
                };
                restart = true;
            }
            w = change(&mut wanted, now.generation) => {
                let status = terminate(&mut child, spec.name).await;
                if w.running {
                    eprintln!("{} restarted on request", spec.name);
                    backoff = Duration::ZERO;
                    restart = true;
                } else {
                    eprintln!("{} stopped on request", spec.name);
                    slot.stopped(status);
                }
            }
            _ = stop.changed() => {
                terminate(&mut child, spec.name).await;
                return;
            }
        }
    }
}

/// The next change of what is wanted that concerns a run of `generation`: a stop, or a
/// restart. A start of a child that runs already changes nothing.
async fn change(wanted: &mut watch::Receiver<Wanted>, generation: u64) -> Wanted {
    loop {
        if wanted.changed().await.is_err() {
            // The table is gone only when `up` ends: nothing will be asked any more.
            return std::future::pending().await;
        }
        let w = *wanted.borrow_and_update();
        if !w.running || w.generation != generation {
            return w;
        }
    }
}

/// Stops `child` (SIGTERM, then SIGKILL after the grace period); how it ended.
async fn terminate(child: &mut Child, name: &str) -> Option<String> {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status.ok().map(|s| s.to_string()),
        Err(_) => {
            eprintln!(
                "warning: {name} did not stop within {}s; killing it",
                STOP_GRACE.as_secs()
            );
            let _ = child.kill().await;
            Some("killed after the grace period".to_owned())
        }
    }
}
