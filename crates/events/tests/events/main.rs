//! The messaging pieces against real databases, on each engine a service runs on (SQLite
//! files in a temporary directory, fresh PostgreSQL databases): the inbox, the relay with its
//! dead letters, relays of several instances sharing one PostgreSQL outbox, and the relay and
//! a consumer talking through RabbitMQ.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod broker;
mod dead_letters;
mod helpers;
mod inbox;
mod relays;
mod scheduled;
