//! The shipped redaction config, end to end: replay every capture (prompts,
//! responses, tool input and commands logged in full) through ccpipe with
//! configs/redaction.yaml and check that no private text reaches the file,
//! while what is not private (models, tokens, costs) arrives unchanged.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use ccpipe_pipeline::config;
use ccpipe_pipeline::records::{Records, Signal};
use common::*;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// Keys whose values TELEMETRY.md lists as private text.
const PRIVATE_KEYS: &[&str] = &[
    "prompt",
    "prompt_text",
    "response",
    "tool_input",
    "tool_parameters",
    "full_command",
    "user_prompt",
    "file_path",
    "error",
    "user.email",
    "content",
    "diff",
    "bash_command",
    "output",
];

fn collect_private(attrs: &[KeyValue], out: &mut BTreeSet<String>) {
    for kv in attrs {
        if let Some(AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        }) = &kv.value
        {
            // Short values ("git", "", "<REDACTED>") are not distinctive text.
            if PRIVATE_KEYS.contains(&kv.key.as_str()) && s.len() >= 12 && s != "<REDACTED>" {
                out.insert(s.clone());
            }
        }
    }
}

/// Every private string value in a batch, from records, spans and span events.
fn private_strings(b: &Records, out: &mut BTreeSet<String>) {
    match b {
        Records::Logs(r) => {
            for lr in r
                .resource_logs
                .iter()
                .flat_map(|x| &x.scope_logs)
                .flat_map(|x| &x.log_records)
            {
                collect_private(&lr.attributes, out);
            }
        }
        Records::Traces(r) => {
            for s in r
                .resource_spans
                .iter()
                .flat_map(|x| &x.scope_spans)
                .flat_map(|x| &x.spans)
            {
                collect_private(&s.attributes, out);
                for e in &s.events {
                    collect_private(&e.attributes, out);
                }
            }
        }
        Records::Metrics(_) => {}
    }
}

/// Sums of the api_request token and cost attributes, to check they survive.
fn api_request_totals(batches: &[Records]) -> (i64, f64, usize) {
    let (mut tokens, mut cost, mut n) = (0i64, 0f64, 0usize);
    for b in batches {
        let Records::Logs(r) = b else { continue };
        for lr in r
            .resource_logs
            .iter()
            .flat_map(|x| &x.scope_logs)
            .flat_map(|x| &x.log_records)
        {
            let get = |k: &str| {
                lr.attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| v.value.clone())
            };
            if !matches!(get("event.name"), Some(any_value::Value::StringValue(ref s)) if s == "api_request")
            {
                continue;
            }
            n += 1;
            if let Some(any_value::Value::IntValue(t)) = get("output_tokens") {
                tokens += t;
            }
            if let Some(any_value::Value::DoubleValue(c)) = get("cost_usd") {
                cost += c;
            }
        }
    }
    (tokens, cost, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_redaction_config_keeps_private_text_out() {
    let dir = temp_dir("redaction-e2e");
    let out = dir.join("redacted.jsonl");
    // The shipped file, with an overlay for test ports and the output path:
    // exactly how a user layers a local override over a shared config.
    let overlay = dir.join("overlay.yaml");
    std::fs::write(
        &overlay,
        format!(
            "receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:0\" }}, http: {{ endpoint: \"127.0.0.1:0\" }} }} }} }}\nexporters: {{ file: {{ path: \"{}\" }} }}\n",
            out.display()
        ),
    )
    .unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/redaction.yaml");
    let cfg = config::load(&[shipped, overlay]).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");

    let mut sent = Vec::new();
    for variant in [
        "http-protobuf",
        "http-protobuf-gzip",
        "http-json",
        "http-protobuf-no-traces",
    ] {
        sent.extend(load_variant(variant));
    }
    send_captures(&service, &sent).await;
    service.stop().await.expect("clean shutdown");

    let mut private = BTreeSet::new();
    for c in &sent {
        private_strings(&c.expected, &mut private);
    }
    assert!(
        private.len() > 20,
        "the captures carry prompt/tool text to test with ({})",
        private.len()
    );
    let written = std::fs::read_to_string(&out).unwrap();
    for text in &private {
        // Compare on the JSON-escaped form, as it would appear in the file.
        let escaped = serde_json::to_string(text).unwrap();
        let needle = &escaped[1..escaped.len() - 1];
        assert!(
            !written.contains(needle),
            "private text reached the file: {:.120}",
            text
        );
    }

    // Non-private values are intact: api_request tokens and costs (the noise
    // filter drops only plugin_loaded and managed_settings_resolved).
    let expected: Vec<Records> = sent.iter().map(|c| c.expected.clone()).collect();
    let got = read_jsonl(&out);
    let (want_tokens, want_cost, want_n) = api_request_totals(&expected);
    let (got_tokens, got_cost, got_n) = api_request_totals(&got);
    assert!(want_n > 0);
    assert_eq!((got_tokens, got_n), (want_tokens, want_n));
    assert!(
        (got_cost - want_cost).abs() < 1e-12,
        "{got_cost} vs {want_cost}"
    );
    // Metrics pass redaction untouched in value: the cost sum is the same.
    let metric_cost = |bs: &[Records]| -> f64 {
        bs.iter()
            .filter_map(|b| match b {
                Records::Metrics(r) => Some(r),
                _ => None,
            })
            .flat_map(|r| {
                r.resource_metrics
                    .iter()
                    .flat_map(|x| &x.scope_metrics)
                    .flat_map(|x| &x.metrics)
            })
            .filter(|m| m.name == "claude_code.cost.usage")
            .flat_map(|m| match &m.data {
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => {
                    s.data_points.clone()
                }
                _ => Vec::new(),
            })
            .map(|p| match p.value {
                Some(
                    opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d),
                ) => d,
                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    i,
                )) => i as f64,
                None => 0.0,
            })
            .sum()
    };
    assert!((metric_cost(&got) - metric_cost(&expected)).abs() < 1e-9);
    assert!(got.iter().any(|b| b.signal() == Signal::Traces));
    let _ = std::fs::remove_dir_all(dir);
}
