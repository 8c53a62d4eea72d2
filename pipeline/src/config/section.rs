//! A part of `service` that a crate outside this one types and checks
//! itself (`service.view` in the binary), kept raw with where it came from,
//! as components are.

use std::fmt;
use std::sync::Arc;

use figment::value::{Dict, Tag, Value};

use super::error::ConfigError;
use super::locate::KeyPath;
use super::source::Origins;

#[derive(Clone)]
pub struct ServiceSection {
    path: KeyPath,
    value: Value,
    origins: Arc<Origins>,
}

impl ServiceSection {
    pub(crate) fn new(path: KeyPath, value: Value, origins: Arc<Origins>) -> ServiceSection {
        ServiceSection {
            path,
            value,
            origins,
        }
    }

    /// Deserializes into a strict config struct; an empty value (`view:`)
    /// reads like `{}`, so defaults apply.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let empty = Value::Dict(Tag::Default, Dict::new());
        let value = match &self.value {
            Value::Empty(..) => &empty,
            value => value,
        };
        T::deserialize(value).map_err(|e| self.origins.figment_error(&self.path, e))
    }

    /// An error about `key` (dotted, relative to this section; "" is the
    /// section itself), naming the file, line and full key path.
    pub fn error(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        let mut path = self.path.clone();
        path.extend(key.split('.').filter(|k| !k.is_empty()).map(str::to_owned));
        ConfigError::one(self.origins.problem(&path, message))
    }

    /// The raw value, for `print-config`.
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }
}

impl fmt::Debug for ServiceSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServiceSection({}: {:?})",
            self.path.join("."),
            self.value
        )
    }
}

// Two sections are equal when they say the same thing, wherever written.
impl PartialEq for ServiceSection {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.value == other.value
    }
}

impl Eq for ServiceSection {}
