//! Seeded random inputs (so failures reproduce): the decoder never panics,
//! and whatever it accepts re-encodes to a fixed point.

use super::*;
use crate::testing::XorshiftStar as Rng;

/// Decodes `input` as every signal; whatever is accepted must re-encode to a
/// fixed point (decode ∘ encode changes nothing the second time).
/// Returns which signals accepted it, in `Signal::ALL` order.
fn check_no_panic(input: &[u8]) -> [bool; 3] {
    Signal::ALL.map(|signal| {
        super::to_wire::check_agrees(signal, input);
        let Ok(batch) = decode(signal, input) else {
            return false;
        };
        let once = encoded(&batch);
        let again =
            decode(signal, &once).unwrap_or_else(|e| panic!("re-encoding is not readable: {e}"));
        assert_eq!(encoded(&again), once);
        true
    })
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-1",
    "1e400",
    "0.5",
    "\"NaN\"",
    "\"resourceLogs\":",
    "\"resourceSpans\":",
    "\"resourceMetrics\":",
    "\"scopeLogs\":",
    "\"logRecords\":",
    "\"scopeSpans\":",
    "\"spans\":",
    "\"body\":",
    "\"arrayValue\":",
    "\"values\":",
    "\"intValue\":",
    "\"traceId\":",
    "\"kind\":\"SPAN_KIND_CLIENT\"",
    "\"bytesValue\":\"AAE\"",
    "\\u00e9",
    "\\ud800",
    "\u{e9}",
    "\"gauge\":",
    "\"dataPoints\":",
];

/// Field names of every message, plus unknown ones, for generated objects.
const KEYS: &[&str] = &[
    "resourceLogs",
    "resourceSpans",
    "resourceMetrics",
    "resource",
    "scopeLogs",
    "scopeSpans",
    "scopeMetrics",
    "scope",
    "logRecords",
    "spans",
    "metrics",
    "attributes",
    "key",
    "value",
    "values",
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "bytesValue",
    "arrayValue",
    "kvlistValue",
    "timeUnixNano",
    "startTimeUnixNano",
    "traceId",
    "spanId",
    "parentSpanId",
    "kind",
    "flags",
    "status",
    "code",
    "events",
    "links",
    "severityNumber",
    "body",
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "summary",
    "dataPoints",
    "asInt",
    "asDouble",
    "bucketCounts",
    "explicitBounds",
    "positive",
    "negative",
    "quantileValues",
    "exemplars",
    "aggregationTemporality",
    "entityRefs",
    "idKeys",
    "min",
    "max",
    "scale",
    "unknown",
];

const STRINGS: &[&str] = &[
    "",
    "x",
    "12",
    "-3",
    "1e3",
    "NaN",
    "Infinity",
    "-Infinity",
    "AAE=",
    "-_8",
    "000102030405060708090a0b0c0d0e0f",
    "0001020304050607",
    "zz",
    "SPAN_KIND_CLIENT",
    "STATUS_CODE_OK",
    "SEVERITY_NUMBER_WARN",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
    "18446744073709551616",
    "\\u00e9\\n",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2.5",
    "-0",
    "1e400",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "255",
    "1.0e2",
];

/// Writes a random JSON value shaped like OTLP (known keys, plausible values).
fn gen_json(rng: &mut Rng, depth: usize, out: &mut String) {
    let pick = if depth == 0 { 0 } else { rng.below(10) };
    match pick {
        0..=3 if depth < 12 => {
            out.push('{');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{}\":", KEYS[rng.below(KEYS.len())]));
                gen_json(rng, depth + 1, out);
            }
            out.push('}');
        }
        4 | 5 if depth < 12 => {
            out.push('[');
            for i in 0..rng.below(3) {
                if i > 0 {
                    out.push(',');
                }
                gen_json(rng, depth + 1, out);
            }
            out.push(']');
        }
        6 | 7 => out.push_str(&format!("\"{}\"", STRINGS[rng.below(STRINGS.len())])),
        8 => out.push_str(NUMBERS[rng.below(NUMBERS.len())]),
        _ => out.push_str(["null", "true", "false"][rng.below(3)]),
    }
}

/// Compact encodings of the protobuf captures, with their signals.
fn encoded_captures() -> Option<Vec<(Vec<u8>, Signal)>> {
    let files = capture_files(".bin")?;
    Some(
        files
            .iter()
            .map(|(path, signal)| {
                let batch = prost_decode(*signal, &std::fs::read(path).unwrap());
                (encoded(&batch), *signal)
            })
            .collect(),
    )
}

/// Where the JSON value starting at `start` ends.
fn value_end(input: &[u8], start: usize) -> usize {
    let mut values =
        serde_json::Deserializer::from_slice(&input[start..]).into_iter::<serde::de::IgnoredAny>();
    values.next();
    start + values.byte_offset()
}

#[test]
fn random_values_in_captures_never_panic() {
    let Some(seeds) = encoded_captures() else {
        return;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    const ROUNDS: usize = 1500;
    for round in 0..ROUNDS {
        let (seed, signal) = &seeds[round % seeds.len()];
        let mut input = seed.clone();
        // Replace a few field values with random OTLP-shaped JSON.
        for _ in 0..1 + rng.below(3) {
            let colons: Vec<usize> = (0..input.len()).filter(|&i| input[i] == b':').collect();
            let start = colons[rng.below(colons.len())] + 1;
            let end = value_end(&input, start);
            let mut value = String::new();
            gen_json(&mut rng, 1, &mut value);
            input.splice(start..end, value.into_bytes());
        }
        let by_signal = check_no_panic(&input);
        accepted += usize::from(by_signal[Signal::ALL.iter().position(|s| s == signal).unwrap()]);
    }
    eprintln!("random values: {accepted} of {ROUNDS} requests accepted");
    assert!(
        accepted > ROUNDS / 25,
        "too few changed requests were valid"
    );
    assert!(
        accepted < ROUNDS * 9 / 10,
        "too few changed requests were invalid"
    );
}

#[test]
fn random_json_never_panics() {
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut json = String::new();
    for _ in 0..3000 {
        json.clear();
        gen_json(&mut rng, 0, &mut json);
        check_no_panic(json.as_bytes());
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut input = Vec::new();
    for _ in 0..3000 {
        input.clear();
        for _ in 0..rng.below(40) {
            if rng.below(4) == 0 {
                input.push(rng.next_u64() as u8);
            } else {
                input.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
            }
        }
        check_no_panic(&input);
    }
}

#[test]
fn mutated_captures_never_panic() {
    let Some(json_files) = capture_files(".json") else {
        return;
    };
    let mut seeds: Vec<(Vec<u8>, Signal)> = json_files
        .iter()
        .map(|(p, signal)| (std::fs::read(p).unwrap(), *signal))
        .collect();
    // Our own encodings of the protobuf captures too.
    seeds.extend(encoded_captures().unwrap());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut accepted = 0;
    const ROUNDS: usize = 400;
    for round in 0..ROUNDS {
        let (seed, signal) = &seeds[round % seeds.len()];
        let mut input = seed.clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input);
        }
        let by_signal = check_no_panic(&input);
        accepted += usize::from(by_signal[Signal::ALL.iter().position(|s| s == signal).unwrap()]);
    }
    eprintln!("mutated captures: {accepted} of {ROUNDS} accepted");
    assert!(
        accepted > ROUNDS / 20,
        "mutations should sometimes keep a body valid"
    );
    // Every truncation point of one capture, at a stride.
    let (smallest, _) = seeds.iter().min_by_key(|(s, _)| s.len()).unwrap();
    for cut in (0..smallest.len()).step_by(37) {
        for signal in Signal::ALL {
            let result = decode(signal, &smallest[..cut]);
            assert!(result.is_err(), "a body cut at {cut} was accepted");
        }
    }
}

/// One random byte-level edit: change, insert, delete, duplicate, truncate
/// or splice in a JSON token.
pub(super) fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    let at = rng.below(input.len());
    match rng.below(6) {
        0 => input[at] = rng.next_u64() as u8,
        1 => input.insert(at, rng.next_u64() as u8),
        2 => {
            let end = (at + rng.below(64)).min(input.len());
            input.drain(at..end);
        }
        3 => {
            let end = (at + rng.below(64)).min(input.len());
            let copy = input[at..end].to_vec();
            let to = rng.below(input.len());
            input.splice(to..to, copy);
        }
        4 => input.truncate(at),
        _ => {
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            input.splice(at..at, token.iter().copied());
        }
    }
}

#[test]
fn random_numbers_round_trip_exactly() {
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    for _ in 0..5000 {
        let bits = rng.next_u64();
        let double = f64::from_bits(bits);
        let record = LogRecord {
            time_unix_nano: bits,
            body: Some(any(Value::DoubleValue(double))),
            attributes: vec![kv("i", Value::IntValue(bits as i64))],
            ..Default::default()
        };
        let batch = Records::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let back = logs(decode(Signal::Logs, &encoded(&batch)).unwrap());
        let got = &back.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(got.time_unix_nano, bits);
        assert_eq!(got.attributes, record.attributes);
        match got.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::DoubleValue(d)) if double.is_nan() => assert!(d.is_nan()),
            Some(Value::DoubleValue(d)) => assert_eq!(d.to_bits(), bits, "{double:e}"),
            other => panic!("{other:?}"),
        }
    }
}
