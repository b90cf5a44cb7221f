//! The one error shape every HTTP route answers with:
//! `{"error": {"code": "...", "message": "..."}}` and the fitting status.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::submission::WorkError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    /// An internal failure: logged in full, answered without details.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed; see the appliance log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        Self::new(status, code, r.body_text())
    }
}

/// A submission's workers refused (503) or failed (500, logged).
impl From<WorkError> for ApiError {
    fn from(e: WorkError) -> Self {
        match e {
            WorkError::Busy(message) => Self::busy(message),
            WorkError::Internal { what, reason } => Self::internal(what, reason),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}

/// `axum::Json` whose rejections answer in the API's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// The largest integer a query parameter takes: the protocol keeps every
/// integer below 2^53, and a larger one can name nothing stored.
pub const MAX_QUERY_INT: u64 = (1 << 53) - 1;

/// An unsigned integer query parameter, at most [`MAX_QUERY_INT`]: a
/// larger one is refused with 400 (`invalid_query`) before any handler or
/// the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInt(pub u64);

impl<'de> serde::Deserialize<'de> for QueryInt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v > MAX_QUERY_INT {
            return Err(serde::de::Error::custom(format!(
                "{v} is larger than {MAX_QUERY_INT}"
            )));
        }
        Ok(Self(v))
    }
}

/// Parses `query` (what follows `?`) as the query extractor does for a
/// route taking `T`: for the fuzz harnesses.
pub fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_query", "not a URI query"))?;
    Ok(axum::extract::Query::<T>::try_from_uri(&uri)?.0)
}

/// `axum::extract::Query` whose rejections answer in the API's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Answers unknown paths in the API's error shape.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_work_errors_answer_503_for_busy_and_500_for_internal() {
        let busy = ApiError::from(WorkError::Busy("the node is busy"));
        assert_eq!(busy, ApiError::busy("the node is busy"));
        let internal = ApiError::from(WorkError::Internal {
            what: "checking the transaction",
            reason: "a worker stopped".into(),
        });
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.code, "internal");
        assert_eq!(
            internal.message,
            "checking the transaction failed; see the appliance log"
        );
    }
}
