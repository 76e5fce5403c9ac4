//! The relay's side: [`AmqpTransport`] publishes a batch with publisher confirms, and answers
//! acknowledged receipts only for a batch the broker confirmed in full. Anything else is a
//! [`TransportError`] that does not count toward dead-lettering: the relay keeps the rows and
//! retries them with backoff, on a new connection if the last one broke.

use std::collections::HashSet;

use async_trait::async_trait;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Confirmation, Connection};
use tokio::sync::Mutex;
use tracemart_telemetry::names::messaging;

use super::carrier;
use super::topology::{Broker, BrokerError, Doing, exchange};
use crate::message::{Message, Outcome, Receipt};
use crate::transport::{Transport, TransportError};

/// Publishes one producer's messages for one consumer service to the broker.
pub struct AmqpTransport {
    broker: Broker,
    producer: String,
    consumer: String,
    exchange: String,
    /// Held for a whole batch: batches to one consumer are published one at a time.
    link: Mutex<Option<Link>>,
}

/// An open connection, its confirming channel, and the topics whose queues it declared.
struct Link {
    /// Kept open as long as the channel is used.
    _connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

impl AmqpTransport {
    /// Publishes the messages `producer` sends `consumer` (service names); connects on the
    /// first delivery.
    pub fn new(broker: &Broker, producer: &str, consumer: &str) -> Self {
        Self {
            broker: broker.clone(),
            producer: producer.to_owned(),
            consumer: consumer.to_owned(),
            exchange: exchange(producer),
            link: Mutex::new(None),
        }
    }

    async fn open(&self) -> Result<Link, BrokerError> {
        let (connection, channel) = self
            .broker
            .confirming(&format!("{} relay to {}", self.producer, self.consumer))
            .await?;
        Ok(Link {
            _connection: connection,
            channel,
            declared: HashSet::new(),
        })
    }

    async fn publish(&self, link: &mut Link, messages: &[&Message]) -> Result<(), BrokerError> {
        for m in messages {
            if !link.declared.contains(&m.topic) {
                // A message for a topic with no queue bound would be dropped by the broker.
                self.broker
                    .declare(&link.channel, &self.producer, &self.consumer, &m.topic)
                    .await?;
                link.declared.insert(m.topic.clone());
            }
        }
        let mut confirms = Vec::with_capacity(messages.len());
        for m in messages {
            let confirm = link
                .channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    m.topic.as_str().into(),
                    // Mandatory: an unroutable message comes back instead of vanishing.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    m.payload.get().as_bytes(),
                    carrier::properties(m),
                )
                .await
                .doing(|| format!("publishing message {} to {}", m.id, self.exchange))?;
            confirms.push((m, confirm));
        }
        for (m, confirm) in confirms {
            let not_taken = |reason: String| BrokerError::NotConfirmed {
                id: m.id.clone(),
                reason,
            };
            match confirm
                .await
                .doing(|| format!("awaiting the confirm of message {}", m.id))?
            {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(returned)) => {
                    return Err(not_taken(format!("returned: {}", returned.reply_text)));
                }
                Confirmation::Nack(_) => return Err(not_taken("refused (nack)".to_owned())),
                Confirmation::NotRequested => {
                    return Err(not_taken("publisher confirms are off".to_owned()));
                }
            }
        }
        Ok(())
    }

    async fn deliver_on_link(&self, messages: &[&Message]) -> Result<(), BrokerError> {
        let mut guard = self.link.lock().await;
        let usable = guard
            .as_ref()
            .is_some_and(|l| l.channel.status().connected());
        if !usable {
            *guard = Some(self.open().await?);
        }
        let Some(link) = guard.as_mut() else {
            return Err(BrokerError::Closed);
        };
        let published = self.publish(link, messages).await;
        if published.is_err() {
            // Whatever broke, the next delivery starts on a fresh connection.
            *guard = None;
        }
        published
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    async fn deliver(&self, messages: &[&Message]) -> Result<Vec<Receipt>, TransportError> {
        let timeout = self.broker.timeout;
        let delivered = match tokio::time::timeout(timeout, self.deliver_on_link(messages)).await {
            Ok(delivered) => delivered,
            Err(_) => {
                // The link may be half-broken: drop it, so the next delivery reconnects.
                *self.link.lock().await = None;
                Err(BrokerError::Timeout {
                    doing: format!("publishing to {}", self.exchange),
                    timeout,
                })
            }
        };
        match delivered {
            Ok(()) => Ok(messages
                .iter()
                .map(|m| Receipt {
                    id: m.id.clone(),
                    outcome: Outcome::Processed,
                    error: None,
                })
                .collect()),
            // Not the consumer's failure: waited for, never dead-lettered by the relay.
            Err(e) => Err(TransportError {
                message: e.to_string(),
                reached_consumer: false,
            }),
        }
    }

    fn messaging_system(&self) -> &'static str {
        messaging::SYSTEM_RABBITMQ
    }
}
