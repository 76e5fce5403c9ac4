//! `tracemart top`: requests, errors and latency per service over the last window, from the
//! console, refreshed in place like `top`.

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::Value;

use crate::cli::TopArgs;
use crate::console_client::{Console, clock};

pub(crate) async fn run(args: TopArgs) -> u8 {
    let console = match Console::from_flags(&args.console) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let window = format!("{}ms", args.window.as_millis());
    // Redrawn in place only on a terminal; piped, each refresh is appended.
    let redraw = !args.once && !args.json && std::io::stdout().is_terminal();
    loop {
        let services = match console
            .get("/api/console/services", &[("lookback", window.clone())])
            .await
        {
            Ok(b) => b["data"].as_array().cloned().unwrap_or_default(),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        if args.json {
            println!("{}", Value::Array(services));
        } else {
            if redraw {
                // Cursor home, clear the screen.
                print!("\x1b[H\x1b[2J");
            }
            print!("{}", table(&services, &args.window));
        }
        if args.once || args.json {
            return 0;
        }
        tokio::select! {
            () = tokio::time::sleep(args.interval) => {}
            _ = tokio::signal::ctrl_c() => return 0,
        }
    }
}

fn table(services: &[Value], window: &Duration) -> String {
    let now = chrono::Utc::now().timestamp_micros();
    let mut out = format!(
        "tracemart top · {} UTC · requests entering each service over the last {}\n\n",
        clock(now),
        humane(window)
    );
    out.push_str(&format!(
        "{:<20} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9}\n",
        "SERVICE", "REQ/S", "COUNT", "ERR %", "P50 ms", "P95 ms", "P99 ms"
    ));
    let mut rows: Vec<&Value> = services.iter().collect();
    // Busiest first, as top sorts by CPU.
    rows.sort_by(|a, b| {
        let rate = |v: &Value| v["stats"]["rate_per_s"].as_f64().unwrap_or_default();
        rate(b).total_cmp(&rate(a))
    });
    for s in rows {
        let st = &s["stats"];
        let f = |k: &str| st[k].as_f64().unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:>9.1} {:>8} {:>8.2} {:>9.2} {:>9.2} {:>9.2}\n",
            s["service"].as_str().unwrap_or("?"),
            f("rate_per_s"),
            st["count"].as_u64().unwrap_or_default(),
            f("error_ratio") * 100.0,
            f("p50_ms"),
            f("p95_ms"),
            f("p99_ms"),
        ));
    }
    if services.is_empty() {
        out.push_str("(no service has sent a span in this window)\n");
    }
    out
}

fn humane(d: &Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{:.0} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn the_busiest_service_comes_first_with_its_error_share_in_percent() {
        let services = [
            json!({"service": "user-service", "stats": {"count": 30, "errors": 0, "rate_per_s": 0.5,
                   "error_ratio": 0.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}}),
            json!({"service": "order-service", "stats": {"count": 120, "errors": 3, "rate_per_s": 2.0,
                   "error_ratio": 0.025, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.5}}),
        ];
        let text = table(&services, &Duration::from_secs(60));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("over the last 1 min"), "{text}");
        let order: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            order,
            [
                "order-service",
                "2.0",
                "120",
                "2.50",
                "10.00",
                "20.00",
                "30.50"
            ]
        );
        assert!(lines[4].starts_with("user-service"), "{text}");
    }
}
