//! `up`'s control listener, on loopback only: the children's table (`GET /processes`) and
//! stop, start and restart of one child (`POST /processes/{name}/{action}`, the operator's
//! token). The console proxies it for the browser; `tracemart ps|stop|start|restart` call it
//! directly, finding it through `DATA_DIR/up.json`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tracemart_platform::ApiError;
use tracemart_platform::identity::{Authenticator, Caller, KeyRing, Verifier, authenticate};

use super::table::{Row, State as ProcState, Table};

/// Log lines shown per child unless asked otherwise, and at most.
const DEFAULT_LINES: usize = 20;
const MAX_LINES: usize = 500;
/// Bytes read from the end of a log file for its last lines.
const TAIL_BYTES: u64 = 256 * 1024;
/// How long an action waits for the child to settle: a stop's grace period plus a start.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a running `up` answers, written to `DATA_DIR/up.json` while it runs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Running {
    pub(crate) control_url: String,
    pub(crate) pid: u32,
}

/// The file naming the running `up` of a data directory.
pub(crate) fn running_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("up.json")
}

#[derive(Clone)]
struct Control {
    table: Table,
}

/// Binds the control listener on loopback, on a port the system picks: nothing to configure
/// and nothing to collide with; its address goes to `DATA_DIR/up.json`.
pub(crate) async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// The control API over `table`; actions need a token of the operator signed with the keys
/// in `keys_dir` (the token scheme of the services' `/admin/*`).
pub(crate) fn router(table: Table, keys_dir: &Path) -> Router {
    let auth = Arc::new(Authenticator {
        verifier: Verifier::new(KeyRing::open(keys_dir)),
        require_tokens: true,
    });
    Router::new()
        .route("/processes", get(list))
        .route("/processes/{name}", get(one))
        .route("/processes/{name}/{action}", post(act))
        .with_state(Control { table })
        .layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

/// `?wait=false`: answer once the action is asked for, without waiting for it to settle. The
/// console asks so for itself: it cannot stop while it holds the request that waits.
#[derive(Debug, Deserialize)]
struct Wait {
    wait: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Lines {
    lines: Option<usize>,
}

impl Lines {
    fn count(&self) -> usize {
        self.lines.unwrap_or(DEFAULT_LINES).min(MAX_LINES)
    }
}

/// A row with the last lines of the child's log.
fn with_log(row: &Row, lines: usize) -> Value {
    let mut value = json!(row);
    value["log"] = json!(match &row.log_file {
        Some(path) => tail(path, lines),
        None => Vec::new(),
    });
    value
}

async fn list(State(c): State<Control>, Query(q): Query<Lines>) -> Json<Value> {
    let rows: Vec<Value> = c
        .table
        .rows()
        .iter()
        .map(|r| with_log(r, q.count()))
        .collect();
    Json(json!({ "processes": rows }))
}

async fn one(
    State(c): State<Control>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<Lines>,
) -> Response {
    match c.table.row(&name) {
        Some(row) => Json(with_log(&row, q.count())).into_response(),
        None => no_such(&c.table, &name).into_response(),
    }
}

fn no_such(table: &Table, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_process",
        format!(
            "no process named {name:?}; the processes are {}",
            table.names().join(", ")
        ),
    )
}

async fn act(
    State(c): State<Control>,
    caller: Caller,
    UrlPath((name, action)): UrlPath<(String, String)>,
    Query(wait): Query<Wait>,
) -> Response {
    if caller != Caller::Admin {
        return caller
            .refuse("Stopping, starting or restarting a process")
            .into_response();
    }
    let Some(before) = c.table.row(&name) else {
        return no_such(&c.table, &name).into_response();
    };
    let (running, restart) = match action.as_str() {
        "stop" => (false, false),
        "start" => (true, false),
        "restart" => (true, true),
        other => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_action",
                format!("no action {other:?}: stop, start or restart"),
            )
            .into_response();
        }
    };
    c.table.want(&name, running, restart);
    if wait.wait == Some(false) {
        return (StatusCode::ACCEPTED, Json(with_log(&before, 0))).into_response();
    }
    let settled = |row: &Row| match (running, row.state) {
        (false, state) => state == ProcState::Stopped,
        // A start of a running child settles at once; a restart needs a new run.
        (true, ProcState::Ready) => !restart || row.pid != before.pid,
        (true, ProcState::Crashed | ProcState::Backoff) => row.restarts > before.restarts,
        (true, _) => false,
    };
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let row = c.table.row(&name).unwrap_or(before.clone());
        if settled(&row) {
            return Json(with_log(&row, DEFAULT_LINES)).into_response();
        }
        if Instant::now() >= deadline {
            return ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "not_settled",
                format!(
                    "{name} is still {} after {}s",
                    json!(row.state).as_str().unwrap_or("changing"),
                    SETTLE_TIMEOUT.as_secs()
                ),
            )
            .into_response();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of the file at `path` (none if it cannot be read).
fn tail(path: &Path, lines: usize) -> Vec<String> {
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let text = read().unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
