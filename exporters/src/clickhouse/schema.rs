//! The tables, in two schemas (the exporter's `schema` key):
//!
//! - `modern` (default): the OpenTelemetry Collector's ClickHouse exporter's
//!   tables — `Map(LowCardinality(String), String)` attributes,
//!   `DateTime64(9)` times, `LowCardinality`, codecs, skip indexes and a
//!   `TTL` clause (`ttl_only_drop_parts`), for ClickHouse 22.x and newer.
//! - `compat_18_16`: the same table and column names in types ClickHouse
//!   18.16 (the server Debian ships) supports: attributes are
//!   `Nested(Key String, Value String)` (`LogAttributes.Key` /
//!   `LogAttributes.Value`), times are `DateTime` (whole seconds) plus a
//!   `…UnixNano UInt64` column with the exact time, booleans are `UInt8`,
//!   and `ttl` is applied by dropping daily partitions (`expire.rs`).
//!
//! docs/clickhouse.md lists every difference.

use std::time::Duration;

/// Which tables the exporter creates and writes (the `schema` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schema {
    /// The Collector's current tables: Map, DateTime64, LowCardinality, TTL.
    #[default]
    Modern,
    /// Nested attributes, DateTime + UInt64 nanoseconds: ClickHouse 18.16.
    Compat1816,
}

impl Schema {
    /// The `schema` key's values.
    pub const NAMES: [&'static str; 2] = ["modern", "compat_18_16"];

    pub fn parse(name: &str) -> Option<Schema> {
        match name {
            "modern" => Some(Schema::Modern),
            "compat_18_16" => Some(Schema::Compat1816),
            _ => None,
        }
    }
}

/// One table the exporter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Logs,
    Traces,
    MetricsGauge,
    MetricsSum,
    MetricsHistogram,
    MetricsExponentialHistogram,
    MetricsSummary,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Logs,
        Table::Traces,
        Table::MetricsGauge,
        Table::MetricsSum,
        Table::MetricsHistogram,
        Table::MetricsExponentialHistogram,
        Table::MetricsSummary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "otel_logs",
            Table::Traces => "otel_traces",
            Table::MetricsGauge => "otel_metrics_gauge",
            Table::MetricsSum => "otel_metrics_sum",
            Table::MetricsHistogram => "otel_metrics_histogram",
            Table::MetricsExponentialHistogram => "otel_metrics_exponential_histogram",
            Table::MetricsSummary => "otel_metrics_summary",
        }
    }

    /// The `DateTime` column the table is partitioned by (one partition per UTC day).
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Logs | Table::Traces => "Timestamp",
            _ => "TimeUnix",
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for this table in `database`; `ttl` is
    /// a `TTL` clause in the modern schema (18.16 has none: see `expire.rs`).
    pub fn create_sql(self, database: &str, schema: Schema, ttl: Option<Duration>) -> String {
        match schema {
            Schema::Modern => self.create_modern(database, ttl),
            Schema::Compat1816 => self.create_compat(database),
        }
    }

    fn create_compat(self, database: &str) -> String {
        let columns = match self {
            Table::Logs => LOGS.to_owned(),
            Table::Traces => TRACES.to_owned(),
            Table::MetricsGauge => format!("{METRIC_COMMON},\n{GAUGE}"),
            Table::MetricsSum => format!("{METRIC_COMMON},\n{SUM}"),
            Table::MetricsHistogram => format!("{METRIC_COMMON},\n{HISTOGRAM}"),
            Table::MetricsExponentialHistogram => format!("{METRIC_COMMON},\n{EXP_HISTOGRAM}"),
            Table::MetricsSummary => format!("{METRIC_COMMON},\n{SUMMARY}"),
        }
        .replace("    EXEMPLARS", EXEMPLARS);
        let order = match self {
            Table::Logs => "ServiceName, Timestamp",
            Table::Traces => "ServiceName, SpanName, Timestamp",
            _ => "ServiceName, MetricName, TimeUnix",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.{name} (\n{columns}\n) ENGINE = MergeTree()\n\
             PARTITION BY toDate({time}, 'UTC')\nORDER BY ({order})\n\
             SETTINGS index_granularity = 8192",
            name = self.name(),
            time = self.time_column(),
        )
    }

    /// The Collector's DDL (exporter/clickhouseexporter/internal/sqltemplates).
    fn create_modern(self, database: &str, ttl: Option<Duration>) -> String {
        let (columns, partition, key, ttl_time) = match self {
            Table::Logs => (
                MODERN_LOGS.to_owned(),
                "toDate(TimestampTime)",
                "PRIMARY KEY (ServiceName, TimestampTime)\nORDER BY (ServiceName, TimestampTime, Timestamp)",
                "TimestampTime",
            ),
            Table::Traces => (
                MODERN_TRACES.to_owned(),
                "toDate(Timestamp)",
                "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))",
                "toDateTime(Timestamp)",
            ),
            metric => {
                let tail = match metric {
                    Table::MetricsGauge => GAUGE,
                    Table::MetricsSum => MODERN_SUM,
                    Table::MetricsHistogram => HISTOGRAM,
                    Table::MetricsExponentialHistogram => EXP_HISTOGRAM,
                    _ => SUMMARY,
                };
                (
                    format!("{MODERN_METRIC_COMMON},\n{tail},\n{MODERN_METRIC_INDEXES}"),
                    "toDate(TimeUnix)",
                    "ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))",
                    "toDateTime(TimeUnix)",
                )
            }
        };
        let columns = columns.replace("    EXEMPLARS", MODERN_EXEMPLARS);
        let ttl = ttl
            .map(|t| format!("TTL {ttl_time} + toIntervalSecond({})\n", t.as_secs()))
            .unwrap_or_default();
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.{name} (\n{columns}\n) ENGINE = MergeTree()\n\
             PARTITION BY {partition}\n{key}\n{ttl}\
             SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1",
            name = self.name(),
        )
    }
}

const LOGS: &str = "    Timestamp DateTime,
    TimestampTime DateTime ALIAS Timestamp,
    TimestampUnixNano UInt64,
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText String,
    SeverityNumber UInt8,
    ServiceName String,
    Body String,
    ResourceSchemaUrl String,
    ResourceAttributes Nested(Key String, Value String),
    ScopeSchemaUrl String,
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Nested(Key String, Value String),
    LogAttributes Nested(Key String, Value String),
    EventName String";

const TRACES: &str = "    Timestamp DateTime,
    TimestampUnixNano UInt64,
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName String,
    SpanKind String,
    ServiceName String,
    ResourceAttributes Nested(Key String, Value String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Nested(Key String, Value String),
    Duration UInt64,
    StatusCode String,
    StatusMessage String,
    Events Nested(Timestamp DateTime, TimestampUnixNano UInt64, Name String,
        AttributesKey Array(String), AttributesValue Array(String)),
    Links Nested(TraceId String, SpanId String, TraceState String,
        AttributesKey Array(String), AttributesValue Array(String))";

const METRIC_COMMON: &str = "    ResourceAttributes Nested(Key String, Value String),
    ResourceSchemaUrl String,
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Nested(Key String, Value String),
    ScopeDroppedAttrCount UInt32,
    ScopeSchemaUrl String,
    ServiceName String,
    MetricName String,
    MetricDescription String,
    MetricUnit String,
    Attributes Nested(Key String, Value String),
    StartTimeUnix DateTime,
    TimeUnix DateTime,
    StartTimeUnixNano UInt64,
    TimeUnixNano UInt64";

const EXEMPLARS: &str = "    Exemplars Nested(FilteredAttributesKey Array(String),
        FilteredAttributesValue Array(String), TimeUnix DateTime, Value Float64,
        SpanId String, TraceId String)";

const GAUGE: &str = "    Value Float64,
    Flags UInt32,
    EXEMPLARS";

const SUM: &str = "    Value Float64,
    Flags UInt32,
    EXEMPLARS,
    AggregationTemporality Int32,
    IsMonotonic UInt8";

const HISTOGRAM: &str = "    Count UInt64,
    Sum Float64,
    BucketCounts Array(UInt64),
    ExplicitBounds Array(Float64),
    EXEMPLARS,
    Flags UInt32,
    Min Float64,
    Max Float64,
    AggregationTemporality Int32";

const EXP_HISTOGRAM: &str = "    Count UInt64,
    Sum Float64,
    Scale Int32,
    ZeroCount UInt64,
    PositiveOffset Int32,
    PositiveBucketCounts Array(UInt64),
    NegativeOffset Int32,
    NegativeBucketCounts Array(UInt64),
    EXEMPLARS,
    Flags UInt32,
    Min Float64,
    Max Float64,
    AggregationTemporality Int32";

const SUMMARY: &str = "    Count UInt64,
    Sum Float64,
    ValueAtQuantiles Nested(Quantile Float64, Value Float64),
    Flags UInt32";

const MODERN_LOGS: &str = "    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8";

const MODERN_TRACES: &str = "    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested(Timestamp DateTime64(9), Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)),
    Links Nested(TraceId String, SpanId String, TraceState String,
        Attributes Map(LowCardinality(String), String)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1";

const MODERN_METRIC_COMMON: &str =
    "    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1))";

const MODERN_METRIC_INDEXES: &str =
    "    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1";

const MODERN_EXEMPLARS: &str =
    "    Exemplars Nested(FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String)";

const MODERN_SUM: &str = "    Value Float64,
    Flags UInt32,
    EXEMPLARS,
    AggregationTemporality Int32,
    IsMonotonic Boolean";

/// The views for the usual Claude Code questions, built on `otel_logs`
/// events: `CREATE VIEW IF NOT EXISTS` statements for `database`.
pub fn view_sql(database: &str, schema: Schema) -> Vec<String> {
    VIEWS
        .iter()
        .map(|(name, select)| {
            let select = select.replace("{db}", database);
            let select = match schema {
                Schema::Modern => select,
                Schema::Compat1816 => map_to_nested(&select),
            };
            format!("CREATE VIEW IF NOT EXISTS {database}.{name} AS {select}")
        })
        .collect()
}

/// The attribute columns, whose `X['key']` is written
/// `X.Value[indexOf(X.Key, 'key')]` in the 18.16 schema.
pub const ATTRIBUTE_COLUMNS: [&str; 5] = [
    "LogAttributes",
    "ResourceAttributes",
    "ScopeAttributes",
    "SpanAttributes",
    "Attributes",
];

/// SQL written for the modern schema, rewritten for the 18.16 one: every
/// `LogAttributes['k']` (and the other attribute columns) becomes
/// `LogAttributes.Value[indexOf(LogAttributes.Key, 'k')]` — the same value,
/// `''` when absent, as a Map gives. docs/clickhouse.md states this rule and
/// its queries are run through it against 18.16 in tests/clickhouse.rs.
pub fn map_to_nested(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    'scan: while !rest.is_empty() {
        for column in ATTRIBUTE_COLUMNS {
            let open = format!("{column}['");
            let word_start = out
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
            if word_start && rest.starts_with(&open) {
                if let Some(end) = rest[open.len()..].find("']") {
                    let key = &rest[open.len()..open.len() + end];
                    out.push_str(&format!("{column}.Value[indexOf({column}.Key, '{key}')]"));
                    rest = &rest[open.len() + end + 2..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The columns every view starts with (a macro so `concat!` can take it).
macro_rules! view_head {
    () => {
        "SELECT
    Timestamp,
    ServiceName,
    LogAttributes['session.id'] AS SessionId,
    LogAttributes['prompt.id'] AS PromptId,
    LogAttributes['user.id'] AS UserId,
    LogAttributes['user.email'] AS UserEmail,
    LogAttributes['user.account_uuid'] AS UserAccountUuid,
"
    };
}

const VIEWS: [(&str, &str); 2] = [
    (
        "claude_code_api_requests",
        concat!(
            view_head!(),
            "    LogAttributes['organization.id'] AS OrganizationId,
    if(UserEmail != '', UserEmail, if(UserAccountUuid != '', UserAccountUuid, UserId)) AS User,
    LogAttributes['model'] AS Model,
    toFloat64OrZero(LogAttributes['cost_usd']) AS CostUsd,
    toUInt64OrZero(LogAttributes['input_tokens']) AS InputTokens,
    toUInt64OrZero(LogAttributes['output_tokens']) AS OutputTokens,
    toUInt64OrZero(LogAttributes['cache_read_tokens']) AS CacheReadTokens,
    toUInt64OrZero(LogAttributes['cache_creation_tokens']) AS CacheCreationTokens,
    toUInt64OrZero(LogAttributes['duration_ms']) AS DurationMs,
    toUInt64OrZero(LogAttributes['ttft_ms']) AS TtftMs,
    LogAttributes['request_id'] AS RequestId,
    LogAttributes['query_source'] AS QuerySource
FROM {db}.otel_logs
WHERE EventName = 'api_request'"
        ),
    ),
    (
        "claude_code_tool_results",
        concat!(
            view_head!(),
            "    if(UserEmail != '', UserEmail, if(UserAccountUuid != '', UserAccountUuid, UserId)) AS User,
    LogAttributes['tool_name'] AS ToolName,
    LogAttributes['tool_use_id'] AS ToolUseId,
    LogAttributes['success'] = 'true' AS Success,
    toUInt64OrZero(LogAttributes['duration_ms']) AS DurationMs
FROM {db}.otel_logs
WHERE EventName = 'tool_result'"
        ),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exemplar_placeholder_is_filled() {
        for schema in [Schema::Modern, Schema::Compat1816] {
            for t in Table::ALL {
                let sql = t.create_sql("otel", schema, Some(Duration::from_secs(86400)));
                assert!(!sql.contains("EXEMPLARS"), "{t:?}");
                assert!(sql.starts_with(&format!("CREATE TABLE IF NOT EXISTS otel.{} (", t.name())));
                // 18.16 has none of these; the modern schema has them all.
                for modern_only in ["Map(", "DateTime64(9)", "LowCardinality(", "TTL ", "CODEC("] {
                    assert_eq!(
                        sql.contains(modern_only),
                        schema == Schema::Modern,
                        "{t:?} {schema:?} {modern_only}"
                    );
                }
            }
        }
        assert!(!Table::Logs
            .create_sql("otel", Schema::Modern, None)
            .contains("TTL"));
    }

    #[test]
    fn map_syntax_becomes_nested_syntax() {
        let cases = [
            (
                "SELECT LogAttributes['model'] AS Model FROM t",
                "SELECT LogAttributes.Value[indexOf(LogAttributes.Key, 'model')] AS Model FROM t",
            ),
            (
                "Attributes['user.id'], SpanAttributes['gen_ai.x']",
                "Attributes.Value[indexOf(Attributes.Key, 'user.id')], SpanAttributes.Value[indexOf(SpanAttributes.Key, 'gen_ai.x')]",
            ),
            ("mapKeys(LogAttributes) -- no key", "mapKeys(LogAttributes) -- no key"),
            ("MyAttributes['x']", "MyAttributes['x']"),
            ("'é' LogAttributes['a']", "'é' LogAttributes.Value[indexOf(LogAttributes.Key, 'a')]"),
        ];
        for (modern, compat) in cases {
            assert_eq!(map_to_nested(modern), compat);
        }
        for view in view_sql("otel", Schema::Compat1816) {
            assert!(!view.contains("['"), "{view}");
        }
    }
}
