//! Which source (a file, the built-in default, an environment override)
//! defined a key, so every error can say where to fix it.

use std::fmt;

use super::error::{describe, ConfigError, Problem};
use super::locate::{KeyIndex, KeyPath};

/// The sources of one loaded config, in merge order (later ones win).
#[derive(Default)]
pub(crate) struct Origins {
    sources: Vec<Origin>,
}

pub(crate) enum Origin {
    File {
        name: String,
        index: KeyIndex,
    },
    /// `CCPIPE_…` overrides: the key path each sets and the variable's name.
    Env {
        vars: Vec<(KeyPath, String)>,
    },
}

/// Where a key was defined: a source name and, for files, a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub origin: String,
    pub line: Option<usize>,
}

impl Origins {
    pub fn push(&mut self, origin: Origin) {
        self.sources.push(origin);
    }

    /// A problem about `path`, located in the source that set it.
    pub fn problem(&self, path: &[String], message: impl fmt::Display) -> Problem {
        let Location { origin, line } = self.locate(path);
        Problem {
            origin,
            line,
            column: None,
            path: path.join("."),
            message: message.to_string(),
        }
    }

    /// Converts a deserialization error of the value at `base`.
    pub fn figment_error(&self, base: &[String], err: figment::Error) -> ConfigError {
        ConfigError::many(self.figment_problems(base, err))
    }

    pub fn figment_problems(&self, base: &[String], err: figment::Error) -> Vec<Problem> {
        err.into_iter()
            .map(|e| {
                let mut path = base.to_vec();
                path.extend(e.path.iter().cloned());
                self.problem(&path, describe(&e.kind))
            })
            .collect()
    }

    /// The last source that sets `path`, or failing that its nearest ancestor:
    /// the same source that won the merge for that key.
    pub fn locate(&self, path: &[String]) -> Location {
        for len in (1..=path.len()).rev() {
            let prefix = &path[..len];
            for source in self.sources.iter().rev() {
                match source {
                    Origin::File { name, index } if index.contains(prefix) => {
                        return Location {
                            origin: name.clone(),
                            line: index.line(prefix),
                        };
                    }
                    Origin::Env { vars } => {
                        if let Some(var) = find_var(vars, |var| prefix.starts_with(var)) {
                            return env_location(var);
                        }
                    }
                    Origin::File { .. } => {}
                }
            }
            // No file has this key, but an override created it (or a key below it).
            for source in &self.sources {
                if let Origin::Env { vars } = source {
                    if let Some(var) = find_var(vars, |var| var.starts_with(prefix)) {
                        return env_location(var);
                    }
                }
            }
        }
        // A key no source has (a missing section): blame the first file.
        let origin = self.sources.iter().find_map(|s| match s {
            Origin::File { name, .. } => Some(name.clone()),
            Origin::Env { .. } => None,
        });
        Location {
            origin: origin.unwrap_or_default(),
            line: None,
        }
    }
}

fn find_var(vars: &[(KeyPath, String)], pred: impl Fn(&[String]) -> bool) -> Option<&str> {
    vars.iter()
        .find(|(path, _)| pred(path))
        .map(|(_, name)| name.as_str())
}

fn env_location(var: &str) -> Location {
    Location {
        origin: format!("environment variable {var}"),
        line: None,
    }
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.sources.iter().map(|s| match s {
            Origin::File { name, .. } => name.as_str(),
            Origin::Env { .. } => "environment",
        });
        f.debug_list().entries(names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(dotted: &str) -> KeyPath {
        dotted.split('.').map(str::to_owned).collect()
    }

    fn origins() -> Origins {
        let mut o = Origins::default();
        let base = "exporters:\n  file:\n    path: a\n    format: json\n";
        let overlay = "exporters:\n  file:\n    format: text\n";
        for (name, text) in [("base.yaml", base), ("overlay.yaml", overlay)] {
            let index = KeyIndex::parse(text).unwrap();
            o.push(Origin::File {
                name: name.into(),
                index,
            });
        }
        let vars = vec![(
            path("exporters.file.path"),
            "CCPIPE_EXPORTERS__FILE__PATH".into(),
        )];
        o.push(Origin::Env { vars });
        o.push(Origin::Env {
            vars: vec![(
                path("exporters.extra.x"),
                "CCPIPE_EXPORTERS__EXTRA__X".into(),
            )],
        });
        o
    }

    #[test]
    fn the_source_that_won_the_merge_is_blamed() {
        let o = origins();
        let at = |p: &str| o.locate(&path(p));
        let file = |name: &str, line| Location {
            origin: name.into(),
            line: Some(line),
        };
        assert_eq!(at("exporters.file.format"), file("overlay.yaml", 3));
        assert_eq!(at("exporters.file"), file("overlay.yaml", 2));
        assert_eq!(
            at("exporters.file.path").origin,
            "environment variable CCPIPE_EXPORTERS__FILE__PATH"
        );
        assert_eq!(at("exporters.file.path.deeper").line, None);
        assert_eq!(
            at("exporters.extra").origin,
            "environment variable CCPIPE_EXPORTERS__EXTRA__X"
        );
        assert_eq!(at("exporters.file.nope"), file("overlay.yaml", 2));
        assert_eq!(
            at("service.pipelines"),
            Location {
                origin: "base.yaml".into(),
                line: None
            }
        );
    }
}
