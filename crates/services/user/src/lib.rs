//! The user service: who may order. `GET /users/{id}`, `POST /users`.

mod api;
mod domain;
mod error;
mod store;

use tokio::net::TcpListener;
use tracemart_platform::{Migrations, ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{UserApi, Users, router};
pub use error::UserError;
pub use store::UserStore;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Demo users seeded on first start.
pub const DEMO_USERS: i64 = 1000;

/// Runs the user service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let migrations = Migrations {
        sqlite: &[&SQLITE],
        postgres: &[&POSTGRES],
    };
    let rt = ServiceRuntime::open_any(ServiceName::User, config, migrations).await?;
    let store = UserStore::new(&rt.db);
    store.seed_demo(DEMO_USERS).await?;
    let users = Users {
        store,
        tokens: rt.identity.signer.clone(),
    };
    rt.serve(router(users), UserApi::openapi(), listener, shutdown)
        .await
}
