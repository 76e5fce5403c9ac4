//! The drivers: open loop (requests start on a timetable, wrk2-style, latency counted from the
//! timetable) and closed loop (N clients back to back), plus the task that collects outcomes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{LoadClient, TraceContext};
use crate::progress::Progress;
use crate::scenario::{Planner, RequestSpec};
use crate::stats::{Outcome, Stats};

/// An open-loop request dispatched more than this after its due time counts as late (it is
/// still sent, and its latency still counts from the due time).
pub const LATE_AFTER: Duration = Duration::from_millis(10);
/// How often the progress bar is redrawn and its rate and p99 window restarts.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How many outcomes the collector takes from its queue at once.
const COLLECT_BATCH: usize = 1024;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// `total` requests, the i-th due at `start + i / rate`.
    Open {
        rate: f64,
        total: u64,
        max_in_flight: u32,
    },
    /// `connections` clients; stop at `requests` or `duration`, whichever comes first.
    Closed {
        connections: usize,
        requests: Option<u64>,
        duration: Option<Duration>,
    },
}

/// What the driver did, as opposed to what the server answered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    /// Requests that came due (open loop) or were started (closed loop).
    pub(crate) scheduled: u64,
    /// Requests actually sent.
    pub(crate) sent: u64,
    /// Open loop: due while `--max-in-flight` requests were outstanding, so not sent.
    pub(crate) dropped: u64,
    /// Open loop: sent more than [`LATE_AFTER`] after their due time.
    pub(crate) late: u64,
    /// From the start until the last answer.
    pub(crate) elapsed: Duration,
}

/// Set when the run is to end early (Ctrl-C): no new request starts, those in flight finish
/// and are counted.
#[derive(Debug, Clone)]
pub(crate) struct EarlyStop(watch::Receiver<bool>);

impl EarlyStop {
    pub(crate) fn new(requested: watch::Receiver<bool>) -> Self {
        Self(requested)
    }

    fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested; never, if the sender is gone without asking.
    async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What every request task needs.
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) client: LoadClient,
    pub(crate) planner: Planner,
    pub(crate) seed: Option<u64>,
}

impl Driver {
    /// Sends `spec` under a fresh trace; latency runs from `due`.
    async fn execute(&self, spec: RequestSpec, due: Instant) -> Outcome {
        let trace = TraceContext::random();
        let result = self.client.send(&spec, &trace).await;
        Outcome {
            kind: spec.kind,
            trace,
            scheduled_at: due,
            latency: due.elapsed(),
            result,
        }
    }

    /// The body and mix generator of one stream: reproducible with `--seed`.
    pub(crate) fn rng(&self, stream: u64) -> StdRng {
        match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            None => StdRng::from_os_rng(),
        }
    }
}

/// Runs the whole load phase; returns when every request has finished.
pub(crate) async fn drive(
    driver: Arc<Driver>,
    mode: Mode,
    outcomes: mpsc::UnboundedSender<Outcome>,
    start: Instant,
    stop: EarlyStop,
) -> Summary {
    match mode {
        Mode::Open {
            rate,
            total,
            max_in_flight,
        } => open_loop(driver, rate, total, max_in_flight, outcomes, start, stop).await,
        Mode::Closed {
            connections,
            requests,
            duration,
        } => {
            let deadline = duration.map(|d| start + d);
            closed_loop(
                driver,
                connections,
                requests,
                deadline,
                outcomes,
                start,
                stop,
            )
            .await
        }
    }
}

async fn open_loop(
    driver: Arc<Driver>,
    rate: f64,
    total: u64,
    max_in_flight: u32,
    outcomes: mpsc::UnboundedSender<Outcome>,
    start: Instant,
    mut stop: EarlyStop,
) -> Summary {
    let permits = Arc::new(Semaphore::new(max_in_flight as usize));
    let mut rng = driver.rng(0);
    let mut summary = Summary::default();
    for i in 0..total {
        // Due times come from the start, never from the previous send, so a slow server or a
        // starved scheduler shows up as latency, not as a quietly stretched timetable.
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = stop.requested() => break,
            }
        }
        if stop.is_requested() {
            break;
        }
        summary.scheduled += 1;
        if due.elapsed() > LATE_AFTER {
            summary.late += 1;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            summary.dropped += 1;
            continue;
        };
        summary.sent += 1;
        let spec = driver.planner.next(&mut rng);
        let driver = driver.clone();
        let outcomes = outcomes.clone();
        tokio::spawn(async move {
            let outcome = driver.execute(spec, due).await;
            let _ = outcomes.send(outcome);
            drop(permit);
        });
    }
    // Every task holds a permit until it has reported: having them all back means all done.
    let _all_done = permits.acquire_many(max_in_flight).await;
    summary.elapsed = start.elapsed();
    summary
}

async fn closed_loop(
    driver: Arc<Driver>,
    connections: usize,
    requests: Option<u64>,
    deadline: Option<Instant>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    start: Instant,
    stop: EarlyStop,
) -> Summary {
    let issued = Arc::new(AtomicU64::new(0));
    let mut clients = JoinSet::new();
    for stream in 1..=connections as u64 {
        let driver = driver.clone();
        let issued = issued.clone();
        let outcomes = outcomes.clone();
        let stop = stop.clone();
        clients.spawn(async move {
            let mut rng = driver.rng(stream);
            let mut sent = 0_u64;
            loop {
                if stop.is_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let ticket = issued.fetch_add(1, Ordering::Relaxed);
                if requests.is_some_and(|max| ticket >= max) {
                    break;
                }
                let spec = driver.planner.next(&mut rng);
                let outcome = driver.execute(spec, Instant::now()).await;
                sent += 1;
                if outcomes.send(outcome).is_err() {
                    break;
                }
            }
            sent
        });
    }
    let mut sent = 0;
    while let Some(joined) = clients.join_next().await {
        sent += joined.unwrap_or(0);
    }
    Summary {
        scheduled: sent,
        sent,
        dropped: 0,
        late: 0,
        elapsed: start.elapsed(),
    }
}

/// Folds outcomes into `stats` until every sender is gone, redrawing the progress bar.
pub(crate) async fn collect(
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    mut stats: Stats,
    progress: Progress,
) -> Stats {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut window_start = Instant::now();
    let mut batch = Vec::with_capacity(COLLECT_BATCH);
    loop {
        tokio::select! {
            received = outcomes.recv_many(&mut batch, COLLECT_BATCH) => {
                if received == 0 {
                    break;
                }
                for outcome in batch.drain(..) {
                    stats.record(&outcome);
                }
            }
            _ = tick.tick() => {
                let (finished, p99) = stats.take_window();
                progress.update(stats.finished, (finished, p99, window_start.elapsed()), stats.errors());
                window_start = Instant::now();
            }
        }
    }
    progress.finish();
    stats
}
