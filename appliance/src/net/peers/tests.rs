//! Outgoing calls against small HTTP servers on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

use super::*;
use crate::ledger::crypto::test_keys::key;
use crate::ledger::genesis::fixtures::genesis;
use crate::ledger::{Signature, Vote, VoteKind};
use crate::node::NodeInbox;

#[test]
fn gossip_is_cut_into_requests_a_peer_takes_in_order() {
    let g = genesis(3);
    let txs: Vec<SignedTx> = (1..=5)
        .map(|i| crate::ledger::tx::fixtures::ballot(&g, 1, i, 1))
        .collect();
    let many: Vec<SignedTx> = txs
        .iter()
        .cycle()
        .take(2 * MAX_GOSSIP_BATCH + 3)
        .cloned()
        .collect();
    let sizes: Vec<usize> = gossip_batches(many.clone()).map(|b| b.len()).collect();
    assert_eq!(sizes, [MAX_GOSSIP_BATCH, MAX_GOSSIP_BATCH, 3]);
    let back: Vec<SignedTx> = gossip_batches(many.clone()).flatten().collect();
    assert_eq!(back, many);
    assert_eq!(gossip_batches(Vec::new()).count(), 0);
    assert_eq!(gossip_batches(txs.clone()).collect::<Vec<_>>(), [txs]);
}

/// Reads one HTTP request (head and body); its path, or `None` at the
/// end of the connection.
fn read_request(conn: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    conn.read_line(&mut head).ok().filter(|n| *n > 0)?;
    let path = head.split(' ').nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).ok()?;
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    conn.by_ref()
        .take(length)
        .read_to_end(&mut Vec::new())
        .ok()?;
    Some(path)
}

fn reply(conn: &mut BufReader<TcpStream>, status: &str) {
    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}");
    conn.get_mut().write_all(reply.as_bytes()).unwrap();
}

/// A server on 127.0.0.1 that answers one request with `status`.
fn answering(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut conn = BufReader::new(listener.accept().unwrap().0);
        read_request(&mut conn).unwrap();
        reply(&mut conn, status);
    });
    url
}

fn table_with(url: &str) -> PeerTable {
    let table = PeerTable::default();
    let mut p = PeerState::new(url.to_string(), None, &genesis(3));
    p.validator = true;
    p.reachable = true;
    p.height = Some(1);
    table.insert(p);
    table
}

fn client() -> PeerClient {
    PeerClient::new(Arc::new(key(1)))
}

fn call_and_record(url: &str) -> PeerState {
    let table = table_with(url);
    let e = client()
        .post_json(&format!("{url}/p2p/message"), &serde_json::json!({}))
        .expect_err("the call fails");
    table.record_failure(url, &e);
    table.snapshot().remove(0)
}

#[test]
fn a_peer_that_answers_busy_or_refuses_stays_reachable() {
    for status in ["503 Service Unavailable", "400 Bad Request"] {
        let p = call_and_record(&answering(status));
        assert!(p.reachable, "{status}");
        let code = &status[..3];
        assert!(p.last_error.unwrap().contains(code), "{status}");
    }
}

#[test]
fn a_peer_that_cannot_be_reached_is_unreachable() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let p = call_and_record(&url);
    assert!(!p.reachable);
    assert!(p.last_error.is_some());
}

/// A peer on 127.0.0.1 that reports each request (its path and the
/// number of its connection) as it arrives, holds requests to `held`
/// until `release`, answers the status poll 404 and everything else 202.
struct FakePeer {
    url: String,
    seen: mpsc::Receiver<(String, usize)>,
    release: mpsc::Sender<()>,
}

fn fake_peer(held: &'static str) -> FakePeer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, seen) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    std::thread::spawn(move || {
        for (number, conn) in listener.incoming().enumerate() {
            let (seen_tx, released) = (seen_tx.clone(), released.clone());
            std::thread::spawn(move || {
                let mut conn = BufReader::new(conn.unwrap());
                while let Some(path) = read_request(&mut conn) {
                    let _ = seen_tx.send((path.clone(), number));
                    if path == held {
                        let _ = released
                            .lock()
                            .unwrap()
                            .recv_timeout(Duration::from_secs(30));
                    }
                    let status = if path == "/p2p/status" {
                        "404 Not Found"
                    } else {
                        "202 Accepted"
                    };
                    reply(&mut conn, status);
                }
            });
        }
    });
    FakePeer { url, seen, release }
}

impl FakePeer {
    /// Waits for a request to `want`, within half the time a call may
    /// take (a sender stuck behind a held request would give up on it at
    /// `CALL_TIMEOUT` and only then send); the connection it came on.
    fn wait_for(&self, want: &str) -> usize {
        let deadline = Instant::now() + CALL_TIMEOUT / 2;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (path, conn) = self.seen.recv_timeout(left).expect(want);
            if path == want {
                return conn;
            }
        }
    }
}

fn network_to(peer: &FakePeer) -> (HttpNetwork, Arc<Genesis>) {
    let g = Arc::new(genesis(3));
    let (inbox, _node) = NodeInbox::for_tests(8);
    let urls = vec![(peer.url.clone(), Some(g.validators[1].public_key))];
    let net = HttpNetwork::start(
        g.clone(),
        Arc::new(key(1)),
        urls,
        Arc::new(PeerTable::default()),
        inbox,
    );
    (net, g)
}

fn prepare(g: &Genesis, round: u64) -> Message {
    let vote = Vote {
        kind: VoteKind::Prepare,
        chain_id: g.chain_id().unwrap(),
        height: 1,
        round,
        block_hash: Hash32([7; 32]),
    };
    Message::Prepare(crate::consensus::SignedVote {
        vote,
        sender: g.validators[0].public_key,
        signature: Signature([0; 64]),
    })
}

#[test]
fn consensus_messages_do_not_wait_behind_a_peer_checking_gossip() {
    let peer = fake_peer("/p2p/transactions");
    let (mut net, g) = network_to(&peer);
    net.gossip(&[crate::ledger::tx::fixtures::ballot(&g, 1, 1, 1)], false);
    peer.wait_for("/p2p/transactions");
    net.broadcast(&prepare(&g, 0));
    // The gossip request is still held: the message must not wait for it.
    peer.wait_for("/p2p/messages");
    peer.release.send(()).unwrap();
}

#[test]
fn a_message_goes_out_while_another_request_to_the_peer_is_under_way() {
    let peer = fake_peer("/p2p/messages");
    let (mut net, g) = network_to(&peer);
    net.broadcast(&prepare(&g, 0));
    let first = peer.wait_for("/p2p/messages");
    // The first request is held; the next message takes another sender
    // and another connection.
    net.broadcast(&prepare(&g, 1));
    let second = peer.wait_for("/p2p/messages");
    assert_ne!(first, second);
    peer.release.send(()).unwrap();
    peer.release.send(()).unwrap();
}

#[test]
fn messages_one_after_another_reuse_one_connection() {
    let peer = fake_peer("none");
    let (mut net, g) = network_to(&peer);
    let mut connections = std::collections::BTreeSet::new();
    for round in 0..10 {
        net.broadcast(&prepare(&g, round));
        connections.insert(peer.wait_for("/p2p/messages"));
    }
    // Each answer is read to its end, so the connection goes back to the
    // pool: ten messages sent one after another share the connections of
    // the threads that may be sending at once (the senders and the
    // poller), never one each.
    assert!(connections.len() <= MESSAGE_LANES + 1, "{connections:?}");
}

#[test]
fn peer_urls_are_the_other_validators_at_their_overridden_or_genesis_url() {
    let g = genesis(3);
    let me = g.validators[0].public_key;
    let overrides = BTreeMap::from([("v3".to_string(), "http://10.0.0.3:8001/".to_string())]);
    let extra = vec![
        "http://127.0.0.1:9002".to_string(),
        "http://s1:8001".to_string(),
    ];
    let urls = peer_urls(&g, &me, &overrides, &extra);
    assert_eq!(
        urls,
        vec![
            (
                "http://127.0.0.1:9002".to_string(),
                Some(g.validators[1].public_key)
            ),
            (
                "http://10.0.0.3:8001".to_string(),
                Some(g.validators[2].public_key)
            ),
            ("http://s1:8001".to_string(), None),
        ]
    );
}
