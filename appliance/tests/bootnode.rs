//! The bootnode through its public entry point `bootnode::run`, over a
//! real socket. (The black-box `evote-appliance bootnode` CLI test lives
//! with the other CLI tests.)

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use evote_appliance::bootnode;
use serde_json::{Value, json};

fn register(agent: &ureq::Agent, base: &str, body: Value) -> (u16, Value) {
    support::read(
        agent
            .post(format!("{base}/register_peer"))
            .content_type("application/json")
            .send(body.to_string())
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_discovery_until_shutdown() {
    // A port the OS picks as it binds: no other process can take it first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bootnode::serve(listener, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    tokio::task::spawn_blocking(move || {
        let agent = support::agent();
        let deadline = Instant::now() + Duration::from_secs(10);
        let health = loop {
            match agent.get(format!("{base}/health")).call() {
                Ok(r) => break support::read(r),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bootnode did not come up: {e}"),
            }
        };
        assert_eq!(health, (200, json!({"status": "healthy", "peers": 0})));

        let a = format!("0x{}", "a1".repeat(32));
        let b = format!("0x{}", "b2".repeat(32));
        let c = format!("0x{}", "c3".repeat(32));
        let g1 = format!("0x{}", "01".repeat(32));
        let g2 = format!("0x{}", "02".repeat(32));
        let (code, v) = register(
            &agent,
            &base,
            json!({"node_id": a, "url": "http://127.0.0.1:9001", "role": "validator", "genesis_hash": g1}),
        );
        assert_eq!(
            (code, v),
            (
                200,
                json!({"registered": true, "status": "registered", "node_id": a, "peers": [], "count": 1})
            )
        );
        register(
            &agent,
            &base,
            json!({"node_id": b, "url": "http://127.0.0.1:9002", "role": "station", "genesis_hash": g1}),
        );
        register(
            &agent,
            &base,
            json!({"node_id": c, "url": "http://127.0.0.1:9003", "genesis_hash": g2}),
        );

        let (code, v) = support::read(
            agent
                .get(format!("{base}/discover?node_id={a}"))
                .call()
                .unwrap(),
        );
        assert_eq!(code, 200);
        let peers = v["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 1, "{v}");
        assert_eq!(peers[0]["node_id"], b.as_str());
        assert_eq!(peers[0]["url"], "http://127.0.0.1:9002");
        assert_eq!(peers[0]["role"], "station");
        assert_eq!(peers[0]["genesis_hash"], g1.as_str());
        assert!(peers[0]["last_seen_ms"].is_u64());

        let (code, v) = support::read(agent.get(format!("{base}/peers")).call().unwrap());
        assert_eq!((code, v["count"].as_u64()), (200, Some(3)));

        let (code, v) = register(&agent, &base, json!({"node_id": "0x12", "url": "http://h:1"}));
        assert_eq!((code, support::error_code(&v).as_str()), (400, "invalid_node_id"));
        let pad = "a".repeat(bootnode::BOOTNODE_BODY_LIMIT + 1);
        let (code, v) = register(&agent, &base, json!({ "pad": pad }));
        assert_eq!((code, support::error_code(&v).as_str()), (413, "body_too_large"));
        let (code, v) = support::read(agent.get(format!("{base}/missing")).call().unwrap());
        assert_eq!((code, support::error_code(&v).as_str()), (404, "not_found"));
        let health = support::read(agent.get(format!("{base}/health")).call().unwrap());
        assert_eq!(health, (200, json!({"status": "healthy", "peers": 3})));
    })
    .await
    .unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the bootnode stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn run_reports_a_port_it_cannot_bind() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = bootnode::run(addr, std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
