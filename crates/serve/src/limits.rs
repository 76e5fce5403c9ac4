//! The bounds one server keeps on its connections, and the open-file limit they must fit.

use std::time::Duration;

/// How long a graceful stop waits for requests in flight before closing their connections.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Bounds on the connections one server holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, from connecting or from its previous
    /// answer (so also the idle keep-alive timeout), and to send its first request at all.
    pub header_read_timeout: Duration,
    /// Connections open at most.
    pub max_connections: usize,
    /// How long a graceful stop waits for requests in flight.
    pub stop_grace: Duration,
}

impl ConnectionLimits {
    /// Limits with the default stop grace; `max_connections` is taken as given (see
    /// [`fit_to_open_files`]).
    pub fn new(header_read_timeout: Duration, max_connections: usize) -> Self {
        Self {
            header_read_timeout,
            max_connections: max_connections.max(2),
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }
}

/// `wanted` connections, lowered to what the process's open-file limit leaves once `reserved`
/// files are kept for everything else (databases, logs, outgoing calls, listeners): each
/// connection is a file, and a full file table fails every `open` and `accept`. At least 2.
pub fn fit_to_open_files(wanted: usize, reserved: u64) -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let Ok((soft, _hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted.max(2);
    };
    let room = usize::try_from(soft.saturating_sub(reserved)).unwrap_or(usize::MAX);
    wanted.min(room).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_never_exceeds_the_open_file_limit_nor_falls_below_two() {
        use nix::sys::resource::{Resource, getrlimit};
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((u64::MAX, u64::MAX));
        let fitted = fit_to_open_files(usize::MAX, 32);
        assert!(u64::try_from(fitted).unwrap_or(u64::MAX) <= soft.saturating_sub(32).max(2));
        assert_eq!(fit_to_open_files(0, 32), 2);
        assert_eq!(fit_to_open_files(usize::MAX, u64::MAX), 2);
    }
}
