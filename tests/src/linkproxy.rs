//! Fault-injecting TCP proxies on 127.0.0.1, one per directed link between
//! two nodes of a testnet: node A reaches validator B through the proxy
//! A→B (A's `validator_urls` points there), so a link can be cut and healed,
//! or made to behave like a wide-area link, without touching the processes
//! or leaving loopback.
//!
//! While a link is cut its open connections are reset and new ones are
//! accepted and then left unanswered (as a dead route looks to TCP: the
//! caller's own timeouts must notice); healing closes those and forwards
//! again.
//!
//! A [`LinkShape`] makes a link wide-area: every chunk read on one side is
//! written on the other after a one-way delay with jitter (in order, as TCP
//! delivers), after the sending node's uplink has had time to send it (a
//! bandwidth cap shared by everything that node sends), and never during a
//! stall (the link holds everything for a while, then delivers it at once);
//! now and then the link may reset its open connections. The requests A
//! sends to B take the A→B path, B's answers the B→A path.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::sim::Rng;

/// Connections a cut link holds unanswered; past this it closes them at once.
pub const MAX_HELD: usize = 256;
/// How long the proxy waits to reach the node behind it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest chunk a shaped link reads at once.
const CHUNK: usize = 16 * 1024;
/// Chunks a shaped direction holds in flight before it stops reading (and
/// TCP's own flow control holds the sender back): 64 KiB, about what a
/// router queues per flow. With more, one bulk transfer books a capped
/// uplink seconds ahead and every other flow waits behind it; with this
/// little, flows take turns on the uplink as TCP flows share a bottleneck.
const MAX_CHUNKS_IN_FLIGHT: usize = 4;
/// How often the weather of a link (stalls, resets) is looked at.
const WEATHER_TICK: Duration = Duration::from_millis(20);

/// A node's uplink: everything the node sends, on every link, leaves
/// through it one byte after the other at `bits_per_s`.
#[derive(Debug)]
pub struct Uplink {
    bits_per_s: u64,
    free_at: Mutex<Option<Instant>>,
}

impl Uplink {
    pub fn new(bits_per_s: u64) -> Arc<Uplink> {
        assert!(bits_per_s > 0, "an uplink carries something");
        Arc::new(Uplink {
            bits_per_s,
            free_at: Mutex::new(None),
        })
    }

    /// Queues `bytes` on the uplink at `now`: when their last bit has left.
    fn send(&self, bytes: usize, now: Instant) -> Instant {
        let mut free = self.free_at.lock().unwrap();
        let start = free.map_or(now, |f| f.max(now));
        let nanos = bytes as u128 * 8 * 1_000_000_000 / u128::from(self.bits_per_s);
        let done = start + Duration::from_nanos(nanos as u64);
        *free = Some(done);
        done
    }
}

/// One direction of a link: how long a byte takes from one node to the other.
#[derive(Debug, Clone, Default)]
pub struct Path {
    /// The mean one-way delay.
    pub delay: Duration,
    /// Each chunk's delay is drawn uniformly from `delay ± jitter`.
    pub jitter: Duration,
    /// The sending node's uplink, if it is capped.
    pub uplink: Option<Arc<Uplink>>,
}

impl Path {
    pub fn delay(delay_ms: u64, jitter_ms: u64) -> Path {
        Path {
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            uplink: None,
        }
    }

    fn is_plain(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.uplink.is_none()
    }
}

/// Times drawn uniformly from `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: Duration,
    pub hi: Duration,
}

impl Span {
    pub fn secs(lo: u64, hi: u64) -> Span {
        Span {
            lo: Duration::from_secs(lo),
            hi: Duration::from_secs(hi),
        }
    }

    fn draw(&self, rng: &mut Rng) -> Duration {
        let (lo, hi) = (self.lo.as_millis() as u64, self.hi.as_millis() as u64);
        Duration::from_millis(rng.range(lo, hi.max(lo)))
    }
}

/// How a link behaves: its two directions, its stalls and resets.
#[derive(Debug, Clone, Default)]
pub struct LinkShape {
    /// Requests: from the node that calls to the node behind the proxy.
    pub forward: Path,
    /// Answers: back to the caller.
    pub back: Path,
    /// Stalls: `(every, lasting)`: after a quiet time drawn from `every`,
    /// the link holds everything for a time drawn from `lasting`.
    pub stalls: Option<(Span, Span)>,
    /// Now and then (a time drawn from this span) the link resets its open
    /// connections, as a NAT or a mobile network drops a flow.
    pub resets: Option<Span>,
    /// Seeds the link's jitter and weather.
    pub seed: u64,
}

impl LinkShape {
    fn is_plain(&self) -> bool {
        self.forward.is_plain()
            && self.back.is_plain()
            && self.stalls.is_none()
            && self.resets.is_none()
    }
}

/// Bytes a link carried, per direction.
#[derive(Debug, Default)]
struct Counts {
    forward: AtomicU64,
    back: AtomicU64,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    next_id: AtomicU64,
    shape: LinkShape,
    /// While set and in the future, the link delivers nothing.
    stalled_until: Mutex<Option<Instant>>,
    stalls: AtomicU64,
    /// When each stall began and how long it lasted.
    stall_log: Mutex<Vec<(Instant, Duration)>>,
    resets: AtomicU64,
    bytes: Counts,
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

    /// The end of the stall under way at `now`, if any.
    fn stall_end(&self, now: Instant) -> Option<Instant> {
        self.stalled_until.lock().unwrap().filter(|&u| u > now)
    }
}

/// Where proxies forward to: the door of the node behind them, shared by
/// every proxy in front of that node and moved when the node starts again
/// on a port the OS picked ([`Target::set`]).
#[derive(Clone, Debug)]
pub struct Target(Arc<Mutex<SocketAddr>>);

impl Target {
    pub fn new(addr: SocketAddr) -> Target {
        Target(Arc::new(Mutex::new(addr)))
    }

    pub fn set(&self, addr: SocketAddr) {
        *self.0.lock().unwrap() = addr;
    }

    pub fn get(&self) -> SocketAddr {
        *self.0.lock().unwrap()
    }
}

/// One directed link: everything sent to [`LinkProxy::url`] goes to `target`.
pub struct LinkProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl LinkProxy {
    pub fn start(target: SocketAddr) -> io::Result<LinkProxy> {
        Self::start_shaped(target, LinkShape::default())
    }

    /// A link that behaves as `shape` says.
    pub fn start_shaped(target: SocketAddr, shape: LinkShape) -> io::Result<LinkProxy> {
        Self::start_to(Target::new(target), shape)
    }

    /// A link to wherever `target` says at each new connection.
    pub fn start_to(target: Target, shape: LinkShape) -> io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let weather = shape.stalls.is_some() || shape.resets.is_some();
        let shared = Arc::new(Shared {
            shape,
            ..Shared::default()
        });
        let s = shared.clone();
        thread::Builder::new()
            .name(format!("link-proxy-{}", addr.port()))
            .spawn(move || accept_loop(&listener, target, &s))?;
        if weather {
            let s = shared.clone();
            thread::Builder::new()
                .name(format!("link-weather-{}", addr.port()))
                .spawn(move || weather_loop(&s))?;
        }
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

    /// Bytes carried so far: (to the node behind the proxy, back to the caller).
    pub fn bytes(&self) -> (u64, u64) {
        let b = &self.shared.bytes;
        (
            b.forward.load(Ordering::SeqCst),
            b.back.load(Ordering::SeqCst),
        )
    }

    /// Stalls and connection resets so far.
    pub fn weather(&self) -> (u64, u64) {
        (
            self.shared.stalls.load(Ordering::SeqCst),
            self.shared.resets.load(Ordering::SeqCst),
        )
    }

    /// The stalls so far: when each began and how long it lasted.
    pub fn stall_windows(&self) -> Vec<(Instant, Duration)> {
        self.shared.stall_log.lock().unwrap().clone()
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

fn accept_loop(listener: &TcpListener, target: Target, shared: &Arc<Shared>) {
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
        let Ok(node) = TcpStream::connect_timeout(&target.get(), CONNECT_TIMEOUT) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = node.set_nodelay(true);
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .name("link-proxy-conn".into())
            .spawn(move || forward(client, node, &shared));
    }
}

/// Stalls and resets, drawn from the link's seed, until the proxy stops.
fn weather_loop(shared: &Shared) {
    let mut rng = Rng::new(shared.shape.seed ^ 0x057A_11ED);
    let now = Instant::now();
    let mut next_stall = shared
        .shape
        .stalls
        .map(|(every, _)| now + every.draw(&mut rng));
    let mut next_reset = shared.shape.resets.map(|every| now + every.draw(&mut rng));
    while !shared.stop.load(Ordering::SeqCst) {
        thread::sleep(WEATHER_TICK);
        let now = Instant::now();
        if let (Some(at), Some((every, lasting))) = (next_stall, shared.shape.stalls)
            && now >= at
        {
            let length = lasting.draw(&mut rng);
            *shared.stalled_until.lock().unwrap() = Some(now + length);
            shared.stalls.fetch_add(1, Ordering::SeqCst);
            shared.stall_log.lock().unwrap().push((now, length));
            next_stall = Some(now + length + every.draw(&mut rng));
        }
        if let (Some(at), Some(every)) = (next_reset, shared.shape.resets)
            && now >= at
        {
            shared.resets.fetch_add(1, Ordering::SeqCst);
            shared.reset_live();
            next_reset = Some(now + every.draw(&mut rng));
        }
    }
}

/// Copies both ways until either side closes or the link is cut.
fn forward(client: TcpStream, node: TcpStream, shared: &Arc<Shared>) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (Ok(c2), Ok(n2)) = (client.try_clone(), node.try_clone()) else {
        return;
    };
    shared.live.lock().unwrap().insert(id, (c2, n2));
    let (Ok(c_read), Ok(n_write)) = (client.try_clone(), node.try_clone()) else {
        shared.live.lock().unwrap().remove(&id);
        return;
    };
    let plain = shared.shape.is_plain();
    let up_shared = shared.clone();
    let upstream = thread::spawn(move || {
        let s = &up_shared;
        pipe(c_read, n_write, s, Dir::Forward, plain);
    });
    pipe(node, client, shared, Dir::Back, plain);
    let _ = upstream.join();
    shared.live.lock().unwrap().remove(&id);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Back,
}

/// Copies `from` to `to` (as the link's `dir` behaves), then closes `to`'s
/// writing side.
fn pipe(from: TcpStream, mut to: TcpStream, shared: &Arc<Shared>, dir: Dir, plain: bool) {
    let counter = match dir {
        Dir::Forward => &shared.bytes.forward,
        Dir::Back => &shared.bytes.back,
    };
    if plain {
        let mut from = Counted(from, counter);
        let _ = io::copy(&mut from, &mut to);
    } else {
        let (tx, rx) = sync_channel(MAX_CHUNKS_IN_FLIGHT);
        let reader_shared = shared.clone();
        let reader = thread::spawn(move || read_timed(from, &tx, &reader_shared, dir));
        write_timed(&mut to, &rx, shared, counter);
        // The writer stopped (its side failed): unblock the reader.
        drop(rx);
        let _ = reader.join();
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A reader that counts what passes.
struct Counted<'a>(TcpStream, &'a AtomicU64);

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads chunks and stamps each with when it arrives at the other end:
/// once the uplink has sent it, plus the one-way delay, never before the
/// chunk ahead of it. An empty chunk marks the end of the stream.
fn read_timed(mut from: TcpStream, tx: &SyncSender<(Instant, Vec<u8>)>, shared: &Shared, dir: Dir) {
    let path = match dir {
        Dir::Forward => &shared.shape.forward,
        Dir::Back => &shared.shape.back,
    };
    let salt = if dir == Dir::Forward { 1 } else { 2 };
    let mut rng = Rng::new(shared.shape.seed.wrapping_mul(3).wrapping_add(salt));
    let mut last = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        let now = Instant::now();
        let sent = path.uplink.as_ref().map_or(now, |u| u.send(n, now));
        let jitter = path.jitter.as_millis() as u64;
        let delay =
            (path.delay.as_millis() as u64 + rng.range(0, 2 * jitter)).saturating_sub(jitter);
        let at = (sent + Duration::from_millis(delay)).max(last);
        last = at;
        if tx.send((at, buf[..n].to_vec())).is_err() || n == 0 {
            return;
        }
    }
}

/// Writes each chunk when it is due, holding everything while the link stalls.
fn write_timed(
    to: &mut TcpStream,
    rx: &Receiver<(Instant, Vec<u8>)>,
    shared: &Shared,
    counter: &AtomicU64,
) {
    while let Ok((at, chunk)) = rx.recv() {
        loop {
            let now = Instant::now();
            let until = shared.stall_end(now).map_or(at, |end| end.max(at));
            if until <= now {
                break;
            }
            thread::sleep(until - now);
        }
        if chunk.is_empty() {
            return;
        }
        // Counted as it goes onto the link, before the write: the far end
        // may read the bytes (and a test read the counter) before
        // `write_all` returns.
        counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        if to.write_all(&chunk).is_err() {
            return;
        }
    }
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

    /// Bytes each node sent to each other node over these links, requests
    /// and answers together: `(from, to)` → bytes.
    pub fn traffic(&self) -> BTreeMap<(usize, usize), u64> {
        let mut t = BTreeMap::new();
        for (&(from, to), p) in &self.proxies {
            let (fwd, back) = p.bytes();
            *t.entry((from, to)).or_default() += fwd;
            *t.entry((to, from)).or_default() += back;
        }
        t
    }

    /// Stalls and connection resets over every link so far.
    pub fn weather(&self) -> (u64, u64) {
        self.proxies.values().fold((0, 0), |(s, r), p| {
            let (s2, r2) = p.weather();
            (s + s2, r + r2)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Sends `len` bytes through the proxy to the echo server and reads
    /// them back: how long it took.
    fn echo_time(p: &LinkProxy, len: usize) -> Duration {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let started = Instant::now();
        let data = vec![7u8; len];
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || w.write_all(&data).unwrap());
        let mut back = vec![0u8; len];
        s.read_exact(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back.iter().all(|&b| b == 7));
        started.elapsed()
    }

    #[test]
    fn a_shaped_link_delays_each_way_and_counts_bytes() {
        let shape = LinkShape {
            forward: Path::delay(100, 20),
            back: Path::delay(150, 0),
            ..LinkShape::default()
        };
        let p = LinkProxy::start_shaped(echo(), shape).unwrap();
        // At least the two one-way delays, less the jitter (lower bounds
        // only: a loaded machine makes it slower, never faster).
        assert!(echo_time(&p, 4) >= Duration::from_millis(230));
        assert_eq!(p.bytes(), (4, 4));
        let mut links = Links::default();
        links.proxies.insert((0, 1), p);
        let t = links.traffic();
        assert_eq!((t[&(0, 1)], t[&(1, 0)]), (4, 4));
    }

    #[test]
    fn an_uplink_cap_spreads_the_bytes_over_time() {
        // 100 kB at 1 Mbit/s: at least 0.8 s (the echo streams back meanwhile).
        let shape = LinkShape {
            forward: Path {
                uplink: Some(Uplink::new(1_000_000)),
                ..Path::default()
            },
            back: Path {
                uplink: Some(Uplink::new(1_000_000)),
                ..Path::default()
            },
            ..LinkShape::default()
        };
        let p = LinkProxy::start_shaped(echo(), shape).unwrap();
        assert!(echo_time(&p, 100_000) >= Duration::from_millis(790));
    }

    #[test]
    fn a_stall_holds_everything_then_delivers_it() {
        let ms = Duration::from_millis;
        let shape = LinkShape {
            stalls: Some((
                Span {
                    lo: ms(200),
                    hi: ms(200),
                },
                Span {
                    lo: ms(400),
                    hi: ms(400),
                },
            )),
            seed: 3,
            ..LinkShape::default()
        };
        let p = LinkProxy::start_shaped(echo(), shape).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let end = loop {
            if let Some(end) = p.shared.stall_end(Instant::now()) {
                break end;
            }
            assert!(Instant::now() < deadline, "no stall began");
            thread::sleep(ms(2));
        };
        // Sent during the stall: nothing comes back before it ends.
        echo_time(&p, 10);
        assert!(Instant::now() >= end);
        assert!(p.weather().0 >= 1);
    }

    #[test]
    fn resets_close_open_connections() {
        let shape = LinkShape {
            resets: Some(Span {
                lo: Duration::from_millis(50),
                hi: Duration::from_millis(50),
            }),
            ..LinkShape::default()
        };
        let p = LinkProxy::start_shaped(echo(), shape).unwrap();
        let mut open = TcpStream::connect(p.addr).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        assert!(matches!(open.read_to_end(&mut rest), Ok(0) | Err(_)));
        assert!(p.weather().1 >= 1);
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
