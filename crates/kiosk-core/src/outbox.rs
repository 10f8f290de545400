//! What waits in the outbox for the network, typed. The store seals each item's JSON; these
//! types are its only writers and readers, so a field is never read back as
//! `payload["x"].as_str().unwrap_or(..)`. Their field names are a stored format (items queued
//! by an older kiosk must still send): rename nothing.

use serde::{Deserialize, Serialize};

/// An offline decision, signed with the kiosk's Ed25519 device key as
/// `access_types::OfflineEvent::signing_input` says (the one owner of that format: the server
/// verifies with the same function).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The event's id, signed with it (items queued before ids were signed have none: the
    /// server refuses those as wrongly signed, and they are dropped with an audit entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The kiosk id it was signed as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk_id: Option<String>,
    /// `sign_in` or `sign_in_failed`.
    pub kind: String,
    pub project_id: String,
    /// RFC 3339, when the decision was made (not when it is sent).
    pub occurred_at: String,
    pub user_id: Option<String>,
    /// The decision's details (decision, score, liveness, reason): the event's payload.
    pub body: serde_json::Value,
    /// Base64url Ed25519 signature.
    pub signature: String,
    /// Base64 raw Ed25519 public key (kept for items queued by older kiosks; the server uses
    /// the key registered at pairing, never this).
    #[serde(default)]
    pub device_public_key: String,
}

impl SignedEvent {
    /// The wire event, as signed.
    pub fn to_wire(&self, fallback_id: &str) -> access_types::OfflineEvent {
        access_types::OfflineEvent {
            event_id: self
                .event_id
                .clone()
                .unwrap_or_else(|| fallback_id.to_string()),
            kind: self.kind.clone(),
            project_id: self.project_id.clone(),
            occurred_at: self.occurred_at.clone(),
            user_id: self.user_id.clone(),
            payload: self.body.clone(),
            signature: Some(self.signature.clone()),
        }
    }
}

/// One enrolment sample for `register-face`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceUpload {
    pub user_id: String,
    pub project_id: String,
    /// Base64 JPEG.
    pub face_image: String,
    /// The local template this sample made, to link the server's id to it.
    pub local_template_id: Option<i64>,
    /// RFC 3339, when the sample was taken (items queued by older kiosks have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
    /// A camera's or a trusted file's (items queued by older kiosks say neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<access_types::EnrolSource>,
}

/// A person erased at this kiosk, for `DELETE /biometric/users/{user_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub user_id: String,
    pub project_id: String,
    /// RFC 3339, when the administrator erased them here.
    pub erased_at: String,
}

/// An outbox item: its kind is the store's `kind` column, its body the sealed payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Queued {
    Event(SignedEvent),
    RegisterFace(FaceUpload),
    EraseUser(Erasure),
}

/// Why a stored item could not be read back (a newer kiosk's kind, or damage).
#[derive(Debug, thiserror::Error)]
pub enum UnreadableItem {
    #[error("unknown outbox item kind {0:?}")]
    UnknownKind(String),
    #[error("outbox item of kind {kind} is malformed: {source}")]
    Malformed {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Queued {
    pub const EVENT: &'static str = "event";
    pub const REGISTER_FACE: &'static str = "register_face";
    pub const ERASE_USER: &'static str = "erase_user";

    /// The store's `kind` column for this item.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Event(_) => Self::EVENT,
            Self::RegisterFace(_) => Self::REGISTER_FACE,
            Self::EraseUser(_) => Self::ERASE_USER,
        }
    }

    /// The payload the store seals.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            Self::Event(e) => serde_json::to_value(e),
            Self::RegisterFace(u) => serde_json::to_value(u),
            Self::EraseUser(e) => serde_json::to_value(e),
        }
        // Plain structs of strings, numbers and JSON values always serialise.
        .unwrap_or_default()
    }

    /// Reads a stored item back.
    pub fn read(kind: &str, payload: &serde_json::Value) -> Result<Self, UnreadableItem> {
        let malformed = |kind| move |source| UnreadableItem::Malformed { kind, source };
        match kind {
            Self::EVENT => serde_json::from_value(payload.clone())
                .map(Self::Event)
                .map_err(malformed(Self::EVENT)),
            Self::REGISTER_FACE => serde_json::from_value(payload.clone())
                .map(Self::RegisterFace)
                .map_err(malformed(Self::REGISTER_FACE)),
            Self::ERASE_USER => serde_json::from_value(payload.clone())
                .map(Self::EraseUser)
                .map_err(malformed(Self::ERASE_USER)),
            other => Err(UnreadableItem::UnknownKind(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_queued_by_the_previous_kiosk_still_read() {
        // The exact JSON the kiosk queued before these types existed.
        let old_event = serde_json::json!({
            "kind": "sign_in", "project_id": "prj_1", "occurred_at": "2026-11-01T10:00:00Z",
            "user_id": "obama", "body": {"decision": "accepted", "score": 0.8},
            "signature": "c2ln", "device_public_key": "a2V5",
        });
        let q = Queued::read("event", &old_event).unwrap();
        assert_eq!(q.kind(), "event");
        assert_eq!(q.payload(), old_event, "round trip keeps the stored format");
        let old_upload = serde_json::json!({
            "user_id": "ada", "project_id": "prj_1", "face_image": "/9j/", "local_template_id": 7,
        });
        let q = Queued::read("register_face", &old_upload).unwrap();
        assert_eq!(q.payload(), old_upload);
        assert!(matches!(
            Queued::read("delete_user", &old_upload),
            Err(UnreadableItem::UnknownKind(_))
        ));
        assert!(matches!(
            Queued::read("event", &old_upload),
            Err(UnreadableItem::Malformed { .. })
        ));
    }
}
