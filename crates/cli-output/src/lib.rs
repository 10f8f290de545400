//! What the project's binaries (`kiosk`, `access-server`, `access-loadgen`) share at the
//! terminal: printing that survives a closed pipe (`kiosk users list | head -1`), one-line
//! errors with their code ([`error_line`]), man pages and shell completions from the clap
//! definition ([`write_man_pages`], [`print_completions`]) and the check that every flag says
//! what it does ([`undescribed_args`]).
//!
//! Rust ignores SIGPIPE, so `println!` to a closed pipe panics. Restoring the default signal
//! instead would let a peer's reset of an HTTP connection kill a syncing kiosk or the server
//! (sockets are written with `writev`, which raises SIGPIPE), so the signal stays ignored and
//! a failed write to stdout ends the process quietly, with the status a shell reports for
//! SIGPIPE.

/// Exit status for a closed stdout: what a shell shows for a process killed by SIGPIPE.
pub const EXIT_CLOSED_PIPE: i32 = 141;

/// `println!` to stdout that exits with [`EXIT_CLOSED_PIPE`] when nobody reads stdout any more
/// (and with 1, saying why on stderr, on any other write error).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e)
        }
    }};
}

/// `eprintln!` that ignores a closed stderr: there is nobody left to tell.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

#[doc(hidden)]
#[cold]
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED_PIPE);
    }
    errln!("error [OUTPUT]: cannot write to stdout: {e}");
    std::process::exit(1)
}

/// An error and its causes on one line, `outer: cause: root`, leaving out a cause whose text
/// the line already holds (many errors print their source in their own message).
pub fn error_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes `error [CODE]: …` (one line) to stderr.
pub fn print_error(code: &str, err: &(dyn std::error::Error + 'static)) {
    errln!("error [{code}]: {}", error_line(err));
}

/// Writes one man page (section 1) per command and subcommand into `dir`
/// (`kiosk.1`, `kiosk-users-list.1`, ...) and returns their paths.
pub fn write_man_pages(
    cmd: clap::Command,
    dir: &std::path::Path,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cmd, dir)?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    Ok(pages)
}

/// Prints the completion script of `cmd` for `shell` to stdout.
pub fn print_completions(shell: clap_complete::Shell, mut cmd: clap::Command) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
}

/// Every visible flag or argument, in every subcommand, that has no help text:
/// `"kiosk users delete <ID>"`. A test keeps this empty.
pub fn undescribed_args(cmd: &clap::Command) -> Vec<String> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut out = Vec::new();
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                let name = arg
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .unwrap_or_else(|| format!("<{}>", id.to_uppercase()));
                out.push(format!("{path} {name}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                out.push(format!("{path} {} (no about)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    walk(&cmd, cmd.get_name(), &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_leaves_out_causes_it_already_says() {
        let io = std::io::Error::other("disk full");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot write x: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(error_line(&Outer(io)), "cannot write x: disk full");
    }
}
