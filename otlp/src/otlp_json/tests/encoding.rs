//! Exact encodings: the Collector's OTLP/JSON and the plain form.

use super::*;

#[test]
fn encodes_like_the_collector() {
    let record = LogRecord {
        time_unix_nano: 1_795_303_688_429_000_000,
        severity_number: 9,
        body: Some(any(Value::StringValue("line\n\"q\"\u{1}\\".into()))),
        attributes: vec![
            kv("i", Value::IntValue(-7)),
            kv("zero", Value::IntValue(0)),
            kv("d", Value::DoubleValue(0.5)),
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv("inf", Value::DoubleValue(f64::INFINITY)),
            kv("b", Value::BytesValue(vec![0xfb, 0xff])),
            kv("e", Value::StringValue(String::new())),
            KeyValue {
                key: "none".into(),
                value: None,
                key_strindex: 0,
            },
        ],
        flags: 1,
        trace_id: (0..16).collect(),
        span_id: vec![0xab; 8],
        ..Default::default()
    };
    let batch = Records::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "s".into(),
                    ..Default::default()
                }),
                log_records: vec![record, LogRecord::default()],
                schema_url: String::new(),
            }],
            schema_url: "https://x".into(),
        }],
    });
    let json = String::from_utf8(encoded(&batch)).unwrap();
    let want = concat!(
        r#"{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"#,
        r#""timeUnixNano":"1795303688429000000","severityNumber":9,"#,
        r#""body":{"stringValue":"line\n\"q\"\u0001\\"},"attributes":["#,
        r#"{"key":"i","value":{"intValue":"-7"}},{"key":"zero","value":{"intValue":"0"}},"#,
        r#"{"key":"d","value":{"doubleValue":0.5}},{"key":"nan","value":{"doubleValue":"NaN"}},"#,
        r#"{"key":"inf","value":{"doubleValue":"Infinity"}},{"key":"b","value":{"bytesValue":"+/8="}},"#,
        r#"{"key":"e","value":{"stringValue":""}},{"key":"none"}],"#,
        r#""flags":1,"traceId":"000102030405060708090a0b0c0d0e0f","spanId":"abababababababab"},{}]}],"#,
        r#""schemaUrl":"https://x"}]}"#
    );
    assert_eq!(json, want);
    assert_eq!(encoded(&Records::empty(Signal::Traces)), b"{}");
    // Valid JSON, and it decodes back to the same batch (NaN aside).
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
    assert_eq!(
        encoded(&decode(Signal::Logs, json.as_bytes()).unwrap()),
        json.as_bytes()
    );
}

#[test]
fn encodes_metric_shapes() {
    let json = metric_json(concat!(
        r#"{"name":"h","histogram":{"dataPoints":[{"count":"3","sum":0.0,"bucketCounts":["1","2"],"#,
        r#""explicitBounds":[1.5],"exemplars":[{"asInt":"0","spanId":"0001020304050607"}],"min":0.0}],"#,
        r#""aggregationTemporality":2}},"#,
        r#"{"name":"e","exponentialHistogram":{"dataPoints":[{"scale":-2,"zeroCount":"1","#,
        r#""positive":{"offset":-1,"bucketCounts":["4"]},"negative":{},"zeroThreshold":1e-9}]}},"#,
        r#"{"name":"s","summary":{"dataPoints":[{"sum":2.5,"quantileValues":[{"quantile":0.5,"value":1.0},{}]}]}},"#,
        r#"{"name":"g","gauge":{"dataPoints":[{"asInt":"-1"},{"asDouble":0.0}]},"metadata":[{"key":"k","value":{}}]},"#,
        r#"{"name":"n","gauge":{}}"#
    ));
    let batch = decode(Signal::Metrics, json.as_bytes()).unwrap();
    assert_eq!(batch.item_count(), 5);
    let out = String::from_utf8(encoded(&batch)).unwrap();
    // Written as read: optional doubles and oneof members present even at zero.
    assert_eq!(out, json);
    assert_eq!(decode(Signal::Metrics, out.as_bytes()).unwrap(), batch);
}

#[test]
fn writes_plain_values() {
    let value = any(Value::KvlistValue(KeyValueList {
        values: vec![
            kv("s", Value::StringValue("x\ty".into())),
            kv("i", Value::IntValue(12)),
            kv("b", Value::BoolValue(true)),
            kv("d", Value::DoubleValue(1.25)),
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv(
                "a",
                Value::ArrayValue(ArrayValue {
                    values: vec![any(Value::IntValue(-1)), AnyValue { value: None }],
                }),
            ),
            kv("bytes", Value::BytesValue(b"hi".to_vec())),
        ],
    }));
    let mut out = Vec::new();
    write_plain_value(&value, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"s":"x\ty","i":12,"b":true,"d":1.25,"nan":"NaN","a":[-1,null],"bytes":"aGk="}"#
    );

    let mut out = Vec::new();
    write_any_value(&value, &mut out);
    assert!(
        out.starts_with(br#"{"kvlistValue":{"values":[{"key":"s","value":{"stringValue":"x\ty"}}"#)
    );

    let mut out = Vec::new();
    write_plain_attributes(&[], &mut out);
    assert_eq!(out, b"{}");

    let mut out = Vec::new();
    write_json_string("\u{0}\u{1f}\u{7f}é\u{2028}\r\"\\/", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"\\u0000\\u001f\u{7f}é\u{2028}\\r\\\"\\\\/\""
    );
}
