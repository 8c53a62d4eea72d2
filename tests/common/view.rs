//! The web view from outside: its address in the banner, a config that
//! stores into SQLite and serves the view, and a plain HTTP/1.1 GET.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The view's address in ccpipe's banner (`view: http://ADDR/`).
pub fn view_addr(stderr: &str) -> SocketAddr {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("view:"))
        .and_then(|rest| {
            let url = rest.trim().trim_start_matches("http://");
            url.trim_end_matches('/').parse().ok()
        })
        .unwrap_or_else(|| panic!("no view address in the banner:\n{stderr}"))
}

/// OTLP in on free ports, everything into `db`, the view on 127.0.0.1:0
/// with `view_extra` (YAML lines under `service.view`); health and own
/// metrics off so tests in parallel share no port.
pub fn config(db: &Path, view_extra: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ timeout: 50ms }}
exporters:
  sqlite: {{ path: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "" }} }}
  health: {{ address: "" }}
  view:
    endpoint: 127.0.0.1:0
{view_extra}
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [sqlite] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [sqlite] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [sqlite] }}
"#,
        db.display()
    )
}

/// An HTTP answer: status, headers (names lower-cased), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `method path` with `headers` (a `Host` of the address unless
/// given) and reads the answer to the end (`Connection: close`).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}
