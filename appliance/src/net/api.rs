//! The seeds' voter API (same paths and JSON shapes) plus the election
//! listings every voting client needs.

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, ApiJson, ApiQuery};
use super::server::ClientAddr;
use super::{AppState, SharedState};
use crate::auth;
use crate::clock::now_ms;
use crate::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use crate::ledger::nullifier::nullifier;
use crate::ledger::{BallotTx, Election, Hash32, SignedTx, Transaction, check_tx};
use crate::node::{Request, Source, SubmitOutcome};
use crate::store::{MempoolInsert, ReconcileState, Voter};

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_NAME_LEN: usize = 200;
/// Blocks per page of `GET /blockchain`.
pub const MAX_BLOCKS_PAGE: u64 = 100;
/// What a voter is told when the network is down.
pub const FALLBACK_WARNING: &str = "The election network is unavailable. Your vote has been \
    recorded and sealed locally on this polling station and will be added to the election \
    ledger automatically when the network returns. Keep your transaction id to check it.";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/votes/submit", post(submit))
        .route("/api/votes/transaction-status", get(transaction_status))
        .route("/api/votes/verify-blockchain", post(verify_blockchain))
        .route("/api/elections", get(elections))
        .route("/api/elections/{id}", get(election))
        .route("/blockchain", get(blockchain))
}

async fn health(State(s): State<SharedState>) -> axum::Json<Value> {
    let st = s.node.status();
    axum::Json(json!({
        "status": "healthy",
        "node_id": s.key.public(),
        "role": st.role.as_str(),
        "chain_id": s.chain_id,
        "chain_length": st.height + 1,
        "height": st.height,
        "best_hash": st.head_hash,
        "round": st.round,
        "mempool": st.mempool,
        "fallback": st.fallback.is_some(),
        "fallback_waiting": st.fallback_counts.open(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    pub(crate) email: String,
    pub(crate) password: String,
    #[serde(default, alias = "full_name")]
    pub(crate) name: Option<String>,
}

pub(crate) fn check_email(email: &str) -> Result<String, ApiError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= MAX_EMAIL_LEN
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if !valid {
        return Err(ApiError::bad_request(
            "invalid_email",
            "email is not a valid address",
        ));
    }
    Ok(e)
}

pub(crate) fn check_password(p: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if !(auth::MIN_PASSWORD_LEN..=auth::MAX_PASSWORD_LEN).contains(&n) {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!(
                "password must be {} to {} characters",
                auth::MIN_PASSWORD_LEN,
                auth::MAX_PASSWORD_LEN
            ),
        ));
    }
    Ok(())
}

async fn register(
    State(s): State<SharedState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    limited(
        s.limits
            .registrations
            .hit(&client.0.ip().to_string(), now_ms()),
    )?;
    let email = check_email(&body.email)?;
    check_password(&body.password)?;
    let name = body.name.unwrap_or_default().trim().to_string();
    if name.len() > MAX_NAME_LEN {
        return Err(ApiError::bad_request("invalid_name", "name is too long"));
    }
    let password = body.password;
    let (email2, name2) = (email.clone(), name.clone());
    let id = s
        .db("registering a voter", move |db| {
            let h = auth::hash_password(&password);
            let voter = crate::store::NewVoter {
                email: &email2,
                name: &name2,
                password_hash: &h.hash,
                salt: &h.salt,
                iterations: h.iterations,
            };
            db.create_voter(&voter, now_ms())
        })
        .await?;
    let Some(id) = id else {
        return Err(ApiError::conflict(
            "email_exists",
            "a voter with this email is already registered",
        ));
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "email": email, "name": name, "message": "registered"})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    pub(crate) email: String,
    pub(crate) password: String,
}

/// Refuses a client or account that has tried too often.
fn limited(r: Result<(), u64>) -> Result<(), ApiError> {
    r.map_err(|retry_ms| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "too many attempts; try again in {} s",
                retry_ms.div_ceil(1000)
            ),
        )
    })
}

async fn login(
    State(s): State<SharedState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let email = body.email.trim().to_lowercase();
    let now = now_ms();
    let ip = client.0.ip().to_string();
    limited(s.limits.per_client.check(&ip, now))?;
    limited(s.limits.per_account.check(&email, now))?;
    let password = body.password;
    let account = email.clone();
    let session = s
        .db("logging in", move |db| {
            let Some(v) = db.voter_by_email(&email)? else {
                // Spend the same time as a real check so timing does not
                // tell which emails are registered.
                let _ = auth::hash_password(&password);
                return Ok(None);
            };
            if !auth::verify_password(&password, &v.password_hash, &v.salt, v.iterations) {
                return Ok(None);
            }
            let (token, hash) = auth::new_token();
            let now = now_ms();
            let expires = now + auth::SESSION_TTL_MS;
            db.create_session(&hash, v.id, now, expires)?;
            Ok(Some((token, v, expires)))
        })
        .await?;
    let Some((token, voter, expires)) = session else {
        let _ = s.limits.per_account.hit(&account, now_ms());
        let _ = s.limits.per_client.hit(&ip, now_ms());
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    s.limits.per_account.clear(&account);
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": auth::SESSION_TTL_MS / 1000,
        "expires_at": expires,
        "voter": {"id": voter.id, "email": voter.email, "name": voter.name},
    })))
}

/// The voter behind the request's bearer token.
pub(crate) async fn authenticate(s: &SharedState, headers: &HeaderMap) -> Result<Voter, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unauthorized("invalid or expired token"));
    }
    let hash = auth::token_hash(token);
    s.db("checking a session", move |db| {
        db.session_voter(&hash, now_ms())
    })
    .await?
    .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    pub(crate) election_id: u64,
    /// The choice, for the appliance to encrypt (then forgotten).
    #[serde(default)]
    pub(crate) candidate_id: Option<u64>,
    /// Or a ballot the voter's device encrypted, with its proofs, bound to
    /// the context of `GET /api/votes/ballot-context`.
    #[serde(default)]
    pub(crate) ballot: Option<crate::ledger::Ballot>,
    /// Accepted for the seeds' clients and discarded: the ballot is
    /// encrypted here, and nothing of this field is kept.
    #[serde(default)]
    pub(crate) encrypted_vote: Option<String>,
}

pub(crate) fn find_election(s: &AppState, id: u64) -> Result<&Election, ApiError> {
    s.genesis
        .election(id)
        .ok_or_else(|| ApiError::not_found(format!("election {id} does not exist")))
}

async fn submit(
    State(s): State<SharedState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let voter = authenticate(&s, &headers).await?;
    let election = find_election(&s, body.election_id)?;
    let now = now_ms();
    if !election.is_open_at(now) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "election_not_open",
            format!("election {} is not open for voting now", election.id),
        ));
    }
    let _ = body.encrypted_vote;
    let null = nullifier(&s.secrets.nullifier_secret, election.id, &voter.email)
        .map_err(|e| ApiError::internal("deriving the nullifier", e))?;
    let ctx = BallotContext {
        chain_id: s.chain_id,
        election_id: election.id,
        nullifier: null,
        origin: s.key.public(),
    };
    let ballot = match (body.candidate_id, body.ballot) {
        (Some(candidate), None) => Ballot::Choice(choice(&s, election, candidate)?),
        (None, Some(ballot)) => Ballot::Encrypted(Box::new(ballot)),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_ballot",
                "send either candidate_id or an encrypted ballot",
            ));
        }
    };
    let (stx, tx_hash, ballot_hash) =
        make_ballot(&s, ctx, election.candidates.len(), ballot, now).await?;
    let done = accept_checked(&s, stx, tx_hash, Source::Voter(voter.id)).await?;
    let code = match done.code {
        Some(code) => code,
        None => confirmation_code(&s, tx_hash, ballot_hash, election.id).await?,
    };
    let mut answer = json!({
        "status": "pending",
        "message": "vote recorded; it will be confirmed in the next block",
        "transaction_id": done.tx_hash,
        "tx_hash": done.tx_hash,
        "ballot_hash": ballot_hash,
        "election_id": election.id,
        "timestamp": now,
        "confirmation_code": code,
    });
    if let Some(block) = done.fallback_block {
        answer["status"] = json!("fallback");
        answer["message"] = json!("vote recorded locally on this polling station");
        answer["warning"] = json!(FALLBACK_WARNING);
        answer["fallback_block"] = json!(block);
    }
    Ok(axum::Json(answer))
}

/// What a voter sent: a choice for this appliance to encrypt, or a ballot
/// their device encrypted.
enum Ballot {
    Choice((usize, Arc<EncryptionKey>)),
    Encrypted(Box<crate::ledger::Ballot>),
}

/// The candidate's index and the election key to encrypt a choice with.
fn choice(
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

/// Encrypts the choice (dropped after this, kept nowhere), builds and
/// signs the ballot transaction, and checks it as any other, in one job on
/// a proof-work thread: (the transaction, its hash, the ballot's hash).
async fn make_ballot(
    s: &SharedState,
    ctx: BallotContext,
    candidates: usize,
    ballot: Ballot,
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
            let tx = BallotTx::new(
                s2.chain_id,
                ctx.election_id,
                ctx.nullifier,
                ballot,
                now,
                origin,
            )
            .map_err(|e| ApiError::internal("building the ballot", e))?;
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
async fn confirmation_code(
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
    s.codes.issue(item).await
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

/// Hands a checked transaction to the node and says what became of it.
async fn accept_checked(
    s: &SharedState,
    stx: SignedTx,
    tx_hash: Hash32,
    source: Source,
) -> Result<Submitted, ApiError> {
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
            MempoolInsert::VoterAlreadyVoted(_)
            | MempoolInsert::NullifierCommitted(_)
            | MempoolInsert::NullifierPending(_) => Err(already_voted()),
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
    let req = Request::Submit {
        stx: Box::new(stx),
        tx_hash,
        source,
        reply,
    };
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    #[serde(alias = "tx_hash", alias = "transaction_hash")]
    transaction_id: String,
}

/// A transaction's state: pending, confirmed, finalized, rejected.
#[derive(Debug, Clone, Serialize)]
pub struct TxStatus {
    pub transaction_id: Hash32,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<Hash32>,
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
            block_number: None,
            block_hash: None,
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
        if let Some((_, loc)) = db.committed_tx(&hash)? {
            out.committed_at(&loc, &st);
            return Ok(Some(out));
        }
        if db.mempool_contains(&hash)? {
            return Ok(Some(out));
        }
        if let Some(b) = db.fallback_ballot(&hash)? {
            out.main_transaction_id = Some(b.main_tx_hash);
            match b.state {
                ReconcileState::Confirmed => {
                    if let Some((_, loc)) = db.committed_tx(&b.main_tx_hash)? {
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

async fn transaction_status(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<axum::Json<TxStatus>, ApiError> {
    let hash = Hash32::parse(&q.transaction_id).map_err(|e| {
        ApiError::bad_request("invalid_transaction_id", format!("transaction_id: {e}"))
    })?;
    tx_status(&s, hash)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no transaction with this id is known here"))
}

async fn verify_blockchain(State(s): State<SharedState>) -> Result<axum::Json<Value>, ApiError> {
    let genesis = s.genesis.clone();
    let check = s
        .db("verifying the chain", move |db| {
            crate::chaincheck::verify_chain(db, &genesis, now_ms())
        })
        .await?;
    Ok(axum::Json(json!({
        "valid": check.valid,
        "chain_valid": check.valid,
        "blocks_checked": check.blocks_checked,
        "transactions_checked": check.transactions_checked,
        "head_height": check.head_height,
        "head_hash": check.head_hash,
        "errors": check.errors,
        "message": if check.valid {
            "every block's hash, link, proposer signature, commit seals and transactions verify"
        } else {
            "the chain does NOT verify; see errors"
        },
    })))
}

async fn elections(State(s): State<SharedState>) -> axum::Json<Value> {
    let now = now_ms();
    let list: Vec<Value> = s
        .genesis
        .elections
        .iter()
        .map(|e| election_json(e, now))
        .collect();
    axum::Json(json!({"elections": list}))
}

async fn election(
    State(s): State<SharedState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let id: u64 = id.parse().map_err(|_| {
        ApiError::bad_request("invalid_election_id", "election id must be a number")
    })?;
    let e = find_election(&s, id)?;
    Ok(axum::Json(election_json(e, now_ms())))
}

fn election_json(e: &Election, now: u64) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "opens_at": e.opens_at,
        "closes_at": e.closes_at,
        "is_open": e.is_open_at(now),
        "candidates": e.candidates,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainQuery {
    #[serde(default)]
    election_id: Option<u64>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

async fn blockchain(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    if let Some(id) = q.election_id {
        find_election(&s, id)?;
    }
    let from = q.from.unwrap_or(1).max(1);
    let limit = q.limit.unwrap_or(MAX_BLOCKS_PAGE).min(MAX_BLOCKS_PAGE);
    let mut blocks = s
        .db("reading blocks", move |db| db.blocks_range(from, limit))
        .await?;
    if let Some(id) = q.election_id {
        for b in &mut blocks {
            b.transactions.retain(|t| t.tx.election_id() == id);
        }
    }
    let st = s.node.status();
    Ok(axum::Json(json!({
        "chain_id": s.chain_id,
        "chain_length": st.height + 1,
        "from": from,
        "blocks": blocks,
    })))
}
