//! `--pid-file PATH` for the running service, and `ccpipe reload`, which reads
//! it (or takes `--pid`) and sends SIGHUP.

use std::path::{Path, PathBuf};

/// The pid file of this process; removed on drop if it still holds our pid.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes this process's id and a newline to `path` (replacing what was
    /// there). The error names the path.
    pub fn create(path: &Path) -> Result<PidFile, String> {
        let pid = std::process::id();
        std::fs::write(path, format!("{pid}\n"))
            .map_err(|e| format!("cannot write the pid file {}: {e}", path.display()))?;
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
pub fn read(path: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the pid file {}: {e}", path.display()))?;
    parse_pid(text.trim()).map_err(|e| format!("pid file {}: {e}", path.display()))
}

fn parse_pid(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(pid) if pid > 1 && i32::try_from(pid).is_ok() => Ok(pid),
        _ => Err(format!("{text:?} is not a process id")),
    }
}

/// Asks the ccpipe with process id `pid` to reload its config (SIGHUP).
pub fn send_reload(pid: u32) -> Result<(), String> {
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let Some(target) = raw.filter(|_| pid > 1) else {
        return Err(format!("{pid} is not a process id"));
    };
    rustix::process::kill_process(target, rustix::process::Signal::HUP).map_err(|e| match e {
        rustix::io::Errno::SRCH => {
            format!("no process {pid} (is ccpipe running? a stale pid file?)")
        }
        rustix::io::Errno::PERM => format!("not allowed to signal process {pid}"),
        e => format!("cannot signal process {pid}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_checked() {
        assert_eq!(parse_pid("4242"), Ok(4242));
        assert_eq!(parse_pid("x"), Err("\"x\" is not a process id".to_owned()));
        // 0 and 1 would signal our process group or init; never do that.
        assert!(parse_pid("0").is_err());
        assert!(parse_pid("1").is_err());
        assert!(parse_pid("4294967295").is_err());
        assert!(send_reload(0).is_err());
    }

    #[test]
    fn written_read_back_and_removed() {
        let dir = std::env::temp_dir().join(format!("ccpipe-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ccpipe.pid");
        let file = PidFile::create(&path).unwrap();
        assert_eq!(read(&path), Ok(std::process::id()));
        drop(file);
        assert!(!path.exists());
        let err = PidFile::create(&dir.join("missing/ccpipe.pid")).unwrap_err();
        assert!(err.starts_with("cannot write the pid file "), "{err}");
        assert!(err.contains("missing/ccpipe.pid"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
