//! The order service: `POST /orders` (the seed's `create_order`, made real), `GET /orders/{id}`,
//! `GET /orders?user_id=`, `GET /orders/{id}/events`.

mod api;
mod domain;
mod downstream;
mod error;
mod flow;
mod schema;
mod store;

use tokio::net::TcpListener;
use tracemart_platform::{ServiceClient, ServiceError, ServiceName, ServiceRuntime, ShopConfig};
use utoipa::OpenApi;

pub use api::{OrderApi, router};
pub use domain::{CURRENCY, IdempotencyKey, MAX_ITEMS, MAX_QUANTITY, NewOrder, parse_order_id};
pub use downstream::{Downstream, RESERVATION_MINUTES};
pub use error::OrderError;
pub use flow::{ORDER_CREATED_TOPIC, OrderFlow};
pub use store::{OrderRecord, OrderStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Runs the order service on `listener` until `shutdown`.
pub async fn run(
    config: &ShopConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let rt = ServiceRuntime::open(ServiceName::Order, config, &MIGRATOR).await?;
    let http = ServiceClient::http_pool();
    let client = |s: ServiceName| {
        ServiceClient::new(
            http.clone(),
            s.service_name(),
            config.url_of(s),
            config.call_policy(),
            rt.metrics.clone(),
        )
    };
    let flow = OrderFlow {
        store: OrderStore::new(rt.db.clone()),
        downstream: Downstream {
            users: client(ServiceName::User),
            products: client(ServiceName::Product),
            inventory: client(ServiceName::Inventory),
        },
        metrics: rt.metrics.clone(),
    };
    rt.serve(router(flow), OrderApi::openapi(), listener, shutdown)
        .await
}
