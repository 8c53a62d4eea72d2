//! OTLP/JSON → protobuf transcoding (`otlp_json::to_protobuf`, which the
//! receivers run on every JSON body before falling back to the decoder) means
//! what the decoder reads: if it transcodes, `otlp_json::decode` accepts the
//! same body, and when the scan accepts the bytes (the receiver then keeps
//! them encoded) prost decodes them to the decoder's batch. `decode_batch`
//! gives the decoder's answer either way. Batches are compared as prost
//! re-encoded bytes, so NaN equals NaN.
//!
//! `otlp_json::to_encoded` (what the receivers call: the transcode counting
//! items and checking the attribute limits as it writes, instead of a scan
//! of its bytes) keeps a body exactly when `to_protobuf` transcodes it and
//! `Encoded::within` accepts the bytes under the same limits, with the same
//! bytes and item count.
//!
//! The first byte picks the signal (mod 3) and the limits (bits 2..5 the
//! deepest attribute level, 1..7 or none; bits 5..8 the most attributes in
//! a set, 0, 1, 2, 3, 4, 8, 16 or none).
#![no_main]

use bytes::Bytes;
use ccpipe_pipeline::limits::Limits;
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

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[pick as usize % 3];
    let decoded = otlp_json::decode(signal, body);

    // decode_batch: the decoder's answer, whichever path it took.
    match (&decoded, otlp_json::decode_batch(signal, body)) {
        (Err(a), Err(b)) => assert_eq!(*a, b),
        (Ok(batch), Ok(payload)) => {
            assert_eq!(payload.signal(), signal);
            let count = payload.item_count();
            let got = payload.into_records().expect("a kept payload decodes");
            assert_eq!(proto(&got), proto(batch));
            assert_eq!(count, batch.item_count());
        }
        (a, b) => panic!("decode: {a:?}, decode_batch: {b:?}"),
    }

    let depth = (pick >> 2 & 7) as usize;
    let count = [0, 1, 2, 3, 4, 8, 16, usize::MAX][(pick >> 5) as usize];
    let limits = Limits {
        max_attribute_depth: if depth == 0 { usize::MAX } else { depth },
        max_attributes: count,
    };
    let scanned = otlp_json::to_protobuf(signal, body)
        .ok()
        .map(|bytes| Encoded::within(signal, Bytes::from(bytes), &limits));
    match (otlp_json::to_encoded(signal, body, &limits), scanned) {
        (Ok(kept), Some(Ok(want))) => {
            assert_eq!(kept.parts(), want.parts());
            assert_eq!(kept.item_count(), want.item_count());
        }
        (Err(_), None | Some(Err(_))) => {}
        (kept, want) => panic!("to_encoded: {kept:?}, to_protobuf + within: {want:?}"),
    }

    let Ok(bytes) = otlp_json::to_protobuf(signal, body) else {
        return;
    };
    let batch = match decoded {
        Ok(batch) => batch,
        Err(e) => panic!("transcoded a body the decoder refuses: {e}"),
    };
    // The scan is as strict as prost; what it refuses (nesting past prost's
    // recursion limit) goes to the decoder, checked above.
    let Ok(encoded) = Encoded::new(signal, Bytes::from(bytes.clone())) else {
        return;
    };
    assert_eq!(proto(&prost_decode(signal, &bytes)), proto(&batch));
    assert_eq!(encoded.item_count(), batch.item_count());
    assert!(otlp_json::decode_batch(signal, body).is_ok_and(|b| b.encoded().is_some()));
});
