//! Users in SQLite.

use rusqlite::{OptionalExtension, params};
use tracemart_contracts::{User, UserId};
use tracemart_platform::{Database, DbError};

use super::demo_user;

#[derive(Clone)]
pub struct SqliteUsers {
    db: Database,
}

impl SqliteUsers {
    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn seed_demo(&self, n: i64) -> Result<(), DbError> {
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
                let (name, email, level) = demo_user(id);
                insert.execute(params![id, name, email, level, now])?;
            }
            Ok(())
        })
    }

    pub(super) fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
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

    /// The new user's id.
    pub(super) fn create(&self, name: &str, email: &str, level: &str) -> Result<i64, DbError> {
        let now = chrono::Utc::now().to_rfc3339();
        self.db.write("INSERT", "users", |tx| {
            tx.prepare_cached(
                "INSERT INTO users (name, email, membership_level, created_at) \
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )?
            .query_row(params![name, email, level, now], |row| row.get::<_, i64>(0))
        })
    }
}
