//! Real Prometheus and real Alertmanager against `tracemart up`, with the committed rules
//! and routing (in the test overlay's fast time, overlay.rs), and a webhook sink in place of
//! PagerDuty and Slack.
//!
//! The fault: the inventory service is stopped with SIGSTOP. `up` restarts a child that
//! exits, so killing it would show a restart, not an outage; a stopped process stays down
//! until SIGCONT, as a hung process does: it takes connections and answers nothing, so
//! Prometheus's scrapes time out (`up == 0`) and the order service's calls time out until its
//! breaker opens. The order service's downstream timeout is 1 s instead of 10 s so that the
//! failures come within the test's time.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::overlay::{ROUTING_KEY, write_alertmanager, write_prometheus};
use crate::promql::{Prom, metric_names};
use crate::shop::{SERVICES, Shop};
use crate::sink::{Received, Sink};
use crate::tools::{alertmanager, prometheus};

/// Pages that must reach PagerDuty, and tickets that must reach Slack, when inventory stops.
const PAGES: [&str; 2] = ["TracemartServiceDown", "TracemartOrderAvailabilityFastBurn"];
const TICKETS: [&str; 2] = [
    "TracemartCircuitBreakerOpen",
    "TracemartDownstreamCallsFailing",
];
const WAIT: Duration = Duration::from_secs(90);

/// A process this test started, killed when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(name: &'static str, cmd: &mut Command, log: std::path::PathBuf) -> Daemon {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_tail());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Orders at a steady pace until dropped: a third of them for user 7 and the rest spread over
/// segments, all well-formed (only the fault makes them fail).
struct Load {
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(order_url: String, product_url: String) -> Load {
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut n: i64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                let body = json!({
                    "user_id": 1 + n % 10,
                    "items": [{"product_id": 1 + n % 5, "quantity": 1}],
                    "shipping_address": {"city": "Seoul", "country": "KR"},
                });
                let (http, order_url, product_url) =
                    (http.clone(), order_url.clone(), product_url.clone());
                // Not awaited in turn: a request waiting on the fault must not slow the pace.
                tokio::spawn(async move {
                    let _ = http
                        .post(format!("{order_url}/orders"))
                        .json(&body)
                        .send()
                        .await;
                    let _ = http
                        .get(format!("{product_url}/products/{}", 1 + n % 5))
                        .send()
                        .await;
                });
            }
        });
        Load { task }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn alert_of(r: &Received) -> String {
    // Both receivers' titles start "[FIRING:n] <alertname> (<service>): ..." (the template).
    let title = match r.receiver.as_str() {
        "pagerduty" => r.body["payload"]["summary"].as_str(),
        _ => r.body["attachments"][0]["title"].as_str(),
    };
    title.unwrap_or_default().to_owned()
}

fn is_resolve(r: &Received) -> bool {
    match r.receiver.as_str() {
        "pagerduty" => r.body["event_action"] == "resolve",
        _ => alert_of(r).starts_with("[RESOLVED]"),
    }
}

/// The first notification from `receiver` about `alertname` (firing or resolved).
fn find<'a>(
    all: &'a [Received],
    receiver: &str,
    alertname: &str,
    resolved: bool,
) -> Option<&'a Received> {
    all.iter().find(|r| {
        r.receiver == receiver
            && is_resolve(r) == resolved
            && alert_of(r).contains(&format!("] {alertname} "))
    })
}

fn assert_pagerduty_shape(r: &Received) {
    let b = &r.body;
    assert_eq!(b["routing_key"], ROUTING_KEY, "{b}");
    assert!(
        matches!(b["event_action"].as_str(), Some("trigger" | "resolve")),
        "{b}"
    );
    assert!(
        b["dedup_key"].as_str().is_some_and(|k| !k.is_empty()),
        "dedup_key: {b}"
    );
    assert!(
        b["payload"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{b}"
    );
    assert!(
        matches!(
            b["payload"]["severity"].as_str(),
            Some("critical" | "error" | "warning" | "info")
        ),
        "payload.severity: {b}"
    );
    assert!(
        b["payload"]["source"].as_str().is_some(),
        "payload.source: {b}"
    );
}

/// Alertmanager's Slack notifier posts `attachments` (each with title and text); `blocks`
/// are not among what it sends.
fn assert_slack_shape(r: &Received) {
    let b = &r.body;
    assert_eq!(b["channel"], "#tracemart-alerts", "{b}");
    let a = &b["attachments"][0];
    assert!(a["title"].as_str().is_some_and(|t| !t.is_empty()), "{b}");
    let text = a["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Runbook: docs/runbook.md#"),
        "the text links the runbook: {b}"
    );
}

async fn ready(http: &reqwest::Client, url: &str) {
    tracemart_testkit::wait_ready(http, url, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_inventory_pages_and_tickets_the_right_people_and_recovery_resolves_it() {
    let prometheus_bin = prometheus();
    let alertmanager_bin = alertmanager();
    let http = reqwest::Client::new();
    let sink = Sink::start().await;
    let shop = Shop::up(&[("TRACEMART_DOWNSTREAM_TIMEOUT_MS", "1000")]).await;
    let dir = tempfile::tempdir().unwrap();

    let am_port = tracemart_testkit::free_port();
    let am_config = write_alertmanager(dir.path(), &sink.url);
    let _alertmanager = Daemon::start(
        "alertmanager",
        Command::new(&alertmanager_bin)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // One instance: no gossip port to collide with anything.
            .arg("--cluster.listen-address="),
        dir.path().join("alertmanager.log"),
    );
    let prom_dir = dir.path().join("prometheus");
    let targets: Vec<(&str, u16)> = SERVICES.iter().map(|s| (*s, shop.ports[s])).collect();
    write_prometheus(&prom_dir, &targets, am_port);
    let prom_port = tracemart_testkit::free_port();
    let _prometheus = Daemon::start(
        "prometheus",
        Command::new(&prometheus_bin)
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--enable-feature=exemplar-storage"),
        dir.path().join("prometheus.log"),
    );
    let prom = Prom {
        url: format!("http://127.0.0.1:{prom_port}"),
        http: http.clone(),
    };
    ready(&http, &format!("http://127.0.0.1:{am_port}/-/ready")).await;
    ready(&http, &format!("{}/-/ready", prom.url)).await;

    // A short load, until Prometheus has seen orders succeed on every target.
    let load = Load::start(shop.url("order"), shop.url("product"));
    tracemart_testkit::eventually(WAIT, "five targets up and orders succeeding", || {
        let prom = prom.clone();
        async move {
            let up = prom.query("sum(up{job=\"tracemart\"})").await;
            let ok = prom
                .query("sum(increase(http_requests_total{service=\"order\", endpoint=\"/orders\", status_code=\"201\"}[10s])) > 20")
                .await;
            let all_up = up.first().and_then(|s| s["value"][1].as_str()) == Some("5");
            (all_up && !ok.is_empty()).then_some(())
        }
    })
    .await;
    // The alerts the fault must raise are quiet before it (others, such as latency on a
    // loaded machine, are not this test's business).
    let before = prom.alerts().await;
    assert!(
        before.iter().all(|(name, _, state)| state != "firing"
            || !PAGES.iter().chain(&TICKETS).any(|a| a == name)),
        "alerts firing before the fault: {before:?}"
    );

    // The fault.
    let inventory = shop.pid_of("inventory");
    kill(Pid::from_raw(inventory), Signal::SIGSTOP).unwrap();
    let fault = Instant::now();
    let fired =
        tracemart_testkit::eventually(WAIT, "the pages and tickets of inventory's outage", || {
            let all = sink.all();
            let got: Option<BTreeMap<&str, Received>> = PAGES
                .iter()
                .map(|a| find(&all, "pagerduty", a, false).map(|r| (*a, r.clone())))
                .chain(
                    TICKETS
                        .iter()
                        .map(|a| find(&all, "slack", a, false).map(|r| (*a, r.clone()))),
                )
                .collect();
            async move { got }
        })
        .await;
    let mut report = Vec::new();
    for (alert, r) in &fired {
        report.push(format!(
            "{alert} ({}) after {:.1}s",
            r.receiver,
            (r.at - fault).as_secs_f64()
        ));
    }
    // Who got what: inventory is the one down; the order service's circuit and calls are to
    // inventory; nothing about any other service being down.
    let all = sink.all();
    let down = find(&all, "pagerduty", "TracemartServiceDown", false).unwrap();
    assert!(alert_of(down).contains("(inventory)"), "{}", alert_of(down));
    for t in TICKETS {
        let r = find(&all, "slack", t, false).unwrap();
        assert!(
            r.body.to_string().contains("inventory-service"),
            "{t}: {}",
            r.body
        );
    }
    for r in &all {
        let title = alert_of(r);
        if title.contains("TracemartServiceDown") {
            assert!(
                title.contains("(inventory)"),
                "another service reported down: {title}"
            );
        }
    }
    for r in &all {
        match r.receiver.as_str() {
            "pagerduty" => assert_pagerduty_shape(r),
            "slack" => assert_slack_shape(r),
            other => panic!("a notification to {other}"),
        }
    }
    // Pages reach Slack too; tickets never reach PagerDuty.
    for p in PAGES {
        tracemart_testkit::eventually(WAIT, "the page in Slack too", || {
            let found = find(&sink.all(), "slack", p, false).is_some();
            async move { found.then_some(()) }
        })
        .await;
    }
    for r in &sink.all() {
        if r.receiver == "pagerduty" {
            assert!(
                !TICKETS.iter().any(|t| alert_of(r).contains(t)),
                "a ticket paged: {}",
                alert_of(r)
            );
        }
    }
    let inhibited = assert_latency_alerts_inhibited(&http, am_port).await;
    report.push(format!(
        "latency alerts held back by the ServiceDown inhibition: {inhibited:?}"
    ));

    // Recovery.
    kill(Pid::from_raw(inventory), Signal::SIGCONT).unwrap();
    let recovered = Instant::now();
    let resolved = tracemart_testkit::eventually(WAIT, "every fired alert resolved", || {
        let all = sink.all();
        let got: Option<Vec<(String, Received)>> = fired
            .iter()
            .map(|(alert, r)| {
                find(&all, &r.receiver, alert, true).map(|res| (alert.to_string(), res.clone()))
            })
            .collect();
        async move { got }
    })
    .await;
    for (alert, r) in &resolved {
        report.push(format!(
            "{alert} resolved ({}) after {:.1}s",
            r.receiver,
            (r.at - recovered).as_secs_f64()
        ));
        if r.receiver == "pagerduty" {
            assert_eq!(
                r.body["dedup_key"],
                fired[alert.as_str()].body["dedup_key"],
                "the resolve closes the incident the trigger opened"
            );
        }
    }
    eprintln!("notifications:\n  {}", report.join("\n  "));

    check_dashboards_against(&prom, &shop).await;
    drop(load);
}

/// While inventory is down, the latency alerts of inventory itself and of the order service
/// (which waits on it) are held back by the ServiceDown inhibitions, in Alertmanager's own view
/// of its alerts; another service's latency is not inventory's doing and still goes out.
///
/// Whether the outage makes the latency SLO burn fast enough to alert depends on how the
/// breaker's trial calls fall, so two latency alerts are also posted to Alertmanager as
/// Prometheus would post them, lasting 20 s: one the inhibition must hold, one it must not.
/// Returns the latency alerts held back.
async fn assert_latency_alerts_inhibited(http: &reqwest::Client, am_port: u16) -> Vec<String> {
    let am = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    let now = chrono::Utc::now();
    let ends = now + chrono::Duration::seconds(20);
    let posted = |alertname: &str, service: &str, severity: &str| {
        json!({
            "labels": {"alertname": alertname, "service": service, "severity": severity,
                       "category": "latency", "source": "e2e"},
            "annotations": {"summary": "posted by the test", "description": "value 1",
                            "runbook_url": "docs/runbook.md#high-latency"},
            "startsAt": now.to_rfc3339(),
            "endsAt": ends.to_rfc3339(),
        })
    };
    let body = json!([
        posted("TracemartOrderLatencyFastBurn", "order", "page"),
        posted("TracemartHighLatency", "user", "ticket"),
    ]);
    let resp = http.post(&am).json(&body).send().await.unwrap();
    assert!(
        resp.status().is_success(),
        "posting alerts: {}",
        resp.status()
    );
    let alerts =
        tracemart_testkit::eventually(WAIT, "Alertmanager to hold the posted alerts", || {
            let (http, am) = (http.clone(), am.clone());
            async move {
                let (_, alerts) = tracemart_testkit::get_json(&http, &am).await;
                let posted = alerts
                    .as_array()?
                    .iter()
                    .filter(|a| {
                        a["labels"]["source"] == "e2e" && a["status"]["state"] != "unprocessed"
                    })
                    .count();
                (posted == 2).then_some(alerts)
            }
        })
        .await;
    let mut inhibited = Vec::new();
    for a in alerts.as_array().into_iter().flatten() {
        if a["labels"]["category"] != "latency" {
            continue;
        }
        let service = a["labels"]["service"].as_str().unwrap_or_default();
        let name = a["labels"]["alertname"].as_str().unwrap_or_default();
        let held = a["status"]["state"] == "suppressed"
            && a["status"]["inhibitedBy"]
                .as_array()
                .is_some_and(|i| !i.is_empty());
        if matches!(service, "order" | "inventory") {
            assert!(held, "not inhibited while inventory is down: {a}");
            inhibited.push(format!("{name} ({service})"));
        } else {
            assert!(
                !held,
                "{service}'s latency was inhibited by inventory's outage: {a}"
            );
        }
    }
    inhibited
}

/// Every panel's query returns data from the Prometheus that scraped the shop under load and
/// through the fault; every metric a panel or a rule reads is one Prometheus has, or one the
/// services declare that this run had no occasion to count; and the latency panels'
/// exemplars open traces in the console.
async fn check_dashboards_against(prom: &Prom, shop: &Shop) {
    let names_seen = prom.metric_names().await;
    use tracemart_telemetry::names::metric;
    // Counters that only appear once something happens (none dropped, none failed here).
    let declared: Vec<String> = [
        metric::HTTP_CONNECTIONS_DROPPED,
        metric::EVENTS_DELIVERY_FAILED,
        metric::EVENTS_DEAD_LETTERED,
    ]
    .iter()
    .map(|m| format!("{m}_total"))
    .collect();
    let mut exprs: Vec<(String, String)> = crate::grafana::panel_queries()
        .into_iter()
        .map(|q| (format!("{} / {}", q.dashboard, q.panel), q.expr))
        .collect();
    for file in ["recording.yml", "alerts.yml"] {
        let doc = crate::tools::yaml(&crate::tools::deploy("prometheus/rules").join(file));
        for g in doc["groups"].as_sequence().unwrap() {
            for r in g["rules"].as_sequence().unwrap() {
                let what = r["alert"]
                    .as_str()
                    .or(r["record"].as_str())
                    .unwrap_or_default();
                exprs.push((
                    what.to_owned(),
                    r["expr"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    for (what, expr) in &exprs {
        for name in metric_names(expr) {
            assert!(
                names_seen.contains(&name) || declared.contains(&name) || name == "ALERTS",
                "{what}: reads {name}, which no service exports"
            );
        }
    }
    let mut empty = Vec::new();
    for q in crate::grafana::panel_queries() {
        let expr = q
            .expr
            .replace("$__rate_interval", "20s")
            .replace("$service", ".*");
        if prom.query(&expr).await.is_empty() {
            empty.push(format!("{} / {}: {expr}", q.dashboard, q.panel));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n  {}",
        empty.join("\n  ")
    );

    let exemplar_queries: Vec<String> = crate::grafana::panel_queries()
        .into_iter()
        .filter(|q| q.exemplar && q.expr.contains("http_request_duration_seconds_bucket"))
        .map(|q| {
            q.expr
                .replace("$__rate_interval", "20s")
                .replace("$service", ".*")
        })
        .collect();
    assert!(!exemplar_queries.is_empty());
    for expr in exemplar_queries {
        let exemplars = prom.exemplars(&expr, 600).await;
        let trace_id = exemplars
            .iter()
            .find_map(|e| e["labels"]["trace_id"].as_str())
            .unwrap_or_else(|| panic!("no trace_id exemplar for {expr}: {exemplars:?}"))
            .to_owned();
        // What Grafana's Jaeger data source asks when an exemplar is clicked.
        let url = format!("{}/api/traces/{trace_id}", shop.console_url());
        let trace =
            tracemart_testkit::eventually(WAIT, "the exemplar's trace in the console", || {
                let url = url.clone();
                let http = prom.http.clone();
                async move {
                    let (status, body) = tracemart_testkit::get_json(&http, &url).await;
                    (status == 200
                        && body["data"][0]["spans"]
                            .as_array()
                            .is_some_and(|s| !s.is_empty()))
                    .then_some(body)
                }
            })
            .await;
        assert_eq!(trace["data"][0]["traceID"], trace_id.as_str());
    }
}
