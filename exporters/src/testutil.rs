//! Test helpers: the recorded Claude Code requests, config tables, golden
//! files, temporary folders and a runtime.

use std::path::{Path, PathBuf};

use ccpipe_pipeline::config::{ComponentConfig, Config, ConfigError};
use ccpipe_pipeline::factory;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{BuildError, BuiltExporter, ComponentId, Records, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/claude-code/captures"
);
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");

/// Validates `cfg` through the registry, as the service does.
pub fn validate(cfg: &ComponentConfig) -> Result<(), ConfigError> {
    factory::lookup(crate::FACTORIES, cfg)?.validate(cfg)
}

/// Builds `cfg` through the registry, as the service does.
pub fn build(cfg: &ComponentConfig) -> Result<BuiltExporter, BuildError> {
    factory::lookup(crate::FACTORIES, cfg)?.build(cfg, &Listeners::new())
}

/// Why `cfg` cannot take `signal`, through the registry.
pub fn unsupported_signal(
    cfg: &ComponentConfig,
    signal: Signal,
) -> Result<Option<String>, ConfigError> {
    factory::lookup(crate::FACTORIES, cfg)?.unsupported(cfg, signal)
}

/// Decodes one protobuf capture, by the signal in its file name
/// (`0002-http-logs.bin`).
pub fn decode_capture(path: &Path) -> (Signal, Records) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let signal = Signal::ALL
        .into_iter()
        .find(|s| name.ends_with(&format!("-{s}.bin")))
        .unwrap_or_else(|| panic!("no signal in {name}"));
    let batch = match signal {
        Signal::Logs => Records::Logs(ExportLogsServiceRequest::decode(&bytes[..]).unwrap()),
        Signal::Metrics => {
            Records::Metrics(ExportMetricsServiceRequest::decode(&bytes[..]).unwrap())
        }
        Signal::Traces => Records::Traces(ExportTraceServiceRequest::decode(&bytes[..]).unwrap()),
    };
    (signal, batch)
}

/// Every protobuf capture of a variant (`http-protobuf`), in recorded order.
pub fn captures(variant: &str) -> Vec<(Signal, Records)> {
    let dir = Path::new(CAPTURES).join(variant).join("otlp");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no captures in {}", dir.display());
    paths.iter().map(|p| decode_capture(p)).collect()
}

/// The three captures the golden files are made from: the first session's
/// logs (13 events of 7 kinds), metrics (5 metrics) and traces (12 spans).
pub fn golden_batches() -> [(Signal, Records); 3] {
    let dir = Path::new(CAPTURES).join("http-protobuf/otlp");
    [
        "0002-http-logs.bin",
        "0001-http-metrics.bin",
        "0003-http-traces.bin",
    ]
    .map(|name| decode_capture(&dir.join(name)))
}

/// `testdata/<name>/config.yaml`, loaded as `<name>.yaml` (the name its
/// errors quote).
pub fn load_config(name: &str) -> Config {
    let path = Path::new(TESTDATA).join(name).join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    ccpipe_pipeline::config::load_str(&format!("{name}.yaml"), &text).unwrap()
}

/// The exporter `id` of a testdata config.
pub fn component<'a>(config: &'a Config, id: &str) -> &'a ComponentConfig {
    let id: ComponentId = id.parse().unwrap();
    config
        .exporters
        .get(&id)
        .unwrap_or_else(|| panic!("no exporter {id} in testdata"))
}

/// A runtime with one worker thread, for tests that drive exporters.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Compares `actual` with `testdata/golden/<name>`; with `UPDATE_GOLDEN=1`
/// writes it instead.
pub fn check_golden(name: &str, actual: &str) {
    check_golden_in("golden", name, actual);
}

/// Compares `actual` with `testdata/<dir>/<name>`; with `UPDATE_GOLDEN=1`
/// writes it instead.
pub fn check_golden_in(dir: &str, name: &str, actual: &str) {
    let path = Path::new(TESTDATA).join(dir).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             (UPDATE_GOLDEN=1 rewrites it if the change is intended)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ccpipe-exporters-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks a config table: `config` (loaded from `testdata/<type>/config.yaml`)
/// lists exactly the ids of `cases`, and each validates to its expected
/// result (the exact error, with file, line and key).
pub fn assert_config_table(config: &Config, cases: &[(&str, Result<(), &str>)]) {
    let listed: Vec<String> = config.exporters.keys().map(|id| id.to_string()).collect();
    let mut tested: Vec<&str> = cases.iter().map(|(id, _)| *id).collect();
    tested.sort_unstable();
    assert_eq!(listed, tested, "every testdata case has a row");
    for (id, expected) in cases {
        let got = validate(component(config, id)).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map_err(|e| e.as_str()),
            expected.as_ref().map_err(|e| *e),
            "case {id}"
        );
    }
}
