//! A fresh shop for one run: a new data directory, free ports, the resilience setting asked
//! for, started as `tracemart up` by this same binary and stopped with SIGTERM afterwards.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tracemart_platform::{Resilience, ServiceName, ShopConfig};

/// How long the five services get to become ready.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long `up` gets to stop its children (it gives each 10 s).
const STOP_WITHIN: Duration = Duration::from_secs(20);
/// Failed deliveries of events are retried after at most this long, so that a run drains
/// within seconds of its faults being cleared (the default, 30 s, would make the drain wait
/// on backoff rather than on the shop). The same in both runs.
const EVENT_RETRY_MAX_MS: u64 = 2_000;

/// A running shop, stopped by [`Shop::stop`] (or killed when dropped).
pub(super) struct Shop {
    pub(super) config: ShopConfig,
    up: Child,
    log: PathBuf,
    // Removed with the shop: the runs' data is not what an experiment reports.
    _dir: tempfile::TempDir,
}

/// The settings of an experiment's shop besides resilience: the defaults, but for the ports,
/// the data directory and [`EVENT_RETRY_MAX_MS`].
pub(super) fn shop_config(resilience: Resilience) -> ShopConfig {
    ShopConfig {
        resilience,
        event_retry_max_ms: EVENT_RETRY_MAX_MS,
        ..ShopConfig::default()
    }
}

impl Shop {
    pub(super) async fn start(resilience: Resilience) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tracemart-experiment-")
            .tempdir()
            .context("cannot make a data directory")?;
        let mut config = shop_config(resilience);
        config.data_dir = dir.path().join("data");
        for (s, port) in ServiceName::ALL.into_iter().zip(free_ports()?) {
            config.endpoint_mut(s).port = port;
        }
        let file = dir.path().join("tracemart.toml");
        std::fs::write(&file, toml::to_string(&config)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
        let log = dir.path().join("up.log");
        let out = std::fs::File::create(&log)?;
        let exe = std::env::current_exe().context("cannot find the tracemart executable")?;
        let mut command = Command::new(exe);
        command
            .args(["up", "--no-console", "--ready-timeout", "60", "--config"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        // The file says everything: nothing from this environment may change one run only.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("TRACEMART_") || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        let up = command.spawn().context("cannot start tracemart up")?;
        let mut shop = Self {
            config,
            up,
            log,
            _dir: dir,
        };
        shop.wait_ready().await?;
        Ok(shop)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + READY_WITHIN;
        for s in ServiceName::ALL {
            let url = format!("{}/health/ready", self.config.url_of(s));
            loop {
                if let Some(status) = self.up.try_wait()? {
                    bail!("tracemart up exited ({status}): {}", self.log_tail());
                }
                if let Ok(r) = http.get(&url).send().await
                    && r.status().is_success()
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "{s} was not ready within {}s: {}",
                        READY_WITHIN.as_secs(),
                        self.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// The end of `up`'s own output, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n  ")
    }

    /// Stops the shop as Ctrl-C would: requests in flight finish, then every child stops.
    pub(super) async fn stop(mut self) {
        if let Some(pid) = self.up.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP_WITHIN, self.up.wait())
            .await
            .is_err()
        {
            let _ = self.up.kill().await;
        }
    }
}

/// Five ports nobody listens on: bound at once (so they differ), then freed for the shop.
fn free_ports() -> anyhow::Result<Vec<u16>> {
    let listeners = (0..ServiceName::ALL.len())
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot find free ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
