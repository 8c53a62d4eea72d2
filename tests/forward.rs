//! End to end, in process: the captured Claude Code requests go into ccpipe,
//! out through the `otlp` (gRPC) exporter into a second ccpipe that writes
//! JSONL, and through the `otlp_http` exporter into a fake OTLP/HTTP
//! receiver. The second ccpipe must hold exactly the captured records, points
//! and spans; the fake must receive each request's bytes as they were sent
//! (forwarded without decoding), gzipped, with the configured header.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ccpipe_pipeline::batch::Signal;
use ccpipe_pipeline::config;
use common::*;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

/// What the fake OTLP/HTTP receiver got: path, header, uncompressed body.
type Received = Arc<Mutex<Vec<(String, Option<String>, Vec<u8>)>>>;

async fn start_fake_http() -> (SocketAddr, Received, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let record = Arc::clone(&received);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let record = Arc::clone(&record);
                        async move {
                            let (parts, body) = req.into_parts();
                            let wire = body.collect().await.unwrap().to_bytes();
                            assert_eq!(parts.headers["content-encoding"], "gzip");
                            let mut raw = Vec::new();
                            flate2::read::GzDecoder::new(&wire[..])
                                .read_to_end(&mut raw)
                                .unwrap();
                            let tenant = parts
                                .headers
                                .get("x-scope-orgid")
                                .map(|v| v.to_str().unwrap().to_owned());
                            record
                                .lock()
                                .unwrap()
                                .push((parts.uri.path().to_owned(), tenant, raw));
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::new(),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, received, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_are_forwarded_intact() {
    let dir = temp_dir("forward");
    let out = dir.join("out.jsonl");

    // The destination of the gRPC forwarder: another ccpipe writing JSONL.
    let sink_yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
exporters:
  file: {{ path: "{}", flush_interval: 100ms }}
service:
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    traces:  {{ receivers: [otlp], exporters: [file] }}
"#,
        out.display()
    );
    let sink = InProcess::start(&config::load_str("sink.yaml", &sink_yaml).unwrap())
        .await
        .expect("sink builds");
    let sink_grpc = sink.addr("grpc");

    let (fake, received, fake_task) = start_fake_http().await;
    std::env::set_var("CCPIPE_TEST_FORWARD_TENANT", "team-a");
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  otlp: {{ endpoint: "http://{sink_grpc}" }}
  otlp_http:
    endpoint: "http://{fake}/otlp"
    headers: {{ X-Scope-OrgID: "${{env:CCPIPE_TEST_FORWARD_TENANT}}" }}
service:
  pipelines:
    logs:    {{ receivers: [otlp], exporters: [otlp, otlp_http] }}
    metrics: {{ receivers: [otlp], exporters: [otlp, otlp_http] }}
    traces:  {{ receivers: [otlp], exporters: [otlp, otlp_http] }}
"#
    );
    let service = InProcess::start(&config::load_str("forward.yaml", &yaml).unwrap())
        .await
        .expect("forwarder builds");

    let captures = load_variant("http-protobuf");
    let bodies: Vec<(Signal, Vec<u8>)> = captures
        .iter()
        .map(|c| (c.signal, c.body.clone()))
        .collect();
    let sent: usize = captures.iter().map(|c| c.items).sum();
    let expected: Vec<_> = Signal::ALL
        .into_iter()
        .map(|s| concat(s, captures.iter().map(|c| c.expected.clone())))
        .collect();
    send_captures(&service, &captures).await;

    let summary = service.stop().await.expect("forwarder shuts down cleanly");
    assert_eq!(summary.items_failed, 0);
    assert_eq!(
        summary.items_sent as usize,
        2 * sent,
        "both forwarders sent all"
    );
    sink.stop().await.expect("sink shuts down cleanly");
    fake_task.abort();

    // gRPC: decoded contents equal.
    let written = read_jsonl(&out);
    for (signal, want) in Signal::ALL.into_iter().zip(&expected) {
        let got = concat(signal, written.iter().cloned());
        assert_eq!(got.item_count(), want.item_count(), "{signal} count");
        assert!(&got == want, "{signal} differs after gRPC forwarding");
    }

    // HTTP: the bytes as received, per signal in order, with the header.
    let received = received.lock().unwrap().clone();
    for signal in Signal::ALL {
        let path = format!("/otlp/v1/{signal}");
        let got: Vec<&Vec<u8>> = received
            .iter()
            .filter(|(p, _, _)| *p == path)
            .map(|(_, _, raw)| raw)
            .collect();
        let want: Vec<&Vec<u8>> = bodies
            .iter()
            .filter(|(s, _)| *s == signal)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(
            got, want,
            "{signal}: forwarded bytes equal the received ones"
        );
    }
    assert!(received
        .iter()
        .all(|(_, tenant, _)| tenant.as_deref() == Some("team-a")));
    let _ = std::fs::remove_dir_all(dir);
}
