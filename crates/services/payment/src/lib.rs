//! The payment service: decides a payment for every `order.created` (authorised up to the
//! configured limit, declined above it) and announces it; voids it when its order is
//! cancelled. `POST /payments` answers for a payment already made.

mod api;
mod domain;
mod error;
mod saga;
mod store;

use std::sync::Arc;

use tokio::net::TcpListener;
use tracemart_contracts::events::topic;
use tracemart_events::{DeadLetters, HttpTransport, Outbox, Relay, RelaySettings, Routes};
use tracemart_platform::{
    Database, DbError, ServiceClient, ServiceError, ServiceName, ServiceRuntime, ShopConfig,
};
use tracemart_telemetry::Metrics;
use utoipa::OpenApi;

pub use api::{PaymentApi, router};
pub use error::PaymentError;
pub use saga::PaymentSaga;
pub use store::{PaymentStore, StoredPayment};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The payment service's dead letters (its database, opened and migrated).
pub async fn dead_letters(config: &ShopConfig) -> Result<DeadLetters, DbError> {
    let path = config
        .sqlite_path(ServiceName::Payment)
        .map_err(|e| DbError::setting("payment", e))?;
    let db = Database::open(
        &path,
        &[&tracemart_events::MIGRATOR, &MIGRATOR],
        Metrics::new(ServiceName::Payment.service_name()),
    )
    .await?;
    Ok(DeadLetters::new(db))
}

/// Runs the payment service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let mut rt = ServiceRuntime::open(
        ServiceName::Payment,
        config,
        &[&tracemart_events::MIGRATOR, &MIGRATOR],
    )
    .await?;
    let order = ServiceName::Order.service_name();
    let routes = Routes::new()
        .route(topic::PAYMENT_AUTHORIZED, order)
        .route(topic::PAYMENT_DECLINED, order);
    let outbox = Outbox::new(rt.db.clone(), routes, rt.metrics.clone());
    let store = PaymentStore::new(rt.db.clone());
    let saga = Arc::new(PaymentSaga {
        store: store.clone(),
        outbox: outbox.clone(),
        decline_over_minor: tracemart_contracts::decimal_to_minor(config.payment_decline_over),
    });
    let relay = Relay::new(outbox, RelaySettings::from_config(config)).transport(
        order,
        HttpTransport::new(
            ServiceClient::http_pool(),
            &config.url_of(ServiceName::Order),
            config.downstream_timeout(),
        )
        .signed_by(rt.identity.signer.clone()),
    );
    relay
        .check()
        .map_err(|e| ServiceError::Setup(e.to_string()))?;
    rt.spawn_worker("event-relay", |stop| relay.run(stop.stopped()));
    let routes = router(store).merge(tracemart_events::router(
        saga,
        rt.metrics.clone(),
        &[ServiceName::Order],
    ));
    rt.serve(routes, PaymentApi::openapi(), listener, shutdown)
        .await
}
