//! Stock and reservations, on SQLite or PostgreSQL: one interface, an implementation per
//! engine. What a request means (a replay, a release before its reservation, a commit of a
//! released one) is decided here, once; how stock is taken and locked is each engine's own.

mod postgres;
mod sqlite;

use chrono::{DateTime, SubsecRound, Utc};
use tracemart_contracts::{LineItem, ProductId, Quantity, Reservation, StockLevel};
use tracemart_platform::{AnyDatabase, DbError};

use crate::error::InventoryError;

/// Most expired reservations one sweep releases, and how many per transaction.
const SWEEP_MAX: usize = 1000;
const SWEEP_BATCH: usize = 100;

/// The states a reservation moves to from `held`.
pub(crate) const COMMITTED: &str = "committed";
pub(crate) const RELEASED: &str = "released";

/// Timestamps are shown (and stored in SQLite) in one fixed-width UTC format, so text order is
/// time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A stored reservation line; `None` for a quantity no reservation can hold.
fn line_item(product_id: i64, quantity: i64) -> Option<LineItem> {
    Some(LineItem {
        product_id: ProductId(product_id),
        quantity: Quantity::new(quantity)?,
    })
}

/// What an engine's `reserve` found.
enum Reserved {
    /// Stock taken under this id now.
    New,
    /// Not enough of this product: nothing was held and the id stays free.
    Short(ProductId),
    /// The id was known: status, expiry and items as stored.
    Known {
        status: String,
        expires_at: String,
        items: Vec<LineItem>,
    },
}

/// What moving reservation `id` from `current` to `to` takes.
enum Step {
    /// It is there already.
    Done,
    /// Unknown and being released: recorded as released, so that it is refused if it arrives.
    RecordReleased,
    /// Held: its stock is sold or given back.
    Settle,
    Refuse(InventoryError),
}

fn step(id: &str, current: Option<&str>, to: &str) -> Step {
    match (current, to) {
        (Some(s), _) if s == to => Step::Done,
        (None, COMMITTED) => Step::Refuse(InventoryError::ReservationNotFound(id.to_owned())),
        (None, _) => Step::RecordReleased,
        (Some("held"), _) => Step::Settle,
        (Some(s), _) => Step::Refuse(InventoryError::Conflict {
            id: id.to_owned(),
            status: s.to_owned(),
        }),
    }
}

/// Stock and reservations, on the engine the service's database runs on.
#[derive(Clone)]
pub enum InventoryStore {
    Sqlite(sqlite::SqliteInventory),
    Postgres(postgres::PgInventory),
}

impl InventoryStore {
    pub fn new(db: &AnyDatabase) -> Self {
        match db {
            AnyDatabase::Sqlite(db) => Self::Sqlite(sqlite::SqliteInventory::new(db.clone())),
            AnyDatabase::Postgres(db) => Self::Postgres(postgres::PgInventory::new(db.clone())),
        }
    }

    /// Stocks products 1..=n with `stock` units each, unless stock rows exist.
    pub async fn seed_demo(&self, n: i64, stock: i64) -> Result<(), DbError> {
        match self {
            Self::Sqlite(s) => s.seed_demo(n, stock),
            Self::Postgres(p) => p.seed_demo(n, stock).await,
        }
    }

    pub async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, DbError> {
        match self {
            Self::Sqlite(s) => s.stock(product_id),
            Self::Postgres(p) => p.stock(product_id).await,
        }
    }

    /// Holds `items` (product ids unique, quantities positive) until `expires_at`, all or nothing.
    /// Replaying a known `id` returns the existing reservation.
    pub async fn reserve(
        &self,
        id: &str,
        items: &[LineItem],
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation, InventoryError> {
        // To the precision both engines keep, so that a replay shows the expiry first shown.
        let expires_at = expires_at.trunc_subsecs(6);
        let reserved = match self {
            Self::Sqlite(s) => s.reserve(id, items, expires_at)?,
            Self::Postgres(p) => p.reserve(id, items, expires_at).await?,
        };
        match reserved {
            Reserved::New => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at: ts(expires_at),
                items: items.to_vec(),
                status: "held".into(),
            }),
            Reserved::Short(product_id) => Err(InventoryError::InsufficientStock(product_id)),
            Reserved::Known { status, .. } if status == RELEASED => {
                Err(InventoryError::AlreadyReleased(id.to_owned()))
            }
            Reserved::Known {
                status,
                expires_at,
                items,
            } => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at,
                items,
                status,
            }),
        }
    }

    /// Turns a held reservation into a sale. Idempotent.
    pub async fn commit(&self, id: &str) -> Result<(), InventoryError> {
        self.transition(id, COMMITTED).await
    }

    /// Gives held stock back. Idempotent; releasing an unknown id records it as released, so a
    /// reservation request that arrives late (after its caller gave up) is refused.
    pub async fn release(&self, id: &str) -> Result<(), InventoryError> {
        self.transition(id, RELEASED).await
    }

    async fn transition(&self, id: &str, to: &'static str) -> Result<(), InventoryError> {
        match self {
            Self::Sqlite(s) => s.transition(id, to)?,
            Self::Postgres(p) => p.transition(id, to).await?,
        }
    }

    /// Releases every held reservation that expired before `now` (at most [`SWEEP_MAX`] per
    /// call, in transactions of [`SWEEP_BATCH`] with a yield between, so that no writer waits
    /// long behind a sweep); returns how many.
    pub async fn release_expired_once(&self, now: DateTime<Utc>) -> Result<usize, DbError> {
        let mut released = 0;
        while released < SWEEP_MAX {
            let batch = match self {
                Self::Sqlite(s) => s.release_expired(now, SWEEP_BATCH)?,
                Self::Postgres(p) => p.release_expired(now, SWEEP_BATCH).await?,
            };
            released += batch;
            if batch < SWEEP_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests;
