//! Voter credentials (Belenios' model, PROTOCOL.md §4a): a credential
//! authority, separate from the election authority and from every
//! appliance, gives each voter a code printed on a voting card; the code
//! and the election id make an Ed25519 key pair whose public half is
//! listed in the genesis. A ballot counts only if that key signed it, and
//! the public key is the ballot's nullifier, so one credential casts at
//! most one ballot and no appliance can vote for a voter whose card it has
//! not read.

use serde::Serialize;
use sha2::{Digest, Sha256};

use serde::Deserialize;

use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::hash_of;
use super::crypto::{NodeKey, key_from_seed, verify_digest};
use super::error::LedgerError;
use super::genesis::{Eligibility, RollCommitment};

/// The secret a card carries: 80 random bits.
pub const CODE_SECRET_LEN: usize = 10;
/// Characters of a code as printed, without the dashes: 16 for the secret
/// and 2 for the check.
pub const CODE_CHARS: usize = 18;

/// Crockford's base32: no I, L, O or U, so that a typed code is not
/// misread; I and L are read as 1 and O as 0 when parsing.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The secret on a voter's card.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialCode([u8; CODE_SECRET_LEN]);

impl std::fmt::Debug for CredentialCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialCode(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a voting code has {CODE_CHARS} letters and digits, this one has {0}")]
    Length(usize),
    #[error("{0:?} is not a letter or digit of a voting code")]
    Character(char),
    #[error("the code's last two characters do not match: a character was mistyped")]
    Check,
}

/// One field of a transcript (PROTOCOL.md E.2): its length as 4 bytes
/// big-endian, then its bytes.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

impl CredentialCode {
    /// The code made of these random bytes (the caller draws them).
    pub fn from_secret(secret: [u8; CODE_SECRET_LEN]) -> Self {
        Self(secret)
    }

    pub fn secret(&self) -> &[u8; CODE_SECRET_LEN] {
        &self.0
    }

    /// Ten check bits: the first ten bits of
    /// SHA-256(field("evote/v1/credential-check") || field(secret)).
    fn check(&self) -> u16 {
        let mut h = Sha256::new();
        field(&mut h, b"evote/v1/credential-check");
        field(&mut h, &self.0);
        let d = h.finalize();
        (u16::from(d[0]) << 2) | (u16::from(d[1]) >> 6)
    }

    /// The 18 characters (16 for the secret, most significant bits first,
    /// then 2 for the check), without dashes.
    pub fn chars(&self) -> String {
        let mut bits: u128 = 0;
        for b in self.0 {
            bits = bits << 8 | u128::from(b);
        }
        bits = bits << 10 | u128::from(self.check());
        (0..CODE_CHARS)
            .rev()
            .map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
            .collect()
    }

    /// The code as printed on a card: groups of four, dash-separated
    /// (`XXXX-XXXX-XXXX-XXXX-CC`).
    pub fn to_text(&self) -> String {
        let c = self.chars();
        let groups: Vec<&str> = [0, 4, 8, 12, 16]
            .iter()
            .map(|&i| &c[i..(i + 4).min(CODE_CHARS)])
            .collect();
        groups.join("-")
    }

    /// Reads a typed or scanned code: case, dashes and spaces do not
    /// matter; I and L read as 1, O as 0.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let mut bits: u128 = 0;
        let mut n = 0;
        for c in text.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            let v = ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .ok_or(CodeError::Character(c))?;
            n += 1;
            if n > CODE_CHARS {
                continue;
            }
            bits = bits << 5 | v as u128;
        }
        if n != CODE_CHARS {
            return Err(CodeError::Length(n));
        }
        let check = (bits & 0x3ff) as u16;
        let secret = (bits >> 10).to_be_bytes();
        let mut out = [0u8; CODE_SECRET_LEN];
        out.copy_from_slice(&secret[16 - CODE_SECRET_LEN..]);
        let code = Self(out);
        if code.check() != check {
            return Err(CodeError::Check);
        }
        Ok(code)
    }

    /// The Ed25519 seed of this code's credential in election
    /// `election_id`: SHA-256(field("evote/v1/credential") ||
    /// field(u64be(election_id)) || field(secret)).
    pub fn seed(&self, election_id: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        field(&mut h, b"evote/v1/credential");
        field(&mut h, &election_id.to_be_bytes());
        field(&mut h, &self.0);
        h.finalize().into()
    }

    /// The credential's key pair in election `election_id`.
    pub fn key(&self, election_id: u64) -> NodeKey {
        key_from_seed(&self.seed(election_id))
    }
}

/// What a credential signs for a ballot: the ballot's hash in its chain
/// and election. The ballot's proofs are bound to the credential (the
/// nullifier) and to the accepting appliance, so this binds them too.
#[derive(Serialize)]
struct BallotCredentialStatement<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a Hash32,
    election_id: u64,
    ballot_hash: &'a Hash32,
}

fn statement_digest(
    chain_id: &Hash32,
    election_id: u64,
    ballot_hash: &Hash32,
) -> Result<Hash32, LedgerError> {
    hash_of(&BallotCredentialStatement {
        kind: "ballot_credential",
        chain_id,
        election_id,
        ballot_hash,
    })
}

/// The credential's signature over a ballot.
pub fn sign_ballot(
    key: &NodeKey,
    chain_id: &Hash32,
    election_id: u64,
    ballot_hash: &Hash32,
) -> Result<Signature, LedgerError> {
    Ok(key.sign_digest(&statement_digest(chain_id, election_id, ballot_hash)?))
}

/// Whether `credential` signed this ballot.
pub fn verify_ballot_signature(
    credential: &PublicKey,
    chain_id: &Hash32,
    election_id: u64,
    ballot_hash: &Hash32,
    signature: &Signature,
) -> Result<bool, LedgerError> {
    let digest = statement_digest(chain_id, election_id, ballot_hash)?;
    Ok(verify_digest(credential, &digest, signature))
}

/// The credential an appliance derives for a voter of an election with
/// open registration (the `dev` demo, PROTOCOL.md §3): the seed is the
/// HMAC of the voter's normalized identity under the election-wide secret
/// (the former nullifier). Anyone holding that secret can sign for every
/// such voter: open registration proves nothing about eligibility.
pub fn open_registration_key(
    secret: &[u8],
    election_id: u64,
    identity: &str,
) -> Result<NodeKey, LedgerError> {
    let seed = super::nullifier::nullifier(secret, election_id, identity)?;
    Ok(key_from_seed(&seed.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialListType {
    CredentialList,
}

/// What the credential authority signs over the public credentials it
/// issued for an election's roll: the roll's commitment and the Merkle
/// root (§5) of the credentials in their (ascending) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialListStatement {
    #[serde(rename = "type")]
    pub kind: CredentialListType,
    pub election_id: u64,
    pub roll: RollCommitment,
    pub credentials_root: Hash32,
}

/// The credential authority's list for the genesis: one public credential
/// per roll entry, sorted, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialList {
    pub statement: CredentialListStatement,
    pub signature: Signature,
    pub credentials: Vec<PublicKey>,
}

fn credentials_root(credentials: &[PublicKey]) -> Hash32 {
    let leaves: Vec<Hash32> = credentials.iter().map(|c| Hash32(c.0)).collect();
    super::merkle::merkle_root(&leaves)
}

impl CredentialList {
    /// Sorts and signs the public credentials issued for `roll`.
    pub fn sign(
        election_id: u64,
        roll: RollCommitment,
        mut credentials: Vec<PublicKey>,
        authority: &NodeKey,
    ) -> Result<Self, LedgerError> {
        credentials.sort_unstable();
        let statement = CredentialListStatement {
            kind: CredentialListType::CredentialList,
            election_id,
            roll,
            credentials_root: credentials_root(&credentials),
        };
        Ok(Self {
            signature: authority.sign(&statement)?,
            statement,
            credentials,
        })
    }

    /// Checks the credential authority's signature and the list, and gives
    /// the election's eligibility for the genesis.
    pub fn eligibility(&self, authority: &PublicKey) -> Result<Eligibility, LedgerError> {
        let st = &self.statement;
        if !super::crypto::verify(authority, st, &self.signature)? {
            return Err(LedgerError::BadSignature {
                what: "credential list",
            });
        }
        if credentials_root(&self.credentials) != st.credentials_root {
            return Err(LedgerError::UnknownCredential(
                "the list is not the one its signature covers".into(),
            ));
        }
        Ok(Eligibility::Roll {
            roll: st.roll,
            credentials: self.credentials.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_back_however_it_is_typed() {
        let code = CredentialCode::from_secret([0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 0xff]);
        let text = code.to_text();
        assert_eq!(text.len(), CODE_CHARS + 4);
        assert_eq!(CredentialCode::parse(&text).unwrap(), code);
        let typed = text.to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(CredentialCode::parse(&typed).unwrap(), code);
        assert_eq!(CredentialCode::parse(&code.chars()).unwrap(), code);
    }

    #[test]
    fn a_mistyped_code_is_refused() {
        let code = CredentialCode::from_secret([7; CODE_SECRET_LEN]);
        let chars = code.chars();
        // every single-character change is caught by the check or the alphabet
        let mut caught = 0;
        for i in 0..CODE_CHARS {
            let mut c: Vec<char> = chars.chars().collect();
            c[i] = if c[i] == 'Z' { 'Y' } else { 'Z' };
            let typed: String = c.into_iter().collect();
            if CredentialCode::parse(&typed).is_err() {
                caught += 1;
            }
        }
        assert!(caught >= CODE_CHARS - 1, "{caught} of {CODE_CHARS} caught");
        assert_eq!(CredentialCode::parse("ABC"), Err(CodeError::Length(3)));
        assert!(matches!(
            CredentialCode::parse(&chars.replace(&chars[..1], "U")),
            Err(CodeError::Character('U'))
        ));
    }

    #[test]
    fn each_election_gets_its_own_key_and_signatures_bind_the_ballot() {
        let code = CredentialCode::from_secret([3; CODE_SECRET_LEN]);
        let (k1, k2) = (code.key(1), code.key(2));
        assert_ne!(k1.public(), k2.public());
        let chain = Hash32([1; 32]);
        let ballot = Hash32([2; 32]);
        let sig = sign_ballot(&k1, &chain, 1, &ballot).unwrap();
        let ok = |k: &PublicKey, c: &Hash32, e: u64, b: &Hash32| {
            verify_ballot_signature(k, c, e, b, &sig).unwrap()
        };
        assert!(ok(&k1.public(), &chain, 1, &ballot));
        assert!(!ok(&k2.public(), &chain, 1, &ballot));
        assert!(!ok(&k1.public(), &Hash32([9; 32]), 1, &ballot));
        assert!(!ok(&k1.public(), &chain, 2, &ballot));
        assert!(!ok(&k1.public(), &chain, 1, &Hash32([9; 32])));
    }
}
