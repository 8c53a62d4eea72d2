//! `--pid-file PATH` for the running service, and `ccpipe reload`, which reads
//! it (or takes `--pid`) and sends SIGHUP.

use std::io;
use std::path::{Path, PathBuf};

/// Why the pid file could not be written or read, or the process not
/// signalled. Each message names the file or the pid.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("cannot write the pid file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read the pid file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("pid file {}: {text:?} is not a process id", path.display())]
    Malformed { path: PathBuf, text: String },
    /// 0 and 1 (our process group, init) and ids beyond `i32`.
    #[error("{0} is not a process id")]
    NotAPid(u32),
    #[error("no process {0} (is ccpipe running? a stale pid file?)")]
    NoProcess(u32),
    #[error("not allowed to signal process {0}")]
    NotAllowed(u32),
    #[error("cannot signal process {pid}: {source}")]
    Signal { pid: u32, source: rustix::io::Errno },
}

/// The pid file of this process; removed on drop if it still holds our pid.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes this process's id and a newline to `path` (replacing what was
    /// there). The error names the path.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let pid = std::process::id();
        std::fs::write(path, format!("{pid}\n")).map_err(|source| PidFileError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(PidFile {
            path: path.to_owned(),
            pid,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Another ccpipe may have taken the file over since: leave it alone then.
        if read(&self.path).ok() == Some(self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The pid in a pid file.
pub fn read(path: &Path) -> Result<u32, PidFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PidFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_pid(text.trim()).ok_or_else(|| PidFileError::Malformed {
        path: path.to_owned(),
        text: text.trim().to_owned(),
    })
}

fn parse_pid(text: &str) -> Option<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|&pid| pid > 1 && i32::try_from(pid).is_ok())
}

/// Asks the ccpipe with process id `pid` to reload its config (SIGHUP).
pub fn send_reload(pid: u32) -> Result<(), PidFileError> {
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let Some(target) = raw.filter(|_| pid > 1) else {
        return Err(PidFileError::NotAPid(pid));
    };
    rustix::process::kill_process(target, rustix::process::Signal::HUP).map_err(|e| match e {
        rustix::io::Errno::SRCH => PidFileError::NoProcess(pid),
        rustix::io::Errno::PERM => PidFileError::NotAllowed(pid),
        source => PidFileError::Signal { pid, source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_checked() {
        assert_eq!(parse_pid("4242"), Some(4242));
        assert_eq!(parse_pid("x"), None);
        // 0 and 1 would signal our process group or init; never do that.
        assert_eq!(parse_pid("0"), None);
        assert_eq!(parse_pid("1"), None);
        assert_eq!(parse_pid("4294967295"), None);
        assert!(matches!(send_reload(0), Err(PidFileError::NotAPid(0))));
    }

    #[test]
    fn written_read_back_and_removed() {
        let dir = std::env::temp_dir().join(format!("ccpipe-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ccpipe.pid");
        let file = PidFile::create(&path).unwrap();
        assert_eq!(read(&path).unwrap(), std::process::id());
        std::fs::write(&path, "x\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, PidFileError::Malformed { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("pid file {}: \"x\" is not a process id", path.display())
        );
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        drop(file);
        assert!(!path.exists());
        let err = PidFile::create(&dir.join("missing/ccpipe.pid"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot write the pid file "), "{err}");
        assert!(err.contains("missing/ccpipe.pid"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
