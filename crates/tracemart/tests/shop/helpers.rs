//! An in-process shop: the five services on loopback port 0, each with its own SQLite file in
//! a temporary directory (or a fresh PostgreSQL database of its own), stoppable and
//! restartable one by one.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracemart_platform::identity::{Principal, issue};
use tracemart_platform::{ServiceError, ServiceName, ShopConfig};
use tracemart_testkit::pg::TestDatabase;

pub const READY: Duration = Duration::from_secs(20);
/// Bound on an order's saga in tests (it takes milliseconds on an idle shop).
pub const SAGA: Duration = Duration::from_secs(20);

pub(crate) use tracemart_testkit::on_each_engine;
pub use tracemart_testkit::pg::Engine;

/// The services that run on PostgreSQL as well as SQLite.
pub const ON_BOTH_ENGINES: [ServiceName; 5] = [
    ServiceName::Order,
    ServiceName::User,
    ServiceName::Product,
    ServiceName::Inventory,
    ServiceName::Payment,
];

/// A running service: its stop signal and its task.
type Running = (oneshot::Sender<()>, JoinHandle<Result<(), ServiceError>>);

pub struct Shop {
    pub config: ShopConfig,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    running: HashMap<ServiceName, Running>,
    /// Dropped with the shop (after the services' tasks are detached, so `WITH (FORCE)`).
    databases: HashMap<ServiceName, TestDatabase>,
}

/// A listener on a fixed port, or on a new one when `port` is 0.
async fn bind(port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("bind {port}: {e}"))
}

impl Shop {
    /// Starts all five services on SQLite with `tweak` applied to the configuration.
    pub async fn start(tweak: impl FnOnce(&mut ShopConfig)) -> Shop {
        Self::start_on(Engine::Sqlite, tweak).await
    }

    /// Starts all five services, those of [`ON_BOTH_ENGINES`] on `engine` (each on a new
    /// database of its own), with `tweak` applied to the configuration.
    pub async fn start_on(engine: Engine, tweak: impl FnOnce(&mut ShopConfig)) -> Shop {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ShopConfig {
            data_dir: dir.path().to_path_buf(),
            demo_stock: 1_000,
            downstream_timeout_ms: 2_000,
            // Retries and polls in tens of milliseconds, so that faults heal quickly.
            event_retry_base_ms: 20,
            event_retry_max_ms: 200,
            event_poll_ms: 50,
            ..ShopConfig::default()
        };
        let mut listeners = HashMap::new();
        for s in ServiceName::ALL {
            let l = bind(0).await;
            let port = l.local_addr().expect("addr").port();
            config.endpoint_mut(s).port = port;
            listeners.insert(s, l);
        }
        let mut databases = HashMap::new();
        if engine == Engine::Postgres {
            for s in ON_BOTH_ENGINES {
                let db = TestDatabase::create(s.as_str()).await;
                config.endpoint_mut(s).database_url = db.url().to_owned();
                databases.insert(s, db);
            }
        }
        tweak(&mut config);
        let mut shop = Shop {
            config,
            http: reqwest::Client::new(),
            _dir: dir,
            running: HashMap::new(),
            databases,
        };
        for (s, l) in listeners {
            shop.spawn(s, l);
        }
        for s in ServiceName::ALL {
            shop.wait_ready(s).await;
        }
        shop
    }

    fn spawn(&mut self, s: ServiceName, listener: TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let config = self.config.clone();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(async move {
            match s {
                ServiceName::Order => tracemart_order::run(&config, listener, shutdown).await,
                ServiceName::User => tracemart_user::run(&config, listener, shutdown).await,
                ServiceName::Product => tracemart_product::run(&config, listener, shutdown).await,
                ServiceName::Inventory => {
                    tracemart_inventory::run(&config, listener, shutdown).await
                }
                ServiceName::Payment => tracemart_payment::run(&config, listener, shutdown).await,
            }
        });
        self.running.insert(s, (tx, task));
    }

    pub async fn wait_ready(&self, s: ServiceName) {
        // Its own port, not `url_of`: a test may point other services elsewhere.
        let url = format!(
            "http://127.0.0.1:{}/health/ready",
            self.config.endpoint(s).port
        );
        tracemart_testkit::wait_ready(&self.http, &url, READY).await;
    }

    pub fn url(&self, s: ServiceName) -> String {
        self.config.url_of(s)
    }

    /// Stops `s` gracefully and waits until it has stopped.
    pub async fn stop(&mut self, s: ServiceName) {
        if let Some((tx, task)) = self.running.remove(&s) {
            let _ = tx.send(());
            let result = task.await.expect("service task panicked");
            assert!(result.is_ok(), "{s} stopped with an error: {result:?}");
        }
    }

    /// Starts `s` again on its port, with its data directory as it was.
    pub async fn restart(&mut self, s: ServiceName) {
        self.stop(s).await;
        let l = bind(self.config.endpoint(s).port).await;
        self.spawn(s, l);
        self.wait_ready(s).await;
    }

    /// A token of `principal` (a service, or the operator), signed with its key.
    pub fn token(&self, principal: Principal) -> String {
        issue(
            &self.config.keys_dir(),
            principal,
            principal.name(),
            Duration::from_secs(300),
        )
        .expect("the principal's key")
    }

    /// A token of user `user_id`, as the user service issues them.
    pub fn user_token(&self, user_id: i64) -> String {
        let users = Principal::Service(ServiceName::User);
        issue(
            &self.config.keys_dir(),
            users,
            &format!("user:{user_id}"),
            Duration::from_secs(300),
        )
        .expect("the user service's key")
    }

    /// `POST url` with `body` and `token` (none: anonymous); the status and the JSON answer.
    pub async fn post_with(&self, url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(url).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `POST url` as the order service would send it (with its token): for the internal
    /// endpoints only the order service may call.
    pub async fn post_as_order(&self, url: &str, body: &Value) -> (u16, Value) {
        let token = self.token(Principal::Service(ServiceName::Order));
        self.post_with(url, Some(&token), body).await
    }

    pub async fn post_order(&self, body: &Value) -> (u16, Value) {
        tracemart_testkit::post_json(
            &self.http,
            &format!("{}/orders", self.url(ServiceName::Order)),
            body,
        )
        .await
    }

    /// `GET path` of `s` as the operator, who may read everything (users' own reads and
    /// anonymous ones are tested on their own).
    pub async fn get(&self, s: ServiceName, path: &str) -> (u16, Value) {
        let admin = self.token(Principal::Admin);
        self.get_with(s, path, Some(&admin)).await
    }

    /// `GET path` of `s` with `token` (none: anonymous).
    pub async fn get_with(&self, s: ServiceName, path: &str, token: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.url(s));
        let mut req = self.http.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A service's `/metrics` text.
    pub async fn metrics_text(&self, s: ServiceName) -> String {
        let url = format!("{}/metrics", self.url(s));
        let resp = self.http.get(url).send().await.expect("GET /metrics");
        resp.text().await.expect("metrics text")
    }

    /// The first `/metrics` line of `s` that starts with `prefix`.
    pub async fn metric_line(&self, s: ServiceName, prefix: &str) -> Option<String> {
        self.metrics_text(s)
            .await
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    }

    /// Browsing products and reading `user_id`'s orders work (they need no inventory).
    pub async fn assert_browsing_and_reading_work(&self, user_id: i64) {
        let (status, body) = self.get(ServiceName::Product, "/products?limit=5").await;
        assert_eq!(status, 200, "{body}");
        let list = format!("/orders?user_id={user_id}");
        let (status, body) = self.get(ServiceName::Order, &list).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Units of `product_id` available and reserved, from the inventory service.
    pub async fn stock(&self, product_id: i64) -> (i64, i64) {
        let (status, body) = self
            .get(ServiceName::Inventory, &format!("/inventory/{product_id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["available"].as_i64().expect("available"),
            body["reserved"].as_i64().expect("reserved"),
        )
    }

    /// Waits until the saga of order `id` has settled (`confirmed` or `cancelled`) and returns
    /// the order as `GET /orders/{id}` shows it.
    pub async fn settled(&self, id: &str) -> Value {
        let path = format!("/orders/{id}");
        tracemart_testkit::eventually(SAGA, &format!("order {id} to settle"), || async {
            let (status, order) = self.get(ServiceName::Order, &path).await;
            (status == 200 && order["status"] != "created").then_some(order)
        })
        .await
    }

    /// The types of order `id`'s events, oldest first.
    pub async fn event_types(&self, id: &str) -> Vec<String> {
        let (status, body) = self
            .get(ServiceName::Order, &format!("/orders/{id}/events"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["type"].as_str().expect("type").to_owned())
            .collect()
    }

    /// Units of `product_id` sold (held by committed reservations), from inventory's database.
    pub async fn committed(&self, product_id: i64) -> i64 {
        self.count_in(
            ServiceName::Inventory,
            &format!(
                "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM reservation_items i \
                 JOIN reservations r ON r.id = i.reservation_id \
                 WHERE r.status = 'committed' AND i.product_id = {product_id}"
            ),
        )
        .await
    }

    /// The number `sql` answers on service `s`'s database, on whichever engine it runs.
    async fn count_in(&self, s: ServiceName, sql: &str) -> i64 {
        let (n,) = self.row_in(s, sql).await;
        n
    }

    /// The one row `sql` answers on service `s`'s database, on whichever engine it runs, as a
    /// tuple: SQL both engines read alike, with values written inline.
    pub async fn row_in<T>(&self, s: ServiceName, sql: &str) -> T
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        self.rows_in(s, sql)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// Every row `sql` answers on service `s`'s database, on whichever engine it runs.
    pub async fn rows_in<T>(&self, s: ServiceName, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let query = sqlx::AssertSqlSafe(sql.to_owned());
        if let Some(db) = self.databases.get(&s) {
            let pool = sqlx::PgPool::connect(db.url())
                .await
                .unwrap_or_else(|e| panic!("connect to {s}'s database: {e}"));
            let rows = sqlx::query_as(query)
                .fetch_all(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            pool.close().await;
            return rows;
        }
        let pool = self.read_only(s).await;
        let rows = sqlx::query_as(query)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        pool.close().await;
        rows
    }

    /// Runs `sql` (a change made behind the service's back) on service `s`'s database, on
    /// whichever engine it runs.
    pub async fn execute_in(&self, s: ServiceName, sql: &str) {
        let query = sqlx::AssertSqlSafe(sql.to_owned());
        let done = if let Some(db) = self.databases.get(&s) {
            let pool = sqlx::PgPool::connect(db.url())
                .await
                .unwrap_or_else(|e| panic!("connect to {s}'s database: {e}"));
            let done = sqlx::query(query).execute(&pool).await.map(drop);
            pool.close().await;
            done
        } else {
            let path = self.config.database_path(s);
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap_or_else(|e| panic!("open {s} db: {e}"));
            let done = sqlx::query(query).execute(&pool).await.map(drop);
            pool.close().await;
            done
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// A read-only pool on a service's database.
    pub async fn read_only(&self, s: ServiceName) -> sqlx::SqlitePool {
        let path = self.config.database_path(s);
        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
            .await
            .unwrap_or_else(|e| panic!("open {s} db: {e}"))
    }

    /// Price of a product in cents, from the product service.
    pub async fn price_minor(&self, product_id: i64) -> i64 {
        let (status, body) = self
            .get(ServiceName::Product, &format!("/products/{product_id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        (body["price"].as_f64().expect("price") * 100.0).round() as i64
    }

    /// Reservations in a given state, read straight from the inventory's database.
    pub async fn reservations_in(&self, status: &str) -> i64 {
        self.count_in(
            ServiceName::Inventory,
            &format!(
                "SELECT COUNT(*) FROM reservations WHERE status = '{status}' \
                 AND id IN (SELECT reservation_id FROM reservation_items)"
            ),
        )
        .await
    }

    /// Orders stored, read straight from the order service's database.
    pub async fn order_count(&self) -> i64 {
        self.count_in(ServiceName::Order, "SELECT COUNT(*) FROM orders")
            .await
    }
}

/// A well-formed order body.
pub fn order_body(user_id: i64, items: &[(i64, i64)]) -> Value {
    json!({
        "user_id": user_id,
        "items": items.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "shipping_address": {"street": "1 Sejong-daero", "city": "Seoul", "postal_code": "04524", "country": "KR"},
    })
}
