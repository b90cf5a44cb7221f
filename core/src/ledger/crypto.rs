//! Ed25519 keys and signatures (ring).
//!
//! Every signature covers the 32-byte SHA-256 digest of the canonical form
//! of a JSON object that carries `type` and `chain_id`, so a signature made
//! for one kind of message or one chain never verifies as another.

use ring::rand::SecureRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::Serialize;

use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::hash_of;
use super::error::LedgerError;

/// A node's signing key. Ed25519 signing is deterministic, so the core can
/// sign without drawing randomness.
pub struct NodeKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.public)
    }
}

impl NodeKey {
    /// A new PKCS#8 document; randomness comes from the caller.
    pub fn generate_pkcs8(rng: &dyn SecureRandom) -> Result<Vec<u8>, LedgerError> {
        Ed25519KeyPair::generate_pkcs8(rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| LedgerError::Key("could not generate an Ed25519 key".into()))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, LedgerError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| LedgerError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let mut pk = [0u8; 32];
        pk.copy_from_slice(pair.public_key().as_ref());
        Ok(Self {
            pair,
            public: PublicKey(pk),
        })
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub fn sign_digest(&self, digest: &Hash32) -> Signature {
        let sig = self.pair.sign(digest.as_bytes());
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        Signature(out)
    }

    /// Signs the hash of `msg`'s canonical form.
    pub fn sign<T: Serialize>(&self, msg: &T) -> Result<Signature, LedgerError> {
        Ok(self.sign_digest(&hash_of(msg)?))
    }
}

pub fn verify_digest(key: &PublicKey, digest: &Hash32, sig: &Signature) -> bool {
    UnparsedPublicKey::new(&ED25519, key.as_bytes())
        .verify(digest.as_bytes(), sig.as_bytes())
        .is_ok()
}

/// Verifies `sig` over the hash of `msg`'s canonical form.
pub fn verify<T: Serialize>(
    key: &PublicKey,
    msg: &T,
    sig: &Signature,
) -> Result<bool, LedgerError> {
    Ok(verify_digest(key, &hash_of(msg)?, sig))
}

/// A 20-byte address derived from a public key, for Ethereum-shaped
/// JSON-RPC answers: the last 20 bytes of SHA-256(public key).
pub fn address_of(key: &PublicKey) -> [u8; 20] {
    let h = super::canonical::sha256(key.as_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(&h.0[12..]);
    out
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod test_keys {
    use super::NodeKey;

    /// A key derived from a seed byte, for tests and vectors only.
    pub fn key(seed: u8) -> NodeKey {
        NodeKey::from_pkcs8(&pkcs8_from_seed([seed; 32])).expect("valid test key")
    }

    pub fn pkcs8_from_seed(seed: [u8; 32]) -> Vec<u8> {
        super::pkcs8_from_seed(&seed)
    }
}

/// Wraps a raw 32-byte Ed25519 seed in a PKCS#8 v1 document (RFC 8410),
/// which ring reads with `from_pkcs8_maybe_unchecked`. Used to make
/// deterministic keys for the test vectors and the simulator.
pub fn pkcs8_from_seed(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut out = PREFIX.to_vec();
    out.extend_from_slice(seed);
    out
}

#[cfg(test)]
mod tests {
    use super::test_keys::key;
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_and_verify() {
        let k = key(1);
        let msg = json!({"type": "commit", "chain_id": "0x00", "height": 1});
        let sig = k.sign(&msg).unwrap();
        assert!(verify(&k.public(), &msg, &sig).unwrap());
        let other = json!({"type": "proposal", "chain_id": "0x00", "height": 1});
        assert!(!verify(&k.public(), &other, &sig).unwrap());
        assert!(!verify(&key(2).public(), &msg, &sig).unwrap());
    }

    #[test]
    fn refuses_garbage_keys() {
        assert!(NodeKey::from_pkcs8(b"not a key").is_err());
    }
}
