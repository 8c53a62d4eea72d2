//! Reading and writing protobuf fields, over bytes that the receiver's wire
//! scan already checked. Still defensive: anything unexpected is a
//! [`Fallback`], never a panic.

use super::Fallback;

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub tag: u32,
    pub wire_type: u8,
    /// The payload of a length-delimited field (empty for the others).
    pub body: &'a [u8],
    /// Where the field (key included) starts and ends in its message.
    pub start: usize,
    pub end: usize,
}

impl<'a> Field<'a> {
    /// The body of a length-delimited field with this tag.
    pub fn len_of(&self, tag: u32) -> Option<&'a [u8]> {
        (self.tag == tag && self.wire_type == LEN).then_some(self.body)
    }
}

/// The fields of one message body, in order.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, pos: 0 }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, Fallback>;

    // Inlined into the redaction look, which reads every field of every
    // record: a call per field was a fifth of its time.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        (self.pos < self.buf.len()).then(|| self.field())
    }
}

impl<'a> Fields<'a> {
    #[inline]
    fn field(&mut self) -> Result<Field<'a>, Fallback> {
        let start = self.pos;
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| Fallback)?;
        let wire_type = (key & 7) as u8;
        let mut body: &[u8] = &[];
        match wire_type {
            VARINT => {
                self.varint()?;
            }
            FIXED64 => self.advance(8)?,
            FIXED32 => self.advance(4)?,
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| Fallback)?;
                let from = self.pos;
                self.advance(n)?;
                body = &self.buf[from..self.pos];
            }
            // Groups (deprecated, never in OTLP) and invalid types.
            _ => return Err(Fallback),
        }
        if tag == 0 {
            return Err(Fallback);
        }
        Ok(Field {
            tag,
            wire_type,
            body,
            start,
            end: self.pos,
        })
    }

    #[inline]
    fn advance(&mut self, n: usize) -> Result<(), Fallback> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                self.pos = end;
                Ok(())
            }
            _ => Err(Fallback),
        }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, Fallback> {
        // Keys and most lengths are one byte.
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                return Ok(u64::from(b));
            }
            None => return Err(Fallback),
            _ => {}
        }
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(Fallback)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Fallback)
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a length-delimited field.
pub fn put_len(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(LEN));
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_every_wire_type_and_refuse_groups_and_truncation() {
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 3); // tag 1 varint
        put_varint(&mut b, 300);
        b.extend_from_slice(&[(2 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]); // tag 2 fixed64
        b.extend_from_slice(&[(3 << 3) | 5, 1, 2, 3, 4]); // tag 3 fixed32
        put_len(&mut b, 4, b"abc");
        let got: Vec<_> = fields(&b).map(|f| f.unwrap()).collect();
        let tags: Vec<_> = got.iter().map(|f| (f.tag, f.wire_type)).collect();
        assert_eq!(tags, [(1, 0), (2, 1), (3, 5), (4, 2)]);
        assert_eq!(got[3].body, b"abc");
        assert_eq!(got[3].end, b.len());

        assert!(fields(&[(1 << 3) | 3]).next().unwrap().is_err(), "group");
        assert!(fields(&[(1 << 3) | 2, 5, b'a']).next().unwrap().is_err());
        assert!(fields(&[0x80]).next().unwrap().is_err(), "cut varint");
        assert!(fields(&[2, 0]).next().unwrap().is_err(), "tag 0");
    }
}
