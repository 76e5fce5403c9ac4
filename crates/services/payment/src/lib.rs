//! The payment service: a simple authoriser, idempotent by order id. Amounts above the
//! configured limit are declined.

mod api;
mod store;

use tokio::net::TcpListener;
use tracemart_platform::{ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{Authoriser, PaymentApi, router};
pub use store::PaymentStore;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Runs the payment service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let rt = ServiceRuntime::open(ServiceName::Payment, config, &MIGRATOR).await?;
    let authoriser = Authoriser {
        store: PaymentStore::new(rt.db.clone()),
        decline_over_minor: tracemart_contracts::decimal_to_minor(config.payment_decline_over),
    };
    rt.serve(
        router(authoriser),
        PaymentApi::openapi(),
        listener,
        shutdown,
    )
    .await
}
