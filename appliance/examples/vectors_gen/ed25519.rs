//! `ed25519.json`: which Ed25519 signatures PROTOCOL.md §2 accepts, at the
//! edges where libraries differ (non-canonical encodings, small-order and
//! mixed-order keys, a small-order R), each checked with the ledger's own
//! `verify_digest` when generated.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use evote_core::ledger::crypto::{key_from_seed, verify_digest};
use evote_core::ledger::{Hash32, PublicKey, Signature};
use serde::Serialize;
use sha2::{Digest, Sha512};

#[derive(Serialize)]
pub(super) struct Ed25519File {
    description: &'static str,
    vectors: Vec<Ed25519Vector>,
}

#[derive(Serialize)]
struct Ed25519Vector {
    description: &'static str,
    public_key: String,
    message: Hash32,
    signature: String,
    valid: bool,
}

/// The RFC 8032 secret scalar of a seed (SHA-512, first half, clamped).
fn secret_scalar(seed: &[u8; 32]) -> Scalar {
    let h = Sha512::digest(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    Scalar::from_bytes_mod_order(a)
}

fn challenge(r: &[u8; 32], a: &[u8; 32], m: &Hash32) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(m.as_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn sig(r: [u8; 32], s: [u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&r);
    out[32..].copy_from_slice(&s);
    out
}

fn hex(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// A signature of `m` under key `a_enc` with nonce scalar `r`, the secret
/// scalar `a` (R as given, S = r + k a).
fn sign_with(r_enc: [u8; 32], r: Scalar, a_enc: &[u8; 32], a: Scalar, m: &Hash32) -> [u8; 64] {
    let k = challenge(&r_enc, a_enc, m);
    sig(r_enc, (r + k * a).to_bytes())
}

pub(super) fn ed25519_file() -> Ed25519File {
    let m = Hash32(
        Sha512::digest(b"evote ed25519 vector").as_slice()[..32]
            .try_into()
            .unwrap(),
    );
    let seed = [0x01u8; 32];
    let key = key_from_seed(&seed);
    let a = secret_scalar(&seed);
    let a_enc = key.public().0;
    assert_eq!(
        (B * a).compress().to_bytes(),
        a_enc,
        "RFC 8032 key derivation"
    );
    let mut v = Vec::new();
    let mut push = |description, public: [u8; 32], signature: [u8; 64], valid| {
        let got = verify_digest(&PublicKey(public), &m, &Signature(signature));
        assert_eq!(got, valid, "{description}");
        v.push(Ed25519Vector {
            description,
            public_key: hex(&public),
            message: m,
            signature: hex(&signature),
            valid,
        });
    };

    let honest = key.sign_digest(&m).0;
    push(
        "An honest signature (RFC 8032, deterministic nonce).",
        a_enc,
        honest,
        true,
    );
    let mut wrong = m.0;
    wrong[0] ^= 1;
    let other = key.sign_digest(&Hash32(wrong)).0;
    push(
        "The key's signature over another message.",
        a_enc,
        other,
        false,
    );

    // S + ℓ: the same equation holds modulo ℓ, but S is not canonical.
    // ℓ, little-endian (PROTOCOL.md E.1).
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .expect("hex")
            .try_into()
            .expect("32 bytes");
    let mut s_plus_l = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let x = u16::from(honest[32 + i]) + u16::from(l[i]) + carry;
        s_plus_l[i] = x as u8;
        carry = x >> 8;
    }
    let mut r = [0u8; 32];
    r.copy_from_slice(&honest[..32]);
    push(
        "The honest signature with S + ℓ in place of S (S must be below ℓ).",
        a_enc,
        sig(r, s_plus_l),
        false,
    );

    // A small-order R: the nonce 0, R the identity.
    let identity = EdwardsPoint::default().compress().to_bytes();
    push(
        "R is the identity (nonce 0, a point of small order), canonically encoded: the \
         equation holds, so it is valid (some libraries' strict modes refuse it).",
        a_enc,
        sign_with(identity, Scalar::ZERO, &a_enc, a, &m),
        true,
    );
    let mut minus_zero = identity;
    minus_zero[31] |= 0x80;
    push(
        "R is the identity encoded with the sign bit set (not canonical): [S]B - [k]A \
         encodes to 0x0100..00, not to R's bytes.",
        a_enc,
        sign_with(minus_zero, Scalar::ZERO, &a_enc, a, &m),
        false,
    );

    // Weak keys: under the identity, R = [s]B, S = s satisfies the
    // equation for every message.
    let s = Scalar::from(7u64);
    let forged = sig((B * s).compress().to_bytes(), s.to_bytes());
    push(
        "The key is the identity (small order): R = [7]B, S = 7 satisfies the equation for \
         any message, so no signature under a weak key is valid.",
        identity,
        forged,
        false,
    );
    let mut p_plus_1 = [0xffu8; 32];
    p_plus_1[0] = 0xee;
    p_plus_1[31] = 0x7f;
    push(
        "The key is y = p + 1, a non-canonical encoding of the identity: weak.",
        p_plus_1,
        forged,
        false,
    );
    for t in [EIGHT_TORSION[1], EIGHT_TORSION[4]] {
        let enc = t.compress().to_bytes();
        push(
            "The key is a point of small order (order 8 or 2): weak.",
            enc,
            forged,
            false,
        );
    }

    // A mixed-order key A' = A + T (T of order 8): the cofactorless
    // equation holds only when 8 divides k.
    let t8 = EIGHT_TORSION[1];
    let mixed = (B * a + t8).compress().to_bytes();
    let mut found = [false; 2];
    for n in 0u64.. {
        let r = Scalar::from(1_000 + n);
        let r_enc = (B * r).compress().to_bytes();
        let k = challenge(&r_enc, &mixed, &m);
        let divisible = k.to_bytes()[0].is_multiple_of(8);
        let i = usize::from(divisible);
        if found[i] {
            continue;
        }
        found[i] = true;
        let signature = sign_with(r_enc, r, &mixed, a, &m);
        if divisible {
            push(
                "A mixed-order key (an honest key plus a point of order 8) and a signature \
                 whose k is a multiple of 8: the cofactorless equation holds, valid.",
                mixed,
                signature,
                true,
            );
        } else {
            push(
                "The same mixed-order key, a signature whose k is not a multiple of 8: \
                 the cofactorless equation fails (a cofactored verifier would accept it).",
                mixed,
                signature,
                false,
            );
        }
        if found == [true; 2] {
            break;
        }
    }
    // A key whose y has no x on the curve (y = 2).
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    push(
        "The key does not decode to a point (y = 2).",
        not_a_point,
        honest,
        false,
    );

    Ed25519File {
        description: "Ed25519 as PROTOCOL.md §2 states it: a signature (R, S) over the message M \
                      (here a 32-byte digest, as every evote message is) is valid under the key A \
                      exactly when A is not weak (its y is below p and it is not one of the \
                      encodings of a point of order dividing 8), A decodes to a point, S < ℓ, and \
                      [S]B - [k]A encodes to exactly the 32 bytes R, with k = SHA-512(R || A || \
                      M) mod ℓ (the cofactorless equation).",
        vectors: v,
    }
}
