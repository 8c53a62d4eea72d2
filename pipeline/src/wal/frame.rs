//! How one record is laid out in a segment file:
//!
//! ```text
//! [len: u32 LE][crc: u32 LE, CRC32C of body][body: len bytes]
//! body = [signal: u8][items: u32 LE][one OTLP export request, protobuf]
//! ```
//!
//! A segment starts with [`MAGIC`]. The length says where the next record
//! starts, the CRC says whether this one is intact: a torn write (crash in
//! the middle of an append) shows as a frame running past the end of the
//! file, a flipped bit as a CRC mismatch.

use bytes::Bytes;

use crate::batch::Signal;

/// First bytes of every segment file (format version 1).
pub const MAGIC: &[u8; 8] = b"CCPWAL01";
/// Length and CRC.
pub const HEADER: usize = 8;
/// Signal and item count, at the start of the body.
const BODY_PREFIX: usize = 5;
/// Larger lengths are taken as corruption, not as a record.
pub const MAX_BODY: usize = 256 << 20;

/// One queued export request.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub signal: Signal,
    pub items: u32,
    /// The request's protobuf bytes.
    pub bytes: Bytes,
}

fn signal_byte(s: Signal) -> u8 {
    match s {
        Signal::Logs => 1,
        Signal::Metrics => 2,
        Signal::Traces => 3,
    }
}

fn byte_signal(b: u8) -> Option<Signal> {
    match b {
        1 => Some(Signal::Logs),
        2 => Some(Signal::Metrics),
        3 => Some(Signal::Traces),
        _ => None,
    }
}

/// The frame of a record whose protobuf is the concatenation of `parts`.
pub fn encode(signal: Signal, items: usize, parts: &[&[u8]]) -> Vec<u8> {
    let body_len = BODY_PREFIX + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut frame = Vec::with_capacity(HEADER + body_len);
    frame.extend_from_slice(&(body_len as u32).to_le_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.push(signal_byte(signal));
    frame.extend_from_slice(&(items.min(u32::MAX as usize) as u32).to_le_bytes());
    for p in parts {
        frame.extend_from_slice(p);
    }
    let crc = crc32c::crc32c(&frame[HEADER..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    frame
}

/// A frame header: the body's length and expected CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: usize,
    pub crc: u32,
}

impl Header {
    pub fn parse(b: &[u8; HEADER]) -> Header {
        Header {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Whole frame size.
    pub fn frame_len(&self) -> usize {
        HEADER + self.len
    }

    /// A length no writer produces: the header itself is damaged.
    pub fn implausible(&self) -> bool {
        self.len < BODY_PREFIX || self.len > MAX_BODY
    }
}

/// Why a body was not accepted as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("checksum mismatch")]
    Checksum,
    #[error("unknown signal byte {0}")]
    Signal(u8),
}

/// Checks `body` against its header and splits it into a record.
pub fn decode_body(h: Header, body: Bytes) -> Result<Record, BodyError> {
    if crc32c::crc32c(&body) != h.crc {
        return Err(BodyError::Checksum);
    }
    let signal = byte_signal(body[0]).ok_or(BodyError::Signal(body[0]))?;
    let items = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
    Ok(Record {
        signal,
        items,
        bytes: body.slice(BODY_PREFIX..),
    })
}

/// The signal and item count of a body, without checking its CRC (for
/// counting drops).
pub fn body_items(prefix: &[u8; BODY_PREFIX]) -> Option<(Signal, u32)> {
    let items = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
    byte_signal(prefix[0]).map(|s| (s, items))
}

/// While looking for the next intact frame after damage, longer bodies are
/// not considered: it bounds the work on a long damaged stretch (a
/// checksum per candidate), and Claude Code's requests are far smaller.
pub const RESYNC_MAX_BODY: usize = 8 << 20;

/// The length of the intact frame at the front of `data`, if one is there.
pub fn intact_at(data: &[u8]) -> Option<usize> {
    intact_within(data, MAX_BODY)
}

fn intact_within(data: &[u8], max_body: usize) -> Option<usize> {
    let h = Header::parse(data.get(..HEADER)?.try_into().expect("8 bytes"));
    if h.implausible() || h.len > max_body || data.len() < h.frame_len() {
        return None;
    }
    let body = &data[HEADER..h.frame_len()];
    (byte_signal(body[0]).is_some() && crc32c::crc32c(body) == h.crc).then_some(h.frame_len())
}

/// `data` starts with damage: how many bytes to skip to the next intact
/// frame, or `data.len()` if none follows. The damaged frame's own length
/// is tried first (a damaged body behind an intact header), then every
/// byte.
pub fn resync(data: &[u8]) -> usize {
    if let Some(h) = data.get(..HEADER) {
        let h = Header::parse(h.try_into().expect("8 bytes"));
        let next = h.frame_len();
        if !h.implausible() && next < data.len() && intact_at(&data[next..]).is_some() {
            return next;
        }
    }
    (1..data.len())
        .find(|&i| intact_within(&data[i..], RESYNC_MAX_BODY).is_some())
        .unwrap_or(data.len())
}

/// One step of a walk over a segment's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An intact frame of this many bytes.
    Intact(usize),
    /// Damaged bytes up to the next intact frame (or the end). They count
    /// as one record: how many records they held cannot be known.
    Damaged(usize),
}

/// Walks `data` (a segment after its magic) frame by frame, skipping
/// damage up to the next intact frame.
pub fn walk(data: &[u8]) -> impl Iterator<Item = (usize, Step)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let step = match intact_at(&data[at..]) {
            Some(n) => Step::Intact(n),
            None => Step::Damaged(resync(&data[at..])),
        };
        let here = at;
        at += match step {
            Step::Intact(n) | Step::Damaged(n) => n,
        };
        Some((here, step))
    })
}

/// Whether damaged bytes at the end of the last segment are a torn append
/// (a crash in the middle of writing a frame: its length runs past the
/// end) rather than damage to written data.
pub fn is_torn(tail: &[u8]) -> bool {
    match tail.get(..HEADER) {
        Some(h) => {
            let h = Header::parse(h.try_into().expect("8 bytes"));
            !h.implausible() && h.frame_len() > tail.len()
        }
        None => true,
    }
}

/// What [`scan`] found in a segment's bytes (after the magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Records up to `valid_len`, each damaged stretch before it counting
    /// as one (as the reader counts them).
    pub records: u64,
    /// Where the last intact record ends (offset into the scanned bytes).
    pub valid_len: usize,
    /// Damaged stretches before `valid_len`, and their bytes: left in place
    /// for the reader to skip, log and count.
    pub damaged: u64,
    pub damaged_bytes: u64,
}

/// Walks the frames of `data` to the end of its last intact one.
pub fn scan(data: &[u8]) -> Scan {
    let mut scan = Scan {
        records: 0,
        valid_len: 0,
        damaged: 0,
        damaged_bytes: 0,
    };
    let (mut records, mut damaged, mut damaged_bytes) = (0, 0, 0);
    for (at, step) in walk(data) {
        records += 1;
        match step {
            Step::Intact(n) => {
                scan = Scan {
                    records,
                    valid_len: at + n,
                    damaged,
                    damaged_bytes,
                }
            }
            Step::Damaged(n) => {
                damaged += 1;
                damaged_bytes += n as u64;
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Vec<u8> {
        encode(Signal::Logs, n as usize, &[&[n; 10], &[n + 1; 3]])
    }

    #[test]
    fn a_frame_round_trips() {
        let f = frame(7);
        assert_eq!(f.len(), HEADER + 5 + 13);
        let h = Header::parse(f[..HEADER].try_into().unwrap());
        let r = decode_body(h, Bytes::copy_from_slice(&f[HEADER..])).unwrap();
        assert_eq!(r.signal, Signal::Logs);
        assert_eq!(r.items, 7);
        assert_eq!(&r.bytes[..], &[&[7u8; 10][..], &[8u8; 3][..]].concat()[..]);
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut f = frame(1);
        let last = f.len() - 1;
        f[last] ^= 0x10;
        let h = Header::parse(f[..HEADER].try_into().unwrap());
        assert_eq!(
            decode_body(h, Bytes::copy_from_slice(&f[HEADER..])),
            Err(BodyError::Checksum)
        );
    }

    #[test]
    fn scan_stops_after_the_last_intact_frame_and_resyncs_past_damage() {
        let (f1, f2, f3) = (frame(1), frame(2), frame(3));
        let mut data = [f1.clone(), f2.clone(), f3.clone()].concat();
        let whole = data.len();
        let clean = Scan {
            records: 3,
            valid_len: whole,
            damaged: 0,
            damaged_bytes: 0,
        };
        assert_eq!(scan(&data), clean);
        data.truncate(whole - 4); // torn: the last frame runs past the end
        let s = scan(&data);
        assert_eq!((s.records, s.valid_len), (2, f1.len() * 2));
        assert!(is_torn(&data[s.valid_len..]));

        // A damaged body: only that frame is skipped.
        let mut bad = [f1.clone(), f2.clone(), f3.clone()].concat();
        bad[f1.len() + HEADER + 6] ^= 1;
        let s = scan(&bad);
        assert_eq!((s.records, s.valid_len, s.damaged), (3, whole, 1));
        assert_eq!(s.damaged_bytes, f2.len() as u64);
        // A damaged length: resynchronised on the next intact frame.
        let mut bad_len = [f1.clone(), f2.clone(), f3.clone()].concat();
        bad_len[f1.len() + 3] = 0x7f;
        let steps: Vec<Step> = walk(&bad_len).map(|(_, s)| s).collect();
        assert_eq!(
            steps,
            [
                Step::Intact(f1.len()),
                Step::Damaged(f2.len()),
                Step::Intact(f3.len())
            ]
        );
        // Damage at the very end, not torn: nothing intact after it.
        let mut garbage_len = frame(1);
        garbage_len[3] = 0xff;
        let s = scan(&garbage_len);
        assert_eq!((s.records, s.valid_len), (0, 0));
        assert!(!is_torn(&garbage_len));
    }
}
