//! The transcode from protobuf bytes (`from_wire`) against the codec over
//! decoded records: byte for byte the same OTLP/JSON, on every capture and
//! on seeded random requests that set every field of every message at
//! random (defaults, `optional` doubles present at zero, each oneof member,
//! NaN and -0.0, nested values), as prost writes them and with the fields of
//! every message shuffled (another client's order).

use opentelemetry_proto::tonic::common::v1::{EntityRef, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::testing::{capture_bins, Xorshift};
use crate::wire::{self, M};
use crate::Encoded;

fn codec_json(batch: &Records) -> Vec<u8> {
    let mut out = Vec::new();
    encode(batch, &mut out);
    out
}

fn transcoded(signal: Signal, bytes: Vec<u8>) -> Vec<u8> {
    let encoded = Encoded::new(signal, bytes.into()).expect("the bytes scan");
    let mut out = Vec::new();
    transcode(&encoded, &mut out).expect("a usual layout");
    out
}

fn assert_same(case: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        let from = at.saturating_sub(120);
        panic!(
            "{case}: differ at byte {at}\n transcode …{}\n codec     …{}",
            String::from_utf8_lossy(&got[from..(at + 120).min(got.len())]),
            String::from_utf8_lossy(&want[from..(at + 120).min(want.len())]),
        );
    }
}

#[test]
fn every_capture_transcodes_to_the_codecs_bytes() {
    let caps = capture_bins();
    assert!(caps.len() > 30);
    for (i, (signal, bytes)) in caps.into_iter().enumerate() {
        let decoded = Encoded::new(signal, bytes.clone().into())
            .unwrap()
            .decode()
            .unwrap();
        assert_same(
            &format!("capture {i} ({signal})"),
            &transcoded(signal, bytes),
            &codec_json(&decoded),
        );
    }
}

#[test]
fn random_requests_transcode_to_the_codecs_bytes() {
    let mut rng = Xorshift(0x0f11_e0f1_1e00_0001);
    for case in 0..1500 {
        let signal = [Signal::Logs, Signal::Metrics, Signal::Traces][case % 3];
        let batch = Gen(&mut rng).batch(signal);
        let want = codec_json(&batch);
        let bytes = prost_bytes(&batch);
        assert_same(
            &format!("case {case}"),
            &transcoded(signal, bytes.clone()),
            &want,
        );
        // The same fields in another order (Claude Code's exporter writes
        // tag order): the same JSON, since the transcode sorts.
        let shuffled = shuffle(&mut rng, M::request(signal), &bytes);
        assert_same(
            &format!("case {case}, shuffled"),
            &transcoded(signal, shuffled),
            &want,
        );
    }
}

fn prost_bytes(b: &Records) -> Vec<u8> {
    match b {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    }
}

/// `body` (a message `m`) with its fields in a random order, and every
/// nested message shuffled the same way. A field's occurrences keep their
/// order among themselves (a repeated field's elements, a packed run), so
/// the bytes still mean the same records.
fn shuffle(rng: &mut Xorshift, m: M, body: &[u8]) -> Vec<u8> {
    let mut fields: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    let mut b = body;
    while !b.is_empty() {
        let (tag, wt) = wire::key(&mut b).unwrap();
        let start = b;
        wire::skip(wt, tag, &mut b, wire::RECURSION_LIMIT).unwrap();
        let mut value = &start[..start.len() - b.len()];
        let mut occurrence = Vec::new();
        prost::encoding::encode_key(tag, wire_type(wt), &mut occurrence);
        match wire::field(m, tag).map(|f| f.ty) {
            Some(wire::Ty::Msg(sub)) => {
                let inner = wire::delimited(&mut value).unwrap();
                let inner = shuffle(rng, sub, inner);
                prost::encoding::encode_varint(inner.len() as u64, &mut occurrence);
                occurrence.extend(inner);
            }
            _ => occurrence.extend_from_slice(value),
        }
        match fields.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, all)) => all.push(occurrence),
            None => fields.push((tag, vec![occurrence])),
        }
    }
    for i in (1..fields.len()).rev() {
        fields.swap(i, rng.below(i + 1));
    }
    fields.into_iter().flat_map(|(_, o)| o).flatten().collect()
}

fn wire_type(wt: u8) -> prost::encoding::WireType {
    prost::encoding::WireType::try_from(u64::from(wt)).unwrap()
}

/// Random requests with every field of every message set or left at its
/// default, at random.
struct Gen<'a>(&'a mut Xorshift);

impl Gen<'_> {
    fn coin(&mut self) -> bool {
        self.0.below(2) == 0
    }

    fn upto(&mut self, n: usize) -> usize {
        self.0.below(n + 1)
    }

    fn some<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.coin().then(|| f(self))
    }

    fn list<T>(&mut self, n: usize, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        (0..self.upto(n)).map(|_| f(self)).collect()
    }

    fn text(&mut self) -> String {
        const WORDS: [&str; 8] = [
            "",
            "a",
            "claude_code.tool",
            "\"q\"\\",
            "é€😀",
            "\n\t\u{1}",
            " ",
            "x y",
        ];
        (0..self.upto(2))
            .map(|_| WORDS[self.0.below(WORDS.len())])
            .collect()
    }

    fn u64(&mut self) -> u64 {
        match self.0.below(4) {
            0 => 0,
            1 => self.0.below(300) as u64,
            2 => u64::MAX,
            _ => self.0.next_u64(),
        }
    }

    fn u32(&mut self) -> u32 {
        self.u64() as u32
    }

    fn i32(&mut self) -> i32 {
        self.u64() as i32
    }

    fn i64(&mut self) -> i64 {
        self.u64() as i64
    }

    fn f64(&mut self) -> f64 {
        const ODD: [f64; 7] = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            0.1,
        ];
        match self.0.below(3) {
            0 => ODD[self.0.below(ODD.len())],
            1 => self.0.below(1000) as f64 / 8.0,
            _ => f64::from_bits(self.0.next_u64()),
        }
    }

    fn id(&mut self, len: usize) -> Vec<u8> {
        match self.coin() {
            true => Vec::new(),
            false => (0..len).map(|_| self.0.next_u64() as u8).collect(),
        }
    }

    fn any_value(&mut self, depth: usize) -> AnyValue {
        let kinds = if depth >= 3 { 6 } else { 8 };
        let value = match self.0.below(kinds) {
            0 => None,
            1 => Some(Value::StringValue(self.text())),
            2 => Some(Value::BoolValue(self.coin())),
            3 => Some(Value::IntValue(self.i64())),
            4 => Some(Value::DoubleValue(self.f64())),
            5 => {
                let len = self.upto(5);
                Some(Value::BytesValue(self.id(len)))
            }
            6 => Some(Value::ArrayValue(ArrayValue {
                values: self.list(3, |g| g.any_value(depth + 1)),
            })),
            _ => Some(Value::KvlistValue(KeyValueList {
                values: self.list(3, |g| g.key_value(depth + 1)),
            })),
        };
        AnyValue { value }
    }

    fn key_value(&mut self, depth: usize) -> KeyValue {
        KeyValue {
            key: self.text(),
            value: self.some(|g| g.any_value(depth)),
            key_strindex: if self.0.below(4) == 0 { self.i32() } else { 0 },
        }
    }

    fn attrs(&mut self) -> Vec<KeyValue> {
        self.list(4, |g| g.key_value(0))
    }

    fn resource(&mut self) -> Resource {
        Resource {
            attributes: self.attrs(),
            dropped_attributes_count: self.u32(),
            entity_refs: self.list(2, |g| EntityRef {
                schema_url: g.text(),
                r#type: g.text(),
                id_keys: g.list(2, Gen::text),
                description_keys: g.list(2, Gen::text),
            }),
        }
    }

    fn scope(&mut self) -> InstrumentationScope {
        InstrumentationScope {
            name: self.text(),
            version: self.text(),
            attributes: self.attrs(),
            dropped_attributes_count: self.u32(),
        }
    }

    fn batch(&mut self, signal: Signal) -> Records {
        // 0–2 resource groups of 0–2 scope groups of 0–3 items, every
        // resource, scope and schema URL present or not.
        macro_rules! groups {
            ($group:ident, $scopes:ident, $scope:ident, $items:ident, $item:expr) => {
                self.list(2, |g| $group {
                    resource: g.some(Gen::resource),
                    $scopes: g.list(2, |g| $scope {
                        scope: g.some(Gen::scope),
                        $items: g.list(3, $item),
                        schema_url: g.text(),
                    }),
                    schema_url: g.text(),
                })
            };
        }
        match signal {
            Signal::Logs => Records::Logs(ExportLogsServiceRequest {
                resource_logs: groups!(
                    ResourceLogs,
                    scope_logs,
                    ScopeLogs,
                    log_records,
                    Gen::log_record
                ),
            }),
            Signal::Traces => Records::Traces(ExportTraceServiceRequest {
                resource_spans: groups!(ResourceSpans, scope_spans, ScopeSpans, spans, Gen::span),
            }),
            Signal::Metrics => Records::Metrics(ExportMetricsServiceRequest {
                resource_metrics: groups!(
                    ResourceMetrics,
                    scope_metrics,
                    ScopeMetrics,
                    metrics,
                    Gen::metric
                ),
            }),
        }
    }

    fn log_record(&mut self) -> LogRecord {
        LogRecord {
            time_unix_nano: self.u64(),
            observed_time_unix_nano: self.u64(),
            severity_number: self.upto(SeverityNumber::Fatal4 as usize) as i32,
            severity_text: self.text(),
            body: self.some(|g| g.any_value(0)),
            attributes: self.attrs(),
            dropped_attributes_count: self.u32(),
            flags: self.u32(),
            trace_id: self.id(16),
            span_id: self.id(8),
            event_name: self.text(),
        }
    }

    fn span(&mut self) -> Span {
        Span {
            trace_id: self.id(16),
            span_id: self.id(8),
            trace_state: self.text(),
            parent_span_id: self.id(8),
            flags: self.u32(),
            name: self.text(),
            kind: self.upto(5) as i32,
            start_time_unix_nano: self.u64(),
            end_time_unix_nano: self.u64(),
            attributes: self.attrs(),
            dropped_attributes_count: self.u32(),
            events: self.list(2, |g| span::Event {
                time_unix_nano: g.u64(),
                name: g.text(),
                attributes: g.attrs(),
                dropped_attributes_count: g.u32(),
            }),
            dropped_events_count: self.u32(),
            links: self.list(2, |g| span::Link {
                trace_id: g.id(16),
                span_id: g.id(8),
                trace_state: g.text(),
                attributes: g.attrs(),
                dropped_attributes_count: g.u32(),
                flags: g.u32(),
            }),
            dropped_links_count: self.u32(),
            status: self.some(|g| Status {
                message: g.text(),
                code: g.upto(2) as i32,
            }),
        }
    }

    fn exemplar(&mut self) -> Exemplar {
        Exemplar {
            filtered_attributes: self.attrs(),
            time_unix_nano: self.u64(),
            span_id: self.id(8),
            trace_id: self.id(16),
            value: match self.0.below(3) {
                0 => None,
                1 => Some(exemplar::Value::AsDouble(self.f64())),
                _ => Some(exemplar::Value::AsInt(self.i64())),
            },
        }
    }

    fn number_point(&mut self) -> NumberDataPoint {
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as V;
        NumberDataPoint {
            attributes: self.attrs(),
            start_time_unix_nano: self.u64(),
            time_unix_nano: self.u64(),
            exemplars: self.list(2, Gen::exemplar),
            flags: self.u32(),
            value: match self.0.below(3) {
                0 => None,
                1 => Some(V::AsDouble(self.f64())),
                _ => Some(V::AsInt(self.i64())),
            },
        }
    }

    fn histogram_point(&mut self) -> HistogramDataPoint {
        HistogramDataPoint {
            attributes: self.attrs(),
            start_time_unix_nano: self.u64(),
            time_unix_nano: self.u64(),
            count: self.u64(),
            sum: self.some(Gen::f64),
            bucket_counts: self.list(4, Gen::u64),
            explicit_bounds: self.list(4, Gen::f64),
            exemplars: self.list(2, Gen::exemplar),
            flags: self.u32(),
            min: self.some(Gen::f64),
            max: self.some(Gen::f64),
        }
    }

    fn exp_point(&mut self) -> ExponentialHistogramDataPoint {
        let buckets = |g: &mut Self| Buckets {
            offset: g.i32(),
            bucket_counts: g.list(4, Gen::u64),
        };
        ExponentialHistogramDataPoint {
            attributes: self.attrs(),
            start_time_unix_nano: self.u64(),
            time_unix_nano: self.u64(),
            count: self.u64(),
            sum: self.some(Gen::f64),
            scale: self.i32(),
            zero_count: self.u64(),
            positive: self.some(buckets),
            negative: self.some(buckets),
            flags: self.u32(),
            exemplars: self.list(2, Gen::exemplar),
            min: self.some(Gen::f64),
            max: self.some(Gen::f64),
            zero_threshold: self.f64(),
        }
    }

    fn summary_point(&mut self) -> SummaryDataPoint {
        SummaryDataPoint {
            attributes: self.attrs(),
            start_time_unix_nano: self.u64(),
            time_unix_nano: self.u64(),
            count: self.u64(),
            sum: self.f64(),
            quantile_values: self.list(3, |g| ValueAtQuantile {
                quantile: g.f64(),
                value: g.f64(),
            }),
            flags: self.u32(),
        }
    }

    fn metric(&mut self) -> Metric {
        let temporality = |g: &mut Self| g.upto(2) as i32;
        let data = match self.0.below(6) {
            0 => None,
            1 => Some(metric::Data::Gauge(Gauge {
                data_points: self.list(3, Gen::number_point),
            })),
            2 => Some(metric::Data::Sum(Sum {
                data_points: self.list(3, Gen::number_point),
                aggregation_temporality: temporality(self),
                is_monotonic: self.coin(),
            })),
            3 => Some(metric::Data::Histogram(Histogram {
                data_points: self.list(3, Gen::histogram_point),
                aggregation_temporality: temporality(self),
            })),
            4 => Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: self.list(3, Gen::exp_point),
                aggregation_temporality: temporality(self),
            })),
            _ => Some(metric::Data::Summary(Summary {
                data_points: self.list(3, Gen::summary_point),
            })),
        };
        Metric {
            name: self.text(),
            description: self.text(),
            unit: self.text(),
            metadata: self.attrs(),
            data,
        }
    }
}
