//! Runs over the real Claude Code 2.1.330 captures in
//! `tests/fixtures/claude-code/captures` (every variant: gRPC, HTTP protobuf, HTTP
//! JSON, gzip, content flags off, no traces).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Exemplar};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use opentelemetry_proto::tonic::trace::v1::Status;
use prost::Message;

use ccpipe_pipeline::{otlp_json, Records, Signal};

use super::*;
use crate::attributes::AttributesConfig;
use crate::filter::FilterConfig;
use crate::redaction::{RedactionConfig, CLAUDE_CODE_EVENTS, CLAUDE_CODE_KEYS};
use crate::resource::ResourceConfig;
use crate::secrets::tests::POSITIVES;

pub fn captures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/claude-code/captures"
    ))
}

/// Every captured request: (variant/file, batch), decoded from the protobuf
/// `.bin` bodies, or from the OTLP/JSON bodies of the `http-json` variant.
pub fn load_captures() -> Vec<(String, Records)> {
    let mut out = Vec::new();
    let mut variants: Vec<_> = std::fs::read_dir(captures_dir())
        .expect("tests/fixtures/claude-code/captures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    variants.sort();
    for variant in variants {
        let mut files: Vec<_> = std::fs::read_dir(variant.join("otlp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let json = name.ends_with(".json")
                && !name.ends_with(".decoded.json")
                && !name.ends_with(".headers.json");
            if !name.ends_with(".bin") && !json {
                continue;
            }
            let signal = [Signal::Logs, Signal::Metrics, Signal::Traces]
                .into_iter()
                .find(|s| name.contains(&format!("-{s}.")))
                .unwrap_or_else(|| panic!("no signal in {name}"));
            let bytes = std::fs::read(&f).unwrap();
            let batch = if json {
                otlp_json::decode(signal, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
            } else {
                match signal {
                    Signal::Logs => {
                        Records::Logs(ExportLogsServiceRequest::decode(&bytes[..]).unwrap())
                    }
                    Signal::Metrics => {
                        Records::Metrics(ExportMetricsServiceRequest::decode(&bytes[..]).unwrap())
                    }
                    Signal::Traces => {
                        Records::Traces(ExportTraceServiceRequest::decode(&bytes[..]).unwrap())
                    }
                }
            };
            let variant = variant.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{variant}/{name}"), batch));
        }
    }
    assert!(
        out.len() >= 40,
        "expected the seven capture variants, found {} requests",
        out.len()
    );
    out
}

fn json_text(b: &Records) -> String {
    let mut out = Vec::new();
    otlp_json::encode(b, &mut out);
    String::from_utf8(out).unwrap()
}

fn json_escaped(s: &str) -> String {
    let mut out = Vec::new();
    otlp_json::write_json_string(s, &mut out);
    let q = String::from_utf8(out).unwrap();
    q[1..q.len() - 1].to_owned()
}

fn is_content_key(k: &str) -> bool {
    CLAUDE_CODE_KEYS.contains(&k)
}

/// The `claude_code` preset with `content: drop`, written independently of
/// the processor: remove the content keys of records and spans and every
/// attribute of `tool.output` events. Returns the private strings removed.
fn expected_after_preset(batch: &mut Records) -> Vec<String> {
    let mut private = Vec::new();
    let mut take = |a: &mut Vec<KeyValue>, all: bool| {
        a.retain(|kv| {
            let content = all || is_content_key(&kv.key);
            if content {
                if let Some(Value::StringValue(s)) =
                    kv.value.as_ref().and_then(|v| v.value.as_ref())
                {
                    private.push(s.clone());
                }
            }
            !content
        })
    };
    match batch {
        Records::Logs(r) => {
            for lr in r
                .resource_logs
                .iter_mut()
                .flat_map(|x| &mut x.scope_logs)
                .flat_map(|x| &mut x.log_records)
            {
                take(&mut lr.attributes, false);
            }
        }
        Records::Traces(r) => {
            for sp in r
                .resource_spans
                .iter_mut()
                .flat_map(|x| &mut x.scope_spans)
                .flat_map(|x| &mut x.spans)
            {
                take(&mut sp.attributes, false);
                for e in &mut sp.events {
                    let all = CLAUDE_CODE_EVENTS.contains(&e.name.as_str());
                    take(&mut e.attributes, all);
                }
            }
        }
        Records::Metrics(_) => {}
    }
    private
}

#[test]
fn preset_removes_all_content_and_changes_nothing_else() {
    let mut p = parse::<RedactionConfig>("preset: claude_code")
        .build()
        .unwrap();
    let mut seen_private = 0;
    for (name, input) in load_captures() {
        let mut expected = input.clone();
        let private = expected_after_preset(&mut expected);
        let mut out = input.clone();
        run(&mut p, &mut out);
        // Everything that is not content is unchanged, to the byte: the secret
        // scanner found nothing to mask in real, non-private Claude Code data.
        assert!(
            out == expected,
            "{name}: output differs from input minus content"
        );
        assert_eq!(out.item_count(), input.item_count(), "{name}");
        let bytes = |b: &Records| match b {
            Records::Logs(r) => r.encode_to_vec(),
            Records::Metrics(r) => r.encode_to_vec(),
            Records::Traces(r) => r.encode_to_vec(),
        };
        assert_eq!(bytes(&out), bytes(&expected), "{name}");
        if input.signal() == Signal::Metrics {
            assert_eq!(out, input, "{name}: metrics carry no content");
        }
        // No private text anywhere: not in any string, not in the JSON.
        let strings = all_strings(&out);
        let json = json_text(&out);
        for text in private
            .iter()
            .filter(|t| t.len() >= 8 && *t != "<REDACTED>")
        {
            seen_private += 1;
            assert!(
                !strings.iter().any(|s| s.contains(text.as_str())),
                "{name}: {text:?} survived"
            );
            assert!(
                !json.contains(&json_escaped(text)),
                "{name}: {text:?} survived in JSON"
            );
        }
        for text in private
            .iter()
            .filter(|t| !t.is_empty() && *t != "<REDACTED>")
        {
            assert!(!strings.contains(text), "{name}: {text:?} survived");
        }
    }
    // The prompt, responses, tool inputs, commands and file contents of the session.
    assert!(
        seen_private > 100,
        "only {seen_private} private strings in the captures"
    );
}

#[test]
fn preset_finds_the_private_text_of_the_session() {
    // The captures' own prompt, a command and file contents are among what is removed.
    let mut all_private = Vec::new();
    for (_, mut b) in load_captures() {
        all_private.extend(expected_after_preset(&mut b));
    }
    for needle in [
        "Create hello.txt, edit it, commit it, open a pull request, then run echo hi",
        "echo hi",
        "hello from the fake model\nsecond line\n",
        "https://github.com/example/harness/pull/1",
    ] {
        assert!(
            all_private.iter().any(|p| p == needle),
            "{needle:?} is not treated as content"
        );
    }
}

/// Plants `text` at every level a secret can hide: resource, record
/// attributes (content and not), nested arrays and kvlists, bodies, span
/// events and their names, links, status messages, data points and exemplars.
fn plant(batch: &mut Records, text: &str) {
    let nested = || {
        kvlist(vec![
            kv("msg", s(text)),
            kv(
                "list",
                arr(vec![
                    i(1),
                    s(text),
                    kvlist(vec![kv("deep", arr(vec![s(text)]))]),
                ]),
            ),
        ])
    };
    let add = |a: &mut Vec<KeyValue>| {
        a.push(kv("note", s(&format!("see: {text} (pasted)"))));
        a.push(kv("nested", nested()));
        a.push(kv(
            "bytes",
            AnyValue {
                value: Some(Value::BytesValue(text.as_bytes().to_vec())),
            },
        ));
    };
    match batch {
        Records::Logs(r) => {
            for rl in &mut r.resource_logs {
                add(&mut rl.resource.get_or_insert_default().attributes);
                for (n, lr) in rl
                    .scope_logs
                    .iter_mut()
                    .flat_map(|x| &mut x.log_records)
                    .enumerate()
                {
                    add(&mut lr.attributes);
                    for kv in lr.attributes.iter_mut().filter(|kv| kv.key == "prompt") {
                        kv.value = Some(s(&format!("please use {text}")));
                    }
                    match n % 3 {
                        0 => lr.body = Some(s(&format!("claude_code.x {text}"))),
                        1 => lr.body = Some(nested()),
                        _ => {}
                    }
                }
            }
        }
        Records::Traces(r) => {
            for rs in &mut r.resource_spans {
                add(&mut rs.resource.get_or_insert_default().attributes);
                for sp in rs.scope_spans.iter_mut().flat_map(|x| &mut x.spans) {
                    add(&mut sp.attributes);
                    for e in &mut sp.events {
                        add(&mut e.attributes);
                    }
                    sp.events
                        .push(span_event(&format!("retry {text}"), &[("why", s(text))]));
                    sp.links.push(Link {
                        attributes: attrs(&[("why", arr(vec![s(text)]))]),
                        ..Default::default()
                    });
                    sp.status = Some(Status {
                        message: format!("failed: {text}"),
                        code: 2,
                    });
                }
            }
        }
        Records::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                add(&mut rm.resource.get_or_insert_default().attributes);
                for m in rm.scope_metrics.iter_mut().flat_map(|x| &mut x.metrics) {
                    crate::points::for_each_attributes(m, |a| a.push(kv("note", s(text))));
                    if let Some(Data::Sum(sum)) = &mut m.data {
                        for p in &mut sum.data_points {
                            p.exemplars.push(Exemplar {
                                filtered_attributes: attrs(&[("why", s(text))]),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Values of keys that are neither content nor planted, per record, in order.
fn plain_values(b: &Records) -> Vec<Vec<KeyValue>> {
    let keep = |a: &[KeyValue]| -> Vec<KeyValue> {
        a.iter()
            .filter(|kv| {
                !is_content_key(&kv.key)
                    && !kv.key.starts_with("redaction.")
                    && !["note", "nested", "bytes", "why"].contains(&kv.key.as_str())
            })
            .cloned()
            .collect()
    };
    match b {
        Records::Logs(_) => log_records(b).iter().map(|r| keep(&r.attributes)).collect(),
        Records::Traces(_) => spans(b).iter().map(|s| keep(&s.attributes)).collect(),
        Records::Metrics(_) => metric_list(b)
            .iter()
            .flat_map(|m| {
                let mut m = (*m).clone();
                let mut v = Vec::new();
                crate::points::for_each_attributes(&mut m, |a| v.push(keep(a)));
                v
            })
            .collect(),
    }
}

#[test]
fn no_planted_secret_survives_anywhere() {
    let mut p = parse::<RedactionConfig>("preset: claude_code\nsummary: debug")
        .build()
        .unwrap();
    let captures = load_captures();
    let mut checked = 0;
    for &(kind, text, secret, _) in POSITIVES {
        for (name, input) in captures
            .iter()
            .filter(|(n, _)| n.starts_with("http-protobuf/"))
        {
            let mut planted = input.clone();
            plant(&mut planted, text);
            let mut out = planted.clone();
            run(&mut p, &mut out);
            let strings = all_strings(&out);
            let leaked: Vec<_> = strings.iter().filter(|s| s.contains(secret)).collect();
            assert!(leaked.is_empty(), "{kind} in {name}: {leaked:?}");
            assert!(
                !json_text(&out).contains(&json_escaped(secret)),
                "{kind} in {name}: JSON"
            );
            let marker = format!("<redacted:{kind}>");
            assert!(
                strings.iter().any(|s| s.contains(&marker)),
                "{kind} in {name}: no {marker}"
            );
            // Model, tokens, cost, ids and the rest are untouched and in order.
            assert!(
                plain_values(&out) == plain_values(input),
                "{kind} in {name}: other attributes changed"
            );
            assert_eq!(out.item_count(), input.item_count(), "{kind} in {name}");
            checked += 1;
        }
    }
    assert!(checked >= POSITIVES.len() * 8, "{checked}");
}

#[test]
fn planted_secrets_are_summarized_on_records() {
    let mut p = parse::<RedactionConfig>("preset: claude_code\nsummary: debug")
        .build()
        .unwrap();
    let (_, input) = load_captures()
        .into_iter()
        .find(|(n, _)| n == "http-protobuf/0002-http-logs.bin")
        .unwrap();
    let mut out = input.clone();
    plant(&mut out, "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
    run(&mut p, &mut out);
    for r in log_records(&out) {
        let get = |k: &str| crate::value::get(&r.attributes, k).cloned();
        assert_eq!(get("redaction.masked.kinds"), Some(s("github-token")));
        // note, three in nested, bytes, and one or three in the body
        let masked = match get("redaction.masked.count").and_then(|v| v.value) {
            Some(Value::IntValue(n)) => n,
            other => panic!("{other:?}"),
        };
        assert!((5..=8).contains(&masked), "{masked}");
        let name = crate::value::as_str(crate::value::get(&r.attributes, "event.name")).unwrap();
        let redacted = get("redaction.redacted.keys");
        match name {
            "user_prompt" => assert_eq!(redacted, Some(s("prompt,prompt_text"))),
            "api_request" | "plugin_loaded" | "managed_settings_resolved" => {
                assert_eq!(redacted, None)
            }
            _ => {}
        }
    }
}

fn event_names(b: &Records) -> Vec<String> {
    log_records(b)
        .iter()
        .map(|r: &&LogRecord| {
            crate::value::as_str(crate::value::get(&r.attributes, "event.name"))
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn filter_drops_exactly_the_named_records() {
    let cfg: FilterConfig = parse(
        "logs:    { exclude: { match_type: strict, event_names: [plugin_loaded, managed_settings_resolved] } }\n\
         metrics: { exclude: { match_type: regexp, metric_names: ['claude_code\\.active_time\\..*'] } }\n\
         traces:  { include: { match_type: strict, span_names: [claude_code.interaction, claude_code.llm_request] } }",
    );
    let mut dropped = BTreeMap::new();
    for (name, input) in load_captures() {
        let mut p = cfg.build(input.signal()).unwrap();
        let mut out = input.clone();
        run(&mut p, &mut out);
        *dropped.entry(input.signal()).or_insert(0) += input.item_count() - out.item_count();
        match &input {
            Records::Logs(_) => {
                let want: Vec<_> = event_names(&input)
                    .into_iter()
                    .filter(|n| n != "plugin_loaded" && n != "managed_settings_resolved")
                    .collect();
                assert_eq!(event_names(&out), want, "{name}");
                // the kept records are unchanged
                let kept: Vec<_> = log_records(&input)
                    .into_iter()
                    .filter(|r| {
                        let n =
                            crate::value::as_str(crate::value::get(&r.attributes, "event.name"))
                                .unwrap();
                        n != "plugin_loaded" && n != "managed_settings_resolved"
                    })
                    .collect();
                assert_eq!(log_records(&out), kept, "{name}");
            }
            Records::Traces(_) => {
                let want: Vec<_> = spans(&input)
                    .into_iter()
                    .filter(|s| {
                        s.name == "claude_code.interaction" || s.name == "claude_code.llm_request"
                    })
                    .collect();
                assert_eq!(spans(&out), want, "{name}");
            }
            Records::Metrics(_) => {
                let want: Vec<_> = metric_list(&input)
                    .into_iter()
                    .filter(|m| !m.name.starts_with("claude_code.active_time."))
                    .collect();
                assert_eq!(metric_list(&out), want, "{name}");
            }
        }
    }
    // The captures hold plugin_loaded/managed_settings_resolved events, tool
    // spans and active-time points, so each section dropped something.
    assert!(dropped.values().all(|&n| n > 0), "{dropped:?}");
}

#[test]
fn deleting_a_series_attribute_merges_delta_points_correctly() {
    let mut p = parse::<AttributesConfig>("actions: [{ key: type, action: delete }]")
        .build(Signal::Metrics)
        .unwrap();
    let mut merged_any = false;
    for (name, input) in load_captures()
        .into_iter()
        .filter(|(_, b)| b.signal() == Signal::Metrics)
    {
        let mut out = input.clone();
        run(&mut p, &mut out);
        let (before, after) = (metric_list(&input), metric_list(&out));
        assert_eq!(before.len(), after.len(), "{name}");
        for (m0, m1) in before.iter().zip(&after) {
            let Some(Data::Sum(s)) = &m0.data else {
                panic!("{name}: Claude Code sends sums")
            };
            assert_eq!(
                s.aggregation_temporality,
                AggregationTemporality::Delta as i32
            );
            // expected: the input points grouped by their attributes without `type`
            let mut groups: Vec<(Vec<KeyValue>, f64)> = Vec::new();
            for (mut a, v) in sum_points(m0) {
                a.retain(|kv| kv.key != "type");
                match groups
                    .iter_mut()
                    .find(|(g, _)| crate::points::same_attributes(g, &a))
                {
                    Some((_, total)) => *total += v,
                    None => groups.push((a, v)),
                }
            }
            let got = sum_points(m1);
            assert_eq!(got, groups, "{name}: {}", m0.name);
            let distinct: BTreeSet<String> = got.iter().map(|(a, _)| format!("{a:?}")).collect();
            assert_eq!(
                distinct.len(),
                got.len(),
                "{name}: duplicate series in {}",
                m0.name
            );
            merged_any |= got.len() < sum_points(m0).len();
        }
    }
    assert!(merged_any, "claude_code.token.usage has one point per type");
}

#[test]
fn resource_tags_every_capture() {
    let mut p = parse::<ResourceConfig>(
        "attributes:\n\
         - { key: deployment.environment.name, value: prod, action: upsert }\n\
         - { key: os.version, action: delete }\n\
         - { key: service.name, value: other, action: insert }",
    )
    .build()
    .unwrap();
    for (name, input) in load_captures() {
        let mut out = input.clone();
        run(&mut p, &mut out);
        for (r0, r1) in resources(&input).into_iter().zip(resources(&out)) {
            let mut want: Vec<KeyValue> =
                r0.into_iter().filter(|kv| kv.key != "os.version").collect();
            want.push(kv("deployment.environment.name", s("prod")));
            assert_eq!(r1, want, "{name}");
        }
    }
}
