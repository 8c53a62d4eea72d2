//! No module imports form a circle, in any crate of the workspace.
//!
//! A module's file depends on another when it names it in a path: `use
//! crate::a::b::X;`, `crate::a::f()`, `super::c::Y`, grouped `use crate::{a,
//! b::c}`. Re-exports (`pub use`), `mod` lines, comments and test modules
//! (`#[cfg(test)] mod tests`, `tests.rs`, `tests/`) are not dependencies: a
//! parent re-exporting its children and tests reaching into what they test
//! form no design circle. The circles found are the strongly connected
//! components of that file graph.
//!
//! Run `cargo test --test import_cycles -- --nocapture` to see every circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles still being removed elsewhere this round; each entry is a circle's
/// files, sorted, joined by " <-> ". A circle not listed fails the test; a
/// listed one that is gone is reported so the entry gets deleted.
const KNOWN: &[&str] = &[];

/// The workspace's crates: (name, source root).
fn crates() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![("ccpipe".to_owned(), root.join("src"))];
    for member in [
        "otlp",
        "secrets",
        "pipeline",
        "receivers",
        "processors",
        "exporters",
        "connectors",
    ] {
        let src = root.join(member).join("src");
        if src.is_dir() {
            out.push((member.to_owned(), src));
        }
    }
    out
}

/// A module's path from the crate root: `wal/export.rs` -> ["wal", "export"],
/// `otlp/mod.rs` -> ["otlp"], `lib.rs` -> [].
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "tests" && name != "testdata" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(p);
        }
    }
}

/// The file's text without comments and without its test modules.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // Skip the item it guards: a `mod x;` line or a braced block.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                let l = l.split("//").next().unwrap_or("");
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find("//") {
            // A `//` inside a string ("http://…") is not a comment.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every path in `code` that starts at `crate::` or `super::`, brace groups
/// expanded: `use crate::{a::B, c}` gives `crate::a::B` and `crate::c`.
/// Re-exports (`pub use`, `pub(crate) use`) are skipped.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let reexport = ["pub use ", "pub(crate) use ", "pub(super) use "];
        if starts_word && reexport.iter().any(|r| rest.starts_with(r)) {
            i += rest.find(';').map_or(rest.len(), |e| e + 1);
            continue;
        }
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (mut found, len) = expand(rest);
            out.append(&mut found);
            i += len.max(1);
            continue;
        }
        i += 1;
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses one path (with brace groups) at the start of `s`; returns the
/// expanded paths and how many bytes were read.
fn expand(s: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = s.as_bytes();
    let mut prefix = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i > start {
            prefix.push(s[start..i].to_owned());
        }
        if s[i..].starts_with("::") {
            i += 2;
            if s[i..].starts_with('{') {
                i += 1;
                let mut all = Vec::new();
                loop {
                    while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                        i += 1;
                    }
                    if i >= bytes.len() || bytes[i] == b'}' {
                        i += 1;
                        break;
                    }
                    let (inner, len) = expand(&s[i..]);
                    for p in inner {
                        all.push(prefix.iter().cloned().chain(p).collect());
                    }
                    i += len.max(1);
                    // Skip `as Alias` and anything else up to the separator.
                    while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                        i += 1;
                    }
                }
                return (all, i);
            }
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The module file a path names: its longest prefix that is a module of the
/// crate, after resolving `crate` and `super` against `from`.
fn resolve(
    from: &[String],
    path: &[String],
    modules: &BTreeMap<Vec<String>, String>,
) -> Option<String> {
    let mut at: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => from.to_vec(),
        _ => return None,
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        at.pop();
        while rest.first().map(String::as_str) == Some("super") {
            at.pop();
            rest = &rest[1..];
        }
    }
    let mut best = modules.get(&at).cloned();
    for seg in rest {
        at.push(seg.clone());
        match modules.get(&at) {
            Some(file) => best = Some(file.clone()),
            None => break,
        }
    }
    best
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let lw = s.low[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w.as_str()) {
                let iw = s.index[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// Each crate's file graph: file -> files it names.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut graph = BTreeMap::new();
    for (_, src) in crates() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let name = |f: &Path| f.strip_prefix(root).unwrap().display().to_string();
        let modules: BTreeMap<Vec<String>, String> = files
            .iter()
            .map(|f| (module_of(f.strip_prefix(&src).unwrap()), name(f)))
            .collect();
        for f in &files {
            let from = module_of(f.strip_prefix(&src).unwrap());
            let text = std::fs::read_to_string(f).unwrap();
            let mut deps = BTreeSet::new();
            for path in paths_in(&code_of(&text)) {
                if let Some(to) = resolve(&from, &path, &modules) {
                    if to != name(f) {
                        deps.insert(to);
                    }
                }
            }
            graph.insert(name(f), deps);
        }
    }
    graph
}

#[test]
fn no_module_imports_form_a_circle() {
    let found: Vec<String> = circles(&workspace_graph())
        .into_iter()
        .map(|c| c.join(" <-> "))
        .collect();
    for c in &found {
        println!("circle: {c}");
    }
    for k in KNOWN {
        if !found.iter().any(|c| c == k) {
            println!("gone, delete from KNOWN: {k}");
        }
    }
    let new: Vec<&String> = found
        .iter()
        .filter(|c| !KNOWN.contains(&c.as_str()))
        .collect();
    assert!(new.is_empty(), "module imports form circles: {new:#?}");
}

#[test]
fn the_finder_sees_a_circle_through_grouped_imports_and_super() {
    let code = code_of(
        "use crate::{a::X, b};\n// crate::c::Y\npub use crate::d::Z;\nfn f() { super::e::g() }\n\
         #[cfg(test)]\nmod tests {\n    use crate::f::H;\n}\n",
    );
    let paths = paths_in(&code);
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(names, ["crate::a::X", "crate::b", "super::e::g"]);

    let m = |p: &[&str], f: &str| (p.iter().map(|s| s.to_string()).collect(), f.to_owned());
    let modules: BTreeMap<Vec<String>, String> = [
        m(&[], "lib.rs"),
        m(&["a"], "a.rs"),
        m(&["a", "inner"], "a/inner.rs"),
        m(&["b"], "b.rs"),
    ]
    .into_iter()
    .collect();
    let from_inner: Vec<String> = vec!["a".into(), "inner".into()];
    let super_b: Vec<String> = ["super", "super", "b", "f"].map(String::from).to_vec();
    assert_eq!(
        resolve(&from_inner, &super_b, &modules).as_deref(),
        Some("b.rs")
    );

    let mut graph = BTreeMap::new();
    graph.insert("a.rs".to_owned(), BTreeSet::from(["a/inner.rs".to_owned()]));
    graph.insert("a/inner.rs".to_owned(), BTreeSet::from(["b.rs".to_owned()]));
    graph.insert("b.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()]));
    graph.insert("lib.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()]));
    assert_eq!(circles(&graph), [["a.rs", "a/inner.rs", "b.rs"]]);
}
