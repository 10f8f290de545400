//! The crate's integration tests, one binary: each test binary is a link of its own, and
//! links are most of a cold test build. One module per former file.

mod auth_input;
mod biometric;
mod biometric_fakes;
mod cli;
mod common;
mod console;
mod console_browser;
mod deb;
mod delivery;
mod erasure_and_policy;
mod face_decisions;
mod hostile;
mod ops;
mod otp;
mod plans;
mod replicas;
mod setup_webhooks_sync;
mod store_tls;
