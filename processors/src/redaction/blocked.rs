//! `blocked_keys`: the user's key patterns, with each key's answer
//! remembered. The same few dozen keys come in every record, and running
//! the pattern set over each one was about 5 % of the Datadog chain's CPU.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use regex::RegexSet;

/// Keys remembered at most: beyond this (keys made of ids, say) the
/// patterns simply run, so memory stays bounded.
const REMEMBERED: usize = 4096;

#[derive(Debug)]
pub(super) struct BlockedKeys {
    set: RegexSet,
    seen: RefCell<HashMap<Box<str>, bool, BuildHasherDefault<Fnv>>>,
}

impl BlockedKeys {
    pub fn new(set: RegexSet) -> Self {
        BlockedKeys {
            set,
            seen: RefCell::default(),
        }
    }

    pub fn is_match(&self, key: &str) -> bool {
        if let Some(&hit) = self.seen.borrow().get(key) {
            return hit;
        }
        let hit = self.set.is_match(key);
        let mut seen = self.seen.borrow_mut();
        if seen.len() < REMEMBERED {
            seen.insert(key.into(), hit);
        }
        hit
    }
}

/// FNV-1a: keys are short and not chosen by an attacker who gains from
/// collisions beyond a slower lookup (the map is bounded).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_answers_are_the_patterns_answers() {
        let b = BlockedKeys::new(RegexSet::new(["(?i)pass", "^api_key$"]).unwrap());
        for _ in 0..2 {
            for (k, want) in [
                ("password", true),
                ("PASSWORD", true),
                ("api_key", true),
                ("my_api_key", false),
                ("input_tokens", false),
                ("", false),
            ] {
                assert_eq!(b.is_match(k), want, "{k}");
            }
        }
        // Past the bound nothing more is remembered, and answers stay right.
        for i in 0..REMEMBERED + 10 {
            assert!(!b.is_match(&format!("k{i}")));
        }
        assert_eq!(b.seen.borrow().len(), REMEMBERED);
        assert!(b.is_match("pass-1"));
    }
}
