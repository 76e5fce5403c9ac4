//! Accepting and keeping HTTP connections so that slow or hostile clients cannot stall a
//! service: a client must send a request's headers in time (which also closes idle keep-alive
//! connections), connections are capped below the open-file limit, and at the cap the oldest
//! connection that never sent a whole request makes room for the newcomer. A graceful stop
//! lets requests in flight finish but does not wait on idle or stalled connections.
//!
//! Written around hyper-util's connection builder because `axum::serve` offers none of this:
//! no header-read timeout (hyper's needs a timer it does not set), no cap, and a graceful stop
//! that waits for every open connection however idle.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;
use tracemart_telemetry::{ConnectionDrop, Metrics};

use crate::ShopConfig;

/// How long a graceful stop waits for requests in flight before closing their connections.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but inbound connections: the database, log files,
/// the OTLP exporter, listeners.
const RESERVED_FILES: u64 = 32;

/// Bounds on the connections one service holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, from connecting or from its previous
    /// answer.
    pub header_read_timeout: Duration,
    /// Connections open at most.
    pub max_connections: usize,
    /// How long a graceful stop waits for requests in flight.
    pub stop_grace: Duration,
}

impl ConnectionLimits {
    /// The configured limits, with the connection cap lowered to fit the process's open-file
    /// limit (each connection is a file; so are the pooled connections to each other service).
    pub fn from_config(config: &ShopConfig) -> Self {
        let outbound = 4 * u64::try_from(config.downstream_concurrency).unwrap_or(u64::MAX);
        let reserved = RESERVED_FILES.saturating_add(outbound);
        Self {
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            max_connections: fit_to_open_files(config.max_connections, reserved),
            stop_grace: STOP_GRACE,
        }
    }
}

fn fit_to_open_files(wanted: usize, reserved: u64) -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let Ok((soft, _hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted;
    };
    let room = usize::try_from(soft.saturating_sub(reserved)).unwrap_or(usize::MAX);
    wanted.min(room).max(2)
}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits`.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let admitted = lock(&open).admit(limits.max_connections);
        let Some((id, conn)) = admitted.entry else {
            metrics.connection_dropped(ConnectionDrop::Refused);
            tokio::spawn(refuse(stream));
            continue;
        };
        if admitted.evicted {
            metrics.connection_dropped(ConnectionDrop::Evicted);
        }
        metrics.connections_open_add(1);
        let served = conn.served.clone();
        let app = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            served.store(true, Ordering::Relaxed);
            app.clone().oneshot(req.map(Body::new))
        });
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
        let (open, metrics) = (open.clone(), metrics.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = conn.close.notified() => {}
            }
            lock(&open).remove(id);
            metrics.connections_open_add(-1);
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

/// The answer to a connection over the cap: a 503 in the services' error format, then close.
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

fn lock(open: &Mutex<OpenConnections>) -> MutexGuard<'_, OpenConnections> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One open connection as the accept loop sees it.
#[derive(Clone, Default)]
struct Conn {
    /// Set when the connection has delivered a whole request head.
    served: Arc<AtomicBool>,
    /// Notified to close the connection now.
    close: Arc<Notify>,
}

struct Admitted {
    entry: Option<(u64, Conn)>,
    evicted: bool,
}

/// Open connections in the order they were accepted (ids increase).
#[derive(Default)]
struct OpenConnections {
    next_id: u64,
    by_age: BTreeMap<u64, Conn>,
}

impl OpenConnections {
    /// Makes room for a new connection: under the cap, or by closing the oldest connection
    /// that has not sent a whole request (a slow or stalled client); else none.
    fn admit(&mut self, max: usize) -> Admitted {
        let mut evicted = false;
        if self.by_age.len() >= max {
            let victim = self
                .by_age
                .iter()
                .find(|(_, c)| !c.served.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                return Admitted {
                    entry: None,
                    evicted: false,
                };
            };
            if let Some(c) = self.by_age.remove(&victim) {
                // notify_one keeps a permit: the connection's task sees it even if it is not
                // waiting yet.
                c.close.notify_one();
                evicted = true;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let conn = Conn::default();
        self.by_age.insert(id, conn.clone());
        Admitted {
            entry: Some((id, conn)),
            evicted,
        }
    }

    fn remove(&mut self, id: u64) {
        self.by_age.remove(&id);
    }

    fn close_where(&mut self, pred: impl Fn(&Conn) -> bool) {
        self.by_age.retain(|_, c| {
            let close = pred(c);
            if close {
                c.close.notify_one();
            }
            !close
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_oldest_connection_without_a_request_makes_room() {
        let mut open = OpenConnections::default();
        let admitted: Vec<(u64, Conn)> = (0..3).map(|_| open.admit(3).entry.unwrap()).collect();
        admitted[0].1.served.store(true, Ordering::Relaxed);
        admitted[2].1.served.store(true, Ordering::Relaxed);

        let fourth = open.admit(3);

        assert!(fourth.evicted && fourth.entry.is_some());
        let ids: Vec<u64> = open.by_age.keys().copied().collect();
        assert_eq!(ids, [admitted[0].0, admitted[2].0, fourth.entry.unwrap().0]);
        let told_to_close = tokio::time::timeout(Duration::ZERO, admitted[1].1.close.notified());
        assert!(
            told_to_close.await.is_ok(),
            "the evicted connection is told to close"
        );

        // Every open connection has now sent a request: a fifth one is refused.
        for c in open.by_age.values() {
            c.served.store(true, Ordering::Relaxed);
        }
        let fifth = open.admit(3);
        assert!(fifth.entry.is_none() && !fifth.evicted);
    }
}
