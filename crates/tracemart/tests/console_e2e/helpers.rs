//! `tracemart up` as a user runs it: the built binary on free ports with a temporary data
//! directory, killed with its children when the guard drops, so that a failed assertion leaks
//! no process. `up` stays in the test's process group: a test that nextest terminates takes
//! `up` and its children with it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tracemart_testkit::{eventually, free_port};

use crate::jaeger::Trace;
use tracemart_testkit::processes::{children_of, cmdline, is_alive};

/// How long `up` may take to print its banner on a loaded machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long spans and logs may take to reach the console and be queryable.
pub const TELEMETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// The four services an order touches (payment is not called yet).
pub const ORDER_PATH_SERVICES: [&str; 4] = [
    "order-service",
    "user-service",
    "product-service",
    "inventory-service",
];

/// Ports of one `up`, all picked free.
#[derive(Debug, Clone)]
pub struct Ports {
    pub order: u16,
    pub user: u16,
    pub product: u16,
    pub inventory: u16,
    pub payment: u16,
    pub ui: u16,
    pub otlp_grpc: u16,
    pub otlp_http: u16,
}

impl Ports {
    fn pick() -> Self {
        // free_port() releases each port at once, so ask until eight distinct ones come back.
        let mut seen = HashSet::new();
        let mut next = || loop {
            let p = free_port();
            if seen.insert(p) {
                return p;
            }
        };
        Self {
            order: next(),
            user: next(),
            product: next(),
            inventory: next(),
            payment: next(),
            ui: next(),
            otlp_grpc: next(),
            otlp_http: next(),
        }
    }

    fn env(&self) -> [(&'static str, String); 8] {
        [
            ("TRACEMART_ORDER_PORT", self.order.to_string()),
            ("TRACEMART_USER_PORT", self.user.to_string()),
            ("TRACEMART_PRODUCT_PORT", self.product.to_string()),
            ("TRACEMART_INVENTORY_PORT", self.inventory.to_string()),
            ("TRACEMART_PAYMENT_PORT", self.payment.to_string()),
            ("TRACEMART_CONSOLE_UI_PORT", self.ui.to_string()),
            (
                "TRACEMART_CONSOLE_OTLP_GRPC_PORT",
                self.otlp_grpc.to_string(),
            ),
            (
                "TRACEMART_CONSOLE_OTLP_HTTP_PORT",
                self.otlp_http.to_string(),
            ),
        ]
    }
}

/// A running `tracemart up`. Dropping it kills `up` and every process it started.
pub struct Up {
    child: Option<Child>,
    pub ports: Ports,
    started: Instant,
    /// What `up` printed on standard output up to and including "Press Ctrl-C to stop.".
    pub banner: Vec<String>,
    /// From spawning `up` to its banner.
    pub time_to_ready: Duration,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// `up`'s output keeps being read, so that its last lines never meet a closed pipe.
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Children seen so far: killed on drop if they outlive `up`.
    children: Vec<i32>,
}

impl Up {
    /// Starts `up` with a demo stock of 5 units per product, and waits for its banner.
    pub fn start() -> Up {
        Self::start_with(&[])
    }

    /// Starts `up` with these extra environment variables, and waits for its banner.
    pub fn start_with(env: &[(&str, &str)]) -> Up {
        // A port taken between free_port() and the child's bind makes `up` give up; try again
        // on other ports rather than fail the test.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(env) {
                Ok(up) => return up,
                Err(e) => failures.push(e),
            }
        }
        panic!("tracemart up did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start(env: &[(&str, &str)]) -> Result<Up, String> {
        let mut up = Self::spawn_with(env);
        up.wait_for_banner()?;
        Ok(up)
    }

    /// Starts `up` and returns at once, before anything is ready.
    pub fn spawn() -> Up {
        Self::spawn_with(&[])
    }

    /// [`Up::spawn`] with these extra environment variables.
    pub fn spawn_with(env: &[(&str, &str)]) -> Up {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let ports = Ports::pick();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .args(["--ready-timeout", "50"])
            // No ./tracemart.toml of the developer's is read.
            .current_dir(data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // As a shell runs a command: in a process group of its own, which a terminal's
            // Ctrl-C signals as a whole (Up::interrupt).
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("TRACEMART_") || k.starts_with("OTEL_") {
                cmd.env_remove(k.as_ref());
            }
        }
        cmd.envs(ports.env())
            .env("TRACEMART_DEMO_STOCK", "5")
            // Export spans and logs every 100 ms instead of every 5 s / 1 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn tracemart up");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        Up {
            child: Some(child),
            ports,
            started,
            banner: Vec::new(),
            time_to_ready: Duration::ZERO,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
            data_dir,
            stdout,
            stderr,
            children: Vec::new(),
        }
    }

    /// Reads `up`'s standard output up to the end of its banner.
    fn wait_for_banner(&mut self) -> Result<(), String> {
        let deadline = self.started + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("Press Ctrl-C");
                    self.banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let errors: Vec<String> = self.stderr.try_iter().collect();
                    return Err(format!(
                        "no banner within {READY_TIMEOUT:?} (exit: {:?})\nstdout: {}\nstderr: {}",
                        self.child
                            .as_mut()
                            .and_then(|c| c.try_wait().ok().flatten()),
                        self.banner.join("\n"),
                        errors.join("\n")
                    ));
                }
            }
        }
        self.time_to_ready = self.started.elapsed();
        println!(
            "tracemart up: ready after {} ms ({})",
            self.time_to_ready.as_millis(),
            self.banner.first().map(String::as_str).unwrap_or_default()
        );
        Ok(())
    }

    /// Waits until `up` has started `n` children, and returns their pids.
    pub async fn wait_for_children(&mut self, n: usize) -> Vec<i32> {
        self.wait_for_children_where(&format!("{n} children of up"), |count| count == n)
            .await
    }

    /// Waits until `up` has started at least one child, and returns the pids of those it has.
    pub async fn wait_for_first_child(&mut self) -> Vec<i32> {
        self.wait_for_children_where("a child of up", |count| count > 0)
            .await
    }

    async fn wait_for_children_where(
        &mut self,
        what: &str,
        enough: impl Fn(usize) -> bool,
    ) -> Vec<i32> {
        let up = self.pid();
        let pids = eventually(Duration::from_secs(30), what, || async {
            let pids = children_of(up);
            enough(pids.len()).then_some(pids)
        })
        .await;
        self.children.extend(&pids);
        pids
    }

    /// `up`'s process id.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("up is running");
        i32::try_from(child.id()).expect("pid fits i32")
    }

    pub fn order_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.order)
    }

    /// `GET url` as the operator (orders and users are their owner's and the operator's).
    pub fn get_as_admin(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url).bearer_auth(self.admin_token())
    }

    /// A token of the operator, signed with the shop's key.
    pub fn admin_token(&self) -> String {
        use tracemart_platform::identity::{Principal, issue};
        let keys = self.data_dir.path().join("data").join("keys");
        issue(&keys, Principal::Admin, "admin", Duration::from_secs(600)).expect("the admin key")
    }

    pub fn console_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.ui)
    }

    /// What `up` wrote to standard error and standard output since the banner.
    pub fn output(&self) -> String {
        let out: Vec<String> = self.stdout.try_iter().collect();
        let err: Vec<String> = self.stderr.try_iter().collect();
        format!("stdout:\n{}\nstderr:\n{}", out.join("\n"), err.join("\n"))
    }

    /// Sends `signal` to `up` alone (not to its process group).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal up");
    }

    /// What Ctrl-C in a terminal does: SIGINT to `up`'s whole process group.
    pub fn interrupt(&self) {
        kill(Pid::from_raw(-self.pid()), Signal::SIGINT).expect("signal up's process group");
    }

    /// Waits up to `timeout` for `up` to exit; None if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("up is running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Places an order; returns the status, the body and the X-Trace-ID header.
    pub async fn order(&self, user_id: i64, product_id: i64, quantity: i64) -> Placed {
        let body = json!({
            "user_id": user_id,
            "items": [{"product_id": product_id, "quantity": quantity}],
            "shipping_address": {"city": "Seoul", "country": "KR"},
        });
        let url = format!("{}/orders", self.order_url());
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        let trace_id = resp
            .headers()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("POST /orders ({status}) has no X-Trace-ID header"))
            .to_owned();
        let body = resp.json().await.unwrap_or(Value::Null);
        Placed {
            status,
            body,
            trace_id,
        }
    }

    /// GETs a console API path and returns status and JSON.
    pub async fn console_get(&self, path: &str) -> (u16, Value) {
        tracemart_testkit::get_json(&self.http, &format!("{}{path}", self.console_url())).await
    }

    /// Waits until the console holds trace `id` with spans of every service in `services`
    /// and its root span (which ends, and is exported, last); returns the Jaeger trace.
    pub async fn trace_with(&self, id: &str, services: &[&str]) -> Trace {
        eventually(
            TELEMETRY_TIMEOUT,
            &format!("trace {id} with spans of {services:?} and a root span"),
            || async {
                let (status, body) = self.console_get(&format!("/api/traces/{id}")).await;
                if status != 200 {
                    return None;
                }
                let trace = Trace(body["data"][0].clone());
                let have = trace.services();
                let complete = services.iter().all(|s| have.contains(*s))
                    && trace.spans().iter().any(|s| s.parent().is_none());
                complete.then_some(trace)
            },
        )
        .await
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            self.children.extend(children_of(pid));
        }
        let _ = child.kill();
        let _ = child.wait();
        for pid in &self.children {
            // Only what is still one of ours: a pid may have been reused since.
            if is_alive(*pid) && cmdline(*pid).contains("tracemart") {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
    }
}

/// Lines of a child's output, read on a thread.
fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The answer to one `POST /orders`.
#[derive(Debug)]
pub struct Placed {
    pub status: u16,
    pub body: Value,
    pub trace_id: String,
}

/// Repository root (for `tests/browser`).
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
