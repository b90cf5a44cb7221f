//! The seeds' voter API (same paths and JSON shapes) plus the election
//! listings every voting client needs.

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiJson, ApiQuery, QueryInt};
use super::server::ClientAddr;
use super::submit::{
    Ballot, Caster, Presented, TxStatus, accept_checked, caster_for_token, choice,
    confirmation_code, credential_for, make_ballot, return_booth_pass, tx_status,
};
use super::{AppState, SharedState, seeds};
use crate::auth;
use crate::clock::now_ms;
use crate::ledger::elgamal::BallotContext;
use crate::ledger::{Election, Hash32};
use crate::store::Voter;

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

pub(crate) async fn health(State(s): State<SharedState>) -> axum::Json<Value> {
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
    registration_open(&s)?;
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
    let phc = s
        .passwords
        .run(move || auth::hash_password(&password))
        .await?;
    let (email2, name2) = (email.clone(), name.clone());
    let id = s
        .db("registering a voter", move |db| {
            let voter = crate::store::NewVoter {
                email: &email2,
                name: &name2,
                password_hash: phc.as_bytes(),
                salt: &[],
                iterations: 0,
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
    // Each attempt is counted before its password is checked (and given
    // back if it was right): concurrent guesses cannot all pass a limit
    // that none of them has counted yet.
    limited(s.limits.per_client.hit(&ip, now))?;
    let account_limits = s
        .limits
        .logins_per_account
        .hit(&email, now)
        .and_then(|()| s.limits.per_account.hit(&email, now));
    if let Err(retry) = account_limits {
        s.limits.per_client.refund(&ip);
        limited(Err(retry))?;
    }
    let account = email.clone();
    let found = s
        .db("logging in", move |db| db.voter_by_email(&email))
        .await?;
    let password = body.password;
    let stored = found
        .as_ref()
        .map(|v| (v.password_hash.clone(), v.salt.clone(), v.iterations));
    let verdict = s
        .passwords
        .run(move || match stored {
            Some((hash, salt, iterations)) => {
                let stored = auth::StoredPassword {
                    hash: &hash,
                    salt: &salt,
                    iterations,
                };
                auth::verify_password(&password, &stored)
            }
            None => {
                // Spend the same time as a real check so timing does not
                // tell which emails are registered.
                let _ = auth::hash_password(&password);
                auth::Verified::No
            }
        })
        .await?;
    let (Some(voter), auth::Verified::Yes | auth::Verified::YesUpgrade(_)) = (found, &verdict)
    else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    s.limits.per_client.refund(&ip);
    s.limits.per_account.clear(&account);
    let upgrade = match verdict {
        auth::Verified::YesUpgrade(phc) => Some(phc),
        _ => None,
    };
    let (token, hash) = auth::new_token();
    let expires = now_ms() + auth::SESSION_TTL_MS;
    let id = voter.id;
    s.db("logging in", move |db| {
        if let Some(phc) = upgrade {
            db.set_password_hash(id, phc.as_bytes())?;
        }
        db.create_session(&hash, id, now_ms(), expires)
    })
    .await?;
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": auth::SESSION_TTL_MS / 1000,
        "expires_at": expires,
        "voter": {"id": voter.id, "email": voter.email, "name": voter.name},
    })))
}

/// Voters register themselves only where an election allows it (open
/// registration: the `dev` demo); with a roll, the election authority's
/// roll says who votes, and an account would vote in nothing.
fn registration_open(s: &AppState) -> Result<(), ApiError> {
    if s.genesis.elections.iter().any(|e| e.open_registration()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "registration_closed",
        "no election of this chain has open registration: voters are on the election \
         authority's roll and vote with the card a credential authority issued them",
    ))
}

/// The request's bearer token.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token"))
}

/// The voter behind the request's bearer token.
pub(crate) async fn authenticate(s: &SharedState, headers: &HeaderMap) -> Result<Voter, ApiError> {
    let token = bearer(headers)?;
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
    /// The code on the voter's card (an election with a roll): the
    /// appliance signs with it and forgets it.
    #[serde(default)]
    pub(crate) credential: Option<String>,
    /// Or the voter's device's credential and its signature over `ballot`.
    #[serde(default)]
    pub(crate) credential_key: Option<crate::ledger::PublicKey>,
    #[serde(default)]
    pub(crate) credential_signature: Option<crate::ledger::Signature>,
}

pub(crate) fn find_election(s: &AppState, id: u64) -> Result<&Election, ApiError> {
    s.genesis
        .election(id)
        .ok_or_else(|| ApiError::not_found(format!("election {id} does not exist")))
}

/// A ballot: from a voter logged in (open registration) or from the booth
/// with a checked-in voter's pass and their card (a roll); a pass whose
/// ballot is refused is given back.
async fn submit(
    State(s): State<SharedState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let caster = caster_for_token(&s, bearer(&headers)?).await?;
    let answer = submit_as(&s, &caster, body).await;
    if answer.is_err() {
        return_booth_pass(&s, caster).await;
    }
    answer
}

async fn submit_as(
    s: &SharedState,
    caster: &Caster,
    body: SubmitBody,
) -> Result<axum::Json<Value>, ApiError> {
    let election = find_election(s, body.election_id)?;
    let _ = body.encrypted_vote;
    let presented = Presented {
        card: body.credential.as_deref(),
        device: body.credential_key.zip(body.credential_signature),
    };
    let ballot = match (body.candidate_id, body.ballot) {
        (Some(candidate), None) => Ballot::Choice(choice(s, election, candidate)?),
        (None, Some(ballot)) => Ballot::Encrypted(Box::new(ballot)),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_ballot",
                "send either candidate_id or an encrypted ballot",
            ));
        }
    };
    let cast = cast(s, caster, election, ballot, presented).await?;
    Ok(axum::Json(submit_answer(s, &cast, election.id)))
}

/// A voter's ballot, accepted: what the voter is told.
pub(crate) struct Cast {
    pub done: super::submit::Submitted,
    pub ballot_hash: Hash32,
    pub code: Hash32,
    /// The n-th ballot this appliance recorded.
    pub id: Option<u64>,
    pub at_ms: u64,
}

/// Casts a ballot in `election` (open now), as the voter API and the booth
/// do: checks that `caster` may (`Caster::may_cast_in`), makes the voter's
/// credential (from the card `presented`, or with open registration from
/// the voter's identity), encrypts, signs, checks, hands it to the node and
/// issues the confirmation code.
pub(crate) async fn cast(
    s: &SharedState,
    caster: &Caster,
    election: &Election,
    ballot: Ballot,
    presented: Presented<'_>,
) -> Result<Cast, ApiError> {
    let now = now_ms();
    if !election.is_open_at(now) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "election_not_open",
            format!("election {} is not open for voting now", election.id),
        ));
    }
    caster.may_cast_in(election)?;
    let (null, signer) = credential_for(s, election, caster.identity(), presented)?;
    let ctx = BallotContext {
        chain_id: s.chain_id,
        election_id: election.id,
        nullifier: null,
        origin: s.key.public(),
    };
    let (stx, tx_hash, ballot_hash) =
        make_ballot(s, ctx, election.candidates.len(), ballot, signer, now).await?;
    let done = accept_checked(s, stx, tx_hash, caster.source()).await?;
    let code = match done.code {
        Some(code) => code,
        None => confirmation_code(s, tx_hash, ballot_hash, election.id).await?,
    };
    let record = done.tx_hash;
    let id = s
        .db("numbering the vote", move |db| db.code_seq(&record))
        .await?;
    Ok(Cast {
        done,
        ballot_hash,
        code,
        id,
        at_ms: now,
    })
}

/// The seeds' submit answer (`id`, `transaction_id`, `block_hash`,
/// `ballot_hash`, `timestamp`, `status` "submitted", `validator`; in
/// fallback mode `warning` instead of `validator`) with evote's additions.
fn submit_answer(s: &SharedState, cast: &Cast, election_id: u64) -> Value {
    let (done, ballot_hash, code, id, now) =
        (&cast.done, cast.ballot_hash, cast.code, cast.id, cast.at_ms);
    let mut answer = json!({
        "id": id,
        "status": "submitted",
        "message": "vote recorded; it will be confirmed in the next block",
        "transaction_id": done.tx_hash,
        "tx_hash": done.tx_hash,
        "block_hash": null,
        "ballot_hash": ballot_hash,
        "election_id": election_id,
        "timestamp": seeds::rfc3339(now),
        "timestamp_ms": now,
        "confirmation_code": code,
    });
    match done.fallback_block {
        Some(block) => {
            answer["status"] = json!("fallback");
            answer["message"] = json!("vote recorded locally on this polling station");
            answer["warning"] = json!(FALLBACK_WARNING);
            answer["fallback_block"] = json!(block);
        }
        None => answer["validator"] = json!(seeds::receiving_validator(s)),
    }
    answer
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    #[serde(alias = "tx_hash", alias = "transaction_hash")]
    transaction_id: String,
    /// The seeds' clients name the election too; a transaction of another
    /// election is not found.
    #[serde(default)]
    election_id: Option<u64>,
}

async fn transaction_status(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<axum::Json<TxStatus>, ApiError> {
    let hash = Hash32::parse(&q.transaction_id).map_err(|e| {
        ApiError::bad_request("invalid_transaction_id", format!("transaction_id: {e}"))
    })?;
    if let Some(id) = q.election_id {
        find_election(&s, id)?;
    }
    tx_status(&s, hash)
        .await?
        .filter(|st| q.election_id.is_none() || st.election_id == q.election_id)
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no transaction with this id is known here"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    election_id: Option<u64>,
}

/// `POST /api/votes/verify-blockchain`, with the seeds' optional body
/// `{"election_id": 1}` (or none).
async fn verify_blockchain(
    State(s): State<SharedState>,
    body: axum::body::Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let body: VerifyBody = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?
    };
    if let Some(id) = body.election_id {
        find_election(&s, id)?;
    }
    verification(&s, body.election_id).await.map(axum::Json)
}

/// Re-checks every stored block (links, hashes, proposer signatures, commit
/// seals, transactions) and answers in the seeds' shape.
pub(crate) async fn verification(
    s: &SharedState,
    election_id: Option<u64>,
) -> Result<Value, ApiError> {
    let check = super::tally::chain_check(s).await?;
    let votes = seeds::total_votes(s, election_id).await?;
    Ok(json!({
        "election_id": election_id,
        "valid": check.valid,
        "chain_valid": check.valid,
        "status": if check.valid { "valid" } else { "invalid" },
        "source": seeds::SOURCE_VALIDATORS,
        "total_blocks": check.head_height + 1,
        "total_votes": votes,
        "blocks_checked": check.blocks_checked,
        "transactions_checked": check.transactions_checked,
        "head_height": check.head_height,
        "head_hash": check.head_hash,
        "errors": check.errors,
        "timestamp": seeds::rfc3339(now_ms()),
        "message": if check.valid {
            "every block's hash, link, proposer signature, commit seals and transactions verify"
        } else {
            "the chain does NOT verify; see errors"
        },
    }))
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
pub(crate) struct ChainQuery {
    #[serde(default)]
    election_id: Option<QueryInt>,
    #[serde(default)]
    from: Option<QueryInt>,
    #[serde(default)]
    limit: Option<QueryInt>,
}

async fn blockchain(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let election_id = q.election_id.map(|q| q.0);
    if let Some(id) = election_id {
        find_election(&s, id)?;
    }
    let from = q.from.map_or(1, |q| q.0).max(1);
    let limit = q
        .limit
        .map_or(MAX_BLOCKS_PAGE, |q| q.0)
        .min(MAX_BLOCKS_PAGE);
    let mut blocks = s
        .db("reading blocks", move |db| db.blocks_range(from, limit))
        .await?;
    if let Some(id) = election_id {
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
