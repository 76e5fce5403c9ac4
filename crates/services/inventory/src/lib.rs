//! The inventory service: stock and reservations, on SQLite or PostgreSQL. Stock never goes
//! negative: every take runs in a transaction, guarded by `available >= quantity` and a CHECK
//! constraint (on SQLite's single writer connection; on PostgreSQL's locked stock rows).

mod api;
mod domain;
mod error;
mod schema;
mod store;
mod sweeper;

use tokio::net::TcpListener;
use tracemart_platform::{Migrations, ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{InventoryApi, router};
pub use error::InventoryError;
pub use store::InventoryStore;
pub use sweeper::release_expired_loop;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The service's migrations on each engine.
static MIGRATIONS: Migrations<'static> = Migrations {
    sqlite: &[&SQLITE],
    postgres: &[&POSTGRES],
};

/// Runs the inventory service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let mut rt = ServiceRuntime::open_any(ServiceName::Inventory, config, MIGRATIONS).await?;
    let store = InventoryStore::new(&rt.db);
    store
        .seed_demo(tracemart_platform::config::DEMO_PRODUCTS, config.demo_stock)
        .await?;
    let sweeper = store.clone();
    rt.spawn_worker("reservation-sweeper", |stop| {
        release_expired_loop(sweeper, stop.stopped())
    });
    rt.serve(router(store), InventoryApi::openapi(), listener, shutdown)
        .await
}
