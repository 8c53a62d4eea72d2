//! The `sqlite` exporter's secret masking (`ccpipe_secrets::batch`) does
//! what a `redaction` processor with only `secrets: builtin` does, and says
//! "nothing to mask" exactly when that processor changes nothing.

use ccpipe_pipeline::testing::Xorshift;
use ccpipe_secrets::batch::{mask, may_hold_secret};
use ccpipe_secrets::Scanner;

use super::captures::load_captures;
use super::wire::random_batch;
use super::*;
use crate::redaction::{RedactionConfig, RedactionProcessor};

fn check(p: &mut RedactionProcessor, scanner: &Scanner, batch: &Records, what: &str) -> bool {
    let mut want = batch.clone();
    run(p, &mut want);
    let mut got = batch.clone();
    let found = mask(scanner, &mut got);
    let changed = got != *batch;
    // `run` prunes empty containers as the chain does; masking leaves them.
    got.prune_empty();
    assert!(got == want, "{what}: masked differently");
    assert_eq!(found.count > 0, changed, "{what}: count");
    if !may_hold_secret(scanner, batch) {
        assert!(
            !changed,
            "{what}: said nothing to mask, but the processor masked"
        );
    }
    changed
}

#[test]
fn masking_equals_the_redaction_processor_on_captures_and_random_batches() {
    let scanner = Scanner::new(true, &[], &[]).unwrap().unwrap();
    let mut p = RedactionConfig::default().build().unwrap();
    let mut changed = 0;
    for (name, batch) in load_captures() {
        changed += usize::from(check(&mut p, &scanner, &batch, &name));
    }
    let mut rng = Xorshift(0x5eed_0000_5ec2_e700);
    for round in 0..400 {
        let batch = random_batch(&mut rng);
        changed += usize::from(check(&mut p, &scanner, &batch, &format!("random {round}")));
    }
    assert!(changed > 50, "only {changed} batches had secrets");
}
