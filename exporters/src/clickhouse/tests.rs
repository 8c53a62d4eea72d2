//! The config table over `testdata/clickhouse/config.yaml`, the rows made
//! from the recorded Claude Code requests, and the error classification.
//! Against a real ClickHouse server: `tests/clickhouse.rs` at the top.

use std::time::Duration;

use ccpipe_pipeline::{ComponentId, Records};
use http::StatusCode;

use super::client::{classify, error_code, SendError};
use super::config::ClickhouseSettings;
use super::rows::{encode, seconds};
use super::schema::{Schema, Table};
use super::ClickhouseConfig;
use crate::testutil::{captures, load_config};

#[test]
fn config_table() {
    let config = load_config("clickhouse");
    let cases: &[(&str, Result<(), &str>)] = &[
        ("clickhouse", Ok(())),
        ("clickhouse/all_keys", Ok(())),
        (
            "clickhouse/bad_scheme",
            Err("clickhouse.yaml:25: exporters.clickhouse/bad_scheme.endpoint: must start with http:// or https://; got \"tcp://127.0.0.1:9000\""),
        ),
        (
            "clickhouse/with_path",
            Err("clickhouse.yaml:27: exporters.clickhouse/with_path.endpoint: must not have a path or query; got \"http://127.0.0.1:8123/ch\""),
        ),
        (
            "clickhouse/credentials_in_url",
            Err("clickhouse.yaml:29: exporters.clickhouse/credentials_in_url.endpoint: must not hold credentials; use username and password"),
        ),
        (
            "clickhouse/bad_database",
            Err("clickhouse.yaml:31: exporters.clickhouse/bad_database.database: must be a plain name (letters, digits and '_', not starting with a digit); got \"otel-prod\""),
        ),
        (
            "clickhouse/bad_username",
            Err("clickhouse.yaml:33: exporters.clickhouse/bad_username.username: must be non-empty and without ':' (HTTP basic auth)"),
        ),
        (
            "clickhouse/short_ttl",
            Err("clickhouse.yaml:35: exporters.clickhouse/short_ttl.ttl: must be 0 (keep everything) or at least 1h; got 30m"),
        ),
        (
            "clickhouse/bad_compression",
            Err("clickhouse.yaml:37: exporters.clickhouse/bad_compression.compression: must be one of gzip, none; got \"zstd\""),
        ),
        (
            "clickhouse/zero_timeout",
            Err("clickhouse.yaml:39: exporters.clickhouse/zero_timeout.timeout: must be greater than 0"),
        ),
        (
            "clickhouse/typo",
            Err("clickhouse.yaml:41: exporters.clickhouse/typo.databse: unknown field `databse`, expected one of `endpoint`, `database`, `username`, `password`, `create_schema`, `schema`, `ttl`, `timeout`, `compression`, `tls`, `sending_queue`, `retry_on_failure`"),
        ),
        (
            "clickhouse/tls_on_http",
            Err("clickhouse.yaml:43: exporters.clickhouse/tls_on_http.tls: applies to https:// endpoints only; the endpoint is \"http://127.0.0.1:8123\""),
        ),
        (
            "clickhouse/tls_empty_ca",
            Err("clickhouse.yaml:46: exporters.clickhouse/tls_empty_ca.tls.ca_file: must not be empty"),
        ),
        (
            "clickhouse/bad_schema",
            Err("clickhouse.yaml:48: exporters.clickhouse/bad_schema.schema: must be one of modern, compat_18_16; got \"18.16\""),
        ),
    ];
    let listed: Vec<String> = config.exporters.keys().map(|id| id.to_string()).collect();
    let mut tested: Vec<&str> = cases.iter().map(|(id, _)| *id).collect();
    tested.sort_unstable();
    assert_eq!(listed, tested, "every testdata case has a row");
    for (id, expected) in cases {
        let cfg = &config.exporters[&id.parse::<ComponentId>().unwrap()];
        let got = crate::testutil::validate(cfg).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map_err(|e| e.as_str()),
            expected.as_ref().map_err(|e| *e),
            "case {id}"
        );
    }
}

#[test]
fn defaults_and_all_keys() {
    let config = load_config("clickhouse");
    let settings = |id: &str| {
        let cfg = &config.exporters[&id.parse::<ComponentId>().unwrap()];
        let c: ClickhouseConfig = cfg.parse().unwrap();
        c.settings().unwrap()
    };
    assert_eq!(
        settings("clickhouse"),
        ClickhouseSettings::new("http://127.0.0.1:8123", "otel")
    );
    let all = settings("clickhouse/all_keys");
    assert_eq!(
        all,
        ClickhouseSettings {
            endpoint: "https://clickhouse.example.com:8443".into(),
            database: "claude_code".into(),
            username: "ccpipe".into(),
            password: "s3cret".into(),
            create_schema: false,
            schema: Schema::Compat1816,
            ttl: Some(Duration::from_secs(72 * 3600)),
            timeout: Duration::from_secs(5),
            gzip: false,
            tls: crate::tls::Tls {
                ca_file: Some("/etc/ccpipe/clickhouse-ca.pem".into()),
                insecure_skip_verify: false,
            },
        }
    );
    assert!(!format!("{all:?}").contains("s3cret"));
}

#[test]
fn build_and_shutdown_without_data() {
    let config = load_config("clickhouse");
    let cfg = &config.exporters[&"clickhouse".parse::<ComponentId>().unwrap()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut built = crate::testutil::build(cfg).expect("builds without IO");
        built.exporter.shutdown().await.unwrap();
        built.exporter.shutdown().await.unwrap();
    });
}

/// Every row of every capture is one JSON object with the table's columns,
/// and the rows add up to the batch's items.
#[test]
fn rows_cover_every_item() {
    for (signal, batch) in captures("http-protobuf") {
        let inserts = encode(&batch, Schema::Compat1816);
        let rows: usize = inserts.iter().map(|i| i.rows).sum();
        assert_eq!(rows, batch.item_count(), "{signal}");
        for insert in &inserts {
            let text = std::str::from_utf8(&insert.body).unwrap();
            assert_eq!(text.lines().count(), insert.rows);
            for line in text.lines() {
                let row: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{:?}: {e}: {line}", insert.table));
                let obj = row.as_object().unwrap();
                let keys = ["ServiceName", "ResourceAttributes.Key", "ScopeName"];
                for key in keys {
                    assert!(obj.contains_key(key), "{:?} lacks {key}", insert.table);
                }
                assert_eq!(obj["ServiceName"], "claude-code");
                let k = obj["ResourceAttributes.Key"].as_array().unwrap();
                let v = obj["ResourceAttributes.Value"].as_array().unwrap();
                assert_eq!(k.len(), v.len());
            }
        }
    }
}

#[test]
fn log_rows_follow_the_collector() {
    let (_, batch) = captures("http-protobuf")
        .into_iter()
        .find(|(_, b)| matches!(b, Records::Logs(_)))
        .unwrap();
    let Records::Logs(req) = &batch else {
        unreachable!()
    };
    let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
    let inserts = encode(&batch, Schema::Compat1816);
    assert_eq!(inserts[0].table, Table::Logs);
    let first = std::str::from_utf8(&inserts[0].body)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let row: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(row["Timestamp"], seconds(rec.time_unix_nano));
    assert_eq!(row["TimestampUnixNano"], rec.time_unix_nano);
    assert_eq!(row["ScopeName"], "com.anthropic.claude_code.events");
    assert!(row["Body"].as_str().unwrap().starts_with("claude_code."));
    // EventName comes from the `event.name` attribute when the field is empty.
    let keys = row["LogAttributes.Key"].as_array().unwrap();
    let i = keys.iter().position(|k| k == "event.name").unwrap();
    assert_eq!(row["EventName"], row["LogAttributes.Value"][i]);
    assert_ne!(row["EventName"], "");
}

#[test]
fn values_as_text_and_floats() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics,
    };
    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let point = |v: f64| NumberDataPoint {
        attributes: vec![
            kv("i", any_value::Value::IntValue(-3)),
            kv("d", any_value::Value::DoubleValue(0.25)),
            kv("b", any_value::Value::BoolValue(true)),
            kv("x", any_value::Value::BytesValue(vec![0xff, 0, 1])),
            kv(
                "a",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue("q\"".into())),
                    }],
                }),
            ),
        ],
        time_unix_nano: 1_700_000_000_123_456_789,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let batch = Records::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "g".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point(f64::NAN), point(f64::NEG_INFINITY), point(1.5)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let inserts = encode(&batch, Schema::Compat1816);
    assert_eq!(inserts.len(), 1);
    assert_eq!(inserts[0].table, Table::MetricsGauge);
    let text = String::from_utf8(inserts[0].body.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(r#""Value":"nan""#), "{}", lines[0]);
    assert!(lines[1].contains(r#""Value":"-inf""#), "{}", lines[1]);
    assert!(lines[2].contains(r#""Value":1.5"#), "{}", lines[2]);
    assert!(
        lines[0].contains(r#""Attributes.Value":["-3","0.25","true","/wAB","[\"q\\\"\"]"]"#),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(r#""TimeUnix":1700000000,"TimeUnixNano":1700000000123456789"#));
    // Far-future times stop at DateTime's last second instead of wrapping.
    assert_eq!(seconds(u64::MAX), u64::from(u32::MAX));
}

/// The modern schema's rows: attributes as JSON objects, times as
/// DateTime64(9) text, no `…UnixNano` columns.
#[test]
fn modern_rows_use_maps_and_datetime64() {
    for (signal, batch) in captures("http-protobuf") {
        let inserts = encode(&batch, Schema::Modern);
        let rows: usize = inserts.iter().map(|i| i.rows).sum();
        assert_eq!(rows, batch.item_count(), "{signal}");
        for insert in &inserts {
            for line in std::str::from_utf8(&insert.body).unwrap().lines() {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                let obj = row.as_object().unwrap();
                assert_eq!(obj["ResourceAttributes"]["service.name"], "claude-code");
                assert!(
                    obj.keys()
                        .all(|k| !k.ends_with("UnixNano") && !k.ends_with(".Key")),
                    "{line}"
                );
                let time = obj
                    .get("Timestamp")
                    .or_else(|| obj.get("TimeUnix"))
                    .and_then(|t| t.as_str())
                    .unwrap_or_else(|| panic!("no DateTime64 text: {line}"));
                let (s, ns) = time.split_once('.').unwrap();
                assert!(s.parse::<u64>().is_ok() && ns.len() == 9, "{time}");
            }
        }
    }
    let (_, batch) = captures("http-protobuf")
        .into_iter()
        .find(|(_, b)| matches!(b, Records::Logs(_)))
        .unwrap();
    let Records::Logs(req) = &batch else {
        unreachable!()
    };
    let ns = req.resource_logs[0].scope_logs[0].log_records[0].time_unix_nano;
    let body = String::from_utf8(encode(&batch, Schema::Modern)[0].body.clone()).unwrap();
    let row: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(
        row["Timestamp"],
        format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
    );
    assert_eq!(row["EventName"], row["LogAttributes"]["event.name"]);
}

#[test]
fn errors_are_classified_by_clickhouse_code() {
    let case = |status: u16, body: &str| {
        classify(
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
            "INSERT INTO otel.otel_logs",
            "http://127.0.0.1:8123",
        )
    };
    let permanent = |e: &SendError| matches!(e, SendError::Permanent(_));
    // 18.16 answers a parse error with 500: the code makes it permanent.
    let e = case(
        500,
        "Code: 27, e.displayText() = DB::Exception: Cannot parse input",
    );
    assert!(permanent(&e));
    assert_eq!(
        e.message(),
        "INSERT INTO otel.otel_logs: http://127.0.0.1:8123 answered 500 Internal Server Error: Code: 27, e.displayText() = DB::Exception: Cannot parse input"
    );
    assert!(permanent(&case(
        400,
        "Code: 62, e.displayText() = DB::Exception: Syntax error"
    )));
    assert!(permanent(&case(
        401,
        "Code: 193, Wrong password for user ccpipe"
    )));
    assert!(permanent(&case(404, "")));
    assert!(permanent(&case(
        500,
        "Code: 60, Table otel.otel_logs doesn't exist."
    )));
    // Memory limit, too many parts, an answer without a code: later may work.
    assert!(!permanent(&case(500, "Code: 241, Memory limit exceeded")));
    assert!(!permanent(&case(500, "Code: 252, Too many parts")));
    assert!(!permanent(&case(503, "")));
    assert!(!permanent(&case(
        429,
        "Code: 202, Too many simultaneous queries"
    )));
    assert_eq!(error_code(b"Code: 117, e.displayText()"), Some(117));
    assert_eq!(error_code(b"\nCode:5"), Some(5));
    assert_eq!(error_code(b"no code"), None);
}
