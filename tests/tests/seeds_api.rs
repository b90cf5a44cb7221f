//! The seed documents' calls, replayed against real processes (a testnet of
//! three validators named `validator-1..3` and a bootnode): every request
//! they print is sent as printed, and every response field they show is
//! checked for its presence and meaning. Values that the documents show as
//! placeholders (`tx-a1b2c3d4e5f6`, `your_token_here`, `"0x..."`) are taken
//! from the running system instead; the printed placeholders themselves are
//! answered with the API's error shape, never a crash.
//!
//! And ids that resolve everywhere: transaction ids handed out in fallback
//! mode at one validator resolve at the others once the ballots reach the
//! main chain.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use evote_tests::cluster::{Cluster, Timing, agent, appliance_bin, wait_until};
use serde_json::{Value, json};

fn read(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut r = r.expect("the request reaches the server");
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `curl -X POST URL -H "Authorization: Bearer T" -H "Content-Type: application/json" -d BODY`
fn post(url: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = agent().post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    read(req.send(body))
}

/// `curl URL [-H "Authorization: Bearer T"]`
fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    read(req.call())
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| humantime_like(s) && s.ends_with('Z'))
}

/// `2025-11-07T10:30:00Z`: digits where the seeds print digits.
fn humantime_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b.iter()
            .enumerate()
            .filter(|(i, _)| ![4, 7, 10, 13, 16, 19].contains(i))
            .all(|(_, c)| c.is_ascii_digit())
}

struct Bootnode(Child, String);

impl Bootnode {
    fn start() -> Bootnode {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(appliance_bin())
            .args(["bootnode", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the bootnode");
        let url = format!("http://127.0.0.1:{port}");
        wait_until("the bootnode", Duration::from_secs(30), || {
            agent().get(format!("{url}/health")).call().is_ok()
        });
        Bootnode(child, url)
    }
}

impl Drop for Bootnode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Phase 3, "Testing the Integration", steps 1-5, and the API section.
#[test]
fn the_phase_3_document_calls_answer_as_documented() {
    let c = Cluster::create(3, 0, Timing::default());
    c.start_all();
    let base = c.url(0).to_string();

    // 1. curl http://localhost:8000/health  ->  {"status": ..., "version": ...}
    let (code, h) = get(&format!("{base}/health"), None);
    assert_eq!(code, 200);
    assert!(
        h["status"].is_string() && h["version"] == env!("CARGO_PKG_VERSION"),
        "{h}"
    );

    // curl http://localhost:8000/api/admin/validators/health, printed without credentials.
    let (code, vh) = get(&format!("{base}/api/admin/validators/health"), None);
    assert_eq!(code, 200, "{vh}");
    assert!(is_rfc3339(&vh["timestamp"]), "{vh}");
    let rows = vh["validators"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["name"], format!("validator-{}", i + 1));
        assert!(row["node_id"].as_str().unwrap().starts_with("0x"), "{row}");
        assert!(
            row["p2p_url"].as_str().unwrap().starts_with("http://"),
            "{row}"
        );
        assert!(["healthy", "degraded", "unreachable"].contains(&row["status"].as_str().unwrap()));
    }
    wait_until(
        "all three validators healthy",
        Duration::from_secs(30),
        || {
            let (_, vh) = get(&format!("{base}/api/admin/validators/health"), None);
            vh["summary"]["healthy"] == 3
        },
    );
    let (_, vh) = get(&format!("{base}/api/admin/validators/health"), None);
    assert_eq!(vh["summary"]["total"], 3);
    assert_eq!(vh["summary"]["health_percentage"], 100.0);
    // The public door (rpc_url) is not in the genesis: each validator
    // reports its own once it answered.
    for (i, row) in vh["validators"].as_array().unwrap().iter().enumerate() {
        assert_eq!(row["rpc_url"], c.url(i), "{row}");
    }

    // 2.1 register, exactly as printed: the testnet's election has a roll
    // (only the `dev` demo has open registration), and the refusal has the
    // seeds' error shape. 2.2: a poll worker checks the voter in instead;
    // the booth pass is the bearer token, the voter's card signs.
    let creds = r#"{"email": "voter@test.com", "password": "TestPass123"}"#;
    let (code, r) = post(&format!("{base}/api/auth/register"), creds, None);
    assert_eq!(
        (code, &r["error"]["code"]),
        (403, &json!("registration_closed")),
        "{r}"
    );
    let token = c.voter(0, "seeds");
    let card = c.card(&token);
    let with_card = |body: &str| {
        let mut v: Value = serde_json::from_str(body).unwrap();
        v["credential"] = json!(card);
        v.to_string()
    };

    // 2.3 submit, the printed body: candidate 42 does not stand in the
    // testnet's election, and the answer says so in the error shape.
    let printed = r#"{
           "election_id": 1,
           "candidate_id": 42,
           "encrypted_vote": "aGVsbG8gd29ybGQ="
         }"#;
    let submit = format!("{base}/api/votes/submit");
    let (code, r) = post(&submit, &with_card(printed), Some(&token));
    assert_eq!(
        (code, &r["error"]["code"]),
        (400, &json!("unknown_candidate")),
        "{r}"
    );
    let (code, v) = post(
        &submit,
        &with_card(&printed.replace("42", "2")),
        Some(&token),
    );
    assert_eq!(code, 200, "{v}");
    assert!(v["id"].as_u64().is_some_and(|id| id >= 1), "id: {v}");
    let tx = v["transaction_id"].as_str().unwrap().to_string();
    assert!(tx.starts_with("0x") && tx.len() == 66, "{v}");
    assert!(
        v.get("block_hash").is_some(),
        "block_hash is present (null until committed): {v}"
    );
    assert!(v["ballot_hash"].as_str().unwrap().starts_with("0x"));
    assert!(is_rfc3339(&v["timestamp"]), "{v}");
    assert_eq!(v["status"], "submitted");
    assert_eq!(v["validator"], "validator-1", "this validator took it: {v}");
    assert!(v.get("warning").is_none());
    let (code, again) = post(
        &submit,
        &with_card(&printed.replace("42", "3")),
        Some(&token),
    );
    assert_eq!(
        (code, &again["error"]["code"]),
        (401, &json!("unauthorized")),
        "a booth pass casts one ballot: {again}"
    );
    let another = c.voter(0, "seeds-another");
    let (code, again) = post(
        &submit,
        &with_card(&printed.replace("42", "3")),
        Some(&another),
    );
    assert_eq!(
        (code, &again["error"]["code"]),
        (409, &json!("already_voted")),
        "a card votes once: {again}"
    );

    // 3. transaction status, with the election id as printed.
    let status_url =
        format!("{base}/api/votes/transaction-status?transaction_id={tx}&election_id=1");
    wait_until("the vote to be confirmed", Duration::from_secs(30), || {
        get(&status_url, Some(&token)).1["confirmed"] == true
    });
    let (code, st) = get(&status_url, Some(&token));
    assert_eq!(code, 200, "{st}");
    assert!(
        ["confirmed", "finalized"].contains(&st["status"].as_str().unwrap()),
        "{st}"
    );
    assert_eq!(st["confirmed"], true);
    assert_eq!(st["transaction_id"], tx.as_str());
    assert!(st["block_number"].as_u64().unwrap() >= 1);
    assert!(st["block_hash"].as_str().unwrap().starts_with("0x"));
    assert_eq!(st["gas_used"], "0x0");
    assert_eq!(st["source"], "poa_validators");
    // Every validator answers the same about it.
    for i in 1..3 {
        let url = format!(
            "{}/api/votes/transaction-status?transaction_id={tx}&election_id=1",
            c.url(i)
        );
        wait_until("the vote at every node", Duration::from_secs(30), || {
            get(&url, None).1["confirmed"] == true
        });
        assert_eq!(get(&url, None).1["block_hash"], st["block_hash"]);
    }
    // Another election, the printed placeholder id: the error shape.
    let (code, e) = get(
        &format!("{base}/api/votes/transaction-status?transaction_id={tx}&election_id=2"),
        None,
    );
    assert_eq!(
        (code, &e["error"]["code"]),
        (404, &json!("not_found")),
        "{e}"
    );
    let (code, e) = get(
        &format!(
            "{base}/api/votes/transaction-status?transaction_id=tx-a1b2c3d4e5f6&election_id=1"
        ),
        Some(&token),
    );
    assert_eq!(
        (code, &e["error"]["code"]),
        (400, &json!("invalid_transaction_id"))
    );

    // 4. results.
    let (code, res) = get(
        &format!("{base}/api/votes/results?election_id=1"),
        Some(&token),
    );
    assert_eq!(code, 200, "{res}");
    assert_eq!(res["election_id"], 1);
    assert_eq!(res["election_name"], "Testnet election");
    assert_eq!(res["total_votes"], 1);
    let rows = res["results"].as_array().unwrap();
    assert_eq!(rows[0]["candidate_name"], "Alice Moreau");
    for row in rows {
        assert!(
            row.get("vote_count").is_some() && row.get("percentage").is_some(),
            "{row}"
        );
    }
    assert_eq!(res["verification"]["chain_valid"], true);
    assert!(is_rfc3339(&res["verification"]["timestamp"]), "{res}");

    // 5. verify-blockchain with the printed body.
    let (code, vb) = post(
        &format!("{base}/api/votes/verify-blockchain"),
        r#"{"election_id": 1}"#,
        Some(&token),
    );
    assert_eq!(code, 200, "{vb}");
    assert_eq!(vb["election_id"], 1);
    assert_eq!(vb["chain_valid"], true);
    assert_eq!(vb["status"], "valid");
    assert_eq!(vb["source"], "poa_validators");
    assert_eq!(vb["total_votes"], 1);
    let blocks = vb["total_blocks"].as_u64().unwrap();
    assert!(blocks >= 2, "the genesis and the vote's block: {vb}");
    // Without a body, as evote's own clients call it; a wrong body is refused.
    let (code, vb) = post(&format!("{base}/api/votes/verify-blockchain"), "", None);
    assert_eq!((code, &vb["status"]), (200, &json!("valid")));
    let (code, e) = post(
        &format!("{base}/api/votes/verify-blockchain"),
        r#"{"election_id": "one"}"#,
        None,
    );
    assert_eq!((code, &e["error"]["code"]), (422, &json!("invalid_body")));

    // Troubleshooting: the chain on each validator.
    for i in 0..3 {
        let (code, chain) = get(&format!("{}/blockchain?election_id=1", c.url(i)), None);
        assert_eq!(code, 200);
        assert!(chain["blocks"].is_array());
    }
}

/// Technical design: the bootnode, JSON-RPC, the peer hello, monitoring and
/// the end-to-end script's probes.
#[test]
fn the_technical_design_calls_answer_as_documented() {
    let boot = Bootnode::start();
    let b = &boot.1;

    // GET /health  ->  {"status": "healthy"}
    let (code, h) = get(&format!("{b}/health"), None);
    assert_eq!((code, &h["status"]), (200, &json!("healthy")));

    // POST /register_peer, the printed body (with a real key for "0x...").
    let key = format!("0x{}", "ab".repeat(32));
    for (i, p2p) in [(1, 30303), (2, 30304), (3, 30305)] {
        let body = json!({
            "node_id": format!("validator-{i}"),
            "ip": format!("validator-{i}"),
            "p2p_port": p2p,
            "rpc_port": 8000 + i,
            "public_key": key,
        });
        let (code, r) = post(&format!("{b}/register_peer"), &body.to_string(), None);
        assert_eq!(code, 200, "{r}");
        assert_eq!(r["registered"], true);
        assert_eq!(r["peers"].as_array().unwrap().len(), i - 1, "{r}");
    }
    // The placeholder key is refused in the error shape.
    let (code, e) = post(
        &format!("{b}/register_peer"),
        r#"{"node_id": "validator-1", "ip": "validator-1", "p2p_port": 30303, "rpc_port": 8001, "public_key": "0x..."}"#,
        None,
    );
    assert_eq!(
        (code, &e["error"]["code"]),
        (400, &json!("invalid_public_key"))
    );

    // GET /discover?node_id=validator-1
    let (code, d) = get(&format!("{b}/discover?node_id=validator-1"), None);
    assert_eq!(code, 200, "{d}");
    let peers = d["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0]["node_id"], "validator-2");
    assert_eq!(peers[0]["ip"], "validator-2");
    assert_eq!(peers[0]["p2p_port"], 30304);
    assert_eq!(peers[1]["node_id"], "validator-3");
    assert_eq!(peers[1]["p2p_port"], 30305);

    // GET /peers  ->  {"peers": [...], "count": 3}
    let (code, p) = get(&format!("{b}/peers"), None);
    assert_eq!((code, &p["count"]), (200, &json!(3)));
    assert_eq!(p["peers"][0]["node_id"], "validator-1");

    // The validators.
    let c = Cluster::create(3, 0, Timing::default());
    c.start_all();
    let v = c.url(1).to_string();

    // curl http://localhost:800N/rpc (the compose health check), then JSON-RPC.
    let (code, info) = get(&format!("{v}/rpc"), None);
    assert_eq!((code, &info["jsonrpc"]), (200, &json!("2.0")), "{info}");
    let rpc = format!("{v}/rpc");
    let (code, r) = post(
        &rpc,
        r#"{"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 3}"#,
        None,
    );
    assert_eq!(
        (code, &r["jsonrpc"], &r["id"]),
        (200, &json!("2.0"), &json!(3))
    );
    let number = r["result"].as_str().unwrap().to_string();
    assert!(number.starts_with("0x"), "{r}");
    let (_, r) = post(
        &rpc,
        &json!({"jsonrpc": "2.0", "method": "eth_getBlockByNumber", "params": [number, true], "id": 4})
            .to_string(),
        None,
    );
    assert_eq!(r["id"], 4);
    assert!(
        r["result"]["hash"].as_str().unwrap().starts_with("0x"),
        "{r}"
    );
    // The printed "0x..." hash: a JSON-RPC error, not a crash.
    let (code, r) = post(
        &rpc,
        r#"{"jsonrpc": "2.0", "method": "eth_getTransactionReceipt", "params": ["0x..."], "id": 2}"#,
        None,
    );
    assert_eq!((code, &r["id"]), (200, &json!(2)));
    assert!(r["error"]["code"].is_i64(), "{r}");
    // An unsigned vote through eth_sendTransaction is refused: only
    // transactions signed by an appliance of the genesis go on the chain.
    let data = format!(
        "0x{}",
        hex_of(br#"{"voter_id": "anon-tx-abc123", "election_id": 1, "encrypted_vote": "0x7f3a"}"#)
    );
    let (code, r) = post(
        &rpc,
        &json!({"jsonrpc": "2.0", "method": "eth_sendTransaction",
                "params": [{"to": null, "data": data}], "id": 1})
        .to_string(),
        None,
    );
    assert_eq!((code, &r["id"]), (200, &json!(1)));
    assert!(
        r["error"]["code"].is_i64() && r.get("result").is_none(),
        "{r}"
    );

    // Monitoring: GET /api/blockchain/stats.
    let (code, s) = get(&format!("{v}/api/blockchain/stats"), None);
    assert_eq!(code, 200, "{s}");
    assert!(s["total_blocks"].as_u64().unwrap() >= 1);
    assert_eq!(s["total_votes"], 0);
    assert_eq!(s["chain_valid"], true);
    // The e2e script's GET /api/blockchain/verify.
    let (code, s) = get(&format!("{v}/api/blockchain/verify"), None);
    assert_eq!(
        (code, &s["chain_valid"], &s["status"]),
        (200, &json!(true), &json!("valid"))
    );
    // The peer hello: node_id, genesis_hash, chain_length, best_hash.
    let (code, hello) = get(&format!("{v}/p2p/status"), None);
    assert_eq!(code, 200);
    for k in ["node_id", "genesis_hash", "chain_length", "best_hash"] {
        assert!(hello.get(k).is_some(), "{k}: {hello}");
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Twenty votes taken in fallback mode at one validator: the seeds'
/// fallback answer (`id`, `transaction_id`, `ballot_hash`, `timestamp`,
/// `warning`), and once the network is back, each id resolves at every
/// other node, confirmed, in the main chain's block.
#[test]
fn fallback_ids_resolve_at_every_node_once_reconciled() {
    let c = Cluster::create(3, 0, Timing::default());
    c.start_all();
    let tokens: Vec<String> = (0..20)
        .map(|k| c.voter(0, &format!("offline{k}")))
        .collect();
    c.kill(1);
    c.kill(2);
    wait_until("fallback at validator-1", Duration::from_secs(30), || {
        c.get(0, "/health").1["fallback"] == true
    });
    let mut ids = Vec::new();
    for (k, token) in tokens.iter().enumerate() {
        let body = c.vote_body(token, 1 + k as u64 % 3);
        let (code, v) = post(
            &format!("{}/api/votes/submit", c.url(0)),
            &body.to_string(),
            Some(token),
        );
        assert_eq!(code, 200, "{v}");
        assert!(v["id"].as_u64().is_some(), "{v}");
        assert!(
            v["ballot_hash"].is_string() && is_rfc3339(&v["timestamp"]),
            "{v}"
        );
        assert!(v["warning"].as_str().unwrap().contains("recorded"), "{v}");
        assert_eq!(v["status"], "fallback");
        ids.push(v["transaction_id"].as_str().unwrap().to_string());
    }
    let (_, st) = get(
        &format!(
            "{}/api/votes/transaction-status?transaction_id={}&election_id=1",
            c.url(0),
            ids[0]
        ),
        None,
    );
    assert_eq!(
        (&st["status"], &st["confirmed"], &st["source"]),
        (&json!("fallback"), &json!(false), &json!("fallback_chain")),
        "{st}"
    );
    c.start(1);
    c.start(2);
    c.wait_up(1);
    c.wait_up(2);
    for i in [1, 2, 0] {
        for id in &ids {
            let url = format!(
                "{}/api/votes/transaction-status?transaction_id={id}&election_id=1",
                c.url(i)
            );
            wait_until("a fallback id to resolve", Duration::from_secs(120), || {
                get(&url, None).1["confirmed"] == true
            });
            let (_, st) = get(&url, None);
            assert_eq!(st["transaction_id"], id.as_str(), "{st}");
            let copy = st["main_transaction_id"]
                .as_str()
                .expect("the copy's id")
                .to_string();
            assert_ne!(copy, *id);
            let (_, main) = get(
                &format!(
                    "{}/api/votes/transaction-status?transaction_id={copy}",
                    c.url(i)
                ),
                None,
            );
            assert_eq!(main["block_hash"], st["block_hash"], "{main} {st}");
        }
    }
}
