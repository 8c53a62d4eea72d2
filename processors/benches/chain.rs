//! Throughput of the full processor chain (resource + attributes + filter +
//! redaction + batch), and of redaction + batch, against a chain with batch
//! only, on the captured Claude Code logs with prompts and tool content on:
//!
//! ```text
//! cargo bench -p ccpipe-processors --bench chain
//! ```
//!
//! (`CCPIPE_BENCH_ROUNDS` sets how many times the captured batches are replayed.)
//! Wall-clock figures on a shared machine are noisy: run it several times and
//! quote medians. For repeatable instruction counts of one processor, run it
//! under callgrind with few rounds, e.g. `CCPIPE_BENCH_ROUNDS=100 valgrind
//! --tool=callgrind --toggle-collect='*RedactionProcessor*as*Processor*process*'
//! target/release/deps/chain-<hash>`.

use std::time::{Duration, Instant};

use ccpipe_otlp::Encoded;
use ccpipe_pipeline::chain::{Chain, Stage};
use ccpipe_pipeline::fanout::Fanout;
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{channel, Records, Signal};
use ccpipe_processors::attributes::AttributesConfig;
use ccpipe_processors::batch::BatchConfig;
use ccpipe_processors::filter::FilterConfig;
use ccpipe_processors::redaction::RedactionConfig;
use ccpipe_processors::resource::ResourceConfig;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(if yaml.trim().is_empty() { "{}" } else { yaml }).expect("bench config")
}

/// The log requests of the http-protobuf capture (prompts and tool content on).
fn captured_logs() -> Vec<Records> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/claude-code/captures/http-protobuf/otlp"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/fixtures/claude-code/captures in the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-logs.bin"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            Records::Logs(ExportLogsServiceRequest::decode(&std::fs::read(p).unwrap()[..]).unwrap())
        })
        .collect()
}

fn stage(id: &str, p: impl ccpipe_pipeline::Processor + 'static) -> Stage {
    Stage::Process {
        id: id.into(),
        processor: Box::new(p),
    }
}

fn full_chain() -> Vec<Stage> {
    vec![
        stage(
            "resource",
            parse::<ResourceConfig>("attributes: [{ key: deployment.environment.name, value: prod, action: upsert }]")
                .build()
                .unwrap(),
        ),
        stage(
            "attributes",
            parse::<AttributesConfig>(
                "hash_key: 0123456789abcdef0123456789abcdef\n\
                 actions: [{ key: terminal.type, action: delete }, { pattern: '^anthropic\\.', action: delete }, { key: user.id, action: hash }]\n\
                 include: { match_type: strict, event_names: [api_request, tool_result, user_prompt, tool_decision, assistant_response] }",
            )
            .build(Signal::Logs)
            .unwrap(),
        ),
        stage(
            "filter",
            parse::<FilterConfig>("logs: { exclude: { match_type: strict, event_names: [plugin_loaded, managed_settings_resolved] } }")
                .build(Signal::Logs)
                .unwrap(),
        ),
        stage(
            "redaction",
            parse::<RedactionConfig>("preset: claude_code\nblocked_values: ['(?i)acme-internal-[a-z0-9]+']\nsummary: info")
                .build()
                .unwrap(),
        ),
        Stage::Batch(parse::<BatchConfig>("").build().unwrap()),
    ]
}

/// Redaction as in the full chain, then batch.
fn redaction_only() -> Vec<Stage> {
    let mut stages = full_chain();
    stages.drain(..3);
    stages
}

fn batch_only() -> Vec<Stage> {
    vec![Stage::Batch(parse::<BatchConfig>("").build().unwrap())]
}

/// configs/datadog.yaml's `resource` and `redaction`, run on request bytes
/// as the chain thread does (the batcher, which only concatenates bytes and
/// waits on its timer, left out); returns the time per record.
fn datadog_processors_on_bytes(logs: &[Records], rounds: usize) -> Duration {
    use ccpipe_pipeline::Processor;
    let mut resource = parse::<ResourceConfig>(
        "attributes: [{ key: deployment.environment.name, value: dev, action: upsert }]",
    )
    .build()
    .unwrap();
    let mut redaction = parse::<RedactionConfig>(
        "preset: claude_code\ncontent: mask\nsecrets: builtin\n\
         blocked_keys: ['(?i)(password|secret|api[_-]?key|authorization)']\nsummary: info",
    )
    .build()
    .unwrap();
    let requests: Vec<Encoded> = logs
        .iter()
        .map(|b| match b {
            Records::Logs(r) => Encoded::new(Signal::Logs, r.encode_to_vec().into()).unwrap(),
            _ => unreachable!(),
        })
        .collect();
    let records: usize = requests.iter().map(Encoded::item_count).sum::<usize>() * rounds;
    if std::env::var_os("CCPIPE_BENCH_SCAN").is_some() {
        // The receivers' intake scan of the same requests, alone.
        let start = Instant::now();
        for _ in 0..rounds {
            for r in &requests {
                std::hint::black_box(Encoded::new(Signal::Logs, r.parts()[0].clone()).unwrap());
            }
        }
        return start.elapsed() / u32::try_from(records).unwrap();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        for r in &requests {
            let mut batch = Batch::from(r.clone());
            resource.process(&mut batch).unwrap();
            redaction.process(&mut batch).unwrap();
            assert!(batch.encoded().is_some(), "the wire path was taken");
            std::hint::black_box(batch);
        }
    }
    start.elapsed() / u32::try_from(records).unwrap()
}

/// Runs the chain on this thread over `batches` (queued up front), as the
/// service does on the chain's own thread; returns the time taken.
fn run_chain(stages: Vec<Stage>, batches: Vec<Records>) -> Duration {
    let (tx, rx) = channel::bounded(batches.len() + 1);
    for b in batches {
        if tx.try_send(Batch::from(b)).is_err() {
            panic!("queue full");
        }
    }
    drop(tx);
    let chain = Chain::new("bench", stages, Fanout::new("bench", vec![]));
    let start = Instant::now();
    chain.run(rx);
    start.elapsed()
}

fn main() {
    let rounds: usize = std::env::var("CCPIPE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let logs = captured_logs();
    let per_round: usize = logs.iter().map(Records::item_count).sum();
    let records = per_round * rounds;
    let input = || {
        (0..rounds)
            .flat_map(|_| logs.iter().cloned())
            .collect::<Vec<_>>()
    };
    if std::env::var_os("CCPIPE_BENCH_WIRE_ONLY").is_some() {
        // For a profiler: only the processors on the request bytes.
        let d = datadog_processors_on_bytes(&logs, rounds);
        match std::env::var_os("CCPIPE_BENCH_SCAN") {
            Some(_) => println!("the intake scan: {d:?}/record"),
            None => {
                println!("datadog.yaml's resource + redaction on the request bytes: {d:?}/record")
            }
        }
        return;
    }
    datadog_processors_on_bytes(&logs, 10);
    let wire = (0..5)
        .map(|_| datadog_processors_on_bytes(&logs, rounds))
        .min()
        .unwrap();
    println!(
        "datadog.yaml's resource + redaction on the request bytes: {} ns/record (best of 5)",
        wire.as_nanos()
    );

    // warm up, then alternate to even out noise from other processes
    run_chain(full_chain(), input()[..logs.len()].to_vec());
    let (mut full, mut base, mut redaction) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        base = base.min(run_chain(batch_only(), input()));
        full = full.min(run_chain(full_chain(), input()));
        redaction = redaction.min(run_chain(redaction_only(), input()));
    }
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    println!("redaction + batch: {:.0} records/s", rate(redaction));
    // Each other processor alone (plus batch), to see where the time goes.
    let names = ["resource", "attributes", "filter"];
    for (i, name) in names.iter().enumerate() {
        let mut stages = full_chain();
        let batch = stages.pop().unwrap();
        let one = stages.swap_remove(i);
        let d = run_chain(vec![one, batch], input());
        println!("{name} + batch: {:.0} records/s", rate(d));
    }
    println!(
        "{records} log records ({rounds} rounds of {per_round}): batch only {:.0} records/s, \
         full chain {:.0} records/s; the processors cost {:.1}% of batch-only throughput",
        rate(base),
        rate(full),
        100.0 * (1.0 - rate(full) / rate(base))
    );

    // The same inside a pipeline: decode the captured protobuf bodies (what a
    // receiver does), run the chain, encode OTLP/JSON (what a JSONL exporter does).
    let bodies: Vec<Vec<u8>> = logs
        .iter()
        .map(|b| match b {
            Records::Logs(r) => prost::Message::encode_to_vec(r),
            _ => unreachable!(),
        })
        .collect();
    let start = Instant::now();
    for _ in 0..rounds {
        for body in &bodies {
            let r: ExportLogsServiceRequest = prost::Message::decode(&body[..]).unwrap();
            std::hint::black_box(r);
        }
    }
    let decode = start.elapsed();
    let mut out = Vec::new();
    let start = Instant::now();
    for _ in 0..rounds {
        for b in &logs {
            out.clear();
            ccpipe_pipeline::otlp_json::encode(b, &mut out);
            std::hint::black_box(&out);
        }
    }
    let encode = start.elapsed();
    let (p_base, p_full) = (decode + base + encode, decode + full + encode);
    println!(
        "pipeline (protobuf decode + chain + OTLP/JSON encode): batch only {:.0} records/s, \
         full chain {:.0} records/s; the processors cost {:.1}% of pipeline throughput",
        rate(p_base),
        rate(p_full),
        100.0 * (1.0 - rate(p_full) / rate(p_base))
    );
    let p_redaction = decode + redaction + encode;
    println!(
        "pipeline with redaction + batch: {:.0} records/s; redaction costs {:.1}% of pipeline \
         throughput (with ÷ without: {:.3})",
        rate(p_redaction),
        100.0 * (1.0 - rate(p_redaction) / rate(p_base)),
        rate(p_redaction) / rate(p_base)
    );
}
