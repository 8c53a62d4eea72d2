//! `ccpipe usage`: daily, monthly and per-session cost and tokens from the
//! embedded store, as terminal tables or `--json`, like ccusage but from
//! telemetry (so it also covers everyone behind a team gateway).
//!
//! Days are UTC. `--since`/`--until` are inclusive UTC days. The database is
//! opened read-only, so this works while ccpipe writes it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ccpipe_pipeline::config::Config;
use ccpipe_store::query::{day_start_ms, DailyCost, Filter, SessionRow, Tokens};
use ccpipe_store::Store;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    report: Option<Report>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// First UTC day to include (YYYY-MM-DD).
    #[arg(long, global = true, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    since: Option<i64>,
    /// Last UTC day to include (YYYY-MM-DD).
    #[arg(long, global = true, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    until: Option<i64>,
    /// A row per model under each day or month.
    #[arg(long, global = true)]
    breakdown: bool,
    /// Only this user (user.id).
    #[arg(long, global = true)]
    user: Option<String>,
    /// Only this model.
    #[arg(long, global = true)]
    model: Option<String>,
    /// The store database. Default: the sqlite exporter's path in --config,
    /// else $XDG_DATA_HOME/ccpipe/ccpipe.db or ~/.local/share/ccpipe/ccpipe.db.
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
enum Report {
    /// Cost and tokens per UTC day (the default).
    Daily,
    /// Cost and tokens per month.
    Monthly,
    /// Cost and tokens per session, earliest first.
    Session,
}

fn parse_day(s: &str) -> Result<i64, String> {
    day_start_ms(s).ok_or_else(|| format!("{s:?} is not a date as YYYY-MM-DD"))
}

/// The database to read: `--db`, else the one sqlite exporter of the
/// config, else the per-user default.
fn db_path(args: &Args, config: Option<&Config>) -> Result<PathBuf, String> {
    if let Some(p) = &args.db {
        return Ok(p.clone());
    }
    if let Some(config) = config {
        let paths: Vec<PathBuf> = config
            .exporters
            .iter()
            .filter(|(id, _)| id.type_name() == "sqlite")
            .filter_map(|(_, c)| c.parse::<ccpipe_exporters::sqlite::SqliteConfig>().ok())
            .filter_map(|c| c.settings().ok())
            .map(|s| s.path)
            .collect();
        match paths.as_slice() {
            [one] => return Ok(one.clone()),
            [] => {}
            _ => {
                return Err("the config has several sqlite exporters: choose one with --db".into())
            }
        }
    }
    ccpipe_store::default_path().ok_or_else(|| {
        "neither XDG_DATA_HOME nor HOME is set to find the store: give --db PATH".into()
    })
}

/// One row of a daily or monthly report.
#[derive(Debug, Clone, Default, Serialize)]
struct Row {
    period: String,
    /// Set on breakdown rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    cost_usd: f64,
    tokens: Tokens,
    total_tokens: i64,
    models: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    breakdown: Vec<Row>,
}

impl Row {
    fn add(&mut self, d: &DailyCost) {
        self.cost_usd += d.cost_usd;
        self.tokens.input += d.tokens.input;
        self.tokens.output += d.tokens.output;
        self.tokens.cache_read += d.tokens.cache_read;
        self.tokens.cache_creation += d.tokens.cache_creation;
        self.total_tokens = self.tokens.total();
        if !d.model.is_empty() && !self.models.contains(&d.model) {
            self.models.push(d.model.clone());
        }
    }
}

#[derive(Debug, Serialize)]
struct Totals {
    cost_usd: f64,
    tokens: Tokens,
    total_tokens: i64,
    /// Sessions started in the range (claude_code.session.count).
    sessions: i64,
}

/// Daily or monthly rows: `key` cuts a day (`YYYY-MM-DD`) to its period.
fn periods(days: &[DailyCost], key: fn(&str) -> &str, breakdown: bool) -> Vec<Row> {
    let mut rows: BTreeMap<String, (Row, BTreeMap<String, Row>)> = BTreeMap::new();
    for d in days {
        let period = key(&d.day).to_owned();
        let (row, models) = rows.entry(period.clone()).or_default();
        row.period = period.clone();
        row.add(d);
        let m = models.entry(d.model.clone()).or_default();
        m.period = period;
        m.model = Some(d.model.clone());
        m.add(d);
    }
    rows.into_values()
        .map(|(mut row, models)| {
            if breakdown {
                row.breakdown = models.into_values().collect();
            }
            row
        })
        .collect()
}

/// Runs `ccpipe usage`; `config` is the loaded --config, if one was given.
pub fn run(args: &Args, config: Option<&Config>) -> ExitCode {
    match report(args, config) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ccpipe usage: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(args: &Args, config: Option<&Config>) -> Result<String, String> {
    if let (Some(a), Some(b)) = (args.since, args.until) {
        if a > b {
            return Err("--since is after --until".into());
        }
    }
    let path = db_path(args, config)?;
    let store = Store::open_read_only(&path).map_err(|e| e.to_string())?;
    let filter = Filter {
        from_ms: args.since,
        to_ms: args.until.map(|d| d + 86_400_000),
        user: args.user.clone(),
        model: args.model.clone(),
        attrs: Vec::new(),
    };
    let err = |e: ccpipe_store::StoreError| e.to_string();
    let summary = store.summary(&filter).map_err(err)?;
    let totals = Totals {
        cost_usd: summary.cost_usd,
        tokens: summary.tokens,
        total_tokens: summary.tokens.total(),
        sessions: summary.sessions,
    };
    let report = args.report.unwrap_or(Report::Daily);
    if let Report::Session = report {
        let sessions = store.sessions_by_start(&filter).map_err(err)?;
        return Ok(if args.json {
            json(&serde_json::json!({ "sessions": sessions, "totals": totals }))
        } else {
            session_table(&sessions, &totals)
        });
    }
    let days = store.daily(&filter).map_err(err)?;
    let (name, key): (&str, fn(&str) -> &str) = match report {
        Report::Monthly => ("monthly", |d| &d[..7]),
        _ => ("daily", |d| d),
    };
    let rows = periods(&days, key, args.breakdown);
    Ok(if args.json {
        json(&serde_json::json!({ name: rows, "totals": totals }))
    } else {
        let title = if name == "daily" {
            "Day (UTC)"
        } else {
            "Month"
        };
        period_table(title, &rows, &totals)
    })
}

fn json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("plain values serialise");
    s.push('\n');
    s
}

/// `1234567` as `1,234,567`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    // The leading group holds 1 to 3 digits; every later one 3.
    let head = match digits.len() % 3 {
        0 => 3,
        short => short,
    }
    .min(digits.len());
    let mut out = digits[..head].to_owned();
    let mut at = head;
    while at < digits.len() {
        out.push(',');
        out.push_str(&digits[at..at + 3]);
        at += 3;
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A table with the first columns left-aligned and the rest right-aligned.
fn table(header: &[&str], left: usize, rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w - c.chars().count();
            if i < left {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// `first` cells, then the token counts and the cost.
fn with_sums(mut first: Vec<String>, t: &Tokens, cost_usd: f64) -> Vec<String> {
    first.extend(token_cells(t));
    first.push(format!("${cost_usd:.2}"));
    first
}

fn token_cells(t: &Tokens) -> [String; 5] {
    [
        grouped(t.input),
        grouped(t.output),
        grouped(t.cache_read),
        grouped(t.cache_creation),
        grouped(t.total()),
    ]
}

fn sessions_note(n: i64) -> String {
    match n {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    }
}

fn period_table(title: &str, rows: &[Row], totals: &Totals) -> String {
    let mut cells = Vec::new();
    for r in rows {
        cells.push(with_sums(
            vec![r.period.clone(), r.models.join(", ")],
            &r.tokens,
            r.cost_usd,
        ));
        for b in &r.breakdown {
            cells.push(with_sums(
                vec![
                    String::new(),
                    format!("  {}", b.model.as_deref().unwrap_or("")),
                ],
                &b.tokens,
                b.cost_usd,
            ));
        }
    }
    cells.push(with_sums(
        vec!["Total".to_owned(), sessions_note(totals.sessions)],
        &totals.tokens,
        totals.cost_usd,
    ));
    table(
        &[
            title,
            "Models",
            "Input",
            "Output",
            "Cache read",
            "Cache write",
            "Total tokens",
            "Cost (USD)",
        ],
        2,
        &cells,
    )
}

fn utc_time(ms: i64) -> String {
    let day = ccpipe_store::query::day_of(ms);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    format!("{day} {:02}:{:02}", secs / 3600, secs / 60 % 60)
}

fn session_table(sessions: &[SessionRow], totals: &Totals) -> String {
    let mut cells = Vec::new();
    for s in sessions {
        cells.push(with_sums(
            vec![
                s.session_id.clone(),
                utc_time(s.started_ms),
                utc_time(s.ended_ms),
                s.models.join(", "),
            ],
            &s.tokens,
            s.cost_usd,
        ));
    }
    cells.push(with_sums(
        vec![
            "Total".to_owned(),
            String::new(),
            String::new(),
            sessions_note(sessions.len() as i64),
        ],
        &totals.tokens,
        totals.cost_usd,
    ));
    table(
        &[
            "Session",
            "Started (UTC)",
            "Last activity",
            "Models",
            "Input",
            "Output",
            "Cache read",
            "Cache write",
            "Total tokens",
            "Cost (USD)",
        ],
        4,
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-12_345), "-12,345");
    }

    #[test]
    fn days_group_into_months_with_a_row_per_model() {
        let day = |d: &str, m: &str, cost: f64, input: i64| DailyCost {
            day: d.into(),
            model: m.into(),
            cost_usd: cost,
            tokens: Tokens {
                input,
                ..Tokens::default()
            },
        };
        let days = [
            day("2026-10-31", "a", 1.0, 10),
            day("2026-11-01", "a", 2.0, 20),
            day("2026-11-02", "b", 4.0, 40),
        ];
        let rows = periods(&days, |d| &d[..7], true);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].period, "2026-11");
        assert_eq!(rows[1].cost_usd, 6.0);
        assert_eq!(rows[1].tokens.input, 60);
        assert_eq!(rows[1].models, ["a", "b"]);
        assert_eq!(rows[1].breakdown.len(), 2);
        assert_eq!(rows[1].breakdown[1].model.as_deref(), Some("b"));
        assert!(periods(&days, |d| d, false)
            .iter()
            .all(|r| r.breakdown.is_empty()));
    }

    #[test]
    fn since_and_until_take_only_real_dates() {
        assert_eq!(parse_day("2026-11-21"), Ok(1_795_219_200_000));
        assert!(parse_day("2026-02-30").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
