//! The receiver's OTLP/JSON path on one thread, without sockets: the load
//! generator's request body (Claude Code's log records, 100 and 1000 per
//! request) through `decode_within` as the HTTP receiver calls it, and its two
//! halves apart (the transcode to protobuf, and the protobuf scan that
//! `Encoded::within` runs on any protobuf body); then the JSON codec over the
//! decoded structs both ways (`otlp_json::decode`, and `otlp_json::encode` as
//! the file exporter writes a decoded batch); and `otlp_json::transcode`, the
//! file exporter's OTLP/JSON straight from the request bytes, of the
//! protobuf body the load generator sends (prost's bytes) and of the JSON
//! body's transcode to protobuf (what an HTTP/JSON request becomes):
//!
//! ```text
//! cargo bench -p ccpipe-bench --bench json    # CCPIPE_BENCH_RECORDS=100000 a round
//! ```
//!
//! Figures are this thread's CPU time (utime + stime of
//! `/proc/thread-self/stat`, in clock ticks: not wall-clock, which other work
//! on a shared machine stretches), the best of five rounds. For repeatable
//! instruction counts run the bench binary under callgrind with few records,
//! e.g. `CCPIPE_BENCH_RECORDS=2000 valgrind --tool=callgrind
//! target/release/deps/json-<hash>`.

use std::hint::black_box;
use std::path::Path;

use bytes::Bytes;
use ccpipe_bench::proc::{best_thread_cpu_ns, clock_ticks};
use ccpipe_bench::request::{Bodies, RecordPool};
use ccpipe_pipeline::limits::Limits;
use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::{otlp_json, Signal};
use ccpipe_receivers::otlp::decode::{decode_within, Encoding, Format};

fn main() {
    let total: usize = std::env::var("CCPIPE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (tick, _) = clock_ticks();
    let captures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/claude-code/captures");
    let pool = RecordPool::load(&captures).expect("the Claude Code captures beside the project");
    // The receiver's defaults.
    let limits = Limits {
        max_attribute_depth: 16,
        max_attributes: 256,
    };
    println!("{total} records a round; CPU ns per record, best of 5 rounds");
    println!(
        "| records/req | decode_within | to_protobuf | Encoded::within | decode | encode | transcode of the protobuf body | transcode of the JSON body's protobuf |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|");
    for records in [100, 1000] {
        let rounds = total.div_ceil(records);
        let bodies = Bodies::new(&pool.build(records));
        let json = bodies.json.clone();
        let proto = Bytes::from(otlp_json::to_protobuf(Signal::Logs, &json).expect("transcodes"));
        let per_record =
            |f: &mut dyn FnMut()| best_thread_cpu_ns(tick, rounds, f) / (rounds * records) as f64;
        let full = per_record(&mut || {
            let payload = decode_within(
                Signal::Logs,
                Format::Json,
                Encoding::Identity,
                json.clone(),
                usize::MAX,
                &limits,
            )
            .expect("decodes");
            assert!(payload.encoded().is_some());
            black_box(payload);
        });
        let transcode = per_record(&mut || {
            black_box(otlp_json::to_protobuf(Signal::Logs, black_box(&json)).expect("transcodes"));
        });
        let scan = per_record(&mut || {
            black_box(Encoded::within(Signal::Logs, proto.clone(), &limits).expect("valid"));
        });
        let decode = per_record(&mut || {
            black_box(otlp_json::decode(Signal::Logs, black_box(&json)).expect("decodes"));
        });
        let decoded = otlp_json::decode(Signal::Logs, &json).expect("decodes");
        let mut out = Vec::with_capacity(json.len());
        let encode = per_record(&mut || {
            out.clear();
            otlp_json::encode(black_box(&decoded), &mut out);
            black_box(&out);
        });
        let mut transcode_of = |bytes: &Bytes| {
            let encoded = Encoded::within(Signal::Logs, bytes.clone(), &limits).expect("valid");
            per_record(&mut || {
                out.clear();
                otlp_json::transcode(black_box(&encoded), &mut out).expect("usual bytes");
                black_box(&out);
            })
        };
        let from_prost = transcode_of(&bodies.protobuf);
        let from_tags = transcode_of(&proto);
        println!(
            "| {records} | {full:.0} | {transcode:.0} | {scan:.0} | {decode:.0} | {encode:.0} | {from_prost:.0} | {from_tags:.0} |"
        );
    }
}
