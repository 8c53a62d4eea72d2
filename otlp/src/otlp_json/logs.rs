//! Log messages: their JSON fields, read and written.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{
    LogRecord, LogRecordFlags, ResourceLogs, ScopeLogs, SeverityNumber,
};
use serde::de::MapAccess;

use super::common::attrs;
use super::decode::{msg, skip, Message};
use super::encode::{Encode, Obj};
use super::scalars::{enumeration, flags, int, list, span_id, string, trace_id, OptSeed};

fn severity(s: &str) -> Option<i32> {
    SeverityNumber::from_str_name(s).map(|v| v as i32)
}

fn log_flag(s: &str) -> Option<i32> {
    LogRecordFlags::from_str_name(s).map(|v| v as i32)
}

impl Message for ExportLogsServiceRequest {
    const NAME: &'static str = "ExportLogsServiceRequest";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resourceLogs" | "resource_logs" => {
                self.resource_logs = map.next_value_seed(list("resourceLogs", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ResourceLogs {
    const NAME: &'static str = "ResourceLogs";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resource" => self.resource = map.next_value_seed(OptSeed(msg()))?,
            "scopeLogs" | "scope_logs" => {
                self.scope_logs = map.next_value_seed(list("scopeLogs", msg()))?
            }
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ScopeLogs {
    const NAME: &'static str = "ScopeLogs";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "scope" => self.scope = map.next_value_seed(OptSeed(msg()))?,
            "logRecords" | "log_records" => {
                self.log_records = map.next_value_seed(list("logRecords", msg()))?
            }
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for LogRecord {
    const NAME: &'static str = "LogRecord";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?
            }
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                self.observed_time_unix_nano = map.next_value_seed(int("observedTimeUnixNano"))?
            }
            "severityNumber" | "severity_number" => {
                self.severity_number =
                    map.next_value_seed(enumeration("severityNumber", severity))?
            }
            "severityText" | "severity_text" => {
                self.severity_text = map.next_value_seed(string("severityText"))?
            }
            "body" => self.body = map.next_value_seed(OptSeed(msg()))?,
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            "flags" => self.flags = map.next_value_seed(flags("flags", log_flag))?,
            "traceId" | "trace_id" => self.trace_id = map.next_value_seed(trace_id("traceId"))?,
            "spanId" | "span_id" => self.span_id = map.next_value_seed(span_id("spanId"))?,
            "eventName" | "event_name" => {
                self.event_name = map.next_value_seed(string("eventName"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Encode for ExportLogsServiceRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("resourceLogs", &self.resource_logs);
        o.end();
    }
}

impl Encode for ResourceLogs {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("resource", self.resource.as_ref());
        o.list("scopeLogs", &self.scope_logs);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for ScopeLogs {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("scope", self.scope.as_ref());
        o.list("logRecords", &self.log_records);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for LogRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.long("timeUnixNano", self.time_unix_nano);
        o.long("observedTimeUnixNano", self.observed_time_unix_nano);
        o.int("severityNumber", self.severity_number);
        o.string("severityText", &self.severity_text);
        o.msg("body", self.body.as_ref());
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.int("flags", self.flags);
        o.hex("traceId", &self.trace_id);
        o.hex("spanId", &self.span_id);
        o.string("eventName", &self.event_name);
        o.end();
    }
}
