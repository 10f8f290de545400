//! `access-server serve | token`.

use cli_output::outln;
use std::path::PathBuf;
use std::sync::Arc;

use access_server::auth::{Keys, parse_ttl};
use access_server::clock::{Clock, SystemClock};
use access_server::config::{self, ServeFlags};
use access_server::db::Db;
use access_server::{ServerConfig, start};
use access_types::ApiScope;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "access-server",
    version,
    about = "Access API server (/v2/access)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server.
    Serve(ServeFlags),
    /// Print a bearer JWT for the API.
    Token {
        #[arg(long, env = "ACCESS_DB")]
        db: PathBuf,
        #[arg(long)]
        subject: String,
        #[arg(long, value_parser = ["admin", "kiosk"])]
        scope: String,
        /// e.g. 30d, 12h, 15m
        #[arg(long, default_value = "30d")]
        ttl: String,
        #[arg(long, env = "ACCESS_ISSUER", default_value = "access-server")]
        issuer: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Token {
            db,
            subject,
            scope,
            ttl,
            issuer,
        } => {
            let scope = ApiScope::parse(&scope).context("scope must be admin or kiosk")?;
            let Some(ttl) = parse_ttl(&ttl) else {
                bail!("invalid --ttl {ttl:?} (e.g. 30d, 12h)")
            };
            let db = Db::open(&db)?;
            let now = SystemClock.now_ms();
            let keys = Keys::load_or_create(&db, &issuer, now)?;
            outln!("{}", keys.issue_api_token(&subject, scope, ttl, now)?);
            Ok(())
        }
        Cmd::Serve(flags) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,tower_http=info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let cfg = ServerConfig::load(&flags, &config::environment())?;
            if cfg.dev_outbox {
                tracing::warn!("dev outbox on: OTP codes are stored and readable over HTTP");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let server = start(cfg, Arc::new(SystemClock), None).await?;
                // A server keeps serving when nobody reads its stdout any more.
                {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stdout().lock(), "listening on {}", server.addr);
                }
                shutdown_signal().await;
                tracing::info!("shutting down");
                if tokio::time::timeout(access_server::app::SHUTDOWN_GRACE, server.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!("graceful shutdown timed out");
                }
                anyhow::Ok(())
            })
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
