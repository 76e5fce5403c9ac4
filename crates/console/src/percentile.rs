//! The percentile every console figure uses: nearest rank, so that a percentile is always a
//! duration that was measured.

/// The `p` (0..=1) percentile of `sorted` (ascending, not empty) by nearest rank.
pub(crate) fn nearest_rank(sorted: &[i64], p: f64) -> i64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_is_rounded_up_and_kept_in_bounds() {
        let sorted = [10, 20, 30, 40];
        assert_eq!(nearest_rank(&sorted, 0.5), 20);
        assert_eq!(nearest_rank(&sorted, 0.51), 30);
        assert_eq!(nearest_rank(&sorted, 0.99), 40);
        assert_eq!(nearest_rank(&sorted, 0.0), 10);
    }
}
