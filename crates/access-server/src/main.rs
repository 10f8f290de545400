//! `access-server serve | token | tokens | kiosks | keys | admins | config | completions`:
//! the definition is `access_server::cli`; this runs it.

use cli_output::outln;
use std::sync::Arc;

use access_server::auth::{Keys, parse_ttl};
use access_server::cli::{AdminsCmd, Cli, Cmd, ConfigCmd, KeysCmd, KiosksCmd, Store, TokensCmd};
use access_server::clock::{Clock, SystemClock};
use access_server::config::{self, ServeFlags};
use access_server::db::{Db, DbTarget};
use access_server::sealed::{DbKey, SealError};
use access_server::{ServerConfig, kiosks, operators, start, tokens};
use access_types::ApiScope;
use access_types::kiosk_identity::CreatePairingRequest;
use anyhow::Context;
use clap::Parser;

/// Opens the store the offline commands work on: the server's config file and environment,
/// as `serve` reads them. A SQLite file that does not exist is an error unless `--create`
/// says to make it (a mistyped path would otherwise mint keys nobody serves).
fn open_store(store: &Store) -> anyhow::Result<(ServerConfig, Db)> {
    let flags = ServeFlags {
        config: store.config.clone(),
        db: store.db.clone(),
        ..Default::default()
    };
    let cfg = ServerConfig::load(&flags, &config::environment())?;
    if let DbTarget::Sqlite(path) = DbTarget::parse(&cfg.db)
        && !store.create
        && !path.exists()
    {
        return Err(CliError::NoDatabase(path.display().to_string()).into());
    }
    let db = Db::connect(&cfg.db)
        .with_context(|| format!("opening {}", access_server::db::redact_db(&cfg.db)))?;
    Ok((cfg, db))
}

/// Refusals of the command line itself (the library's errors carry their own codes).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(
        "no database at {0}: check --db, ACCESS_DB or the config file's `db` (or pass --create to make a new one)"
    )]
    NoDatabase(String),
    #[error("{0}")]
    Usage(String),
}

/// The stable code printed with an error: `error [CODE]: …`.
fn error_code(err: &anyhow::Error) -> &'static str {
    if let Some(e) = err.downcast_ref::<CliError>() {
        return match e {
            CliError::NoDatabase(_) => "NO_DATABASE",
            CliError::Usage(_) => "INVALID_ARGUMENT",
        };
    }
    if let Some(e) = err.downcast_ref::<access_server::error::ApiError>() {
        return e.code.as_str();
    }
    if let Some(e) = err.downcast_ref::<SealError>() {
        return e.code();
    }
    if let Some(access_server::auth::KeyError::Seal(e)) = err.downcast_ref() {
        return e.code();
    }
    if err.downcast_ref::<config::ConfigError>().is_some() {
        return "CONFIG_INVALID";
    }
    if err
        .downcast_ref::<access_server::db::StoreError>()
        .is_some()
    {
        return "DATABASE_ERROR";
    }
    "ERROR"
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

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        cli_output::print_error(error_code(&err), err.as_ref());
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
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
                return Err(
                    CliError::Usage(format!("invalid --ttl {ttl:?} (e.g. 30d, 12h)")).into(),
                );
            };
            let (cfg, db) = open_store(&store)?;
            let db_key = DbKey::load(&cfg)?;
            let keys = Keys::load_or_create(&db, &db_key, &cfg.issuer, now)?;
            let max = cfg.admin_token_max_ttl_s;
            let t = db.blocking_tx(|c| tokens::mint(c, &keys, &subject, scope, ttl, max, now))?;
            outln!("{}", t.token);
            Ok(())
        }
        Cmd::Tokens { cmd } => match cmd {
            TokensCmd::List { store } => {
                let (_, db) = open_store(&store)?;
                print_json(&db.blocking_tx(|c| Ok(tokens::list(c, now)?))?)
            }
            TokensCmd::Revoke { store, id } => {
                let (_, db) = open_store(&store)?;
                print_json(&db.blocking_tx(|c| tokens::revoke(c, &id, now))?)
            }
        },
        Cmd::Kiosks { cmd } => match cmd {
            KiosksCmd::Pair {
                store,
                project,
                name,
            } => {
                let (_, db) = open_store(&store)?;
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
                let (_, db) = open_store(&store)?;
                print_json(&db.blocking_tx(|c| Ok(kiosks::list(c, project.as_deref())?))?)
            }
            KiosksCmd::Revoke { store, id } => {
                let (_, db) = open_store(&store)?;
                print_json(&db.blocking_tx(|c| kiosks::revoke(c, &id, now))?)
            }
        },
        Cmd::Keys {
            cmd: KeysCmd::Rotate { store },
        } => {
            let (cfg, db) = open_store(&store)?;
            let keep_ms = cfg.longest_token_ttl_s().saturating_mul(1000) as i64;
            let kid = Keys::rotate(&db, &DbKey::load(&cfg)?, now, keep_ms)?;
            outln!("{kid}");
            Ok(())
        }
        Cmd::Admins { cmd } => admins(cmd, now),
        Cmd::Config {
            cmd: ConfigCmd::Show(flags),
        } => {
            let text = ServerConfig::show(&flags, &config::environment())?;
            cli_output::outln!("{}", text.trim_end());
            Ok(())
        }
        Cmd::Completions { shell } => {
            cli_output::print_completions(shell, access_server::cli::command());
            Ok(())
        }
        Cmd::Man { dir } => {
            for page in cli_output::write_man_pages(access_server::cli::command(), &dir)? {
                cli_output::outln!("{}", page.display());
            }
            Ok(())
        }
        Cmd::Serve(flags) => {
            let cfg = ServerConfig::load(&flags, &config::environment())?;
            let logs = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,tower_http=info,ort=warn".into()),
                )
                .with_writer(std::io::stderr)
                // journald and log files get no colour codes; a terminal does.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
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
            let (_, db) = open_store(&store)?;
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
            let (_, db) = open_store(&store)?;
            print_json(&db.blocking_tx(|c| Ok(operators::list(c)?))?)
        }
        AdminsCmd::Remove { store, email } => {
            let (_, db) = open_store(&store)?;
            print_json(&db.blocking_tx(|c| operators::remove(c, &email, now))?)
        }
        AdminsCmd::ResetPassword {
            store,
            email,
            password_stdin,
        } => {
            let (_, db) = open_store(&store)?;
            db.blocking_tx(|c| operators::get(c, &email))?;
            let (password, generated) = new_password(password_stdin)?;
            let hash = operators::hash_password(&password)?;
            let op = db.blocking_tx(|c| operators::set_password(c, &email, &hash, now))?;
            if generated {
                outln!("{password}");
            }
            cli_output::errln!(
                "new password for {}; their sessions ended, the tokens they minted in one are revoked",
                op.email
            );
            Ok(())
        }
        AdminsCmd::ResetTotp { store, email } => {
            let (_, db) = open_store(&store)?;
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
