//! `tracemart up` itself: the banner with every URL, time to ready, a clean stop on SIGTERM,
//! and no orphans whether it is stopped or killed.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helpers::Up;
use tracemart_testkit::eventually;

use tracemart_testkit::processes::{assert_all_gone, cmdline, processes_mentioning};

/// Everything `up` starts: the console and the five services.
const CHILDREN: usize = 6;

#[tokio::test]
async fn up_prints_every_url_and_becomes_ready() {
    let up = Up::start();

    let banner = up.banner.join("\n");
    println!("{banner}");
    println!("time to ready: {} ms", up.time_to_ready.as_millis());
    let p = &up.ports;
    for (name, port) in [
        ("order", p.order),
        ("user", p.user),
        ("product", p.product),
        ("inventory", p.inventory),
        ("payment", p.payment),
        ("console", p.ui),
    ] {
        let url = format!("http://127.0.0.1:{port}");
        assert!(
            banner
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name) && l.contains(&url)),
            "no line for {name} with {url} in:\n{banner}"
        );
    }
    assert!(
        banner.contains(&format!("grpc 127.0.0.1:{}", p.otlp_grpc)),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("http 127.0.0.1:{}", p.otlp_http)),
        "{banner}"
    );
    assert!(banner.contains("/logs"), "no logs directory in:\n{banner}");

    // Ready means ready: every service and the console answer at once.
    for port in [p.order, p.user, p.product, p.inventory, p.payment] {
        let url = format!("http://127.0.0.1:{port}/health/ready");
        let status = up.http.get(&url).send().await.unwrap().status();
        assert!(status.is_success(), "{url}: {status}");
    }
    let (status, _) = up.console_get("/health").await;
    assert_eq!(status, 200);
    // Each child logs to DATA_DIR/logs/<name>.log.
    let logs = up.data_dir.path().join("data/logs");
    for name in [
        "console",
        "order",
        "user",
        "product",
        "inventory",
        "payment",
    ] {
        let file = logs.join(format!("{name}.log"));
        assert!(file.exists(), "{} is missing", file.display());
    }
}

#[tokio::test]
async fn up_stops_cleanly_on_sigterm_and_leaves_no_orphans() {
    let mut up = Up::start();
    let pids = up.wait_for_children(CHILDREN).await;
    let names: Vec<String> = pids.iter().map(|p| cmdline(*p)).collect();
    for what in [
        "console",
        "serve order",
        "serve user",
        "serve product",
        "serve inventory",
        "serve payment",
    ] {
        assert!(
            names.iter().any(|n| n.contains(what)),
            "no child `{what}` in {names:?}"
        );
    }

    up.signal(Signal::SIGTERM);
    let status = up.wait_exit(Duration::from_secs(45)).await;

    let status = status.unwrap_or_else(|| panic!("up still running 45 s after SIGTERM"));
    assert_eq!(
        status.code(),
        Some(0),
        "up exited with {status}; {}",
        up.output()
    );
    assert_all_gone(
        &pids,
        Duration::from_secs(5),
        "up's children to be gone after it exited",
    )
    .await;
}

#[tokio::test]
async fn ctrl_c_in_the_terminal_stops_up_and_its_children_cleanly_without_restarts() {
    let mut up = Up::start();
    let pids = up.wait_for_children(CHILDREN).await;
    // The children are out of the terminal's reach: only `up` gets its Ctrl-C.
    let group = |pid: i32| nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).unwrap();
    for pid in &pids {
        assert_ne!(
            group(*pid),
            group(up.pid()),
            "{} is in up's process group",
            cmdline(*pid)
        );
    }

    up.interrupt();
    let status = up.wait_exit(Duration::from_secs(45)).await;

    let status = status.unwrap_or_else(|| panic!("up still running 45 s after Ctrl-C"));
    let output = up.output();
    assert_eq!(status.code(), Some(0), "up exited with {status}; {output}");
    assert!(
        !output.contains("restarting") && !output.contains("exited ("),
        "a clean stop was taken for a crash: {output}"
    );
    assert_all_gone(
        &pids,
        Duration::from_secs(5),
        "up's children to be gone after it exited",
    )
    .await;
}

#[tokio::test]
async fn up_told_to_stop_while_starting_stops_its_children_and_exits_130() {
    let mut up = Up::spawn();
    // The first child appears within milliseconds; the whole start takes ~100 ms or more.
    let first = up.wait_for_first_child().await;

    up.signal(Signal::SIGTERM);
    let status = up.wait_exit(Duration::from_secs(45)).await;

    let status = status.unwrap_or_else(|| panic!("up still running 45 s after SIGTERM"));
    let output = up.output();
    // Should the start have won the race after all, the banner is out and the stop is a
    // clean one; either way `up` itself handles the signal and leaves nothing behind.
    println!("up exited {status} after SIGTERM while starting:\n{output}");
    let expected = if output.contains("Press Ctrl-C") {
        0
    } else {
        130
    };
    assert_eq!(
        status.code(),
        Some(expected),
        "up exited with {status}; {output}"
    );
    assert_all_gone(
        &first,
        Duration::from_secs(15),
        "up's first child after a stop while starting",
    )
    .await;
    // Children started after the first one carry the data directory in their command line.
    let data_dir = up.data_dir.path().display().to_string();
    eventually(
        Duration::from_secs(15),
        "no process left using up's data directory",
        || async { processes_mentioning(&data_dir).is_empty().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_killed_up_leaves_no_orphans() {
    let mut up = Up::start();
    let pids = up.wait_for_children(CHILDREN).await;

    up.signal(Signal::SIGKILL);
    let status = up.wait_exit(Duration::from_secs(10)).await;

    assert!(status.is_some(), "up survived SIGKILL");
    // Children notice that their parent went away and stop by themselves.
    assert_all_gone(
        &pids,
        Duration::from_secs(15),
        "children of a killed up to stop by themselves",
    )
    .await;
}

#[tokio::test]
async fn a_crashed_service_is_reported_and_restarted_with_its_data() {
    let mut up = Up::start();
    let placed = up.order(11, 3, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let pids = up.wait_for_children(CHILDREN).await;
    let order = *pids
        .iter()
        .find(|p| cmdline(**p).contains("serve order"))
        .expect("an order child");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(order), Signal::SIGKILL).unwrap();

    // A new order child appears and serves the order written before the crash.
    let url = format!(
        "{}/orders/{}",
        up.order_url(),
        placed.body["order_id"].as_str().unwrap()
    );
    tracemart_testkit::eventually(
        Duration::from_secs(30),
        "the order service to come back",
        || async {
            let restarted = tracemart_testkit::processes::children_of(up.pid())
                .into_iter()
                .any(|p| p != order && cmdline(p).contains("serve order"));
            let answer = up.get_as_admin(&url).send().await.ok()?;
            (restarted && answer.status() == 200).then_some(())
        },
    )
    .await;
    // A first crash is restarted at once, not after a backoff.
    let report = up.output();
    assert!(
        report.contains("order exited (signal: 9 (SIGKILL)); restarting it"),
        "{report}"
    );
}
