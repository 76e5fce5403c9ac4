//! The order service: `POST /orders` (the seed's `create_order`, made real), `GET /orders/{id}`,
//! `GET /orders?user_id=`, `GET /orders/{id}/events`, and the order's side of the payment saga
//! (`POST /events` receives payment's decisions).

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

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracemart_contracts::events::topic;
use tracemart_events::{
    Broker, BrokerConsumer, DeadLetters, HttpTransport, LocalTransport, Outbox, Relay,
    RelaySettings, Routes, Subscription,
};
use tracemart_platform::{
    AnyDatabase, Database, DbError, ServiceClient, ServiceError, ServiceName, ServiceRuntime,
    ShopConfig,
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens (and migrates) the order service's database: its messaging tables first, since the
/// order migrations move the first outbox's rows into them.
pub async fn open_database(config: &ShopConfig, metrics: Metrics) -> Result<Database, DbError> {
    let path = config
        .sqlite_path(ServiceName::Order)
        .map_err(|e| DbError::setting("order", e))?;
    Database::open(
        &path,
        &[&tracemart_events::SQLITE_MIGRATOR, &MIGRATOR],
        metrics,
    )
    .await
}

/// Folds every order's event stream again and corrects the `orders` rows that differ.
pub async fn rebuild_orders(config: &ShopConfig) -> Result<Rebuilt, DbError> {
    let db = open_database(config, Metrics::new(ServiceName::Order.service_name())).await?;
    let rebuilt = OrderStore::new(db.clone()).rebuild();
    db.close();
    rebuilt
}

/// The order service's dead letters.
pub async fn dead_letters(config: &ShopConfig) -> Result<DeadLetters, DbError> {
    let db = open_database(config, Metrics::new(ServiceName::Order.service_name())).await?;
    Ok(DeadLetters::new(AnyDatabase::Sqlite(db)))
}

/// Runs the order service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let mut rt = ServiceRuntime::open(
        ServiceName::Order,
        config,
        &[&tracemart_events::SQLITE_MIGRATOR, &MIGRATOR],
    )
    .await?;
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
    let outbox = Outbox::new(
        AnyDatabase::Sqlite(rt.db.clone()),
        routes,
        rt.metrics.clone(),
    );
    let store = OrderStore::new(rt.db.clone());
    let saga = Arc::new(OrderSaga {
        store: store.clone(),
        outbox: outbox.clone(),
        downstream: downstream.clone(),
        metrics: rt.metrics.clone(),
    });
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
        .transport(me, LocalTransport::new(saga.clone(), rt.metrics.clone()));
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
        let consuming =
            BrokerConsumer::new(broker, me, &decisions, saga.clone(), rt.metrics.clone());
        rt.spawn_worker("event-consumer", |stop| consuming.run(stop.stopped()));
    }
    let flow = OrderFlow {
        store,
        outbox,
        downstream,
        metrics: rt.metrics.clone(),
    };
    let routes = router(flow).merge(tracemart_events::router(
        saga,
        rt.metrics.clone(),
        &[ServiceName::Payment],
    ));
    rt.serve(routes, OrderApi::openapi(), listener, shutdown)
        .await
}
