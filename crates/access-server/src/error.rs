//! The error envelope every handler answers with.

use access_types::{ApiErrorBody, ErrorCode, IdentifierError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error: becomes `{"success":false,"error":..,"code":..,"details":..}` with the code's
/// HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "internal error")
    }
    pub fn rate_limited(retry_after_s: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, "too many requests, retry later")
            .with_details(json!({ "retry_after_s": retry_after_s }));
        e.retry_after = Some(retry_after_s);
        e
    }
}

/// A refused email / phone / code / user id: its own code (`INVALID_EMAIL`, `INVALID_PHONE`,
/// `INVALID_OTP_FORMAT`, ...) and `details.reason`. The value itself is not echoed.
impl From<IdentifierError> for ApiError {
    fn from(e: IdentifierError) -> Self {
        ApiError::new(e.code(), e.to_string()).with_details(json!({ "reason": e.reason() }))
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        crate::sql::SqlError::from(e).into()
    }
}

impl From<crate::sql::SqlError> for ApiError {
    fn from(e: crate::sql::SqlError) -> Self {
        // The detail goes to the log only; the client learns nothing about the schema.
        tracing::error!(error = %e, "database error");
        ApiError::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ApiErrorBody {
            success: false,
            error: self.message,
            code: self.code,
            details: self.details,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        crate::metrics::mark(&mut resp, self.code);
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
