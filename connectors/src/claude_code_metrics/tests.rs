//! Over the real Claude Code captures (derived totals equal what the events
//! say) and small hand-built events (parsing, labels, buckets, overflow).

use std::collections::BTreeMap;

use ccpipe_pipeline::testing::capture_bins;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;

use super::*;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.into())),
    })
}

fn int(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::IntValue(v)),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}

fn logs(service: &str, records: Vec<Vec<KeyValue>>) -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s(service)), kv("os.type", s("linux"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records
                    .into_iter()
                    .map(|attributes| LogRecord {
                        attributes,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Every data point of `name`: (resource labels + point labels, value or
/// (count, sum)).
type HistPoint = (u64, f64, Vec<u64>);

#[derive(Debug, Default)]
struct Found {
    counts: BTreeMap<Vec<(String, String)>, i64>,
    hist: BTreeMap<Vec<(String, String)>, HistPoint>,
}

fn labels(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                label(kv.value.as_ref().unwrap().value.as_ref().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn found(batch: &Records, name: &str) -> Found {
    let Records::Metrics(r) = batch else {
        panic!("not metrics")
    };
    let mut out = Found::default();
    for rm in &r.resource_metrics {
        let resource = labels(&rm.resource.as_ref().unwrap().attributes);
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if m.name != name {
                continue;
            }
            match m.data.as_ref().unwrap() {
                Data::Sum(sum) => {
                    assert!(sum.is_monotonic);
                    assert_eq!(
                        sum.aggregation_temporality,
                        AggregationTemporality::Delta as i32
                    );
                    for p in &sum.data_points {
                        let mut l = resource.clone();
                        l.extend(labels(&p.attributes));
                        let Some(number_data_point::Value::AsInt(v)) = p.value else {
                            panic!("not an int")
                        };
                        *out.counts.entry(l).or_default() += v;
                    }
                }
                Data::Histogram(h) => {
                    assert_eq!(
                        h.aggregation_temporality,
                        AggregationTemporality::Delta as i32
                    );
                    for p in &h.data_points {
                        assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
                        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                        assert!(p.start_time_unix_nano <= p.time_unix_nano);
                        let mut l = resource.clone();
                        l.extend(labels(&p.attributes));
                        out.hist
                            .insert(l, (p.count, p.sum.unwrap(), p.bucket_counts.clone()));
                    }
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    out
}

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn string_and_int_values_become_counts_and_observations() {
    let mut agg = ClaudeCodeMetrics::new("t", vec![], 100);
    assert!(agg.take().is_none(), "nothing consumed, nothing sent");
    let tool = |name: &str, ok: &str, ms: &str| {
        vec![
            kv("event.name", s("tool_result")),
            kv("tool_name", s(name)),
            kv("success", s(ok)),
            kv("duration_ms", s(ms)),
            kv("session.id", s("not-a-label")),
        ]
    };
    agg.consume(&logs(
        "claude-code",
        vec![
            tool("Bash", "true", "28"),
            tool("Bash", "false", "7"),
            tool("Bash", "true", "2000"),
            tool("Read", "true", "not a number"),
            vec![
                kv("event.name", s("api_request")),
                kv("model", s("claude-opus")),
                kv("duration_ms", int(1500)),
                kv("ttft_ms", int(400)),
            ],
            vec![
                kv("event.name", s("api_error")),
                kv("model", s("claude-opus")),
                kv("status_code", int(529)),
            ],
            vec![
                kv("event.name", s("user_prompt")),
                kv("prompt_length", s("42")),
            ],
            vec![kv("event.name", s("plugin_loaded"))],
        ],
    ));
    let batch = agg.take().unwrap();
    let svc = ("service.name", "claude-code");
    let calls = found(&batch, "claude_code.tool.calls").counts;
    assert_eq!(
        calls[&l(&[svc, ("tool_name", "Bash"), ("success", "true")])],
        2
    );
    assert_eq!(
        calls[&l(&[svc, ("tool_name", "Bash"), ("success", "false")])],
        1
    );
    assert_eq!(
        calls[&l(&[svc, ("tool_name", "Read"), ("success", "true")])],
        1
    );
    let dur = found(&batch, "claude_code.tool.duration").hist;
    let (count, sum, buckets) = &dur[&l(&[svc, ("tool_name", "Bash")])];
    assert_eq!((*count, *sum), (3, 2035.0));
    // 7 ≤ 10, 28 ≤ 50, 2000 ≤ 2500.
    assert_eq!((buckets[1], buckets[3], buckets[8]), (1, 1, 1));
    assert!(
        !dur.contains_key(&l(&[svc, ("tool_name", "Read")])),
        "unparseable: no observation"
    );
    let model = l(&[svc, ("model", "claude-opus")]);
    assert_eq!(found(&batch, "claude_code.api.requests").counts[&model], 1);
    assert_eq!(
        found(&batch, "claude_code.api.duration").hist[&model].1,
        1500.0
    );
    assert_eq!(found(&batch, "claude_code.api.ttft").hist[&model].1, 400.0);
    let errors = found(&batch, "claude_code.api.errors").counts;
    assert_eq!(
        errors[&l(&[svc, ("model", "claude-opus"), ("status_code", "529")])],
        1
    );
    assert_eq!(found(&batch, "claude_code.prompts").counts[&l(&[svc])], 1);
    assert_eq!(
        found(&batch, "claude_code.prompt.length").hist[&l(&[svc])].1,
        42.0
    );
    // Delta: the next interval starts empty.
    assert!(agg.take().is_none());
}

#[test]
fn dimensions_come_from_the_event_or_its_resource() {
    let mut agg = ClaudeCodeMetrics::new("t", vec!["user.id".into(), "os.type".into()], 100);
    agg.consume(&logs(
        "cc",
        vec![vec![
            kv("event.name", s("api_request")),
            kv("model", s("m")),
            kv("user.id", s("u1")),
        ]],
    ));
    let batch = agg.take().unwrap();
    let counts = found(&batch, "claude_code.api.requests").counts;
    let expected = l(&[
        ("service.name", "cc"),
        ("model", "m"),
        ("user.id", "u1"),
        ("os.type", "linux"),
    ]);
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), [(expected, 1)]);
}

#[test]
fn series_beyond_the_cap_go_to_one_overflow_series_per_metric() {
    let mut agg = ClaudeCodeMetrics::new("t", vec![], 3);
    let prompt = |n: usize| {
        vec![
            kv("event.name", s("tool_result")),
            kv("tool_name", s(&format!("tool-{n}"))),
        ]
    };
    agg.consume(&logs("cc", (0..10).map(prompt).collect()));
    agg.consume(&logs("cc", vec![prompt(1)]));
    let batch = agg.take().unwrap();
    let calls = found(&batch, "claude_code.tool.calls").counts;
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(
        calls[&l(&[("service.name", "cc"), ("tool_name", "tool-1")])],
        2
    );
    assert_eq!(
        calls[&l(&[("service.name", "cc"), (OVERFLOW_KEY, "true")])],
        7
    );
    assert_eq!(calls.values().sum::<i64>(), 11, "no event lost");
    // The cap is per interval.
    agg.consume(&logs("cc", vec![prompt(9)]));
    let calls = found(&agg.take().unwrap(), "claude_code.tool.calls").counts;
    assert_eq!(
        calls[&l(&[("service.name", "cc"), ("tool_name", "tool-9")])],
        1
    );
}

#[test]
fn the_body_names_the_event_when_event_name_is_missing() {
    let mut agg = ClaudeCodeMetrics::new("t", vec![], 10);
    let Records::Logs(mut r) = logs("cc", vec![vec![]]) else {
        unreachable!()
    };
    r.resource_logs[0].scope_logs[0].log_records[0].body = s("claude_code.user_prompt");
    agg.consume(&Records::Logs(r));
    assert_eq!(
        found(&agg.take().unwrap(), "claude_code.prompts").counts[&l(&[("service.name", "cc")])],
        1
    );
}

/// Totals over every capture variant: each derived count equals the number
/// of events of its kind, and the histogram sums equal the summed values.
#[test]
fn captures_derive_what_their_events_say() {
    let mut agg = ClaudeCodeMetrics::new("t", vec![], 1000);
    let mut events: BTreeMap<String, i64> = BTreeMap::new();
    let (mut tool_ms, mut api_ms, mut tool_ok) = (0.0, 0.0, 0i64);
    for (signal, bytes) in capture_bins() {
        if signal != Signal::Logs {
            continue;
        }
        let request = ExportLogsServiceRequest::decode(&bytes[..]).unwrap();
        for record in request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            let name = event_name(record).unwrap().to_owned();
            match name.as_str() {
                "tool_result" => {
                    tool_ms += number(&record.attributes, "duration_ms").unwrap();
                    if find(&record.attributes, "success")
                        .and_then(label)
                        .as_deref()
                        == Some("true")
                    {
                        tool_ok += 1;
                    }
                }
                "api_request" => api_ms += number(&record.attributes, "duration_ms").unwrap(),
                _ => {}
            }
            *events.entry(name).or_default() += 1;
        }
        agg.consume(&Records::Logs(request));
    }
    assert!(events["tool_result"] > 0 && events["api_request"] > 0 && events["user_prompt"] > 0);
    let batch = agg.take().unwrap();
    let total = |name: &str| found(&batch, name).counts.values().sum::<i64>();
    let hist = |name: &str| {
        found(&batch, name)
            .hist
            .values()
            .fold((0u64, 0.0), |(c, s), (n, sum, _)| (c + n, s + sum))
    };
    let count = |event: &str| events.get(event).copied().unwrap_or(0);
    assert_eq!(total("claude_code.tool.calls"), count("tool_result"));
    assert_eq!(total("claude_code.api.requests"), count("api_request"));
    assert_eq!(total("claude_code.api.errors"), count("api_error"));
    assert_eq!(total("claude_code.prompts"), count("user_prompt"));
    assert_eq!(
        hist("claude_code.tool.duration"),
        (count("tool_result") as u64, tool_ms)
    );
    assert_eq!(
        hist("claude_code.api.duration"),
        (count("api_request") as u64, api_ms)
    );
    assert_eq!(hist("claude_code.api.ttft").0, count("api_request") as u64);
    let ok: i64 = found(&batch, "claude_code.tool.calls")
        .counts
        .iter()
        .filter(|(k, _)| k.contains(&("success".to_owned(), "true".to_owned())))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(ok, tool_ok);
    // Only the allowed label keys, whatever the events carry.
    let Records::Metrics(r) = &batch else {
        unreachable!()
    };
    for rm in &r.resource_metrics {
        let keys: Vec<_> = rm
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(keys, ["service.name"]);
    }
    for (k, _) in found(&batch, "claude_code.tool.calls")
        .counts
        .keys()
        .flatten()
    {
        assert!(
            ["service.name", "tool_name", "success", "decision"].contains(&k.as_str()),
            "{k}"
        );
    }
}
