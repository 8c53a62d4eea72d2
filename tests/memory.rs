//! Bounded memory and no wedge, on the real binary over 127.0.0.1 (issue 12,
//! items 5-9 and the smaller ones): bodies in flight count against
//! `memory_limit_mib` and memory goes back after the clients leave; stalled
//! gRPC messages time out; silent sockets cannot use up `max_connections`;
//! SIGTERM does not wait for a socket that never spoke; config values that
//! used to panic are refused by `validate`; `Retry-After: 0` waits the
//! backoff; partial-success counts are clamped; secret query parameters are
//! masked; OTLP/JSON duplicate keys are refused.
//!
//! Memory figures are bounds with generous headroom over the idle resident
//! set, never timings; every wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::agent::{peak_rss, post_body, read_request, request, rss};
use common::process::{bin, Ccpipe};
use common::{temp_dir, write_config};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use prost::Message;

const MIB: u64 = 1 << 20;
/// Admin listeners off, so tests can run side by side.
const QUIET: &str = r#"  telemetry: { metrics: { address: "" } }
  health: { address: "" }"#;

fn start(name: &str, yaml: &str) -> Ccpipe {
    Ccpipe::start(&write_config(&temp_dir(name), yaml))
}

/// ccpipe with an `otlp` receiver of `protocols` (a YAML flow mapping's
/// entries) and `service` settings, exporting logs to `nop`.
fn start_to_nop(name: &str, protocols: &str, service: &str) -> Ccpipe {
    start(
        name,
        &format!(
            "receivers:\n  otlp:\n    protocols: {{ {protocols} }}\nexporters: {{ nop: {{}} }}\nservice:\n{service}{QUIET}\n  pipelines: {{ logs: {{ receivers: [otlp], exporters: [nop] }} }}\n"
        ),
    )
}

/// Polls `done` every 100 ms until it holds or `within` passes.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------- item 6: idle sockets

/// Raises this process's open-file limit (ccpipe inherits it) toward
/// `want`, as far as the hard limit allows; the soft limit now.
fn raise_open_files(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let target = want.min(limit.maximum.unwrap_or(u64::MAX));
    if limit.current.is_some_and(|now| now < target) {
        limit.current = Some(target);
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[test]
fn silent_sockets_do_not_lock_out_real_clients() {
    // All of max_connections (1024 by default) silent on each port; fewer,
    // with max_connections lowered to match, where the open-file limit
    // cannot be raised that far.
    let files = raise_open_files(4096);
    let slots = usize::try_from(files.saturating_sub(256) / 2)
        .unwrap_or(1024)
        .min(1024);
    let ccpipe = start(
        "mem-silent",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", read_timeout: 2s }}
      http: {{ endpoint: "127.0.0.1:0", read_header_timeout: 2s }}
    max_connections: {slots}
exporters: {{ nop: {{}} }}
service:
{QUIET}
  pipelines: {{ logs: {{ receivers: [otlp], exporters: [nop] }} }}
"#
        ),
    );
    let (http, grpc) = (ccpipe.http.unwrap(), ccpipe.grpc.unwrap());
    // None of these ever sends a byte.
    let silent: Vec<TcpStream> = (0..slots)
        .flat_map(|_| [TcpStream::connect(http), TcpStream::connect(grpc)])
        .map(Result::unwrap)
        .collect();

    // A real HTTP client behind them is served once the silent ones time
    // out (post_body gives up after 10 s; before the fix it never was).
    let answer = post_body(&mut None, http, &request(&["after-silence".into()], 0));
    assert_eq!(answer.map(|a| a.status), Some(200), "{}", ccpipe.stderr());

    // And a real gRPC client.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let exported = runtime.block_on(async {
        use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        let call = async {
            let mut client = LogsServiceClient::connect(format!("http://{grpc}")).await?;
            let request = ExportLogsServiceRequest::decode(&request(&["grpc".into()], 0)[..])?;
            client.export(request).await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        };
        match tokio::time::timeout(Duration::from_secs(20), call).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("no answer in 20 s".to_owned()),
        }
    });
    assert_eq!(exported, Ok(()), "{}", ccpipe.stderr());

    // The silent sockets were closed by ccpipe, not left to hold a slot.
    let mut first = &silent[0];
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    match first.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the silent socket is still open: {other:?}"),
    }
}

#[test]
fn sigterm_with_a_silent_grpc_socket_stops_at_once() {
    let ccpipe = start_to_nop(
        "mem-sigterm",
        r#"grpc: { endpoint: "127.0.0.1:0" }"#,
        "  shutdown_timeout: 20s\n",
    );
    let silent = TcpStream::connect(ccpipe.grpc.unwrap()).unwrap();
    // Give the accept loop a moment to take the connection.
    std::thread::sleep(Duration::from_millis(300));
    ccpipe.signal("TERM");
    // Well under shutdown_timeout (20 s), which it used to wait out.
    let (status, stderr) = ccpipe.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("aborting exports"), "{stderr}");
    drop(silent);
}

// ------------------------------------------------- item 5: bodies in flight

/// A gRPC stream that declares a `declared`-byte message and sends `sent`
/// bytes of it, then stalls. The answer's grpc-status, once it comes.
async fn stalled_export(
    send: &mut h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    declared: usize,
    sent: usize,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let request = http::Request::post(format!(
        "http://{addr}/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut stream) = send.send_request(request, false).unwrap();
    let mut frame = Vec::with_capacity(5 + sent);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(declared).unwrap().to_be_bytes());
    frame.resize(5 + sent, b'x');
    stream.send_data(Bytes::from(frame), false).unwrap();
    (response, stream)
}

/// The grpc-status of an answer: in its headers (trailers-only) or trailers.
async fn grpc_status(response: h2::client::ResponseFuture) -> Option<String> {
    let response = response.await.ok()?;
    let text = |v: &http::HeaderValue| v.to_str().unwrap_or("?").to_owned();
    if let Some(status) = response.headers().get("grpc-status") {
        return Some(text(status));
    }
    let mut body = response.into_body();
    while let Some(data) = body.data().await {
        let data = data.ok()?;
        let _ = body.flow_control().release_capacity(data.len());
    }
    let trailers = body.trailers().await.ok()??;
    trailers.get("grpc-status").map(text)
}

async fn h2_connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    send.ready().await.unwrap()
}

#[test]
fn stalled_grpc_messages_time_out() {
    let ccpipe = start_to_nop(
        "mem-grpc-stall",
        r#"grpc: { endpoint: "127.0.0.1:0", read_timeout: 1s }"#,
        "",
    );
    let addr = ccpipe.grpc.unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let mut send = h2_connect(addr).await;
        let (response, _stream) = stalled_export(&mut send, addr, 1000, 100).await;
        // Before the fix no answer ever came.
        tokio::time::timeout(Duration::from_secs(15), grpc_status(response)).await
    });
    assert_eq!(
        status,
        Ok(Some("4".to_owned())),
        "DEADLINE_EXCEEDED after read_timeout\n{}",
        ccpipe.stderr()
    );
}

/// What ccpipe may hold beyond its idle resident set while bodies are read:
/// `memory_limit_mib` (32 MiB) of counted bodies, plus what is in flight
/// past the count (a socket buffer and one read per connection, tonic's
/// and hyper's buffers) and the allocator's slack: the bound allows as
/// much again plus 16 MiB. Without the count, the same clients took
/// 160-320 MiB.
const LIMIT_MIB: u64 = 32;
fn in_flight_bound(idle: u64) -> u64 {
    idle + 2 * LIMIT_MIB * MIB + 16 * MIB
}

#[test]
fn grpc_messages_in_flight_count_against_the_memory_limit() {
    let ccpipe = start_to_nop(
        "mem-grpc-flight",
        r#"grpc: { endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 8, read_timeout: 20s }"#,
        &format!("  memory_limit_mib: {LIMIT_MIB}\n"),
    );
    let addr = ccpipe.grpc.unwrap();
    let pid = ccpipe.pid();
    let idle = rss(pid);
    const STREAMS: usize = 40;
    const SIZE: usize = 4 << 20;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses = runtime.block_on(async {
        let mut send = h2_connect(addr).await;
        let mut open = Vec::new();
        for _ in 0..STREAMS {
            send = send.ready().await.unwrap();
            open.push(stalled_export(&mut send, addr, SIZE, SIZE - 1024).await);
        }
        // Answers come as the limit refuses messages; the rest stall until
        // read_timeout. Everything has been sent or refused by then.
        let mut statuses = Vec::new();
        for (response, stream) in open {
            let status = tokio::time::timeout(Duration::from_secs(40), grpc_status(response)).await;
            statuses.push(status.ok().flatten());
            drop(stream);
        }
        statuses
    });
    let peak = peak_rss(pid);
    eprintln!(
        "gRPC in flight: idle {} MiB, peak {} MiB, statuses {statuses:?}",
        idle / MIB,
        peak / MIB
    );
    assert!(
        peak <= in_flight_bound(idle),
        "peak RSS {} MiB with {STREAMS} x 4 MiB messages in flight: over idle {} MiB + the bound",
        peak / MIB,
        idle / MIB
    );
    let unavailable = statuses
        .iter()
        .filter(|s| s.as_deref() == Some("14"))
        .count();
    assert!(
        unavailable > 0,
        "some messages were refused UNAVAILABLE at the limit: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| matches!(s.as_deref(), Some("14" | "4"))),
        "every stalled message answered UNAVAILABLE or DEADLINE_EXCEEDED: {statuses:?}"
    );
}

/// One HTTP/1 upload that declares `len` bytes, sends all but 1 KiB, and
/// stalls until `release`; the status ccpipe answered, if it did (a 503 is
/// also counted in `refused` as it arrives).
fn stalled_upload(
    addr: SocketAddr,
    len: usize,
    sent: &Barrier,
    release: &AtomicBool,
    refused: &AtomicUsize,
) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {len}\r\n\r\n"
    );
    let chunk = vec![b'x'; 64 << 10];
    let mut written = s.write_all(head.as_bytes()).is_ok();
    let mut left = len - 1024;
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    while written && left > 0 {
        let n = left.min(chunk.len());
        written = s.write_all(&chunk[..n]).is_ok();
        left -= n;
    }
    sent.wait();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    while !release.load(Ordering::SeqCst) {
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => break,
            Ok(_) => break,
            Err(_) => continue,
        }
    }
    let status = line.split_whitespace().nth(1)?.parse().ok();
    if status == Some(503) {
        refused.fetch_add(1, Ordering::SeqCst);
    }
    status
}

#[test]
fn http_bodies_in_flight_count_against_the_memory_limit_and_memory_comes_back() {
    let ccpipe = start_to_nop(
        "mem-http-flight",
        r#"http: { endpoint: "127.0.0.1:0", read_timeout: 60s }"#,
        &format!("  memory_limit_mib: {LIMIT_MIB}\n"),
    );
    let addr = ccpipe.http.unwrap();
    let pid = ccpipe.pid();
    let idle = rss(pid);
    const CLIENTS: usize = 40;
    const SIZE: usize = 8 << 20;
    let sent = Arc::new(Barrier::new(CLIENTS + 1));
    let release = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, release, refused) = (sent.clone(), release.clone(), refused.clone());
            std::thread::spawn(move || stalled_upload(addr, SIZE, &sent, &release, &refused))
        })
        .collect();
    // Every client has sent what it could: the bodies are in flight now
    // (much of each still in the kernel's socket buffers). The receiver
    // reads them as its intake share and `backpressure_wait` (0.5 s) let
    // it, and refuses those that would take it past the limit: wait for the
    // first refusal (bounded), not a fixed time; clients released at once
    // saw none in 1 of ~10 runs.
    sent.wait();
    let saw_refusal = eventually(Duration::from_secs(20), || {
        refused.load(Ordering::SeqCst) > 0
    });
    let peak = peak_rss(pid);
    release.store(true, Ordering::SeqCst);
    let answers: Vec<Option<u16>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    eprintln!(
        "HTTP in flight: idle {} MiB, peak {} MiB, answers {answers:?}",
        idle / MIB,
        peak / MIB
    );
    assert!(
        peak <= in_flight_bound(idle),
        "peak RSS {} MiB with {CLIENTS} x 8 MiB uploads in flight: over idle {} MiB + the bound",
        peak / MIB,
        idle / MIB
    );
    assert!(
        saw_refusal && answers.contains(&Some(503)),
        "uploads past the limit are refused 503: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| matches!(a, None | Some(503))),
        "a stalled upload is answered 503 or not at all: {answers:?}"
    );

    // The clients are gone: the memory goes back, and ccpipe still serves.
    // Kept before malloc_trim: ~300 MB. Session 6 (one allocation per body)
    // settled 2-17 MiB above idle, by when the 5 s trim ran: after the first
    // 8 MiB body was freed glibc served later ones from its arenas (its mmap
    // threshold rises to the largest block freed). With the threshold fixed
    // at 1 MiB (src/main.rs) each body is unmapped when freed: 2-4 MiB above
    // idle within 0.1 s of the clients leaving in 7 of 7 runs (the first
    // sample, while the last bodies were let go, up to 11), so 8 MiB.
    let settled = eventually(Duration::from_secs(30), || rss(pid) <= idle + 8 * MIB);
    eprintln!(
        "HTTP in flight: RSS {} MiB after the clients left",
        rss(pid) / MIB
    );
    assert!(
        settled,
        "RSS {} MiB after the clients left, idle was {} MiB",
        rss(pid) / MIB,
        idle / MIB
    );
    let answer = post_body(&mut None, addr, &request(&["after".into()], 0));
    assert_eq!(answer.map(|a| a.status), Some(200));
}

// ------------------------------------------ item 7: overload, large requests

/// Records per request and bytes per record: requests of ~4.4 MB, as in
/// the issue.
const LARGE_RECORDS: usize = 1100;
const LARGE_PAD: usize = 4000;
const LARGE_SENDERS: usize = 4;

/// What ccpipe may hold beyond its idle resident set with large requests
/// (src/service.rs, pipeline/src/batcher.rs), by the queues' estimates:
/// - the pipeline's input queue, 512 KiB of requests as received;
/// - the exporter's queue, 1 MiB by weight (one batch; 2 in session 6);
/// - the batch being filled, at most `MAX_BATCH_BYTES` (1 MiB) plus the
///   request just appended, and the batch in export with its request body:
///   here one 4.4 MB request each, ~13 MB together;
/// - each sender's request being read and made contiguous: 2 x 4.4 MB each.
///
/// That is 49.5 MiB; twice that for allocator slack and the estimates. Before
/// batches were capped in bytes, one batch held up to 8192 records (32 MB
/// here) and could sit in the exporter queue, another fill behind it and a
/// third be exported: the peak went well past this.
fn large_bound(idle: u64) -> u64 {
    let request = (LARGE_RECORDS * LARGE_PAD) as u64;
    let queues = MIB / 2 + MIB;
    let batches = 3 * request;
    let reading = LARGE_SENDERS as u64 * 2 * request;
    idle + 2 * (queues + batches + reading)
}

#[test]
fn large_requests_under_overload_stay_within_the_bound() {
    let dest = FakeDestination::start_slow(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec(),
        Duration::from_millis(200),
    );
    let ccpipe = start(
        "mem-large",
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
processors:
  batch: {{}}
exporters:
  otlp_http:
    logs_endpoint: "http://{}/v1/logs"
    compression: none
    retry_on_failure: {{ initial_interval: 10ms, max_interval: 50ms, max_elapsed_time: 0 }}
service:
{QUIET}
  pipelines: {{ logs: {{ receivers: [otlp], processors: [batch], exporters: [otlp_http] }} }}
"#,
            dest.addr
        ),
    );
    let (addr, pid) = (ccpipe.http.unwrap(), ccpipe.pid());
    let idle = rss(pid);
    let senders: Vec<_> = (0..LARGE_SENDERS)
        .map(|s| {
            std::thread::spawn(move || {
                let mut conn = None;
                let mut statuses = Vec::new();
                for r in 0..6 {
                    let ids: Vec<String> = (0..LARGE_RECORDS)
                        .map(|i| format!("s{s}-r{r}-{i}"))
                        .collect();
                    let answer = post_body(&mut conn, addr, &request(&ids, LARGE_PAD));
                    statuses.push(answer.map(|a| a.status));
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<Option<u16>> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    let peak = peak_rss(pid);
    eprintln!(
        "large requests: idle {} MiB, peak {} MiB, bound {} MiB, answers {statuses:?}",
        idle / MIB,
        peak / MIB,
        large_bound(idle) / MIB
    );
    assert!(
        statuses.iter().all(|s| matches!(s, Some(200 | 503))),
        "every request answered 200 or 503: {statuses:?}"
    );
    assert!(
        peak <= large_bound(idle),
        "peak RSS {} MiB with {LARGE_SENDERS} senders of 4.4 MB requests: over the bound {} MiB",
        peak / MIB,
        large_bound(idle) / MIB
    );
}

// ------------------------------------------- item 8: validate numeric ranges

#[test]
fn validate_refuses_values_that_used_to_panic_at_run_time() {
    let dir = temp_dir("mem-validate");
    let cases = [
        (
            "sending_queue: { queue_size: 18446744073709551615 }",
            "exporters.debug.sending_queue.queue_size: must be from 1 to 1048576",
        ),
        (
            "retry_on_failure: { multiplier: 1e308 }",
            "exporters.debug.retry_on_failure.multiplier: must be a number from 1 to 1000",
        ),
        (
            "retry_on_failure: { max_interval: 100000000000h }",
            "must be at most 8760h (a year)",
        ),
    ];
    for (exporter, want) in cases {
        let path = write_config(
            &dir,
            &format!(
                "receivers: {{ otlp: {{}} }}\nexporters:\n  debug: {{ {exporter} }}\nservice:\n  pipelines: {{ logs: {{ receivers: [otlp], exporters: [debug] }} }}\n"
            ),
        );
        let out = Command::new(bin())
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{exporter} passed validate");
        assert!(
            stderr.contains("ccpipe.yaml:3: "),
            "names file and line: {stderr}"
        );
        assert!(stderr.contains(want), "{exporter}: {stderr}");
    }
}

/// The largest value `validate` accepts for every numeric key of the
/// components used here: ccpipe must start, serve and stop with them.
#[test]
fn the_largest_values_validate_accepts_run() {
    let dir = temp_dir("mem-extremes");
    let out = dir.join("out.jsonl");
    let path = write_config(
        &dir,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 4096, max_concurrent_streams: 4294967295, read_timeout: 8760h, idle_timeout: 8760h }}
      http: {{ endpoint: "127.0.0.1:0", max_request_body_size: 1TiB, read_header_timeout: 8760h, read_timeout: 8760h, idle_timeout: 8760h }}
    backpressure_wait: 60s
    max_connections: 18446744073709551615
    limits: {{ max_attribute_depth: 24, max_attributes: 18446744073709551615 }}
processors:
  batch: {{ send_batch_size: 18446744073709551615, send_batch_max_size: 18446744073709551615, timeout: 8760h }}
exporters:
  file:
    path: {out:?}
    sending_queue: {{ queue_size: 1048576 }}
    retry_on_failure: {{ initial_interval: 8760h, max_interval: 8760h, max_elapsed_time: 8760h, multiplier: 1000 }}
service:
  shutdown_timeout: 8760h
  memory_limit_mib: 1048576
{QUIET}
  pipelines: {{ logs: {{ receivers: [otlp], processors: [batch], exporters: [file] }} }}
"#
        ),
    );
    let check = Command::new(bin())
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let ccpipe = Ccpipe::start(&path);
    let answer = post_body(
        &mut None,
        ccpipe.http.unwrap(),
        &request(&["extreme".into()], 0),
    );
    assert_eq!(answer.map(|a| a.status), Some(200), "{}", ccpipe.stderr());
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        std::fs::read_to_string(&out).unwrap().contains("extreme"),
        "flushed at shutdown"
    );
}

// ------------------------ item 9 and smaller: a fake OTLP/HTTP destination

/// An OTLP/HTTP destination on 127.0.0.1 that answers every request with
/// `answer` and counts requests.
struct FakeDestination {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl FakeDestination {
    fn start(answer: Vec<u8>) -> FakeDestination {
        FakeDestination::start_slow(answer, Duration::ZERO)
    }

    /// Takes `delay` over each request before answering.
    fn start_slow(answer: Vec<u8>, delay: Duration) -> FakeDestination {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (count, answer) = (count.clone(), answer.clone());
                std::thread::spawn(move || serve(conn, &count, &answer, delay));
            }
        });
        FakeDestination { addr, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(conn: TcpStream, count: &AtomicUsize, answer: &[u8], delay: Duration) {
    let mut r = BufReader::new(conn);
    while read_request(&mut r).is_some() {
        std::thread::sleep(delay);
        count.fetch_add(1, Ordering::SeqCst);
        if r.get_mut().write_all(answer).is_err() {
            return;
        }
    }
}

fn otlp_http_to(name: &str, dest: SocketAddr, exporter_extra: &str) -> Ccpipe {
    start(
        name,
        &format!(
            r#"
receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:0" }} }} }}
exporters:
  otlp_http:
    logs_endpoint: "http://{dest}/v1/logs?api_key=s3cr3t-in-the-url"
    compression: none
{exporter_extra}
service:
{QUIET}
  pipelines: {{ logs: {{ receivers: [otlp], exporters: [otlp_http] }} }}
"#
        ),
    )
}

#[test]
fn retry_after_zero_waits_the_backoff() {
    let dest = FakeDestination::start(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 0\r\n\r\n".to_vec(),
    );
    let ccpipe = otlp_http_to(
        "mem-retry-after",
        dest.addr,
        "    retry_on_failure: { initial_interval: 100ms, max_interval: 100ms, max_elapsed_time: 1s }",
    );
    let answer = post_body(&mut None, ccpipe.http.unwrap(), &request(&["r".into()], 0));
    assert_eq!(answer.map(|a| a.status), Some(200));
    ccpipe.wait_for_stderr(
        0,
        "of retries; dropping 1 log records",
        Duration::from_secs(20),
    );
    // About 1 s / 100 ms of backoff: ~10 tries. With the 0 s the
    // destination asked for, it was hundreds.
    let tries = dest.requests();
    eprintln!("Retry-After: 0: {tries} tries");
    assert!(
        (2..=30).contains(&tries),
        "{tries} tries in 1 s of retrying"
    );
}

#[test]
fn partial_success_counts_are_clamped_to_what_was_sent() {
    let response = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 999_999,
            error_message: "no".into(),
        }),
    }
    .encode_to_vec();
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        response.len()
    )
    .into_bytes();
    answer.extend(response);
    let dest = FakeDestination::start(answer);
    let ccpipe = otlp_http_to("mem-partial", dest.addr, "");
    let ids: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    let answer = post_body(&mut None, ccpipe.http.unwrap(), &request(&ids, 0));
    assert_eq!(answer.map(|a| a.status), Some(200));
    let log = ccpipe.wait_for_stderr(0, "rejected 5 log records", Duration::from_secs(20));
    assert!(
        log.contains("claimed 999999 rejected log records of the 5 sent"),
        "{log}"
    );
    assert!(!log.contains("rejected 999999 log records"), "{log}");
}

#[test]
fn print_config_masks_secret_query_parameters() {
    let dir = temp_dir("mem-print-config");
    let path = write_config(
        &dir,
        r#"
receivers: { otlp: {} }
exporters:
  otlp_http:
    logs_endpoint: "https://collector.example:4318/v1/logs?api_key=s3cr3t&sig=s1gn3d&region=eu"
service:
  pipelines: { logs: { receivers: [otlp], exporters: [otlp_http] } }
"#,
    );
    let out = Command::new(bin())
        .args(["print-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !printed.contains("s3cr3t") && !printed.contains("s1gn3d"),
        "{printed}"
    );
    assert!(
        printed.contains("/v1/logs?api_key=[REDACTED]&sig=[REDACTED]&region=eu"),
        "{printed}"
    );
}

#[test]
fn otlp_json_with_a_duplicate_key_is_refused_naming_it() {
    let ccpipe = start_to_nop("mem-json-dup", r#"http: { endpoint: "127.0.0.1:0" }"#, "");
    let body = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityText":"INFO","severityText":"ERROR"}]}]}]}"#;
    let mut s = TcpStream::connect(ccpipe.http.unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#"duplicate key \"severityText\" in LogRecord"#),
        "{answer}"
    );
}
