//! RabbitMQ in place of `POST /events`, when a broker is configured: a relay publishes each
//! message to its producer's topic exchange (routing key = topic) and counts it published
//! once the broker confirms it; each consumer reads a durable quorum queue per topic it
//! subscribes to and acknowledges a message after the inbox transaction that handled it
//! committed. A message the consumer rejects, or that keeps failing, is dead-lettered by the
//! broker into the consumer's dead-letter queue, where `tracemart events dlq` finds it.
//!
//! Delivery stays at least once with no second effect: a publish whose confirm was lost is
//! published again (the relay retries it), and a delivery whose ack was lost comes again;
//! the consumer's inbox turns both into duplicates.

mod carrier;
mod consume;
mod dead_letters;
mod publish;
mod topology;

pub use consume::BrokerConsumer;
pub use dead_letters::BrokerDeadLetters;
pub use publish::AmqpTransport;
pub use topology::{
    Broker, BrokerError, DEAD_LETTER_EXCHANGE, Subscription, dead_letter_queue, exchange, queue,
};
