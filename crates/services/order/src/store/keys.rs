//! Whether an `Idempotency-Key` may be claimed, decided the same way on both engines; only
//! who may take over a pending claim differs.

use super::Claim;

/// A pending claim older than this is taken to be from a request that died without freeing
/// it (its client hung up mid-way, or its process is gone): longer than any request runs,
/// which the server's deadline bounds, so that a lease is never taken over from a request
/// still running at another instance.
const STALE_CLAIM_SECONDS: i64 = 60;
const _: () = assert!(
    tracemart_platform::http::SERVER_TIMEOUT.as_secs() < STALE_CLAIM_SECONDS as u64,
    "an idempotency key's lease must outlast the longest request"
);

/// idempotency_keys' request, status, response status, response body, created at, owner.
pub(super) type KeyRow = (
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

/// Whose pending claims may be taken over at once.
#[derive(Clone, Copy)]
pub(super) enum Takeover {
    /// One process per database (SQLite): a claim of another owner was left by a process
    /// that is gone.
    OtherOwners,
    /// Instances share the database (PostgreSQL): another owner may be running the request
    /// right now, so its claim is a lease, taken over only once stale.
    StaleOnly,
}

/// What `existing` (the key's row, if any) means for a request whose canonical body is
/// `request`, made by `owner` at `now`: [`Claim::New`] when the claim is to be written.
pub(super) fn judge(
    existing: Option<KeyRow>,
    request: &str,
    owner: &str,
    now: chrono::DateTime<chrono::Utc>,
    takeover: Takeover,
) -> Claim {
    match existing {
        Some((req, ..)) if req != request => Claim::Mismatch,
        Some((_, status, Some(code), Some(body), ..)) if status == "done" => Claim::Replay {
            status: u16::try_from(code).unwrap_or(500),
            body,
        },
        Some((_, _, _, _, created, claimant)) if !is_stale(&created, now) => {
            match (takeover, claimant.as_deref() == Some(owner)) {
                (Takeover::OtherOwners, false) => Claim::New,
                _ => Claim::InFlight,
            }
        }
        _ => Claim::New,
    }
}

fn is_stale(created: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds() > STALE_CLAIM_SECONDS)
        .unwrap_or(true)
}
