//! A real Kafka-protocol broker for the tests: Tansu (a Kafka-compatible
//! broker from crates.io, run beside the suite, never linked into ccpipe),
//! built once by `.ci/run` into target/tansu. Each test starts its own on
//! 127.0.0.1 with a free port and in-memory storage.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The broker binary: `CCPIPE_TANSU`, or what `.ci/run` builds. Missing, the
/// test fails saying how to get it (CI must never skip these tests).
pub fn tansu_bin() -> PathBuf {
    let path = std::env::var_os("CCPIPE_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/tansu/bin/tansu"));
    assert!(
        path.exists(),
        "the Kafka-protocol broker is not at {}: run `bash .ci/run` once (it builds Tansu into \
         target/tansu), or set CCPIPE_TANSU to a tansu binary",
        path.display()
    );
    path
}

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker on a free port; `log` receives its output.
    pub fn start(log: &Path) -> Broker {
        let mut broker = Broker {
            child: None,
            port: free_port(),
            log: log.to_owned(),
        };
        broker.launch();
        broker
    }

    /// `127.0.0.1:<port>`, as `brokers` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &self.url()])
            .args(["--advertised-listener-url", &self.url()])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the broker did not listen on {} within 30s; its log:\n{}",
                self.port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(tansu_bin())
            .args(["topic", "create", topic, "--broker", &self.url()])
            .args(["--partitions", &partitions.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The Collector's three topics, `partitions` each.
    pub fn create_otlp_topics(&self, partitions: u32) {
        for topic in ["otlp_logs", "otlp_metrics", "otlp_spans"] {
            self.create_topic(topic, partitions);
        }
    }

    /// Kills the broker (SIGKILL: an outage, not a drain).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (in-memory: with no topics).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
