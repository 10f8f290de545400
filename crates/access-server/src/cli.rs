//! The `access-server` command line: its clap definition, apart from `main.rs` (which runs
//! it) so the library's tests check every flag's help ([`command`]) and packages generate man
//! pages and completions from it.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::ServeFlags;

#[derive(Parser)]
#[command(
    name = "access-server",
    version,
    about = "Access API server (/v2/access)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Where the offline commands find the database and settings: the server's config file and
/// environment, as `serve` reads them.
#[derive(clap::Args, Clone)]
#[command(next_help_heading = "Database")]
pub struct Store {
    /// The server's TOML config [env: ACCESS_CONFIG].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The database: a SQLite file or a PostgreSQL URL [env: ACCESS_DB].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Create the database (with new signing keys) if there is none: without it, a mistyped
    /// --db is an error rather than a new, empty server.
    #[arg(long)]
    pub create: bool,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the server.
    Serve(ServeFlags),
    /// Print a new operator API token (recorded: `tokens list`, `tokens revoke`): `admin`, or
    /// `metrics` for a Prometheus scraper (reads /metrics only). Kiosks get theirs by pairing
    /// (`kiosks pair`).
    Token {
        #[command(flatten)]
        store: Store,
        /// Who the token is for (its `sub`, shown in the audit log), e.g. `ops-alice`.
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
    /// The configuration: `config show` prints what is in force and where each value came from.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (section 1) into DIR.
    #[command(hide = true)]
    Man {
        /// The folder to write `access-server*.1` into.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration of `serve` with these flags and this environment:
    /// each key with its value and where it came from (default, config file, environment
    /// variable, flag); secrets show only whether they are set.
    Show(ServeFlags),
}

#[derive(Subcommand)]
pub enum AdminsCmd {
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
    /// List the operators (JSON).
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Remove an operator; their sessions end at once.
    Remove {
        #[command(flatten)]
        store: Store,
        /// The operator's email address.
        email: String,
    },
    /// A new password (printed once, or read with --password-stdin); their sessions end.
    ResetPassword {
        #[command(flatten)]
        store: Store,
        /// The operator's email address.
        email: String,
        /// Read the password from the first line of standard input (12 characters or more).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn an operator's authenticator (TOTP) off, e.g. after a lost phone.
    ResetTotp {
        #[command(flatten)]
        store: Store,
        /// The operator's email address.
        email: String,
    },
}

#[derive(Subcommand)]
pub enum TokensCmd {
    /// List the tokens minted here, with their subject, scope, expiry and revocation (JSON).
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Revoke a token by its id (`jti`).
    Revoke {
        #[command(flatten)]
        store: Store,
        /// The token's id (`jti`), from `tokens list`.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum KiosksCmd {
    /// Print a one-time pairing code for a project (10 minutes, single use).
    Pair {
        #[command(flatten)]
        store: Store,
        /// The project the kiosk will serve.
        #[arg(long)]
        project: String,
        /// A name people recognise, e.g. "Front door".
        #[arg(long)]
        name: Option<String>,
    },
    /// List the kiosks (JSON): name, project, last seen, revoked.
    List {
        #[command(flatten)]
        store: Store,
        /// Only this project's kiosks.
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a kiosk: its tokens and events are refused from its next request.
    Revoke {
        #[command(flatten)]
        store: Store,
        /// The kiosk's id, from `kiosks list`.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// A new signing key; the old one verifies until its longest token has expired. A running
    /// server picks it up within 30 s.
    Rotate {
        #[command(flatten)]
        store: Store,
    },
}

/// The command line's definition.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_and_subcommand_says_what_it_does() {
        let missing = cli_output::undescribed_args(&super::command());
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
