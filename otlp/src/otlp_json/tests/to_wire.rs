//! JSON → protobuf transcoding ([`to_protobuf`], [`decode_batch`]) agrees
//! with decode → prost encode: on the captures, on every field in both
//! spellings, on the unusual bodies it leaves to the decoder, and (through
//! `fuzz.rs`, which calls [`check_agrees`] on every input it makes) on
//! thousands of random and mutated bodies.

use super::every_field::{all_logs, all_metrics, all_traces, snake_case_keys};
use super::*;
use crate::limits::Limits;
use crate::otlp_json::to_wire::transcode;
use crate::wire::{self, ScanError, RECURSION_LIMIT};

fn proto(batch: &Records) -> Vec<u8> {
    match batch {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

/// If `input` transcodes, the decoder accepts it too and the bytes decode
/// to the same batch; [`decode_batch`] gives the decoder's answer either
/// way. Returns whether it transcoded.
pub(super) fn check_agrees(signal: Signal, input: &[u8]) -> bool {
    let decoded = decode(signal, input);
    let payload = decode_batch(signal, input);
    match (&decoded, payload) {
        (Err(a), Err(b)) => assert_eq!(*a, b),
        (Ok(batch), Ok(p)) => {
            let count = p.item_count();
            // Compared as protobuf: NaN != NaN in the structs.
            assert_eq!(proto(&p.into_records().unwrap()), proto(batch));
            assert_eq!(count, batch.item_count());
        }
        (a, b) => panic!("decode: {a:?}, decode_batch: {b:?}"),
    }
    counts_agree_with_the_scan(signal, input, &LIMITS);
    let Ok(bytes) = to_protobuf(signal, input) else {
        return false;
    };
    let batch = decoded.unwrap_or_else(|e| {
        panic!(
            "transcoded a body the decoder refuses ({e}): {}",
            String::from_utf8_lossy(input)
        )
    });
    // prost may refuse what serde_json allows (nesting past its recursion
    // limit); decode_batch then decodes, checked above.
    if decode_batch(signal, input).is_ok_and(|b| b.encoded().is_some()) {
        assert_eq!(proto(&prost_decode(signal, &bytes)), proto(&batch));
    }
    true
}

/// Limits that refuse small bodies too.
const LIMITS: [Limits; 2] = [
    Limits::NONE,
    Limits {
        max_attribute_depth: 2,
        max_attributes: 3,
    },
];

/// What [`to_encoded`] counts as it writes (items, limits, prost's nesting)
/// is what [`wire::scan_within`] finds in [`to_protobuf`]'s bytes, so the
/// receiver can skip the scan.
pub(super) fn counts_agree_with_the_scan(signal: Signal, input: &[u8], limits: &[Limits]) {
    let plain = to_protobuf(signal, input);
    for limits in limits {
        let ours = transcode(signal, input, limits, RECURSION_LIMIT);
        let Ok(bytes) = &plain else {
            // Unusual, or over the limits before it got there: decoded either way.
            assert!(ours.is_err(), "{limits:?}");
            continue;
        };
        match (ours, wire::scan_within(signal, bytes, limits)) {
            (Ok((ours, items)), Ok(scanned)) => {
                assert_eq!(&ours, bytes);
                assert_eq!(items, scanned, "{limits:?}");
                if *limits == Limits::NONE {
                    let kept = to_encoded(signal, input, limits).unwrap();
                    assert_eq!(kept.item_count(), items);
                }
            }
            (Err(Refused::OverLimits), Err(ScanError::Limit(_))) => {}
            (Err(Refused::Unusual), Err(ScanError::Malformed(_))) => {}
            (ours, scanned) => panic!(
                "{limits:?}: transcode {ours:?}, scan {scanned:?}: {}",
                String::from_utf8_lossy(input)
            ),
        }
    }
}

#[test]
fn counts_and_limits_agree_with_the_scan_on_the_captures() {
    let mut bodies = json_bodies();
    for batch in [all_logs(), all_traces(), all_metrics()] {
        let json = encoded(&batch);
        bodies.push((
            snake_case_keys(std::str::from_utf8(&json).unwrap()).into_bytes(),
            batch.signal(),
        ));
        bodies.push((json, batch.signal()));
    }
    let mut limits = vec![Limits::NONE];
    for (max_attribute_depth, max_attributes) in [
        (16, 256),
        (1, 1),
        (1, 8),
        (2, 12),
        (3, 20),
        (1, 1000),
        (4, 2),
    ] {
        limits.push(Limits {
            max_attribute_depth,
            max_attributes,
        });
    }
    let (mut kept, mut refused) = (0, 0);
    for (body, signal) in &bodies {
        counts_agree_with_the_scan(*signal, body, &limits);
        for limits in &limits {
            match transcode(*signal, body, limits, RECURSION_LIMIT) {
                Ok(_) => kept += 1,
                Err(Refused::OverLimits) => refused += 1,
                Err(Refused::Unusual) => panic!("a capture is unusual"),
            }
        }
    }
    assert!(kept > 30 && refused > 30, "{kept} / {refused}");
}

#[test]
fn deep_and_wide_attributes_agree_with_the_scan() {
    // kvlists and arrays nested 1 to 6 deep, 0 to 5 wide, in every place
    // attributes go.
    let mut rng = crate::testing::XorshiftStar(0x1234_5678_9abc_def1);
    fn value(rng: &mut crate::testing::XorshiftStar, depth: usize, out: &mut String) {
        match (depth, rng.below(3)) {
            (0, _) | (_, 0) => out.push_str(r#"{"stringValue":"s"}"#),
            (_, 1) => {
                out.push_str(r#"{"arrayValue":{"values":["#);
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(rng, depth - 1, out);
                }
                out.push_str("]}}");
            }
            _ => {
                out.push_str(r#"{"kvlistValue":{"values":"#);
                attributes(rng, depth - 1, out);
                out.push_str("}}");
            }
        }
    }
    fn attributes(rng: &mut crate::testing::XorshiftStar, depth: usize, out: &mut String) {
        out.push('[');
        for i in 0..rng.below(6) {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"key":"k","value":"#);
            value(rng, depth, out);
            out.push('}');
        }
        out.push(']');
    }
    let limits: Vec<Limits> = (1..5)
        .flat_map(|d| {
            (1..5).map(move |n| Limits {
                max_attribute_depth: d,
                max_attributes: n,
            })
        })
        .collect();
    for _ in 0..200 {
        let a = |rng: &mut crate::testing::XorshiftStar| {
            let mut s = String::new();
            attributes(rng, 6, &mut s);
            s
        };
        let (r, s, l, b) = (a(&mut rng), a(&mut rng), a(&mut rng), a(&mut rng));
        let mut body = String::new();
        value(&mut rng, 6, &mut body);
        let logs = format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":{r}}},"scopeLogs":[{{"scope":{{"attributes":{s}}},"logRecords":[{{"attributes":{l},"body":{body}}},{{}}]}}]}}]}}"#
        );
        let (e, k) = (a(&mut rng), a(&mut rng));
        let traces = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":{l},"events":[{{"attributes":{e}}}],"links":[{{"attributes":{k}}}]}}]}}]}}]}}"#
        );
        let metrics = format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"metadata":{b},"sum":{{"dataPoints":[{{"attributes":{l},"exemplars":[{{"filteredAttributes":{e}}}]}}]}}}}]}}]}}]}}"#
        );
        for (signal, json) in [
            (Signal::Logs, logs),
            (Signal::Traces, traces),
            (Signal::Metrics, metrics),
        ] {
            counts_agree_with_the_scan(signal, json.as_bytes(), &limits);
            assert!(check_agrees(signal, json.as_bytes()), "{json}");
        }
    }
}

#[test]
fn the_captures_transcode_to_what_they_decode_to() {
    let Some(files) = capture_files(".json") else {
        return;
    };
    for (path, signal) in files {
        let body = std::fs::read(&path).unwrap();
        assert!(
            check_agrees(signal, &body),
            "{} did not transcode",
            path.display()
        );
        let payload = decode_batch(signal, &body).unwrap();
        assert!(payload.encoded().is_some(), "{}", path.display());
    }
    // And our own OTLP/JSON of the protobuf captures.
    for (path, signal) in capture_files(".bin").unwrap() {
        let json = encoded(&prost_decode(signal, &std::fs::read(&path).unwrap()));
        assert!(
            check_agrees(signal, &json),
            "{} did not transcode",
            path.display()
        );
    }
}

#[test]
fn every_field_transcodes_in_both_spellings() {
    for batch in [all_logs(), all_traces(), all_metrics()] {
        let signal = batch.signal();
        let json = String::from_utf8(encoded(&batch)).unwrap();
        let snake = snake_case_keys(&json);
        for body in [&json, &snake] {
            let bytes = to_protobuf(signal, body.as_bytes()).unwrap();
            assert_eq!(prost_decode(signal, &bytes), batch, "{body}");
            assert!(check_agrees(signal, body.as_bytes()));
        }
    }
}

#[test]
fn defaults_nulls_and_empty_oneof_members_keep_their_meaning() {
    for record in [
        r#"{"body":{"stringValue":""}}"#,
        r#"{"body":{"intValue":0}}"#,
        r#"{"body":{"bytesValue":""}}"#,
        r#"{"body":{"arrayValue":{}}}"#,
        r#"{"body":{"stringValue":null,"intValue":3}}"#,
        r#"{"body":{}}"#,
        r#"{"body":null}"#,
        r#"{"attributes":null,"traceId":"","spanId":null,"flags":0}"#,
        r#"{"attributes":[null,{"key":"k"},{"key":"k","value":null}]}"#,
        r#"{"timeUnixNano":"1700000000000000000","severityNumber":-1,"droppedAttributesCount":4294967295}"#,
        r#"{"timeUnixNano":1.0e3,"observedTimeUnixNano":"18446744073709551615"}"#,
        r#"{"body":{"doubleValue":"NaN"}}"#,
        r#"{"body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[null,{"boolValue":false}]}}}]}}}"#,
        r#"{"unknown":{"deep":[1,2,{"x":null}]},"eventName":"e\u00e9\n"}"#,
    ] {
        let json = log_json(record);
        assert!(check_agrees(Signal::Logs, json.as_bytes()), "{json}");
    }
    let span = span_json(
        r#"{"status":{"code":2,"message":"m"},"kind":3,"parentSpanId":"0011223344556677"}"#,
    );
    assert!(check_agrees(Signal::Traces, span.as_bytes()), "{span}");
    let metric = metric_json(
        r#"{"name":"h","histogram":{"dataPoints":[{"bucketCounts":["1",2],"explicitBounds":[0.5],"sum":0,"min":null}]}}"#,
    );
    assert!(check_agrees(Signal::Metrics, metric.as_bytes()), "{metric}");
    let exp = metric_json(
        r#"{"exponentialHistogram":{"dataPoints":[{"scale":-3,"positive":{"offset":-2,"bucketCounts":[0,300]}}]}}"#,
    );
    assert!(check_agrees(Signal::Metrics, exp.as_bytes()), "{exp}");
}

#[test]
fn unusual_bodies_are_left_to_the_decoder() {
    let deep = |n| {
        format!(
            r#"{{"body":{}{}}}"#,
            r#"{"arrayValue":{"values":["#.repeat(n),
            "]}}".repeat(n)
        )
    };
    // As deep as serde_json's recursion limit lets an array nest: still
    // within prost's, so it stays encoded.
    let json = log_json(&deep(38));
    assert!(check_agrees(Signal::Logs, json.as_bytes()));
    let too_deep = deep(70);
    for (record, why) in [
        (r#"{"eventName":"a","eventName":"b"}"#, "a field twice"),
        (r#"{"eventName":"a","event_name":"b"}"#, "both spellings"),
        (
            r#"{"attributes":[],"attributes":[{"key":"k"}]}"#,
            "a list twice",
        ),
        (
            r#"{"severityNumber":"SEVERITY_NUMBER_INFO"}"#,
            "an enum name",
        ),
        (
            r#"{"body":{"stringValue":"a","intValue":1}}"#,
            "two oneof members",
        ),
        (r#"{"body":{"stringValue":1}}"#, "a bad value"),
        (too_deep.as_str(), "nesting past the limit"),
    ] {
        let json = log_json(record);
        assert!(to_protobuf(Signal::Logs, json.as_bytes()).is_err(), "{why}");
        check_agrees(Signal::Logs, json.as_bytes());
        let payload = decode_batch(Signal::Logs, json.as_bytes());
        assert!(
            payload.as_ref().map_or(true, |b| b.encoded().is_none()),
            "{why}: {payload:?}"
        );
    }
}

#[test]
fn the_fuzz_bodies_often_transcode() {
    // Runs the fuzz generators here too, so the count is ours alone.
    let mut rng = crate::testing::XorshiftStar(0x7f4a_7c15_9e37_79b9);
    let Some(files) = capture_files(".json") else {
        return;
    };
    let seeds: Vec<_> = files
        .iter()
        .map(|(p, s)| (std::fs::read(p).unwrap(), *s))
        .collect();
    let (mut accepted, mut transcoded) = (0, 0);
    for round in 0..300 {
        let (seed, signal) = &seeds[round % seeds.len()];
        let mut input = seed.clone();
        super::fuzz::mutate(&mut rng, &mut input);
        accepted += usize::from(decode(*signal, &input).is_ok());
        transcoded += usize::from(check_agrees(*signal, &input));
    }
    eprintln!("mutated: {accepted} accepted, {transcoded} transcoded");
    assert!(transcoded > accepted / 2, "{transcoded} of {accepted}");
}
