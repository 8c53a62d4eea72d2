//! ccpipe's own metrics: the `metrics` facade's global recorder, rendered as
//! Prometheus text on `GET /metrics`. Metric names live in
//! `ccpipe_pipeline::telemetry`.

use std::sync::OnceLock;

use ccpipe_pipeline::telemetry;
use http::{Method, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::answer::{self, Answer};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Installs the Prometheus recorder once per process (later calls return the
/// same handle) and records the build info. Metrics recorded before this are
/// not kept, so it runs before the service is built.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!("cannot install the metrics recorder: {e}");
        }
        metrics::gauge!(telemetry::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// `GET /metrics`: every metric in the Prometheus text format.
pub fn answer(handle: &PrometheusHandle, method: &Method, path: &str) -> Answer {
    if let Some(refusal) = answer::not_served(method, path, "/metrics") {
        return refusal;
    }
    handle.run_upkeep();
    (StatusCode::OK, CONTENT_TYPE, handle.render())
}
