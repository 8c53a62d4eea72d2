//! OpenTelemetry → Prometheus names, per the OpenTelemetry "Prometheus and
//! OpenMetrics Compatibility" rules as the Collector applies them
//! (`pkg/translator/prometheus`): the name is cut into alphanumeric tokens
//! joined by `_`, the unit is appended in Prometheus words (`s` → `seconds`,
//! `By` → `bytes`; `{packets}` is dropped; other units are kept as written),
//! monotonic sums end in `_total`, gauges with unit `1` in `_ratio`, and the
//! `namespace` goes first.
//!
//! `claude_code.cost.usage` (USD, monotonic sum) → `claude_code_cost_usage_USD_total`;
//! `claude_code.active_time.total` (s) → `claude_code_active_time_seconds_total`.
//!
//! With the Collector's `add_metric_suffixes: false` the unit and `_ratio`
//! are left off: `claude_code_cost_usage_total`. Counters keep `_total`,
//! because OpenMetrics requires it on their samples and so Prometheus,
//! which scrapes OpenMetrics first, stores the Collector's counters that way.

/// How a metric is exposed, which decides its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    /// A monotonic sum: `_total`.
    Counter,
    /// A gauge: `_ratio` when the unit is `1`.
    Gauge,
    /// Histograms, summaries, non-monotonic sums: unit only.
    Other,
}

/// The Prometheus name of an OpenTelemetry metric, unit and type suffixes added.
pub fn metric_name(name: &str, unit: &str, suffix: Suffix, namespace: Option<&str>) -> String {
    metric_name_with(name, unit, suffix, namespace, true)
}

/// The Prometheus name; `add_suffixes` is the exporter's `add_metric_suffixes`.
pub fn metric_name_with(
    name: &str,
    unit: &str,
    suffix: Suffix,
    namespace: Option<&str>,
    add_suffixes: bool,
) -> String {
    let mut tokens: Vec<String> = tokens(name);
    if add_suffixes {
        push_unit(&mut tokens, unit);
    }
    if suffix == Suffix::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if add_suffixes && suffix == Suffix::Gauge && unit == "1" {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        tokens.insert(0, clean(ns));
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Appends the unit in Prometheus words (`m/s` → `meters_per_second`).
fn push_unit(tokens: &mut Vec<String>, unit: &str) {
    let mut units = unit.splitn(2, '/');
    let main = units.next().unwrap_or_default().trim();
    if !main.is_empty() && !main.contains(['{', '}']) {
        let prom = clean(main_unit(main));
        if !prom.is_empty() && !tokens.contains(&prom) {
            tokens.push(prom);
        }
    }
    if let Some(per) = units.next().map(str::trim) {
        if !per.is_empty() && !per.contains(['{', '}']) {
            let prom = clean(per_unit(per));
            if !prom.is_empty() && !tokens.contains(&prom) {
                tokens.push("per".into());
                tokens.push(prom);
            }
        }
    }
}

/// The warning for a `namespace` that repeats the prefix Claude Code's
/// metric names already have (`claude_code_claude_code_…`), if it does.
pub fn double_prefix(namespace: Option<&str>) -> Option<String> {
    let ns = clean(namespace?);
    (ns == "claude_code" || ns.ends_with("_claude_code")).then(|| {
        format!(
            "namespace {ns:?} doubles Claude Code's prefix: {} — no shipped dashboard or query matches it; leave namespace unset (docs/prometheus.md)",
            metric_name("claude_code.cost.usage", "USD", Suffix::Counter, Some(&ns))
        )
    })
}

/// A label name Prometheus accepts: `[a-zA-Z_][a-zA-Z0-9_]*`, with the
/// Collector's prefixes: `key_` before a digit, `key` before one `_`.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out.is_empty() {
        out.push_str("key_");
    }
    out
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Non-alphanumerics removed: tokens joined with `_`.
fn clean(s: &str) -> String {
    tokens(s).join("_")
}

fn main_unit(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_metric_names() {
        let cases = [
            (
                "claude_code.cost.usage",
                "USD",
                "claude_code_cost_usage_USD_total",
            ),
            (
                "claude_code.token.usage",
                "tokens",
                "claude_code_token_usage_tokens_total",
            ),
            (
                "claude_code.session.count",
                "",
                "claude_code_session_count_total",
            ),
            (
                "claude_code.lines_of_code.count",
                "",
                "claude_code_lines_of_code_count_total",
            ),
            (
                "claude_code.active_time.total",
                "s",
                "claude_code_active_time_seconds_total",
            ),
            (
                "claude_code.commit.count",
                "",
                "claude_code_commit_count_total",
            ),
            (
                "claude_code.pull_request.count",
                "",
                "claude_code_pull_request_count_total",
            ),
            (
                "claude_code.code_edit_tool.decision",
                "",
                "claude_code_code_edit_tool_decision_total",
            ),
        ];
        for (name, unit, want) in cases {
            assert_eq!(metric_name(name, unit, Suffix::Counter, None), want);
        }
    }

    #[test]
    fn the_collector_translator_cases() {
        use Suffix::*;
        let cases = [
            (
                "system.filesystem.usage",
                "By",
                Other,
                "system_filesystem_usage_bytes",
            ),
            (
                "system.network.dropped",
                "{packets}",
                Counter,
                "system_network_dropped_total",
            ),
            (
                "system.network.dropped",
                "packets",
                Other,
                "system_network_dropped_packets",
            ),
            (
                "system.memory.utilization",
                "1",
                Gauge,
                "system_memory_utilization_ratio",
            ),
            (
                "system.memory.utilization",
                "1",
                Other,
                "system_memory_utilization",
            ),
            (
                "(lambda).function.executions(#)",
                "",
                Other,
                "lambda_function_executions",
            ),
            ("speed", "m/s", Gauge, "speed_meters_per_second"),
            (
                "http.server.duration",
                "ms",
                Other,
                "http_server_duration_milliseconds",
            ),
            ("requests_total", "", Counter, "requests_total"),
            ("2xx.count", "", Gauge, "_2xx_count"),
            ("cpu.seconds", "s", Counter, "cpu_seconds_total"),
        ];
        for (name, unit, suffix, want) in cases {
            assert_eq!(metric_name(name, unit, suffix, None), want, "{name} {unit}");
        }
        assert_eq!(
            metric_name("claude_code.cost.usage", "USD", Counter, Some("team.a")),
            "team_a_claude_code_cost_usage_USD_total"
        );
    }

    #[test]
    fn without_suffixes_the_unit_and_ratio_are_left_off() {
        use Suffix::*;
        let cases = [
            (
                "claude_code.cost.usage",
                "USD",
                Counter,
                "claude_code_cost_usage_total",
            ),
            (
                "claude_code.token.usage",
                "tokens",
                Counter,
                "claude_code_token_usage_total",
            ),
            (
                "claude_code.active_time.total",
                "s",
                Counter,
                "claude_code_active_time_total",
            ),
            (
                "system.memory.utilization",
                "1",
                Gauge,
                "system_memory_utilization",
            ),
            ("http.server.duration", "ms", Other, "http_server_duration"),
            ("speed", "m/s", Gauge, "speed"),
        ];
        for (name, unit, suffix, want) in cases {
            assert_eq!(
                metric_name_with(name, unit, suffix, None, false),
                want,
                "{name} {unit}"
            );
        }
    }

    #[test]
    fn the_double_prefix_is_warned_about() {
        assert_eq!(double_prefix(None), None);
        assert_eq!(double_prefix(Some("cc")), None);
        assert_eq!(double_prefix(Some("claude_codes")), None);
        let w = double_prefix(Some("claude.code")).unwrap();
        assert!(
            w.contains("claude_code_claude_code_cost_usage_USD_total"),
            "{w}"
        );
        assert!(double_prefix(Some("team_claude_code")).is_some());
    }

    #[test]
    fn a_namespace_equal_to_the_prefix_doubles_it() {
        // The trap docs/prometheus.md warns about.
        assert_eq!(
            metric_name_with(
                "claude_code.cost.usage",
                "USD",
                Suffix::Counter,
                Some("claude_code"),
                false
            ),
            "claude_code_claude_code_cost_usage_total"
        );
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("session.id"), "session_id");
        assert_eq!(label_name("user.account_uuid"), "user_account_uuid");
        assert_eq!(label_name("9lives"), "key_9lives");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
        assert_eq!(label_name("héllo-wörld"), "h_llo_w_rld");
        assert_eq!(label_name(""), "key_");
    }
}
