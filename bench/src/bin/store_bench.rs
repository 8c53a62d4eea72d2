//! `store-bench`: the embedded store's figures (bench/README.md, "The store").
//!
//! - `ingest`: records per second into a fresh database, one request per
//!   transaction as the sqlite exporter writes them.
//! - `year`: a year of one heavy user's Claude Code telemetry (10M records
//!   by default) into a database, then every view query's time over it.
//! - `queries`: only the query timings, over an existing database.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ccpipe_store::ingest::Data;
use ccpipe_store::query::Filter;
use ccpipe_store::Store;
use clap::{Parser, Subcommand};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest `records` synthetic records into a fresh database; print records/s.
    Ingest {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
    },
    /// Write a year of data (`records` in all) into a fresh database, then time the queries.
    Year {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
    },
    /// Time every view query over an existing database.
    Queries {
        #[arg(long)]
        db: PathBuf,
    },
}

const DAY_MS: i64 = 86_400_000;
const TOOLS: [&str; 8] = [
    "Bash", "Read", "Edit", "Write", "Grep", "Glob", "WebFetch", "Task",
];
const MODELS: [&str; 3] = ["claude-opus-5-5", "claude-sonnet-5", "claude-haiku-5"];
/// Turns per request: a request holds ~10 turns' events (5 each) or points (6 each).
const TURNS_PER_REQUEST: u64 = 10;
const RECORDS_PER_TURN: u64 = 11;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "claude-code"),
            s("service.version", "2.1.330"),
            s("host.arch", "amd64"),
            s("os.type", "linux"),
            s("os.version", "6.18.44"),
            s("team", "platform"),
        ],
        ..Default::default()
    }
}

/// A cheap deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Where a session's turns happen.
struct Session {
    id: String,
    user: String,
    start_ms: i64,
    model: &'static str,
}

fn common(sess: &Session, seq: u64) -> Vec<KeyValue> {
    vec![
        s("user.id", &sess.user),
        s("session.id", &sess.id),
        s("terminal.type", "vscode"),
        s("anthropic.provider", "firstParty"),
        s("prompt.id", &format!("{}-{}", sess.id, seq / 5)),
        kv("event.sequence", any_value::Value::IntValue(seq as i64)),
    ]
}

fn event(sess: &Session, t_ms: i64, seq: u64, name: &str, mut extra: Vec<KeyValue>) -> LogRecord {
    let mut attributes = common(sess, seq);
    attributes.push(s("event.name", name));
    attributes.append(&mut extra);
    LogRecord {
        time_unix_nano: t_ms as u64 * 1_000_000,
        observed_time_unix_nano: t_ms as u64 * 1_000_000,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!("claude_code.{name}"))),
        }),
        attributes,
        ..Default::default()
    }
}

/// One turn's five events.
fn turn_events(sess: &Session, rng: &mut Rng, t_ms: i64, turn: u64) -> Vec<LogRecord> {
    let seq = turn * 5;
    let tool = TOOLS[rng.below(TOOLS.len() as u64) as usize];
    let api_ms = 300 + rng.below(4000);
    let tool_ms = 5 + rng.below(2000);
    let ok = rng.below(20) != 0;
    let mut out = vec![
        event(
            sess,
            t_ms,
            seq,
            "user_prompt",
            vec![s("prompt_length", "75"), s("prompt", "<REDACTED>")],
        ),
        event(
            sess,
            t_ms + 10,
            seq + 1,
            "api_request",
            vec![
                s("model", sess.model),
                s("input_tokens", "12"),
                s("output_tokens", "400"),
                s("cache_read_tokens", "24000"),
                s("cache_creation_tokens", "1600"),
                kv("cost_usd", any_value::Value::DoubleValue(0.0123)),
                s("duration_ms", &api_ms.to_string()),
                s("request_id", &format!("req_{turn:016x}")),
            ],
        ),
        event(
            sess,
            t_ms + 20,
            seq + 2,
            "tool_decision",
            vec![
                s("decision", "accept"),
                s("source", "config"),
                s("tool_name", tool),
            ],
        ),
        event(
            sess,
            t_ms + 30,
            seq + 3,
            "tool_result",
            vec![
                s("tool_name", tool),
                s("success", if ok { "true" } else { "false" }),
                s("duration_ms", &tool_ms.to_string()),
                s("tool_result_size_bytes", "1345"),
            ],
        ),
    ];
    // One turn in 50 is an API error instead of a response.
    if rng.below(50) == 0 {
        let status = [429, 500, 529][rng.below(3) as usize];
        out.push(event(
            sess,
            t_ms + 40,
            seq + 4,
            "api_error",
            vec![
                s("model", sess.model),
                s("error", "overloaded"),
                kv("status_code", any_value::Value::IntValue(status)),
                s("duration_ms", "900"),
            ],
        ));
    } else {
        out.push(event(
            sess,
            t_ms + 40,
            seq + 4,
            "assistant_response",
            vec![
                s("model", sess.model),
                s("response_length", "120"),
                s("response", "<REDACTED>"),
            ],
        ));
    }
    out
}

fn sum(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn point(sess: &Session, t_ms: i64, v: f64, extra: Vec<KeyValue>) -> NumberDataPoint {
    let mut attributes = vec![s("user.id", &sess.user), s("session.id", &sess.id)];
    attributes.extend(extra);
    NumberDataPoint {
        attributes,
        start_time_unix_nano: (t_ms - 60_000) as u64 * 1_000_000,
        time_unix_nano: t_ms as u64 * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

/// One turn's six points: cost, four token types, active time.
fn turn_metrics(sess: &Session, t_ms: i64) -> Vec<Metric> {
    let m = s("model", sess.model);
    let tokens = [
        ("input", 12.0),
        ("output", 400.0),
        ("cacheRead", 24000.0),
        ("cacheCreation", 1600.0),
    ]
    .map(|(k, v)| point(sess, t_ms, v, vec![m.clone(), s("type", k)]))
    .to_vec();
    vec![
        sum(
            "claude_code.cost.usage",
            vec![point(sess, t_ms, 0.0123, vec![m.clone()])],
        ),
        sum("claude_code.token.usage", tokens),
        sum(
            "claude_code.active_time.total",
            vec![point(sess, t_ms, 42.0, vec![s("type", "user")])],
        ),
    ]
}

fn logs(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "com.anthropic.claude_code.events".into(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Writes `records` records spread over `span_days` days ending now-ish;
/// returns (records written, time spent in the store).
fn generate(db: &Path, records: u64, span_days: i64) -> anyhow::Result<(u64, Duration)> {
    let _ = std::fs::remove_file(db);
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let mut store = Store::open(db).with_context(|| db.display().to_string())?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let turns = records / RECORDS_PER_TURN;
    let sessions_per_day = 20u64;
    let sessions = (span_days as u64 * sessions_per_day).max(1);
    let turns_per_session = (turns / sessions).max(TURNS_PER_REQUEST);
    let start = 1_767_225_600_000i64; // 2026-01-01
    let mut written = 0u64;
    let mut in_store = Duration::ZERO;
    let mut turn = 0u64;
    'sessions: for n in 0..sessions {
        let day = (n / sessions_per_day) as i64;
        let sess = Session {
            id: format!("{n:08x}-5e55-4000-8000-{:012x}", rng.below(1 << 40)),
            user: "c1a0de00000000000000000000000000000000000000000000000000000c0ffee".into(),
            start_ms: start
                + day * DAY_MS
                + (8 * 3_600_000)
                + (n % sessions_per_day) as i64 * 1_800_000,
            model: MODELS[(n % 7).min(2) as usize],
        };
        let mut t = sess.start_ms;
        for chunk in 0..turns_per_session / TURNS_PER_REQUEST {
            let mut events = Vec::new();
            let mut points = Vec::new();
            for i in 0..TURNS_PER_REQUEST {
                let k = chunk * TURNS_PER_REQUEST + i;
                events.extend(turn_events(&sess, &mut rng, t, k));
                points.extend(turn_metrics(&sess, t));
                t += 5_000;
                turn += 1;
            }
            let n_records = events.len() as u64
                + points
                    .iter()
                    .map(|m| match &m.data {
                        Some(metric::Data::Sum(s)) => s.data_points.len() as u64,
                        _ => 0,
                    })
                    .sum::<u64>();
            let (l, m) = (logs(events), metrics(points));
            let began = Instant::now();
            store.ingest(Data::Logs(&l))?;
            store.ingest(Data::Metrics(&m))?;
            in_store += began.elapsed();
            written += n_records;
            if written >= records {
                break 'sessions;
            }
        }
        if n % 500 == 0 && n > 0 {
            eprintln!(
                "  {written} records, {:.0}/s in the store",
                written as f64 / in_store.as_secs_f64()
            );
        }
    }
    let _ = turn;
    Ok((written, in_store))
}

/// CPU seconds (user + system) this process has used, from /proc (Linux):
/// on a shared machine the wall clock also counts other processes' turns.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime
    // are the 12th and 13th of them, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Median of five runs of `f`, in milliseconds.
fn time_ms(mut f: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn queries(db: &Path) -> anyhow::Result<()> {
    let store = Store::open_read_only(db)?;
    let last = store
        .sessions_by_start(&Filter::default())?
        .last()
        .map_or(0, |s| s.ended_ms);
    let ranges = [
        ("all (a year)", Filter::default()),
        (
            "last 30 days",
            Filter {
                from_ms: Some(last - 30 * DAY_MS),
                to_ms: Some(last + 1),
                ..Filter::default()
            },
        ),
        (
            "last 24 hours",
            Filter {
                from_ms: Some(last - DAY_MS),
                to_ms: Some(last + 1),
                ..Filter::default()
            },
        ),
        (
            "a year, model + team",
            Filter {
                model: Some(MODELS[0].into()),
                attrs: vec![("team".into(), "platform".into())],
                ..Filter::default()
            },
        ),
    ];
    let names: Vec<&str> = ranges.iter().map(|r| r.0).collect();
    println!("| query | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(ranges.len()));
    type Q = fn(&Store, &Filter) -> anyhow::Result<usize>;
    let qs: [(&str, Q); 9] = [
        ("summary", |s, f| Ok(s.summary(f).map(|_| 1)?)),
        ("daily", |s, f| Ok(s.daily(f)?.len())),
        ("sessions_daily", |s, f| Ok(s.sessions_daily(f)?.len())),
        ("tools", |s, f| Ok(s.tools(f)?.len())),
        ("api_requests", |s, f| Ok(s.api_requests(f)?.len())),
        ("code", |s, f| Ok(s.code(f)?.len())),
        ("top_sessions", |s, f| Ok(s.top_sessions(f, 20)?.len())),
        ("filters", |s, f| Ok(s.filters(f).map(|_| 1)?)),
        ("session (the costliest)", |s, f| {
            let top = s.top_sessions(f, 1)?;
            Ok(match top.first() {
                Some(t) => s.session(&t.session_id)?.map_or(0, |d| d.events.len()),
                None => 0,
            })
        }),
    ];
    for (name, q) in qs {
        let cells: Vec<String> = ranges
            .iter()
            .map(|(_, f)| {
                let mut err = None;
                let ms = time_ms(|| {
                    if let Err(e) = q(&store, f) {
                        err = Some(e);
                    }
                });
                match err {
                    Some(e) => format!("error: {e}"),
                    None => format!("{ms:.1} ms"),
                }
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Ingest { db, records } => {
            let cpu = cpu_seconds();
            let (n, t) = generate(&db, records, 30)?;
            let cpu = cpu_seconds() - cpu;
            println!(
                "ingest: {n} records in {:.1} s wall in the store ({:.0} records/s); \
                 {cpu:.1} CPU s for everything, making the requests included ({:.0} records per CPU second)",
                t.as_secs_f64(),
                n as f64 / t.as_secs_f64(),
                n as f64 / cpu
            );
        }
        Cmd::Year { db, records } => {
            let cpu = cpu_seconds();
            let (n, t) = generate(&db, records, 365)?;
            let cpu = cpu_seconds() - cpu;
            let size = std::fs::metadata(&db).map_or(0, |m| m.len());
            println!(
                "year: {n} records in {:.1} s wall in the store ({:.0} records/s, \
                 {:.0} per CPU second); {:.2} GB",
                t.as_secs_f64(),
                n as f64 / t.as_secs_f64(),
                n as f64 / cpu,
                size as f64 / 1e9
            );
            queries(&db)?;
        }
        Cmd::Queries { db } => queries(&db)?,
    }
    Ok(())
}
