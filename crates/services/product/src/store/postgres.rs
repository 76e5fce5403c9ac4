//! The catalogue in PostgreSQL.

use tracemart_contracts::{Product, ProductId};
use tracemart_platform::{DbError, PgDatabase};

use super::{demo_product, product};
use crate::domain::PageRequest;

/// A product's columns, in [`product`]'s order.
type ProductRow = (i64, String, String, i64, String);

fn to_product((id, name, category, price_minor, currency): ProductRow) -> Product {
    product(id, name, category, price_minor, currency)
}

#[derive(Clone)]
pub struct PgProducts {
    db: PgDatabase,
}

impl PgProducts {
    pub(super) fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    /// One statement for the whole catalogue, and only into an empty table: instances
    /// starting together insert once (the loser's rows conflict and are skipped).
    pub(super) async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        let (mut ids, mut names, mut categories, mut prices) = (vec![], vec![], vec![], vec![]);
        for id in 1..=n {
            let (name, category, price_minor) = demo_product(id);
            ids.push(id);
            names.push(name);
            categories.push(category);
            prices.push(price_minor);
        }
        self.db
            .timed(
                "INSERT",
                "products",
                sqlx::query(
                    "INSERT INTO products (id, name, category, price_minor, currency) \
                     SELECT *, 'USD' FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
                     WHERE NOT EXISTS (SELECT 1 FROM products) ON CONFLICT DO NOTHING",
                )
                .bind(&ids)
                .bind(&names)
                .bind(&categories)
                .bind(&prices)
                .execute(self.db.pool()),
            )
            .await
            .map(drop)
    }

    pub(super) async fn get(&self, id: ProductId) -> Result<Option<Product>, DbError> {
        let row: Option<ProductRow> = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_as(
                    "SELECT id, name, category, price_minor, currency FROM products WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(row.map(to_product))
    }

    /// One statement for the whole batch: each round trip to the server costs far more than
    /// an index lookup.
    pub(super) async fn batch(&self, ids: &[ProductId]) -> Result<Vec<Product>, DbError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<ProductRow> = self
            .db
            .timed(
                "SELECT",
                "products",
                sqlx::query_as(
                    "SELECT id, name, category, price_minor, currency FROM products \
                     WHERE id = ANY($1) ORDER BY id",
                )
                .bind(&ids)
                .fetch_all(self.db.pool()),
            )
            .await?;
        Ok(rows.into_iter().map(to_product).collect())
    }

    pub(super) async fn list(&self, page: &PageRequest) -> Result<(Vec<Product>, i64), DbError> {
        let (category, limit, offset) = (page.category.as_deref(), page.limit, page.offset);
        let pool = self.db.pool();
        self.db
            .timed("SELECT", "products", async {
                let rows: Vec<ProductRow> = sqlx::query_as(
                    "SELECT id, name, category, price_minor, currency FROM products \
                     WHERE ($1::TEXT IS NULL OR category = $1) ORDER BY id LIMIT $2 OFFSET $3",
                )
                .bind(category)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM products WHERE ($1::TEXT IS NULL OR category = $1)",
                )
                .bind(category)
                .fetch_one(pool)
                .await?;
                Ok((rows.into_iter().map(to_product).collect(), total))
            })
            .await
    }
}
