//! The lifecycle of every registered processor, as the Collector's generated
//! component tests: for each entry of [`FACTORIES`], build it from
//! `testdata/<type>/lifecycle.yaml` for each signal, drop one stage unused,
//! then run one captured Claude Code batch through another and shut it down
//! (a batch stage flushes): records come out, never more than went in. A
//! new processor is covered by its line in the list; a missing
//! `lifecycle.yaml` fails here.

use ccpipe_pipeline::chain::Stage;
use ccpipe_pipeline::config::load_str;
use ccpipe_pipeline::factory::ProcessorFactory;
use ccpipe_pipeline::testing::{indented, lifecycle_yaml};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ComponentId, Records, Signal, Verdict};

use super::captures::load_captures;
use crate::FACTORIES;

#[test]
fn every_processor_builds_processes_each_signal_and_shuts_down() {
    let captures = load_captures();
    for factory in FACTORIES {
        lifecycle(*factory, &captures);
    }
}

fn lifecycle(factory: &dyn ProcessorFactory, captures: &[(String, Records)]) {
    let ty = factory.type_name();
    let settings = lifecycle_yaml(env!("CARGO_MANIFEST_DIR"), ty);
    let signals = factory.signals();
    let config = load_str("lifecycle.yaml", &whole_config(ty, &settings, signals))
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    let cfg = &config.processors[&ty.parse::<ComponentId>().unwrap()];
    factory
        .validate(cfg)
        .unwrap_or_else(|e| panic!("{ty}: {e}"));
    for &signal in signals {
        // Shut down without having been sent anything.
        let unused = factory.build(cfg, signal).unwrap();
        assert_eq!(run(unused, None), 0, "{ty} {signal}: emitted from nothing");

        let (name, batch) = captures
            .iter()
            .filter(|(_, b)| b.signal() == signal)
            .max_by_key(|(_, b)| b.item_count())
            .unwrap_or_else(|| panic!("no {signal} capture"));
        let sent = batch.item_count();
        let stage = factory.build(cfg, signal).unwrap();
        let out = run(stage, Some(batch.clone()));
        assert!(
            out > 0 && out <= sent,
            "{ty} {signal} ({name}): {sent} items in, {out} out"
        );
    }
}

/// Runs `batch` (if any) through `stage`, then shuts it down: the items
/// that came out.
fn run(stage: Stage, batch: Option<Records>) -> usize {
    match stage {
        Stage::Process { mut processor, .. } => {
            let Some(batch) = batch else { return 0 };
            let mut batch = Batch::from(batch);
            match processor.process(&mut batch).unwrap() {
                Verdict::Keep => batch.item_count(),
                Verdict::Drop => 0,
            }
        }
        Stage::Batch(mut batcher) => {
            let mut out = 0;
            let mut emit = |p: Batch| out += p.item_count();
            if let Some(batch) = batch {
                batcher.push(Batch::from(batch), &mut emit).unwrap();
            }
            batcher.flush(&mut emit).unwrap();
            out
        }
    }
}

/// `settings` as processor `ty` of a config with one pipeline per signal.
fn whole_config(ty: &str, settings: &str, signals: &[Signal]) -> String {
    let indented = indented(settings);
    let pipelines: String = signals
        .iter()
        .map(|s| {
            format!("    {s}: {{ receivers: [otlp], processors: [{ty}], exporters: [debug] }}\n")
        })
        .collect();
    format!(
        "receivers:\n  otlp:\nprocessors:\n  {ty}:\n{indented}exporters:\n  debug:\nservice:\n  pipelines:\n{pipelines}"
    )
}
