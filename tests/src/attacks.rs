//! The attacks of `tests/attacks_e2e.rs` and `evote-bench flood`, as
//! loops that run until told to stop: slowloris, stalled uploads to the
//! peer door, abandoned chain checks, a login flood. Loopback only.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

/// Lets this process (and the appliances it starts, which inherit it) open
/// as many files as the hard limit allows.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    setrlimit(Resource::Nofile, l).expect("raise RLIMIT_NOFILE");
}

/// A connection to `target` from the address `from` (another loopback
/// address than the test's own clients': the door counts connections per
/// client address).
pub fn connect_from(target: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.bind(&SocketAddr::new(from, 0).into())?;
    sock.connect_timeout(&target.into(), Duration::from_secs(1))?;
    Ok(sock.into())
}

/// A connection from `from` (another loopback address than the voters')
/// that sends a request line and one header, and never finishes.
pub fn partial_request(target: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let mut t = connect_from(target, from)?;
    t.set_write_timeout(Some(Duration::from_secs(1)))?;
    t.write_all(b"GET /health HTTP/1.1\r\nHost: evote\r\n")?;
    Ok(t)
}

/// Slowloris: holds `n` connections open with unfinished headers, one
/// more header line each per second, reconnecting those the server
/// closed, until `stop`. `rounds` counts its passes over the sockets.
pub fn slowloris(
    target: SocketAddr,
    from: IpAddr,
    n: usize,
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut socks: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
        while !stop.load(Ordering::SeqCst) {
            for s in socks.iter_mut() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                *s = match s.take() {
                    Some(mut t) => t.write_all(b"X-Slow: 1\r\n").ok().map(|()| t),
                    None => partial_request(target, from).ok(),
                };
            }
            rounds.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .parse()
        .expect("a door listens on host:port")
}

/// An unauthenticated sender posting large bodies to the peer door and
/// stalling before the end, on `n` connections, again and again until
/// `stop`.
pub fn stalled_uploads(
    target: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    const DECLARED: usize = 32 * 1024 * 1024;
    const SENT: usize = 24 * 1024 * 1024;
    std::thread::spawn(move || {
        let chunk = vec![b'['; 64 * 1024];
        let mut held: Vec<TcpStream> = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            held.retain(|t| t.peer_addr().is_ok());
            while held.len() < n && !stop.load(Ordering::SeqCst) {
                let Ok(mut t) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
                    break;
                };
                let _ = t.set_write_timeout(Some(Duration::from_secs(2)));
                let head = format!(
                    "POST /p2p/transactions HTTP/1.1\r\nHost: evote\r\n\
                     Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
                );
                let mut ok = t.write_all(head.as_bytes()).is_ok();
                let mut sent = 0;
                while ok && sent < SENT {
                    ok = t.write_all(&chunk).is_ok();
                    sent += chunk.len();
                }
                held.push(t);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// `n` clients asking for the whole chain check again and again, each
/// giving up after `patience` (the check goes on without it unless the
/// appliance stops it), until `stop`.
pub fn chain_check_flood(
    url: String,
    n: usize,
    patience: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let impatient = crate::cluster::one_shot_agent(patience);
                while !stop.load(Ordering::SeqCst) {
                    let _ = impatient
                        .post(format!("{url}/api/votes/verify-blockchain"))
                        .send_empty();
                }
            })
        })
        .collect()
}

/// `n` clients logging in as `email` with its right password again and
/// again (each a password hash for the appliance), until `stop`.
pub fn login_flood(
    url: String,
    email: String,
    password: String,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (url, email, password, stop) =
                (url.clone(), email.clone(), password.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                while !stop.load(Ordering::SeqCst) {
                    let _ = agent
                        .post(format!("{url}/api/auth/login"))
                        .send_json(json!({"email": email, "password": password}));
                }
            })
        })
        .collect()
}
