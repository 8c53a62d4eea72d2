//! The tables, modelled on the OpenTelemetry Collector's ClickHouse exporter
//! (same table and column names), in column types that ClickHouse 18.16 —
//! the server Debian ships — supports: no `Map`, `DateTime64`,
//! `LowCardinality`, `Bool`, codecs, skip indexes or `TTL` clause. So:
//! attributes are `Nested(Key String, Value String)` (columns
//! `LogAttributes.Key` / `LogAttributes.Value`), times are `DateTime` (whole
//! seconds, so `toDate(Timestamp)` and `Timestamp > now() - 3600` still work)
//! plus a `…UnixNano UInt64` column with the exact time, booleans are
//! `UInt8`, and `ttl` is applied by dropping daily partitions (`expire.rs`).
//! docs/clickhouse.md lists every difference.

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

    /// `CREATE TABLE IF NOT EXISTS` for this table in `database`.
    pub fn create_sql(self, database: &str) -> String {
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

/// The views for the usual Claude Code questions, built on `otel_logs`
/// events: `CREATE VIEW IF NOT EXISTS` statements for `database`.
pub fn view_sql(database: &str) -> Vec<String> {
    VIEWS
        .iter()
        .map(|(name, select)| {
            format!(
                "CREATE VIEW IF NOT EXISTS {database}.{name} AS {}",
                select.replace("{db}", database)
            )
        })
        .collect()
}

/// The names of the views [`view_sql`] creates.
pub fn view_names() -> impl Iterator<Item = &'static str> {
    VIEWS.iter().map(|(name, _)| *name)
}

/// The columns every view starts with (a macro so `concat!` can take it).
macro_rules! view_head {
    () => {
        "SELECT
    Timestamp,
    ServiceName,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'session.id')] AS SessionId,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'prompt.id')] AS PromptId,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'user.id')] AS UserId,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'user.email')] AS UserEmail,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'user.account_uuid')] AS UserAccountUuid,
"
    };
}

const VIEWS: [(&str, &str); 2] = [
    (
        "claude_code_api_requests",
        concat!(
            view_head!(),
            "    LogAttributes.Value[indexOf(LogAttributes.Key, 'organization.id')] AS OrganizationId,
    if(UserEmail != '', UserEmail, if(UserAccountUuid != '', UserAccountUuid, UserId)) AS User,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'model')] AS Model,
    toFloat64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'cost_usd')]) AS CostUsd,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'input_tokens')]) AS InputTokens,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'output_tokens')]) AS OutputTokens,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'cache_read_tokens')]) AS CacheReadTokens,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'cache_creation_tokens')]) AS CacheCreationTokens,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'duration_ms')]) AS DurationMs,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'ttft_ms')]) AS TtftMs,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'request_id')] AS RequestId,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'query_source')] AS QuerySource
FROM {db}.otel_logs
WHERE EventName = 'api_request'"
        ),
    ),
    (
        "claude_code_tool_results",
        concat!(
            view_head!(),
            "    if(UserEmail != '', UserEmail, if(UserAccountUuid != '', UserAccountUuid, UserId)) AS User,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'tool_name')] AS ToolName,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'tool_use_id')] AS ToolUseId,
    LogAttributes.Value[indexOf(LogAttributes.Key, 'success')] = 'true' AS Success,
    toUInt64OrZero(LogAttributes.Value[indexOf(LogAttributes.Key, 'duration_ms')]) AS DurationMs
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
        for t in Table::ALL {
            let sql = t.create_sql("otel");
            assert!(!sql.contains("EXEMPLARS"), "{t:?}");
            assert!(sql.starts_with(&format!("CREATE TABLE IF NOT EXISTS otel.{} (", t.name())));
        }
    }
}
