//! Spans read back from their blocks by row id.

use std::collections::HashMap;

use sqlx::SqlitePool;

use super::{BlockSpan, Decoded};
use crate::store::model::{span_hex, trace_hex};
use crate::store::query::StoredSpan;

/// A block as read: its first row id, how many it covers, and its data.
type BlockRow = (i64, i64, Vec<u8>);

/// The spans of rows `ids`, in that order (a row whose block cannot be read is left out, with
/// a warning).
pub(crate) async fn spans_by_row_id(
    pool: &SqlitePool,
    ids: &[i64],
) -> Result<Vec<StoredSpan>, sqlx::Error> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut found: HashMap<i64, StoredSpan> = HashMap::with_capacity(sorted.len());
    let mut next = 0;
    while let Some(&id) = sorted.get(next) {
        let block: Option<BlockRow> = sqlx::query_as(
            "SELECT first_span_id, span_count, data FROM span_blocks \
             WHERE first_span_id <= ? ORDER BY first_span_id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?;
        let end = block.as_ref().map_or(id, |(first, count, _)| first + count);
        let covered = sorted[next..].partition_point(|&i| i < end).max(1);
        let wanted = &sorted[next..next + covered];
        next += covered;
        let Some((first, _, data)) = block else {
            tracing::warn!(row = id, "console has a span row without a block");
            continue;
        };
        let read = Decoded::new(&data).and_then(|decoded| {
            let spans = decoded.spans()?;
            for &row in wanted {
                let slot = usize::try_from(row - first).ok();
                match slot.and_then(|s| spans.get(s)).and_then(Option::as_ref) {
                    Some(span) => {
                        found.insert(row, stored(span));
                    }
                    None => tracing::warn!(row, "console span block lacks a row"),
                }
            }
            Ok(())
        });
        if let Err(e) = read {
            tracing::warn!(block = first, error = %e, "console could not read a span block");
        }
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// A span as the API renders it.
pub(crate) fn stored(s: &BlockSpan<'_>) -> StoredSpan {
    StoredSpan {
        trace_id: trace_hex(&s.trace_id).as_str().to_owned(),
        span_id: span_hex(&s.span_id).as_str().to_owned(),
        parent_span_id: s
            .parent_span_id
            .map(|p| span_hex(&p).as_str().to_owned())
            .unwrap_or_default(),
        service: s.service.to_owned(),
        operation: s.operation.to_owned(),
        kind: s.kind,
        start_us: s.start_us,
        duration_us: s.duration_us,
        status_code: s.status_code,
        status_message: s.status_message.to_owned(),
        attributes: s.attributes.to_owned(),
        events: s.events.to_owned(),
        links: s.links.to_owned(),
        scope_name: s.scope_name.to_owned(),
        scope_version: s.scope_version.to_owned(),
        resource_id: s.resource_id,
    }
}
