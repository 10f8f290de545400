//! `access-server serve | token | tokens | kiosks | keys | admins`.

use cli_output::outln;
use std::path::PathBuf;
use std::sync::Arc;

use access_server::auth::{Keys, parse_ttl};
use access_server::clock::{Clock, SystemClock};
use access_server::config::{self, ServeFlags};
use access_server::db::Db;
use access_server::{ServerConfig, kiosks, operators, start, tokens};
use access_types::ApiScope;
use access_types::kiosk_identity::CreatePairingRequest;
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

/// Where the offline commands find the database and settings: the server's config file and
/// environment, as `serve` reads them.
#[derive(clap::Args, Clone)]
struct Store {
    /// The server's TOML config [env: ACCESS_CONFIG].
    #[arg(long)]
    config: Option<PathBuf>,
    /// [env: ACCESS_DB]
    #[arg(long)]
    db: Option<PathBuf>,
}

impl Store {
    fn open(&self) -> anyhow::Result<(ServerConfig, Db)> {
        let flags = ServeFlags {
            config: self.config.clone(),
            db: self.db.clone(),
            ..Default::default()
        };
        let cfg = ServerConfig::load(&flags, &config::environment())?;
        let db = Db::connect(&cfg.db)
            .with_context(|| format!("opening {}", access_server::db::redact_db(&cfg.db)))?;
        Ok((cfg, db))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server.
    Serve(ServeFlags),
    /// Print a new operator API token (recorded: `tokens list`, `tokens revoke`): `admin`, or
    /// `metrics` for a Prometheus scraper (reads /metrics only). Kiosks get theirs by pairing
    /// (`kiosks pair`).
    Token {
        #[command(flatten)]
        store: Store,
        #[arg(long)]
        subject: String,
        /// `admin` or `metrics`: kiosk tokens come from pairing.
        #[arg(long, default_value = "admin", value_parser = ["admin", "metrics"])]
        scope: String,
        /// e.g. 30d, 12h, 15m; at most `admin_token_max_ttl_s` (default 30 days).
        #[arg(long, default_value = "1d")]
        ttl: String,
    },
    /// Admin tokens minted so far.
    Tokens {
        #[command(subcommand)]
        cmd: TokensCmd,
    },
    /// Kiosks: pair one, list them, revoke one.
    Kiosks {
        #[command(subcommand)]
        cmd: KiosksCmd,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// The console's operators (people who sign in at /console).
    Admins {
        #[command(subcommand)]
        cmd: AdminsCmd,
    },
}

#[derive(Subcommand)]
enum AdminsCmd {
    /// Add an operator. Without --password-stdin a random password is made and printed once.
    Add {
        #[command(flatten)]
        store: Store,
        /// The name they sign in with (an email address).
        email: String,
        /// Read the password from the first line of standard input (12 characters or more).
        #[arg(long)]
        password_stdin: bool,
        /// Do nothing when any operator exists (a setup script run twice).
        #[arg(long)]
        if_none: bool,
    },
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Remove an operator; their sessions end at once.
    Remove {
        #[command(flatten)]
        store: Store,
        email: String,
    },
    /// A new password (printed once, or read with --password-stdin); their sessions end.
    ResetPassword {
        #[command(flatten)]
        store: Store,
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn an operator's authenticator (TOTP) off, e.g. after a lost phone.
    ResetTotp {
        #[command(flatten)]
        store: Store,
        email: String,
    },
}

/// The password for `admins add` / `reset-password`: from stdin, or a random one to print.
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((operators::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    operators::check_new_password(&p)?;
    Ok((p, false))
}

#[derive(Subcommand)]
enum TokensCmd {
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Revoke a token by its id (`jti`).
    Revoke {
        #[command(flatten)]
        store: Store,
        id: String,
    },
}

#[derive(Subcommand)]
enum KiosksCmd {
    /// Print a one-time pairing code for a project (10 minutes, single use).
    Pair {
        #[command(flatten)]
        store: Store,
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: Option<String>,
    },
    List {
        #[command(flatten)]
        store: Store,
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a kiosk: its tokens and events are refused from its next request.
    Revoke {
        #[command(flatten)]
        store: Store,
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// A new signing key; the old one verifies until its longest token has expired. A running
    /// server picks it up within 30 s.
    Rotate {
        #[command(flatten)]
        store: Store,
    },
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let now = SystemClock.now_ms();
    match cli.cmd {
        Cmd::Token {
            store,
            subject,
            scope,
            ttl,
        } => {
            let scope = ApiScope::parse(&scope).context("--scope")?;
            let Some(ttl) = parse_ttl(&ttl) else {
                bail!("invalid --ttl {ttl:?} (e.g. 30d, 12h)")
            };
            let (cfg, db) = store.open()?;
            let keys = Keys::load_or_create(&db, &cfg.issuer, now)?;
            let max = cfg.admin_token_max_ttl_s;
            let t = db.blocking_tx(|c| tokens::mint(c, &keys, &subject, scope, ttl, max, now))?;
            outln!("{}", t.token);
            Ok(())
        }
        Cmd::Tokens { cmd } => match cmd {
            TokensCmd::List { store } => {
                let (_, db) = store.open()?;
                print_json(&db.blocking_tx(|c| Ok(tokens::list(c, now)?))?)
            }
            TokensCmd::Revoke { store, id } => {
                let (_, db) = store.open()?;
                print_json(&db.blocking_tx(|c| tokens::revoke(c, &id, now))?)
            }
        },
        Cmd::Kiosks { cmd } => match cmd {
            KiosksCmd::Pair {
                store,
                project,
                name,
            } => {
                let (_, db) = store.open()?;
                let req = CreatePairingRequest {
                    project_id: project,
                    name,
                };
                let p = db.blocking_tx(|c| kiosks::create_pairing(c, &req, now))?;
                outln!("{}", p.code);
                cli_output::errln!(
                    "pairing code for project {} (valid until {}, once): on the kiosk run `kiosk pair --api-url URL --code {}`",
                    p.project_id,
                    p.expires_at,
                    p.code
                );
                Ok(())
            }
            KiosksCmd::List { store, project } => {
                let (_, db) = store.open()?;
                print_json(&db.blocking_tx(|c| Ok(kiosks::list(c, project.as_deref())?))?)
            }
            KiosksCmd::Revoke { store, id } => {
                let (_, db) = store.open()?;
                print_json(&db.blocking_tx(|c| kiosks::revoke(c, &id, now))?)
            }
        },
        Cmd::Keys {
            cmd: KeysCmd::Rotate { store },
        } => {
            let (cfg, db) = store.open()?;
            let keep_ms = cfg.longest_token_ttl_s().saturating_mul(1000) as i64;
            let kid = Keys::rotate(&db, now, keep_ms)?;
            outln!("{kid}");
            Ok(())
        }
        Cmd::Admins { cmd } => admins(cmd, now),
        Cmd::Serve(flags) => {
            let cfg = ServerConfig::load(&flags, &config::environment())?;
            let logs = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,tower_http=info".into()),
                )
                .with_writer(std::io::stderr);
            if cfg.log_json {
                logs.json().init();
            } else {
                logs.init();
            }
            if cfg.dev_outbox {
                tracing::warn!("dev outbox on: OTP codes are stored and readable over HTTP");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let stop = shutdown_signal()?;
                let server = start(cfg, Arc::new(SystemClock), None).await?;
                // A server keeps serving when nobody reads its stdout any more.
                {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stdout().lock(), "listening on {}", server.addr);
                }
                stop.await;
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

fn admins(cmd: AdminsCmd, now: i64) -> anyhow::Result<()> {
    match cmd {
        AdminsCmd::Add {
            store,
            email,
            password_stdin,
            if_none,
        } => {
            let (_, db) = store.open()?;
            if if_none && db.blocking_tx(|c| Ok(operators::any(c)?))? {
                cli_output::errln!(
                    "an operator exists already; none added (reset a password with `access-server admins reset-password EMAIL`)"
                );
                return Ok(());
            }
            let (password, generated) = new_password(password_stdin)?;
            let hash = operators::hash_password(&password)?;
            let op = db.blocking_tx(|c| operators::add(c, &email, &hash, now))?;
            if generated {
                // The only time it is shown: stdout, for a script to pass on; never logged.
                outln!("{password}");
            }
            cli_output::errln!("operator {} added; sign in at /console", op.email);
            Ok(())
        }
        AdminsCmd::List { store } => {
            let (_, db) = store.open()?;
            print_json(&db.blocking_tx(|c| Ok(operators::list(c)?))?)
        }
        AdminsCmd::Remove { store, email } => {
            let (_, db) = store.open()?;
            print_json(&db.blocking_tx(|c| operators::remove(c, &email))?)
        }
        AdminsCmd::ResetPassword {
            store,
            email,
            password_stdin,
        } => {
            let (_, db) = store.open()?;
            db.blocking_tx(|c| operators::get(c, &email))?;
            let (password, generated) = new_password(password_stdin)?;
            let hash = operators::hash_password(&password)?;
            let op = db.blocking_tx(|c| operators::set_password(c, &email, &hash))?;
            if generated {
                outln!("{password}");
            }
            cli_output::errln!("new password for {}; their sessions ended", op.email);
            Ok(())
        }
        AdminsCmd::ResetTotp { store, email } => {
            let (_, db) = store.open()?;
            print_json(&db.blocking_tx(|c| operators::clear_totp(c, &email))?)
        }
    }
}

/// Resolves at SIGINT or SIGTERM. The handlers are installed when this is called, before the
/// future is awaited: a supervisor that sends SIGTERM right after "listening" gets a graceful
/// stop, not the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    // SIGHUP re-reads the TLS files when `[tls]` is set (app.rs); without it the default
    // action would end the process (`systemctl reload` on a plain-HTTP install).
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: the TLS certificate is re-read when [tls] is configured");
        }
    });
    Ok(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    })
}
