//! A write-ahead log per exporter: the durable form of its queue.
//!
//! Records (export requests, see [`frame`]) are appended to segment files
//! named after the sequence number of their first record
//! (`00000000000000000042.wal`). The export task reads them in order,
//! exports, and acknowledges; the acknowledged position is kept in the file
//! `ack` and segments wholly before it are deleted. On open, the last
//! segment is checked record by record and what follows its last intact
//! record is cut off (logged); damage anywhere else is skipped up to the
//! next intact record when it is read ([`frame::walk`]), and every loss,
//! a missing segment included, is logged at ERROR and counted.
//!
//! One writer side ([`WalWriter`], cloned into every chain that feeds the
//! exporter, blocking calls on the chain threads) and one reader side
//! ([`WalReader`], owned by the async export task). A directory has one
//! owner: an OS lock across processes, a hand-over on reload ([`owner`]).

pub mod ack;
pub(crate) mod export;
pub mod frame;
mod owner;
mod reader;
mod segments;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::batch::Signal;
use crate::telemetry;

pub use export::DurableExportTask;
pub use owner::Owner;
pub use reader::{Backlog, BacklogProbe, Read, Start, WalReader};

/// What to do when the queue holds `max_size` bytes and another record comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: the chain stops, receivers answer 503.
    Block,
    /// Drop the oldest records not being exported, counted.
    DropOldest,
}

/// When appended records are forced to disk (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every record, before it is acknowledged.
    Always,
    /// Once per group of records a chain appended back to back, before any
    /// of them is acknowledged (group commit).
    Batch,
    /// In the background at this interval: an acknowledged record survives
    /// a crash of ccpipe, and of the machine only once the interval passed.
    Interval(Duration),
}

/// Why a `sending_queue.fsync` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsyncError {
    #[error(transparent)]
    Interval(#[from] crate::config::units::UnitError),
    #[error("the interval must be greater than 0")]
    ZeroInterval,
    #[error("expected always, batch or interval:<duration> (e.g. interval:1s), got {0:?}")]
    Unknown(String),
}

impl std::str::FromStr for Fsync {
    type Err = FsyncError;

    fn from_str(s: &str) -> Result<Fsync, FsyncError> {
        match s.trim() {
            "always" => Ok(Fsync::Always),
            "batch" => Ok(Fsync::Batch),
            other => match other.strip_prefix("interval:") {
                Some(d) => {
                    let d: crate::config::units::Duration = d.trim().parse()?;
                    if d.0.is_zero() {
                        return Err(FsyncError::ZeroInterval);
                    }
                    Ok(Fsync::Interval(d.0))
                }
                None => Err(FsyncError::Unknown(other.to_owned())),
            },
        }
    }
}

/// Settings of one exporter's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    pub dir: PathBuf,
    /// Bytes of records not yet acknowledged; the disk holds at most about
    /// one segment more.
    pub max_size: u64,
    pub when_full: WhenFull,
    pub fsync: Fsync,
    /// A segment is closed and a new one started past this size.
    pub segment_size: u64,
}

impl WalConfig {
    pub fn new(dir: impl Into<PathBuf>, max_size: u64, when_full: WhenFull, fsync: Fsync) -> Self {
        WalConfig {
            dir: dir.into(),
            max_size,
            when_full,
            fsync,
            // Small enough that acknowledged data is freed in steps of 1/8 of
            // the queue, large enough that files stay few.
            segment_size: (max_size / 8).clamp(64 << 10, 64 << 20),
        }
    }
}

/// Why a record was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("queue {dir}: cannot write: {error}")]
    Io { dir: String, error: std::io::Error },
    #[error("queue {dir}: a record of {size} bytes is larger than max_size ({max} bytes)")]
    TooLarge { dir: String, size: u64, max: u64 },
    #[error("queue {dir}: full and nothing can be dropped")]
    Full { dir: String },
    #[error("queue {dir}: its exporter stopped")]
    Closed { dir: String },
}

/// Opening the log failed; the message names the directory.
#[derive(Debug, thiserror::Error)]
#[error("queue directory {path}: {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: OpenReason,
}

/// What went wrong opening a log directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenReason {
    #[error("cannot create it: {0}")]
    Create(std::io::Error),
    #[error("cannot resolve it: {0}")]
    Resolve(std::io::Error),
    #[error("cannot write in it: {0}")]
    Write(std::io::Error),
    #[error("cannot list it: {0}")]
    List(std::io::Error),
    #[error("is already the queue of exporter \"{0}\"; each exporter needs its own directory")]
    Taken(String),
    #[error("cannot open its lock file {}: {error}", .file.display())]
    LockFile {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("is in use by another process (its lock file {} is held); each ccpipe needs its own queue directories", .0.display())]
    InUse(PathBuf),
    #[error("cannot lock {}: {error}", .file.display())]
    Lock {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read {}: {error}", .file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a ccpipe queue segment (bad header); move it away", .0.display())]
    NotASegment(PathBuf),
    #[error("cannot rewrite {}: {error}", .file.display())]
    Rewrite {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot open {}: {error}", .file.display())]
    Open {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot truncate {}: {error}", .file.display())]
    Truncate {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot create a segment: {0}")]
    CreateSegment(std::io::Error),
    #[error("cannot start its fsync thread: {0}")]
    FsyncThread(std::io::Error),
}

/// A place in the log: the record `seq`, at byte `offset` of the segment
/// whose first record is `seg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub seg: u64,
    pub offset: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub first_seq: u64,
    pub len: u64,
}

pub(crate) struct State {
    pub segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    pub file: File,
    /// Sequence number the next appended record gets.
    pub write_seq: u64,
    /// Everything before this is exported or given up on.
    pub acked: Pos,
    /// Where the reader continues; `[acked, next_read)` is being exported
    /// when `in_flight`, and anything between that batch and `next_read`
    /// was dropped.
    pub next_read: Pos,
    pub in_flight: Option<Pos>,
    /// Appended since the last fsync.
    pub dirty: bool,
    pub writers: usize,
    pub reader_gone: bool,
    /// Bumped when a failed append is cut off the file, so the reader drops
    /// bytes it may have buffered from it.
    pub cuts: u64,
    /// The graph that owns the log now (see [`owner`]).
    pub owner: Owner,
    /// Bumped when a new graph takes the reading side over; a reader of an
    /// older epoch stops and touches nothing.
    pub reader_epoch: u64,
    /// Set by [`owner::claim`] when a later graph claimed the open log.
    pub owner_changed: bool,
}

pub(crate) struct Shared {
    pub cfg: WalConfig,
    /// For metrics and logs.
    pub exporter: String,
    pub state: Mutex<State>,
    /// Signalled when room is made (for `when_full: block`) or the reader goes.
    pub room: Condvar,
    /// Signalled when a record is appended or the last writer goes.
    pub data: tokio::sync::Notify,
    /// Signalled (to all) when a new graph takes the reading side over.
    pub handover: tokio::sync::Notify,
    /// The OS lock on the directory, held as long as the log is open.
    _lock: File,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> String {
        self.cfg.dir.display().to_string()
    }
}

impl State {
    /// Bytes from `p` to the end of the log.
    fn bytes_from(&self, p: Pos) -> u64 {
        let after: u64 = self
            .segments
            .iter()
            .filter(|s| s.first_seq >= p.seg)
            .map(|s| s.len)
            .sum();
        after.saturating_sub(p.offset)
    }

    /// Bytes of records not yet acknowledged and not dropped.
    pub fn backlog(&self) -> u64 {
        let in_flight = match self.in_flight {
            Some(end) => self.bytes_from(self.acked) - self.bytes_from(end),
            None => 0,
        };
        self.bytes_from(self.next_read) + in_flight
    }

    /// Moves a position at the end of a closed segment to the next one.
    /// Returns the records skipped on the way: numbers between where a
    /// segment's records ended and where the next one starts, held by a
    /// segment file that is missing or by damage counted short.
    pub fn normalize(&self, p: &mut Pos) -> u64 {
        let mut missing = 0;
        while let Some(i) = self.segments.iter().position(|s| s.first_seq == p.seg) {
            let Some(next) = self.segments.get(i + 1) else {
                break;
            };
            if p.offset < self.segments[i].len {
                break;
            }
            missing += next.first_seq.saturating_sub(p.seq);
            *p = Pos {
                seg: next.first_seq,
                offset: frame::MAGIC.len() as u64,
                seq: next.first_seq,
            };
        }
        missing
    }
}

/// Opens (creating if needed) the log in `cfg.dir`, recovering what a
/// previous run left there, as a new [`Owner`].
pub fn open(exporter: &str, cfg: WalConfig) -> Result<(WalWriter, WalReader), OpenError> {
    open_as(Owner::next(), exporter, cfg)
}

/// Opens the log in `cfg.dir` for the graph `owner`. A log this process
/// already has open for an earlier graph is taken over (see [`owner`]); one
/// open for the same graph, or locked by another process, is an error
/// naming the directory.
pub fn open_as(
    owner: Owner,
    exporter: &str,
    cfg: WalConfig,
) -> Result<(WalWriter, WalReader), OpenError> {
    let shared = owner::claim(owner, exporter, &cfg.clone(), |claim| match claim {
        owner::Claim::Open(shared) => Ok(shared),
        owner::Claim::Locked(lock) => start(exporter, cfg, owner, lock),
    })?;
    let (epoch, taken_over) = {
        let mut st = shared.lock();
        st.writers += 1;
        (st.reader_epoch, st.owner_changed)
    };
    let reader = match taken_over {
        // Inert until its export task starts (see `WalReader::activate`):
        // if the new graph fails to build, the old one keeps reading.
        true => WalReader::pending(shared.clone()),
        false => WalReader::new(shared.clone(), epoch),
    };
    shared.lock().owner_changed = false;
    Ok((WalWriter { shared }, reader))
}

/// Recovers the log and starts its fsync thread.
fn start(
    exporter: &str,
    cfg: WalConfig,
    owner: Owner,
    lock: File,
) -> Result<Arc<Shared>, OpenError> {
    let mut state = segments::recover(exporter, &cfg)?;
    state.owner = owner;
    let shared = Arc::new(Shared {
        exporter: exporter.to_owned(),
        cfg,
        state: Mutex::new(state),
        room: Condvar::new(),
        data: tokio::sync::Notify::new(),
        handover: tokio::sync::Notify::new(),
        _lock: lock,
    });
    if let Fsync::Interval(every) = shared.cfg.fsync {
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name(format!("wal-sync-{exporter}"))
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(shared) = weak.upgrade() else { break };
                let mut st = shared.lock();
                if let Err(e) = sync(&mut st) {
                    tracing::error!(exporter = %shared.exporter, "queue {}: fsync failed: {e}", shared.dir());
                }
            })
            .map_err(|e| OpenError {
                path: shared.dir(),
                reason: OpenReason::FsyncThread(e),
            })?;
    }
    Ok(shared)
}

/// Hands the reading side to a new graph: the old reader stops, leaving a
/// batch it had in flight unacknowledged, and the new one reads on from the
/// acknowledged position. Returns the new reader epoch.
pub(crate) fn take_over(shared: &Shared) -> u64 {
    let mut st = shared.lock();
    st.reader_epoch += 1;
    let epoch = st.reader_epoch;
    st.next_read = st.acked;
    st.in_flight = None;
    st.reader_gone = false;
    let backlog = st.write_seq - st.acked.seq;
    drop(st);
    shared.handover.notify_waiters();
    // The old reader may have taken the last wake-up.
    shared.data.notify_one();
    tracing::info!(
        exporter = %shared.exporter,
        "queue {}: taken over from the previous config with {backlog} records waiting",
        shared.dir()
    );
    epoch
}

fn sync(st: &mut State) -> std::io::Result<()> {
    if st.dirty {
        st.file.sync_data()?;
        st.dirty = false;
    }
    Ok(())
}

/// The appending side; one clone per chain that feeds the exporter. The log
/// closes for the reader when the last clone is dropped.
pub struct WalWriter {
    shared: Arc<Shared>,
}

impl Clone for WalWriter {
    fn clone(&self) -> Self {
        self.shared.lock().writers += 1;
        WalWriter {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.writers -= 1;
        if st.writers == 0 {
            if let Err(e) = sync(&mut st) {
                tracing::error!(exporter = %self.shared.exporter, "queue {}: fsync failed: {e}", self.shared.dir());
            }
            drop(st);
            self.shared.data.notify_one();
        }
    }
}

impl WalWriter {
    pub fn dir(&self) -> &Path {
        &self.shared.cfg.dir
    }

    /// Appends one record, the concatenation of `parts` (one export request
    /// of `signal`). Blocks while the queue is full under `when_full: block`.
    /// With `fsync: always` the record is on disk when this returns; with
    /// `batch`, after the next [`commit`](Self::commit).
    pub fn append(&self, signal: Signal, items: usize, parts: &[&[u8]]) -> Result<(), AppendError> {
        let record = frame::encode(signal, items, parts);
        let size = record.len() as u64;
        let cfg = &self.shared.cfg;
        let dir = || self.shared.dir();
        if size > cfg.max_size {
            return Err(AppendError::TooLarge {
                dir: dir(),
                size,
                max: cfg.max_size,
            });
        }
        let mut st = self.shared.lock();
        loop {
            if st.reader_gone {
                return Err(AppendError::Closed { dir: dir() });
            }
            if st.backlog() + size <= cfg.max_size {
                break;
            }
            match cfg.when_full {
                WhenFull::Block => {
                    st = self
                        .shared
                        .room
                        .wait_timeout(st, Duration::from_millis(100))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                WhenFull::DropOldest => {
                    if !segments::drop_oldest(&self.shared, &mut st) {
                        return Err(AppendError::Full { dir: dir() });
                    }
                }
            }
        }
        let io = |error| AppendError::Io { dir: dir(), error };
        let last = *st.segments.back().expect("the log has a segment");
        if last.len + size > cfg.segment_size && last.len > frame::MAGIC.len() as u64 {
            segments::rotate(&self.shared, &mut st).map_err(io)?;
        }
        if let Err(e) = st.file.write_all(&record) {
            // Cut off whatever part of the frame was written, so the next
            // append starts on a frame boundary.
            let len = st.segments.back().expect("segment").len;
            st.cuts += 1;
            if let Err(e2) = st.file.set_len(len) {
                tracing::error!(exporter = %self.shared.exporter, "queue {}: cannot truncate a partial record: {e2}", dir());
            }
            return Err(io(e));
        }
        st.segments.back_mut().expect("segment").len += size;
        st.write_seq += 1;
        st.dirty = true;
        if cfg.fsync == Fsync::Always {
            sync(&mut st).map_err(io)?;
        }
        drop(st);
        self.shared.data.notify_one();
        Ok(())
    }

    /// Forces appended records to disk under `fsync: batch`; a no-op in the
    /// other modes (`always` synced each record, `interval` syncs on a timer).
    pub fn commit(&self) -> Result<(), AppendError> {
        if self.shared.cfg.fsync != Fsync::Batch {
            return Ok(());
        }
        let mut st = self.shared.lock();
        sync(&mut st).map_err(|error| AppendError::Io {
            dir: self.shared.dir(),
            error,
        })
    }
}

/// Logs and counts records the read position skipped because their segment
/// is missing (see [`State::normalize`]).
pub(crate) fn report_missing(shared: &Shared, missing: u64, before: u64) {
    if missing > 0 {
        tracing::error!(
            exporter = %shared.exporter,
            "queue {}: {missing} records before record {before} are missing (a segment file was deleted or damaged); they are lost",
            shared.dir()
        );
        count_corrupt(&shared.exporter, missing, 0);
    }
}

/// Counts items a queue dropped, by signal (indexed as [`Signal::ALL`]).
pub(crate) fn count_dropped(shared: &Shared, items: [u64; 3], reason: &'static str) {
    for (signal, n) in Signal::ALL.into_iter().zip(items) {
        if n > 0 {
            metrics::counter!(
                telemetry::exporter_send_failed(signal),
                "exporter" => shared.exporter.clone(),
                "reason" => reason
            )
            .increment(n);
        }
    }
}

/// Counts records found damaged or missing on disk (their items cannot be
/// known), and the damaged bytes.
pub(crate) fn count_corrupt(exporter: &str, records: u64, bytes: u64) {
    metrics::counter!(
        telemetry::EXPORTER_QUEUE_CORRUPT_RECORDS,
        "exporter" => exporter.to_owned()
    )
    .increment(records);
    if bytes > 0 {
        metrics::counter!(
            telemetry::EXPORTER_QUEUE_CORRUPT_BYTES,
            "exporter" => exporter.to_owned()
        )
        .increment(bytes);
    }
}
