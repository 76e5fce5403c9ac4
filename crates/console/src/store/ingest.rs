//! The ingest queue and its single writer thread. Batches are written as they arrive into an
//! open transaction that is committed every [`COMMIT_INTERVAL`] (or once it holds
//! [`MAX_ROWS_PER_TRANSACTION`] rows): one export at a time per transaction rewrote the same
//! index and tree pages into the WAL for every export. `flush` and retention travel the same
//! queue and commit first, so their answers see every batch submitted before them.
//!
//! The writer is a dedicated OS thread (SQLite calls block), fed by a tokio channel so that
//! request handlers wait for room asynchronously, with a timeout.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::model::Batch;
use super::retention::{RetentionPolicy, RetentionReport};
use super::write::Writer;
use crate::error::ConsoleError;

/// Rows written into one transaction at most (the batch that crosses it still goes whole).
const MAX_ROWS_PER_TRANSACTION: usize = 20_000;
/// How long written rows may wait for their commit, i.e. to become visible to queries.
pub(crate) const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

enum Command {
    Write(Batch),
    Flush(oneshot::Sender<()>),
    Retention(oneshot::Sender<Result<RetentionReport, ConsoleError>>),
    /// The commit interval elapsed.
    Commit,
    /// The retention interval elapsed.
    RetentionDue,
    Shutdown(oneshot::Sender<()>),
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The queue stayed full for the whole enqueue timeout: the sender should retry later.
    #[error("ingest queue is full, retry later")]
    Full,
    /// The writer has stopped (shutting down).
    #[error("console is shutting down")]
    Closed,
}

/// Handle to the ingest queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Command>,
    enqueue_timeout: Duration,
}

impl Ingest {
    /// Queues a batch, waiting at most the enqueue timeout for room.
    pub(crate) async fn submit(&self, batch: Batch) -> Result<(), SubmitError> {
        match self.tx.try_send(Command::Write(batch)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Closed),
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                match tokio::time::timeout(self.enqueue_timeout, self.tx.send(cmd)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(SubmitError::Closed),
                    Err(_) => Err(SubmitError::Full),
                }
            }
        }
    }

    /// Resolves once every batch queued before this call is committed and visible to queries.
    pub async fn flush(&self) -> Result<(), ConsoleError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Flush(reply))
            .await
            .map_err(|_| ConsoleError::WriterGone)?;
        done.await.map_err(|_| ConsoleError::WriterGone)
    }

    /// Applies the retention policy now (it also runs on its own every `retention_interval`).
    pub async fn enforce_retention(&self) -> Result<RetentionReport, ConsoleError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Retention(reply))
            .await
            .map_err(|_| ConsoleError::WriterGone)?;
        done.await.map_err(|_| ConsoleError::WriterGone)?
    }

    /// Asks the writer to finish what is queued and stop; resolves when it has.
    pub(crate) async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Resolves when the writer thread has ended: `Ok` when it returned, `Err` if it panicked.
pub(crate) type WriterDone = oneshot::Receiver<()>;

/// Creates the queue, starts the writer thread on `writer` and a task that asks it to commit
/// every [`COMMIT_INTERVAL`] and to apply retention every `policy.interval`. Must be called
/// within a tokio runtime.
pub(crate) fn spawn_writer(
    writer: Writer,
    capacity: usize,
    enqueue_timeout: Duration,
    policy: RetentionPolicy,
) -> Result<(Ingest, WriterDone), ConsoleError> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (done_tx, done) = oneshot::channel();
    let interval = policy.interval;
    std::thread::Builder::new()
        .name("console-writer".into())
        .spawn(move || {
            writer_loop(writer, rx, &policy);
            let _ = done_tx.send(());
        })
        .map_err(ConsoleError::WriterThread)?;
    // A weak handle: the ticker must not keep the queue open once every `Ingest` is gone.
    let ticker = tx.downgrade();
    tokio::spawn(async move {
        let mut commit = tokio::time::interval(COMMIT_INTERVAL);
        let mut retention = tokio::time::interval(interval);
        for tick in [&mut commit, &mut retention] {
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
        }
        loop {
            let cmd = tokio::select! {
                _ = commit.tick() => Command::Commit,
                _ = retention.tick() => Command::RetentionDue,
            };
            let Some(tx) = ticker.upgrade() else { break };
            if tx.send(cmd).await.is_err() {
                break;
            }
        }
    });
    Ok((
        Ingest {
            tx,
            enqueue_timeout,
        },
        done,
    ))
}

fn writer_loop(mut writer: Writer, mut rx: mpsc::Receiver<Command>, policy: &RetentionPolicy) {
    while let Some(first) = rx.blocking_recv() {
        // Write whatever is already queued as one group (one pass over its spans' edges).
        let mut batches = Vec::new();
        let mut rows = 0;
        let mut pending = Some(first);
        let mut after = None;
        while let Some(cmd) = pending.take() {
            match cmd {
                Command::Write(b) => {
                    rows += b.len();
                    batches.push(b);
                    if writer.uncommitted_rows() + rows < MAX_ROWS_PER_TRANSACTION {
                        pending = rx.try_recv().ok();
                    }
                }
                other => after = Some(other),
            }
        }
        if !batches.is_empty() {
            if let Err(e) = writer.write(&mut batches) {
                tracing::error!(error = %e, rows, "console dropped a batch it could not store");
            }
            drop(batches);
            if writer.uncommitted_rows() >= MAX_ROWS_PER_TRANSACTION {
                commit(&mut writer);
            }
        }
        match after {
            None | Some(Command::Write(_)) => {}
            Some(Command::Commit) => commit(&mut writer),
            Some(Command::Flush(reply)) => {
                commit(&mut writer);
                let _ = reply.send(());
            }
            Some(Command::Retention(reply)) => {
                let report = writer.enforce_retention(policy);
                let _ = reply.send(report.map_err(ConsoleError::Writer));
            }
            Some(Command::RetentionDue) => {
                if let Err(e) = writer.enforce_retention(policy) {
                    tracing::warn!(error = %e, "console retention failed");
                }
            }
            Some(Command::Shutdown(reply)) => {
                drain(&mut writer, &mut rx);
                let _ = reply.send(());
                return;
            }
        }
    }
    commit(&mut writer);
}

/// Commits what is written (the writer logs what a failure loses).
fn commit(writer: &mut Writer) {
    let _ = writer.commit();
}

/// Stores what is still queued when shutdown is asked for.
fn drain(writer: &mut Writer, rx: &mut mpsc::Receiver<Command>) {
    rx.close();
    let mut waiting = Vec::new();
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Command::Write(mut b) => {
                if let Err(e) = writer.write(std::slice::from_mut(&mut b)) {
                    tracing::error!(error = %e, "console dropped a batch while draining");
                }
            }
            Command::Flush(reply) | Command::Shutdown(reply) => waiting.push(reply),
            Command::Retention(reply) => {
                let _ = reply.send(Err(ConsoleError::WriterGone));
            }
            Command::Commit | Command::RetentionDue => {}
        }
    }
    commit(writer);
    for reply in waiting {
        let _ = reply.send(());
    }
}
