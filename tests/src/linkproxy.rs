//! Fault-injecting TCP proxies on 127.0.0.1, one per directed link between
//! two nodes of a testnet: node A reaches validator B through the proxy
//! A→B (A's `validator_urls` points there), so a link can be cut and healed
//! without touching the processes or leaving loopback.
//!
//! While a link is cut its open connections are reset and new ones are
//! accepted and then left unanswered (as a dead route looks to TCP: the
//! caller's own timeouts must notice); healing closes those and forwards
//! again.

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Connections a cut link holds unanswered; past this it closes them at once.
pub const MAX_HELD: usize = 256;
/// How long the proxy waits to reach the node behind it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Open forwarded connections: (client side, node side).
    live: Mutex<BTreeMap<u64, (TcpStream, TcpStream)>>,
    /// Connections accepted while cut, never answered.
    held: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn reset_live(&self) {
        for (a, b) in self.live.lock().unwrap().values() {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    fn drop_held(&self) {
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// One directed link: everything sent to [`LinkProxy::url`] goes to `target`.
pub struct LinkProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl LinkProxy {
    pub fn start(target: SocketAddr) -> io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::Builder::new()
            .name(format!("link-proxy-{}", addr.port()))
            .spawn(move || accept_loop(&listener, target, &s))?;
        Ok(LinkProxy { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the link: open connections are reset, new ones hang.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.reset_live();
    }

    /// Heals the link: hanging connections are closed, new ones forwarded.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
        self.shared.drop_held();
    }

    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> u64 {
        self.shared.next_id.load(Ordering::SeqCst)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.reset_live();
        self.shared.drop_held();
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT);
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.cut.load(Ordering::SeqCst) {
            let mut held = shared.held.lock().unwrap();
            if held.len() < MAX_HELD {
                held.push(client);
            }
            continue;
        }
        let Ok(node) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
            continue;
        };
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .name("link-proxy-conn".into())
            .spawn(move || forward(client, node, &shared));
    }
}

/// Copies both ways until either side closes or the link is cut.
fn forward(client: TcpStream, node: TcpStream, shared: &Shared) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (Ok(c2), Ok(n2)) = (client.try_clone(), node.try_clone()) else {
        return;
    };
    shared.live.lock().unwrap().insert(id, (c2, n2));
    let (Ok(mut c_read), Ok(mut n_write)) = (client.try_clone(), node.try_clone()) else {
        shared.live.lock().unwrap().remove(&id);
        return;
    };
    let upstream = thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut n_write);
        let _ = n_write.shutdown(Shutdown::Write);
    });
    let (mut n_read, mut c_write) = (node, client);
    let _ = io::copy(&mut n_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
    shared.live.lock().unwrap().remove(&id);
}

/// The links of a testnet: `(from, to)` node indices → proxy.
#[derive(Default)]
pub struct Links {
    pub proxies: BTreeMap<(usize, usize), LinkProxy>,
}

impl Links {
    /// Cuts every link between `side` and the other nodes, both ways.
    /// Returns how many links were cut.
    pub fn cut_between(&self, side: &[bool]) -> usize {
        let mut n = 0;
        for (&(from, to), p) in &self.proxies {
            if side[from] != side[to] {
                p.cut();
                n += 1;
            }
        }
        n
    }

    pub fn heal_all(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server: answers every line it gets with the same line.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = s;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        addr
    }

    fn round_trip(p: &LinkProxy) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(p.addr)?;
        s.set_read_timeout(Some(Duration::from_millis(300)))?;
        s.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        Ok(buf.to_vec())
    }

    #[test]
    fn forwards_until_cut_and_again_once_healed() {
        let p = LinkProxy::start(echo()).unwrap();
        assert_eq!(round_trip(&p).unwrap(), b"ping");

        // An open connection is reset by the cut.
        let mut open = TcpStream::connect(p.addr).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();
        p.cut();
        assert!(p.is_cut());
        let mut rest = Vec::new();
        assert!(matches!(open.read_to_end(&mut rest), Ok(0) | Err(_)));

        // A new connection is accepted but never answered.
        let err = round_trip(&p).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err:?}"
        );

        p.heal();
        assert_eq!(round_trip(&p).unwrap(), b"ping");
        assert!(p.connections() >= 3);
    }

    #[test]
    fn cuts_exactly_the_links_that_cross_the_partition() {
        let target = echo();
        let mut links = Links::default();
        for from in 0..3 {
            for to in 0..3 {
                if from != to {
                    links
                        .proxies
                        .insert((from, to), LinkProxy::start(target).unwrap());
                }
            }
        }
        // Node 2 alone on its side: the four links to and from it are cut.
        assert_eq!(links.cut_between(&[false, false, true]), 4);
        let cut: Vec<(usize, usize)> = links
            .proxies
            .iter()
            .filter(|(_, p)| p.is_cut())
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(cut, vec![(0, 2), (1, 2), (2, 0), (2, 1)]);
        links.heal_all();
        assert!(links.proxies.values().all(|p| !p.is_cut()));
    }
}
