//! The operator's client of the services' `/admin/faults`: an operator token signed from the
//! keys directory, and one request per service. `tracemart chaos` and `tracemart experiment`
//! both set faults through it.

use std::time::Duration;

use tracemart_platform::faults::{Cleared, Fault, FaultList, FaultSpec, ROUTE};
use tracemart_platform::identity::{Principal, ensure_keys, issue};
use tracemart_platform::{ServiceName, ShopConfig};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request needs: the services' addresses and the operator's token.
pub(crate) struct Operator<'a> {
    config: &'a ShopConfig,
    http: reqwest::Client,
    token: String,
}

impl<'a> Operator<'a> {
    /// Signs an operator token valid for `ttl` (as long as the command needs it) with the
    /// shop's keys, made here if the shop has not run yet: the services will then not know
    /// the key and refuse, which the error says.
    pub(crate) fn new(config: &'a ShopConfig, ttl: Duration) -> Result<Self, String> {
        let dir = config.keys_dir();
        let token = ensure_keys(&dir)
            .and_then(|()| issue(&dir, Principal::Admin, "admin", ttl))
            .map_err(|e| format!("cannot sign an operator token: {e}"))?;
        // No idle connections kept: an experiment sets faults seconds apart, and a service
        // closes a connection idle for its header-read timeout, which a reused one would meet.
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self {
            config,
            http,
            token,
        })
    }

    /// The operator token, for requests of other kinds (reading any user's orders).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    fn url(&self, service: ServiceName) -> String {
        format!("{}{ROUTE}", self.config.url_of(service))
    }

    /// Sets a fault on `service`.
    pub(crate) async fn inject(
        &self,
        service: ServiceName,
        spec: &FaultSpec,
    ) -> Result<Fault, String> {
        let request = self.http.post(self.url(service)).json(spec);
        self.send(service, request).await
    }

    /// The faults set on `service`.
    pub(crate) async fn list(&self, service: ServiceName) -> Result<FaultList, String> {
        self.send(service, self.http.get(self.url(service))).await
    }

    /// Removes the faults of `service`.
    pub(crate) async fn clear(&self, service: ServiceName) -> Result<Cleared, String> {
        self.send(service, self.http.delete(self.url(service)))
            .await
    }

    /// Removes fault `id` of `service`; `false` if it was not there (cleared already).
    pub(crate) async fn remove(&self, service: ServiceName, id: u64) -> Result<bool, String> {
        let url = format!("{}/{id}", self.url(service));
        let response = self
            .http
            .delete(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("{service}: cannot reach {url}: {e}"))?;
        match response.status() {
            status if status.is_success() => Ok(true),
            reqwest::StatusCode::NOT_FOUND => Ok(false),
            status => Err(format!("{service}: {url} answered {status}")),
        }
    }

    /// Sends `request` and reads the answer as `T`, or says what went wrong.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        service: ServiceName,
        request: reqwest::RequestBuilder,
    ) -> Result<T, String> {
        let url = self.url(service);
        let response =
            request.bearer_auth(&self.token).send().await.map_err(|e| {
                format!("{service}: cannot reach {url}: {e} (is the shop running?)")
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("{service}: {url} answered {status} without a body: {e}"))?;
        if !status.is_success() {
            return Err(format!("{service}: {url} answered {status}: {body}"));
        }
        serde_json::from_str(&body)
            .map_err(|e| format!("{service}: {url} answered an unreadable body: {e}"))
    }
}
