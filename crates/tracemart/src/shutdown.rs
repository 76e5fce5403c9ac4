//! When to stop: SIGINT, SIGTERM, or (for children of `up`) the parent going away.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn signal_received() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Resolves on a signal, or when the process that started us exits (so that a killed `up`
/// leaves no orphans behind).
pub(crate) async fn signal_or_orphaned() {
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
    tokio::select! {
        _ = signal_received() => {}
        _ = orphaned => {}
    }
}
