//! Health: `/healthz` answers 200 while the process runs; `/readyz` answers
//! 200 only once the receivers are bound and the exporters started, and 503
//! again from the moment shutdown starts (draining). `ccpipe healthcheck`
//! asks either over a raw HTTP/1.1 GET, so a container image needs no curl.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::answer::{self, Answer, TEXT};

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// Where the service is in its life, shared with the health endpoint.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Receivers bound, exporters started: traffic may come.
    pub fn set_ready(&self) {
        // Draining is final: a late "ready" must not undo it.
        let _ = self
            .0
            .compare_exchange(STARTING, READY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Shutdown started: send traffic elsewhere.
    pub fn set_draining(&self) {
        self.0.store(DRAINING, Ordering::SeqCst);
    }

    /// Ready now, and draining from the moment `shutdown` fires. A reload
    /// swaps graphs under the same process token, so it stays ready.
    pub fn ready_until(&self, shutdown: &ccpipe_pipeline::Shutdown) {
        self.set_ready();
        let (readiness, shutdown) = (self.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            readiness.set_draining();
        });
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst) == READY
    }

    fn state(&self) -> &'static str {
        match self.0.load(Ordering::SeqCst) {
            STARTING => "starting",
            READY => "ready",
            _ => "draining",
        }
    }
}

/// `GET /healthz` and `GET /readyz`.
pub fn answer(readiness: &Readiness, method: &Method, path: &str) -> Answer {
    if let Some(refusal) = answer::not_served(method, path, "/healthz /readyz") {
        return refusal;
    }
    let state = readiness.state();
    match path {
        "/readyz" if !readiness.is_ready() => {
            (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{state}\n"))
        }
        "/readyz" => (StatusCode::OK, TEXT, "ready\n".to_owned()),
        _ => (StatusCode::OK, TEXT, format!("alive ({state})\n")),
    }
}

/// `ccpipe healthcheck`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The health endpoint, host:port. Default: `service.health.address`
    /// of the config (127.0.0.1:13133 unless set).
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
    /// Ask /readyz (receivers bound, not draining) instead of /healthz.
    #[arg(long)]
    pub ready: bool,
}

/// Runs `ccpipe healthcheck`: 0 when the endpoint answers 200, 1 otherwise
/// (2 when the config cannot say where the endpoint is).
pub fn healthcheck(config_files: &[PathBuf], args: &CheckArgs) -> ExitCode {
    let address = match &args.address {
        Some(a) => a.clone(),
        None => match ccpipe_pipeline::config::load(config_files) {
            Ok(config) => match config.service.health {
                Some(endpoint) => endpoint.address.to_string(),
                None => {
                    eprintln!(
                        "ccpipe: the health endpoint is off (service.health.address is \"\")"
                    );
                    return ExitCode::from(2);
                }
            },
            Err(e) => {
                eprintln!("ccpipe: invalid config:\n{e}");
                return ExitCode::from(2);
            }
        },
    };
    match check(&address, args.ready, CHECK_TIMEOUT) {
        Ok(status) => {
            println!("{status}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ccpipe: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How long `ccpipe healthcheck` waits for each of connect, write and read.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the health endpoint at `address` (`host:port`; an unspecified IP
/// such as 0.0.0.0 means this machine) for `/healthz`, or `/readyz` when
/// `ready`. Ok with the status line on 200; otherwise why not.
pub fn check(address: &str, ready: bool, timeout: Duration) -> Result<String, String> {
    let addr = resolve(address)?;
    let path = if ready { "/readyz" } else { "/healthz" };
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("{addr}{path}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line and a short body are all that matter; read at most 4 KiB.
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer).map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or("").trim().to_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .trim()
        .to_owned();
    let code = status_line.split(' ').nth(1);
    if !status_line.starts_with("HTTP/1.") || code.is_none() {
        return Err(format!("{addr}{path}: not an HTTP answer: {status_line:?}"));
    }
    match code {
        Some("200") => Ok(format!("{addr}{path}: {body}")),
        _ => Err(format!("{addr}{path}: {status_line}: {body}")),
    }
}

fn resolve(address: &str) -> Result<SocketAddr, String> {
    let mut addr = address
        .to_socket_addrs()
        .map_err(|e| format!("invalid address {address:?}: {e}; expected host:port"))?
        .next()
        .ok_or_else(|| format!("{address:?} resolves to no address"))?;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_goes_starting_ready_draining_and_stays_drained() {
        let r = Readiness::new();
        let status = |r: &Readiness, path| answer(r, &Method::GET, path).0;
        assert_eq!(status(&r, "/healthz"), StatusCode::OK);
        assert_eq!(status(&r, "/readyz"), StatusCode::SERVICE_UNAVAILABLE);
        r.set_ready();
        assert_eq!(status(&r, "/readyz"), StatusCode::OK);
        r.set_draining();
        assert_eq!(status(&r, "/readyz"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer(&r, &Method::GET, "/readyz").2, "draining\n");
        r.set_ready();
        assert_eq!(status(&r, "/readyz"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&r, "/healthz"), StatusCode::OK);
        assert_eq!(
            answer(&r, &Method::POST, "/healthz").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(answer(&r, &Method::GET, "/").0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn unspecified_addresses_mean_this_machine() {
        assert_eq!(
            resolve("0.0.0.0:13133").unwrap(),
            "127.0.0.1:13133".parse().unwrap()
        );
        assert_eq!(resolve("[::]:1").unwrap(), "[::1]:1".parse().unwrap());
        assert!(resolve("nonsense").is_err());
    }
}
