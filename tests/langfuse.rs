//! The Langfuse bridge end to end, in process: Claude Code's captured events
//! enter a logs pipeline, the `langfuse_traces` connector turns them into one
//! trace per prompt for a traces pipeline, and the `otlp_http` exporter posts
//! them, with Basic auth, to a fake Langfuse OTLP endpoint. With an hour-long
//! wait only the shutdown flush can have sent them.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ccpipe_pipeline::config;
use ccpipe_pipeline::records::{Records, Signal};
use common::*;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use tokio::net::TcpListener;

/// What the fake received: path, Authorization header, decoded request.
type Received = Arc<Mutex<Vec<(String, Option<String>, ExportTraceServiceRequest)>>>;

async fn start_fake_langfuse() -> (SocketAddr, Received, tokio::task::JoinHandle<()>) {
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
                            let mut raw = Vec::new();
                            if parts.headers.get("content-encoding").is_some() {
                                assert_eq!(parts.headers["content-encoding"], "gzip");
                                flate2::read::GzDecoder::new(&wire[..])
                                    .read_to_end(&mut raw)
                                    .unwrap();
                            } else {
                                raw = wire.to_vec();
                            }
                            assert_eq!(parts.headers["content-type"], "application/x-protobuf");
                            let auth = parts
                                .headers
                                .get("authorization")
                                .map(|v| v.to_str().unwrap().to_owned());
                            let request = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
                            record.lock().unwrap().push((
                                parts.uri.path().to_owned(),
                                auth,
                                request,
                            ));
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

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::IntValue(i)) => *i,
        Some(Value::StringValue(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_traces_posted_to_langfuse_with_basic_auth() {
    let (fake, received, fake_task) = start_fake_langfuse().await;
    // base64("pk-lf-test:sk-lf-test")
    let auth = "Basic cGstbGYtdGVzdDpzay1sZi10ZXN0";
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
connectors:
  langfuse_traces: {{ wait: 1h }}
exporters:
  otlp_http/langfuse:
    traces_endpoint: "http://{fake}/api/public/otel/v1/traces"
    headers: {{ Authorization: "{auth}" }}
service:
  telemetry: {{ metrics: {{ address: "" }} }}
  health: {{ address: "" }}
  pipelines:
    logs:   {{ receivers: [otlp], exporters: [langfuse_traces] }}
    traces: {{ receivers: [langfuse_traces], exporters: [otlp_http/langfuse] }}
"#
    );
    let cfg = config::load_str("langfuse.yaml", &yaml).expect("config loads");
    let service = InProcess::start(&cfg).await.expect("service builds");
    let logs: Vec<_> = load_variant("http-protobuf")
        .into_iter()
        .filter(|c| c.signal == Signal::Logs)
        .collect();
    send_captures(&service, &logs).await;
    assert!(received.lock().unwrap().is_empty(), "held for late events");
    service.stop().await.expect("clean shutdown");
    fake_task.abort();

    // What the events say.
    let mut prompts = BTreeSet::new();
    let (mut input, mut output) = (0i64, 0i64);
    for c in &logs {
        let Records::Logs(r) = &c.expected else {
            continue;
        };
        for lr in r
            .resource_logs
            .iter()
            .flat_map(|x| &x.scope_logs)
            .flat_map(|x| &x.log_records)
        {
            let name = find(&lr.attributes, "event.name");
            let Some(Value::StringValue(name)) = name else {
                continue;
            };
            let Some(Value::StringValue(p)) = find(&lr.attributes, "prompt.id") else {
                continue;
            };
            if [
                "user_prompt",
                "api_request",
                "api_error",
                "tool_result",
                "tool_decision",
            ]
            .contains(&name.as_str())
            {
                prompts.insert(p.clone());
            }
            if name == "api_request" {
                input += int(find(&lr.attributes, "input_tokens"));
                output += int(find(&lr.attributes, "output_tokens"));
            }
        }
    }
    assert!(
        !prompts.is_empty() && input > 0,
        "the captures hold prompts"
    );

    let got = received.lock().unwrap();
    assert!(!got.is_empty(), "nothing exported");
    let (mut traces, mut got_in, mut got_out, mut generations) = (BTreeSet::new(), 0, 0, 0);
    for (path, header, request) in got.iter() {
        assert_eq!(path, "/api/public/otel/v1/traces");
        assert_eq!(header.as_deref(), Some(auth));
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            traces.insert(span.trace_id.clone());
            assert_eq!(span.trace_id.len(), 16);
            assert_eq!(span.span_id.len(), 8);
            if let Some(Value::StringValue(t)) = find(&span.attributes, "langfuse.observation.type")
            {
                if t == "generation" {
                    generations += 1;
                    assert!(find(&span.attributes, "gen_ai.request.model").is_some());
                }
            }
            got_in += int(find(&span.attributes, "gen_ai.usage.input_tokens"));
            got_out += int(find(&span.attributes, "gen_ai.usage.output_tokens"));
        }
    }
    assert_eq!(traces.len(), prompts.len(), "one trace per prompt.id");
    assert!(generations > 0);
    assert_eq!((got_in, got_out), (input, output));
}
