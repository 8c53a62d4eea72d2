//! `ccpipe claude-settings` through the real binary: the printed env block,
//! `--write` on the fixture settings files in `fixtures/settings/`, and
//! `--check`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::process::{bin, Ccpipe};
use common::{free_port, temp_dir, write_config};
use serde_json::{Map, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/settings")
        .join(name)
}

/// gRPC on loopback, HTTP on every interface (reached through loopback).
const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:14317" }
      http: { endpoint: "0.0.0.0:14318" }
exporters:
  nop: {}
service:
  telemetry: { metrics: { address: "" } }
  health: { address: "" }
  pipelines:
    logs: { receivers: [otlp], exporters: [nop] }
    metrics: { receivers: [otlp], exporters: [nop] }
    traces: { receivers: [otlp], exporters: [nop] }
"#;

/// `yaml` with its ports 14317/14318 moved to free ones, written and run:
/// `--check` sends a request, so a good file needs a ccpipe that answers.
fn serving(dir: &Path, yaml: &str) -> (PathBuf, Ccpipe) {
    let yaml = yaml
        .replace(":14317", &format!(":{}", free_port()))
        .replace(":14318", &format!(":{}", free_port()));
    let cfg = write_config(dir, &yaml);
    let ccpipe = Ccpipe::start(&cfg);
    (cfg, ccpipe)
}

fn ccpipe(config: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.arg("claude-settings").args(args);
    cmd.output().expect("run ccpipe")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn env_of(stdout: &[u8]) -> Map<String, Value> {
    let v: Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(stdout)));
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only the env block: {v}");
    obj["env"].as_object().expect("env is an object").clone()
}

fn s<'a>(env: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    env.get(k).and_then(Value::as_str)
}

#[test]
fn prints_the_env_block_from_the_receiver() {
    let dir = temp_dir("print");
    let cfg = write_config(&dir, CONFIG);
    let out = ccpipe(Some(&cfg), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    let keys: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "CLAUDE_CODE_ENABLE_TELEMETRY",
            "OTEL_METRICS_EXPORTER",
            "OTEL_LOGS_EXPORTER",
            "OTEL_TRACES_EXPORTER",
            "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_LOG_USER_PROMPTS",
            "OTEL_LOG_TOOL_DETAILS",
            "OTEL_LOG_TOOL_CONTENT",
        ]
    );
    assert_eq!(s(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"), Some("grpc"));
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://127.0.0.1:14317")
    );
    assert_eq!(s(&env, "OTEL_LOG_USER_PROMPTS"), Some("0"));
    assert_eq!(s(&env, "OTEL_LOG_TOOL_CONTENT"), Some("0"));

    // HTTP: 0.0.0.0 is reached through 127.0.0.1.
    let out = ccpipe(
        Some(&cfg),
        &[
            "--protocol",
            "http/json",
            "--no-traces",
            "--content",
            "prompts",
            "--resource",
            "team=platform",
            "--resource",
            "owner=Ada L, ops=yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(s(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"), Some("http/json"));
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://127.0.0.1:14318")
    );
    assert_eq!(s(&env, "OTEL_TRACES_EXPORTER"), None);
    assert_eq!(s(&env, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"), None);
    assert_eq!(s(&env, "OTEL_LOG_USER_PROMPTS"), Some("1"));
    assert_eq!(s(&env, "OTEL_LOG_TOOL_DETAILS"), Some("0"));
    assert_eq!(
        s(&env, "OTEL_RESOURCE_ATTRIBUTES"),
        Some("team=platform,owner=Ada%20L%2C%20ops%3Dyes")
    );

    let out = ccpipe(Some(&cfg), &["--content", "full"]);
    let env = env_of(&out.stdout);
    for k in [
        "OTEL_LOG_USER_PROMPTS",
        "OTEL_LOG_TOOL_DETAILS",
        "OTEL_LOG_TOOL_CONTENT",
    ] {
        assert_eq!(s(&env, k), Some("1"), "{k}");
    }
}

#[test]
fn default_config_and_bad_flags() {
    let out = ccpipe(None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://127.0.0.1:4317")
    );

    let out = ccpipe(None, &["--resource", "no-equals"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"no-equals\" is not KEY=VALUE"),
        "{}",
        text(&out.stderr)
    );
    let out = ccpipe(None, &["--protocol", "http"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ccpipe(None, &["--content", "some"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn receiver_shapes() {
    let dir = temp_dir("shapes");
    // HTTP only, with its own paths: per-signal endpoints are needed.
    let cfg = write_config(
        &dir,
        r#"
receivers:
  otlp/in:
    protocols:
      http: { endpoint: "[::]:24318", logs_url_path: /otlp/logs }
exporters:
  nop: {}
service:
  pipelines:
    logs: { receivers: [otlp/in], exporters: [nop] }
"#,
    );
    let out = ccpipe(Some(&cfg), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        Some("http/protobuf")
    );
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://[::1]:24318")
    );
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
        Some("http://[::1]:24318/otlp/logs")
    );
    assert_eq!(s(&env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), None);

    let out = ccpipe(Some(&cfg), &["--protocol", "grpc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("receiver \"otlp/in\" does not listen on gRPC"),
        "{}",
        text(&out.stderr)
    );

    // Port 0 cannot be pointed at.
    let cfg = write_config(&dir, &CONFIG.replace("127.0.0.1:14317", "127.0.0.1:0"));
    let out = ccpipe(Some(&cfg), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("port 0 is chosen at start"),
        "{}",
        text(&out.stderr)
    );
}

/// What `--write` must produce from a fixture: every original key kept, in
/// order, with `env` holding the wanted block plus the unknown keys.
fn assert_written(original: &Map<String, Value>, written: &Map<String, Value>, cfg: &Path) {
    let orig_keys: Vec<&String> = original.keys().collect();
    let new_keys: Vec<&String> = written
        .keys()
        .filter(|k| *k != "env" || original.contains_key("env"))
        .collect();
    assert_eq!(orig_keys, new_keys, "key order kept");
    for (k, v) in original {
        if k != "env" {
            assert_eq!(&written[k], v, "{k} kept");
        }
    }
    let env = written["env"].as_object().unwrap();
    let wanted = env_of(&ccpipe(Some(cfg), &[]).stdout);
    for (k, v) in &wanted {
        assert_eq!(env.get(k), Some(v), "{k}");
    }
    if let Some(Value::Object(old_env)) = original.get("env") {
        for (k, v) in old_env {
            if !k.starts_with("OTEL_") && !k.starts_with("CLAUDE_CODE_") {
                assert_eq!(env.get(k), Some(v), "unknown env key {k} kept");
            }
        }
    }
}

#[test]
fn write_merges_into_each_fixture_and_is_idempotent() {
    let dir = temp_dir("write");
    let (cfg, _ccpipe) = serving(&dir, CONFIG);
    for name in [
        "empty.json",
        "empty-object.json",
        "other-keys.json",
        "existing-env.json",
    ] {
        let original_bytes = std::fs::read(fixture(name)).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &original_bytes).unwrap();
        let original: Map<String, Value> = if original_bytes.is_empty() {
            Map::new()
        } else {
            serde_json::from_slice(&original_bytes).unwrap()
        };

        let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("updated"), "{name}: {stdout}");
        assert!(
            stdout.contains("+ OTEL_EXPORTER_OTLP_ENDPOINT")
                || stdout.contains("~ OTEL_EXPORTER_OTLP_ENDPOINT"),
            "{name}: {stdout}"
        );
        assert!(!stdout.contains("still wrong"), "{name}: {stdout}");
        let backup = dir.join(format!("{name}.bak"));
        assert_eq!(
            std::fs::read(&backup).unwrap(),
            original_bytes,
            "{name}: backup"
        );
        let after = std::fs::read(&path).unwrap();
        let written: Map<String, Value> = serde_json::from_slice(&after)
            .unwrap_or_else(|e| panic!("{name}: written file is not JSON: {e}"));
        assert_written(&original, &written, &cfg);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A second run changes nothing, says so, and leaves the backup alone.
        let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("nothing changed"),
            "{name}: {}",
            text(&out.stdout)
        );
        assert_eq!(std::fs::read(&path).unwrap(), after, "{name}: unchanged");
        assert_eq!(
            std::fs::read(&backup).unwrap(),
            original_bytes,
            "{name}: backup kept"
        );

        // And the result passes --check.
        let out = ccpipe(Some(&cfg), &["--check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stdout));
        assert!(
            text(&out.stdout).starts_with("OK: "),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(
            text(&out.stdout)
                .matches("OK, it accepted an empty OTLP request")
                .count(),
            3,
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn write_details_for_an_existing_env_block() {
    let dir = temp_dir("existing");
    let cfg = write_config(&dir, CONFIG);
    let path = dir.join("settings.json");
    std::fs::copy(fixture("existing-env.json"), &path).unwrap();
    let out = ccpipe(
        Some(&cfg),
        &[
            "--write",
            path.to_str().unwrap(),
            "--resource",
            "team=platform",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("~ CLAUDE_CODE_ENABLE_TELEMETRY: 0 -> 1"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("- OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (was http://old-collector:4318/v1/logs"),
        "{stdout}"
    );
    let written: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let env = written["env"].as_object().unwrap();
    // Resource pairs merge; the stale per-signal endpoint is gone.
    assert_eq!(
        s(env, "OTEL_RESOURCE_ATTRIBUTES"),
        Some("team=platform,cost_center=42")
    );
    assert_eq!(s(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"), None);
    assert_eq!(s(env, "ANTHROPIC_MODEL"), Some("claude-sonnet-4-5"));
    // Existing keys keep their places; new ones come after.
    let keys: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        &keys[..2],
        ["ANTHROPIC_MODEL", "CLAUDE_CODE_ENABLE_TELEMETRY"]
    );
}

#[test]
fn write_refuses_files_it_cannot_merge() {
    let dir = temp_dir("refuse");
    let cfg = write_config(&dir, CONFIG);
    for (name, why) in [
        ("invalid.json", "is not valid JSON"),
        ("env-not-object.json", "\"env\" is an array, not an object"),
        (
            "top-level-array.json",
            "the top level is an array, not an object",
        ),
    ] {
        let original = std::fs::read(fixture(name)).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &original).unwrap();
        let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(why), "{name}: {stderr}");
        assert_eq!(std::fs::read(&path).unwrap(), original, "{name}: untouched");
        assert!(
            !dir.join(format!("{name}.bak")).exists(),
            "{name}: no backup"
        );
    }
}

#[test]
fn write_creates_a_missing_file_and_follows_symlinks() {
    let dir = temp_dir("create");
    let cfg = write_config(&dir, CONFIG);
    let path = dir.join("new-settings.json");
    let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("created"),
        "{}",
        text(&out.stdout)
    );
    assert!(!dir.join("new-settings.json.bak").exists());
    let written: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(written.keys().collect::<Vec<_>>(), ["env"]);

    // A machine where Claude Code never ran has no ~/.claude yet: --write
    // makes the folder, as the README's second step expects.
    let fresh = dir.join("home/.claude/settings.json");
    let out = ccpipe(Some(&cfg), &["--write", fresh.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&fresh).unwrap()).unwrap();
    assert_eq!(written.keys().collect::<Vec<_>>(), ["env"]);

    // A dotfiles-style symlink stays a symlink; its target is updated.
    let target = dir.join("real.json");
    std::fs::copy(fixture("other-keys.json"), &target).unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = ccpipe(Some(&cfg), &["--write", link.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert!(written.contains_key("env") && written.contains_key("permissions"));
}

#[test]
fn check_explains_what_is_wrong() {
    let dir = temp_dir("check");
    let cfg = write_config(&dir, CONFIG);
    let out = ccpipe(
        Some(&cfg),
        &["--check", fixture("existing-env.json").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for want in [
        "CLAUDE_CODE_ENABLE_TELEMETRY is \"0\": telemetry is off",
        "OTEL_METRICS_EXPORTER is \"console\"",
        "OTEL_LOGS_EXPORTER is not set",
        "OTEL_EXPORTER_OTLP_PROTOCOL is not set",
        "fix with: ccpipe claude-settings --write",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }

    // Right variables, wrong port for the protocol.
    let path = dir.join("mismatch.json");
    std::fs::write(
        &path,
        r#"{"env":{"CLAUDE_CODE_ENABLE_TELEMETRY":"1","OTEL_METRICS_EXPORTER":"otlp","OTEL_LOGS_EXPORTER":"otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL":"http/protobuf","OTEL_EXPORTER_OTLP_ENDPOINT":"http://localhost:14317"}}"#,
    )
    .unwrap();
    let out = ccpipe(Some(&cfg), &["--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("port/protocol mismatch"), "{stdout}");
    assert!(stdout.contains("note: traces are off"), "{stdout}");

    for (name, want) in [
        ("invalid.json", "is not valid JSON"),
        ("env-not-object.json", "\"env\" is an array, not an object"),
        ("empty-object.json", "there is no \"env\" block"),
    ] {
        let out = ccpipe(Some(&cfg), &["--check", fixture(name).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            text(&out.stdout).contains(want),
            "{name}: {}",
            text(&out.stdout)
        );
    }
    let out = ccpipe(
        Some(&cfg),
        &["--check", dir.join("absent.json").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("does not exist"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_bearer_token_goes_into_the_headers_but_not_into_summaries() {
    let dir = temp_dir("token");
    let (cfg, _ccpipe) = serving(
        &dir,
        &CONFIG.replace(
            "receivers:\n  otlp:\n",
            "receivers:\n  otlp:\n    auth: { bearer_token: tok-9f8e7d }\n",
        ),
    );
    let out = ccpipe(Some(&cfg), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_HEADERS"),
        Some("Authorization=Bearer tok-9f8e7d")
    );
    let path = dir.join("settings.json");
    let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("+ OTEL_EXPORTER_OTLP_HEADERS=[REDACTED]"),
        "{stdout}"
    );
    assert!(!stdout.contains("tok-9f8e7d"), "{stdout}");
    let out = ccpipe(Some(&cfg), &["--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // Without the header, or with another token, --check says so without
    // quoting the token, and the real ccpipe's 401 is explained.
    let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (name, headers, words) in [
        (
            "plain.json",
            None,
            "FAILED: the endpoint wants credentials (401 / UNAUTHENTICATED): set OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer <token>\"",
        ),
        (
            "wrong.json",
            Some("Authorization=Bearer wrong-token"),
            "FAILED: the endpoint refused the credentials (401 / UNAUTHENTICATED)",
        ),
    ] {
        let mut doc = written.clone();
        let env = doc["env"].as_object_mut().unwrap();
        match headers {
            None => env.shift_remove("OTEL_EXPORTER_OTLP_HEADERS"),
            Some(h) => env.insert("OTEL_EXPORTER_OTLP_HEADERS".into(), Value::from(h)),
        };
        let file = dir.join(name);
        std::fs::write(&file, doc.to_string()).unwrap();
        let out = ccpipe(Some(&cfg), &["--check", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("requires a bearer token"), "{stdout}");
        assert!(stdout.contains(words), "{name}: {stdout}");
        assert!(!stdout.contains("tok-9f8e7d"), "{stdout}");
    }
}

/// A config that takes metrics and logs only, like configs/prometheus.yaml,
/// over HTTP (where a missing pipeline is a 404).
fn no_traces() -> String {
    CONFIG
        .replace("      grpc: { endpoint: \"127.0.0.1:14317\" }\n", "")
        .replace("    traces: { receivers: [otlp], exporters: [nop] }\n", "")
}

#[test]
fn only_the_signals_the_pipelines_take_are_turned_on() {
    // The shipped Prometheus config has no traces pipeline.
    let prometheus = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/prometheus.yaml");
    let out = ccpipe(Some(&prometheus), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(s(&env, "OTEL_METRICS_EXPORTER"), Some("otlp"));
    assert_eq!(s(&env, "OTEL_LOGS_EXPORTER"), Some("otlp"));
    assert_eq!(s(&env, "OTEL_TRACES_EXPORTER"), None, "{env:?}");
    assert_eq!(s(&env, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"), None);

    // --write takes a stale traces exporter out, saying why.
    let dir = temp_dir("signals");
    let (cfg, _ccpipe) = serving(&dir, &no_traces());
    let path = dir.join("settings.json");
    std::fs::write(
        &path,
        r#"{"env":{"OTEL_TRACES_EXPORTER":"otlp","CLAUDE_CODE_ENHANCED_TELEMETRY_BETA":"1"}}"#,
    )
    .unwrap();
    let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "- OTEL_TRACES_EXPORTER (was otlp; this ccpipe takes no such data, it would get 404s)"
        ),
        "{stdout}"
    );
    let written: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let env = written["env"].as_object().unwrap();
    assert_eq!(s(env, "OTEL_TRACES_EXPORTER"), None);
    assert_eq!(s(env, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"), None);
    let out = ccpipe(Some(&cfg), &["--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // A file that still sends traces: the check names it, and the real
    // ccpipe's 404 is explained.
    let mut doc = written.clone();
    let env = doc["env"].as_object_mut().unwrap();
    env.insert("OTEL_TRACES_EXPORTER".into(), Value::from("otlp"));
    env.insert(
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA".into(),
        Value::from("1"),
    );
    std::fs::write(&path, Value::Object(doc).to_string()).unwrap();
    let out = ccpipe(Some(&cfg), &["--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for want in [
        "OTEL_TRACES_EXPORTER is \"otlp\", but this ccpipe takes no traces (receiver \"otlp\" is in no traces pipeline)",
        "connection: metrics to http://127.0.0.1:",
        "(http/protobuf): OK, it accepted an empty OTLP request",
        "/v1/traces (http/protobuf): FAILED: nothing takes traces there (404 / UNIMPLEMENTED)",
    ] {
        assert!(stdout.contains(want), "{want:?} not in:\n{stdout}");
    }
}

#[test]
fn a_users_content_choice_is_kept_unless_content_is_given() {
    let dir = temp_dir("content");
    let cfg = write_config(&dir, CONFIG);
    let path = dir.join("settings.json");
    std::fs::write(
        &path,
        r#"{"env":{"OTEL_LOG_USER_PROMPTS":"1","OTEL_LOG_TOOL_DETAILS":"1"}}"#,
    )
    .unwrap();
    let out = ccpipe(Some(&cfg), &["--write", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = || -> Map<String, Value> {
        let doc: Map<String, Value> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        doc["env"].as_object().unwrap().clone()
    };
    let env = read();
    assert_eq!(s(&env, "OTEL_LOG_USER_PROMPTS"), Some("1"));
    assert_eq!(s(&env, "OTEL_LOG_TOOL_DETAILS"), Some("1"));
    assert_eq!(s(&env, "OTEL_LOG_TOOL_CONTENT"), Some("0"), "absent: off");

    let out = ccpipe(
        Some(&cfg),
        &["--write", path.to_str().unwrap(), "--content", "off"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("~ OTEL_LOG_USER_PROMPTS: 1 -> 0"),
        "{}",
        text(&out.stdout)
    );
    let env = read();
    assert_eq!(s(&env, "OTEL_LOG_USER_PROMPTS"), Some("0"));
    assert_eq!(s(&env, "OTEL_LOG_TOOL_DETAILS"), Some("0"));
}

fn with_token(token: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("claude-settings")
        .args(args)
        .env("CC_GATEWAY_TOKEN", token)
        .output()
        .expect("run ccpipe")
}

#[test]
fn team_rollout_to_a_gateway() {
    let rollout = [
        "--endpoint",
        "https://otel.example.com",
        "--bearer-token-env",
        "CC_GATEWAY_TOKEN",
        "--header",
        "x-tenant=acme",
        "--resource",
        "team=platform",
        "--resource",
        "department=engineering",
        "--resource",
        "cost_center=CC-1042",
        "--metrics-interval",
        "60s",
        "--logs-interval",
        "5s",
        "--metrics-include",
        "session_id=false",
        "--metrics-include",
        "version=true",
    ];
    let mut args = rollout.to_vec();
    args.push("--shell");
    let out = with_token("s3cr3t-team", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "export CLAUDE_CODE_ENABLE_TELEMETRY='1'",
            "export OTEL_METRICS_EXPORTER='otlp'",
            "export OTEL_LOGS_EXPORTER='otlp'",
            "export OTEL_TRACES_EXPORTER='otlp'",
            "export CLAUDE_CODE_ENHANCED_TELEMETRY_BETA='1'",
            "export OTEL_EXPORTER_OTLP_PROTOCOL='http/protobuf'",
            "export OTEL_EXPORTER_OTLP_ENDPOINT='https://otel.example.com:443'",
            "export OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer s3cr3t-team,x-tenant=acme'",
            "export OTEL_LOG_USER_PROMPTS='0'",
            "export OTEL_LOG_TOOL_DETAILS='0'",
            "export OTEL_LOG_TOOL_CONTENT='0'",
            "export OTEL_METRIC_EXPORT_INTERVAL='60000'",
            "export OTEL_LOGS_EXPORT_INTERVAL='5000'",
            "export OTEL_METRICS_INCLUDE_SESSION_ID='false'",
            "export OTEL_METRICS_INCLUDE_VERSION='true'",
            "export OTEL_RESOURCE_ATTRIBUTES='team=platform,department=engineering,cost_center=CC-1042'",
        ]
    );

    // The managed settings file: the same block, but each user keeps their
    // own content-logging choice; the token is not echoed.
    let dir = temp_dir("rollout");
    let managed = dir.join("managed-settings.json");
    let mut args = rollout.to_vec();
    args.extend(["--managed", "--write", managed.to_str().unwrap()]);
    let out = with_token("s3cr3t-team", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("s3cr3t-team"),
        "{}",
        text(&out.stdout)
    );
    let doc: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&managed).unwrap()).unwrap();
    let env = doc["env"].as_object().unwrap();
    assert_eq!(
        s(env, "OTEL_EXPORTER_OTLP_HEADERS"),
        Some("Authorization=Bearer s3cr3t-team,x-tenant=acme")
    );
    for k in [
        "OTEL_LOG_USER_PROMPTS",
        "OTEL_LOG_TOOL_DETAILS",
        "OTEL_LOG_TOOL_CONTENT",
    ] {
        assert_eq!(s(env, k), None, "{k} is each user's choice");
    }

    // Bad input is refused with the reason.
    for (args, want) in [
        (
            vec!["--endpoint", "otel.example.com:4318"],
            "--endpoint \"otel.example.com:4318\": not an http:// or https:// URL",
        ),
        (
            vec![
                "--endpoint",
                "https://gw",
                "--bearer-token-env",
                "CC_UNSET_VAR",
            ],
            "--bearer-token-env CC_UNSET_VAR: the variable is not set or empty",
        ),
        (
            vec!["--bearer-token-env", "CC_GATEWAY_TOKEN"],
            "--bearer-token-env goes with --endpoint",
        ),
    ] {
        let out = with_token("t", &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
    for (args, want) in [
        (vec!["--metrics-interval", "10"], "add a unit"),
        (vec!["--metrics-interval", "100ms"], "under a second"),
        (
            vec!["--metrics-include", "user=false"],
            "expected session_id, version or account_uuid",
        ),
        (vec!["--header", "x=a,b"], "may not hold ','"),
    ] {
        let out = with_token("t", &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
}

#[test]
fn check_tests_the_connection_to_a_gateway() {
    let dir = temp_dir("gateway");
    // The gateway: a real ccpipe that wants a bearer token, over gRPC.
    let (gateway_cfg, gateway) = serving(
        &dir,
        &CONFIG.replace(
            "receivers:\n  otlp:\n",
            "receivers:\n  otlp:\n    auth: { bearer_token: team-token-1 }\n",
        ),
    );
    let grpc = format!("http://{}", gateway.grpc.unwrap());
    let path = dir.join("settings.json");
    let args = [
        "--endpoint",
        grpc.as_str(),
        "--protocol",
        "grpc",
        "--bearer-token-env",
        "CC_GATEWAY_TOKEN",
        "--write",
        path.to_str().unwrap(),
    ];
    let out = with_token("team-token-1", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = |token: &str| {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&gateway_cfg)
            .args(["claude-settings", "--endpoint", &grpc, "--protocol", "grpc"])
            .args(["--bearer-token-env", "CC_GATEWAY_TOKEN", "--check"])
            .arg(&path)
            .env("CC_GATEWAY_TOKEN", token)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout))
    };
    let (code, stdout) = check("team-token-1");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        stdout.matches("(grpc): OK, it accepted").count(),
        3,
        "{stdout}"
    );

    // The gateway rotated its token: the file's is refused (UNAUTHENTICATED).
    drop(gateway);
    let (_cfg2, _rotated) = serving(
        &dir,
        &CONFIG
            .replace(
                "receivers:\n  otlp:\n",
                "receivers:\n  otlp:\n    auth: { bearer_token: team-token-2 }\n",
            )
            .replace(":14317", &format!(":{}", grpc.rsplit(':').next().unwrap())),
    );
    let (code, stdout) = check("team-token-1");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "(grpc): FAILED: the endpoint refused the credentials (401 / UNAUTHENTICATED)"
        ),
        "{stdout}"
    );

    // Nothing listens: a closed port.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let file = dir.join("closed.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"env":{{"CLAUDE_CODE_ENABLE_TELEMETRY":"1","OTEL_METRICS_EXPORTER":"otlp","OTEL_LOGS_EXPORTER":"otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL":"http/protobuf","OTEL_EXPORTER_OTLP_ENDPOINT":"{closed}"}}}}"#
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["claude-settings", "--endpoint", &closed, "--check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "FAILED: nothing listens at {}: start ccpipe (or the gateway)",
            closed.trim_start_matches("http://")
        )),
        "{stdout}"
    );
}

/// docs/rollout.md's gateway config is a valid config, and claude-settings
/// generated from it turns on every signal it takes.
#[test]
fn the_documented_gateway_config_validates() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rollout.md"))
            .unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &doc[start..start + doc[start..].find("```").unwrap()];
    let dir = temp_dir("rollout-doc");
    let cfg = write_config(&dir, yaml);
    let out = Command::new(bin())
        .args(["validate", "--config"])
        .arg(&cfg)
        .env("CCPIPE_GATEWAY_TOKEN", "t")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .args([
            "claude-settings",
            "--endpoint",
            "https://otel.example.com:4318",
        ])
        .args(["--bearer-token-env", "CC_GATEWAY_TOKEN"])
        .env("CCPIPE_GATEWAY_TOKEN", "t")
        .env("CC_GATEWAY_TOKEN", "t")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = env_of(&out.stdout);
    assert_eq!(s(&env, "OTEL_TRACES_EXPORTER"), Some("otlp"));
    assert_eq!(
        s(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("https://otel.example.com:4318")
    );
}
