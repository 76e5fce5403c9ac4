//! Span blocks: every span stored whole in a compressed block of up to [`SPANS_PER_BLOCK`]
//! consecutive rows, next to a filter of the tags its spans carry; log records likewise, in
//! blocks of their own (`logs.rs`).
//!
//! A span's row keeps only what the indexes and the statistics read (ids, service, operation,
//! kind, times, status); its attributes, events, links, status message and scope, about three
//! quarters of a span's bytes, are written once, in the block, where the names and keys that
//! repeat from span to span compress well. A block covers the row ids `first_span_id ..
//! first_span_id + span_count` (the single writer inserts them consecutively), so finding a
//! span's block needs no column or index of its own. Tag searches read the filters first and
//! open only the blocks whose filter may hold every tag asked for.

use serde::{Deserialize, Serialize};

pub(crate) mod filter;
pub(crate) mod logs;
pub(crate) mod migrate;
pub(crate) mod read;

/// Spans a block holds at most: reading one span of a trace decompresses its whole block, so
/// blocks stay small enough for that (a few hundred KiB of JSON at most) while their keys and
/// names still repeat enough to compress.
pub(crate) const SPANS_PER_BLOCK: usize = 256;

/// One span as its block stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlockSpan<'a> {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    pub(crate) service: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) kind: i32,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    pub(crate) status_code: i32,
    pub(crate) status_message: &'a str,
    pub(crate) attributes: &'a str,
    pub(crate) events: &'a str,
    pub(crate) links: &'a str,
    pub(crate) scope_name: &'a str,
    pub(crate) scope_version: &'a str,
    pub(crate) resource_id: i64,
}

/// Why a block could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlockError {
    #[error("span block does not decompress: {0}")]
    Decompress(#[from] lz4_flex::block::DecompressError),
    #[error("span block does not decode: {0}")]
    Decode(#[from] postcard::Error),
}

/// The stored form of a block's items (spans, or log records) by slot, `None` where a row id
/// holds none (blocks made from rows stored before blocks may have gaps): postcard, compressed
/// with LZ4 (its fastest codec in Rust and pure Rust; zstd compresses more but costs several
/// times the CPU per byte).
pub(crate) fn encode<T: Serialize>(items: &[Option<T>]) -> Result<Vec<u8>, postcard::Error> {
    let raw = postcard::to_allocvec(items)?;
    Ok(lz4_flex::block::compress_prepend_size(&raw))
}

/// Decompressed block data, whose items borrow from it.
pub(crate) struct Decoded {
    raw: Vec<u8>,
}

impl Decoded {
    pub(crate) fn new(data: &[u8]) -> Result<Self, BlockError> {
        Ok(Self {
            raw: lz4_flex::block::decompress_size_prepended(data)?,
        })
    }

    /// The items by slot.
    pub(crate) fn items<'a, T: Deserialize<'a>>(&'a self) -> Result<Vec<Option<T>>, BlockError> {
        Ok(postcard::from_bytes(&self.raw)?)
    }

    /// The spans by slot.
    pub(crate) fn spans(&self) -> Result<Vec<Option<BlockSpan<'_>>>, BlockError> {
        self.items()
    }
}

/// A tag as filters hold it: `key` and the value as Jaeger shows it (and a search names it).
/// FNV-1a, written out because the value is stored: it must never change between builds, as
/// std's hasher may.
pub(crate) fn tag_hash(key: &str, shown: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in key.bytes().chain([0xff]).chain(shown.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// The tag hashes of an attributes JSON object as the store writes it (for rows stored before
/// blocks, whose attributes exist only as JSON): each value as Jaeger shows it.
pub(crate) fn json_tag_hashes(attributes: &str, out: &mut Vec<u64>) {
    use serde_json::Value;
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(attributes) else {
        return;
    };
    for (key, value) in &map {
        let shown = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => n.to_string(),
            },
            _ => continue,
        };
        out.push(tag_hash(key, &shown));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn span(n: u8, attributes: &'static str) -> BlockSpan<'static> {
        BlockSpan {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent_span_id: (n > 1).then_some([1; 8]),
            service: "order",
            operation: "POST /orders",
            kind: 2,
            start_us: 1_000 + i64::from(n),
            duration_us: 30,
            status_code: 0,
            status_message: "",
            attributes,
            events: "[]",
            links: "[]",
            scope_name: "tracemart",
            scope_version: "0.1",
            resource_id: 1,
        }
    }

    #[test]
    fn a_block_reads_back_every_span_in_its_slot() {
        let spans = vec![
            Some(span(1, r#"{"user.id":7}"#)),
            None,
            Some(span(3, r#"{"http.route":"/orders"}"#)),
        ];
        let data = encode(&spans).unwrap();
        let decoded = Decoded::new(&data).unwrap();
        let back = decoded.spans().unwrap();
        assert_eq!(back.len(), 3);
        assert!(back[1].is_none());
        let third = back[2].as_ref().unwrap();
        assert_eq!(third.attributes, r#"{"http.route":"/orders"}"#);
        assert_eq!(third.parent_span_id, Some([1; 8]));
        assert_eq!(back[0].as_ref().unwrap().parent_span_id, None);
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let mut data = encode(&[Some(span(1, "{}"))]).unwrap();
        let end = data.len() - 1;
        data.truncate(end);
        let read = Decoded::new(&data).and_then(|d| d.spans().map(|s| s.len()));
        assert!(read.is_err());
    }

    #[test]
    fn json_values_hash_as_jaeger_shows_them() {
        let mut hashes = Vec::new();
        json_tag_hashes(
            r#"{"user.id":7,"whole":2.0,"ratio":2.5,"ok":true,"route":"/x","none":null}"#,
            &mut hashes,
        );
        for (k, v) in [
            ("user.id", "7"),
            ("whole", "2"),
            ("ratio", "2.5"),
            ("ok", "true"),
            ("route", "/x"),
        ] {
            assert!(hashes.contains(&tag_hash(k, v)), "{k}={v}");
        }
        assert_eq!(hashes.len(), 5, "null is no tag");
        assert_ne!(tag_hash("ab", "c"), tag_hash("a", "bc"));
    }
}
