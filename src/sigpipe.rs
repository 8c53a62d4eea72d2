//! A closed stdout ends a command quietly. Rust ignores SIGPIPE, so a write
//! to a pipe whose reader has gone (`ccpipe claude-settings | head -1`) is an
//! error, and `println!` panics on it. Commands print and exit, so they take
//! the default action back, as every Unix filter has it: the process ends,
//! silently, when the reader goes. The service keeps SIGPIPE ignored: a
//! peer that closes a socket or pipe is an error to handle, not a death.

/// For commands: a write to a closed pipe ends the process quietly.
pub fn end_quietly_on_closed_stdout() {
    set(libc::SIG_DFL);
}

/// For the service: back to Rust's default, a closed pipe is an `EPIPE` error.
pub fn ignore() {
    set(libc::SIG_IGN);
}

#[allow(unsafe_code)]
fn set(action: libc::sighandler_t) {
    // SAFETY: SIG_DFL and SIG_IGN are not handlers, so no code runs in
    // signal context; called from main before any other thread starts.
    unsafe { libc::signal(libc::SIGPIPE, action) };
}
