//! The three doors and the server behind each: which routes a door serves,
//! and the limits that keep a flood at one door from reaching the others.
//!
//! - The **public door** (`listen`): voters, observers and JSON-RPC.
//! - The **peer door** (`peer_listen`): the peer protocol between
//!   appliances of the genesis.
//! - The **operator door** (`admin_listen`, loopback by default): the
//!   admin API and metrics.
//!
//! Each door has its own listener and its own [`DoorLimits`]: open
//! connections (past the cap a new connection is closed at once),
//! connections per client address, and of those the ones that have not
//! sent a request yet, the time a client may take to send a
//! request's headers (also the idle time allowed between two requests on a
//! kept connection: slowloris), the time a whole request may take, the
//! request body and the header bytes. A door's connections never count
//! against another's. The public and operator doors speak TLS when they
//! have a certificate (`tls.rs`); the handshake has the header timeout.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

use super::error::{ApiError, not_found};
use super::tls::DoorCert;
use super::{SharedState, admin, api, metrics, p2p, pages, peer_auth, rpc, seeds, tally};

/// Largest request body of the voter API and JSON-RPC.
pub const API_BODY_LIMIT: usize = 256 * 1024;
/// How long one request may take before it is answered 408 (the bootnode's
/// and the public door's).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's headers, and how long a
/// kept connection may sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Header bytes a request may carry (hyper's read buffer; past it the
/// request is refused). Hyper also caps a request at 100 headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long in-flight requests may finish after a shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A door's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorLimits {
    /// The door's name in logs.
    pub name: &'static str,
    /// Open connections at once; past it a new connection is closed.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_per_client: usize,
    /// Connections from one client address that have not yet sent a whole
    /// request's headers (nor finished the TLS handshake, at a TLS door):
    /// what slowloris holds. A connection counts here until its first
    /// request arrives, then only against `max_per_client`.
    pub max_waiting_per_client: usize,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// A whole request, body included, until its answer starts.
    pub request_timeout: Duration,
    /// The largest request body a route takes unless it sets its own.
    pub body_limit: usize,
}

/// Open connections the public door takes from one client address unless
/// the configuration says otherwise (`max_connections_per_client`). A
/// polling station's kiosks behind one NAT address, or the seeds' backend
/// speaking for many voters, open hundreds of connections from one
/// address, each sending its request at once: by default up to half the
/// door's connections may come from one address.
pub const PUBLIC_CONNECTIONS_PER_CLIENT: usize = 1_024;

/// Voters, observers, JSON-RPC. Slowloris connections never finish their
/// headers: one address holds at most 64 of those, and each at most
/// [`HEADER_TIMEOUT`], whatever its cap on open connections.
pub const PUBLIC_DOOR: DoorLimits = DoorLimits {
    name: "public",
    max_connections: 2_048,
    max_per_client: PUBLIC_CONNECTIONS_PER_CLIENT,
    max_waiting_per_client: 64,
    header_timeout: HEADER_TIMEOUT,
    request_timeout: REQUEST_TIMEOUT,
    body_limit: API_BODY_LIMIT,
};

/// The public door's limits with `per_client` open connections per client
/// address (the configuration's `max_connections_per_client`; `None`:
/// [`PUBLIC_CONNECTIONS_PER_CLIENT`]): from 1 to the door's whole cap.
pub fn public_door(per_client: Option<usize>) -> Result<DoorLimits, String> {
    let max_per_client = per_client.unwrap_or(PUBLIC_CONNECTIONS_PER_CLIENT);
    if !(1..=PUBLIC_DOOR.max_connections).contains(&max_per_client) {
        return Err(format!(
            "max_connections_per_client = {max_per_client}: must be from 1 to {}, the public \
             door's connections in all",
            PUBLIC_DOOR.max_connections
        ));
    }
    Ok(DoorLimits {
        max_per_client,
        ..PUBLIC_DOOR
    })
}

/// Other appliances of the genesis: a few connections each. Bodies past
/// the small default are read only once the sender proved who it is.
pub const PEER_DOOR: DoorLimits = DoorLimits {
    name: "peer",
    max_connections: 256,
    max_per_client: 64,
    max_waiting_per_client: 32,
    header_timeout: HEADER_TIMEOUT,
    request_timeout: Duration::from_secs(60),
    body_limit: API_BODY_LIMIT,
};

/// Operators: the admin API and metrics (a refresh polls every peer).
pub const OPERATOR_DOOR: DoorLimits = DoorLimits {
    name: "operator",
    max_connections: 64,
    max_per_client: 32,
    max_waiting_per_client: 16,
    header_timeout: HEADER_TIMEOUT,
    request_timeout: Duration::from_secs(60),
    body_limit: API_BODY_LIMIT,
};

/// The public door: the voter API, results and tallies, the chain for
/// observers (`/blockchain`, and the peer protocol's read-only pages that
/// `evote-audit` reads), JSON-RPC. Screens for voters and the public mount
/// here.
pub fn public_router(state: SharedState) -> Router {
    let routes = Router::new()
        .merge(api::routes())
        .merge(rpc::routes())
        .merge(seeds::routes())
        .merge(pages::public_routes())
        .merge(tally::routes())
        .merge(admin::public_routes())
        .merge(p2p::observer_routes());
    finish(routes, &PUBLIC_DOOR, state)
}

/// The peer door: the whole peer protocol, heard only from appliances of
/// the genesis that signed their request (`peer_auth::require_peer`, which
/// checks the headers before any of the body is read).
pub fn peer_router(state: SharedState) -> Router {
    let guard = axum::middleware::from_fn_with_state(state.clone(), peer_auth::require_peer);
    let routes = Router::new()
        .merge(p2p::routes().layer(guard))
        .route("/health", axum::routing::get(api::health));
    finish(routes, &PEER_DOOR, state)
}

/// The operator door: the admin API and metrics. The poll workers' and
/// operators' screens mount here.
pub fn operator_router(state: SharedState) -> Router {
    let routes = Router::new()
        .route("/health", axum::routing::get(api::health))
        .merge(admin::routes())
        .merge(pages::operator_routes())
        .merge(metrics::routes());
    finish(routes, &OPERATOR_DOOR, state)
}

/// Adds what every door answers alike: the error shape for unknown paths
/// and methods, the body limit and the request timeout.
fn finish(routes: Router<SharedState>, limits: &DoorLimits, state: SharedState) -> Router {
    routes
        .fallback(drained_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(close_after))
        .with_state(state)
}

/// A request body that notes when it has been read to its end.
struct Watched {
    body: axum::body::Body,
    read: Arc<AtomicBool>,
}

impl hyper::body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read.store(true, Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// How long a 429 is held before it is sent. A client refused for going
/// too fast that asks again at once (a login flood's loop) would cost the
/// appliance a connection, a request and an answer per try, as fast as the
/// client can loop, on the cores voters need; held, each of its
/// connections asks at most once per hold and waits on a timer, which
/// costs nothing. A person told "try again in N s" does not notice it.
pub const TOO_FAST_HOLD: Duration = Duration::from_secs(1);

/// Answers after which the server closes the connection: a client
/// refused for who it is (401) or for going too fast (429) opens a new
/// connection for its next try, which the door's connection caps and the
/// TLS handshake count, instead of going on with guesses on a kept one.
fn closes_connection(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    )
}

/// Marks `resp` so that the server closes its connection after it (hyper
/// keeps no connection alive whose answer says `connection: close`).
fn close(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Says `connection: close` on a 401 or 429 ([`closes_connection`]) and on
/// an answer given before the request's body was read to its end (a 401
/// from the peer door's signature check, a 413, a 415, a 408): the server
/// closes such a connection after the answer (the rest of the body would
/// be read as the next request), and a client told so opens a new one for
/// its next request instead of failing it on this one. A 429 is sent
/// only after [`TOO_FAST_HOLD`].
async fn close_after(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use hyper::body::Body as _;
    let (parts, body) = req.into_parts();
    let read = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = if body.is_end_stream() {
        body
    } else {
        axum::body::Body::new(Watched {
            body,
            read: read.clone(),
        })
    };
    let resp = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    if resp.status() == StatusCode::TOO_MANY_REQUESTS {
        tokio::time::sleep(TOO_FAST_HOLD).await;
    }
    if !read.load(Ordering::Relaxed) || closes_connection(resp.status()) {
        close(resp)
    } else {
        resp
    }
}

/// The unread body a refusal for a wrong path or method reads and drops,
/// so that the client's kept connection stays usable (the server closes a
/// connection whose request body is left unread). Past it the connection
/// is closed.
pub const DRAIN_LIMIT: usize = 16 * 1024;

async fn drain(body: axum::body::Body) {
    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
}

async fn drained_not_found(body: axum::body::Body) -> ApiError {
    drain(body).await;
    not_found().await
}

async fn method_not_allowed(body: axum::body::Body) -> ApiError {
    drain(body).await;
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that HTTP method",
    )
}

/// The peer address of a request's connection, for per-client limits.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Open connections, in all and per client address.
struct Slots {
    total: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, ClientConns>>,
    limits: DoorLimits,
}

/// One client address's connections: open, and of those still waiting
/// for their first request.
#[derive(Default)]
struct ClientConns {
    open: usize,
    waiting: usize,
}

/// One open connection's place; given back when the connection closes.
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
    waiting: AtomicBool,
    _total: OwnedSemaphorePermit,
}

impl Slots {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let mut map = self.clients();
        let n = map.entry(ip).or_default();
        if n.open >= self.limits.max_per_client || n.waiting >= self.limits.max_waiting_per_client {
            return None;
        }
        n.open += 1;
        n.waiting += 1;
        Some(Slot {
            slots: self.clone(),
            ip,
            waiting: AtomicBool::new(true),
            _total: total,
        })
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, ClientConns>> {
        self.per_client.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Slot {
    /// The connection's first request arrived: it no longer counts as
    /// waiting.
    fn arrived(&self) {
        if self.waiting.swap(false, Ordering::Relaxed) {
            let mut map = self.slots.clients();
            if let Some(n) = map.get_mut(&self.ip) {
                n.waiting -= 1;
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let was_waiting = self.waiting.load(Ordering::Relaxed);
        let mut map = self.slots.clients();
        if let Some(n) = map.get_mut(&self.ip) {
            n.open -= 1;
            n.waiting -= usize::from(was_waiting);
            if n.open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits`, over TLS with `tls`'s
/// certificate when given, until `shutdown` completes, then lets in-flight
/// requests finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: DoorLimits,
    tls: Option<Arc<DoorCert>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Slots {
        total: Arc::new(Semaphore::new(limits.max_connections)),
        per_client: Mutex::new(HashMap::new()),
        limits,
    });
    let tls = tls.map(|cert| TlsAcceptor::from(cert.server_config()));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Accept errors (e.g. out of file descriptors) are passing:
                // wait a little and go on accepting, never stop for good.
                Err(e) => {
                    tracing::warn!(door = limits.name, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.take(addr.ip()) else {
            // Full, or this client holds its share: closed at once, so that
            // a flood costs a file descriptor for a moment and no more.
            tracing::debug!(door = limits.name, client = %addr, "connection refused: over the cap");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = Arc::new(slot);
        let (app, tls, watcher) = (app.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let served = match tls {
                None => connection(stream, addr, app, &limits, slot.clone(), watcher).await,
                // The handshake counts as waiting and has the header
                // timeout: a client that never finishes it is dropped.
                Some(tls) => {
                    match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, addr, app, &limits, slot.clone(), watcher).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(door = limits.name, client = %addr, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(door = limits.name, client = %addr, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(client = %addr, "connection ended: {e}");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(door = limits.name, "requests still running at shutdown were cut");
        }
    }
    Ok(())
}

/// One HTTP/1.1 connection with the door's header timeout and header
/// size, watched for a graceful shutdown; its first request frees its
/// place among the client's waiting connections.
async fn connection<I>(
    io: I,
    addr: SocketAddr,
    app: Router,
    limits: &DoorLimits,
    slot: Arc<Slot>,
    watcher: Watcher,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        slot.arrived();
        req.extensions_mut().insert(ConnectInfo(ClientAddr(addr)));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    watcher.watch(conn).await
}
