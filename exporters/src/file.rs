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
//!
//! Under a durable queue (`sending_queue.storage`) an export is written, and
//! fsynced as the queue's `fsync` says, before it returns: the queue forgets
//! a batch once the exporter answers, so the file must hold it by then.

mod config;
mod factory;
mod flat;
mod writer;

#[cfg(test)]
mod tests;

use std::io;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::otlp_json;
use ccpipe_pipeline::{Batch, Encoded, Form};
use ccpipe_pipeline::{BlockingExporter, ExportError, Records, Signal};

pub use config::{AckWhen, FileConfig, FileSettings, Format, RotationConfig};
pub use factory::Factory;
pub use flat::FlatEncoder;
use writer::LineFile;
pub use writer::Rotation;

/// Write as soon as this much is buffered, whatever the interval. With
/// lines of [`LINE_BYTES`] the buffer stays under 512 KiB (it was 2 MiB
/// with 1 MiB and 512 KiB until session 7: resident under load,
/// bench/README.md); a write of 256 KiB costs no more per byte.
const WRITE_AT: usize = 256 << 10;
/// With `flush_interval: 0`, how often a failed write is tried again when
/// no batch comes to try it.
const RETRY_WRITE_EVERY: Duration = Duration::from_secs(1);
/// A buffer that grew past this (one huge request's line) is shrunk after
/// writing: twice what [`WRITE_AT`] and one line of [`LINE_BYTES`] need.
const KEEP_CAPACITY: usize = 1 << 20;
/// An encoded batch's requests go into one line while their protobuf bytes
/// stay within this (a request larger than it gets a line of its own); as
/// JSON that is about twice as much.
const LINE_BYTES: usize = 128 << 10;

pub struct FileExporter {
    file: LineFile,
    format: Format,
    flat: FlatEncoder,
    /// Complete lines not yet written.
    pending: Vec<u8>,
    /// The last write failed; `pending` holds what it could not write.
    failing: bool,
    flush_interval: Option<Duration>,
    ack: AckWhen,
    /// `AckWhen::Written`: written since the last fsync.
    unsynced: bool,
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
            ack: settings.ack,
            unsynced: false,
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
    /// Appends the batch's `parts` as one OTLP/JSON line.
    fn buffer_line(&mut self, batch: &Encoded, parts: Range<usize>) -> Result<(), ExportError> {
        if otlp_json::transcode_parts(batch, parts.clone(), &mut self.pending).is_err() {
            // A layout JSON cannot mirror (see transcode): decode instead.
            let decoded = decode_parts(batch.signal(), &batch.parts()[parts])
                .map_err(ExportError::permanent)?;
            otlp_json::encode(&decoded, &mut self.pending);
        }
        self.pending.push(b'\n');
        Ok(())
    }

    /// Writes the buffer out when it is due. With an in-memory queue a
    /// failure here is only logged: the batch is buffered either way, the
    /// next flush or export retries, and the batch must not repeat. With a
    /// durable queue the failure fails the batch (see [`Self::export_with`]).
    fn after_buffering(&mut self) -> Result<(), ExportError> {
        let buffered = self.ack == AckWhen::Buffered;
        let due = self.pending.len() >= WRITE_AT || (buffered && self.flush_interval.is_none());
        if !due {
            return Ok(());
        }
        match self.write_pending() {
            Err(e) if buffered => {
                tracing::warn!(error = %e, "file write failed; will retry");
                Ok(())
            }
            r => r,
        }
    }

    /// Buffers a batch with `fill`, then, under a durable queue, writes it
    /// (and fsyncs it with `fsync: always | batch`) before answering: the
    /// queue drops a batch once this returns, so the file must have it. A
    /// batch that fails is cut back off the file, so its retry writes it
    /// once; the error is retryable and the queue keeps the batch.
    fn export_with(
        &mut self,
        fill: impl FnOnce(&mut Self) -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        if self.ack == AckWhen::Buffered {
            // While the disk refuses data, take no more: the batch goes back
            // to the export queue, which retries it and backpressures.
            if self.failing {
                self.write_pending()?;
            }
            return fill(self);
        }
        let mark = self.file.mark();
        let result = fill(self)
            .and_then(|()| self.write_pending())
            .and_then(|()| match self.ack {
                AckWhen::Synced => self.file.sync().map_err(|e| {
                    self.failing = true;
                    ExportError::retryable(e.to_string())
                }),
                _ => {
                    self.unsynced = true;
                    Ok(())
                }
            });
        if result.is_err() {
            self.pending.clear();
            if let Err(e) = self.file.rollback(mark) {
                tracing::error!(error = %e, "cannot take a failed batch back; it may be written twice");
            }
        }
        result
    }
}

impl FileExporter {
    fn export_decoded(&mut self, batch: &Records) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.export_with(|me| {
            match me.format {
                Format::OtlpJson => {
                    otlp_json::encode(batch, &mut me.pending);
                    me.pending.push(b'\n');
                }
                Format::Flat => me.flat.encode(batch, &mut me.pending),
            }
            me.after_buffering()
        })
    }

    fn export_encoded(&mut self, batch: &Encoded) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.export_with(|me| {
            let parts = batch.parts();
            let mut from = 0;
            while from < parts.len() {
                let to = from + line_len(&parts[from..]);
                // Parts passed the receiver's check, so decoding cannot fail;
                // if it did, the lines before stay written.
                me.buffer_line(batch, from..to)?;
                me.after_buffering()?;
                from = to;
            }
            Ok(())
        })
    }
}

impl BlockingExporter for FileExporter {
    /// OTLP/JSON lines are written straight from the protobuf bytes, so the
    /// pipeline never decodes for this exporter; flat lines need records.
    fn prefers(&self) -> Form {
        match self.format {
            Format::OtlpJson => Form::Encoded,
            Format::Flat => Form::Decoded,
        }
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        match (self.format, batch.encoded()) {
            (Format::OtlpJson, Some(encoded)) => self.export_encoded(encoded),
            _ => self.export_decoded(batch.records()?),
        }
    }

    /// Writes what is buffered; under `fsync: interval` also forces what was
    /// written to disk, so it is synced within `flush_interval`.
    fn flush(&mut self) -> Result<(), ExportError> {
        self.write_pending()?;
        if self.unsynced {
            self.file
                .sync()
                .map_err(|e| ExportError::retryable(e.to_string()))?;
            self.unsynced = false;
        }
        Ok(())
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
fn decode_parts(signal: Signal, parts: &[Bytes]) -> Result<Records, String> {
    let mut batch = Records::empty(signal);
    for part in parts {
        let encoded = Encoded::new(signal, part.clone()).map_err(|e| e.to_string())?;
        batch.append(encoded.decode().map_err(|e| e.to_string())?);
    }
    Ok(batch)
}
