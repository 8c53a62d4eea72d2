//! Registry tests: the config tables over `testdata/<type>/config.yaml`, and
//! build → shutdown through the registry.

use std::time::Duration;

use ccpipe_pipeline::config::{self, Config};
use ccpipe_pipeline::export_task::RetryPolicy;

use crate::debug::{DebugConfig, DebugSettings, Output, Verbosity};
use crate::file::{AckWhen, FileConfig, FileSettings, Format, Rotation};
use crate::testutil::{
    assert_config_table, build, component, load_config, runtime, validate, TempDir,
};

/// Loads `testdata/<name>/config.yaml`, named `<name>.yaml` in messages.
#[test]
fn debug_config_table() {
    let config = load_config("debug");
    assert_config_table(
        &config,
        &[
            ("debug", Ok(())),
            ("debug/all_keys", Ok(())),
            (
                "debug/bad_verbosity",
                Err("debug.yaml:21: exporters.debug/bad_verbosity.verbosity: must be one of basic, normal, detailed; got \"loud\""),
            ),
            (
                "debug/bad_output",
                Err("debug.yaml:23: exporters.debug/bad_output.output: must be one of stdout, stderr; got \"syslog\""),
            ),
            (
                "debug/queue_size_zero",
                Err("debug.yaml:26: exporters.debug/queue_size_zero.sending_queue.queue_size: must be from 1 to 1048576"),
            ),
            (
                "debug/bad_retry",
                Err("debug.yaml:30: exporters.debug/bad_retry.retry_on_failure.max_interval: must be at least initial_interval (5s)"),
            ),
            (
                "debug/typo",
                Err("debug.yaml:32: exporters.debug/typo.verbosty: unknown field `verbosty`, expected one of `verbosity`, `output`, `sending_queue`, `retry_on_failure`"),
            ),
            (
                "debug/nested_typo",
                Err("debug.yaml:35: exporters.debug/nested_typo.retry_on_failure.max_elapsed: unknown field `max_elapsed`, expected one of `enabled`, `initial_interval`, `max_interval`, `max_elapsed_time`, `multiplier`"),
            ),
            (
                "debug/queue_size_huge",
                Err("debug.yaml:39: exporters.debug/queue_size_huge.sending_queue.queue_size: must be from 1 to 1048576"),
            ),
            (
                "debug/multiplier_huge",
                Err("debug.yaml:42: exporters.debug/multiplier_huge.retry_on_failure.multiplier: must be a number from 1 to 1000"),
            ),
            (
                "debug/interval_huge",
                Err("debug.yaml:45: exporters.debug/interval_huge.retry_on_failure.max_interval: invalid duration \"100000000000h\": must be at most 8760h (a year)"),
            ),
        ],
    );

    // Defaults resolved.
    let parsed: DebugConfig = component(&config, "debug").parse().unwrap();
    assert_eq!(parsed, DebugConfig::default());
    assert_eq!(
        parsed.settings().unwrap(),
        DebugSettings {
            verbosity: Verbosity::Basic,
            output: Output::Stdout
        }
    );
    assert_eq!(parsed.sending_queue.queue_size, 64);
    assert_eq!(parsed.retry_on_failure.policy(), RetryPolicy::default());

    let all: DebugConfig = component(&config, "debug/all_keys").parse().unwrap();
    assert_eq!(
        all.settings().unwrap(),
        DebugSettings {
            verbosity: Verbosity::Detailed,
            output: Output::Stderr
        }
    );
    assert_eq!(all.sending_queue.queue_size, 8);
    assert_eq!(
        all.retry_on_failure.policy(),
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(10),
            max_elapsed_time: Duration::from_secs(60),
            multiplier: 2.0,
        }
    );
}

#[test]
fn file_config_table() {
    let config = load_config("file");
    assert_config_table(
        &config,
        &[
            ("file", Ok(())),
            ("file/all_keys", Ok(())),
            ("file/rotation_defaults", Ok(())),
            ("file/no_flush_interval", Ok(())),
            (
                "file/empty_path",
                Err("file.yaml:29: exporters.file/empty_path.path: must not be empty"),
            ),
            (
                "file/no_path",
                Err("file.yaml:30: exporters.file/no_path: missing field `path`"),
            ),
            (
                "file/bad_format",
                Err("file.yaml:34: exporters.file/bad_format.format: must be one of otlp_json, flat; got \"xml\""),
            ),
            (
                "file/max_megabytes_zero",
                Err("file.yaml:38: exporters.file/max_megabytes_zero.rotation.max_megabytes: must be at least 1"),
            ),
            (
                "file/queue_size_zero",
                Err("file.yaml:42: exporters.file/queue_size_zero.sending_queue.queue_size: must be from 1 to 1048576"),
            ),
            (
                "file/typo",
                Err("file.yaml:46: exporters.file/typo.rotation.max_megabyte: unknown field `max_megabyte`, expected `max_megabytes` or `max_backups`"),
            ),
            ("file/durable", Ok(())),
            ("file/durable_interval", Ok(())),
        ],
    );

    let settings = |id| {
        component(&config, id)
            .parse::<FileConfig>()
            .unwrap()
            .settings()
            .unwrap()
    };
    assert_eq!(
        settings("file"),
        FileSettings {
            path: "./ccpipe-data/claude-code.jsonl".into(),
            format: Format::OtlpJson,
            rotation: None,
            flush_interval: Some(Duration::from_secs(1)),
            ack: AckWhen::Buffered,
        }
    );
    assert_eq!(
        settings("file/all_keys"),
        FileSettings {
            path: "/var/log/ccpipe/flat.jsonl".into(),
            format: Format::Flat,
            rotation: Some(Rotation {
                max_bytes: 20 << 20,
                max_backups: 3
            }),
            flush_interval: Some(Duration::from_millis(250)),
            ack: AckWhen::Buffered,
        }
    );
    assert_eq!(settings("file/durable").ack, AckWhen::Synced);
    assert_eq!(settings("file/durable_interval").ack, AckWhen::Written);
    assert_eq!(
        settings("file/rotation_defaults").rotation,
        Some(Rotation {
            max_bytes: 100 << 20,
            max_backups: 10
        })
    );
    assert_eq!(settings("file/no_flush_interval").flush_interval, None);

    let parsed: FileConfig = component(&config, "file").parse().unwrap();
    assert_eq!(parsed.sending_queue.queue_size, 64);
    assert_eq!(parsed.retry_on_failure.policy(), RetryPolicy::default());
    let all: FileConfig = component(&config, "file/all_keys").parse().unwrap();
    assert_eq!(all.sending_queue.queue_size, 16);
    assert!(!all.retry_on_failure.policy().enabled);
}

fn one_exporter(yaml_exporters: &str) -> Config {
    let yaml = format!(
        "receivers:\n  otlp:\nexporters:\n{yaml_exporters}\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [x]\n"
    );
    // The pipeline's exporter id is replaced by the caller's single id.
    let id = yaml_exporters
        .trim_start()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    config::load_str("test.yaml", &yaml.replace("[x]", &format!("[{id}]"))).unwrap()
}

#[test]
fn unknown_types_name_the_known_ones() {
    let config = one_exporter("  splunk_hec:\n    token: x");
    let cfg = component(&config, "splunk_hec");
    let err = validate(cfg).unwrap_err().to_string();
    assert_eq!(
        err,
        "test.yaml:4: exporters.splunk_hec: unknown exporter type \"splunk_hec\"; known types: clickhouse, datadog, debug, file, kafka, nop, otlp, otlp_http, prometheus, sqlite"
    );
    let err = build(cfg).err().unwrap().to_string();
    assert!(
        err.contains(
            "known types: clickhouse, datadog, debug, file, kafka, nop, otlp, otlp_http, prometheus, sqlite"
        ),
        "{err}"
    );
}

#[test]
fn build_then_shutdown_without_data() {
    let dir = TempDir::new("registry");
    let path = dir.join("sub/out.jsonl");
    let config = one_exporter(&format!(
        "  file/out:\n    path: {}\n    sending_queue:\n      queue_size: 7",
        path.display()
    ));
    let built = build(component(&config, "file/out")).unwrap();
    assert_eq!(built.queue_size, 7);
    assert_eq!(built.retry, RetryPolicy::default());
    assert!(path.exists(), "opened at build time");
    let mut exporter = built.exporter;
    runtime().block_on(async {
        exporter.shutdown().await.unwrap();
        // A second shutdown reports that the thread is gone; it must not hang or panic.
        let _ = exporter.shutdown().await;
    });

    let config = one_exporter("  debug/quiet:\n    verbosity: normal\n    output: stderr");
    let built = build(component(&config, "debug/quiet")).unwrap();
    assert_eq!(built.queue_size, 64);
    let mut exporter = built.exporter;
    runtime().block_on(async { exporter.shutdown().await.unwrap() });
}

#[test]
fn build_fails_at_startup_on_a_path_it_cannot_open() {
    let dir = TempDir::new("registry-bad");
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let path = blocker.join("out.jsonl");
    let config = one_exporter(&format!("  file:\n    path: {}", path.display()));
    let err = build(component(&config, "file")).err().unwrap().to_string();
    let expected = format!(
        "exporter \"file\": cannot create folder {}: ",
        blocker.display()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(
        err.contains("ot a directory") || err.contains("exists"),
        "names the OS error: {err}"
    );

    // validate() does no IO: the same config passes it.
    validate(component(&config, "file")).unwrap();

    // Invalid settings fail build too, with the validation message.
    let config = one_exporter("  file:\n    path: \"\"");
    let err = build(component(&config, "file")).err().unwrap().to_string();
    assert_eq!(err, "test.yaml:5: exporters.file.path: must not be empty");
}

#[test]
fn nop_config_table() {
    let config = load_config("nop");
    assert_config_table(
        &config,
        &[
            ("nop", Ok(())),
            ("nop/empty", Ok(())),
            (
                "nop/typo",
                Err("nop.yaml:9: exporters.nop/typo.verbosity: unknown field `verbosity`, there are no fields"),
            ),
        ],
    );
}

#[test]
fn nop_accepts_and_discards() {
    use ccpipe_pipeline::Signal;
    let config = one_exporter("  nop:");
    let cfg = config.exporters.values().next().unwrap();
    runtime().block_on(async {
        let mut built = crate::testutil::build(cfg).unwrap();
        let batch = ccpipe_pipeline::Batch::from(ccpipe_pipeline::Records::empty(Signal::Logs));
        built.exporter.export(batch).await.unwrap();
        built.exporter.shutdown().await.unwrap();
    });
}
