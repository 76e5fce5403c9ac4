//! The console's figures and looks in headless Chromium (`tests/browser/figures.mjs`): axes
//! and units on every chart, map labels that do not overlap, failed spans marked whatever
//! their service's colour, rows that look clickable, a layout that fits 1024 px, and the
//! Logs page with its filters and live tail. Its 1280x800 screenshots are the README's
//! (`docs/screenshots/`).

use crate::browser::{
    assert_screenshot, require_browser_tools, run_browser_script, screenshots_dir,
    send_failed_request,
};
use crate::helpers::{ORDER_PATH_SERVICES, Up, repo_root};

#[tokio::test]
async fn the_console_draws_honest_figures_and_its_logs_page_filters_and_tails() {
    let browser_dir = repo_root().join("tests/browser");
    require_browser_tools(&browser_dir);
    // Scrapes every second, so that a metric is charted soon.
    let up = Up::start_with(&[("TRACEMART_CONSOLE_METRICS_SCRAPE_INTERVAL_SECS", "1")]);
    // A placed order and a refused one: spans that failed inside a request that did not.
    let placed = up.order(7, 5, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let failed = up.order(7, 5, 6).await;
    assert_eq!(failed.status, 409, "{}", failed.body);
    up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;
    up.trace_with(&failed.trace_id, &ORDER_PATH_SERVICES).await;
    // A request the payment service failed: the figures must count it alike on every page.
    let failed_request = send_failed_request(&up).await;
    up.trace_with(&failed_request, &["payment-service"]).await;
    let out = screenshots_dir().join("figures");
    let _ = std::fs::remove_dir_all(&out);

    let args = [
        up.console_url(),
        up.order_url(),
        out.display().to_string(),
        failed.trace_id.clone(),
        failed_request,
    ];
    run_browser_script(&browser_dir.join("figures.mjs"), &args, &out).await;
    for page in [
        "search",
        "trace",
        "services",
        "map",
        "diagnose",
        "logs",
        "metrics",
        "processes",
    ] {
        assert_screenshot(&out, page);
    }
}
