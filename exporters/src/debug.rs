//! The `debug` exporter, like the Collector's: prints what flows through a
//! pipeline to stdout or stderr at one of three verbosities.
//!
//! - `basic`: one line per batch with its signal and counts.
//! - `normal`: one line per log record, data point or span, with the few
//!   attributes that say what happened (model, tool, tokens, cost, …).
//! - `detailed`: every field of resource, scope and record, laid out as the
//!   Collector's debug exporter does.
//!
//! Each batch is formatted into a buffer first and written with one call, so
//! lines of concurrent batches (or other stdout users) never interleave.

/// `write!` into a byte buffer, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        {
            let _ = Write::write_fmt($out, format_args!($($arg)*));
        }
    };
}

mod basic;
mod detailed;
mod fields;
mod normal;

use std::io::{self, Write};

use ccpipe_pipeline::config::{ComponentConfig, ConfigError};
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::{factory, BuildError, BuiltExporter};
use ccpipe_pipeline::{Batch, BlockingExporter, ExportError, Records};
use serde::Deserialize;

use crate::common::{self, Invalid, QueueConfig, RetryConfig};

/// The `debug` exporter's config, as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// `basic`, `normal` or `detailed`.
    pub verbosity: String,
    /// `stdout` or `stderr`.
    pub output: String,
    pub sending_queue: QueueConfig,
    pub retry_on_failure: RetryConfig,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: "basic".into(),
            output: "stdout".into(),
            sending_queue: QueueConfig::default(),
            retry_on_failure: RetryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// What the exporter runs with, once the config is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugSettings {
    pub verbosity: Verbosity,
    pub output: Output,
}

impl DebugConfig {
    /// Checks every setting (no IO) and returns the typed settings.
    pub fn settings(&self) -> Result<DebugSettings, Invalid> {
        let verbosity = match self.verbosity.as_str() {
            "basic" => Verbosity::Basic,
            "normal" => Verbosity::Normal,
            "detailed" => Verbosity::Detailed,
            other => {
                return Err(Invalid::new(
                    "verbosity",
                    format!("must be one of basic, normal, detailed; got {other:?}"),
                ))
            }
        };
        let output = match self.output.as_str() {
            "stdout" => Output::Stdout,
            "stderr" => Output::Stderr,
            other => {
                return Err(Invalid::new(
                    "output",
                    format!("must be one of stdout, stderr; got {other:?}"),
                ))
            }
        };
        self.sending_queue.validate()?;
        self.retry_on_failure.validate()?;
        Ok(DebugSettings { verbosity, output })
    }
}

pub struct DebugExporter {
    verbosity: Verbosity,
    out: Box<dyn Write + Send>,
    /// The text of one batch; reused.
    buf: Vec<u8>,
}

impl DebugExporter {
    /// Writes to stdout or stderr, as `settings` say.
    pub fn new(settings: DebugSettings) -> Self {
        let out: Box<dyn Write + Send> = match settings.output {
            // Each `write_all` on these takes the stream's lock once.
            Output::Stdout => Box::new(io::stdout()),
            Output::Stderr => Box::new(io::stderr()),
        };
        DebugExporter::with_writer(settings.verbosity, out)
    }

    /// Writes to `out`; tests pass a buffer.
    pub fn with_writer(verbosity: Verbosity, out: Box<dyn Write + Send>) -> Self {
        DebugExporter {
            verbosity,
            out,
            buf: Vec::with_capacity(4096),
        }
    }
}

impl BlockingExporter for DebugExporter {
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.buf.clear();
        format_batch(self.verbosity, batch.records()?, &mut self.buf);
        // A closed stdout will not open again: retrying cannot help.
        self.out
            .write_all(&self.buf)
            .map_err(|e| ExportError::permanent(format!("debug output failed: {e}")))
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out
            .flush()
            .map_err(|e| ExportError::permanent(format!("debug output failed: {e}")))
    }
}

/// Appends the text for `batch` at `verbosity` to `out`.
pub fn format_batch(verbosity: Verbosity, batch: &Records, out: &mut Vec<u8>) {
    match verbosity {
        Verbosity::Basic => basic::basic(batch, out),
        Verbosity::Normal => normal::normal(batch, out),
        Verbosity::Detailed => detailed::detailed(batch, out),
    }
}

impl common::ExporterConfig for DebugConfig {
    type Settings = DebugSettings;
    fn settings(&self) -> Result<DebugSettings, Invalid> {
        DebugConfig::settings(self)
    }
    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }
    fn retry_on_failure(&self) -> &RetryConfig {
        &self.retry_on_failure
    }
}

/// `debug`: prints what it is sent, at one of three verbosities.
pub struct Factory;

impl factory::Factory for Factory {
    fn type_name(&self) -> &'static str {
        "debug"
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        common::parse_settings::<DebugConfig>(cfg).map(drop)
    }
}

impl factory::ExporterFactory for Factory {
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<std::path::PathBuf> {
        common::queue_storage::<DebugConfig>(cfg)
    }

    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        let (c, settings) = common::parse_settings::<DebugConfig>(cfg)?;
        common::spawned(cfg, &c, DebugExporter::new(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes a test can read back.
    #[derive(Clone, Default)]
    pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn golden_debug_output() {
        for (verbosity, name) in [
            (Verbosity::Basic, "basic"),
            (Verbosity::Normal, "normal"),
            (Verbosity::Detailed, "detailed"),
        ] {
            for (signal, batch) in crate::testutil::golden_batches() {
                let capture = Capture::default();
                let mut exporter = DebugExporter::with_writer(verbosity, Box::new(capture.clone()));
                exporter.export(&Batch::from(batch.clone())).unwrap();
                exporter.flush().unwrap();
                let text = capture.text();
                assert!(text.ends_with('\n'), "{name} {signal}: every line ends");
                crate::testutil::check_golden(&format!("debug-{name}-{signal}.txt"), &text);
            }
        }
    }

    #[test]
    fn basic_counts_items() {
        let [(_, logs), (_, metrics), (_, traces)] = crate::testutil::golden_batches();
        let text = |b: &Records| {
            let mut out = Vec::new();
            format_batch(Verbosity::Basic, b, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            text(&logs),
            format!("logs: resources=1, log records={}\n", logs.item_count())
        );
        assert!(text(&metrics).starts_with("metrics: resources=1, metrics="));
        assert!(text(&metrics).ends_with(&format!("data points={}\n", metrics.item_count())));
        assert_eq!(
            text(&traces),
            format!("traces: resources=1, spans={}\n", traces.item_count())
        );
    }

    #[test]
    fn normal_writes_one_line_per_item() {
        for (signal, batch) in crate::testutil::golden_batches() {
            let mut out = Vec::new();
            format_batch(Verbosity::Normal, &batch, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.lines().count(), batch.item_count(), "{signal}");
        }
    }

    #[test]
    fn normal_log_line_shows_key_attributes() {
        let [(_, logs), ..] = crate::testutil::golden_batches();
        let mut out = Vec::new();
        format_batch(Verbosity::Normal, &logs, &mut out);
        let text = String::from_utf8(out).unwrap();
        let api = text
            .lines()
            .find(|l| l.starts_with("claude_code.api_request "))
            .expect("an api_request line");
        for key in [
            "model=",
            "input_tokens=",
            "output_tokens=",
            "cost_usd=",
            "duration_ms=",
        ] {
            assert!(api.contains(key), "{api:?} lacks {key}");
        }
        assert!(
            !api.contains("event.name="),
            "the body already names the event"
        );
        assert!(!api.contains("session.id"), "only key attributes: {api}");
    }

    #[test]
    fn config_defaults_and_errors() {
        let s = DebugConfig::default().settings().unwrap();
        assert_eq!(
            s,
            DebugSettings {
                verbosity: Verbosity::Basic,
                output: Output::Stdout
            }
        );
        let bad = DebugConfig {
            verbosity: "loud".into(),
            ..Default::default()
        };
        assert_eq!(
            bad.settings().unwrap_err().to_string(),
            "verbosity: must be one of basic, normal, detailed; got \"loud\""
        );
    }
}
