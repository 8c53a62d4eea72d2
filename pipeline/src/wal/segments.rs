//! The files of a log: recovery on open, rotation, deletion of acknowledged
//! segments, the `ack` file, and dropping the oldest records when full.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::frame::{self, Header, HEADER, MAGIC};
use super::{
    count_corrupt, count_dropped, Fsync, OpenError, OpenReason, Pos, Segment, Shared, State,
    WalConfig,
};

const ACK_FILE: &str = "ack";
const ACK_TMP: &str = "ack.tmp";
const MAGIC_LEN: u64 = MAGIC.len() as u64;

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

fn segment_seq(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".wal")?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Reads the log's files, cuts off a torn tail, deletes acknowledged segments.
/// Damage that loses records is logged at ERROR and counted for `exporter`.
pub(crate) fn recover(exporter: &str, cfg: &WalConfig) -> Result<State, OpenError> {
    let dir = &cfg.dir;
    let err = |reason: OpenReason| OpenError {
        path: dir.display().to_string(),
        reason,
    };
    fs::create_dir_all(dir).map_err(|e| err(OpenReason::Create(e)))?;
    fs::write(dir.join(ACK_TMP), b"").map_err(|e| err(OpenReason::Write(e)))?;

    let mut firsts = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| err(OpenReason::List(e)))? {
        let entry = entry.map_err(|e| err(OpenReason::List(e)))?;
        if let Some(seq) = entry.file_name().to_str().and_then(segment_seq) {
            firsts.push(seq);
        }
    }
    firsts.sort_unstable();
    let mut segments = VecDeque::with_capacity(firsts.len().max(1));
    for first_seq in firsts {
        let path = segment_path(dir, first_seq);
        let len = fs::metadata(&path)
            .map_err(|error| {
                err(OpenReason::Read {
                    file: path.clone(),
                    error,
                })
            })?
            .len();
        segments.push_back(Segment { first_seq, len });
    }
    let acked_seq = read_ack(dir);

    let write_seq = match segments.back_mut() {
        Some(last) => recover_last(exporter, dir, last).map_err(err)?,
        None => {
            let first_seq = acked_seq.unwrap_or(0);
            create_segment(dir, first_seq, true).map_err(|e| err(OpenReason::CreateSegment(e)))?;
            segments.push_back(Segment {
                first_seq,
                len: MAGIC_LEN,
            });
            first_seq
        }
    };

    let first = segments[0].first_seq;
    let acked_seq = match acked_seq {
        None => first,
        Some(a) if a > write_seq => {
            // Records are never acknowledged before they are written: the
            // ack file is wrong, so export everything again (duplicates,
            // not a loss).
            tracing::error!(
                exporter,
                "queue {}: the ack file says {a} records were exported but the log ends at record {write_seq}; exporting all {} records in it again",
                dir.display(),
                write_seq - first
            );
            first
        }
        Some(a) if a < first => {
            tracing::error!(
                exporter,
                "queue {}: records {a} to {} are missing (the first segment file was deleted or damaged); {} records are lost",
                dir.display(),
                first - 1,
                first - a
            );
            count_corrupt(exporter, first - a, 0);
            first
        }
        Some(a) => a,
    };
    while segments.len() > 1 && segments[1].first_seq <= acked_seq {
        let gone = segments.pop_front().expect("two segments");
        remove_segment(dir, gone.first_seq);
    }
    let head = segments[0];
    let (offset, seq) = locate(dir, head, acked_seq);
    let acked = Pos {
        seg: head.first_seq,
        offset,
        seq,
    };
    let last = segments.back().expect("a segment").first_seq;
    let path = segment_path(dir, last);
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|error| {
            err(OpenReason::Open {
                file: path.clone(),
                error,
            })
        })?;
    let backlog = write_seq - seq;
    if backlog > 0 {
        tracing::info!(
            "queue {}: {backlog} records from a previous run will be exported",
            dir.display()
        );
    }
    Ok(State {
        segments,
        file,
        write_seq,
        acked,
        next_read: acked,
        in_flight: None,
        dirty: false,
        writers: 0,
        reader_gone: false,
        cuts: 0,
        owner: super::Owner::next(),
        reader_epoch: 0,
        owner_changed: false,
    })
}

/// Checks the last segment record by record and cuts a torn or damaged
/// tail; returns the sequence number the next record gets. Damage with
/// intact records after it stays for the reader to skip (and count).
fn recover_last(exporter: &str, dir: &Path, last: &mut Segment) -> Result<u64, OpenReason> {
    let path = segment_path(dir, last.first_seq);
    let data = fs::read(&path).map_err(|error| OpenReason::Read {
        file: path.clone(),
        error,
    })?;
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        if data.len() >= MAGIC.len() || !MAGIC.starts_with(&data) {
            return Err(OpenReason::NotASegment(path));
        }
        // Created but its header not fully written: start it again.
        create_segment(dir, last.first_seq, true).map_err(|error| OpenReason::Rewrite {
            file: path.clone(),
            error,
        })?;
        last.len = MAGIC_LEN;
        return Ok(last.first_seq);
    }
    let body = &data[MAGIC.len()..];
    let scan = frame::scan(body);
    let valid = MAGIC.len() + scan.valid_len;
    if valid < data.len() {
        let cut = data.len() - valid;
        if frame::is_torn(&body[scan.valid_len..]) {
            tracing::warn!(
                exporter,
                "queue {}: segment {} ends in a torn append (a crash while writing it, never acknowledged): keeping its {} records, cutting {cut} bytes after them",
                dir.display(),
                path.display(),
                scan.records,
            );
        } else {
            tracing::error!(
                exporter,
                "queue {}: segment {} is damaged after record {}: {cut} bytes with no intact record in them are lost",
                dir.display(),
                path.display(),
                last.first_seq + scan.records,
            );
            count_corrupt(exporter, 1, cut as u64);
        }
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|error| OpenReason::Open {
                file: path.clone(),
                error,
            })?;
        f.set_len(valid as u64)
            .and_then(|()| f.sync_all())
            .map_err(|error| OpenReason::Truncate {
                file: path.clone(),
                error,
            })?;
    }
    last.len = valid as u64;
    Ok(last.first_seq + scan.records)
}

/// The offset of record `seq` in `seg`, found by walking its frames as the
/// reader does (a damaged stretch counts as one record).
fn locate(dir: &Path, seg: Segment, seq: u64) -> (u64, u64) {
    let path = segment_path(dir, seg.first_seq);
    let data = match fs::read(&path) {
        Ok(d) => d,
        // Unreadable: the reader reports it when it gets there.
        Err(_) => return (MAGIC_LEN, seg.first_seq),
    };
    let end = (seg.len as usize).min(data.len());
    let mut at = MAGIC_LEN;
    let mut cur = seg.first_seq;
    if end > MAGIC.len() {
        for (offset, step) in frame::walk(&data[MAGIC.len()..end]) {
            if cur >= seq {
                break;
            }
            let (frame::Step::Intact(n) | frame::Step::Damaged(n)) = step;
            at = MAGIC_LEN + (offset + n) as u64;
            cur += 1;
        }
    }
    (at, cur)
}

fn create_segment(dir: &Path, first_seq: u64, durable: bool) -> std::io::Result<File> {
    let path = segment_path(dir, first_seq);
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)?;
    if let Err(e) = f.write_all(MAGIC).and_then(|()| {
        if durable {
            f.sync_all()?;
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    OpenOptions::new().append(true).open(&path)
}

fn remove_segment(dir: &Path, first_seq: u64) {
    let path = segment_path(dir, first_seq);
    if let Err(e) = fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(
                "queue {}: cannot delete {}: {e}",
                dir.display(),
                path.display()
            );
        }
    }
}

/// Closes the current segment and starts a new one at the next record.
pub(crate) fn rotate(shared: &Shared, st: &mut State) -> std::io::Result<()> {
    let durable = !matches!(shared.cfg.fsync, Fsync::Interval(_));
    if durable || st.dirty {
        st.file.sync_data()?;
        st.dirty = false;
    }
    let file = create_segment(&shared.cfg.dir, st.write_seq, durable)?;
    st.file = file;
    st.segments.push_back(Segment {
        first_seq: st.write_seq,
        len: MAGIC_LEN,
    });
    Ok(())
}

/// Deletes segments wholly before the acknowledged position and records it.
pub(crate) fn release_acked(shared: &Shared, st: &mut State) {
    let (mut acked, mut next) = (st.acked, st.next_read);
    st.normalize(&mut acked);
    let missing = st.normalize(&mut next);
    super::report_missing(shared, missing, next.seq);
    st.acked = acked;
    st.next_read = next;
    // The position first, then the files: a crash in between leaves an ack
    // that points into a deleted segment's successor, never before it.
    write_ack(&shared.cfg.dir, st.acked.seq);
    while st.segments.len() > 1 && st.segments[0].first_seq < st.acked.seg {
        let gone = st.segments.pop_front().expect("two segments");
        remove_segment(&shared.cfg.dir, gone.first_seq);
    }
    shared.room.notify_all();
}

/// Written without fsync: after a machine crash a stale `ack` only means
/// some exported records are exported again, never that one is lost.
fn write_ack(dir: &Path, seq: u64) {
    let mut buf = [0u8; 12];
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&buf[..8]);
    buf[8..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(ACK_TMP);
    if let Err(e) = fs::write(&tmp, buf).and_then(|()| fs::rename(&tmp, dir.join(ACK_FILE))) {
        tracing::error!(
            "queue {}: cannot record the acknowledged position: {e}",
            dir.display()
        );
    }
}

fn read_ack(dir: &Path) -> Option<u64> {
    let data = fs::read(dir.join(ACK_FILE)).ok()?;
    if data.len() == 12 && crc32c::crc32c(&data[..8]).to_le_bytes() == data[8..] {
        return Some(u64::from_le_bytes(data[..8].try_into().expect("8 bytes")));
    }
    tracing::warn!(
        "queue {}: the ack file is damaged; records of the oldest segment may be exported again",
        dir.display()
    );
    None
}

/// `when_full: drop_oldest`: drops the oldest records not being exported,
/// up to the end of their segment, and counts them. False when there is
/// nothing to drop (the backlog is the batch in flight).
pub(crate) fn drop_oldest(shared: &Shared, st: &mut State) -> bool {
    let mut from = st.next_read;
    let missing = st.normalize(&mut from);
    super::report_missing(shared, missing, from.seq);
    if from.seq >= st.write_seq {
        return false;
    }
    let Some(i) = st.segments.iter().position(|s| s.first_seq == from.seg) else {
        return false;
    };
    let seg = st.segments[i];
    let end = match st.segments.get(i + 1) {
        Some(next) => Pos {
            seg: next.first_seq,
            offset: MAGIC_LEN,
            seq: next.first_seq,
        },
        None => Pos {
            seg: seg.first_seq,
            offset: seg.len,
            seq: st.write_seq,
        },
    };
    let records = end.seq - from.seq;
    let counted = count_items(&shared.cfg.dir, seg, from.offset);
    st.next_read = end;
    if st.in_flight.is_none() {
        st.acked = end;
        release_acked(shared, st);
    }
    tracing::warn!(
        exporter = %shared.exporter,
        "queue {} is full (max_size {} bytes): dropped the oldest {records} records",
        shared.dir(),
        shared.cfg.max_size
    );
    match counted {
        Some(items) => count_dropped(shared, items, "queue_full"),
        None => count_corrupt(&shared.exporter, records, 0),
    }
    true
}

/// Sums the item counts, by signal, of the records from `offset` to the
/// segment's end; `None` if a header is damaged.
fn count_items(dir: &Path, seg: Segment, offset: u64) -> Option<[u64; 3]> {
    let mut r = BufReader::new(File::open(segment_path(dir, seg.first_seq)).ok()?);
    r.seek(SeekFrom::Start(offset)).ok()?;
    let mut at = offset;
    let mut items = [0u64; 3];
    while seg.len - at >= HEADER as u64 {
        let mut h = [0u8; HEADER];
        r.read_exact(&mut h).ok()?;
        let h = Header::parse(&h);
        if h.implausible() || at + h.frame_len() as u64 > seg.len {
            return None;
        }
        let mut prefix = [0u8; 5];
        r.read_exact(&mut prefix).ok()?;
        let (signal, n) = frame::body_items(&prefix)?;
        items[signal as usize] += u64::from(n);
        r.seek_relative(h.len as i64 - 5).ok()?;
        at += h.frame_len() as u64;
    }
    Some(items)
}
