//! `tracemart events dlq`: the dead letters of the services that publish events, read and
//! changed in their databases directly, SQLite files or PostgreSQL databases (the relay picks
//! replayed events up at its next poll).

use tracemart_events::{DeadLetter, DeadLetters, Selection};
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

/// The dead letters of each selected service whose database exists.
async fn stores(
    config: &ShopConfig,
    only: Option<PublisherArg>,
) -> Result<Vec<(ServiceName, DeadLetters)>, DbError> {
    let wanted = match only {
        Some(PublisherArg::Order) => vec![ServiceName::Order],
        Some(PublisherArg::Payment) => vec![ServiceName::Payment],
        None => vec![ServiceName::Order, ServiceName::Payment],
    };
    let mut found = Vec::new();
    for s in wanted {
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

async fn dlq_run(config: &ShopConfig, args: &DlqArgs) -> Result<u8, DbError> {
    let stores = stores(config, args.service).await?;
    match &args.action {
        DlqAction::List { limit, json } => {
            let mut all = Vec::new();
            for (s, letters) in &stores {
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
            if done == 0 && id.is_some() {
                eprintln!(
                    "error: no dead letter with id {}",
                    id.as_deref().unwrap_or_default()
                );
                return Ok(NOT_FOUND);
            }
            if replay && done > 0 {
                println!(
                    "{done} dead letter(s) back in the outbox: a running service delivers them within {} ms.",
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
