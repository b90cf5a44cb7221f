//! Bounded discrete logarithms in base G: baby-step giant-step.
//!
//! Finds `x ∈ [0, bound]` with `xG = T`. The baby-step table holds the
//! first 8 bytes of the encodings of `jG` for `j < m`, with `j`, in a
//! sorted `Vec` searched by bisection (no hash map: the ledger module keeps
//! its iteration order deterministic). A giant step walks `T - i·mG` for
//! `i = 0, 1, ...` until an encoding's prefix is in the table; a match is
//! confirmed by computing `xG`, so a prefix collision can never give a
//! wrong answer.
//!
//! `m` balances building the table (once, shared by every target) against
//! walking it (once per target): `m ≈ sqrt(targets · (bound + 1))`, at most
//! 2^20 entries (16 MiB). Encodings are computed in batches with one field
//! inversion per batch (`double_and_compress_batch` on halved points).
//!
//! Cost, for `bound = 10^8`: one target, m = 10^4 and ~2·10^4 point
//! additions and encodings; 3 targets, m ≈ 17 321 (0.3 MiB) and ~3.5·10^4
//! steps in all (tens of milliseconds); 256 targets, m ≈ 1.6·10^5 (2.4 MiB)
//! and ~3.2·10^5 steps (well under a second). The largest bound, 2^32 - 1
//! with 256 targets, takes m = 2^20 (16 MiB) and ~2·10^6 steps (about two
//! seconds).

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

use super::error::CryptoError;

/// The largest tally bound: 2^32 - 1 ballots.
pub const MAX_TALLY: u64 = u32::MAX as u64;

/// The largest baby-step table.
const MAX_BABY_STEPS: u64 = 1 << 20;

/// Points encoded per batch inversion.
const BATCH: usize = 1024;

fn prefix(c: &CompressedRistretto) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&c.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

fn half() -> Scalar {
    Scalar::from(2u64).invert()
}

/// A baby-step table for targets in `[0, bound]`.
pub struct DlogTable {
    bound: u64,
    step: u64,
    /// (encoding prefix of jG, j), sorted.
    entries: Vec<(u64, u32)>,
    /// (step / 2) G: giant steps are taken on halved points so that
    /// `double_and_compress_batch` yields the encodings of the real ones.
    giant_half: RistrettoPoint,
}

impl std::fmt::Debug for DlogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlogTable")
            .field("bound", &self.bound)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl DlogTable {
    /// A table sized for `targets` look-ups in `[0, bound]`.
    pub fn new(bound: u64, targets: usize) -> Result<Self, CryptoError> {
        if bound > MAX_TALLY {
            return Err(CryptoError::BoundTooLarge {
                bound,
                max: MAX_TALLY,
            });
        }
        let span = bound + 1;
        let work = span.saturating_mul(targets.max(1) as u64);
        let mut step = work.isqrt();
        if step.saturating_mul(step) < work {
            step += 1;
        }
        let step = step.clamp(1, span.min(MAX_BABY_STEPS));

        let g_half = RISTRETTO_BASEPOINT_POINT * half();
        let mut entries = Vec::with_capacity(step as usize);
        let mut batch = Vec::with_capacity(BATCH);
        let mut cur = RistrettoPoint::identity();
        let mut j: u32 = 0;
        while u64::from(j) < step {
            batch.clear();
            let first = j;
            while batch.len() < BATCH && u64::from(j) < step {
                batch.push(cur);
                cur += g_half;
                j += 1;
            }
            for (off, c) in RistrettoPoint::double_and_compress_batch(&batch)
                .iter()
                .enumerate()
            {
                entries.push((prefix(c), first + off as u32));
            }
        }
        entries.sort_unstable();
        let giant_half = &(Scalar::from(step) * half()) * RISTRETTO_BASEPOINT_TABLE;
        Ok(Self {
            bound,
            step,
            entries,
            giant_half,
        })
    }

    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Baby steps in the table.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The `x ∈ [0, bound]` with `xG = target`, if there is one.
    pub fn solve(&self, target: &RistrettoPoint) -> Option<u64> {
        let giants = self.bound / self.step + 1;
        let mut cur = target * half();
        let mut batch = Vec::with_capacity(BATCH);
        let mut i: u64 = 0;
        while i < giants {
            batch.clear();
            let first = i;
            while batch.len() < BATCH && i < giants {
                batch.push(cur);
                cur -= self.giant_half;
                i += 1;
            }
            for (off, c) in RistrettoPoint::double_and_compress_batch(&batch)
                .iter()
                .enumerate()
            {
                let key = prefix(c);
                let start = self.entries.partition_point(|e| e.0 < key);
                for &(k, j) in &self.entries[start..] {
                    if k != key {
                        break;
                    }
                    let x = (first + off as u64) * self.step + u64::from(j);
                    if x <= self.bound && &Scalar::from(x) * RISTRETTO_BASEPOINT_TABLE == *target {
                        return Some(x);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: u64) -> RistrettoPoint {
        &Scalar::from(x) * RISTRETTO_BASEPOINT_TABLE
    }

    #[test]
    fn finds_every_value_of_a_small_range_and_nothing_outside() {
        let t = DlogTable::new(50, 3).unwrap();
        for x in 0..=50 {
            assert_eq!(t.solve(&g(x)), Some(x), "x = {x}");
        }
        assert_eq!(t.solve(&g(51)), None);
        assert_eq!(t.solve(&-g(1)), None);
        let zero = DlogTable::new(0, 1).unwrap();
        assert_eq!(zero.solve(&g(0)), Some(0));
        assert_eq!(zero.solve(&g(1)), None);
    }

    #[test]
    fn handles_a_bound_of_a_hundred_million() {
        let bound = 100_000_000;
        let t = DlogTable::new(bound, 3).unwrap();
        assert!(t.step() <= 20_000);
        for x in [0, 1, 9_999, 10_000, 12_345_678, 99_999_999, bound] {
            assert_eq!(t.solve(&g(x)), Some(x), "x = {x}");
        }
        assert_eq!(t.solve(&g(bound + 1)), None);
    }

    #[test]
    fn refuses_bounds_above_the_maximum() {
        assert!(matches!(
            DlogTable::new(MAX_TALLY + 1, 1),
            Err(CryptoError::BoundTooLarge { .. })
        ));
    }
}
