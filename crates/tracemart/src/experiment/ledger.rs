//! After the load, with every fault cleared: waits for the sagas to settle (within a
//! deadline), then checks the books through the shop's own APIs. Every stored order must have
//! left `created`, and for every product the stock must add up: units available plus units
//! held plus units sold to confirmed orders equal the initial stock, with nothing held.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;
use tracemart_loadgen::{PRODUCTS, USERS};
use tracemart_platform::{ServiceName, ShopConfig};

/// Users whose orders are read at once.
const READERS: usize = 16;

/// How the books stood at the end of a run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Books {
    /// Whether every saga settled and nothing was held before the deadline.
    pub(super) drained: bool,
    /// Seconds from the end of the load until then (or until the deadline).
    pub(super) drain_s: f64,
    /// Orders the shop stored (whatever their requests were answered).
    pub(super) orders: u64,
    pub(super) confirmed: u64,
    pub(super) cancelled: u64,
    /// Still `created` at the check: a saga that did not finish.
    pub(super) pending: u64,
    /// `(confirmed + cancelled) / orders`, in percent.
    pub(super) settled_pct: f64,
    pub(super) products: u64,
    /// Products whose stock adds up, with nothing held.
    pub(super) products_consistent: u64,
    /// Units still held by reservations, over every product.
    pub(super) units_held: i64,
    /// Units missing or counted twice (available + held + sold − initial), over every product.
    pub(super) units_off: i64,
}

struct Reader {
    http: reqwest::Client,
    config: ShopConfig,
    token: String,
}

impl Reader {
    async fn get(&self, service: ServiceName, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.config.url_of(service));
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
        Ok(response.json().await?)
    }

    /// `orders_created_total{status="created"}` and the sum of `orders_completed_total`.
    async fn created_and_completed(&self) -> anyhow::Result<(f64, f64)> {
        let url = format!("{}/metrics", self.config.url_of(ServiceName::Order));
        let text = self.http.get(&url).send().await?.text().await?;
        let sum = |prefix: &str, filter: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(prefix) && l.contains(filter))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Ok((
            sum("orders_created_total{", "status=\"created\""),
            sum("orders_completed_total{", ""),
        ))
    }

    /// (available, reserved) of every demo product.
    async fn stock(&self) -> anyhow::Result<Vec<(i64, i64)>> {
        let mut stock = Vec::new();
        for id in 1..=PRODUCTS {
            let body = self
                .get(ServiceName::Inventory, &format!("/inventory/{id}"))
                .await?;
            let n = |k: &str| body[k].as_i64().unwrap_or(0);
            stock.push((n("available"), n("reserved")));
        }
        Ok(stock)
    }
}

/// Waits for the drain (at most `deadline`), then reads every user's orders and every
/// product's stock.
pub(super) async fn check(
    config: &ShopConfig,
    token: &str,
    deadline: Duration,
) -> anyhow::Result<Books> {
    let reader = std::sync::Arc::new(Reader {
        // Idle connections go before the services' 10 s idle timeout closes them.
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()?,
        config: config.clone(),
        token: token.to_owned(),
    });
    let started = Instant::now();
    let drained = loop {
        let (created, completed) = reader.created_and_completed().await?;
        // Stock is read only once the sagas are done: a hundred requests per look.
        if completed >= created && reader.stock().await?.iter().all(|(_, held)| *held == 0) {
            break true;
        }
        if started.elapsed() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let drain_s = super::measure::round2(started.elapsed().as_secs_f64());

    let mut readers = JoinSet::new();
    let mut statuses: HashMap<String, u64> = HashMap::new();
    let mut sold: HashMap<i64, i64> = HashMap::new();
    let mut users = 1..=USERS;
    loop {
        while readers.len() < READERS {
            let Some(user) = users.next() else { break };
            let reader = reader.clone();
            readers.spawn(async move {
                reader
                    .get(
                        ServiceName::Order,
                        &format!("/orders?user_id={user}&limit=100"),
                    )
                    .await
            });
        }
        let Some(joined) = readers.join_next().await else {
            break;
        };
        let body = joined??;
        for order in body["orders"].as_array().into_iter().flatten() {
            let status = order["status"].as_str().unwrap_or("?").to_owned();
            if status == "confirmed" {
                for item in order["items"].as_array().into_iter().flatten() {
                    let product = item["product_id"].as_i64().unwrap_or(0);
                    *sold.entry(product).or_default() += item["quantity"].as_i64().unwrap_or(0);
                }
            }
            *statuses.entry(status).or_default() += 1;
        }
    }
    let stock = reader.stock().await?;
    let mut books = Books {
        drained,
        drain_s,
        orders: statuses.values().sum(),
        confirmed: statuses.get("confirmed").copied().unwrap_or(0),
        cancelled: statuses.get("cancelled").copied().unwrap_or(0),
        pending: statuses.get("created").copied().unwrap_or(0),
        settled_pct: 0.0,
        products: stock.len() as u64,
        products_consistent: 0,
        units_held: 0,
        units_off: 0,
    };
    if books.orders > 0 {
        books.settled_pct = super::measure::round2(
            100.0 * (books.confirmed + books.cancelled) as f64 / books.orders as f64,
        );
    }
    for (index, (available, reserved)) in stock.into_iter().enumerate() {
        let product = index as i64 + 1;
        let off =
            available + reserved + sold.get(&product).copied().unwrap_or(0) - config.demo_stock;
        books.units_held += reserved;
        books.units_off += off.abs();
        if off == 0 && reserved == 0 {
            books.products_consistent += 1;
        }
    }
    Ok(books)
}
