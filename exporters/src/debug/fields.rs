//! How a value, a number point and the OTLP enums are written: shared by
//! the `normal` and `detailed` printers.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use opentelemetry_proto::tonic::metrics::v1::{number_data_point, NumberDataPoint};

use crate::text::{write_escaped, write_f64, write_int};
use ccpipe_pipeline::otlp_json::write_plain_value;

/// A value as text: strings as they are (controls escaped), the rest as JSON.
pub(super) fn plain_text(value: Option<&AnyValue>, out: &mut Vec<u8>) {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => write_escaped(s, out),
        Some(Value::IntValue(i)) => write_int(*i, out),
        Some(Value::DoubleValue(d)) => write_f64(*d, out),
        Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(_) => {
            if let Some(v) = value {
                write_plain_value(v, out);
            }
        }
        None => {}
    }
}

pub(super) fn number(p: &NumberDataPoint, out: &mut Vec<u8>) {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => write_f64(d, out),
        Some(number_data_point::Value::AsInt(i)) => write_int(i, out),
        None => out.extend_from_slice(b"null"),
    }
}

pub(super) fn severity_name(n: i32) -> &'static str {
    const NAMES: [&str; 25] = [
        "Unspecified",
        "Trace",
        "Trace2",
        "Trace3",
        "Trace4",
        "Debug",
        "Debug2",
        "Debug3",
        "Debug4",
        "Info",
        "Info2",
        "Info3",
        "Info4",
        "Warn",
        "Warn2",
        "Warn3",
        "Warn4",
        "Error",
        "Error2",
        "Error3",
        "Error4",
        "Fatal",
        "Fatal2",
        "Fatal3",
        "Fatal4",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("Unknown")
}

pub(super) fn temporality_name(n: i32) -> &'static str {
    match n {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

pub(super) fn kind_name(n: i32) -> &'static str {
    match n {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

pub(super) fn status_name(n: i32) -> &'static str {
    match n {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}
