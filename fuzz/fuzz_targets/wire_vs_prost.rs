//! The HTTP/gRPC protobuf path: `wire::scan` (the receiver's check that keeps
//! requests encoded) must accept exactly what prost can decode, except ids of
//! a wrong length (prost takes any; the scan takes empty or 16/8 bytes, as
//! the Collector does), and a checked request must decode. The first byte
//! picks the signal.
#![no_main]

use bytes::Bytes;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::Signal;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[pick as usize % 3];
    let prost_ok = match signal {
        Signal::Logs => ExportLogsServiceRequest::decode(bytes).is_ok(),
        Signal::Metrics => ExportMetricsServiceRequest::decode(bytes).is_ok(),
        Signal::Traces => ExportTraceServiceRequest::decode(bytes).is_ok(),
    };
    let checked = Encoded::new(signal, Bytes::copy_from_slice(bytes));
    match (&checked, prost_ok) {
        (Ok(_), true) | (Err(_), false) => {}
        (Err(e), true) if e.to_string().contains(" id is neither empty nor ") => {}
        (checked, prost_ok) => panic!("scan {checked:?} but prost ok: {prost_ok}"),
    }
    if let Ok(encoded) = checked {
        let batch = encoded.decode().expect("a checked request decodes");
        assert_eq!(batch.item_count(), encoded.item_count());
    }
});
