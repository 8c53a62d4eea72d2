//! `include` / `exclude` blocks, as in the Collector's `filterconfig`:
//!
//! ```yaml
//! include:
//!   match_type: strict            # or regexp (unanchored, like the Collector's)
//!   event_names: [api_request]    # logs: the `event.name` attribute, the record's
//!                                 # event_name field or the `claude_code.`-prefixed body
//!   metric_names: [claude_code.cost.usage]
//!   span_names: [claude_code.tool]
//!   resource_attributes: [{ key: service.name, value: claude-code }]
//!   attributes: [{ key: model }]  # no value: the key must be present
//! ```
//!
//! Every property given must match (AND); within a list of names one match
//! is enough (OR); every listed attribute must match. A record is selected if
//! it matches `include` (when given) and does not match `exclude` (when given).
//!
//! The same block can serve pipelines of every signal: name lists of the other
//! signals are ignored, but a block that lists names only for other signals
//! matches nothing of this one (an `event_names` include does not touch metrics).

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use regex::{Regex, RegexSet};
use serde::Deserialize;

use ccpipe_pipeline::Signal;

use crate::value::{self, ConfigValue};
use crate::{compile_regex, Invalid};

/// The body prefix of Claude Code events (`claude_code.api_request`).
pub const EVENT_BODY_PREFIX: &str = "claude_code.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    Strict,
    Regexp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub match_type: MatchType,
    #[serde(default)]
    pub event_names: Vec<String>,
    #[serde(default)]
    pub metric_names: Vec<String>,
    #[serde(default)]
    pub span_names: Vec<String>,
    #[serde(default)]
    pub resource_attributes: Vec<AttributeMatch>,
    #[serde(default)]
    pub attributes: Vec<AttributeMatch>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    #[serde(default)]
    pub value: Option<ConfigValue>,
}

impl MatchConfig {
    /// The name list for `signal`, and its config key.
    pub fn names_for(&self, signal: Signal) -> (&'static str, &[String]) {
        match signal {
            Signal::Logs => ("event_names", &self.event_names),
            Signal::Metrics => ("metric_names", &self.metric_names),
            Signal::Traces => ("span_names", &self.span_names),
        }
    }
}

#[derive(Debug)]
enum Names {
    /// No name criterion.
    Any,
    /// Names are listed only for other signals.
    Never,
    Strict(Vec<String>),
    Regexp(RegexSet),
}

#[derive(Debug)]
enum ValueRule {
    Present,
    Equals(AnyValue),
    Regexp(Regex),
}

#[derive(Debug)]
struct AttributeRule {
    key: String,
    value: ValueRule,
}

impl AttributeRule {
    fn matches(&self, attrs: &[KeyValue]) -> bool {
        let Some(kv) = attrs.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        match &self.value {
            ValueRule::Present => true,
            ValueRule::Equals(v) => kv.value.as_ref() == Some(v),
            ValueRule::Regexp(r) => value::as_str(kv.value.as_ref()).is_some_and(|s| r.is_match(s)),
        }
    }
}

/// One compiled `include` or `exclude` block, for one signal.
#[derive(Debug)]
pub struct Matcher {
    names: Names,
    resource: Vec<AttributeRule>,
    attributes: Vec<AttributeRule>,
}

impl Matcher {
    /// Compiles `cfg` (found at config key `at`) for records of `signal`.
    pub fn compile(cfg: &MatchConfig, signal: Signal, at: &str) -> Result<Matcher, Invalid> {
        let all_names = [&cfg.event_names, &cfg.metric_names, &cfg.span_names];
        if all_names.iter().all(|l| l.is_empty())
            && cfg.resource_attributes.is_empty()
            && cfg.attributes.is_empty()
        {
            return Err(Invalid::new(
                at,
                "is empty: set at least one of event_names, metric_names, span_names, \
                 resource_attributes or attributes",
            ));
        }
        // Check every list, also those of other signals, so a typo in a regex
        // is reported whichever pipeline validates first.
        for s in Signal::ALL {
            let (field, list) = cfg.names_for(s);
            for (i, name) in list.iter().enumerate() {
                if name.is_empty() {
                    return Err(Invalid::new(
                        format!("{at}.{field}.{i}"),
                        "must not be empty",
                    ));
                }
                if cfg.match_type == MatchType::Regexp {
                    compile_regex(name)
                        .map_err(|e| Invalid::new(format!("{at}.{field}.{i}"), e))?;
                }
            }
        }
        let (_, list) = cfg.names_for(signal);
        let names = if !list.is_empty() {
            match cfg.match_type {
                MatchType::Strict => Names::Strict(
                    list.iter()
                        .map(|n| match signal {
                            Signal::Logs => {
                                n.strip_prefix(EVENT_BODY_PREFIX).unwrap_or(n).to_owned()
                            }
                            _ => n.clone(),
                        })
                        .collect(),
                ),
                MatchType::Regexp => {
                    Names::Regexp(RegexSet::new(list).map_err(|e| Invalid::new(at, e.to_string()))?)
                }
            }
        } else if all_names.iter().any(|l| !l.is_empty()) {
            Names::Never
        } else {
            Names::Any
        };
        let rules = |list: &[AttributeMatch], field: &str| -> Result<Vec<AttributeRule>, Invalid> {
            list.iter()
                .enumerate()
                .map(|(i, a)| {
                    let at = format!("{at}.{field}.{i}");
                    if a.key.is_empty() {
                        return Err(Invalid::new(format!("{at}.key"), "must not be empty"));
                    }
                    let value = match (&a.value, cfg.match_type) {
                        (None, _) => ValueRule::Present,
                        (Some(v), MatchType::Strict) => ValueRule::Equals(v.to_any()),
                        (Some(ConfigValue::String(p)), MatchType::Regexp) => ValueRule::Regexp(
                            compile_regex(p).map_err(|e| Invalid::new(format!("{at}.value"), e))?,
                        ),
                        (Some(_), MatchType::Regexp) => {
                            return Err(Invalid::new(
                                format!("{at}.value"),
                                "must be a string (a regex) with match_type regexp",
                            ))
                        }
                    };
                    Ok(AttributeRule {
                        key: a.key.clone(),
                        value,
                    })
                })
                .collect()
        };
        Ok(Matcher {
            names,
            resource: rules(&cfg.resource_attributes, "resource_attributes")?,
            attributes: rules(&cfg.attributes, "attributes")?,
        })
    }

    pub fn matches_resource(&self, attrs: &[KeyValue]) -> bool {
        self.resource.iter().all(|r| r.matches(attrs))
    }

    pub fn matches_attributes(&self, attrs: &[KeyValue]) -> bool {
        self.attributes.iter().all(|r| r.matches(attrs))
    }

    /// For metric and span names.
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.names {
            Names::Any => true,
            Names::Never => false,
            Names::Strict(list) => list.iter().any(|n| n == name),
            Names::Regexp(set) => set.is_match(name),
        }
    }

    /// For log records: by the `event.name` attribute, the `event_name`
    /// field, or the body (`claude_code.<name>`).
    pub fn matches_event(&self, record: &LogRecord) -> bool {
        let attr = value::as_str(value::get(&record.attributes, "event.name"));
        let field = Some(record.event_name.as_str()).filter(|s| !s.is_empty());
        let body = value::as_str(record.body.as_ref());
        match &self.names {
            Names::Any => true,
            Names::Never => false,
            Names::Strict(list) => {
                let name = attr
                    .or(field)
                    .or_else(|| body.and_then(|b| b.strip_prefix(EVENT_BODY_PREFIX)));
                name.is_some_and(|name| list.iter().any(|n| n == name))
            }
            Names::Regexp(set) => [attr, field, body]
                .into_iter()
                .flatten()
                .any(|s| set.is_match(s)),
        }
    }
}

/// An optional `include` and an optional `exclude`.
#[derive(Debug, Default)]
pub struct Selector {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

/// How far a record got through [`Selector`]: whether `include` still
/// matches and whether `exclude` still matches, property by property.
#[derive(Debug, Clone, Copy)]
pub struct Partial {
    include: bool,
    exclude: bool,
}

impl Partial {
    /// The record is selected: include matched (or is absent), exclude did not.
    pub fn selected(self) -> bool {
        self.include && !self.exclude
    }

    /// Nothing below this point can be selected any more (include failed).
    pub fn hopeless(self) -> bool {
        !self.include
    }
}

impl Selector {
    pub fn compile(
        include: Option<&MatchConfig>,
        exclude: Option<&MatchConfig>,
        signal: Signal,
        at: &str,
    ) -> Result<Selector, Invalid> {
        let sub = |s: &str| match at {
            "" => s.to_owned(),
            _ => format!("{at}.{s}"),
        };
        Ok(Selector {
            include: include
                .map(|c| Matcher::compile(c, signal, &sub("include")))
                .transpose()?,
            exclude: exclude
                .map(|c| Matcher::compile(c, signal, &sub("exclude")))
                .transpose()?,
        })
    }

    /// True when there is neither include nor exclude: everything is selected.
    pub fn selects_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    pub fn start(&self) -> Partial {
        Partial {
            include: true,
            exclude: self.exclude.is_some(),
        }
    }

    fn step(&self, p: Partial, f: impl Fn(&Matcher) -> bool) -> Partial {
        let include = p.include && self.include.as_ref().is_none_or(&f);
        Partial {
            include,
            exclude: include && p.exclude && self.exclude.as_ref().is_some_and(&f),
        }
    }

    pub fn resource(&self, p: Partial, attrs: &[KeyValue]) -> Partial {
        self.step(p, |m| m.matches_resource(attrs))
    }

    pub fn name(&self, p: Partial, name: &str) -> Partial {
        self.step(p, |m| m.matches_name(name))
    }

    pub fn event(&self, p: Partial, record: &LogRecord) -> Partial {
        self.step(p, |m| m.matches_event(record))
    }

    pub fn attributes(&self, p: Partial, attrs: &[KeyValue]) -> Partial {
        self.step(p, |m| m.matches_attributes(attrs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn body(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::StringValue(s.into())),
        })
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: body(v),
            ..Default::default()
        }
    }

    fn event(name: &str, attrs: &[(&str, &str)]) -> LogRecord {
        let mut attributes = vec![kv("event.name", name)];
        attributes.extend(attrs.iter().map(|(k, v)| kv(k, v)));
        LogRecord {
            body: body(&format!("claude_code.{name}")),
            attributes,
            ..Default::default()
        }
    }

    fn selector(yaml: &str, signal: Signal) -> Result<Selector, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cfg {
            include: Option<MatchConfig>,
            exclude: Option<MatchConfig>,
        }
        let c: Cfg = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        Selector::compile(c.include.as_ref(), c.exclude.as_ref(), signal, "")
            .map_err(|e| e.to_string())
    }

    fn selects_event(sel: &Selector, resource: &[KeyValue], r: &LogRecord) -> bool {
        let p = sel.resource(sel.start(), resource);
        let p = sel.event(p, r);
        sel.attributes(p, &r.attributes).selected()
    }

    #[test]
    fn event_table() {
        let res = vec![kv("service.name", "claude-code")];
        let api = event("api_request", &[("model", "claude-opus-5-5")]);
        let tool = event("tool_result", &[("tool_name", "Bash")]);
        let bare = LogRecord {
            body: body("claude_code.plugin_loaded"),
            ..Default::default()
        };
        // (config, [api, tool, bare] selected?)
        let cases = [
            ("{}", [true, true, true]),
            ("include: { match_type: strict, event_names: [api_request] }", [true, false, false]),
            ("include: { match_type: strict, event_names: [claude_code.api_request] }", [true, false, false]),
            ("include: { match_type: strict, event_names: [plugin_loaded] }", [false, false, true]),
            ("exclude: { match_type: strict, event_names: [api_request, plugin_loaded] }", [false, true, false]),
            ("include: { match_type: regexp, event_names: ['^tool'] }", [false, true, false]),
            ("include: { match_type: regexp, event_names: ['^claude_code\\.plugin'] }", [false, false, true]),
            ("include: { match_type: strict, attributes: [{ key: model }] }", [true, false, false]),
            ("include: { match_type: strict, attributes: [{ key: tool_name, value: Bash }] }", [false, true, false]),
            ("include: { match_type: strict, attributes: [{ key: tool_name, value: Edit }] }", [false, false, false]),
            ("include: { match_type: regexp, attributes: [{ key: model, value: 'opus' }] }", [true, false, false]),
            (
                "include: { match_type: strict, resource_attributes: [{ key: service.name, value: claude-code }] }",
                [true, true, true],
            ),
            (
                "include: { match_type: strict, resource_attributes: [{ key: service.name, value: other }] }",
                [false, false, false],
            ),
            // include is evaluated before exclude
            (
                "{ include: { match_type: regexp, event_names: ['.'] }, exclude: { match_type: strict, attributes: [{ key: tool_name }] } }",
                [true, false, true],
            ),
            // names listed for another signal only: matches no log record
            ("include: { match_type: strict, metric_names: [claude_code.cost.usage] }", [false, false, false]),
            ("exclude: { match_type: strict, span_names: [x] }", [true, true, true]),
            // names for this and other signals: only this signal's list counts
            (
                "include: { match_type: strict, event_names: [tool_result], span_names: [x] }",
                [false, true, false],
            ),
            // properties are ANDed
            (
                "include: { match_type: strict, event_names: [api_request], attributes: [{ key: tool_name }] }",
                [false, false, false],
            ),
        ];
        for (yaml, want) in cases {
            let sel = selector(yaml, Signal::Logs).unwrap();
            let got = [&api, &tool, &bare].map(|r| selects_event(&sel, &res, r));
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn name_table() {
        let names = ["claude_code.cost.usage", "claude_code.active_time.total"];
        let cases = [
            (
                "include: { match_type: strict, metric_names: [claude_code.cost.usage] }",
                Signal::Metrics,
                [true, false],
            ),
            (
                "exclude: { match_type: regexp, metric_names: ['claude_code\\.active_time\\..*'] }",
                Signal::Metrics,
                [true, false],
            ),
            (
                "include: { match_type: strict, event_names: [api_request] }",
                Signal::Metrics,
                [false, false],
            ),
            (
                "include: { match_type: strict, span_names: [claude_code.cost.usage] }",
                Signal::Traces,
                [true, false],
            ),
        ];
        for (yaml, signal, want) in cases {
            let sel = selector(yaml, signal).unwrap();
            let got = names.map(|n| sel.name(sel.start(), n).selected());
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn errors() {
        let cases = [
            ("include: { match_type: strict }", "include: is empty: set at least one of event_names, metric_names, span_names, resource_attributes or attributes"),
            ("exclude: { match_type: regexp, span_names: ['('] }", "exclude.span_names.0: invalid regex \"(\": unclosed group"),
            ("include: { match_type: strict, event_names: [''] }", "include.event_names.0: must not be empty"),
            ("include: { match_type: strict, attributes: [{ key: '' }] }", "include.attributes.0.key: must not be empty"),
            ("include: { match_type: regexp, attributes: [{ key: a, value: 3 }] }", "include.attributes.0.value: must be a string (a regex) with match_type regexp"),
            ("include: { match_type: regexp, resource_attributes: [{ key: a, value: '[' }] }", "include.resource_attributes.0.value: invalid regex \"[\": unclosed character class"),
        ];
        for (yaml, want) in cases {
            assert_eq!(
                selector(yaml, Signal::Logs).err().as_deref(),
                Some(want),
                "{yaml}"
            );
        }
        let typo = selector(
            "include: { match_type: strict, event_name: [a] }",
            Signal::Logs,
        )
        .unwrap_err();
        assert!(typo.contains("unknown field `event_name`"), "{typo}");
        let bad_type = selector(
            "include: { match_type: glob, event_names: [a] }",
            Signal::Logs,
        )
        .unwrap_err();
        assert!(
            bad_type.contains("unknown variant `glob`, expected `strict` or `regexp`"),
            "{bad_type}"
        );
    }
}
