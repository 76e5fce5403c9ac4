//! Users in SQLite.

use tracemart_contracts::User;
use tracemart_platform::{Database, DbError};
// Demo membership follows the seed's segment rule, so demo data and metrics agree.
use tracemart_telemetry::UserSegment;

#[derive(Clone)]
pub struct UserStore {
    db: Database,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user with this e-mail already exists")]
    DuplicateEmail,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl UserStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts users 1..=n unless users already exist (first start only).
    pub async fn seed_demo(&self, n: i64) -> Result<(), DbError> {
        let count: i64 = self
            .db
            .timed(
                "SELECT",
                "users",
                sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.db.writer),
            )
            .await?;
        if count > 0 {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339();
        let mut tx = self
            .db
            .writer
            .begin()
            .await
            .map_err(|source| DbError::Query {
                operation: "BEGIN",
                table: "users",
                source,
            })?;
        for id in 1..=n {
            sqlx::query("INSERT INTO users (id, name, email, membership_level, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(id)
                .bind(format!("Demo User {id}"))
                .bind(format!("user{id}@example.com"))
                .bind(UserSegment::of(id).as_str())
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(|source| DbError::Query { operation: "INSERT", table: "users", source })?;
        }
        tx.commit().await.map_err(|source| DbError::Query {
            operation: "COMMIT",
            table: "users",
            source,
        })
    }

    pub async fn get(&self, id: i64) -> Result<Option<User>, DbError> {
        let row: Option<(i64, String, String, String)> = self
            .db
            .timed(
                "SELECT",
                "users",
                sqlx::query_as("SELECT id, name, email, membership_level FROM users WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.db.reader),
            )
            .await?;
        Ok(row.map(|(id, name, email, membership_level)| User {
            id,
            name,
            email,
            membership_level,
        }))
    }

    pub async fn create(
        &self,
        name: &str,
        email: &str,
        membership_level: &str,
    ) -> Result<User, CreateUserError> {
        let now = chrono::Utc::now().to_rfc3339();
        let result = self
            .db
            .timed(
                "INSERT",
                "users",
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO users (name, email, membership_level, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                )
                .bind(name)
                .bind(email)
                .bind(membership_level)
                .bind(&now)
                .fetch_one(&self.db.writer),
            )
            .await;
        match result {
            Ok(id) => Ok(User {
                id,
                name: name.into(),
                email: email.into(),
                membership_level: membership_level.into(),
            }),
            Err(DbError::Query {
                source: sqlx::Error::Database(e),
                ..
            }) if e.is_unique_violation() => Err(CreateUserError::DuplicateEmail),
            Err(e) => Err(e.into()),
        }
    }
}
