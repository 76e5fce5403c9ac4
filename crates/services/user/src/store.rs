//! Users, on SQLite or PostgreSQL: one interface, an implementation per engine.

mod postgres;
mod sqlite;

use tracemart_contracts::{User, UserId};
use tracemart_platform::{AnyDatabase, DbError};
// Demo membership follows the seed's segment rule, so demo data and metrics agree.
use tracemart_telemetry::UserSegment;

use crate::domain::Registration;
use crate::error::UserError;

/// The users, on the engine the service's database runs on.
#[derive(Clone)]
pub enum UserStore {
    Sqlite(sqlite::SqliteUsers),
    Postgres(postgres::PgUsers),
}

/// Demo user `id`: name, e-mail address and membership level.
fn demo_user(id: i64) -> (String, String, &'static str) {
    (
        format!("Demo User {id}"),
        format!("user{id}@example.com"),
        UserSegment::of(id).as_str(),
    )
}

impl UserStore {
    pub fn new(db: &AnyDatabase) -> Self {
        match db {
            AnyDatabase::Sqlite(db) => Self::Sqlite(sqlite::SqliteUsers::new(db.clone())),
            AnyDatabase::Postgres(db) => Self::Postgres(postgres::PgUsers::new(db.clone())),
        }
    }

    /// Inserts users 1..=n unless users already exist (first start only).
    pub async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        match self {
            Self::Sqlite(s) => s.seed_demo(n),
            Self::Postgres(p) => p.seed_demo(n).await,
        }
    }

    pub async fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
        match self {
            Self::Sqlite(s) => s.get(id),
            Self::Postgres(p) => p.get(id).await,
        }
    }

    /// Registers a user; an e-mail address already taken is refused.
    pub(crate) async fn create(&self, r: &Registration) -> Result<User, UserError> {
        let (name, email, level) = (r.name.as_str(), r.email.as_str(), r.level.as_str());
        let id = match self {
            Self::Sqlite(s) => s.create(name, email, level),
            Self::Postgres(p) => p.create(name, email, level).await,
        };
        match id {
            Ok(id) => Ok(User {
                id,
                name: name.into(),
                email: email.into(),
                membership_level: level.into(),
            }),
            Err(e) if e.is_unique_violation() => Err(UserError::DuplicateEmail),
            Err(e) => Err(e.into()),
        }
    }
}
