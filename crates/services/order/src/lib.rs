//! The order service: `POST /orders` (the seed's `create_order`, made real), `GET /orders/{id}`,
//! `GET /orders?user_id=`, `GET /orders/{id}/events`, and the order's side of the payment saga
//! (`POST /events` receives payment's decisions). Runs on SQLite or PostgreSQL.

mod api;
mod commands;
mod domain;
mod downstream;
mod error;
mod flow;
mod saga;
mod schema;
mod store;
mod stream;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tracemart_contracts::events::topic;
use tracemart_events::{
    Broker, BrokerConsumer, DeadLetters, HttpTransport, Inbound, LocalTransport, Outbox, Relay,
    RelaySettings, Routes, Subscription, WithMessaging,
};
use tracemart_platform::{
    AnyDatabase, DbError, Migrations, ServiceClient, ServiceDatabase, ServiceError, ServiceName,
    ServiceRuntime, ShopConfig,
};
use tracemart_telemetry::Metrics;
use utoipa::OpenApi;

pub use api::{OrderApi, router};
pub use commands::command;
pub use domain::{CURRENCY, IdempotencyKey, MAX_ITEMS, MAX_QUANTITY, NewOrder, parse_order_id};
pub use downstream::{Downstream, Transition};
pub use error::OrderError;
pub use flow::{OrderFlow, Placed};
pub use saga::OrderSaga;
pub use schema::OrderView;
pub use store::{OrderStore, Rebuilt};
pub use stream::{CancelReason, OrderEvent, OrderStatus};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The service's migrations on each engine, the messaging tables first.
fn migrations() -> Migrations<'static> {
    static ALL: LazyLock<WithMessaging> = LazyLock::new(|| WithMessaging::new(&SQLITE, &POSTGRES));
    ALL.migrations()
}

/// Opens (and migrates) the order service's database, on either engine, for a command.
pub async fn open_database(config: &ShopConfig, metrics: Metrics) -> Result<AnyDatabase, DbError> {
    let url = config
        .database_url(ServiceName::Order)
        .map_err(|e| DbError::setting("order", e))?;
    // A command's few statements need no more.
    AnyDatabase::open(&url, migrations(), 1, metrics).await
}

/// Folds every order's event stream again and corrects the `orders` rows that differ.
pub async fn rebuild_orders(config: &ShopConfig) -> Result<Rebuilt, DbError> {
    let db = open_database(config, Metrics::new(ServiceName::Order.service_name())).await?;
    let rebuilt = OrderStore::new(&db).rebuild().await;
    db.close().await;
    rebuilt
}

/// The order service's dead letters.
pub async fn dead_letters(config: &ShopConfig) -> Result<DeadLetters, DbError> {
    let db = open_database(config, Metrics::new(ServiceName::Order.service_name())).await?;
    Ok(DeadLetters::new(db))
}

/// Runs the order service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let mut rt = ServiceRuntime::open_any(ServiceName::Order, config, migrations()).await?;
    let http = ServiceClient::http_pool();
    let client = |s: ServiceName| rt.client(&http, s, config);
    let downstream = Downstream {
        users: client(ServiceName::User),
        products: client(ServiceName::Product),
        inventory: client(ServiceName::Inventory),
        reservation_ttl: Duration::from_secs(config.reservation_ttl_secs),
    };
    // Events go to payment over HTTP or through the broker; the commands the saga sends
    // itself stay in process.
    let (payment, me) = (
        ServiceName::Payment.service_name(),
        ServiceName::Order.service_name(),
    );
    let routes = Routes::new()
        .route(topic::ORDER_CREATED, payment)
        .route(topic::ORDER_CANCELLED, payment)
        .route(command::COMMIT_RESERVATION, me)
        .route(command::RELEASE_RESERVATION, me)
        .route(command::EXPIRE, me)
        .route(command::RELEASE_ORPHAN, me);
    let outbox = Outbox::new(rt.db.clone(), routes, rt.metrics.clone());
    let store = OrderStore::new(&rt.db);
    let saga = Inbound::new(
        Arc::new(OrderSaga {
            store: store.clone(),
            outbox: outbox.clone(),
            downstream: downstream.clone(),
            metrics: rt.metrics.clone(),
        }),
        rt.metrics.clone(),
        rt.faults.clone(),
    );
    let broker = Broker::from_config(config);
    let relay = Relay::new(outbox.clone(), RelaySettings::from_config(config))
        .remote(payment, broker.as_ref(), || {
            HttpTransport::new(
                http.clone(),
                &config.url_of(ServiceName::Payment),
                config.downstream_timeout(),
            )
            .signed_by(rt.identity.signer.clone())
        })
        .transport(me, LocalTransport::new(saga.clone()));
    relay
        .check()
        .map_err(|e| ServiceError::Setup(e.to_string()))?;
    rt.spawn_worker("event-relay", |stop| relay.run(stop.stopped()));
    if let Some(broker) = &broker {
        let decisions =
            [topic::PAYMENT_AUTHORIZED, topic::PAYMENT_DECLINED].map(|topic| Subscription {
                producer: payment,
                topic,
            });
        let consuming = BrokerConsumer::new(broker, me, &decisions, saga.clone());
        rt.spawn_worker("event-consumer", |stop| consuming.run(stop.stopped()));
    }
    let flow = OrderFlow {
        store,
        outbox,
        downstream,
        metrics: rt.metrics.clone(),
    };
    let routes = router(flow).merge(tracemart_events::router(saga, &[ServiceName::Payment]));
    rt.serve(routes, OrderApi::openapi(), listener, shutdown)
        .await
}
