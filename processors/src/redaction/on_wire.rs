//! Redaction on the encoded request. A first look at each record's bytes,
//! which allocates nothing, says what any rule would do to it: a key that
//! is content, blocked or not allowed (with a value the rule would change),
//! or a string the secret scanner may match. A record that no rule changes
//! stays the bytes it was (most of them); one whose only change is content
//! keys that `mask` or `drop` (prompts, tool input) is rewritten on its
//! bytes, key-values swapped or cut and the summary count appended; any
//! other is decoded, redacted by the decoded path's own code and
//! re-encoded. Resources and scopes take the look and the decoded path.
//!
//! Keys and strings are compared and prefiltered as bytes: the intake scan
//! checked their UTF-8, and only a string that reaches the secret regexes
//! (or a blocked-key pattern, once per key) is checked again.
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

use super::{Content, Reason, RedactionProcessor, Summary, Tally, BLOCKED_KEY_MASK, MASK};
use crate::wire::Fallback;
use ccpipe_otlp::rewrite::proto::{fields, put_len, put_varint, Field};
use ccpipe_otlp::rewrite::Rewrite;

/// The rewrite walk of one request.
pub(super) struct OnRecords<'a> {
    p: &'a RedactionProcessor,
    signal: Signal,
    tally: &'a mut Tally,
    /// DELTA sum points merged away.
    pub items_removed: usize,
    /// The content key-values of the record at hand (reused across records).
    content: Vec<ContentField>,
}

/// A top-level content key-value of a record: where its field is, and its
/// body, as offsets in the record.
#[derive(Debug, Clone)]
struct ContentField {
    start: usize,
    end: usize,
    body: std::ops::Range<usize>,
}

/// What the decoded path would do to a key-value.
enum Look {
    Same,
    /// A content key (this one) whose value `mask` replaces or `drop` removes.
    Content,
    /// Anything else: left to the decoded path.
    Decode,
}

/// Where `part` (a slice of `whole`) starts in `whole`.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

const LOG_ATTRIBUTES: u32 = 6;
const SPAN_ATTRIBUTES: u32 = 9;

impl<'a> OnRecords<'a> {
    pub fn new(p: &'a RedactionProcessor, signal: Signal, tally: &'a mut Tally) -> Self {
        OnRecords {
            p,
            signal,
            tally,
            items_removed: 0,
            content: Vec::new(),
        }
    }

    /// The record with its content key-values masked or dropped and the
    /// summary the decoded path adds, written on the bytes: the same
    /// message the decoded path encodes, its attributes in the same order
    /// (the summary is the last one in both). `None`: no content.
    fn content_on_bytes(&mut self, rec: &[u8], attrs: u32) -> Result<Option<Vec<u8>>, Fallback> {
        if self.content.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(rec.len() + 64);
        let mut copied = 0;
        let mut kv = Vec::new();
        for c in &self.content {
            out.extend_from_slice(&rec[copied..c.start]);
            copied = c.end;
            if let Content::Mask = self.p.content {
                // The key-value as it was (its key, and a `key_strindex`
                // if it has one) with the masked value in place of its own.
                let body = &rec[c.body.clone()];
                kv.clear();
                for f in fields(body) {
                    let f = f?;
                    if f.tag != 2 {
                        kv.extend_from_slice(&body[f.start..f.end]);
                    }
                }
                put_len(&mut kv, 2, MASKED_VALUE);
                put_len(&mut out, attrs, &kv);
            }
        }
        out.extend_from_slice(&rec[copied..]);
        let n = self.content.len();
        self.tally.0[Reason::Content as usize] += n as u64;
        if self.p.summary != Summary::Silent {
            // An AnyValue holding int_value (field 3) n.
            let mut value = vec![3 << 3];
            put_varint(&mut value, n as u64);
            kv.clear();
            put_len(&mut kv, 1, b"redaction.redacted.count");
            put_len(&mut kv, 2, &value);
            put_len(&mut out, attrs, &kv);
        }
        Ok(Some(out))
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
            Signal::Logs => match self.p.log_look(body, &mut self.content)? {
                false => self.content_on_bytes(body, LOG_ATTRIBUTES)?,
                true => self
                    .redo(body, |p, r: &mut LogRecord, t| p.log_record(r, t))?
                    .map(|r| r.encode_to_vec()),
            },
            Signal::Traces => match self.p.span_look(body, &mut self.content)? {
                false => self.content_on_bytes(body, SPAN_ATTRIBUTES)?,
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

/// The `AnyValue` body of a string value `<REDACTED>` ([`MASK`]).
const MASKED_VALUE: &[u8] = &[
    1 << 3 | 2,
    MASK.len() as u8,
    b'<',
    b'R',
    b'E',
    b'D',
    b'A',
    b'C',
    b'T',
    b'E',
    b'D',
    b'>',
];

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
        Ok(!matches!(
            self.key_value_look(kv, top, all_content)?,
            Look::Same
        ))
    }

    /// What `one` of the decoded path would do to this key-value.
    fn key_value_look(&self, kv: &[u8], top: bool, all_content: bool) -> Result<Look, Fallback> {
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
            return Ok(Look::Decode);
        }
        // The key is UTF-8 (the intake scan checked it): compared as bytes.
        let value = value.unwrap_or(Value::Plain);
        if top
            && self
                .allowed
                .as_ref()
                .is_some_and(|a| !a.contains_bytes(key))
        {
            return Ok(Look::Decode);
        }
        if all_content || self.content_keys.contains_bytes(key) {
            return Ok(match self.content {
                Content::Drop => Look::Content,
                Content::Mask if value.is_textual() && !value.is_str(MASK) => Look::Content,
                Content::Hash(_) if value.is_textual() && !value.is_str(MASK) => Look::Decode,
                _ => Look::Same,
            });
        }
        let blocked = match &self.blocked_keys {
            Some(b) => b.is_match_utf8(key).ok_or(Fallback)?,
            None => false,
        };
        if blocked {
            return Ok(
                match value.is_textual() && !value.is_str(BLOCKED_KEY_MASK) {
                    true => Look::Decode,
                    false => Look::Same,
                },
            );
        }
        Ok(match self.value_may_change(&value)? {
            true => Look::Decode,
            false => Look::Same,
        })
    }

    fn value_may_change(&self, v: &Value) -> Result<bool, Fallback> {
        Ok(match *v {
            Value::Plain => false,
            Value::Merged => true,
            Value::Str(s) => self.string_may_change(s)?,
            // Bytes that are not UTF-8 are not scanned.
            Value::Bytes(b) => self
                .scanner
                .as_ref()
                .is_some_and(|sc| sc.may_match_utf8(b) == Some(true)),
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

    /// Most strings are ruled out on their bytes, before a UTF-8 check.
    fn string_may_change(&self, s: &[u8]) -> Result<bool, Fallback> {
        match &self.scanner {
            Some(sc) => sc.may_match_utf8(s).ok_or(Fallback),
            None => Ok(false),
        }
    }

    fn body_may_change(&self, body: &[u8]) -> Result<bool, Fallback> {
        self.value_may_change(&Value::of(body)?)
    }

    /// A `LogRecord`: attributes (6) and body (5). Content keys to mask
    /// or drop go to `content` when nothing else in the record changes.
    fn log_look(&self, rec: &[u8], content: &mut Vec<ContentField>) -> Result<bool, Fallback> {
        let mut bodies = 0;
        self.record_look(rec, LOG_ATTRIBUTES, content, |f| {
            Ok(match f.tag {
                5 => {
                    // A body given twice merges: left to the decoded path.
                    bodies += 1;
                    bodies > 1 || self.body_may_change(len(f)?)?
                }
                _ => false,
            })
        })
    }

    /// A `Span`: attributes (9), name (5), status (15) message (2),
    /// events (11), links (13) attributes (4).
    fn span_look(&self, span: &[u8], content: &mut Vec<ContentField>) -> Result<bool, Fallback> {
        self.record_look(span, SPAN_ATTRIBUTES, content, |f| {
            Ok(match f.tag {
                5 => self.string_may_change(len(f)?)?,
                15 => self.strings_may_change(len(f)?, 2)?,
                11 => self.event_may_change(len(f)?)?,
                13 => self.attributes_may_change(len(f)?, 4, false)?,
                _ => false,
            })
        })
    }

    /// Looks at a record's top-level attributes (field `attrs`) and, through
    /// `other`, at its other fields. `Ok(true)`: the decoded path must
    /// redact it; `Ok(false)`: it changes only by the content key-values
    /// left in `content` (none: it does not change).
    fn record_look(
        &self,
        rec: &[u8],
        attrs: u32,
        content: &mut Vec<ContentField>,
        mut other: impl FnMut(&Field<'_>) -> Result<bool, Fallback>,
    ) -> Result<bool, Fallback> {
        content.clear();
        for f in fields(rec) {
            let f = f?;
            if f.tag != attrs {
                if other(&f)? {
                    return Ok(true);
                }
                continue;
            }
            let kv = len(&f)?;
            match self.key_value_look(kv, true, false)? {
                Look::Same => {}
                Look::Decode => return Ok(true),
                // `debug` lists the keys in the summary: decoded path.
                Look::Content if self.summary == Summary::Debug => return Ok(true),
                Look::Content => content.push(ContentField {
                    start: f.start,
                    end: f.end,
                    body: offset_in(rec, kv)..offset_in(rec, kv) + kv.len(),
                }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masked_value_is_what_prost_writes() {
        assert_eq!(MASKED_VALUE, crate::value::string(MASK).encode_to_vec());
    }
}
