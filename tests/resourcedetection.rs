//! configs/resourcedetection.yaml as a sidecar user runs it: the real binary with its
//! own `OTEL_RESOURCE_ATTRIBUTES`, Claude Code's captured requests over
//! HTTP, every resource in the file tagged with this host and those pairs,
//! and a malformed variable refused at start with what to fix.

mod common;

use std::process::Command;
use std::time::Duration;

use ccpipe_pipeline::Records;
use common::process::{bin, Ccpipe};
use common::*;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};

/// The shipped configs/resourcedetection.yaml, unchanged, with an overlay
/// for free ports and the output file, as a user layers a local override.
fn command(dir: &std::path::Path, out: &std::path::Path) -> Command {
    let overlay = dir.join("overlay.yaml");
    std::fs::write(
        &overlay,
        format!(
            "receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:0\" }}, http: {{ endpoint: \"127.0.0.1:0\" }} }} }} }}\n\
             exporters: {{ file: {{ path: \"{}\" }} }}\n\
             service: {{ health: {{ address: \"\" }}, telemetry: {{ metrics: {{ address: \"\" }} }} }}\n",
            out.display()
        ),
    )
    .unwrap();
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/resourcedetection.yaml");
    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(shipped)
        .arg("--config")
        .arg(overlay);
    command
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

#[test]
fn a_sidecar_tags_every_resource_with_its_host_and_environment() {
    let dir = temp_dir("resourcedetection");
    let out = dir.join("out.jsonl");
    let mut command = command(&dir, &out);
    command.env(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=ci,team=platform%2Fobs,os.type=from-ccpipe",
    );
    let ccpipe = Ccpipe::start_command(command);
    assert!(
        ccpipe
            .stderr()
            .contains("resourcedetection: deployment.environment.name=ci"),
        "the start log says what was detected:\n{}",
        ccpipe.stderr()
    );

    let sent = load_variant("http-protobuf");
    let mut conn = HttpConn::connect(ccpipe.http.unwrap());
    for c in &sent {
        let response = conn.send_capture(c);
        assert_eq!(response.status, 200, "{}", c.file);
    }
    drop(conn);
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let written = read_jsonl(&out);
    let items: usize = written.iter().map(|b| b.item_count()).sum();
    assert_eq!(items, sent.iter().map(|c| c.items).sum::<usize>());
    let all: Vec<&[KeyValue]> = written
        .iter()
        .flat_map(Records::resource_attributes)
        .collect();
    assert!(all.len() >= sent.len());
    for attrs in &all {
        assert_eq!(string_attr(attrs, "host.name"), Some(host.trim()));
        assert_eq!(
            string_attr(attrs, "deployment.environment.name"),
            Some("ci")
        );
        assert_eq!(string_attr(attrs, "team"), Some("platform/obs"));
        // override: false keeps what Claude Code said about its own machine
        assert_eq!(string_attr(attrs, "service.name"), Some("claude-code"));
        assert_eq!(string_attr(attrs, "os.type"), Some("linux"));
    }
}

#[test]
fn a_malformed_resource_attributes_variable_stops_ccpipe_with_what_to_fix() {
    let dir = temp_dir("resourcedetection-bad-env");
    let output = command(&dir, &dir.join("out.jsonl"))
        .env("OTEL_RESOURCE_ATTRIBUTES", "team=platform,just-a-word")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("resourcedetection")
            && stderr.contains(
                "OTEL_RESOURCE_ATTRIBUTES is not `key=value,…`: \"just-a-word\" has no `=`"
            ),
        "{stderr}"
    );
}
