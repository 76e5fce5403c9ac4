//! Start-up shared by every service: metrics, database with migrations, readiness, serving.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tracemart_telemetry::Metrics;

use crate::config::{ServiceName, ShopConfig};
use crate::db::{Database, DbError};
use crate::http::{ReadyCheck, ServiceApp};

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a service has once started: its metrics and its database.
pub struct ServiceRuntime {
    pub name: ServiceName,
    pub metrics: Metrics,
    pub db: Database,
}

impl ServiceRuntime {
    /// Opens and migrates the service's database in the configured data directory.
    pub async fn open(
        name: ServiceName,
        config: &ShopConfig,
        migrator: &Migrator,
    ) -> Result<Self, DbError> {
        let metrics = Metrics::new(name.service_name());
        let db = Database::open(&config.database_path(name), migrator, metrics.clone()).await?;
        Ok(Self { name, metrics, db })
    }

    /// Serves `routes` (with health, readiness on the database, metrics) until `shutdown`.
    pub async fn serve(
        self,
        routes: Router,
        api: utoipa::openapi::OpenApi,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServiceError> {
        let db = self.db.clone();
        let ready: ReadyCheck = Arc::new(move || {
            let ready = if db.ping() {
                Ok(())
            } else {
                Err("database".to_owned())
            };
            Box::pin(async move { ready })
        });
        let app = ServiceApp {
            name: self.name,
            metrics: self.metrics,
            ready,
            api,
        }
        .into_router(routes);
        crate::http::serve(app, listener, shutdown).await?;
        self.db.close();
        Ok(())
    }
}
