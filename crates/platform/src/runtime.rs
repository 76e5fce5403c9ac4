//! Start-up shared by every service: metrics, database with migrations, background workers,
//! readiness, serving, and a stop in the right order (requests drained, then workers, then the
//! database).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracemart_telemetry::Metrics;

use crate::config::{ServiceName, ShopConfig};
use crate::connections::{ConnectionLimits, connection_limits};
use crate::db::DbError;
use crate::engine::{AnyDatabase, Migrations, ServiceDatabase};
use crate::faults::Faults;
use crate::http::{ReadyCheck, ServiceApp};
use crate::identity::{Identity, Principal};

/// How long a stopping service waits for its workers to finish what they are doing.
const WORKER_STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot start: {0}")]
    Setup(String),
}

/// Resolves when the service starts to stop (its requests have drained); a worker then
/// finishes what it is doing and returns.
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub async fn stopped(mut self) {
        // Resolves on the stop, or if the runtime is gone (the sender dropped).
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// What a service has once started: its metrics, its database (on either engine) and its
/// background workers.
pub struct ServiceRuntime<D = AnyDatabase> {
    pub name: ServiceName,
    pub metrics: Metrics,
    pub db: D,
    /// Signs this service's calls and checks its callers.
    pub identity: Identity,
    /// The faults set on this service (`/admin/faults`).
    pub faults: Faults,
    /// `/admin/*` answers beyond loopback (`admin_remote`).
    admin_remote: bool,
    limits: ConnectionLimits,
    stop: watch::Sender<bool>,
    workers: Vec<(&'static str, JoinHandle<()>)>,
}

impl ServiceRuntime<AnyDatabase> {
    /// Opens the service's database on the engine its `database_url` names (its SQLite file
    /// in the data directory by default) and applies that engine's `migrations`.
    pub async fn open_any(
        name: ServiceName,
        config: &ShopConfig,
        migrations: Migrations<'_>,
    ) -> Result<Self, ServiceError> {
        let identity = load_identity(name, config)?;
        let url = config
            .database_url(name)
            .map_err(|e| ServiceError::Setup(e.to_string()))?;
        let metrics = Metrics::new(name.service_name());
        let faults = Faults::of(name);
        let db = AnyDatabase::open(&url, migrations, config.database_pool_size, metrics.clone())
            .await?
            .with_faults(faults.clone());
        Ok(Self::assemble(name, config, identity, metrics, db, faults))
    }
}

fn load_identity(name: ServiceName, config: &ShopConfig) -> Result<Identity, ServiceError> {
    Identity::load(
        &config.keys_dir(),
        Principal::Service(name),
        config.require_tokens,
    )
    .map_err(|e| ServiceError::Setup(e.to_string()))
}

impl<D: ServiceDatabase> ServiceRuntime<D> {
    fn assemble(
        name: ServiceName,
        config: &ShopConfig,
        identity: Identity,
        metrics: Metrics,
        db: D,
        faults: Faults,
    ) -> Self {
        Self {
            name,
            metrics,
            db,
            identity,
            faults,
            admin_remote: config.admin_remote,
            limits: connection_limits(config),
            stop: watch::Sender::new(false),
            workers: Vec::new(),
        }
    }

    /// A client of service `target` with the shop's call policy, sending this service's
    /// token; `http` is the connection pool the service's clients share.
    pub fn client(
        &self,
        http: &reqwest::Client,
        target: ServiceName,
        config: &ShopConfig,
    ) -> crate::client::ServiceClient {
        crate::client::ServiceClient::new(
            http.clone(),
            target.service_name(),
            config.url_of(target),
            config.call_policy(),
            self.metrics.clone(),
        )
        .signed_by(self.identity.signer.clone())
    }

    /// Runs `work` in the background while the service runs (a relay, a sweeper). It is
    /// given the signal of the service's stop; the database stays open until it returned (or
    /// [`WORKER_STOP_GRACE`] passed, then it is cancelled at its next await).
    pub fn spawn_worker<F, Fut>(&mut self, name: &'static str, work: F)
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let signal = StopSignal(self.stop.subscribe());
        self.workers.push((name, tokio::spawn(work(signal))));
    }

    /// Serves `routes` (with health, readiness on the database, metrics) until `shutdown`;
    /// then lets requests in flight finish, stops the workers and closes the database.
    pub async fn serve(
        self,
        routes: Router,
        api: utoipa::openapi::OpenApi,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServiceError> {
        let db = self.db.clone();
        let metrics = self.metrics.clone();
        let ready: ReadyCheck = Arc::new(move || {
            let db = db.clone();
            Box::pin(async move { db.ping().await })
        });
        let app = ServiceApp {
            name: self.name,
            metrics: metrics.clone(),
            ready,
            api,
            auth: self.identity.auth.clone(),
            faults: self.faults.clone(),
            admin_remote: self.admin_remote,
        }
        .into_router(routes);
        let served = crate::connections::serve(app, listener, self.limits, metrics, shutdown).await;
        self.stop.send_replace(true);
        for (name, mut worker) in self.workers {
            if tokio::time::timeout(WORKER_STOP_GRACE, &mut worker)
                .await
                .is_err()
            {
                tracing::warn!(worker = name, "Worker did not stop in time; cancelling it");
                worker.abort();
            }
        }
        self.db.close().await;
        Ok(served?)
    }
}
