//! The wire path of `resource` and `redaction` against their decoded path:
//! for every processor config in the shipped configs and the testdata (and a
//! few more that reach every rule), on every Claude Code capture and on
//! seeded random requests, the request the wire path writes decodes to
//! exactly the batch the decoded path leaves.

use std::path::Path;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Gauge, Histogram, HistogramDataPoint, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use opentelemetry_proto::tonic::trace::v1::Status;
use prost::Message;

use ccpipe_otlp::Encoded;
use ccpipe_pipeline::testing::Xorshift;
use ccpipe_pipeline::Signal;

use super::captures::load_captures;
use super::*;
use crate::redaction::{RedactionConfig, BLOCKED_KEY_MASK, MASK};
use crate::resource::ResourceConfig;
use ccpipe_secrets::testing::POSITIVES;

const TEST_KEY: &str = "0123456789abcdef0123456789abcdef";

/// `${env:NAME:-default}` → default, `${env:NAME}` → a test key.
fn without_env(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${env:") {
        out.push_str(&rest[..i]);
        let end = i + rest[i..].find('}').expect("closed placeholder");
        let inner = &rest[i + 6..end];
        out.push_str(inner.split_once(":-").map_or(TEST_KEY, |(_, d)| d));
        rest = &rest[end + 1..];
    }
    out + rest
}

type Built = Box<dyn Processor>;

fn build(ty: &str, settings: serde_yaml::Value) -> Option<Built> {
    match ty {
        "resource" => serde_yaml::from_value::<ResourceConfig>(settings)
            .ok()?
            .build()
            .ok()
            .map(|p| Box::new(p) as Built),
        "redaction" => serde_yaml::from_value::<RedactionConfig>(settings)
            .ok()?
            .build()
            .ok()
            .map(|p| Box::new(p) as Built),
        _ => None,
    }
}

/// Extra configs that reach the rules the shipped ones leave out.
const EXTRA: &[(&str, &str)] = &[
    ("redaction", "{ preset: claude_code }"),
    ("redaction", "{ preset: claude_code, content: mask, summary: debug }"),
    (
        "redaction",
        "{ content_keys: [tool_name, event.name], content: mask, secrets: none }",
    ),
    (
        "redaction",
        "{ allowed_keys: [event.name, session.id, model, prompt, user.id, type], secrets: none }",
    ),
    (
        "redaction",
        "{ blocked_keys: ['(?i)(token|password|secret|api[_-]?key)'], secrets: none }",
    ),
    (
        "redaction",
        "{ blocked_values: ['(?i)acme-internal-[a-z0-9]+'], secrets: builtin, disabled_rules: [email] }",
    ),
    (
        "resource",
        "{ attributes: [{ key: service.name, action: update, value: x }, { key: os.type, action: delete }] }",
    ),
    (
        "resource",
        "{ attributes: [{ key: service.namespace, from_attribute: service.name, action: upsert }] }",
    ),
    (
        "resource",
        "{ hash_key: 0123456789abcdef0123456789abcdef, attributes: [{ pattern: '^(user|host)\\.', action: hash }, { key: team, value: 1, action: insert }] }",
    ),
];

/// Every `resource` and `redaction` config of configs/*.yaml, the
/// testdata's valid ones, and [`EXTRA`].
fn processors() -> Vec<(String, Built)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut shipped: Vec<_> = std::fs::read_dir(root.join("../configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    shipped.sort();
    for path in shipped {
        let text = without_env(&std::fs::read_to_string(&path).unwrap());
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let Some(section) = doc.get("processors").and_then(|p| p.as_mapping()) else {
            continue;
        };
        for (id, settings) in section {
            let id = id.as_str().unwrap();
            let ty = id.split('/').next().unwrap();
            if let Some(b) = build(ty, settings.clone()) {
                out.push((format!("{}: {id}", path.display()), b));
            } else if ty == "resource" || ty == "redaction" {
                panic!("{}: {id} does not build", path.display());
            }
        }
    }
    for ty in ["resource", "redaction"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join("testdata").join(ty))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.starts_with("# ok") {
                continue;
            }
            let settings = serde_yaml::from_str(&text).unwrap();
            let b = build(ty, settings).unwrap_or_else(|| panic!("{}", path.display()));
            out.push((path.display().to_string(), b));
        }
    }
    for (ty, yaml) in EXTRA {
        let b = build(ty, serde_yaml::from_str(yaml).unwrap()).expect(yaml);
        out.push((format!("{ty} {yaml}"), b));
    }
    assert!(out.len() >= 12, "found only {} configs", out.len());
    out
}

fn encode(records: &Records) -> Vec<u8> {
    match records {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

/// Runs `p` on `requests` (one batch of them, as the batch processor
/// joins them) decoded, then still encoded; panics naming `what` when the
/// results differ or the encoded batch was decoded. Returns whether the
/// wire path rewrote anything.
fn same_on_both_paths(p: &mut Built, signal: Signal, requests: &[Vec<u8>], what: &str) -> bool {
    let mut encoded = Encoded::new(signal, requests[0].clone().into()).unwrap();
    for r in &requests[1..] {
        encoded.append(Encoded::new(signal, r.clone().into()).unwrap());
    }
    let mut decoded = Batch::from(encoded.decode().unwrap());
    assert_eq!(p.process(&mut decoded).unwrap(), Verdict::Keep);
    let want = decoded.records().unwrap();

    let mut wire = Batch::from(encoded.clone());
    assert_eq!(p.process(&mut wire).unwrap(), Verdict::Keep);
    let Some(out) = wire.encoded() else {
        panic!("{what}: the wire path fell back to decoding")
    };
    for part in out.parts() {
        assert!(
            ccpipe_pipeline::wire::scan(signal, part).is_ok(),
            "{what}: the wire path wrote an invalid request"
        );
    }
    assert!(out.decode().unwrap() == *want, "{what}: the paths differ");
    assert_eq!(wire.item_count(), want.item_count(), "{what}: items");
    out.parts() != encoded.parts()
}

#[test]
fn the_wire_path_equals_the_decoded_path_on_every_capture() {
    let captures = load_captures();
    let mut rewrites = 0;
    for (name, mut p) in processors() {
        for (file, records) in &captures {
            let bytes = vec![encode(records)];
            let what = format!("{name} on {file}");
            rewrites += usize::from(same_on_both_paths(&mut p, records.signal(), &bytes, &what));
        }
    }
    // Not vacuous: the resource upserts and the presets rewrite captures.
    assert!(rewrites > 100, "only {rewrites} rewrites");
}

#[test]
fn the_wire_path_equals_the_decoded_path_on_random_requests() {
    let mut rng = Xorshift(0x5eed_1234_abcd_0001);
    let mut processors = processors();
    let (mut rewrites, mut kept) = (0, 0);
    for round in 0..300 {
        let records = random_batch(&mut rng);
        let signal = records.signal();
        let mut requests = vec![encode(&records)];
        // Every third round a batch of two requests, as `batch` joins them.
        if round % 3 == 0 {
            let more = random_batch(&mut rng);
            if more.signal() == signal {
                requests.push(encode(&more));
            }
        }
        for (name, p) in &mut processors {
            let what = format!("{name} on random request {round} (seeded: rerun to see it)");
            match same_on_both_paths(p, signal, &requests, &what) {
                true => rewrites += 1,
                false => kept += 1,
            }
        }
    }
    assert!(
        rewrites > 1000 && kept > 1000,
        "{rewrites} rewrites, {kept} kept"
    );
}

#[test]
fn a_resource_given_twice_falls_back_to_the_decoded_path() {
    let records = logs(&[("a", s("1"))], vec![event("x", &[])]);
    let mut bytes = encode(&records);
    // Append a second ResourceLogs.resource to the first ResourceLogs:
    // protobuf merges the two, which only the decoded path does.
    let mut second = Vec::new();
    ccpipe_otlp::rewrite::proto::put_len(&mut second, 1, &Resource::default().encode_to_vec());
    let first_len = bytes[1] as usize; // one-byte length in this small request
    assert!(first_len < 0x80);
    bytes.extend_from_slice(&second);
    bytes[1] = (first_len + second.len()) as u8;
    let cfg: ResourceConfig =
        serde_yaml::from_str("{ attributes: [{ key: b, value: 2, action: upsert }] }").unwrap();
    let r = cfg.build().unwrap();
    assert_eq!(r.process_encoded(&bytes), Err(crate::wire::Fallback));
    let cfg: RedactionConfig = serde_yaml::from_str("{ preset: claude_code }").unwrap();
    let r = cfg.build().unwrap();
    assert!(r.process_encoded(Signal::Logs, &bytes).is_err());
    // Through the processor contract: decoded, and the same as decoding first.
    let mut p: Built = Box::new(r);
    let mut batch = Batch::from(Encoded::new(Signal::Logs, bytes.into()).unwrap());
    p.process(&mut batch).unwrap();
    assert!(batch.encoded().is_none(), "fell back to the records");
}

// ------------------------------------------------------------ generators

/// Keys that hit every rule of the configs above, and plain ones.
const KEYS: &[&str] = &[
    "event.name",
    "session.id",
    "user.id",
    "user.email",
    "model",
    "prompt",
    "tool_name",
    "tool_parameters",
    "error",
    "file_path",
    "api_key",
    "password",
    "auth_token",
    "input_tokens",
    "type",
    "service.name",
    "host.name",
    "os.type",
    "os.version",
    "team",
    "deployment.environment.name",
];

fn pick<'a, T>(rng: &mut Xorshift, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len())]
}

fn random_text(rng: &mut Xorshift) -> String {
    match rng.below(8) {
        0 => MASK.to_owned(),
        1 => BLOCKED_KEY_MASK.to_owned(),
        2 | 3 => pick(rng, POSITIVES).1.to_owned(),
        4 => format!("see acme-internal-{} now", rng.below(1000)),
        5 => String::new(),
        _ => format!("plain text {}", rng.below(100)),
    }
}

fn random_value(rng: &mut Xorshift, depth: usize) -> AnyValue {
    let top = if depth == 0 { 6 } else { 9 };
    match rng.below(top) {
        0..=2 => s(&random_text(rng)),
        3 => i(rng.below(1000) as i64),
        4 => b(rng.below(2) == 0),
        5 => d(rng.below(100) as f64 / 4.0),
        6 => AnyValue {
            value: Some(Value::BytesValue(random_text(rng).into_bytes())),
        },
        7 => arr((0..rng.below(3))
            .map(|_| random_value(rng, depth - 1))
            .collect()),
        _ => kvlist(random_attrs(rng, depth - 1, 3)),
    }
}

fn random_attrs(rng: &mut Xorshift, depth: usize, most: usize) -> Vec<KeyValue> {
    (0..rng.below(most + 1))
        .map(|_| {
            let mut a = kv(pick::<&str>(rng, KEYS), random_value(rng, depth));
            if rng.below(20) == 0 {
                a.value = None;
            }
            // A string-table key beside the key (OTLP 1.8): a rewrite of
            // the value on the bytes must keep it.
            if rng.below(10) == 0 {
                a.key_strindex = rng.below(4) as i32;
            }
            a
        })
        .collect()
}

fn random_resource(rng: &mut Xorshift) -> Option<Resource> {
    (rng.below(5) != 0).then(|| Resource {
        attributes: random_attrs(rng, 1, 5),
        dropped_attributes_count: rng.below(2) as u32,
        ..Default::default()
    })
}

fn random_scope(rng: &mut Xorshift) -> Option<InstrumentationScope> {
    (rng.below(3) != 0).then(|| InstrumentationScope {
        name: "com.anthropic.claude_code".into(),
        version: "2.1.330".into(),
        attributes: random_attrs(rng, 1, 2),
        ..Default::default()
    })
}

pub(super) fn random_batch(rng: &mut Xorshift) -> Records {
    let resources = rng.below(3) + 1;
    match rng.below(3) {
        0 => Records::Logs(ExportLogsServiceRequest {
            resource_logs: (0..resources)
                .map(|_| ResourceLogs {
                    resource: random_resource(rng),
                    scope_logs: (0..rng.below(3))
                        .map(|_| ScopeLogs {
                            scope: random_scope(rng),
                            log_records: (0..rng.below(5))
                                .map(|_| LogRecord {
                                    time_unix_nano: rng.next_u64(),
                                    body: (rng.below(2) == 0).then(|| random_value(rng, 2)),
                                    attributes: random_attrs(rng, 2, 6),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }),
        1 => Records::Traces(ExportTraceServiceRequest {
            resource_spans: (0..resources)
                .map(|_| ResourceSpans {
                    resource: random_resource(rng),
                    scope_spans: (0..rng.below(3))
                        .map(|_| ScopeSpans {
                            scope: random_scope(rng),
                            spans: (0..rng.below(4)).map(|_| random_span(rng)).collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }),
        _ => Records::Metrics(ExportMetricsServiceRequest {
            resource_metrics: (0..resources)
                .map(|_| ResourceMetrics {
                    resource: random_resource(rng),
                    scope_metrics: (0..rng.below(3))
                        .map(|_| ScopeMetrics {
                            scope: random_scope(rng),
                            metrics: (0..rng.below(4)).map(|_| random_metric(rng)).collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }),
    }
}

fn random_span(rng: &mut Xorshift) -> Span {
    let name = if rng.below(3) == 0 {
        random_text(rng)
    } else {
        "claude_code.tool".into()
    };
    Span {
        name,
        attributes: random_attrs(rng, 2, 5),
        events: (0..rng.below(3))
            .map(|_| {
                let name = match rng.below(3) {
                    0 => "tool.output".to_owned(),
                    1 => random_text(rng),
                    _ => "exception".to_owned(),
                };
                span_event(&name, &[]).with_attributes(random_attrs(rng, 1, 3))
            })
            .collect(),
        links: (0..rng.below(2))
            .map(|_| Link {
                attributes: random_attrs(rng, 1, 2),
                ..Default::default()
            })
            .collect(),
        status: (rng.below(2) == 0).then(|| Status {
            message: random_text(rng),
            code: 2,
        }),
        ..Default::default()
    }
}

trait WithAttributes {
    fn with_attributes(self, a: Vec<KeyValue>) -> Self;
}

impl WithAttributes for Event {
    fn with_attributes(mut self, a: Vec<KeyValue>) -> Self {
        self.attributes = a;
        self
    }
}

/// Points whose attributes differ only in content and secrets, so that
/// redaction makes series identical and DELTA sums merge.
fn point_attrs(rng: &mut Xorshift) -> Vec<KeyValue> {
    let mut a = vec![kv("type", s(pick::<&str>(rng, &["input", "output"])))];
    if rng.below(2) == 0 {
        a.push(kv("prompt", s(&format!("p{}", rng.below(3)))));
    }
    if rng.below(3) == 0 {
        a.push(kv(pick::<&str>(rng, KEYS), random_value(rng, 1)));
    }
    a
}

fn exemplars(rng: &mut Xorshift) -> Vec<Exemplar> {
    (0..rng.below(2))
        .map(|_| Exemplar {
            filtered_attributes: random_attrs(rng, 1, 2),
            ..Default::default()
        })
        .collect()
}

fn random_metric(rng: &mut Xorshift) -> Metric {
    let n = rng.below(5);
    let number_points = |rng: &mut Xorshift| -> Vec<NumberDataPoint> {
        (0..n)
            .map(|_| NumberDataPoint {
                attributes: point_attrs(rng),
                start_time_unix_nano: 1,
                time_unix_nano: 2,
                value: Some(if rng.below(2) == 0 {
                    Number::AsInt(rng.below(100) as i64)
                } else {
                    Number::AsDouble(rng.below(100) as f64 / 8.0)
                }),
                exemplars: exemplars(rng),
                ..Default::default()
            })
            .collect()
    };
    let data = match rng.below(5) {
        0 | 1 => Data::Sum(Sum {
            data_points: number_points(rng),
            aggregation_temporality: if rng.below(3) == 0 {
                AggregationTemporality::Cumulative
            } else {
                AggregationTemporality::Delta
            } as i32,
            is_monotonic: true,
        }),
        2 => Data::Gauge(Gauge {
            data_points: number_points(rng),
        }),
        3 => Data::Histogram(Histogram {
            data_points: (0..n)
                .map(|_| HistogramDataPoint {
                    attributes: point_attrs(rng),
                    count: 1,
                    bucket_counts: vec![1, 0],
                    explicit_bounds: vec![1.0],
                    exemplars: exemplars(rng),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Delta as i32,
        }),
        _ => Data::Summary(Summary {
            data_points: (0..n)
                .map(|_| SummaryDataPoint {
                    attributes: point_attrs(rng),
                    count: 1,
                    ..Default::default()
                })
                .collect(),
        }),
    };
    Metric {
        name: "claude_code.token.usage".into(),
        data: Some(data),
        ..Default::default()
    }
}
