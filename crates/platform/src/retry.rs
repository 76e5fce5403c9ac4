//! Retries of a call to another service. Only failures that say nothing reached the service's
//! logic are tried again: no connection could be made, or the service (or a proxy in front of
//! it) answered 502, 503 or 504. Never a timeout: its budget is spent, and the request may be
//! running still. Waits grow exponentially from 50 ms with jitter, and a retry is given up when
//! its wait would end past the call's deadline. Only idempotent calls come here.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;

use crate::client::{CallError, Reply};

/// The wait before the first retry (before jitter, which adds up to as much again).
const FIRST_WAIT: Duration = Duration::from_millis(50);
/// No wait is longer than this (before jitter).
const LONGEST_WAIT: Duration = Duration::from_millis(800);

/// An attempt's outcome that may be worth another try.
enum Attempt<T> {
    /// A 502, 503 or 504: returned as the call's answer if no retry follows.
    Unavailable(Reply<T>),
    Failed(CallError),
}

impl<T> Attempt<T> {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Failed(CallError::Unreachable { source, .. }) => source.is_connect(),
            Self::Failed(_) => false,
        }
    }
}

fn is_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Runs `attempt` (given how many times the request was sent before) and up to `retries` more
/// times while its outcome is retryable and the wait ends before `deadline`.
pub(crate) async fn with_retries<T, F, Fut>(
    service: &'static str,
    retries: u32,
    deadline: Instant,
    mut attempt: F,
) -> Result<Reply<T>, CallError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Reply<T>, CallError>>,
{
    let mut sent_before = 0;
    let run = || {
        let outcome = attempt(sent_before);
        sent_before += 1;
        async move {
            match outcome.await {
                Ok(reply) if is_unavailable(reply.status) => Err(Attempt::Unavailable(reply)),
                Ok(reply) => Ok(reply),
                Err(e) => Err(Attempt::Failed(e)),
            }
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(FIRST_WAIT)
        .with_max_delay(LONGEST_WAIT)
        .with_max_times(retries as usize)
        .with_jitter();
    let result = run
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(Attempt::is_retryable)
        .adjust(|_, wait| wait.filter(|w| Instant::now() + *w < deadline))
        .notify(|_, wait| {
            tracing::info!(
                target_service = service,
                wait_ms = wait.as_millis() as u64,
                "Retrying call"
            );
        })
        .await;
    match result {
        Ok(reply) | Err(Attempt::Unavailable(reply)) => Ok(reply),
        Err(Attempt::Failed(e)) => Err(e),
    }
}
