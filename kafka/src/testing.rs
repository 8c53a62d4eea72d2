//! A real Kafka-protocol broker for tests: Tansu, built once by `.ci/run`
//! into target/tansu (or `CCPIPE_TANSU`), started on 127.0.0.1 with a free
//! port and in-memory storage, killed on drop. A missing binary fails the
//! test saying how to get it (CI must never skip these tests).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

/// The Collector's three topics.
pub const OTLP_TOPICS: [&str; 3] = ["otlp_logs", "otlp_metrics", "otlp_spans"];

pub struct Broker {
    child: Option<Child>,
    port: u16,
    /// Where its output goes (`None`: discarded).
    log: Option<PathBuf>,
}

/// The broker binary.
pub fn tansu_bin() -> PathBuf {
    let path = std::env::var_os("CCPIPE_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tansu/bin/tansu"));
    assert!(
        path.exists(),
        "the Kafka-protocol broker is not at {}: run `bash .ci/run` once (it builds Tansu into \
         target/tansu), or set CCPIPE_TANSU to a tansu binary",
        path.display()
    );
    path
}

impl Broker {
    /// Starts a broker with `topics`, one partition each.
    pub fn start(topics: &[&str]) -> Broker {
        let broker = Broker::start_logging(None);
        for topic in topics {
            broker.create_topic(topic, 1);
        }
        broker
    }

    /// Starts a broker with no topics; its output goes to `log`.
    pub fn start_logging(log: Option<&Path>) -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Broker {
            child: None,
            port,
            log: log.map(Path::to_owned),
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

    fn output(&self) -> Stdio {
        match &self.log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
                .into(),
            None => Stdio::null(),
        }
    }

    fn launch(&mut self) {
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &self.url()])
            .args(["--advertised-listener-url", &self.url()])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(self.output())
            .stderr(self.output())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the broker did not listen on {} within 30s",
                self.port
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
        for topic in OTLP_TOPICS {
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

    /// Starts it again on the same port (in memory: with no topics).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Messages in partition 0 of `topic` (its high watermark).
    pub fn messages(&self, topic: &str) -> i64 {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .create()
            .unwrap();
        let (_, high) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("watermarks of {topic}: {e}"));
        high
    }

    /// Produces `value` to `topic` and waits for the acknowledgement.
    pub fn produce(&self, topic: &str, value: &[u8]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .create()
            .unwrap();
        producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(value))
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("produce to {topic}: {e}"));
        producer
            .flush(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("produce to {topic}: {e}"));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
