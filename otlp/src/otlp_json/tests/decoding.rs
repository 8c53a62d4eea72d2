//! Decoding small hand-written inputs: what is accepted and what is rejected.

use serde::de::DeserializeSeed;

use super::*;
use crate::otlp_json::decode::{msg_at, MAX_ANY_VALUE_DEPTH};

#[test]
fn tolerant_forms_decode_like_the_canonical_ones() {
    let cases: &[(Signal, String, String)] = &[
        // 64-bit integers as numbers or strings, 32-bit ones as strings, 1e3 and 5.0.
        (
            Signal::Logs,
            log_json(r#"{"timeUnixNano":1795303688429000000,"droppedAttributesCount":"3","flags":1.0}"#),
            log_json(r#"{"timeUnixNano":"1795303688429000000","droppedAttributesCount":3,"flags":1}"#),
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"intValue":"-42"},"observedTimeUnixNano":1e3}"#),
            log_json(r#"{"body":{"intValue":-42},"observedTimeUnixNano":"1000"}"#),
        ),
        // Enum names.
        (
            Signal::Logs,
            log_json(r#"{"severityNumber":"SEVERITY_NUMBER_INFO","flags":"LOG_RECORD_FLAGS_TRACE_FLAGS_MASK"}"#),
            log_json(r#"{"severityNumber":9,"flags":255}"#),
        ),
        (
            Signal::Traces,
            span_json(r#"{"kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}}"#),
            span_json(r#"{"kind":2,"status":{"code":2}}"#),
        ),
        (
            Signal::Metrics,
            metric_json(r#"{"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"flags":"DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK"}]}}"#),
            metric_json(r#"{"sum":{"aggregationTemporality":1,"dataPoints":[{"flags":1}]}}"#),
        ),
        // snake_case keys.
        (
            Signal::Logs,
            r#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"5","severity_text":"INFO","trace_id":"000102030405060708090a0b0c0d0e0f","span_id":"0001020304050607","event_name":"e"}],"schema_url":"s"}]}]}"#.into(),
            log_json(r#"{"timeUnixNano":"5","severityText":"INFO","traceId":"000102030405060708090A0B0C0D0E0F","spanId":"0001020304050607","eventName":"e"}"#)
                .replace(r#"}]}]}]}"#, r#"}],"schemaUrl":"s"}]}]}"#),
        ),
        // Unknown fields are skipped, whatever their values.
        (
            Signal::Logs,
            log_json(r#"{"future":{"a":[1,{"b":null}],"c":"\u0041"},"timeUnixNano":"7","alsoNew":[[[]]]}"#),
            log_json(r#"{"timeUnixNano":"7"}"#),
        ),
        // null is the default; an empty id is no id.
        (
            Signal::Logs,
            log_json(r#"{"timeUnixNano":null,"severityText":null,"attributes":null,"traceId":"","spanId":null,"body":null}"#),
            log_json("{}"),
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"stringValue":null,"intValue":5}}"#),
            log_json(r#"{"body":{"intValue":5}}"#),
        ),
        // Doubles as strings.
        (
            Signal::Logs,
            log_json(r#"{"body":{"doubleValue":"2.5"}}"#),
            log_json(r#"{"body":{"doubleValue":2.5}}"#),
        ),
        // Unknown fields are skipped without recursing, however deep.
        (
            Signal::Logs,
            log_json(&format!(r#"{{"x":{}0{},"flags":2}}"#, "[{\"a\":".repeat(50_000), "}]".repeat(50_000))),
            log_json(r#"{"flags":2}"#),
        ),
        // Escaped keys still match.
        (
            Signal::Logs,
            log_json(r#"{"time\u0055nixNano":"9"}"#),
            log_json(r#"{"timeUnixNano":"9"}"#),
        ),
        // Url-safe and unpadded base64.
        (
            Signal::Logs,
            log_json(r#"{"body":{"bytesValue":"-_8"}}"#),
            log_json(r#"{"body":{"bytesValue":"+/8="}}"#),
        ),
    ];
    for (signal, tolerant, canonical) in cases {
        let a = decode(*signal, tolerant.as_bytes()).unwrap_or_else(|e| panic!("{tolerant}: {e}"));
        let b =
            decode(*signal, canonical.as_bytes()).unwrap_or_else(|e| panic!("{canonical}: {e}"));
        assert_eq!(a, b, "{tolerant}");
    }
}

#[test]
fn canonical_forms_decode_to_typed_values() {
    let r = one_log(
        r#"{"timeUnixNano":"18446744073709551615","severityNumber":21,"flags":4294967295,
            "traceId":"000102030405060708090a0b0c0d0e0f","spanId":"ffffffffffffffff",
            "body":{"kvlistValue":{"values":[
                {"key":"a","value":{"arrayValue":{"values":[{"boolValue":false},{"bytesValue":"AAEC"},{}]}}},
                {"key":"n","value":{"doubleValue":"-Infinity"}},
                {"key":"m","value":{"doubleValue":"NaN"}}]}}}"#,
    );
    assert_eq!(r.time_unix_nano, u64::MAX);
    assert_eq!(r.severity_number, 21);
    assert_eq!(r.flags, u32::MAX);
    assert_eq!(r.trace_id, (0..16).collect::<Vec<u8>>());
    assert_eq!(r.span_id, [0xff; 8]);
    let Some(Value::KvlistValue(kvs)) = r.body.and_then(|b| b.value) else {
        panic!("body is not a kvlist");
    };
    assert_eq!(
        kvs.values[0],
        kv(
            "a",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    any(Value::BoolValue(false)),
                    any(Value::BytesValue(vec![0, 1, 2])),
                    AnyValue { value: None },
                ]
            })
        )
    );
    assert_eq!(
        kvs.values[1],
        kv("n", Value::DoubleValue(f64::NEG_INFINITY))
    );
    assert!(matches!(attr(&kvs.values, "m"), Value::DoubleValue(d) if d.is_nan()));

    let r = one_log(r#"{"body":{"intValue":-9223372036854775808},"severityNumber":"99"}"#);
    assert_eq!(r.body, Some(any(Value::IntValue(i64::MIN))));
    assert_eq!(r.severity_number, 99, "proto3 enums are open");

    let body = r#"{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":null}]}]}"#;
    let r = logs(decode(Signal::Logs, body.as_bytes()).unwrap());
    assert_eq!(r.resource_logs[0].resource, Some(Resource::default()));
    assert_eq!(r.resource_logs[0].scope_logs[0].scope, None);
    assert_eq!(
        logs(decode(Signal::Logs, b" {} ").unwrap()),
        Default::default()
    );
}

#[test]
fn bad_input_is_rejected_with_a_reason() {
    let deep = format!(
        r#"{{"body":{}{}}}"#,
        r#"{"arrayValue":{"values":["#.repeat(50),
        "]}}".repeat(50)
    );
    let cases: Vec<(Signal, String, &str)> = vec![
        (
            Signal::Traces,
            span_json(r#"{"traceId":"zz0102030405060708090a0b0c0d0e0f"}"#),
            "invalid hex in traceId",
        ),
        (
            Signal::Traces,
            span_json(r#"{"traceId":"0102"}"#),
            "traceId must be 32 hex digits, got 4",
        ),
        (
            Signal::Traces,
            span_json(r#"{"parentSpanId":"000102030405060708"}"#),
            "parentSpanId must be 16 hex digits, got 18",
        ),
        (
            Signal::Logs,
            log_json(r#"{"spanId":"AAECAwQFBgc="}"#),
            "spanId must be 16 hex digits, got 12",
        ),
        (
            Signal::Traces,
            span_json(r#"{"kind":"SPAN_KIND_BOGUS"}"#),
            r#"unknown kind "SPAN_KIND_BOGUS""#,
        ),
        (
            Signal::Traces,
            span_json(r#"{"kind":1.5}"#),
            "invalid value: floating point `1.5`, expected kind as a number or a name",
        ),
        (
            Signal::Logs,
            log_json(r#"{"droppedAttributesCount":-1}"#),
            "droppedAttributesCount out of range: -1",
        ),
        (
            Signal::Logs,
            log_json(r#"{"timeUnixNano":"12abc"}"#),
            r#"invalid value: string "12abc", expected timeUnixNano as an integer"#,
        ),
        (
            Signal::Logs,
            log_json(r#"{"timeUnixNano":true}"#),
            "invalid type: boolean `true`, expected timeUnixNano as an integer",
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"intValue":9223372036854775808}}"#),
            "intValue out of range: 9223372036854775808",
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"stringValue":"a","intValue":1}}"#),
            "AnyValue has more than one value",
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"bytesValue":"!!"}}"#),
            "invalid base64 in bytesValue",
        ),
        // Duplicate keys are refused, as the Collector does, not "last wins".
        (
            Signal::Logs,
            log_json(r#"{"severityText":"INFO","severityText":"ERROR"}"#),
            r#"duplicate key "severityText" in LogRecord"#,
        ),
        (
            Signal::Logs,
            r#"{"resourceLogs":[],"resourceLogs":[]}"#.into(),
            r#"duplicate key "resourceLogs" in ExportLogsServiceRequest"#,
        ),
        (
            Signal::Logs,
            log_json(r#"{"body":{"doubleValue":"fast"}}"#),
            r#"invalid value: string "fast", expected doubleValue as a number"#,
        ),
        (
            Signal::Metrics,
            metric_json(r#"{"gauge":{},"sum":{}}"#),
            "Metric has more than one value",
        ),
        (
            Signal::Logs,
            r#"{"resourceLogs":{}}"#.into(),
            "invalid type: map, expected resourceLogs as an array",
        ),
        (
            Signal::Logs,
            r#"{"resourceLogs":[7]}"#.into(),
            "invalid type: integer `7`, expected ResourceLogs as an object",
        ),
        (
            Signal::Logs,
            r#"[]"#.into(),
            "invalid type: sequence, expected ExportLogsServiceRequest as an object",
        ),
        (Signal::Logs, "{} x".into(), "trailing characters"),
        (Signal::Logs, "{}{}".into(), "trailing characters"),
        (
            Signal::Logs,
            r#"{"resourceLogs":[{"#.into(),
            "EOF while parsing an object",
        ),
        (
            Signal::Logs,
            r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1"#.into(),
            "EOF while parsing a string",
        ),
        (Signal::Logs, "".into(), "EOF while parsing a value"),
        (Signal::Logs, log_json(&deep), "recursion limit exceeded"),
        (
            Signal::Logs,
            "{\"resourceLogs\":[],}".into(),
            "trailing comma",
        ),
    ];
    for (signal, input, reason) in &cases {
        let err = decode(*signal, input.as_bytes()).expect_err(input);
        assert!(
            err.reason().contains(reason),
            "{input}\n  got:  {err}\n  want: {reason}"
        );
        assert_eq!(err.line(), 1, "{input}");
    }
}

#[test]
fn errors_say_where() {
    let input = span_json(r#"{"name":"x","traceId":"0g"}"#);
    let err = decode(Signal::Traces, input.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1 column 69: traceId must be 32 hex digits, got 2"
    );
    let err = decode(
        Signal::Logs,
        b"{\n  \"resourceLogs\": [\n    {\"resource\": 5}]}",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 3 column 18: invalid type: integer `5`, expected Resource as an object"
    );
    // Invalid UTF-8 inside a string.
    let err = decode(
        Signal::Logs,
        b"{\"resourceLogs\":[{\"schemaUrl\":\"\xff\"}]}",
    )
    .unwrap_err();
    assert!(err.reason().contains("invalid unicode"), "{err}");
    // Quoted input in a reason stays short.
    let long = log_json(&format!(r#"{{"timeUnixNano":"{}"}}"#, "x".repeat(10_000)));
    let err = decode(Signal::Logs, long.as_bytes()).unwrap_err();
    assert!(err.reason().len() <= 200, "{err}");
}

#[test]
fn any_value_nesting_is_bounded() {
    // serde_json's own limit (128) trips first on whole requests, so start
    // the AnyValue seed just below ours to reach it.
    fn nested(levels: usize) -> String {
        format!(
            "{}{{\"intValue\":1}}{}",
            r#"{"arrayValue":{"values":["#.repeat(levels),
            "]}}".repeat(levels)
        )
    }
    let start = MAX_ANY_VALUE_DEPTH - 3;
    let parse = |json: &str| {
        let mut de = serde_json::Deserializer::from_str(json);
        msg_at::<AnyValue>(start).deserialize(&mut de)
    };
    assert!(parse(&nested(3)).is_ok());
    let err = parse(&nested(4)).unwrap_err().to_string();
    assert!(
        err.contains("AnyValue nested deeper than 64 levels"),
        "{err}"
    );
    let kvlist = format!(
        "{}{{}}{}",
        r#"{"kvlistValue":{"values":[{"key":"k","value":"#.repeat(4),
        "}]}}".repeat(4)
    );
    let err = parse(&kvlist).unwrap_err().to_string();
    assert!(
        err.contains("AnyValue nested deeper than 64 levels"),
        "{err}"
    );
}
