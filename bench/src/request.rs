//! Builds the one request body the load generator sends over and over.
//!
//! The log records come from the real Claude Code captures
//! (`captures/http-protobuf/otlp/*-logs.bin`), cycled until the request holds the
//! wanted number of records, under one resource and one scope as Claude Code sends
//! them. Each record gets its own `event.sequence`, so no two records are equal.
//! Everything is encoded once, up front: the client never encodes per request.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;

/// The records of the captured log requests, in capture order, with the resource
/// and scope of the first request.
#[derive(Debug, Clone)]
pub struct RecordPool {
    pub template: ResourceLogs,
    pub records: Vec<LogRecord>,
}

impl RecordPool {
    /// Reads every `*-logs.bin` under `<captures>/http-protobuf/otlp/`.
    pub fn load(captures: &Path) -> Result<Self> {
        let dir = captures.join("http-protobuf").join("otlp");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading captures folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("-logs.bin"))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no *-logs.bin captures in {}", dir.display());
        }
        let mut bodies = Vec::with_capacity(files.len());
        for f in &files {
            bodies.push(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
        }
        Self::from_bodies(&bodies)
    }

    /// Decodes captured ExportLogsServiceRequest bodies.
    pub fn from_bodies(bodies: &[Vec<u8>]) -> Result<Self> {
        let mut template = None;
        let mut records = Vec::new();
        for body in bodies {
            let req = ExportLogsServiceRequest::decode(body.as_slice())
                .context("decoding a captured logs request")?;
            for rl in req.resource_logs {
                for sl in &rl.scope_logs {
                    records.extend(sl.log_records.iter().cloned());
                }
                if template.is_none() {
                    template = Some(rl);
                }
            }
        }
        let mut template = match template {
            Some(t) if !records.is_empty() => t,
            _ => bail!("the captures hold no log records"),
        };
        template.scope_logs.truncate(1);
        if let Some(sl) = template.scope_logs.first_mut() {
            sl.log_records.clear();
        }
        Ok(Self { template, records })
    }

    /// One request of `n` records: the pool cycled, `event.sequence` = 0..n.
    pub fn build(&self, n: usize) -> ExportLogsServiceRequest {
        let mut records = Vec::with_capacity(n);
        for i in 0..n {
            let mut r = self.records[i % self.records.len()].clone();
            set_sequence(&mut r, i as i64);
            records.push(r);
        }
        let mut rl = self.template.clone();
        match rl.scope_logs.first_mut() {
            Some(sl) => sl.log_records = records,
            None => rl.scope_logs.push(ScopeLogs {
                log_records: records,
                ..Default::default()
            }),
        }
        ExportLogsServiceRequest {
            resource_logs: vec![rl],
        }
    }
}

fn set_sequence(r: &mut LogRecord, seq: i64) {
    let value = Some(AnyValue {
        value: Some(Value::IntValue(seq)),
    });
    match r
        .attributes
        .iter_mut()
        .find(|kv| kv.key == "event.sequence")
    {
        Some(kv) => kv.value = value,
        None => r.attributes.push(KeyValue {
            key: "event.sequence".into(),
            value,
            ..Default::default()
        }),
    }
}

/// The pre-encoded bodies of one request.
#[derive(Debug, Clone)]
pub struct Bodies {
    pub records: usize,
    /// `application/x-protobuf`
    pub protobuf: Bytes,
    /// `application/json`, written the way Claude Code's exporter writes it
    pub json: Bytes,
    /// the protobuf framed as one gRPC message (uncompressed)
    pub grpc: Bytes,
}

impl Bodies {
    pub fn new(req: &ExportLogsServiceRequest) -> Self {
        let protobuf = req.encode_to_vec();
        let records = req
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len())
            .sum();
        Self {
            records,
            json: Bytes::from(encode_json(req)),
            grpc: Bytes::from(grpc_frame(&protobuf)),
            protobuf: Bytes::from(protobuf),
        }
    }
}

/// A gRPC length-prefixed message: flag 0 (not compressed), u32 big-endian length.
pub fn grpc_frame(msg: &[u8]) -> Vec<u8> {
    let len = u32::try_from(msg.len()).expect("gRPC message over 4 GiB");
    let mut out = Vec::with_capacity(5 + msg.len());
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// OTLP/JSON in Claude Code's style: lowerCamelCase, field order as its exporter
/// writes them, hex ids, 64-bit timestamps as strings, `intValue` as JSON numbers,
/// explicit `droppedAttributesCount: 0`.
pub fn encode_json(req: &ExportLogsServiceRequest) -> Vec<u8> {
    let mut o = String::with_capacity(req.encoded_len() * 2);
    o.push_str("{\"resourceLogs\":[");
    for (i, rl) in req.resource_logs.iter().enumerate() {
        comma(&mut o, i);
        o.push('{');
        if let Some(res) = &rl.resource {
            o.push_str("\"resource\":{\"attributes\":");
            attributes(&mut o, &res.attributes);
            let _ = write!(
                o,
                ",\"droppedAttributesCount\":{}}},",
                res.dropped_attributes_count
            );
        }
        o.push_str("\"scopeLogs\":[");
        for (j, sl) in rl.scope_logs.iter().enumerate() {
            comma(&mut o, j);
            o.push('{');
            if let Some(scope) = &sl.scope {
                o.push_str("\"scope\":{\"name\":");
                string(&mut o, &scope.name);
                if !scope.version.is_empty() {
                    o.push_str(",\"version\":");
                    string(&mut o, &scope.version);
                }
                o.push_str("},");
            }
            o.push_str("\"logRecords\":[");
            for (k, r) in sl.log_records.iter().enumerate() {
                comma(&mut o, k);
                record(&mut o, r);
            }
            o.push(']');
            if !sl.schema_url.is_empty() {
                o.push_str(",\"schemaUrl\":");
                string(&mut o, &sl.schema_url);
            }
            o.push('}');
        }
        o.push(']');
        if !rl.schema_url.is_empty() {
            o.push_str(",\"schemaUrl\":");
            string(&mut o, &rl.schema_url);
        }
        o.push('}');
    }
    o.push_str("]}");
    o.into_bytes()
}

fn record(o: &mut String, r: &LogRecord) {
    let _ = write!(
        o,
        "{{\"timeUnixNano\":\"{}\",\"observedTimeUnixNano\":\"{}\"",
        r.time_unix_nano, r.observed_time_unix_nano
    );
    if r.severity_number != 0 {
        let _ = write!(o, ",\"severityNumber\":{}", r.severity_number);
    }
    if !r.severity_text.is_empty() {
        o.push_str(",\"severityText\":");
        string(o, &r.severity_text);
    }
    if let Some(body) = &r.body {
        o.push_str(",\"body\":");
        any_value(o, body);
    }
    o.push_str(",\"attributes\":");
    attributes(o, &r.attributes);
    let _ = write!(
        o,
        ",\"droppedAttributesCount\":{}",
        r.dropped_attributes_count
    );
    if !r.event_name.is_empty() {
        o.push_str(",\"eventName\":");
        string(o, &r.event_name);
    }
    if !r.trace_id.is_empty() || !r.span_id.is_empty() {
        let _ = write!(
            o,
            ",\"flags\":{},\"traceId\":\"{}\",\"spanId\":\"{}\"",
            r.flags,
            hex(&r.trace_id),
            hex(&r.span_id)
        );
    } else if r.flags != 0 {
        let _ = write!(o, ",\"flags\":{}", r.flags);
    }
    o.push('}');
}

fn attributes(o: &mut String, attrs: &[KeyValue]) {
    o.push('[');
    for (i, kv) in attrs.iter().enumerate() {
        comma(o, i);
        o.push_str("{\"key\":");
        string(o, &kv.key);
        o.push_str(",\"value\":");
        match &kv.value {
            Some(v) => any_value(o, v),
            None => o.push_str("{}"),
        }
        o.push('}');
    }
    o.push(']');
}

fn any_value(o: &mut String, v: &AnyValue) {
    match &v.value {
        None => o.push_str("{}"),
        Some(Value::StringValue(s)) => {
            o.push_str("{\"stringValue\":");
            string(o, s);
            o.push('}');
        }
        Some(Value::BoolValue(b)) => {
            let _ = write!(o, "{{\"boolValue\":{b}}}");
        }
        Some(Value::IntValue(i)) => {
            let _ = write!(o, "{{\"intValue\":{i}}}");
        }
        Some(Value::DoubleValue(d)) => {
            // serde_json writes non-finite values as null; OTLP/JSON wants strings.
            if d.is_finite() {
                let _ = write!(o, "{{\"doubleValue\":{}}}", serde_json::json!(d));
            } else if d.is_nan() {
                o.push_str("{\"doubleValue\":\"NaN\"}");
            } else if *d > 0.0 {
                o.push_str("{\"doubleValue\":\"Infinity\"}");
            } else {
                o.push_str("{\"doubleValue\":\"-Infinity\"}");
            }
        }
        Some(Value::ArrayValue(a)) => {
            o.push_str("{\"arrayValue\":{\"values\":[");
            for (i, v) in a.values.iter().enumerate() {
                comma(o, i);
                any_value(o, v);
            }
            o.push_str("]}}");
        }
        Some(Value::KvlistValue(kvs)) => {
            o.push_str("{\"kvlistValue\":{\"values\":");
            attributes(o, &kvs.values);
            o.push_str("}}");
        }
        Some(Value::BytesValue(b)) => {
            let _ = write!(
                o,
                "{{\"bytesValue\":\"{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(b)
            );
        }
        Some(Value::StringValueStrindex(i)) => {
            let _ = write!(o, "{{\"stringValueStrindex\":{i}}}");
        }
    }
}

fn string(o: &mut String, s: &str) {
    o.push_str(&serde_json::Value::from(s).to_string());
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn comma(o: &mut String, i: usize) {
    if i > 0 {
        o.push(',');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/claude-code/captures")
    }

    fn sequences(req: &ExportLogsServiceRequest) -> Vec<i64> {
        req.resource_logs[0].scope_logs[0]
            .log_records
            .iter()
            .map(|r| {
                let kv = r
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "event.sequence")
                    .expect("event.sequence");
                match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::IntValue(i)) => *i,
                    other => panic!("event.sequence is {other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn builds_the_wanted_number_of_distinct_records_from_the_captures() {
        let pool = RecordPool::load(&captures()).expect("captures");
        assert!(pool.records.len() > 10, "{} records", pool.records.len());
        for n in [1, 100, 1000, pool.records.len() + 3] {
            let req = pool.build(n);
            assert_eq!(req.resource_logs.len(), 1);
            assert_eq!(req.resource_logs[0].scope_logs.len(), 1);
            let sl = &req.resource_logs[0].scope_logs[0];
            assert_eq!(
                sl.scope.as_ref().map(|s| s.name.as_str()),
                Some("com.anthropic.claude_code.events")
            );
            assert_eq!(sl.log_records.len(), n);
            assert_eq!(sequences(&req), (0..n as i64).collect::<Vec<_>>());
            // cycled: record i has the body of pool record i % len
            let last = &sl.log_records[n - 1];
            assert_eq!(last.body, pool.records[(n - 1) % pool.records.len()].body);
        }
    }

    #[test]
    fn bodies_decode_back_and_grpc_is_framed() {
        let pool = RecordPool::load(&captures()).expect("captures");
        let req = pool.build(100);
        let bodies = Bodies::new(&req);
        assert_eq!(bodies.records, 100);

        let back = ExportLogsServiceRequest::decode(bodies.protobuf.clone()).expect("decode");
        assert_eq!(back, req);

        let g = &bodies.grpc;
        assert_eq!(g[0], 0, "not compressed");
        let len = u32::from_be_bytes([g[1], g[2], g[3], g[4]]) as usize;
        assert_eq!(len, bodies.protobuf.len());
        assert_eq!(&g[5..], &bodies.protobuf[..]);

        let json: serde_json::Value = serde_json::from_slice(&bodies.json).expect("valid JSON");
        let recs = json["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .expect("logRecords");
        assert_eq!(recs.len(), 100);
        let attrs = recs[42]["attributes"].as_array().expect("attributes");
        let seq = attrs
            .iter()
            .find(|a| a["key"] == "event.sequence")
            .expect("event.sequence");
        assert_eq!(
            seq["value"]["intValue"],
            serde_json::json!(42),
            "a JSON number"
        );
        assert!(recs[0]["timeUnixNano"].is_string());
        assert_eq!(
            json["resourceLogs"][0]["resource"]["attributes"],
            serde_json::to_value(
                req.resource_logs[0]
                    .resource
                    .as_ref()
                    .expect("resource")
                    .attributes
                    .iter()
                    .map(|kv| {
                        let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(Value::StringValue(s)) => serde_json::json!({ "stringValue": s }),
                            other => panic!("resource attribute {other:?}"),
                        };
                        serde_json::json!({ "key": kv.key, "value": v })
                    })
                    .collect::<Vec<_>>()
            )
            .expect("json")
        );
    }

    #[test]
    fn json_matches_claude_codes_own_encoding_of_a_capture() {
        // The http-json capture was written by Claude Code itself; re-encoding the
        // same records (decoded from it by hand here) must give equal JSON values.
        let dir = captures().join("http-json/otlp/0002-http-logs.json");
        let cc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir).expect("capture")).expect("json");
        let recs = cc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .expect("records");
        // Every field our encoder writes for a record appears, in the same form.
        let pool = RecordPool::load(&captures()).expect("captures");
        let ours: serde_json::Value =
            serde_json::from_slice(&Bodies::new(&pool.build(recs.len())).json).expect("json");
        let our_recs = ours["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .expect("records");
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .expect("object")
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        let cc_keys: std::collections::BTreeSet<_> = recs.iter().flat_map(keys).collect();
        let our_keys: std::collections::BTreeSet<_> = our_recs.iter().flat_map(keys).collect();
        assert!(our_keys.is_subset(&cc_keys), "{our_keys:?} vs {cc_keys:?}");
        assert_eq!(keys(&ours["resourceLogs"][0]), keys(&cc["resourceLogs"][0]));
    }
}
