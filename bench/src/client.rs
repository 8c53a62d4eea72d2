//! Two lean clients that send one pre-encoded body back to back on one
//! keep-alive connection: HTTP/1.1 written by hand on a `TcpStream`, and gRPC on
//! the `h2` crate with a pre-framed message. Neither encodes anything per request.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How one request ended, when the connection carried it to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `None` for success, otherwise a short label such as `http_503` or `grpc_14`.
    pub failure: Option<String>,
    /// false when the server asked to close the connection.
    pub keep_alive: bool,
}

/// The gRPC method for logs.
pub const GRPC_LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// Builds the complete HTTP/1.1 request (head and body) once.
pub fn http1_request(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Bytes {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: keep-alive\r\nuser-agent: ccpipe-bench-loadgen\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// One HTTP/1.1 keep-alive connection.
pub struct Http1Conn {
    stream: TcpStream,
    buf: BytesMut,
    request: Bytes,
}

const MAX_HEAD: usize = 64 * 1024;

impl Http1Conn {
    pub async fn connect(addr: SocketAddr, request: Bytes) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            request,
        })
    }

    pub async fn send(&mut self) -> Result<Answer> {
        self.stream.write_all(&self.request).await?;
        // head
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                bail!("response head over {MAX_HEAD} bytes");
            }
            self.fill().await?;
        };
        let head = self.buf.split_to(head_end);
        let head = std::str::from_utf8(&head).context("response head is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut keep_alive = status_line.starts_with("HTTP/1.1");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<usize>().context("content-length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                keep_alive = if v.contains("close") {
                    false
                } else {
                    keep_alive || v.contains("keep-alive")
                };
            }
        }
        // body
        if chunked {
            self.skip_chunked().await?;
        } else if let Some(n) = content_length {
            while self.buf.len() < n {
                self.fill().await?;
            }
            self.buf.advance(n);
        } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
            // body delimited by close: read it and drop the connection
            while self.stream.read_buf(&mut self.buf).await? > 0 {
                self.buf.clear();
            }
            keep_alive = false;
        }
        Ok(Answer {
            failure: (!(200..300).contains(&status)).then(|| format!("http_{status}")),
            keep_alive,
        })
    }

    async fn fill(&mut self) -> Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("connection closed by the server");
        }
        Ok(())
    }

    async fn line(&mut self) -> Result<BytesMut> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let mut line = self.buf.split_to(i + 2);
                line.truncate(i);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                bail!("chunk line over {MAX_HEAD} bytes");
            }
            self.fill().await?;
        }
    }

    async fn skip_chunked(&mut self) -> Result<()> {
        loop {
            let line = self.line().await?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| anyhow!("bad chunk size line"))?;
            if size == 0 {
                // trailers until an empty line
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            self.buf.advance(size + 2);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One HTTP/2 (h2c, prior knowledge) connection carrying unary gRPC calls.
pub struct GrpcConn {
    send: h2::client::SendRequest<Bytes>,
    uri: Uri,
    message: Bytes,
    driver: tokio::task::JoinHandle<()>,
}

impl GrpcConn {
    pub async fn connect(addr: SocketAddr, message: Bytes) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 24)
            .handshake::<_, Bytes>(stream)
            .await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let uri: Uri = format!("http://{addr}{GRPC_LOGS_PATH}").parse()?;
        Ok(Self {
            send,
            uri,
            message,
            driver,
        })
    }

    pub async fn send(&mut self) -> Result<Answer> {
        let mut send = self.send.clone().ready().await?;
        let mut req = Request::new(());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/grpc"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert(
            "user-agent",
            HeaderValue::from_static("ccpipe-bench-loadgen"),
        );
        let (response, mut stream) = send.send_request(req, false)?;
        stream.send_data(self.message.clone(), true)?;
        let response = response.await?;
        let (parts, mut body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Ok(Answer {
                failure: Some(format!("http_{}", parts.status.as_u16())),
                keep_alive: true,
            });
        }
        // trailers-only responses carry grpc-status in the headers
        let mut grpc_status = parts.headers.get("grpc-status").cloned();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        if let Some(trailers) = body.trailers().await? {
            if let Some(s) = trailers.get("grpc-status") {
                grpc_status = Some(s.clone());
            }
        }
        let failure = match grpc_status.as_ref().map(|v| v.as_bytes()) {
            Some(b"0") => None,
            Some(code) => Some(format!("grpc_{}", String::from_utf8_lossy(code))),
            None => Some("grpc_no_status".to_string()),
        };
        Ok(Answer {
            failure,
            keep_alive: true,
        })
    }
}

impl Drop for GrpcConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection HTTP/1.1 server that answers each request with `answer`.
    async fn serve(answers: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = Vec::new();
            for answer in answers {
                // read one request: head + content-length body
                loop {
                    if let Some(i) = find(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .expect("content-length")
                            .parse()
                            .expect("len");
                        if buf.len() >= i + 4 + len {
                            buf.drain(..i + 4 + len);
                            break;
                        }
                    }
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "client closed");
                    buf.extend_from_slice(&chunk[..n]);
                }
                s.write_all(answer).await.expect("write");
            }
        });
        addr
    }

    #[tokio::test]
    async fn http1_reads_content_length_chunked_and_errors_on_one_connection() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 4\r\n\r\nbusy",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        let req = http1_request(addr, "/v1/logs", "application/x-protobuf", b"abc");
        let mut c = Http1Conn::connect(addr, req).await.expect("connect");
        let ok = Answer {
            failure: None,
            keep_alive: true,
        };
        assert_eq!(c.send().await.expect("1"), ok);
        assert_eq!(c.send().await.expect("2"), ok);
        assert_eq!(c.send().await.expect("3"), ok);
        assert_eq!(
            c.send().await.expect("4"),
            Answer {
                failure: Some("http_503".into()),
                keep_alive: true
            }
        );
        assert_eq!(
            c.send().await.expect("5"),
            Answer {
                failure: None,
                keep_alive: false
            }
        );
    }
}
