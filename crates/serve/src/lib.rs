//! Serving an axum `Router` so that slow or hostile clients cannot stall a server: a client must
//! send a request's headers in time (which also closes idle keep-alive connections), and its
//! first request within that time whatever its protocol; connections are capped below the
//! open-file limit, and at the cap the oldest connection that never sent a whole request makes
//! room for the newcomer. A graceful stop lets requests in flight finish but does not wait on
//! idle or stalled connections.
//!
//! Written around hyper-util's connection builder because `axum::serve` offers none of this:
//! no header-read timeout (hyper's needs a timer it does not set), no cap, and a graceful stop
//! that waits for every open connection however idle. HTTP/1.1 and HTTP/2 (gRPC) are both
//! served, told apart by the connection's first bytes.
//!
//! The server knows nothing of metrics: it tells a [`ConnectionObserver`] what it opens, closes
//! and drops, and the caller counts.

mod limits;
mod open;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

pub use limits::{ConnectionLimits, DEFAULT_STOP_GRACE, fit_to_open_files};
use open::{OpenConnections, lock};

/// Why the server closed or refused a connection to stay within its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// An open connection that had not sent a whole request, closed to make room.
    Evicted,
    /// A new connection answered 503 and closed: every open one had sent a request.
    Refused,
}

/// Told what happens to the connections of one server, to count them (metrics, logs).
/// Every method has an empty default; `()` observes nothing.
pub trait ConnectionObserver: Send + Sync + 'static {
    /// A connection was accepted and is now held.
    fn opened(&self) {}
    /// A held connection has closed, for whatever reason.
    fn closed(&self) {}
    /// A connection was evicted or refused to stay within the cap. An evicted connection is
    /// also reported [`closed`](Self::closed); a refused one was never [`opened`](Self::opened).
    fn dropped(&self, _why: Dropped) {}
}

impl ConnectionObserver for () {}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits`.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    observer: impl ConnectionObserver,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let observer: Arc<dyn ConnectionObserver> = Arc::new(observer);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(std::sync::Mutex::new(OpenConnections::default()));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let admitted = lock(&open).admit(limits.max_connections);
        let Some((id, conn)) = admitted.entry else {
            observer.dropped(Dropped::Refused);
            tokio::spawn(refuse(stream));
            continue;
        };
        if admitted.evicted {
            observer.dropped(Dropped::Evicted);
        }
        observer.opened();
        let served = conn.served.clone();
        let app = router.clone();
        // Called once per request: per request head on HTTP/1.1, per stream on HTTP/2. The
        // peer's address goes with each request (axum's `ConnectInfo`), for routes that answer
        // some clients only.
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            served.store(true, Ordering::Relaxed);
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
        let (open, observer) = (open.clone(), observer.clone());
        let first_request = first_request_due(conn.served.clone(), limits.header_read_timeout);
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = conn.close.notified() => {}
                () = first_request => {}
            }
            lock(&open).remove(id);
            observer.closed();
        });
    }
    drop(listener);
    // Idle keep-alive connections close at once; these would wait for their header timeout.
    lock(&open).close_where(|c| !c.served.load(Ordering::Relaxed));
    if tokio::time::timeout(limits.stop_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.stop_grace.as_secs(),
            "Requests still in flight after the stop grace period; closing their connections"
        );
        lock(&open).close_where(|_| true);
    }
    Ok(())
}

/// Resolves when a connection has not delivered its first request within `timeout` of being
/// accepted. hyper's header-read timeout covers HTTP/1.1 heads once the protocol is known; a
/// client that sends nothing at all (the protocol is never known) or opens HTTP/2 and never a
/// stream would otherwise stay until evicted. Never resolves once a request has arrived.
async fn first_request_due(served: Arc<AtomicBool>, timeout: Duration) {
    tokio::time::sleep(timeout).await;
    if served.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

/// Accept errors are the listener's or the process's (too many open files), never fatal:
/// wait a moment so that a full file table does not spin the loop.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "Accepting a connection failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The answer to a connection over the cap: a 503 with a JSON error body, then close. Plain
/// HTTP/1.1 whatever the client speaks: nothing of the connection has been read, and an
/// HTTP/2 client simply sees the connection fail and tries again later.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str =
        r#"{"error":"Too many open connections, retry shortly","code":"too_many_connections"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
