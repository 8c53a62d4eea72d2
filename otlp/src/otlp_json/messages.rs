//! The JSON reader and writer of every OTLP message, generated from the one
//! description of the protos in [`crate::schema`]: each field's line there
//! becomes one `if key == ..` in `Message::field` and one write in
//! `Encode::encode`, in the schema's order.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{
    LogRecord, LogRecordFlags, ResourceLogs, ScopeLogs, SeverityNumber,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, DataPointFlags, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::{Event, Link, SpanKind},
    status::StatusCode,
    ResourceSpans, ScopeSpans, Span, SpanFlags, Status,
};
use serde::de::{self, MapAccess};

use super::decode::{msg_at, set_oneof, skip, Message, MAX_ANY_VALUE_DEPTH};
use super::encode::{
    write_base64, write_bool, write_double, write_int, write_json_string, write_quoted_int, Encode,
    Obj,
};
use super::scalars::{
    boolean, bytes, double, enumeration, flags, int, list, span_id, string, trace_id, OptSeed,
};

/// `impl Message` and `impl Encode` for every message of the schema.
macro_rules! json_codec {
    ($( $m:ident = $prost:ident { $( $line:tt )* } )*) => { $(
        impl Message for $prost {
            const NAME: &'static str = stringify!($prost);

            #[allow(unused_variables)] // `depth`, in messages without message fields
            fn field<'de, A: MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
                depth: u8,
            ) -> Result<(), A::Error> {
                $( read_field!(self, key, map, depth, $line); )*
                skip(map)
            }
        }

        impl Encode for $prost {
            fn encode(&self, out: &mut Vec<u8>) {
                let mut o = Obj::new(out);
                $( write_field!(self, o, $line); )*
                o.end();
            }
        }
    )* };
}

/// Reads one schema line's field if `key` names it, and returns.
macro_rules! read_field {
    ($s:ident, $key:ident, $map:ident, $depth:ident,
        ($tag:literal $field:ident : $json:literal $(| $alias:literal)?,
        $card:ident $ty:ident $(($sub:ident))?, $codec:ident $(($arg:ty))?)) => {
        if $key == $json $(|| $key == $alias)? {
            $s.$field = $map.next_value_seed(field_seed!($codec $(($arg))?, $json, $depth))?;
            return Ok(());
        }
    };
    ($s:ident, $key:ident, $map:ident, $depth:ident,
        (oneof $slot:ident : $enum:ty { $(
            $tag:literal $variant:ident : $json:literal $(| $alias:literal)?,
            $ty:ident $(($sub:ident))?, $codec:ident;
        )* })) => {
        type OneOf = $enum;
        $( if $key == $json $(|| $key == $alias)? {
            let value = $map
                .next_value_seed(OptSeed(seed!($codec, $json, $depth)))?
                .map(OneOf::$variant);
            return set_oneof(&mut $s.$slot, value, Self::NAME);
        } )*
    };
}

/// Writes one schema line's field unless it holds its default (a oneof
/// member is written whenever set: its presence is the value).
macro_rules! write_field {
    ($s:ident, $o:ident,
        ($tag:literal $field:ident : $json:literal $(| $alias:literal)?,
        $card:ident $ty:ident $(($sub:ident))?, $codec:ident $(($arg:ty))?)) => {
        write_value!($codec, $o, $json, $s.$field)
    };
    ($s:ident, $o:ident,
        (oneof $slot:ident : $enum:ty { $(
            $tag:literal $variant:ident : $json:literal $(| $alias:literal)?,
            $ty:ident $(($sub:ident))?, $codec:ident;
        )* })) => {
        type OneOf = $enum;
        match &$s.$slot {
            $( Some(OneOf::$variant(v)) => write_member!($codec, v, $o.key($json)), )*
            None => {}
        }
    };
}

/// The serde seed of a field with JSON codec `$codec`.
macro_rules! field_seed {
    (msg, $json:literal, $depth:ident) => {
        OptSeed(seed!(msg, $json, $depth))
    };
    ($($codec:tt)*) => {
        seed!($($codec)*)
    };
}

/// The serde seed of one value of JSON codec `$codec` (`msg` is required
/// here; [`field_seed!`] makes a message field optional).
macro_rules! seed {
    (long, $json:literal, $depth:ident) => {
        int($json)
    };
    (int, $json:literal, $depth:ident) => {
        int($json)
    };
    (enumeration($names:ty), $json:literal, $depth:ident) => {
        enumeration($json, |s| <$names>::from_str_name(s).map(|v| v as i32))
    };
    (flags($names:ty), $json:literal, $depth:ident) => {
        flags($json, |s| <$names>::from_str_name(s).map(|v| v as i32))
    };
    (string, $json:literal, $depth:ident) => {
        string($json)
    };
    (trace_id, $json:literal, $depth:ident) => {
        trace_id($json)
    };
    (span_id, $json:literal, $depth:ident) => {
        span_id($json)
    };
    (boolean, $json:literal, $depth:ident) => {
        boolean($json)
    };
    (double, $json:literal, $depth:ident) => {
        double($json)
    };
    (opt_double, $json:literal, $depth:ident) => {
        OptSeed(double($json))
    };
    (bytes, $json:literal, $depth:ident) => {
        bytes($json)
    };
    (msg, $json:literal, $depth:ident) => {
        msg_at($depth)
    };
    (nested_msg, $json:literal, $depth:ident) => {
        msg_at(nested($depth)?)
    };
    (msgs, $json:literal, $depth:ident) => {
        list($json, msg_at($depth))
    };
    (strings, $json:literal, $depth:ident) => {
        list($json, string($json))
    };
    (longs, $json:literal, $depth:ident) => {
        list($json, int($json))
    };
    (doubles, $json:literal, $depth:ident) => {
        list($json, double($json))
    };
}

/// Writes field `$v` of JSON codec `$codec` unless it holds its default.
macro_rules! write_value {
    (long, $o:ident, $json:literal, $v:expr) => {
        $o.long($json, $v)
    };
    (int, $o:ident, $json:literal, $v:expr) => {
        $o.int($json, $v)
    };
    (enumeration, $o:ident, $json:literal, $v:expr) => {
        $o.int($json, $v)
    };
    (flags, $o:ident, $json:literal, $v:expr) => {
        $o.int($json, $v)
    };
    (string, $o:ident, $json:literal, $v:expr) => {
        $o.string($json, &$v)
    };
    (trace_id, $o:ident, $json:literal, $v:expr) => {
        $o.hex($json, &$v)
    };
    (span_id, $o:ident, $json:literal, $v:expr) => {
        $o.hex($json, &$v)
    };
    (boolean, $o:ident, $json:literal, $v:expr) => {
        $o.boolean($json, $v)
    };
    (double, $o:ident, $json:literal, $v:expr) => {
        $o.double($json, $v)
    };
    (opt_double, $o:ident, $json:literal, $v:expr) => {
        $o.opt_double($json, $v)
    };
    (msg, $o:ident, $json:literal, $v:expr) => {
        $o.msg($json, $v.as_ref())
    };
    (msgs, $o:ident, $json:literal, $v:expr) => {
        $o.list($json, &$v)
    };
    (strings, $o:ident, $json:literal, $v:expr) => {
        $o.list_with($json, &$v, |s, out| write_json_string(s, out))
    };
    (longs, $o:ident, $json:literal, $v:expr) => {
        $o.list_with($json, &$v, |n, out| write_quoted_int(*n, out))
    };
    (doubles, $o:ident, $json:literal, $v:expr) => {
        $o.list_with($json, &$v, |d, out| write_double(*d, out))
    };
}

/// Writes the value `$v` (a reference) of a set oneof member into `$out`.
macro_rules! write_member {
    (string, $v:ident, $out:expr) => {
        write_json_string($v, $out)
    };
    (boolean, $v:ident, $out:expr) => {
        write_bool(*$v, $out)
    };
    (long, $v:ident, $out:expr) => {
        write_quoted_int(*$v, $out)
    };
    (int, $v:ident, $out:expr) => {
        write_int(*$v, $out)
    };
    (double, $v:ident, $out:expr) => {
        write_double(*$v, $out)
    };
    (bytes, $v:ident, $out:expr) => {
        write_base64($v, $out)
    };
    (msg, $v:ident, $out:expr) => {
        $v.encode($out)
    };
    (nested_msg, $v:ident, $out:expr) => {
        $v.encode($out)
    };
}

crate::schema::with_schema!(json_codec);

/// The depth inside one more AnyValue container, if still allowed.
fn nested<E: de::Error>(depth: u8) -> Result<u8, E> {
    if depth >= MAX_ANY_VALUE_DEPTH {
        return Err(E::custom(format_args!(
            "AnyValue nested deeper than {MAX_ANY_VALUE_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}
