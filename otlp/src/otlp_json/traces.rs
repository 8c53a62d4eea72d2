//! Trace messages: their JSON fields, read and written.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, SpanFlags, Status,
};
use serde::de::MapAccess;

use super::common::attrs;
use super::decode::{msg, skip, Message};
use super::encode::{Encode, Obj};
use super::scalars::{enumeration, flags, int, list, span_id, string, trace_id, OptSeed};

fn span_kind(s: &str) -> Option<i32> {
    span::SpanKind::from_str_name(s).map(|v| v as i32)
}

fn span_flag(s: &str) -> Option<i32> {
    SpanFlags::from_str_name(s).map(|v| v as i32)
}

fn status_code(s: &str) -> Option<i32> {
    status::StatusCode::from_str_name(s).map(|v| v as i32)
}

impl Message for ExportTraceServiceRequest {
    const NAME: &'static str = "ExportTraceServiceRequest";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resourceSpans" | "resource_spans" => {
                self.resource_spans = map.next_value_seed(list("resourceSpans", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ResourceSpans {
    const NAME: &'static str = "ResourceSpans";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resource" => self.resource = map.next_value_seed(OptSeed(msg()))?,
            "scopeSpans" | "scope_spans" => {
                self.scope_spans = map.next_value_seed(list("scopeSpans", msg()))?
            }
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ScopeSpans {
    const NAME: &'static str = "ScopeSpans";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "scope" => self.scope = map.next_value_seed(OptSeed(msg()))?,
            "spans" => self.spans = map.next_value_seed(list("spans", msg()))?,
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Span {
    const NAME: &'static str = "Span";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "traceId" | "trace_id" => self.trace_id = map.next_value_seed(trace_id("traceId"))?,
            "spanId" | "span_id" => self.span_id = map.next_value_seed(span_id("spanId"))?,
            "traceState" | "trace_state" => {
                self.trace_state = map.next_value_seed(string("traceState"))?
            }
            "parentSpanId" | "parent_span_id" => {
                self.parent_span_id = map.next_value_seed(span_id("parentSpanId"))?
            }
            "flags" => self.flags = map.next_value_seed(flags("flags", span_flag))?,
            "name" => self.name = map.next_value_seed(string("name"))?,
            "kind" => self.kind = map.next_value_seed(enumeration("kind", span_kind))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = map.next_value_seed(int("startTimeUnixNano"))?
            }
            "endTimeUnixNano" | "end_time_unix_nano" => {
                self.end_time_unix_nano = map.next_value_seed(int("endTimeUnixNano"))?
            }
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            "events" => self.events = map.next_value_seed(list("events", msg()))?,
            "droppedEventsCount" | "dropped_events_count" => {
                self.dropped_events_count = map.next_value_seed(int("droppedEventsCount"))?
            }
            "links" => self.links = map.next_value_seed(list("links", msg()))?,
            "droppedLinksCount" | "dropped_links_count" => {
                self.dropped_links_count = map.next_value_seed(int("droppedLinksCount"))?
            }
            "status" => self.status = map.next_value_seed(OptSeed(msg()))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for span::Event {
    const NAME: &'static str = "Event";

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
            "name" => self.name = map.next_value_seed(string("name"))?,
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for span::Link {
    const NAME: &'static str = "Link";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "traceId" | "trace_id" => self.trace_id = map.next_value_seed(trace_id("traceId"))?,
            "spanId" | "span_id" => self.span_id = map.next_value_seed(span_id("spanId"))?,
            "traceState" | "trace_state" => {
                self.trace_state = map.next_value_seed(string("traceState"))?
            }
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            "flags" => self.flags = map.next_value_seed(flags("flags", span_flag))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Status {
    const NAME: &'static str = "Status";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "message" => self.message = map.next_value_seed(string("message"))?,
            "code" => self.code = map.next_value_seed(enumeration("code", status_code))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Encode for ExportTraceServiceRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("resourceSpans", &self.resource_spans);
        o.end();
    }
}

impl Encode for ResourceSpans {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("resource", self.resource.as_ref());
        o.list("scopeSpans", &self.scope_spans);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for ScopeSpans {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("scope", self.scope.as_ref());
        o.list("spans", &self.spans);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for Span {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.hex("traceId", &self.trace_id);
        o.hex("spanId", &self.span_id);
        o.string("traceState", &self.trace_state);
        o.hex("parentSpanId", &self.parent_span_id);
        o.int("flags", self.flags);
        o.string("name", &self.name);
        o.int("kind", self.kind);
        o.long("startTimeUnixNano", self.start_time_unix_nano);
        o.long("endTimeUnixNano", self.end_time_unix_nano);
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.list("events", &self.events);
        o.int("droppedEventsCount", self.dropped_events_count);
        o.list("links", &self.links);
        o.int("droppedLinksCount", self.dropped_links_count);
        o.msg("status", self.status.as_ref());
        o.end();
    }
}

impl Encode for span::Event {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.long("timeUnixNano", self.time_unix_nano);
        o.string("name", &self.name);
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.end();
    }
}

impl Encode for span::Link {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.hex("traceId", &self.trace_id);
        o.hex("spanId", &self.span_id);
        o.string("traceState", &self.trace_state);
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.int("flags", self.flags);
        o.end();
    }
}

impl Encode for Status {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.string("message", &self.message);
        o.int("code", self.code);
        o.end();
    }
}
