//! Trace and span ids as lowercase hex on the stack: log lines, exemplars and response headers
//! need the text of an id on every request, and `to_string()` allocated it each time.

use opentelemetry::trace::{SpanId, TraceId};

/// An id's hex text, `N` digits (twice its bytes), as `TraceId`/`SpanId`'s `Display` writes it.
#[derive(Clone, Copy)]
pub(crate) struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    fn of(bytes: &[u8]) -> Self {
        let mut out = [b'0'; N];
        // `N` is twice the id's length by construction (`trace_hex`, `span_hex`), so the
        // length check inside cannot fail.
        let _ = hex::encode_to_slice(bytes, &mut out);
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever written, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

pub(crate) fn trace_hex(id: TraceId) -> Hex<32> {
    Hex::of(&id.to_bytes())
}

pub(crate) fn span_hex(id: SpanId) -> Hex<16> {
    Hex::of(&id.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_ids_own_display() {
        for t in [
            0u128,
            1,
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            u128::MAX,
        ] {
            let id = TraceId::from(t);
            assert_eq!(trace_hex(id).as_str(), id.to_string());
        }
        for s in [0u64, 1, 0x00f0_67aa_0ba9_02b7, u64::MAX] {
            let id = SpanId::from(s);
            assert_eq!(span_hex(id).as_str(), id.to_string());
        }
    }
}
