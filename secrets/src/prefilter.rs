//! A cheap test that rules out the built-in rules for most strings before the
//! regex engine runs.
//!
//! The combined [`regex::RegexSet`] of the built-in rules has no literal
//! prefix the `regex` crate could search for (the e-mail and card rules start
//! with character classes), so it runs its lazy DFA over every byte of every
//! string, and on the short values that make up most telemetry (ids, names,
//! timestamps) its fixed cost per search dominates. Yet every built-in rule
//! needs some text that such values rarely hold: one of a few literals such as
//! `sk-`, `ghp_`, `AKIA`, `://`, `@` or `password`, sometimes with a byte such
//! as `:` or `=` (each rule lists them in [`super::Rule::anchors`]), or, for
//! card numbers, 13 digits in a row.
//!
//! The user's `blocked_values` get the same treatment: from the parsed pattern
//! (`regex-syntax`) comes the set of bytes every match holds (for
//! `(?i)acme-internal-[a-z0-9]+`: a c m e - i n t r l, in either case); a
//! pattern with no such byte (`\w+`) turns the prefilter off.
//!
//! [`Prefilter::may_match`] makes one pass over the bytes collecting which
//! letters (case-insensitively) and which punctuation occur, then asks
//! whether every byte of some anchor (with one of its extra bytes) occurred:
//! a literal cannot be in a string that lacks one of its bytes. False means
//! that no built-in rule can match, so the regexes are skipped; true only
//! means "maybe", and the regexes decide. The output never differs from a
//! scan without the prefilter (property-tested below).

use super::{Anchors, Rule};

/// The characters outside ASCII that a case-insensitive (`(?i)`) pattern
/// matches in place of an ASCII letter, by Unicode simple case folding:
/// LATIN SMALL LETTER LONG S (`s`) and KELVIN SIGN (`k`). A string holding
/// one could match `(?i)secret` or `(?i)token` without holding the ASCII
/// letter, so it always goes to the regexes (checked against the `regex`
/// crate's own tables in a test).
pub(super) const FOLDS_TO_ASCII: [char; 2] = ['\u{17F}', '\u{212A}'];

/// Which bytes a string holds, as a set of bits: per ASCII letter one bit
/// for it in either case and one for it in upper case; one per other byte
/// some anchor needs; one for the digits; one for anything outside ASCII.
type Seen = u64;

const NON_ASCII: Seen = 1 << 63;
const DIGIT: Seen = 1 << 62;
/// The bits of the letters in upper case; those in either case are 0..26.
const UPPER: u32 = 26;
/// The first bit of the other bytes, given out as anchors need them.
const OTHER: u32 = UPPER + 26;

/// Letters from the rarest in text to the most common, to key each need by
/// its rarest byte.
const LETTERS_BY_RARITY: &[u8] = b"zqxjkvbywgpfmucldhrsniotea";

/// Each byte's bits, built with the anchors and blocked values.
struct Bits {
    table: [Seen; 256],
    next: u32,
}

impl Bits {
    fn new() -> Bits {
        let mut table = [0; 256];
        for (i, b) in (b'a'..=b'z').enumerate() {
            table[usize::from(b)] = 1 << i;
            table[usize::from(b.to_ascii_uppercase())] = 1 << i | 1 << (UPPER as usize + i);
        }
        for b in b'0'..=b'9' {
            table[usize::from(b)] = DIGIT;
        }
        for b in table[0x80..].iter_mut() {
            *b = NON_ASCII;
        }
        Bits { table, next: OTHER }
    }

    /// The bit a string holding `b` has: for an upper-case letter of a
    /// case-sensitive pattern its own, for other letters that of either case.
    fn of(&mut self, b: u8, any_case: bool) -> Seen {
        if b.is_ascii_alphabetic() {
            let i = usize::from(b.to_ascii_lowercase() - b'a');
            return match b.is_ascii_uppercase() && !any_case {
                true => 1 << (UPPER as usize + i),
                false => 1 << i,
            };
        }
        // past the last free bit, a byte needs nothing (0): weaker, still sound
        if self.table[usize::from(b)] == 0 && self.next < 62 {
            self.table[usize::from(b)] = 1 << self.next;
            self.next += 1;
        }
        self.table[usize::from(b)]
    }
}

/// How common bit `i` is in telemetry text, lower is rarer: upper-case
/// letters, then the other bytes the anchors need (`@`, `=`, `/` and such),
/// then lower-case letters by rarity, then non-ASCII and digits.
fn commonness(i: u32) -> u32 {
    let i_byte = |i: u32| b'a' + i as u8;
    match i {
        _ if i < UPPER => {
            100 + LETTERS_BY_RARITY
                .iter()
                .position(|&b| b == i_byte(i))
                .unwrap_or(0) as u32
        }
        _ if i < OTHER => i - UPPER,
        62 | 63 => 200 + i,
        _ => 50 + i - OTHER,
    }
}

pub(super) struct Prefilter {
    /// The bits of each byte (see [`Seen`]).
    bits: [Seen; 256],
    /// The bytes of each anchor, with one of its extra bytes: a string may
    /// hold the anchor only if its bytes include one of these sets. Minimal
    /// (no set includes another) and grouped by their rarest bit:
    /// `needs[i]` are those keyed by bit i.
    needs: Vec<Vec<Seen>>,
    /// The bits that key some needs.
    keys: Seen,
    /// The card rule is enabled.
    card: bool,
    /// Some blocked value has no byte every match holds: every string goes
    /// to the regexes.
    always: bool,
}

impl Prefilter {
    pub(super) fn new<'a>(
        rules: impl IntoIterator<Item = &'a Rule>,
        blocked_values: &[String],
    ) -> Prefilter {
        let mut bits = Bits::new();
        let mut needs: Vec<Seen> = Vec::new();
        let mut card = false;
        for rule in rules {
            let (literals, and_one_of) = match rule.anchors {
                Anchors::Literals {
                    literals,
                    and_one_of,
                } => (literals, and_one_of),
                Anchors::CardDigits => {
                    card = true;
                    continue;
                }
            };
            // the letters of a case-sensitive pattern's anchors are exact
            let any_case = rule.pattern.starts_with("(?i)");
            for l in literals {
                let bag = l.bytes().fold(0, |m, b| m | bits.of(b, any_case));
                match and_one_of {
                    [] => needs.push(bag),
                    extra => needs.extend(extra.iter().map(|&b| bag | bits.of(b, false))),
                }
            }
        }
        let mut always = false;
        for pattern in blocked_values {
            match regex_syntax::Parser::new().parse(pattern) {
                Ok(hir) => match required(&hir, &mut bits) {
                    0 => always = true,
                    need => needs.push(need),
                },
                Err(_) => always = true,
            }
        }
        needs.sort_unstable();
        needs.dedup();
        let all = needs.clone();
        needs.retain(|&n| !all.iter().any(|&m| m != n && m & n == m));
        let mut keyed = vec![Vec::new(); 64];
        let mut keys = 0;
        for n in needs {
            let key = (0..64)
                .filter(|&i| n & 1 << i != 0)
                .min_by_key(|&i| commonness(i))
                .expect("every need has a bit");
            keyed[key as usize].push(n);
            keys |= 1 << key;
        }
        Prefilter {
            bits: bits.table,
            needs: keyed,
            keys,
            card,
            always,
        }
    }

    /// False: no enabled rule matches anywhere in `s`, UTF-8 text (its
    /// bytes are enough: callers that hold checked bytes need no `&str`).
    pub(super) fn may_match(&self, s: impl AsRef<[u8]>) -> bool {
        let s = s.as_ref();
        if self.always {
            return true;
        }
        let seen = s.iter().fold(0, |m, &b| m | self.bits[usize::from(b)]);
        if seen & NON_ASCII != 0 && holds_folding_char(s) {
            return true;
        }
        let mut keys = seen & self.keys;
        while keys != 0 {
            let key = keys.trailing_zeros();
            keys &= keys - 1;
            if self.needs[key as usize].iter().any(|&n| n & !seen == 0) {
                return true;
            }
        }
        self.card && seen & DIGIT != 0 && card_digits(s)
    }
}

/// Whether UTF-8 `s` holds a character of [`FOLDS_TO_ASCII`] (in UTF-8 a
/// character's bytes occur only where it is).
fn holds_folding_char(s: &[u8]) -> bool {
    FOLDS_TO_ASCII.iter().any(|c| {
        let mut utf8 = [0; 4];
        let c = c.encode_utf8(&mut utf8).as_bytes();
        s.windows(c.len()).any(|w| w == c)
    })
}

/// The bits of the bytes that every match of `hir` holds (0: none known).
/// A class counts only when all its members have one bit, apart from the
/// characters of [`FOLDS_TO_ASCII`] (a string holding one of those always
/// goes to the regexes): `[Kk\u{212A}]` needs a `k` in either case, `[0-9]`
/// a digit, `[a-z]` nothing.
fn required(hir: &regex_syntax::hir::Hir, bits: &mut Bits) -> Seen {
    use regex_syntax::hir::{Class, HirKind};
    /// Classes larger than this are taken to need nothing.
    const MAX_CLASS: u32 = 64;
    let mut one_bit = |members: &mut dyn Iterator<Item = char>| {
        let mut exact = None;
        let mut any_case = None;
        for c in members.filter(|c| !FOLDS_TO_ASCII.contains(c)) {
            let mut utf8 = [0; 4];
            let b = c.encode_utf8(&mut utf8).as_bytes()[0];
            let (e, a) = (bits.of(b, false), bits.of(b, true));
            exact = match exact {
                None => Some(e),
                Some(x) if x == e => Some(x),
                Some(_) => Some(0),
            };
            any_case = match any_case {
                None => Some(a),
                Some(x) if x == a => Some(x),
                Some(_) => Some(0),
            };
        }
        exact.filter(|&e| e != 0).or(any_case).unwrap_or(0)
    };
    match hir.kind() {
        HirKind::Literal(l) => l.0.iter().fold(0, |m, &b| m | bits.of(b, false)),
        HirKind::Class(Class::Unicode(c)) => {
            let size: u32 = c
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            match size <= MAX_CLASS {
                true => one_bit(&mut c.ranges().iter().flat_map(|r| r.start()..=r.end())),
                false => 0,
            }
        }
        HirKind::Class(Class::Bytes(c)) => one_bit(
            &mut c
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .map(char::from),
        ),
        HirKind::Repetition(r) if r.min > 0 => required(&r.sub, bits),
        HirKind::Capture(c) => required(&c.sub, bits),
        HirKind::Concat(subs) => subs.iter().fold(0, |m, h| m | required(h, bits)),
        HirKind::Alternation(subs) => subs.iter().fold(Seen::MAX, |m, h| m & required(h, bits)),
        HirKind::Empty | HirKind::Look(_) | HirKind::Repetition(_) => 0,
    }
}

/// An ASCII word byte, as `(?-u:\b)` sees it.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `s` could hold a match of the card rule,
/// `(?-u:\b)(?:[0-9][ -]?){12,18}[0-9](?-u:\b)`: a digit at a word boundary
/// (not preceded by a letter, digit or `_`) followed by 12 more digits, with
/// at most one space or dash between two digits. (The end boundary and the
/// Luhn check are left to the regex and its check.)
pub(super) fn card_digits(s: &[u8]) -> bool {
    // Digits counted from the earliest digit at a word boundary in the
    // current run; 0: no such digit yet. A match starting later in the run
    // has no more digits than that.
    let mut digits = 0u32;
    // The byte before, a space for the start of the text (not a word byte).
    let mut prev = b' ';
    for &b in s {
        if b.is_ascii_digit() {
            if digits > 0 {
                digits += 1;
                if digits >= 13 {
                    return true;
                }
            } else if !is_word(prev) {
                digits = 1;
            }
        } else if !((b == b' ' || b == b'-') && prev.is_ascii_digit()) {
            // anything but one separator after a digit ends the run
            digits = 0;
        }
        prev = b;
    }
    false
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    #[test]
    fn folding_characters_are_found_in_the_bytes_as_in_the_text() {
        for t in [
            "a\u{17F}b",
            "\u{212A}",
            "x \u{212A}elvin",
            "caf\u{e9}",
            "\u{e9}\u{17E}",
            "plain",
            "",
        ] {
            assert_eq!(
                holds_folding_char(t.as_bytes()),
                t.contains(FOLDS_TO_ASCII),
                "{t:?}"
            );
        }
        assert!(holds_folding_char("\u{17F}".as_bytes()));
    }
    use ccpipe_otlp::Encoded;

    use crate::testing::POSITIVES;
    use crate::{Found, Scanner, BUILTIN};

    /// A small deterministic generator (xorshift64*): a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Single characters the random text is also made of: the separators,
    /// word bytes and punctuation the rules look at, and non-ASCII text,
    /// including the two characters that fold to ASCII letters.
    const CHARS: &[char] = &[
        '0', '1', '4', '9', ' ', ' ', '-', '_', '@', ':', '/', '=', '.', '"', '\'', '\n', '+', 'a',
        'k', 'K', 's', 'S', 'z', 'é', '─', '日', '\u{17F}', '\u{212A}',
    ];

    /// Random text around the pieces the rules look for: whole positive
    /// examples, their secrets and every anchor, each maybe cut short and in
    /// random case, joined by random characters; then a few characters
    /// replaced, dropped or doubled, so near misses come up as often as hits.
    fn random_text(rng: &mut Rng, pieces: &[&str]) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(6) {
            match rng.below(3) {
                0 => {
                    // the positive examples first: half the pieces
                    let p = match rng.below(2) {
                        0 => rng.pick(POSITIVES).1,
                        _ => *rng.pick(pieces),
                    };
                    let cut = match rng.below(4) {
                        0 => rng.below(p.len() + 1),
                        _ => p.len(),
                    };
                    let flip = rng.below(3) == 0;
                    for (i, c) in p.char_indices().take_while(|(i, _)| *i < cut) {
                        s.push(match flip && (rng.below(2) == 0 || i == 0) {
                            // what `(?i)` also takes for `s` and `k`
                            true if matches!(c, 's' | 'S') && rng.below(3) == 0 => '\u{17F}',
                            true if matches!(c, 'k' | 'K') && rng.below(3) == 0 => '\u{212A}',
                            true if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
                            true => c.to_ascii_lowercase(),
                            false => c,
                        });
                    }
                }
                1 => {
                    let digit_run = rng.below(20);
                    for _ in 0..digit_run {
                        s.push(char::from(b'0' + rng.below(10) as u8));
                        if rng.below(4) == 0 {
                            s.push(*rng.pick(&[' ', '-', ' ', 'x']));
                        }
                    }
                }
                _ => {
                    for _ in 0..rng.below(4) {
                        s.push(*rng.pick(CHARS));
                    }
                }
            }
        }
        for _ in 0..rng.below(3) {
            let chars: Vec<char> = s.chars().collect();
            if chars.is_empty() {
                break;
            }
            let at = rng.below(chars.len());
            let mut out: String = chars[..at].iter().collect();
            match rng.below(3) {
                0 => out.push(*rng.pick(CHARS)),
                1 => {}
                _ => out.push(chars[at]),
            }
            out.extend(&chars[at..]);
            if rng.below(2) == 0 {
                out.remove(out.char_indices().nth(at).map_or(0, |(i, _)| i));
            }
            s = out;
        }
        s
    }

    /// A match of every alternative of every pattern, written from the
    /// patterns (not from the anchors), so a literal missing from a rule's
    /// anchors shows up here.
    const BRANCHES: &[(&str, &str)] = &[
        ("private-key", "-----BEGIN PRIVATE KEY-----\nMIIE"),
        (
            "private-key",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxyz\n-----END PGP PRIVATE KEY BLOCK-----",
        ),
        ("anthropic-key", "sk-ant-admin01-AbCdEfGhIjKlMnOpQrStUv"),
        ("openai-key", "sk-svcacct-AbCdEfGhIjKlMnOpQrStUv"),
        ("openai-key", "sk-admin-AbCdEfGhIjKlMnOpQrStUv"),
        ("openai-key", "sk-proj-AbCdEfGhIjKlMnOpQrStUv"),
        ("openai-key", "sk-AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
        ("github-token", "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github-token", "gho_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github-token", "ghu_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github-token", "ghs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github-token", "ghr_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github-token", "github_pat_AbCdEfGhIjKlMnOpQrStUvWx"),
        ("gitlab-token", "glpat-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "gldt-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glrt-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glptt-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glsoat-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glcbt-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glimt-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "glft-AbCdEfGhIjKlMnOpQrSt"),
        ("gitlab-token", "gloas-AbCdEfGhIjKlMnOpQrSt"),
        ("slack-token", "xoxa-1234567890-abc"),
        ("slack-token", "xoxb-1234567890-abc"),
        ("slack-token", "xoxp-1234567890-abc"),
        ("slack-token", "xoxo-1234567890-abc"),
        ("slack-token", "xoxs-1234567890-abc"),
        ("slack-token", "xoxr-1234567890-abc"),
        ("slack-token", "xoxe-1234567890-abc"),
        ("slack-token", "xapp-1-A0123456789"),
        (
            "slack-webhook",
            "https://hooks.slack.com/workflows/T0/A0/123",
        ),
        (
            "slack-webhook",
            "https://hooks.slack.com/triggers/T0/A0/123",
        ),
        ("google-api-key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
        ("stripe-key", "sk_live_AbCdEfGhIjKlMnOp"),
        ("stripe-key", "sk_test_AbCdEfGhIjKlMnOp"),
        ("stripe-key", "rk_live_AbCdEfGhIjKlMnOp"),
        ("stripe-key", "rk_test_AbCdEfGhIjKlMnOp"),
        ("stripe-key", "whsec_AbCdEfGhIjKlMnOpQrStUvWx"),
        ("aws-access-key-id", "AKIAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ASIAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ABIAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ACCAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "AGPAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "AIDAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "AIPAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ANPAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ANVAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "AROAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "APKAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "ASCAIOSFODNN7EXAMPLE"),
        (
            "aws-secret-key",
            "AWSSECRETACCESSKEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "aws-secret-key",
            "aws_secret_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "aws-secret-key",
            "secretaccesskey='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."),
        ("url-password", "redis://u:pa55@cache"),
        ("bearer-token", "BEARER abcdef0123456789abcdef"),
        ("basic-auth", "authorization=basic dXNlcjpw"),
        ("secret-assignment", "api_key=hunter2hunter2"),
        ("secret-assignment", "api-key=hunter2hunter2"),
        ("secret-assignment", "APIKEY=hunter2hunter2"),
        ("secret-assignment", "client_secret=hunter2hunter2"),
        ("secret-assignment", "passwd=hunter2hunter2"),
        ("secret-assignment", "Password: hunter2hunter2"),
        ("secret-assignment", "pwd=hunter2hunter2"),
        ("secret-assignment", "GITHUB_TOKEN=hunter2hunter2"),
        ("secret-assignment", "access_key=hunter2hunter2"),
        ("secret-assignment", "access-key=hunter2hunter2"),
        ("secret-assignment", "accesskey=hunter2hunter2"),
        ("secret-assignment", "private_key=hunter2hunter2"),
        ("secret-assignment", "private-key=hunter2hunter2"),
        ("secret-assignment", "privatekey=hunter2hunter2"),
        ("email", "a@b.co"),
        ("credit-card", "4111-1111-1111-1111"),
    ];

    /// What the rules want after their anchors: values of keys, token bodies,
    /// URL user info, the rest of a JWT.
    const AFTER_ANCHORS: &[&str] = &[
        "=hunter2hunter2",
        ": \"q8Zt5LmP0wXr\"",
        " = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
        "-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "u:pa55@db.internal",
        "services/T000/B000/XXXXXXXX",
        "u@example.com",
        " abcdef0123456789abcdef",
        ": Basic dXNlcjpwYXNzd29yZA==",
        "hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
        " RSA PRIVATE KEY-----\nMIIE\n",
    ];

    fn pieces() -> Vec<&'static str> {
        let mut pieces: Vec<&str> = Vec::new();
        for &(_, text, secret, _) in POSITIVES {
            pieces.extend([text, secret]);
        }
        pieces.extend(BRANCHES.iter().map(|b| b.1));
        for r in BUILTIN {
            if let Anchors::Literals { literals: l, .. } = r.anchors {
                pieces.extend_from_slice(l);
            }
        }
        // context the rules need around an anchor: a value after a key name,
        // a host after user info
        pieces.extend([
            "acme-internal-x9",
            "ſkunkworks-1",
            "SKUNKWORKS-42",
            "proj-1234",
            "project-2024",
            "dev@corp",
            "=hunter2hunter2",
            ": \"q8Zt5LmP0wXr\"",
            "u@example.com",
            "://u:",
            "Bearer ",
            "4111",
        ]);
        pieces
    }

    #[test]
    fn every_match_of_a_rule_holds_its_anchor() {
        let rules: Vec<(&Rule, Regex, Prefilter)> = BUILTIN
            .iter()
            .map(|r| (r, Regex::new(r.pattern).unwrap(), Prefilter::new([r], &[])))
            .collect();
        // on the positive examples: each match alone holds the anchor
        for &(kind, text, _, _) in POSITIVES {
            let (_, regex, pre) = rules.iter().find(|(r, ..)| r.id == kind).unwrap();
            let matches: Vec<_> = regex.find_iter(text).collect();
            assert!(!matches.is_empty(), "{kind}: {text:?}");
            for m in matches {
                assert!(pre.may_match(m.as_str()), "{kind}: {:?}", m.as_str());
            }
            assert!(pre.may_match(text), "{kind}: {text:?}");
        }
        // case-insensitive patterns say so up front (see Prefilter::new)
        for r in BUILTIN {
            assert!(!r.pattern[1..].contains("(?i"), "{}", r.id);
        }
        // on a match of every alternative of every pattern
        for &(kind, text) in BRANCHES {
            let (_, regex, pre) = rules.iter().find(|(r, ..)| r.id == kind).unwrap();
            assert!(regex.is_match(text), "{kind}: {text:?} is not a match");
            assert!(pre.may_match(text), "{kind}: the prefilter missed {text:?}");
        }
        // on every anchor followed by what a rule wants after it, and on
        // random text: a rule that matches implies its prefilter does
        let mut texts = Vec::new();
        for r in BUILTIN {
            let Anchors::Literals { literals, .. } = r.anchors else {
                continue;
            };
            for a in literals {
                for after in AFTER_ANCHORS {
                    texts.extend([format!("{a}{after}"), format!("x {a}{after}")]);
                }
            }
        }
        let pieces = pieces();
        let mut rng = Rng(0x5eed_cafe_f00d_0001);
        texts.extend((0..5000).map(|_| random_text(&mut rng, &pieces)));
        let mut hits = vec![0u32; rules.len()];
        for s in texts {
            for (i, (rule, regex, pre)) in rules.iter().enumerate() {
                if regex.is_match(&s) {
                    hits[i] += 1;
                    assert!(pre.may_match(&s), "{}: the prefilter missed {s:?}", rule.id);
                }
            }
        }
        // every rule matched random text many times, so the check above ran
        for ((rule, ..), n) in rules.iter().zip(&hits) {
            assert!(*n >= 10, "{}: only {n} random matches", rule.id);
        }
    }

    /// Every string the prefilter lets through or stops gives the same result
    /// as a scan without it: same text, same counts, same kinds.
    fn assert_same(sc: &Scanner, text: &str) -> bool {
        let (mut fast, mut slow) = (text.to_owned(), text.to_owned());
        let (mut f1, mut f2) = (Found::default(), Found::default());
        let changed = sc.redact(&mut fast, &mut f1);
        assert_eq!(
            (changed, &fast, f1),
            (sc.redact_unfiltered(&mut slow, &mut f2), &slow, f2),
            "{text:?}"
        );
        let mut bytes = text.as_bytes().to_vec();
        assert_eq!(sc.redact_bytes(&mut bytes, &mut Found::default()), changed);
        assert_eq!(bytes, fast.as_bytes());
        changed
    }

    /// Blocked values with literal prefixes (in any case, with Unicode case
    /// folding, with alternatives), and one without.
    const BLOCKED: &[&str] = &[
        "(?i)acme-internal-[a-z0-9]+",
        "(?i)skunkworks-[0-9]+",
        "proj(?:ect)?-[0-9]{4}",
    ];

    fn scanners() -> Vec<Scanner> {
        let blocked: Vec<String> = BLOCKED.iter().map(|b| b.to_string()).collect();
        let unbounded = ["[a-z]+@corp".to_owned(), r"\w{3}-\d+".to_owned()];
        vec![
            Scanner::new(true, &[], &[]).unwrap().unwrap(),
            Scanner::new(true, &[], &blocked).unwrap().unwrap(),
            Scanner::new(true, &["email".into(), "credit-card".into()], &blocked)
                .unwrap()
                .unwrap(),
            Scanner::new(false, &[], &blocked).unwrap().unwrap(),
            Scanner::new(true, &[], &unbounded).unwrap().unwrap(),
        ]
    }

    #[test]
    fn blocked_values_are_prefiltered_by_the_bytes_they_need() {
        let one = |p: &str| Prefilter::new([], &[p.to_owned()]);
        let proj = one(BLOCKED[2]);
        assert!(proj.may_match("see project-2024"));
        assert!(!proj.may_match("see the pro-2024 plan"));
        // in any case, and with the long s and Kelvin sign (case variants)
        let skunk = one(BLOCKED[1]);
        for s in ["SKUNKWORKS-42", "\u{17F}kunkworks-1", "s\u{212A}unkworks-1"] {
            assert!(skunk.may_match(s), "{s}");
        }
        assert!(!skunk.may_match("monkey business 42"));
        let corp = one("[a-z]+@corp");
        assert!(corp.may_match("dev@corp"));
        // upper-case letters of a case-sensitive pattern count as such
        assert!(!one("ACME-[0-9]+").may_match("acme-1"));
        assert!(one("(?i)ACME-[0-9]+").may_match("acme-1"));
        assert!(one("(?i)[a-z]+@corp").may_match("dev@CORP"));
        assert!(!corp.may_match("dev@example.com"));
        // nothing every match holds: every string goes to the regex
        assert!(one(r"\w+").may_match("none"));
        assert!(one("a|b").may_match("none"));
        assert!(!one("ab|ba").may_match("none"));
    }

    #[test]
    fn the_fast_path_masks_exactly_what_the_slow_path_masks_on_random_text() {
        let pieces = pieces();
        let scanners = scanners();
        let mut rng = Rng(0x5eed_cafe_f00d_0002);
        let mut changed = 0;
        for _ in 0..3000 {
            let s = random_text(&mut rng, &pieces);
            for sc in &scanners {
                changed += usize::from(assert_same(sc, &s));
            }
        }
        assert!(changed > 1000, "only {changed} random texts had a secret");
    }

    /// Every string of every capture variant (protobuf bodies), as it is and
    /// with a secret planted at a random place.
    #[test]
    fn the_fast_path_masks_exactly_what_the_slow_path_masks_on_the_captures() {
        let mut strings = Vec::new();
        for (signal, bytes) in ccpipe_otlp::testing::capture_bins() {
            let batch = Encoded::new(signal, bytes.into())
                .unwrap()
                .decode()
                .unwrap();
            let seen = std::cell::RefCell::new(Vec::new());
            crate::batch::any_scanned(&batch, |s| {
                seen.borrow_mut().push(s.to_owned());
                false
            });
            strings.extend(seen.into_inner());
        }
        strings.sort();
        strings.dedup();
        // The values the scan covers (keys are never scanned).
        assert!(strings.len() > 300, "{} strings", strings.len());
        let scanners = scanners();
        let mut rng = Rng(0x5eed_cafe_f00d_0003);
        for s in &strings {
            for sc in &scanners {
                assert_same(sc, s);
            }
            let places: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
            let at = *rng.pick(&places);
            let &(kind, text, secret, _) = rng.pick(POSITIVES);
            let planted = format!("{}\n{text}\n{}", &s[..at], &s[at..]);
            for sc in &scanners[..2] {
                assert!(assert_same(sc, &planted), "{kind}: {planted:?}");
                let mut out = planted.clone();
                sc.redact(&mut out, &mut Found::default());
                assert!(!out.contains(secret), "{kind}: {out:?}");
            }
        }
    }

    #[test]
    fn only_long_s_and_kelvin_fold_to_ascii_letters() {
        let all: String = (0x80..=0x10FFFF).filter_map(char::from_u32).collect();
        let folded: Vec<char> = Regex::new("(?i)[a-z]")
            .unwrap()
            .find_iter(&all)
            .flat_map(|m| m.as_str().chars())
            .collect();
        assert_eq!(folded, FOLDS_TO_ASCII);
    }

    #[test]
    fn card_digits_need_13_digits_at_a_word_boundary() {
        for s in [
            "4111111111111111",
            "x 4111 1111 1111 1",
            "a-4111-1111-1111-1",
            "é4111111111111",
        ] {
            assert!(card_digits(s.as_bytes()), "{s}");
        }
        for s in [
            "411111111111",
            "a4111111111111111",
            "4111  1111 1111 1111",
            "4111--1111-1111-111",
            "_4111111111111",
        ] {
            assert!(!card_digits(s.as_bytes()), "{s}");
        }
    }
}
