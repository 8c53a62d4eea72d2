//! Small writers shared by the text and JSON outputs: UTC timestamps, hex
//! ids, numbers and escaped text, all straight into a byte buffer. The
//! integer and hex writers are the OTLP codec's, re-exported here.

pub use ccpipe_otlp::write::{write_hex, write_int};

/// A UTC calendar time split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl Utc {
    pub fn from_unix_nanos(ns: u64) -> Utc {
        let secs = ns / 1_000_000_000;
        let nanos = (ns % 1_000_000_000) as u32;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            nanos,
        }
    }

    fn write_date(&self, out: &mut Vec<u8>) {
        pad(self.year.max(0) as u64, 4, out);
        out.push(b'-');
        pad(self.month.into(), 2, out);
        out.push(b'-');
        pad(self.day.into(), 2, out);
    }

    fn write_clock(&self, sep: u8, out: &mut Vec<u8>) {
        pad(self.hour.into(), 2, out);
        out.push(sep);
        pad(self.minute.into(), 2, out);
        out.push(sep);
        pad(self.second.into(), 2, out);
    }

    /// RFC 3339 with milliseconds: `2026-11-21T23:28:07.774Z`.
    pub fn write_rfc3339_millis(&self, out: &mut Vec<u8>) {
        self.write_date(out);
        out.push(b'T');
        self.write_clock(b':', out);
        out.push(b'.');
        pad((self.nanos / 1_000_000).into(), 3, out);
        out.push(b'Z');
    }

    /// As Go prints a `time.Time` (the Collector's debug output):
    /// `2026-11-21 23:28:07.774 +0000 UTC`, trailing zeros of the fraction cut.
    pub fn write_go(&self, out: &mut Vec<u8>) {
        self.write_date(out);
        out.push(b' ');
        self.write_clock(b':', out);
        if self.nanos > 0 {
            out.push(b'.');
            pad(self.nanos.into(), 9, out);
            while out.last() == Some(&b'0') {
                out.pop();
            }
        }
        out.extend_from_slice(b" +0000 UTC");
    }

    /// The stamp in rotated file names, as lumberjack writes it:
    /// `2026-11-21T23-28-07.774`.
    pub fn file_stamp(&self) -> String {
        let mut out = Vec::with_capacity(23);
        self.write_date(&mut out);
        out.push(b'T');
        self.write_clock(b'-', &mut out);
        out.push(b'.');
        pad((self.nanos / 1_000_000).into(), 3, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn pad(n: u64, width: usize, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(n);
    for _ in s.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(s.as_bytes());
}

/// `[a,b,…]`, each item written by `write`.
pub fn write_json_list<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// A JSON number for a double; non-finite values as protobuf JSON writes
/// them (`"NaN"`, `"Infinity"`, `"-Infinity"`), since JSON has no literal.
pub fn write_json_f64(d: f64, out: &mut Vec<u8>) {
    if d.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(d).as_bytes());
    } else {
        out.push(b'"');
        write_f64(d, out);
        out.push(b'"');
    }
}

/// A double as text: shortest round-trip form, `NaN`, `Infinity`, `-Infinity`.
pub fn write_f64(d: f64, out: &mut Vec<u8>) {
    if d.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(d).as_bytes());
    } else if d.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if d > 0.0 {
        out.extend_from_slice(b"Infinity");
    } else {
        out.extend_from_slice(b"-Infinity");
    }
}

/// Text for a line-oriented output: as is, except that control characters
/// (newlines in tool output, say) are escaped so one value stays on one line.
pub fn write_escaped(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\x");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn calendar_dates() {
        // 2026-11-21T23:28:07.774Z, from a Claude Code capture.
        let t = Utc::from_unix_nanos(1_795_303_687_774_000_123);
        assert_eq!(
            text(|o| t.write_rfc3339_millis(o)),
            "2026-11-21T23:28:07.774Z"
        );
        assert_eq!(
            text(|o| t.write_go(o)),
            "2026-11-21 23:28:07.774000123 +0000 UTC"
        );
        assert_eq!(t.file_stamp(), "2026-11-21T23-28-07.774");
        let epoch = Utc::from_unix_nanos(0);
        assert_eq!(text(|o| epoch.write_go(o)), "1970-01-01 00:00:00 +0000 UTC");
        // Leap day and the turn of a century.
        let leap = Utc::from_unix_nanos(951_782_400 * 1_000_000_000);
        assert_eq!(
            text(|o| leap.write_rfc3339_millis(o)),
            "2000-02-29T00:00:00.000Z"
        );
        let eve = Utc::from_unix_nanos(4_102_444_799 * 1_000_000_000 + 500_000_000);
        assert_eq!(text(|o| eve.write_go(o)), "2099-12-31 23:59:59.5 +0000 UTC");
    }

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(text(|o| write_json_f64(0.5, o)), "0.5");
        assert_eq!(text(|o| write_json_f64(1.0, o)), "1.0");
        assert_eq!(text(|o| write_json_f64(f64::NAN, o)), "\"NaN\"");
        assert_eq!(
            text(|o| write_json_f64(f64::NEG_INFINITY, o)),
            "\"-Infinity\""
        );
        assert_eq!(text(|o| write_hex(&[0x0a, 0xff], o)), "0aff");
        assert_eq!(
            text(|o| write_escaped("a\nb\tc\u{1}é", o)),
            "a\\nb\\tc\\x01é"
        );
    }
}
