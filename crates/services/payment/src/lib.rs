//! The payment service: decides a payment for every `order.created` (authorised up to the
//! configured limit, declined above it) and announces it; voids it when its order is
//! cancelled. `POST /payments` answers for a payment already made. Runs on SQLite or
//! PostgreSQL.

mod api;
mod domain;
mod error;
mod saga;
mod store;

use std::sync::{Arc, LazyLock};

use tokio::net::TcpListener;
use tracemart_contracts::events::topic;
use tracemart_events::{
    Broker, BrokerConsumer, DeadLetters, HttpTransport, Inbound, Outbox, Relay, RelaySettings,
    Routes, Subscription, WithMessaging,
};
use tracemart_platform::{
    AnyDatabase, DbError, Migrations, ServiceClient, ServiceError, ServiceName, ServiceRuntime,
    ShopConfig,
};
use tracemart_telemetry::Metrics;
use utoipa::OpenApi;

pub use api::{PaymentApi, router};
pub use error::PaymentError;
pub use saga::PaymentSaga;
pub use store::{PaymentStore, StoredPayment};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The service's migrations on each engine, the messaging tables first.
fn migrations() -> Migrations<'static> {
    static ALL: LazyLock<WithMessaging> = LazyLock::new(|| WithMessaging::new(&SQLITE, &POSTGRES));
    ALL.migrations()
}

/// The payment service's dead letters (its database, on either engine, opened and migrated).
pub async fn dead_letters(config: &ShopConfig) -> Result<DeadLetters, DbError> {
    let url = config
        .database_url(ServiceName::Payment)
        .map_err(|e| DbError::setting("payment", e))?;
    let db = AnyDatabase::open(
        &url,
        migrations(),
        // The command's few statements need no more.
        1,
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
    let mut rt = ServiceRuntime::open_any(ServiceName::Payment, config, migrations()).await?;
    let (order, me) = (
        ServiceName::Order.service_name(),
        ServiceName::Payment.service_name(),
    );
    let routes = Routes::new()
        .route(topic::PAYMENT_AUTHORIZED, order)
        .route(topic::PAYMENT_DECLINED, order);
    let outbox = Outbox::new(rt.db.clone(), routes, rt.metrics.clone());
    let store = PaymentStore::new(&rt.db);
    let saga = Inbound::new(
        Arc::new(PaymentSaga {
            store: store.clone(),
            outbox: outbox.clone(),
            decline_over_minor: tracemart_contracts::decimal_to_minor(config.payment_decline_over),
            faults: rt.faults.clone(),
            metrics: rt.metrics.clone(),
        }),
        rt.metrics.clone(),
        rt.faults.clone(),
    );
    let broker = Broker::from_config(config);
    let relay = Relay::new(outbox, RelaySettings::from_config(config)).remote(
        order,
        broker.as_ref(),
        || {
            HttpTransport::new(
                ServiceClient::http_pool(),
                &config.url_of(ServiceName::Order),
                config.downstream_timeout(),
            )
            .signed_by(rt.identity.signer.clone())
        },
    );
    relay
        .check()
        .map_err(|e| ServiceError::Setup(e.to_string()))?;
    rt.spawn_worker("event-relay", |stop| relay.run(stop.stopped()));
    if let Some(broker) = &broker {
        let orders = [topic::ORDER_CREATED, topic::ORDER_CANCELLED].map(|topic| Subscription {
            producer: order,
            topic,
        });
        let consuming = BrokerConsumer::new(broker, me, &orders, saga.clone());
        rt.spawn_worker("event-consumer", |stop| consuming.run(stop.stopped()));
    }
    let routes = router(store).merge(tracemart_events::router(saga, &[ServiceName::Order]));
    rt.serve(routes, PaymentApi::openapi(), listener, shutdown)
        .await
}
