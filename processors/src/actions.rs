//! Attribute actions, as the Collector's `attributes` and `resource`
//! processors name them, over one attribute list (`Vec<KeyValue>`):
//!
//! - `insert` sets `key` only if it is absent, `update` only if it is present,
//!   `upsert` either way; the value is `value` (typed) or, with
//!   `from_attribute: other`, a copy of another attribute of the same list
//!   (nothing happens when that attribute is absent).
//! - `delete` removes `key`, and every key matching the regex `pattern`.
//! - `hash` replaces the value of `key` / keys matching `pattern` with its
//!   keyed HMAC-SHA256 digest (hex); it needs the processor's `hash_key`.
//!
//! Actions run in the order written. Patterns are compiled once at build and
//! are unanchored like the Collector's (write `^…$` to anchor).

use std::fmt;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use regex::Regex;
use serde::Deserialize;

use crate::hashing::{self, KeyedHash};
use crate::value::{self, ConfigValue};
use crate::{compile_regex, Invalid};

/// One action as written in a config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub value: Option<ConfigValue>,
    #[serde(default)]
    pub from_attribute: Option<String>,
    pub action: ActionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ActionKind {
    Insert,
    Update,
    Upsert,
    Delete,
    Hash,
}

impl ActionKind {
    const ALL: [ActionKind; 5] = [
        ActionKind::Insert,
        ActionKind::Update,
        ActionKind::Upsert,
        ActionKind::Delete,
        ActionKind::Hash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Insert => "insert",
            ActionKind::Update => "update",
            ActionKind::Upsert => "upsert",
            ActionKind::Delete => "delete",
            ActionKind::Hash => "hash",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an `action:` value is not an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownAction {
    #[error("`from_attribute` is a field, not an action: write `{{ key: K, from_attribute: SOURCE, action: upsert }}`")]
    FromAttribute,
    #[error("unknown action {0:?}, expected one of insert, update, upsert, delete, hash")]
    Other(String),
}

impl TryFrom<String> for ActionKind {
    type Error = UnknownAction;

    fn try_from(s: String) -> Result<Self, UnknownAction> {
        if let Some(k) = ActionKind::ALL.into_iter().find(|k| k.as_str() == s) {
            return Ok(k);
        }
        if s == "from_attribute" {
            return Err(UnknownAction::FromAttribute);
        }
        Err(UnknownAction::Other(s))
    }
}

/// Where a set action takes its value from.
#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    From(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Insert,
    Update,
    Upsert,
}

/// Which keys a delete or hash touches.
#[derive(Debug, Clone)]
struct KeySelector {
    key: Option<String>,
    pattern: Option<Regex>,
}

impl KeySelector {
    fn matches(&self, key: &str) -> bool {
        self.key.as_deref() == Some(key) || self.pattern.as_ref().is_some_and(|p| p.is_match(key))
    }
}

#[derive(Debug, Clone)]
enum Action {
    Set {
        key: String,
        source: Source,
        mode: SetMode,
    },
    Delete(KeySelector),
    Hash(KeySelector),
}

/// A compiled list of actions.
#[derive(Debug, Clone)]
pub struct Actions {
    list: Vec<Action>,
    hasher: Option<KeyedHash>,
}

impl Actions {
    /// Checks and compiles `configs` (found under the config key `list_key`).
    /// `hash_key` is the processor's key for `hash` actions.
    pub fn compile(
        configs: &[ActionConfig],
        hash_key: Option<&str>,
        list_key: &str,
    ) -> Result<Actions, Invalid> {
        if configs.is_empty() {
            return Err(Invalid::new(list_key, "at least one action is required"));
        }
        let mut list = Vec::with_capacity(configs.len());
        let mut needs_hash = false;
        for (i, c) in configs.iter().enumerate() {
            let at = |field: &str| match field {
                "" => format!("{list_key}.{i}"),
                f => format!("{list_key}.{i}.{f}"),
            };
            let kind = c.action;
            let key = match c.key.as_deref() {
                Some("") => return Err(Invalid::new(at("key"), "must not be empty")),
                k => k,
            };
            let pattern = match &c.pattern {
                None => None,
                Some(p) => match kind {
                    ActionKind::Delete | ActionKind::Hash => {
                        Some(compile_regex(p).map_err(|e| Invalid::new(at("pattern"), e))?)
                    }
                    _ => {
                        return Err(Invalid::new(
                            at("pattern"),
                            format!("is only used by delete and hash, not {kind}"),
                        ))
                    }
                },
            };
            let action = match kind {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    let Some(key) = key else {
                        return Err(Invalid::new(at(""), format!("{kind} needs `key`")));
                    };
                    let source = match (&c.value, &c.from_attribute) {
                        (Some(v), None) => Source::Value(v.to_any()),
                        (None, Some(from)) if !from.is_empty() => Source::From(from.clone()),
                        (None, Some(_)) => {
                            return Err(Invalid::new(at("from_attribute"), "must not be empty"))
                        }
                        _ => {
                            return Err(Invalid::new(
                                at(""),
                                format!("{kind} needs exactly one of `value` or `from_attribute`"),
                            ))
                        }
                    };
                    let mode = match kind {
                        ActionKind::Insert => SetMode::Insert,
                        ActionKind::Update => SetMode::Update,
                        _ => SetMode::Upsert,
                    };
                    Action::Set {
                        key: key.to_owned(),
                        source,
                        mode,
                    }
                }
                ActionKind::Delete | ActionKind::Hash => {
                    if key.is_none() && pattern.is_none() {
                        return Err(Invalid::new(
                            at(""),
                            format!("{kind} needs `key` or `pattern`"),
                        ));
                    }
                    for (field, set) in [
                        ("value", c.value.is_some()),
                        ("from_attribute", c.from_attribute.is_some()),
                    ] {
                        if set {
                            return Err(Invalid::new(at(field), format!("is not used by {kind}")));
                        }
                    }
                    let sel = KeySelector {
                        key: key.map(str::to_owned),
                        pattern,
                    };
                    if kind == ActionKind::Hash {
                        needs_hash = true;
                        Action::Hash(sel)
                    } else {
                        Action::Delete(sel)
                    }
                }
            };
            list.push(action);
        }
        let hasher = match (needs_hash, hash_key) {
            (true, None) => {
                return Err(Invalid::new(
                    "hash_key",
                    "is required by the hash action: digests are keyed (HMAC-SHA256) \
                     because plain hashes of user ids or emails can be reversed by guessing",
                ))
            }
            (_, Some(k)) => {
                hashing::check_key(k).map_err(|m| Invalid::new("hash_key", m))?;
                Some(KeyedHash::new(k))
            }
            (false, None) => None,
        };
        Ok(Actions { list, hasher })
    }

    /// Applies every action to `attrs` in order; true if anything changed.
    /// Touches no memory when no action applies (beyond reading the keys).
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) -> bool {
        let mut changed = false;
        for action in &self.list {
            changed |= match action {
                Action::Set { key, source, mode } => set(attrs, key, source, *mode),
                Action::Delete(sel) => {
                    let before = attrs.len();
                    attrs.retain(|kv| !sel.matches(&kv.key));
                    attrs.len() != before
                }
                Action::Hash(sel) => {
                    let hasher = self.hasher.as_ref().expect("checked at build");
                    let mut any = false;
                    for kv in attrs.iter_mut().filter(|kv| sel.matches(&kv.key)) {
                        let digest = hasher.value(kv.value.as_ref());
                        kv.value = Some(value::string(digest));
                        any = true;
                    }
                    any
                }
            };
        }
        changed
    }
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, source: &Source, mode: SetMode) -> bool {
    let pos = attrs.iter().position(|kv| kv.key == key);
    match (pos, mode) {
        (Some(_), SetMode::Insert) | (None, SetMode::Update) => return false,
        _ => {}
    }
    let new = match source {
        Source::Value(v) => v,
        Source::From(from) => match value::get(attrs, from) {
            Some(v) => v,
            None => return false,
        },
    };
    // Compare before cloning: an upsert that changes nothing allocates nothing.
    if pos.is_some_and(|i| attrs[i].value.as_ref() == Some(new)) {
        return false;
    }
    let new = new.clone();
    match pos {
        Some(i) => {
            attrs[i].value = Some(new);
            true
        }
        None => {
            attrs.push(KeyValue {
                key: key.to_owned(),
                value: Some(new),
                ..Default::default()
            });
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    const KEY: &str = "0123456789abcdef0123";

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }
    fn s(x: &str) -> Value {
        Value::StringValue(x.into())
    }

    fn actions(yaml: &str) -> Result<Actions, String> {
        let cfg: Vec<ActionConfig> = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        Actions::compile(&cfg, Some(KEY), "actions").map_err(|e| e.to_string())
    }

    fn base() -> Vec<KeyValue> {
        vec![
            kv("team", s("platform")),
            kv("os.version", s("6.1")),
            kv("anthropic.provider", s("firstParty")),
            kv("anthropic.custom_base_url", Value::BoolValue(true)),
            kv("user.id", s("u-1")),
        ]
    }

    #[test]
    fn table() {
        let hash = KeyedHash::new(KEY).value(Some(&AnyValue {
            value: Some(s("u-1")),
        }));
        // (actions, expected attributes, expected "changed")
        let cases: Vec<(&str, Vec<KeyValue>, bool)> = vec![
            (
                "[{ key: env, value: dev, action: insert }]",
                [base(), vec![kv("env", s("dev"))]].concat(),
                true,
            ),
            ("[{ key: team, value: x, action: insert }]", base(), false),
            ("[{ key: env, value: dev, action: update }]", base(), false),
            (
                "[{ key: team, value: 7, action: update }]",
                {
                    let mut b = base();
                    b[0] = kv("team", Value::IntValue(7));
                    b
                },
                true,
            ),
            ("[{ key: team, value: platform, action: upsert }]", base(), false),
            (
                "[{ key: ratio, value: 0.5, action: upsert }, { key: on, value: true, action: upsert }]",
                [base(), vec![kv("ratio", Value::DoubleValue(0.5)), kv("on", Value::BoolValue(true))]].concat(),
                true,
            ),
            (
                "[{ key: service.namespace, from_attribute: team, action: upsert }]",
                [base(), vec![kv("service.namespace", s("platform"))]].concat(),
                true,
            ),
            ("[{ key: service.namespace, from_attribute: missing, action: upsert }]", base(), false),
            (
                "[{ key: os.version, action: delete }]",
                {
                    let mut b = base();
                    b.remove(1);
                    b
                },
                true,
            ),
            (
                "[{ pattern: '^anthropic\\.', action: delete }]",
                vec![kv("team", s("platform")), kv("os.version", s("6.1")), kv("user.id", s("u-1"))],
                true,
            ),
            ("[{ key: nope, action: delete }]", base(), false),
            (
                "[{ key: user.id, action: hash }]",
                {
                    let mut b = base();
                    b[4] = kv("user.id", s(&hash));
                    b
                },
                true,
            ),
            (
                // actions run in order: the copy sees the value inserted before it
                "[{ key: a, value: x, action: insert }, { key: b, from_attribute: a, action: insert }, { key: a, action: delete }]",
                [base(), vec![kv("b", s("x"))]].concat(),
                true,
            ),
        ];
        for (i, (yaml, want, want_changed)) in cases.into_iter().enumerate() {
            let a = actions(yaml).unwrap_or_else(|e| panic!("case {i}: {e}"));
            let mut attrs = base();
            let changed = a.apply(&mut attrs);
            assert_eq!(attrs, want, "case {i}: {yaml}");
            assert_eq!(changed, want_changed, "case {i}: {yaml}");
        }
    }

    #[test]
    fn errors() {
        let cases = [
            ("[]", "actions: at least one action is required"),
            (
                "[{ value: x, action: insert }]",
                "actions.0: insert needs `key`",
            ),
            (
                "[{ key: a, action: upsert }]",
                "actions.0: upsert needs exactly one of `value` or `from_attribute`",
            ),
            (
                "[{ key: a, value: 1, from_attribute: b, action: upsert }]",
                "actions.0: upsert needs exactly one of `value` or `from_attribute`",
            ),
            (
                "[{ action: delete }]",
                "actions.0: delete needs `key` or `pattern`",
            ),
            (
                "[{ key: a, value: 1, action: delete }]",
                "actions.0.value: is not used by delete",
            ),
            (
                "[{ key: a, pattern: x, value: 1, action: insert }]",
                "actions.0.pattern: is only used by delete and hash, not insert",
            ),
            (
                "[{ pattern: '(', action: delete }]",
                "actions.0.pattern: invalid regex \"(\": unclosed group",
            ),
            (
                "[{ key: '', action: delete }]",
                "actions.0.key: must not be empty",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(actions(yaml).err().as_deref(), Some(want), "{yaml}");
        }
        let cfg: Vec<ActionConfig> = serde_yaml::from_str("[{ key: a, action: hash }]").unwrap();
        assert!(Actions::compile(&cfg, None, "actions")
            .unwrap_err()
            .to_string()
            .starts_with("hash_key: is required by the hash action"));
        let bad = serde_yaml::from_str::<Vec<ActionConfig>>("[{ key: a, action: from_attribute }]")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("`from_attribute` is a field, not an action"),
            "{bad}"
        );
    }
}
