//! Voter credentials: argon2id password hashes (PHC strings, OWASP's
//! parameters), with hashes of an older appliance (PBKDF2-HMAC-SHA256)
//! still verified and replaced at the next login; random 256-bit session
//! tokens stored only as hashes; the limiter on guessing.

use std::num::NonZeroU32;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

use crate::ledger::{Hash32, sha256};

/// Argon2id memory in KiB, passes and lanes: OWASP's password storage
/// cheat sheet's first configuration (m = 19 MiB, t = 2, p = 1).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;
pub const SALT_LEN: usize = 16;
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
/// How long a login stays valid.
pub const SESSION_TTL_MS: u64 = 12 * 60 * 60 * 1000;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the OS random generator works");
    out
}

fn argon2id() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("OWASP's argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new password's argon2id hash as a PHC string (`$argon2id$v=19$...`).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<SALT_LEN>()).expect("a 16-byte salt encodes");
    argon2id()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashes any password")
        .to_string()
}

/// A password as stored: an argon2id PHC string in `hash` (then `salt` is
/// empty and `iterations` 0), or an older appliance's PBKDF2 hash with its
/// salt and iterations. Nothing stored (a voter checked in by a poll
/// worker) verifies no password.
pub struct StoredPassword<'a> {
    pub hash: &'a [u8],
    pub salt: &'a [u8],
    pub iterations: u32,
}

/// What checking a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right, against an older hash: store this argon2id hash instead.
    YesUpgrade(String),
}

/// Checks `password` against its stored hash, in constant time.
pub fn verify_password(password: &str, stored: &StoredPassword<'_>) -> Verified {
    if stored.hash.starts_with(b"$argon2") {
        let ok = std::str::from_utf8(stored.hash)
            .ok()
            .and_then(|phc| PasswordHash::new(phc).ok())
            .is_some_and(|h| argon2id().verify_password(password.as_bytes(), &h).is_ok());
        return if ok { Verified::Yes } else { Verified::No };
    }
    let Some(iterations) = NonZeroU32::new(stored.iterations) else {
        return Verified::No;
    };
    let ok = pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        stored.salt,
        password.as_bytes(),
        stored.hash,
    )
    .is_ok();
    match ok {
        true => Verified::YesUpgrade(hash_password(password)),
        false => Verified::No,
    }
}

/// An older appliance's PBKDF2-HMAC-SHA256 hash (for tests of the upgrade).
pub fn pbkdf2_hash(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut hash = vec![0u8; digest::SHA256_OUTPUT_LEN];
    let n = NonZeroU32::new(iterations).expect("nonzero iterations");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        password.as_bytes(),
        &mut hash,
    );
    hash
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
    fn passwords_verify_only_themselves_and_old_hashes_are_upgraded() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        fn stored(h: &str) -> StoredPassword<'_> {
            StoredPassword {
                hash: h.as_bytes(),
                salt: &[],
                iterations: 0,
            }
        }
        assert_eq!(verify_password("correct horse", &stored(&h)), Verified::Yes);
        assert_eq!(verify_password("correct horsf", &stored(&h)), Verified::No);
        assert_ne!(h, hash_password("correct horse"), "salts are random");
        assert_eq!(
            verify_password("", &stored("")),
            Verified::No,
            "nothing stored"
        );
        // An older appliance's PBKDF2 hash verifies and asks for an upgrade.
        let old = pbkdf2_hash("correct horse", b"0123456789abcdef", 100_000);
        let older = |iterations| StoredPassword {
            hash: &old,
            salt: b"0123456789abcdef",
            iterations,
        };
        let Verified::YesUpgrade(new) = verify_password("correct horse", &older(100_000)) else {
            panic!("the old hash verifies");
        };
        assert_eq!(
            verify_password("correct horse", &stored(&new)),
            Verified::Yes
        );
        assert_eq!(
            verify_password("wrong horse", &older(100_000)),
            Verified::No
        );
        assert_eq!(verify_password("correct horse", &older(0)), Verified::No);
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
/// table is bounded: when full, expired entries go first, then the entry
/// whose window started longest ago. It never stops limiting: a flood of
/// distinct keys costs the oldest keys their count, never the new ones
/// their limit.
pub struct RateLimiter {
    window_ms: u64,
    max: u32,
    capacity: usize,
    table: std::sync::Mutex<LimiterTable>,
}

#[derive(Default)]
struct LimiterTable {
    /// key → (window start, attempts in it).
    entries: std::collections::BTreeMap<String, (u64, u32)>,
    /// (window start, key), oldest first: what to evict.
    by_start: std::collections::BTreeSet<(u64, String)>,
}

impl LimiterTable {
    fn set(&mut self, key: &str, start: u64, n: u32) {
        if let Some((old, _)) = self.entries.insert(key.to_string(), (start, n)) {
            self.by_start.remove(&(old, key.to_string()));
        }
        self.by_start.insert((start, key.to_string()));
    }

    fn remove(&mut self, key: &str) {
        if let Some((start, _)) = self.entries.remove(key) {
            self.by_start.remove(&(start, key.to_string()));
        }
    }

    /// Drops the entry whose window started first.
    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.by_start.pop_first() {
            self.entries.remove(&key);
        }
    }
}

impl RateLimiter {
    pub fn new(window_ms: u64, max: u32, capacity: usize) -> Self {
        Self {
            window_ms,
            max,
            capacity: capacity.max(1),
            table: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterTable> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt for `key`; `Err(retry_after_ms)` when over the
    /// limit (the attempt is then not counted). Call it before the work the
    /// limit protects: an attempt is counted before it is evaluated, so
    /// concurrent attempts cannot all pass a check made before any counted.
    pub fn hit(&self, key: &str, now_ms: u64) -> Result<(), u64> {
        let mut t = self.lock();
        let (start, n) = match t.entries.get(key) {
            Some(&(start, n)) if now_ms < start + self.window_ms => (start, n),
            _ => (now_ms, 0),
        };
        if n >= self.max {
            return Err(start + self.window_ms - now_ms);
        }
        if !t.entries.contains_key(key) {
            while t.entries.len() >= self.capacity {
                t.evict_oldest();
            }
        }
        t.set(key, start, n + 1);
        Ok(())
    }

    /// Gives back an attempt counted by [`RateLimiter::hit`] (one that
    /// turned out not to count, e.g. a successful login).
    pub fn refund(&self, key: &str) {
        let mut t = self.lock();
        if let Some(&(start, n)) = t.entries.get(key) {
            match n {
                0 | 1 => t.remove(key),
                n => t.set(key, start, n - 1),
            }
        }
    }

    /// Forgets `key` (e.g. an account after a successful login).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Keys tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
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
        assert!(r.hit("a", 1_000).is_ok(), "a new window");
        r.clear("b");
        for _ in 0..3 {
            assert!(r.hit("b", 1_100).is_ok());
        }
        assert!(r.hit("b", 1_100).is_err());
        r.refund("b");
        assert!(
            r.hit("b", 1_100).is_ok(),
            "a refunded attempt is given back"
        );
    }

    #[test]
    fn a_full_table_evicts_the_oldest_and_keeps_limiting_new_keys() {
        let r = RateLimiter::new(60_000, 2, 3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            assert!(r.hit(k, i as u64).is_ok());
        }
        // Full: a new key is tracked (and limited), the oldest goes.
        for _ in 0..2 {
            assert!(r.hit("new", 10).is_ok());
        }
        assert!(
            r.hit("new", 10).is_err(),
            "a new key is limited when the table is full"
        );
        assert_eq!(r.len(), 3);
        assert!(r.hit("a", 10).is_ok(), "the evicted key starts afresh");
        // A flood of distinct keys never lets one key past its limit.
        for i in 0..100 {
            let _ = r.hit(&format!("flood-{i}"), 20);
            assert!(r.len() <= 3);
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
