//! TLS at the public and operator doors, against real appliance processes:
//! a machine on the station network between a kiosk and the appliance
//! reads neither a voter's password nor a session token nor the admin
//! token, a request it changes on the way is refused instead of acted on,
//! and SIGHUP puts a renewed certificate in place while the node keeps
//! serving. SECURITY.md lists these with the other attacks.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evote_tests::attacks::addr_of;
use evote_tests::cluster::{Cluster, Timing, Voters};
use evote_tests::testcert::TestCa;
use serde_json::{Value, json};

/// A machine on the path between a client and a door: it passes every
/// byte on and keeps a copy of both directions; with `tamper` it flips a
/// bit in every TLS record of application data the client sends (the
/// encrypted handshake's end and the requests).
struct Wiretap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Wiretap {
    fn start(target: SocketAddr, tamper: bool) -> Wiretap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let addr = listener.local_addr().expect("tap address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let copy = seen.clone();
        // Lives as long as the test process: a test's taps are few.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (up, down) = (copy.clone(), copy.clone());
                std::thread::spawn(move || pass(client, server, &up, tamper));
                std::thread::spawn(move || pass(s2, c2, &down, false));
            }
        });
        Wiretap { addr, seen }
    }

    /// The door's URL through the tap (the certificate names 127.0.0.1).
    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn saw(&self, secret: &str) -> bool {
        let seen = self.seen.lock().unwrap();
        seen.windows(secret.len()).any(|w| w == secret.as_bytes())
    }

    fn bytes(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Copies `from` to `to`, keeping a copy in `seen`; with `tamper`, whole
/// TLS records at a time, each application-data record with a bit of its
/// last byte flipped.
fn pass(mut from: TcpStream, mut to: TcpStream, seen: &Mutex<Vec<u8>>, tamper: bool) {
    let mut buf = [0u8; 16 * 1024];
    let mut pending = Vec::new();
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.lock().unwrap().extend_from_slice(&buf[..n]);
        if !tamper {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        // A TLS record: type, version (2 bytes), length (2 bytes), body.
        while pending.len() >= 5 {
            let len = 5 + usize::from(u16::from_be_bytes([pending[3], pending[4]]));
            if pending.len() < len {
                break;
            }
            let mut record: Vec<u8> = pending.drain(..len).collect();
            if record[0] == 0x17 && len > 5 {
                record[len - 1] ^= 0x01;
            }
            if to.write_all(&record).is_err() {
                return;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// An agent that trusts only `ca_file` and opens a new connection (a new
/// handshake) for every request.
fn fresh_agent(ca_file: &Path) -> ureq::Agent {
    let tls = evote_appliance::tls::client_config(Some(ca_file)).expect("a CA file");
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: String, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut req = agent.post(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut r = req.send_json(body).expect("an answer");
    let code = r.status().as_u16();
    (code, r.body_mut().read_json().unwrap_or(Value::Null))
}

/// One node with TLS at its public and operator doors, its election open
/// to registration (voters log in with a password; a poll worker checks
/// them in by e-mail), so that passwords cross the network.
fn tls_node() -> (Cluster, std::path::PathBuf) {
    let mut c = Cluster::create_with(1, 0, Timing::default(), None, Voters::OpenRegistration);
    let ca_file = c.use_tls(&TestCa::new("evote test CA"));
    c.start_all();
    (c, ca_file)
}

#[test]
fn a_machine_on_the_station_network_reads_no_password_nor_token() {
    let (c, ca_file) = tls_node();
    let agent = fresh_agent(&ca_file);
    let public = Wiretap::start(addr_of(c.url(0)), false);
    let operator = Wiretap::start(addr_of(&c.nodes[0].admin_url), false);

    // An operator checks a voter in over the operator door.
    let admin_token = c.admin_token(0);
    let (code, v) = post(
        &agent,
        format!("{}/api/admin/voters/check-in", operator.url()),
        json!({"voters": [{"email": "kiosk-voter@example.org"}]}),
        Some(&admin_token),
    );
    assert_eq!(code, 200, "check-in through the tap: {v}");
    let session = v["sessions"][0]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // A voter registers, logs in and votes over the public door.
    let password = "tls-e2e correct horse battery staple";
    let email = "registered-voter@example.org";
    let credentials = json!({"email": email, "password": password});
    let (code, v) = post(
        &agent,
        format!("{}/api/auth/register", public.url()),
        credentials.clone(),
        None,
    );
    assert_eq!(code, 201, "register through the tap: {v}");
    let (code, v) = post(
        &agent,
        format!("{}/api/auth/login", public.url()),
        credentials,
        None,
    );
    assert_eq!(code, 200, "login through the tap: {v}");
    let login_token = v["access_token"].as_str().unwrap().to_string();
    let (code, v) = post(
        &agent,
        format!("{}/api/votes/submit", public.url()),
        json!({"election_id": 1, "candidate_id": 2}),
        Some(&session),
    );
    assert_eq!(code, 200, "a vote through the tap: {v}");

    // The tap saw the traffic, and none of what it carried.
    assert!(public.bytes() > 1_000 && operator.bytes() > 1_000);
    for secret in [password, email, &login_token, &session, "authorization"] {
        assert!(!public.saw(secret), "the tap read {secret:?}");
    }
    for secret in [&admin_token, "kiosk-voter", &session] {
        assert!(!operator.saw(secret), "the tap read {secret:?}");
    }
}

#[test]
fn a_request_changed_on_the_station_network_is_refused_not_acted_on() {
    let (c, ca_file) = tls_node();
    let agent = fresh_agent(&ca_file);
    let (code, v) = c.post_with_token(
        0,
        "/api/admin/voters/check-in",
        &json!({"voters": [{"email": "tampered@example.org"}]}),
        &c.admin_token(0),
    );
    assert_eq!(code, 200, "check-in: {v}");
    let session = v["sessions"][0]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let tap = Wiretap::start(addr_of(c.url(0)), true);
    let changed = agent
        .post(format!("{}/api/votes/submit", tap.url()))
        .header("authorization", format!("Bearer {session}"))
        .send_json(json!({"election_id": 1, "candidate_id": 2}));
    assert!(
        changed.is_err(),
        "a changed request got an answer: {:?}",
        changed.map(|r| r.status())
    );
    // The voter has not voted: the changed request was never heard.
    let (code, v) = post(
        &agent,
        format!("{}/api/votes/submit", c.url(0)),
        json!({"election_id": 1, "candidate_id": 2}),
        Some(&session),
    );
    assert_eq!(code, 200, "the voter's own vote afterwards: {v}");
}

/// Waits until `ok` holds, asking again every 100 ms, or panics after a
/// minute with `what`.
fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `/health` at `url` answers 200 to a client that trusts only `ca_file`,
/// on a new agent: a full handshake, no session resumed from an earlier
/// one (a resumed session keeps the certificate it was made with).
fn health(ca_file: &Path, url: &str) -> bool {
    fresh_agent(ca_file)
        .get(format!("{url}/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

#[test]
fn sighup_puts_a_renewed_certificate_in_place_and_the_node_keeps_serving() {
    let (c, old_ca) = tls_node();
    let pid = c.pid(0).expect("the node runs");
    let (old, url) = (old_ca.as_path(), c.url(0).to_string());
    assert!(health(old, &url));

    let renewed = TestCa::new("renewed CA");
    let new_ca = renewed.write(c.dir.path(), "renewed-ca");
    let new = new_ca.as_path();
    let tls_dir = c.home(0).join("tls");

    // A renewal gone wrong first: a certificate with another key. The
    // reload is refused and the door keeps its certificate.
    let (cert, other) = (renewed.server_cert(), renewed.server_cert());
    std::fs::write(tls_dir.join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(tls_dir.join("key.pem"), &other.key_pem).unwrap();
    c.signal(0, rustix::process::Signal::HUP);
    wait_for("the refused reload in the log", || {
        c.log(0).contains("TLS certificate not reloaded")
    });
    assert!(health(old, &url), "the old certificate after a bad reload");
    assert!(!health(new, &url), "a bad reload half-applied");

    // The right key: new handshakes get the renewed certificate.
    cert.write(&tls_dir);
    c.signal(0, rustix::process::Signal::HUP);
    wait_for("the renewed certificate at the public door", || {
        health(new, &url)
    });
    assert!(!health(old, &url), "the old certificate after the reload");
    let admin = &c.nodes[0].admin_url;
    assert!(
        health(new, admin),
        "the operator door's renewed certificate"
    );

    // A key others may read is refused, as every key file of the appliance.
    use std::os::unix::fs::PermissionsExt;
    let key = tls_dir.join("key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    c.signal(0, rustix::process::Signal::HUP);
    wait_for("the readable key refused in the log", || {
        c.log(0).contains("is readable by others")
    });
    assert!(health(new, &url), "the door keeps its certificate");
    assert_eq!(c.pid(0), Some(pid), "the same process serves");
    assert!(c.is_running(0));
}
