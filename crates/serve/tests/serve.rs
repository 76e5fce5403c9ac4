//! `serve` against real sockets: HTTP/1.1 and HTTP/2 answered, stalled and silent clients
//! closed after the header timeout, the cap making room, and a stop that does not wait.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tracemart_testkit::net::closed_by_server;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracemart_serve::{ConnectionLimits, ConnectionObserver, Dropped, serve};

/// The start of a request whose headers never end.
const STALLED: &[u8] = b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: ";
/// Longer than any close the tests wait for, shorter than a hung test.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Counts {
    open: AtomicI64,
    evicted: AtomicI64,
    refused: AtomicI64,
}

#[derive(Clone, Default)]
struct Counter(Arc<Counts>);

impl ConnectionObserver for Counter {
    fn opened(&self) {
        self.0.open.fetch_add(1, Ordering::Relaxed);
    }
    fn closed(&self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
    fn dropped(&self, why: Dropped) {
        let n = match why {
            Dropped::Evicted => &self.0.evicted,
            Dropped::Refused => &self.0.refused,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

struct Server {
    port: u16,
    counts: Counter,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: ConnectionLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = Router::new().route("/hello", get(|| async { "hello" }));
        let counts = Counter::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            router,
            listener,
            limits,
            counts.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            port,
            counts,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hello", self.port)
    }

    /// Stops the server and returns how long it took to return.
    async fn stop(mut self) -> Duration {
        let asked = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        asked.elapsed()
    }
}

fn limits(header_read_timeout_ms: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits::new(
        Duration::from_millis(header_read_timeout_ms),
        max_connections,
    )
}

#[tokio::test]
async fn http1_and_http2_requests_are_answered() {
    let server = Server::start(limits(60_000, 64)).await;

    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let answer = http1.get(server.url()).send().await.unwrap();
    assert_eq!(answer.version(), reqwest::Version::HTTP_11);
    assert_eq!(answer.text().await.unwrap(), "hello");

    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for _ in 0..3 {
        let answer = http2.get(server.url()).send().await.unwrap();
        assert_eq!(answer.version(), reqwest::Version::HTTP_2);
        assert_eq!(answer.text().await.unwrap(), "hello");
    }

    // Both clients keep their connections open and idle: the stop does not wait for them.
    let took = server.stop().await;
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}

#[tokio::test]
async fn stalled_heads_silent_clients_and_idle_connections_are_closed_after_the_timeout() {
    let server = Server::start(limits(300, 64)).await;

    let mut stalled = server.connect().await;
    stalled.write_all(STALLED).await.unwrap();
    // Not a byte: the protocol is never known, so only the first-request deadline applies.
    let mut silent = server.connect().await;
    // The HTTP/2 preface and nothing more: a connection without a stream.
    let mut no_stream = server.connect().await;
    no_stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut idle = server.connect().await;
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");

    closed_by_server(&mut stalled, DEADLINE, "a connection with half its headers").await;
    closed_by_server(&mut silent, DEADLINE, "a connection that sent nothing").await;
    closed_by_server(
        &mut no_stream,
        DEADLINE,
        "an HTTP/2 connection without a stream",
    )
    .await;
    closed_by_server(&mut idle, DEADLINE, "an idle keep-alive connection").await;
    let counts = server.counts.clone();
    tracemart_testkit::eventually(DEADLINE, "no connection counted open", || {
        let open = counts.0.open.load(Ordering::Relaxed);
        async move { (open == 0).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn at_the_cap_a_stalled_connection_makes_room_and_else_the_newcomer_is_refused() {
    let server = Server::start(limits(60_000, 2)).await;
    let mut first = server.connect().await;
    first.write_all(STALLED).await.unwrap();
    let mut busy = server.connect().await;
    busy.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    busy.read_exact(&mut answer).await.unwrap();

    // A third connection: the stalled one is closed to make room.
    let mut third = server.connect().await;
    closed_by_server(&mut first, DEADLINE, "the stalled connection at the cap").await;
    third
        .write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    third.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");

    // Both open connections have sent requests: a fourth is refused with a 503.
    let mut fourth = server.connect().await;
    let mut refusal = String::new();
    tokio::time::timeout(DEADLINE, fourth.read_to_string(&mut refusal))
        .await
        .unwrap()
        .unwrap();
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("too_many_connections"), "{refusal}");
    assert_eq!(server.counts.0.evicted.load(Ordering::Relaxed), 1);
    assert_eq!(server.counts.0.refused.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_stop_does_not_wait_for_stalled_or_idle_connections() {
    let server = Server::start(limits(60_000, 64)).await;
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut s = server.connect().await;
        s.write_all(STALLED).await.unwrap();
        open.push(s);
    }
    open.push(server.connect().await);
    let mut idle = server.connect().await;
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    open.push(idle);

    let took = server.stop().await;

    assert!(
        took < Duration::from_secs(5),
        "stopped after {took:?}: it waited on connections with nothing in flight"
    );
}
