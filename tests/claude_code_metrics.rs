//! The claude_code_metrics connector end to end: Claude Code's events enter a
//! logs pipeline, the connector turns them into metrics for a metrics
//! pipeline, and the file holds totals equal to what the events say. With an
//! hour-long interval, only the shutdown flush can have written them, so this
//! also proves the connector flushes before the metrics pipeline closes.

mod common;

use ccpipe_pipeline::config;
use ccpipe_pipeline::records::{Records, Signal};
use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;

fn attr<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
    r.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn events<'a>(batches: &'a [Records], name: &'a str) -> impl Iterator<Item = &'a LogRecord> + 'a {
    batches.iter().flat_map(move |b| match b {
        Records::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| &sl.log_records)
            .filter(move |lr| matches!(attr(lr, "event.name"), Some(Value::StringValue(s)) if s == name))
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    })
}

/// Sum of a sum metric's points, and (count, sum) of a histogram's points.
fn totals(batches: &[Records], name: &str) -> (f64, u64, f64) {
    let (mut sum, mut count, mut hist_sum) = (0.0, 0u64, 0.0);
    for b in batches {
        let Records::Metrics(r) = b else { continue };
        for m in r
            .resource_metrics
            .iter()
            .flat_map(|x| &x.scope_metrics)
            .flat_map(|x| &x.metrics)
        {
            if m.name != name {
                continue;
            }
            match &m.data {
                Some(Data::Sum(s)) => {
                    for p in &s.data_points {
                        sum += match p.value {
                            Some(Number::AsDouble(d)) => d,
                            Some(Number::AsInt(i)) => i as f64,
                            None => 0.0,
                        };
                    }
                }
                Some(Data::Histogram(h)) => {
                    for p in &h.data_points {
                        count += p.count;
                        hist_sum += p.sum.unwrap_or(0.0);
                    }
                }
                _ => {}
            }
        }
    }
    (sum, count, hist_sum)
}

fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::IntValue(i)) => *i as f64,
        Some(Value::DoubleValue(d)) => *d,
        Some(Value::StringValue(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_metrics_equal_what_the_events_say() {
    let dir = temp_dir("claude-code-metrics");
    let out = dir.join("derived.jsonl");
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
connectors:
  claude_code_metrics: {{ interval: 1h }}
exporters:
  file: {{ path: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "" }} }}
  health: {{ address: "" }}
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [claude_code_metrics] }}
    metrics: {{ receivers: [claude_code_metrics], exporters: [file] }}
"#,
        out.display()
    );
    let cfg = config::load_str("connector.yaml", &yaml).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");
    let mut logs = Vec::new();
    for variant in [
        "http-protobuf",
        "http-protobuf-gzip",
        "http-protobuf-redacted",
    ] {
        logs.extend(
            load_variant(variant)
                .into_iter()
                .filter(|c| c.signal == Signal::Logs),
        );
    }
    send_captures(&service, &logs).await;
    service.stop().await.expect("clean shutdown");

    let sent: Vec<Records> = logs.iter().map(|c| c.expected.clone()).collect();
    let written = read_jsonl(&out);
    assert!(written.iter().all(|b| b.signal() == Signal::Metrics));

    let api: Vec<_> = events(&sent, "api_request").collect();
    let tools: Vec<_> = events(&sent, "tool_result").collect();
    assert!(
        !api.is_empty() && !tools.is_empty(),
        "the captures hold the events"
    );

    let (requests, _, _) = totals(&written, "claude_code.api.requests");
    assert_eq!(requests, api.len() as f64);
    let (_, n, duration) = totals(&written, "claude_code.api.duration");
    assert_eq!(n, api.len() as u64);
    let want: f64 = api.iter().map(|r| number(attr(r, "duration_ms"))).sum();
    assert!((duration - want).abs() < 1e-6, "{duration} vs {want}");

    let (calls, _, _) = totals(&written, "claude_code.tool.calls");
    assert_eq!(calls, tools.len() as f64);
    let (_, n, tool_ms) = totals(&written, "claude_code.tool.duration");
    assert_eq!(n, tools.len() as u64);
    let want: f64 = tools.iter().map(|r| number(attr(r, "duration_ms"))).sum();
    assert!((tool_ms - want).abs() < 1e-6, "{tool_ms} vs {want}");
    let _ = std::fs::remove_dir_all(dir);
}
