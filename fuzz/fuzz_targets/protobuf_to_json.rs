//! Protobuf → OTLP/JSON transcoding (`otlp_json::transcode`, which the
//! file exporter writes with) means what the bytes mean: for any request the
//! scan (`Encoded::new`) accepts, it either answers `Unusual` and leaves the
//! buffer as it was, or writes JSON that `otlp_json::decode` reads back to
//! the batch prost decodes from the bytes (compared as prost re-encoded
//! bytes, so NaN equals NaN, and where those differ, as our OTLP/JSON of
//! both, since JSON cannot carry a NaN's payload bits).
//!
//! The first byte picks the signal (mod 3) and, from its bits 2..8, where to
//! cut the rest in two: when both halves scan on their own, they are
//! transcoded as two parts of one batch, which must mean their concatenation.
#![no_main]

use bytes::Bytes;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::{otlp_json, Records, Signal};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fn proto(batch: &Records) -> Vec<u8> {
    match batch {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

fn prost_decode(signal: Signal, bytes: &[u8]) -> Records {
    match signal {
        Signal::Logs => Records::Logs(ExportLogsServiceRequest::decode(bytes).unwrap()),
        Signal::Metrics => Records::Metrics(ExportMetricsServiceRequest::decode(bytes).unwrap()),
        Signal::Traces => Records::Traces(ExportTraceServiceRequest::decode(bytes).unwrap()),
    }
}

fn json_of(batch: &Records) -> Vec<u8> {
    let mut out = Vec::new();
    otlp_json::encode(batch, &mut out);
    out
}

/// Transcodes `batch` behind a marker, and checks the JSON against `want`.
fn check(signal: Signal, batch: &Encoded, want: &Records) {
    let mut out = b"keep".to_vec();
    match otlp_json::transcode(batch, &mut out) {
        Err(otlp_json::Unusual) => assert_eq!(out, b"keep", "Unusual wrote"),
        Ok(()) => {
            assert_eq!(&out[..4], b"keep");
            let json = &out[4..];
            let back = match otlp_json::decode(signal, json) {
                Ok(back) => back,
                Err(e) => panic!(
                    "wrote JSON the decoder refuses ({e}): {}",
                    String::from_utf8_lossy(json)
                ),
            };
            // JSON has one NaN; a NaN with another payload in the bytes reads
            // back as the usual one, so tell the two apart through JSON.
            if proto(&back) != proto(want) {
                assert_eq!(
                    String::from_utf8_lossy(&json_of(&back)),
                    String::from_utf8_lossy(&json_of(want)),
                    "JSON: {}",
                    String::from_utf8_lossy(json)
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[pick as usize % 3];
    let Ok(encoded) = Encoded::new(signal, Bytes::copy_from_slice(bytes)) else {
        return;
    };
    let want = prost_decode(signal, bytes);
    let mut out = Vec::new();
    match otlp_json::transcode(&encoded, &mut out) {
        Err(otlp_json::Unusual) => assert!(out.is_empty()),
        Ok(()) => check(signal, &encoded, &want),
    }

    // Two parts: a cut where both halves are requests on their own.
    let cut = bytes.len() * (pick >> 2) as usize / 64;
    let (a, b) = bytes.split_at(cut);
    if let (Ok(mut two), Ok(second)) = (
        Encoded::new(signal, Bytes::copy_from_slice(a)),
        Encoded::new(signal, Bytes::copy_from_slice(b)),
    ) {
        two.append(second);
        check(signal, &two, &want);
    }
});
