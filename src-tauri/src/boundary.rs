//! What crosses to the webview: the commands' argument and answer types that are the app's
//! own (kiosk-core's `PreviewFrame`, `SyncStatus`, `LiveSettings`, `SettingsFile`,
//! `CapturedSample`, `Decision`, `Mode` and `EnrolmentState` cross as they are). The UI's
//! TypeScript types in `ui/src/lib/bindings/` are generated from all of them by ts-rs; the
//! tests below check the committed files are current.
//!
//! The access token never crosses: no type here has a field for it, and `FaceResult` is
//! built from the engine's answer by naming every field, the token to drop it.

use kiosk_core::{Decision, EnrolmentState, Mode};
use serde::Serialize;

/// What the UI needs to start.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UiConfig {
    pub methods: Methods,
    pub online: bool,
    pub kiosk_id: String,
    /// Seconds without a touch before the UI goes back home.
    pub idle_reset_s: u64,
    /// The first language (`en`, `es`); the UI keeps its own when it does not know this one.
    pub locale: String,
}

/// The sign-in methods this kiosk offers (codes need an Access API).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Methods {
    pub face: bool,
    pub email: bool,
    pub sms: bool,
    pub whatsapp: bool,
}

/// A face sign-in's answer, as the UI sees it: the engine's, without the access token.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FaceResult {
    pub decision: Decision,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub score: Option<f32>,
    pub liveness: Option<f32>,
    pub mode: Mode,
    /// Why it was rejected or must be retried: a quality hint code, `NO_MATCH`,
    /// `LIVENESS_FAILED`, `NOT_ENROLLED`...
    pub reason: Option<String>,
    /// Quality hint codes for a retry.
    pub guidance: Vec<String>,
    pub frames: usize,
    /// Failed attempts so far.
    pub failures: u32,
}

impl From<kiosk_core::FaceSignIn> for FaceResult {
    fn from(s: kiosk_core::FaceSignIn) -> Self {
        // Every field named: one added to the engine's answer must be placed here (or dropped
        // here, like the token) before this compiles.
        let kiosk_core::FaceSignIn {
            decision,
            user_id,
            name,
            score,
            liveness,
            mode,
            access_token: _,
            reason,
            guidance,
            frames,
            failures,
        } = s;
        Self {
            decision,
            user_id,
            name,
            score,
            liveness,
            mode,
            reason,
            guidance: guidance.iter().map(|g| g.code().to_string()).collect(),
            frames,
            failures,
        }
    }
}

/// How a one-time code is sent, and where its validation stands: the API's own types (their
/// TypeScript names are `OtpChannel` and `OtpStatus`).
pub use access_types::{Channel as OtpChannel, ValidationStatus as OtpStatus};

/// A code on its way.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OtpSent {
    pub validation_id: String,
    pub status: OtpStatus,
    /// RFC 3339.
    pub expires_at: String,
    pub channel: OtpChannel,
    pub attempts_remaining: u32,
    /// True when this send replaced the code of a still-pending validation.
    pub resent: bool,
}

/// A code accepted (the token it earned stays in the shell).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OtpVerified {
    pub validation_id: String,
    pub status: OtpStatus,
}

/// A person enrolled from the draft.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EnrolSaved {
    pub user_id: String,
    pub samples: usize,
    pub state: EnrolmentState,
}

impl From<kiosk_core::Enrolment> for EnrolSaved {
    fn from(e: kiosk_core::Enrolment) -> Self {
        Self {
            user_id: e.user_id,
            samples: e.samples,
            state: e.state,
        }
    }
}

/// A person this kiosk knows.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UserRow {
    pub user_id: String,
    pub name: Option<String>,
    pub templates: u32,
    /// RFC 3339.
    pub created_at: String,
}

/// This kiosk after pairing: who the server knows it as.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Paired {
    pub kiosk_id: String,
    pub project_id: String,
    pub name: String,
}

impl From<access_types::kiosk_identity::PairedKiosk> for Paired {
    fn from(p: access_types::kiosk_identity::PairedKiosk) -> Self {
        Self {
            kiosk_id: p.kiosk_id,
            project_id: p.project_id,
            name: p.name,
        }
    }
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Deleted {
    /// False when there was no such person.
    pub deleted: bool,
}

#[cfg(test)]
mod bindings {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ts_rs::TS;

    use super::*;
    use crate::error::UiError;

    const REGENERATE: &str = "cargo test -p access-kiosk-app export_bindings -- --ignored";

    fn committed() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings")
    }

    /// Writes every type the UI sees, with the types they use, into `dir`.
    fn export(dir: &Path) {
        // JSON numbers: the UI's counts and seconds fit a double.
        let cfg = ts_rs::Config::new()
            .with_out_dir(dir)
            .with_large_int("number");
        let all = [
            UiConfig::export_all,
            FaceResult::export_all,
            OtpChannel::export_all,
            OtpSent::export_all,
            OtpVerified::export_all,
            EnrolSaved::export_all,
            UserRow::export_all,
            Deleted::export_all,
            Paired::export_all,
            UiError::export_all,
            kiosk_core::live::PreviewFrame::export_all,
            kiosk_core::SyncStatus::export_all,
            kiosk_core::LiveSettings::export_all,
            kiosk_core::SettingsFile::export_all,
            kiosk_core::CapturedSample::export_all,
        ];
        for export_all in all {
            export_all(&cfg).expect("exporting the UI's types");
        }
    }

    fn read_dir(dir: &Path) -> BTreeMap<String, String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return BTreeMap::new();
        };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ts"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect()
    }

    /// Regenerates ui/src/lib/bindings (run it after changing a type the UI sees, and commit
    /// the result).
    #[test]
    #[ignore = "writes ui/src/lib/bindings; bindings_are_current checks them"]
    fn export_bindings() {
        let dir = committed();
        for name in read_dir(&dir).keys() {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        export(&dir);
    }

    #[test]
    fn bindings_are_current() {
        let fresh_dir = std::env::temp_dir().join(format!("kiosk-bindings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&fresh_dir);
        export(&fresh_dir);
        let fresh = read_dir(&fresh_dir);
        std::fs::remove_dir_all(&fresh_dir).unwrap();
        let have = read_dir(&committed());
        let mut wrong = Vec::new();
        for (name, text) in &fresh {
            match have.get(name) {
                None => wrong.push(format!("{name} is missing")),
                Some(t) if t != text => wrong.push(format!("{name} differs")),
                Some(_) => {}
            }
        }
        wrong.extend(
            have.keys()
                .filter(|n| !fresh.contains_key(*n))
                .map(|n| format!("{n} is not generated any more")),
        );
        assert!(
            wrong.is_empty(),
            "ui/src/lib/bindings is not what the Rust types generate ({}): run `{REGENERATE}` \
             and commit the result",
            wrong.join(", ")
        );
    }

    #[test]
    fn the_access_token_never_crosses() {
        for text in read_dir(&committed()).values() {
            assert!(!text.contains("access_token"), "{text}");
        }
    }
}
