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

/// What [`scan`] found in a segment's bytes (after the magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Intact records from the start.
    pub records: u64,
    /// Where the last intact record ends (offset into the scanned bytes).
    pub valid_len: usize,
}

/// Walks frames from the start of `data` and stops at the first that is
/// incomplete or damaged.
pub fn scan(data: &[u8]) -> Scan {
    let mut at = 0;
    let mut records = 0;
    while data.len() - at >= HEADER {
        let h = Header::parse(data[at..at + HEADER].try_into().expect("8 bytes"));
        if h.implausible() || data.len() - at < h.frame_len() {
            break;
        }
        let body = &data[at + HEADER..at + h.frame_len()];
        if crc32c::crc32c(body) != h.crc || byte_signal(body[0]).is_none() {
            break;
        }
        at += h.frame_len();
        records += 1;
    }
    Scan {
        records,
        valid_len: at,
    }
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
    fn scan_stops_before_a_torn_or_damaged_frame() {
        let mut data = [frame(1), frame(2), frame(3)].concat();
        let whole = data.len();
        assert_eq!(
            scan(&data),
            Scan {
                records: 3,
                valid_len: whole
            }
        );
        data.truncate(whole - 4); // torn: the last frame runs past the end
        let two = frame(1).len() * 2;
        assert_eq!(
            scan(&data),
            Scan {
                records: 2,
                valid_len: two
            }
        );
        let mut bad = [frame(1), frame(2), frame(3)].concat();
        bad[frame(1).len() + HEADER + 6] ^= 1; // damage the second body
        assert_eq!(
            scan(&bad),
            Scan {
                records: 1,
                valid_len: frame(1).len()
            }
        );
        let mut garbage_len = frame(1);
        garbage_len[3] = 0xff;
        assert_eq!(scan(&garbage_len).records, 0);
    }
}
