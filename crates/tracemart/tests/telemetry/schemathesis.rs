//! Every service's `/openapi.json` states what the service really accepts and answers:
//! Schemathesis (pinned in tests/schemathesis/requirements.txt) generates requests from each
//! document, valid and invalid, plus stateful sequences along the links it infers, and checks
//! every answer against the document with its default checks. No failure is allowed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracemart_platform::ServiceName;

use crate::helpers::{Options, Shop};

/// Test cases per operation and phase: about half a minute for the five services on an idle
/// machine (a few hundred to a thousand requests each).
const MAX_EXAMPLES: &str = "100";
/// Longest run of one service's suite before the test gives up on it.
const SUITE_TIMEOUT: Duration = Duration::from_secs(240);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `schemathesis` command of the virtualenv `scripts/test` makes.
fn schemathesis() -> PathBuf {
    let exe = root().join("target/schemathesis-venv/bin/schemathesis");
    assert!(
        exe.exists(),
        "{} is missing: run scripts/test, which installs tests/schemathesis/requirements.txt",
        exe.display()
    );
    exe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_any_services_openapi_document() {
    let exe = schemathesis();
    // The contract under test is each API's; who may call what is identity's, tested on its
    // own. So calls without a token go through, as `require_tokens = false` lets them.
    let shop = Shop::up_with(Options {
        export: false,
        env: vec![("TRACEMART_REQUIRE_TOKENS", "false".into())],
        ..Options::default()
    })
    .await;
    let mut failed = Vec::new();
    for s in ServiceName::ALL {
        let mut cmd = tokio::process::Command::new(&exe);
        // It keeps a cache in `.schemathesis/` of its working directory: the shop's data
        // directory, not the repository.
        cmd.current_dir(&shop.data)
            .env("NO_COLOR", "1")
            .kill_on_drop(true);
        // Expected statuses that differ from Schemathesis's defaults, and why, are in this file.
        cmd.arg("--config-file")
            .arg(root().join("tests/schemathesis/schemathesis.toml"));
        cmd.arg("run")
            .arg(format!("{}/openapi.json", shop.url(s)))
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--request-timeout", "10"])
            .args(["--generation-database", "none"])
            .args(["--workers", "1", "--no-color"]);
        let run = tokio::time::timeout(SUITE_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("schemathesis on {s} ran over {SUITE_TIMEOUT:?}"))
            .expect("run schemathesis");
        let report = String::from_utf8_lossy(&run.stdout);
        let summary = report.lines().last().unwrap_or_default().to_owned();
        println!("{s}: {summary}");
        if !run.status.success() {
            failed.push(format!(
                "--- {s} ({}):\n{report}\n{}",
                run.status,
                String::from_utf8_lossy(&run.stderr)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis found failures (each report ends with its seed: `schemathesis run --seed N` replays it):\n{}",
        failed.join("\n")
    );
}
