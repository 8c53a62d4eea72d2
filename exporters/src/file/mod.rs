//! The `file` exporter: appends every batch to a file as JSON lines, either
//! OTLP/JSON export requests (what the Collector's file exporter writes, and
//! its `otlpjsonfile` receiver reads) or `flat` records for ad-hoc analysis.
//!
//! Data is formatted into a buffer of complete lines and written on
//! `flush_interval`, when the buffer grows large, and at shutdown, so a line
//! is never torn. An encoded batch (OTLP/JSON) is written as one line per
//! group of its requests of about [`LINE_BYTES`], so the buffer stays near
//! [`WRITE_AT`] however large the batch (a batch of 8192 Claude Code records
//! is about 14 MB of JSON as one line). When the disk refuses a write the buffer is kept and new
//! batches are turned away with a retryable error until it is written, so
//! nothing accepted is lost and memory stays bounded by the export queue.

mod config;
mod flat;
mod writer;

#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::otlp_json;
use ccpipe_pipeline::payload::Encoded;
use ccpipe_pipeline::{Batch, BlockingExporter, ExportError, Signal};

pub use config::{FileConfig, FileSettings, Format, RotationConfig};
pub use flat::FlatEncoder;
use writer::LineFile;
pub use writer::Rotation;

/// Write as soon as this much is buffered, whatever the interval.
const WRITE_AT: usize = 1 << 20;
/// With `flush_interval: 0`, how often a failed write is tried again when
/// no batch comes to try it.
const RETRY_WRITE_EVERY: Duration = Duration::from_secs(1);
/// A buffer that grew past this (one huge batch) is shrunk after writing.
const KEEP_CAPACITY: usize = 4 << 20;
/// An encoded batch's requests go into one line while their protobuf bytes
/// stay within this (a request larger than it gets a line of its own); as
/// JSON that is about twice as much.
const LINE_BYTES: usize = 512 << 10;

pub struct FileExporter {
    file: LineFile,
    format: Format,
    flat: FlatEncoder,
    /// Complete lines not yet written.
    pending: Vec<u8>,
    /// The last write failed; `pending` holds what it could not write.
    failing: bool,
    flush_interval: Option<Duration>,
}

impl FileExporter {
    /// Opens (or creates) the file. Errors name the path and the OS error.
    pub fn open(settings: &FileSettings) -> io::Result<FileExporter> {
        Ok(FileExporter {
            file: LineFile::open(&settings.path, settings.rotation)?,
            format: settings.format,
            flat: FlatEncoder::default(),
            pending: Vec::with_capacity(64 * 1024),
            failing: false,
            flush_interval: settings.flush_interval,
        })
    }

    fn write_pending(&mut self) -> Result<(), ExportError> {
        match self.file.write_lines(&mut self.pending) {
            Ok(()) => {
                if self.failing {
                    tracing::info!(file = %self.file.path().display(), "writing works again");
                }
                self.failing = false;
                if self.pending.capacity() > KEEP_CAPACITY {
                    self.pending.shrink_to(WRITE_AT);
                }
                Ok(())
            }
            Err(e) => {
                self.failing = true;
                // The error names the file already.
                Err(ExportError::retryable(format!(
                    "{e} ({} bytes kept to write later)",
                    self.pending.len()
                )))
            }
        }
    }
}

impl FileExporter {
    /// Appends `parts` as one OTLP/JSON line.
    fn buffer_line(&mut self, signal: Signal, parts: &[Bytes]) -> Result<(), ExportError> {
        if otlp_json::transcode_parts(signal, parts, &mut self.pending).is_err() {
            // A layout JSON cannot mirror (see transcode): decode instead.
            let decoded = decode_parts(signal, parts).map_err(ExportError::permanent)?;
            otlp_json::encode(&decoded, &mut self.pending);
        }
        self.pending.push(b'\n');
        Ok(())
    }

    /// Writes the buffer out when it is due; a batch is buffered either way.
    fn after_buffering(&mut self) {
        if self.flush_interval.is_none() || self.pending.len() >= WRITE_AT {
            // The batch is buffered either way; a failure here is retried by
            // the next flush or export and must not make this batch repeat.
            if let Err(e) = self.write_pending() {
                tracing::warn!(error = %e, "file write failed; will retry");
            }
        }
    }
}

impl BlockingExporter for FileExporter {
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        // While the disk refuses data, take no more: the batch goes back to
        // the export queue, which retries it and backpressures the pipeline.
        if self.failing {
            self.write_pending()?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        match self.format {
            Format::OtlpJson => {
                otlp_json::encode(batch, &mut self.pending);
                self.pending.push(b'\n');
            }
            Format::Flat => self.flat.encode(batch, &mut self.pending),
        }
        self.after_buffering();
        Ok(())
    }

    /// OTLP/JSON lines are written straight from the protobuf bytes, so the
    /// pipeline never decodes for this exporter; flat lines need records.
    fn accepts_encoded(&self) -> bool {
        self.format == Format::OtlpJson
    }

    fn export_encoded(&mut self, batch: &Encoded) -> Result<(), ExportError> {
        if self.failing {
            self.write_pending()?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut parts = batch.parts();
        while !parts.is_empty() {
            let (line, rest) = parts.split_at(line_len(parts));
            // Parts passed the receiver's check, so decoding cannot fail;
            // if it did, the lines before stay written.
            self.buffer_line(batch.signal(), line)?;
            self.after_buffering();
            parts = rest;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.write_pending()
    }

    /// Never `None`, even with `flush_interval: 0` (export writes at once
    /// then): with `None` the worker would report a failed flush as a failed
    /// export, and the retried batch, already buffered, would be written twice.
    fn flush_interval(&self) -> Option<Duration> {
        Some(self.flush_interval.unwrap_or(RETRY_WRITE_EVERY))
    }
}

/// How many of `parts` (at least one) go into the next line: as many as fit
/// in [`LINE_BYTES`] of protobuf.
fn line_len(parts: &[Bytes]) -> usize {
    let mut bytes = 0;
    let fit = parts
        .iter()
        .take_while(|p| {
            bytes += p.len();
            bytes <= LINE_BYTES
        })
        .count();
    fit.max(1)
}

/// The records of `parts`, decoded (for the layouts transcoding refuses).
fn decode_parts(signal: Signal, parts: &[Bytes]) -> Result<Batch, String> {
    let mut batch = Batch::empty(signal);
    for part in parts {
        let encoded = Encoded::new(signal, part.clone()).map_err(|e| e.to_string())?;
        batch.append(encoded.decode().map_err(|e| e.to_string())?);
    }
    Ok(batch)
}
