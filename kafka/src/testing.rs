//! A real Kafka-protocol broker for the components' tests: Tansu, built once
//! by `.ci/run` into target/tansu (or `CCPIPE_TANSU`), started on 127.0.0.1
//! with a free port and in-memory storage, killed on drop. A missing binary
//! fails the test saying how to get it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

pub struct Broker {
    child: Child,
    port: u16,
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let broker = Broker { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen within 30s");
            std::thread::sleep(Duration::from_millis(50));
        }
        for topic in topics {
            let ok = Command::new(tansu_bin())
                .args([
                    "topic",
                    "create",
                    topic,
                    "--partitions",
                    "1",
                    "--broker",
                    &url,
                ])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(ok.success(), "tansu topic create {topic}");
        }
        broker
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
