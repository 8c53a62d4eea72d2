//! Redaction on the encoded request. A first look at each record's bytes,
//! which allocates nothing, says whether any rule can change it: a key that
//! is content, blocked or not allowed (with a value the rule would change),
//! or a string the secret scanner may match. Only such a record is decoded,
//! redacted by the decoded path's own code and re-encoded; the others, most
//! of them, stay the bytes they were. Resources and scopes likewise.
//!
//! The look is conservative: when unsure (a field given twice, which
//! protobuf merges) it says "may change" and the decoded code decides.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use ccpipe_otlp::records::data_point_count;
use ccpipe_pipeline::Signal;

use super::{Content, RedactionProcessor, Tally, BLOCKED_KEY_MASK, MASK};
use crate::wire::Fallback;
use ccpipe_otlp::rewrite::proto::{fields, Field};
use ccpipe_otlp::rewrite::Rewrite;

/// The rewrite walk of one request.
pub(super) struct OnRecords<'a> {
    p: &'a RedactionProcessor,
    signal: Signal,
    tally: &'a mut Tally,
    /// DELTA sum points merged away.
    pub items_removed: usize,
}

impl<'a> OnRecords<'a> {
    pub fn new(p: &'a RedactionProcessor, signal: Signal, tally: &'a mut Tally) -> Self {
        OnRecords {
            p,
            signal,
            tally,
            items_removed: 0,
        }
    }

    /// Decodes `body` as `T`, runs `redact` on it and re-encodes it if the
    /// tally grew (everything redaction changes is counted).
    fn redo<T: Message + Default>(
        &mut self,
        body: &[u8],
        redact: impl FnOnce(&RedactionProcessor, &mut T, &mut Tally),
    ) -> Result<Option<T>, Fallback> {
        let mut msg = T::decode(body).map_err(|_| Fallback)?;
        let before = self.tally.total();
        redact(self.p, &mut msg, self.tally);
        Ok((self.tally.total() != before).then_some(msg))
    }
}

const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_ATTRIBUTES: u32 = 3;

impl Rewrite for OnRecords<'_> {
    const RECORDS: bool = true;

    fn resource(&mut self, body: Option<&[u8]>) -> Result<Option<Vec<u8>>, Fallback> {
        let Some(body) = body else { return Ok(None) };
        if !self
            .p
            .attributes_may_change(body, RESOURCE_ATTRIBUTES, false)?
        {
            return Ok(None);
        }
        let r: Option<Resource> = self.redo(body, |p, r: &mut Resource, t| {
            p.shared(Some(&mut r.attributes), t)
        })?;
        Ok(r.map(|r| r.encode_to_vec()))
    }

    fn scope(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
        if !self
            .p
            .attributes_may_change(body, SCOPE_ATTRIBUTES, false)?
        {
            return Ok(None);
        }
        let s: Option<InstrumentationScope> = self
            .redo(body, |p, s: &mut InstrumentationScope, t| {
                p.shared(Some(&mut s.attributes), t)
            })?;
        Ok(s.map(|s| s.encode_to_vec()))
    }

    fn record(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Fallback> {
        Ok(match self.signal {
            Signal::Logs => match self.p.log_may_change(body)? {
                false => None,
                true => self
                    .redo(body, |p, r: &mut LogRecord, t| p.log_record(r, t))?
                    .map(|r| r.encode_to_vec()),
            },
            Signal::Traces => match self.p.span_may_change(body)? {
                false => None,
                true => self
                    .redo(body, |p, s: &mut Span, t| p.span(s, t))?
                    .map(|s| s.encode_to_vec()),
            },
            Signal::Metrics => match self.p.metric_may_change(body)? {
                false => None,
                true => {
                    let mut removed = 0;
                    let m = self.redo(body, |p, m: &mut Metric, t| {
                        let before = data_point_count(m);
                        p.metric(m, t);
                        removed = before - data_point_count(m);
                    })?;
                    self.items_removed += removed;
                    m.map(|m| m.encode_to_vec())
                }
            },
        })
    }
}

/// An `AnyValue` as the rules see it.
enum Value<'a> {
    /// No value, or a number or boolean: nothing to redact.
    Plain,
    Str(&'a [u8]),
    Bytes(&'a [u8]),
    Array(&'a [u8]),
    Kvlist(&'a [u8]),
    /// More than one member given (protobuf keeps the last, merging some):
    /// left to the decoded path.
    Merged,
}

impl<'a> Value<'a> {
    fn of(body: &'a [u8]) -> Result<Value<'a>, Fallback> {
        let mut v = Value::Plain;
        let mut members = 0;
        for f in fields(body) {
            let f = f?;
            if !(1..=8).contains(&f.tag) {
                continue;
            }
            members += 1;
            v = match f.tag {
                1 => Value::Str(len(&f)?),
                5 => Value::Array(len(&f)?),
                6 => Value::Kvlist(len(&f)?),
                7 => Value::Bytes(len(&f)?),
                _ => Value::Plain,
            };
        }
        Ok(if members > 1 { Value::Merged } else { v })
    }

    /// What `is_textual` says of the decoded value.
    fn is_textual(&self) -> bool {
        !matches!(self, Value::Plain)
    }

    fn is_str(&self, s: &str) -> bool {
        matches!(self, Value::Str(b) if *b == s.as_bytes())
    }
}

/// The body of a length-delimited field (the scan checked the wire types).
fn len<'a>(f: &Field<'a>) -> Result<&'a [u8], Fallback> {
    f.len_of(f.tag).ok_or(Fallback)
}

fn text(b: &[u8]) -> Result<&str, Fallback> {
    std::str::from_utf8(b).map_err(|_| Fallback)
}

impl RedactionProcessor {
    /// May a rule change the attributes (field `tag`) of this message?
    /// `all_content`: every key is content (a `tool.output` event).
    fn attributes_may_change(
        &self,
        msg: &[u8],
        tag: u32,
        all_content: bool,
    ) -> Result<bool, Fallback> {
        for f in fields(msg) {
            let f = f?;
            if f.tag == tag && self.key_value_may_change(len(&f)?, true, all_content)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `one` of the decoded path, asked without changing anything.
    fn key_value_may_change(
        &self,
        kv: &[u8],
        top: bool,
        all_content: bool,
    ) -> Result<bool, Fallback> {
        let (mut key, mut value) = (&b""[..], None);
        let mut given = [0u8; 2];
        for f in fields(kv) {
            let f = f?;
            match f.tag {
                1 => key = len(&f)?,
                2 => value = Some(Value::of(len(&f)?)?),
                _ => continue,
            }
            given[f.tag as usize - 1] = given[f.tag as usize - 1].saturating_add(1);
        }
        // A key or value given twice: protobuf keeps the last or merges.
        if given.iter().any(|&n| n > 1) {
            return Ok(true);
        }
        let key = text(key)?;
        let value = value.unwrap_or(Value::Plain);
        if top && self.allowed.as_ref().is_some_and(|a| !a.contains(key)) {
            return Ok(true);
        }
        if all_content || self.content_keys.contains(key) {
            return Ok(match self.content {
                Content::Drop => true,
                _ => value.is_textual() && !value.is_str(MASK),
            });
        }
        if self.blocked_keys.as_ref().is_some_and(|b| b.is_match(key)) {
            return Ok(value.is_textual() && !value.is_str(BLOCKED_KEY_MASK));
        }
        self.value_may_change(&value)
    }

    fn value_may_change(&self, v: &Value) -> Result<bool, Fallback> {
        Ok(match *v {
            Value::Plain => false,
            Value::Merged => true,
            Value::Str(s) => self.string_may_change(s)?,
            Value::Bytes(b) => match (&self.scanner, std::str::from_utf8(b)) {
                (Some(sc), Ok(t)) => sc.may_match(t),
                _ => false,
            },
            Value::Array(a) => {
                for f in fields(a) {
                    let f = f?;
                    if f.tag == 1 && self.value_may_change(&Value::of(len(&f)?)?)? {
                        return Ok(true);
                    }
                }
                false
            }
            Value::Kvlist(l) => {
                for f in fields(l) {
                    let f = f?;
                    if f.tag == 1 && self.key_value_may_change(len(&f)?, false, false)? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }

    fn string_may_change(&self, s: &[u8]) -> Result<bool, Fallback> {
        match &self.scanner {
            Some(sc) => Ok(sc.may_match(text(s)?)),
            None => Ok(false),
        }
    }

    fn body_may_change(&self, body: &[u8]) -> Result<bool, Fallback> {
        self.value_may_change(&Value::of(body)?)
    }

    /// A `LogRecord`: attributes (6) and body (5).
    fn log_may_change(&self, rec: &[u8]) -> Result<bool, Fallback> {
        let mut bodies = 0;
        for f in fields(rec) {
            let f = f?;
            let may = match f.tag {
                6 => self.key_value_may_change(len(&f)?, true, false)?,
                5 => {
                    // A body given twice merges: left to the decoded path.
                    bodies += 1;
                    bodies > 1 || self.body_may_change(len(&f)?)?
                }
                _ => false,
            };
            if may {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A `Span`: attributes (9), name (5), status (15) message (2),
    /// events (11), links (13) attributes (4).
    fn span_may_change(&self, span: &[u8]) -> Result<bool, Fallback> {
        for f in fields(span) {
            let f = f?;
            let may = match f.tag {
                9 => self.key_value_may_change(len(&f)?, true, false)?,
                5 => self.string_may_change(len(&f)?)?,
                15 => self.strings_may_change(len(&f)?, 2)?,
                11 => self.event_may_change(len(&f)?)?,
                13 => self.attributes_may_change(len(&f)?, 4, false)?,
                _ => false,
            };
            if may {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Any string field `tag` of `msg` the scanner may match.
    fn strings_may_change(&self, msg: &[u8], tag: u32) -> Result<bool, Fallback> {
        for f in fields(msg) {
            let f = f?;
            if f.tag == tag && self.string_may_change(len(&f)?)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A span `Event`: name (2), attributes (3), all content when the
    /// name is a content event.
    fn event_may_change(&self, ev: &[u8]) -> Result<bool, Fallback> {
        let mut name: Option<&[u8]> = None;
        for f in fields(ev) {
            let f = f?;
            if f.tag == 2 {
                if name.is_some() {
                    return Ok(true);
                }
                name = Some(len(&f)?);
            }
        }
        let name = text(name.unwrap_or(b""))?;
        let all = self.content_events.contains(name);
        Ok(self.string_may_change(name.as_bytes())? || self.attributes_may_change(ev, 3, all)?)
    }

    /// A `Metric`: the attributes of its data points and their exemplars.
    fn metric_may_change(&self, metric: &[u8]) -> Result<bool, Fallback> {
        for f in fields(metric) {
            let f = f?;
            // (data field, point attributes, point exemplars); summary
            // points have no exemplars (0 matches no field).
            let (attrs, exemplars) = match f.tag {
                5 | 7 => (7, 5),
                9 => (9, 8),
                10 => (1, 11),
                11 => (7, 0),
                _ => continue,
            };
            for p in fields(len(&f)?) {
                let p = p?;
                if p.tag != 1 {
                    continue;
                }
                let point = len(&p)?;
                if self.attributes_may_change(point, attrs, false)? {
                    return Ok(true);
                }
                for e in fields(point) {
                    let e = e?;
                    if e.tag == exemplars && self.attributes_may_change(len(&e)?, 7, false)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }
}
