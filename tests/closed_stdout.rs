//! Every command that prints ends quietly when its reader has gone, as
//! `ccpipe claude-settings | head -1` does: no panic, no backtrace, either
//! success or the quiet end by SIGPIPE that every Unix filter has.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::process::bin;

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;

/// The write end of a real pipe whose reader has already exited, so the
/// first write to it fails with EPIPE whatever the timing.
fn pipe_without_a_reader() -> Stdio {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let write_end = reader.stdin.take().unwrap();
    assert!(reader.wait().unwrap().success());
    Stdio::from(write_end)
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/container.yaml");
    let commands: [&[&str]; 6] = [
        &["claude-settings"],
        &["print-config", "--config", config],
        &["validate", "--config", config],
        &["--help"],
        &["--version"],
        &["claude-settings", "--help"],
    ];
    for args in commands {
        let out = Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(pipe_without_a_reader())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        let quiet = out.status.success() || out.status.signal() == Some(SIGPIPE);
        assert!(quiet, "{args:?}: {:?}: {stderr}", out.status);
    }
}
