//! The submission service: what every door that takes a transaction shares.
//! A voter's choice is encrypted, signed and checked here (`make_ballot`);
//! a signed transaction from JSON-RPC or a trustee is checked
//! (`submit_signed`); peers' gossip is handed on (`enqueue`); and a
//! transaction's state is looked up (`tx_status`).

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;

use super::SharedState;
use super::error::ApiError;
use crate::clock::now_ms;
use crate::ledger::credential::{CredentialCode, open_registration_key};
use crate::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use crate::ledger::{
    BallotTx, Election, Hash32, InBlock, LedgerError, NodeKey, PublicKey, Signature, SignedTx,
    Transaction, check_tx,
};
use crate::node::{Request, Source, Submission, SubmitOutcome};
use crate::store::{MempoolInsert, ReconcileState};

/// What a voter sent: a choice for this appliance to encrypt, or a ballot
/// their device encrypted.
pub(crate) enum Ballot {
    Choice((usize, Arc<EncryptionKey>)),
    Encrypted(Box<crate::ledger::Ballot>),
}

/// Who signs the ballot for the voter (PROTOCOL.md §4a).
pub(crate) enum Signer {
    /// The credential's key: made here from the code on the voter's card
    /// (or, with open registration, from their identity) and dropped once
    /// the ballot is signed.
    Key(NodeKey),
    /// The voter's own device signed the ballot with its credential.
    Device(Signature),
}

impl Signer {
    /// The credential a voter's card carries for an election.
    pub(crate) fn from_card(election_id: u64, code: &str) -> Result<Self, ApiError> {
        let code = CredentialCode::parse(code)
            .map_err(|e| ApiError::bad_request("invalid_credential", e.to_string()))?;
        Ok(Self::Key(code.key(election_id)))
    }
}

/// The candidate's index and the election key to encrypt a choice with.
pub(crate) fn choice(
    s: &SharedState,
    election: &Election,
    candidate: u64,
) -> Result<(usize, Arc<EncryptionKey>), ApiError> {
    let index = election.candidate_index(candidate).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_candidate",
            format!(
                "candidate {candidate} is not standing in election {}",
                election.id
            ),
        )
    })?;
    let key = s
        .encryption_keys
        .get(&election.id)
        .cloned()
        .ok_or_else(|| ApiError::internal("finding the election key", election.id))?;
    Ok((index, key))
}

/// What the voter presented to sign with: the code on their voting card
/// (typed or scanned), or their own device's signature over the ballot.
#[derive(Default)]
pub(crate) struct Presented<'a> {
    pub card: Option<&'a str>,
    pub device: Option<(PublicKey, Signature)>,
}

/// The voter's credential for `election` (the ballot's nullifier) and who
/// signs with it. With open registration (the `dev` demo) this appliance
/// makes it from the voter's identity; otherwise only the voter's card or
/// device can, so no appliance can vote for a voter it has not seen.
pub(crate) fn credential_for(
    s: &SharedState,
    election: &Election,
    identity: Option<&str>,
    presented: Presented<'_>,
) -> Result<(Hash32, Signer), ApiError> {
    let refused = |m: &str| ApiError::bad_request("credential_required", m.to_string());
    if election.open_registration() {
        let identity = identity.ok_or_else(|| refused("log in to vote in this election"))?;
        let key = open_registration_key(&s.secrets.nullifier_secret, election.id, identity)
            .map_err(|e| ApiError::internal("deriving the credential", e))?;
        return Ok((Hash32(key.public().0), Signer::Key(key)));
    }
    match (presented.card, presented.device) {
        (Some(code), None) => {
            let signer = Signer::from_card(election.id, code)?;
            let Signer::Key(k) = &signer else {
                unreachable!("a card gives a key")
            };
            Ok((Hash32(k.public().0), signer))
        }
        (None, Some((public, signature))) => Ok((Hash32(public.0), Signer::Device(signature))),
        _ => Err(refused(
            "this election needs the voter's credential: the code on their voting card \
             (`credential`), or `credential_key` and `credential_signature` from their device",
        )),
    }
}

/// Encrypts the choice (dropped after this, kept nowhere), builds and
/// signs the ballot transaction, and checks it as any other, in one job on
/// a proof-work thread: (the transaction, its hash, the ballot's hash).
pub(crate) async fn make_ballot(
    s: &SharedState,
    ctx: BallotContext,
    candidates: usize,
    ballot: Ballot,
    signer: Signer,
    now: u64,
) -> Result<(SignedTx, Hash32, Hash32), ApiError> {
    let s2 = s.clone();
    s.proof_work
        .run("making the ballot", move || {
            let ballot = match ballot {
                Ballot::Choice((index, key)) => {
                    let mut rng = crate::auth::OsRandom::default();
                    encrypt_ballot(&ctx, &key, index, candidates, &mut rng)
                        .map_err(|e| ApiError::internal("encrypting the ballot", e))?
                }
                Ballot::Encrypted(b) => *b,
            };
            let origin = s2.key.public();
            let tx = match signer {
                Signer::Key(credential) => BallotTx::new(
                    s2.chain_id,
                    ctx.election_id,
                    &credential,
                    ballot,
                    now,
                    origin,
                )
                .map_err(|e| ApiError::internal("building the ballot", e))?,
                Signer::Device(signature) => BallotTx::with_credential_signature(
                    s2.chain_id,
                    ctx.election_id,
                    ctx.nullifier,
                    ballot,
                    signature,
                    now,
                    origin,
                ),
            };
            let ballot_hash = tx.ballot_hash;
            let stx = SignedTx::sign(Transaction::Ballot(tx), &s2.key)
                .map_err(|e| ApiError::internal("signing the ballot", e))?;
            // Checked as a peer would check it: the voter's device may have
            // sent anything, and a ballot this appliance made is checked
            // before anyone is told it is recorded.
            let tx_hash = check_tx(&s2.genesis, &s2.chain_id, &stx, now_ms())
                .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
            Ok((stx, tx_hash, ballot_hash))
        })
        .await?
}

/// Issues this appliance's next confirmation code for an accepted ballot.
pub(crate) async fn confirmation_code(
    s: &SharedState,
    tx_hash: Hash32,
    ballot_hash: Hash32,
    election_id: u64,
) -> Result<Hash32, ApiError> {
    let item = crate::store::ToConfirm {
        tx_hash,
        ballot_hash,
        election_id,
    };
    Ok(s.codes.issue(item).await?)
}

/// A transaction the node accepted: in the mempool, or sealed in this
/// appliance's fallback chain while the network is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub tx_hash: Hash32,
    pub fallback_block: Option<Hash32>,
    /// The confirmation code, when the node issued it with the insert.
    pub code: Option<Hash32>,
}

/// Checks a signed transaction and hands it to the node; answers once it is
/// durable. Used by the voter API and by JSON-RPC.
pub async fn submit_signed(
    s: &SharedState,
    stx: SignedTx,
    source: Source,
) -> Result<Submitted, ApiError> {
    // Checking a ballot's proofs takes milliseconds: off the async workers.
    let s2 = s.clone();
    let (tx_hash, stx) = s
        .proof_work
        .run("checking the transaction", move || {
            check_tx(&s2.genesis, &s2.chain_id, &stx, now_ms()).map(|h| (h, stx))
        })
        .await?
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    accept_checked(s, stx, tx_hash, source).await
}

/// What a refused transaction is answered with: 403 for a voter or record
/// the chain does not allow (an unknown or revoked credential, a closed
/// device, a voter not on the roll or at another station), 409 for one
/// already recorded, 400 for anything else.
pub(crate) fn refusal(e: &LedgerError) -> ApiError {
    let status = match e {
        LedgerError::UnknownCredential(_)
        | LedgerError::RevokedCredential(_)
        | LedgerError::DeviceClosed { .. }
        | LedgerError::NotOnRoll(_)
        | LedgerError::WrongStation { .. } => StatusCode::FORBIDDEN,
        LedgerError::DuplicateCheckIn { .. }
        | LedgerError::DuplicateDeviceClose { .. }
        | LedgerError::CredentialUsed(_)
        | LedgerError::DuplicateCredential(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// The rules between a transaction and the committed chain (PROTOCOL.md
/// §6, rules 20-24), so that a voter whose credential is unknown or
/// revoked, or a record the chain already holds, is refused when it is
/// submitted rather than dropped later from a block. A second ballot of a
/// credential is left to the mempool, which answers it as before (409).
async fn check_against_chain(
    s: &SharedState,
    stx: &SignedTx,
    hash: Hash32,
) -> Result<(), ApiError> {
    let (genesis, chain_id, stx) = (s.genesis.clone(), s.chain_id, stx.clone());
    let at = (s.node.status().height + 1, now_ms());
    let verdict = s
        .db("checking against the chain", move |db| {
            let mut in_block = InBlock::default();
            Ok(in_block.admit(&genesis, &chain_id, at, &stx, hash, db))
        })
        .await?;
    match verdict {
        Ok(()) | Err(LedgerError::DuplicateNullifier { .. } | LedgerError::DuplicateTx(_)) => {
            Ok(())
        }
        Err(e) => Err(refusal(&e)),
    }
}

/// Hands a checked transaction to the node and says what became of it.
pub(crate) async fn accept_checked(
    s: &SharedState,
    stx: SignedTx,
    tx_hash: Hash32,
    source: Source,
) -> Result<Submitted, ApiError> {
    check_against_chain(s, &stx, tx_hash).await?;
    let accepted = |fallback_block| Submitted {
        tx_hash,
        fallback_block,
        code: None,
    };
    let already_voted = || {
        ApiError::conflict(
            "already_voted",
            "this voter has already voted in this election",
        )
    };
    match enqueue(s, stx, tx_hash, source)?.await? {
        SubmitOutcome::Fallback { block_hash } => Ok(accepted(Some(block_hash))),
        SubmitOutcome::Confirmed { code } => Ok(Submitted {
            code: Some(code),
            ..accepted(None)
        }),
        SubmitOutcome::FallbackDuplicate(_) => Err(already_voted()),
        SubmitOutcome::Closed => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "polls_closed",
            "this device's ballot record is closed; it takes no more ballots",
        )),
        SubmitOutcome::Mempool(m) => match m {
            MempoolInsert::Inserted | MempoolInsert::AlreadyPending => Ok(accepted(None)),
            MempoolInsert::AlreadyCommitted => Ok(accepted(None)),
            MempoolInsert::NullifierCommitted(_) | MempoolInsert::NullifierPending(_) => {
                Err(already_voted())
            }
            MempoolInsert::Full => {
                crate::node::Counters::add(&s.node.counters.submit_busy, 1);
                Err(ApiError::busy("the mempool is full; try again shortly"))
            }
        },
    }
}

/// Hands a checked transaction to the node; the returned future resolves
/// once the node has made it durable or refused it.
pub fn enqueue(
    s: &SharedState,
    stx: SignedTx,
    tx_hash: Hash32,
    source: Source,
) -> Result<impl std::future::Future<Output = Result<SubmitOutcome, ApiError>> + use<>, ApiError> {
    let (reply, wait) = tokio::sync::oneshot::channel();
    let req = Request::Submit(Submission {
        stx: Box::new(stx),
        tx_hash,
        source,
        reply,
    });
    if s.node.try_send(req).is_err() {
        crate::node::Counters::add(&s.node.counters.submit_busy, 1);
        return Err(ApiError::busy("the appliance is busy; try again shortly"));
    }
    Ok(async move {
        wait.await
            .map_err(|e| ApiError::internal("waiting for the node", e))?
            .map_err(|e| ApiError::internal("recording the transaction", e))
    })
}

/// A transaction's state: pending, confirmed, finalized, rejected or
/// fallback, with the seeds' fields (`confirmed`, `source`, `gas_used`,
/// `block_number` and `block_hash`, null until the ballot is in a block).
#[derive(Debug, Clone, Serialize)]
pub struct TxStatus {
    pub transaction_id: Hash32,
    pub status: &'static str,
    /// Whether the transaction is in a committed block of the main chain.
    pub confirmed: bool,
    /// Where the answer comes from: the validators' chain (and mempool) or
    /// the fallback chain of the appliance that sealed the ballot offline.
    pub source: &'static str,
    pub block_number: Option<u64>,
    pub block_hash: Option<Hash32>,
    /// The seeds' Ethereum-style receipt field: a ballot costs no gas.
    pub gas_used: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a ballot recorded in fallback mode: its copy on the main chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_transaction_id: Option<Hash32>,
    /// For a double vote: the voter's ballot that was committed first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicting_transaction: Option<Hash32>,
}

impl TxStatus {
    fn new(hash: Hash32) -> Self {
        Self {
            transaction_id: hash,
            status: "pending",
            confirmed: false,
            source: super::seeds::SOURCE_VALIDATORS,
            block_number: None,
            block_hash: None,
            gas_used: "0x0",
            election_id: None,
            confirmations: None,
            timestamp: None,
            reason: None,
            main_transaction_id: None,
            conflicting_transaction: None,
        }
    }

    fn committed_at(&mut self, loc: &crate::store::TxLocation, st: &crate::node::NodeStatus) {
        self.status = if loc.height <= st.finalized_height {
            "finalized"
        } else {
            "confirmed"
        };
        self.confirmed = true;
        self.source = super::seeds::SOURCE_VALIDATORS;
        self.block_number = Some(loc.height);
        self.block_hash = Some(loc.block_hash);
        self.confirmations = Some(st.height.saturating_sub(loc.height) + 1);
        self.timestamp = Some(loc.timestamp_ms);
    }
}

/// Looks a transaction up in the chain, the mempool, the fallback chains
/// and the rejections.
pub async fn tx_status(s: &SharedState, hash: Hash32) -> Result<Option<TxStatus>, ApiError> {
    let st = s.node.status();
    s.db("looking up a transaction", move |db| {
        let mut out = TxStatus::new(hash);
        if let Some((stx, loc)) = db.committed_tx(&hash)? {
            out.election_id = Some(stx.tx.election_id());
            out.committed_at(&loc, &st);
            return Ok(Some(out));
        }
        if let Some(election) = db.mempool_election(&hash)? {
            out.election_id = election;
            return Ok(Some(out));
        }
        if let Some(b) = db.fallback_ballot(&hash)? {
            out.main_transaction_id = Some(b.main_tx_hash);
            out.source = super::seeds::SOURCE_FALLBACK;
            match b.state {
                ReconcileState::Confirmed => {
                    if let Some((stx, loc)) = db.committed_tx(&b.main_tx_hash)? {
                        out.election_id = Some(stx.tx.election_id());
                        out.committed_at(&loc, &st);
                    }
                }
                ReconcileState::Rejected => {
                    out.status = "rejected";
                    out.conflicting_transaction = b.conflicting_tx;
                    out.reason = Some(
                        "double vote: another ballot of this voter was committed first".into(),
                    );
                }
                ReconcileState::Waiting | ReconcileState::Submitted => out.status = "fallback",
            }
            out.election_id = out.election_id.or(Some(b.main_tx.tx.election_id()));
            return Ok(Some(out));
        }
        // A ballot sealed offline at another appliance: its copy on the main
        // chain names it (PROTOCOL.md §7a, "the sealed id"), indexed at commit.
        if let Some(main) = db.copy_of_sealed(&hash)?
            && let Some((stx, loc)) = db.committed_tx(&main)?
        {
            out.main_transaction_id = Some(main);
            out.election_id = Some(stx.tx.election_id());
            out.committed_at(&loc, &st);
            return Ok(Some(out));
        }
        if let Some((code, reason)) = db.rejection(&hash)? {
            out.status = "rejected";
            out.reason = Some(format!("{code}: {reason}"));
            return Ok(Some(out));
        }
        Ok(None)
    })
    .await
}

/// How long a booth pass from a check-in stays usable.
pub const BOOTH_PASS_TTL_MS: u64 = 30 * 60 * 1000;

/// A voter checked in against the roll: who they are (for the poll worker
/// to compare with their papers), the poll-book record, and the one-time
/// pass that lets them cast one ballot at the booth with their card.
#[derive(Debug, Clone)]
pub struct CheckedIn {
    pub voter: crate::store::RollVoter,
    pub record: Submitted,
    pub pass: String,
    pub pass_expires_at_ms: u64,
}

/// Checks voter `voter_id` of election `election_id`'s roll in at this
/// appliance (the poll worker has verified them in person): refused if the
/// roll does not have them, assigns them to another station, or they are
/// checked in already (here or, committed, anywhere); otherwise signs the
/// poll-book record (PROTOCOL.md §4b), hands it to the node (in fallback
/// mode it waits in the mempool; an offline station carries it in its
/// export) and issues a booth pass.
pub async fn check_in_voter(
    s: &SharedState,
    election_id: u64,
    voter_id: &str,
) -> Result<CheckedIn, ApiError> {
    check_in_voters(s, election_id, vec![voter_id.to_string()])
        .await?
        .pop()
        .expect("one answer per voter")
}

/// Checks in several voters of one election at once (`check_in_voter` for
/// each, their records handed to the node together): one answer each, in
/// order; the whole call fails only if the election cannot take check-ins.
pub async fn check_in_voters(
    s: &SharedState,
    election_id: u64,
    voter_ids: Vec<String>,
) -> Result<Vec<Result<CheckedIn, ApiError>>, ApiError> {
    let election = super::api::find_election(s, election_id)?;
    if election.open_registration() {
        return Err(ApiError::bad_request(
            "no_roll",
            format!("election {election_id} has open registration: check voters in by e-mail"),
        ));
    }
    let now = now_ms();
    if !election.is_open_at(now) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "election_not_open",
            format!("election {election_id} is not open now"),
        ));
    }
    // Look every voter up, sign and check their records, and write the
    // poll book with each voter's booth pass, in one job on the database.
    let (s2, ids) = (s.clone(), voter_ids);
    let expires = now + BOOTH_PASS_TTL_MS;
    let prepared = s
        .db("checking voters in against the roll", move |db| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(prepare_check_in(&s2, db, election_id, id.trim(), now)?);
            }
            Ok(out)
        })
        .await?;
    // Hand the records to the node together, so that it stores them in
    // one batch.
    let mut handing = tokio::task::JoinSet::new();
    let mut answers: Vec<Option<Result<CheckedIn, ApiError>>> = Vec::new();
    for (i, p) in prepared.into_iter().enumerate() {
        match p {
            Err(e) => answers.push(Some(Err(e))),
            Ok(p) => {
                answers.push(None);
                let s = s.clone();
                handing.spawn(async move {
                    let r = accept_checked(&s, p.record, p.tx_hash, Source::Rpc).await;
                    (i, p.voter, p.pass, r)
                });
            }
        }
    }
    let mut undo = Vec::new();
    while let Some(done) = handing.join_next().await {
        let (i, voter, (pass, pass_hash), r) =
            done.map_err(|e| ApiError::internal("checking a voter in", e))?;
        answers[i] = Some(match r {
            Ok(record) => Ok(CheckedIn {
                voter,
                record,
                pass,
                pass_expires_at_ms: expires,
            }),
            Err(e) => {
                undo.push((voter.position, pass_hash));
                Err(e)
            }
        });
    }
    if !undo.is_empty() {
        s.db("taking back check-ins the node refused", move |db| {
            for (position, pass_hash) in undo {
                db.poll_book_remove(election_id, position, &pass_hash)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every voter answered"))
        .collect())
}

/// A voter's check-in made at this appliance, not yet handed to the node:
/// the voter, the signed record and its hash, and the booth pass (the
/// token and its hash) written with the record in the poll book.
struct PreparedCheckIn {
    voter: crate::store::RollVoter,
    record: SignedTx,
    tx_hash: Hash32,
    pass: (String, Hash32),
}

type Prepared = Result<PreparedCheckIn, ApiError>;

/// One voter's check-in up to the node: found on the roll, at this
/// station, not yet checked in here, its record signed, checked and in the
/// poll book with the booth pass it hands out.
fn prepare_check_in(
    s: &SharedState,
    db: &mut crate::store::Store,
    election_id: u64,
    voter_id: &str,
    now: u64,
) -> Result<Prepared, crate::store::StoreError> {
    let Some(voter) = db.roll_voter(election_id, voter_id)? else {
        return Ok(Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_on_roll",
            format!("no voter {voter_id:?} on the roll of election {election_id} installed here"),
        )));
    };
    let me = s.key.public();
    if let Some(station) = voter.station
        && station != me
    {
        let name = s
            .genesis
            .stations
            .iter()
            .find(|st| st.public_key == station)
            .map_or_else(|| station.to_string(), |st| st.name.clone());
        return Ok(Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_station",
            format!("the roll assigns this voter to {name}"),
        )));
    }
    if db.poll_book_has(election_id, voter.position)? {
        return Ok(Err(already_checked_in()));
    }
    let tx = crate::ledger::CheckInTx {
        chain_id: s.chain_id,
        election_id,
        voter: voter.voter,
        station: voter.station,
        index: voter.position,
        path: db.roll_path(election_id, voter.position)?,
        checked_in_at_ms: now,
        origin: me,
    };
    let stx = SignedTx::sign(Transaction::CheckIn(tx), &s.key)?;
    let tx_hash = check_tx(&s.genesis, &s.chain_id, &stx, now)?;
    let (pass, pass_hash) = crate::auth::new_token();
    let expires = now + BOOTH_PASS_TTL_MS;
    let written = db.poll_book_insert(
        election_id,
        voter.position,
        (&stx, &tx_hash),
        now,
        (&pass_hash, expires),
    )?;
    if !written {
        return Ok(Err(already_checked_in()));
    }
    Ok(Ok(PreparedCheckIn {
        voter,
        record: stx,
        tx_hash,
        pass: (pass, pass_hash),
    }))
}

fn already_checked_in() -> ApiError {
    ApiError::conflict(
        "already_checked_in",
        "this voter is already checked in: the poll book records each voter once",
    )
}

/// A booth pass taken for one ballot: a voter checked in at this
/// appliance (`check_in_voter`) casting at its booth with their card.
#[derive(Debug)]
pub struct BoothPass {
    token_hash: Hash32,
    pub election_id: u64,
    expires_at_ms: u64,
}

/// Who casts a ballot through this appliance: a voter logged in by
/// e-mail (an election with open registration, the `dev` demo), or a
/// voter checked in against the roll, holding a booth pass.
#[derive(Debug)]
pub enum Caster {
    Voter(crate::store::Voter),
    Pass(BoothPass),
}

impl Caster {
    /// The identity an open-registration credential is made from.
    pub(crate) fn identity(&self) -> Option<&str> {
        match self {
            Self::Voter(v) => Some(&v.email),
            Self::Pass(_) => None,
        }
    }

    pub(crate) fn source(&self) -> Source {
        match self {
            Self::Voter(v) => Source::Voter(v.id),
            Self::Pass(_) => Source::Rpc,
        }
    }

    /// Refuses a caster this election does not take: with a roll only a
    /// checked-in voter's pass for this election casts here (a station
    /// casts no more ballots than it checked voters in); with open
    /// registration only a logged-in voter.
    pub(crate) fn may_cast_in(&self, election: &Election) -> Result<(), ApiError> {
        match (self, election.open_registration()) {
            (Self::Voter(_), true) => Ok(()),
            (Self::Pass(p), false) if p.election_id == election.id => Ok(()),
            (Self::Pass(_), false) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "check_in_required",
                format!(
                    "this booth pass is for another election than {}",
                    election.id
                ),
            )),
            (Self::Voter(_), false) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "check_in_required",
                format!(
                    "election {} has a voter roll: a poll worker checks the voter in and the \
                     booth casts with the pass the check-in gives",
                    election.id
                ),
            )),
            (Self::Pass(_), true) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "login_required",
                format!(
                    "election {} has open registration: log in to vote",
                    election.id
                ),
            )),
        }
    }
}

/// The caster behind a bearer token: a live session's voter, or else a
/// booth pass, which this takes (used up; `return_booth_pass` gives it
/// back if the ballot is not accepted).
pub async fn caster_for_token(s: &SharedState, token: &str) -> Result<Caster, ApiError> {
    let invalid = || ApiError::unauthorized("invalid or expired token");
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let hash = crate::auth::token_hash(token);
    let now = now_ms();
    s.db("checking a session or booth pass", move |db| {
        if let Some(v) = db.session_voter(&hash, now)? {
            return Ok(Some(Caster::Voter(v)));
        }
        Ok(db
            .booth_pass_take(&hash, now)?
            .map(|(election_id, expires_at_ms)| {
                Caster::Pass(BoothPass {
                    token_hash: hash,
                    election_id,
                    expires_at_ms,
                })
            }))
    })
    .await?
    .ok_or_else(invalid)
}

/// Gives back a pass whose ballot was not accepted, so that the voter can
/// try again (another card, a choice again).
pub async fn return_booth_pass(s: &SharedState, caster: Caster) {
    let Caster::Pass(p) = caster else { return };
    let returned = s
        .db("giving a booth pass back", move |db| {
            db.booth_pass_create(&p.token_hash, p.election_id, p.expires_at_ms)
        })
        .await;
    if let Err(e) = returned {
        tracing::warn!("a booth pass could not be given back: {}", e.message);
    }
}
