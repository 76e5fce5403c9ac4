//! `tracemart chaos run FILE`: a scenario's faults appear and disappear on its timeline, each
//! step printed as it happens; a bad file is refused whole before anything is set; Ctrl-C
//! clears what the run set.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tracemart_platform::ServiceName;
use tracemart_testkit::eventually;

use crate::faults::stdout;
use crate::helpers::{DEADLINE, Shop};

/// The types of the faults set on `s` now.
async fn faults_of(shop: &Shop, s: ServiceName) -> Vec<String> {
    let listed = shop.get(s, "/admin/faults").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the faults of `s` are `want`; returns when that was first seen.
async fn until_faults(shop: &Shop, s: ServiceName, want: &[&str]) -> Instant {
    eventually(
        DEADLINE,
        &format!("{s} to have faults {want:?}"),
        || async { (faults_of(shop, s).await == want).then(Instant::now) },
    )
    .await
}

/// Waits for `child` to exit; returns its exit code and what it printed.
async fn finished(mut child: Child) -> (Option<i32>, String, String) {
    let status = eventually(DEADLINE, "tracemart chaos run to end", || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await;
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out, err)
}

fn scenario(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn spawn(shop: &Shop, args: &[&str]) -> Child {
    shop.chaos_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_sets_and_clears_its_faults_on_its_timeline_and_says_so() {
    let shop = Shop::up().await;
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
name = "short"
duration = "4s"

[[step]]
at = "0s"
service = "product"
fault = "error=503 route=/products/"

[[step]]
at = "1s"
service = "inventory"
fault = "latency=50ms rate=50%"

[[step]]
at = "2s"
clear = "product"
"#,
    );
    let run = spawn(&shop, &["run", &file]);

    let product_set = until_faults(&shop, ServiceName::Product, &["error"]).await;
    // The fault does what it says while it is set.
    let answer = shop.get(ServiceName::Product, "/products/1").await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    until_faults(&shop, ServiceName::Inventory, &["latency"]).await;
    let product_cleared = until_faults(&shop, ServiceName::Product, &[]).await;
    assert!(
        product_cleared - product_set >= Duration::from_millis(1500),
        "product's fault lasted {:?}, its step said 2 s",
        product_cleared - product_set
    );
    // At the end the run clears what it set and is still there.
    until_faults(&shop, ServiceName::Inventory, &[]).await;
    assert_eq!(
        shop.get(ServiceName::Product, "/products/1").await.status,
        200
    );

    let (code, out, err) = finished(run).await;
    assert_eq!(code, Some(0), "{out}{err}");
    for line in [
        "short: playing 3 step(s)",
        "s] product: fault 1 set: error=503 rate=100% route=/products/",
        "s] inventory: fault 1 set: latency=50ms rate=50%",
        "s] product: 1 fault(s) cleared",
        "s] end: 1 fault(s) this run set were still there and are cleared",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_scenario_is_refused_whole_and_ctrl_c_clears_what_a_run_set() {
    let shop = Shop::up().await;
    let dir = tempfile::tempdir().unwrap();

    // The third step is wrong: nothing of the file is played.
    let bad = scenario(
        dir.path(),
        "duration = \"10s\"\n\n[[step]]\nat = \"0s\"\nservice = \"product\"\nfault = \"hang\"\n\n\
         [[step]]\nat = \"1s\"\nclear = \"all\"\n\n\
         [[step]]\nat = \"2s\"\nservice = \"user\"\nfault = \"latency=soon\"\n",
    );
    let out = shop.chaos(&["run", &bad]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{bad}:15: step 3: fault:")) && err.contains("not a duration"),
        "{err}"
    );
    assert!(faults_of(&shop, ServiceName::Product).await.is_empty());
    let checked = shop.chaos(&["run", "--check", &bad]);
    assert_eq!(checked.status.code(), Some(2));

    // Ctrl-C: the run stops at once and clears its fault; others' faults stay.
    let mine = shop.chaos(&["inject", "user", "latency=10ms"]);
    assert!(mine.status.success());
    let long = scenario(
        dir.path(),
        "duration = \"10m\"\n[[step]]\nat = \"0s\"\nservice = \"user\"\nfault = \"error=500 rate=10%\"\n",
    );
    let run = spawn(&shop, &["run", &long]);
    until_faults(&shop, ServiceName::User, &["latency", "error"]).await;
    kill(Pid::from_raw(run.id() as i32), Signal::SIGINT).unwrap();
    let (code, out, err) = finished(run).await;
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(out.contains("interrupted"), "{out}");
    assert_eq!(faults_of(&shop, ServiceName::User).await, ["latency"]);
    let listed: Vec<Value> = shop.get(ServiceName::User, "/admin/faults").await.body["faults"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed[0]["latency_ms"], 10);
}
