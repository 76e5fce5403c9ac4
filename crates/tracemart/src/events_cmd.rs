//! `tracemart events dlq`: the dead letters of the services that publish events, read and
//! changed in their databases directly, SQLite files or PostgreSQL databases (the relay picks
//! replayed events up at its next poll), and, with a broker, in the dead-letter queue of the
//! service that consumes them (a replayed event goes back to its queue at once).

use tracemart_events::amqp::BrokerDeadLetters;
use tracemart_events::{Broker, DeadLetter, DeadLetters, Selection};
use tracemart_platform::{DatabaseUrl, DbError, ServiceName, ShopConfig};

use crate::cli::{DlqAction, DlqArgs, EventsArgs, EventsCommand, PublisherArg};
use crate::settings;

/// Exit code when the named dead letter does not exist.
const NOT_FOUND: u8 = 2;

pub(crate) async fn run(args: EventsArgs) -> u8 {
    let EventsCommand::Dlq(dlq) = args.command;
    let config = match settings::resolve(&dlq.data.shop()) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    match dlq_run(&config, &dlq).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn publishers(only: Option<PublisherArg>) -> Vec<ServiceName> {
    match only {
        Some(PublisherArg::Order) => vec![ServiceName::Order],
        Some(PublisherArg::Payment) => vec![ServiceName::Payment],
        None => vec![ServiceName::Order, ServiceName::Payment],
    }
}

/// With a broker, the dead letters of each selected publisher's events: in the dead-letter
/// queue of the service that consumes them.
fn queues(
    config: &ShopConfig,
    only: Option<PublisherArg>,
) -> Vec<(ServiceName, BrokerDeadLetters)> {
    let Some(broker) = Broker::from_config(config) else {
        return Vec::new();
    };
    publishers(only)
        .into_iter()
        .map(|s| {
            let consumer = match s {
                ServiceName::Order => ServiceName::Payment,
                _ => ServiceName::Order,
            };
            (s, BrokerDeadLetters::new(&broker, consumer.service_name()))
        })
        .collect()
}

/// The dead letters of each selected service whose database exists.
async fn stores(
    config: &ShopConfig,
    only: Option<PublisherArg>,
) -> Result<Vec<(ServiceName, DeadLetters)>, DbError> {
    let mut found = Vec::new();
    for s in publishers(only) {
        let url = config
            .database_url(s)
            .map_err(|e| DbError::setting(s.as_str(), e))?;
        // A SQLite file that is not there is not created for the command; a PostgreSQL
        // database is opened (and must exist).
        if let DatabaseUrl::Sqlite(path) = &url
            && !path.exists()
        {
            eprintln!(
                "note: no {s} database at {} (has the shop run with this data directory?)",
                path.display()
            );
            continue;
        }
        let letters = match s {
            ServiceName::Order => tracemart_order::dead_letters(config).await?,
            _ => tracemart_payment::dead_letters(config).await?,
        };
        found.push((s, letters));
    }
    Ok(found)
}

async fn dlq_run(config: &ShopConfig, args: &DlqArgs) -> anyhow::Result<u8> {
    let stores = stores(config, args.service).await?;
    let queues = queues(config, args.service);
    match &args.action {
        DlqAction::List { limit, json } => {
            let mut all = Vec::new();
            for (s, letters) in &stores {
                all.extend(letters.list(*limit).await?.into_iter().map(|l| (*s, l)));
            }
            for (s, letters) in &queues {
                all.extend(letters.list(*limit).await?.into_iter().map(|l| (*s, l)));
            }
            if *json {
                println!("{}", to_json(&all));
            } else {
                print_table(&all);
            }
            Ok(0)
        }
        DlqAction::Show { id } => {
            let mut all = Vec::new();
            for (s, letters) in &stores {
                all.extend(letters.find(id).await?.into_iter().map(|l| (*s, l)));
            }
            for (s, letters) in &queues {
                let found = letters.list(usize::MAX).await?;
                all.extend(found.into_iter().filter(|l| l.id == *id).map(|l| (*s, l)));
            }
            if all.is_empty() {
                eprintln!("error: no dead letter with id {id}");
                return Ok(NOT_FOUND);
            }
            println!("{}", to_json(&all));
            Ok(0)
        }
        DlqAction::Replay { id, .. } | DlqAction::Discard { id, .. } => {
            let replay = matches!(args.action, DlqAction::Replay { .. });
            let which = id.as_deref().map_or(Selection::All, Selection::Id);
            let mut done = 0;
            for (s, letters) in &stores {
                let n = if replay {
                    letters.replay(which).await?
                } else {
                    letters.discard(which).await?
                };
                if n > 0 {
                    println!("{s}: {} {n}", if replay { "replayed" } else { "discarded" });
                }
                done += n;
            }
            for (s, letters) in &queues {
                let n = if replay {
                    letters.replay(which).await?
                } else {
                    letters.discard(which).await?
                };
                if n > 0 {
                    let what = if replay {
                        "replayed to its queue"
                    } else {
                        "discarded from the broker"
                    };
                    println!("{s}: {what} {n}");
                }
                done += n;
            }
            if done == 0 && id.is_some() {
                eprintln!(
                    "error: no dead letter with id {}",
                    id.as_deref().unwrap_or_default()
                );
                return Ok(NOT_FOUND);
            }
            if replay && done > 0 {
                println!(
                    "{done} dead letter(s) replayed: from a database back in the outbox (a running service delivers them within {} ms), from the broker back in their queues.",
                    config.event_poll_ms
                );
            } else if done == 0 {
                println!("No dead letters.");
            }
            Ok(0)
        }
    }
}

fn to_json(letters: &[(ServiceName, DeadLetter)]) -> String {
    let values: Vec<serde_json::Value> = letters
        .iter()
        .map(|(s, l)| {
            let mut v = serde_json::to_value(l).unwrap_or_default();
            v["service"] = serde_json::Value::from(s.as_str());
            v
        })
        .collect();
    serde_json::to_string_pretty(&values).unwrap_or_default()
}

fn print_table(letters: &[(ServiceName, DeadLetter)]) {
    if letters.is_empty() {
        println!("No dead letters.");
        return;
    }
    println!(
        "{:<8} {:<36} {:<26} {:<16} {:>8}  {:<27} LAST ERROR",
        "SERVICE", "MESSAGE ID", "TOPIC", "DESTINATION", "ATTEMPTS", "DEAD AT"
    );
    for (s, l) in letters {
        let error: String = l.last_error.chars().take(80).collect();
        println!(
            "{:<8} {:<36} {:<26} {:<16} {:>8}  {:<27} {error}",
            s.as_str(),
            l.id,
            l.topic,
            l.destination,
            l.attempts,
            l.dead_at
        );
    }
    println!("{} dead letter(s).", letters.len());
}
