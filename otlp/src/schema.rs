//! The OTLP protos, described once. Each message lists its fields in the
//! order OTLP/JSON writes them; each field gives its tag, the prost field it
//! fills, its JSON name (and proto-name alias), its protobuf type and its
//! JSON codec. Two readers expand this one list:
//! - `wire.rs` builds its per-tag field table (the protobuf scan and both
//!   transcodes walk it), and, for the protobuf→JSON transcode, each field's
//!   place in the JSON order and which fields keep presence (`opt_double`);
//! - `otlp_json/messages.rs` builds the JSON reader and writer of every prost
//!   message.
//!
//! A line is `(tag prost_field: "jsonName" | "proto_name", one|many WireType,
//! json_codec)`; a oneof is `(oneof prost_field: prost::Enum { tag Variant:
//! "jsonName" | "proto_name", WireType, json_codec; ... })`. A message is
//! `M = ProstType { lines }`, `M` naming it in [`crate::wire`]'s `M`. The
//! JSON codecs are the `seed!`/`write_field!` arms in `otlp_json/messages.rs`.

/// Calls `$reader! { the whole schema }`.
macro_rules! with_schema {
    ($reader:ident) => {
        $reader! {
            // ---- logs ----
            LogsRequest = ExportLogsServiceRequest {
                (1 resource_logs: "resourceLogs" | "resource_logs", many Msg(ResourceLogs), msgs)
            }
            ResourceLogs = ResourceLogs {
                (1 resource: "resource", one Msg(Resource), msg)
                (2 scope_logs: "scopeLogs" | "scope_logs", many Msg(ScopeLogs), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            ScopeLogs = ScopeLogs {
                (1 scope: "scope", one Msg(Scope), msg)
                (2 log_records: "logRecords" | "log_records", many Msg(LogRecord), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            LogRecord = LogRecord {
                (1 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (11 observed_time_unix_nano: "observedTimeUnixNano" | "observed_time_unix_nano", one U64, long)
                (2 severity_number: "severityNumber" | "severity_number", one I32, enumeration(SeverityNumber))
                (3 severity_text: "severityText" | "severity_text", one Str, string)
                (5 body: "body", one Msg(AnyValue), msg)
                (6 attributes: "attributes", many Msg(KeyValue), msgs)
                (7 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
                (8 flags: "flags", one Fixed32, flags(LogRecordFlags))
                (9 trace_id: "traceId" | "trace_id", one Id, trace_id)
                (10 span_id: "spanId" | "span_id", one Id, span_id)
                (12 event_name: "eventName" | "event_name", one Str, string)
            }

            // ---- traces ----
            TracesRequest = ExportTraceServiceRequest {
                (1 resource_spans: "resourceSpans" | "resource_spans", many Msg(ResourceSpans), msgs)
            }
            ResourceSpans = ResourceSpans {
                (1 resource: "resource", one Msg(Resource), msg)
                (2 scope_spans: "scopeSpans" | "scope_spans", many Msg(ScopeSpans), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            ScopeSpans = ScopeSpans {
                (1 scope: "scope", one Msg(Scope), msg)
                (2 spans: "spans", many Msg(Span), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            Span = Span {
                (1 trace_id: "traceId" | "trace_id", one Id, trace_id)
                (2 span_id: "spanId" | "span_id", one Id, span_id)
                (3 trace_state: "traceState" | "trace_state", one Str, string)
                (4 parent_span_id: "parentSpanId" | "parent_span_id", one Id, span_id)
                (16 flags: "flags", one Fixed32, flags(SpanFlags))
                (5 name: "name", one Str, string)
                (6 kind: "kind", one I32, enumeration(SpanKind))
                (7 start_time_unix_nano: "startTimeUnixNano" | "start_time_unix_nano", one U64, long)
                (8 end_time_unix_nano: "endTimeUnixNano" | "end_time_unix_nano", one U64, long)
                (9 attributes: "attributes", many Msg(KeyValue), msgs)
                (10 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
                (11 events: "events", many Msg(SpanEvent), msgs)
                (12 dropped_events_count: "droppedEventsCount" | "dropped_events_count", one U32, int)
                (13 links: "links", many Msg(SpanLink), msgs)
                (14 dropped_links_count: "droppedLinksCount" | "dropped_links_count", one U32, int)
                (15 status: "status", one Msg(Status), msg)
            }
            SpanEvent = Event {
                (1 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (2 name: "name", one Str, string)
                (3 attributes: "attributes", many Msg(KeyValue), msgs)
                (4 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
            }
            SpanLink = Link {
                (1 trace_id: "traceId" | "trace_id", one Id, trace_id)
                (2 span_id: "spanId" | "span_id", one Id, span_id)
                (3 trace_state: "traceState" | "trace_state", one Str, string)
                (4 attributes: "attributes", many Msg(KeyValue), msgs)
                (5 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
                (6 flags: "flags", one Fixed32, flags(SpanFlags))
            }
            Status = Status {
                (2 message: "message", one Str, string)
                (3 code: "code", one I32, enumeration(StatusCode))
            }

            // ---- metrics ----
            MetricsRequest = ExportMetricsServiceRequest {
                (1 resource_metrics: "resourceMetrics" | "resource_metrics", many Msg(ResourceMetrics), msgs)
            }
            ResourceMetrics = ResourceMetrics {
                (1 resource: "resource", one Msg(Resource), msg)
                (2 scope_metrics: "scopeMetrics" | "scope_metrics", many Msg(ScopeMetrics), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            ScopeMetrics = ScopeMetrics {
                (1 scope: "scope", one Msg(Scope), msg)
                (2 metrics: "metrics", many Msg(Metric), msgs)
                (3 schema_url: "schemaUrl" | "schema_url", one Str, string)
            }
            Metric = Metric {
                (1 name: "name", one Str, string)
                (2 description: "description", one Str, string)
                (3 unit: "unit", one Str, string)
                (oneof data: metric::Data {
                    5 Gauge: "gauge", Msg(Gauge), msg;
                    7 Sum: "sum", Msg(Sum), msg;
                    9 Histogram: "histogram", Msg(Histogram), msg;
                    10 ExponentialHistogram: "exponentialHistogram" | "exponential_histogram", Msg(ExpHistogram), msg;
                    11 Summary: "summary", Msg(Summary), msg;
                })
                (12 metadata: "metadata", many Msg(KeyValue), msgs)
            }
            Gauge = Gauge {
                (1 data_points: "dataPoints" | "data_points", many Msg(NumberPoint), msgs)
            }
            Sum = Sum {
                (1 data_points: "dataPoints" | "data_points", many Msg(NumberPoint), msgs)
                (2 aggregation_temporality: "aggregationTemporality" | "aggregation_temporality", one I32, enumeration(AggregationTemporality))
                (3 is_monotonic: "isMonotonic" | "is_monotonic", one Bool, boolean)
            }
            Histogram = Histogram {
                (1 data_points: "dataPoints" | "data_points", many Msg(HistogramPoint), msgs)
                (2 aggregation_temporality: "aggregationTemporality" | "aggregation_temporality", one I32, enumeration(AggregationTemporality))
            }
            ExpHistogram = ExponentialHistogram {
                (1 data_points: "dataPoints" | "data_points", many Msg(ExpHistogramPoint), msgs)
                (2 aggregation_temporality: "aggregationTemporality" | "aggregation_temporality", one I32, enumeration(AggregationTemporality))
            }
            Summary = Summary {
                (1 data_points: "dataPoints" | "data_points", many Msg(SummaryPoint), msgs)
            }
            NumberPoint = NumberDataPoint {
                (7 attributes: "attributes", many Msg(KeyValue), msgs)
                (2 start_time_unix_nano: "startTimeUnixNano" | "start_time_unix_nano", one U64, long)
                (3 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (oneof value: number_data_point::Value {
                    4 AsDouble: "asDouble" | "as_double", F64, double;
                    6 AsInt: "asInt" | "as_int", I64, long;
                })
                (5 exemplars: "exemplars", many Msg(Exemplar), msgs)
                (8 flags: "flags", one U32, flags(DataPointFlags))
            }
            HistogramPoint = HistogramDataPoint {
                (9 attributes: "attributes", many Msg(KeyValue), msgs)
                (2 start_time_unix_nano: "startTimeUnixNano" | "start_time_unix_nano", one U64, long)
                (3 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (4 count: "count", one U64, long)
                (5 sum: "sum", one F64, opt_double)
                (6 bucket_counts: "bucketCounts" | "bucket_counts", many PackedFixed64, longs)
                (7 explicit_bounds: "explicitBounds" | "explicit_bounds", many PackedF64, doubles)
                (8 exemplars: "exemplars", many Msg(Exemplar), msgs)
                (10 flags: "flags", one U32, flags(DataPointFlags))
                (11 min: "min", one F64, opt_double)
                (12 max: "max", one F64, opt_double)
            }
            ExpHistogramPoint = ExponentialHistogramDataPoint {
                (1 attributes: "attributes", many Msg(KeyValue), msgs)
                (2 start_time_unix_nano: "startTimeUnixNano" | "start_time_unix_nano", one U64, long)
                (3 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (4 count: "count", one U64, long)
                (5 sum: "sum", one F64, opt_double)
                (6 scale: "scale", one Sint32, int)
                (7 zero_count: "zeroCount" | "zero_count", one U64, long)
                (8 positive: "positive", one Msg(Buckets), msg)
                (9 negative: "negative", one Msg(Buckets), msg)
                (10 flags: "flags", one U32, flags(DataPointFlags))
                (11 exemplars: "exemplars", many Msg(Exemplar), msgs)
                (12 min: "min", one F64, opt_double)
                (13 max: "max", one F64, opt_double)
                (14 zero_threshold: "zeroThreshold" | "zero_threshold", one F64, double)
            }
            Buckets = Buckets {
                (1 offset: "offset", one Sint32, int)
                (2 bucket_counts: "bucketCounts" | "bucket_counts", many PackedVarintU64, longs)
            }
            SummaryPoint = SummaryDataPoint {
                (7 attributes: "attributes", many Msg(KeyValue), msgs)
                (2 start_time_unix_nano: "startTimeUnixNano" | "start_time_unix_nano", one U64, long)
                (3 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (4 count: "count", one U64, long)
                (5 sum: "sum", one F64, double)
                (6 quantile_values: "quantileValues" | "quantile_values", many Msg(Quantile), msgs)
                (8 flags: "flags", one U32, flags(DataPointFlags))
            }
            Quantile = ValueAtQuantile {
                (1 quantile: "quantile", one F64, double)
                (2 value: "value", one F64, double)
            }
            Exemplar = Exemplar {
                (7 filtered_attributes: "filteredAttributes" | "filtered_attributes", many Msg(KeyValue), msgs)
                (2 time_unix_nano: "timeUnixNano" | "time_unix_nano", one U64, long)
                (oneof value: exemplar::Value {
                    3 AsDouble: "asDouble" | "as_double", F64, double;
                    6 AsInt: "asInt" | "as_int", I64, long;
                })
                (4 span_id: "spanId" | "span_id", one Id, span_id)
                (5 trace_id: "traceId" | "trace_id", one Id, trace_id)
            }

            // ---- common ----
            Resource = Resource {
                (1 attributes: "attributes", many Msg(KeyValue), msgs)
                (2 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
                (3 entity_refs: "entityRefs" | "entity_refs", many Msg(EntityRef), msgs)
            }
            Scope = InstrumentationScope {
                (1 name: "name", one Str, string)
                (2 version: "version", one Str, string)
                (3 attributes: "attributes", many Msg(KeyValue), msgs)
                (4 dropped_attributes_count: "droppedAttributesCount" | "dropped_attributes_count", one U32, int)
            }
            EntityRef = EntityRef {
                (1 schema_url: "schemaUrl" | "schema_url", one Str, string)
                (2 r#type: "type", one Str, string)
                (3 id_keys: "idKeys" | "id_keys", many Str, strings)
                (4 description_keys: "descriptionKeys" | "description_keys", many Str, strings)
            }
            KeyValue = KeyValue {
                (1 key: "key", one Str, string)
                (2 value: "value", one Msg(AnyValue), msg)
                (3 key_strindex: "keyStrindex" | "key_strindex", one I32, int)
            }
            AnyValue = AnyValue {
                (oneof value: any_value::Value {
                    1 StringValue: "stringValue" | "string_value", Str, string;
                    2 BoolValue: "boolValue" | "bool_value", Bool, boolean;
                    3 IntValue: "intValue" | "int_value", Int64, long;
                    4 DoubleValue: "doubleValue" | "double_value", F64, double;
                    5 ArrayValue: "arrayValue" | "array_value", Msg(ArrayValue), nested_msg;
                    6 KvlistValue: "kvlistValue" | "kvlist_value", Msg(KeyValueList), nested_msg;
                    7 BytesValue: "bytesValue" | "bytes_value", Bytes, bytes;
                    8 StringValueStrindex: "stringValueStrindex" | "string_value_strindex", I32, int;
                })
            }
            ArrayValue = ArrayValue {
                (1 values: "values", many Msg(AnyValue), msgs)
            }
            KeyValueList = KeyValueList {
                (1 values: "values", many Msg(KeyValue), msgs)
            }
        }
    };
}

pub(crate) use with_schema;
