//! Config values with units: durations ("200ms", "1m30s") and byte sizes
//! ("20MiB", "100MB", plain integers = bytes). Both serialize back to the
//! human form so `print-config` shows what a person would write.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written with a unit: "200ms", "5s", "1m30s".
///
/// Bare numbers are rejected (except 0, the same in every unit): "5" could
/// mean seconds, milliseconds or the Collector's nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// The longest duration any key accepts: a year. Longer values would
/// overflow the clock when added to "now" (a panic at run time), and no
/// timeout or interval needs more.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// A duration or byte size that does not parse; the message quotes what
/// was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration {0}: add a unit, e.g. \"{0}s\" or \"{0}ms\"")]
    MissingUnit(String),
    #[error("invalid duration {text:?}: {reason}")]
    Duration { text: String, reason: String },
    #[error("invalid duration {0:?}: must be at most 8760h (a year)")]
    TooLong(String),
    #[error("invalid byte size {text:?}: {why}")]
    ByteSize { text: String, why: &'static str },
}

fn missing_unit(n: impl fmt::Display) -> UnitError {
    UnitError::MissingUnit(n.to_string())
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let s = s.trim();
        if s == "0" {
            return Ok(Duration(std::time::Duration::ZERO));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(missing_unit(s));
        }
        let d = humantime::parse_duration(s).map_err(|e| UnitError::Duration {
            text: s.to_owned(),
            reason: e.to_string(),
        })?;
        if d > MAX_DURATION {
            return Err(UnitError::TooLong(s.to_owned()));
        }
        Ok(Duration(d))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // humantime writes "1m 30s"; drop the spaces to match how configs are written.
        let text = humantime::format_duration(self.0).to_string();
        f.write_str(&text.replace(' ', ""))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"200ms\" or \"5s\"")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                s.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
                match n {
                    0 => Ok(Duration(std::time::Duration::ZERO)),
                    _ => Err(E::custom(missing_unit(n))),
                }
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "invalid duration {n}: must not be negative"
                    ))),
                }
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Duration, E> {
                Err(E::custom(missing_unit(n)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: "20MiB", "512KiB", "1GiB", "100MB", "1.5GiB", or a plain
/// integer of bytes. Units are case-insensitive; KB/MB/GB/TB are powers of
/// 1000, KiB/MiB/GiB/TiB powers of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const BINARY: [(&str, u64); 4] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];
const DECIMAL: [(&str, u64); 4] = [
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
];

fn unit_multiplier(unit: &str) -> Option<u64> {
    if unit.is_empty() || unit.eq_ignore_ascii_case("b") {
        return Some(1);
    }
    BINARY
        .iter()
        .chain(&DECIMAL)
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, m)| m)
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let text = s.trim();
        let invalid = |why: &'static str| UnitError::ByteSize {
            text: s.to_owned(),
            why,
        };
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = (&text[..split], text[split..].trim());
        let mult = unit_multiplier(unit).ok_or_else(|| {
            invalid("unknown unit, expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
        })?;
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 18 {
            return Err(invalid("expected a number, optionally followed by a unit"));
        }
        // Exact integer arithmetic so "1.5GiB" is exactly 1610612736 bytes.
        let scale = 10u128.pow(frac.len() as u32);
        let whole: u128 = whole.parse().map_err(|_| invalid("number too large"))?;
        let frac: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().unwrap_or(0)
        };
        let frac_bytes = frac * u128::from(mult);
        let (frac_whole, frac_rest) = (frac_bytes / scale, frac_bytes % scale);
        if frac_rest != 0 {
            return Err(invalid("not a whole number of bytes"));
        }
        let total = whole
            .checked_mul(u128::from(mult))
            .and_then(|w| w.checked_add(frac_whole))
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| invalid("too large"))?;
        Ok(ByteSize(total))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let exact = BINARY
            .iter()
            .chain(&DECIMAL)
            .find(|&&(_, m)| n != 0 && n.checked_rem(m) == Some(0));
        match exact {
            Some((unit, m)) => write!(f, "{}{unit}", n / m),
            None => write!(f, "{n}B"),
        }
    }
}

impl From<ByteSize> for u64 {
    fn from(b: ByteSize) -> u64 {
        b.0
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size, e.g. \"20MiB\" or 1000")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                s.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid byte size {n}: must not be negative")))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "invalid byte size {n}: not a whole number of bytes"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_human_form() {
        let d = |s: &str| {
            s.parse::<Duration>()
                .map(|d| d.0.as_millis())
                .map_err(|e| e.to_string())
        };
        assert_eq!(d("200ms"), Ok(200));
        assert_eq!(d("5s"), Ok(5_000));
        assert_eq!(d("1m30s"), Ok(90_000));
        assert_eq!(d("0"), Ok(0));
        assert_eq!(
            d("5"),
            Err("invalid duration 5: add a unit, e.g. \"5s\" or \"5ms\"".into())
        );
        assert!(d("5 parsecs")
            .unwrap_err()
            .starts_with("invalid duration \"5 parsecs\": "));
        let ninety = Duration(std::time::Duration::from_secs(90));
        assert_eq!(ninety.to_string(), "1m30s");
        assert_eq!(ninety.to_string().parse(), Ok(ninety));
        // Anything past a year would overflow "now + d" somewhere at run time.
        assert_eq!(d("365days"), Ok(365 * 24 * 3600 * 1000));
        assert_eq!(
            d("366days"),
            Err("invalid duration \"366days\": must be at most 8760h (a year)".into())
        );
        assert!(d("100000000000000h").is_err());
    }

    #[test]
    fn durations_from_yaml_reject_bare_integers() {
        let parse = |y: &str| serde_yaml::from_str::<Duration>(y).map_err(|e| e.to_string());
        assert_eq!(parse("200ms").unwrap().0.as_millis(), 200);
        assert!(parse("5")
            .unwrap_err()
            .starts_with("invalid duration 5: add a unit"));
        assert!(parse("-5")
            .unwrap_err()
            .starts_with("invalid duration -5: must not be negative"));
        assert_eq!(
            serde_yaml::to_string(&parse("1m30s").unwrap()).unwrap(),
            "1m30s\n"
        );
    }

    #[test]
    fn byte_sizes_parse_and_print_in_human_form() {
        let b = |s: &str| {
            s.parse::<ByteSize>()
                .map(|b| b.0)
                .map_err(|e| e.to_string())
        };
        assert_eq!(b("20MiB"), Ok(20 << 20));
        assert_eq!(b("512KiB"), Ok(512 << 10));
        assert_eq!(b("1GiB"), Ok(1 << 30));
        assert_eq!(b("100MB"), Ok(100_000_000));
        assert_eq!(b("1000"), Ok(1000));
        assert_eq!(b("1.5 gib"), Ok(3 << 29));
        assert_eq!(b("0"), Ok(0));
        assert_eq!(
            b("1.5B"),
            Err("invalid byte size \"1.5B\": not a whole number of bytes".into())
        );
        assert_eq!(
            b("20 parsecs"),
            Err("invalid byte size \"20 parsecs\": unknown unit, expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB".into())
        );
        assert_eq!(
            b("99999999TiB"),
            Err("invalid byte size \"99999999TiB\": too large".into())
        );
        assert_eq!(ByteSize(20 << 20).to_string(), "20MiB");
        assert_eq!(ByteSize(100_000_000).to_string(), "100MB");
        assert_eq!(ByteSize(1001).to_string(), "1001B");
        assert_eq!(ByteSize(0).to_string(), "0B");
    }

    #[test]
    fn byte_sizes_from_yaml_accept_plain_integers() {
        let parse = |y: &str| serde_yaml::from_str::<ByteSize>(y).map_err(|e| e.to_string());
        assert_eq!(parse("1000"), Ok(ByteSize(1000)));
        assert_eq!(parse("20MiB"), Ok(ByteSize(20 << 20)));
        assert!(parse("-1")
            .unwrap_err()
            .starts_with("invalid byte size -1: must not be negative"));
        assert_eq!(
            serde_yaml::to_string(&ByteSize(512 << 10)).unwrap(),
            "512KiB\n"
        );
    }
}
