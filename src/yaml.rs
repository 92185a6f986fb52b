//! The spanned YAML document: the first stage of loading a playbook.
//!
//! `serde_yaml` is deprecated and keeps no positions for values, so we build our own small
//! tree from `saphyr-parser` events (see `docs/decisions/yaml-parser.md`). Every node and every
//! mapping key keeps its [`Span`], which is how schema errors (reported as JSON pointers) are
//! mapped back to `file:line:col`.
//!
//! The builder is iterative and bounded, because playbooks come from anywhere: nesting depth,
//! the number of values (alias expansion included) and the input size all have limits, and
//! each limit ends in an error, never in a stack overflow or an exhausted memory.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span as YamlSpan};
use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::source::{Pos, Span};

/// How deep mappings and sequences may nest. Real playbooks need fewer than ten levels.
pub const MAX_DEPTH: usize = 64;
/// How many values a document may hold, counting every copy an alias makes.
pub const MAX_NODES: usize = 1_000_000;
/// How many values aliases may copy in all. Anchors for shared defaults copy a few dozen;
/// a "billion laughs" document reaches this within a few nested aliases.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// One value of the document and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry; the key's own span is kept for "unknown key" errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// Why a document could not be read. Each carries the place it happened.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum YamlError {
    #[error("{message}")]
    Syntax { message: String, at: Span },
    #[error("duplicate key `{key}`")]
    DuplicateKey { key: String, at: Span, first: Span },
    #[error("mapping keys must be plain strings, not a {found}")]
    ComplexKey { found: &'static str, at: Span },
    #[error("nesting is deeper than {MAX_DEPTH} levels")]
    TooDeep { at: Span },
    #[error("the document holds more than {MAX_NODES} values (aliases included)")]
    TooManyValues { at: Span },
    #[error("aliases expand to more than {MAX_ALIAS_NODES} values")]
    AliasesTooLarge { at: Span },
    #[error("alias `*{}` refers to no anchor defined before it", .anchor)]
    UnknownAlias { anchor: usize, at: Span },
    #[error("a playbook is a single YAML document; a second one starts here")]
    SecondDocument { at: Span },
    #[error("the merge key `<<` takes a mapping or a list of mappings")]
    BadMerge { at: Span },
}

impl YamlError {
    pub fn span(&self) -> Span {
        match self {
            YamlError::Syntax { at, .. }
            | YamlError::DuplicateKey { at, .. }
            | YamlError::ComplexKey { at, .. }
            | YamlError::TooDeep { at }
            | YamlError::TooManyValues { at }
            | YamlError::AliasesTooLarge { at }
            | YamlError::UnknownAlias { at, .. }
            | YamlError::SecondDocument { at }
            | YamlError::BadMerge { at } => *at,
        }
    }
}

/// Parses `text` into a spanned tree.
///
/// Fatal problems (syntax, limits) stop at once; duplicate keys are collected so the user
/// sees all of them, and the first occurrence of each key is kept.
pub fn parse(text: &str) -> Result<Node, Vec<YamlError>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // The scanner ends an unterminated last line with a line break of its own, so the end of
    // a collection that runs to the end of the text can lie one line past it: clamp.
    let end = crate::source::end_of(text);
    let to_span = |span: YamlSpan| Span::new(to_pos(span.start).min(end), to_pos(span.end).min(end));
    let mut documents = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| vec![syntax_error(&e, end)])?;
        let span = to_span(span);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(vec![YamlError::SecondDocument { at: span }]);
                }
            }
            Event::StreamEnd => break,
            other => builder.event(other, span).map_err(|e| vec![e])?,
        }
    }
    let root =
        builder.root.take().unwrap_or(Node { value: NodeValue::Null, span: Span::point(Pos::new(1, 1)) });
    if builder.errors.is_empty() { Ok(root) } else { Err(builder.errors) }
}

fn to_pos(marker: saphyr_parser::Marker) -> Pos {
    Pos::new(marker.line(), marker.col() + 1)
}

fn syntax_error(error: &ScanError, end: Pos) -> YamlError {
    let pos = to_pos(*error.marker()).min(end);
    // The scanner's own limit on flow nesting (`[[[[...`) is the same problem as ours.
    if error.info() == "recursion limit exceeded" {
        return YamlError::TooDeep { at: Span::point(pos) };
    }
    YamlError::Syntax { message: error.info().to_string(), at: Span::point(pos) }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Pos,
        anchor: usize,
        /// Values below this one, so an alias to it is charged its true size.
        size: usize,
    },
    Map {
        entries: Vec<Entry>,
        key: Option<(String, Span)>,
        /// Entries that came from `<<` merge keys; explicit keys win over them.
        merged: Vec<Entry>,
        start: Pos,
        anchor: usize,
        size: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    alias_nodes: usize,
    errors: Vec<YamlError>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, span)?;
                let force_string = tag.as_ref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !force_string {
                    resolve_plain(&text)
                } else {
                    NodeValue::String(text.into_owned())
                };
                self.complete(Node { value, span }, anchor, 1)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(span)?;
                self.stack.push(Frame::Seq { items: Vec::new(), start: span.start, anchor, size: 1 });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open(span)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    merged: Vec::new(),
                    start: span.start,
                    anchor,
                    size: 1,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { items, start, anchor, size }) => {
                    let node = Node { value: NodeValue::Seq(items), span: Span::new(start, span.end) };
                    self.count(1, span)?;
                    self.complete(node, anchor, size)
                }
                _ => unreachable_event(span),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { mut entries, merged, start, anchor, size, .. }) => {
                    for entry in merged {
                        if !entries.iter().any(|e| e.key == entry.key) {
                            entries.push(entry);
                        }
                    }
                    let node = Node { value: NodeValue::Map(entries), span: Span::new(start, span.end) };
                    self.count(1, span)?;
                    self.complete(node, anchor, size)
                }
                _ => unreachable_event(span),
            },
            Event::Alias(anchor) => {
                let Some(&(_, size)) = self.anchors.get(&anchor) else {
                    return Err(YamlError::UnknownAlias { anchor, at: span });
                };
                // Charge the copy before making it, so a bomb never gets to allocate.
                self.alias_nodes = self.alias_nodes.saturating_add(size);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError::AliasesTooLarge { at: span });
                }
                self.count(size, span)?;
                let mut node = self.anchors[&anchor].0.clone();
                // The copy is reported where the alias stands, not where the anchor was.
                node.span = span;
                self.complete(node, 0, size)
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
        }
    }

    fn open(&mut self, span: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::TooDeep { at: span });
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            let found = "mapping or sequence";
            return Err(YamlError::ComplexKey { found, at: span });
        }
        Ok(())
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError::TooManyValues { at: span });
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, size: total, .. }) => {
                *total += size;
                items.push(node);
            }
            Some(Frame::Map { entries, key, merged, size: total, .. }) => match key.take() {
                None => {
                    let text = match node.value {
                        NodeValue::String(s) => s,
                        NodeValue::Null => String::new(),
                        NodeValue::Bool(b) => b.to_string(),
                        NodeValue::Int(i) => i.to_string(),
                        NodeValue::Float(f) => f.to_string(),
                        NodeValue::Seq(_) | NodeValue::Map(_) => {
                            let found = "mapping or sequence";
                            return Err(YamlError::ComplexKey { found, at: node.span });
                        }
                    };
                    *key = Some((text, node.span));
                }
                Some((name, key_span)) if name == "<<" => {
                    *total += size;
                    merge_into(merged, node, key_span)?;
                }
                Some((name, key_span)) => {
                    *total += size;
                    if let Some(first) = entries.iter().find(|e| e.key == name) {
                        self.errors.push(YamlError::DuplicateKey {
                            key: name,
                            at: key_span,
                            first: first.key_span,
                        });
                    } else {
                        entries.push(Entry { key: name, key_span, value: node });
                    }
                }
            },
        }
        Ok(())
    }
}

/// YAML's `<<: *defaults` (and `<<: [*a, *b]`): earlier sources win, explicit keys win over all.
fn merge_into(merged: &mut Vec<Entry>, node: Node, key_span: Span) -> Result<(), YamlError> {
    let sources = match node.value {
        NodeValue::Map(entries) => vec![entries],
        NodeValue::Seq(items) => items
            .into_iter()
            .map(|item| match item.value {
                NodeValue::Map(entries) => Ok(entries),
                _ => Err(YamlError::BadMerge { at: item.span }),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(YamlError::BadMerge { at: key_span }),
    };
    for entry in sources.into_iter().flatten() {
        if !merged.iter().any(|e| e.key == entry.key) {
            merged.push(entry);
        }
    }
    Ok(())
}

fn unreachable_event(span: Span) -> Result<(), YamlError> {
    // The parser never ends a container it did not start; say so rather than panic.
    Err(YamlError::Syntax { message: "unbalanced YAML events (a bug in the parser)".into(), at: span })
}

/// The YAML 1.2 core schema for plain scalars: no `yes`/`no`/`on`/`off` booleans.
fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return NodeValue::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(int) = parse_int(text) {
        return NodeValue::Int(int);
    }
    let looks_numeric =
        text.trim_start_matches(['-', '+']).starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric
        && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && let Ok(float) = text.parse::<f64>()
    {
        return NodeValue::Float(float);
    }
    NodeValue::String(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Node {
    /// The JSON value of this node, for schema validation and typed deserialization.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::Number((*i).into()),
            NodeValue::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for entry in entries {
                    map.insert(entry.key.clone(), entry.value.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// The entry for `key` if this node is a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The value under `key` if this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Follows JSON pointer segments. Returns the node and, when the last step went through
    /// a mapping, the span of that key.
    pub fn lookup<I, S>(&self, segments: I) -> Option<(&Node, Option<Span>)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut node = self;
        let mut key_span = None;
        for segment in segments {
            let segment = segment.as_ref();
            match &node.value {
                NodeValue::Map(entries) => {
                    let entry = entries.iter().find(|e| e.key == segment)?;
                    key_span = Some(entry.key_span);
                    node = &entry.value;
                }
                NodeValue::Seq(items) => {
                    node = items.get(segment.parse::<usize>().ok()?)?;
                    key_span = None;
                }
                _ => return None,
            }
        }
        Some((node, key_span))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of value this is, in the words a YAML user knows.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "boolean",
            NodeValue::Int(_) => "integer",
            NodeValue::Float(_) => "number",
            NodeValue::String(_) => "string",
            NodeValue::Seq(_) => "list",
            NodeValue::Map(_) => "mapping",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, NodeValue, YamlError, parse};
    use crate::source::Pos;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let doc = parse("a:\n  bb: [1, \"x\"]\n").unwrap();
        let (node, key) = doc.lookup(["a", "bb"]).unwrap();
        assert_eq!(key.unwrap().start, Pos::new(2, 3));
        assert_eq!(node.span.start, Pos::new(2, 7));
        let (item, _) = doc.lookup(["a", "bb", "1"]).unwrap();
        assert_eq!(item.value, NodeValue::String("x".into()));
        assert_eq!(item.span.start, Pos::new(2, 11));
    }

    #[test]
    fn resolves_yaml_1_2_core_scalars() {
        let doc = parse("[yes, no, on, true, ~, 12, -3, 0x1f, 1.5, '7', 1e3, 5s]").unwrap();
        let json = doc.to_json();
        assert_eq!(
            json,
            serde_json::json!(["yes", "no", "on", true, null, 12, -3, 31, 1.5, "7", 1000.0, "5s"])
        );
    }

    #[test]
    fn reports_every_duplicate_key() {
        let errors = parse("a: 1\nb: 2\na: 3\nb: 4\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(matches!(&errors[0], YamlError::DuplicateKey { key, .. } if key == "a"));
    }

    #[test]
    fn merge_keys_fill_in_without_overriding() {
        let doc = parse("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(doc.get("use").unwrap().to_json(), serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text =
            "a:\n".to_string() + &(1..100).map(|i| format!("{}a:\n", "  ".repeat(i))).collect::<String>();
        let errors = parse(&text).unwrap_err();
        assert!(matches!(errors[0], YamlError::TooDeep { .. }), "{errors:?} at depth {MAX_DEPTH}");
    }

    #[test]
    fn alias_bombs_stop_at_the_value_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let errors = parse(&text).unwrap_err();
        assert!(matches!(errors[0], YamlError::AliasesTooLarge { .. }), "{errors:?}");
    }
}
