//! Quorum arithmetic, in one place (pitfall 8: wrong quorum sizes have shipped before).

/// The number of votes that make a majority of `voters` (paper §5.2: "a majority of the
/// servers in the full cluster").
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// The largest value that at least a majority of `values` reach: the commit index from match
/// indexes (paper §5.3, Figure 2 "Rules for Leaders"), or the confirmed read round from
/// acknowledged rounds (thesis §6.4). `values` holds one value per voter, the leader included.
pub fn quorum_value<T: Copy + Ord + Default>(values: &[T]) -> T {
    if values.is_empty() {
        return T::default();
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[majority(values.len()) - 1]
}

/// True if `granted` votes out of `voters` form a majority.
pub fn has_majority(granted: usize, voters: usize) -> bool {
    granted >= majority(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious, slow definition: the largest candidate value that at least half plus one
    /// of the voters have reached.
    fn naive(values: &[u64]) -> u64 {
        let n = values.len();
        (0..=values.iter().copied().max().unwrap_or(0))
            .filter(|&v| values.iter().filter(|&&x| x >= v).count() * 2 > n)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn majority_sizes() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
        assert_eq!(majority(7), 4);
    }

    /// Pitfall 8: the quorum function agrees with the naive definition on every small input.
    #[test]
    fn quorum_value_matches_naive_definition() {
        for n in 1..=7usize {
            // Every vector of n values in 0..4 (4^7 = 16384 cases at most).
            let total = 4usize.pow(n as u32);
            for code in 0..total {
                let mut c = code;
                let values: Vec<u64> = (0..n)
                    .map(|_| {
                        let v = (c % 4) as u64;
                        c /= 4;
                        v
                    })
                    .collect();
                assert_eq!(quorum_value(&values), naive(&values), "values {values:?}");
            }
        }
    }
}
