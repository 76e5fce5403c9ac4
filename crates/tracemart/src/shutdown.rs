//! When to stop: SIGINT, SIGTERM, or (for children of `up`) the parent going away.
//!
//! Listening starts when these functions are called, not when their futures are first polled:
//! a signal that arrives between "ready" and the first poll would otherwise find the default
//! disposition and kill the process without a clean stop.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Resolves on Ctrl-C or SIGTERM; both are listened for from the moment of the call.
pub(crate) fn signal_received() -> impl Future<Output = ()> + Send + 'static {
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            _ = recv(&mut interrupt) => {}
            _ = recv(&mut terminate) => {}
        }
    }
}

/// Resolves on a signal, or when the process that started us exits (so that a killed `up`
/// leaves no orphans behind).
pub(crate) fn signal_or_orphaned() -> impl Future<Output = ()> + Send + 'static {
    let signalled = signal_received();
    let parent = std::os::unix::process::parent_id();
    let orphaned = async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if std::os::unix::process::parent_id() != parent {
                return;
            }
        }
    };
    async move {
        tokio::select! {
            _ = signalled => {}
            _ = orphaned => {}
        }
    }
}

fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
    signal(kind)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}; it will not stop this process cleanly"))
        .ok()
}

async fn recv(signal: &mut Option<Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
