//! Errors as the UI receives them: `{code, message, details}` with stable codes.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl UiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }
}

impl From<kiosk_core::KioskError> for UiError {
    fn from(e: kiosk_core::KioskError) -> Self {
        let details = match &e {
            kiosk_core::KioskError::Api(access_client::ClientError::Api { details, .. }) => {
                details.clone()
            }
            kiosk_core::KioskError::LockedOut { retry_after_s } => {
                serde_json::json!({ "retry_after_s": retry_after_s })
            }
            _ => serde_json::Value::Null,
        };
        tracing::warn!(code = e.code(), "{e}");
        Self {
            code: e.code().into(),
            message: e.to_string(),
            details,
        }
    }
}

pub type UiResult<T> = Result<T, UiError>;
