//! The broker's dead letters: what a consumer rejected or failed on too often, in its
//! dead-letter queue, listed, replayed (published again to its producer's exchange) or
//! discarded as the dead-letter tables are. A pass reads the whole queue without
//! acknowledging; what it does not take goes back to the queue when its channel closes.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation};

use super::carrier;
use super::topology::{Broker, BrokerError, Doing, dead_letter_queue};
use crate::dead_letters::{DeadLetter, Selection};

/// The dead-letter queue of one consumer service.
pub struct BrokerDeadLetters {
    broker: Broker,
    consumer: String,
}

/// Why and when the broker dead-lettered a message, from its `x-death` header.
struct Death {
    reason: String,
    exchange: String,
    /// Seconds since the Unix epoch.
    time: u64,
}

impl BrokerDeadLetters {
    pub fn new(broker: &Broker, consumer: &str) -> Self {
        Self {
            broker: broker.clone(),
            consumer: consumer.to_owned(),
        }
    }

    /// The dead letters, oldest first, at most `limit`.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, BrokerError> {
        let mut letters = Vec::new();
        self.pass(false, |letter| {
            if letters.len() < limit {
                letters.push(letter.clone());
            }
            false
        })
        .await?;
        Ok(letters)
    }

    /// Publishes the selected dead letters again to the exchange they came from (a consumer
    /// that handled one before acknowledges it as a duplicate); returns how many.
    pub async fn replay(&self, which: Selection<'_>) -> Result<usize, BrokerError> {
        self.take(which, true).await
    }

    /// Deletes the selected dead letters; returns how many.
    pub async fn discard(&self, which: Selection<'_>) -> Result<usize, BrokerError> {
        self.take(which, false).await
    }

    async fn take(&self, which: Selection<'_>, replay: bool) -> Result<usize, BrokerError> {
        let chosen = |l: &DeadLetter| match which {
            Selection::Id(id) => l.id == id,
            Selection::All => true,
        };
        let mut taken = 0;
        self.pass(replay, |letter| {
            let take = chosen(letter);
            taken += usize::from(take);
            take
        })
        .await?;
        Ok(taken)
    }

    /// Reads every message of the queue; `take` says which to remove (after publishing it
    /// again, if `replay`); the others stay.
    async fn pass(
        &self,
        replay: bool,
        mut take: impl FnMut(&DeadLetter) -> bool,
    ) -> Result<(), BrokerError> {
        let (connection, channel) = self.broker.confirming("dead letters").await?;
        let queue = dead_letter_queue(&self.consumer);
        let passed = self.read(&channel, &queue, replay, &mut take).await;
        // Closing hands back what was read and not acknowledged.
        let _ = connection.close(200, "dead letters read".into()).await;
        passed
    }

    async fn read(
        &self,
        channel: &Channel,
        queue: &str,
        replay: bool,
        take: &mut impl FnMut(&DeadLetter) -> bool,
    ) -> Result<(), BrokerError> {
        // Only the messages there when the pass began: a replayed message its consumer rejects
        // again comes back to this queue while the pass runs, and must not be replayed again.
        let mut left: Option<u32> = None;
        loop {
            if left == Some(0) {
                return Ok(());
            }
            let got = match channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
            {
                Ok(Some(got)) => got,
                Ok(None) => return Ok(()),
                // No consumer declared it yet: nothing was dead-lettered.
                Err(e) if not_found(&e) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Amqp {
                        doing: format!("reading {queue}"),
                        source,
                    });
                }
            };
            // The first answer counts what follows it; each later one is one of those.
            left = Some(left.map_or(got.message_count, |n| n.saturating_sub(1)));
            let delivery = got.delivery;
            let Ok(message) = carrier::message(&delivery) else {
                continue;
            };
            let death = death(delivery.properties.headers().as_ref());
            let letter = DeadLetter {
                id: message.id.clone(),
                destination: self.consumer.clone(),
                topic: message.topic.clone(),
                key: message.key.clone(),
                attempts: message.attempt,
                last_error: death.reason.clone(),
                created_at: message.created_at.clone(),
                dead_at: chrono::DateTime::from_timestamp(
                    i64::try_from(death.time).unwrap_or_default(),
                    0,
                )
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
                payload: message.payload.clone(),
                headers: message.headers.clone(),
            };
            if !take(&letter) {
                continue;
            }
            if replay {
                self.publish_again(channel, &death.exchange, &message, &delivery.data)
                    .await?;
            }
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .doing(|| format!("removing message {} from {queue}", message.id))?;
        }
    }

    async fn publish_again(
        &self,
        channel: &Channel,
        exchange: &str,
        message: &crate::Message,
        body: &[u8],
    ) -> Result<(), BrokerError> {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                message.topic.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                carrier::properties(message),
            )
            .await
            .doing(|| format!("publishing message {} again", message.id))?
            .await
            .doing(|| format!("awaiting the confirm of message {}", message.id))?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            _ => Err(BrokerError::NotConfirmed {
                id: message.id.clone(),
                reason: format!("not routed back through {exchange}"),
            }),
        }
    }
}

fn not_found(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp)
            if amqp.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)
    )
}

/// The latest entry of `x-death`.
fn death(headers: Option<&FieldTable>) -> Death {
    let entry = headers
        .and_then(|h| h.inner().get("x-death"))
        .and_then(|v| match v {
            AMQPValue::FieldArray(a) => a.as_slice().first(),
            _ => None,
        })
        .and_then(|v| match v {
            AMQPValue::FieldTable(t) => Some(t.inner()),
            _ => None,
        });
    let text = |key: &str| {
        entry
            .and_then(|e| e.get(key))
            .map(|v| match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                _ => String::new(),
            })
            .unwrap_or_default()
    };
    let time = match entry.and_then(|e| e.get("time")) {
        Some(AMQPValue::Timestamp(t)) => *t,
        _ => 0,
    };
    Death {
        reason: text("reason"),
        exchange: text("exchange"),
        time,
    }
}
