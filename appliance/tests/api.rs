//! Black-box tests of the voter API against the real binary.

mod support;

use std::time::Duration;

use support::{Dev, error_code};

/// Generous: a guard against a hang on a loaded machine, not a speed
/// bound (how fast a vote confirms is `evote-bench load`'s to measure).
const CONFIRM_WAIT: Duration = Duration::from_secs(60);

#[test]
fn three_voters_vote_and_the_results_count_them() {
    let dev = Dev::start_fresh();
    let mut txs = Vec::new();
    for (i, candidate) in [1, 2, 3].into_iter().enumerate() {
        let token = dev.register(&format!("voter{i}@example.org"));
        let (code, v) = dev.vote(&token, candidate);
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["status"], "submitted");
        assert!(v["ballot_hash"].as_str().unwrap().starts_with("0x"));
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
        assert!(v["timestamp_ms"].is_u64());
        assert_eq!(v["id"], i as u64 + 1, "the n-th vote recorded here: {v}");
        assert_eq!(v["validator"], "dev-validator");
        txs.push(v["transaction_id"].as_str().unwrap().to_string());
    }
    for tx in &txs {
        dev.wait_confirmed(tx, CONFIRM_WAIT);
    }
    let (code, r) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(code, 200);
    assert_eq!(r["total_votes"], 3);
    // Ballots are encrypted: no count before the trustees decrypt the tally.
    assert_eq!(r["tally"]["status"], "pending", "{r}");
    for row in r["results"].as_array().unwrap() {
        assert!(row["vote_count"].is_null(), "{row}");
        assert!(row["name"].is_string());
    }
    assert_eq!(r["verification"]["chain_valid"], true);
    let (code, v) = dev.post("/api/votes/verify-blockchain", "", None);
    assert_eq!(code, 200);
    assert_eq!(v["valid"], true, "{v}");
    assert!(v["blocks_checked"].as_u64().unwrap() >= 1);
    let (code, chain) = dev.get("/blockchain?election_id=1");
    assert_eq!(code, 200);
    let n: usize = chain["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["transactions"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 3);
}

#[test]
fn a_second_vote_is_refused_even_after_a_crash_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    let alice = dev.register("alice@example.org");
    let tx = dev.voted(&alice, 1);
    let (code, v) = dev.vote(&alice, 2);
    assert_eq!(code, 409, "{v}");
    assert_eq!(error_code(&v), "already_voted");
    dev.wait_confirmed(&tx, CONFIRM_WAIT);
    let (code, _) = dev.vote(&alice, 3);
    assert_eq!(code, 409);
    let head = dev.head();
    let (_, before) = dev.get("/api/votes/results?election_id=1");

    dev.kill9();
    drop(dev);
    let dev = Dev::start(dir.path());
    assert_eq!(dev.head(), head, "the head survives SIGKILL");
    let (_, after) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(before["results"], after["results"]);
    // the old session and the old vote are still known
    let (code, v) = dev.vote(&alice, 3);
    assert_eq!(code, 409, "{v}");
    assert_eq!(dev.status_of(&tx), "finalized");
    // new votes still commit
    let bob = dev.register("bob@example.org");
    dev.wait_confirmed(&dev.voted(&bob, 2), CONFIRM_WAIT);
    let (_, r) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 2);
    drop(dev);
    let c = rusqlite::Connection::open(dir.path().join("evote.sqlite3")).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn a_vote_acknowledged_just_before_a_crash_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    let tokens: Vec<String> = (0..5)
        .map(|i| dev.register(&format!("v{i}@example.org")))
        .collect();
    let txs: Vec<String> = tokens
        .iter()
        .map(|t| {
            let (code, v) = dev.vote(t, 1);
            assert_eq!(code, 200);
            v["transaction_id"].as_str().unwrap().to_string()
        })
        .collect();
    dev.kill9(); // possibly before the block that holds them
    drop(dev);
    let dev = Dev::start(dir.path());
    for tx in &txs {
        dev.wait_confirmed(tx, CONFIRM_WAIT);
    }
    let (_, r) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 5);
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let dev = Dev::start_fresh();
    let token = dev.register("carol@example.org");
    let cases: &[(&str, &str, u16, &str)] = &[
        ("/api/votes/submit", "{not json", 400, "malformed_json"),
        (
            "/api/votes/submit",
            r#"{"election_id":"one","candidate_id":1}"#,
            422,
            "invalid_body",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":1}"#,
            400,
            "invalid_ballot",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":1,"ballot":{"selections":[]}}"#,
            422,
            "invalid_body",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":1,"candidate_id":1,"extra":true}"#,
            422,
            "invalid_body",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":99,"candidate_id":1}"#,
            404,
            "not_found",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":1,"candidate_id":99}"#,
            400,
            "unknown_candidate",
        ),
        (
            "/api/votes/submit",
            r#"{"election_id":-1,"candidate_id":1}"#,
            422,
            "invalid_body",
        ),
        ("/api/votes/submit", r#"[]"#, 422, "invalid_body"),
    ];
    for (path, body, status, code) in cases {
        let (s, v) = dev.post(path, body, Some(&token));
        assert_eq!(s, *status, "{body}: {v}");
        assert_eq!(error_code(&v), *code, "{body}");
    }
    // oversized body: refused with 413. The server answers before reading
    // the rest, so the client may find the connection closed mid-send
    // (broken pipe) under load; it tries again until it reads the answer.
    let huge = format!(
        r#"{{"election_id":1,"candidate_id":1,"encrypted_vote":"{}"}}"#,
        "a".repeat(1 << 20)
    );
    let refusal = (0..10).find_map(|_| dev.try_post("/api/votes/submit", &huge, Some(&token)));
    let (s, v) = refusal.expect("the server's answer to an oversized body");
    assert_eq!(s, 413, "{v}");
    assert_eq!(error_code(&v), "body_too_large");
    // tokens, registration and login
    let ballot = r#"{"election_id":1,"candidate_id":1}"#;
    let zeros = "0".repeat(64);
    let wrong = r#"{"email":"carol@example.org","password":"wrong password"}"#;
    let nobody = r#"{"email":"nobody@example.org","password":"wrong password"}"#;
    let refused: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("/api/votes/submit", ballot, None, 401, "unauthorized"),
        (
            "/api/votes/submit",
            ballot,
            Some(&zeros),
            401,
            "unauthorized",
        ),
        (
            "/api/votes/submit",
            ballot,
            Some("short"),
            401,
            "unauthorized",
        ),
        (
            "/api/auth/register",
            r#"{"email":"carol@example.org","password":"whatever123"}"#,
            None,
            409,
            "email_exists",
        ),
        (
            "/api/auth/register",
            r#"{"email":"nope","password":"whatever123"}"#,
            None,
            400,
            "invalid_email",
        ),
        (
            "/api/auth/register",
            r#"{"email":"d@example.org","password":"short"}"#,
            None,
            400,
            "invalid_password",
        ),
        ("/api/auth/login", wrong, None, 401, "unauthorized"),
        ("/api/auth/login", nobody, None, 401, "unauthorized"),
    ];
    for (path, body, token, status, code) in refused {
        let (s, v) = dev.post(path, body, *token);
        assert_eq!(
            (s, error_code(&v).as_str()),
            (*status, *code),
            "{path} {body}"
        );
    }
    // queries
    let (s, v) = dev.get("/api/votes/transaction-status?transaction_id=0x12");
    assert_eq!(
        (s, error_code(&v).as_str()),
        (400, "invalid_transaction_id")
    );
    let (s, _) = dev.get(&format!(
        "/api/votes/transaction-status?transaction_id=0x{}",
        "ab".repeat(32)
    ));
    assert_eq!(s, 404);
    let (s, _) = dev.get("/api/votes/results?election_id=abc");
    assert_eq!(s, 400);
    let (s, _) = dev.get("/api/votes/results?election_id=7");
    assert_eq!(s, 404);
    let (s, _) = dev.get("/api/elections/xyz");
    assert_eq!(s, 400);
    let (s, v) = dev.get("/api/elections/1");
    assert_eq!(s, 200);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 3);
    let (s, v) = dev.get("/no/such/path");
    assert_eq!((s, error_code(&v).as_str()), (404, "not_found"));
    // nothing was recorded by any of that
    let (_, r) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 0);
    let (_, h) = dev.get("/health");
    assert_eq!(h["mempool"], 0);
    // and the voter can still vote once
    let (s, _) = dev.vote(&token, 1);
    assert_eq!(s, 200);
}

#[test]
fn garbage_on_every_route_never_takes_the_appliance_down() {
    let dev = Dev::start_fresh();
    let bodies = [
        "",
        "null",
        "0",
        "-1",
        "1e999",
        "\"x\"",
        "[]",
        "[[[[[[[[[[[[[[[[[[[[",
        "{",
        "}",
        "{\"a\":",
        "\u{0}\u{1}\u{2}",
        "{\"jsonrpc\":\"2.0\"}",
        "[1,2,3]",
        "{\"email\":1,\"password\":[]}",
    ];
    let paths = [
        "/api/auth/register",
        "/api/auth/login",
        "/api/votes/submit",
        "/api/votes/verify-blockchain",
        "/rpc",
        "/health",
        "/blockchain",
    ];
    // Each request on a connection of its own: a route that refuses a
    // body unread (405 on GET-only routes) closes its connection, and a
    // pooled client would send the next request into the closed socket.
    for p in paths {
        for b in bodies {
            let (s, _) = dev
                .try_post(p, b, Some(&"f".repeat(64)))
                .unwrap_or_else(|| panic!("{p} {b:?}: the appliance did not answer"));
            assert!(s < 500 || s == 503, "{p} {b:?} gave {s}");
        }
    }
    let deep = "[".repeat(100_000);
    let (s, _) = dev.post("/rpc", &deep, None);
    assert!(s < 500, "deep nesting gave {s}");
    let (s, _) = dev.get("/health");
    assert_eq!(s, 200);
}

#[test]
fn ballots_are_encrypted_tracked_by_code_and_a_forged_ballot_is_refused() {
    let dev = Dev::start_fresh();
    let a = dev.register("ivy@example.org");
    let (s, v) = dev.vote(&a, 2);
    assert_eq!(s, 200, "{v}");
    let code = v["confirmation_code"].as_str().unwrap().to_string();
    let tx = v["transaction_id"].as_str().unwrap().to_string();
    dev.wait_confirmed(&tx, CONFIRM_WAIT);
    let (s, t) = dev.get(&format!("/api/votes/track/{code}"));
    assert_eq!(s, 200, "{t}");
    assert!(t["on_chain"] == true && t["block_number"].is_u64(), "{t}");
    assert!(t.get("candidate_id").is_none());
    let (s, _) = dev.get(&format!("/api/votes/track/0x{}", "00".repeat(32)));
    assert_eq!(s, 404);
    let (s, _) = dev.get("/api/votes/track/nonsense");
    assert_eq!(s, 400);
    // The chain holds ciphertexts only.
    let (_, chain) = dev.get("/blockchain?election_id=1");
    let body = chain.to_string();
    assert!(
        body.contains("selections") && !body.contains("candidate_id"),
        "{body}"
    );
    // A client-encrypted ballot must be bound to this voter: reuse Ivy's
    // committed ballot for another voter and it is refused.
    let b = dev.register("jon@example.org");
    let (_, ctx) = dev.get_with_token("/api/votes/ballot-context?election_id=1", &b);
    assert!(
        ctx["public_key"].as_str().unwrap().starts_with("0x"),
        "{ctx}"
    );
    let ivy_ballot = chain["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|blk| blk["transactions"].as_array().unwrap().clone())
        .next()
        .unwrap()["tx"]["ballot"]
        .clone();
    let copied = serde_json::json!({"election_id": 1, "ballot": ivy_ballot}).to_string();
    let (s, v) = dev.post("/api/votes/submit", &copied, Some(&b));
    assert_eq!((s, error_code(&v).as_str()), (400, "bad_ballot"), "{v}");
    // Jon can still vote.
    let (s, v2) = dev.vote(&b, 1);
    assert_eq!(s, 200);
    assert_ne!(
        v2["confirmation_code"], v["confirmation_code"],
        "codes chain"
    );
}

#[test]
fn poll_workers_check_voters_in_with_the_admin_token() {
    let dev = Dev::start_fresh();
    let admin = dev.admin_token();
    let body =
        r#"{"voters":[{"email":"eve@example.org","name":"Eve"},{"email":"Finn@Example.org"}]}"#;
    let (s, v) = dev.admin_post("/api/admin/voters/check-in", body, None);
    assert_eq!((s, error_code(&v).as_str()), (401, "unauthorized"));
    let (s, v) = dev.post("/api/admin/voters/check-in", body, Some(&admin));
    assert_eq!(
        (s, error_code(&v).as_str()),
        (404, "not_found"),
        "the admin API answers only at the operator door"
    );
    let (s, _) = dev.admin_post("/api/admin/voters/check-in", body, Some("not-the-token"));
    assert_eq!(s, 401);
    let (s, v) = dev.admin_post("/api/admin/voters/check-in", body, Some(&admin));
    assert_eq!(s, 200, "{v}");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions[1]["email"], "finn@example.org");
    let token = sessions[0]["access_token"].as_str().unwrap();
    let (s, v) = dev.vote(token, 2);
    assert_eq!(s, 200, "{v}");
    let (s, _) = dev.vote(token, 3);
    assert_eq!(s, 409);
    // A checked-in voter has no password to log in with.
    let (s, _) = dev.post(
        "/api/auth/login",
        r#"{"email":"eve@example.org","password":""}"#,
        None,
    );
    assert_eq!(s, 401);
    let too_many = format!(
        r#"{{"voters":[{}]}}"#,
        vec![r#"{"email":"x@example.org"}"#; 1001].join(",")
    );
    let (s, v) = dev.admin_post("/api/admin/voters/check-in", &too_many, Some(&admin));
    assert_eq!((s, error_code(&v).as_str()), (400, "invalid_batch"));
    let (s, v) = dev.admin_post(
        "/api/admin/voters/check-in",
        r#"{"voters":[{"email":"bad"}]}"#,
        Some(&admin),
    );
    assert_eq!((s, error_code(&v).as_str()), (400, "invalid_email"));
}

#[test]
fn password_guessing_is_rate_limited_per_account_and_per_client() {
    let dev = Dev::start_fresh();
    dev.register("gina@example.org");
    let wrong = r#"{"email":"gina@example.org","password":"wrong password"}"#;
    for _ in 0..10 {
        let (s, _) = dev.post("/api/auth/login", wrong, None);
        assert_eq!(s, 401);
    }
    let (s, v) = dev.post("/api/auth/login", wrong, None);
    assert_eq!((s, error_code(&v).as_str()), (429, "too_many_requests"));
    // Even the right password waits now: the account is locked for a while.
    let right = r#"{"email":"gina@example.org","password":"correct horse"}"#;
    let (s, _) = dev.post("/api/auth/login", right, None);
    assert_eq!(s, 429);
    // Other accounts still work until this client has failed too often.
    dev.register("hal@example.org");
    for i in 0..20 {
        let body = format!(r#"{{"email":"nobody{i}@example.org","password":"wrong password"}}"#);
        let (s, _) = dev.post("/api/auth/login", &body, None);
        assert_eq!(s, 401, "attempt {i}");
    }
    let (s, v) = dev.post(
        "/api/auth/login",
        r#"{"email":"hal@example.org","password":"correct horse"}"#,
        None,
    );
    assert_eq!((s, error_code(&v).as_str()), (429, "too_many_requests"));
}

#[test]
fn an_older_pbkdf2_password_still_logs_in_and_is_upgraded_to_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let salt = b"0123456789abcdef";
    let old = evote_appliance::pbkdf2_hash("correct horse", salt, 100_000);
    let db = rusqlite::Connection::open(dir.path().join("evote.sqlite3")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute(
        "INSERT INTO voters (email, name, password_hash, salt, iterations, created_at_ms) \
         VALUES ('old@example.org', 'Old', ?1, ?2, 100000, 0)",
        rusqlite::params![old, &salt[..]],
    )
    .unwrap();
    let stored = || -> Vec<u8> {
        db.query_row(
            "SELECT password_hash FROM voters WHERE email = 'old@example.org'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let login = |password: &str| {
        dev.post(
            "/api/auth/login",
            &format!(r#"{{"email":"old@example.org","password":"{password}"}}"#),
            None,
        )
    };
    assert_eq!(login("wrong horse").0, 401);
    assert_eq!(stored(), old, "a wrong password changes nothing");
    let (code, v) = login("correct horse");
    assert_eq!(code, 200, "{v}");
    let new = String::from_utf8(stored()).unwrap();
    assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
    assert_eq!(login("correct horse").0, 200, "the new hash verifies");
    assert_eq!(login("wrong horse").0, 401);
}
