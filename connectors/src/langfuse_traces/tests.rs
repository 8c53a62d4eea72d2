//! Over the real Claude Code captures (the tree: one trace per prompt.id,
//! spans parented to its root, token sums equal to the events') and small
//! hand-built events (ids, late events, shutdown flush, max_traces).

use std::collections::{BTreeMap, BTreeSet};

use ccpipe_pipeline::testing::capture_bins;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
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

fn attr(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}

/// One event: name, prompt.id, sequence, timestamp, extra attributes.
fn event(name: &str, prompt: &str, seq: i64, ts: &str, extra: &[(&str, &str)]) -> Vec<KeyValue> {
    let mut a = vec![
        attr("event.name", s(name)),
        attr("prompt.id", s(prompt)),
        attr("event.sequence", int(seq)),
        attr("event.timestamp", s(ts)),
        attr("session.id", s("sess-1")),
    ];
    a.extend(extra.iter().map(|(k, v)| attr(k, s(v))));
    a
}

fn logs(records: Vec<Vec<KeyValue>>) -> Records {
    Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![attr("service.name", s("claude-code"))],
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

fn spans(batch: &Records) -> Vec<&Span> {
    let Records::Traces(r) = batch else {
        panic!("not traces")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

fn get<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    find(&span.attributes, key)
}

fn one_prompt() -> Records {
    logs(vec![
        event(
            "user_prompt",
            "p1",
            1,
            "2026-01-01T00:00:00.000Z",
            &[("prompt_length", "12"), ("prompt", "hello world!")],
        ),
        event(
            "api_request",
            "p1",
            2,
            "2026-01-01T00:00:02.000Z",
            &[
                ("model", "claude-sonnet"),
                ("input_tokens", "100"),
                ("output_tokens", "20"),
                ("cost_usd", "0.5"),
                ("duration_ms", "1500"),
            ],
        ),
        event(
            "tool_decision",
            "p1",
            3,
            "2026-01-01T00:00:02.100Z",
            &[("tool_name", "Bash"), ("decision", "accept")],
        ),
        event(
            "tool_result",
            "p1",
            4,
            "2026-01-01T00:00:03.000Z",
            &[
                ("tool_name", "Bash"),
                ("success", "false"),
                ("duration_ms", "250"),
            ],
        ),
        event(
            "api_error",
            "p1",
            5,
            "2026-01-01T00:00:04.000Z",
            &[("error", "overloaded"), ("duration_ms", "100")],
        ),
        // Not part of any trace: no prompt.id, or not a span-making event.
        vec![attr("event.name", s("api_request"))],
        event("assistant_response", "p1", 6, "2026-01-01T00:00:04.5Z", &[]),
    ])
}

const T0: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

#[test]
fn one_prompt_makes_one_tree_with_langfuse_attributes() {
    let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(30), 10);
    let now = Instant::now();
    agg.consume_at(&one_prompt(), now);
    assert_eq!(agg.pending(), 1);
    assert!(agg.take_at(now).is_none(), "waits for late events");
    let batch = agg.take_at(now + StdDuration::from_secs(30)).expect("due");
    assert_eq!(agg.pending(), 0);
    let got = spans(&batch);
    assert_eq!(got.len(), 5);
    let root = got[0];
    assert_eq!(root.name, ROOT_NAME);
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.trace_id, trace_id("p1"));
    assert_eq!(root.span_id, root_span_id("p1"));
    assert_eq!(root.start_time_unix_nano, T0);
    assert_eq!(
        root.end_time_unix_nano,
        T0 + 4_000_000_000,
        "to the last span"
    );
    assert_eq!(get(root, "prompt_length"), Some(&Value::IntValue(12)));
    assert_eq!(
        get(root, "langfuse.trace.input"),
        Some(&Value::StringValue("hello world!".into()))
    );
    assert_eq!(
        get(root, "session.id"),
        Some(&Value::StringValue("sess-1".into()))
    );
    for child in &got[1..] {
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id, root.span_id);
        assert_ne!(child.span_id, root.span_id);
    }
    let generation = got[1];
    assert_eq!(generation.name, "claude_code.api_request");
    assert_eq!(
        get(generation, "langfuse.observation.type"),
        Some(&Value::StringValue("generation".into()))
    );
    assert_eq!(
        get(generation, "gen_ai.request.model"),
        Some(&Value::StringValue("claude-sonnet".into()))
    );
    assert_eq!(
        get(generation, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(100))
    );
    assert_eq!(
        get(generation, "gen_ai.usage.output_tokens"),
        Some(&Value::IntValue(20))
    );
    assert_eq!(
        get(generation, "gen_ai.usage.cost"),
        Some(&Value::DoubleValue(0.5))
    );
    assert_eq!(generation.end_time_unix_nano, T0 + 2_000_000_000);
    assert_eq!(generation.start_time_unix_nano, T0 + 500_000_000);

    let decision = got[2];
    assert_eq!(decision.name, "claude_code.tool_decision Bash");
    assert_eq!(decision.start_time_unix_nano, decision.end_time_unix_nano);
    let tool = got[3];
    assert_eq!(tool.name, "claude_code.tool_result Bash");
    assert_eq!(
        get(tool, "langfuse.observation.type"),
        Some(&Value::StringValue("tool".into()))
    );
    assert_eq!(get(tool, "success"), Some(&Value::BoolValue(false)));
    assert_eq!(
        tool.end_time_unix_nano - tool.start_time_unix_nano,
        250_000_000
    );
    let error = got[4];
    let status = error.status.as_ref().unwrap();
    assert_eq!(status.code, status::StatusCode::Error as i32);
    assert_eq!(status.message, "overloaded");
    assert_eq!(
        get(error, "langfuse.observation.level"),
        Some(&Value::StringValue("ERROR".into()))
    );
}

#[test]
fn ids_are_the_same_on_every_run() {
    let run = || {
        let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(30), 10);
        agg.consume_at(&one_prompt(), Instant::now());
        let b = agg.flush().unwrap();
        spans(&b)
            .iter()
            .map(|s| {
                (
                    s.trace_id.clone(),
                    s.span_id.clone(),
                    s.parent_span_id.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first, run());
    let distinct: BTreeSet<_> = first.iter().map(|(_, s, _)| s.clone()).collect();
    assert_eq!(distinct.len(), first.len(), "one id per span");
    assert_eq!(trace_id("p1").len(), 16);
    assert_eq!(root_span_id("p1").len(), 8);
    assert_ne!(trace_id("p1"), trace_id("p2"));
}

#[test]
fn a_late_event_restarts_the_wait_and_joins_its_trace() {
    let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(30), 10);
    let t = Instant::now();
    let ts = "2026-01-01T00:00:00Z";
    agg.consume_at(&logs(vec![event("user_prompt", "p1", 1, ts, &[])]), t);
    let late = logs(vec![event(
        "tool_result",
        "p1",
        2,
        ts,
        &[("tool_name", "Read")],
    )]);
    agg.consume_at(&late, t + StdDuration::from_secs(20));
    assert!(agg.take_at(t + StdDuration::from_secs(30)).is_none());
    let b = agg.take_at(t + StdDuration::from_secs(50)).unwrap();
    assert_eq!(spans(&b).len(), 2, "one trace with both");
    assert!(agg.take().is_none() && agg.flush().is_none());
}

#[test]
fn flush_sends_everything_pending() {
    let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(3600), 10);
    assert!(agg.flush().is_none());
    let ts = "2026-01-01T00:00:00Z";
    agg.consume(&logs(vec![
        event("user_prompt", "a", 1, ts, &[]),
        event("user_prompt", "b", 2, ts, &[]),
    ]));
    assert!(agg.take().is_none());
    let b = agg.flush().unwrap();
    let Records::Traces(r) = &b else { panic!() };
    assert_eq!(r.resource_spans.len(), 2, "one ResourceSpans per trace");
    assert_eq!(agg.pending(), 0);
}

#[test]
fn beyond_max_traces_the_oldest_is_sent_early() {
    let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(3600), 2);
    let t = Instant::now();
    let ts = "2026-01-01T00:00:00Z";
    for (i, p) in ["a", "b", "c"].iter().enumerate() {
        agg.consume_at(&logs(vec![event("user_prompt", p, i as i64, ts, &[])]), t);
    }
    assert_eq!(agg.pending(), 2);
    let b = agg.take_at(t).expect("the evicted trace");
    let got = spans(&b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].trace_id, trace_id("a"));
    let rest = agg.flush().unwrap();
    let ids: BTreeSet<_> = spans(&rest).iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(ids, BTreeSet::from([trace_id("b"), trace_id("c")]));
}

fn capture_logs() -> Vec<Records> {
    capture_bins()
        .into_iter()
        .filter(|(sig, _)| *sig == Signal::Logs)
        .map(|(_, bytes)| Records::Logs(ExportLogsServiceRequest::decode(&bytes[..]).unwrap()))
        .collect()
}

#[test]
fn the_captures_make_one_tree_per_prompt_with_the_events_token_sums() {
    let batches = capture_logs();
    assert!(!batches.is_empty());
    // What the events say, per prompt.id.
    let mut want_spans: BTreeMap<String, usize> = BTreeMap::new();
    let mut roots: BTreeMap<String, usize> = BTreeMap::new();
    let (mut input, mut output, mut cost) = (0i64, 0i64, 0f64);
    for b in &batches {
        let Records::Logs(r) = b else { continue };
        for lr in r
            .resource_logs
            .iter()
            .flat_map(|x| &x.scope_logs)
            .flat_map(|x| &x.log_records)
        {
            let Some(Value::StringValue(p)) = find(&lr.attributes, "prompt.id") else {
                continue;
            };
            match event_name(lr) {
                Some("user_prompt") => *roots.entry(p.clone()).or_default() += 1,
                Some("api_request") => {
                    *want_spans.entry(p.clone()).or_default() += 1;
                    input += number(&lr.attributes, "input_tokens").unwrap_or(0.0) as i64;
                    output += number(&lr.attributes, "output_tokens").unwrap_or(0.0) as i64;
                    cost += number(&lr.attributes, "cost_usd").unwrap_or(0.0);
                }
                Some("api_error" | "tool_result" | "tool_decision") => {
                    *want_spans.entry(p.clone()).or_default() += 1
                }
                _ => {}
            }
        }
    }
    assert!(!roots.is_empty() && input > 0, "the captures hold prompts");

    let mut agg = LangfuseTraces::new("t", StdDuration::from_secs(30), 1000);
    for b in &batches {
        agg.consume(b);
    }
    let out = agg.flush().expect("traces");
    let Records::Traces(r) = &out else { panic!() };
    // One ResourceSpans per prompt.id, each its own trace id.
    let prompts: BTreeSet<&String> = want_spans.keys().chain(roots.keys()).collect();
    assert_eq!(r.resource_spans.len(), prompts.len());
    let (mut got_in, mut got_out, mut got_cost) = (0i64, 0i64, 0f64);
    for rs in &r.resource_spans {
        let spans: Vec<&Span> = rs.scope_spans.iter().flat_map(|s| &s.spans).collect();
        let Some(Value::StringValue(p)) = get(spans[0], "prompt.id") else {
            panic!("no prompt.id")
        };
        let root_id = root_span_id(p);
        let children = spans.iter().filter(|s| !s.parent_span_id.is_empty());
        assert_eq!(
            children.count(),
            want_spans.get(p).copied().unwrap_or(0),
            "{p}"
        );
        let root_count = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(
            root_count,
            usize::from(roots.contains_key(p)),
            "{p}: one root"
        );
        for s in &spans {
            assert_eq!(s.trace_id, trace_id(p));
            assert!(s.parent_span_id.is_empty() || s.parent_span_id == root_id);
            assert!(s.start_time_unix_nano <= s.end_time_unix_nano);
            if let Some(Value::IntValue(n)) = get(s, "gen_ai.usage.input_tokens") {
                got_in += n;
            }
            if let Some(Value::IntValue(n)) = get(s, "gen_ai.usage.output_tokens") {
                got_out += n;
            }
            if let Some(Value::DoubleValue(c)) = get(s, "gen_ai.usage.cost") {
                got_cost += c;
            }
        }
    }
    assert_eq!((got_in, got_out), (input, output));
    assert!((got_cost - cost).abs() < 1e-9, "{got_cost} vs {cost}");
}
