//! A real Prometheus server for the end-to-end tests (Debian's `prometheus`
//! package, which ships `promtool` too; installed with apt-get when missing
//! and running as root, else the test fails saying so), and PromQL over its
//! HTTP API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the Prometheus server when the test ends, however it ends.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `prometheus` with `config` on 127.0.0.1:`port`, data under `dir`.
    pub fn start(dir: &Path, config: &Path, port: u16) -> Server {
        let binary = install();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        Server { child, addr, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `prometheus`, installed from Debian's package when missing (as root).
pub fn install() -> &'static str {
    let found = |name| {
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found("prometheus") && found("promtool") {
        return "prometheus";
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    assert!(
        root,
        "this test needs Prometheus: install Debian's package (apt-get install -y prometheus)"
    );
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "prometheus"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .expect("apt-get runs");
    assert!(
        status.success() && found("prometheus"),
        "apt-get install prometheus failed ({status}); install it by hand"
    );
    "prometheus"
}

/// The body of a 200 answer to GET `path`, else `None`.
pub fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The `data` of a PromQL instant query's answer, once Prometheus answers.
pub fn query_json(prometheus: SocketAddr, promql: &str) -> Option<serde_json::Value> {
    query_json_at(prometheus, promql, None)
}

/// As [`query_json`], evaluated at `time` (Unix seconds) when given.
pub fn query_json_at(
    prometheus: SocketAddr,
    promql: &str,
    time: Option<f64>,
) -> Option<serde_json::Value> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let at = time.map(|t| format!("&time={t:.3}")).unwrap_or_default();
    let body = get(prometheus, &format!("/api/v1/query?query={encoded}{at}"))?;
    // Chunked transfer: the JSON is the part between the first '{' and last '}'.
    let json = &body[body.find('{')?..=body.rfind('}')?];
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    (v["status"] == "success").then(|| v["data"].clone())
}

/// One sample of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a PromQL query returning an instant vector.
pub fn query_vector(prometheus: SocketAddr, promql: &str) -> Option<Vec<Sample>> {
    query_vector_at(prometheus, promql, None)
}

/// As [`query_vector`], evaluated at `time` (Unix seconds) when given.
pub fn query_vector_at(
    prometheus: SocketAddr,
    promql: &str,
    time: Option<f64>,
) -> Option<Vec<Sample>> {
    let data = query_json_at(prometheus, promql, time)?;
    let samples = data["result"].as_array()?;
    samples
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect::<Option<_>>()?;
            let value = s["value"][1].as_str()?.parse().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

/// The value of a PromQL query returning one sample, once there is one.
pub fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    query_vector(prometheus, promql)?.first().map(|s| s.value)
}
