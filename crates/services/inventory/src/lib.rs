//! The inventory service: stock and reservations. Stock never goes negative: every change runs
//! in a transaction on the single writer connection, guarded by `available >= quantity` and a
//! CHECK constraint.

mod api;
mod domain;
mod error;
mod schema;
mod store;
mod sweeper;

use tokio::net::TcpListener;
use tracemart_platform::{ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{InventoryApi, router};
pub use error::InventoryError;
pub use store::InventoryStore;
pub use sweeper::release_expired_loop;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Runs the inventory service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let mut rt = ServiceRuntime::open(ServiceName::Inventory, config, &[&MIGRATOR]).await?;
    let store = InventoryStore::new(rt.db.clone());
    store.seed_demo(tracemart_platform::config::DEMO_PRODUCTS, config.demo_stock)?;
    let sweeper = store.clone();
    rt.spawn_worker("reservation-sweeper", |stop| {
        release_expired_loop(sweeper, stop.stopped())
    });
    rt.serve(router(store), InventoryApi::openapi(), listener, shutdown)
        .await
}
