//! The shop as `tracemart up` runs it (one process per service, the built binary), and readers
//! for its JSON log files and `/metrics`. The OTLP receiver is in `otlp.rs`, the Prometheus
//! text parser in `prom.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tracemart_platform::ServiceName;

pub use crate::otlp::{Receiver, Trace, event_attr};
pub use crate::prom::{Scrape, label_values, sample};

/// Every wait in this suite: generous, because CI is a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How to start the shop.
pub struct Options {
    /// Export OTLP to an in-test receiver.
    pub export: bool,
    /// Extra environment of `tracemart up` (and so of every service).
    pub env: Vec<(&'static str, String)>,
    /// Extra arguments of `tracemart up`.
    pub args: Vec<String>,
    pub demo_stock: i64,
    /// Where the data directory goes (default: a new temporary directory).
    pub data_in: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            export: true,
            env: Vec::new(),
            args: Vec::new(),
            demo_stock: 1_000,
            data_in: None,
        }
    }
}

/// `tracemart up --no-console` in a temporary data directory, on free ports. Stops it (SIGTERM,
/// then SIGKILL) when dropped; the services notice their parent is gone and stop themselves.
pub struct Shop {
    pub http: reqwest::Client,
    pub receiver: Option<Receiver>,
    pub ports: HashMap<ServiceName, u16>,
    /// The data directory `up` was given (databases, `logs/<service>.log`).
    pub data: PathBuf,
    child: Option<Child>,
    extra: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Shop {
    fn drop(&mut self) {
        for c in self.extra.iter_mut().chain(self.child.as_mut()) {
            signal(c, Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for c in self.extra.iter_mut().chain(self.child.as_mut()) {
            // Blocking is fine here: the test is over, and no child may outlive it.
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::park_timeout(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn signal(c: &Child, sig: Signal) {
    if let Ok(pid) = i32::try_from(c.id()) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// The environment every child starts from: nothing inherited but PATH and HOME, so a
/// developer's `OTEL_*` or `TRACEMART_*` variables cannot change what the tests see.
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for key in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.stdin(Stdio::null());
    // Export within 100 ms instead of the SDK's default 5 s, so that tests poll briefly.
    cmd.env("OTEL_BSP_SCHEDULE_DELAY", "100");
    cmd.env("OTEL_BLRP_SCHEDULE_DELAY", "100");
    cmd
}

fn port_var(s: ServiceName) -> String {
    format!("TRACEMART_{}_PORT", s.as_str().to_ascii_uppercase())
}

/// The arguments of `up` that keep every service's data on the test PostgreSQL server, in
/// databases named `{prefix}_{service}`, and carry events through the broker at `broker_url`.
pub fn on_postgres_and_broker(prefix: &str, broker_url: &str) -> Vec<String> {
    vec![
        "--postgres".into(),
        tracemart_testkit::pg::server_url(),
        "--postgres-prefix".into(),
        prefix.to_owned(),
        "--broker".into(),
        broker_url.to_owned(),
    ]
}

/// A well-formed order body.
pub fn order_body(user_id: i64, items: &[(i64, i64)]) -> Value {
    json!({
        "user_id": user_id,
        "items": items.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "shipping_address": {"street": "1 Sejong-daero", "city": "Seoul", "postal_code": "04524", "country": "KR"},
    })
}

/// A response: status, headers and JSON body (Null if not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn of(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
    pub fn trace_id(&self) -> String {
        self.header("x-trace-id")
    }
}

impl Shop {
    /// The shop, exporting to a fresh receiver.
    pub async fn up() -> Shop {
        Self::up_with(Options::default()).await
    }

    pub async fn up_with(opts: Options) -> Shop {
        let mut receiver = if opts.export {
            Some(Receiver::start().await)
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .timeout(DEADLINE)
            .build()
            .unwrap();
        // A port picked free can be taken before `up` binds it: start again on new ports.
        let mut failures = Vec::new();
        for attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let data = opts
                .data_in
                .as_deref()
                .unwrap_or(dir.path())
                .join(format!("data-{attempt}"));
            let ports: HashMap<ServiceName, u16> = ServiceName::ALL
                .into_iter()
                .map(|s| (s, tracemart_testkit::free_port()))
                .collect();
            let out_path = dir.path().join("up.out");
            let out = std::fs::File::create(&out_path).unwrap();
            let mut cmd = clean_command(&exe());
            cmd.arg("up")
                .arg("--no-console")
                .arg("--ready-timeout")
                .arg("60")
                .arg("--data-dir")
                .arg(&data)
                .arg("--demo-stock")
                .arg(opts.demo_stock.to_string())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            if let Some(r) = &receiver {
                cmd.arg("--otlp-endpoint").arg(&r.endpoint);
            }
            for (s, port) in &ports {
                cmd.env(port_var(*s), port.to_string());
            }
            for (k, v) in &opts.env {
                cmd.env(k, v);
            }
            cmd.args(&opts.args);
            let mut shop = Shop {
                http: http.clone(),
                receiver: None,
                ports,
                data,
                child: Some(cmd.spawn().unwrap()),
                extra: Vec::new(),
                _dir: dir,
            };
            if shop.wait_all_ready().await {
                shop.receiver = receiver.take();
                return shop;
            }
            drop(shop);
            failures.push(std::fs::read_to_string(&out_path).unwrap_or_default());
        }
        panic!(
            "tracemart up never became ready:\n{}",
            failures.join("\n---\n")
        );
    }

    /// True once every service is ready; false if `up` exited or a minute passed.
    async fn wait_all_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        for s in ServiceName::ALL {
            let url = format!("{}/health/ready", self.url(s));
            loop {
                if let Some(c) = self.child.as_mut()
                    && !matches!(c.try_wait(), Ok(None))
                {
                    return false;
                }
                if let Ok(r) = self
                    .http
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    && r.status().is_success()
                {
                    break;
                }
                if Instant::now() > deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        true
    }

    pub fn url(&self, s: ServiceName) -> String {
        format!("http://127.0.0.1:{}", self.ports[&s])
    }

    pub fn receiver(&self) -> &Receiver {
        self.receiver.as_ref().expect("this shop exports OTLP")
    }

    pub async fn post_order(&self, body: &Value) -> Answer {
        self.post_order_with(body, &[]).await
    }

    /// `POST /orders` to another order service (see [`Shop::extra_service`]).
    pub async fn post_order_at(&self, order_url: &str, body: &Value) -> Answer {
        let resp = self
            .http
            .post(format!("{order_url}/orders"))
            .json(body)
            .send()
            .await
            .unwrap();
        Answer::of(resp).await
    }

    /// `POST /orders` with extra headers.
    pub async fn post_order_with(&self, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/orders", self.url(ServiceName::Order)))
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Answer::of(req.send().await.unwrap()).await
    }

    /// `GET path` of `s` as the operator, who may read everything.
    pub async fn get(&self, s: ServiceName, path: &str) -> Answer {
        Answer::of(
            self.http
                .get(format!("{}{path}", self.url(s)))
                .bearer_auth(self.admin_token())
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The types of the events in order `id`'s stream, in order (its audit trail).
    pub async fn order_event_types(&self, id: &str) -> Vec<String> {
        let events = self
            .get(ServiceName::Order, &format!("/orders/{id}/events"))
            .await;
        assert_eq!(events.status, 200, "{}", events.body);
        events.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `tracemart chaos ARGS` against this shop (its data directory and ports).
    pub fn chaos(&self, args: &[&str]) -> std::process::Output {
        self.chaos_command(args)
            .output()
            .expect("tracemart chaos runs")
    }

    /// The command `tracemart chaos ARGS` against this shop, to spawn.
    pub fn chaos_command(&self, args: &[&str]) -> Command {
        let mut cmd = clean_command(&exe());
        cmd.arg("chaos")
            .args(args)
            .arg("--data-dir")
            .arg(&self.data);
        for (s, port) in &self.ports {
            cmd.env(port_var(*s), port.to_string());
        }
        cmd
    }

    /// A token of the operator, signed with the shop's key.
    pub fn admin_token(&self) -> String {
        use tracemart_platform::identity::{Principal, issue};
        issue(
            &self.data.join("keys"),
            Principal::Admin,
            "admin",
            Duration::from_secs(600),
        )
        .expect("the admin key")
    }

    /// `/metrics` of a service in the Prometheus text format (or OpenMetrics).
    pub async fn metrics_text(&self, s: ServiceName, openmetrics: bool) -> String {
        let mut req = self.http.get(format!("{}/metrics", self.url(s)));
        if openmetrics {
            req = req.header("accept", "application/openmetrics-text");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.text().await.unwrap()
    }

    /// `/metrics` of a service, parsed.
    pub async fn scrape(&self, s: ServiceName) -> Scrape {
        self.scrape_at(&self.url(s)).await
    }

    /// `/metrics` of the instance at `base_url` (see [`Shop::extra_service`]), parsed.
    pub async fn scrape_at(&self, base_url: &str) -> Scrape {
        let resp = self
            .http
            .get(format!("{base_url}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.unwrap();
        Scrape::parse(&text)
            .unwrap_or_else(|e| panic!("unparsable /metrics of {base_url}: {e}\n{text}"))
    }

    /// The raw lines of a service's log file (`DATA_DIR/logs/<service>.log`).
    pub fn log_lines(&self, s: ServiceName) -> Vec<String> {
        let path = self.data.join("logs").join(format!("{}.log", s.as_str()));
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A service's log lines parsed as JSON; panics on a line that is not a JSON object.
    pub fn logs(&self, s: ServiceName) -> Vec<Value> {
        self.log_lines(s)
            .iter()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v @ Value::Object(_)) => v,
                _ => panic!("{s} wrote a log line that is not a JSON object: {l}"),
            })
            .collect()
    }

    /// Waits until `s` has logged a line that satisfies `pred`, then returns all its lines.
    pub async fn logs_until(&self, s: ServiceName, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        tracemart_testkit::eventually(DEADLINE, "a log line", || {
            let lines = self.logs(s);
            let found = lines.iter().any(&pred);
            async move { found.then_some(lines) }
        })
        .await
    }

    /// The pid of the process `up` runs for service `s` now (a new one after each restart).
    pub fn service_pid(&self, s: ServiceName) -> Option<i32> {
        let up = i32::try_from(self.child.as_ref()?.id()).ok()?;
        let serve = format!("serve {}", s.as_str());
        tracemart_testkit::processes::children_of(up)
            .into_iter()
            .find(|p| tracemart_testkit::processes::cmdline(*p).contains(&serve))
    }

    /// A service's database, opened read-only.
    pub async fn read_only(&self, s: ServiceName) -> sqlx::SqlitePool {
        let path = self.data.join(format!("{}.db", s.as_str()));
        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
            .await
            .unwrap_or_else(|e| panic!("open {s} db: {e}"))
    }

    /// Stops `up` with SIGTERM and waits: every service flushes its telemetry on the way out.
    pub async fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        signal(&c, Signal::SIGTERM);
        tracemart_testkit::eventually(DEADLINE, "tracemart up to stop", || {
            let done = !matches!(c.try_wait(), Ok(None));
            async move { done.then_some(()) }
        })
        .await;
    }

    /// Another instance of service `s` (`tracemart serve`, as `up` runs it) in its own data
    /// directory, using this shop's other services except where `env` says otherwise (e.g.
    /// `TRACEMART_INVENTORY_URL`, or a database URL to share the shop's). Returns its base URL.
    pub async fn extra_service(&mut self, s: ServiceName, env: &[(&str, String)]) -> String {
        let port = tracemart_testkit::free_port();
        let data = self.data.join(format!("extra-{s}-{port}"));
        std::fs::create_dir_all(&data).unwrap();
        let out = std::fs::File::create(data.join(format!("{s}.log"))).unwrap();
        let mut cmd = clean_command(&exe());
        cmd.arg("serve")
            .arg(s.as_str())
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&data)
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (other, p) in &self.ports {
            cmd.env(port_var(*other), p.to_string());
        }
        // The shop's keys: its services accept this one's token.
        cmd.env("TRACEMART_KEYS_DIR", self.data.join("keys"));
        if let Some(r) = &self.receiver {
            cmd.env("TRACEMART_OTLP_ENDPOINT", &r.endpoint);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.extra.push(cmd.spawn().unwrap());
        let url = format!("http://127.0.0.1:{port}");
        tracemart_testkit::wait_ready(&self.http, &format!("{url}/health"), DEADLINE).await;
        url
    }
}

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tracemart"))
}
