//! [`Invalid`]: the one error type every component's pure settings check
//! returns. It knows the key inside the component; [`ComponentConfig::locate`]
//! adds the file, line and full key path.
//!
//! [`ComponentConfig::locate`]: super::ComponentConfig::locate

use std::fmt;

/// A setting that failed validation: its dotted key below the component's
/// own (`rotation.max_megabytes`; "" for the component itself) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Shown(self))]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Invalid {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// `key: message`, or the message alone for the component itself.
struct Shown<'a>(&'a Invalid);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.key.as_str() {
            "" => f.write_str(&self.0.message),
            key => write!(f, "{key}: {}", self.0.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_key_unless_it_is_the_component_itself() {
        assert_eq!(Invalid::new("a.b", "bad").to_string(), "a.b: bad");
        assert_eq!(Invalid::new("", "bad").to_string(), "bad");
    }
}
