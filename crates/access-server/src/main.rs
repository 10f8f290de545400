//! `access-server serve | token`.

use cli_output::outln;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use access_server::auth::{Keys, parse_ttl};
use access_server::clock::{Clock, SystemClock};
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
    Serve {
        /// TOML config file; flags and env vars override it.
        #[arg(long, env = "ACCESS_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "ACCESS_ADDR")]
        addr: Option<SocketAddr>,
        #[arg(long, env = "ACCESS_DB")]
        db: Option<PathBuf>,
        /// Keep OTP messages and serve GET /v2/access/dev/outbox. Development only.
        #[arg(long, env = "ACCESS_DEV_OUTBOX")]
        dev_outbox: bool,
        /// Do not load the face models.
        #[arg(long, env = "ACCESS_NO_VISION")]
        no_vision: bool,
    },
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
        Cmd::Serve {
            config,
            addr,
            db,
            dev_outbox,
            no_vision,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,tower_http=info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let mut cfg = match config {
                Some(p) => ServerConfig::from_toml_file(&p)?,
                None => ServerConfig::default(),
            };
            if let Some(a) = addr {
                cfg.addr = a;
            }
            if let Some(d) = db {
                cfg.db = d;
            }
            cfg.dev_outbox |= dev_outbox;
            if no_vision {
                cfg.vision.enabled = false;
            }
            if let Ok(hosts) = std::env::var("ACCESS_OUTBOUND_ALLOW") {
                cfg.outbound_allow.extend(
                    hosts
                        .split(',')
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(String::from),
                );
            }
            // Secrets preferably come from the environment, not the config file.
            if let (Some(smtp), Ok(pw)) = (cfg.smtp.as_mut(), std::env::var("ACCESS_SMTP_PASSWORD"))
            {
                smtp.password = Some(pw);
            }
            if let (Some(sms), Ok(tok)) = (cfg.sms.as_mut(), std::env::var("ACCESS_SMS_AUTH_TOKEN"))
            {
                sms.auth_token = tok;
            }
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
