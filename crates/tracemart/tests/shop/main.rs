//! The shop's behaviour through its HTTP API: real services on loopback, real SQLite, and real
//! PostgreSQL for the tests that run on each engine (`helpers::on_each_engine!`).
#![allow(clippy::unwrap_used, unreachable_pub)]

mod circuit;
mod concurrency;
mod contract;
mod downstream;
mod helpers;
mod idempotency;
mod input_rules;
mod inventory;
mod orders;
mod personal_data;
mod products;
mod restart;
mod saga;
mod saga_broker;
mod saga_delivery;
mod saga_ledger;
mod users;
mod validation;
