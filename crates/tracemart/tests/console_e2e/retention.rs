//! The console `up` starts keeps the retention the shop is configured with: with a maximum age
//! of a few seconds, an order's trace is shown, then deleted once it is older than that.

use std::time::Duration;

use tracemart_testkit::eventually;

use crate::helpers::Up;

#[tokio::test]
async fn up_gives_the_console_its_retention_settings() {
    let up = Up::start_with(&[
        ("TRACEMART_CONSOLE_RETENTION_MAX_AGE_SECS", "5"),
        ("TRACEMART_CONSOLE_RETENTION_INTERVAL_SECS", "1"),
    ]);
    let placed = up.order(7, 1, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let path = format!("/api/traces/{}", placed.trace_id);
    up.trace_with(&placed.trace_id, &["order-service"]).await;

    eventually(
        Duration::from_secs(30),
        "the console to delete a trace older than its maximum age",
        || async {
            let (status, _) = up.console_get(&path).await;
            (status == 404).then_some(())
        },
    )
    .await;
    // Deleted, not hidden: searches no longer find it either.
    let (_, found) = up
        .console_get("/api/console/traces?service=order-service&lookback=1h&limit=100")
        .await;
    let ids: Vec<&str> = found["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["trace_id"].as_str()).collect())
        .unwrap_or_default();
    assert!(!ids.contains(&placed.trace_id.as_str()), "{ids:?}");
}
