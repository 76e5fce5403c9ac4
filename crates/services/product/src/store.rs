//! The catalogue in SQLite; prices in minor units.

use sqlx::QueryBuilder;
use tracemart_contracts::{Product, minor_to_decimal};
use tracemart_platform::{Database, DbError};

const CATEGORIES: [&str; 5] = ["books", "electronics", "home", "garden", "toys"];

/// Deterministic demo price of product `id`, from 4.99 to 99.xx.
pub fn demo_price_minor(id: i64) -> i64 {
    499 + (id * 7919) % 9500
}

#[derive(Clone)]
pub struct ProductStore {
    db: Database,
}

type Row = (i64, String, String, i64, String);

fn to_product((id, name, category, price_minor, currency): Row) -> Product {
    Product {
        id,
        name,
        category,
        price: minor_to_decimal(price_minor),
        currency,
    }
}

impl ProductStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts products 1..=n unless the catalogue is not empty.
    pub async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        let count: i64 = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(&self.db.writer),
            )
            .await?;
        if count > 0 {
            return Ok(());
        }
        let mut qb =
            QueryBuilder::new("INSERT INTO products (id, name, category, price_minor, currency) ");
        qb.push_values(1..=n, |mut b, id| {
            let category = CATEGORIES[(id as usize) % CATEGORIES.len()];
            b.push_bind(id)
                .push_bind(format!("Demo {category} item {id}"))
                .push_bind(category)
                .push_bind(demo_price_minor(id))
                .push_bind("USD");
        });
        self.db
            .timed("INSERT", "products", qb.build().execute(&self.db.writer))
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: i64) -> Result<Option<Product>, DbError> {
        let row: Option<Row> = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_as(
                    "SELECT id, name, category, price_minor, currency FROM products WHERE id = ?",
                )
                .bind(id)
                .fetch_optional(&self.db.reader),
            )
            .await?;
        Ok(row.map(to_product))
    }

    /// Products of `ids` that exist, in id order.
    pub async fn batch(&self, ids: &[i64]) -> Result<Vec<Product>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::new(
            "SELECT id, name, category, price_minor, currency FROM products WHERE id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        qb.push(") ORDER BY id");
        let rows: Vec<Row> = self
            .db
            .timed(
                "SELECT",
                "products",
                qb.build_query_as().fetch_all(&self.db.reader),
            )
            .await?;
        Ok(rows.into_iter().map(to_product).collect())
    }

    /// A page of the catalogue and the total count.
    pub async fn list(
        &self,
        category: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Product>, i64), DbError> {
        let rows: Vec<Row> = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_as(
                    "SELECT id, name, category, price_minor, currency FROM products \
                     WHERE (?1 IS NULL OR category = ?1) ORDER BY id LIMIT ?2 OFFSET ?3",
                )
                .bind(category)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.db.reader),
            )
            .await?;
        let total: i64 = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM products WHERE (?1 IS NULL OR category = ?1)",
                )
                .bind(category)
                .fetch_one(&self.db.reader),
            )
            .await?;
        Ok((rows.into_iter().map(to_product).collect(), total))
    }
}
