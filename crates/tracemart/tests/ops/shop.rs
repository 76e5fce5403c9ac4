//! `tracemart up` (the built binary, one process per service and the console) on free ports
//! in a temporary data directory, stopped when dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const SERVICES: [&str; 5] = ["order", "user", "product", "inventory", "payment"];

pub struct Shop {
    pub ports: BTreeMap<&'static str, u16>,
    pub console_port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Shop {
    /// Starts the shop with `env` added, and waits until every service is ready.
    pub async fn up(env: &[(&str, &str)]) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let ports: BTreeMap<&'static str, u16> = SERVICES
            .iter()
            .map(|s| (*s, tracemart_testkit::free_port()))
            .collect();
        let console_port = tracemart_testkit::free_port();
        let out = std::fs::File::create(dir.path().join("up.out")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
        // Nothing inherited but PATH and HOME: a developer's TRACEMART_* or OTEL_* variables
        // must not change what the test sees.
        cmd.env_clear();
        for key in ["PATH", "HOME", "TMPDIR"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.arg("up")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--ready-timeout", "60"])
            .env("TRACEMART_CONSOLE_UI_PORT", console_port.to_string())
            .env(
                "TRACEMART_CONSOLE_OTLP_GRPC_PORT",
                tracemart_testkit::free_port().to_string(),
            )
            .env(
                "TRACEMART_CONSOLE_OTLP_HTTP_PORT",
                tracemart_testkit::free_port().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (s, port) in &ports {
            cmd.env(
                format!("TRACEMART_{}_PORT", s.to_ascii_uppercase()),
                port.to_string(),
            );
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let shop = Shop {
            ports,
            console_port,
            child: cmd.spawn().unwrap(),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for s in SERVICES {
            tracemart_testkit::wait_ready(
                &http,
                &format!("{}/health/ready", shop.url(s)),
                Duration::from_secs(90),
            )
            .await;
        }
        shop
    }

    pub fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }

    pub fn console_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.console_port)
    }

    /// The pid of the process `up` runs for `service`.
    pub fn pid_of(&self, service: &str) -> i32 {
        let up = i32::try_from(self.child.id()).unwrap();
        let serve = format!("serve {service} ");
        tracemart_testkit::processes::children_of(up)
            .into_iter()
            .find(|p| tracemart_testkit::processes::cmdline(*p).contains(&serve))
            .unwrap_or_else(|| panic!("no {service} process under tracemart up"))
    }

    pub fn log_dir(&self) -> PathBuf {
        self._dir.path().join("data/logs")
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        // A service the test froze would otherwise hold up `up`'s stop until its grace ends.
        for s in SERVICES {
            let up = i32::try_from(self.child.id()).unwrap_or_default();
            for p in tracemart_testkit::processes::children_of(up) {
                if tracemart_testkit::processes::cmdline(p).contains(&format!("serve {s} ")) {
                    let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
                }
            }
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            // Blocking is fine here: the test is over, and no child may outlive it.
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
