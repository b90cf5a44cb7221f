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
    let txs = ballots(&g, 5);
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

/// Reads one HTTP request (head and body); its path and body, or `None`
/// at the end of the connection.
fn read_request_body(conn: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
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
    let mut body = Vec::new();
    conn.by_ref().take(length).read_to_end(&mut body).ok()?;
    Some((path, body))
}

fn read_request(conn: &mut BufReader<TcpStream>) -> Option<String> {
    read_request_body(conn).map(|(path, _)| path)
}

fn reply_with(conn: &mut BufReader<TcpStream>, status: &str, body: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(reply.as_bytes()).unwrap();
}

fn reply(conn: &mut BufReader<TcpStream>, status: &str) {
    reply_with(conn, status, "{}");
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
    PeerClient::new(Arc::new(key(1)), genesis(3).chain_id().unwrap())
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

/// How a fake peer answers a request: (status line, body), given the
/// path, the body and how many requests to that path came before.
type Answer = Box<dyn Fn(&str, &[u8], usize) -> (String, String) + Send + Sync>;

/// A peer on 127.0.0.1 that reports each request (its path, the number of
/// its connection and its body) as it arrives, holds requests to `held`
/// until `release`, and answers as `answer` says.
struct FakePeer {
    url: String,
    seen: mpsc::Receiver<(String, usize, Vec<u8>)>,
    release: mpsc::Sender<()>,
}

/// Answers the status poll 404 and everything else 202.
fn plain(path: &str, _: &[u8], _: usize) -> (String, String) {
    if path == "/p2p/status" {
        ("404 Not Found".into(), "{}".into())
    } else {
        ("202 Accepted".into(), r#"{"accepted": 1}"#.into())
    }
}

fn fake_peer(held: &'static str) -> FakePeer {
    fake_peer_answering(held, Box::new(plain))
}

fn fake_peer_answering(held: &'static str, answer: Answer) -> FakePeer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, seen) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let answer = Arc::new(answer);
    let counts = Arc::new(std::sync::Mutex::new(BTreeMap::<String, usize>::new()));
    std::thread::spawn(move || {
        for (number, conn) in listener.incoming().enumerate() {
            let (seen_tx, released) = (seen_tx.clone(), released.clone());
            let (answer, counts) = (answer.clone(), counts.clone());
            std::thread::spawn(move || {
                let mut conn = BufReader::new(conn.unwrap());
                while let Some((path, body)) = read_request_body(&mut conn) {
                    let _ = seen_tx.send((path.clone(), number, body.clone()));
                    if path == held {
                        let _ = released
                            .lock()
                            .unwrap()
                            .recv_timeout(Duration::from_secs(30));
                    }
                    let before = {
                        let mut c = counts.lock().unwrap();
                        let n = c.entry(path.clone()).or_default();
                        *n += 1;
                        *n - 1
                    };
                    let (status, text) = answer(&path, &body, before);
                    reply_with(&mut conn, &status, &text);
                }
            });
        }
    });
    FakePeer { url, seen, release }
}

impl FakePeer {
    /// Waits for a request to `want`, within half the time a call may
    /// take (a sender stuck behind a held request would give up on it at
    /// `CALL_TIMEOUT` and only then send); the connection it came on and
    /// its body.
    fn wait_for_body(&self, want: &str) -> (usize, Vec<u8>) {
        self.wait_for_body_within(want, CALL_TIMEOUT / 2)
    }

    fn wait_for_body_within(&self, want: &str, within: Duration) -> (usize, Vec<u8>) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (path, conn, body) = self.seen.recv_timeout(left).expect(want);
            if path == want {
                return (conn, body);
            }
        }
    }

    fn wait_for(&self, want: &str) -> usize {
        self.wait_for_body(want).0
    }

    /// Whether a request to `path` comes within `within`.
    fn comes_within(&self, path: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok((p, _, _)) if p == path => return true,
                Ok(_) => {}
                Err(_) => return false,
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
    net.gossip(&[crate::ledger::tx::fixtures::ballot(&g, 1, 1, 1)]);
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

#[test]
fn a_message_goes_again_until_acknowledged_and_then_never() {
    // Busy twice, then taken.
    let peer = fake_peer_answering(
        "none",
        Box::new(|path, body, before| {
            if path == "/p2p/messages" && before < 2 {
                ("503 Service Unavailable".into(), "{}".into())
            } else {
                plain(path, body, before)
            }
        }),
    );
    let (mut net, g) = network_to(&peer);
    net.broadcast(&prepare(&g, 0));
    for _ in 0..3 {
        peer.wait_for("/p2p/messages");
    }
    // Acknowledged: nothing goes again, however long it waits.
    let quiet = outbox::MAX_RETRY_WAIT * 2;
    assert!(!peer.comes_within("/p2p/messages", quiet));
}

/// Ballots of voters 1 to `n` for candidate 1 of election 1.
fn ballots(g: &Genesis, n: u8) -> Vec<SignedTx> {
    (1..=n)
        .map(|v| crate::ledger::tx::fixtures::ballot(g, 1, v, 1))
        .collect()
}

/// A block of `n` ballots proposed by validator 1 of genesis(3).
fn proposal_of(g: &Genesis, n: u8) -> Message {
    let txs = ballots(g, n);
    let block = Block::propose(
        g.chain_id().unwrap(),
        1,
        0,
        Hash32([0; 32]),
        5,
        txs,
        &key(1),
    );
    Message::Proposal(crate::consensus::Proposal {
        block: block.unwrap(),
        justification: None,
    })
}

#[test]
fn a_proposal_goes_by_its_transactions_names_and_carries_what_the_peer_lacks() {
    let g = genesis(3);
    let Message::Proposal(p) = proposal_of(&g, 3) else {
        unreachable!()
    };
    let lacks = p.block.transactions[1].hash().unwrap();
    // The first time the peer lacks one transaction; then it has it.
    let peer = fake_peer_answering(
        "none",
        Box::new(move |path, body, before| {
            if path == "/p2p/messages" && before == 0 {
                let batch: MessageBatch = serde_json::from_slice(body).unwrap();
                let answer = MessagesAnswer {
                    accepted: 0,
                    missing: vec![Missing {
                        block_hash: batch.proposals[0].block_hash,
                        tx_hashes: vec![lacks],
                    }],
                };
                (
                    "202 Accepted".into(),
                    serde_json::to_string(&answer).unwrap(),
                )
            } else {
                plain(path, body, before)
            }
        }),
    );
    let (mut net, _) = network_to(&peer);
    net.broadcast(&Message::Proposal(p.clone()));
    let first: MessageBatch =
        serde_json::from_slice(&peer.wait_for_body("/p2p/messages").1).unwrap();
    assert!(first.messages.is_empty());
    let c = &first.proposals[0];
    assert_eq!(c.transactions.len(), 3);
    assert!(
        c.carried.is_empty(),
        "the first copy names every transaction"
    );
    let second: MessageBatch =
        serde_json::from_slice(&peer.wait_for_body("/p2p/messages").1).unwrap();
    let carried: Vec<Hash32> = second.proposals[0]
        .carried
        .iter()
        .map(|t| t.hash().unwrap())
        .collect();
    assert_eq!(carried, vec![lacks]);
    assert!(!peer.comes_within("/p2p/messages", outbox::MAX_RETRY_WAIT * 2));
}

#[test]
fn a_peer_that_restarted_gets_the_current_messages_again() {
    let g = genesis(3);
    let status = move |started: u64| {
        // Signed by validator 2, as a poller believes only a signed status.
        let (chain_id, node_id) = (g.chain_id().unwrap(), g.validators[1].public_key);
        let time_ms = crate::clock::now_ms();
        let signature = crate::net::peer_auth::StatusFields {
            chain_id: &chain_id,
            node_id: &node_id,
            height: 0,
            best_hash: &chain_id,
            round: 0,
            role: "validator",
            started_at_ms: started,
            rpc_url: None,
            time_ms,
        }
        .sign(&key(2));
        serde_json::to_string(&StatusReport {
            node_id,
            genesis_hash: chain_id,
            chain_length: 1,
            best_hash: chain_id,
            height: 0,
            role: "validator".into(),
            round: 0,
            started_at_ms: started,
            rpc_url: None,
            time_ms,
            head: None,
            signature: Some(signature),
        })
        .unwrap()
    };
    // The status says the peer started anew from its fourth poll on.
    let peer = fake_peer_answering(
        "none",
        Box::new(move |path, body, before| {
            if path == "/p2p/status" {
                let started = if before < 3 { 1_000 } else { 2_000 };
                ("200 OK".into(), status(started))
            } else {
                plain(path, body, before)
            }
        }),
    );
    let (mut net, g) = network_to(&peer);
    // Known to be a validator once polled.
    peer.wait_for("/p2p/status");
    peer.wait_for("/p2p/status");
    net.broadcast(&prepare(&g, 0));
    let (_, first) = peer.wait_for_body("/p2p/messages");
    // Sent once, acknowledged; after the restart, again, the same. The
    // restart shows from the fourth poll on, about 3 s from now on an idle
    // machine; the bound leaves room for a busy one (it ends at the request).
    let (_, again) = peer.wait_for_body_within("/p2p/messages", STATUS_POLL * 30);
    assert_eq!(first, again);
}

#[test]
fn gossip_a_peer_took_is_not_sent_again_until_it_restarts() {
    let g = genesis(3);
    let txs = ballots(&g, 3);
    let peer = fake_peer("none");
    let (mut net, _) = network_to(&peer);
    peer.wait_for("/p2p/status");
    net.gossip(&txs[..2]);
    let (_, first) = peer.wait_for_body("/p2p/transactions");
    let first: GossipBatch = serde_json::from_slice(&first).unwrap();
    assert_eq!(first.transactions.len(), 2);
    // Again with one more (a re-gossip of what waits): only the new one.
    net.gossip(&txs);
    let (_, second) = peer.wait_for_body("/p2p/transactions");
    let second: GossipBatch = serde_json::from_slice(&second).unwrap();
    assert_eq!(second.transactions, vec![txs[2].clone()]);
    // Once its answer is in: the peer restarted, it may have lost them, and
    // they all go again.
    let deadline = Instant::now() + CALL_TIMEOUT;
    while !net.table.has_taken(&peer.url, &txs[2]) {
        assert!(Instant::now() < deadline, "the answer never came");
        std::thread::sleep(Duration::from_millis(5));
    }
    net.table.forget_taken(&peer.url);
    net.gossip(&txs);
    let (_, third) = peer.wait_for_body("/p2p/transactions");
    let third: GossipBatch = serde_json::from_slice(&third).unwrap();
    assert_eq!(third.transactions, txs);
}

#[test]
fn a_validator_one_block_behind_waits_for_it_and_more_behind_fetches() {
    let peer = fake_peer("none");
    let (mut net, _) = network_to(&peer);
    net.table.update(&peer.url, |p| {
        p.reachable = true;
        p.height = Some(5);
    });
    // One block behind: that block comes by consensus in a moment.
    assert!(!net.request_sync(4));
    assert!(!net.request_sync(4));
    // Two behind: fetched at once.
    assert!(net.request_sync(3));
    peer.wait_for("/p2p/blocks?from=4&limit=64");
}

#[test]
fn a_batch_waits_a_bound_derived_from_the_round_trip_before_it_goes_around() {
    use relay::{HEDGE_CHECK, MAX_HEDGE_AFTER, hedge_after};
    assert_eq!(
        hedge_after(Some(300)),
        Duration::from_millis(600) + HEDGE_CHECK
    );
    assert_eq!(hedge_after(Some(0)), HEDGE_CHECK);
    let unmeasured = Duration::from_millis(2 * crate::node::DEFAULT_ROUND_TRIP_MS);
    assert_eq!(
        hedge_after(None),
        (unmeasured + HEDGE_CHECK).min(MAX_HEDGE_AFTER)
    );
    assert_eq!(hedge_after(Some(60_000)), MAX_HEDGE_AFTER);
}

/// A network of validator 1 of genesis(3) to validators 2 (at `b`) and 3
/// (at `c`), both reachable with a round trip of 20 ms measured.
fn network_to_two(b: &FakePeer, c: &FakePeer) -> (HttpNetwork, Arc<Genesis>) {
    network_of(key(1), b, c)
}

/// The same, of the node whose key is `me` (a station if it is not a
/// validator's).
fn network_of(me: NodeKey, b: &FakePeer, c: &FakePeer) -> (HttpNetwork, Arc<Genesis>) {
    network_among(me, &[b, c])
}

/// A network of the node whose key is `me` to the other validators of a
/// genesis of `peers.len() + 1`, validator i + 2 at `peers[i]`, each
/// reachable with a round trip of 20 ms measured.
fn network_among(me: NodeKey, peers: &[&FakePeer]) -> (HttpNetwork, Arc<Genesis>) {
    let g = Arc::new(genesis(peers.len() as u8 + 1));
    let (inbox, _node) = NodeInbox::for_tests(8);
    let urls = (peers.iter().enumerate())
        .map(|(i, p)| (p.url.clone(), Some(g.validators[i + 1].public_key)))
        .collect();
    let table = Arc::new(PeerTable::default());
    let net = HttpNetwork::start(g.clone(), Arc::new(me), urls, table.clone(), inbox);
    for p in peers {
        table.update(&p.url, |p| (p.reachable, p.rtt_ms) = (true, Some(20)));
    }
    (net, g)
}

/// The next request to `path` at `peer` whose body passes `wanted`.
fn wait_for_request<T: serde::de::DeserializeOwned>(
    peer: &FakePeer,
    path: &str,
    wanted: impl Fn(&T) -> bool,
) -> T {
    loop {
        let body: T = serde_json::from_slice(&peer.wait_for_body(path).1).unwrap();
        if wanted(&body) {
            return body;
        }
    }
}

#[test]
fn messages_and_gossip_a_stalled_validator_holds_go_around_it() {
    let (stalled, other) = (fake_peer("/p2p/messages"), fake_peer("none"));
    let (mut net, g) = network_to_two(&stalled, &other);
    let held = prepare(&g, 0);
    net.broadcast(&held);
    stalled.wait_for("/p2p/messages");
    // The stalled validator does not answer: past the bound (two round
    // trips and a little), the other validator is asked to pass it on.
    let b = g.validators[1].public_key;
    let around: MessageBatch = wait_for_request(&other, "/p2p/messages", |m: &MessageBatch| {
        m.relay_to.is_some()
    });
    assert_eq!(around.relay_to, Some(b));
    assert_eq!(around.messages, vec![held]);
    // While it stalls, a ballot goes around it too, in the request that
    // brings it to the other validator anyway.
    let ballot = crate::ledger::tx::fixtures::ballot(&g, 1, 1, 1);
    net.gossip(std::slice::from_ref(&ballot));
    let gossip: GossipBatch = wait_for_request(&other, "/p2p/transactions", |_: &GossipBatch| true);
    assert_eq!(gossip.relay_to, Some(b));
    assert_eq!(gossip.transactions, vec![ballot]);
    for _ in 0..MESSAGE_LANES {
        let _ = stalled.release.send(());
    }
}

#[test]
fn a_message_a_validator_takes_in_time_goes_around_nothing() {
    let (b, c) = (fake_peer("none"), fake_peer("none"));
    let (mut net, g) = network_to_two(&b, &c);
    net.broadcast(&prepare(&g, 0));
    b.wait_for("/p2p/messages");
    c.wait_for("/p2p/messages");
    // Both answered at once: nothing goes again, to anyone.
    let quiet = Duration::from_millis(500);
    assert!(!b.comes_within("/p2p/messages", quiet));
    assert!(!c.comes_within("/p2p/messages", quiet));
}

#[test]
fn a_proposal_carries_what_this_nodes_gossip_is_still_taking_to_the_peer() {
    let peer = fake_peer("/p2p/transactions");
    let (mut net, g) = network_to(&peer);
    let Message::Proposal(p) = proposal_of(&g, 3) else {
        unreachable!()
    };
    // The second ballot's gossip is held on its way to the peer.
    let on_its_way = p.block.transactions[1].clone();
    net.gossip(std::slice::from_ref(&on_its_way));
    peer.wait_for("/p2p/transactions");
    net.broadcast(&Message::Proposal(p));
    let batch: MessageBatch =
        serde_json::from_slice(&peer.wait_for_body("/p2p/messages").1).unwrap();
    assert_eq!(batch.proposals[0].carried, vec![on_its_way]);
    peer.release.send(()).unwrap();
}

#[test]
fn a_block_decided_without_this_node_is_fetched_from_a_holder_and_another_if_it_is_slow() {
    let path = "/p2p/blocks?from=7&limit=64&wait_ms=2000";
    let (slow, quick) = (fake_peer(path), fake_peer("none"));
    let (mut net, g) = network_to_two(&slow, &quick);
    let holders = [g.validators[1].public_key, g.validators[2].public_key];
    net.table.update(&quick.url, |p| p.rtt_ms = Some(40));
    net.fetch_decided(7, &holders);
    // The nearest holder first; it holds the request, so the other is
    // asked after the bound.
    slow.wait_for(path);
    quick.wait_for(path);
    slow.release.send(()).unwrap();
}

/// A PREPARE of validator `i` of `g` for height 1 (its signature is not
/// checked on this side of the node).
fn prepare_by(g: &Genesis, i: usize) -> Message {
    let Message::Prepare(mut v) = prepare(g, 0) else {
        unreachable!()
    };
    v.sender = g.validators[i].public_key;
    Message::Prepare(v)
}

#[test]
fn a_message_seen_the_first_time_is_passed_on_to_every_validator_but_its_author() {
    let (b, c) = (fake_peer("none"), fake_peer("none"));
    let (net, g) = network_to_two(&b, &c);
    // Validator 2's (at `b`), seen here first: on to validator 3 only.
    let msg = prepare_by(&g, 1);
    assert_eq!(net.table.pass_on(&msg, 0), 0);
    let passed: MessageBatch = wait_for_request(&c, "/p2p/messages", |_: &MessageBatch| true);
    assert_eq!(
        (passed.messages, passed.relay_to),
        (vec![msg.clone()], None)
    );
    // Seen again (another validator passed it on too): not again. Nor is a
    // message of a decided height, or one too far ahead.
    net.table.pass_on(&msg, 0);
    net.table.pass_on(&prepare_by(&g, 2), 1);
    net.table.pass_on(&prepare_by(&g, 2), u64::MAX);
    let quiet = Duration::from_millis(500);
    assert!(!b.comes_within("/p2p/messages", quiet));
    assert!(!c.comes_within("/p2p/messages", quiet));
}

#[test]
fn a_station_gossips_its_ballots_to_every_validator_itself() {
    let (b, c) = (fake_peer("none"), fake_peer("none"));
    let (mut station, g) = network_of(key(9), &b, &c);
    assert!(!g.is_validator(&key(9).public()));
    let ballot = crate::ledger::tx::fixtures::ballot(&g, 1, 1, 1);
    station.gossip(std::slice::from_ref(&ballot));
    for v in [&b, &c] {
        let got: GossipBatch = wait_for_request(v, "/p2p/transactions", |_: &GossipBatch| true);
        assert_eq!(got.transactions, vec![ballot.clone()]);
        // Nothing for the validator to pass on: each has its copy.
        assert!((!got.relay && got.relay_to.is_none()));
    }
}

#[test]
fn a_stations_ballots_go_around_a_validator_that_holds_its_gossip() {
    let (stalled, other) = (fake_peer("/p2p/transactions"), fake_peer("none"));
    let (mut station, g) = network_of(key(9), &stalled, &other);
    let to = g.validators[1].public_key;
    let (first, second) = (
        crate::ledger::tx::fixtures::ballot(&g, 1, 1, 1),
        crate::ledger::tx::fixtures::ballot(&g, 1, 2, 1),
    );
    station.gossip(std::slice::from_ref(&first));
    stalled.wait_for("/p2p/transactions");
    // Not answered within its bound: the other validator passes it on.
    let around: GossipBatch = wait_for_request(&other, "/p2p/transactions", |m: &GossipBatch| {
        m.relay_to.is_some()
    });
    assert_eq!(
        (around.relay_to, around.transactions),
        (Some(to), vec![first])
    );
    // The next ballot would wait behind the held request: it goes around
    // at once, in the request that brings it to the other validator.
    station.gossip(std::slice::from_ref(&second));
    let next: GossipBatch = wait_for_request(&other, "/p2p/transactions", |m: &GossipBatch| {
        m.transactions.contains(&second)
    });
    assert_eq!(next.relay_to, Some(to));
    let _ = stalled.release.send(());
}

/// Gossips `first`, which the `held` peers hold unanswered past their
/// bound: their batches under way go around, and their links count as
/// stalled.
fn stall_gossip(net: &mut HttpNetwork, held: &[FakePeer], first: SignedTx) {
    net.gossip(&[first]);
    for p in held {
        p.wait_for("/p2p/transactions");
    }
    let deadline = Instant::now() + CALL_TIMEOUT;
    while net.links.iter().filter(|l| l.stalled()).count() < held.len() {
        assert!(
            Instant::now() < deadline,
            "the held links never counted as stalled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn each_stalled_validator_has_its_own_validator_to_go_around_it() {
    let held = [
        fake_peer("/p2p/transactions"),
        fake_peer("/p2p/transactions"),
    ];
    let open = [fake_peer("none"), fake_peer("none")];
    let (mut net, g) = network_among(key(1), &[&held[0], &held[1], &open[0], &open[1]]);
    let ballot = |v| crate::ledger::tx::fixtures::ballot(&g, 1, v, 1);
    stall_gossip(&mut net, &held, ballot(1));
    // The next batch: each open validator passes it on to another stalled
    // one, in the request that brings it the batch (one request each).
    let next = ballot(2);
    net.gossip(std::slice::from_ref(&next));
    let asked: Vec<Option<PublicKey>> = (open.iter())
        .map(|p| {
            wait_for_request(p, "/p2p/transactions", |m: &GossipBatch| {
                m.transactions.contains(&next)
            })
            .relay_to
        })
        .collect();
    let stalled = [g.validators[1].public_key, g.validators[2].public_key];
    assert!(
        asked
            .iter()
            .all(|to| to.is_some_and(|k| stalled.contains(&k)))
    );
    assert_ne!(asked[0], asked[1]);
    for p in &held {
        let _ = p.release.send(());
    }
}

#[test]
fn more_stalled_links_than_open_ones_ask_an_open_one_to_pass_on_to_everyone() {
    let held = [
        fake_peer("/p2p/transactions"),
        fake_peer("/p2p/transactions"),
    ];
    let open = fake_peer("none");
    let (mut net, g) = network_among(key(1), &[&held[0], &held[1], &open]);
    let ballot = |v| crate::ledger::tx::fixtures::ballot(&g, 1, v, 1);
    stall_gossip(&mut net, &held, ballot(1));
    // The next batch: the one open validator passes it on to both stalled
    // ones, asked in the request that brings it the batch (not a request
    // more for the second, which would wait a round trip behind the first).
    let next = ballot(2);
    net.gossip(std::slice::from_ref(&next));
    let got = wait_for_request(&open, "/p2p/transactions", |m: &GossipBatch| {
        m.transactions.contains(&next)
    });
    assert!(got.relay && got.relay_to.is_none(), "{got:?}");
    for p in &held {
        let _ = p.release.send(());
    }
}
