//! The catalogue, on SQLite or PostgreSQL: one interface, an implementation per engine.
//! Prices in minor units.

mod postgres;
mod sqlite;

use tracemart_contracts::{Product, ProductId, minor_to_decimal};
use tracemart_platform::{AnyDatabase, DbError};

use crate::domain::PageRequest;

const CATEGORIES: [&str; 5] = ["books", "electronics", "home", "garden", "toys"];

/// Deterministic demo price of product `id`, from 4.99 to 99.xx.
pub fn demo_price_minor(id: i64) -> i64 {
    499 + (id * 7919) % 9500
}

/// Demo product `id`: name, category and price in minor units (in US dollars).
fn demo_product(id: i64) -> (String, &'static str, i64) {
    let category = CATEGORIES[(id as usize) % CATEGORIES.len()];
    (
        format!("Demo {category} item {id}"),
        category,
        demo_price_minor(id),
    )
}

/// A product from its stored columns.
fn product(id: i64, name: String, category: String, price_minor: i64, currency: String) -> Product {
    Product {
        id,
        name,
        category,
        price: minor_to_decimal(price_minor),
        currency,
    }
}

/// The catalogue, on the engine the service's database runs on.
#[derive(Clone)]
pub enum ProductStore {
    Sqlite(sqlite::SqliteProducts),
    Postgres(postgres::PgProducts),
}

impl ProductStore {
    pub fn new(db: &AnyDatabase) -> Self {
        match db {
            AnyDatabase::Sqlite(db) => Self::Sqlite(sqlite::SqliteProducts::new(db.clone())),
            AnyDatabase::Postgres(db) => Self::Postgres(postgres::PgProducts::new(db.clone())),
        }
    }

    /// Inserts products 1..=n unless the catalogue is not empty.
    pub async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        match self {
            Self::Sqlite(s) => s.seed_demo(n),
            Self::Postgres(p) => p.seed_demo(n).await,
        }
    }

    pub async fn get(&self, id: ProductId) -> Result<Option<Product>, DbError> {
        match self {
            Self::Sqlite(s) => s.get(id),
            Self::Postgres(p) => p.get(id).await,
        }
    }

    /// Products of `ids` (sorted, each once) that exist, in id order.
    pub async fn batch(&self, ids: &[ProductId]) -> Result<Vec<Product>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Sqlite(s) => s.batch(ids),
            Self::Postgres(p) => p.batch(ids).await,
        }
    }

    /// A page of the catalogue and the total count.
    pub(crate) async fn list(&self, page: &PageRequest) -> Result<(Vec<Product>, i64), DbError> {
        match self {
            Self::Sqlite(s) => s.list(page),
            Self::Postgres(p) => p.list(page).await,
        }
    }
}
