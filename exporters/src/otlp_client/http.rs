//! OTLP over HTTP/protobuf: one POST per payload to the signal's URL.

use bytes::{Bytes, BytesMut};
use ccpipe_pipeline::Batch;
use ccpipe_pipeline::{ExportError, Signal};
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::status::{classify_http, error_chain, error_text, gzip, Failure, MAX_RESPONSE_BYTES};
use super::{request_parts, Compression, OtlpClient};

impl OtlpClient {
    pub(super) async fn send_http(&self, payload: &Batch) -> Result<(), Failure> {
        let settings = &self.settings;
        let client = self.http.as_ref().expect("connected before sending");
        let signal = payload.signal();
        let url = settings.target.url(signal);
        let mut request = http::Request::post(url);
        if let Some(headers) = request.headers_mut() {
            headers.extend(settings.headers.clone());
        }
        request = request.header(http::header::CONTENT_TYPE, "application/x-protobuf");
        let parts = request_parts(payload).map_err(Failure::Error)?;
        let body = match settings.compression {
            Compression::Gzip => {
                request = request.header(http::header::CONTENT_ENCODING, "gzip");
                let slices: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
                Bytes::from(gzip(&slices))
            }
            Compression::None => concat(parts),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| ExportError::permanent(format!("cannot build the request: {e}")))?;
        let response = client.request(request).await.map_err(|e| {
            ExportError::retryable(format!(
                "cannot reach {} at {}: {}",
                settings.peer,
                ccpipe_pipeline::config::mask_url_secrets(url).unwrap_or_else(|| url.to_string()),
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let protobuf = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
        let retry_after = crate::http_client::retry_after(response.headers());
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| {
                ExportError::retryable(format!("{}'s answer broke off: {e}", settings.peer))
            })?;
        if status.is_success() {
            let (rejected, message) = match signal {
                Signal::Logs => ExportLogsServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_log_records, p.error_message)),
                Signal::Metrics => ExportMetricsServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_data_points, p.error_message)),
                Signal::Traces => ExportTraceServiceResponse::decode(body)
                    .map(|r| r.partial_success.unwrap_or_default())
                    .map(|p| (p.rejected_spans, p.error_message)),
            }
            // An answer that is not OTLP protobuf (an empty `{}`) is a full success.
            .unwrap_or_default();
            self.partial_success(signal, payload.item_count(), rejected, &message);
            return Ok(());
        }
        let reason = format!("HTTP {status}: {}", error_text(&body, protobuf));
        Err(classify_http(status.as_u16(), reason, retry_after))
    }
}

/// One body from the parts; a single part is not copied.
fn concat(mut parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in &parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}
