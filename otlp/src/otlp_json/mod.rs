//! OTLP/JSON, the JSON encoding of the OTLP export requests, over the prost
//! types that flow through the pipeline.
//!
//! Decoding takes untrusted bytes and is as tolerant as protobuf's JSON
//! parsers (what Claude Code's JS exporter writes included): lowerCamelCase or
//! proto field names, 64-bit integers as numbers or strings, enums as numbers
//! or names, doubles as numbers or "NaN"/"Infinity" strings, unknown fields
//! skipped, `null` as the default. It is strict where data would be lost:
//! trace/span ids must be hex of the right length, a oneof takes one value,
//! AnyValues nest at most 64 deep, and nothing may follow the request.
//!
//! Encoding writes what the Collector's OTLP/JSON reader expects and its
//! marshaler writes: hex ids, 64-bit integers as strings, enums as numbers,
//! default-valued fields left out.

mod decode;
mod encode;
mod escaped;
mod from_wire;
mod lengths;
mod messages;
mod reader;
mod scalars;
#[cfg(test)]
mod tests;
mod to_wire;

pub use decode::decode;
pub use encode::{
    encode, write_any_value, write_json_string, write_plain_attributes, write_plain_value,
};
pub use from_wire::{transcode, transcode_parts, Unusual};
pub use to_wire::{decode_batch, to_encoded, to_protobuf, Refused};

/// Why a body is not OTLP/JSON, and where: `line 1 column 345: invalid hex in traceId`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {reason}")]
pub struct JsonError {
    reason: String,
    line: usize,
    column: usize,
}

impl JsonError {
    /// The reason alone, without the position.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// 1-based line of the error.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in bytes) of the error.
    pub fn column(&self) -> usize {
        self.column
    }
}
