//! Ciphertext points decoded by a ballot check, kept until the running
//! tally adds them. Every node checks a ballot when it arrives and adds its
//! ciphertexts to the tally when its block commits, a second or so later;
//! decoding a point costs an inverse square root, and decoding the 2n
//! ciphertext points of every ballot again at commit was 3% of a loaded
//! testnet's CPU. The memo changes no result: a point not remembered (or
//! evicted) is decoded as before. Bounded, oldest first out; a point is
//! forgotten when the tally takes it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use curve25519_dalek::ristretto::RistrettoPoint;

use super::encoding::{EncodingError, Point};

/// Ciphertext points remembered at most (6 per 3-candidate ballot: about
/// 10,000 ballots, 13 MB).
pub const MAX_REMEMBERED_POINTS: usize = 65_536;

#[derive(Default)]
struct Memo {
    points: BTreeMap<[u8; 32], RistrettoPoint>,
    order: VecDeque<[u8; 32]>,
}

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(Default::default);

fn memo() -> std::sync::MutexGuard<'static, Memo> {
    // The memo holds only decoded public points: after a panic elsewhere
    // its contents are still right.
    MEMO.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remembers decoded ciphertext points (each `decoded` is the point that
/// its `bytes` encode).
pub(crate) fn remember(decoded: &[([u8; 32], RistrettoPoint)]) {
    let mut m = memo();
    for (bytes, point) in decoded {
        if m.points.insert(*bytes, *point).is_none() {
            m.order.push_back(*bytes);
        }
        while m.order.len() > MAX_REMEMBERED_POINTS {
            if let Some(old) = m.order.pop_front() {
                m.points.remove(&old);
            }
        }
    }
}

/// The decoded `points`, from the memo where remembered (and then
/// forgotten there), decoded otherwise.
pub(crate) fn take(points: &[&Point]) -> Result<Vec<RistrettoPoint>, EncodingError> {
    let found: Vec<Option<RistrettoPoint>> = {
        let mut m = memo();
        points
            .iter()
            .map(|p| m.points.remove(p.as_bytes()))
            .collect()
    };
    points
        .iter()
        .zip(found)
        .map(|(p, f)| f.map_or_else(|| p.decode(), Ok))
        .collect()
}

#[cfg(test)]
pub(crate) fn remembered(bytes: &[u8; 32]) -> bool {
    memo().points.contains_key(bytes)
}
