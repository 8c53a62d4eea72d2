//! The HTTP/JSON intake's transcode alone (`otlp_json::to_protobuf`, JSON to
//! protobuf bytes) on Claude Code's own bodies: each JSON capture (logs,
//! metrics, traces) and the load generator's request of 100 log records,
//! with serde_json's decode into the prost structs beside it for scale:
//!
//! ```text
//! cargo bench -p ccpipe-bench --bench transcode   # CCPIPE_BENCH_MB=200 of JSON a row
//! ```
//!
//! Figures are this thread's CPU time (utime + stime of
//! `/proc/thread-self/stat`), best of five rounds, in ns per KiB of JSON
//! (captures differ in size more than in kind) and per item (records, spans
//! or data points). Profile it with `perf record -g` on the bench binary:
//! it runs nothing else.

use std::hint::black_box;
use std::path::Path;

use ccpipe_bench::proc::{best_thread_cpu_ns, clock_ticks};
use ccpipe_bench::request::{Bodies, RecordPool};
use ccpipe_pipeline::{otlp_json, Signal};

fn main() {
    let mib: usize = std::env::var("CCPIPE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (tick, _) = clock_ticks();
    let captures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/claude-code/captures");
    let mut bodies: Vec<(String, Signal, Vec<u8>)> = Vec::new();
    let json = captures.join("http-json/otlp");
    let mut names: Vec<_> = std::fs::read_dir(&json)
        .expect("the Claude Code captures beside the project")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".headers.json"))
        .collect();
    names.sort();
    for name in names {
        let signal = Signal::ALL
            .into_iter()
            .find(|s| name.contains(&format!("-{}.", s.as_str())))
            .expect("a signal in the capture's name");
        bodies.push((
            name.clone(),
            signal,
            std::fs::read(json.join(&name)).unwrap(),
        ));
    }
    let pool = RecordPool::load(&captures).expect("the Claude Code captures beside the project");
    bodies.push((
        "load generator, 100 records".into(),
        Signal::Logs,
        Bodies::new(&pool.build(100)).json.to_vec(),
    ));
    println!("{mib} MiB of JSON a round; CPU time, best of 5 rounds");
    println!("| body | KiB | items | to_protobuf ns/KiB | ns/item | decode ns/KiB |");
    println!("|---|--:|--:|--:|--:|--:|");
    for (name, signal, body) in &bodies {
        let items = otlp_json::decode(*signal, body)
            .expect("decodes")
            .item_count();
        let rounds = (mib << 20).div_ceil(body.len());
        let per_kib = |f: &mut dyn FnMut()| {
            best_thread_cpu_ns(tick, rounds, f) / (rounds * body.len()) as f64 * 1024.0
        };
        let transcode = per_kib(&mut || {
            black_box(otlp_json::to_protobuf(*signal, black_box(body)).expect("transcodes"));
        });
        let decode = per_kib(&mut || {
            black_box(otlp_json::decode(*signal, black_box(body)).expect("decodes"));
        });
        let per_item = transcode * body.len() as f64 / 1024.0 / items.max(1) as f64;
        println!(
            "| {name} | {:.1} | {items} | {transcode:.0} | {per_item:.0} | {decode:.0} |",
            body.len() as f64 / 1024.0
        );
    }
}
