//! What `up` knows of each child, shared by the supervisors (which write it) and the control
//! listener (which reads it and asks for stops, starts and restarts).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Running, not answering its readiness check yet.
    Starting,
    /// Running, and answered its readiness check since it started.
    Ready,
    /// Stopped on request; stays stopped until started.
    Stopped,
    /// Exited on its own; about to be restarted.
    Crashed,
    /// Exited on its own again soon after a restart; waiting before the next one.
    Backoff,
}

/// What the operator wants of a child. `generation` grows with every restart asked for, so
/// that a supervisor sees a restart even when the child was already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) running: bool,
    pub(crate) generation: u64,
}

/// One child's row, as `GET /processes` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) state: State,
    pub(crate) pid: Option<u32>,
    /// Unix milliseconds of the current run's start.
    pub(crate) started_at_ms: Option<u64>,
    /// Restarts after a crash or on request (a start after a stop is not one).
    pub(crate) restarts: u32,
    pub(crate) ports: Vec<u16>,
    pub(crate) ready_url: String,
    /// How its last run ended, if one did.
    pub(crate) last_exit: Option<String>,
    pub(crate) log_file: Option<PathBuf>,
}

struct Child {
    row: Row,
    wanted: watch::Sender<Wanted>,
}

/// The children of one `up`.
#[derive(Clone)]
pub(crate) struct Table {
    children: Arc<Mutex<Vec<Child>>>,
}

/// One child's handle for its supervisor: updates its row, hears what is wanted of it.
pub(crate) struct Slot {
    table: Table,
    index: usize,
    pub(crate) wanted: watch::Receiver<Wanted>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Self {
            children: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Child>> {
        // A panic while holding the lock leaves plain data behind, still worth showing.
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a child, wanted running.
    pub(crate) fn add(
        &self,
        name: &'static str,
        ports: Vec<u16>,
        ready_url: String,
        log_file: Option<PathBuf>,
    ) -> Slot {
        let (wanted, rx) = watch::channel(Wanted {
            running: true,
            generation: 0,
        });
        let mut children = self.lock();
        children.push(Child {
            row: Row {
                name,
                state: State::Starting,
                pid: None,
                started_at_ms: None,
                restarts: 0,
                ports,
                ready_url,
                last_exit: None,
                log_file,
            },
            wanted,
        });
        Slot {
            table: self.clone(),
            index: children.len() - 1,
            wanted: rx,
        }
    }

    /// Every child's row, in start order.
    pub(crate) fn rows(&self) -> Vec<Row> {
        self.lock().iter().map(|c| c.row.clone()).collect()
    }

    /// The row of `name`, if there is such a child.
    pub(crate) fn row(&self, name: &str) -> Option<Row> {
        self.lock()
            .iter()
            .find(|c| c.row.name == name)
            .map(|c| c.row.clone())
    }

    /// The children's names, for error messages.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.lock().iter().map(|c| c.row.name).collect()
    }

    /// Asks for `name` to run (`restart` makes a running child start again); `false` if
    /// there is no such child.
    pub(crate) fn want(&self, name: &str, running: bool, restart: bool) -> bool {
        let children = self.lock();
        let Some(child) = children.iter().find(|c| c.row.name == name) else {
            return false;
        };
        child.wanted.send_modify(|w| {
            w.running = running;
            if restart {
                w.generation += 1;
            }
        });
        true
    }

    /// Marks a running child ready or not, as its readiness check answers. Only a child that
    /// is running changes: a late answer does not revive a stopped one.
    pub(crate) fn set_ready(&self, name: &str, pid: u32, ready: bool) {
        let mut children = self.lock();
        if let Some(child) = children
            .iter_mut()
            .find(|c| c.row.name == name && c.row.pid == Some(pid))
            && matches!(child.row.state, State::Starting | State::Ready)
        {
            child.row.state = if ready { State::Ready } else { State::Starting };
        }
    }
}

impl Slot {
    fn update(&self, f: impl FnOnce(&mut Row)) {
        if let Some(child) = self.table.lock().get_mut(self.index) {
            f(&mut child.row);
        }
    }

    /// A new run of the child began.
    pub(crate) fn started(&self, pid: Option<u32>, restart: bool) {
        self.update(|row| {
            row.state = State::Starting;
            row.pid = pid;
            row.started_at_ms = Some(unix_ms(SystemTime::now()));
            if restart {
                row.restarts += 1;
            }
        });
    }

    /// The child exited on its own; `waiting` if the next start waits (backoff).
    pub(crate) fn crashed(&self, status: &str, waiting: bool) {
        self.update(|row| {
            row.state = if waiting {
                State::Backoff
            } else {
                State::Crashed
            };
            row.pid = None;
            row.last_exit = Some(status.to_owned());
        });
    }

    /// The child was stopped on request.
    pub(crate) fn stopped(&self, status: Option<String>) {
        self.update(|row| {
            row.state = State::Stopped;
            row.pid = None;
            row.started_at_ms = None;
            if status.is_some() {
                row.last_exit = status;
            }
        });
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}
