//! The agentless exporter against a fake intake on 127.0.0.1, fed with the
//! recorded Claude Code requests and with large synthetic batches.

use std::collections::BTreeSet;
use std::time::Duration;

use ccpipe_pipeline::{ExportError, Exporter, Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{json, Value as Json};

use super::fake_intake::{Captured, FakeIntake, Reply};
use super::tags::{normalize_tag, tag, value_text};
use super::*;
use crate::testutil::captures;

const KEY: &str = "0123456789abcdef-secret-key";

fn settings(intake: &FakeIntake) -> AgentlessSettings {
    AgentlessSettings {
        api_key: KEY.into(),
        site: "datadoghq.com".into(),
        metrics_endpoint: Some(intake.url("/api/v2/series")),
        logs_endpoint: Some(intake.url("/api/v2/logs")),
        timeout: Duration::from_secs(10),
    }
}

fn exporter(intake: &FakeIntake) -> AgentlessExporter {
    AgentlessExporter::new(settings(intake)).unwrap()
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// Sets what the datadog enrichment sets: env, host and a user tag.
fn set_resource(resource: &mut Option<Resource>) {
    let r = resource.get_or_insert_with(Resource::default);
    r.attributes.retain(|a| {
        !["deployment.environment.name", "datadog.host.name", "team"].contains(&a.key.as_str())
    });
    if !r.attributes.iter().any(|a| a.key == "service.name") {
        r.attributes.push(kv("service.name", s("claude-code")));
    }
    r.attributes
        .push(kv("deployment.environment.name", s("test")));
    r.attributes.push(kv("datadog.host.name", s("h1")));
    r.attributes.push(kv("team", s("Platform")));
}

fn enrich(mut batch: Records) -> Records {
    match &mut batch {
        Records::Logs(r) => r
            .resource_logs
            .iter_mut()
            .for_each(|rl| set_resource(&mut rl.resource)),
        Records::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|rm| set_resource(&mut rm.resource)),
        Records::Traces(_) => {}
    }
    batch
}

fn assert_intake_headers(c: &Captured, path: &str) {
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, path);
    assert_eq!(c.headers["dd-api-key"], KEY);
    assert_eq!(c.headers["content-encoding"], "gzip");
    assert_eq!(c.headers["content-type"], "application/json");
}

/// The value of an attribute as the logs intake should get it.
fn plain(v: Option<&AnyValue>) -> Json {
    let mut out = Vec::new();
    match v {
        Some(v) => ccpipe_pipeline::otlp_json::write_plain_value(v, &mut out),
        None => out.extend_from_slice(b"null"),
    }
    serde_json::from_slice(&out).unwrap()
}

fn str_tags(v: &Json) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

// ---- payloads built from the real captures ----

#[tokio::test]
async fn every_captured_data_point_becomes_a_series_point() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    let mut expected = Vec::new();
    for (signal, batch) in captures("http-protobuf") {
        if signal != Signal::Metrics {
            continue;
        }
        let batch = enrich(batch);
        let Records::Metrics(req) = &batch else {
            unreachable!()
        };
        for rm in &req.resource_metrics {
            for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                let Some(Data::Sum(sum)) = &m.data else {
                    panic!("Claude Code sends sums only")
                };
                for dp in &sum.data_points {
                    expected.push((m.clone(), sum.clone(), dp.clone()));
                }
            }
        }
        exp.export(Batch::from(batch)).await.unwrap();
    }
    let reqs = intake.requests();
    assert!(!reqs.is_empty());
    let mut got = Vec::new();
    for c in &reqs {
        assert_intake_headers(c, "/api/v2/series");
        got.extend(c.json["series"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(got.len(), expected.len());
    assert!(expected.len() >= 10, "only {} points", expected.len());
    for (series, (m, sum, dp)) in got.iter().zip(&expected) {
        assert_eq!(series["metric"], m.name.as_str());
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        assert_eq!(series["type"], 1, "{series}");
        let Some(number_data_point::Value::AsDouble(v)) = dp.value else {
            panic!("double values expected")
        };
        let interval =
            ((dp.time_unix_nano - dp.start_time_unix_nano + 500_000_000) / 1_000_000_000).max(1);
        assert_eq!(series["interval"], interval, "{series}");
        assert_eq!(
            series["points"],
            json!([{"timestamp": dp.time_unix_nano / 1_000_000_000, "value": v}])
        );
        assert_eq!(series["resources"], json!([{"type": "host", "name": "h1"}]));
        let tags = str_tags(&series["tags"]);
        for a in &dp.attributes {
            let t = tag(&a.key, &value_text(a.value.as_ref())).unwrap();
            assert!(tags.contains(&t), "{t} missing in {tags:?}");
        }
        for t in [
            "service:claude-code",
            "env:test",
            "version:2.1.330",
            "team:platform",
        ] {
            assert!(tags.contains(&t.to_owned()), "{t} missing in {tags:?}");
        }
        assert!(tags.iter().any(|t| t.starts_with("user.id:")));
        assert!(!tags
            .iter()
            .any(|t| t.starts_with("host.arch") || t.starts_with("os.")));
        let unit = match m.name.as_str() {
            "claude_code.cost.usage" => json!("dollar"),
            "claude_code.active_time.total" => json!("second"),
            _ => Json::Null,
        };
        assert_eq!(series["unit"], unit, "{}", m.name);
    }
    let names: BTreeSet<_> = got.iter().map(|s| s["metric"].as_str().unwrap()).collect();
    assert!(names.contains("claude_code.token.usage") && names.contains("claude_code.cost.usage"));
}

#[tokio::test]
async fn every_captured_log_record_becomes_an_entry() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    let mut expected = Vec::new();
    for (signal, batch) in captures("http-protobuf") {
        if signal != Signal::Logs {
            continue;
        }
        let batch = enrich(batch);
        let Records::Logs(req) = &batch else {
            unreachable!()
        };
        expected.extend(
            req.resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| sl.log_records.iter().cloned()),
        );
        exp.export(Batch::from(batch)).await.unwrap();
    }
    let reqs = intake.requests();
    let mut got = Vec::new();
    for c in &reqs {
        assert_intake_headers(c, "/api/v2/logs");
        got.extend(c.json.as_array().unwrap().iter().cloned());
    }
    assert_eq!(got.len(), expected.len());
    assert!(expected.len() >= 13);
    let mut events = BTreeSet::new();
    for (entry, rec) in got.iter().zip(&expected) {
        let Some(Value::StringValue(body)) = rec.body.as_ref().and_then(|b| b.value.clone()) else {
            panic!("string bodies expected")
        };
        assert_eq!(entry["message"], body.as_str());
        assert!(body.starts_with("claude_code."));
        assert_eq!(entry["ddsource"], "claude-code");
        assert_eq!(entry["service"], "claude-code");
        assert_eq!(entry["hostname"], "h1");
        assert_eq!(entry["status"], "info");
        assert_eq!(entry["timestamp"], rec.time_unix_nano / 1_000_000);
        let ddtags: Vec<&str> = entry["ddtags"].as_str().unwrap().split(',').collect();
        assert_eq!(
            &ddtags[..3],
            ["env:test", "version:2.1.330", "team:platform"]
        );
        for a in &rec.attributes {
            assert_eq!(entry[a.key.as_str()], plain(a.value.as_ref()), "{}", a.key);
        }
        let ids = usize::from(!rec.trace_id.is_empty()) + usize::from(!rec.span_id.is_empty());
        if !rec.trace_id.is_empty() {
            let mut hex = Vec::new();
            crate::text::write_hex(&rec.trace_id, &mut hex);
            assert_eq!(entry["otel.trace_id"], String::from_utf8(hex).unwrap());
        }
        // Fixed fields + message + ids + attributes; nothing else.
        let fields = entry.as_object().unwrap().len();
        assert_eq!(fields, 7 + ids + rec.attributes.len(), "{entry}");
        events.insert(entry["event.name"].as_str().unwrap().to_owned());
    }
    for e in ["user_prompt", "api_request", "tool_result"] {
        assert!(events.contains(e), "{e} not in {events:?}");
    }
}

// ---- splitting ----

fn logs_batch(n: usize, pad: usize) -> Records {
    let records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            body: Some(AnyValue {
                value: Some(s("claude_code.user_prompt")),
            }),
            attributes: vec![
                kv("event.name", s("user_prompt")),
                kv("event.sequence", Value::IntValue(i as i64)),
                kv("prompt", s(&format!("{i:x}{}", "p".repeat(pad)))),
            ],
            ..Default::default()
        })
        .collect();
    enrich(Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }))
}

fn sequences(reqs: &[Captured], accepted_only: bool) -> Vec<i64> {
    reqs.iter()
        .filter(|c| !accepted_only || c.status < 300)
        .flat_map(|c| c.json.as_array().unwrap().clone())
        .map(|e| e["event.sequence"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn large_logs_batches_are_split_within_the_limits() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    // 5000 records of about 2.2 kB: 11 MB, over the byte and count limits.
    exp.export(Batch::from(logs_batch(5000, 2200)))
        .await
        .unwrap();
    let reqs = intake.requests();
    assert!(reqs.len() >= 5, "{} requests", reqs.len());
    for c in &reqs {
        assert_intake_headers(c, "/api/v2/logs");
        assert!(c.raw.len() <= 5_000_000, "{} bytes", c.raw.len());
        let n = c.json.as_array().unwrap().len();
        assert!((1..=1000).contains(&n), "{n} entries");
    }
    let seq = sequences(&reqs, false);
    assert_eq!(
        seq,
        (0..5000).collect::<Vec<_>>(),
        "each record once, in order"
    );
}

#[tokio::test]
async fn large_series_batches_are_split_within_the_limits() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    // 12000 points with five long, varied tags each: about 12 MB of series.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        format!("{x:016x}")
    };
    let points: Vec<NumberDataPoint> = (0..12_000)
        .map(|i| NumberDataPoint {
            attributes: std::iter::once(kv("n", Value::IntValue(i)))
                .chain((0..5).map(|k| kv(&format!("attr{k}"), s(&noise().repeat(12)))))
                .collect(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            time_unix_nano: 1_700_000_060_000_000_000,
            value: Some(number_data_point::Value::AsDouble(i as f64)),
            ..Default::default()
        })
        .collect();
    let batch = metrics_batch(vec![Metric {
        name: "claude_code.token.usage".into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }]);
    exp.export(Batch::from(batch)).await.unwrap();
    let reqs = intake.requests();
    let total: usize = reqs.iter().map(|c| c.raw.len()).sum();
    assert!(total > 10_000_000, "only {total} bytes");
    assert!(reqs.len() >= 4, "{} requests", reqs.len());
    let mut seen = Vec::new();
    for c in &reqs {
        assert_intake_headers(c, "/api/v2/series");
        assert!(c.raw.len() <= 3_200_000, "{} bytes", c.raw.len());
        assert!(c.wire_len <= 512_000, "{} bytes compressed", c.wire_len);
        for sr in c.json["series"].as_array().unwrap() {
            assert_eq!(sr["type"], 1);
            assert_eq!(sr["interval"], 60);
            seen.push(sr["points"][0]["value"].as_f64().unwrap() as i64);
        }
    }
    assert_eq!(seen, (0..12_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn entries_over_one_megabyte_are_truncated() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    let mut batch = logs_batch(3, 10);
    let Records::Logs(req) = &mut batch else {
        unreachable!()
    };
    let recs = &mut req.resource_logs[0].scope_logs[0].log_records;
    recs[0]
        .attributes
        .push(kv("tool_input", s(&"x\n".repeat(1_500_000))));
    recs[1].body = Some(AnyValue {
        value: Some(s(&"é".repeat(2_000_000))),
    });
    exp.export(Batch::from(batch)).await.unwrap();
    let reqs = intake.requests();
    assert_eq!(reqs.len(), 1);
    let entries = reqs[0].json.as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (i, e) in entries.iter().enumerate() {
        let len = serde_json::to_vec(e).unwrap().len();
        assert!(len <= logs::MAX_ENTRY_BYTES, "entry {i}: {len} bytes");
        assert_eq!(e["event.sequence"], i as i64);
        assert_eq!(e["hostname"], "h1");
    }
    assert_eq!(entries[0]["ccpipe.truncated"], true);
    let cut = entries[0]["tool_input"].as_str().unwrap();
    assert!(cut.starts_with("x\nx\n") && cut.ends_with(logs::TRUNCATED));
    assert_eq!(entries[0]["message"], "claude_code.user_prompt");
    assert_eq!(entries[1]["ccpipe.truncated"], true);
    assert!(entries[1]["message"]
        .as_str()
        .unwrap()
        .ends_with(logs::TRUNCATED));
    assert!(entries[2].get("ccpipe.truncated").is_none());
}

// ---- errors, retries and resuming ----

#[tokio::test]
async fn a_503_is_retryable_with_its_retry_after() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    intake.script(
        Reply::status(503)
            .header("retry-after", "7")
            .body("try later"),
    );
    let err = exp.export(Batch::from(logs_batch(1, 1))).await.unwrap_err();
    match err {
        ExportError::Retryable {
            message,
            retry_after,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(
                message.contains("503") && message.contains("try later"),
                "{message}"
            );
            assert!(!message.contains(KEY));
        }
        other => panic!("{other:?}"),
    }
    intake.script(Reply::status(429).header("x-ratelimit-reset", "3"));
    let err = exp.export(Batch::from(logs_batch(1, 1))).await.unwrap_err();
    assert!(
        matches!(err, ExportError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(3))
    );
}

#[tokio::test]
async fn a_400_and_a_403_are_permanent_with_the_intakes_message() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    intake.script(Reply::status(400).body(&format!(
        r#"{{"errors":["Invalid payload for key {KEY}"]}}"#
    )));
    let err = exp.export(Batch::from(logs_batch(1, 1))).await.unwrap_err();
    let ExportError::Permanent(m) = err else {
        panic!("{err:?}")
    };
    assert!(m.contains("400") && m.contains("Invalid payload"), "{m}");
    assert!(!m.contains(KEY) && m.contains("[REDACTED]"), "{m}");

    intake.script(Reply::status(403).body(r#"{"errors":["Forbidden"]}"#));
    let err = exp
        .export(Batch::from(metrics_batch(vec![gauge("g", 1.0)])))
        .await
        .unwrap_err();
    let ExportError::Permanent(m) = err else {
        panic!("{err:?}")
    };
    assert!(m.contains("403") && m.contains("Forbidden"), "{m}");
    assert!(!m.contains(KEY));
}

#[tokio::test]
async fn connection_errors_and_timeouts_are_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut exp = AgentlessExporter::new(AgentlessSettings {
        api_key: KEY.into(),
        site: "datadoghq.com".into(),
        metrics_endpoint: None,
        logs_endpoint: Some(format!("http://127.0.0.1:{port}/api/v2/logs")),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let err = exp.export(Batch::from(logs_batch(1, 1))).await.unwrap_err();
    assert!(matches!(err, ExportError::Retryable { .. }), "{err:?}");
    assert!(!err.to_string().contains(KEY));

    let intake = FakeIntake::start().await;
    let mut exp = AgentlessExporter::new(AgentlessSettings {
        timeout: Duration::from_millis(300),
        ..settings(&intake)
    })
    .unwrap();
    // TLS (rustls with ring) against a server that speaks plain HTTP: the
    // handshake fails, which is a connection error.
    let mut tls = AgentlessExporter::new(AgentlessSettings {
        metrics_endpoint: Some(intake.url("/api/v2/series").replace("http://", "https://")),
        ..settings(&intake)
    })
    .unwrap();
    let err = tls
        .export(Batch::from(metrics_batch(vec![gauge("g", 1.0)])))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Retryable { message, .. } if message.contains("cannot reach https://")),
        "{err:?}"
    );
    assert!(intake.requests().is_empty());

    intake.script(Reply::status(202).delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let err = exp.export(Batch::from(logs_batch(1, 1))).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, ExportError::Retryable { message, .. } if message.contains("within")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_retry_of_the_same_batch_sends_only_what_was_not_accepted() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    let batch = Batch::from(logs_batch(2500, 10)); // 3 requests of ≤ 1000
    intake.script(Reply::status(202));
    intake.script(Reply::status(503));
    let err = exp.export(batch.clone()).await.unwrap_err();
    assert!(matches!(err, ExportError::Retryable { .. }));
    assert!(err.to_string().contains("request 2 of 3"), "{err}");
    exp.export(batch.clone()).await.unwrap();
    let reqs = intake.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(sequences(&reqs, true), (0..2500).collect::<Vec<_>>());

    // A different batch after a failure starts from its beginning.
    intake.script(Reply::status(503));
    exp.export(Batch::from(logs_batch(10, 1)))
        .await
        .unwrap_err();
    exp.export(Batch::from(logs_batch(10, 1))).await.unwrap();
    assert_eq!(intake.requests().len(), 6);
}

#[tokio::test]
async fn a_rejected_request_does_not_stop_the_rest_of_the_batch_but_a_403_does() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    intake.script(Reply::status(400).body("bad"));
    let err = exp
        .export(Batch::from(logs_batch(2500, 1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Permanent(m) if m.starts_with("1 of 3 requests rejected")),
        "{err:?}"
    );
    assert_eq!(intake.requests().len(), 3);

    intake.script(Reply::status(403));
    let err = exp
        .export(Batch::from(logs_batch(2500, 1)))
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Permanent(_)));
    assert_eq!(intake.requests().len(), 4);
}

#[tokio::test]
async fn traces_are_refused_and_only_logs_and_metrics_are_taken() {
    let intake = FakeIntake::start().await;
    let mut exp = exporter(&intake);
    assert_eq!(exp.signals(), &[Signal::Logs, Signal::Metrics]);
    let err = exp
        .export(Batch::from(Records::empty(Signal::Traces)))
        .await
        .unwrap_err();
    assert!(matches!(&err, ExportError::Permanent(m) if m.contains("Agent mode")));
    exp.shutdown().await.unwrap();
    assert!(intake.requests().is_empty());
}

// ---- settings ----

#[test]
fn debug_output_hides_the_api_key() {
    let s = AgentlessSettings {
        api_key: KEY.into(),
        site: "datadoghq.eu".into(),
        metrics_endpoint: None,
        logs_endpoint: None,
        timeout: Duration::from_secs(10),
    };
    let d = format!("{s:?} {s:#?}");
    assert!(!d.contains(KEY), "{d}");
    assert!(d.contains("api_key: [REDACTED]"), "{d}");
    assert!(d.contains("datadoghq.eu"));
    let e = AgentlessExporter::new(s.clone()).unwrap();
    assert!(!format!("{e:?}").contains(KEY));
    assert_eq!(s.metrics_url(), "https://api.datadoghq.eu/api/v2/series");
    assert_eq!(
        s.logs_url(),
        "https://http-intake.logs.datadoghq.eu/api/v2/logs"
    );
}

#[test]
fn bad_settings_are_refused_without_quoting_the_key() {
    let ok = AgentlessSettings {
        api_key: KEY.into(),
        site: "us5.datadoghq.com".into(),
        metrics_endpoint: None,
        logs_endpoint: None,
        timeout: Duration::from_secs(10),
    };
    assert!(AgentlessExporter::new(ok.clone()).is_ok());
    let cases = [
        AgentlessSettings {
            api_key: " ".into(),
            ..ok.clone()
        },
        AgentlessSettings {
            site: "https://datadoghq.com".into(),
            ..ok.clone()
        },
        AgentlessSettings {
            site: "".into(),
            ..ok.clone()
        },
        AgentlessSettings {
            metrics_endpoint: Some("ftp://x/y".into()),
            ..ok.clone()
        },
        AgentlessSettings {
            logs_endpoint: Some("not a url".into()),
            ..ok.clone()
        },
        AgentlessSettings {
            timeout: Duration::ZERO,
            ..ok.clone()
        },
        AgentlessSettings {
            api_key: format!("{KEY}\n").into(),
            ..ok.clone()
        },
    ];
    for c in cases {
        let err = AgentlessExporter::new(c.clone()).unwrap_err().to_string();
        assert!(!err.contains(KEY), "{err}");
    }
    // With both endpoints overridden the site is not used.
    let both = AgentlessSettings {
        site: String::new(),
        metrics_endpoint: Some("http://127.0.0.1:1/s".into()),
        logs_endpoint: Some("http://127.0.0.1:1/l".into()),
        ..ok
    };
    assert!(AgentlessExporter::new(both).is_ok());
}

// ---- tags ----

#[test]
fn tags_follow_datadogs_normalisation_rules() {
    let long = "a".repeat(300);
    let table: &[(&str, Option<&str>)] = &[
        ("env:Test", Some("env:test")),
        ("user.id:ABC123", Some("user.id:abc123")),
        ("team:Platform Eng", Some("team:platform_eng")),
        ("a  b,c", Some("a_b_c")),
        ("a__b", Some("a_b")),
        ("tag:value_", Some("tag:value")),
        ("tag:value!!", Some("tag:value")),
        ("1abc:x", Some("abc:x")),
        ("_:a", Some("a")),
        ("__x__", Some("x")),
        ("path:/usr/local-bin", Some("path:/usr/local-bin")),
        (
            "model:claude-opus-4-1[1m]",
            Some("model:claude-opus-4-1_1m"),
        ),
        ("München:x", Some("m_nchen:x")),
        ("123", None),
        ("", None),
        ("!!!", None),
    ];
    for (raw, want) in table {
        assert_eq!(normalize_tag(raw).as_deref(), *want, "{raw:?}");
    }
    assert_eq!(normalize_tag(&long).unwrap().len(), 200);
    assert_eq!(tag("decision", "").as_deref(), Some("decision"));
    assert_eq!(tag("cost", "0.5").as_deref(), Some("cost:0.5"));
}

// ---- series mapping ----

fn metrics_batch(metrics: Vec<Metric>) -> Records {
    enrich(Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }))
}

fn point(v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("Model", s("Claude Opus"))],
        start_time_unix_nano: 1_700_000_000_000_000_000,
        time_unix_nano: 1_700_000_030_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn gauge(name: &str, v: f64) -> Metric {
    Metric {
        name: name.into(),
        unit: "ms".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point(v)],
        })),
        ..Default::default()
    }
}

fn sum(name: &str, temporality: AggregationTemporality, monotonic: bool) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![point(2.0)],
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

#[test]
fn metric_kinds_map_to_counts_and_gauges() {
    let hist = Metric {
        name: "lat".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: 1_700_000_000_000_000_000,
                time_unix_nano: 1_700_000_010_000_000_000,
                count: 4,
                sum: Some(2.5),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    };
    let mut int_point = sum("ints", AggregationTemporality::Delta, true);
    if let Some(Data::Sum(s)) = &mut int_point.data {
        s.data_points[0].value = Some(number_data_point::Value::AsInt(42));
        s.data_points[0].start_time_unix_nano = 0;
    }
    let batch = metrics_batch(vec![
        gauge("g", 1.5),
        gauge("nan", f64::NAN),
        sum("delta", AggregationTemporality::Delta, true),
        sum("cumulative", AggregationTemporality::Cumulative, true),
        sum("updown", AggregationTemporality::Delta, false),
        hist,
        int_point,
        sum("bad name!", AggregationTemporality::Delta, true),
    ]);
    let Records::Metrics(req) = &batch else {
        unreachable!()
    };
    let (entries, skipped) = series::encode(req, 1_800_000_000);
    assert_eq!(skipped, 1);
    let got: Vec<Json> = entries
        .iter()
        .map(|e| serde_json::from_slice(e).unwrap())
        .collect();
    let view: Vec<(String, u64, Option<u64>, f64)> = got
        .iter()
        .map(|e| {
            (
                e["metric"].as_str().unwrap().to_owned(),
                e["type"].as_u64().unwrap(),
                e["interval"].as_u64(),
                e["points"][0]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("g", 3, None, 1.5),
        ("delta", 1, Some(30), 2.0),
        ("cumulative", 3, None, 2.0),
        ("updown", 3, None, 2.0),
        ("lat.count", 1, Some(10), 4.0),
        ("lat.sum", 1, Some(10), 2.5),
        ("ints", 1, None, 42.0),
        ("bad_name_", 1, Some(30), 2.0),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(n, t, i, v)| (n.to_string(), *t, *i, *v))
        .collect();
    assert_eq!(view, want);
    assert_eq!(got[0]["unit"], "millisecond");
    assert_eq!(got[0]["points"][0]["timestamp"], 1_700_000_030);
    assert_eq!(got[4]["unit"], Json::Null, "counts have no unit");
    assert_eq!(got[5]["unit"], "second");
    assert_eq!(
        str_tags(&got[0]["tags"]),
        [
            "model:claude_opus",
            "service:claude-code",
            "env:test",
            "team:platform"
        ]
    );
}

// ---- golden payloads (also checked against Datadog's published models by
// testdata/datadog-agentless/check_payloads.py) ----

/// Compares `actual` with `testdata/datadog-agentless/<name>`; with
/// `UPDATE_GOLDEN=1` writes it instead.
fn check_golden(name: &str, actual: &str) {
    crate::testutil::check_golden_in("datadog-agentless", name, actual);
}

/// The same JSON with object keys sorted at every level, so the golden files
/// do not depend on whether serde_json keeps insertion order (a feature
/// another crate of the build may turn on).
fn sorted(v: Json) -> Json {
    match v {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[test]
fn payloads_of_the_first_captured_session_match_the_golden_files() {
    let [(_, logs_batch), (_, metrics_batch), _] = crate::testutil::golden_batches();
    let Records::Metrics(req) = enrich(metrics_batch) else {
        unreachable!()
    };
    let (entries, _) = series::encode(&req, 0);
    let body = split::body(&entries, split::Framing::Series);
    let pretty = sorted(serde_json::from_slice(&body).unwrap());
    check_golden(
        "series.json",
        &(serde_json::to_string_pretty(&pretty).unwrap() + "\n"),
    );

    let Records::Logs(req) = enrich(logs_batch) else {
        unreachable!()
    };
    let (entries, _) = logs::encode(&req);
    let body = split::body(&entries, split::Framing::Array);
    let pretty = sorted(serde_json::from_slice(&body).unwrap());
    check_golden(
        "logs.json",
        &(serde_json::to_string_pretty(&pretty).unwrap() + "\n"),
    );
}
