//! What makes a crate a tracemart service: configuration, the HTTP server stack with health,
//! readiness and metrics, the JSON error body, the traced downstream client and the database
//! (SQLite or PostgreSQL).

mod breaker;
pub mod client;
pub mod config;
pub mod connections;
pub mod database_url;
pub mod db;
mod db_call;
pub mod engine;
pub mod error;
pub mod faults;
pub mod http;
pub mod identity;
pub mod json;
pub mod pg;
mod retry;
pub mod runtime;

pub use breaker::BreakerSettings;
pub use client::{CallError, CallKind, CallPolicy, ServiceClient};
pub use config::{ConfigError, Resilience, ServiceName, ShopConfig};
pub use connections::{ConnectionLimits, connection_limits, serve};
pub use database_url::DatabaseUrl;
pub use db::{Database, DbError};
pub use engine::{AnyDatabase, Migrations, ServiceDatabase};
pub use error::ApiError;
pub use http::{ReadyCheck, ServiceApp};
pub use json::ApiJson;
pub use pg::PgDatabase;
pub use runtime::{ServiceError, ServiceRuntime, StopSignal};
