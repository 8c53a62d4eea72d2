//! `basic`: one line per batch with its signal and counts.

use std::io::Write;

use ccpipe_pipeline::Records;

pub(super) fn basic(batch: &Records, out: &mut Vec<u8>) {
    let items = batch.item_count();
    match batch {
        Records::Logs(r) => {
            w!(
                out,
                "logs: resources={}, log records={items}\n",
                r.resource_logs.len()
            );
        }
        Records::Metrics(r) => {
            let metrics: usize = r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .map(|sm| sm.metrics.len())
                .sum();
            w!(
                out,
                "metrics: resources={}, metrics={metrics}, data points={items}\n",
                r.resource_metrics.len()
            );
        }
        Records::Traces(r) => {
            w!(
                out,
                "traces: resources={}, spans={items}\n",
                r.resource_spans.len()
            );
        }
    }
}
