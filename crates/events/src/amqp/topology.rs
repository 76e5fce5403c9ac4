//! The broker, and the shop's exchanges and queues on it, declared idempotently by producers
//! and consumers alike (whichever starts first), so that no message is published to an
//! exchange with no queue bound yet.
//!
//! - `tracemart.<producer>`: a durable topic exchange per producing service;
//! - `tracemart.<consumer>.<topic>`: a durable quorum queue per consumer and topic, bound
//!   with the topic as routing key;
//! - `tracemart.dead-letters`: the dead-letter exchange (direct), routing by consumer into
//!   `tracemart.<consumer>.dead-letters`.

use std::time::Duration;

use lapin::options::{
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tracemart_platform::ShopConfig;

use crate::settings::RelaySettings;

/// The dead-letter exchange every consumer queue names.
pub const DEAD_LETTER_EXCHANGE: &str = "tracemart.dead-letters";

/// Unacknowledged deliveries a consumer holds at most: enough to keep it busy between
/// round trips, few enough that a consumer that dies hands little back.
const PREFETCH: u16 = 32;

/// The exchange `producer` publishes to.
pub fn exchange(producer: &str) -> String {
    format!("tracemart.{producer}")
}

/// The queue of `consumer` for `topic`.
pub fn queue(consumer: &str, topic: &str) -> String {
    format!("tracemart.{consumer}.{topic}")
}

/// Where the broker puts the messages `consumer` rejected or failed on too often.
pub fn dead_letter_queue(consumer: &str) -> String {
    format!("tracemart.{consumer}.dead-letters")
}

/// What a consumer reads: `topic` as `producer` publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub producer: &'static str,
    pub topic: &'static str,
}

/// A RabbitMQ broker and the delivery settings the shop's queues are declared with.
#[derive(Debug, Clone)]
pub struct Broker {
    url: String,
    /// Deliveries to a consumer after which the broker dead-letters a message
    /// (`x-delivery-limit`): `event_max_failures`, as the embedded relay counts them.
    pub(crate) delivery_limit: u32,
    pub(crate) prefetch: u16,
    /// Bounds connecting, declaring and publishing (`downstream_timeout_ms`).
    pub(crate) timeout: Duration,
    /// Backoff of reconnections and of redeliveries after a failure.
    pub(crate) settings: RelaySettings,
}

/// A broker operation that failed, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{doing}: {source}")]
    Amqp {
        doing: String,
        #[source]
        source: lapin::Error,
    },
    #[error("{doing}: no answer from the broker within {timeout:?}")]
    Timeout { doing: String, timeout: Duration },
    #[error("the broker did not take message {id}: {reason}")]
    NotConfirmed { id: String, reason: String },
    #[error("the broker closed the consumer's deliveries")]
    Closed,
}

/// Adds what was being done to a lapin error.
pub(crate) trait Doing<T> {
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, BrokerError>;
}

impl<T> Doing<T> for Result<T, lapin::Error> {
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, BrokerError> {
        self.map_err(|source| BrokerError::Amqp {
            doing: doing(),
            source,
        })
    }
}

impl Broker {
    /// The broker at `url` (`amqp://user:password@host:5672/vhost`), with the delivery
    /// settings of `settings`.
    pub fn new(url: impl Into<String>, settings: &RelaySettings) -> Self {
        Self {
            url: url.into(),
            delivery_limit: settings.max_failures,
            prefetch: PREFETCH,
            timeout: settings.delivery_timeout,
            settings: settings.clone(),
        }
    }

    /// The configured broker, if events travel through one (the URL was validated with the
    /// configuration).
    pub fn from_config(config: &ShopConfig) -> Option<Self> {
        let url = config.broker().ok().flatten()?;
        Some(Self::new(url, &RelaySettings::from_config(config)))
    }

    /// A new connection, named `name` in the broker's list of connections.
    pub(crate) async fn connect(&self, name: &str) -> Result<Connection, BrokerError> {
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let doing = || {
            format!(
                "connecting to {}",
                tracemart_platform::database_url::redact_password(&self.url)
            )
        };
        match tokio::time::timeout(self.timeout, Connection::connect(&self.url, properties)).await {
            Ok(connected) => connected.doing(doing),
            Err(_) => Err(BrokerError::Timeout {
                doing: doing(),
                timeout: self.timeout,
            }),
        }
    }

    /// A new connection and a channel on it whose publishes the broker confirms.
    pub(crate) async fn confirming(
        &self,
        name: &str,
    ) -> Result<(Connection, Channel), BrokerError> {
        let connection = self.connect(name).await?;
        let channel = connection
            .create_channel()
            .await
            .doing(|| "opening a channel".to_owned())?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .doing(|| "turning publisher confirms on".to_owned())?;
        Ok((connection, channel))
    }

    /// Declares the exchange of `producer`, the queue of `consumer` for `topic` bound to it,
    /// and the dead-letter exchange and queue of `consumer`; returns the queue's name.
    /// Declaring what exists (with the same arguments) changes nothing.
    pub(crate) async fn declare(
        &self,
        channel: &Channel,
        producer: &str,
        consumer: &str,
        topic: &str,
    ) -> Result<String, BrokerError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let exchange = exchange(producer);
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .doing(|| format!("declaring exchange {exchange}"))?;
        channel
            .exchange_declare(
                DEAD_LETTER_EXCHANGE.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .doing(|| format!("declaring exchange {DEAD_LETTER_EXCHANGE}"))?;
        let dead = dead_letter_queue(consumer);
        self.declare_queue(channel, &dead, FieldTable::default())
            .await?;
        self.bind(channel, &dead, DEAD_LETTER_EXCHANGE, consumer)
            .await?;

        let queue = queue(consumer, topic);
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            long_string(DEAD_LETTER_EXCHANGE),
        );
        arguments.insert("x-dead-letter-routing-key".into(), long_string(consumer));
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
        );
        self.declare_queue(channel, &queue, arguments).await?;
        self.bind(channel, &queue, &exchange, topic).await?;
        Ok(queue)
    }

    async fn declare_queue(
        &self,
        channel: &Channel,
        name: &str,
        mut arguments: FieldTable,
    ) -> Result<(), BrokerError> {
        // Quorum queues are replicated and count deliveries (`x-delivery-limit`).
        arguments.insert("x-queue-type".into(), long_string("quorum"));
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(name.into(), options, arguments)
            .await
            .doing(|| format!("declaring queue {name}"))?;
        Ok(())
    }

    async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<(), BrokerError> {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .doing(|| format!("binding queue {queue} to {exchange}"))
    }
}

pub(crate) fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}
