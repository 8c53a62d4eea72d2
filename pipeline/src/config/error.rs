//! Config errors. Each problem names where it came from (file and line, or
//! environment variable) and the key path; a [`ConfigError`] shows one problem
//! per line so a user can fix them all in one go.

use std::fmt;

/// One or more problems with the configuration.
#[derive(Debug, thiserror::Error)]
#[error("{}", Lines(.problems))]
pub struct ConfigError {
    problems: Vec<Problem>,
}

/// One problem: `origin:line[:column]: key.path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// A file name, "<built-in default>", "environment variable X", or "".
    pub origin: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted key path, "" when the problem is about a whole file.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    /// An error with no location, for problems that no single key explains.
    pub fn new(message: impl fmt::Display) -> Self {
        ConfigError::one(Problem {
            origin: String::new(),
            line: None,
            column: None,
            path: String::new(),
            message: message.to_string(),
        })
    }

    /// Combines errors, e.g. from validating every component, into one; `Ok`
    /// when there are none.
    pub fn join(errors: impl IntoIterator<Item = ConfigError>) -> Result<(), ConfigError> {
        ConfigError::check(errors.into_iter().flat_map(|e| e.problems).collect())
    }

    /// `Ok` when there are no problems.
    pub(crate) fn check(problems: Vec<Problem>) -> Result<(), ConfigError> {
        match problems.is_empty() {
            true => Ok(()),
            false => Err(ConfigError { problems }),
        }
    }

    pub(crate) fn many(problems: Vec<Problem>) -> ConfigError {
        debug_assert!(!problems.is_empty());
        ConfigError { problems }
    }

    pub(crate) fn one(problem: Problem) -> ConfigError {
        ConfigError {
            problems: vec![problem],
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if !self.origin.is_empty() {
            f.write_str(&self.origin)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(col) = self.column {
                    write!(f, ":{col}")?;
                }
            }
            sep = ": ";
        }
        if !self.path.is_empty() {
            write!(f, "{sep}{}", self.path)?;
            sep = ": ";
        }
        write!(f, "{sep}{}", self.message)
    }
}

struct Lines<'a>(&'a [Problem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A figment deserialization error in serde's usual wording (figment's own
/// Display says "unsigned int" and "found `x`, expected `one of ...`").
pub(crate) fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::Message(m) => m.clone(),
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: {}, expected {expected}", Actual(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: {}, expected {expected}", Actual(actual))
        }
        Kind::InvalidLength(len, expected) => format!("invalid length {len}, expected {expected}"),
        Kind::UnknownVariant(v, expected) => match expected.is_empty() {
            true => format!("unknown variant `{v}`, there are no variants"),
            false => format!("unknown variant `{v}`, expected {}", OneOf(expected)),
        },
        Kind::UnknownField(v, expected) => match expected.is_empty() {
            true => format!("unknown field `{v}`, there are no fields"),
            false => format!("unknown field `{v}`, expected {}", OneOf(expected)),
        },
        Kind::MissingField(f) => format!("missing field `{f}`"),
        Kind::DuplicateField(f) => format!("duplicate field `{f}`"),
        other => other.to_string(),
    }
}

struct Actual<'a>(&'a figment::error::Actual);

impl fmt::Display for Actual<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use figment::error::Actual as A;
        match self.0 {
            A::Bool(b) => write!(f, "boolean `{b}`"),
            A::Unsigned(n) => write!(f, "integer `{n}`"),
            A::Signed(n) => write!(f, "integer `{n}`"),
            A::Float(n) => write!(f, "floating point `{n}`"),
            A::Str(s) => write!(f, "string {s:?}"),
            A::Unit | A::Option => f.write_str("null"),
            other => write!(f, "{other}"),
        }
    }
}

/// serde's list of expected names: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
struct OneOf<'a>(&'a [&'a str]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [a] => write!(f, "`{a}`"),
            [a, b] => write!(f, "`{a}` or `{b}`"),
            names => {
                f.write_str("one of ")?;
                for (i, n) in names.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{n}`")?;
                }
                Ok(())
            }
        }
    }
}
