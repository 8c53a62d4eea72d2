//! ccpipe's secret scanner, shared by the `redaction` processor and the
//! `sqlite` exporter: built-in rules for the credentials people paste into
//! prompts or that tools read from files, plus the user's `blocked_values`,
//! run as one combined matcher. [`batch`] applies it to every string of a
//! decoded batch.
//!
//! A [`prefilter`] first rules out most strings without running a regex (a
//! string lacking the bytes of every rule's anchors cannot match); the rest
//! are checked once against a [`RegexSet`] of every rule (one pass of one
//! automaton); only when that finds something are the matching rules run one
//! by one to replace their matches with `<redacted:KIND>`. Strings
//! without a secret are neither copied nor changed. Patterns use ASCII word
//! boundaries (`(?-u:\b)`) so the fast DFA engines stay usable on non-ASCII text.
//!
//! The regexes are compiled when a string first passes the prefilter, and
//! one compiled scanner serves every component built with the same rules
//! (`Scanner` is a shared handle): compiled, the built-in rules take ~1 MB
//! of heap, which an idle process (and each pipeline of a config) used to
//! hold from start-up (issue 14).

use std::sync::{Arc, Mutex, OnceLock, Weak};

use regex::{Captures, Regex, RegexSet};

pub mod batch;
mod prefilter;

use prefilter::Prefilter;

/// A `blocked_values` entry that cannot be used: the config key under the
/// scanner's settings (`blocked_values.2`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A user's regex that does not compile, in one line
/// (`invalid regex "(": unclosed group`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regex {pattern:?}: {why}")]
pub struct RegexError {
    pattern: String,
    why: String,
}

/// Compiles a user's regex.
pub fn compile_regex(pattern: &str) -> Result<Regex, RegexError> {
    Regex::new(pattern).map_err(|e| {
        let why = match &e {
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text)
                .to_owned(),
            other => other.to_string(),
        };
        RegexError {
            pattern: pattern.to_owned(),
            why,
        }
    })
}

/// A built-in rule: an id (the KIND in `<redacted:KIND>`), a pattern, an
/// optional check of each match that weeds out look-alikes (Luhn for cards),
/// and what every match contains, for the prefilter.
/// A pattern may keep context around the secret with the named groups
/// `keep` (before) and `after` (after), e.g. `Bearer <redacted:bearer-token>`.
pub struct Rule {
    pub id: &'static str,
    pub pattern: &'static str,
    pub check: Option<fn(&str) -> bool>,
    pub anchors: Anchors,
}

/// What any match of a rule contains; a string without it is not run through
/// the rule's regex ([`prefilter`]). Keep it in step with the pattern: the
/// tests check it on a match of every alternative and on random text.
pub enum Anchors {
    /// At least one of `literals` (compared ASCII case-insensitively) and,
    /// unless empty, one of the bytes `and_one_of` (`:` or `=` after a key
    /// name, say).
    Literals {
        literals: &'static [&'static str],
        and_one_of: &'static [u8],
    },
    /// 13 digits at a word boundary, at most one space or dash apart.
    CardDigits,
}

/// The built-in rules, in the order they are applied: a string that matches
/// two rules is masked by the first (the more specific one).
pub const BUILTIN: &[Rule] = &[
    Rule {
        id: "private-key",
        pattern: r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\z)",
        check: None,
        anchors: Anchors::Literals {
            literals: &["-----BEGIN"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "anthropic-key",
        pattern: r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}",
        check: None,
        anchors: Anchors::Literals {
            literals: &["sk-ant-"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "openai-key",
        pattern: r"(?-u:\b)sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|(?-u:\b)sk-[A-Za-z0-9]{32,}(?-u:\b)",
        check: None,
        anchors: Anchors::Literals {
            literals: &["sk-"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "github-token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        check: None,
        anchors: Anchors::Literals {
            literals: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "gitlab-token",
        pattern: r"(?-u:\b)gl(?:pat|dt|rt|ptt|soat|cbt|imt|ft|oas)-[A-Za-z0-9_-]{20,}",
        check: None,
        anchors: Anchors::Literals {
            literals: &[
                "glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glcbt-", "glimt-", "glft-",
                "gloas-",
            ],
            and_one_of: b"",
        },
    },
    Rule {
        id: "slack-token",
        pattern: r"(?-u:\b)(?:xox[abposre]|xapp-[0-9])-[A-Za-z0-9-]{10,}",
        check: None,
        anchors: Anchors::Literals {
            literals: &[
                "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-", "xapp-",
            ],
            and_one_of: b"",
        },
    },
    Rule {
        id: "slack-webhook",
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{8,}",
        check: None,
        anchors: Anchors::Literals {
            literals: &["https://hooks.slack.com/"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "google-api-key",
        pattern: r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
        check: None,
        anchors: Anchors::Literals {
            literals: &["AIza"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "stripe-key",
        pattern: r"(?-u:\b)(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})",
        check: None,
        anchors: Anchors::Literals {
            literals: &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "aws-access-key-id",
        pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?-u:\b)",
        check: None,
        anchors: Anchors::Literals {
            literals: &[
                "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA",
                "APKA", "ASCA",
            ],
            and_one_of: b"",
        },
    },
    Rule {
        id: "aws-secret-key",
        pattern: r#"(?i)(?P<keep>(?:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?\s*[:=]\s*["']?)[A-Za-z0-9/+]{40}"#,
        check: None,
        anchors: Anchors::Literals {
            literals: &["secret"],
            and_one_of: b":=",
        },
    },
    Rule {
        id: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        check: None,
        anchors: Anchors::Literals {
            literals: &["eyJ"],
            and_one_of: b".",
        },
    },
    Rule {
        id: "url-password",
        pattern: r#"(?P<keep>(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'<>]+:)[^\s/@"'<>]+(?P<after>@)"#,
        check: None,
        anchors: Anchors::Literals {
            literals: &["://"],
            and_one_of: b"@",
        },
    },
    Rule {
        id: "bearer-token",
        pattern: r"(?i)(?P<keep>(?-u:\b)bearer\s+)[A-Za-z0-9._~+/=-]{16,}",
        check: None,
        anchors: Anchors::Literals {
            literals: &["bearer"],
            and_one_of: b"",
        },
    },
    Rule {
        id: "basic-auth",
        pattern: r#"(?i)(?P<keep>(?-u:\b)authorization["']?\s*[:=]\s*["']?basic\s+)[A-Za-z0-9+/]{4,}={0,2}"#,
        check: None,
        anchors: Anchors::Literals {
            literals: &["authorization"],
            and_one_of: b":=",
        },
    },
    Rule {
        id: "secret-assignment",
        pattern: r#"(?i)(?P<keep>(?:api[_-]?key|secret|passwd|password|pwd|token|access[_-]?key|private[_-]?key)["']?\s*[:=]\s*["']?)[^\s"',;<>`]{8,}"#,
        check: None,
        anchors: Anchors::Literals {
            literals: &[
                "api_key",
                "api-key",
                "apikey",
                "secret",
                "passwd",
                "password",
                "pwd",
                "token",
                "access_key",
                "access-key",
                "accesskey",
                "private_key",
                "private-key",
                "privatekey",
            ],
            and_one_of: b":=",
        },
    },
    Rule {
        id: "email",
        // The optional leading `//` lets the check skip URL user info
        // (`postgres://app@db.internal`), which only looks like an address.
        pattern: r"(?://)?(?-u:\b)[A-Za-z0-9._%+_-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?-u:\b)",
        check: Some(is_email),
        anchors: Anchors::Literals {
            literals: &["@"],
            and_one_of: b".",
        },
    },
    Rule {
        id: "credit-card",
        pattern: r"(?-u:\b)(?:[0-9][ -]?){12,18}[0-9](?-u:\b)",
        check: Some(is_card_number),
        anchors: Anchors::CardDigits,
    },
];

/// The kind used for matches of `blocked_values`.
pub const BLOCKED_VALUE: &str = "blocked-value";

/// Not an address: URL user info (`//app@db.internal`, see the pattern) and
/// ssh remotes (`git@github.com:org/repo`).
fn is_email(m: &str) -> bool {
    !(m.starts_with("//") || m.starts_with("git@"))
}

/// 13 to 19 digits with a card brand's prefix and a valid Luhn check digit.
fn is_card_number(m: &str) -> bool {
    let digits: Vec<u8> = m
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let n = digits.len();
    let prefix = |len: usize| {
        digits[..len]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let brand = match digits[0] {
        4 => matches!(n, 13 | 16 | 19),                     // Visa
        5 => (51..=55).contains(&prefix(2)) && n == 16,     // Mastercard
        2 => (2221..=2720).contains(&prefix(4)) && n == 16, // Mastercard
        3 => match prefix(2) {
            34 | 37 => n == 15,           // Amex
            35 => n >= 16,                // JCB
            30 | 36 | 38 | 39 => n >= 14, // Diners
            _ => false,
        },
        6 => n >= 16, // Discover, UnionPay
        _ => false,
    };
    brand && luhn(&digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The shortest text any built-in rule can match (`a@b.co`); shorter strings
/// are not scanned unless there are `blocked_values`.
const MIN_BUILTIN_LEN: usize = 6;

/// One rule, compiled on first use.
struct EnabledRule {
    kind: usize,
    pattern: String,
    regex: OnceLock<Regex>,
    check: Option<fn(&str) -> bool>,
}

impl EnabledRule {
    fn regex(&self) -> &Regex {
        // Every pattern compiled once in `Scanner::new` (built-in ones in
        // a test), so this cannot fail.
        self.regex
            .get_or_init(|| Regex::new(&self.pattern).expect("checked in Scanner::new"))
    }
}

/// What a scan found in one record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Secrets masked.
    pub count: u32,
    /// Bit i set: kind i of [`Scanner::kind`] was found.
    pub kinds: u64,
}

/// All enabled rules: a handle, cheap to clone, onto rules shared by every
/// scanner built with the same settings while one of them lives.
#[derive(Clone)]
pub struct Scanner {
    rules: Arc<Rules>,
}

struct Rules {
    /// The ids of the enabled built-in rules and the blocked values: what
    /// makes two scanners the same.
    key: (Vec<&'static str>, Vec<String>),
    /// Every enabled rule, built-in and blocked values: which ones match.
    set: OnceLock<RegexSet>,
    /// Rules out every rule for most strings without running a regex.
    prefilter: Prefilter,
    rules: Vec<EnabledRule>,
    kinds: Vec<&'static str>,
    markers: Vec<String>,
    min_len: usize,
}

impl Rules {
    fn set(&self) -> &RegexSet {
        self.set.get_or_init(|| {
            RegexSet::new(self.rules.iter().map(|r| &r.pattern)).expect("checked in Scanner::new")
        })
    }
}

/// The rules of the scanners alive now, to share them.
static LIVE: Mutex<Vec<Weak<Rules>>> = Mutex::new(Vec::new());

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("kinds", &self.rules.kinds)
            .finish()
    }
}

impl Scanner {
    /// The ids of the built-in rules, for messages.
    pub fn builtin_ids() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|r| r.id)
    }

    /// The built-in rules (unless `builtin` is false), minus `disabled`,
    /// plus `blocked_values`. `None` when nothing is left to scan.
    /// `disabled` must hold known ids (checked by the caller's config).
    /// Checks every pattern; compiles them for use only when needed.
    pub fn new(
        builtin: bool,
        disabled: &[String],
        blocked_values: &[String],
    ) -> Result<Option<Scanner>, Invalid> {
        let enabled = || {
            BUILTIN
                .iter()
                .filter(|r| builtin && !disabled.iter().any(|d| d == r.id))
        };
        let key = (
            enabled().map(|r| r.id).collect::<Vec<_>>(),
            blocked_values.to_vec(),
        );
        if key.0.is_empty() && key.1.is_empty() {
            return Ok(None);
        }
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|w| w.strong_count() > 0);
        if let Some(rules) = live.iter().filter_map(Weak::upgrade).find(|r| r.key == key) {
            return Ok(Some(Scanner { rules }));
        }
        let mut rules = Vec::new();
        let mut kinds = Vec::new();
        for r in enabled() {
            kinds.push(r.id);
            rules.push(EnabledRule {
                kind: kinds.len() - 1,
                pattern: r.pattern.to_owned(),
                regex: OnceLock::new(),
                check: r.check,
            });
        }
        if !blocked_values.is_empty() {
            kinds.push(BLOCKED_VALUE);
            for (i, p) in blocked_values.iter().enumerate() {
                let regex = compile_regex(p)
                    .map_err(|e| Invalid::new(format!("blocked_values.{i}"), e.to_string()))?;
                if regex.is_match("") {
                    return Err(Invalid::new(
                        format!("blocked_values.{i}"),
                        format!("{p:?} matches the empty string, so it would mask everything"),
                    ));
                }
                rules.push(EnabledRule {
                    kind: kinds.len() - 1,
                    pattern: p.clone(),
                    regex: OnceLock::new(),
                    check: None,
                });
            }
            // Together they may exceed the regex crate's size limit, which
            // must show now, not on the first string scanned. The built-in
            // rules alone compile (a test).
            RegexSet::new(rules.iter().map(|r| &r.pattern))
                .map_err(|e| Invalid::new("blocked_values", e.to_string()))?;
        }
        let rules = Arc::new(Rules {
            set: OnceLock::new(),
            prefilter: Prefilter::new(enabled(), blocked_values),
            rules,
            markers: kinds.iter().map(|k| format!("<redacted:{k}>")).collect(),
            kinds,
            min_len: if blocked_values.is_empty() {
                MIN_BUILTIN_LEN
            } else {
                1
            },
            key,
        });
        live.push(Arc::downgrade(&rules));
        Ok(Some(Scanner { rules }))
    }

    /// The name of kind `i` (a bit of [`Found::kinds`]).
    pub fn kind(&self, i: usize) -> &'static str {
        self.rules.kinds[i]
    }

    pub fn kind_count(&self) -> usize {
        self.rules.kinds.len()
    }

    /// Whether some rule matches in `s` (no allocation). The prefilter rules
    /// out every rule for most strings without running a regex.
    pub fn may_match(&self, s: &str) -> bool {
        let r = &self.rules;
        s.len() >= r.min_len && r.prefilter.may_match(s) && r.set().is_match(s)
    }

    /// [`Scanner::may_match`] of bytes that should be UTF-8 (a protobuf
    /// string the wire scan checked): most are ruled out by the prefilter
    /// before they need to be a `&str`. `None`: they were looked at and
    /// are not UTF-8.
    pub fn may_match_utf8(&self, b: &[u8]) -> Option<bool> {
        let r = &self.rules;
        if b.len() < r.min_len || !r.prefilter.may_match(b) {
            return Some(false);
        }
        std::str::from_utf8(b).ok().map(|s| r.set().is_match(s))
    }

    /// [`Scanner::may_match`] without the prefilter: the reference the fast
    /// path is tested against.
    #[cfg(test)]
    fn may_match_unfiltered(&self, s: &str) -> bool {
        s.len() >= self.rules.min_len && self.rules.set().is_match(s)
    }

    /// Masks every secret in `s` in place; true if anything was masked.
    pub fn redact(&self, s: &mut String, found: &mut Found) -> bool {
        self.may_match(s) && self.mask(s, found)
    }

    /// [`Scanner::redact`] without the prefilter.
    #[cfg(test)]
    fn redact_unfiltered(&self, s: &mut String, found: &mut Found) -> bool {
        self.may_match_unfiltered(s) && self.mask(s, found)
    }

    /// Runs the rules that match in `s` one by one, each on the text the one
    /// before left.
    fn mask(&self, s: &mut String, found: &mut Found) -> bool {
        let hits = self.rules.set().matches(s);
        let mut text = std::mem::take(s);
        let mut any = false;
        for i in hits.iter() {
            let rule = &self.rules.rules[i];
            let marker = &self.rules.markers[rule.kind];
            let mut n = 0u32;
            let replaced = rule.regex().replace_all(&text, |caps: &Captures| {
                let whole = &caps[0];
                if rule.check.is_some_and(|check| !check(whole)) {
                    return whole.to_owned();
                }
                n += 1;
                let keep = caps.name("keep").map_or("", |m| m.as_str());
                let after = caps.name("after").map_or("", |m| m.as_str());
                format!("{keep}{marker}{after}")
            });
            let replaced = match replaced {
                std::borrow::Cow::Owned(o) if n > 0 => Some(o),
                _ => None,
            };
            if let Some(o) = replaced {
                text = o;
                found.count += n;
                found.kinds |= 1 << rule.kind;
                any = true;
            }
        }
        *s = text;
        any
    }

    /// Masks secrets in a bytes value that holds UTF-8 text.
    pub fn redact_bytes(&self, b: &mut Vec<u8>, found: &mut Found) -> bool {
        let Ok(text) = std::str::from_utf8(b) else {
            return false;
        };
        if !self.may_match(text) {
            return false;
        }
        let mut s = text.to_owned();
        if self.mask(&mut s, found) {
            *b = s.into_bytes();
            true
        } else {
            false
        }
    }
}

/// Test data shared with other crates' tests. Not part of the API.
#[doc(hidden)]
pub mod testing {
    /// Planted secrets: (kind, text containing it, the secret itself, expected output).
    pub const POSITIVES: &[(&str, &str, &str, &str)] = &[
        (
            "private-key",
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Qk\n-----END RSA PRIVATE KEY-----\nrest",
            "MIIEowIBAAKCAQEAx7Qk",
            "key:\n<redacted:private-key>\nrest",
        ),
        (
            "private-key",
            "{\"content\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n",
            "b3BlbnNzaC1rZXktdjEAAAAA",
            "{\"content\":\"<redacted:private-key>",
        ),
        (
            "anthropic-key",
            "export ANTHROPIC_API_KEY=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz",
            "export ANTHROPIC_API_KEY=<redacted:anthropic-key>",
        ),
        (
            "openai-key",
            "key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56 here",
            "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56",
            "key <redacted:openai-key> here",
        ),
        (
            "openai-key",
            "sk-AbCdEfGhIjKlMnOpQrStT3BlbkFJUvWxYz0123456789",
            "sk-AbCdEfGhIjKlMnOpQrStT3BlbkFJUvWxYz0123456789",
            "<redacted:openai-key>",
        ),
        (
            "github-token",
            "git clone https://ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789@github.com/o/r",
            "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "git clone https://<redacted:github-token>@github.com/o/r",
        ),
        (
            "github-token",
            "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "GH=<redacted:github-token>",
        ),
        (
            "gitlab-token",
            "glpat-AbCdEfGhIjKlMnOpQrSt",
            "glpat-AbCdEfGhIjKlMnOpQrSt",
            "<redacted:gitlab-token>",
        ),
        (
            "slack-token",
            "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
            "SLACK=<redacted:slack-token>",
        ),
        (
            "slack-webhook",
            "post to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX now",
            "hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
            "post to <redacted:slack-webhook> now",
        ),
        (
            "google-api-key",
            "key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "key=<redacted:google-api-key>",
        ),
        (
            "stripe-key",
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "stripe <redacted:stripe-key>",
        ),
        (
            "aws-access-key-id",
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLE",
            "aws_access_key_id = <redacted:aws-access-key-id>",
        ),
        (
            "aws-secret-key",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = <redacted:aws-secret-key>",
        ),
        (
            "aws-secret-key",
            "{\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "{\"SecretAccessKey\": \"<redacted:aws-secret-key>\"}",
        ),
        (
            "jwt",
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "token <redacted:jwt>",
        ),
        (
            "url-password",
            "DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal:5432/app",
            "s3cr3t-Pa55",
            "DATABASE_URL=postgres://app:<redacted:url-password>@db.internal:5432/app",
        ),
        (
            "bearer-token",
            "curl -H 'Authorization: Bearer abcdef0123456789abcdef0123456789' https://api",
            "abcdef0123456789abcdef0123456789",
            "curl -H 'Authorization: Bearer <redacted:bearer-token>' https://api",
        ),
        (
            "basic-auth",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA==",
            "Authorization: Basic <redacted:basic-auth>",
        ),
        (
            "secret-assignment",
            "DB_PASSWORD=hunter2hunter2\nAPI_KEY: \"q8Zt5LmP0wXr\"",
            "hunter2hunter2",
            "DB_PASSWORD=<redacted:secret-assignment>\nAPI_KEY: \"<redacted:secret-assignment>\"",
        ),
        (
            "email",
            "mail alice.smith+ops@example.co.uk today",
            "alice.smith+ops@example.co.uk",
            "mail <redacted:email> today",
        ),
        (
            "credit-card",
            "card 4111 1111 1111 1111 exp 12/30",
            "4111 1111 1111 1111",
            "card <redacted:credit-card> exp 12/30",
        ),
        (
            "credit-card",
            "amex 378282246310005.",
            "378282246310005",
            "amex <redacted:credit-card>.",
        ),
    ];
}

#[cfg(test)]
mod tests {
    use super::testing::POSITIVES;
    use super::*;

    /// Realistic text that must come out unchanged.
    const NEGATIVES: &[&str] = &[
        // code
        "fn main() { let token_count = tokens.len(); println!(\"{}\", token_count); }",
        "const password = await getPassword(user);",
        "if (apiKey) { return apiKey; }",
        "risk-assessment-framework-version-two-final",
        "task-list-item-component-rendering-benchmark",
        "import sklearn.model_selection; sk-learn is not a key",
        "the bearer token is sent in the header",
        "Basic authentication is configured in settings.py",
        "@decorator\ndef f(self): pass  # npm i @scope/pkg@1.2.3",
        // identifiers, hashes, blobs
        "48195fed-c891-46d9-bd16-3279b9b9f0f5",
        "c1a0de0000000000000000000000000000000000000000000000000000c0ffee",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "aGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgc2VjcmV0IGF0IGFsbA==",
        "toolu_fake00000108a3948c req_fake000003e08e8590",
        // numbers that are not cards
        "1795303682353000000",
        "order 4111111111111112 failed Luhn",
        "call +1 415 555 0100",
        // urls and remotes
        "git@github.com:example/harness.git",
        "https://github.com/example/harness/pull/1",
        "http://localhost:8080/v1/logs?x=1",
        "postgres://app@db.internal:5432/app",
        // Claude Code values
        "claude-opus-5-5",
        "2026-11-21T23:28:01.699Z",
        "<REDACTED>",
        "{\"oldStart\":1,\"oldLines\":2,\"newStart\":1,\"newLines\":3}",
        "max_tokens: 8192",
        "secret: false",
    ];

    fn scanner() -> Scanner {
        Scanner::new(true, &[], &[]).unwrap().unwrap()
    }

    #[test]
    fn may_match_on_bytes_answers_as_on_text() {
        let sc = scanner();
        // Characters that case-fold to ASCII letters (ſ to s, K to k)
        // reach the case-insensitive regexes.
        let folded = POSITIVES.iter().flat_map(|p| {
            [
                p.1.replace(['k', 'K'], "\u{212A}"),
                p.1.replace(['s', 'S'], "\u{17F}"),
            ]
        });
        let texts = POSITIVES
            .iter()
            .map(|p| p.1.to_owned())
            .chain(NEGATIVES.iter().map(|n| n.to_string()))
            .chain(folded)
            .chain(["".into(), "\u{e9}t\u{e9}".into()]);
        let mut folded_hits = 0;
        for t in texts {
            let want = sc.may_match_unfiltered(&t);
            assert_eq!(sc.may_match_utf8(t.as_bytes()), Some(want), "{t:?}");
            folded_hits += usize::from(want && !t.is_ascii());
        }
        assert!(
            folded_hits > 0,
            "no folded text matched: the test would not see a miss"
        );
        // Bytes that are not UTF-8 never match; when looked at, they say so.
        assert_eq!(
            sc.may_match_utf8(b"\xff"),
            Some(false),
            "too short to look at"
        );
        let hit = POSITIVES[0].1.as_bytes();
        let mut bad = hit.to_vec();
        bad.push(0xff);
        assert_eq!(sc.may_match_utf8(&bad), None);
    }

    #[test]
    fn regex_errors_are_one_line() {
        assert_eq!(
            compile_regex("a(b").unwrap_err().to_string(),
            "invalid regex \"a(b\": unclosed group"
        );
        assert!(compile_regex("^ok$").is_ok());
    }

    #[test]
    fn unusable_blocked_values_name_their_key() {
        let e = Scanner::new(false, &[], &["ok".into(), "(".into()]).unwrap_err();
        assert_eq!(e.key, "blocked_values.1");
        let e = Scanner::new(false, &[], &["a*".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocked_values.0: \"a*\" matches the empty string, so it would mask everything"
        );
    }

    #[test]
    fn every_rule_has_a_positive() {
        for r in BUILTIN {
            assert!(
                POSITIVES.iter().any(|p| p.0 == r.id),
                "no positive example for {}",
                r.id
            );
        }
    }

    #[test]
    fn positives_are_masked_with_their_kind() {
        let sc = scanner();
        for &(kind, text, secret, want) in POSITIVES {
            let mut s = text.to_owned();
            let mut found = Found::default();
            assert!(
                sc.redact(&mut s, &mut found),
                "{kind}: not found in {text:?}"
            );
            assert_eq!(s, want, "{kind}");
            assert!(!s.contains(secret), "{kind}: secret survived in {s:?}");
            let kinds: Vec<_> = (0..sc.kind_count())
                .filter(|i| found.kinds & (1 << i) != 0)
                .map(|i| sc.kind(i))
                .collect();
            assert_eq!(kinds, vec![kind], "{text:?}");
        }
    }

    #[test]
    fn negatives_are_untouched() {
        let sc = scanner();
        for &text in NEGATIVES {
            let mut s = text.to_owned();
            let mut found = Found::default();
            let changed = sc.redact(&mut s, &mut found);
            assert_eq!((changed, s.as_str()), (false, text), "false positive");
            assert_eq!(found, Found::default());
        }
    }

    #[test]
    fn disabled_rules_and_blocked_values() {
        let sc = Scanner::new(
            true,
            &["email".into()],
            &["(?i)acme-internal-[a-z0-9]+".into()],
        )
        .unwrap()
        .unwrap();
        let mut s = "bob@example.com on ACME-INTERNAL-x9 and acme-internal-prod".to_owned();
        let mut found = Found::default();
        assert!(sc.redact(&mut s, &mut found));
        assert_eq!(
            s,
            "bob@example.com on <redacted:blocked-value> and <redacted:blocked-value>"
        );
        assert_eq!(found.count, 2);
        assert!(Scanner::new(false, &[], &[]).unwrap().is_none());
        // without built-in rules only the blocked values are masked
        let only_blocked = Scanner::new(false, &[], &["acme-[0-9]+".into()])
            .unwrap()
            .unwrap();
        let mut s = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 acme-42".to_owned();
        assert!(only_blocked.redact(&mut s, &mut Found::default()));
        assert_eq!(
            s,
            "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 <redacted:blocked-value>"
        );
        assert_eq!(
            Scanner::new(false, &[], &["a*".into()])
                .unwrap_err()
                .to_string(),
            "blocked_values.0: \"a*\" matches the empty string, so it would mask everything"
        );
    }

    #[test]
    fn builtin_patterns_compile_alone_and_together() {
        // What `EnabledRule::regex` and `Rules::set` rely on when they
        // compile the built-in rules on first use.
        for r in BUILTIN {
            assert!(Regex::new(r.pattern).is_ok(), "{}", r.id);
        }
        assert!(RegexSet::new(BUILTIN.iter().map(|r| r.pattern)).is_ok());
    }

    #[test]
    fn regexes_are_compiled_when_a_string_first_needs_them() {
        // Rules of this test's own (no other test's scanner shares them).
        let sc = Scanner::new(true, &["jwt".into()], &["lazy-[0-9]+".into()])
            .unwrap()
            .unwrap();
        let compiled = |sc: &Scanner| {
            sc.rules
                .rules
                .iter()
                .filter(|r| r.regex.get().is_some())
                .count()
        };
        assert!(sc.rules.set.get().is_none());
        // ruled out by the prefilter: still nothing compiled
        assert!(!sc.may_match("ok"));
        assert!(sc.rules.set.get().is_none());
        let mut s = "text with lazy-42 in it".to_owned();
        assert!(sc.redact(&mut s, &mut Found::default()));
        assert_eq!(s, "text with <redacted:blocked-value> in it");
        assert!(sc.rules.set.get().is_some());
        // only the rule that matched was compiled on its own
        assert_eq!(compiled(&sc), 1);
    }

    #[test]
    fn scanners_with_the_same_rules_share_them() {
        let rules = ["share-[0-9]+".to_owned()];
        let a = Scanner::new(true, &[], &rules).unwrap().unwrap();
        let b = Scanner::new(true, &[], &rules).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a.rules, &b.rules));
        let other = Scanner::new(true, &["email".into()], &rules)
            .unwrap()
            .unwrap();
        assert!(!Arc::ptr_eq(&a.rules, &other.rules));
        // once every handle is gone, the rules are freed and not reused
        let weak = Arc::downgrade(&a.rules);
        drop((a, b));
        assert_eq!(weak.strong_count(), 0);
        let c = Scanner::new(true, &[], &rules).unwrap().unwrap();
        assert_eq!(c.kind_count(), BUILTIN.len() + 1);
    }

    #[test]
    fn bytes_holding_text_are_scanned() {
        let sc = scanner();
        let mut b = b"token AKIAIOSFODNN7EXAMPLE".to_vec();
        assert!(sc.redact_bytes(&mut b, &mut Found::default()));
        assert_eq!(b, b"token <redacted:aws-access-key-id>");
        let mut bin = vec![0xff, 0xfe, b'A', b'K'];
        assert!(!sc.redact_bytes(&mut bin, &mut Found::default()));
    }

    #[test]
    fn luhn_and_brands() {
        assert!(is_card_number("4111111111111111"));
        assert!(is_card_number("5555-5555-5555-4444"));
        assert!(is_card_number("378282246310005"));
        assert!(is_card_number("6011111111111117"));
        assert!(!is_card_number("4111111111111112"));
        assert!(!is_card_number("1234567812345670")); // Luhn-valid, no brand
    }
}
