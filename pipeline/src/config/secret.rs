//! [`Secret`]: a password, API key or token read from the config. Its
//! `Debug` and `Display` print `[REDACTED]`, so a config or settings struct
//! can derive `Debug` and be logged without leaking it; the value is read
//! only through [`Secret::expose`], at the one place that sends it.
//! (`print-config` masks the same keys in the YAML, see `mask.rs`.)

use std::fmt;

use serde::{Deserialize, Deserializer};

/// What `Debug` and `Display` print instead of the value.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the header, the hash or the comparison that
    /// needs it, never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s: Secret = serde_yaml::from_str("hunter2-value").unwrap();
        assert_eq!(s.expose(), "hunter2-value");
        for shown in [format!("{s:?}"), format!("{s}"), format!("{s:#?}")] {
            assert_eq!(shown, REDACTED);
        }
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            password: Secret,
            token: Option<Secret>,
        }
        let h = Holder {
            password: s.clone(),
            token: Some("tok-value".into()),
        };
        let shown = format!("{h:?} {h:#?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-value"),
            "{shown}"
        );
    }
}
