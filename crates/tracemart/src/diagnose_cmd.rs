//! `tracemart diagnose`: asks the console's `/api/diagnose` for the likely culprit of recent
//! failures and slowness and prints it, the ranked candidates and their evidence. Exit codes:
//! 0 a culprit named, 3 nothing stands out, 1 the console could not be asked.

use serde_json::Value;

use crate::cli::DiagnoseArgs;
use crate::console_client::Console;

/// Exit code when nothing stands out (as `traces` when nothing matched).
const NOTHING_FOUND: u8 = 3;
/// Exit code when the console could not be asked.
const NO_ANSWER: u8 = 1;

pub(crate) async fn run(args: DiagnoseArgs) -> u8 {
    let mut query = vec![("since", args.since.clone())];
    if let Some(b) = &args.baseline {
        query.push(("baseline", b.clone()));
    }
    let console = match Console::from_flags(&args.console) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let answer = match console.get("/api/diagnose", &query).await {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    if args.json {
        println!("{answer}");
    } else {
        print!("{}", render(&answer, console.base()));
    }
    if answer["found"].as_bool() == Some(true) {
        0
    } else {
        NOTHING_FOUND
    }
}

fn fail(e: &str) -> u8 {
    eprintln!("error: {e}");
    NO_ANSWER
}

/// The answer for a terminal: the culprit, then every candidate with its evidence.
fn render(answer: &Value, console: &str) -> String {
    let mut out = String::new();
    let traces = &answer["traces"];
    out.push_str(&format!(
        "{} traces in the window ({} failing), {} in the baseline ({} failing).\n",
        traces["window"], traces["window_failing"], traces["baseline"], traces["baseline_failing"]
    ));
    let candidates = answer["candidates"].as_array().cloned().unwrap_or_default();
    let Some(culprit) = candidates.first() else {
        out.push_str("Nothing stands out: no new failures, and nothing slower than before.\n");
        return out;
    };
    out.push_str(&format!(
        "Likely culprit: {} {} ({})\n",
        text(&culprit["service"]),
        text(&culprit["operation"]),
        text(&culprit["signal"])
    ));
    for c in &candidates {
        out.push_str(&format!("\n{}. {}\n", c["rank"], text(&c["summary"])));
        for id in c["example_traces"].as_array().into_iter().flatten() {
            out.push_str(&format!("   {console}/trace/{}\n", text(id)));
        }
    }
    out
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_culprit_and_links_to_its_traces() {
        let answer = serde_json::json!({
            "found": true,
            "traces": {"window": 40, "window_failing": 12, "baseline": 41, "baseline_failing": 0},
            "candidates": [{"rank": 1, "service": "inventory-service",
                "operation": "POST /inventory/reserve", "signal": "errors",
                "summary": "inventory-service POST /inventory/reserve: failures start here",
                "example_traces": ["ab12"]}],
        });
        let text = render(&answer, "http://127.0.0.1:16686");
        assert!(
            text.contains("Likely culprit: inventory-service POST /inventory/reserve (errors)")
        );
        assert!(text.contains("http://127.0.0.1:16686/trace/ab12"));
        let none = serde_json::json!({"found": false, "traces": {}, "candidates": []});
        assert!(render(&none, "x").contains("Nothing stands out"));
    }
}
