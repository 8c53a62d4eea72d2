//! deploy/local-stack's Prometheus files as Prometheus itself reads them:
//! `promtool check config` (which checks the rule files it names), `promtool
//! check rules`, and `promtool test rules` over the unit tests beside them
//! (daily cost over budget, API error rate, tool failure rate).

mod common;

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) {
    common::prometheus::install();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local-stack/prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_local_stack_prometheus_config_and_its_rules_check() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["check", "rules", "rules/claude-code.rules.yml"]);
}

#[test]
fn the_rules_fire_as_their_unit_tests_expect() {
    promtool(&["test", "rules", "rules/claude-code.rules.test.yml"]);
}
