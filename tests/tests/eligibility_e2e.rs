//! Who may vote, attacked against real processes (SECURITY.md, "Who may
//! vote"): an outsider flooding open registration, a poll worker checking
//! in voters the roll does not have, an appliance signing ballots with its
//! own key, with an absent voter's listed credential, or with a card it
//! holds but never checked the voter in for, and an appliance adding a
//! backdated "fallback" ballot after the close. Each is refused by the
//! appliances with a named error or FAILed by `evote-audit` with the
//! station and the rule.

use std::ffi::OsStr;
use std::time::Duration;

use evote_appliance::{OsRandom, load_genesis, now_ms, read_node_key};
use evote_core::ledger::credential::{CredentialCode, sign_ballot};
use evote_core::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use evote_core::ledger::fallback::{FallbackBlock, FallbackTip, reconciliation_txs};
use evote_core::ledger::tx::ballot_hash;
use evote_core::ledger::{Ballot, BallotTx, Genesis, Hash32, NodeKey, SignedTx, Transaction};
use evote_tests::audit_bin::{assert_pass, audit, check, verify};
use evote_tests::cluster::{Cluster, Timing, Voters, wait_until};
use serde_json::{Value, json};

/// The election's window: long enough for any machine to cast the
/// tests' votes in it; the tests move the nodes' clocks past its close
/// rather than wait for it ([`Cluster::pass_close`]).
const WINDOW: Option<Duration> = Some(Duration::from_secs(600));

/// How far past the close the nodes' clocks move: beyond the 5 s after
/// which an appliance signs its closing record.
const PAST_THE_CLOSE: Duration = Duration::from_secs(6);

/// What an appliance's operator holds: its node key and the genesis.
struct Appliance {
    key: NodeKey,
    genesis: Genesis,
    chain_id: Hash32,
    election_key: EncryptionKey,
}

impl Appliance {
    fn of(c: &Cluster, i: usize) -> Appliance {
        let key = read_node_key(&c.home(i).join("node.key")).expect("node key");
        let genesis = load_genesis(&c.net_dir().join("genesis.json")).expect("genesis");
        let chain_id = genesis.chain_id().expect("chain id");
        let public = genesis.elections[0].public_key().expect("election key");
        let election_key = EncryptionKey::new(&public.public_key).expect("encryption key");
        Appliance {
            key,
            genesis,
            chain_id,
            election_key,
        }
    }

    /// An encrypted ballot for candidate `candidate` (1-based) under
    /// `nullifier`, with its proofs, as this appliance would accept it.
    fn ballot(&self, nullifier: Hash32, candidate: usize) -> Ballot {
        let ctx = BallotContext {
            chain_id: self.chain_id,
            election_id: 1,
            nullifier,
            origin: self.key.public(),
        };
        let n = self.genesis.elections[0].candidates.len();
        encrypt_ballot(
            &ctx,
            &self.election_key,
            candidate - 1,
            n,
            &mut OsRandom::default(),
        )
        .expect("encrypt")
    }

    /// A ballot signed by `credential` and by this appliance.
    fn signed_by(&self, credential: &NodeKey, at_ms: u64) -> SignedTx {
        let ballot = self.ballot(Hash32(credential.public().0), 2);
        let tx = BallotTx::new(
            self.chain_id,
            1,
            credential,
            ballot,
            at_ms,
            self.key.public(),
        )
        .expect("ballot");
        SignedTx::sign(Transaction::Ballot(tx), &self.key).expect("sign")
    }
}

/// `eth_sendTransaction` at node `i`: the transaction id, or the refusal's
/// error code (`data.code`).
fn send(c: &Cluster, i: usize, stx: &SignedTx) -> Result<String, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [stx]});
    let (code, v) = c.post(i, "/rpc", &body, None);
    assert_eq!(code, 200, "{v}");
    match v["result"].as_str() {
        Some(tx) => Ok(tx.to_string()),
        None => Err(v["error"]["data"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("a refusal without a code: {v}"))
            .to_string()),
    }
}

/// Every transaction of type `kind` on node `i`'s chain.
fn on_chain(c: &Cluster, i: usize, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let (code, v) = c.get(i, &format!("/blockchain?from={from}&limit=100"));
        assert_eq!(code, 200, "{v}");
        let blocks = v["blocks"].as_array().expect("blocks").clone();
        if blocks.is_empty() {
            return out;
        }
        for b in &blocks {
            for t in b["transactions"].as_array().expect("transactions") {
                if t["tx"]["type"] == kind {
                    out.push(t.clone());
                }
            }
        }
        from = blocks.last().unwrap()["header"]["height"].as_u64().unwrap() + 1;
    }
}

/// `evote-audit verify` of node `node`'s chain.
fn audit_node(c: &Cluster, node: usize) -> (i32, Value) {
    verify(c, &["--nodes", c.url(node)])
}

#[test]
fn outsiders_and_poll_workers_cannot_add_voters() {
    let c = Cluster::create_with(1, 1, Timing::default(), None, Voters::Roll(Some(20)));
    c.start_all();
    let station = 1;
    // A registration flood: an election with a roll has no open
    // registration (before, every address registered, logged in and voted).
    for k in 0..50 {
        let body = json!({"email": format!("flood{k}@example.org"), "password": "correct horse"});
        let (code, v) = c.post(station, "/api/auth/register", &body, None);
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (403, Some("registration_closed")),
            "{v}"
        );
    }
    let body = json!({"email": "flood0@example.org", "password": "correct horse"});
    let (code, v) = c.post(station, "/api/auth/login", &body, None);
    assert_eq!(code, 401, "no account was made: {v}");
    // Ghost check-ins: by e-mail (before: 5,000 voters made in one request)
    // and by ids the roll does not have.
    let admin = c.admin_token(station);
    let ghosts: Vec<Value> = (0..1_000)
        .map(|k| json!({"email": format!("ghost{k}@nowhere.invalid")}))
        .collect();
    let (code, v) = c.post(
        station,
        "/api/admin/voters/check-in",
        &json!({"voters": ghosts}),
        Some(&admin),
    );
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (403, Some("roll_required")),
        "{v}"
    );
    let ids: Vec<String> = (0..100).map(|k| format!("ghost-{k}")).collect();
    let (code, v) = c.post(
        station,
        "/api/admin/voters/check-in",
        &json!({"election_id": 1, "voter_ids": ids}),
        Some(&admin),
    );
    assert_eq!(code, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    assert!(
        results
            .iter()
            .all(|r| r["error"]["code"] == "not_on_roll" && r.get("booth_pass").is_none()),
        "{v}"
    );
    // A voter of the roll is checked in once.
    let pass = c.voter(station, "ada");
    let (code, v) = c.check_in(station, "ada");
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (409, Some("already_checked_in")),
        "{v}"
    );
    // A pass without the voter's card casts nothing; with it, one ballot.
    let (code, v) = c.post(
        station,
        "/api/votes/submit",
        &json!({"election_id": 1, "candidate_id": 1}),
        Some(&pass),
    );
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (400, Some("credential_required")),
        "{v}"
    );
    c.vote(station, &pass, 1);
    let (code, v) = c.post(
        station,
        "/api/votes/submit",
        &c.vote_body(&pass, 2),
        Some(&pass),
    );
    assert_eq!(code, 401, "a pass casts one ballot: {v}");
    wait_until("the one ballot counted", Duration::from_secs(60), || {
        let (_, v) = c.get(station, "/api/votes/results?election_id=1");
        v["total_votes"] == 1
    });
}

#[test]
fn an_appliance_cannot_vote_for_voters_it_does_not_hold_the_card_of() {
    let c = Cluster::create_with(1, 1, Timing::default(), WINDOW, Voters::Roll(Some(20)));
    c.start_all();
    let (validator, station) = (0, 1);
    let me = Appliance::of(&c, station);
    // Its own key as the voter's credential: not a credential the genesis
    // lists (before: any 32 bytes were a nullifier).
    let own = me.signed_by(&me.key, now_ms());
    assert_eq!(send(&c, validator, &own).unwrap_err(), "unknown_credential");
    // An absent voter's listed credential (the genesis publishes it), the
    // credential signature made with the appliance's own key.
    let absent = CredentialCode::parse(&c.roll_voter("absent").1)
        .expect("card")
        .key(1);
    let nullifier = Hash32(absent.public().0);
    let ballot = me.ballot(nullifier, 3);
    let forged = sign_ballot(&me.key, &me.chain_id, 1, &ballot_hash(&ballot)).expect("sign");
    let tx = BallotTx::with_credential_signature(
        me.chain_id,
        1,
        nullifier,
        ballot,
        forged,
        now_ms(),
        me.key.public(),
    );
    let stx = SignedTx::sign(Transaction::Ballot(tx), &me.key).unwrap();
    assert_eq!(send(&c, validator, &stx).unwrap_err(), "bad_signature");
    assert_eq!(send(&c, station, &stx).unwrap_err(), "bad_signature");

    // Honest voters at the station, and one card the station holds but
    // whose voter it never checked in: the validators cannot tell that
    // ballot from another, the poll book can.
    for k in 0..3 {
        let pass = c.voter(station, &format!("honest-{k}"));
        c.vote(station, &pass, 1 + k % 3);
    }
    let stolen = CredentialCode::parse(&c.roll_voter("stolen").1)
        .expect("card")
        .key(1);
    let stuffed = send(&c, validator, &me.signed_by(&stolen, now_ms())).expect("accepted");
    wait_until(
        "the stuffed ballot committed",
        Duration::from_secs(60),
        || c.tx_status(validator, &stuffed) == "finalized",
    );
    wait_until("the four ballots counted", Duration::from_secs(60), || {
        let (_, v) = c.get(validator, "/api/votes/results?election_id=1");
        v["total_votes"] == 4
    });

    // The close (the nodes' clocks moved past it): each appliance signs
    // its closing record, after which it can add no "fallback" ballot it
    // had not sealed by then, however backdated (before, naming a fallback
    // block exempted a ballot from the close).
    c.pass_close(PAST_THE_CLOSE);
    wait_until(
        "both closing records on the chain",
        Duration::from_secs(120),
        || on_chain(&c, validator, "device_close").len() == 2,
    );
    let closes_at = me.genesis.elections[0].closes_at;
    let late = CredentialCode::parse(&c.roll_voter("late").1)
        .expect("card")
        .key(1);
    let sealed = me.signed_by(&late, closes_at - 10_000);
    let tip = FallbackTip {
        seq: 0,
        hash: me.chain_id,
    };
    let block = FallbackBlock::seal(
        me.chain_id,
        tip,
        (0, me.chain_id),
        closes_at - 9_000,
        vec![sealed],
        &me.key,
    )
    .expect("seal");
    let copy = reconciliation_txs(&block, &me.key).expect("copy").remove(0);
    assert_eq!(send(&c, validator, &copy).unwrap_err(), "device_closed");

    // The auditor names the station that counted more ballots than it
    // checked voters in.
    let (code, report) = audit_node(&c, validator);
    assert_eq!(code, 1, "{report:#}");
    let poll_book = check(&report, "station.poll_book");
    assert_eq!(poll_book["verdict"], "FAIL", "{poll_book:#}");
    // Its closing record signs the 3 ballots it issued codes for, too.
    let failures = poll_book["failures"].as_array().unwrap();
    let found = |code: &str| {
        failures
            .iter()
            .find(|f| f["code"] == code)
            .and_then(|f| f["message"].as_str())
            .unwrap_or_else(|| panic!("no {code}: {poll_book:#}"))
            .to_string()
    };
    let too_many = found("too_many_ballots");
    assert!(
        too_many.contains("station-1") && too_many.contains("4 ballot(s) counted and 3"),
        "{too_many}"
    );
    let signed = found("close_mismatch");
    assert!(
        signed.contains("station-1") && signed.contains("closing record signs 3"),
        "{signed}"
    );
    assert_eq!(failures.len(), 2, "{poll_book:#}");
    let rows = report["tallies"][0]["stations"].as_array().unwrap();
    let row = rows.iter().find(|r| r["name"] == "station-1").unwrap();
    assert_eq!(
        (
            &row["checked_in"],
            &row["cast_there"],
            &row["from_fallback"]
        ),
        (&json!(3), &json!(4), &json!(0)),
        "{row}"
    );
    assert_pass(
        &report,
        "tx.credential tx.device_close tx.check_in station.codes",
    );

    // The station's chain exported for observers: its confirmation codes
    // lead to the head its closing record signs; with one code removed
    // (a ballot the station wants forgotten) they no longer do.
    let export = c.dir.path().join("station-chain.sqlite3");
    export_chain(&c, station, &export);
    let db = export.to_str().unwrap();
    let (_, report) = verify(&c, &["--db", db]);
    let codes = check(&report, "station.codes");
    assert_eq!(codes["verdict"], "PASS", "{codes:#}");
    assert_eq!(
        codes["per_source"][0]["checked"], 4,
        "3 codes, 1 closing record"
    );
    let removed = c.dir.path().join("station-chain-removed.sqlite3");
    std::fs::copy(&export, &removed).unwrap();
    rusqlite::Connection::open(&removed)
        .unwrap()
        .execute("DELETE FROM confirmation_codes WHERE seq = 2", [])
        .unwrap();
    let (code, report) = verify(&c, &["--db", removed.to_str().unwrap()]);
    assert_eq!(code, 1);
    let codes = check(&report, "station.codes");
    assert_eq!(codes["verdict"], "FAIL", "{codes:#}");
    let f = &codes["failures"][0];
    assert_eq!(f["code"], "code_chain_broken", "{f}");
    assert!(f["message"].as_str().unwrap().contains("station-1"), "{f}");
}

/// `chain export` of node `i`'s chain to `out`.
fn export_chain(c: &Cluster, i: usize, out: &std::path::Path) {
    let cfg = c.nodes[i].config.as_os_str();
    let (code, _, err) = c.cli(&[
        os("chain"),
        os("export"),
        os("--config"),
        cfg,
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A whole election as officials run it: a roll of 1,000 test voters with
/// their cards, a validator and three stations, one of them offline all
/// day; voters checked in at each station and voting with their cards;
/// the close, the offline station's export carried to the validator, the
/// trustees' tally, and `evote-audit verify` with the per-station table.
/// Then a poll book tampered with in an exported chain is caught, naming
/// the station.
#[test]
fn a_full_election_with_a_roll_cards_and_an_offline_station_verifies() {
    let c = Cluster::create_with(1, 3, Timing::default(), WINDOW, Voters::Roll(None));
    assert_eq!(c.roll_voters().len(), 1_000, "the testnet's roll");
    let (validator, s1, s2, offline) = (0, 1, 2, 3);
    for i in 0..3 {
        c.start(i);
    }
    c.start_with(offline, &["--offline"]);
    for i in 0..4 {
        c.wait_up(i);
    }
    let turnout = [(s1, 12), (s2, 8), (offline, 5)];
    let mut tx_ids = Vec::new();
    for (station, n) in turnout {
        let passes = c.check_in_many(station, n, &format!("at-{station}"));
        for (k, pass) in passes.iter().enumerate() {
            let v = c.vote_answer(station, pass, 1 + (k as u64) % 3);
            let expected = if station == offline {
                "fallback"
            } else {
                "submitted"
            };
            assert_eq!(v["status"], expected, "{v}");
            tx_ids.push(v["transaction_id"].as_str().unwrap().to_string());
        }
    }
    assert!(
        c.now_ms() < c.closes_at(),
        "the votes were cast before the close"
    );

    // The close (the nodes' clocks moved past it): the connected
    // appliances sign their closing records; the offline station closes
    // its day and its export is carried over.
    c.pass_close(PAST_THE_CLOSE);
    c.kill(offline);
    let cfg = |i: usize| c.nodes[i].config.clone().into_os_string();
    let (code, _, err) = c.cli(&[os("fallback"), os("close"), os("--config"), &cfg(offline)]);
    assert_eq!(code, 0, "{err}");
    let export = c.dir.path().join("offline-station.json");
    let (code, _, err) = c.cli(&[
        os("fallback"),
        os("export"),
        os("--config"),
        &cfg(offline),
        os("--out"),
        export.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = c.cli(&[
        os("fallback"),
        os("import"),
        export.as_os_str(),
        os("--config"),
        &cfg(validator),
    ]);
    assert_eq!(code, 0, "{err}");
    wait_until(
        "four closing records and every ballot on the chain",
        Duration::from_secs(120),
        || {
            on_chain(&c, validator, "device_close").len() == 4
                && on_chain(&c, validator, "ballot").len() == tx_ids.len()
        },
    );
    c.decrypt(1, validator);
    c.decrypt(2, validator);

    // The audit: exit 0, and the poll books per station.
    let genesis = c.net_dir().join("genesis.json");
    let run = audit(
        &c,
        [
            OsStr::new("verify"),
            os("--no-progress"),
            os("--nodes"),
            os(c.url(validator)),
            os("--genesis"),
            genesis.as_os_str(),
        ],
    );
    let text = &run.stdout;
    assert_eq!(run.code, 0, "{text}");
    assert!(
        text.contains("per station:") && text.contains("station-3"),
        "{text}"
    );
    let (code, report) = audit_node(&c, validator);
    assert_eq!(code, 0, "{report:#}");
    let election = &report["tallies"][0]["elections"][0];
    assert_eq!(
        (&election["status"], &election["total"]),
        (&json!("decrypted"), &json!(25)),
        "{election:#}"
    );
    let rows = report["tallies"][0]["stations"].as_array().unwrap();
    let row = |name: &str| {
        let r = rows
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows:#?}"));
        (
            r["checked_in"].as_u64().unwrap(),
            r["cast_there"].as_u64().unwrap(),
            r["from_fallback"].as_u64().unwrap(),
            r["verdict"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(row("station-1"), (12, 12, 0, "ok".into()));
    assert_eq!(row("station-2"), (8, 8, 0, "ok".into()));
    assert_eq!(row("station-3"), (5, 0, 5, "ok".into()));
    assert_pass(
        &report,
        "station.poll_book station.codes tx.check_in tx.credential",
    );

    // The chain exported for observers, with one of station-2's check-ins
    // deleted: station-2 counted more ballots than it checked voters in.
    let chain = c.dir.path().join("chain.sqlite3");
    export_chain(&c, validator, &chain);
    let s2_key = read_node_key(&c.home(s2).join("node.key"))
        .unwrap()
        .public();
    let deleted = rusqlite::Connection::open(&chain)
        .unwrap()
        .execute(
            "DELETE FROM transactions WHERE tx_hash = (SELECT tx_hash FROM transactions \
             WHERE kind = 'check_in' AND origin = ?1 LIMIT 1)",
            [s2_key.as_bytes()],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    let (code, report) = verify(&c, &["--db", chain.to_str().unwrap()]);
    assert_eq!(code, 1, "{report:#}");
    let poll_book = check(&report, "station.poll_book");
    assert_eq!(poll_book["verdict"], "FAIL", "{poll_book:#}");
    let f = &poll_book["failures"][0];
    assert_eq!(f["code"], "too_many_ballots", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("station-2")
            && f["message"]
                .as_str()
                .unwrap()
                .contains("8 ballot(s) counted and 7"),
        "{f}"
    );
}
