//! JSON-RPC 2.0 at `POST /rpc`.

use axum::Router;

use super::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
}
