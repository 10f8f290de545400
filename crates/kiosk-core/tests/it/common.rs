//! The shared fixtures live in `crates/test-support` (the in-process server, temp dirs, the
//! shared photos, the fake face engines); here only what is the kiosk's own.
#![allow(dead_code, unused_imports)]

use std::path::Path;

pub use test_support::*;

use kiosk_core::{Kiosk, KioskConfig};

/// The administrator PIN [`kiosk`] and [`fake_kiosk`] set.
pub const PIN: &str = "246810";

/// A kiosk keeping its data in `dir`, pointed at `server` and its project, with a one-time
/// pairing code (it pairs itself at its first sync, as a provisioned kiosk does).
pub fn kiosk_config(server: &TestServer, dir: &Path) -> KioskConfig {
    let mut cfg = KioskConfig::new(dir);
    cfg.api_url = Some(server.base_url());
    cfg.pairing_code = Some(server.new_pairing_code(server.project()));
    cfg.project_id = Some(server.project().to_string());
    cfg.api_timeout = std::time::Duration::from_secs(5);
    cfg
}

fn with_pin(k: Kiosk) -> Kiosk {
    k.set_admin_pin(None, PIN).expect("the admin PIN is set");
    k
}

/// A kiosk on the real models, its admin PIN [`PIN`].
pub fn kiosk(cfg: KioskConfig) -> Kiosk {
    with_pin(Kiosk::open(cfg).expect("kiosk opens"))
}

/// A kiosk on the fake engines (no ONNX Runtime, no model files), its admin PIN [`PIN`].
pub fn fake_kiosk(cfg: KioskConfig, fakes: &FakeFaces) -> Kiosk {
    with_pin(Kiosk::open_with_pipeline(cfg, fakes.pipeline()).expect("kiosk opens"))
}
