//! The short experiments through the real binary: each starts two fresh shops of its own
//! (resilience off, then on) under the same load and faults, and resilience on must beat off
//! by the margins below. The margins come from measured runs (docs/experiments.md) with room
//! for a loaded two-core machine: they hold the difference the patterns make, not its size.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

/// Runs `tracemart experiment NAME --short --json` and returns its report, after checking
/// that the JSON and the chart were written to the output directory too.
fn experiment(name: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args(["experiment", name, "--short", "--json", "--out"])
        .arg(out.path())
        .env_remove("TRACEMART_RESILIENCE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name}: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not JSON ({e}): {stderr}"));
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join(format!("{name}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(written["runs"], report["runs"], "the file holds the report");
    let svg = std::fs::read_to_string(out.path().join(format!("{name}.svg"))).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("resilience off") && svg.contains("resilience on")
    );
    assert!(
        report["machine"]["cores"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["settings"][0]["resilience"], "off");
    assert_eq!(report["settings"][0]["timeout_ms"], 10_000);
    assert_eq!(report["settings"][0]["bulkhead"], Value::Null);
    assert_eq!(report["settings"][1]["resilience"], "on");
    eprintln!(
        "{name}: {}",
        serde_json::to_string(&report["runs"]).unwrap()
    );
    report
}

/// The entry of `list` whose `key` is `value`.
fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {list}"))
}

/// The run with resilience `mode`.
fn run<'a>(report: &'a Value, mode: &str) -> &'a Value {
    find(&report["runs"], "resilience", mode)
}

fn phase<'a>(run: &'a Value, name: &str) -> &'a Value {
    find(&run["phases"], "name", name)
}

fn pct(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn propagation_resilience_on_keeps_more_orders_working_while_inventory_fails() {
    let report = experiment("propagation");
    let (off, on) = (run(&report, "off"), run(&report, "on"));
    for r in [off, on] {
        assert!(
            phase(r, "flaky")["orders"]["requests"].as_u64().unwrap() >= 40,
            "{r}"
        );
        // Without faults the shop works either way.
        assert!(
            pct(&phase(r, "baseline")["orders"]["success_pct"]) >= 95.0,
            "{r}"
        );
    }
    // Inventory answers 503 to 30 % of its requests: off loses about 30 % of the orders; on
    // retries (three tries: 2.7 % fail) but its breaker also opens now and then on five
    // failures in a row and refuses orders a retry would have saved, so on's share varies
    // from run to run (measured over the ~85 orders of a short phase: 31.8 % against 3.5 %,
    // 25.9 % against 20.0 %; over the full 20 s phase 26.2 % against 9.4 %). Asserted: on at
    // least 3 points below off, which every run so far has met.
    let flaky_off = pct(&phase(off, "flaky")["orders"]["bad_pct"]);
    let flaky_on = pct(&phase(on, "flaky")["orders"]["bad_pct"]);
    assert!(
        flaky_on <= flaky_off - 3.0,
        "orders bad while inventory is flaky: off {flaky_off} %, on {flaky_on} %"
    );
    // Reads never touch inventory: with resilience on they stay served in every phase
    // (measured 0-4.4 %; the room is for a loaded machine's pauses, the objective is 300 ms).
    for name in ["baseline", "slow", "flaky", "down", "recovered"] {
        let reads = pct(&phase(on, name)["reads"]["bad_pct"]);
        assert!(
            reads <= 10.0,
            "reads bad with resilience on in {name}: {reads} %"
        );
    }
}

#[test]
fn availability_resilience_on_succeeds_more_orders_and_every_saga_settles() {
    let report = experiment("availability");
    let (off, on) = (run(&report, "off"), run(&report, "on"));
    let ok_off = pct(&off["overall"]["orders"]["success_pct"]);
    let ok_on = pct(&on["overall"]["orders"]["success_pct"]);
    // Three calls per order, each failing 5.5 % of the time: off keeps about 84 % of orders,
    // on's retries about 98 % (hangs are not retried). Measured, short mode: 84.8 % against
    // 97.7 %, over ~700 orders each (a standard deviation of about 1.4 points for off).
    // Asserted: on at least 5 points above off.
    assert!(
        ok_on >= ok_off + 5.0,
        "orders succeeded: off {ok_off} %, on {ok_on} %"
    );
    for r in [off, on] {
        let books = &r["books"];
        assert!(books["orders"].as_u64().unwrap() > 100, "{books}");
        assert_eq!(books["pending"], 0, "every saga settled: {books}");
        assert_eq!(books["units_off"], 0, "no unit lost or sold twice: {books}");
        assert_eq!(books["units_held"], 0, "nothing held: {books}");
    }
}
