//! Runs the real `ccpipe` binary for tests that need a process: signals,
//! exit codes, stderr.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Ccpipe {
    child: Child,
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// ccpipe's own metrics endpoint, when `service.telemetry.metrics` is set.
    pub metrics: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ccpipe")
}

/// `ccpipe` on the built-in default config in `dir`, its store under
/// `data` (XDG_DATA_HOME), every port the OS's choice.
pub fn default_command(dir: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .env("XDG_DATA_HOME", data)
        .env(
            "CCPIPE_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT",
            "127.0.0.1:0",
        )
        .env(
            "CCPIPE_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT",
            "127.0.0.1:0",
        )
        .env("CCPIPE_SERVICE__TELEMETRY__METRICS__ADDRESS", "127.0.0.1:0")
        .env("CCPIPE_SERVICE__HEALTH__ADDRESS", "127.0.0.1:0")
        .env("CCPIPE_SERVICE__VIEW__ENDPOINT", "127.0.0.1:0");
    cmd
}

impl Ccpipe {
    /// Starts `ccpipe --config <config>` and waits for its banner.
    pub fn start(config: &Path) -> Ccpipe {
        let mut command = Command::new(bin());
        command.arg("--config").arg(config);
        Ccpipe::start_command(command)
    }

    /// Starts `command` (a ccpipe run, with its arguments and environment)
    /// and waits for its banner.
    pub fn start_command(mut command: Command) -> Ccpipe {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ccpipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let (mut grpc, mut http, mut metrics) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "ccpipe exited early ({status}):\n{}",
                        stderr.lock().unwrap()
                    );
                }
                continue;
            };
            if let Some(rest) = line.trim().strip_prefix("listening:") {
                let addr: SocketAddr = rest.rsplit(' ').next().unwrap().parse().expect("address");
                if rest.contains(" grpc ") {
                    grpc = Some(addr);
                } else if rest.contains(" http ") {
                    http = Some(addr);
                }
            }
            if let Some(url) = line.trim().strip_prefix("metrics:") {
                let addr = url.trim().trim_start_matches("http://");
                metrics = addr.split('/').next().and_then(|a| a.parse().ok());
            }
            if line.trim_start().starts_with("pipeline:") {
                break; // the banner lists pipelines after the listeners
            }
        }
        // A gateway that only consumes (kafka) listens on its metrics alone.
        assert!(
            grpc.is_some() || http.is_some() || metrics.is_some(),
            "no banner:\n{}",
            stderr.lock().unwrap()
        );
        Ccpipe {
            child,
            grpc,
            http,
            metrics,
            stderr,
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until stderr, past its first `from` bytes, contains
    /// `needle`; returns the text from `from` on.
    pub fn wait_for_stderr(&self, from: usize, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr();
            let tail = text.get(from..).unwrap_or_default();
            if tail.contains(needle) {
                return tail.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not on stderr after {timeout:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for exit (bounded) and returns the status with all of stderr.
    pub fn wait(mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50)); // let the reader thread drain
                return (status, self.stderr.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "ccpipe did not exit in {timeout:?}:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ccpipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
