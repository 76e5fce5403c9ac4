//! Releases reservations whose time is up, so stock held for an abandoned order comes back.

use std::time::Duration;

use crate::store::InventoryStore;

/// How often expired reservations are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Runs forever; abort the task to stop it.
pub async fn release_expired_loop(store: InventoryStore) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        match store.release_expired_once(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "Released expired reservations"),
            Err(e) => tracing::warn!(error = %e, "Sweeping expired reservations failed"),
        }
    }
}
