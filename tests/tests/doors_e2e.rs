//! The public door's connection rules against a real appliance process:
//! the cap on connections per client address is the configuration's, and a
//! 401 or 429 ends the connection it was answered on, and a 429 is held
//! before it is sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use evote_appliance::TOO_FAST_HOLD;
use evote_tests::attacks::{addr_of, connect_from};
use evote_tests::cluster::{Cluster, Timing, Voters};
use serde_json::json;

/// Generous: a guard against a hang on a loaded machine, not a speed bound.
const WAIT: Duration = Duration::from_secs(60);

/// A connection from 127.0.0.5, an address of its own: the cluster's
/// agent keeps connections from 127.0.0.1.
fn connect(c: &Cluster) -> TcpStream {
    let s = connect_from(addr_of(c.url(0)), [127, 0, 0, 5].into()).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Sends one HTTP/1.1 request (kept alive) and reads its whole answer:
/// the status and the head's lines, lower-cased. `None` when the server
/// closed the connection instead of answering.
fn exchange(s: &mut TcpStream, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: evote\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while got.len() < head_end + len {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some((status, head))
}

/// Whether the server has closed `s`: a further request on it gets no
/// answer (on a kept connection it would get one at once).
fn closed_by_server(s: &mut TcpStream) -> bool {
    exchange(s, "GET", "/health", "").is_none()
}

#[test]
fn the_connection_cap_per_client_address_is_the_configurations() {
    let c = Cluster::create(1, 0, Timing::default());
    c.edit_config(0, |cfg| cfg.max_connections_per_client = Some(4));
    c.start_all();
    // Four kept connections, each with an answered request.
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(&c)).collect();
    for s in &mut held {
        let (code, _) = exchange(s, "GET", "/health", "").expect("an answer");
        assert_eq!(code, 200);
    }
    // A fifth from the same address is closed at once.
    let mut fifth = connect(&c);
    assert!(
        exchange(&mut fifth, "GET", "/health", "").is_none(),
        "a fifth connection from one address was served"
    );
    // One of the four closes: a new one is served once the server saw it go.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = connect(&c);
        if exchange(&mut s, "GET", "/health", "").is_some_and(|(code, _)| code == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after a connection closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A cap past the door's connections in all stops a start, with a
    // message naming the key.
    c.kill(0);
    c.edit_config(0, |cfg| cfg.max_connections_per_client = Some(1_000_000));
    let out = std::process::Command::new(evote_tests::cluster::appliance_bin())
        .args(["run", "--config"])
        .arg(&c.nodes[0].config)
        .output()
        .expect("run the appliance");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a cap of a million");
    assert!(stderr.contains("max_connections_per_client"), "{stderr}");
}

#[test]
fn a_401_or_429_ends_its_kept_alive_connection_and_a_429_is_held() {
    // Open registration: voters with passwords, to guess at.
    let c = Cluster::create_with(1, 0, Timing::default(), None, Voters::OpenRegistration);
    c.start_all();
    let (code, v) = c.post(
        0,
        "/api/auth/register",
        &json!({"email": "kept@example.org", "password": "correct horse"}),
        None,
    );
    assert_eq!(code, 201, "{v}");

    // A kept connection is reused after a 200.
    let mut s = connect(&c);
    assert_eq!(exchange(&mut s, "GET", "/health", "").unwrap().0, 200);
    assert_eq!(exchange(&mut s, "GET", "/health", "").unwrap().0, 200);

    // A wrong password: 401, and the connection ends.
    let guess = json!({"email": "kept@example.org", "password": "wrong"}).to_string();
    let (code, head) = exchange(&mut s, "POST", "/api/auth/login", &guess).unwrap();
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(closed_by_server(&mut s), "the connection outlived its 401");

    // Guesses until the limiter refuses: 429, and the connection ends too.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = connect(&c);
        let asked = Instant::now();
        let (code, head) = exchange(&mut s, "POST", "/api/auth/login", &guess).expect("an answer");
        let waited = asked.elapsed();
        assert!(head.contains("connection: close"), "{code}: {head}");
        assert!(
            closed_by_server(&mut s),
            "the connection outlived its {code}"
        );
        if code == 429 {
            // A flood that asks again at once is held: the refusal comes
            // no sooner than the hold, whatever the machine's speed.
            assert!(
                waited >= TOO_FAST_HOLD,
                "a 429 answered after {waited:?}, before the {TOO_FAST_HOLD:?} hold"
            );
            break;
        }
        assert_eq!(code, 401, "{head}");
        assert!(Instant::now() < deadline, "the limiter never refused");
    }
}
