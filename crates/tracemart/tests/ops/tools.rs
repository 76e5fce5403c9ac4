//! The external tools the checks run, found on PATH (or where `scripts/test` installs them),
//! and the files of the operations pack.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// `deploy/<rel>`.
pub fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

/// The first of `names` found on PATH; panics saying what installs it.
pub fn tool(names: &[&str], installed_by: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on PATH: {installed_by} (scripts/test installs it)",
        names.join(" or ")
    )
}

pub fn promtool() -> PathBuf {
    tool(&["promtool"], "Debian package prometheus")
}

pub fn amtool() -> PathBuf {
    tool(&["amtool"], "Debian package prometheus-alertmanager")
}

pub fn prometheus() -> PathBuf {
    tool(&["prometheus"], "Debian package prometheus")
}

/// Debian names the binary `prometheus-alertmanager`; upstream's is `alertmanager`.
pub fn alertmanager() -> PathBuf {
    tool(
        &["prometheus-alertmanager", "alertmanager"],
        "Debian package prometheus-alertmanager",
    )
}

pub fn kubectl() -> PathBuf {
    tool(&["kubectl"], "kubectl")
}

/// The `kubernetes-validate` of the virtualenv `scripts/test` makes from
/// tests/kubernetes/requirements.txt.
pub fn kubernetes_validate() -> PathBuf {
    let exe = root().join("target/kubernetes-validate-venv/bin/kubernetes-validate");
    assert!(
        exe.exists(),
        "{} is missing: run scripts/test, which installs tests/kubernetes/requirements.txt",
        exe.display()
    );
    exe
}

/// Runs `cmd` and returns its output; panics with both streams if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `broken` to a file, runs `cmd` with the file's path last, and panics unless the
/// tool rejects it: a check is only worth something if it can fail.
pub fn assert_rejects(cmd: &mut Command, file_name: &str, broken: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, broken).unwrap();
    let out = cmd
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} accepted:\n{broken}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A YAML file, parsed.
pub fn yaml(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
