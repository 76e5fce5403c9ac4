//! The consumer's side: [`BrokerConsumer`] reads a service's queues with a bounded prefetch
//! and hands each delivery to [`crate::consume`]-style handling (CONSUMER span, inbox,
//! metric). It acknowledges a message only after its handling committed; a rejected message
//! goes to the dead-letter queue at once, a failed one back to its queue after a backoff
//! (the queue's delivery limit dead-letters it in the end). When the connection breaks it
//! reconnects with backoff: what was delivered and not acknowledged comes again.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use tracemart_telemetry::names::messaging;

use super::carrier;
use super::topology::{Broker, BrokerError, Doing, Subscription};
use crate::consumer::{Inbound, consume_from};
use crate::message::Outcome;

/// Consumes one service's subscriptions from the broker.
pub struct BrokerConsumer {
    broker: Broker,
    service: &'static str,
    subscriptions: Vec<Subscription>,
    inbound: Inbound,
}

/// How a session with the broker ended.
enum Ended {
    Stopped,
    Broken(BrokerError),
}

impl BrokerConsumer {
    /// Hands what `service` subscribes to to `inbound`.
    pub fn new(
        broker: &Broker,
        service: &'static str,
        subscriptions: &[Subscription],
        inbound: Inbound,
    ) -> Self {
        Self {
            broker: broker.clone(),
            service,
            subscriptions: subscriptions.to_vec(),
            inbound,
        }
    }

    /// Consumes until `stop` resolves; the message being handled then is finished first.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut failures = 0;
        loop {
            match self.session(&mut stop, &mut failures).await {
                Ended::Stopped => break,
                Ended::Broken(e) => {
                    failures += 1;
                    let wait = self
                        .broker
                        .settings
                        .backoff(failures, rand::random::<f64>());
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "Consuming from the broker failed; reconnecting");
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One connection: declares, subscribes, and handles deliveries until `stop` or a
    /// failure. `failures` is reset once the subscriptions are in place.
    async fn session<S: Future<Output = ()>>(
        &self,
        stop: &mut std::pin::Pin<&mut S>,
        failures: &mut u32,
    ) -> Ended {
        let name = format!("{} consumer", self.service);
        let connection = tokio::select! {
            () = stop.as_mut() => return Ended::Stopped,
            c = self.broker.connect(&name) => match c {
                Ok(c) => c,
                Err(e) => return Ended::Broken(e),
            },
        };
        let ended = match self.subscribe(&connection).await {
            Ok(mut deliveries) => {
                *failures = 0;
                loop {
                    let next = tokio::select! {
                        () = stop.as_mut() => break Ended::Stopped,
                        next = deliveries.next() => next,
                    };
                    match next {
                        Some(Ok(delivery)) => {
                            if let Err(e) = self.handle(delivery).await {
                                break Ended::Broken(e);
                            }
                        }
                        Some(Err(e)) => {
                            break Ended::Broken(BrokerError::Amqp {
                                doing: "receiving deliveries".to_owned(),
                                source: e,
                            });
                        }
                        None => break Ended::Broken(BrokerError::Closed),
                    }
                }
            }
            Err(e) => Ended::Broken(e),
        };
        // Unacknowledged deliveries go back to their queues when the connection closes.
        let _ = connection.close(200, "consumer stopping".into()).await;
        ended
    }

    async fn subscribe(
        &self,
        connection: &lapin::Connection,
    ) -> Result<futures::stream::SelectAll<lapin::Consumer>, BrokerError> {
        let channel = connection
            .create_channel()
            .await
            .doing(|| "opening a channel".to_owned())?;
        channel
            .basic_qos(self.broker.prefetch, BasicQosOptions::default())
            .await
            .doing(|| "setting the prefetch".to_owned())?;
        let mut streams = Vec::with_capacity(self.subscriptions.len());
        for s in &self.subscriptions {
            let queue = self
                .broker
                .declare(&channel, s.producer, self.service, s.topic)
                .await?;
            let stream = channel
                .basic_consume(
                    queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .doing(|| format!("consuming from {queue}"))?;
            streams.push(stream);
        }
        Ok(futures::stream::select_all(streams))
    }

    /// Handles one delivery and settles it with the broker.
    async fn handle(&self, delivery: Delivery) -> Result<(), BrokerError> {
        let message = match carrier::message(&delivery) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, routing_key = %delivery.routing_key, "Dead-lettering a delivery no consumer can read");
                return delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .doing(|| "rejecting an unreadable delivery".to_owned())
                    .map(drop);
            }
        };
        let receipt = consume_from(messaging::SYSTEM_RABBITMQ, &self.inbound, &message).await;
        let id = &message.id;
        match receipt.outcome {
            // After the inbox committed: a lost ack brings a duplicate, never a lost effect.
            Outcome::Processed | Outcome::Duplicate => delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .doing(|| format!("acknowledging message {id}"))
                .map(drop),
            Outcome::Rejected => delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
                .doing(|| format!("dead-lettering message {id}"))
                .map(drop),
            Outcome::Failed => {
                // Back to the queue after a backoff, in the background: the message holds a
                // prefetch slot meanwhile, and the others go on.
                let wait = self
                    .broker
                    .settings
                    .backoff(message.attempt, rand::random::<f64>());
                tokio::spawn(requeue_after(delivery, wait));
                Ok(())
            }
        }
    }
}

async fn requeue_after(delivery: Delivery, wait: Duration) {
    tokio::time::sleep(wait).await;
    let requeue = BasicNackOptions {
        requeue: true,
        multiple: false,
    };
    // If the connection is gone the broker has requeued it already.
    if let Err(e) = delivery.acker.nack(requeue).await {
        tracing::debug!(error = %e, "Requeueing a failed delivery failed");
    }
}
