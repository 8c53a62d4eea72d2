//! The byte-level reader of the JSON → protobuf transcode agrees with the
//! decoder (serde_json) on every way JSON may say the same thing: layout
//! (pretty, minified, whitespace anywhere), escapes at every position,
//! every scalar form, nesting up to and past the limits, bodies cut at
//! every byte. "Agrees" is [`check_agrees`]: the transcode's bytes decode
//! to what the decoder reads, or it answers unusual and the decoder is used.

use super::to_wire::check_agrees;
use super::*;
use crate::limits::Limits;
use crate::testing::XorshiftStar as Rng;

/// `json` with random JSON whitespace before and after every token.
fn spaced(rng: &mut Rng, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut in_string = false;
    let mut escaped = false;
    let space = |rng: &mut Rng, out: &mut Vec<u8>| {
        for _ in 0..rng.below(3) {
            out.push(b" \t\n\r"[rng.below(4)]);
        }
    };
    space(rng, &mut out);
    for &c in json {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    space(rng, &mut out);
                }
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => {
                space(rng, &mut out);
                in_string = true;
                out.push(c);
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                space(rng, &mut out);
                out.push(c);
                space(rng, &mut out);
            }
            // Numbers and literals stay whole.
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn every_capture_transcodes_in_every_layout() {
    let mut rng = Rng(0x6c61_796f_7574_7301);
    let mut layouts = 0;
    for (body, signal) in json_bodies() {
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        let minified = serde_json::to_vec(&value).unwrap();
        let spaced = [spaced(&mut rng, &body), spaced(&mut rng, &minified)];
        for layout in [&body, &pretty, &minified, &spaced[0], &spaced[1]] {
            assert!(
                check_agrees(signal, layout),
                "did not transcode: {}",
                String::from_utf8_lossy(layout)
            );
            layouts += 1;
        }
        // The layout changes nothing in the bytes.
        let bytes = to_protobuf(signal, &body).unwrap();
        assert_eq!(to_protobuf(signal, &spaced[0]).unwrap(), bytes);
    }
    assert!(layouts >= 5 * 8, "{layouts}");
}

/// Every character of `s` written as an escape in turn, and all at once.
fn escaped_variants(s: &str) -> Vec<String> {
    let escape = |c: char| -> String {
        match c {
            '\n' => "\\n".into(),
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '/' => "\\/".into(),
            '\t' => "\\t".into(),
            '\u{8}' => "\\b".into(),
            '\u{c}' => "\\f".into(),
            '\r' => "\\r".into(),
            c => c
                .encode_utf16(&mut [0; 2])
                .iter()
                .map(|u| format!("\\u{u:04X}"))
                .collect(),
        }
    };
    let plain = |c: char| match c {
        '"' | '\\' | '\u{0}'..='\u{1f}' => escape(c),
        c => c.to_string(),
    };
    let chars: Vec<char> = s.chars().collect();
    let mut variants: Vec<String> = (0..chars.len())
        .map(|at| {
            let mut v = String::new();
            for (i, &c) in chars.iter().enumerate() {
                v.push_str(&if i == at { escape(c) } else { plain(c) });
            }
            v
        })
        .collect();
    variants.push(chars.iter().map(|&c| escape(c)).collect());
    // Lower-case hex too.
    variants.push(chars.iter().map(|&c| escape(c).to_lowercase()).collect());
    variants
}

#[test]
fn escapes_at_every_position_read_as_the_decoder_reads_them() {
    let text = "a\"b\\c/d\n\te\u{8}\u{c}\r é日本🦀\u{0}\u{1f}z01234567";
    let mut transcoded = 0;
    for v in escaped_variants(text) {
        // In a string value, an attribute key, and an unknown member.
        for record in [
            format!(r#"{{"body":{{"stringValue":"{v}"}}}}"#),
            format!(r#"{{"attributes":[{{"key":"{v}","value":{{"stringValue":"x"}}}}]}}"#),
            format!(r#"{{"u{v}":1,"eventName":"{v}"}}"#),
        ] {
            let json = log_json(&record);
            transcoded += usize::from(check_agrees(Signal::Logs, json.as_bytes()));
        }
    }
    // Every one transcodes: escapes are never unusual.
    assert_eq!(transcoded, escaped_variants(text).len() * 3);
    // Escaped known keys are the field.
    for key in ["\\u0062ody", "b\\u006Fdy", "bod\\u0079"] {
        let json = log_json(&format!(r#"{{"{key}":{{"intValue":"7"}}}}"#));
        assert!(check_agrees(Signal::Logs, json.as_bytes()), "{json}");
    }
    // Broken escapes and control characters: the decoder's error.
    for bad in [
        "\\ud800",
        "\\udc00",
        "\\ud800\\u0041",
        "\\ud800x",
        "\\u12",
        "\\u12g4",
        "\\x",
        "\\",
        "\u{1}",
        "\n",
        "\\U0041",
    ] {
        let json = log_json(&format!(r#"{{"body":{{"stringValue":"{bad}"}}}}"#));
        assert!(!check_agrees(Signal::Logs, json.as_bytes()), "{json}");
        assert!(decode(Signal::Logs, json.as_bytes()).is_err(), "{json}");
        // serde_json skips a lone surrogate in an unknown member: the
        // transcode leaves that to it.
        let json = log_json(&format!(r#"{{"unknown":"{bad}"}}"#));
        assert!(!check_agrees(Signal::Logs, json.as_bytes()), "{json}");
    }
}

#[test]
fn invalid_utf8_anywhere_is_the_decoders_error() {
    let json = log_json(r#"{"body":{"stringValue":"aé"},"eventName":"0123456789é"}"#);
    let bytes = json.as_bytes();
    for at in 0..bytes.len() {
        for bad in [0x80u8, 0xc3, 0xff, 0xed] {
            let mut input = bytes.to_vec();
            input[at] = bad;
            check_agrees(Signal::Logs, &input);
        }
    }
}

#[test]
fn every_scalar_form_reads_as_the_decoder_reads_it() {
    let ints = [
        "0",
        "-0",
        "1",
        "-1",
        "\"7\"",
        "\"-7\"",
        "1e3",
        "1E+3",
        "1.0",
        "-1.0e0",
        "\"1e3\"",
        "\"1.5\"",
        "1.5",
        "\"+5\"",
        "\" 5\"",
        "\"\"",
        "\"0x10\"",
        "01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "1e400",
        "-1e400",
        "1e-400",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "\"18446744073709551616\"",
        "\"-9223372036854775809\"",
        "99999999999999999999999",
        "1e0000000001",
        "1e-0000000001",
        "0.0000000000000000000000001e25",
        "true",
        "null",
        "[]",
        "{}",
        "\"NaN\"",
        "\"SEVERITY_NUMBER_INFO\"",
    ];
    let doubles = [
        "0",
        "-0",
        "-0.0",
        "0.1",
        "1e308",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "2.4703282292062328e-324",
        "2.4703282292062327e-324",
        "1e-400",
        "-1e-400",
        "\"NaN\"",
        "\"Infinity\"",
        "\"-Infinity\"",
        "\"inf\"",
        "\"nan\"",
        "\"1.5\"",
        "\" 1\"",
        "\"+1\"",
        "\".5\"",
        "\"1.\"",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "0.30000000000000004",
        "9007199254740993",
        "1e0000000001",
        "1E5",
        "true",
        "\"\"",
    ];
    let mut transcoded = 0;
    for (field, values) in [
        ("timeUnixNano", &ints[..]),
        ("severityNumber", &ints[..]),
        ("droppedAttributesCount", &ints[..]),
        ("flags", &ints[..]),
    ] {
        for v in values {
            let json = log_json(&format!(r#"{{"{field}":{v}}}"#));
            transcoded += usize::from(check_agrees(Signal::Logs, json.as_bytes()));
        }
    }
    for v in ints {
        let json = log_json(&format!(r#"{{"body":{{"intValue":{v}}}}}"#));
        transcoded += usize::from(check_agrees(Signal::Logs, json.as_bytes()));
    }
    for v in doubles {
        let json = log_json(&format!(r#"{{"body":{{"doubleValue":{v}}}}}"#));
        transcoded += usize::from(check_agrees(Signal::Logs, json.as_bytes()));
        let json = metric_json(&format!(
            r#"{{"summary":{{"dataPoints":[{{"sum":{v},"quantileValues":[{{"quantile":{v}}}]}}]}}}}"#
        ));
        transcoded += usize::from(check_agrees(Signal::Metrics, json.as_bytes()));
        let json = metric_json(&format!(
            r#"{{"histogram":{{"dataPoints":[{{"explicitBounds":[{v},{v}],"bucketCounts":[{v}]}}]}}}}"#
        ));
        transcoded += usize::from(check_agrees(Signal::Metrics, json.as_bytes()));
    }
    assert!(transcoded > 120, "{transcoded}");
    for v in ["true", "false", "null", "0", "\"true\"", "tru", "nul"] {
        let json = log_json(&format!(r#"{{"body":{{"boolValue":{v}}}}}"#));
        check_agrees(Signal::Logs, json.as_bytes());
    }
    for v in [
        "\"\"", "\"AAE\"", "\"AAE=\"", "\"-_8\"", "\"+/8=\"", "\"A\"", "\"*\"", "1",
    ] {
        let json = log_json(&format!(r#"{{"body":{{"bytesValue":{v}}}}}"#));
        check_agrees(Signal::Logs, json.as_bytes());
    }
    for v in [
        "\"\"",
        "\"0123456789abcdef0123456789ABCDEF\"",
        "\"0123456789abcdef\"",
        "\"0123456789abcdeg0123456789abcdef\"",
        "\"0123456789abcdef0\"",
        "1",
    ] {
        let json = span_json(&format!(
            r#"{{"traceId":{v},"spanId":{v},"parentSpanId":{v}}}"#
        ));
        check_agrees(Signal::Traces, json.as_bytes());
    }
}

/// Doubles round as serde_json (with `float_roundtrip`, as the decoder reads
/// them) rounds them: correctly, as `f64::from_str` does.
#[test]
fn doubles_round_as_the_decoder_rounds_them() {
    let mut rng = Rng(0x666c_6f61_7473_2121);
    for _ in 0..20_000 {
        let mut text = String::new();
        if rng.below(2) == 0 {
            text.push('-');
        }
        let digits = 1 + rng.below(25);
        for i in 0..digits {
            let d = if i == 0 {
                1 + rng.below(9)
            } else {
                rng.below(10)
            };
            text.push(char::from(b'0' + d as u8));
            if i == 0 && digits > 1 && rng.below(2) == 0 {
                text.push('.');
            }
        }
        if rng.below(3) > 0 {
            text.push_str(&format!("e{}", rng.below(660) as i64 - 340));
        }
        let json = log_json(&format!(r#"{{"body":{{"doubleValue":{text}}}}}"#));
        match serde_json::from_str::<f64>(&text) {
            Ok(want) => {
                let std_parse: f64 = text.parse().unwrap();
                assert_eq!(want.to_bits(), std_parse.to_bits(), "{text}");
                check_agrees(Signal::Logs, json.as_bytes());
            }
            Err(_) => assert!(!check_agrees(Signal::Logs, json.as_bytes()), "{text}"),
        }
    }
}

#[test]
fn nesting_up_to_and_past_the_limits_agrees() {
    let values = |n| {
        format!(
            r#"{{"body":{}{{"intValue":1}}{}}}"#,
            r#"{"arrayValue":{"values":["#.repeat(n),
            "]}}".repeat(n)
        )
    };
    let kvlists = |n| {
        format!(
            r#"{{"body":{}{{"intValue":1}}{}}}"#,
            r#"{"kvlistValue":{"values":[{"key":"k","value":"#.repeat(n),
            "}]}}".repeat(n)
        )
    };
    let unknown = |n| format!(r#"{{"unknown":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
    let mut transcoded = 0;
    for n in 28..45 {
        for record in [values(n), kvlists(n)] {
            transcoded += usize::from(check_agrees(Signal::Logs, log_json(&record).as_bytes()));
        }
    }
    for n in 110..135 {
        transcoded += usize::from(check_agrees(Signal::Logs, log_json(&unknown(n)).as_bytes()));
    }
    assert!(transcoded > 10, "{transcoded}");
    // serde_json skips an unknown member without its recursion limit; the
    // transcode holds every value to it and leaves deeper ones to it.
    let deep = log_json(&unknown(134));
    assert!(decode(Signal::Logs, deep.as_bytes()).is_ok());
    assert!(to_protobuf(Signal::Logs, deep.as_bytes()).is_err());
}

#[test]
fn bodies_cut_at_every_byte_agree() {
    let (body, signal) = json_bodies()
        .into_iter()
        .min_by_key(|(b, _)| b.len())
        .unwrap();
    let mut transcoded = 0;
    for cut in 0..=body.len() {
        transcoded += usize::from(check_agrees(signal, &body[..cut]));
    }
    // Only the whole body (and cuts in its trailing whitespace) transcode.
    let trailing = body.len() - body.trim_ascii_end().len();
    assert_eq!(transcoded, trailing + 1);
}

#[test]
fn mutated_layouts_agree() {
    let mut rng = Rng(0x6d75_7461_7465_6421);
    let bodies = json_bodies();
    for round in 0..400 {
        let (body, signal) = &bodies[round % bodies.len()];
        let mut input = spaced(&mut rng, body);
        for _ in 0..1 + rng.below(3) {
            super::fuzz::mutate(&mut rng, &mut input);
        }
        check_agrees(*signal, &input);
    }
}

/// The compact attribute shape read as literal bytes, and everything near
/// it that must go the general way, agree with the decoder; within and over
/// the attribute limits.
#[test]
fn attributes_of_the_plain_shape_and_near_it_agree() {
    let long = "x".repeat(200);
    let values = [
        r#"{"stringValue":"v"}"#.to_owned(),
        format!(r#"{{"stringValue":"{long}"}}"#),
        r#"{"stringValue":"é\n\u00e9"}"#.into(),
        r#"{"stringValue":null}"#.into(),
        r#"{"stringValue":1}"#.into(),
        r#"{"boolValue":true}"#.into(),
        r#"{"boolValue":false}"#.into(),
        r#"{"boolValue":null}"#.into(),
        r#"{"boolValue":1}"#.into(),
        r#"{"intValue":-5}"#.into(),
        r#"{"intValue":"9223372036854775807"}"#.into(),
        r#"{"intValue":"9223372036854775808"}"#.into(),
        r#"{"intValue":null}"#.into(),
        r#"{"intValue":1.5}"#.into(),
        r#"{"intValue": 7 }"#.into(),
        r#"{"doubleValue":-0}"#.into(),
        r#"{"doubleValue":"NaN"}"#.into(),
        r#"{"doubleValue":null}"#.into(),
        r#"{"bytesValue":"AAE="}"#.into(),
        r#"{"stringValue":"a","intValue":1}"#.into(),
        r#"{"stringValue":"a"} "#.into(),
        r#"{"arrayValue":{"values":[{"intValue":1}]}}"#.into(),
        r#"{}"#.into(),
        r#"null"#.into(),
    ];
    let keys = ["k", "k\\u0041", "", long.as_str(), "é"];
    let mut attributes = Vec::new();
    for value in &values {
        for key in keys {
            attributes.push(format!(r#"{{"key":"{key}","value":{value}}}"#));
        }
        attributes.push(format!(r#"{{"value":{value},"key":"k"}}"#));
        attributes.push(format!(r#"{{"key":"k","value":{value},"other":1}}"#));
        attributes.push(format!(r#"{{ "key":"k","value":{value}}}"#));
    }
    let limits = [
        Limits::NONE,
        Limits {
            max_attribute_depth: 1,
            max_attributes: 2,
        },
        Limits {
            max_attribute_depth: 0,
            max_attributes: 100,
        },
    ];
    let mut transcoded = 0;
    for (i, attribute) in attributes.iter().enumerate() {
        let next = &attributes[(i * 7 + 3) % attributes.len()];
        for list in [
            format!("[{attribute}]"),
            format!("[{attribute},{next},{attribute}]"),
        ] {
            let json = log_json(&format!(
                r#"{{"attributes":{list},"body":{{"kvlistValue":{{"values":{list}}}}}}}"#
            ));
            transcoded += usize::from(check_agrees(Signal::Logs, json.as_bytes()));
            super::to_wire::counts_agree_with_the_scan(Signal::Logs, json.as_bytes(), &limits);
        }
    }
    assert!(transcoded > 200, "{transcoded}");
}
