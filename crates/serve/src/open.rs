//! The open connections of one server in the order they were accepted, and who makes room
//! when the cap is reached.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

pub(crate) fn lock(open: &Mutex<OpenConnections>) -> MutexGuard<'_, OpenConnections> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One open connection as the accept loop sees it.
#[derive(Clone, Default)]
pub(crate) struct Conn {
    /// Set when the connection has delivered a whole request head (HTTP/1.1) or opened a
    /// stream (HTTP/2).
    pub(crate) served: Arc<AtomicBool>,
    /// Notified to close the connection now.
    pub(crate) close: Arc<Notify>,
}

pub(crate) struct Admitted {
    pub(crate) entry: Option<(u64, Conn)>,
    pub(crate) evicted: bool,
}

/// Open connections in the order they were accepted (ids increase).
#[derive(Default)]
pub(crate) struct OpenConnections {
    next_id: u64,
    by_age: BTreeMap<u64, Conn>,
}

impl OpenConnections {
    /// Makes room for a new connection: under the cap, or by closing the oldest connection
    /// that has not sent a whole request (a slow or stalled client); else none.
    pub(crate) fn admit(&mut self, max: usize) -> Admitted {
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

    pub(crate) fn remove(&mut self, id: u64) {
        self.by_age.remove(&id);
    }

    pub(crate) fn close_where(&mut self, pred: impl Fn(&Conn) -> bool) {
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
    use std::time::Duration;

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
