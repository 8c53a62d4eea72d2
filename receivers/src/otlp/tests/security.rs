//! Bearer-token auth (HTTP 401, gRPC UNAUTHENTICATED) and TLS / mutual TLS
//! on both servers, with certificates made at test time by rcgen.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::Signal;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;

use super::captures::channel;
use super::{
    http_settings, outputs, sink, start_grpc_on, start_http_on, Queues, Running, H1, STEP,
};
use crate::otlp::conn::Acceptor;
use crate::otlp::grpc::GrpcSettings;
use crate::otlp::security::{BearerToken, TlsFiles};
use crate::otlp::Sink;

const TOKEN: &str = "t0k3n-for-tests";

/// google.rpc.Status, decoded independently of the receiver's own struct.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn logs_bin() -> Vec<u8> {
    let file = format!(
        "{}/../tests/fixtures/claude-code/captures/http-protobuf/otlp/0002-http-logs.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(file).unwrap()
}

fn guarded_sink(name: &str) -> (Arc<Sink>, Queues) {
    let (outputs, queues) = outputs(&Signal::ALL, 8);
    let sink = sink(name, outputs, Duration::from_millis(50));
    let sink = Arc::try_unwrap(sink)
        .ok()
        .unwrap()
        .with_auth(Some(BearerToken::new(TOKEN)));
    (Arc::new(sink), queues)
}

async fn serve_http(acceptor: Acceptor, sink: Arc<Sink>) -> Running {
    start_http_on(acceptor, http_settings(1 << 20), sink)
}

async fn serve_grpc(acceptor: Acceptor, sink: Arc<Sink>) -> Running {
    let settings = GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: None,
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    start_grpc_on(acceptor, settings, sink)
}

async fn plain() -> Acceptor {
    Acceptor::from(TcpListener::bind("127.0.0.1:0").await.unwrap())
}

#[tokio::test]
async fn http_needs_the_bearer_token() {
    let (sink, queues) = guarded_sink("auth-http");
    let server = serve_http(plain().await, sink).await;
    let mut client = H1::connect(server.addr).await;
    let body = logs_bin();
    let pb = ("content-type", "application/x-protobuf");
    for auth in [None, Some("Bearer wrong"), Some("Basic dDBrM24=")] {
        let mut headers = vec![pb];
        headers.extend(auth.map(|a| ("authorization", a)));
        let answer = client.request("POST", "/v1/logs", &headers, &body).await;
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        let status = RpcStatus::decode(&answer.body[..]).unwrap();
        assert_eq!(status.code, 16, "UNAUTHENTICATED");
        assert_eq!(status.message, "missing or invalid bearer token");
        assert!(!answer.text().contains("wrong"));
    }
    assert!(queues.all_empty());
    // The connection stays usable, and the right token goes through.
    let bearer = format!("Bearer {TOKEN}");
    let headers = [pb, ("authorization", bearer.as_str())];
    let answer = client.request("POST", "/v1/logs", &headers, &body).await;
    assert_eq!(answer.status, 200);
    queues.take(Signal::Logs);
    server.stop().await;
}

#[tokio::test]
async fn grpc_needs_the_bearer_token() {
    let (sink, queues) = guarded_sink("auth-grpc");
    let server = serve_grpc(plain().await, sink).await;
    let request = ExportLogsServiceRequest::decode(logs_bin().as_slice()).unwrap();

    let mut anonymous = LogsServiceClient::new(channel(server.addr).await);
    let status = anonymous.export(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing or invalid bearer token");

    for token in ["wrong", TOKEN] {
        let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        let mut client = LogsServiceClient::with_interceptor(
            channel(server.addr).await,
            move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("authorization", value.clone());
                Ok(req)
            },
        );
        let result = client.export(request.clone()).await;
        match token {
            TOKEN => assert!(result.is_ok(), "{result:?}"),
            _ => assert_eq!(result.unwrap_err().code(), Code::Unauthenticated),
        }
    }
    queues.take(Signal::Logs);
    assert!(queues.all_empty());
    server.stop().await;
}

/// A CA, a server certificate for localhost signed by it, and a client
/// certificate signed by it, as PEM files in a temporary directory.
struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

impl Pki {
    fn new(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = std::env::temp_dir().join(format!("ccpipe-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["client.test".to_owned()])
            .unwrap()
            .signed_by(&client_key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), server.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), server_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca: ca.der().clone(),
            client: (
                client.der().clone(),
                PrivatePkcs8KeyDer::from(client_key.serialize_der()).into(),
            ),
        }
    }

    fn files(&self, mutual: bool) -> TlsFiles {
        TlsFiles {
            cert_file: self.dir.join("cert.pem"),
            key_file: self.dir.join("key.pem"),
            client_ca_file: mutual.then(|| self.dir.join("ca.pem")),
        }
    }

    fn connector(&self, trust: bool, client_cert: bool, alpn: &[u8]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        if trust {
            roots.add(self.ca.clone()).unwrap();
        } else {
            // Some other CA: the server's certificate will not verify.
            let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            roots.add(other.cert.der().clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match client_cert {
            true => builder
                .with_client_auth_cert(vec![self.client.0.clone()], self.client.1.clone_key())
                .unwrap(),
            false => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![alpn.to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn acceptor(&self, mutual: bool, alpn: &[&[u8]]) -> Acceptor {
        let tls = self.files(mutual).server_config(alpn).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Acceptor::new(listener, Some(tls), 16)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
}

/// One HTTP/1.1 POST of the logs capture; the status code, or the I/O error
/// (a refused client certificate shows up on the first read in TLS 1.3).
async fn post_logs<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<u16> {
    let body = logs_bin();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut answer))
        .await
        .expect("answer in time")?;
    let text = String::from_utf8_lossy(&answer);
    let code = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    Ok(code)
}

#[tokio::test]
async fn http_over_tls_and_mutual_tls() {
    let pki = Pki::new("http");
    // TLS: a client that trusts the CA gets through; one that does not fails
    // the handshake; a plain-text client gets nothing.
    let (out, queues) = outputs(&Signal::ALL, 8);
    let server = serve_http(
        pki.acceptor(false, &[b"h2", b"http/1.1"]).await,
        sink("tls-http", out, Duration::from_millis(50)),
    )
    .await;
    let mut stream = tls_connect(&pki.connector(true, false, b"http/1.1"), server.addr)
        .await
        .unwrap();
    assert_eq!(post_logs(&mut stream).await.unwrap(), 200);
    queues.take(Signal::Logs);
    let untrusted = tls_connect(&pki.connector(false, false, b"http/1.1"), server.addr).await;
    assert!(untrusted.is_err(), "a client that does not trust the CA");
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        !matches!(post_logs(&mut plain).await, Ok(200)),
        "plain HTTP on a TLS port"
    );
    assert!(queues.all_empty());
    server.stop().await;

    // Mutual TLS: only a client with a certificate from the CA.
    let (out, queues) = outputs(&Signal::ALL, 8);
    let server = serve_http(
        pki.acceptor(true, &[b"h2", b"http/1.1"]).await,
        sink("mtls-http", out, Duration::from_millis(50)),
    )
    .await;
    let mut stream = tls_connect(&pki.connector(true, true, b"http/1.1"), server.addr)
        .await
        .unwrap();
    assert_eq!(post_logs(&mut stream).await.unwrap(), 200);
    queues.take(Signal::Logs);
    let refused = match tls_connect(&pki.connector(true, false, b"http/1.1"), server.addr).await {
        Err(e) => Err(e),
        Ok(mut stream) => post_logs(&mut stream).await,
    };
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    assert!(queues.all_empty());
    server.stop().await;
}

/// A gRPC unary call over `io` with a hand-made HTTP/2 client; the
/// `grpc-status` of the answer.
async fn grpc_export<S>(io: S, body: &[u8]) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    let request = http::Request::post(
        "https://localhost/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    )
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(Full::new(Bytes::from(framed)))
    .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let status = parts
        .headers
        .get("grpc-status")
        .or_else(|| collected.trailers().and_then(|t| t.get("grpc-status")))
        .expect("a grpc-status");
    status.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn grpc_over_mutual_tls() {
    let pki = Pki::new("grpc");
    let (outputs, queues) = outputs(&Signal::ALL, 8);
    let server = serve_grpc(
        pki.acceptor(true, &[b"h2"]).await,
        sink("mtls-grpc", outputs, Duration::from_millis(50)),
    )
    .await;
    let stream = tls_connect(&pki.connector(true, true, b"h2"), server.addr)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(grpc_export(stream, &logs_bin()).await, "0");
    queues.take(Signal::Logs);
    let refused = match tls_connect(&pki.connector(true, false, b"h2"), server.addr).await {
        Err(e) => Err(e),
        Ok(mut stream) => {
            // The server refuses the missing certificate after the client's
            // side of the handshake: the first read fails.
            let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
            let mut buf = [0u8; 64];
            tokio::time::timeout(STEP, stream.read(&mut buf))
                .await
                .expect("an answer or an error in time")
        }
    };
    assert!(
        !matches!(refused, Ok(n) if n > 0),
        "no client certificate: {refused:?}"
    );
    assert!(queues.all_empty());
    server.stop().await;
}

#[test]
fn unreadable_or_mismatched_tls_files_are_clear_errors() {
    let pki = Pki::new("files");
    let missing = TlsFiles {
        cert_file: Path::new("/nonexistent/cert.pem").to_owned(),
        ..pki.files(false)
    };
    let err = missing.server_config(&[]).unwrap_err().to_string();
    assert!(
        err.starts_with("tls.cert_file: /nonexistent/cert.pem: cannot read it:"),
        "{err}"
    );
    let swapped = TlsFiles {
        key_file: pki.dir.join("cert.pem"),
        ..pki.files(false)
    };
    let err = swapped.server_config(&[]).unwrap_err().to_string();
    assert!(err.starts_with("tls.key_file: "), "{err}");
    let not_a_ca = TlsFiles {
        client_ca_file: Some(pki.dir.join("key.pem")),
        ..pki.files(false)
    };
    let err = not_a_ca.server_config(&[]).unwrap_err().to_string();
    assert!(err.starts_with("tls.client_ca_file: "), "{err}");
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let (out, queues) = outputs(&Signal::ALL, 8);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = serve_http(
        Acceptor::new(listener, None, 1),
        sink("limit", out, Duration::from_millis(50)),
    )
    .await;
    let mut first = H1::connect(server.addr).await;
    let pb = [("content-type", "application/x-protobuf")];
    let answer = first.request("POST", "/v1/logs", &pb, &logs_bin()).await;
    assert_eq!(answer.status, 200);
    // The second connection waits in the backlog while the first is open...
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    let waiting = tokio::spawn(async move {
        let code = post_logs(&mut second).await;
        (code, std::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past max_connections");
    // ...and is served once the first closes.
    let closed = std::time::Instant::now();
    drop(first);
    let (code, served) = tokio::time::timeout(STEP, waiting).await.unwrap().unwrap();
    assert_eq!(code.unwrap(), 200);
    assert!(served >= closed);
    queues.take(Signal::Logs);
    queues.take(Signal::Logs);
    server.stop().await;
}
