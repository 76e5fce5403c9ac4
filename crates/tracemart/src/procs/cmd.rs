//! `tracemart ps`, `stop`, `start` and `restart`: the control API of the `up` that runs with
//! this data directory.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracemart_platform::identity::{Principal, ensure_keys, issue};

use super::control::{Running, running_file};
use crate::cli::{DataFlags, ProcessArgs, PsArgs};
use crate::settings;

/// An action waits for the child to settle (the control API gives it 30 s); a little more.
const ACTION_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the operator token of one action is valid.
const TOKEN_TTL: Duration = Duration::from_secs(120);

/// The running `up`'s control API and the shop's configuration.
struct Target {
    url: String,
    keys_dir: std::path::PathBuf,
    http: reqwest::Client,
}

impl Target {
    fn find(data: &DataFlags) -> Result<Self, String> {
        let config = settings::resolve(&data.shop()).map_err(|e| e.to_string())?;
        let file = running_file(&config.data_dir);
        let text = std::fs::read_to_string(&file).map_err(|_| {
            format!(
                "no shop is running with data directory {} (no {}); start one with `tracemart up`",
                config.data_dir.display(),
                file.display()
            )
        })?;
        let running: Running = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not readable: {e}", file.display()))?;
        let http = reqwest::Client::builder()
            .timeout(ACTION_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self {
            url: running.control_url,
            keys_dir: config.keys_dir(),
            http,
        })
    }

    /// Sends `request`, and reads the JSON answer or says what went wrong.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let answer = request.send().await.map_err(|e| {
            format!(
                "cannot reach `tracemart up` at {} ({e}); is it still running?",
                self.url
            )
        })?;
        let status = answer.status();
        let body: Value = answer
            .json()
            .await
            .map_err(|e| format!("`up` answered {status} with a body that is not JSON: {e}"))?;
        if !status.is_success() {
            let why = body["error"].as_str().unwrap_or("no reason given");
            return Err(format!("`up` refused: {why} ({status})"));
        }
        Ok(body)
    }
}

pub(crate) async fn ps(args: PsArgs) -> u8 {
    let target = match Target::find(&args.data) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let query = if args.json { "" } else { "?lines=0" };
    let request = target.http.get(format!("{}/processes{query}", target.url));
    let body = match target.send(request).await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    // Written without panicking when the reader goes away (`tracemart ps | head -2`).
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(out, "{body}");
        return 0;
    }
    let _ = writeln!(
        out,
        "{:<10} {:<9} {:>8} {:>9} {:>8}  PORTS",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for p in body["processes"].as_array().into_iter().flatten() {
        let ports: Vec<String> = p["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect();
        let _ = writeln!(
            out,
            "{:<10} {:<9} {:>8} {:>9} {:>8}  {}",
            p["name"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?"),
            p["pid"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or("-".into()),
            p["started_at_ms"]
                .as_u64()
                .map(uptime)
                .unwrap_or("-".into()),
            p["restarts"].as_u64().unwrap_or(0),
            ports.join(",")
        );
    }
    0
}

pub(crate) async fn act(args: ProcessArgs, action: &str) -> u8 {
    let target = match Target::find(&args.data) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let token = ensure_keys(&target.keys_dir)
        .and_then(|()| issue(&target.keys_dir, Principal::Admin, "admin", TOKEN_TTL));
    let token = match token {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot sign an operator token: {e}")),
    };
    let name = args.process.name();
    let request = target
        .http
        .post(format!("{}/processes/{name}/{action}", target.url))
        .bearer_auth(token);
    match target.send(request).await {
        Ok(row) => {
            let pid = row["pid"]
                .as_u64()
                .map(|p| format!(", pid {p}"))
                .unwrap_or_default();
            println!(
                "{name}: {}{pid}",
                row["state"].as_str().unwrap_or("unknown")
            );
            0
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("error: {message}");
    1
}

/// `1h02m`, `3m05s` or `42s` since `started_ms` (Unix milliseconds).
fn uptime(started_ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let secs = u64::try_from(now.saturating_sub(u128::from(started_ms)) / 1000).unwrap_or(0);
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}
