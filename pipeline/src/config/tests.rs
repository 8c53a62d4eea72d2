//! Table tests over `testdata/config/*.yaml`, and tests of merging, expansion,
//! overrides, masking and error locations.
//!
//! Environment variables are process-global and tests run in parallel, so
//! every test that sets one uses a name (or override prefix) of its own.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::load::load_with_env_prefix;
use super::units::{ByteSize, Duration};
use super::*;

const DIR: &str = "testdata/config";

fn testdata(name: &str) -> PathBuf {
    // cargo runs unit tests from the package root, so errors show this short path.
    PathBuf::from(DIR).join(name)
}

fn load_file(name: &str) -> Result<Config, ConfigError> {
    load(&[testdata(name)])
}

fn id(s: &str) -> ComponentId {
    s.parse().unwrap()
}

fn pid(s: &str) -> PipelineId {
    s.parse().unwrap()
}

fn ids(list: &[&str]) -> Vec<ComponentId> {
    list.iter().map(|s| id(s)).collect()
}

#[test]
fn nesting_limit_is_serde_yamls() {
    // too-deep.yaml nests 200 lists under exporters.debug.verbosity (level
    // 3); the deepest that serde_yaml reads, level 128, passes the index.
    let text = std::fs::read_to_string(testdata("too-deep.yaml")).unwrap();
    let lists = super::locate::MAX_DEPTH - 3;
    let fits = text.replacen(&"- ".repeat(200), &"- ".repeat(lists), 1);
    let deeper = text.replacen(&"- ".repeat(200), &"- ".repeat(lists + 1), 1);
    let answer = |t: &str| match load_str("deep.yaml", t) {
        Ok(_) => String::from("ok"),
        Err(e) => e.to_string(),
    };
    let fits = answer(&fits);
    assert!(
        !fits.contains("nest") && !fits.contains("recursion"),
        "{fits}"
    );
    assert_eq!(
        answer(&deeper),
        "deep.yaml:5:257: maps and lists nest more than 128 levels deep"
    );
}

#[test]
fn invalid_configs_give_exact_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "typo-top-level.yaml",
            ":3: exporter: unknown field `exporter`, expected one of `receivers`, `processors`, `exporters`, `connectors`, `service`",
        ),
        (
            "typo-service-key.yaml",
            ":7: service.pipelinez: unknown field `pipelinez`, expected one of `pipelines`, `shutdown_timeout`, `telemetry`, `health`, `memory_limit_mib`, `view`",
        ),
        (
            "typo-pipeline-key.yaml",
            ":9: service.pipelines.logs.exporter: unknown field `exporter`, expected one of `receivers`, `processors`, `exporters`",
        ),
        (
            "typo-telemetry-key.yaml",
            ":5: service.telemetry.logs.levle: unknown field `levle`, expected `level`",
        ),
        (
            "bad-metrics-address.yaml",
            ":6: service.telemetry.metrics.address: invalid address \"8888\": expected ip:port, e.g. 127.0.0.1:8888, or \"\" to turn it off",
        ),
        (
            "bad-metrics-level.yaml",
            ":6: service.telemetry.metrics.level: unknown level \"verbose\", expected none, basic, normal or detailed",
        ),
        (
            "bad-health-address.yaml",
            ":5: service.health.address: invalid address \"http://127.0.0.1:13133\": expected ip:port, e.g. 127.0.0.1:13133, or \"\" to turn it off",
        ),
        (
            "typo-health-key.yaml",
            ":5: service.health.adress: unknown field `adress`, expected `address`",
        ),
        (
            "missing-exporter-ref.yaml",
            ":9: service.pipelines.logs.exporters.1: pipeline \"logs\" references exporter \"datadog\" which is not configured",
        ),
        (
            "unknown-signal.yaml",
            ":5: service.pipelines.logz: unknown signal \"logz\", expected logs, metrics or traces",
        ),
        (
            "no-pipelines.yaml",
            ":3: service.pipelines: service must have at least one pipeline",
        ),
        (
            "no-service.yaml",
            ": service.pipelines: service must have at least one pipeline",
        ),
        (
            "bad-duration.yaml",
            ":4: service.shutdown_timeout: invalid duration 10: add a unit, e.g. \"10s\" or \"10ms\"",
        ),
        (
            "env-missing.yaml",
            ":4: exporters.file.path: environment variable \"CCPIPE_TEST_SURELY_UNSET_6D1F\" is not set",
        ),
        (
            "bad-component-id.yaml",
            ":4: exporters.file/: invalid id \"file/\": the name after '/' must be non-empty, without '/' or spaces",
        ),
        (
            "bad-pipeline-member-id.yaml",
            ":9: service.pipelines.logs.exporters.1: invalid id \"data dog\": the type must be non-empty and use only letters, digits, '_' and '-'",
        ),
        (
            "section-not-map.yaml",
            ":1: receivers: expected a map from receiver ids to their settings, found a list",
        ),
        (
            "duplicate-key.yaml",
            ":5: exporters.file: duplicate key \"file\" (first defined on line 4)",
        ),
        (
            "syntax-error.yaml",
            ":4:8: while parsing a flow mapping, did not find expected ',' or '}'",
        ),
        (
            "too-deep.yaml",
            ":5:257: maps and lists nest more than 128 levels deep",
        ),
        (
            "not-a-map.yaml",
            ":1: the top level must be a map with receivers, processors, exporters and service",
        ),
        (
            "does-not-exist.yaml",
            ": cannot read config file: No such file or directory (os error 2)",
        ),
    ];
    for (file, expected) in cases {
        let err = load_file(file).expect_err(file);
        assert_eq!(err.to_string(), format!("{DIR}/{file}{expected}"), "{file}");
    }
}

#[test]
fn every_reference_problem_is_reported_on_its_own_line() {
    let err = load_file("missing-refs.yaml").unwrap_err().to_string();
    let f = "testdata/config/missing-refs.yaml";
    let expected = [
        format!("{f}:11: service.pipelines.logs.receivers.1: pipeline \"logs\" references receiver \"kafka\" which is not configured"),
        format!("{f}:12: service.pipelines.logs.processors.1: pipeline \"logs\" references processor \"redaction\" which is not configured"),
        format!("{f}:12: service.pipelines.logs.processors.2: pipeline \"logs\" references processor \"batch\" multiple times"),
        format!("{f}:14: service.pipelines.traces.receivers: pipeline \"traces\" must have at least one receiver"),
        format!("{f}:14: service.pipelines.traces.exporters: pipeline \"traces\" must have at least one exporter"),
    ];
    assert_eq!(err, expected.join("\n"));
}

#[test]
fn ok_full_has_every_value() {
    let config = load_file("ok-full.yaml").unwrap();
    assert_eq!(
        config.receivers.keys().cloned().collect::<Vec<_>>(),
        ids(&["otlp"])
    );
    assert_eq!(
        config.processors.keys().cloned().collect::<Vec<_>>(),
        ids(&["batch"])
    );
    assert_eq!(
        config.exporters.keys().cloned().collect::<Vec<_>>(),
        ids(&["debug", "file", "file/raw"])
    );
    let service = &config.service;
    assert_eq!(service.shutdown_timeout, StdDuration::from_secs(30));
    assert_eq!(service.log_level, "ccpipe=debug,info");
    let pipelines: Vec<_> = service.pipelines.keys().map(|p| p.to_string()).collect();
    assert_eq!(pipelines, ["logs", "metrics/local", "traces"]);
    let local = &service.pipelines[&pid("metrics/local")];
    assert_eq!(local.receivers, ids(&["otlp"]));
    assert_eq!(local.processors, ids(&["batch"]));
    assert_eq!(local.exporters, ids(&["debug", "file"]));
    assert_eq!(service.pipelines[&pid("traces")].processors, vec![]);
    assert_eq!(
        config.warnings,
        ["exporter \"file/raw\" is configured but used by no pipeline"]
    );

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Records {
        send_batch_size: u32,
        send_batch_max_size: u32,
        timeout: Duration,
    }
    let batch = &config.processors[&id("batch")];
    assert_eq!(batch.kind(), Kind::Processor);
    assert_eq!(batch.id(), &id("batch"));
    let batch: Records = batch.parse().unwrap();
    assert_eq!(
        batch,
        Records {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration(StdDuration::from_millis(200)),
        }
    );
}

#[test]
fn ok_minimal_takes_defaults() {
    let config = load_file("ok-minimal.yaml").unwrap();
    assert_eq!(config.service.shutdown_timeout, StdDuration::from_secs(10));
    assert_eq!(config.service.log_level, "info");
    assert!(config.warnings.is_empty());

    // An empty component value reads like `{}`, so serde defaults apply.
    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Debug {
        verbosity: String,
    }
    let debug: Debug = config.exporters[&id("debug")].parse().unwrap();
    assert_eq!(debug, Debug::default());
}

#[test]
fn own_endpoints_default_to_loopback_and_can_move_or_turn_off() {
    let endpoint = |address: &str, configured| {
        Some(AdminEndpoint {
            address: address.parse().unwrap(),
            configured,
        })
    };
    let config = load_file("ok-minimal.yaml").unwrap();
    assert_eq!(config.service.metrics, endpoint("127.0.0.1:8888", false));
    assert_eq!(config.service.health, endpoint("127.0.0.1:13133", false));
    let config = load_file("ok-telemetry.yaml").unwrap();
    assert_eq!(config.service.metrics, endpoint("0.0.0.0:9999", true));
    assert_eq!(config.service.health, endpoint("127.0.0.1:0", true));
    let config = load_file("telemetry-off.yaml").unwrap();
    assert_eq!(config.service.metrics, None);
    assert_eq!(config.service.health, None);
}

#[test]
fn default_config_loads_with_three_pipelines() {
    let config = load(&[]).unwrap();
    let signals: Vec<_> = config.service.pipelines.keys().map(|p| p.signal).collect();
    assert_eq!(signals, Signal::ALL);
    for pipeline in config.service.pipelines.values() {
        assert_eq!(pipeline.receivers, ids(&["otlp"]));
        assert_eq!(pipeline.processors, ids(&["batch"]));
        assert_eq!(pipeline.exporters, ids(&["debug", "file", "sqlite"]));
    }
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let file = &config.exporters[&id("file")];
    assert_eq!(
        file.error("path", "nope").to_string(),
        "<built-in default>:17: exporters.file.path: nope"
    );
}

/// A strict config struct like the ones the component crates write.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    path: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    max_size: Option<ByteSize>,
}

#[test]
fn merging_files_merges_maps_and_replaces_lists() {
    let config = load(&[testdata("merge-base.yaml"), testdata("merge-overlay.yaml")]).unwrap();
    let file: FileSettings = config.exporters[&id("file")].parse().unwrap();
    assert_eq!(file.path, "./overlay.jsonl", "the later file wins");
    assert_eq!(
        file.format.as_deref(),
        Some("json"),
        "keys only the earlier file sets stay"
    );
    assert!(config.exporters.contains_key(&id("file/raw")));
    assert_eq!(config.service.shutdown_timeout, StdDuration::from_secs(5));
    let logs = &config.service.pipelines[&pid("logs")];
    assert_eq!(
        logs.exporters,
        ids(&["file/raw"]),
        "lists are replaced, not appended"
    );
    assert_eq!(logs.receivers, ids(&["otlp"]));
    assert_eq!(
        config.warnings,
        [
            "exporter \"debug\" is configured but used by no pipeline",
            "exporter \"file\" is configured but used by no pipeline",
        ]
    );
    // Errors point into the file that set the key.
    let raw = &config.exporters[&id("file/raw")];
    assert_eq!(
        raw.error("path", "x").to_string(),
        "testdata/config/merge-overlay.yaml:4: exporters.file/raw.path: x"
    );
    let file = &config.exporters[&id("file")];
    assert_eq!(
        file.error("format", "x").to_string(),
        "testdata/config/merge-base.yaml:7: exporters.file.format: x"
    );
}

#[test]
fn component_parse_errors_name_file_line_and_key() {
    let config = load_file("component-typo.yaml").unwrap();
    let file = &config.exporters[&id("file")];
    let err = file.parse::<FileSettings>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "testdata/config/component-typo.yaml:5: exporters.file.pathh: unknown field `pathh`, expected one of `path`, `format`, `max_size`"
    );
}

#[test]
fn component_errors_name_file_line_and_key() {
    let config = load_file("ok-full.yaml").unwrap();
    let raw = &config.exporters[&id("file/raw")];
    let f = "testdata/config/ok-full.yaml";
    assert_eq!(
        raw.error("path", "must be absolute").to_string(),
        format!("{f}:14: exporters.file/raw.path: must be absolute")
    );
    assert_eq!(
        raw.error("", "is not supported").to_string(),
        format!("{f}:14: exporters.file/raw: is not supported")
    );
    // A key the file does not have points at its nearest ancestor.
    assert_eq!(
        raw.error("rotation.max_files", "must be positive")
            .to_string(),
        format!("{f}:14: exporters.file/raw.rotation.max_files: must be positive")
    );
    let grpc = &config.receivers[&id("otlp")];
    assert_eq!(
        grpc.error("protocols.http.endpoint", "port in use")
            .to_string(),
        format!("{f}:6: receivers.otlp.protocols.http.endpoint: port in use")
    );
}

#[test]
fn errors_in_nested_flow_maps_name_the_line() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Otlp {
        #[allow(dead_code)]
        protocols: Protocols,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Protocols {
        #[allow(dead_code)]
        grpc: Option<Endpoint>,
        #[allow(dead_code)]
        http: Option<Endpoint>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Endpoint {
        #[allow(dead_code)]
        endpoint: String,
        #[serde(default)]
        #[allow(dead_code)]
        max_recv_msg_size: Option<ByteSize>,
    }
    let config = load_file("flow-nested.yaml").unwrap();
    let err = config.receivers[&id("otlp")].parse::<Otlp>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "testdata/config/flow-nested.yaml:4: receivers.otlp.protocols.grpc.bogus: unknown field `bogus`, expected `endpoint` or `max_recv_msg_size`"
    );
}

#[test]
fn env_expansion_types_whole_references_and_keeps_embedded_ones_strings() {
    std::env::set_var("CFGTEST_EXPAND_HOST", "collector.local");
    std::env::set_var("CFGTEST_EXPAND_PORT", "4317");
    std::env::set_var("CFGTEST_EXPAND_ON", "true");
    let yaml = "\
receivers:
  otlp:
    endpoint: ${env:CFGTEST_EXPAND_HOST}:${CFGTEST_EXPAND_PORT}
    port: ${env:CFGTEST_EXPAND_PORT}
    enabled: ${CFGTEST_EXPAND_ON}
    label: ${env:CFGTEST_EXPAND_UNSET:-fallback}
    price: $$5 and $${env:CFGTEST_EXPAND_HOST}
exporters: { debug: }
service: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }
";
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        endpoint: String,
        port: u16,
        enabled: bool,
        label: String,
        price: String,
    }
    let config = load_str("expand.yaml", yaml).unwrap();
    let settings: Settings = config.receivers[&id("otlp")].parse().unwrap();
    assert_eq!(
        settings,
        Settings {
            endpoint: "collector.local:4317".into(),
            port: 4317,
            enabled: true,
            label: "fallback".into(),
            price: "$5 and ${env:CFGTEST_EXPAND_HOST}".into(),
        }
    );
    assert!(config
        .to_masked_yaml()
        .contains("endpoint: collector.local:4317"));
}

#[test]
fn an_embedded_reference_does_not_change_the_type() {
    std::env::set_var("CFGTEST_EMBED_PORT", "4317");
    let yaml = "\
receivers: { otlp: { port: \"1${CFGTEST_EMBED_PORT}\" } }
exporters: { debug: }
service: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }
";
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[allow(dead_code)]
        port: u16,
    }
    let config = load_str("embed.yaml", yaml).unwrap();
    let err = config.receivers[&id("otlp")]
        .parse::<Settings>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "embed.yaml:1: receivers.otlp.port: invalid type: string \"14317\", expected u16"
    );
}

#[test]
fn env_overrides_set_keys_and_name_the_variable_in_errors() {
    let prefix = "CFGTEST_OVERRIDE_";
    std::env::set_var(
        "CFGTEST_OVERRIDE_EXPORTERS__FILE__PATH",
        "/tmp/override.jsonl",
    );
    std::env::set_var("CFGTEST_OVERRIDE_SERVICE__TELEMETRY__LOGS__LEVEL", "debug");
    std::env::set_var("CFGTEST_OVERRIDE_NOT_AN_OVERRIDE", "ignored");
    let config = load_with_env_prefix(&[], prefix).unwrap();
    let file: FileSettings = config.exporters[&id("file")].parse().unwrap();
    assert_eq!(file.path, "/tmp/override.jsonl");
    assert_eq!(config.service.log_level, "debug");

    let prefix = "CFGTEST_BADENV_";
    std::env::set_var("CFGTEST_BADENV_SERVICE__SHUTDOWN_TIMEOUT", "5");
    let err = load_with_env_prefix(&[], prefix).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable CFGTEST_BADENV_SERVICE__SHUTDOWN_TIMEOUT: service.shutdown_timeout: invalid duration 5: add a unit, e.g. \"5s\" or \"5ms\""
    );

    let prefix = "CFGTEST_NEWKEY_";
    std::env::set_var("CFGTEST_NEWKEY_EXPORTERS__FILE__PATHH", "x");
    let config = load_with_env_prefix(&[], prefix).unwrap();
    let err = config.exporters[&id("file")]
        .parse::<FileSettings>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable CFGTEST_NEWKEY_EXPORTERS__FILE__PATHH: exporters.file.pathh: unknown field `pathh`, expected one of `path`, `format`, `max_size`"
    );
}

#[test]
fn masked_yaml_hides_secrets_and_shows_the_effective_config() {
    let yaml = "\
receivers: { otlp: { protocols: { grpc: { endpoint: 127.0.0.1:4317 } } } }
exporters:
  datadog:
    api_key: abc123
    site: datadoghq.com
    headers: { X-Custom: secret-value, Authorization: Bearer xyz }
    auth: { token: t0k3n, client_secret: s3cr3t, password: ~ }
    endpoint: https://me:pa55word@intake.example.com
service:
  pipelines: { logs: { receivers: [otlp], exporters: [datadog] } }
";
    let masked = load_str("mask.yaml", yaml).unwrap().to_masked_yaml();
    for secret in [
        "abc123",
        "secret-value",
        "xyz",
        "t0k3n",
        "s3cr3t",
        "pa55word",
    ] {
        assert!(!masked.contains(secret), "{secret} leaked:\n{masked}");
    }
    let expected = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors: {}
exporters:
  datadog:
    api_key: '[REDACTED]'
    auth:
      client_secret: '[REDACTED]'
      password: null
      token: '[REDACTED]'
    endpoint: https://me:[REDACTED]@intake.example.com
    headers:
      Authorization: '[REDACTED]'
      X-Custom: '[REDACTED]'
    site: datadoghq.com
service:
  shutdown_timeout: 10s
  telemetry:
    logs:
      level: info
    metrics:
      address: 127.0.0.1:8888
  health:
    address: 127.0.0.1:13133
  pipelines:
    logs:
      receivers:
      - otlp
      processors: []
      exporters:
      - datadog
";
    assert_eq!(masked, expected);
}

#[test]
fn masked_yaml_of_the_default_config_loads_again() {
    let config = load(&[]).unwrap();
    let again = load_str("printed.yaml", &config.to_masked_yaml()).unwrap();
    // Printed, the defaults become explicit settings.
    let explicit = |e: Option<AdminEndpoint>| {
        e.map(|e| AdminEndpoint {
            configured: true,
            ..e
        })
    };
    let mut expected = config.service.clone();
    expected.metrics = explicit(expected.metrics);
    expected.health = explicit(expected.health);
    assert_eq!(again.service, expected);
    assert_eq!(
        again.exporters.keys().collect::<Vec<_>>(),
        config.exporters.keys().collect::<Vec<_>>()
    );
    let off = load_file("telemetry-off.yaml").unwrap();
    let again = load_str("printed.yaml", &off.to_masked_yaml()).unwrap();
    assert_eq!((again.service.metrics, again.service.health), (None, None));
}

#[test]
fn pipeline_ids_parse_and_print() {
    let id = pid("logs/datadog");
    assert_eq!(
        (id.signal, id.name.as_deref()),
        (Signal::Logs, Some("datadog"))
    );
    assert_eq!(id.to_string(), "logs/datadog");
    assert_eq!(pid("traces").to_string(), "traces");
    assert!(pid("logs") < pid("logs/a") && pid("logs/a") < pid("metrics"));
    assert_eq!(
        "logz".parse::<PipelineId>().unwrap_err().to_string(),
        "unknown signal \"logz\", expected logs, metrics or traces"
    );
}

#[test]
fn config_errors_join() {
    assert!(ConfigError::join([]).is_ok());
    let err = ConfigError::join([ConfigError::new("a"), ConfigError::new("b")]).unwrap_err();
    assert_eq!(err.to_string(), "a\nb");
}

#[test]
fn configs_can_move_to_other_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Config>();
    send_sync::<ComponentConfig>();
    send_sync::<ConfigError>();
}

#[test]
fn connectors_are_checked_on_both_sides() {
    let cases: &[(&str, &str)] = &[
        (
            "connector-not-received.yaml",
            ":7: connectors.claude_code_metrics: connector \"claude_code_metrics\" used as exporter in logs pipeline but not used in any supported receiver pipeline",
        ),
        (
            "connector-not-exported.yaml",
            ":7: connectors.claude_code_metrics: connector \"claude_code_metrics\" used as receiver in metrics pipeline but not used in any supported exporter pipeline",
        ),
        (
            "connector-ambiguous.yaml",
            ":7: connectors.debug: ambiguous ID: Found both \"debug\" exporter and \"debug\" connector. Change one of the components' IDs to eliminate ambiguity (e.g. rename \"debug\" connector to \"debug/connector\")",
        ),
        (
            "connector-missing-ref.yaml",
            ":10: service.pipelines.logs.exporters.1: pipeline \"logs\" references exporter \"claude_code_metrics\" which is not configured",
        ),
    ];
    for (file, expected) in cases {
        let err = load_file(file).expect_err(file);
        assert_eq!(err.to_string(), format!("{DIR}/{file}{expected}"), "{file}");
    }

    let config = load_file("ok-connector.yaml").unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let connector = &config.connectors[&id("claude_code_metrics")];
    assert_eq!(connector.kind(), Kind::Connector);
    assert_eq!(
        config.service.pipelines[&pid("metrics")].receivers,
        ids(&["otlp", "claude_code_metrics"])
    );
    assert!(config.to_masked_yaml().contains("connectors:"));

    let config = load_file("connector-unused.yaml").unwrap();
    assert_eq!(
        config.warnings,
        ["connector \"claude_code_metrics\" is configured but used by no pipeline"]
    );
}

#[test]
fn memory_limit_is_optional_and_zero_means_off() {
    let base = "receivers: { otlp: {} }\nexporters: { debug: {} }\nservice:\n  pipelines: { logs: { receivers: [otlp], exporters: [debug] } }\n";
    let limit = |extra: &str| {
        load_str("mem.yaml", &format!("{base}  {extra}\n")).map(|c| c.service.memory_limit_mib)
    };
    assert_eq!(
        load_str("mem.yaml", base).unwrap().service.memory_limit_mib,
        None
    );
    assert_eq!(limit("memory_limit_mib: 64").unwrap(), Some(64));
    assert_eq!(limit("memory_limit_mib: 0").unwrap(), None);
    let err = limit("memory_limit_mib: 18446744073709551615")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mem.yaml:5: service.memory_limit_mib: must be at most 1048576 (1 TiB)"),
        "{err}"
    );
    let err = limit("memory_limit_mib: lots").unwrap_err().to_string();
    assert!(
        err.starts_with("mem.yaml:5: service.memory_limit_mib:"),
        "{err}"
    );
    // It survives print-config.
    let printed = load_str("mem.yaml", &format!("{base}  memory_limit_mib: 64\n"))
        .unwrap()
        .to_masked_yaml();
    assert!(printed.contains("memory_limit_mib: 64"), "{printed}");
}
