//! OTLP/HTTP: every error answer, keep-alive after errors, backpressure, h2c.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::telemetry::receiver_refused;
use ccpipe_pipeline::testing::XorshiftStar as Rng;
use ccpipe_pipeline::{Records, Signal};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

use super::{
    counter, http_settings, outputs, record_metrics, sink, start_http, Answer, Running, H1, STEP,
};

const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// A real logs request from Claude Code (13 log records).
fn logs_bin() -> Vec<u8> {
    std::fs::read(format!("{CAPTURES}/http-protobuf/otlp/0002-http-logs.bin")).unwrap()
}

fn traces_bin() -> Vec<u8> {
    std::fs::read(format!(
        "{CAPTURES}/http-protobuf/otlp/0003-http-traces.bin"
    ))
    .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// `data` in each `content-encoding` the receiver takes besides identity.
fn compressed(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => gzip(data),
        "deflate" => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        other => panic!("no encoder for {other}"),
    }
}

/// google.rpc.Status, decoded independently of the receiver's own struct.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn protobuf_status(answer: &Answer) -> Status {
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    Status::decode(&answer.body[..]).expect("a google.rpc.Status body")
}

fn json_status(answer: &Answer) -> serde_json::Value {
    assert_eq!(answer.header("content-type"), Some(JSON));
    serde_json::from_slice(&answer.body).expect("a JSON status body")
}

/// A server with all three pipelines and a 64 KiB body limit.
async fn server(name: &str) -> (Running, super::Queues) {
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let server = start_http(
        http_settings(64 << 10),
        sink(name, outputs, Duration::from_millis(50)),
    )
    .await;
    (server, queues)
}

/// A new connection whose first logs request was answered 200.
async fn connected_and_accepted(server: &Running) -> H1 {
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    client
}

/// The head of a protobuf logs request whose body of `len` bytes follows.
fn logs_head(len: usize) -> String {
    format!(
        "POST /v1/logs HTTP/1.1\r\nhost: ccpipe.test\r\ncontent-type: {PROTOBUF}\r\n\
         content-length: {len}\r\n\r\n"
    )
}

/// After an error, the same keep-alive connection still takes a good request.
async fn assert_still_usable(client: &mut H1, queues: &super::Queues) {
    let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
}

#[tokio::test]
async fn malformed_protobuf_is_400_and_the_connection_stays_usable() {
    let (server, queues) = server("bad-protobuf").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client
        .post("/v1/logs", PROTOBUF, None, b"\x0a\xff\xff\xff\xff")
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("connection"), None);
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(
        status.message.starts_with("malformed protobuf body: "),
        "{}",
        status.message
    );
    assert!(queues.all_empty());
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_in_json() {
    let (server, queues) = server("bad-json").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client
        .post(
            "/v1/logs",
            "application/json; charset=utf-8",
            None,
            b"{\"resourceLogs\": [",
        )
        .await;
    assert_eq!(answer.status, 400);
    let status = json_status(&answer);
    assert_eq!(status["code"], 3);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("malformed JSON body: line 1 column "),
        "{message}"
    );
    assert!(queues.all_empty());
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn json_with_a_charset_parameter_is_accepted() {
    let (server, queues) = server("json-charset").await;
    let mut client = H1::connect(server.addr).await;
    let body = std::fs::read(format!("{CAPTURES}/http-json/otlp/0002-http-logs.json")).unwrap();
    let answer = client
        .post("/v1/logs", "Application/JSON; charset=utf-8", None, &body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.body, b"{}");
    assert_eq!(queues.take(Signal::Logs).item_count(), 9);
    server.stop().await;
}

#[tokio::test]
async fn bad_gzip_is_400() {
    let (server, queues) = server("bad-gzip").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client
        .post("/v1/logs", PROTOBUF, Some("gzip"), &logs_bin())
        .await;
    assert_eq!(answer.status, 400);
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 3);
    assert!(
        status.message.starts_with("malformed gzip body: "),
        "{}",
        status.message
    );

    // A truncated gzip stream is malformed too.
    let zipped = gzip(&logs_bin());
    let answer = client
        .post(
            "/v1/logs",
            PROTOBUF,
            Some("gzip"),
            &zipped[..zipped.len() / 2],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", protobuf_status(&answer).message);
    assert!(queues.all_empty());
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn gzip_identity_and_concatenated_members_are_accepted() {
    let (server, queues) = server("gzip-variants").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client
        .post("/v1/logs", PROTOBUF, Some("identity"), &logs_bin())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);

    // Two gzip members inflate to the concatenation: two copies of the request,
    // which protobuf merges into one request with 26 records.
    let mut twice = gzip(&logs_bin());
    twice.extend(gzip(&logs_bin()));
    let answer = client
        .post("/v1/logs", PROTOBUF, Some("GZIP"), &twice)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(queues.take(Signal::Logs).item_count(), 26);
    server.stop().await;
}

#[tokio::test]
async fn body_over_the_limit_by_content_length_is_413_at_once() {
    record_metrics();
    let (server, queues) = server("too-large").await;
    let mut client = H1::connect(server.addr).await;
    // Only the headers are sent: the answer must not wait for the body.
    client
        .write(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000000\r\n\r\n")
        .await;
    let answer = client.read_answer().await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("connection"), Some("close"));
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 8, "RESOURCE_EXHAUSTED");
    assert_eq!(
        status.message,
        "the body is larger than max_request_body_size (65536 bytes)"
    );
    assert!(client.is_closed().await);
    assert!(queues.all_empty());
    server.stop().await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413() {
    let (server, queues) = server("too-large-chunked").await;
    let mut client = H1::connect(server.addr).await;
    client
        .write(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        .await;
    let chunk = vec![b' '; 16 << 10];
    for _ in 0..5 {
        client
            .write(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        client.write(&chunk).await;
        client.write(b"\r\n").await;
    }
    let answer = client.read_answer().await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(json_status(&answer)["code"], 8);
    assert!(queues.all_empty());
    server.stop().await;
}

#[tokio::test]
async fn gzip_bomb_is_413_after_inflating_at_most_the_limit() {
    let (server, queues) = server("gzip-bomb").await;
    let mut client = H1::connect(server.addr).await;
    // 8 MiB of zeros: about 8 KiB on the wire, 128 times the limit once inflated.
    let bomb = gzip(&vec![0u8; 8 << 20]);
    assert!(
        bomb.len() < 64 << 10,
        "the compressed body is under the limit"
    );
    let answer = client.post("/v1/logs", PROTOBUF, Some("gzip"), &bomb).await;
    assert_eq!(answer.status, 413);
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 8);
    assert_eq!(
        status.message,
        "the decompressed body is larger than max_request_body_size (65536 bytes)"
    );
    assert!(queues.all_empty());
    // The body was read whole, so the connection stays open.
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// gzip, deflate (zlib) and zstd: a real request is accepted, a bomb stops at
/// the same limit as gzip's, and a broken stream is a 400 naming the encoding.
#[tokio::test]
async fn every_content_encoding_decompresses_within_the_limit() {
    let (server, queues) = server("encodings").await;
    let mut client = H1::connect(server.addr).await;
    for encoding in ["gzip", "deflate", "zstd", "ZSTD"] {
        let name = encoding.to_ascii_lowercase();
        let body = compressed(&name, &logs_bin());
        let answer = client
            .post("/v1/logs", PROTOBUF, Some(encoding), &body)
            .await;
        assert_eq!(answer.status, 200, "{encoding}: {}", answer.text());
        assert_eq!(queues.take(Signal::Logs).item_count(), 13, "{encoding}");

        let bomb = compressed(&name, &vec![0u8; 8 << 20]);
        assert!(
            bomb.len() < 64 << 10,
            "{encoding}: the bomb is under the limit"
        );
        let answer = client
            .post("/v1/logs", PROTOBUF, Some(encoding), &bomb)
            .await;
        assert_eq!(answer.status, 413, "{encoding}");
        assert_eq!(
            protobuf_status(&answer).message,
            "the decompressed body is larger than max_request_body_size (65536 bytes)",
            "{encoding}"
        );

        let truncated = &body[..body.len() / 2];
        let answer = client
            .post("/v1/logs", PROTOBUF, Some(encoding), truncated)
            .await;
        assert_eq!(answer.status, 400, "{encoding}");
        let message = protobuf_status(&answer).message;
        let want = format!("malformed {name} body: ");
        assert!(message.starts_with(&want), "{encoding}: {message}");
        assert!(queues.all_empty(), "{encoding}");
    }
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// A zstd frame that asks for a window larger than 8 MiB is refused before
/// the decoder reserves it.
#[tokio::test]
async fn zstd_frame_with_a_huge_window_is_refused() {
    let (server, queues) = server("zstd-window").await;
    let mut client = H1::connect(server.addr).await;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.window_log(27).unwrap();
    // No content size in the header, so the frame declares the full window.
    encoder.include_contentsize(false).unwrap();
    encoder.write_all(&logs_bin()).unwrap();
    let body = encoder.finish().unwrap();
    let answer = client.post("/v1/logs", PROTOBUF, Some("zstd"), &body).await;
    assert_eq!(answer.status, 400);
    let message = protobuf_status(&answer).message;
    assert!(message.starts_with("malformed zstd body: "), "{message}");
    assert!(queues.all_empty());
    server.stop().await;
}

#[tokio::test]
async fn unsupported_content_type_is_415_in_plain_text() {
    let (server, queues) = server("bad-type").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/logs", "text/plain", None, b"hello").await;
    assert_eq!(answer.status, 415);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        answer.text(),
        "unsupported content-type; use application/x-protobuf or application/json\n"
    );
    // No content type at all.
    let answer = client.request("POST", "/v1/logs", &[], b"x").await;
    assert_eq!(answer.status, 415);
    // The unread body was drained: the connection goes on.
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn unsupported_content_encoding_is_415() {
    let (server, queues) = server("bad-encoding").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/logs", JSON, Some("br"), b"{}").await;
    assert_eq!(answer.status, 415);
    let status = json_status(&answer);
    assert_eq!(
        status["message"],
        "unsupported content-encoding; use gzip, zstd, deflate or identity"
    );
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405() {
    let (server, queues) = server("routes").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/profiles", PROTOBUF, None, b"").await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.text(),
        "unknown path \"/v1/profiles\"; OTLP/HTTP is served on /v1/logs, /v1/metrics and /v1/traces\n"
    );
    let answer = client.request("GET", "/v1/logs", &[], b"").await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = client
        .request("PUT", "/v1/metrics", &[("content-type", PROTOBUF)], b"abc")
        .await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
    // A query string does not change the route.
    let answer = client
        .post("/v1/logs?x=1", PROTOBUF, None, &logs_bin())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn empty_request_is_accepted_without_a_batch() {
    let (server, queues) = server("empty").await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/traces", PROTOBUF, None, b"").await;
    assert_eq!(answer.status, 200);
    let answer = client.post("/v1/metrics", JSON, None, b"{}").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"{}");
    assert!(queues.all_empty());
    server.stop().await;
}

#[tokio::test]
async fn signal_without_a_pipeline_is_404() {
    record_metrics();
    let (outputs, queues) = outputs(&[Signal::Logs, Signal::Metrics], 4);
    let server = start_http(
        http_settings(64 << 10),
        sink("no-traces", outputs, Duration::from_millis(50)),
    )
    .await;
    let mut client = H1::connect(server.addr).await;
    let answer = client
        .post("/v1/traces", PROTOBUF, None, &traces_bin())
        .await;
    assert_eq!(answer.status, 404);
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 12, "UNIMPLEMENTED");
    assert_eq!(
        status.message,
        "no pipeline takes traces from this receiver"
    );
    let labels = [
        ("receiver", "otlp/no-traces"),
        ("reason", "no_pipeline"),
        ("transport", "http"),
    ];
    assert_eq!(counter(receiver_refused(Signal::Traces), &labels), 12);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn full_queue_is_503_with_retry_after() {
    record_metrics();
    let (outputs, queues) = outputs(&Signal::ALL, 1);
    let server = start_http(
        http_settings(64 << 10),
        sink("busy", outputs, Duration::from_millis(50)),
    )
    .await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
    assert_eq!(answer.status, 200);
    // Nobody drains the queue of one: the next request waits 50ms, then 503.
    let started = std::time::Instant::now();
    let answer = client
        .post(
            "/v1/logs",
            JSON,
            None,
            &std::fs::read(format!("{CAPTURES}/http-json/otlp/0002-http-logs.json")).unwrap(),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("1"));
    let status = json_status(&answer);
    assert_eq!(status["code"], 14, "UNAVAILABLE");
    assert_eq!(status["message"], "pipeline \"logs\" is busy; retry later");
    let labels = [("receiver", "otlp/busy"), ("reason", "busy")];
    assert_eq!(counter(receiver_refused(Signal::Logs), &labels), 9);
    // Once there is room again, the retry goes through on the same connection.
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// A byte budget that is full for a moment slows the client down instead of
/// refusing it: the request waits for room and is accepted once the chain
/// takes what fills the queue.
// Two workers: a sender that spun instead of waiting would still let the test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_that_frees_within_the_wait_accepts_the_request() {
    // Room left after the first request, but not enough for a second.
    let (outputs, queues) = super::outputs_in_bytes(&Signal::ALL, logs_bin().len() + 1);
    let server = start_http(http_settings(64 << 10), sink("frees", outputs, STEP)).await;
    let mut client = H1::connect(server.addr).await;
    let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
    assert_eq!(answer.status, 200);
    // The first request leaves too little of the budget: the next one waits.
    let waiting = tokio::spawn(async move {
        let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
        (answer.status, client)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the request waits for room");
    assert!(queues.rx[&Signal::Logs].len() == 1, "and is not queued yet");
    // The chain takes the first request: the waiting one goes in and is answered 200.
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    let (status, mut client) = tokio::time::timeout(STEP, waiting)
        .await
        .expect("answered once there is room")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// A request that cannot go in yet is not read: its body stays in the
/// kernel's socket buffers (the client cannot finish sending it) until the
/// chain takes what fills the queue; then it is read and accepted.
// Two workers: a sender that spun instead of waiting would still let the test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_read_only_once_the_pipeline_has_room() {
    let (outputs, queues) = super::outputs_in_bytes(&Signal::ALL, logs_bin().len() + 1);
    let server = start_http(http_settings(8 << 20), sink("unread", outputs, STEP)).await;
    let mut client = connected_and_accepted(&server).await;
    // 4 MiB of records (the capture repeated: one valid request), far more
    // than the socket buffers of an unread connection hold: the client's
    // send buffer is pinned small, and an unread receive buffer does not grow.
    let copies = (4 << 20) / logs_bin().len();
    let big = logs_bin().repeat(copies);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 << 10).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut waiting = H1 {
        stream: tokio::io::BufReader::new(stream),
    };
    let written = Arc::new(AtomicBool::new(false));
    let sent = written.clone();
    let sending = tokio::spawn(async move {
        waiting.write(logs_head(big.len()).as_bytes()).await;
        waiting.write(&big).await;
        sent.store(true, Ordering::Release);
        let answer = waiting.read_answer().await;
        (answer.status, waiting)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !written.load(Ordering::Acquire),
        "the body is not read while the queue has no room for it"
    );
    assert_eq!(
        queues.rx[&Signal::Logs].len(),
        1,
        "nothing queued past the budget"
    );
    // The chain takes the first request: the body is read and accepted.
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    let (status, _) = tokio::time::timeout(STEP, sending)
        .await
        .expect("read and answered once there is room")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(queues.take(Signal::Logs).item_count(), 13 * copies);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// Bodies are read a few at a time (`INTAKE_BYTES`); one that holds the
/// whole share by sending slowly delays the next request by at most
/// `backpressure_wait`, which is then read and accepted, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_delays_other_bodies_at_most_the_wait() {
    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let server = start_http(
        http_settings(8 << 20),
        sink("intake", outputs, Duration::from_millis(400)),
    )
    .await;
    // Announces a body as large as the whole share and sends half of it.
    let copies = crate::otlp::sink::INTAKE_BYTES / logs_bin().len() + 1;
    let big = logs_bin().repeat(copies);
    let mut slow = H1::connect(server.addr).await;
    slow.write(logs_head(big.len()).as_bytes()).await;
    slow.write(&big[..big.len() / 2]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut client = H1::connect(server.addr).await;
    let waiting = tokio::spawn(async move {
        let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
        (answer.status, client)
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        !waiting.is_finished(),
        "the next body waits for its share of the intake"
    );
    let (status, mut client) = tokio::time::timeout(STEP, waiting)
        .await
        .expect("read once the wait is over")
        .unwrap();
    assert_eq!(status, 200, "late, but accepted");
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    // The slow body, finished, is accepted too.
    slow.write(&big[big.len() / 2..]).await;
    assert_eq!(slow.read_answer().await.status, 200);
    assert_eq!(queues.take(Signal::Logs).item_count(), 13 * copies);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// A body looks for room in the pipeline's queue once it has its intake
/// share, not before: two bodies arrive while the queue is empty and wait
/// for the share behind a slow one; once the slow one fills the queue,
/// neither is read until the chain takes something. (Room looked for first,
/// both were read and decoded in turn to wait beside the full queue: under
/// load, every connection's decoded request in the heap at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_waited_for_their_share_wait_for_room_unread() {
    let (outputs, queues) = outputs(&Signal::ALL, 1);
    let server = start_http(
        http_settings(8 << 20),
        sink("held", outputs, Duration::from_secs(5)),
    )
    .await;
    // Each body is larger than the whole share, and larger than what the
    // socket buffers of an unread connection hold (as above).
    let copies = (4 << 20) / logs_bin().len();
    let big = logs_bin().repeat(copies);
    let mut slow = H1::connect(server.addr).await;
    slow.write(logs_head(big.len()).as_bytes()).await;
    slow.write(&big[..big.len() / 2]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(64 << 10).unwrap();
        let mut client = H1 {
            stream: tokio::io::BufReader::new(socket.connect(server.addr).await.unwrap()),
        };
        let written = Arc::new(AtomicBool::new(false));
        let sent = written.clone();
        let body = big.clone();
        let answered = tokio::spawn(async move {
            client.write(logs_head(body.len()).as_bytes()).await;
            client.write(&body).await;
            sent.store(true, Ordering::Release);
            client.read_answer().await.status
        });
        waiting.push((written, answered));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.write(&big[big.len() / 2..]).await;
    assert_eq!(
        slow.read_answer().await.status,
        200,
        "the slow body is queued"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = waiting
        .iter()
        .filter(|(written, _)| written.load(Ordering::Acquire))
        .count();
    assert_eq!(read, 0, "no body is read while the queue has no room");
    for (_, answered) in waiting {
        assert_eq!(queues.take(Signal::Logs).item_count(), 13 * copies);
        let status = tokio::time::timeout(STEP, answered)
            .await
            .expect("read once the chain takes a batch")
            .unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(queues.take(Signal::Logs).item_count(), 13 * copies);
    server.stop().await;
}

/// The same budget, never freed: 503 with Retry-After once the wait ends,
/// and nothing was queued past the budget.
// Two workers: a sender that spun instead of waiting would still let the test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_that_stays_full_is_503_after_the_wait() {
    let (outputs, queues) = super::outputs_in_bytes(&Signal::ALL, logs_bin().len() + 1);
    let server = start_http(
        http_settings(64 << 10),
        sink("stays-full", outputs, Duration::from_millis(300)),
    )
    .await;
    let mut client = connected_and_accepted(&server).await;
    let waiting = tokio::spawn(async move {
        let answer = client.post("/v1/logs", PROTOBUF, None, &logs_bin()).await;
        (answer, client)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "the request waits before it is refused"
    );
    let (answer, mut client) = tokio::time::timeout(STEP, waiting).await.unwrap().unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("1"));
    let status = protobuf_status(&answer);
    assert_eq!(status.code, 14, "UNAVAILABLE");
    assert_eq!(status.message, "pipeline \"logs\" is busy; retry later");
    assert_eq!(
        queues.rx[&Signal::Logs].len(),
        1,
        "only the first request was queued"
    );
    assert_eq!(queues.take(Signal::Logs).item_count(), 13);
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_on_the_same_port() {
    let (server, queues) = server("h2c").await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    for (path, status) in [("/v1/logs", 200), ("/v1/nope", 404)] {
        let request = http::Request::post(format!("http://{}{path}", server.addr))
            .header("content-type", PROTOBUF)
            .body(Full::new(Bytes::from(logs_bin())))
            .unwrap();
        let response = tokio::time::timeout(STEP, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), status);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if status == 200 {
            assert!(body.is_empty());
        }
    }
    assert!(matches!(queues.take(Signal::Logs), Records::Logs(_)));
    assert!(queues.all_empty());
    drop(sender);
    server.stop().await;
    let _ = tokio::time::timeout(STEP, conn)
        .await
        .expect("the h2 connection ends");
}

/// Truncates, flips bytes in, or splices random bytes into `data`.
fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    match rng.below(3) {
        0 => out.truncate(rng.below(out.len().max(1))),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(out.len().max(1));
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        _ => {
            let at = rng.below(out.len().max(1));
            let junk: Vec<u8> = (0..1 + rng.below(16))
                .map(|_| rng.next_u64() as u8)
                .collect();
            out.splice(at..at, junk);
        }
    }
    out
}

/// Mutated captures, decoded directly: every outcome is a result, never a panic.
#[test]
fn mutated_bodies_never_panic_the_decoder() {
    use crate::otlp::decode::{decode, Encoding, Format};
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let sources = [
        (
            "http-protobuf/otlp/0002-http-logs.bin",
            Signal::Logs,
            Format::Protobuf,
            Encoding::Identity,
        ),
        (
            "http-protobuf/otlp/0001-http-metrics.bin",
            Signal::Metrics,
            Format::Protobuf,
            Encoding::Identity,
        ),
        (
            "http-protobuf-gzip/otlp/0003-http-traces.body.gzip",
            Signal::Traces,
            Format::Protobuf,
            Encoding::Gzip,
        ),
        (
            "http-json/otlp/0002-http-logs.json",
            Signal::Logs,
            Format::Json,
            Encoding::Identity,
        ),
        (
            "http-json/otlp/0004-http-metrics.json",
            Signal::Metrics,
            Format::Json,
            Encoding::Identity,
        ),
        (
            "http-json/otlp/0003-http-traces.json",
            Signal::Traces,
            Format::Json,
            Encoding::Identity,
        ),
    ];
    let mut outcomes = [0usize; 2];
    for (file, signal, format, encoding) in sources {
        let original = std::fs::read(format!("{CAPTURES}/{file}")).unwrap();
        for _ in 0..300 {
            let body = mutate(&mut rng, &original);
            let result = decode(signal, format, encoding, &body[..], 1 << 20);
            outcomes[result.is_ok() as usize] += 1;
        }
    }
    // Both kinds of outcome happen, so the mutations reach past the first byte.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// Mutated captures over one keep-alive connection: each gets a prompt
/// 200, 400 or 413, and the connection serves the next one.
#[tokio::test]
async fn mutated_bodies_are_answered_on_one_connection() {
    let (server, queues) = server("mutations").await;
    let mut client = H1::connect(server.addr).await;
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let sources = [
        (
            "http-protobuf/otlp/0002-http-logs.bin",
            "/v1/logs",
            PROTOBUF,
            None,
        ),
        (
            "http-protobuf-gzip/otlp/0001-http-metrics.body.gzip",
            "/v1/metrics",
            PROTOBUF,
            Some("gzip"),
        ),
        (
            "http-json/otlp/0003-http-traces.json",
            "/v1/traces",
            JSON,
            None,
        ),
    ];
    for (file, path, content_type, encoding) in sources {
        let original = std::fs::read(format!("{CAPTURES}/{file}")).unwrap();
        let signal = Signal::from_type(&path[4..]).unwrap();
        for _ in 0..40 {
            let body = mutate(&mut rng, &original);
            let answer = client.post(path, content_type, encoding, &body).await;
            match answer.status {
                200 => drop(queues.rx[&signal].try_recv()),
                400 | 413 => assert!(!answer.body.is_empty()),
                other => panic!("{file}: unexpected {other}: {}", answer.text()),
            }
        }
    }
    assert_still_usable(&mut client, &queues).await;
    server.stop().await;
}

/// Bodies over 128 KiB are decoded on the blocking pool; the answer is the same.
#[tokio::test]
async fn large_bodies_are_decoded_off_the_async_threads() {
    let (outputs, queues) = outputs(&Signal::ALL, 4);
    let server = start_http(
        http_settings(4 << 20),
        sink("large", outputs, Duration::from_millis(50)),
    )
    .await;
    let mut client = H1::connect(server.addr).await;
    // Concatenated protobuf messages merge: 20 copies make one request of 260 records.
    let big: Vec<u8> = logs_bin().repeat(20);
    assert!(big.len() > 128 << 10);
    let answer = client.post("/v1/logs", PROTOBUF, None, &big).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(queues.take(Signal::Logs).item_count(), 13 * 20);
    // The same, gzipped (about 16 KiB on the wire).
    let answer = client
        .post("/v1/logs", PROTOBUF, Some("gzip"), &gzip(&big))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(queues.take(Signal::Logs).item_count(), 13 * 20);
    // Malformed and large: a 400 from the blocking pool.
    let mut bad = big.clone();
    bad.truncate(big.len() - 3);
    let answer = client.post("/v1/logs", PROTOBUF, None, &bad).await;
    assert_eq!(answer.status, 400);
    assert!(queues.all_empty());
    server.stop().await;
}

/// Slow clients: one that stops halfway through its headers is cut off
/// after `read_header_timeout`, one that stops halfway through its body gets
/// 408 after `read_timeout`; neither holds up a client on another connection.
#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off_without_stalling_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (outputs, queues) = outputs(&Signal::ALL, 16);
    let mut settings = http_settings(64 << 10);
    settings.read_header_timeout = Duration::from_millis(300);
    settings.read_timeout = Duration::from_millis(300);
    let server = start_http(settings, sink("slow", outputs, Duration::from_millis(50))).await;

    let connected = tokio::time::Instant::now();
    // Half the headers, then nothing.
    let mut slow_headers = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow_headers
        .write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-ty")
        .await
        .unwrap();
    // Headers promising 1000 bytes, then 10.
    let mut slow_body = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n0123456789",
        )
        .await
        .unwrap();

    // Meanwhile another client is served at once.
    let mut client = H1::connect(server.addr).await;
    assert_still_usable(&mut client, &queues).await;

    // Both slow ones end within a bound: the first closed (hyper may write a
    // 408 first), the second answered 408 and closed.
    let read_all = |mut s: tokio::net::TcpStream| async move {
        let mut got = Vec::new();
        tokio::time::timeout(STEP, s.read_to_end(&mut got))
            .await
            .expect("the server cut the slow client off")
            .map(|_| String::from_utf8_lossy(&got).into_owned())
            .unwrap_or_default()
    };
    let headers_answer = read_all(slow_headers).await;
    // Cut off by the timer, not at once.
    assert!(connected.elapsed() >= Duration::from_millis(300));
    assert!(
        headers_answer.is_empty() || headers_answer.starts_with("HTTP/1.1 408"),
        "{headers_answer}"
    );
    let body_answer = read_all(slow_body).await;
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    assert!(
        body_answer.contains("the body was not received in time"),
        "{body_answer}"
    );
    assert!(queues.all_empty(), "nothing from the slow clients went in");
    server.stop().await;
}
