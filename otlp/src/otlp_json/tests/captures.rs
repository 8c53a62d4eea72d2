//! The Claude Code captures under tests/fixtures/claude-code/: every one decodes and round-trips.

use super::*;

#[test]
fn protobuf_captures_round_trip_exactly() {
    let Some(files) = capture_files(".bin") else {
        return;
    };
    for (path, signal) in &files {
        let original = prost_decode(*signal, &std::fs::read(path).unwrap());
        assert!(original.item_count() > 0, "{}", path.display());
        let json = encoded(&original);
        let back = decode(*signal, &json).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\n{}",
                path.display(),
                String::from_utf8_lossy(&json)
            )
        });
        assert!(
            back == original,
            "{} changed in a round trip",
            path.display()
        );
        // The harness's readable .decoded.json (enum names, pretty-printed)
        // is a second, independent writer of the same data.
        let readable = path.with_extension("decoded.json");
        let other = decode(*signal, &std::fs::read(&readable).unwrap()).unwrap();
        assert!(
            other == original,
            "{} differs from the .bin",
            readable.display()
        );
    }
    eprintln!("{} protobuf captures round-tripped", files.len());
}

#[test]
fn json_captures_decode_with_the_counted_items() {
    let Some(files) = capture_files(".json") else {
        return;
    };
    // index.jsonl's summary counts log records, spans and metrics (not data
    // points) and lists their names (a log record's name is its body).
    let mut summaries = HashMap::new();
    let index_dir = files[0].0.parent().unwrap();
    for line in std::fs::read_to_string(index_dir.join("index.jsonl"))
        .unwrap()
        .lines()
    {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = entry["file"].as_str().unwrap().to_owned();
        summaries.insert(file, entry["summary"].clone());
    }
    for (path, signal) in &files {
        let first = decode(*signal, &std::fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let summary = &summaries[stem];
        let names = item_names(&first);
        assert_eq!(
            names.len() as u64,
            summary["items"].as_u64().unwrap(),
            "{stem}"
        );
        assert_eq!(serde_json::json!(names), summary["names"], "{stem}");
        if *signal != Signal::Metrics {
            assert_eq!(first.item_count(), names.len(), "{stem}");
        }
        let again = decode(*signal, &encoded(&first)).unwrap();
        assert!(again == first, "{stem} changed in a round trip");
    }
    assert_eq!(files.len(), summaries.len());
}

#[test]
fn json_capture_values_decode_to_their_types() {
    let Some(_) = capture_files(".json") else {
        return;
    };
    let dir = Path::new(CAPTURES).join("http-json/otlp");

    let body = std::fs::read(dir.join("0002-http-logs.json")).unwrap();
    let r = logs(decode(Signal::Logs, &body).unwrap());
    let records = &r.resource_logs[0].scope_logs[0].log_records;
    let api = &records[6];
    assert_eq!(
        api.body,
        Some(any(Value::StringValue("claude_code.api_request".into())))
    );
    assert_eq!(api.time_unix_nano, 1_795_303_688_429_000_000);
    assert_eq!(api.flags, 1);
    assert_eq!(
        api.trace_id,
        [
            0x79, 0xab, 0x8b, 0x68, 0xd2, 0x43, 0x7e, 0xc4, 0x0b, 0x74, 0x2f, 0x82, 0xeb, 0x33,
            0x06, 0x4f
        ]
    );
    assert_eq!(
        api.span_id,
        [0xbb, 0xd1, 0x4c, 0x2d, 0x8c, 0xe8, 0x32, 0x2f]
    );
    assert_eq!(attr(&api.attributes, "input_tokens"), &Value::IntValue(1));
    assert_eq!(
        attr(&api.attributes, "cache_read_tokens"),
        &Value::IntValue(12000)
    );
    assert_eq!(
        attr(&api.attributes, "cost_usd"),
        &Value::DoubleValue(0.007704000000000001)
    );
    assert_eq!(
        attr(&api.attributes, "anthropic.custom_base_url"),
        &Value::BoolValue(true)
    );
    let resource = r.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(
        attr(&resource.attributes, "service.name"),
        &Value::StringValue("claude-code".into())
    );

    let body = std::fs::read(dir.join("0003-http-traces.json")).unwrap();
    let r = traces(decode(Signal::Traces, &body).unwrap());
    let span = &r.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "claude_code.tool.blocked_on_user");
    assert_eq!(span.kind, 1);
    assert_eq!(span.flags, 257);
    assert_eq!(span.end_time_unix_nano, 1_795_303_688_414_791_887);
    assert_eq!(
        span.parent_span_id,
        [0xd4, 0x89, 0x80, 0xbb, 0x7f, 0x5f, 0x1f, 0x20]
    );
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(0));
    assert_eq!(attr(&span.attributes, "duration_ms"), &Value::IntValue(38));

    let body = std::fs::read(dir.join("0001-http-metrics.json")).unwrap();
    let r = metrics(decode(Signal::Metrics, &body).unwrap());
    let metric = &r.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(metric.name, "claude_code.session.count");
    let Some(Data::Sum(sum)) = &metric.data else {
        panic!("session.count is not a sum");
    };
    assert_eq!(sum.aggregation_temporality, 1);
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.data_points[0].start_time_unix_nano,
        1_795_303_687_826_000_000
    );
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsDouble(1.0))
    );
}
