//! The `ccpipe` binary: SIGTERM drains everything accepted, and the CLI's
//! validate / print-config / error paths.

mod common;

use std::process::Command;
use std::time::Duration;

use ccpipe_pipeline::batch::Signal;
use common::process::{bin, Ccpipe};
use common::*;

fn file_pipeline_config(out: &std::path::Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  batch: {{ send_batch_size: 100000, timeout: 1h }}
exporters:
  file: {{ path: "{}", flush_interval: 1h }}
service:
  pipelines:
    logs:    {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
    traces:  {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#,
        out.display()
    )
}

/// Everything answered 200 before SIGTERM is in the file after exit, even with
/// a batcher and a file buffer that would otherwise hold it for an hour.
#[test]
fn sigterm_drains_everything_accepted() {
    let dir = temp_dir("sigterm");
    let out = dir.join("out.jsonl");
    let cfg = write_config(&dir, &file_pipeline_config(&out));
    let ccpipe = Ccpipe::start(&cfg);
    let captures = load_variant("http-protobuf-gzip");
    let mut conn = HttpConn::connect(ccpipe.http.expect("http listener"));
    for c in &captures {
        assert_eq!(conn.send_capture(c).status, 200, "{}", c.file);
    }
    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{stderr}");
    let written = read_jsonl(&out);
    for signal in Signal::ALL {
        let expected = concat(signal, captures.iter().map(|c| c.expected.clone()));
        let got = concat(signal, written.iter().cloned());
        assert!(got == expected, "{signal} differ after SIGTERM");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigint_stops_cleanly_when_idle() {
    let dir = temp_dir("sigint");
    let cfg = write_config(&dir, &file_pipeline_config(&dir.join("out.jsonl")));
    let ccpipe = Ccpipe::start(&cfg);
    ccpipe.signal("INT");
    let (status, stderr) = ccpipe.wait(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn validate_accepts_shipped_config_and_opens_nothing() {
    let out = Command::new(bin())
        .args(["validate", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/file.yaml"))
        .env("CCPIPE_DATA_DIR", "/nonexistent/never-created")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config OK"));
    assert!(!std::path::Path::new("/nonexistent/never-created").exists());
}

#[test]
fn invalid_config_exits_2_naming_file_and_key() {
    let dir = temp_dir("badcfg");
    let cfg = write_config(
        &dir,
        "receivers: { otlp: { protocols: { http: {} } } }\nexporters:\n  file:\n    pathh: x.jsonl\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [file] } } }\n",
    );
    let out = Command::new(bin())
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ccpipe.yaml"), "{err}");
    assert!(err.contains("exporters.file.pathh"), "{err}");
    assert!(err.contains(":4:"), "line number of the bad key: {err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn print_config_masks_secrets_and_expands_env() {
    let dir = temp_dir("printcfg");
    let cfg = write_config(
        &dir,
        "receivers: { otlp: { protocols: { http: {} } } }\nexporters:\n  file: { path: \"${env:CCPIPE_TEST_PRINT_DIR}/x.jsonl\" }\n  debug: {}\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [file, debug] } } }\n",
    );
    let out = Command::new(bin())
        .arg("print-config")
        .arg("--config")
        .arg(&cfg)
        .env("CCPIPE_TEST_PRINT_DIR", "/tmp/expanded")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/tmp/expanded/x.jsonl"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Attribute names in resource/attributes actions and filter matches are
/// shown; the API key, hash key, header and URL password are not.
#[test]
fn print_config_shows_attribute_names_and_hides_secrets() {
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/print-config/names-and-secrets.yaml"
    );
    let out = Command::new(bin())
        .args(["print-config", "--config", cfg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let shown = [
        "key: deployment.environment.name",
        "key: user.id",
        "key: terminal.type",
        "key: event.kind",
        "value: chatter",
        "key: '[REDACTED]'",
        "hash_key: '[REDACTED]'",
        "Authorization: '[REDACTED]'",
        "https://user:[REDACTED]@127.0.0.1:1/v1",
    ];
    for want in shown {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let secrets = [
        "dd-api-key-secret-2",
        "hash-key-secret-1",
        "header-token-4",
        "url-password-3",
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
}

#[test]
fn taken_port_fails_at_startup_with_a_clear_message() {
    let dir = temp_dir("porttaken");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let cfg = write_config(
        &dir,
        &format!(
            "receivers: {{ otlp: {{ protocols: {{ http: {{ endpoint: \"127.0.0.1:{port}\" }} }} }} }}\nexporters: {{ debug: {{}} }}\nservice: {{ pipelines: {{ logs: {{ receivers: [otlp], exporters: [debug] }} }} }}\n"
        ),
    );
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("otlp"), "{err}");
    drop(holder);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn agentless_datadog_in_a_traces_pipeline_is_a_config_error() {
    let dir = temp_dir("agentless-traces");
    let cfg = write_config(
        &dir,
        "receivers: { otlp: { protocols: { http: {} } } }\nexporters:\n  datadog:\n    api: { key: abc123 }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [datadog] } } }\n",
    );
    let out = Command::new(bin())
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pipeline \"traces\" uses exporter \"datadog\""),
        "{err}"
    );
    assert!(err.contains("use Agent mode"), "{err}");
    assert!(
        !err.contains("abc123"),
        "the API key must not be printed: {err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unwritable_file_fails_at_startup_naming_the_exporter_and_path() {
    let dir = temp_dir("unwritable");
    // Under /proc no folder can be created, whoever runs the test (even root).
    let cfg = write_config(
        &dir,
        "receivers: { otlp: { protocols: { http: { endpoint: \"127.0.0.1:0\" } } } }\nexporters: { file: { path: /proc/ccpipe-test/x.jsonl } }\nservice: { health: { address: \"\" }, telemetry: { metrics: { address: \"\" } }, pipelines: { logs: { receivers: [otlp], exporters: [file] } } }\n",
    );
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exporter \"file\""), "{err}");
    assert!(err.contains("/proc/ccpipe-test"), "{err}");
    assert!(
        !err.contains("listening:"),
        "no banner before the failure: {err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
