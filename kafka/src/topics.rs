//! Which topic each signal goes to and how its messages are encoded, with the
//! Collector's defaults: `otlp_spans`, `otlp_metrics`, `otlp_logs`, and
//! `otlp_proto` (an `Export*ServiceRequest` in protobuf per message).
//!
//! ```yaml
//! topic: telemetry          # optional: one topic for every signal
//! encoding: otlp_json       # optional: every signal's encoding
//! logs: { topic: otlp_logs, encoding: otlp_proto }   # per signal, wins
//! ```
//! Several signals on one topic are told apart by the [`SIGNAL_HEADER`]
//! every message carries.

use ccpipe_pipeline::Signal;
use serde::Deserialize;

use crate::Invalid;

/// The message header that names a message's signal (`logs`, `metrics`,
/// `traces`); ccpipe writes it on every message, and needs it only where
/// one topic carries several signals.
pub const SIGNAL_HEADER: &str = "otlp.signal";

/// How a message's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The export request in protobuf, as the Collector's `otlp_proto`.
    OtlpProto,
    /// The export request in OTLP/JSON, as the Collector's `otlp_json`.
    OtlpJson,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
        }
    }
}

/// `logs`, `metrics`, `traces`: one signal's topic and encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalTopic {
    pub topic: Option<String>,
    pub encoding: Option<Encoding>,
}

/// The resolved topic and encoding of each signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    logs: (String, Encoding),
    metrics: (String, Encoding),
    traces: (String, Encoding),
}

/// The Collector's default topic of `signal`.
pub fn default_topic(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "otlp_logs",
        Signal::Metrics => "otlp_metrics",
        Signal::Traces => "otlp_spans",
    }
}

impl Topics {
    /// Resolves the settings as written: a signal's own `topic`/`encoding`,
    /// else the top-level ones, else the defaults.
    pub fn new(
        topic: Option<&str>,
        encoding: Option<Encoding>,
        logs: &SignalTopic,
        metrics: &SignalTopic,
        traces: &SignalTopic,
    ) -> Result<Topics, Invalid> {
        if let Some(t) = topic {
            check_topic("topic", t)?;
        }
        let resolve = |signal: Signal, own: &SignalTopic, key: &'static str| {
            let name = match (&own.topic, topic) {
                (Some(t), _) => {
                    check_topic(key, t)?;
                    t.clone()
                }
                (None, Some(t)) => t.to_owned(),
                (None, None) => default_topic(signal).to_owned(),
            };
            let enc = own.encoding.or(encoding).unwrap_or(Encoding::OtlpProto);
            Ok::<_, Invalid>((name, enc))
        };
        Ok(Topics {
            logs: resolve(Signal::Logs, logs, "logs.topic")?,
            metrics: resolve(Signal::Metrics, metrics, "metrics.topic")?,
            traces: resolve(Signal::Traces, traces, "traces.topic")?,
        })
    }

    pub fn topic(&self, signal: Signal) -> &str {
        &self.get(signal).0
    }

    pub fn encoding(&self, signal: Signal) -> Encoding {
        self.get(signal).1
    }

    fn get(&self, signal: Signal) -> &(String, Encoding) {
        match signal {
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
            Signal::Traces => &self.traces,
        }
    }

    /// The signals whose messages `topic` carries.
    pub fn signals_of(&self, topic: &str) -> Vec<Signal> {
        Signal::ALL
            .into_iter()
            .filter(|s| self.topic(*s) == topic)
            .collect()
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic(key: &'static str, t: &str) -> Result<(), Invalid> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if t.is_empty() || t.len() > 249 || t == "." || t == ".." || !t.chars().all(legal) {
        return Err(Invalid::new(
            key,
            format!("{t:?} is not a Kafka topic name (1 to 249 of letters, digits, '.', '_', '-')"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_defaults_then_top_level_then_per_signal() {
        let none = SignalTopic::default();
        let t = Topics::new(None, None, &none, &none, &none).unwrap();
        assert_eq!(t.topic(Signal::Traces), "otlp_spans");
        assert_eq!(t.topic(Signal::Logs), "otlp_logs");
        assert_eq!(t.encoding(Signal::Metrics), Encoding::OtlpProto);

        let logs = SignalTopic {
            topic: Some("cc_logs".into()),
            encoding: Some(Encoding::OtlpProto),
        };
        let t = Topics::new(Some("all"), Some(Encoding::OtlpJson), &logs, &none, &none).unwrap();
        assert_eq!(t.topic(Signal::Logs), "cc_logs");
        assert_eq!(t.encoding(Signal::Logs), Encoding::OtlpProto);
        assert_eq!(t.topic(Signal::Metrics), "all");
        assert_eq!(t.encoding(Signal::Traces), Encoding::OtlpJson);
        assert_eq!(t.signals_of("all"), [Signal::Metrics, Signal::Traces]);
    }

    #[test]
    fn topic_names_are_checked() {
        let none = SignalTopic::default();
        let bad = SignalTopic {
            topic: Some("a topic".into()),
            encoding: None,
        };
        let e = Topics::new(None, None, &none, &bad, &none).unwrap_err();
        assert_eq!(e.key, "metrics.topic");
        assert_eq!(
            Topics::new(Some(".."), None, &none, &none, &none)
                .unwrap_err()
                .key,
            "topic"
        );
    }
}
