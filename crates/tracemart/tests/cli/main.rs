//! The `tracemart` command line: help, exit codes, and clear errors before anything runs.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn tracemart(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("TRACEMART_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_command_has_help_that_names_its_flags() {
    let cases: [(&[&str], &[&str]); 9] = [
        (
            &["--help"],
            &[
                "up", "serve", "console", "load", "assess", "events", "orders",
            ],
        ),
        (
            &["events", "dlq", "--help"],
            &[
                "list",
                "show",
                "replay",
                "discard",
                "--service",
                "--data-dir",
            ],
        ),
        (&["orders", "rebuild", "--help"], &["--data-dir"]),
        (
            &["up", "--help"],
            &[
                "--data-dir",
                "--otlp-endpoint",
                "--no-console",
                "--demo-stock",
                "--postgres",
                "--broker",
                "--resilience",
            ],
        ),
        (
            &["serve", "--help"],
            &["order", "inventory", "--port", "--database-url", "--broker"],
        ),
        (
            &["console", "--help"],
            &["--ui-port", "--otlp-grpc-port", "--otlp-http-port"],
        ),
        (
            &["load", "--help"],
            &["--rate", "--connections", "--slo", "--user-url"],
        ),
        (
            &["experiment", "--help"],
            &[
                "propagation",
                "availability",
                "--short",
                "--duration",
                "--json",
                "--out",
            ],
        ),
        (
            &["assess", "--help"],
            &["--answers", "--format", "--fail-under"],
        ),
    ];
    for (args, wanted) in cases {
        let out = tracemart(args, &[]);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for w in wanted {
            assert!(text.contains(w), "{args:?} help lacks {w}:\n{text}");
        }
    }
}

#[test]
fn a_bad_configuration_value_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = tracemart(
        &["up", "--data-dir", &data],
        &[("TRACEMART_DEMO_STOCK", "lots".into())],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("TRACEMART_DEMO_STOCK"),
        "{}",
        stderr(&out)
    );

    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let out = tracemart(
        &["serve", "user", "--config", &config.display().to_string()],
        &[],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("no_such_key"), "{}", stderr(&out));

    let out = tracemart(&["up", "--data-dir", &data, "--demo-stock=-5"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn a_broker_url_that_is_not_amqp_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    for (args, env) in [
        (
            vec![
                "serve",
                "payment",
                "--data-dir",
                &data,
                "--broker",
                "amqps://guest:hunter2@mq/%2f",
            ],
            vec![],
        ),
        (
            vec!["up", "--data-dir", &data],
            vec![("TRACEMART_BROKER_URL", "http://guest:hunter2@mq".to_owned())],
        ),
    ] {
        let out = tracemart(&args, &env);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("broker_url"), "{err}");
        assert!(!err.contains("hunter2"), "the password is not shown: {err}");
    }
}

#[test]
fn a_database_url_a_service_cannot_use_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = tracemart(
        &[
            "serve",
            "user",
            "--data-dir",
            &data,
            "--database-url",
            "mysql://root:hunter2@localhost/shop",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("user.database_url") && err.contains("unsupported database scheme"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password is not shown: {err}");

    for bad in ["sqlite:shop.db", "mysql://root@localhost/shop"] {
        let out = tracemart(
            &["up", "--no-console", "--data-dir", &data, "--postgres", bad],
            &[],
        );
        assert_eq!(out.status.code(), Some(64), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--postgres"), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn serve_keeps_a_service_on_the_postgresql_database_its_flag_names() {
    let db = tracemart_testkit::pg::TestDatabase::create("product").await;
    let dir = tempfile::tempdir().unwrap();
    let port = tracemart_testkit::free_port();
    let mut service = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args([
            "serve",
            "product",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--database-url", db.url()])
        .env_remove("TRACEMART_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    tracemart_testkit::wait_ready(
        &http,
        &format!("{base}/health/ready"),
        Duration::from_secs(30),
    )
    .await;
    let (status, product) =
        tracemart_testkit::get_json(&http, &format!("{base}/products/42")).await;
    assert_eq!(
        (status, &product["id"]),
        (200, &serde_json::json!(42)),
        "{product}"
    );

    // The catalogue is in PostgreSQL, and no SQLite file was made for it.
    let stored: i64 = db.scalar("SELECT COUNT(*) FROM products").await;
    assert_eq!(stored, 100);
    assert!(!dir.path().join("product.db").exists());
    service.kill().await.unwrap();
}

#[test]
fn up_fails_at_once_when_a_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<(&str, String)> = vec![
        ("TRACEMART_ORDER_PORT", port.to_string()),
        (
            "TRACEMART_USER_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_PRODUCT_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_INVENTORY_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_PAYMENT_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
    ];
    let start = Instant::now();
    let out = tracemart(
        &[
            "up",
            "--no-console",
            "--data-dir",
            &dir.path().display().to_string(),
        ],
        &ports,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("order exited during start-up") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "not after the 30 s readiness timeout"
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_load_run_early_and_still_prints_its_report() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let router = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let load = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args(["load", &url, "--duration", "10m", "--connections", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tracemart_testkit::eventually(Duration::from_secs(20), "load requests", || async {
        (received.load(Ordering::SeqCst) > 50).then_some(())
    })
    .await;

    let pid = i32::try_from(load.id().unwrap()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGINT).unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), load.wait_with_output())
        .await
        .expect("load still running 20 s after Ctrl-C")
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("interrupted: ended early by Ctrl-C"),
        "{stdout}"
    );
    assert!(stdout.contains("latency"), "no report table in:\n{stdout}");
    assert!(stderr(&out).contains("stopping"), "{}", stderr(&out));
}

/// A data directory whose order database holds one dead letter, `dead-1`.
async fn data_dir_with_a_dead_letter() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = tracemart_platform::ShopConfig {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    drop(tracemart_order::dead_letters(&config).await.unwrap());
    let path = config.database_path(tracemart_platform::ServiceName::Order);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO event_dead_letters (id, destination, topic, message_key, payload, headers, \
         created_at, attempts, last_error, dead_at) VALUES ('dead-1', 'payment-service', \
         'order.created', 'o-1', '{\"order_id\":\"o-1\"}', '{}', '2026-12-01T10:00:00Z', 8, \
         'http://127.0.0.1:8084/events answered 500: boom', 1764583200000000)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    dir
}

#[tokio::test]
async fn dead_letters_are_listed_shown_replayed_and_discarded_from_the_command_line() {
    let dir = data_dir_with_a_dead_letter().await;
    let data = dir.path().display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["events", "dlq"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", &data]);
        tracemart(&all, &[])
    };

    let list = run(&["list"]);
    let table = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(
        table.contains("dead-1")
            && table.contains("order.created")
            && table.contains("answered 500"),
        "{table}"
    );
    let shown = run(&["show", "dead-1"]);
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(json[0]["service"], "order");
    assert_eq!(json[0]["payload"]["order_id"], "o-1");
    assert_eq!(run(&["show", "nobody"]).status.code(), Some(2));
    assert_eq!(
        run(&["replay"]).status.code(),
        Some(2),
        "an id or --all is required"
    );

    let replayed = run(&["replay", "dead-1", "--service", "order"]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let listed = run(&["list", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(after, serde_json::json!([]), "replayed: back in the outbox");
    let path = dir.path().join("order.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let due: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_outbox WHERE id = 'dead-1' AND published_at IS NULL AND failures = 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(due, 1);
    assert_eq!(
        run(&["discard", "dead-1"]).status.code(),
        Some(2),
        "nothing left to discard"
    );
}

/// Payment's consumer, refusing everything: each message goes to its dead-letter queue.
struct Refusing;

#[async_trait::async_trait]
impl tracemart_events::Consumer for Refusing {
    async fn handle(
        &self,
        _: &tracemart_events::Message,
    ) -> Result<tracemart_events::Handled, tracemart_events::ConsumeError> {
        Err(tracemart_events::ConsumeError::Reject("refused".to_owned()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_broker_the_dead_letters_in_its_queue_are_listed_replayed_and_discarded() {
    use tracemart_events::amqp::{dead_letter_queue, queue};
    use tracemart_events::{AmqpTransport, Broker, BrokerConsumer, RelaySettings, Subscription};

    let test_broker = tracemart_testkit::amqp::TestBroker::create("cli").await;
    let broker = Broker::new(test_broker.url(), &RelaySettings::default());
    let (order, payment) = ("order-service", "payment-service");
    let message = tracemart_events::Message {
        id: "dead-in-broker-1".to_owned(),
        topic: "order.created".to_owned(),
        key: Some("o-1".to_owned()),
        payload: serde_json::value::RawValue::from_string(r#"{"order_id":"o-1"}"#.to_owned())
            .unwrap(),
        headers: Default::default(),
        created_at: "2026-12-01T10:00:00Z".to_owned(),
        attempt: 1,
    };
    let transport = AmqpTransport::new(&broker, order, payment);
    tracemart_events::Transport::deliver(&transport, &[&message])
        .await
        .unwrap();
    let subscription = Subscription {
        producer: order,
        topic: "order.created",
    };
    let refusing = BrokerConsumer::new(
        &broker,
        payment,
        &[subscription],
        tracemart_events::Inbound::new(
            std::sync::Arc::new(Refusing),
            tracemart_telemetry::Metrics::new(payment),
            tracemart_platform::faults::Faults::default(),
        ),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consuming = tokio::spawn(refusing.run(async move {
        let _ = stopped.await;
    }));
    let dead = dead_letter_queue(payment);
    test_broker.until_messages(&dead, 1).await;
    let _ = stop.send(());
    consuming.await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let env = [("TRACEMART_BROKER_URL", test_broker.url().to_owned())];
    let run = |args: &[&str]| {
        let mut all = vec!["events", "dlq"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", &data]);
        tracemart(&all, &env)
    };
    let listed = run(&["list", "--json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(json[0]["id"], "dead-in-broker-1", "{json}");
    assert_eq!(json[0]["service"], "order");
    assert_eq!(json[0]["destination"], payment);
    assert_eq!(json[0]["last_error"], "rejected");
    assert_eq!(json[0]["payload"]["order_id"], "o-1");
    let shown = run(&["show", "dead-in-broker-1"]);
    assert!(shown.status.success(), "{}", stderr(&shown));

    let replayed = run(&["replay", "dead-in-broker-1"]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    test_broker
        .until_messages(&queue(payment, "order.created"), 1)
        .await;
    test_broker.until_messages(&dead, 0).await;
    assert_eq!(
        run(&["discard", "dead-in-broker-1"]).status.code(),
        Some(2),
        "back in its queue: nothing left to discard"
    );
}
