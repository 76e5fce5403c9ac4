//! The tag filter of a block: a Bloom filter of its spans' tag hashes, so that a tag search
//! skips the blocks that cannot hold the tag without decompressing them.
//!
//! Written out rather than taken from a crate because its bytes are stored: the Bloom crates
//! seed their hashers per process or do not promise a stable layout, and this one is a few
//! lines over hashes the store already computes (`blocks::tag_hash`).

/// Bits per distinct tag: with [`PROBES`] probes, about 1 % false positives.
const BITS_PER_TAG: usize = 10;
const PROBES: u32 = 7;

/// A filter of `hashes` (duplicates allowed): 64-bit words, little-endian, their count a power
/// of two.
pub(crate) fn build(hashes: &mut Vec<u64>) -> Vec<u8> {
    hashes.sort_unstable();
    hashes.dedup();
    let words = (hashes.len() * BITS_PER_TAG)
        .div_ceil(64)
        .next_power_of_two();
    let mut bits = vec![0u64; words];
    for &h in hashes.iter() {
        for bit in probes(h, words) {
            bits[bit / 64] |= 1 << (bit % 64);
        }
    }
    bits.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Whether the filter may hold `hash` (false: it surely does not). A filter that is not whole
/// words (never written so) may hold anything.
pub(crate) fn may_contain(filter: &[u8], hash: u64) -> bool {
    let words = filter.len() / 8;
    if words == 0 || !filter.len().is_multiple_of(8) || !words.is_power_of_two() {
        return true;
    }
    probes(hash, words).all(|bit| {
        let at = (bit / 64) * 8;
        let word = filter
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(u64::MAX, u64::from_le_bytes);
        word & (1 << (bit % 64)) != 0
    })
}

/// The bits `hash` sets, by double hashing (Kirsch and Mitzenmacher).
fn probes(hash: u64, words: usize) -> impl Iterator<Item = usize> {
    let mask = (words * 64 - 1) as u64;
    // FNV's low bits mix poorly: spread them first (splitmix64's finalizer).
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let (h1, h2) = (z, (z >> 32) | 1);
    (0..PROBES).map(move |i| {
        let bit = h1.wrapping_add(u64::from(i).wrapping_mul(h2)) & mask;
        // The mask keeps the value below the filter's bit count, a usize.
        usize::try_from(bit).unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blocks::tag_hash;

    #[test]
    fn a_filter_holds_what_it_was_built_from_and_rarely_anything_else() {
        let mut hashes: Vec<u64> = (0..1000)
            .map(|i| tag_hash("user.id", &i.to_string()))
            .collect();
        let filter = build(&mut hashes);
        for i in 0..1000 {
            assert!(may_contain(&filter, tag_hash("user.id", &i.to_string())));
        }
        let false_positives = (1000..11_000)
            .filter(|i| may_contain(&filter, tag_hash("user.id", &i.to_string())))
            .count();
        assert!(false_positives < 300, "{false_positives} of 10,000");
    }

    #[test]
    fn an_empty_or_damaged_filter_excludes_nothing() {
        let empty = build(&mut Vec::new());
        assert!(!may_contain(&empty, tag_hash("k", "v")));
        assert!(may_contain(&[1, 2, 3], tag_hash("k", "v")));
        assert!(may_contain(&[], tag_hash("k", "v")));
    }
}
