//! `${env:VAR}` expansion, as the Collector does it: on string values after
//! parsing and before typing. A value that is exactly one `${…}` takes the
//! type its expansion has in YAML, so `port: ${env:PORT}` is a number.
//!
//! Forms: `${env:VAR}`, `${env:VAR:-default}`, `${VAR}`, `${VAR:-default}`,
//! and `$$` for a literal `$`. A default applies when the variable is unset
//! or empty, as in the shell. A `$` before anything else is kept as is.

use figment::value::{Empty, Num, Tag, Value};

use super::locate::KeyPath;

/// Why a `${…}` reference cannot be expanded; the loader reports it at the
/// key's file:line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error("unterminated \"${{\" in {text:?} (write \"$$\" for a literal \"$\")")]
    Unterminated { text: String },
    #[error("unsupported \"${{{body}}}\": only ${{env:VAR}} and ${{VAR}} are supported")]
    Unsupported { body: String },
    #[error("invalid environment variable name {name:?} in \"${{{body}}}\"")]
    InvalidName { name: String, body: String },
    #[error("environment variable {name:?} is not set")]
    Unset { name: String },
}

/// Reads an environment variable; tests pass a map instead.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands every string in `value`, recording one error per bad string.
pub(crate) fn expand_tree(
    value: &mut Value,
    path: &mut KeyPath,
    lookup: Lookup<'_>,
    errors: &mut Vec<(KeyPath, String)>,
) {
    match value {
        Value::String(tag, s) if s.contains('$') => {
            let tag = *tag;
            match expand_str(s, lookup) {
                Ok(text) if is_one_reference(s) => *value = retype(text, tag),
                Ok(text) => *value = Value::String(tag, text),
                Err(e) => errors.push((path.clone(), e.to_string())),
            }
        }
        Value::Dict(_, dict) => {
            for (key, v) in dict.iter_mut() {
                path.push(key.clone());
                expand_tree(v, path, lookup, errors);
                path.pop();
            }
        }
        Value::Array(_, items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                expand_tree(v, path, lookup, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Expands the references in one string.
pub(crate) fn expand_str(s: &str, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| ExpandError::Unterminated { text: s.to_owned() })?;
            out.push_str(&resolve(&after[..end], lookup)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_one_reference(s: &str) -> bool {
    s.starts_with("${") && s.find('}') == Some(s.len() - 1)
}

/// The value of one `${…}` body: `env:VAR`, `VAR`, either with `:-default`.
fn resolve(body: &str, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    let reference = body.strip_prefix("env:").unwrap_or(body);
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_var_name(name) {
        return Err(match body.split_once(':') {
            Some((scheme, _)) if is_var_name(scheme) && scheme != "env" => {
                ExpandError::Unsupported {
                    body: body.to_owned(),
                }
            }
            _ => ExpandError::InvalidName {
                name: name.to_owned(),
                body: body.to_owned(),
            },
        });
    }
    match (lookup(name), default) {
        (Some(v), Some(d)) if v.is_empty() => Ok(d.to_owned()),
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(ExpandError::Unset {
            name: name.to_owned(),
        }),
    }
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads an expanded value as a YAML scalar (number, bool, null); anything
/// else, including an empty value, stays the string it is.
fn retype(text: String, tag: Tag) -> Value {
    use serde_yaml::Value as Y;
    if text.trim().is_empty() {
        return Value::String(tag, text);
    }
    match serde_yaml::from_str::<Y>(&text) {
        Ok(Y::Null) => Value::Empty(tag, Empty::None),
        Ok(Y::Bool(b)) => Value::Bool(tag, b),
        Ok(Y::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::Num(tag, Num::U64(u)),
            (_, Some(i), _) => Value::Num(tag, Num::I64(i)),
            (_, _, Some(f)) => Value::Num(tag, Num::F64(f)),
            _ => Value::String(tag, text),
        },
        _ => Value::String(tag, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("collector.local".into()),
            "PORT" => Some("4317".into()),
            "ON" => Some("true".into()),
            "EMPTY" => Some(String::new()),
            "LIST" => Some("[a, b]".into()),
            _ => None,
        }
    }

    fn expand(s: &str) -> Result<String, String> {
        expand_str(s, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(
            expand("${env:HOST}:${PORT}").unwrap(),
            "collector.local:4317"
        );
        assert_eq!(expand("${env:NOPE:-fallback}").unwrap(), "fallback");
        assert_eq!(expand("${NOPE:-a:-b}").unwrap(), "a:-b");
        assert_eq!(expand("${env:EMPTY:-x}").unwrap(), "x");
        assert_eq!(expand("${env:EMPTY}").unwrap(), "");
        assert_eq!(expand("${env:NOPE:-}").unwrap(), "");
        assert_eq!(
            expand("cost $$5, $${env:HOST}").unwrap(),
            "cost $5, ${env:HOST}"
        );
        assert_eq!(expand("$HOST and $").unwrap(), "$HOST and $");
    }

    #[test]
    fn bad_references_are_errors() {
        assert_eq!(
            expand("${env:NOPE}").unwrap_err(),
            "environment variable \"NOPE\" is not set"
        );
        assert_eq!(
            expand("x ${env:HOST").unwrap_err(),
            "unterminated \"${\" in \"x ${env:HOST\" (write \"$$\" for a literal \"$\")"
        );
        assert_eq!(
            expand("${file:/etc/key}").unwrap_err(),
            "unsupported \"${file:/etc/key}\": only ${env:VAR} and ${VAR} are supported"
        );
        assert_eq!(
            expand("${env:1BAD}").unwrap_err(),
            "invalid environment variable name \"1BAD\" in \"${env:1BAD}\""
        );
    }

    #[test]
    fn a_whole_reference_is_retyped_and_an_embedded_one_is_not() {
        let mut errors = Vec::new();
        let run = |s: &str, errors: &mut Vec<_>| {
            let mut v = Value::from(s.to_owned());
            expand_tree(&mut v, &mut KeyPath::new(), &env, errors);
            v
        };
        assert_eq!(run("${env:PORT}", &mut errors).to_u128(), Some(4317));
        assert_eq!(run("${ON}", &mut errors).to_bool(), Some(true));
        assert_eq!(run("${LIST}", &mut errors).as_str(), Some("[a, b]"));
        assert_eq!(run("${EMPTY}", &mut errors).as_str(), Some(""));
        assert_eq!(run("port ${PORT}", &mut errors).as_str(), Some("port 4317"));
        assert_eq!(
            run("${PORT}${PORT}", &mut errors).as_str(),
            Some("43174317")
        );
        assert!(errors.is_empty());
        run("${NOPE}", &mut errors);
        assert_eq!(
            errors,
            vec![(
                KeyPath::new(),
                "environment variable \"NOPE\" is not set".into()
            )]
        );
    }
}
