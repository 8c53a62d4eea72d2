//! One owner per queue directory.
//!
//! Across processes, an OS lock (`flock` on the file `lock` in the
//! directory) makes a second ccpipe that opens the directory fail, naming
//! it. Within this process, a reload builds the new graph while the old one
//! still drains: the new graph does not open the directory a second time
//! (two writers and two readers on one log lose, repeat and reorder
//! records) but takes the open log over. Its chains append to the same
//! files, and the reading side is handed over: the old export task stops at
//! once (a batch it had in flight is not acknowledged and is exported again
//! by the new task) and the new task reads on from the acknowledged
//! position.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::{OpenError, OpenReason, Shared, WalConfig};

const LOCK_FILE: &str = "lock";

/// How long an open waits for a lock this process is letting go of (the
/// previous log's last handle closing while a new graph starts).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Identifies the graph (one build of the config) that opens a log: a
/// second open by the same graph is a configuration error, an open by a
/// later graph is a hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(u64);

impl Owner {
    /// A new owner, distinct from every earlier one in this process.
    pub fn next() -> Owner {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Owner(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The logs open in this process, by canonical directory. A process-wide
/// table because a directory is a process-wide resource.
fn open_logs() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// What [`claim`] found: a log this process has open (to take over), or a
/// fresh lock on a directory nobody has open.
pub(crate) enum Claim {
    Open(Arc<Shared>),
    Locked(File),
}

/// Claims `cfg.dir` for `owner`; `open` then builds the log (while the
/// table is held, so two opens of one directory cannot race).
pub(crate) fn claim(
    owner: Owner,
    exporter: &str,
    cfg: &WalConfig,
    open: impl FnOnce(Claim) -> Result<Arc<Shared>, OpenError>,
) -> Result<Arc<Shared>, OpenError> {
    let dir = &cfg.dir;
    let err = |reason: OpenReason| OpenError {
        path: dir.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(OpenReason::Create(e)))?;
    let key = dir
        .canonicalize()
        .map_err(|e| err(OpenReason::Resolve(e)))?;
    let mut table = open_logs().lock().unwrap_or_else(|p| p.into_inner());
    table.retain(|_, w| w.strong_count() > 0);
    if let Some(shared) = table.get(&key).and_then(Weak::upgrade) {
        let mut st = shared.lock();
        if st.owner == owner {
            return Err(err(OpenReason::Taken(shared.exporter.clone())));
        }
        st.owner = owner;
        st.owner_changed = true;
        drop(st);
        if shared.cfg != *cfg {
            tracing::warn!(
                exporter,
                "queue {}: sending_queue settings changed; the queue keeps its current ones until ccpipe restarts",
                dir.display()
            );
        }
        return open(Claim::Open(shared));
    }
    let lock = lock(dir).map_err(err)?;
    let shared = open(Claim::Locked(lock))?;
    shared.lock().owner = owner;
    table.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

/// Takes the OS lock on the directory's lock file, waiting a little for
/// this process's own previous holder to let go.
fn lock(dir: &Path) -> Result<File, OpenReason> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| OpenReason::LockFile {
            file: path.clone(),
            error,
        })?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(OpenReason::InUse(path)),
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(OpenReason::Lock { file: path, error })
            }
        }
    }
}
