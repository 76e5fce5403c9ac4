//! Messaging for tracemart services, written once and used by every producer and consumer:
//! a transactional outbox (a message is committed with the change it announces), a relay that
//! delivers it at least once (woken by commits, retrying with jittered backoff, keeping each
//! key's order), transports (HTTP to another service's `POST /events`, RabbitMQ, or in
//! process), consumers whose inbox makes a redelivery harmless, and dead letters for what
//! keeps failing.
//! Every message carries its producer's trace context; its consumer's span links to it.

pub mod amqp;
mod clock;
mod consumer;
mod dead_letters;
pub mod inbox;
mod message;
mod outbox;
mod relay;
mod settings;
mod transport;

use std::sync::LazyLock;

use sqlx::migrate::Migrator;
use tracemart_platform::Migrations;

pub use amqp::{AmqpTransport, Broker, BrokerConsumer, Subscription};
pub use consumer::{ConsumeError, Consumer, Handled, Inbound, consume, router};
pub use dead_letters::{DeadLetter, DeadLetters, Selection};
pub use message::{Batch, BatchReply, Message, Outcome, Receipt};
pub use outbox::{Outbox, Routes};
pub use relay::{MissingTransport, Relay, Round};
pub use settings::RelaySettings;
pub use transport::{HttpTransport, LocalTransport, Transport, TransportError};

/// Most payload bytes a relay puts in one delivery request.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// The messaging tables (`event_outbox`, `event_schedule`, `event_inbox`,
/// `event_dead_letters`) on SQLite, migrated in every service database that uses them. Their
/// versions are kept apart from the service's own migrations.
pub static SQLITE_MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| apart(sqlx::migrate!("./migrations/sqlite")));

/// The same tables on PostgreSQL.
pub static POSTGRES_MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| apart(sqlx::migrate!("./migrations/postgres")));

/// A service's migrations on each engine with the messaging tables first (SQLite's order
/// migrations move the first outbox's rows into them), kept in a `static` by the service so
/// [`Migrations`] can borrow it for as long as the program runs.
pub struct WithMessaging {
    sqlite: [&'static Migrator; 2],
    postgres: [&'static Migrator; 2],
}

impl WithMessaging {
    /// The messaging tables' migrations, then the service's own.
    pub fn new(sqlite: &'static Migrator, postgres: &'static Migrator) -> Self {
        Self {
            sqlite: [&SQLITE_MIGRATOR, sqlite],
            postgres: [&POSTGRES_MIGRATOR, postgres],
        }
    }

    pub fn migrations(&'static self) -> Migrations<'static> {
        Migrations {
            sqlite: &self.sqlite,
            postgres: &self.postgres,
        }
    }
}

fn apart(mut migrator: Migrator) -> Migrator {
    migrator.dangerous_set_table_name("_tracemart_events_migrations");
    migrator
}
