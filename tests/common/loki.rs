//! A fake Grafana Loki 3 OTLP intake on 127.0.0.1, faithful to what Loki
//! does with `POST /otlp/v1/logs` (its `distributor/otlp` code): protobuf or
//! JSON, gzip; a record older than `reject_old_samples_max_age` (1 week) is
//! refused with 400; resource attributes in Loki's default list, plus those
//! the Loki config names with `action: index_label`, become stream labels
//! (`.` → `_`; `service_name` is `unknown_service` without `service.name`);
//! every other attribute of the record, and the scope name, become
//! structured metadata; the line is the body. Success is 204 No Content.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;

/// Loki 3's `default_resource_attributes_as_index_labels`.
pub const DEFAULT_INDEX_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

const WEEK_NS: u64 = 7 * 24 * 3600 * 1_000_000_000;

/// One stored log entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub labels: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub line: String,
    pub time_unix_nano: u64,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    requests: Vec<Request>,
}

pub struct FakeLoki {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeLoki {
    /// Listens on 127.0.0.1:0; `index_labels` are the resource attributes
    /// the Loki config adds to the default list.
    pub fn start(index_labels: Vec<String>) -> FakeLoki {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let labels = Arc::new(index_labels);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (s, labels) = (s.clone(), labels.clone());
                std::thread::spawn(move || serve(conn, &s, &labels));
            }
        });
        FakeLoki { addr, state }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.state.lock().unwrap().entries.clone()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>, index_labels: &[String]) {
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (status, message) = answer(&method, &path, &headers, body, state, index_labels);
        state.lock().unwrap().requests.push(Request {
            path,
            headers,
            status,
        });
        let reason = match status {
            204 => "No Content",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Unsupported Media Type",
        };
        let reply = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{message}",
            message.len()
        );
        if r.get_mut().write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    mut body: Vec<u8>,
    state: &Mutex<State>,
    index_labels: &[String],
) -> (u16, String) {
    if method != "POST" || path != "/otlp/v1/logs" {
        return (404, "404 page not found\n".into());
    }
    if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return (400, "gzip: invalid header\n".into());
        }
        body = out;
    }
    let request = match headers.get("content-type").map(String::as_str) {
        Some("application/x-protobuf") => match ExportLogsServiceRequest::decode(&body[..]) {
            Ok(r) => r,
            Err(e) => return (400, format!("{e}\n")),
        },
        Some("application/json") => {
            match ccpipe_pipeline::otlp_json::decode(ccpipe_pipeline::Signal::Logs, &body) {
                Ok(ccpipe_pipeline::records::Records::Logs(r)) => r,
                _ => return (400, "invalid OTLP JSON\n".into()),
            }
        }
        other => return (415, format!("unsupported content type: {other:?}\n")),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut entries = Vec::new();
    for rl in request.resource_logs {
        let resource = rl.resource.map(|r| r.attributes).unwrap_or_default();
        let mut labels = BTreeMap::new();
        let mut resource_metadata = BTreeMap::new();
        for kv in &resource {
            let promoted =
                DEFAULT_INDEX_LABELS.contains(&kv.key.as_str()) || index_labels.contains(&kv.key);
            let target = if promoted {
                &mut labels
            } else {
                &mut resource_metadata
            };
            target.insert(normalise(&kv.key), text(kv.value.as_ref()));
        }
        labels
            .entry("service_name".into())
            .or_insert_with(|| "unknown_service".into());
        for sl in rl.scope_logs {
            let scope = sl.scope.map(|s| s.name).unwrap_or_default();
            for lr in sl.log_records {
                let time = if lr.time_unix_nano != 0 {
                    lr.time_unix_nano
                } else {
                    lr.observed_time_unix_nano
                };
                if time + WEEK_NS < now {
                    return (
                        400,
                        format!("entry for stream has timestamp too old: {time}\n"),
                    );
                }
                let mut metadata = resource_metadata.clone();
                metadata.extend(attributes(&lr.attributes));
                if !scope.is_empty() {
                    metadata.insert("scope_name".into(), scope.clone());
                }
                if !lr.severity_text.is_empty() {
                    metadata.insert("severity_text".into(), lr.severity_text.clone());
                }
                entries.push(Entry {
                    labels: labels.clone(),
                    metadata,
                    line: text(lr.body.as_ref()),
                    time_unix_nano: time,
                });
            }
        }
    }
    state.lock().unwrap().entries.extend(entries);
    (204, String::new())
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (normalise(&kv.key), text(kv.value.as_ref())))
        .collect()
}

/// Loki's label name normalisation: anything outside `[a-zA-Z0-9_]` → `_`.
fn normalise(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A value as Loki writes it into a label or the line.
fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        // Loki writes arrays and maps as JSON.
        Some(any_value::Value::ArrayValue(a)) => {
            serde_json::Value::from(a.values.iter().map(|v| text(Some(v))).collect::<Vec<_>>())
                .to_string()
        }
        Some(any_value::Value::KvlistValue(m)) => serde_json::Value::from(
            m.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        serde_json::Value::from(text(kv.value.as_ref())),
                    )
                })
                .collect::<serde_json::Map<_, _>>(),
        )
        .to_string(),
        // A profiles dictionary index: not a value Loki can read.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}
