//! Component identities: the kinds of things a config names, and ids of the
//! form "type" or "type/name".

use std::fmt;
use std::str::FromStr;

/// The kinds of things a config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    /// Exporter of one pipeline and receiver of others (`connectors:`).
    Connector,
    Pipeline,
}

impl Kind {
    /// The top-level YAML section of this kind (`receivers`, …).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Connector => "connectors",
            Kind::Pipeline => "service.pipelines",
        }
    }

    /// The singular noun used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
            Kind::Pipeline => "pipeline",
        }
    }
}

/// A component id as the Collector writes it: `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    kind: String,
    name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {id:?}: {reason}")]
pub struct IdError {
    pub id: String,
    pub reason: &'static str,
}

impl ComponentId {
    pub fn new(kind: &str, name: Option<&str>) -> Self {
        ComponentId {
            kind: kind.to_owned(),
            name: name.map(str::to_owned),
        }
    }

    /// The component type (`file` in `file/raw`).
    pub fn type_name(&self) -> &str {
        &self.kind
    }

    /// The optional instance name (`raw` in `file/raw`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl FromStr for ComponentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            id: s.to_owned(),
            reason,
        };
        let (kind, name) = match s.split_once('/') {
            Some((k, n)) => (k, Some(n)),
            None => (s, None),
        };
        let valid_type = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !valid_type(kind) {
            return Err(err(
                "the type must be non-empty and use only letters, digits, '_' and '-'",
            ));
        }
        if let Some(n) = name {
            if n.is_empty() || n.contains('/') || n.chars().any(char::is_whitespace) {
                return Err(err(
                    "the name after '/' must be non-empty, without '/' or spaces",
                ));
            }
        }
        Ok(ComponentId::new(kind, name))
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.kind, n),
            None => f.write_str(&self.kind),
        }
    }
}

impl serde::Serialize for ComponentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ComponentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
