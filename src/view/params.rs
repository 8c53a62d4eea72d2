//! The query string every API endpoint takes: `from`, `to` (Unix ms),
//! `user`, `model`, `attr=key:value` (repeatable) and, for top sessions,
//! `limit`. Anything else, or a value that does not parse, is an error that
//! names the parameter.

use super::Filter;

/// The most rows `limit` may ask for.
pub const MAX_LIMIT: usize = 1000;
/// The most `attr` filters one request may carry (each is a query term).
pub const MAX_ATTRS: usize = 32;
const DEFAULT_LIMIT: usize = 20;

/// A parsed query string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    pub filter: Filter,
    pub limit: usize,
}

/// Parses `query` (without the `?`); the error is a sentence naming the
/// parameter.
pub fn parse(query: Option<&str>) -> Result<Params, String> {
    let mut params = Params {
        filter: Filter::default(),
        limit: DEFAULT_LIMIT,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key).ok_or("a parameter name is not valid percent-encoded UTF-8")?;
        let value = decode(raw_value)
            .ok_or_else(|| format!("parameter `{key}`: not valid percent-encoded UTF-8"))?;
        let f = &mut params.filter;
        match key.as_str() {
            "from" => f.from_ms = time(&key, &value)?,
            "to" => f.to_ms = time(&key, &value)?,
            "user" => f.user = non_empty(value),
            "model" => f.model = non_empty(value),
            "attr" => {
                let (k, v) = value
                    .split_once(':')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| {
                        format!("parameter `attr`: expected key:value, got {value:?}")
                    })?;
                if f.attrs.len() == MAX_ATTRS {
                    return Err(format!("parameter `attr`: at most {MAX_ATTRS} per request"));
                }
                f.attrs.push((k.to_owned(), v.to_owned()));
            }
            "limit" => {
                params.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        format!("parameter `limit`: expected a number from 1 to {MAX_LIMIT}, got {value:?}")
                    })?;
            }
            other => {
                return Err(format!(
                    "unknown parameter `{other}`; expected from, to, user, model, attr or limit"
                ))
            }
        }
    }
    if let (Some(from), Some(to)) = (params.filter.from_ms, params.filter.to_ms) {
        if from > to {
            return Err(format!("parameter `to` ({to}) is before `from` ({from})"));
        }
    }
    Ok(params)
}

fn time(key: &str, value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
        .map(Some)
        .ok_or_else(|| format!("parameter `{key}`: expected Unix milliseconds, got {value:?}"))
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; `None` when an escape is broken or the bytes are not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let p = parse(Some(
            "from=1000&to=2000&user=u%201&model=claude-opus-5-5&attr=team%3Aplatform&attr=project:a:b&limit=5",
        ))
        .unwrap();
        assert_eq!(p.filter.from_ms, Some(1000));
        assert_eq!(p.filter.to_ms, Some(2000));
        assert_eq!(p.filter.user.as_deref(), Some("u 1"));
        assert_eq!(p.filter.model.as_deref(), Some("claude-opus-5-5"));
        assert_eq!(
            p.filter.attrs,
            vec![
                ("team".to_owned(), "platform".to_owned()),
                ("project".to_owned(), "a:b".to_owned())
            ]
        );
        assert_eq!(p.limit, 5);
        assert_eq!(parse(None).unwrap(), parse(Some("user=&from=")).unwrap());
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let many_attrs = "attr=a:b&".repeat(MAX_ATTRS + 1);
        let cases = [
            ("from=yesterday", "parameter `from`"),
            ("to=-5", "parameter `to`"),
            ("from=5&to=4", "parameter `to` (4) is before `from` (5)"),
            ("attr=team", "parameter `attr`: expected key:value"),
            ("attr=:x", "parameter `attr`"),
            ("limit=0", "parameter `limit`"),
            ("limit=100000", "parameter `limit`"),
            ("user=%ZZ", "parameter `user`: not valid"),
            ("user=%ff", "parameter `user`: not valid"),
            ("model=%4", "parameter `model`"),
            ("modle=x", "unknown parameter `modle`"),
            ("from=99999999999999999999999", "parameter `from`"),
            (
                many_attrs.as_str(),
                "parameter `attr`: at most 32 per request",
            ),
        ];
        for (query, want) in cases {
            let err = parse(Some(query)).unwrap_err();
            assert!(err.contains(want), "{query}: {err}");
        }
    }

    /// Every query string of up to four characters from an alphabet of the
    /// characters that matter parses or fails with a message, never panics.
    #[test]
    fn no_query_string_panics() {
        let alphabet = [
            "%", "=", "&", ":", "+", "a", "é", "\0", "4", "from", "attr", "limit",
        ];
        let mut query = Vec::new();
        fn walk(alphabet: &[&str], query: &mut Vec<String>, depth: usize) {
            let text = query.concat();
            let _ = parse(Some(&text));
            if depth == 4 {
                return;
            }
            for c in alphabet {
                query.push((*c).to_owned());
                walk(alphabet, query, depth + 1);
                query.pop();
            }
        }
        walk(&alphabet, &mut query, 0);
    }

    #[test]
    fn decoding_never_panics_on_truncated_escapes() {
        for text in ["%", "%4", "a%", "%%%", "%é1", "é%e9"] {
            let _ = decode(text);
        }
        assert_eq!(decode("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
    }
}
