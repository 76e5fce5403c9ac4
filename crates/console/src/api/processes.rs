//! `/api/processes`: the processes of the `up` this console runs under, passed through from
//! its control API (on loopback, which a browser elsewhere cannot reach). Actions carry the
//! caller's token on (bearer header, or the cookie of a `?token=` link); `up` checks it.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::AppState;
use crate::access::token_of;
use crate::error::ApiError;

/// An action waits for the child to settle (a stop's grace period and a start).
const TIMEOUT: Duration = Duration::from_secs(40);

/// Where `up`'s control API is, and a client for it.
#[derive(Debug, Clone)]
pub(crate) struct Processes {
    url: Option<String>,
    http: reqwest::Client,
}

impl Processes {
    pub(crate) fn new(url: Option<String>) -> Self {
        Self {
            url: url.map(|u| u.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    fn base(&self) -> Result<&str, ApiError> {
        self.url.as_deref().ok_or_else(|| {
            ApiError::NotFound(
                "this console does not run under `tracemart up`: there are no processes to show"
                    .to_owned(),
            )
        })
    }

    /// `up`'s answer with its status (200, or 202 for an action not waited for).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Json<Value>), ApiError> {
        let answer = request.send().await.map_err(|e| {
            ApiError::Unavailable(format!("cannot reach `tracemart up`'s control API: {e}"))
        })?;
        let status = answer.status();
        let body: Value = answer.json().await.map_err(|e| {
            ApiError::Unavailable(format!(
                "`tracemart up` answered {status} without JSON: {e}"
            ))
        })?;
        let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        if status.is_success() {
            return Ok((code, Json(body)));
        }
        let why = body["error"].as_str().unwrap_or("refused").to_owned();
        Err(ApiError::Upstream(code, why))
    }
}

/// `GET /api/processes?lines=N`: every child with its last N log lines.
pub(crate) async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}/processes{query}", st.processes.base()?);
    st.processes.send(st.processes.http.get(url)).await
}

/// `POST /api/processes/{name}/{action}[?wait=false]`: stop, start or restart one child.
pub(crate) async fn act(
    State(st): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}/processes/{name}/{action}{query}", st.processes.base()?);
    let mut request = st.processes.http.post(url);
    if let Some(token) = token_of(&headers) {
        request = request.bearer_auth(token);
    }
    st.processes.send(request).await
}
