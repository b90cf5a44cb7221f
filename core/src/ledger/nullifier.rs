//! Nullifiers: HMAC-SHA256 under the election-wide secret over the voter's
//! normalized identity. The identity never reaches the chain; the same
//! voter gets the same nullifier on every appliance of the election, and
//! unlinkable ones in different elections.

use ring::hmac;
use serde::Serialize;

use super::bytes::Hash32;
use super::canonical::canonical_bytes;
use super::error::LedgerError;

/// Minimum length of the election-wide nullifier secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Trims and lower-cases an identity (an email address) so that trivial
/// spelling differences cannot yield a second nullifier.
pub fn normalize_identity(identity: &str) -> String {
    identity.trim().to_lowercase()
}

#[derive(Serialize)]
struct NullifierInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    election_id: u64,
    identity: &'a str,
}

pub fn nullifier(secret: &[u8], election_id: u64, identity: &str) -> Result<Hash32, LedgerError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(LedgerError::Key(format!(
            "nullifier secret must be at least {MIN_SECRET_LEN} bytes"
        )));
    }
    let normalized = normalize_identity(identity);
    let msg = canonical_bytes(&NullifierInput {
        kind: "nullifier",
        election_id,
        identity: &normalized,
    })?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    Ok(Hash32(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_voter_same_election_same_nullifier() {
        let s = [7u8; 32];
        let a = nullifier(&s, 1, "Alice@Example.org ").unwrap();
        assert_eq!(a, nullifier(&s, 1, "alice@example.org").unwrap());
        assert_ne!(a, nullifier(&s, 2, "alice@example.org").unwrap());
        assert_ne!(a, nullifier(&s, 1, "bob@example.org").unwrap());
        assert_ne!(a, nullifier(&[8u8; 32], 1, "alice@example.org").unwrap());
        assert!(nullifier(&[1u8; 8], 1, "a").is_err());
    }
}
