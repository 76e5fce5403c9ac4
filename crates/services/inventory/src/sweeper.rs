//! Releases reservations whose time is up, so stock held for an abandoned order comes back.

use std::time::Duration;

use crate::store::InventoryStore;

/// How often expired reservations are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Sweeps until `stop` resolves.
pub async fn release_expired_loop(
    store: InventoryStore,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        match store.release_expired_once(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "Released expired reservations"),
            Err(e) => tracing::warn!(error = %e, "Sweeping expired reservations failed"),
        }
    }
}
