//! JSON → protobuf transcoding ([`to_protobuf`], [`decode_payload`]) agrees
//! with decode → prost encode: on the captures, on every field in both
//! spellings, on the unusual bodies it leaves to the decoder, and (through
//! `fuzz.rs`, which calls [`check_agrees`] on every input it makes) on
//! thousands of random and mutated bodies.

use super::every_field::{all_logs, all_metrics, all_traces, snake_case_keys};
use super::*;
use crate::payload::Payload;

fn proto(batch: &Batch) -> Vec<u8> {
    match batch {
        Batch::Logs(r) => r.encode_to_vec(),
        Batch::Metrics(r) => r.encode_to_vec(),
        Batch::Traces(r) => r.encode_to_vec(),
    }
}

/// If `input` transcodes, the decoder accepts it too and the bytes decode
/// to the same batch; [`decode_payload`] gives the decoder's answer either
/// way. Returns whether it transcoded.
pub(super) fn check_agrees(signal: Signal, input: &[u8]) -> bool {
    let decoded = decode(signal, input);
    let payload = decode_payload(signal, input);
    match (&decoded, payload) {
        (Err(a), Err(b)) => assert_eq!(*a, b),
        (Ok(batch), Ok(p)) => {
            let count = p.item_count();
            // Compared as protobuf: NaN != NaN in the structs.
            assert_eq!(proto(&p.into_batch().unwrap()), proto(batch));
            assert_eq!(count, batch.item_count());
        }
        (a, b) => panic!("decode: {a:?}, decode_payload: {b:?}"),
    }
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
    // limit); decode_payload then decodes, checked above.
    if let Ok(Payload::Encoded(_)) = decode_payload(signal, input) {
        assert_eq!(proto(&prost_decode(signal, &bytes)), proto(&batch));
    }
    true
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
        let payload = decode_payload(signal, &body).unwrap();
        assert!(matches!(payload, Payload::Encoded(_)), "{}", path.display());
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
        let payload = decode_payload(Signal::Logs, json.as_bytes());
        assert!(
            matches!(payload, Ok(Payload::Decoded(_)) | Err(_)),
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
