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
pub use super::verified::forget_verified;

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

    /// Signs a digest; the signature counts as verified in this process
    /// from then on (`verified`).
    pub fn sign_digest(&self, digest: &Hash32) -> Signature {
        let sig = self.pair.sign(digest.as_bytes());
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        let sig = Signature(out);
        super::verified::remember_signed(&self.public, digest, &sig);
        sig
    }

    /// Signs the hash of `msg`'s canonical form.
    pub fn sign<T: Serialize>(&self, msg: &T) -> Result<Signature, LedgerError> {
        Ok(self.sign_digest(&hash_of(msg)?))
    }
}

/// The encodings of the eight points of order dividing 8, with the sign
/// bit as it comes and, for the two points with x = 0, with it set too
/// (an encoding RFC 8032 refuses, which ring reads as the same point).
/// Anyone can sign "for" such a key: with the identity as the key, `R =
/// [S]B` verifies under any message.
const SMALL_ORDER_KEYS: [[u8; 32]; 10] = {
    const fn key(first: [u8; 3], fill: u8, last: u8) -> [u8; 32] {
        let mut k = [fill; 32];
        k[0] = first[0];
        k[1] = first[1];
        k[2] = first[2];
        k[31] = last;
        k
    }
    [
        key([0x01, 0, 0], 0, 0x00),          // the identity
        key([0x01, 0, 0], 0, 0x80),          // the identity, sign bit set
        key([0xec, 0xff, 0xff], 0xff, 0x7f), // order 2: y = p - 1
        key([0xec, 0xff, 0xff], 0xff, 0xff), // order 2, sign bit set
        key([0, 0, 0], 0, 0x00),             // order 4: y = 0
        key([0, 0, 0], 0, 0x80),             // order 4, the other x
        ORDER_8[0],
        ORDER_8[1],
        ORDER_8[2],
        ORDER_8[3],
    ]
};

/// The four points of order 8 (two values of y, each with both signs of x).
const ORDER_8: [[u8; 32]; 4] = [
    hex32(*b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32(*b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    hex32(*b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32(*b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
];

const fn hex32(s: [u8; 64]) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(s[2 * i]) << 4 | digit(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// Whether a public key is weak (PROTOCOL.md §2): its y coordinate is not
/// below p = 2^255 - 19 (a non-canonical encoding), or it encodes a point
/// of small order. No signature under a weak key is valid, and no weak key
/// may be named in a genesis or a credential record, so that verifiers on
/// other Ed25519 libraries (which differ exactly there) agree with this one.
pub fn is_weak_key(key: &PublicKey) -> bool {
    let b = key.as_bytes();
    // y >= p: the low 255 bits are 2^255 - 19 ..= 2^255 - 1, that is bytes
    // 1..=30 all 0xff, the last 0x7f (sign bit cleared), the first >= 0xed.
    let y_not_canonical =
        b[0] >= 0xed && b[1..31].iter().all(|&x| x == 0xff) && b[31] & 0x7f == 0x7f;
    y_not_canonical || SMALL_ORDER_KEYS.contains(b)
}

/// RFC 8032 verification as PROTOCOL.md §2 states it: the key is not weak,
/// it decodes, `S < ℓ`, and `[S]B - [k]A` encodes to exactly `R` (the
/// cofactorless equation). ring 0.17 does the last three.
/// A triple verified before in this process is not verified again
/// (`verified`).
pub fn verify_digest(key: &PublicKey, digest: &Hash32, sig: &Signature) -> bool {
    !is_weak_key(key)
        && super::verified::verified_with(key, digest, sig, || {
            UnparsedPublicKey::new(&ED25519, key.as_bytes())
                .verify(digest.as_bytes(), sig.as_bytes())
                .is_ok()
        })
}

/// Verifies `sig` over the hash of `msg`'s canonical form.
pub fn verify<T: Serialize>(
    key: &PublicKey,
    msg: &T,
    sig: &Signature,
) -> Result<bool, LedgerError> {
    Ok(verify_digest(key, &hash_of(msg)?, sig))
}

/// A key made from a raw 32-byte Ed25519 seed (RFC 8032 §5.1.5): a voter's
/// credential, derived from the code on their voting card.
pub fn key_from_seed(seed: &[u8; 32]) -> NodeKey {
    let pair = Ed25519KeyPair::from_seed_unchecked(seed).expect("every 32-byte seed makes a key");
    let mut pk = [0u8; 32];
    pk.copy_from_slice(pair.public_key().as_ref());
    NodeKey {
        pair,
        public: PublicKey(pk),
    }
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
    fn weak_keys_are_refused_even_where_ring_would_accept() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        let digest = Hash32([5; 32]);
        // Under the identity, R = [s]B, S = s verifies for any message in
        // ring; the weak-key rule refuses it.
        let s = curve25519_dalek::Scalar::from(7u64);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&(ED25519_BASEPOINT_POINT * s).compress().to_bytes());
        sig[32..].copy_from_slice(&s.to_bytes());
        let identity = PublicKey(SMALL_ORDER_KEYS[0]);
        assert!(
            UnparsedPublicKey::new(&ED25519, identity.as_bytes())
                .verify(digest.as_bytes(), &sig)
                .is_ok()
        );
        assert!(!verify_digest(&identity, &digest, &Signature(sig)));
        for t in EIGHT_TORSION {
            let mut enc = t.compress().to_bytes();
            assert!(is_weak_key(&PublicKey(enc)));
            enc[31] ^= 0x80;
            assert!(is_weak_key(&PublicKey(enc)), "{}", hex::encode(enc));
        }
        // y = p + 1 (the identity again, not canonical) and y = 2^255 - 1
        let mut p1 = [0xffu8; 32];
        p1[0] = 0xee;
        p1[31] = 0x7f;
        assert!(is_weak_key(&PublicKey(p1)));
        assert!(is_weak_key(&PublicKey([0xff; 32])));
        p1[0] = 0xec; // p - 1: canonical, and of order 2
        assert!(is_weak_key(&PublicKey(p1)));
        p1[0] = 0xeb; // p - 2: canonical, not a small-order point
        assert!(!is_weak_key(&PublicKey(p1)));
        assert!(!is_weak_key(&key(1).public()));
    }

    #[test]
    fn a_seed_makes_the_key_its_pkcs8_document_makes() {
        let seed = [9u8; 32];
        assert_eq!(
            key_from_seed(&seed).public(),
            NodeKey::from_pkcs8(&pkcs8_from_seed(&seed))
                .unwrap()
                .public()
        );
    }

    #[test]
    fn refuses_garbage_keys() {
        assert!(NodeKey::from_pkcs8(b"not a key").is_err());
    }
}
