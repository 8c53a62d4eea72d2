//! `blocked_keys`: the user's key patterns, with recent answers remembered.
//! The same few dozen keys come in every record, and running the pattern
//! set over each one was about 5 % of the Datadog chain's CPU.
//!
//! The set is compiled when the first key comes, not at start-up: a
//! case-insensitive alternation such as datadog.yaml's
//! `(?i)(password|secret|api[_-]?key|authorization)` compiles to ~200 KB
//! (its literal prefilter), held by each pipeline of an idle process.

use std::cell::{OnceCell, RefCell};

use regex::RegexSet;

/// Slots of the answer cache: a key's slot comes from its length and a few
/// of its bytes; a key in a slot replaces the one there, so memory stays
/// bounded whatever keys come (ids as keys, say).
const SLOTS: usize = 512;

/// A remembered key and whether it matched.
type Slot = Option<(Box<str>, bool)>;

#[derive(Debug)]
pub(super) struct BlockedKeys {
    patterns: Vec<String>,
    set: OnceCell<RegexSet>,
    seen: RefCell<Vec<Slot>>,
}

impl BlockedKeys {
    /// Checks that the patterns compile together; compiles them for use on
    /// the first key.
    pub fn new(patterns: &[String]) -> Result<Self, regex::Error> {
        RegexSet::new(patterns)?;
        Ok(BlockedKeys {
            patterns: patterns.to_vec(),
            set: OnceCell::new(),
            seen: RefCell::new(vec![None; SLOTS]),
        })
    }

    fn set(&self) -> &RegexSet {
        self.set
            .get_or_init(|| RegexSet::new(&self.patterns).expect("checked in BlockedKeys::new"))
    }

    pub fn is_match(&self, key: &str) -> bool {
        self.is_match_utf8(key.as_bytes()) == Some(true)
    }

    /// [`BlockedKeys::is_match`] of a key's bytes (a key on the wire),
    /// remembered ones not checked as UTF-8 again. `None`: not UTF-8.
    pub fn is_match_utf8(&self, key: &[u8]) -> Option<bool> {
        let slot = slot(key);
        if let Some((k, hit)) = &self.seen.borrow()[slot] {
            if k.as_bytes() == key {
                return Some(*hit);
            }
        }
        let key = std::str::from_utf8(key).ok()?;
        let hit = self.set().is_match(key);
        self.seen.borrow_mut()[slot] = Some((key.into(), hit));
        Some(hit)
    }
}

/// A cheap spread of a key over the slots: its length and its first, middle
/// and last bytes (keys such as `claude_code.*` share their starts).
fn slot(k: &[u8]) -> usize {
    let at = |i: usize| usize::from(k.get(i).copied().unwrap_or(0));
    let n = k.len();
    let h = n
        .wrapping_mul(0x9E37)
        .wrapping_add(at(0).wrapping_mul(31))
        .wrapping_add(at(n / 2).wrapping_mul(131))
        .wrapping_add(at(n.wrapping_sub(1)).wrapping_mul(1031))
        .wrapping_add(at(n.wrapping_sub(2)).wrapping_mul(7));
    h % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_answers_are_the_patterns_answers() {
        let patterns = ["(?i)pass".to_owned(), "^api_key$".to_owned()];
        let b = BlockedKeys::new(&patterns).unwrap();
        assert!(b.set.get().is_none(), "compiled before the first key");
        let keys = [
            ("password", true),
            ("PASSWORD", true),
            ("api_key", true),
            ("my_api_key", false),
            ("input_tokens", false),
            ("", false),
        ];
        for _ in 0..2 {
            for (k, want) in keys {
                assert_eq!(b.is_match(k), want, "{k}");
            }
        }
        // Many more keys than slots: answers stay right, memory stays SLOTS.
        for i in 0..SLOTS * 4 {
            assert!(!b.is_match(&format!("k{i}")));
            assert!(b.is_match(&format!("pass{i}")));
        }
        for (k, want) in keys {
            assert_eq!(b.is_match(k), want, "{k} again");
        }
        assert_eq!(b.seen.borrow().len(), SLOTS);
        assert_eq!(b.is_match_utf8(b"pass\xff"), None, "not UTF-8");
        assert_eq!(b.is_match_utf8(b"password"), Some(true));
    }
}
