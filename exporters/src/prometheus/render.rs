//! The store as Prometheus text (format 0.0.4) or OpenMetrics 1.0.0 text.
//! They differ where it matters here: OpenMetrics names a counter family
//! without `_total` (its samples keep it) and ends with `# EOF`.

use std::fmt::Write;

use super::store::{Family, Kind, Labels, Value};

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the scraper's `Accept` asks for it.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

pub fn render<'a>(
    families: impl IntoIterator<Item = (&'a String, &'a Family)>,
    format: Format,
) -> String {
    let mut out = String::new();
    for (name, family) in families {
        let family_name = match (format, family.kind) {
            (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name.as_str(),
        };
        if !family.help.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {family_name} {}",
                escape_help(&family.help, format)
            );
        }
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        };
        let _ = writeln!(out, "# TYPE {family_name} {kind}");
        for (labels, series) in &family.series {
            match &series.value {
                Value::Number(v) => sample(&mut out, name, labels, None, *v),
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                } => {
                    let bucket = format!("{name}_bucket");
                    let mut cumulative = 0u64;
                    for (bound, n) in bounds.iter().zip(counts) {
                        cumulative += n;
                        let le = number(*bound);
                        sample(
                            &mut out,
                            &bucket,
                            labels,
                            Some(("le", &le)),
                            cumulative as f64,
                        );
                    }
                    sample(
                        &mut out,
                        &bucket,
                        labels,
                        Some(("le", "+Inf")),
                        *count as f64,
                    );
                    sample(&mut out, &format!("{name}_sum"), labels, None, *sum);
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        *count as f64,
                    );
                }
                Value::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    for (q, v) in quantiles {
                        let q = number(*q);
                        sample(&mut out, name, labels, Some(("quantile", &q)), *v);
                    }
                    sample(&mut out, &format!("{name}_sum"), labels, None, *sum);
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        *count as f64,
                    );
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn sample(out: &mut String, name: &str, labels: &Labels, extra: Option<(&str, &str)>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        let pairs = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra);
        for (k, v) in pairs {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&number(value));
    out.push('\n');
}

/// A sample value or bound: Go's formatting where Prometheus needs it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, format: Format) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}
