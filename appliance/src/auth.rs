//! Voter credentials: PBKDF2-HMAC-SHA256 password hashes with a random
//! salt per voter, and random 256-bit session tokens stored only as hashes.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

use crate::ledger::{Hash32, sha256};

/// PBKDF2 iterations for new passwords.
pub const PBKDF2_ITERATIONS: u32 = 100_000;
pub const SALT_LEN: usize = 16;
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
/// How long a login stays valid.
pub const SESSION_TTL_MS: u64 = 12 * 60 * 60 * 1000;

pub struct PasswordHash {
    pub hash: Vec<u8>,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the OS random generator works");
    out
}

pub fn hash_password(password: &str) -> PasswordHash {
    let salt = random_bytes::<SALT_LEN>().to_vec();
    let mut hash = vec![0u8; digest::SHA256_OUTPUT_LEN];
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).expect("nonzero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut hash,
    );
    PasswordHash {
        hash,
        salt,
        iterations: PBKDF2_ITERATIONS,
    }
}

/// Constant-time check of a password against its stored hash.
pub fn verify_password(password: &str, hash: &[u8], salt: &[u8], iterations: u32) -> bool {
    let Some(iterations) = NonZeroU32::new(iterations) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        hash,
    )
    .is_ok()
}

/// A new session token (64 hex digits) and the hash that is stored.
pub fn new_token() -> (String, Hash32) {
    let token = hex::encode(random_bytes::<32>());
    let h = token_hash(&token);
    (token, h)
}

pub fn token_hash(token: &str) -> Hash32 {
    sha256(token.as_bytes())
}

/// Compares two secrets in constant time: both are hashed first, so
/// neither their contents nor their lengths shape the comparison.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (ha, hb) = (sha256(a.as_bytes()), sha256(b.as_bytes()));
    let diff =
        ha.0.iter()
            .zip(hb.0.iter())
            .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse");
        assert!(verify_password(
            "correct horse",
            &h.hash,
            &h.salt,
            h.iterations
        ));
        assert!(!verify_password(
            "correct horsf",
            &h.hash,
            &h.salt,
            h.iterations
        ));
        assert!(!verify_password("correct horse", &h.hash, &h.salt, 0));
        let h2 = hash_password("correct horse");
        assert_ne!(h.salt, h2.salt, "salts are random");
        assert_ne!(h.hash, h2.hash);
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (t1, h1) = new_token();
        let (t2, _) = new_token();
        assert_eq!(t1.len(), 64);
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), h1);
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}

/// Counts attempts per key in fixed windows and refuses past a limit. The
/// table is bounded: when full, expired entries go first, then new keys are
/// refused (a flood of distinct keys cannot grow it without bound).
pub struct RateLimiter {
    window_ms: u64,
    max: u32,
    capacity: usize,
    entries: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u32)>>,
}

impl RateLimiter {
    pub fn new(window_ms: u64, max: u32, capacity: usize) -> Self {
        Self {
            window_ms,
            max,
            capacity,
            entries: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Counts one attempt for `key`; `Err(retry_after_ms)` when over the limit.
    pub fn hit(&self, key: &str, now_ms: u64) -> Result<(), u64> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= self.capacity {
            let window = self.window_ms;
            map.retain(|_, (start, _)| now_ms < *start + window);
            if map.len() >= self.capacity {
                return Err(self.window_ms);
            }
        }
        let entry = map.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms >= entry.0 + self.window_ms {
            *entry = (now_ms, 0);
        }
        if entry.1 >= self.max {
            return Err(entry.0 + self.window_ms - now_ms);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether `key` is over the limit now, without counting an attempt;
    /// `Err(retry_after_ms)` if it is.
    pub fn check(&self, key: &str, now_ms: u64) -> Result<(), u64> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((start, n)) if now_ms < start + self.window_ms && *n >= self.max => {
                Err(start + self.window_ms - now_ms)
            }
            _ => Ok(()),
        }
    }

    /// Forgets `key` (e.g. an account after a successful login).
    pub fn clear(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod limiter_tests {
    use super::RateLimiter;

    #[test]
    fn limits_per_key_per_window_and_stays_bounded() {
        let r = RateLimiter::new(1_000, 3, 2);
        for _ in 0..3 {
            assert!(r.hit("a", 0).is_ok());
        }
        assert_eq!(r.hit("a", 10), Err(990));
        assert!(r.hit("b", 10).is_ok(), "other keys are not affected");
        assert!(r.hit("c", 10).is_err(), "the table is full");
        assert!(r.hit("a", 1_000).is_ok(), "a new window");
        assert!(r.hit("c", 2_500).is_ok(), "expired entries make room");
        r.clear("c");
        for _ in 0..3 {
            assert!(r.hit("c", 2_600).is_ok());
        }
    }
}

/// The operating system's randomness (through ring) as a `rand_core`
/// generator, for the drivers: the pure core receives it as an argument.
pub struct OsRandom(SystemRandom);

impl Default for OsRandom {
    fn default() -> Self {
        Self(SystemRandom::new())
    }
}

impl rand_core::RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest).expect("the OS random generator works");
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for OsRandom {}
