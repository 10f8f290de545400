//! Errors as the UI receives them: `{code, message, details}`, every one from the engine's
//! one error enum (`kiosk_core::KioskError`: its stable code, its message, its details).

use serde::Serialize;

/// A command's error: a stable code (the UI's message key), the engine's message, details.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UiError {
    /// One of the engine's codes (`kiosk_core::KioskCode`), the UI's message key.
    pub code: kiosk_core::KioskCode,
    pub message: String,
    /// The API's details object, the seconds to wait (`retry_after_s`), a refused sample's
    /// `quality` and `guidance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "Record<string, unknown>"))]
    pub details: Option<serde_json::Value>,
}

impl From<kiosk_core::KioskError> for UiError {
    fn from(e: kiosk_core::KioskError) -> Self {
        tracing::warn!(code = e.code(), "{e}");
        Self {
            code: e.code_enum(),
            message: e.to_string(),
            details: e.details(),
        }
    }
}

pub type UiResult<T> = Result<T, UiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_error_keeps_its_code_message_and_details() {
        let e = UiError::from(kiosk_core::KioskError::LockedOut { retry_after_s: 30 });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "LOCKED_OUT");
        assert!(v["message"].as_str().unwrap().contains("30 s"));
        assert_eq!(v["details"]["retry_after_s"], 30);
        let v = serde_json::to_value(UiError::from(kiosk_core::KioskError::AdminRequired)).unwrap();
        assert_eq!(v["code"], "ADMIN_REQUIRED");
        assert!(v.get("details").is_none(), "{v}");
    }
}
