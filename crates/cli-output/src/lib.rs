//! Printing for the project's binaries (`kiosk`, `access-server`, `access-loadgen`) that
//! survives a closed pipe (`kiosk users list | head -1`).
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
