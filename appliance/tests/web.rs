//! The screens' defences over HTTP against the real binary: security
//! headers, cookie flags, CSRF on every form, the console's token, the
//! booth's one-time codes, and the booth's page weight. (The screens in a
//! browser: tests/tests/browser_e2e.rs.)

mod support;

use std::time::Duration;

use support::Dev;

/// An agent that does not follow redirects, so that 303s are seen.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

struct Answer {
    status: u16,
    cookies: Vec<String>,
    location: Option<String>,
    csp: Option<String>,
    body: String,
}

impl Answer {
    /// The `Set-Cookie` header that sets cookie `name`.
    fn set_cookie(&self, name: &str) -> &str {
        let prefix = format!("{name}=");
        let found = self.cookies.iter().find(|c| c.starts_with(&prefix));
        found.unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.cookies))
    }
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let h = r.headers();
    let cookies = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let location = h.get("location").map(|v| v.to_str().unwrap().to_string());
    let csp = h
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string());
    Answer {
        status: r.status().as_u16(),
        cookies,
        location,
        csp,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The door that serves `path`: the poll-worker console is at the
/// operator door, the booth and the board at the public door.
fn door<'a>(dev: &'a Dev, path: &str) -> &'a str {
    if path.starts_with("/console") {
        &dev.admin_url
    } else {
        &dev.url
    }
}

fn get(dev: &Dev, path: &str, cookie: &str) -> Answer {
    let mut req = agent().get(format!("{}{path}", door(dev, path)));
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    answer(req.call().unwrap())
}

fn post(dev: &Dev, path: &str, cookie: &str, form: &str) -> Answer {
    let mut req = agent()
        .post(format!("{}{path}", door(dev, path)))
        .header("content-type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    answer(req.send(form).unwrap())
}

/// The `name=value` of a Set-Cookie.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// A browser's first visit: its CSRF cookie and token.
fn csrf(dev: &Dev) -> (String, String) {
    let a = get(dev, "/booth", "");
    let c = a.set_cookie("evote_csrf");
    let token = pair(c).trim_start_matches("evote_csrf=").to_string();
    (pair(c), token)
}

#[test]
fn every_screen_answers_with_a_strict_policy_and_safe_cookies() {
    let dev = Dev::start_fresh();
    for path in [
        "/booth",
        "/console",
        "/board",
        "/board/track?code=0x12",
        "/board/results/1",
    ] {
        let a = get(&dev, path, "");
        assert!(matches!(a.status, 200 | 400), "{path}: {}", a.status);
        let csp = a.csp.unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert!(!a.body.contains("<script>"), "{path} has an inline script");
        assert!(!a.body.contains(" style=\""), "{path} has an inline style");
        assert!(
            !a.body.contains("http://") || path.starts_with("/board"),
            "{path} links out"
        );
        for c in &a.cookies {
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{path}: {c}"
            );
        }
    }
}

#[test]
fn a_form_without_this_browsers_csrf_token_is_refused() {
    let dev = Dev::start_fresh();
    let token = dev.admin_token();
    let (cookie, csrf) = csrf(&dev);
    let login = format!("csrf={csrf}&token={token}");
    // A forged post from another page: no cookie, or another token.
    for (c, form) in [
        ("", login.clone()),
        (
            cookie.as_str(),
            format!("csrf={}&token={token}", "ab".repeat(32)),
        ),
        (cookie.as_str(), format!("token={token}")),
    ] {
        let a = post(&dev, "/console/login", c, &form);
        assert!(matches!(a.status, 403 | 422), "{form}: {}", a.status);
        assert!(!a.cookies.iter().any(|c| c.starts_with("evote_console=")));
    }
    let a = post(&dev, "/booth/start", "", "csrf=x&code=ABCDEFGH");
    assert_eq!(a.status, 403);
    // A wrong admin token is refused; the right one signs in.
    let a = post(
        &dev,
        "/console/login",
        &cookie,
        &format!("csrf={csrf}&token=wrong"),
    );
    assert_eq!(a.status, 401);
    let a = post(&dev, "/console/login", &cookie, &login);
    assert_eq!((a.status, a.location.as_deref()), (303, Some("/console")));
    let op = a.set_cookie("evote_console");
    assert!(
        op.contains("Path=/console") && op.contains("HttpOnly") && op.contains("SameSite=Strict")
    );
    let both = format!("{cookie}; {}", pair(op));
    // Check-in needs the operator and the token.
    let a = post(
        &dev,
        "/console/check-in",
        &cookie,
        &format!("csrf={csrf}&email=a%40b.org&name=A"),
    );
    assert_eq!((a.status, a.location.as_deref()), (303, Some("/console")));
    let a = post(
        &dev,
        "/console/check-in",
        &pair(op),
        "csrf=&email=a%40b.org&name=A",
    );
    assert_eq!(a.status, 403);
    let a = post(
        &dev,
        "/console/check-in",
        &both,
        &format!("csrf={csrf}&email=ada%40example.org&name=Ada"),
    );
    assert_eq!(a.status, 200);
    let code = between(&a.body, "id=\"voting-code\">").to_string();
    // The code opens one booth, once.
    let start = || {
        let form = format!("csrf={csrf}&code={code}");
        post(&dev, "/booth/start", &cookie, &form)
    };
    let a = start();
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/booth/ballot"))
    );
    let booth = pair(a.set_cookie("evote_booth"));
    assert_eq!(start().status, 401, "used once");
    // A cast without the token changes nothing; with it, the vote counts.
    let session = format!("{cookie}; {booth}");
    let a = post(
        &dev,
        "/booth/choose",
        &session,
        &format!("csrf={csrf}&candidate=2"),
    );
    assert_eq!(a.location.as_deref(), Some("/booth/review"));
    let a = post(&dev, "/booth/seal", &session, &format!("csrf={csrf}"));
    assert_eq!(a.location.as_deref(), Some("/booth/challenge"));
    let a = post(&dev, "/booth/cast", &booth, "csrf=forged");
    assert_eq!(a.status, 403);
    assert_eq!(
        dev.get("/api/votes/results?election_id=1").1["total_votes"],
        0
    );
    let a = post(&dev, "/booth/cast", &session, &format!("csrf={csrf}"));
    assert_eq!(a.location.as_deref(), Some("/booth/receipt"));
    let a = get(&dev, "/booth/receipt", &session);
    assert!(a.body.contains("id=\"confirmation-code\""), "{}", a.body);
    assert!(a.body.contains("<svg role=\"img\""));
    // The heaviest booth page (its QR code inline) with what it loads.
    let total = weight_with_assets(&dev, &a);
    assert!(total < 100 * 1024, "{total} bytes");
}

#[test]
fn a_booth_page_weighs_under_100_kb_with_what_it_loads() {
    let dev = Dev::start_fresh();
    let page = get(&dev, "/booth", "");
    let total = weight_with_assets(&dev, &page);
    assert!(total < 100 * 1024, "{total} bytes");
    assert!(BOOTH_ASSETS.iter().all(|a| page.body.contains(a)));
    assert_eq!(get(&dev, "/assets/nope.js", "").status, 404);
}

/// What every booth page loads.
const BOOTH_ASSETS: [&str; 2] = ["/assets/evote.css", "/assets/booth.js"];

/// A page's bytes with those of what it loads.
fn weight_with_assets(dev: &Dev, page: &Answer) -> usize {
    let assets: usize = BOOTH_ASSETS
        .iter()
        .map(|p| {
            let a = get(dev, p, "");
            assert_eq!(a.status, 200, "{p}");
            a.body.len()
        })
        .sum();
    page.body.len() + assets
}

/// Signs an operator in: (the cookies, the CSRF token).
fn operator(dev: &Dev) -> (String, String) {
    let token = dev.admin_token();
    let (cookie, csrf) = csrf(dev);
    let a = post(
        dev,
        "/console/login",
        &cookie,
        &format!("csrf={csrf}&token={token}"),
    );
    let op = a.set_cookie("evote_console");
    (format!("{cookie}; {}", pair(op)), csrf)
}

/// Checks `email` in and votes for candidate 1 at the booth: the page after
/// the cast.
fn vote_at_booth(dev: &Dev, cookies: &str, csrf: &str, email: &str) -> Answer {
    let session = open_booth(dev, cookies, csrf, email);
    post(
        dev,
        "/booth/choose",
        &session,
        &format!("csrf={csrf}&candidate=1"),
    );
    post(dev, "/booth/seal", &session, &format!("csrf={csrf}"));
    let a = post(dev, "/booth/cast", &session, &format!("csrf={csrf}"));
    match a.location.as_deref() {
        Some(to) => get(dev, to, &session),
        None => a,
    }
}

#[test]
fn an_offline_station_closes_its_polls_and_downloads_its_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    dev.kill9();
    let dev = Dev::run(dir.path(), &["--offline"]);
    let (cookies, csrf) = operator(&dev);
    let page = get(&dev, "/console", &cookies);
    assert!(
        page.body.contains("action=\"/console/close\""),
        "an offline station can close"
    );
    let a = vote_at_booth(&dev, &cookies, &csrf, "one%40example.org");
    assert!(
        a.body
            .contains("will reach the ledger when the network returns"),
        "{}",
        a.body
    );
    // Not without typing CLOSE, nor without the CSRF token.
    let a = post(
        &dev,
        "/console/close",
        &cookies,
        &format!("csrf={csrf}&confirm=close"),
    );
    assert!(a.body.contains("type CLOSE to confirm"));
    let a = post(&dev, "/console/close", &cookies, "csrf=&confirm=CLOSE");
    assert_eq!(a.status, 403);
    let a = post(
        &dev,
        "/console/close",
        &cookies,
        &format!("csrf={csrf}&confirm=CLOSE"),
    );
    assert!(
        a.body
            .contains("The polls are closed on this station (1 ballots"),
        "{}",
        a.body
    );
    // The export: a signed file, closed, with the one ballot.
    let mut r = agent()
        .get(format!("{}/console/export", dev.admin_url))
        .header("cookie", &cookies)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"dev-validator-export.json\""),
        "{disposition}"
    );
    let export: serde_json::Value = r.body_mut().read_json().unwrap();
    assert_eq!(export["summary"]["ballot_count"], 1);
    assert_eq!(export["summary"]["closed"], true);
    // Without signing in, no export.
    let a = get(&dev, "/console/export", "");
    assert_eq!(a.location.as_deref(), Some("/console"));
    // The booth now says the polls are closed.
    let a = vote_at_booth(&dev, &cookies, &csrf, "two%40example.org");
    assert!(a.body.contains("not open for voting now"), "{}", a.body);
}

/// Opens a booth for a checked-in voter: the cookies with the booth's.
fn open_booth(dev: &Dev, cookies: &str, csrf: &str, email: &str) -> String {
    let a = post(
        dev,
        "/console/check-in",
        cookies,
        &format!("csrf={csrf}&email={email}&name=V"),
    );
    let code = between(&a.body, "id=\"voting-code\">").to_string();
    let a = post(
        dev,
        "/booth/start",
        cookies,
        &format!("csrf={csrf}&code={code}"),
    );
    let booth = pair(a.set_cookie("evote_booth"));
    format!("{cookies}; {booth}")
}

fn between<'a>(body: &'a str, start: &str) -> &'a str {
    body.split(start)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("{start} in {body}"))
}

/// Cast or check (PROTOCOL.md §4e): the booth shows the tracking code
/// before asking; a checked ballot shows its choice, randomness and a QR
/// code, is never counted, and the voter votes again with a fresh
/// encryption (another tracking code) and the same credential.
#[test]
fn a_checked_ballot_is_opened_and_the_voter_votes_again() {
    let dev = Dev::start_fresh();
    let (cookies, csrf) = operator(&dev);
    let session = open_booth(&dev, &cookies, &csrf, "cato%40example.org");
    let form = format!("csrf={csrf}");
    post(
        &dev,
        "/booth/choose",
        &session,
        &format!("{form}&candidate=2"),
    );
    // Before the seal there is nothing to cast or check.
    let a = post(&dev, "/booth/check", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/review"));
    let a = post(&dev, "/booth/seal", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/challenge"));
    let page = get(&dev, "/booth/challenge", &session);
    let first = between(&page.body, "id=\"tracking-code\">").to_string();
    assert!(first.starts_with("0x") && first.len() == 66, "{first}");
    assert!(page.body.contains("action=\"/booth/check\""));
    assert_eq!(
        post(&dev, "/booth/check", &session, "csrf=forged").status,
        403
    );
    let a = post(&dev, "/booth/check", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/spoiled"));
    let page = get(&dev, "/booth/spoiled", &session);
    assert_eq!(between(&page.body, "id=\"spoiled-code\">"), first);
    assert!(page.body.contains(&format!("/board/spoiled/{first}")));
    assert!(page.body.contains("<svg role=\"img\""));
    assert_eq!(
        page.body.matches("<li>0x").count(),
        3,
        "one randomness per candidate"
    );
    // The board opens it (the phone's page): the booth was honest.
    let path = format!("/board/spoiled/{first}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let board = loop {
        let a = get(&dev, &path, "");
        if a.status == 200 {
            break a;
        }
        assert_eq!(a.status, 404, "{}", a.body);
        assert!(std::time::Instant::now() < deadline, "never on the board");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        board.body.contains("class=\"verdict-ok\""),
        "{}",
        board.body
    );
    let list = get(&dev, "/board/spoiled", "");
    assert_eq!(between(&list.body, "id=\"spoiled-count\">"), "1");
    assert!(list.body.contains(&path));
    assert_eq!(get(&dev, "/board/spoiled/0x12", "").status, 400);
    let unknown = format!("/board/spoiled/0x{}", "ab".repeat(32));
    assert_eq!(get(&dev, &unknown, "").status, 404);
    // The checked ballot cannot be cast any more.
    let a = post(&dev, "/booth/cast", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/spoiled"));
    let a = post(&dev, "/booth/again", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/ballot"));
    post(
        &dev,
        "/booth/choose",
        &session,
        &format!("{form}&candidate=2"),
    );
    post(&dev, "/booth/seal", &session, &form);
    let page = get(&dev, "/booth/challenge", &session);
    let second = between(&page.body, "id=\"tracking-code\">").to_string();
    assert_ne!(second, first, "a fresh encryption");
    let a = post(&dev, "/booth/cast", &session, &form);
    assert_eq!(a.location.as_deref(), Some("/booth/receipt"));
    // The spoiled record is on the chain, and never counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, r) = dev.get("/api/votes/results?election_id=1");
        if r["total_votes"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cast ballot counts: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, r) = dev.get("/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 1, "{r}");
}
