//! Small, fast, non-cryptographic hashing for the checker's hot paths.
//!
//! The search hashes millions of (linearized-set, state) pairs; std's SipHash
//! is built to resist adversarial keys, which a history file cannot exploit
//! here in any way that matters, so a multiply-rotate hash is used instead.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the Fx hash (the one rustc uses), a large odd constant.
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A word-at-a-time multiply-rotate hasher in the style of rustc's FxHasher.
#[derive(Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl Default for FxHasher {
    /// Starts from a non-zero state, so that leading zero words still change the hash.
    fn default() -> Self {
        FxHasher { hash: 0x243f_6a88_85a3_08d3 }
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        if let Some((word, tail)) = rest.split_first_chunk::<4>() {
            self.add(u64::from(u32::from_le_bytes(*word)));
            rest = tail;
        }
        if let Some((word, tail)) = rest.split_first_chunk::<2>() {
            self.add(u64::from(u16::from_le_bytes(*word)));
            rest = tail;
        }
        if let Some(&byte) = rest.first() {
            self.add(u64::from(byte));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap`/`HashSet` builder using [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// SplitMix64's finalizer: spreads every input bit over the whole output.
///
/// Used to derive one random-looking 64-bit key per operation (Zobrist
/// hashing of the linearized set) and to mix the state into the hash.
#[inline]
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    #[test]
    fn fx_distinguishes_strings() {
        let h = |s: &str| {
            let mut h = FxHasher::default();
            s.hash(&mut h);
            h.finish()
        };
        assert_ne!(h("v1"), h("v2"));
        assert_ne!(h(""), h("\0"));
        assert_eq!(h("same"), h("same"));
    }

    #[test]
    fn mix_spreads() {
        assert_ne!(mix64(0), mix64(1));
        assert_ne!(mix64(1) & 0xff, mix64(2) & 0xff);
    }
}
