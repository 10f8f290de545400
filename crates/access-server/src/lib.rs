//! Access API server (`/v2/access`): OTP and face login, setup endpoints, webhooks, kiosk sync.
//!
//! `start` runs the whole server in-process (used by `main` and by the integration tests).

pub mod activity;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod biometric;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod delivery;
pub mod erasure;
pub mod error;
pub mod extract;
pub mod face;
mod face_attempts;
pub mod flows;
pub mod ids;
pub mod kiosks;
pub mod lockout;
pub mod messages;
pub mod metrics;
pub mod misc;
pub mod openapi;
pub mod operators;
pub mod otp;
pub mod outbound;
pub mod people;
pub mod pg;
pub mod policy;
pub mod rate;
pub mod retention;
pub mod revocation;
pub mod sealed;
pub mod sql;
pub mod state;
pub mod sync;
pub mod templates;
pub mod tls;
pub mod tokens;
pub mod validation;
pub mod vision_engine;
pub mod webhooks;

pub use app::{RunningServer, StartError, start};
pub use clock::{Clock, OffsetClock, SystemClock};
pub use config::ServerConfig;

use access_types::ApiSuccess;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// 200 with the success envelope.
pub fn ok<T: Serialize>(data: T, message: &str) -> Response {
    (StatusCode::OK, axum::Json(ApiSuccess::new(data, message))).into_response()
}

/// 201 with the success envelope.
pub fn created<T: Serialize>(data: T, message: &str) -> Response {
    (
        StatusCode::CREATED,
        axum::Json(ApiSuccess::new(data, message)),
    )
        .into_response()
}
