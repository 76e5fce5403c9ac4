//! Slow or hostile clients cannot stall a service: a client that sends no whole request is
//! disconnected, hundreds of stalled connections under a low open-file limit leave room for
//! normal requests, and a stop does not wait on them. Against `tracemart serve user`, a real
//! process with its own open-file limit.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tracemart_testkit::net::closed_by_server;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{DEADLINE, clean_command, exe};

/// The start of a request whose headers never end.
const STALLED: &[u8] = b"GET /users/1 HTTP/1.1\r\nHost: shop\r\nX-Slow: ";

/// `tracemart serve user` with an open-file limit and extra environment; killed when dropped.
struct UserService {
    child: Child,
    url: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for UserService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl UserService {
    async fn start(open_files: u32, env: &[(&str, &str)]) -> UserService {
        let dir = tempfile::tempdir().unwrap();
        let port = tracemart_testkit::free_port();
        let out = std::fs::File::create(dir.path().join("user.out")).unwrap();
        // The limit applies to the service alone: the shell sets it, then becomes the service.
        let mut cmd = clean_command(Path::new("/bin/sh"));
        cmd.arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
            .arg(exe())
            .args(["serve", "user", "--port", &port.to_string(), "--data-dir"])
            .arg(dir.path())
            .stdout(out.try_clone().unwrap())
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let service = UserService {
            child: cmd.spawn().unwrap(),
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
        };
        let http = reqwest::Client::new();
        tracemart_testkit::wait_ready(&http, &format!("{}/health/ready", service.url), DEADLINE)
            .await;
        service
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    /// The operator's token, signed with the key the service made in its data directory.
    fn admin_token(&self) -> String {
        use tracemart_platform::identity::{Principal, issue};
        let keys = self.dir.path().join("keys");
        issue(&keys, Principal::Admin, "admin", Duration::from_secs(600)).unwrap()
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_headers_or_stays_idle_is_disconnected() {
    let service = UserService::start(1024, &[("TRACEMART_HEADER_READ_TIMEOUT_MS", "300")]).await;

    let mut stalled = service.connect().await;
    stalled.write_all(STALLED).await.unwrap();
    closed_by_server(&mut stalled, DEADLINE, "a connection with half its headers").await;

    // A keep-alive connection after a whole exchange: closed once idle that long too.
    let mut idle = service.connect().await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    closed_by_server(&mut idle, DEADLINE, "an idle keep-alive connection").await;
}

#[tokio::test]
async fn hundreds_of_stalled_connections_under_a_low_file_limit_leave_room_for_normal_requests() {
    let service = UserService::start(256, &[]).await;
    let mut attackers = Vec::new();
    for _ in 0..300 {
        let mut s = service.connect().await;
        s.write_all(STALLED).await.unwrap();
        attackers.push(s);
    }

    // Each request on a connection of its own, as new clients would come.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let admin = service.admin_token();
    for i in 0..20 {
        let answer = http
            .get(format!("{}/users/1", service.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} with 300 stalled connections open: {e}"));
        assert_eq!(answer.status().as_u16(), 200, "request {i}");
    }
    let metrics = http
        .get(format!("{}/metrics", service.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let evicted = metrics
        .lines()
        .find(|l| l.starts_with(r#"http_connections_dropped_total{reason="evicted"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        evicted >= 20.0,
        "stalled connections made room for the others: {evicted}\n{metrics}"
    );
    drop(attackers);
}

#[tokio::test]
async fn a_stop_does_not_wait_for_idle_or_stalled_connections() {
    let mut service =
        UserService::start(1024, &[("TRACEMART_HEADER_READ_TIMEOUT_MS", "60000")]).await;
    let mut open = Vec::new();
    for _ in 0..50 {
        let mut s = service.connect().await;
        s.write_all(STALLED).await.unwrap();
        open.push(s);
    }
    let mut idle = service.connect().await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    open.push(idle);

    kill(service.pid(), Signal::SIGTERM).unwrap();
    let asked = Instant::now();
    let stopped = tracemart_testkit::eventually(DEADLINE, "the service to stop", || {
        let done = service.child.try_wait().ok().flatten();
        async move { done }
    })
    .await;
    assert!(stopped.success(), "{stopped}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stopped after {:?}: it waited on connections with nothing in flight",
        asked.elapsed()
    );
}
