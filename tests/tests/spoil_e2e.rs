//! Cast or check (PROTOCOL.md §4e) against real processes: a voter checks a
//! ballot at an honest booth and at a booth built to cheat (a debug build's
//! `EVOTE_TEST_CHEATING_BOOTH`, which encrypts the next candidate). Another
//! node's board, the page a voter's phone opens, says the honest one holds
//! the voter's choice and the cheating one does not match; `evote-audit`
//! FAILs `tx.spoiled_opens` naming the cheating station only; the checked
//! ballots never count.

use std::time::{Duration, Instant};

use evote_tests::audit_bin::{check, verify};
use evote_tests::cluster::{Cluster, Timing, Voters};

/// An agent that does not follow redirects, so that 303s are seen.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Answer {
    status: u16,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let h = r.headers();
    let cookies = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let location = h.get("location").map(|v| v.to_str().unwrap().to_string());
    Answer {
        status: r.status().as_u16(),
        cookies,
        location,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(url: &str, cookie: &str) -> Answer {
    answer(agent().get(url).header("cookie", cookie).call().unwrap())
}

fn post(url: &str, cookie: &str, form: &str) -> Answer {
    let req = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie);
    answer(req.send(form).unwrap())
}

fn cookie(a: &Answer, name: &str) -> String {
    a.cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie: {}", a.body))
        .clone()
}

fn between<'a>(body: &'a str, start: &str) -> &'a str {
    body.split(start)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("{start} in {body}"))
}

/// At node `i`: a poll worker checks `email` in, the voter picks candidate
/// `pick` and checks the sealed ballot. The tracking code and the page the
/// booth shows, with the booth's cookies to vote again.
fn check_a_ballot(c: &Cluster, i: usize, email: &str, pick: u64) -> (String, String, String) {
    let (public, op) = (c.url(i).to_string(), c.nodes[i].admin_url.clone());
    let first = get(&format!("{public}/booth"), "");
    let csrf_cookie = cookie(&first, "evote_csrf");
    let csrf = csrf_cookie.trim_start_matches("evote_csrf=").to_string();
    let token = c.admin_token(i);
    let login = post(
        &format!("{op}/console/login"),
        &csrf_cookie,
        &format!("csrf={csrf}&token={}", token.trim()),
    );
    let operator = format!("{csrf_cookie}; {}", cookie(&login, "evote_console"));
    let checked_in = post(
        &format!("{op}/console/check-in"),
        &operator,
        &format!("csrf={csrf}&email={email}&name=V"),
    );
    let code = between(&checked_in.body, "id=\"voting-code\">").to_string();
    let start = post(
        &format!("{public}/booth/start"),
        &csrf_cookie,
        &format!("csrf={csrf}&code={code}"),
    );
    let booth = format!("{csrf_cookie}; {}", cookie(&start, "evote_booth"));
    let form = format!("csrf={csrf}");
    post(
        &format!("{public}/booth/choose"),
        &booth,
        &format!("{form}&candidate={pick}"),
    );
    let a = post(&format!("{public}/booth/seal"), &booth, &form);
    assert_eq!(
        a.location.as_deref(),
        Some("/booth/challenge"),
        "{}",
        a.body
    );
    let page = get(&format!("{public}/booth/challenge"), &booth);
    let tracking = between(&page.body, "id=\"tracking-code\">").to_string();
    let a = post(&format!("{public}/booth/check"), &booth, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/spoiled"), "{}", a.body);
    let page = get(&format!("{public}/booth/spoiled"), &booth);
    assert_eq!(between(&page.body, "id=\"spoiled-code\">"), tracking);
    (tracking, page.body, format!("{booth}|{form}"))
}

/// The voter goes back to the ballot and casts `pick` (a fresh encryption).
fn vote_again(c: &Cluster, i: usize, session: &str, pick: u64) {
    let public = c.url(i);
    let (booth, form) = session.split_once('|').unwrap();
    let a = post(&format!("{public}/booth/again"), booth, form);
    assert_eq!(a.location.as_deref(), Some("/booth/ballot"));
    post(
        &format!("{public}/booth/choose"),
        booth,
        &format!("{form}&candidate={pick}"),
    );
    post(&format!("{public}/booth/seal"), booth, form);
    let a = post(&format!("{public}/booth/cast"), booth, form);
    assert_eq!(a.location.as_deref(), Some("/booth/receipt"), "{}", a.body);
}

/// The phone's check of a tracking code on node `i`'s board, once the
/// record is there.
fn phone_check(c: &Cluster, i: usize, code: &str) -> String {
    let url = format!("{}/board/spoiled/{code}", c.url(i));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let a = get(&url, "");
        if a.status == 200 {
            return a.body;
        }
        assert_eq!(a.status, 404, "{}", a.body);
        assert!(Instant::now() < deadline, "{code} never reached the board");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_voters_check_catches_a_cheating_booth_and_the_auditor_names_it() {
    // Open registration, with the console's check-in by e-mail: the booth
    // does not read voting cards yet (a roll's voters vote through the API).
    let c = Cluster::create_with(3, 0, Timing::default(), None, Voters::OpenRegistration);
    c.start_with_env(0, &[], &[("EVOTE_TEST_CHEATING_BOOTH", "1")]);
    c.start(1);
    c.start(2);
    for i in 0..3 {
        c.wait_up(i);
    }
    let (cheater, honest) = (c.nodes[0].name.clone(), c.nodes[1].name.clone());

    // The honest booth: the other node's board opens it to the choice.
    let (good, _, _) = check_a_ballot(&c, 1, "hedy%40example.org", 2);
    let page = phone_check(&c, 2, &good);
    assert!(page.contains("class=\"verdict-ok\""), "{page}");
    assert!(page.contains(&honest), "the station is named: {page}");

    // The cheating booth shows the voter their own choice, but the ballot
    // it sealed holds another: the phone's check says it does not match.
    let (bad, shown, session) = check_a_ballot(&c, 0, "emmy%40example.org", 2);
    assert!(shown.contains("id=\"spoiled-choice\""));
    let page = phone_check(&c, 2, &bad);
    assert!(page.contains("class=\"verdict-bad\""), "{page}");
    assert!(page.contains(&cheater), "the station is named: {page}");
    let list = get(&format!("{}/board/spoiled", c.url(2)), "");
    assert_eq!(between(&list.body, "id=\"spoiled-count\">"), "2");

    // The voter votes again and casts; the checked ballots never count.
    vote_again(&c, 0, &session, 3);
    let deadline = Instant::now() + Duration::from_secs(90);
    while c.get(2, "/api/votes/results?election_id=1").1["total_votes"] != 1 {
        assert!(Instant::now() < deadline, "the cast ballot never counted");
        std::thread::sleep(Duration::from_millis(250));
    }
    c.wait_agree(1, Duration::from_secs(60));
    let (_, r) = c.get(1, "/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 1, "two checked ballots, one cast: {r}");

    // The auditor, from the chain alone: FAIL, naming the cheating station
    // and not the honest one.
    let nodes: Vec<&str> = (0..3).map(|i| c.url(i)).collect();
    let (code, rep) = verify(&c, &["--nodes", &nodes.join(",")]);
    assert_ne!(code, 0, "the audit fails");
    assert_eq!(check(&rep, "tx.spoiled_ballot")["verdict"], "PASS");
    let opens = check(&rep, "tx.spoiled_opens");
    assert_eq!(opens["verdict"], "FAIL", "{opens:#}");
    let failures = opens["failures"].as_array().unwrap();
    assert!(!failures.is_empty());
    for f in failures {
        let m = f["message"].as_str().unwrap();
        assert!(m.contains(&cheater) && !m.contains(&honest), "{m}");
        assert_eq!(f["code"], "spoiled_ballot_mismatch");
    }
}
