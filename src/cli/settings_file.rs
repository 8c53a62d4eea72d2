//! Reading Claude Code's `settings.json` and merging the telemetry `env`
//! block into it.
//!
//! The merge keeps every other key and every unknown `env` key, in their
//! order; `OTEL_RESOURCE_ATTRIBUTES` pairs are merged pair by pair; a user's
//! content-logging choice stays unless `--content` is given. Per-signal
//! endpoint and protocol variables that this block does not set are removed:
//! they would override the general ones; so are the exporters of signals
//! this ccpipe does not take. A file that is not JSON, whose top
//! level is not an object, or whose `env` is not an object is left alone.
//!
//! Writing is atomic: the new text goes to a temporary file in the same
//! folder, is flushed, takes the old file's permissions and is renamed over
//! it (through a symlink, onto its target). The old bytes go to `PATH.bak`
//! first. When nothing would change, nothing is written.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::listen::Listen;
use super::otel_env::{kind, show, Signal, RESOURCE_ATTRIBUTES};
use super::settings_check;

/// A settings file as read.
pub struct Document {
    pub bytes: Vec<u8>,
    pub value: Map<String, Value>,
}

/// The file's content; `None` when it does not exist. An empty file reads as
/// `{}`.
pub fn read(path: &Path) -> Result<Option<Document>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Document {
            bytes,
            value: Map::new(),
        }));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} is not valid JSON ({e}); fix it or move it away",
            path.display()
        )
    })?;
    match value {
        Value::Object(value) => Ok(Some(Document { bytes, value })),
        other => Err(format!(
            "{}: the top level is {}, not an object",
            path.display(),
            kind(&other)
        )),
    }
}

/// One change to the env block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String, String),
    Changed(String, String, String),
    Removed(String, String),
}

/// What `--write` merges into a file.
pub struct Merge<'a> {
    /// The block, in order.
    pub wanted: &'a [(String, String)],
    /// Keys of `wanted` set only where the file has none.
    pub keep_existing: &'a [&'static str],
    /// Keys to remove.
    pub unwanted: &'a [String],
}

/// The managed settings file Claude Code reads on this platform (it takes
/// precedence over every user's own settings).
pub fn managed_path() -> PathBuf {
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/ClaudeCode/managed-settings.json")
    } else if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\ClaudeCode\managed-settings.json")
    } else {
        PathBuf::from("/etc/claude-code/managed-settings.json")
    }
}

/// Merges `m` into the document's `env`, creating it when absent.
pub fn merge(doc: &mut Map<String, Value>, m: &Merge) -> Result<Vec<Change>, String> {
    let wanted = m.wanted;
    let env = doc
        .entry("env")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(env) = env else {
        return Err(format!("\"env\" is {}, not an object", kind(env)));
    };
    let mut changes = Vec::new();
    for (key, value) in wanted {
        let old = env.get(key);
        if old.is_some() && m.keep_existing.contains(&key.as_str()) {
            continue;
        }
        let new = if key == RESOURCE_ATTRIBUTES {
            match old {
                Some(Value::String(old)) => merge_pairs(old, value),
                _ => value.clone(),
            }
        } else {
            value.clone()
        };
        match old {
            Some(Value::String(o)) if *o == new => {}
            Some(o) => {
                changes.push(Change::Changed(key.clone(), show(o), new.clone()));
                env.insert(key.clone(), Value::String(new));
            }
            None => {
                changes.push(Change::Added(key.clone(), new.clone()));
                env.insert(key.clone(), Value::String(new));
            }
        }
    }
    let stale = Signal::ALL
        .into_iter()
        .flat_map(|s| [s.endpoint_var(), s.protocol_var()])
        .chain(m.unwanted.iter().cloned());
    for var in stale {
        if wanted.iter().any(|(k, _)| *k == var) {
            continue;
        }
        if let Some(old) = env.shift_remove(&var) {
            changes.push(Change::Removed(var, show(&old)));
        }
    }
    Ok(changes)
}

/// `k=v,…` pairs of `old` with those of `new` set (in place, or appended).
fn merge_pairs(old: &str, new: &str) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in old.split(',').chain(new.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
        match pairs.iter_mut().find(|(pk, _)| *pk == k) {
            Some(p) => p.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `--write PATH`: merges and writes; returns what to print.
pub fn write(path: &Path, m: &Merge, listen: &Listen) -> Result<String, String> {
    let existing = read(path)?;
    let (original, mut doc) = match existing {
        Some(d) => (Some(d.bytes), d.value),
        None => (None, Map::new()),
    };
    let changes =
        merge(&mut doc, m).map_err(|e| format!("{}: {e}; nothing was changed", path.display()))?;
    let mut out = String::new();
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "{} already points Claude Code at this ccpipe; nothing changed",
            path.display()
        );
        return Ok(out);
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(doc.clone()))
        .map_err(|e| format!("cannot encode the settings: {e}"))?;
    text.push('\n');
    let target = resolve_symlink(path)?;
    if original.is_none() {
        // A machine where Claude Code never ran has no ~/.claude yet.
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create the folder {}: {e}; nothing was changed",
                    dir.display()
                )
            })?;
        }
    }
    if let Some(bytes) = &original {
        let backup = backup_path(path);
        fs::write(&backup, bytes).map_err(|e| {
            format!(
                "cannot write the backup {}: {e}; nothing was changed",
                backup.display()
            )
        })?;
        let _ = writeln!(out, "backup: {}", backup.display());
    }
    replace_atomically(&target, text.as_bytes())?;
    let verb = if original.is_some() {
        "updated"
    } else {
        "created"
    };
    let _ = writeln!(out, "{verb} {}:", path.display());
    for c in &changes {
        let _ = match c {
            Change::Added(k, v) => writeln!(out, "  + {k}={}", masked(k, v)),
            Change::Changed(k, o, n) => {
                writeln!(out, "  ~ {k}: {} -> {}", masked(k, o), masked(k, n))
            }
            Change::Removed(k, o) if m.unwanted.contains(k) => writeln!(
                out,
                "  - {k} (was {o}; this ccpipe takes no such data, it would get 404s)"
            ),
            Change::Removed(k, o) => writeln!(
                out,
                "  - {k} (was {o}; it would override the general setting)"
            ),
        };
    }
    let report = settings_check::check_document(&doc, listen);
    for p in &report.problems {
        let _ = writeln!(out, "still wrong: {p}");
    }
    Ok(out)
}

/// Header values (the bearer token) are not printed.
fn masked<'a>(key: &str, value: &'a str) -> &'a str {
    if key.ends_with("_HEADERS") {
        "[REDACTED]"
    } else {
        value
    }
}

/// `PATH.bak` beside `PATH`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// The file a symlink points to, so that the link itself stays.
fn resolve_symlink(path: &Path) -> Result<PathBuf, String> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .map_err(|e| format!("cannot follow the symlink {}: {e}", path.display())),
        _ => Ok(path.to_owned()),
    }
}

/// Writes `bytes` to a temporary file beside `target` and renames it over
/// `target`.
fn replace_atomically(target: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.json".into());
    let tmp = dir.join(format!(".{name}.ccpipe-{}.tmp", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(meta) = fs::metadata(target) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        // Make the rename itself durable; not every platform allows it.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!(
            "cannot write {}: {e}; nothing was changed",
            target.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_pairs_merge_in_place() {
        assert_eq!(merge_pairs("a=1,b=2", "b=3,c=4"), "a=1,b=3,c=4");
        assert_eq!(merge_pairs("", "c=4"), "c=4");
        assert_eq!(merge_pairs("a=1, ,", "a=1"), "a=1");
    }

    #[test]
    fn merge_keeps_other_keys_and_order() {
        let mut doc: Map<String, Value> =
            serde_json::from_str(r#"{"model":"x","env":{"FOO":"1","OTEL_EXPORTER_OTLP_LOGS_ENDPOINT":"http://x"},"z":2}"#)
                .unwrap();
        let wanted = [("A".to_owned(), "1".to_owned())];
        let m = Merge {
            wanted: &wanted,
            keep_existing: &[],
            unwanted: &[],
        };
        let changes = merge(&mut doc, &m).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::Added("A".into(), "1".into()),
                Change::Removed("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT".into(), "http://x".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"model":"x","env":{"FOO":"1","A":"1"},"z":2}"#
        );
        assert!(merge(&mut doc, &m).unwrap().is_empty());
    }

    #[test]
    fn a_users_content_choice_stays_and_unwanted_exporters_go() {
        let mut doc: Map<String, Value> = serde_json::from_str(
            r#"{"env":{"OTEL_LOG_USER_PROMPTS":"1","OTEL_TRACES_EXPORTER":"otlp"}}"#,
        )
        .unwrap();
        let wanted = [
            ("OTEL_LOG_USER_PROMPTS".to_owned(), "0".to_owned()),
            ("OTEL_LOG_TOOL_DETAILS".to_owned(), "0".to_owned()),
        ];
        let unwanted = ["OTEL_TRACES_EXPORTER".to_owned()];
        let m = Merge {
            wanted: &wanted,
            keep_existing: &["OTEL_LOG_USER_PROMPTS", "OTEL_LOG_TOOL_DETAILS"],
            unwanted: &unwanted,
        };
        let changes = merge(&mut doc, &m).unwrap();
        assert_eq!(
            changes,
            [
                Change::Added("OTEL_LOG_TOOL_DETAILS".into(), "0".into()),
                Change::Removed("OTEL_TRACES_EXPORTER".into(), "otlp".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"env":{"OTEL_LOG_USER_PROMPTS":"1","OTEL_LOG_TOOL_DETAILS":"0"}}"#
        );
    }
}
