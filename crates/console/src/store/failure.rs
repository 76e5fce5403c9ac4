//! What counts as an error, in one place, for every page, the map and the API: OpenTelemetry's
//! rule. A span failed when its status is ERROR, or when it is a SERVER span that answered
//! 5xx (the console stores such a span as ERROR even if its instrumentation left the status
//! unset). A SERVER span that answered 4xx did not fail: the caller was wrong, the service
//! answered as it should. A CLIENT span fails on any ERROR status, which OpenTelemetry's HTTP
//! clients (and the shop's) set for 4xx and 5xx answers and for no answer at all.
//!
//! Counts of requests (services, the map, the stats series without an operation, a trace's
//! errors in search) count failed *entry spans*: the SERVER or CONSUMER span, or the root,
//! through which a service took a request or message. So a refused order (409) is no error of
//! the order service, though the CLIENT span that learned of the missing stock is marked
//! failed in its trace; a payment that answered 503 is an error of the payment service, and of
//! the order service only if the order answered 5xx in turn.

/// OTLP status codes, as `spans.status_code` stores them.
pub(crate) const STATUS_OK: i32 = 1;
pub(crate) const STATUS_ERROR: i32 = 2;

/// OTLP span kinds.
pub(crate) const KIND_SERVER: i32 = 2;
pub(crate) const KIND_CONSUMER: i32 = 5;

/// An entry span of `spans s`, in SQL: a request or message a service took.
pub(crate) const ENTRY_SQL: &str = "(s.kind IN (2, 5) OR s.parent_span_id = 0)";
/// A failed span of `spans s`, in SQL (5xx SERVER spans are stored as ERROR: see `status`).
pub(crate) const FAILED_SQL: &str = "s.status_code = 2";

/// The status to store for a span: its own, or ERROR for a SERVER span that answered 5xx.
pub(crate) fn status(kind: i32, status_code: i32, http_status: Option<i64>) -> i32 {
    if kind == KIND_SERVER && status_code != STATUS_ERROR && http_status.is_some_and(|c| c >= 500) {
        STATUS_ERROR
    } else {
        status_code
    }
}

/// Whether a span with this stored status failed.
pub(crate) fn failed(status_code: i32) -> bool {
    status_code == STATUS_ERROR
}

/// Whether a span is an entry span: SERVER, CONSUMER, or a trace's root.
pub(crate) fn is_entry(kind: i32, is_root: bool) -> bool {
    is_root || kind == KIND_SERVER || kind == KIND_CONSUMER
}

/// Whether a span is a failed request: an entry span that failed.
pub(crate) fn failed_request(kind: i32, is_root: bool, status_code: i32) -> bool {
    is_entry(kind, is_root) && failed(status_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: i32 = 3;
    const INTERNAL: i32 = 1;

    #[test]
    fn server_spans_fail_on_5xx_or_error_and_client_spans_on_error() {
        assert_eq!(status(KIND_SERVER, 0, Some(503)), STATUS_ERROR);
        assert_eq!(status(KIND_SERVER, 0, Some(409)), 0);
        assert_eq!(status(KIND_SERVER, STATUS_OK, Some(500)), STATUS_ERROR);
        // A client's answer is judged by its instrumentation's status alone.
        assert_eq!(status(CLIENT, 0, Some(503)), 0);
        assert!(failed(status(CLIENT, STATUS_ERROR, Some(409))));
    }

    #[test]
    fn a_request_failed_only_through_a_failed_entry_span() {
        assert!(failed_request(KIND_SERVER, false, STATUS_ERROR));
        assert!(failed_request(KIND_CONSUMER, false, STATUS_ERROR));
        assert!(failed_request(INTERNAL, true, STATUS_ERROR));
        assert!(!failed_request(CLIENT, false, STATUS_ERROR));
        assert!(!failed_request(INTERNAL, false, STATUS_ERROR));
        assert!(!failed_request(KIND_SERVER, false, 0));
    }
}
