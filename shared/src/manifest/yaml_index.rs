//! Where things are in a YAML document: the line of every mapping entry and sequence item, by its
//! path (`tables[3].partition_by[0]`), so problems found after parsing can name their line.
//!
//! serde only reports positions for the errors it finds itself; the manifest's own checks run on
//! parsed values, so they look their line up here. The index is built from the position-carrying
//! events of a YAML parser; a mapping entry's line is the line of its key, a sequence item's line
//! is the line its node starts on.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser};
use thiserror::Error;

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// The value of a mapping key.
    Key(String),
    /// An item of a sequence (0-based).
    Index(usize),
}

/// A path from the document root, e.g. `tables[3].partition_by[0]` (the root is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct YamlPath(Vec<Segment>);

impl YamlPath {
    /// The document root.
    pub fn root() -> YamlPath {
        YamlPath::default()
    }

    /// This path's mapping entry `key`.
    pub fn key(&self, key: impl Into<String>) -> YamlPath {
        self.child(Segment::Key(key.into()))
    }

    /// This path's sequence item `index`.
    pub fn index(&self, index: usize) -> YamlPath {
        self.child(Segment::Index(index))
    }

    /// This path followed by `segment`.
    pub fn child(&self, segment: Segment) -> YamlPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        YamlPath(segments)
    }

    /// This path followed by a field path as the table configuration names fields, e.g.
    /// `input.columns[2].type` (keys separated by dots, items as `[n]`).
    pub fn join_dotted(&self, dotted: &str) -> YamlPath {
        let mut path = self.clone();
        for part in dotted.split('.').filter(|part| !part.is_empty()) {
            let (name, mut indices) = part.find('[').map_or((part, ""), |at| part.split_at(at));
            let mut parsed = Vec::new();
            while let Some(rest) = indices.strip_prefix('[') {
                let Some((number, tail)) = rest.split_once(']') else {
                    break;
                };
                let Ok(index) = number.trim().parse() else {
                    break;
                };
                parsed.push(Segment::Index(index));
                indices = tail;
            }
            if indices.is_empty() {
                if !name.is_empty() {
                    path.0.push(Segment::Key(name.to_owned()));
                }
                path.0.extend(parsed);
            } else {
                // Not `name[n]…`: a key that merely contains brackets.
                path.0.push(Segment::Key(part.to_owned()));
            }
        }
        path
    }

    /// The last step (`None` for the root).
    pub fn last(&self) -> Option<&Segment> {
        self.0.last()
    }

    /// The path without its last step (`None` for the root).
    pub fn parent(&self) -> Option<YamlPath> {
        let (_, parent) = self.0.split_last()?;
        Some(YamlPath(parent.to_vec()))
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A document the index cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum YamlIndexError {
    /// The text is not YAML.
    #[error("line {line}: {problem}")]
    Syntax {
        /// Line of the problem, 1-based.
        line: usize,
        /// What the parser found.
        problem: String,
    },
}

/// The line of every mapping entry and sequence item of a document's first YAML document.
#[derive(Debug, Clone, Default)]
pub struct YamlIndex {
    lines: HashMap<YamlPath, usize>,
}

/// A collection being read while building the index.
enum Frame {
    /// A mapping at `path`; `key` is the key whose value comes next (`None`: a key comes next).
    Mapping { path: YamlPath, key: Option<String> },
    /// A sequence at `path`; `next` is the index of its next item.
    Sequence { path: YamlPath, next: usize },
}

/// Key recorded for a key that is itself a collection (`? [a, b]: …`), which has no name.
const COMPLEX_KEY: &str = "?";

impl YamlIndex {
    /// Indexes `text` (its first document).
    pub fn build(text: &str) -> Result<YamlIndex, YamlIndexError> {
        let mut index = YamlIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| YamlIndexError::Syntax {
                line: e.marker().line(),
                problem: e.info().to_owned(),
            })?;
            let line = span.start.line();
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Mapping {
                        path,
                        key: key @ None,
                    }) = stack.last_mut()
                    {
                        index.lines.entry(path.key(value.as_ref())).or_insert(line);
                        *key = Some(value.into_owned());
                    } else {
                        index.enter_node(&mut stack, line);
                    }
                }
                Event::Alias(_) => {
                    index.enter_node(&mut stack, line);
                }
                Event::MappingStart(..) => {
                    let path = index.enter_node(&mut stack, line);
                    stack.push(Frame::Mapping { path, key: None });
                }
                Event::SequenceStart(..) => {
                    let path = index.enter_node(&mut stack, line);
                    stack.push(Frame::Sequence { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::DocumentEnd => break,
                Event::Nothing
                | Event::StreamStart
                | Event::StreamEnd
                | Event::DocumentStart(_) => {}
            }
        }
        Ok(index)
    }

    /// Records a node (other than a scalar key) starting on `line`; returns its path.
    fn enter_node(&mut self, stack: &mut [Frame], line: usize) -> YamlPath {
        let path = match stack.last_mut() {
            None => YamlPath::root(),
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some(key) => path.key(key),
                None => {
                    *key = Some(COMPLEX_KEY.to_owned());
                    path.key(COMPLEX_KEY)
                }
            },
            Some(Frame::Sequence { path, next }) => {
                *next += 1;
                path.index(*next - 1)
            }
        };
        self.lines.entry(path.clone()).or_insert(line);
        path
    }

    /// The line of `path` when the document has it.
    pub fn exact_line(&self, path: &YamlPath) -> Option<usize> {
        self.lines.get(path).copied()
    }

    /// The line of `path`, or of its nearest enclosing node the document has (a field left out
    /// is reported on the line of the mapping that should hold it); line 1 when none is present.
    pub fn line(&self, path: &YamlPath) -> usize {
        let mut current = Some(path.clone());
        while let Some(path) = current {
            if let Some(line) = self.exact_line(&path) {
                return line;
            }
            current = path.parent();
        }
        1
    }
}

#[cfg(test)]
#[path = "yaml_index_test.rs"]
mod tests;
