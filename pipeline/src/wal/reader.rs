//! The export task's side of a log: reads records in order, a batch at a
//! time, and acknowledges each batch once the exporter is done with it.

use std::fs::File;
use std::io::{BufReader, Read as _, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{self, Header, Record, HEADER, MAGIC};
use super::segments::{release_acked, segment_path};
use super::{count_corrupt, Pos, Shared};

/// Records of one signal, in log order, to export as one request.
#[derive(Debug)]
pub struct Read {
    pub records: Vec<Record>,
}

impl Read {
    pub fn items(&self) -> u64 {
        self.records.iter().map(|r| u64::from(r.items)).sum()
    }
}

struct Cursor {
    seg: u64,
    offset: u64,
    file: BufReader<File>,
}

/// How much a log holds, for the queue gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub records: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

/// Reads a log's [`Backlog`] from anywhere (the export task's gauges).
#[derive(Clone)]
pub struct BacklogProbe(Arc<Shared>);

impl BacklogProbe {
    /// Records and bytes waiting (the batch in flight included), and the
    /// byte bound (`max_size`), read under one lock.
    pub fn read(&self) -> Backlog {
        let st = self.0.lock();
        Backlog {
            records: st.write_seq - st.acked.seq,
            bytes: st.backlog(),
            max_bytes: self.0.cfg.max_size,
        }
    }
}

pub struct WalReader {
    shared: Arc<Shared>,
    cursor: Option<Cursor>,
    cuts: u64,
    /// The reader epoch this reader belongs to; once a new graph took the
    /// log over, this reader yields nothing and acknowledges nothing.
    epoch: u64,
    /// Opened by a later graph while an earlier one still reads: inert
    /// until [`activate`](Self::activate) takes the log over.
    pending: bool,
    /// Set by [`gate`](Self::gate): reading waits for the graph to start.
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Lets a gated reader start (see [`WalReader::gate`]); dropping it
/// unused (the graph was never started) stops the reader untouched.
pub struct Start(tokio::sync::oneshot::Sender<()>);

impl Start {
    pub fn go(self) {
        let _ = self.0.send(());
    }
}

/// What one pass over a segment produced.
struct Pass {
    records: Vec<Record>,
    end: Pos,
    /// Damaged stretches skipped (one record each), and their bytes.
    skipped: u64,
    skipped_bytes: u64,
}

/// Why a frame of a segment is skipped as damage.
#[derive(Debug, thiserror::Error)]
enum Damage {
    #[error("a truncated header")]
    TruncatedHeader,
    #[error("a read error: {0}")]
    Read(std::io::Error),
    #[error("an impossible length {0}")]
    ImpossibleLength(usize),
    #[error(transparent)]
    Body(#[from] frame::BodyError),
}

/// Why a segment cannot be read at all (its records are lost).
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("cannot open it: {0}")]
    Open(std::io::Error),
    #[error("cannot read its header: {0}")]
    Header(std::io::Error),
    #[error("bad header")]
    BadHeader,
    #[error("cannot seek: {0}")]
    Seek(std::io::Error),
}

/// The frame at `at` (the file is positioned there), or why it is damaged.
fn read_frame(file: &mut BufReader<File>, at: Pos, seg_len: u64) -> Result<Record, Damage> {
    let mut h = [0u8; HEADER];
    if seg_len - at.offset < HEADER as u64 {
        return Err(Damage::TruncatedHeader);
    }
    file.read_exact(&mut h).map_err(Damage::Read)?;
    let h = Header::parse(&h);
    if h.implausible() || at.offset + h.frame_len() as u64 > seg_len {
        return Err(Damage::ImpossibleLength(h.len));
    }
    let mut body = vec![0u8; h.len];
    file.read_exact(&mut body).map_err(Damage::Read)?;
    Ok(frame::decode_body(h, Bytes::from(body))?)
}

/// How many bytes from `at` to the next intact frame of the segment (or to
/// its end): the segment's rest is read and searched (damage is rare).
fn skip_damage(shared: &Shared, at: Pos, seg_len: u64) -> u64 {
    let rest = seg_len - at.offset;
    let path = segment_path(&shared.cfg.dir, at.seg);
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = File::open(&path)?;
        f.seek(SeekFrom::Start(at.offset))?;
        let mut data = Vec::with_capacity(rest as usize);
        f.take(rest).read_to_end(&mut data)?;
        Ok(data)
    };
    match read() {
        Ok(data) => frame::resync(&data) as u64,
        Err(_) => rest,
    }
}

impl WalReader {
    pub(crate) fn new(shared: Arc<Shared>, epoch: u64) -> Self {
        WalReader {
            shared,
            cursor: None,
            cuts: 0,
            epoch,
            pending: false,
            gate: None,
        }
    }

    /// A reader of a log an earlier graph still reads.
    pub(crate) fn pending(shared: Arc<Shared>) -> Self {
        // Its epoch matches none until it is activated.
        let mut r = WalReader::new(shared, u64::MAX);
        r.pending = true;
        r
    }

    /// Makes reading wait until the returned [`Start`] says go, so a graph
    /// that fails to build never takes a queue over from the running one.
    pub fn gate(&mut self) -> Start {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.gate = Some(rx);
        Start(tx)
    }

    /// Waits for the gate, if any, then takes the log over if an earlier
    /// graph still reads it. False if the graph was dropped unstarted.
    pub(crate) async fn activate(&mut self) -> bool {
        if let Some(gate) = self.gate.take() {
            if gate.await.is_err() {
                return false;
            }
        }
        if self.pending {
            self.pending = false;
            self.epoch = super::take_over(&self.shared);
        }
        true
    }

    /// Whether a new graph took the log over from this reader.
    pub fn is_handed_over(&self) -> bool {
        self.shared.lock().reader_epoch != self.epoch
    }

    /// Completes once a new graph took the log over from this reader.
    pub async fn handed_over(&self) {
        loop {
            // Created before the check, so a hand-over in between still wakes it.
            let woken = self.shared.handover.notified();
            if self.is_handed_over() {
                return;
            }
            woken.await;
        }
    }

    /// The next records to export: up to `max_items` items and `max_bytes`
    /// bytes (at least one record), all of one signal. Waits for records;
    /// `None` once every writer is gone and everything was read, or once a
    /// new graph took the log over.
    pub async fn next(&mut self, max_items: u64, max_bytes: u64) -> Option<Read> {
        loop {
            let snapshot = {
                let mut st = self.shared.lock();
                if st.reader_epoch != self.epoch {
                    return None;
                }
                if st.cuts != self.cuts {
                    self.cuts = st.cuts;
                    self.cursor = None;
                }
                let mut p = st.next_read;
                let missing = st.normalize(&mut p);
                super::report_missing(&self.shared, missing, p.seq);
                st.next_read = p;
                if p.seq >= st.write_seq {
                    if st.writers == 0 {
                        return None;
                    }
                    None
                } else {
                    let i = st
                        .segments
                        .iter()
                        .position(|s| s.first_seq == p.seg)
                        .expect("the read position is in a segment");
                    let end_seq = st.segments.get(i + 1).map_or(st.write_seq, |s| s.first_seq);
                    Some((p, st.segments[i].len, end_seq))
                }
            };
            let Some((start, seg_len, seg_end_seq)) = snapshot else {
                tokio::select! {
                    _ = self.shared.data.notified() => {}
                    _ = self.handed_over() => {}
                }
                continue;
            };
            let pass = self.read_segment(start, seg_len, seg_end_seq, max_items, max_bytes);
            let mut st = self.shared.lock();
            if st.reader_epoch != self.epoch {
                return None;
            }
            if st.next_read != start {
                // The oldest records were dropped meanwhile (queue full).
                continue;
            }
            st.next_read = pass.end;
            if pass.skipped > 0 {
                count_corrupt(&self.shared.exporter, pass.skipped, pass.skipped_bytes);
            }
            if pass.records.is_empty() {
                if st.in_flight.is_none() {
                    st.acked = pass.end;
                    release_acked(&self.shared, &mut st);
                }
                continue;
            }
            st.in_flight = Some(pass.end);
            return Some(Read {
                records: pass.records,
            });
        }
    }

    /// The batch returned by [`next`](Self::next) is exported or given up on.
    pub fn ack(&mut self) {
        let mut st = self.shared.lock();
        if st.reader_epoch != self.epoch {
            return;
        }
        if st.in_flight.take().is_some() {
            st.acked = st.next_read;
            release_acked(&self.shared, &mut st);
        }
    }

    /// Records waiting, the batch in flight included.
    pub fn backlog_records(&self) -> u64 {
        let st = self.shared.lock();
        st.write_seq - st.acked.seq
    }

    /// A handle that reads the backlog for the queue gauges.
    pub fn probe(&self) -> BacklogProbe {
        BacklogProbe(self.shared.clone())
    }

    pub fn dir(&self) -> String {
        self.shared.dir()
    }

    fn read_segment(
        &mut self,
        start: Pos,
        seg_len: u64,
        seg_end_seq: u64,
        max_items: u64,
        max_bytes: u64,
    ) -> Pass {
        let shared = self.shared.clone();
        let mut cur = match self.take_cursor(start) {
            Ok(c) => c,
            Err(why) => {
                let lost = seg_end_seq.saturating_sub(start.seq).max(1);
                tracing::error!(
                    exporter = %shared.exporter,
                    "queue {}: segment {} cannot be read ({why}); its {lost} records are lost",
                    shared.dir(), start.seg
                );
                return Pass {
                    records: Vec::new(),
                    end: Pos {
                        seg: start.seg,
                        offset: seg_len.max(start.offset),
                        seq: seg_end_seq.max(start.seq),
                    },
                    skipped: lost,
                    skipped_bytes: 0,
                };
            }
        };
        let mut at = start;
        let mut records: Vec<Record> = Vec::new();
        let (mut items, mut bytes, mut skipped, mut skipped_bytes) = (0u64, 0u64, 0u64, 0u64);
        while at.offset < seg_len && at.seq < seg_end_seq {
            if !records.is_empty() && (items >= max_items || bytes >= max_bytes) {
                break;
            }
            let damage = match read_frame(&mut cur.file, at, seg_len) {
                Ok(r) => {
                    if records.first().is_some_and(|f| f.signal != r.signal) {
                        // Leave it for the next batch.
                        if cur.file.seek(SeekFrom::Start(at.offset)).is_err() {
                            return Pass {
                                records,
                                end: at,
                                skipped,
                                skipped_bytes,
                            };
                        }
                        break;
                    }
                    let len = HEADER as u64 + 5 + r.bytes.len() as u64;
                    items += u64::from(r.items);
                    bytes += r.bytes.len() as u64;
                    records.push(r);
                    at = Pos {
                        seg: at.seg,
                        offset: at.offset + len,
                        seq: at.seq + 1,
                    };
                    continue;
                }
                Err(why) => why,
            };
            // Skip only the damage: on to the next intact frame.
            let skip = skip_damage(&shared, at, seg_len);
            tracing::error!(
                exporter = %shared.exporter,
                "queue {}: record {} in segment {} is damaged ({damage}); skipping {skip} bytes to the next intact record",
                shared.dir(), at.seq, at.seg
            );
            skipped += 1;
            skipped_bytes += skip;
            at = Pos {
                seg: at.seg,
                offset: at.offset + skip,
                seq: at.seq + 1,
            };
            if cur.file.seek(SeekFrom::Start(at.offset)).is_err() {
                break;
            }
        }
        cur.offset = at.offset;
        self.cursor = Some(cur);
        Pass {
            records,
            end: at,
            skipped,
            skipped_bytes,
        }
    }

    /// A reader positioned at `p`, reusing the open file when it can.
    fn take_cursor(&mut self, p: Pos) -> Result<Cursor, Unreadable> {
        if let Some(c) = self.cursor.take() {
            if c.seg == p.seg && c.offset == p.offset {
                return Ok(c);
            }
        }
        let path = segment_path(&self.shared.cfg.dir, p.seg);
        let mut file =
            BufReader::with_capacity(256 << 10, File::open(&path).map_err(Unreadable::Open)?);
        let mut magic = [0u8; MAGIC.len()];
        file.read_exact(&mut magic).map_err(Unreadable::Header)?;
        if &magic != MAGIC {
            return Err(Unreadable::BadHeader);
        }
        file.seek(SeekFrom::Start(p.offset))
            .map_err(Unreadable::Seek)?;
        Ok(Cursor {
            seg: p.seg,
            offset: p.offset,
            file,
        })
    }
}

impl Drop for WalReader {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.reader_epoch == self.epoch {
            st.reader_gone = true;
            drop(st);
            self.shared.room.notify_all();
        }
    }
}
