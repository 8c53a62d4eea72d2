//! A fake Datadog Agent's OTLP/HTTP intake on 127.0.0.1 (it can be down or
//! slow), and a raw HTTP/1.1 client that posts numbered log records to
//! ccpipe: what the durability and overload tests measure with.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;

/// Answers 503 while down, records the log bodies it accepted while up,
/// and takes `delay` over each request it accepts.
#[derive(Clone)]
pub struct FakeAgent {
    pub addr: SocketAddr,
    state: Arc<Mutex<AgentState>>,
}

#[derive(Default)]
struct AgentState {
    up: bool,
    delay: Duration,
    /// The id of each record accepted (the body up to `|`).
    received: Vec<String>,
    /// Bodies whose padding was not what [`body`] wrote.
    damaged: usize,
    refused: usize,
}

impl FakeAgent {
    pub fn start(up: bool) -> FakeAgent {
        FakeAgent::start_slow(up, Duration::ZERO)
    }

    /// An agent that takes `delay` to accept each export request.
    pub fn start_slow(up: bool, delay: Duration) -> FakeAgent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(AgentState {
            up,
            delay,
            ..Default::default()
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, s));
            }
        });
        FakeAgent { addr, state }
    }

    pub fn set_up(&self, up: bool) {
        self.state.lock().unwrap().up = up;
    }

    pub fn received(&self) -> Vec<String> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn received_count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    pub fn damaged(&self) -> usize {
        self.state.lock().unwrap().damaged
    }

    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }
}

/// A record body: the id, then `pad` bytes the agent checks.
pub fn body(id: &str, pad: usize) -> String {
    if pad == 0 {
        return id.to_owned();
    }
    format!("{id}|{pad}|{}", "x".repeat(pad))
}

/// Splits a body into its id and whether its padding is intact.
fn check(body: String) -> (String, bool) {
    let Some((id, rest)) = body.split_once('|') else {
        return (body, true);
    };
    let intact = rest.split_once('|').is_some_and(|(n, pad)| {
        n.parse::<usize>() == Ok(pad.len()) && pad.bytes().all(|b| b == b'x')
    });
    (id.to_owned(), intact)
}

/// One HTTP/1.1 request as an OTLP intake receives it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub path: String,
    pub content_type: String,
    /// The body as it came over the wire.
    pub raw: Vec<u8>,
    /// The body after its content-encoding (gzip).
    pub body: Vec<u8>,
}

/// Reads the next request of a keep-alive connection (content-length or
/// chunked); `None` when the peer closed it.
pub fn read_request(r: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (mut len, mut gzip, mut chunked, mut content_type) = (0, false, false, String::new());
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        match k.trim() {
            "content-length" => len = v.trim().parse().ok()?,
            "content-encoding" => gzip = v.contains("gzip"),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "content-type" => content_type = v.trim().to_owned(),
            _ => {}
        }
    }
    let raw = if chunked {
        read_chunked(r)?
    } else {
        let mut b = vec![0; len];
        r.read_exact(&mut b).ok()?;
        b
    };
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("a gzip body");
        out
    } else {
        raw.clone()
    };
    Some(RawRequest {
        path,
        content_type,
        raw,
        body,
    })
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn serve(conn: TcpStream, state: Arc<Mutex<AgentState>>) {
    let mut r = BufReader::new(conn);
    while let Some(request) = read_request(&mut r) {
        let (up, delay) = {
            let st = state.lock().unwrap();
            (st.up, st.delay)
        };
        let status = if up {
            std::thread::sleep(delay);
            let req = ExportLogsServiceRequest::decode(&request.body[..]).expect("a logs request");
            let mut st = state.lock().unwrap();
            for rl in req.resource_logs {
                for sl in rl.scope_logs {
                    for lr in sl.log_records {
                        if let Some(any_value::Value::StringValue(s)) =
                            lr.body.and_then(|b| b.value)
                        {
                            let (id, intact) = check(s);
                            st.received.push(id);
                            st.damaged += usize::from(!intact);
                        }
                    }
                }
            }
            "200 OK"
        } else {
            state.lock().unwrap().refused += 1;
            "503 Service Unavailable"
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if r.get_mut().write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One logs export request with a record per id, each padded by `pad` bytes.
pub fn request(ids: &[String], pad: usize) -> Vec<u8> {
    request_at(ids, pad, 0)
}

/// [`request`] with every record's `time_unix_nano` set.
pub fn request_at(ids: &[String], pad: usize, time_unix_nano: u64) -> Vec<u8> {
    let log_records = ids
        .iter()
        .map(|id| LogRecord {
            time_unix_nano,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body(id, pad))),
            }),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// What ccpipe answered a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
}

/// Posts `body` to /v1/logs on a keep-alive connection (opened on demand);
/// `None` if the connection failed (ccpipe gone), and the connection is
/// dropped then.
pub fn post_body(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    body: &[u8],
) -> Option<Answer> {
    if conn.is_none() {
        let s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        *conn = Some(BufReader::new(s));
    }
    let r = conn.as_mut().unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let sent = r
        .get_mut()
        .write_all(head.as_bytes())
        .and_then(|()| r.get_mut().write_all(body));
    let answer = sent.ok().and_then(|()| {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let (mut len, mut retry_after) = (0usize, None);
        loop {
            let mut h = String::new();
            r.read_line(&mut h).ok()?;
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().ok()?;
            }
            if let Some(v) = h.strip_prefix("retry-after:") {
                retry_after = Some(v.trim().to_owned());
            }
        }
        let mut b = vec![0; len];
        r.read_exact(&mut b).ok()?;
        Some(Answer {
            status,
            retry_after,
        })
    });
    if answer.is_none() {
        *conn = None;
    }
    answer
}

/// Posts one log record whose body is `id`; the status, if an answer came.
pub fn post(conn: &mut Option<BufReader<TcpStream>>, addr: SocketAddr, id: &str) -> Option<u16> {
    post_body(conn, addr, &request(&[id.to_owned()], 0)).map(|a| a.status)
}

/// Waits (bounded) until the agent holds every id in `want`.
pub fn wait_for(agent: &FakeAgent, want: &[String], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let got = agent.received();
        let have: std::collections::HashSet<&String> = got.iter().collect();
        if want.iter().all(|w| have.contains(w)) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How often each id arrived.
pub fn copies(got: &[String]) -> std::collections::BTreeMap<&str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for g in got {
        *m.entry(g.as_str()).or_insert(0) += 1;
    }
    m
}

/// Asserts the first delivery of each of a sender's ids (`<prefix><n>`,
/// zero-padded) follows the order it sent them in.
pub fn assert_in_order_per_sender(got: &[String], senders: usize) {
    for s in 0..senders {
        let prefix = format!("s{s}-");
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<&String> = got
            .iter()
            .filter(|g| g.starts_with(&prefix) && seen.insert(g.as_str()))
            .collect();
        let mut sorted = firsts.clone();
        sorted.sort();
        assert!(firsts == sorted, "sender {s} delivered out of order");
    }
}

/// The value of the series `name{labels}` in Prometheus text (summed), 0 if
/// absent.
pub fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// GET `path` over HTTP/1.1; the body when the answer is 200.
pub fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:.200}");
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The address of the metrics endpoint in ccpipe's banner.
pub fn metrics_addr(stderr: &str) -> SocketAddr {
    stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("metrics:"))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| {
            let w = w.trim_start_matches("http://").trim_end_matches(',');
            w.split('/').next().unwrap().parse().ok()
        })
        .unwrap_or_else(|| panic!("no metrics address in the banner:\n{stderr}"))
}

/// A process's peak resident set (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    vm_kib(pid, "VmHWM:") * 1024
}

/// A process's resident set now (VmRSS), in bytes.
pub fn rss(pid: u32) -> u64 {
    vm_kib(pid, "VmRSS:") * 1024
}

fn vm_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}
