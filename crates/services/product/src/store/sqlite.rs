//! The catalogue in SQLite.

use rusqlite::{OptionalExtension, Row, params};
use tracemart_contracts::{Product, ProductId};
use tracemart_platform::{Database, DbError};

use super::{demo_product, product};
use crate::domain::PageRequest;

const BY_ID: &str = "SELECT id, name, category, price_minor, currency FROM products WHERE id = ?1";

fn to_product(row: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(product(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

#[derive(Clone)]
pub struct SqliteProducts {
    db: Database,
}

impl SqliteProducts {
    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        self.db.write("INSERT", "products", |tx| {
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM products", [], |row| row.get(0))?;
            if count > 0 {
                return Ok(());
            }
            let mut insert = tx.prepare(
                "INSERT INTO products (id, name, category, price_minor, currency) \
                 VALUES (?1, ?2, ?3, ?4, 'USD')",
            )?;
            for id in 1..=n {
                let (name, category, price_minor) = demo_product(id);
                insert.execute(params![id, name, category, price_minor])?;
            }
            Ok(())
        })
    }

    pub(super) fn get(&self, id: ProductId) -> Result<Option<Product>, DbError> {
        self.db.read("SELECT", "products", |conn| {
            conn.prepare_cached(BY_ID)?
                .query_row([id.0], to_product)
                .optional()
        })
    }

    pub(super) fn batch(&self, ids: &[ProductId]) -> Result<Vec<Product>, DbError> {
        // One prepared point lookup per id: a few microseconds each, and one statement text
        // whatever the batch size (an `IN (?, ?, ...)` list would be prepared anew per size).
        self.db.read("SELECT", "products", |conn| {
            let mut by_id = conn.prepare_cached(BY_ID)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(product) = by_id.query_row([id.0], to_product).optional()? {
                    found.push(product);
                }
            }
            Ok(found)
        })
    }

    pub(super) fn list(&self, page: &PageRequest) -> Result<(Vec<Product>, i64), DbError> {
        let (category, limit, offset) = (page.category.as_deref(), page.limit, page.offset);
        self.db.read("SELECT", "products", |conn| {
            let page = conn
                .prepare_cached(
                    "SELECT id, name, category, price_minor, currency FROM products \
                     WHERE (?1 IS NULL OR category = ?1) ORDER BY id LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![category, limit, offset], to_product)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM products WHERE (?1 IS NULL OR category = ?1)",
                )?
                .query_row([category], |row| row.get(0))?;
            Ok((page, total))
        })
    }
}
