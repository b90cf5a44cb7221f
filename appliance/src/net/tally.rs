//! Results and the tally: what `results` reports (counts only once k
//! trustees' shares are on the chain), the endpoints trustees use to
//! decrypt, ballot tracking by confirmation code, and the context a voter's
//! device needs to encrypt a ballot itself.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SharedState;
use super::api::{authenticate, find_election};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::submit::{submit_signed, tx_status};
use crate::chaincheck::{ChainCheck, continue_check};
use crate::clock::now_ms;
use crate::ledger::elgamal::{DecryptionShare, TallyContext, combine_decryption_shares};
use crate::ledger::validate::check_share_on_chain;
use crate::ledger::{DecryptionShareTx, Election, Hash32, SignedTx, TallyState, Transaction};
use crate::node::Source;

pub fn routes() -> axum::Router<SharedState> {
    Router::new()
        .route("/api/votes/results", get(results))
        .route("/api/votes/track/{code}", get(track))
        .route("/api/votes/ballot-context", get(ballot_context))
        .route("/api/tally/{election_id}", get(tally).post(post_share))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ElectionQuery {
    election_id: u64,
}

/// A decrypted tally: per-candidate counts and where its shares are.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub tally_height: u64,
    pub ballot_count: u64,
    pub counts: Vec<u64>,
    pub shares: Vec<(u32, Hash32, u64)>,
}

/// The newest tally of `election` that at least k trustees decrypted,
/// combined (and kept, since combining solves discrete logarithms).
async fn decrypted(s: &SharedState, election: &Election) -> Result<Option<Decrypted>, ApiError> {
    let (eid, k) = (election.id, u64::from(election.trustees.threshold));
    let n = election.candidates.len();
    let found = s
        .db("reading the tally", move |db| {
            let Some((height, _)) = db.shared_tallies(eid)?.into_iter().find(|(_, c)| *c >= k)
            else {
                return Ok(None);
            };
            let tally = db
                .tally_at(eid, height)?
                .unwrap_or_else(|| TallyState::empty(eid, n));
            Ok(Some((height, tally, db.decryption_shares(eid, height)?)))
        })
        .await?;
    let Some((height, tally, shares)) = found else {
        return Ok(None);
    };
    let ids: Vec<(u32, Hash32, u64)> = shares
        .iter()
        .map(|(h, b, d)| (d.share.trustee_index, *h, *b))
        .collect();
    let cache_key = (
        eid,
        height,
        ids.iter().map(|(_, h, _)| *h).collect::<Vec<_>>(),
    );
    if let Some(counts) = s.tallies.lock().expect("tally cache").get(&cache_key) {
        return Ok(Some(Decrypted {
            tally_height: height,
            ballot_count: tally.ballot_count,
            counts: counts.clone(),
            shares: ids,
        }));
    }
    let key = s
        .keys
        .get(&eid)
        .cloned()
        .ok_or_else(|| ApiError::internal("the election key", eid))?;
    let ctx = TallyContext {
        chain_id: s.chain_id,
        election_id: eid,
    };
    let parts: Vec<DecryptionShare> = shares.into_iter().map(|(_, _, d)| d.share).collect();
    let count = tally.ballot_count;
    let counts = tokio::task::spawn_blocking(move || {
        combine_decryption_shares(&ctx, &key, &tally.aggregate, &parts, count)
    })
    .await
    .map_err(|e| ApiError::internal("combining the tally", e))?
    .map_err(|e| ApiError::internal("combining the tally", e))?;
    s.tallies
        .lock()
        .expect("tally cache")
        .insert(cache_key, counts.clone());
    Ok(Some(Decrypted {
        tally_height: height,
        ballot_count: count,
        counts,
        shares: ids,
    }))
}

/// Checks the blocks committed since the last check (all of them once),
/// one caller at a time: the others wait without a thread or a database
/// connection, and then find nothing or little left to check. A caller
/// that goes away (its client closed the connection) stops its check
/// after the block it is on; what it checked is kept. The turn passes on
/// only when the check has really stopped. It runs on a thread of its own
/// below proof work's priority ([`CHAIN_CHECK_NICENESS`]).
pub(crate) async fn chain_check(s: &SharedState) -> Result<ChainCheck, ApiError> {
    const WHAT: &str = "verifying the chain";
    let turn = s.chain_check_turn.clone().lock_owned().await;
    let stop = StopOnDrop::default();
    let flag = stop.0.clone();
    let s2 = s.clone();
    s.chain_check_work
        .run(WHAT, move || {
            let _turn = turn;
            s2.db.with(|db| {
                let mut guard = s2.verified.lock().unwrap_or_else(|p| p.into_inner());
                let mut check = match guard.take() {
                    Some(c) => c,
                    None => ChainCheck::start(&s2.genesis)?,
                };
                let done = continue_check(db, &s2.genesis, &mut check, now_ms(), &flag);
                *guard = Some(check.clone());
                done.map(|()| check)
            })
        })
        .await?
        .map_err(|e| ApiError::internal(WHAT, e))
}

/// How much nicer than the appliance the chain check runs: anyone may ask
/// for it, and it re-verifies every new block's ballots, work the node
/// has done once already; voters' ballots and consensus come first.
pub const CHAIN_CHECK_NICENESS: i32 = 10;

/// The chain check's one thread, at [`CHAIN_CHECK_NICENESS`].
pub fn chain_check_thread() -> std::io::Result<crate::submission::ProofWork> {
    crate::submission::ProofWork::named(1, "evote-check", CHAIN_CHECK_NICENESS)
}

/// Set when the request that started a chain check is dropped.
#[derive(Default)]
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn results(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<ElectionQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let election = find_election(&s, q.election_id)?.clone();
    let eid = election.id;
    let total = s
        .db("counting ballots", move |db| db.ballot_count(eid))
        .await?;
    let done = decrypted(&s, &election).await?;
    let check = chain_check(&s).await?;
    let rows: Vec<Value> = election
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = done.as_ref().map(|d| d.counts[i]);
            let pct = n.zip(done.as_ref()).map(|(n, d)| {
                if d.ballot_count == 0 {
                    0.0
                } else {
                    (n as f64 * 10_000.0 / d.ballot_count as f64).round() / 100.0
                }
            });
            json!({
                "candidate_id": c.id,
                "candidate_name": c.name,
                "name": c.name,
                "vote_count": n,
                "percentage": pct,
            })
        })
        .collect();
    let tally = match &done {
        Some(d) => json!({
            "status": "decrypted",
            "tally_height": d.tally_height,
            "ballots_in_tally": d.ballot_count,
            "ballots_after_tally": total.saturating_sub(d.ballot_count),
            "shares": d.shares.iter().map(|(t, h, b)| json!({"trustee_index": t, "transaction_id": h, "block_number": b})).collect::<Vec<_>>(),
        }),
        None => json!({
            "status": "pending",
            "message": format!(
                "ballots are encrypted; counts appear once {} of the election's {} trustees have posted their decryption shares after the close",
                election.trustees.threshold, election.trustees.trustees
            ),
        }),
    };
    Ok(axum::Json(json!({
        "election_id": election.id,
        "election_name": election.name,
        "results": rows,
        "total_votes": total,
        "tally": tally,
        "verification": {
            "chain_valid": check.valid,
            "timestamp": super::seeds::rfc3339(now_ms()),
            "blocks_checked": check.blocks_checked,
            "head_height": check.head_height,
            "head_hash": check.head_hash,
        },
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackQuery {
    /// Only what this appliance issued: no asking the others (what one
    /// appliance asks another, so that look-ups never go round in circles).
    #[serde(default)]
    local: bool,
}

async fn track(
    State(s): State<SharedState>,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<TrackQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let code = Hash32::parse(&code)
        .map_err(|e| ApiError::bad_request("invalid_code", format!("confirmation code: {e}")))?;
    track_code(&s, code, !q.local)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no ballot with this confirmation code is known"))
}

/// How long a look-up waits for the other appliances to answer.
pub const TRACK_ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Appliances a look-up asks at most.
pub const TRACK_ASK_MAX: usize = 64;
/// Look-ups asking the others at once; past it a code not issued here is
/// answered unknown at once (a flood of invented codes cannot make this
/// node flood its peers).
pub const TRACK_ASK_CONCURRENT: usize = 4;

static ASKING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(TRACK_ASK_CONCURRENT);

/// A ballot's state by its confirmation code, without the vote. A code is
/// issued by the appliance that accepted the ballot; a code this appliance
/// did not issue is asked of the others (`ask_others`), and the ballot's
/// state is then read from this node's own chain, so every node answers
/// the same once the ballot is on the chain.
pub(crate) async fn track_code(
    s: &SharedState,
    code: Hash32,
    ask_others: bool,
) -> Result<Option<Value>, ApiError> {
    let found = s
        .db("looking up a code", move |db| db.code_ballot(&code))
        .await?;
    let found = match found {
        Some(f) => Some(f),
        None if ask_others => ask_issuer(s, code).await,
        None => None,
    };
    let Some((tx, election_id, issued_at)) = found else {
        return Ok(None);
    };
    let status = tx_status(s, tx).await?;
    let mut v = json!({
        "confirmation_code": code,
        "election_id": election_id,
        "issued_at": issued_at,
        "status": "unknown",
    });
    if let Some(st) = status {
        v["status"] = json!(st.status);
        v["on_chain"] = json!(matches!(st.status, "confirmed" | "finalized"));
        v["block_number"] = json!(st.block_number);
        v["block_hash"] = json!(st.block_hash);
        v["transaction_id"] = json!(st.main_transaction_id.unwrap_or(tx));
        v["reason"] = json!(st.reason);
    }
    Ok(Some(v))
}

/// Asks the other appliances which ballot `code` confirms: (transaction,
/// election, issued at) from the first that issued it.
async fn ask_issuer(s: &SharedState, code: Hash32) -> Option<(Hash32, u64, u64)> {
    let _slot = ASKING.try_acquire().ok()?;
    // At their public doors (which their signed status names), where
    // `/api/votes/track` is served.
    let mut urls: Vec<String> = s
        .peers
        .snapshot()
        .into_iter()
        .filter_map(|p| p.rpc_url)
        .collect();
    urls.sort();
    urls.dedup();
    urls.truncate(TRACK_ASK_MAX);
    if urls.is_empty() {
        return None;
    }
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(super::tls::trusted())
            .timeout_global(Some(TRACK_ASK_TIMEOUT))
            .http_status_as_error(true)
            .build()
            .into();
        std::thread::scope(|scope| {
            let asks: Vec<_> = urls
                .iter()
                .map(|u| {
                    let agent = agent.clone();
                    scope.spawn(move || {
                        let v: Value = agent
                            .get(format!("{u}/api/votes/track/{code}?local=true"))
                            .call()
                            .ok()?
                            .body_mut()
                            .read_json()
                            .ok()?;
                        let tx = Hash32::parse(v["transaction_id"].as_str()?).ok()?;
                        Some((tx, v["election_id"].as_u64()?, v["issued_at"].as_u64()?))
                    })
                })
                .collect();
            asks.into_iter().find_map(|h| h.join().ok().flatten())
        })
    })
    .await
    .ok()
    .flatten()
}

/// An election's committed ballots and, once k trustees' shares are on the
/// chain, its decrypted counts.
pub(crate) struct ResultsOf {
    pub total: u64,
    pub decrypted: Option<Decrypted>,
}

pub(crate) async fn results_of(
    s: &SharedState,
    election: &Election,
) -> Result<ResultsOf, ApiError> {
    let eid = election.id;
    let total = s
        .db("counting ballots", move |db| db.ballot_count(eid))
        .await?;
    Ok(ResultsOf {
        total,
        decrypted: decrypted(s, election).await?,
    })
}

/// What a voter's device needs to encrypt a ballot that this appliance
/// will accept: the proofs are bound to these values.
async fn ballot_context(
    State(s): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ElectionQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let voter = authenticate(&s, &headers).await?;
    let election = find_election(&s, q.election_id)?;
    // With open registration the appliance holds the voter's credential;
    // otherwise the nullifier is the credential of the card the voter's
    // device holds, which this appliance does not know.
    let voter_nullifier = if election.open_registration() {
        let key = crate::ledger::credential::open_registration_key(
            &s.secrets.nullifier_secret,
            election.id,
            &voter.email,
        )
        .map_err(|e| ApiError::internal("deriving the credential", e))?;
        Some(Hash32(key.public().0))
    } else {
        None
    };
    let key = s
        .keys
        .get(&election.id)
        .ok_or_else(|| ApiError::internal("the election key", election.id))?;
    Ok(axum::Json(json!({
        "chain_id": s.chain_id,
        "election_id": election.id,
        "nullifier": voter_nullifier,
        "origin": s.key.public(),
        "public_key": key.public_key,
        "candidates": election.candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
    })))
}

fn election_id(s: &SharedState, raw: &str) -> Result<Election, ApiError> {
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::bad_request("invalid_election_id", "election id must be a number")
    })?;
    find_election(s, id).cloned()
}

/// The tally trustees decrypt ([`offered_height`]), and whether it may be
/// decrypted (its block is stamped after the close).
async fn tally(
    State(s): State<SharedState>,
    Path(raw): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let election = election_id(&s, &raw)?;
    let (eid, n, closes_at) = (election.id, election.candidates.len(), election.closes_at);
    let head = s.node.status().height;
    let (height, stamp, state) = s
        .db("reading the tally", move |db| {
            let shared = db.shared_tallies(eid)?.first().map(|(h, _)| *h);
            let last_ballot = db.tally_at(eid, head)?.map_or(0, |t| t.height);
            let first_closed = db.first_block_stamped_from(closes_at, head)?;
            let height = offered_height(shared, head, first_closed, last_ballot);
            let stamp = db.block_timestamp(height)?.unwrap_or(0);
            let state = db
                .tally_at(eid, height)?
                .unwrap_or_else(|| TallyState::empty(eid, n));
            Ok((height, stamp, state))
        })
        .await?;
    Ok(axum::Json(json!({
        "election_id": eid,
        "closes_at": closes_at,
        "closed": stamp >= closes_at,
        "tally_height": height,
        "ballot_count": state.ballot_count,
        "aggregate": state.aggregate,
        "trustees": election.trustees.trustees,
        "threshold": election.trustees.threshold,
    })))
}

/// The height whose tally trustees are offered. The newest one a committed
/// share names, so that k shares meet on one tally. Before any share: the
/// first block stamped after the close, or the block of the election's last
/// ballot if that came later (a fallback ballot handed back after the close):
/// a height every node with the chain offers alike, whatever its head, so
/// that trustees decrypting at once at different nodes decrypt one tally
/// (offering each node's head split their shares across heights, and no
/// height reached the threshold). Before the close: the head, not yet
/// decryptable.
fn offered_height(
    shared: Option<u64>,
    head: u64,
    first_closed: Option<u64>,
    last_ballot: u64,
) -> u64 {
    match (shared, first_closed) {
        (Some(h), _) => h,
        (None, Some(closed)) => closed.max(last_ballot).min(head),
        (None, None) => head,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    tally_height: u64,
    ballot_count: u64,
    share: DecryptionShare,
}

/// A trustee posts a decryption share; this appliance checks it against
/// its chain and carries it onto the chain as a signed transaction. The
/// share's proofs, not the caller, show which trustee made it.
async fn post_share(
    State(s): State<SharedState>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ShareBody>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let election = election_id(&s, &raw)?;
    let now = now_ms();
    let tx = DecryptionShareTx {
        chain_id: s.chain_id,
        election_id: election.id,
        tally_height: body.tally_height,
        ballot_count: body.ballot_count,
        share: body.share,
        submitted_at_ms: now,
        origin: s.key.public(),
    };
    let s2 = s.clone();
    let tx2 = tx.clone();
    s.db("checking the share", move |db| {
        let height = s2.node.status().height + 1;
        Ok(check_share_on_chain(
            &s2.genesis,
            &s2.chain_id,
            (height, now),
            &tx2,
            &*db,
        ))
    })
    .await?
    .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let stx = SignedTx::sign(Transaction::DecryptionShare(tx), &s.key)
        .map_err(|e| ApiError::internal("signing the share", e))?;
    let done = submit_signed(&s, stx, Source::Rpc).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "pending", "transaction_id": done.tx_hash})),
    ))
}

#[cfg(test)]
mod tests {
    use super::offered_height;

    #[test]
    fn trustees_are_offered_one_height_whatever_each_nodes_head() {
        // Closed at block 40, last ballot in block 38: nodes at heads 41
        // and 57 offer the same height.
        assert_eq!(offered_height(None, 41, Some(40), 38), 40);
        assert_eq!(offered_height(None, 57, Some(40), 38), 40);
        // A fallback ballot handed back after the close, in block 45.
        assert_eq!(offered_height(None, 45, Some(40), 45), 45);
        assert_eq!(offered_height(None, 60, Some(40), 45), 45);
        // Once a share is committed its height is the one offered.
        assert_eq!(offered_height(Some(44), 60, Some(40), 45), 44);
        // Not closed yet at this node: its head, which is not decryptable.
        assert_eq!(offered_height(None, 39, None, 38), 39);
    }
}
