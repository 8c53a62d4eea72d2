//! loadgen: pushes Claude-Code-shaped OTLP log requests at a server on 127.0.0.1
//! for a fixed time and reports throughput, latency and the server's CPU and memory.
//!
//!   loadgen --protocol grpc --records 100 --addr 127.0.0.1:4317 --server-pid 1234
//!
//! Prints one JSON line on stdout and one readable line on stderr.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use ccpipe_bench::client::{http1_request, Answer, GrpcConn, Http1Conn};
use ccpipe_bench::proc;
use ccpipe_bench::request::{Bodies, RecordPool};
use clap::{Parser, ValueEnum};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    HttpProtobuf,
    HttpJson,
    Grpc,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http-protobuf",
            Self::HttpJson => "http-json",
            Self::Grpc => "grpc",
        }
    }
}

/// Pushes Claude-Code-shaped OTLP log requests at an OTLP endpoint on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Args {
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "http-protobuf")]
    protocol: Protocol,
    /// Log records per request (the captured records, cycled).
    #[arg(long, default_value_t = 100)]
    records: usize,
    /// Concurrent keep-alive connections, each sending back to back.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Length of the measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Load before the measured window (not counted).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Server address; must be a loopback address. Default 127.0.0.1:4318 for
    /// HTTP, 127.0.0.1:4317 for gRPC.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// HTTP path for logs.
    #[arg(long, default_value = "/v1/logs")]
    path: String,
    /// Folder of the Claude Code captures (holding http-protobuf/otlp/*-logs.bin).
    #[arg(long)]
    captures: Option<PathBuf>,
    /// Server process to account: CPU seconds in the measured window and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A name for the server, copied into the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Give up on one request after this long (the connection is reopened).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

#[derive(Debug, Default)]
struct WorkerStats {
    ok: u64,
    failures: BTreeMap<String, u64>,
    latencies_ns: Vec<u64>,
    first_error: Option<String>,
}

impl WorkerStats {
    fn fail(&mut self, counted: bool, label: &str, err: Option<String>) {
        if counted {
            *self.failures.entry(label.to_string()).or_default() += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(err.unwrap_or_else(|| label.to_string()));
        }
    }
}

enum Conn {
    Http(Http1Conn),
    Grpc(GrpcConn),
}

#[derive(Clone)]
struct Target {
    protocol: Protocol,
    addr: SocketAddr,
    payload: Bytes,
}

impl Target {
    async fn connect(&self) -> Result<Conn> {
        Ok(match self.protocol {
            Protocol::Grpc => Conn::Grpc(GrpcConn::connect(self.addr, self.payload.clone()).await?),
            _ => Conn::Http(Http1Conn::connect(self.addr, self.payload.clone()).await?),
        })
    }
}

impl Conn {
    async fn send(&mut self) -> Result<Answer> {
        match self {
            Self::Http(c) => c.send().await,
            Self::Grpc(c) => c.send().await,
        }
    }
}

async fn worker(target: Target, window: Window, timeout: Duration) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut conn: Option<Conn> = None;
    while Instant::now() < window.end {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match target.connect().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    let now = Instant::now();
                    stats.fail(
                        now >= window.start && now <= window.end,
                        "connect",
                        Some(format!("connect: {e:#}")),
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        let res = tokio::time::timeout(timeout, c.send()).await;
        let t1 = Instant::now();
        let counted = t0 >= window.start && t1 <= window.end;
        match res {
            Ok(Ok(answer)) => {
                match answer.failure {
                    None if counted => {
                        stats.ok += 1;
                        stats.latencies_ns.push((t1 - t0).as_nanos() as u64);
                    }
                    None => {}
                    Some(label) => stats.fail(counted, &label, None),
                }
                if !answer.keep_alive {
                    conn = None;
                }
            }
            Ok(Err(e)) => {
                stats.fail(counted, "io", Some(format!("{e:#}")));
                conn = None;
            }
            Err(_) => {
                stats.fail(counted, "timeout", None);
                conn = None;
            }
        }
    }
    stats
}

fn default_captures() -> PathBuf {
    // <workspace>/tests/fixtures/claude-code/captures; the workspace is bench/..
    let from_build =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/claude-code/captures");
    if from_build.is_dir() {
        return from_build;
    }
    PathBuf::from("tests/fixtures/claude-code/captures")
}

fn percentile_ms(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1e6
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.records == 0 || args.connections == 0 {
        bail!("--records and --connections must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let addr = args.addr.unwrap_or_else(|| match args.protocol {
        Protocol::Grpc => SocketAddr::from(([127, 0, 0, 1], 4317)),
        _ => SocketAddr::from(([127, 0, 0, 1], 4318)),
    });
    if !addr.ip().is_loopback() {
        bail!("loadgen only targets loopback addresses, not {addr}");
    }

    let captures = args.captures.clone().unwrap_or_else(default_captures);
    let pool = RecordPool::load(&captures)?;
    let bodies = Bodies::new(&pool.build(args.records));
    let (payload, body_bytes) = match args.protocol {
        Protocol::HttpProtobuf => (
            http1_request(addr, &args.path, "application/x-protobuf", &bodies.protobuf),
            bodies.protobuf.len(),
        ),
        Protocol::HttpJson => (
            http1_request(addr, &args.path, "application/json", &bodies.json),
            bodies.json.len(),
        ),
        Protocol::Grpc => (bodies.grpc.clone(), bodies.grpc.len()),
    };
    let target = Target {
        protocol: args.protocol,
        addr,
        payload,
    };
    let server = args.server_pid.map(|p| p.to_string());
    if let Some(pid) = &server {
        proc::cpu_ticks(pid).with_context(|| format!("--server-pid {pid}"))?;
    }
    let (clk_tck, clk_source) = proc::clock_ticks();

    // One thread: the client stays cheap and fits on one pinned core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        // Fail fast if nothing listens.
        drop(
            target
                .connect()
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        );
        let begin = Instant::now();
        let window = Window {
            start: begin + args.warmup,
            end: begin + args.warmup + args.duration,
        };
        let workers: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(worker(target.clone(), window, args.timeout)))
            .collect();

        tokio::time::sleep_until(window.start).await;
        let t_start = Instant::now();
        let server_start = server.as_deref().map(proc::cpu_ticks).transpose()?;
        let self_start = proc::cpu_ticks("self")?;
        tokio::time::sleep_until(window.end).await;
        let elapsed = t_start.elapsed().as_secs_f64();
        let server_end = server.as_deref().map(proc::cpu_ticks).transpose()?;
        let self_end = proc::cpu_ticks("self")?;
        let rss = server.as_deref().map(proc::peak_rss_mib).transpose()?;

        let mut total = WorkerStats::default();
        let grace = Instant::now() + args.timeout + Duration::from_secs(1);
        for w in workers {
            let abort = w.abort_handle();
            match tokio::time::timeout_at(grace, w).await {
                Ok(Ok(s)) => {
                    total.ok += s.ok;
                    total.latencies_ns.extend(s.latencies_ns);
                    for (k, v) in s.failures {
                        *total.failures.entry(k).or_default() += v;
                    }
                    total.first_error = total.first_error.or(s.first_error);
                }
                Ok(Err(e)) => bail!("a worker failed: {e}"),
                Err(_) => abort.abort(),
            }
        }
        total.latencies_ns.sort_unstable();
        anyhow::Ok((
            total,
            elapsed,
            server_start.zip(server_end),
            (self_start, self_end),
            rss,
        ))
    })?;
    let (total, _elapsed, server_ticks, self_ticks, rss) = report;
    let secs = args.duration.as_secs_f64();
    let failed: u64 = total.failures.values().sum();
    let records_ok = total.ok * args.records as u64;
    let records_per_s = records_ok as f64 / secs;
    let server_cpu_s = server_ticks.map(|(a, b)| b.saturating_sub(a) as f64 / clk_tck as f64);
    let cpu_us_per_record = server_cpu_s
        .filter(|_| records_ok > 0)
        .map(|s| s * 1e6 / records_ok as f64);
    let client_cpu = self_ticks.1.saturating_sub(self_ticks.0) as f64 / clk_tck as f64 / secs;
    let lat = &total.latencies_ns;
    let (p50, p99, max) = (
        percentile_ms(lat, 50.0),
        percentile_ms(lat, 99.0),
        lat.last().map_or(0.0, |n| *n as f64 / 1e6),
    );

    let json = serde_json::json!({
        "label": args.label,
        "protocol": args.protocol.name(),
        "records_per_request": args.records,
        "body_bytes": body_bytes,
        "connections": args.connections,
        "warmup_s": args.warmup.as_secs_f64(),
        "duration_s": secs,
        "requests_ok": total.ok,
        "requests_failed": failed,
        "failures": total.failures,
        "records_per_s": round(records_per_s, 1),
        "latency_ms": { "p50": round(p50, 3), "p99": round(p99, 3), "max": round(max, 3) },
        "server_pid": args.server_pid,
        "server_cpu_s": server_cpu_s.map(|s| round(s, 3)),
        "server_cpu_cores": server_cpu_s.map(|s| round(s / secs, 3)),
        "cpu_us_per_record": cpu_us_per_record.map(|c| round(c, 3)),
        "server_peak_rss_mb": rss.map(|r| round(r, 1)),
        "client_cpu_cores": round(client_cpu, 3),
        "clk_tck": clk_tck,
        "clk_tck_source": clk_source,
    });
    println!("{json}");

    let mut line = format!(
        "{label}{proto} {n} rec/req x{c} conn, {secs:.0}s: {ok} ok, {failed} failed, \
         {rps:.0} records/s, latency p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms",
        label = if args.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", args.label)
        },
        proto = args.protocol.name(),
        n = args.records,
        c = args.connections,
        ok = total.ok,
        rps = records_per_s,
    );
    if let (Some(cpu), Some(rss)) = (server_cpu_s, rss) {
        line += &format!(
            "; server {:.2} cores, {} µs/record, peak RSS {rss:.1} MB",
            cpu / secs,
            cpu_us_per_record.map_or("-".to_string(), |c| format!("{c:.3}")),
        );
    }
    line += &format!("; client {client_cpu:.2} cores");
    if clk_source == "assumed" {
        line += " (CLK_TCK unknown, assumed 100)";
    }
    eprintln!("{line}");
    if failed > 0 || total.ok == 0 {
        if let Some(e) = &total.first_error {
            eprintln!("first error: {e}; failures: {:?}", total.failures);
        }
    }
    if total.ok == 0 {
        bail!("no request succeeded in the measured window");
    }
    Ok(())
}
