//! What the screens remember between requests, in memory and bounded:
//! voting codes the console hands out, booth sessions (one voter each, from
//! the code to the receipt), operators signed in at the console, and the
//! last problems in words. Time comes in as an argument.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use crate::ledger::Hash32;
use crate::ledger::elgamal::{EncryptedBallot, SecretScalar};
use zeroize::Zeroizing;

/// How long a voting code may wait to be typed at the booth.
pub const CODE_TTL_MS: u64 = 30 * 60_000;
/// A booth left alone this long clears itself.
pub const BOOTH_IDLE_MS: u64 = 5 * 60_000;
/// How long the receipt stays on screen before the booth clears.
pub const RECEIPT_SECONDS: u64 = 60;
/// How long an operator stays signed in at the console.
pub const OPERATOR_TTL_MS: u64 = 12 * 60 * 60_000;
/// Codes, booth sessions and operator sessions held at most (each).
pub const MAX_ENTRIES: usize = 10_000;
/// Problems remembered for the console.
pub const MAX_PROBLEMS: usize = 20;
/// Characters of a voting code: no 0/O, 1/I/L, so it reads aloud well.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a voting code (two groups of four).
pub const CODE_LEN: usize = 8;

/// Where a voter is in the booth. After the review the booth encrypts the
/// choice and shows its tracking code, then asks: cast it, or check it
/// (the ballot is then spoiled, opened and never counted, and the voter
/// votes again; PROTOCOL.md §4e).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An election with a roll: the voter presents their voting card.
    Card,
    Ballot,
    Review,
    /// The ballot is encrypted and its tracking code shown: cast or check.
    Challenge,
    /// The voter checked the ballot: what it opens to, and a way back.
    Spoiled,
    Receipt,
}

impl Step {
    /// The step the review's button leads to.
    pub const fn after_review() -> Step {
        Step::Challenge
    }

    /// (number, total) for "Step n of total"; identifying is step 1.
    pub fn number(self) -> (u32, u32) {
        let n = match self {
            Step::Card => 1,
            Step::Ballot => 2,
            Step::Review => 3,
            Step::Challenge | Step::Spoiled => 4,
            Step::Receipt => 5,
        };
        (n, 5)
    }
}

/// A ballot the booth encrypted and committed to (its tracking code shown)
/// before asking whether to cast or check it. The randomness stays in
/// memory only (zeroized on drop) and leaves it only in a spoiled ballot.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub choice: u64,
    pub ballot: EncryptedBallot,
    pub randomness: Vec<SecretScalar>,
    pub tracking_code: Hash32,
}

/// What the booth shows of a ballot the voter checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub choice: u64,
    pub tracking_code: Hash32,
    pub randomness: Vec<String>,
}

/// What the receipt shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub code: Hash32,
    pub transaction_id: Hash32,
    pub fallback: bool,
    pub shown_at_ms: u64,
}

/// One voter at the booth.
#[derive(Debug, Clone)]
pub struct BoothSession {
    /// What the check-in gave: with open registration the voter's session
    /// token, with a roll the booth pass (taken when the ballot is cast).
    pub voter_token: String,
    /// With a roll: the code of the voter's card, as typed or scanned. It
    /// signs the ballot and stays in memory only, wiped when the session
    /// ends.
    pub card: Option<Zeroizing<String>>,
    pub election_id: u64,
    pub step: Step,
    pub choice: Option<u64>,
    /// The encrypted ballot awaiting "cast or check".
    pub sealed: Option<Sealed>,
    /// The last ballot the voter checked, while its page is shown.
    pub checked: Option<Checked>,
    pub receipt: Option<Receipt>,
    pub touched_ms: u64,
}

impl BoothSession {
    fn expired(&self, now: u64) -> bool {
        match &self.receipt {
            Some(r) => now >= r.shown_at_ms + RECEIPT_SECONDS * 1000,
            None => now >= self.touched_ms + BOOTH_IDLE_MS,
        }
    }
}

#[derive(Default)]
struct Inner {
    codes: BTreeMap<String, (String, u64)>,
    booths: BTreeMap<String, BoothSession>,
    operators: BTreeMap<String, u64>,
    problems: VecDeque<(u64, String)>,
}

/// The screens' memory. Every method takes the time and drops what expired.
#[derive(Default)]
pub struct Kiosk {
    inner: Mutex<Inner>,
}

/// A random voting code, `ABCD-EFGH` without the dash.
fn new_code() -> String {
    let bytes = crate::auth::random_bytes::<CODE_LEN>();
    bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect()
}

/// A voting code as a person may type it: any case, spaces or dashes.
pub fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `ABCDEFGH` as `ABCD-EFGH`.
pub fn show_code(code: &str) -> String {
    if code.len() == CODE_LEN {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// A random session id for a cookie.
pub fn new_session_id() -> String {
    hex::encode(crate::auth::random_bytes::<32>())
}

impl Kiosk {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prune(inner: &mut Inner, now: u64) {
        inner.codes.retain(|_, (_, exp)| now < *exp);
        inner.booths.retain(|_, b| !b.expired(now));
        inner.operators.retain(|_, exp| now < *exp);
    }

    /// A one-time voting code for a checked-in voter's session token, or
    /// None when the table is full.
    pub fn issue_code(&self, voter_token: String, now: u64) -> Option<String> {
        let mut g = self.lock();
        Self::prune(&mut g, now);
        if g.codes.len() >= MAX_ENTRIES {
            return None;
        }
        let code = new_code();
        g.codes
            .insert(code.clone(), (voter_token, now + CODE_TTL_MS));
        Some(code)
    }

    /// Opens a booth session at step `first` for a typed code (used once):
    /// its id.
    pub fn redeem(&self, typed: &str, election_id: u64, first: Step, now: u64) -> Option<String> {
        let code = normalize_code(typed);
        let mut g = self.lock();
        Self::prune(&mut g, now);
        if g.booths.len() >= MAX_ENTRIES {
            return None;
        }
        let (voter_token, _) = g.codes.remove(&code)?;
        let id = new_session_id();
        g.booths.insert(
            id.clone(),
            BoothSession {
                voter_token,
                card: None,
                election_id,
                step: first,
                choice: None,
                sealed: None,
                checked: None,
                receipt: None,
                touched_ms: now,
            },
        );
        Some(id)
    }

    /// The booth session `id`, if it is still open.
    pub fn booth(&self, id: &str, now: u64) -> Option<BoothSession> {
        let mut g = self.lock();
        Self::prune(&mut g, now);
        g.booths.get(id).cloned()
    }

    /// Changes a booth session; false when it is gone.
    pub fn update_booth(&self, id: &str, now: u64, f: impl FnOnce(&mut BoothSession)) -> bool {
        let mut g = self.lock();
        Self::prune(&mut g, now);
        match g.booths.get_mut(id) {
            Some(b) => {
                f(b);
                b.touched_ms = now;
                true
            }
            None => false,
        }
    }

    /// Ends a booth session (the voter finished, or the booth cleared).
    pub fn end_booth(&self, id: &str) {
        self.lock().booths.remove(id);
    }

    /// Signs an operator in: the session id, or None when full.
    pub fn sign_in(&self, now: u64) -> Option<String> {
        let mut g = self.lock();
        Self::prune(&mut g, now);
        if g.operators.len() >= MAX_ENTRIES {
            return None;
        }
        let id = new_session_id();
        g.operators.insert(id.clone(), now + OPERATOR_TTL_MS);
        Some(id)
    }

    pub fn is_operator(&self, id: &str, now: u64) -> bool {
        let mut g = self.lock();
        Self::prune(&mut g, now);
        g.operators.contains_key(id)
    }

    pub fn sign_out(&self, id: &str) {
        self.lock().operators.remove(id);
    }

    /// Remembers a problem for the console (the newest first, bounded).
    pub fn problem(&self, now: u64, what: impl Into<String>) {
        let mut g = self.lock();
        g.problems.push_front((now, what.into()));
        g.problems.truncate(MAX_PROBLEMS);
    }

    pub fn problems(&self) -> Vec<(u64, String)> {
        self.lock().problems.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_opens_one_booth_once_and_expires() {
        let k = Kiosk::default();
        let code = k.issue_code("tok".into(), 0).unwrap();
        assert_eq!(code.len(), CODE_LEN);
        let typed = show_code(&code).to_lowercase();
        let id = k
            .redeem(&typed, 1, Step::Ballot, 10)
            .expect("the code opens a booth");
        assert!(k.redeem(&code, 1, Step::Ballot, 11).is_none(), "used once");
        assert_eq!(k.booth(&id, 20).unwrap().voter_token, "tok");
        let late = k.issue_code("t2".into(), 0).unwrap();
        assert!(
            k.redeem(&late, 1, Step::Ballot, CODE_TTL_MS).is_none(),
            "expired"
        );
    }

    #[test]
    fn booths_clear_when_idle_and_after_the_receipt() {
        let k = Kiosk::default();
        let code = k.issue_code("tok".into(), 0).unwrap();
        let id = k.redeem(&code, 1, Step::Ballot, 0).unwrap();
        assert!(k.booth(&id, BOOTH_IDLE_MS - 1).is_some());
        assert!(k.update_booth(&id, BOOTH_IDLE_MS - 1, |b| b.choice = Some(2)));
        assert!(k.booth(&id, 2 * BOOTH_IDLE_MS - 2).is_some(), "touched");
        assert!(k.booth(&id, 2 * BOOTH_IDLE_MS).is_none(), "idle");
        let code = k.issue_code("tok".into(), 0).unwrap();
        let id = k.redeem(&code, 1, Step::Ballot, 0).unwrap();
        k.update_booth(&id, 5, |b| {
            b.receipt = Some(Receipt {
                code: Hash32::ZERO,
                transaction_id: Hash32::ZERO,
                fallback: false,
                shown_at_ms: 5,
            })
        });
        assert!(k.booth(&id, 5 + RECEIPT_SECONDS * 1000).is_none());
    }

    #[test]
    fn operators_and_problems_are_bounded() {
        let k = Kiosk::default();
        let op = k.sign_in(0).unwrap();
        assert!(k.is_operator(&op, 1));
        k.sign_out(&op);
        assert!(!k.is_operator(&op, 2));
        for i in 0..(MAX_PROBLEMS as u64 + 5) {
            k.problem(i, format!("p{i}"));
        }
        let p = k.problems();
        assert_eq!(p.len(), MAX_PROBLEMS);
        assert_eq!(p[0].1, format!("p{}", MAX_PROBLEMS + 4));
    }
}
