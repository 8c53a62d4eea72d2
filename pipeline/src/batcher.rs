//! The batch processor's logic: merge small batches of one signal until
//! `send_batch_size` items or `timeout`, and split above `send_batch_max_size`.
//! Batches are appended in arrival order, so records of one request are never
//! reordered. A batch never weighs more than [`MAX_BATCH_BYTES`], whatever
//! its item count, so large records cannot make one batch outgrow the
//! exporter queue's byte budget.

use std::time::{Duration, Instant};

use crate::batch::{Batch, DecodeError};
use crate::channel::Weigh;

/// The most one emitted batch weighs (by [`Weigh`], the queues' estimate):
/// an exporter queue's byte budget (1 MiB in the service), so a batch always
/// fits an empty queue. Above it the pending batch is split: about 1200
/// Claude Code records as received, 400 once decoded. 1 MiB (2 until session
/// 7): under overload the batch being filled, the one queued and the one
/// being exported are all full, so each MiB here is ~3 MiB of resident set;
/// a larger batch saved no CPU per record (bench/README.md, "peak RSS at 32
/// connections").
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Settings of the batch processor, as the Collector names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Emit once this many items are pending (0 = only on timeout).
    pub send_batch_size: usize,
    /// Never emit more than this many items at once (0 = no limit).
    pub send_batch_max_size: usize,
    /// Emit what is pending this long after its first item arrived (0 = at once).
    pub timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration::from_millis(200),
        }
    }
}

pub struct Batcher {
    settings: BatchSettings,
    pending: Option<Batch>,
    pending_items: usize,
    /// The pending batch's weight, summed as batches arrive.
    pending_bytes: usize,
    max_bytes: usize,
    first_arrival: Option<Instant>,
}

impl Batcher {
    pub fn new(settings: BatchSettings) -> Self {
        Batcher {
            settings,
            pending: None,
            pending_items: 0,
            pending_bytes: 0,
            max_bytes: MAX_BATCH_BYTES,
            first_arrival: None,
        }
    }

    /// Caps each emitted batch at `max_bytes` instead of [`MAX_BATCH_BYTES`].
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    pub fn settings(&self) -> BatchSettings {
        self.settings
    }

    /// Items held and not yet emitted.
    pub fn pending_items(&self) -> usize {
        self.pending_items
    }

    /// The signal of what is held, if anything is.
    pub fn pending_signal(&self) -> Option<crate::Signal> {
        self.pending.as_ref().map(Batch::signal)
    }

    /// Adds a batch; emits through `out` whatever became due by size. Fails
    /// only if an encoded payload cannot be decoded (see [`DecodeError`]);
    /// what was pending before stays pending.
    pub fn push(&mut self, batch: Batch, out: &mut dyn FnMut(Batch)) -> Result<(), DecodeError> {
        let items = batch.item_count();
        if items == 0 {
            return Ok(());
        }
        let bytes = batch.weight();
        match &mut self.pending {
            Some(p) => p.append(batch)?,
            None => {
                self.pending = Some(batch);
                self.first_arrival = Some(Instant::now());
            }
        }
        self.pending_items += items;
        self.pending_bytes = self.pending_bytes.saturating_add(bytes);
        self.emit_over_weight(out)?;

        let size = self.settings.send_batch_size;
        if self.settings.timeout.is_zero() {
            return self.flush(out);
        }
        while size > 0 && self.pending_items >= size {
            let take = match self.settings.send_batch_max_size {
                0 => self.pending_items,
                max => max.min(self.pending_items),
            };
            self.emit(take, out)?;
        }
        Ok(())
    }

    /// When the pending batch is due by time, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_arrival.map(|t| t + self.settings.timeout)
    }

    /// Emits the pending batch if its deadline has passed.
    pub fn on_deadline(
        &mut self,
        now: Instant,
        out: &mut dyn FnMut(Batch),
    ) -> Result<(), DecodeError> {
        if self.deadline().is_some_and(|d| d <= now) {
            return self.flush(out);
        }
        Ok(())
    }

    /// Emits everything pending (split by `send_batch_max_size`).
    pub fn flush(&mut self, out: &mut dyn FnMut(Batch)) -> Result<(), DecodeError> {
        while self.pending_items > 0 {
            let take = match self.settings.send_batch_max_size {
                0 => self.pending_items,
                max => max.min(self.pending_items),
            };
            self.emit(take, out)?;
        }
        Ok(())
    }

    /// Emits slices of the pending batch while it weighs more than
    /// `max_bytes`: encoded, whole requests up to `max_bytes` (one request
    /// larger than that goes alone, as the receiver took it; cutting inside
    /// would decode it to about three times its size); decoded, as many
    /// items as fit by their average weight.
    fn emit_over_weight(&mut self, out: &mut dyn FnMut(Batch)) -> Result<(), DecodeError> {
        while self.pending_items > 0 && self.pending_bytes > self.max_bytes {
            let Some(pending) = &self.pending else { break };
            let take = match pending.leading_items_within(self.max_bytes) {
                Some(items) => items,
                None => {
                    let share = self.pending_items as u128 * self.max_bytes as u128
                        / self.pending_bytes as u128;
                    usize::try_from(share).unwrap_or(usize::MAX)
                }
            };
            let mut take = take.clamp(1, self.pending_items);
            if self.settings.send_batch_max_size > 0 {
                take = take.min(self.settings.send_batch_max_size);
            }
            self.emit(take, out)?;
        }
        Ok(())
    }

    fn emit(&mut self, items: usize, out: &mut dyn FnMut(Batch)) -> Result<(), DecodeError> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        if items >= self.pending_items {
            self.pending_items = 0;
            self.pending_bytes = 0;
            self.first_arrival = None;
            if let Some(all) = self.pending.take() {
                out(all);
            }
            return Ok(());
        }
        let head = match pending.split_front(items) {
            Ok(h) => h,
            Err(e) => {
                // Undecodable: give up on what is pending rather than loop.
                self.pending = None;
                self.pending_items = 0;
                self.pending_bytes = 0;
                self.first_arrival = None;
                return Err(e);
            }
        };
        // What stays weighs its share of the estimate.
        let kept = self.pending_items - items;
        self.pending_bytes =
            (self.pending_bytes as u128 * kept as u128 / self.pending_items as u128) as usize;
        self.pending_items -= items;
        // What stays behind has waited since the first arrival already; keep
        // that deadline so a steady trickle cannot postpone it forever.
        out(head);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use crate::records::Records;

    fn logs(bodies: &[&str]) -> Batch {
        let records = bodies
            .iter()
            .map(|b| LogRecord {
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(b.to_string())),
                }),
                ..Default::default()
            })
            .collect();
        Batch::from(Records::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }))
    }

    fn bodies(p: &Batch) -> Vec<String> {
        let Ok(Records::Logs(r)) = p.records() else {
            panic!("not logs")
        };
        r.resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| &sl.log_records)
            .map(|lr| match &lr.body.as_ref().unwrap().value {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => panic!("body"),
            })
            .collect()
    }

    fn settings(size: usize, max: usize, timeout_ms: u64) -> BatchSettings {
        BatchSettings {
            send_batch_size: size,
            send_batch_max_size: max,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn table() {
        // (settings, pushes, expected emitted batches right after the pushes, then after flush)
        type Case = (
            BatchSettings,
            Vec<Vec<&'static str>>,
            Vec<Vec<&'static str>>,
            Vec<Vec<&'static str>>,
        );
        let cases: Vec<Case> = vec![
            // below size: nothing until flush, then one merged batch in order
            (
                settings(3, 0, 1000),
                vec![vec!["a"], vec!["b"]],
                vec![],
                vec![vec!["a", "b"]],
            ),
            // reaching size emits everything pending
            (
                settings(3, 0, 1000),
                vec![vec!["a", "b"], vec!["c", "d"]],
                vec![vec!["a", "b", "c", "d"]],
                vec![],
            ),
            // max size splits, keeping order; the remainder waits
            (
                settings(2, 3, 1000),
                vec![vec!["a", "b", "c", "d", "e", "f", "g"]],
                vec![vec!["a", "b", "c"], vec!["d", "e", "f"]],
                vec![vec!["g"]],
            ),
            // size 0: only time or flush emits; flush splits by max
            (
                settings(0, 2, 1000),
                vec![vec!["a", "b", "c"]],
                vec![],
                vec![vec!["a", "b"], vec!["c"]],
            ),
            // timeout 0: pass-through, split by max
            (
                settings(100, 2, 0),
                vec![vec!["a", "b", "c"]],
                vec![vec!["a", "b"], vec!["c"]],
                vec![],
            ),
            // empty batches vanish
            (settings(1, 0, 1000), vec![vec![]], vec![], vec![]),
        ];
        for (i, (s, pushes, during, after)) in cases.into_iter().enumerate() {
            let mut b = Batcher::new(s);
            let mut out = Vec::new();
            for p in pushes {
                b.push(logs(&p), &mut |x| out.push(bodies(&x))).unwrap();
            }
            let during_got = std::mem::take(&mut out);
            b.flush(&mut |x| out.push(bodies(&x))).unwrap();
            let want = |v: Vec<Vec<&str>>| -> Vec<Vec<String>> {
                v.into_iter()
                    .map(|x| x.into_iter().map(String::from).collect())
                    .collect()
            };
            assert_eq!(during_got, want(during), "case {i}: emitted by size");
            assert_eq!(out, want(after), "case {i}: emitted by flush");
            assert_eq!(b.pending_items(), 0, "case {i}");
            assert!(b.deadline().is_none(), "case {i}");
        }
    }

    #[test]
    fn no_batch_outweighs_the_byte_cap() {
        // 64 records of ~1 KiB each, decoded (~3 KiB each by the estimate),
        // against a 16 KiB cap: batches of a few records, none over the cap,
        // every record once and in order.
        let big: Vec<String> = (0..64)
            .map(|i| format!("{i:04}{}", "x".repeat(1020)))
            .collect();
        let refs: Vec<&str> = big.iter().map(String::as_str).collect();
        let mut b = Batcher::new(settings(8192, 0, 1000)).with_max_bytes(16 << 10);
        let mut out = Vec::new();
        for pair in refs.chunks(2) {
            b.push(logs(pair), &mut |x| out.push(x)).unwrap();
        }
        b.flush(&mut |x| out.push(x)).unwrap();
        assert!(out.len() > 4, "split into several batches: {}", out.len());
        for batch in &out {
            assert!(
                batch.weight() <= 16 << 10,
                "a batch of {} bytes",
                batch.weight()
            );
        }
        let all: Vec<String> = out.iter().flat_map(bodies).collect();
        assert_eq!(all, big);

        // Encoded requests are cut between requests, staying encoded: two
        // 600-byte requests per batch under a 1300-byte cap.
        let encode = |id: &str| {
            let b = logs(&[&format!("{id}{}", "z".repeat(590))])
                .into_records()
                .unwrap();
            let bytes = match b {
                Records::Logs(r) => prost::Message::encode_to_vec(&r),
                _ => unreachable!(),
            };
            Batch::from(crate::Encoded::new(crate::Signal::Logs, bytes.into()).unwrap())
        };
        let mut b = Batcher::new(settings(8192, 0, 1000)).with_max_bytes(1300);
        let mut out = Vec::new();
        for id in ["a", "b", "c", "d", "e"] {
            b.push(encode(id), &mut |x| out.push(x)).unwrap();
        }
        b.flush(&mut |x| out.push(x)).unwrap();
        let sizes: Vec<usize> = out.iter().map(Batch::item_count).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(out
            .iter()
            .all(|p| p.encoded().is_some() && p.weight() <= 1300));

        // One record over the cap still goes, alone.
        let mut b = Batcher::new(settings(8192, 0, 1000)).with_max_bytes(100);
        let mut out = Vec::new();
        b.push(logs(&[&"y".repeat(1000)]), &mut |x| out.push(x))
            .unwrap();
        assert_eq!(out.len(), 1, "emitted at once");
        assert_eq!(b.pending_items(), 0);
    }

    #[test]
    fn deadline_emits_pending() {
        let mut b = Batcher::new(settings(100, 0, 50));
        let mut out = Vec::new();
        b.push(logs(&["a"]), &mut |x| out.push(x)).unwrap();
        let d = b.deadline().expect("pending has a deadline");
        b.on_deadline(d - Duration::from_millis(1), &mut |x| out.push(x))
            .unwrap();
        assert!(out.is_empty(), "not due yet");
        b.on_deadline(d, &mut |x| out.push(x)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(bodies(&out[0]), vec!["a"]);
    }
}
