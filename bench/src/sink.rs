//! A raw OTLP sink for the forwarding rows of the benchmark: it reads every
//! request whole (HTTP/1.1 with a `content-length`, or unary gRPC over h2c),
//! answers success with an empty export response, and counts requests and body
//! bytes. Nothing is decoded or decompressed, so the sink costs the server
//! under test nothing but the socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What arrived, over both protocols.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub body_bytes: AtomicU64,
    /// Requests that could not be read (bad head, no length, broken off).
    pub bad: AtomicU64,
}

impl Counts {
    fn add(&self, body: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.body_bytes.fetch_add(body as u64, Ordering::Relaxed);
    }

    /// One JSON line: `{"requests":N,"body_bytes":N,"bad":N}`.
    pub fn json(&self) -> String {
        format!(
            "{{\"requests\":{},\"body_bytes\":{},\"bad\":{}}}",
            self.requests.load(Ordering::Relaxed),
            self.body_bytes.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed)
        )
    }
}

/// A request head larger than this is refused: the senders measured write a few
/// hundred bytes.
const MAX_HEAD: usize = 64 * 1024;

/// An empty `Export*ServiceResponse` is zero bytes of protobuf.
const HTTP_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
const HTTP_BAD: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Serves HTTP/1.1 on `listener` until the task is dropped.
pub async fn serve_http(listener: TcpListener, counts: Arc<Counts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let counts = counts.clone();
        tokio::spawn(async move {
            if http_conn(stream, &counts).await.is_err() {
                counts.bad.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// One keep-alive connection: request after request until the peer closes.
async fn http_conn(mut stream: TcpStream, counts: &Counts) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                stream.write_all(HTTP_BAD).await?;
                bail!("request head over {MAX_HEAD} bytes");
            }
            if stream.read_buf(&mut buf).await? == 0 {
                if buf.is_empty() {
                    return Ok(()); // closed between requests
                }
                bail!("connection closed inside a request head");
            }
        };
        let Some(len) = content_length(&buf[..head_end]) else {
            stream.write_all(HTTP_BAD).await?;
            bail!("a request without content-length");
        };
        buf.advance(head_end);
        while buf.len() < len {
            if stream.read_buf(&mut buf).await? == 0 {
                bail!("connection closed inside a body");
            }
        }
        buf.advance(len);
        counts.add(len);
        stream.write_all(HTTP_OK).await?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `content-length` of a request head, if it has one that parses.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Serves unary gRPC over h2c on `listener` until the task is dropped.
pub async fn serve_grpc(listener: TcpListener, counts: Arc<Counts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let counts = counts.clone();
        tokio::spawn(async move {
            if grpc_conn(stream, counts.clone()).await.is_err() {
                counts.bad.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

async fn grpc_conn(stream: TcpStream, counts: Arc<Counts>) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = h2::server::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(8 << 20)
        .handshake::<_, Bytes>(stream)
        .await
        .context("h2 handshake")?;
    while let Some(next) = conn.accept().await {
        let (request, respond) = next?;
        let counts = counts.clone();
        tokio::spawn(async move {
            if grpc_call(request, respond, &counts).await.is_err() {
                counts.bad.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    Ok(())
}

/// Reads the whole request stream, then answers one empty message and
/// `grpc-status: 0`.
async fn grpc_call(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    counts: &Counts,
) -> Result<()> {
    let mut body = request.into_body();
    let mut len = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        len += chunk.len();
        body.flow_control().release_capacity(chunk.len())?;
    }
    counts.add(len);
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/grpc")
        .body(())?;
    let mut send = respond.send_response(response, false)?;
    // One uncompressed message of zero bytes: flag 0, length 0.
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false)?;
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    send.send_trailers(trailers)?;
    Ok(())
}

/// Binds a loopback address; anything else is refused (the sink is for
/// benchmarks on this machine only).
pub async fn bind_loopback(addr: SocketAddr) -> Result<TcpListener> {
    if !addr.ip().is_loopback() {
        bail!("the sink listens on loopback only, not {addr}");
    }
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_any_case() {
        let head = b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(content_length(head), Some(42));
        let head = b"POST /v1/logs HTTP/1.1\r\ncontent-length:7\r\n\r\n";
        assert_eq!(content_length(head), Some(7));
        let head = b"POST /v1/logs HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(content_length(head), None);
    }

    /// Two keep-alive requests on one real socket: both answered 200 and counted.
    #[tokio::test]
    async fn http_requests_are_read_whole_and_counted() {
        let listener = bind_loopback("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let server = tokio::spawn(serve_http(listener, counts.clone()));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let request =
            crate::client::http1_request(addr, "/v1/logs", "application/x-protobuf", b"abcde");
        let mut answers = Vec::new();
        for _ in 0..2 {
            client.write_all(&request).await.unwrap();
            let mut got = vec![0; HTTP_OK.len()];
            client.read_exact(&mut got).await.unwrap();
            answers.push(got);
        }
        assert!(answers.iter().all(|a| a == HTTP_OK));
        assert_eq!(counts.requests.load(Ordering::Relaxed), 2);
        assert_eq!(counts.body_bytes.load(Ordering::Relaxed), 10);
        assert_eq!(counts.json(), r#"{"requests":2,"body_bytes":10,"bad":0}"#);
        server.abort();
    }

    /// The benchmark's own gRPC client gets `grpc-status: 0` and the body is counted.
    #[tokio::test]
    async fn grpc_calls_are_answered_ok() {
        let listener = bind_loopback("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let server = tokio::spawn(serve_grpc(listener, counts.clone()));
        let message = Bytes::from_static(&[0, 0, 0, 0, 3, 1, 2, 3]);
        let mut conn = crate::client::GrpcConn::connect(addr, message)
            .await
            .unwrap();
        for _ in 0..3 {
            let answer = conn.send().await.unwrap();
            assert_eq!(answer.failure, None);
        }
        assert_eq!(counts.requests.load(Ordering::Relaxed), 3);
        assert_eq!(counts.body_bytes.load(Ordering::Relaxed), 24);
        server.abort();
    }

    #[tokio::test]
    async fn only_loopback_is_bound() {
        let err = bind_loopback("0.0.0.0:0".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("loopback only"), "{err}");
    }
}
