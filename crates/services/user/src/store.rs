//! Users in SQLite.

use rusqlite::{OptionalExtension, params};
use tracemart_contracts::{User, UserId};
use tracemart_platform::{Database, DbError};
// Demo membership follows the seed's segment rule, so demo data and metrics agree.
use tracemart_telemetry::UserSegment;

use crate::domain::Registration;
use crate::error::UserError;

#[derive(Clone)]
pub struct UserStore {
    db: Database,
}

impl UserStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts users 1..=n unless users already exist (first start only).
    pub fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        let now = chrono::Utc::now().to_rfc3339();
        self.db.write("INSERT", "users", |tx| {
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
            if count > 0 {
                return Ok(());
            }
            let mut insert = tx.prepare(
                "INSERT INTO users (id, name, email, membership_level, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for id in 1..=n {
                insert.execute(params![
                    id,
                    format!("Demo User {id}"),
                    format!("user{id}@example.com"),
                    UserSegment::of(id).as_str(),
                    now,
                ])?;
            }
            Ok(())
        })
    }

    pub fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
        self.db.read("SELECT", "users", |conn| {
            conn.prepare_cached(
                "SELECT id, name, email, membership_level FROM users WHERE id = ?1",
            )?
            .query_row([id.0], |row| {
                Ok(User {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    email: row.get(2)?,
                    membership_level: row.get(3)?,
                })
            })
            .optional()
        })
    }

    /// Registers a user; an e-mail address already taken is refused.
    pub(crate) fn create(&self, r: &Registration) -> Result<User, UserError> {
        let now = chrono::Utc::now().to_rfc3339();
        let (name, email, level) = (r.name.as_str(), r.email.as_str(), r.level.as_str());
        let result = self.db.write("INSERT", "users", |tx| {
            tx.prepare_cached(
                "INSERT INTO users (name, email, membership_level, created_at) \
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )?
            .query_row(params![name, email, level, now], |row| row.get::<_, i64>(0))
        });
        match result {
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
