//! The crate's integration tests, one binary: each test binary is a link of its own, and
//! links are most of a cold test build. One module per former file.

mod common;
mod eval_on_shared_data;
mod forged_answers;
mod kiosk_commands;
mod server_decides;
