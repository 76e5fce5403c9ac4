//! `tracemart logs`: every service's log records from the console, filtered, oldest first as a
//! terminal reads them, and with `--follow` those stored since, as they come.

use std::time::Duration;

use serde_json::Value;

use crate::cli::LogsArgs;
use crate::console_client::{Console, clock, parameters};

/// How often `--follow` asks for what was stored since (the services export every second).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// Exit code when nothing matched (without --follow).
const NOTHING_FOUND: u8 = 3;

pub(crate) async fn run(args: LogsArgs) -> u8 {
    let console = match Console::from_flags(&args.console) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let query = parameters(
        &[
            ("lookback", args.lookback.clone()),
            ("limit", args.limit.to_string()),
        ],
        &[
            ("service", &args.service),
            ("level", &args.level),
            ("q", &args.grep),
            ("attr", &args.attr),
            ("traceID", &args.trace),
        ],
    );
    let (mut logs, mut cursor) = match page(&console, &query, None).await {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if !args.follow {
        if args.json {
            println!("{}", Value::Array(logs.iter().rev().cloned().collect()));
        } else if logs.is_empty() {
            println!("no log record matches");
        } else {
            print_lines(&logs, false);
        }
        return if logs.is_empty() { NOTHING_FOUND } else { 0 };
    }
    loop {
        print_lines(&logs, args.json);
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = tokio::signal::ctrl_c() => return 0,
        }
        (logs, cursor) = match page(&console, &query, Some(cursor)).await {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
    }
}

/// One answer: the records (newest first, as the console gives them) and the next cursor.
async fn page(
    console: &Console,
    query: &[(&str, String)],
    after: Option<i64>,
) -> Result<(Vec<Value>, i64), String> {
    let mut query = query.to_vec();
    if let Some(after) = after {
        query.push(("after", after.to_string()));
    }
    let body = console.get("/api/console/logs", &query).await?;
    let logs = body["data"].as_array().cloned().unwrap_or_default();
    Ok((logs, body["cursor"].as_i64().unwrap_or_default()))
}

/// Prints `logs` (newest first) oldest first: one JSON object per line, or one text line each.
fn print_lines(logs: &[Value], json: bool) {
    for log in logs.iter().rev() {
        if json {
            println!("{log}");
        } else {
            println!("{}", line(log));
        }
    }
}

/// `time level service  body  key=value…  trace=…`
fn line(log: &Value) -> String {
    let mut text = format!(
        "{} {:<5} {:<18} {}",
        clock(log["time"].as_i64().unwrap_or_default()),
        log["severity"].as_str().unwrap_or("?"),
        log["service"].as_str().unwrap_or("?"),
        log["body"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| log["body"].to_string()),
    );
    if let Some(attrs) = log["attributes"].as_object() {
        for (k, v) in attrs {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            text.push_str(&format!("  {k}={v}"));
        }
    }
    if let Some(trace) = log["trace_id"].as_str().filter(|t| !t.is_empty()) {
        text.push_str(&format!("  trace={trace}"));
    }
    text
}

fn fail(e: &str) -> u8 {
    eprintln!("error: {e}");
    1
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_record_is_one_line_with_its_attributes_and_trace() {
        let log = json!({"time": 1_764_806_400_123_456_i64, "severity": "WARN",
                         "service": "order-service", "body": "Payment declined",
                         "attributes": {"order.id": "o-1", "attempt": 2},
                         "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"});
        assert_eq!(
            line(&log),
            "00:00:00.123 WARN  order-service      Payment declined  attempt=2  order.id=o-1  \
             trace=4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
