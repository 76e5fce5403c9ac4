//! The product service: the catalogue and its prices. `GET /products`, `GET /products/{id}`,
//! `POST /products/batch`.

mod api;
mod domain;
mod error;
mod store;

use tokio::net::TcpListener;
use tracemart_platform::{Migrations, ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{ProductApi, router};
pub use error::ProductError;
pub use store::{ProductStore, demo_price_minor};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Demo products seeded on first start.
pub const DEMO_PRODUCTS: i64 = 100;

/// Runs the product service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let migrations = Migrations {
        sqlite: &[&SQLITE],
        postgres: &[&POSTGRES],
    };
    let rt = ServiceRuntime::open_any(ServiceName::Product, config, migrations).await?;
    let store = ProductStore::new(&rt.db);
    store.seed_demo(DEMO_PRODUCTS).await?;
    rt.serve(router(store), ProductApi::openapi(), listener, shutdown)
        .await
}
