//! Users in PostgreSQL.

use tracemart_contracts::{User, UserId};
use tracemart_platform::{DbError, PgDatabase};

use super::demo_user;

#[derive(Clone)]
pub struct PgUsers {
    db: PgDatabase,
}

impl PgUsers {
    pub(super) fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    /// One statement for all of them, and only into an empty table: instances starting
    /// together insert once (the loser's rows conflict and are skipped). The identity sequence
    /// then moves past the demo ids, so registrations continue after them.
    pub(super) async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        let (mut ids, mut names, mut emails, mut levels) = (vec![], vec![], vec![], vec![]);
        for id in 1..=n {
            let (name, email, level) = demo_user(id);
            ids.push(id);
            names.push(name);
            emails.push(email);
            levels.push(level);
        }
        let mut tx = self.db.begin("users").await?;
        let inserted = self
            .db
            .timed(
                "INSERT",
                "users",
                sqlx::query(
                    "INSERT INTO users (id, name, email, membership_level) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) \
                     WHERE NOT EXISTS (SELECT 1 FROM users) ON CONFLICT DO NOTHING",
                )
                .bind(&ids)
                .bind(&names)
                .bind(&emails)
                .bind(&levels)
                .execute(&mut *tx),
            )
            .await?;
        if inserted.rows_affected() > 0 {
            self.db
                .timed(
                    "SELECT",
                    "users",
                    sqlx::query(
                        "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                         (SELECT MAX(id) FROM users))",
                    )
                    .execute(&mut *tx),
                )
                .await?;
        }
        PgDatabase::commit(tx, "users").await
    }

    pub(super) async fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
        let row: Option<(i64, String, String, String)> = self
            .db
            .timed(
                "SELECT",
                "users",
                sqlx::query_as("SELECT id, name, email, membership_level FROM users WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(row.map(|(id, name, email, membership_level)| User {
            id,
            name,
            email,
            membership_level,
        }))
    }

    /// The new user's id.
    pub(super) async fn create(
        &self,
        name: &str,
        email: &str,
        level: &str,
    ) -> Result<i64, DbError> {
        self.db
            .timed(
                "INSERT",
                "users",
                sqlx::query_scalar(
                    "INSERT INTO users (name, email, membership_level) VALUES ($1, $2, $3) \
                     RETURNING id",
                )
                .bind(name)
                .bind(email)
                .bind(level)
                .fetch_one(self.db.pool()),
            )
            .await
    }
}
