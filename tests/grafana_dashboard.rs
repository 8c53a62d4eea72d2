//! configs/dashboards/grafana-claude-code.json: it parses, takes its
//! datasources from the `datasource` (Prometheus) and `loki` variables (no
//! hard-coded UID), filters by team and department, and its PromQL names
//! only metrics the prometheus exporter produces for Claude Code: the
//! captured metrics, and the ones the claude_code_metrics connector derives
//! from events, named by the exporter's own rules. (Its LogQL is played
//! against a fake Loki in tests/prometheus_loki.rs.)

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use ccpipe_exporters::prometheus::names::{metric_name, Suffix};
use ccpipe_pipeline::records::Records;
use common::*;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// Counters and histograms derived from events (issue 7): name, unit, histogram.
const DERIVED: &[(&str, &str, bool)] = &[
    ("claude_code.tool.calls", "", false),
    ("claude_code.tool.duration", "ms", true),
    ("claude_code.api.requests", "", false),
    ("claude_code.api.duration", "ms", true),
    ("claude_code.api.ttft", "ms", true),
    ("claude_code.api.errors", "", false),
    ("claude_code.prompts", "", false),
    ("claude_code.prompt.length", "", true),
];

/// Every name the exporter serves for Claude Code's metrics.
fn produced() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for variant in VARIANTS {
        for c in load_variant(variant) {
            let Records::Metrics(r) = &c.expected else {
                continue;
            };
            for m in r
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
            {
                let suffix = match &m.data {
                    Some(Data::Sum(s)) if s.is_monotonic => Suffix::Counter,
                    Some(Data::Gauge(_)) => Suffix::Gauge,
                    _ => Suffix::Other,
                };
                names.insert(metric_name(&m.name, &m.unit, suffix, None));
            }
        }
    }
    assert!(
        names.contains("claude_code_cost_usage_USD_total"),
        "{names:?}"
    );
    for (name, unit, histogram) in DERIVED {
        if *histogram {
            let base = metric_name(name, unit, Suffix::Other, None);
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{base}{suffix}"));
            }
        } else {
            names.insert(metric_name(name, unit, Suffix::Counter, None));
        }
    }
    names
}

/// Metric names in a PromQL expression: identifiers outside label matchers,
/// strings and ranges that are not followed by `(` (functions) and are not
/// PromQL keywords.
fn metric_refs(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        // Aggregations, which may take `by (…)` before their `(`.
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut depth_brace, mut depth_bracket, mut in_string) = (0, 0, 0, false);
    let mut in_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            if c == '\\' {
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            ')' if in_grouping => in_grouping = false,
            c if (c.is_ascii_alphabetic() || c == '_')
                && depth_brace == 0
                && depth_bracket == 0 =>
            {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if KEYWORDS.contains(&word.as_str()) {
                    in_grouping = matches!(word.as_str(), "by" | "without" | "on" | "ignoring");
                } else if next != Some(&'(') && !in_grouping {
                    out.push(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn promql_scanner() {
    assert_eq!(
        metric_refs(r#"sum by (le, model) (rate(a_bucket{job=~"$job",x="}"}[5m])) / b_total"#),
        ["a_bucket", "b_total"]
    );
}

#[test]
fn grafana_dashboard_uses_only_produced_metrics() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/dashboards/grafana-claude-code.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");

    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["name"] == "datasource"
            && v["query"] == "prometheus"),
        "a datasource variable of type prometheus"
    );
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["name"] == "loki" && v["query"] == "loki"),
        "a datasource variable of type loki"
    );
    for name in ["team", "department"] {
        let var = vars.iter().find(|v| v["name"] == name);
        assert!(
            var.is_some_and(|v| v["type"] == "query"
                && v["includeAll"] == true
                && v["allValue"] == ".*"),
            "a {name} variable with All matching series without the label"
        );
    }
    // Every datasource reference is one of the two variables.
    fn check_uids(v: &serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(ds) = m.get("datasource") {
                    let want = match ds["type"].as_str() {
                        Some("loki") => "${loki}",
                        _ => "${datasource}",
                    };
                    assert_eq!(ds["uid"], want, "hard-coded datasource: {ds}");
                }
                m.values().for_each(check_uids);
            }
            serde_json::Value::Array(a) => a.iter().for_each(check_uids),
            _ => {}
        }
    }
    check_uids(&dash);

    let produced = produced();
    let mut used = BTreeSet::new();
    let mut panels = 0;
    for panel in dash["panels"].as_array().unwrap() {
        let Some(targets) = panel["targets"].as_array() else {
            continue;
        };
        if panel["datasource"]["type"] == "loki" {
            continue;
        }
        panels += 1;
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            if expr.contains("$job") {
                assert!(
                    expr.contains(r#"team=~"$team""#)
                        && expr.contains(r#"department=~"$department""#),
                    "{}: not filtered by team and department: {expr}",
                    panel["title"]
                );
            }
            let refs = metric_refs(expr);
            assert!(!refs.is_empty(), "{}: no metric in {expr}", panel["title"]);
            for r in refs {
                assert!(
                    produced.contains(&r),
                    "{}: {r} is not a metric the exporter produces; it produces {produced:?}",
                    panel["title"]
                );
                used.insert(r);
            }
        }
    }
    assert!(panels >= 18, "{panels} panels");
    let titles: BTreeSet<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for title in [
        "Total tokens",
        "Lines of code",
        "Commits in 24h",
        "Recent prompts",
        "Tool results",
        "API errors",
    ] {
        assert!(titles.contains(title), "no panel {title:?}");
    }
    assert!(
        !text.contains("processor)") && titles.iter().any(|t| t.contains("connector")),
        "claude_code_metrics is a connector"
    );
    // Unique panel ids and no two panels on the same grid cell.
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel id {} twice",
            p["id"]
        );
        let g = &p["gridPos"];
        let n = |k: &str| g[k].as_u64().unwrap();
        assert!(
            n("x") + n("w") <= 24,
            "{} is wider than the grid",
            p["title"]
        );
        for x in n("x")..n("x") + n("w") {
            for y in n("y")..n("y") + n("h") {
                assert!(
                    cells.insert((x, y)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
    }
    for name in [
        "claude_code_cost_usage_USD_total",
        "claude_code_token_usage_tokens_total",
        "claude_code_session_count_total",
        "claude_code_active_time_seconds_total",
        "claude_code_lines_of_code_count_total",
        "claude_code_commit_count_total",
        "claude_code_pull_request_count_total",
        "claude_code_code_edit_tool_decision_total",
        "claude_code_tool_calls_total",
        "claude_code_api_duration_milliseconds_bucket",
        "claude_code_api_errors_total",
    ] {
        assert!(used.contains(name), "no panel uses {name}");
    }
}
