//! Where each node of a YAML document is: an index from YAML paths (`fields[2].transform`) to
//! line and column.
//!
//! serde reports the position of syntax and type errors, but the semantic checks of
//! [`Mapping::compile`](super::Mapping::compile) run on deserialized values that have
//! forgotten where they came from. This index is built from the marked events of `yaml-rust2`'s parser (one pass, no
//! tree), so a check can ask "where is `fields[2].transform`?" and a serde error's position can
//! be turned back into a path.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in the file, 1-based like editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Position {
    fn of(mark: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Self {
            line: mark.line(),
            column: mark.col() + 1,
        }
    }
}

/// The path of a child of `parent` under a mapping key.
pub fn child_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// The path of a child of `parent` at a sequence index.
pub fn child_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[derive(Debug, Clone)]
struct Node {
    path: String,
    key: Option<Position>,
    value: Position,
}

/// Positions of every node of a document, by YAML path.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    /// In document order.
    nodes: Vec<Node>,
}

impl Locator {
    /// Indexes `text`. A document that does not parse gives an index of what came before the
    /// error (serde reports the error itself).
    pub fn new(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        // An error ends the index early; the deserializer reports it with its position.
        let _ = parser.load(&mut builder, false);
        Self {
            nodes: builder.nodes,
        }
    }

    fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.path == path)
    }

    /// Where the value at `path` starts, or where its nearest existing ancestor starts (a
    /// missing key is reported at the mapping that lacks it).
    pub fn value(&self, path: &str) -> Position {
        let mut path = path;
        loop {
            if let Some(node) = self.node(path) {
                return node.value;
            }
            match parent(path) {
                Some(up) => path = up,
                None => return Position { line: 1, column: 1 },
            }
        }
    }

    /// Where the key of `path` is (for "unknown key"), or its value when it has no key.
    pub fn key(&self, path: &str) -> Position {
        self.node(path)
            .and_then(|node| node.key)
            .unwrap_or_else(|| self.value(path))
    }

    /// The path of the node at `position`, or of the last node that starts before it. A
    /// block mapping starts where its first key does; `prefer_key` picks that key's path over
    /// the mapping's (serde reports an unknown key at the key, a missing key at the mapping).
    pub fn path_at(&self, position: Position, prefer_key: bool) -> Option<&str> {
        let by_key = self.nodes.iter().find(|node| node.key == Some(position));
        let by_value = self.nodes.iter().find(|node| node.value == position);
        let exact = if prefer_key {
            by_key.or(by_value)
        } else {
            by_value.or(by_key)
        };
        if let Some(node) = exact {
            return Some(&node.path);
        }
        self.nodes
            .iter()
            .filter(|node| node.key.unwrap_or(node.value) <= position)
            .max_by_key(|node| node.key.unwrap_or(node.value))
            .map(|node| node.path.as_str())
    }
}

/// The parent of a path: `fields[2].crm` -> `fields[2]` -> `fields` -> ``.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[derive(Debug)]
enum Frame {
    Mapping {
        path: String,
        key: Option<(String, Position)>,
        /// The mapping's own node, until its first key is seen.
        node: Option<usize>,
    },
    Sequence {
        path: String,
        next: usize,
    },
    /// A collection used as a mapping key: indexed under a path nobody asks for.
    ComplexKey,
}

#[derive(Debug, Default)]
struct Builder {
    nodes: Vec<Node>,
    stack: Vec<Frame>,
}

impl Builder {
    /// Places a node starting at `at`; returns its path, or `None` when it is a mapping key.
    fn place(&mut self, at: Position, scalar: Option<&str>) -> Option<String> {
        let (path, key) = match self.stack.last_mut() {
            None => (String::new(), None),
            Some(Frame::ComplexKey) => return None,
            Some(Frame::Sequence { path, next }) => {
                let path = child_index(path, *next);
                *next += 1;
                (path, None)
            }
            Some(Frame::Mapping { path, key, node }) => match key.take() {
                None => {
                    *key = Some((scalar.unwrap_or("?").to_owned(), at));
                    // The parser marks a block mapping after its first key; the mapping really
                    // starts at that key.
                    if let Some(index) = node.take() {
                        let value = &mut self.nodes[index].value;
                        *value = (*value).min(at);
                    }
                    return None;
                }
                Some((name, key_at)) => (child_key(path, &name), Some(key_at)),
            },
        };
        self.nodes.push(Node {
            path: path.clone(),
            key,
            value: at,
        });
        Some(path)
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = Position::of(mark);
        match event {
            Event::Scalar(value, ..) => {
                self.place(at, Some(&value));
            }
            Event::Alias(_) => {
                self.place(at, Some("*alias"));
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let frame = match self.place(at, None) {
                    Some(path) if matches!(event, Event::MappingStart(..)) => Frame::Mapping {
                        path,
                        key: None,
                        node: Some(self.nodes.len() - 1),
                    },
                    Some(path) => Frame::Sequence { path, next: 0 },
                    None => Frame::ComplexKey,
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nfields:\n  - hub: name\n    crm: [firstname, lastname]\n  - hub: { custom_field: \"Sync Status\" }\n    crm: x\n";

    #[test]
    fn finds_values_and_keys_by_path() {
        let locator = Locator::new(DOC);
        assert_eq!(
            locator.value("version"),
            Position {
                line: 1,
                column: 10
            }
        );
        assert_eq!(locator.key("version"), Position { line: 1, column: 1 });
        assert_eq!(
            locator.value("fields[0].hub"),
            Position {
                line: 3,
                column: 10
            }
        );
        assert_eq!(
            locator.value("fields[0].crm[1]"),
            Position {
                line: 4,
                column: 22
            }
        );
        assert_eq!(
            locator.value("fields[1].hub.custom_field"),
            Position {
                line: 5,
                column: 26
            }
        );
        assert_eq!(
            locator.key("fields[1].crm"),
            Position { line: 6, column: 5 }
        );
    }

    #[test]
    fn a_missing_path_falls_back_to_its_nearest_ancestor() {
        let locator = Locator::new(DOC);
        assert_eq!(
            locator.value("fields[1].transform"),
            locator.value("fields[1]")
        );
        assert_eq!(
            locator.value("nothing.here"),
            Position { line: 1, column: 1 }
        );
    }

    #[test]
    fn a_position_maps_back_to_a_path() {
        let locator = Locator::new(DOC);
        assert_eq!(
            locator.path_at(Position { line: 4, column: 5 }, true),
            Some("fields[0].crm")
        );
        assert_eq!(
            locator.path_at(
                Position {
                    line: 4,
                    column: 22
                },
                true
            ),
            Some("fields[0].crm[1]")
        );
        // Line 3 column 5 is both where `fields[0]` (a block mapping) and its key `hub` start.
        let at = Position { line: 3, column: 5 };
        assert_eq!(locator.path_at(at, true), Some("fields[0].hub"));
        assert_eq!(locator.path_at(at, false), Some("fields[0]"));
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        assert_eq!(
            child_key("conflicts.fields", "Sync Status"),
            "conflicts.fields[\"Sync Status\"]"
        );
        assert_eq!(child_key("", "fields"), "fields");
    }
}
