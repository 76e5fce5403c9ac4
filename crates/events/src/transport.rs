//! How a relay's messages reach their consumer: over HTTP to another service's `POST /events`
//! (the embedded default, no broker process), or in process, for the commands a service sends
//! itself. A broker is one more implementation of [`Transport`] (`crate::amqp`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Serialize;
use tracemart_platform::identity::Signer;
use tracemart_telemetry::names::{messaging, route};

use crate::consumer::{Inbound, consume};
use crate::message::{BatchReply, Message, Receipt};

/// Carries batches of messages to one destination.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Delivers `messages` and returns the consumer's receipts, or why it could not.
    async fn deliver(&self, messages: &[&Message]) -> Result<Vec<Receipt>, TransportError>;

    /// `messaging.system` of the spans of the messages it carries.
    fn messaging_system(&self) -> &'static str {
        messaging::SYSTEM_EMBEDDED
    }
}

/// A delivery that got no receipts.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub message: String,
    /// The consumer received the batch and failed on it (e.g. it answered 500): the attempt
    /// counts toward dead-lettering. An attempt that found no consumer does not.
    pub reached_consumer: bool,
}

/// Delivers to `POST {base_url}/events` of another service.
pub struct HttpTransport {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    /// Signs each delivery with the producing service's token.
    signer: Option<Arc<Signer>>,
}

impl HttpTransport {
    pub fn new(http: reqwest::Client, base_url: &str, timeout: Duration) -> Self {
        Self {
            http,
            url: format!("{}{}", base_url.trim_end_matches('/'), route::EVENTS),
            timeout,
            signer: None,
        }
    }

    /// Sends the producing service's token with every delivery: consumers accept messages
    /// from the services they subscribe to only.
    pub fn signed_by(mut self, signer: Arc<Signer>) -> Self {
        self.signer = Some(signer);
        self
    }
}

#[derive(Serialize)]
struct BatchOf<'a> {
    messages: &'a [&'a Message],
}

#[async_trait]
impl Transport for HttpTransport {
    async fn deliver(&self, messages: &[&Message]) -> Result<Vec<Receipt>, TransportError> {
        // No trace context on the request: each message carries its own.
        let mut request = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .json(&BatchOf { messages });
        if let Some(signer) = &self.signer {
            request = request.header(reqwest::header::AUTHORIZATION, signer.authorization());
        }
        let sent = request.send().await;
        let response = sent.map_err(|e| TransportError {
            message: format!("{}: {e}", self.url),
            reached_consumer: false,
        })?;
        let status = response.status();
        if !status.is_success() {
            let consumer_absent = matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            let body = response.text().await.unwrap_or_default();
            return Err(TransportError {
                message: format!(
                    "{} answered {}: {}",
                    self.url,
                    status.as_u16(),
                    body.chars().take(300).collect::<String>()
                ),
                reached_consumer: !consumer_absent,
            });
        }
        let reply: BatchReply = response.json().await.map_err(|e| TransportError {
            message: format!("{} answered an unreadable batch reply: {e}", self.url),
            reached_consumer: true,
        })?;
        Ok(reply.results)
    }
}

/// Hands messages to a consumer in this process: the commands a service sends itself go
/// through the same durable outbox, retries and dead letters as its events.
pub struct LocalTransport {
    inbound: Inbound,
}

impl LocalTransport {
    pub fn new(inbound: Inbound) -> Self {
        Self { inbound }
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn deliver(&self, messages: &[&Message]) -> Result<Vec<Receipt>, TransportError> {
        // At most one message per key in a batch: handling them concurrently keeps the order.
        let handled = messages.iter().map(|m| consume(&self.inbound, m));
        Ok(futures::future::join_all(handled).await)
    }
}
