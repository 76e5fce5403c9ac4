//! The catalogue in SQLite; prices in minor units.

use rusqlite::{OptionalExtension, Row, params};
use tracemart_contracts::{Product, ProductId, minor_to_decimal};
use tracemart_platform::{Database, DbError};

use crate::domain::PageRequest;

const CATEGORIES: [&str; 5] = ["books", "electronics", "home", "garden", "toys"];

/// Deterministic demo price of product `id`, from 4.99 to 99.xx.
pub fn demo_price_minor(id: i64) -> i64 {
    499 + (id * 7919) % 9500
}

#[derive(Clone)]
pub struct ProductStore {
    db: Database,
}

const BY_ID: &str = "SELECT id, name, category, price_minor, currency FROM products WHERE id = ?1";

fn to_product(row: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: row.get(0)?,
        name: row.get(1)?,
        category: row.get(2)?,
        price: minor_to_decimal(row.get(3)?),
        currency: row.get(4)?,
    })
}

impl ProductStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts products 1..=n unless the catalogue is not empty.
    pub fn seed_demo(&self, n: i64) -> Result<(), DbError> {
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
                let category = CATEGORIES[(id as usize) % CATEGORIES.len()];
                insert.execute(params![
                    id,
                    format!("Demo {category} item {id}"),
                    category,
                    demo_price_minor(id),
                ])?;
            }
            Ok(())
        })
    }

    pub fn get(&self, id: ProductId) -> Result<Option<Product>, DbError> {
        self.db.read("SELECT", "products", |conn| {
            conn.prepare_cached(BY_ID)?
                .query_row([id.0], to_product)
                .optional()
        })
    }

    /// Products of `ids` (sorted, each once) that exist, in id order.
    pub fn batch(&self, ids: &[ProductId]) -> Result<Vec<Product>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
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

    /// A page of the catalogue and the total count.
    pub(crate) fn list(&self, page: &PageRequest) -> Result<(Vec<Product>, i64), DbError> {
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
