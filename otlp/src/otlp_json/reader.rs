//! A JSON tokenizer over bytes for the transcode to protobuf
//! ([`super::to_wire`]): the grammar serde_json reads (its whitespace, its
//! number syntax, its nesting limit), with a string handed out as the
//! input's own bytes unless it holds an escape. It is never more lenient
//! than serde_json: anything it is unsure of is [`Bad`], and the transcode
//! then leaves the body to the decoder, which says what is wrong and where.

use super::escaped::escaped_bytes;
use crate::wire::plain;

/// Not read: malformed, or not read the way serde_json reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bad;

pub(super) type Read<T> = Result<T, Bad>;

/// serde_json's recursion limit: its 128th nested array or object is an error.
const MAX_DEPTH: u32 = 127;

/// A JSON number as serde_json classifies it: an integer that fits a u64 or
/// (negative) an i64, else a double. `-0` is the double -0.0, as there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

pub(super) struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    /// Arrays and objects open around `at`.
    depth: u32,
    /// The text of the last string that held escapes.
    scratch: Vec<u8>,
}

/// The high bit of every byte: set in a word holding a byte ≥ 0x80.
const HIGH: u64 = 0x8080_8080_8080_8080;

impl<'a> Reader<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Reader {
            b,
            at: 0,
            depth: 0,
            scratch: Vec::new(),
        }
    }

    /// The next byte that is not whitespace, not taken.
    #[inline]
    pub(super) fn peek(&mut self) -> Read<u8> {
        while let Some(&c) = self.b.get(self.at) {
            match c {
                b' ' | b'\n' | b'\t' | b'\r' => self.at += 1,
                _ => return Ok(c),
            }
        }
        Err(Bad)
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> Read<()> {
        match self.peek() {
            Err(Bad) => Ok(()),
            Ok(_) => Err(Bad),
        }
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Read<()> {
        match self.b.get(self.at..self.at + word.len()) {
            Some(w) if w == word => {
                self.at += word.len();
                Ok(())
            }
            _ => Err(Bad),
        }
    }

    /// Where the reader is, to [`rewind`](Self::rewind) to.
    #[inline]
    pub(super) fn mark(&self) -> usize {
        self.at
    }

    /// Back to `mark`, at the same nesting: for a caller that read ahead
    /// with [`take`](Self::take) and [`plain_string`](Self::plain_string).
    #[inline]
    pub(super) fn rewind(&mut self, mark: usize) {
        self.at = mark;
    }

    /// Whether `n` more arrays or objects may open.
    #[inline]
    pub(super) fn room(&self, n: u32) -> bool {
        self.depth + n <= MAX_DEPTH
    }

    /// Takes `bytes` if they are exactly what comes next (no whitespace
    /// skipped): compact JSON read without its tokens.
    #[inline]
    pub(super) fn take(&mut self, bytes: &[u8]) -> bool {
        let found = self.b.get(self.at..self.at + bytes.len()) == Some(bytes);
        self.at += usize::from(found) * bytes.len();
        found
    }

    /// The string that starts exactly here, if it holds no escape: its
    /// bytes, checked as [`string`](Self::string) checks them. `None`
    /// (nothing taken) for anything else.
    #[inline]
    pub(super) fn plain_string(&mut self) -> Read<Option<&'a [u8]>> {
        if self.b.get(self.at) != Some(&b'"') {
            return Ok(None);
        }
        let start = self.at + 1;
        let end = self.run(start)?;
        if self.b[end] != b'"' {
            return Ok(None);
        }
        self.at = end + 1;
        Ok(Some(&self.b[start..end]))
    }

    /// Takes a `null` if one is next.
    #[inline]
    pub(super) fn null(&mut self) -> Read<bool> {
        if self.peek()? != b'n' {
            return Ok(false);
        }
        self.literal(b"null").map(|()| true)
    }

    /// `true` or `false`.
    pub(super) fn boolean(&mut self) -> Read<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => Err(Bad),
        }
    }

    #[inline]
    fn open(&mut self, bracket: u8) -> Read<()> {
        if self.peek()? != bracket || self.depth >= MAX_DEPTH {
            return Err(Bad);
        }
        self.at += 1;
        self.depth += 1;
        Ok(())
    }

    /// Takes `{`.
    pub(super) fn begin_object(&mut self) -> Read<()> {
        self.open(b'{')
    }

    /// Takes `[`.
    pub(super) fn begin_array(&mut self) -> Read<()> {
        self.open(b'[')
    }

    /// After a `,` or the opening bracket (`first`): whether another element
    /// or member follows, or the `close` bracket ended the array or object.
    #[inline]
    fn more(&mut self, first: bool, close: u8) -> Read<bool> {
        let c = self.peek()?;
        if c == close {
            self.at += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if first {
            return Ok(true);
        }
        if c != b',' {
            return Err(Bad);
        }
        self.at += 1;
        Ok(true)
    }

    /// Whether an array element follows (`first` right after the `[`).
    #[inline]
    pub(super) fn next_element(&mut self, first: bool) -> Read<bool> {
        self.more(first, b']')
    }

    /// The next member's key, handed to `f`, with its `:` taken; `None` at
    /// the object's end.
    #[inline]
    pub(super) fn next_key<T>(
        &mut self,
        first: bool,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Read<Option<T>> {
        if !self.more(first, b'}')? {
            return Ok(None);
        }
        let key = self.string(f)?;
        if self.peek()? != b':' {
            return Err(Bad);
        }
        self.at += 1;
        Ok(Some(key))
    }

    /// A string's text (escapes resolved, valid UTF-8), handed to `f`.
    #[inline]
    pub(super) fn string<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Read<T> {
        if self.peek()? != b'"' {
            return Err(Bad);
        }
        let b = self.b;
        let start = self.at + 1;
        let end = self.run(start)?;
        if b[end] == b'"' {
            self.at = end + 1;
            return Ok(f(&b[start..end]));
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&b[start..end]);
        self.at = end;
        loop {
            self.escape()?;
            let start = self.at;
            let end = self.run(start)?;
            self.scratch.extend_from_slice(&b[start..end]);
            self.at = end + 1;
            if b[end] == b'"' {
                return Ok(f(&self.scratch));
            }
            self.at = end;
        }
    }

    /// Where the run of plain string bytes from `start` ends (at a `"` or
    /// `\`), eight bytes at a time; the run is checked to be UTF-8.
    #[inline]
    fn run(&self, start: usize) -> Read<usize> {
        let b = self.b;
        let mut i = start;
        let mut high = 0u64;
        let end = loop {
            if let Some(word) = b.get(i..i + 8) {
                let w = u64::from_le_bytes(word.try_into().map_err(|_| Bad)?);
                let stops = escaped_bytes(w);
                if stops == 0 {
                    high |= w;
                    i += 8;
                    continue;
                }
                let n = stops.trailing_zeros() / 8;
                // The bytes before the stop.
                high |= w & ((1u64 << (n * 8)) - 1);
                i += n as usize;
            } else {
                while let Some(&c) = b.get(i) {
                    if c == b'"' || c == b'\\' || c < 0x20 {
                        break;
                    }
                    high |= u64::from(c);
                    i += 1;
                }
            }
            match b.get(i) {
                Some(b'"' | b'\\') => break i,
                // A control character, or the body ends inside the string.
                _ => return Err(Bad),
            }
        };
        if high & HIGH != 0 && !plain::utf8(&b[start..end]) {
            return Err(Bad);
        }
        Ok(end)
    }

    /// Resolves the escape at `at` into the scratch text.
    fn escape(&mut self) -> Read<()> {
        let c = *self.b.get(self.at + 1).ok_or(Bad)?;
        self.at += 2;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let ch = self.unicode_escape()?;
                let mut utf8 = [0; 4];
                let s = ch.encode_utf8(&mut utf8);
                self.scratch.extend_from_slice(s.as_bytes());
                return Ok(());
            }
            _ => return Err(Bad),
        };
        self.scratch.push(byte);
        Ok(())
    }

    /// The character of a `\uXXXX` escape (its `\u` taken), a surrogate
    /// pair in two; a lone surrogate is an error, as in serde_json's strings.
    fn unicode_escape(&mut self) -> Read<char> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.b.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(Bad);
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(Bad);
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(Bad),
            _ => first,
        };
        char::from_u32(code).ok_or(Bad)
    }

    fn hex4(&mut self) -> Read<u32> {
        let digits = self.b.get(self.at..self.at + 4).ok_or(Bad)?;
        let mut n = 0;
        for &d in digits {
            n = n << 4 | char::from(d).to_digit(16).ok_or(Bad)?;
        }
        self.at += 4;
        Ok(n)
    }

    /// A number, as serde_json reads and classifies it. An integer past the
    /// 64-bit range is [`Bad`] (serde_json rounds it to a double), as is an
    /// exponent of more than nine digits (serde_json's overflow handling of
    /// those differs from a plain parse) and a double that overflows (an
    /// error there).
    pub(super) fn number(&mut self) -> Read<Number> {
        self.peek()?;
        let b = self.b;
        let start = self.at;
        let negative = b[start] == b'-';
        let digits_from = start + usize::from(negative);
        let mut i = digits_from;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(b, i),
            _ => return Err(Bad),
        }
        let int_end = i;
        if b.get(i) == Some(&b'.') {
            let from = i + 1;
            i = digits_end(b, from);
            if i == from {
                return Err(Bad);
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let from = i;
            i = digits_end(b, from);
            if i == from || i - from > 9 {
                return Err(Bad);
            }
        }
        self.at = i;
        if i == int_end {
            let mut n = 0u64;
            for &d in &b[digits_from..int_end] {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    .ok_or(Bad)?;
            }
            return match (negative, n) {
                (false, n) => Ok(Number::U64(n)),
                (true, 0) => Ok(Number::F64(-0.0)),
                (true, n) if n <= 1 << 63 => Ok(Number::I64((n as i64).wrapping_neg())),
                (true, _) => Err(Bad),
            };
        }
        let text = std::str::from_utf8(&b[start..i]).map_err(|_| Bad)?;
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Number::F64(v)),
            _ => Err(Bad),
        }
    }

    /// Skips one value of any kind (an unknown field's), checking it.
    pub(super) fn skip(&mut self) -> Read<()> {
        match self.peek()? {
            b'{' => {
                self.begin_object()?;
                let mut first = true;
                while self.next_key(first, |_| ())?.is_some() {
                    self.skip()?;
                    first = false;
                }
                Ok(())
            }
            b'[' => {
                self.begin_array()?;
                let mut first = true;
                while self.next_element(first)? {
                    self.skip()?;
                    first = false;
                }
                Ok(())
            }
            b'"' => self.string(|_| ()),
            b't' | b'f' => self.boolean().map(drop),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}
