//! JSON-RPC 2.0 itself: a body's requests (one, or a batch), their ids,
//! the answers and the error codes. It knows no method: the methods'
//! parser is handed in ([`parse_envelope`]) and so are their outcomes
//! ([`write_replies`]).
//!
//! Request ids are echoed as sent (numbers keep their exact text, `1.10`
//! stays `1.10`); a request without an `id` member is a notification and is
//! never answered, not even with an error; an invalid request is always
//! answered, with its id if that id was a string, number or null, else
//! with null. A batch holds at most [`MAX_BATCH_REQUESTS`]; an empty or
//! oversized batch is answered with one -32600 error object, not an array.
//!
//! | code   | when                                                              |
//! |--------|-------------------------------------------------------------------|
//! | -32700 | the body is not JSON (id null)                                    |
//! | -32600 | not a request object, `jsonrpc` is not "2.0", `method` not a string, `params` neither array nor object, empty or oversized batch |
//! | -32601 | unknown method                                                    |
//! | -32602 | wrong params: count, block tag, hash, or not a signed transaction |
//! | -32603 | internal failure (details only in the appliance log)              |
//! | -32000 | `eth_sendTransaction` refused (an `ApiError` with a 4xx status: bad signature, unknown origin, closed election, double vote "already_voted", ...) |
//! | -32005 | `eth_sendTransaction` while the appliance is busy (HTTP 503 in the voter API); or a batch whose answers pass [`MAX_BATCH_REPLY_BYTES`] (the answers past it) |

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// The most requests one batch may hold; a larger batch is refused whole
/// with one -32600 error.
pub const MAX_BATCH_REQUESTS: usize = 100;
/// The most bytes of answers one batch collects. The first answer always
/// goes out (one block is bounded by the genesis' `max_block_txs`); an
/// answer that would pass the limit is replaced by a [`BUSY`] error
/// asking for a smaller batch.
pub const MAX_BATCH_REPLY_BYTES: usize = 16 << 20;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Server error: the transaction was refused.
pub const TX_REFUSED: i64 = -32000;
/// Server error (EIP-1474 "limit exceeded"): the appliance is busy.
pub const BUSY: i64 = -32005;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(super) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    pub(super) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// An internal failure: logged in full, answered without details.
    pub(super) fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {e}");
        Self::new(
            INTERNAL_ERROR,
            format!("{context} failed; see the appliance log"),
        )
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            v["data"] = data.clone();
        }
        v
    }
}

/// A request id as JSON text: a string, a number exactly as the client
/// wrote it, or null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(String);

impl Id {
    pub fn null() -> Self {
        Self("null".into())
    }

    /// The id member `v` of a request; `raw` is the same member as the
    /// client wrote it. `None` if `v` is not a valid id (an object, array
    /// or boolean).
    fn parse(v: &Value, raw: Option<&RawValue>) -> Option<Self> {
        match v {
            Value::Null => Some(Self::null()),
            Value::String(_) => Some(Self(v.to_string())),
            Value::Number(n) => {
                let exact = raw.map(RawValue::get).filter(|t| is_number_text(t));
                Some(Self(exact.map_or_else(|| n.to_string(), str::to_owned)))
            }
            _ => None,
        }
    }
}

/// Whether `text`, a JSON value serde_json has accepted, is a number.
fn is_number_text(text: &str) -> bool {
    text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// What one request comes to: a value, or an error.
pub type Outcome = Result<Value, RpcError>;

/// One response object.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: Id,
    pub outcome: Outcome,
}

impl Reply {
    fn error(id: Id, e: RpcError) -> Self {
        Self {
            id,
            outcome: Err(e),
        }
    }

    /// Written by hand so that a number id keeps the client's exact text.
    pub fn to_json(&self) -> String {
        let body = match &self.outcome {
            Ok(v) => format!("\"result\":{v}"),
            Err(e) => format!("\"error\":{}", e.to_value()),
        };
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{},{body}}}", self.id.0)
    }
}

/// A parsed body: one request or a batch, each call of type `C`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<C> {
    pub batch: bool,
    pub entries: Vec<Entry<C>>,
}

/// One request. `id: None` is a notification (never answered); an invalid
/// request always has `Some` id (null if it had none usable).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<C> {
    pub id: Option<Id>,
    pub call: Result<C, RpcError>,
}

impl<C> Entry<C> {
    fn invalid(id: Id, message: &str) -> Self {
        Self {
            id: Some(id),
            call: Err(RpcError::invalid_request(message)),
        }
    }
}

/// Reads a method's call from its name and params.
pub type ParseCall<C> = fn(&str, Option<&Value>) -> Result<C, RpcError>;

/// Parses a body, each request's call with `parse_call`; `Err` is the one
/// reply for a body that is not JSON or an empty or oversized batch.
pub fn parse_envelope<C>(body: &[u8], parse_call: ParseCall<C>) -> Result<Envelope<C>, Reply> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            Id::null(),
            RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
        )
    })?;
    let (batch, items) = match value {
        Value::Array(items) => (true, check_batch(items)?),
        v => (false, vec![v]),
    };
    let mut exact = exact_ids(body, batch, &items).into_iter();
    let entries = items
        .iter()
        .map(|v| parse_entry(v, exact.next().flatten(), parse_call))
        .collect();
    Ok(Envelope { batch, entries })
}

fn check_batch(items: Vec<Value>) -> Result<Vec<Value>, Reply> {
    let refuse = |m: String| Err(Reply::error(Id::null(), RpcError::invalid_request(m)));
    if items.is_empty() {
        return refuse("empty batch".into());
    }
    if items.len() > MAX_BATCH_REQUESTS {
        return refuse(format!(
            "batch of {} requests; at most {MAX_BATCH_REQUESTS} are allowed",
            items.len()
        ));
    }
    Ok(items)
}

/// Each request's `id` member as the client wrote it (`Value` rounds
/// numbers: `1.10` reads as `1.1`), by request; empty when no id is a
/// number. Read with serde_json's `RawValue` from the body it has already
/// accepted, which, as `Value` does, unescapes member names and keeps the
/// last of duplicate members.
fn exact_ids<'a>(body: &'a [u8], batch: bool, items: &[Value]) -> Vec<Option<&'a RawValue>> {
    if !items
        .iter()
        .any(|v| v.get("id").is_some_and(Value::is_number))
    {
        return Vec::new();
    }
    let requests: Vec<&RawValue> = if batch {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        serde_json::from_slice(body).map_or_else(|_| Vec::new(), |r| vec![r])
    };
    requests
        .into_iter()
        .map(|r| {
            let members: BTreeMap<String, &RawValue> = serde_json::from_str(r.get()).ok()?;
            members.get("id").copied()
        })
        .collect()
}

/// One request object; `raw_id` is its id member as written.
fn parse_entry<C>(v: &Value, raw_id: Option<&RawValue>, parse_call: ParseCall<C>) -> Entry<C> {
    let Value::Object(obj) = v else {
        return Entry::invalid(Id::null(), "a request must be a JSON object");
    };
    let id = match obj.get("id").map(|i| Id::parse(i, raw_id)) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => {
            return Entry::invalid(Id::null(), "id must be a string, a number or null");
        }
    };
    match check_shape(obj) {
        Ok((method, params)) => Entry {
            id,
            call: parse_call(method, params),
        },
        Err(e) => Entry {
            id: Some(id.unwrap_or_else(Id::null)),
            call: Err(e),
        },
    }
}

/// `jsonrpc`, `method` and `params` of a request object.
fn check_shape(obj: &Map<String, Value>) -> Result<(&str, Option<&Value>), RpcError> {
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::invalid_request(r#"jsonrpc must be "2.0""#));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Err(RpcError::invalid_request("method must be a string"));
    };
    let params = obj.get("params");
    if params.is_some_and(|p| !p.is_array() && !p.is_object()) {
        return Err(RpcError::invalid_request(
            "params must be an array or an object",
        ));
    }
    Ok((method, params))
}

/// The answer to every entry that is not a notification, in order: an
/// invalid request's error, else `answer(index, call)`. One object, or an
/// array for a batch; `None` when nothing is to be answered. Past `cap`
/// bytes of answers (the first always goes out), an answer is replaced by
/// a [`BUSY`] error.
pub fn write_replies<C>(
    env: &Envelope<C>,
    cap: usize,
    mut answer: impl FnMut(usize, &C) -> Outcome,
) -> Option<String> {
    let mut total = 0usize;
    let mut replies = Vec::new();
    for (i, e) in env.entries.iter().enumerate() {
        let Some(id) = &e.id else { continue };
        let outcome = match &e.call {
            Err(err) => Err(err.clone()),
            Ok(call) => answer(i, call),
        };
        let mut text = Reply {
            id: id.clone(),
            outcome,
        }
        .to_json();
        if total > 0 && total.saturating_add(text.len()) > cap {
            text = Reply::error(id.clone(), too_large()).to_json();
        }
        total = total.saturating_add(text.len());
        replies.push(text);
    }
    if env.batch {
        (!replies.is_empty()).then(|| format!("[{}]", replies.join(",")))
    } else {
        replies.into_iter().next()
    }
}

fn too_large() -> RpcError {
    RpcError::new(
        BUSY,
        format!("the batch's answers pass {MAX_BATCH_REPLY_BYTES} bytes; send a smaller batch"),
    )
}
