//! The screens in a real browser: Debian's chromium, driven over WebDriver
//! (chromedriver, through fantoccini), against a real testnet of three
//! validators. A poll worker checks a voter in at the console; the voter
//! votes at the booth with the keyboard alone and reads the receipt's code;
//! the code is found on another node's board; a second vote is refused; the
//! booth shows the fallback message with the other validators stopped; the
//! language switch works from the keyboard.
//!
//! Every screen is checked by axe-core inside the page (no WCAG 2.1 A or AA
//! violation), for horizontal overflow on a 390 x 844 phone and at 200%
//! text size, and saved as screenshots (both languages; kiosk 1280 x 800,
//! phone, 200% text) under `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's
//! `chromium` and `chromium-driver`; `EVOTE_CHROMIUM`, `EVOTE_CHROMEDRIVER`
//! name others) and axe-core (`npm install --prefix target/npm axe-core@4`,
//! or `EVOTE_AXE` names `axe.min.js`): `.ci/run` installs them. Without
//! them this test fails and says what to install; it never passes silently.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evote_tests::cluster::{Cluster, Timing, Voters, wait_until};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const KIOSK: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required(var: &str, default: PathBuf, what: &str) -> PathBuf {
    let p = std::env::var_os(var).map_or(default, PathBuf::from);
    assert!(
        p.exists(),
        "the browser tests need {what} at {} (or set {var}); `.ci/run` installs it: \
         apt-get install -y chromium chromium-driver; npm install --prefix target/npm axe-core@4",
        p.display()
    );
    p
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Browser {
    c: Client,
    axe: String,
    shots: PathBuf,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

async fn start_browser() -> Browser {
    let chromium = required("EVOTE_CHROMIUM", "/usr/bin/chromium".into(), "chromium");
    let chromedriver = required(
        "EVOTE_CHROMEDRIVER",
        "/usr/bin/chromedriver".into(),
        "chromedriver",
    );
    let axe_path = required(
        "EVOTE_AXE",
        workspace().join("target/npm/node_modules/axe-core/axe.min.js"),
        "axe-core's axe.min.js",
    );
    let axe = std::fs::read_to_string(axe_path).expect("read axe.min.js");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(format!("{url}/status")).call().is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", KIOSK.0, KIOSK.1),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a chromium session");
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    Browser {
        c,
        axe,
        shots,
        _driver: driver,
        _profile: profile,
    }
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.c.goto(url).await.expect("navigate");
    }

    async fn find(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.c.current_url().await;
                let html = self.c.source().await.unwrap_or_default();
                panic!("{css} not found on {url:?}: {e}\n{html}")
            }
        }
    }

    /// Whether the page shows `css` now (no waiting, no panic): for a
    /// caller that reloads until it does.
    async fn shows(&self, css: &str) -> bool {
        self.c.find(Locator::Css(css)).await.is_ok()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn page_text(&self) -> String {
        self.text("main").await
    }

    async fn lang(&self) -> String {
        self.find("html")
            .await
            .attr("lang")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Presses Tab until the focused element matches `css` (the way a
    /// keyboard user reaches it), at most 40 times.
    async fn tab_to(&self, css: &str) -> Element {
        let target = self.find(css).await;
        let want = target.element_id();
        for _ in 0..40 {
            let active = self.c.active_element().await.unwrap();
            if active.element_id() == want {
                return active;
            }
            active.send_keys(&Key::Tab.to_string()).await.unwrap();
        }
        panic!("Tab never reached {css}");
    }

    async fn press(&self, e: &Element, keys: &str) {
        e.send_keys(keys).await.unwrap();
    }

    /// Submits the form whose action is `action` the keyboard's way: Tab to
    /// its button, Enter.
    async fn submit(&self, action: &str) {
        let button = self
            .tab_to(&format!("form[action='{action}'] button"))
            .await;
        self.press(&button, &Key::Enter.to_string()).await;
    }

    /// Attribute `name` of the element `css` finds.
    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap()
    }

    /// The page's QR code is labelled for screen readers.
    async fn assert_qr_labelled(&self) {
        let label = self.attr(".qr svg", "aria-label").await;
        assert!(label.is_some(), "a QR code without aria-label");
    }

    async fn script(&self, js: &str) -> Value {
        self.c.execute(js, vec![]).await.expect("script")
    }

    /// axe-core inside the page: WCAG 2.1 A and AA.
    async fn axe_violations(&self) -> Vec<String> {
        self.script(&self.axe).await;
        let r = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                    .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe runs");
        r.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Sizes the window so that the page itself (the viewport) is w x h.
    async fn viewport(&self, (w, h): (u32, u32)) {
        self.c.set_window_size(w, h).await.unwrap();
        let inner = self
            .script("return [window.innerWidth, window.innerHeight];")
            .await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (iw, ih) != (w, h) && iw > 0 && ih > 0 {
            let (dw, dh) = (w.saturating_sub(iw), h.saturating_sub(ih));
            self.c.set_window_size(w + dw, h + dh).await.unwrap();
        }
    }

    async fn overflows(&self) -> bool {
        self.script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth + 1;",
        )
        .await
            == json!(true)
    }

    async fn save(&self, file: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(file), png).unwrap();
    }

    /// Checks and photographs the page as it is: axe, the kiosk, the
    /// phone, 200% text.
    async fn capture(&self, name: &str) {
        let lang = self.lang().await;
        let violations = self.axe_violations().await;
        assert!(
            violations.is_empty(),
            "{name} ({lang}): WCAG 2.1 A/AA violations:\n{}",
            violations.join("\n")
        );
        self.save(&format!("{name}-{lang}-kiosk.png")).await;
        self.viewport(PHONE).await;
        assert!(
            !self.overflows().await,
            "{name} ({lang}) scrolls sideways on a phone"
        );
        self.save(&format!("{name}-{lang}-phone.png")).await;
        self.viewport(KIOSK).await;
        self.script("document.documentElement.style.fontSize = '200%';")
            .await;
        assert!(
            !self.overflows().await,
            "{name} ({lang}) scrolls sideways at 200% text"
        );
        self.save(&format!("{name}-{lang}-200pct.png")).await;
        self.script("document.documentElement.style.fontSize = '';")
            .await;
    }

    /// [`Browser::capture`] in both languages: this page, then the same
    /// page in the other language, then back.
    async fn capture_both(&self, name: &str) {
        let here = self.c.current_url().await.unwrap();
        let lang = self.lang().await;
        self.capture(name).await;
        let other = if lang == "fr" { "en" } else { "fr" };
        let mut u = here.clone();
        let kept: Vec<(String, String)> = here
            .query_pairs()
            .filter(|(k, _)| k != "lang")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(kept.iter())
            .append_pair("lang", other);
        self.goto(u.as_str()).await;
        assert_eq!(self.lang().await, other);
        self.capture(name).await;
        u.query_pairs_mut()
            .clear()
            .extend_pairs(kept.iter())
            .append_pair("lang", &lang);
        self.goto(u.as_str()).await;
    }

    /// Checks a voter in at the console (already signed in; `op` is the
    /// operators' door): the voting code.
    async fn check_in(&self, op: &str, email: &str, name: &str) -> String {
        self.goto(&format!("{op}/console")).await;
        let e = self.find("#email").await;
        e.send_keys(email).await.unwrap();
        let n = self.find("#name").await;
        n.send_keys(name).await.unwrap();
        self.press(&n, &Key::Enter.to_string()).await;
        self.text("#voting-code").await
    }

    /// At the console, checks voter `voter_id` of the roll in (keyboard
    /// only) and gives the voting code it shows.
    async fn check_in_roll(&self, op: &str, voter_id: &str) -> String {
        self.goto(&format!("{op}/console")).await;
        let field = self.tab_to("#voter").await;
        self.press(&field, &format!("{voter_id}{}", Key::Enter))
            .await;
        self.text("#voting-code").await
    }

    /// At the booth's card step, keyboard only: types the card's code (as
    /// a QR reader on the kiosk would) and goes on to the ballot.
    async fn present_card(&self, card: &str, capture: bool) {
        self.find("#card").await;
        if capture {
            self.capture_both("booth-1b-card").await;
            // A mistyped card is refused, and the voter types it again.
            let field = self.tab_to("#card").await;
            self.press(&field, &format!("ABCD-EFGH-JKMN{}", Key::Enter))
                .await;
            let problem = self.text(".msg.bad").await;
            assert!(problem.contains("voting card"), "{problem}");
            self.capture("booth-1c-card-refused").await;
        }
        let field = self.tab_to("#card").await;
        self.press(&field, &format!("{card}{}", Key::Enter)).await;
        self.find("input[name=candidate]").await;
    }

    /// At the booth welcome screen, with the keyboard only: types the code,
    /// picks candidate number `pick` (0-based) with the arrow keys, reviews,
    /// confirms and casts. Leaves the browser on what follows the cast.
    async fn vote(&self, base: &str, code: &str, pick: usize, capture: bool) {
        self.choose(base, code, None, pick, capture).await;
        self.seal(capture).await;
        self.submit("/booth/cast").await;
    }

    /// At the booth welcome screen, with the keyboard only: types the code
    /// and picks candidate number `pick` (0-based) with the arrow keys.
    /// Leaves the browser on the review.
    async fn choose(
        &self,
        base: &str,
        code: &str,
        card: Option<(&str, bool)>,
        pick: usize,
        capture: bool,
    ) {
        self.goto(&format!("{base}/booth")).await;
        if capture {
            self.capture_both("booth-1-code").await;
        }
        let field = self.tab_to("#code").await;
        self.press(&field, &format!("{code}{}", Key::Enter)).await;
        // A roll's voter presents their card (and the card step is
        // captured when its flag says so).
        if let Some((card, shoot)) = card {
            self.present_card(card, shoot).await;
        }
        let first = self.find("input[name=candidate]").await;
        if capture {
            self.capture_both("booth-2-ballot").await;
        }
        let _ = first;
        self.pick(pick).await;
        if capture {
            self.capture_both("booth-3-review").await;
        }
    }

    /// On the ballot, with the keyboard: picks candidate number `pick`
    /// (0-based) with the arrow keys and goes on to the review.
    async fn pick(&self, pick: usize) {
        let radio = self.tab_to("input[name=candidate]").await;
        // Space selects the first; each arrow moves the choice down one.
        self.press(&radio, " ").await;
        let mut keys = String::new();
        for _ in 0..pick {
            keys.push_str(&Key::Down.to_string());
        }
        self.press(&radio, &keys).await;
        let active = self.c.active_element().await.unwrap();
        self.press(&active, &Key::Enter.to_string()).await;
        self.find(".choice").await;
    }

    /// At the booth welcome screen, keyboard only: types the code, picks
    /// candidate `pick`, confirms, and checks the sealed ballot instead of
    /// casting it. Leaves the browser on the checked ballot's page and
    /// gives its tracking code.
    async fn check(
        &self,
        base: &str,
        code: &str,
        card: &str,
        pick: usize,
        capture: bool,
    ) -> String {
        self.choose(base, code, Some((card, capture)), pick, false)
            .await;
        let tracking = self.seal(capture).await;
        self.submit("/booth/check").await;
        self.find("#spoiled-code").await;
        tracking
    }

    /// On the review, with the keyboard: confirms the choice, which the
    /// booth encrypts; waits for the tracking code and the cast-or-check
    /// question, and gives the code.
    async fn seal(&self, capture: bool) -> String {
        self.submit("/booth/seal").await;
        let code = self.text("#tracking-code").await;
        if capture {
            self.capture_both("booth-4-challenge").await;
        }
        code
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_votes_at_the_booth_and_finds_the_ballot_on_another_board() {
    let b = start_browser().await;
    b.goto("about:blank").await;
    b.viewport(KIOSK).await;
    // The console checks voters in by e-mail and the booth casts without a
    // card: open registration, as the `dev` demo (a roll's check-in and card
    // are the submission service's `check_in_voter` and `Presented::card`).
    let c = Cluster::create_with(3, 0, Timing::default(), None, Voters::OpenRegistration);
    c.start_all();
    let (v1, v3) = (c.url(0).to_string(), c.url(2).to_string());
    // The console is at the operator door.
    let op1 = c.nodes[0].admin_url.clone();

    // The console: sign in with the admin token, check Ada in.
    b.goto(&format!("{op1}/console?lang=en")).await;
    b.capture_both("console-1-sign-in").await;
    let token = b.tab_to("#token").await;
    b.press(&token, &format!("{}{}", c.admin_token(0), Key::Enter))
        .await;
    b.find("#checked-in-count").await;
    let code = b.check_in(&op1, "ada@example.org", "Ada Lovelace").await;
    assert_eq!(code.len(), 9, "ABCD-EFGH: {code}");
    b.capture("console-2-checked-in").await;
    b.goto(&format!("{op1}/console")).await;
    assert_eq!(b.text("#checked-in-count").await, "1");
    b.capture_both("console-3-status").await;

    // The booth, keyboard only: code, candidate 2, review, cast.
    b.vote(&v1, &code, 1, true).await;
    let receipt = b.text("#confirmation-code").await;
    assert!(
        receipt.starts_with("0x") && receipt.len() == 66,
        "{receipt}"
    );
    b.assert_qr_labelled().await;
    b.capture_both("booth-5-receipt").await;
    b.submit("/booth/finish").await;
    b.find("#code").await;

    // The receipt's code on the board of another node, once its block has
    // reached that node (or that node has asked the others): the page is
    // loaded again until it shows the block.
    let track = format!("{v3}/board/track?code={receipt}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        b.goto(&track).await;
        if b.shows("#track-block").await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the code never resolved on validator-3"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.capture_both("board-2-track").await;
    let in_block = b
        .find("#track-block a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    b.goto(&format!("{v3}/board")).await;
    b.capture_both("board-1-index").await;
    b.goto(&format!("{v3}{in_block}")).await;
    let html = b.c.source().await.unwrap();
    assert!(
        html.contains("validator-1"),
        "the ballot's station is named"
    );
    assert!(!html.contains("ada@example.org") && !html.contains("Ada Lovelace"));
    b.capture_both("board-3-block").await;
    b.goto(&format!("{v3}/board/results/1")).await;
    assert_eq!(b.text("#total-votes").await, "1");
    b.capture_both("board-4-results").await;

    // The same voter again, in French, switched from the keyboard: refused.
    let again = b.check_in(&op1, "ada@example.org", "Ada Lovelace").await;
    b.goto(&format!("{v1}/booth?lang=en")).await;
    let fr = b.tab_to("a[hreflang=fr]").await;
    b.press(&fr, &Key::Enter.to_string()).await;
    wait_until_lang(&b, "fr").await;
    b.vote(&v1, &again, 0, false).await;
    let text = b.page_text().await;
    assert!(text.contains("déjà voté"), "{text}");
    b.capture("booth-6-already-voted").await;

    // Fallback: the other validators stop; the next voter is told.
    c.kill(1);
    c.kill(2);
    let c2 = &c;
    tokio::task::block_in_place(|| {
        wait_until("fallback mode", Duration::from_secs(60), || {
            c2.get(0, "/health").1["fallback"] == true
        })
    });
    let code = b.check_in(&op1, "grace@example.org", "Grace Hopper").await;
    b.goto(&format!("{v1}/booth?lang=en")).await;
    b.vote(&v1, &code, 2, false).await;
    let text = b.page_text().await;
    assert!(
        text.contains("will reach the ledger when the network returns"),
        "{text}"
    );
    b.capture_both("booth-7-fallback-receipt").await;
    b.goto(&format!("{op1}/console")).await;
    assert!(b.page_text().await.contains("Fallback"));
    b.capture_both("console-4-fallback").await;
    let _ = b.c.close().await;
}

async fn wait_until_lang(b: &Browser, lang: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.lang().await != lang {
        assert!(
            Instant::now() < deadline,
            "the page never switched to {lang}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Cast or check, keyboard only: a voter checks the sealed ballot, sees its
/// choice, randomness and QR code, opens the check on another node's board
/// as a phone would (at phone size), and votes again. At the booth built to
/// cheat (a debug build's `EVOTE_TEST_CHEATING_BOOTH`) the phone's page
/// says the ballot does not match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_checks_a_ballot_and_a_phone_opens_it() {
    let b = start_browser().await;
    b.goto("about:blank").await;
    b.viewport(KIOSK).await;
    // An election with a roll: voters checked in by their number, voting
    // with their cards (the other test's election has open registration).
    let c = Cluster::create(3, 0, Timing::default());
    c.start(0);
    c.start(1);
    c.start_with_env(2, &[], &[("EVOTE_TEST_CHEATING_BOOTH", "1")]);
    for i in 0..3 {
        c.wait_up(i);
    }
    let (v1, v2, v3) = (
        c.url(0).to_string(),
        c.url(1).to_string(),
        c.url(2).to_string(),
    );
    // Both consoles share a host (127.0.0.1), so one sign-in cookie: the
    // poll worker signs in at each before checking a voter in.
    let sign_in = |i: usize| {
        let (b, door, token) = (&b, c.nodes[i].admin_url.clone(), c.admin_token(i));
        async move {
            b.goto(&format!("{door}/console?lang=en")).await;
            let field = b.tab_to("#token").await;
            b.press(&field, &format!("{token}{}", Key::Enter)).await;
            b.find("#checked-in-count").await;
            door
        }
    };

    // The honest booth: code, candidate 3, confirm, then check.
    let op1 = sign_in(0).await;
    // A voter of the roll: checked in by their number, voting with their card.
    let (hedy, hedy_card) = c.roll_voter("hedy");
    let code = b.check_in_roll(&op1, &hedy).await;
    b.capture("console-4-roll-check-in").await;
    let tracking = b.check(&v1, &code, &hedy_card, 2, true).await;
    assert_eq!(b.text("#spoiled-code").await, tracking);
    let url = b.text("#spoiled-url").await;
    assert!(
        url.ends_with(&format!("/board/spoiled/{tracking}")),
        "{url}"
    );
    b.assert_qr_labelled().await;
    b.capture_both("booth-4-checked").await;
    // Vote again, keyboard only: a fresh encryption, then cast.
    b.submit("/booth/again").await;
    b.pick(0).await;
    let fresh = b.seal(false).await;
    assert_ne!(fresh, tracking);
    b.submit("/booth/cast").await;
    b.find("#confirmation-code").await;

    // The phone: the check on another node's board.
    b.viewport(PHONE).await;
    let phone = |code: &str| format!("{v2}/board/spoiled/{code}?lang=en");
    wait_for_page(&b, &phone(&tracking), "#spoiled-verdict").await;
    let verdict = b.attr("#spoiled-verdict", "class").await;
    assert_eq!(verdict.as_deref(), Some("verdict-ok"));
    b.viewport(KIOSK).await;
    b.capture_both("board-5-spoiled-check").await;
    // The board's poll book: Hedy's check-in and her one cast ballot at
    // validator-1, as every node's chain has them.
    // (The check-in and the ballot may commit in different blocks.)
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        wait_for_page(&b, &format!("{v2}/board?lang=en"), "#pollbook-validator-1").await;
        if b.text("#pollbook-validator-1 .ballots").await == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the board never counted Hedy's ballot"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(b.text("#pollbook-validator-1 .check-ins").await, "1");

    // The cheating booth: the phone says it does not match.
    let op3 = sign_in(2).await;
    let (emmy, emmy_card) = c.roll_voter("emmy");
    let code = b.check_in_roll(&op3, &emmy).await;
    let cheated = b.check(&v3, &code, &emmy_card, 0, false).await;
    wait_for_page(&b, &phone(&cheated), "#spoiled-verdict").await;
    let verdict = b.attr("#spoiled-verdict", "class").await;
    assert_eq!(verdict.as_deref(), Some("verdict-bad"));
    assert!(b.page_text().await.contains("Does not match"));
    b.capture_both("board-6-spoiled-mismatch").await;
    b.goto(&format!("{v2}/board/spoiled?lang=en")).await;
    assert_eq!(b.text("#spoiled-count").await, "2");
    b.capture_both("board-7-spoiled-list").await;
    let _ = b.c.close().await;
}

/// Loads `url` until it shows `css` (a record on its way to the chain).
async fn wait_for_page(b: &Browser, url: &str, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        b.goto(url).await;
        if b.c.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never showed {css}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
