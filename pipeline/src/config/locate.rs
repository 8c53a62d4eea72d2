//! Where each key sits in a YAML file, so errors can name a line. figment
//! keeps which file a value came from but not where in it, so each file is
//! also read by a parser that keeps positions. Block and flow styles produce
//! the same events, so `{ path: x }` and an indented map are indexed alike.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

/// A key path from the document root: map keys and list indexes ("0", "1").
pub(crate) type KeyPath = Vec<String>;

/// How deep maps and lists may nest, the document's top-level map counting
/// as one: serde_yaml (which figment reads with) refuses anything deeper, and
/// stopping here first keeps indexing linear, as every node copies its key
/// path: 10 KB of `- - - …` took seconds and 40 KB exhausted memory.
pub(crate) const MAX_DEPTH: usize = 128;

/// The line of every map key and list item in one YAML document.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    lines: HashMap<KeyPath, usize>,
    /// The document holds nothing but comments (or an explicit null).
    empty: bool,
}

/// A problem found while indexing: bad syntax, a duplicate key, a top level
/// that is not a map.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: Option<usize>,
    pub path: String,
    pub message: String,
}

enum Frame {
    /// `key` holds a key whose value has not started yet.
    Map {
        path: KeyPath,
        key: Option<String>,
        skip_value: bool,
    },
    Seq {
        path: KeyPath,
        next: usize,
    },
    /// Inside a complex (non-scalar) key or its value: nothing to index.
    Skip {
        depth: usize,
    },
}

/// What the next node is, given the frame it sits in.
enum Slot {
    Key,
    Node(KeyPath),
    Skip,
}

impl KeyIndex {
    pub fn parse(text: &str) -> Result<KeyIndex, SyntaxError> {
        let mut index = KeyIndex {
            lines: HashMap::new(),
            empty: true,
        };
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0;
        let mut nesting = 0;
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| SyntaxError {
                line: e.marker().line(),
                column: Some(e.marker().col() + 1),
                path: String::new(),
                message: e.info().to_owned(),
            })?;
            let line = span.start.line();
            match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(root_error(
                            line,
                            "multiple YAML documents are not supported",
                        ));
                    }
                }
                Event::Scalar(value, ..) => match slot(&mut stack) {
                    Slot::Key => index.key(&mut stack, value.into_owned(), line)?,
                    Slot::Node(path) if path.is_empty() => {
                        if !matches!(&*value, "" | "~" | "null" | "Null" | "NULL") {
                            return Err(root_error(line, NOT_A_MAP));
                        }
                    }
                    Slot::Node(path) => index.node(path, line),
                    Slot::Skip => {}
                },
                Event::Alias(_) => {
                    if let Slot::Key = slot(&mut stack) {
                        skip_next_value(&mut stack);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    nesting += 1;
                    if nesting > MAX_DEPTH {
                        return Err(SyntaxError {
                            line,
                            column: Some(span.start.col() + 1),
                            path: String::new(),
                            message: format!(
                                "maps and lists nest more than {MAX_DEPTH} levels deep"
                            ),
                        });
                    }
                    let is_map = matches!(event, Event::MappingStart(..));
                    index.open(&mut stack, is_map, span)?;
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    nesting -= 1;
                    match stack.last_mut() {
                        Some(Frame::Skip { depth }) if *depth > 1 => *depth -= 1,
                        _ => {
                            stack.pop();
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(index)
    }

    /// The line of `path`'s key (or list item), if this file has it.
    pub fn line(&self, path: &[String]) -> Option<usize> {
        self.lines.get(path).copied()
    }

    pub fn contains(&self, path: &[String]) -> bool {
        self.lines.contains_key(path)
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    fn key(&mut self, stack: &mut [Frame], key: String, line: usize) -> Result<(), SyntaxError> {
        let Some(Frame::Map {
            path, key: pending, ..
        }) = stack.last_mut()
        else {
            return Ok(());
        };
        let mut full = path.clone();
        full.push(key.clone());
        if let Some(first) = self.lines.get(&full) {
            return Err(SyntaxError {
                line,
                column: None,
                path: full.join("."),
                message: format!("duplicate key {key:?} (first defined on line {first})"),
            });
        }
        self.lines.insert(full, line);
        *pending = Some(key);
        Ok(())
    }

    fn node(&mut self, path: KeyPath, line: usize) {
        // A map value's key line is already recorded; list items get theirs here.
        self.lines.entry(path).or_insert(line);
    }

    fn open(
        &mut self,
        stack: &mut Vec<Frame>,
        is_map: bool,
        span: Span,
    ) -> Result<(), SyntaxError> {
        match slot(stack) {
            Slot::Key => {
                skip_next_value(stack);
                stack.push(Frame::Skip { depth: 1 });
            }
            Slot::Skip => match stack.last_mut() {
                Some(Frame::Skip { depth }) => *depth += 1,
                _ => stack.push(Frame::Skip { depth: 1 }),
            },
            Slot::Node(path) => {
                if path.is_empty() {
                    if !is_map {
                        return Err(root_error(span.start.line(), NOT_A_MAP));
                    }
                    self.empty = false;
                } else {
                    self.node(path.clone(), span.start.line());
                }
                stack.push(match is_map {
                    true => Frame::Map {
                        path,
                        key: None,
                        skip_value: false,
                    },
                    false => Frame::Seq { path, next: 0 },
                });
            }
        }
        Ok(())
    }
}

const NOT_A_MAP: &str =
    "the top level must be a map with receivers, processors, exporters and service";

fn root_error(line: usize, message: &str) -> SyntaxError {
    SyntaxError {
        line,
        column: None,
        path: String::new(),
        message: message.to_owned(),
    }
}

/// Classifies the node about to start and advances its parent frame.
fn slot(stack: &mut [Frame]) -> Slot {
    match stack.last_mut() {
        None => Slot::Node(KeyPath::new()),
        Some(Frame::Skip { .. }) => Slot::Skip,
        Some(Frame::Map {
            skip_value: skip @ true,
            ..
        }) => {
            *skip = false;
            Slot::Skip
        }
        Some(Frame::Map { path, key, .. }) => match key.take() {
            Some(k) => {
                let mut p = path.clone();
                p.push(k);
                Slot::Node(p)
            }
            None => Slot::Key,
        },
        Some(Frame::Seq { path, next }) => {
            let mut p = path.clone();
            p.push(next.to_string());
            *next += 1;
            Slot::Node(p)
        }
    }
}

/// After a key we cannot index (an alias or a map used as a key), ignore its value.
fn skip_next_value(stack: &mut [Frame]) {
    if let Some(Frame::Map { skip_value, .. }) = stack.last_mut() {
        *skip_value = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: &KeyIndex, dotted: &str) -> Option<usize> {
        let path: KeyPath = dotted.split('.').map(str::to_owned).collect();
        index.line(&path)
    }

    #[test]
    fn indexes_block_and_flow_styles() {
        let text = "\
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:4317,
              max_recv: 4 }
service:
  pipelines:
    logs:
      receivers: [otlp,
        other]
      exporters:
        - debug
        - file
";
        let index = KeyIndex::parse(text).unwrap();
        assert_eq!(line(&index, "receivers"), Some(1));
        assert_eq!(
            line(&index, "receivers.otlp.protocols.grpc.endpoint"),
            Some(4)
        );
        assert_eq!(
            line(&index, "receivers.otlp.protocols.grpc.max_recv"),
            Some(5)
        );
        assert_eq!(line(&index, "service.pipelines.logs.receivers.1"), Some(10));
        assert_eq!(line(&index, "service.pipelines.logs.exporters.0"), Some(12));
        assert_eq!(line(&index, "service.pipelines.logs.exporters.1"), Some(13));
        assert_eq!(line(&index, "service.nope"), None);
        assert!(!index.is_empty());
    }

    #[test]
    fn complex_keys_and_aliases_are_skipped() {
        let text = "a: &x { b: 1 }\n? [k]\n: { c: 2 }\nd: *x\ne: { f: 3 }\n";
        let index = KeyIndex::parse(text).unwrap();
        assert_eq!(line(&index, "a.b"), Some(1));
        assert_eq!(line(&index, "d"), Some(4));
        assert_eq!(line(&index, "e.f"), Some(5));
        assert_eq!(line(&index, "c"), None);
    }

    #[test]
    fn reports_syntax_errors_duplicates_and_bad_roots() {
        let err = KeyIndex::parse("a:\n  b: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2 && err.column.is_some(), "{err:?}");
        let err = KeyIndex::parse("a:\n  b: 1\n  b: 2\n").unwrap_err();
        assert_eq!((err.line, err.path.as_str()), (3, "a.b"));
        assert_eq!(err.message, "duplicate key \"b\" (first defined on line 2)");
        let err = KeyIndex::parse("- a\n- b\n").unwrap_err();
        assert_eq!(err.message, NOT_A_MAP);
        assert!(KeyIndex::parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn nesting_stops_at_the_limit_with_a_position() {
        // The top-level map is level 1, so `a` holds MAX_DEPTH - 1 lists.
        let deep = |lists: usize, style: &str| match style {
            "flow" => format!("x: 1\na: {}1{}\n", "[".repeat(lists), "]".repeat(lists)),
            _ => format!("x: 1\na:\n  {}1\n", "- ".repeat(lists)),
        };
        for style in ["flow", "block"] {
            let index = KeyIndex::parse(&deep(MAX_DEPTH - 1, style)).unwrap();
            let innermost = ["a"].into_iter().chain(["0"; MAX_DEPTH - 1]);
            let path: KeyPath = innermost.map(str::to_owned).collect();
            assert!(index.contains(&path), "{style}");
            let err = KeyIndex::parse(&deep(MAX_DEPTH, style)).unwrap_err();
            let column = if style == "flow" {
                4 + MAX_DEPTH - 1
            } else {
                3 + 2 * (MAX_DEPTH - 1)
            };
            assert_eq!(
                (err.line, err.column),
                (2 + usize::from(style == "block"), Some(column)),
                "{style}"
            );
            assert_eq!(err.message, "maps and lists nest more than 128 levels deep");
        }
        // Far past the limit (once quadratic in time and memory), the same.
        let err = KeyIndex::parse(&deep(100_000, "block")).unwrap_err();
        assert_eq!((err.line, err.column), (3, Some(3 + 2 * (MAX_DEPTH - 1))));
        let maps: String = (0..5000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let err = KeyIndex::parse(&maps).unwrap_err();
        assert_eq!((err.line, err.column), (MAX_DEPTH + 1, Some(MAX_DEPTH + 1)));
    }
}
