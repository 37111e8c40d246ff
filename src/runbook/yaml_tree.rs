//! A YAML document as a tree that remembers where every node came from.
//!
//! serde stops at the first error, but an operator fixing a runbook wants every problem at once,
//! each with its line and column. So the loader first builds this positioned tree (with the
//! maintained `saphyr-parser`), decodes it piece by piece, and points each problem at its node.
//! Scalars are resolved with the YAML 1.2 core schema (so `no` stays a string).

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos { line: span.start.line(), col: span.start.col() + 1 }
    }
}

/// A node's content.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar and whether it was plain (unquoted), which decides its type.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order; keys are scalars.
    Map(Vec<(Node, Node)>),
}

/// A positioned node.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// One step of a path into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A problem found while reading YAML.
#[derive(Debug, Clone)]
pub struct YamlProblem {
    pub pos: Pos,
    pub message: String,
}

/// Aliases may expand; this bounds the tree so a "billion laughs" document cannot exhaust memory
/// or time (the bundled 17-step runbook is about 1,500 nodes).
const MAX_NODES: usize = 50_000;
/// Nesting deeper than this is no runbook; it also keeps recursion off the end of the stack.
const MAX_DEPTH: usize = 200;

/// Parses the first document of `src`. A syntax error ends parsing; duplicate keys are reported
/// as problems while the tree is still returned (first occurrence wins).
pub fn parse(src: &str) -> Result<(Node, Vec<YamlProblem>), YamlProblem> {
    let mut b = Builder { parser: Parser::new_from_str(src), anchors: HashMap::new(), nodes: 0, problems: Vec::new() };
    let root = b.document()?;
    Ok((root, b.problems))
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored subtrees with their sizes and depths (measured once, so an alias costs nothing
    /// to check).
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
    problems: Vec<YamlProblem>,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlProblem> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(YamlProblem {
                pos: Pos { line: e.marker().line(), col: e.marker().col() + 1 },
                message: format!("YAML syntax error: {}", e.info()),
            }),
            None => Err(YamlProblem { pos: Pos { line: 1, col: 1 }, message: "unexpected end of YAML".into() }),
        }
    }

    fn document(&mut self) -> Result<Node, YamlProblem> {
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::Nothing => continue,
                Event::DocumentStart(_) => {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::DocumentEnd) {
                        return Ok(empty_doc(&span));
                    }
                    return self.node(ev, span, 0);
                }
                Event::StreamEnd => return Ok(empty_doc(&span)),
                _ => return self.node(ev, span, 0),
            }
        }
    }

    fn count(&mut self, pos: Pos) -> Result<(), YamlProblem> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(YamlProblem {
                pos,
                message: format!("document too large (over {MAX_NODES} nodes after expanding aliases)"),
            });
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlProblem> {
        let pos = Pos::from_span(&span);
        let nodes_before = self.nodes;
        if depth > MAX_DEPTH {
            return Err(YamlProblem { pos, message: format!("nesting deeper than {MAX_DEPTH} levels") });
        }
        self.count(pos)?;
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                (Node { kind: Kind::Scalar { text: text.into_owned(), plain }, pos }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                (Node { kind: Kind::Seq(items), pos }, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(ev, span, depth + 1)?;
                    let (ev, span) = self.next()?;
                    let value = self.node(ev, span, depth + 1)?;
                    let Kind::Scalar { text, .. } = &key.kind else {
                        self.problems
                            .push(YamlProblem { pos: key.pos, message: "a mapping key must be a plain scalar".into() });
                        continue;
                    };
                    if entries.iter().any(|(k, _)| k.scalar() == Some(text.as_str())) {
                        self.problems.push(YamlProblem { pos: key.pos, message: format!("duplicate key `{text}`") });
                        continue;
                    }
                    entries.push((key, value));
                }
                (Node { kind: Kind::Map(entries), pos }, anchor)
            }
            Event::Alias(id) => {
                let Some(&(_, size, n_depth)) = self.anchors.get(&id) else {
                    return Err(YamlProblem { pos, message: "alias to an unknown anchor".into() });
                };
                if depth + n_depth > MAX_DEPTH {
                    return Err(YamlProblem {
                        pos,
                        message: format!("nesting deeper than {MAX_DEPTH} levels (through aliases)"),
                    });
                }
                // Counted before the copy is made: a bomb stops at the bound, not after it.
                self.nodes += size;
                self.count(pos)?;
                let mut n = self.anchors[&id].0.clone();
                n.pos = pos;
                return Ok(n);
            }
            other => return Err(YamlProblem { pos, message: format!("unexpected YAML event {other:?}") }),
        };
        if anchor > 0 {
            // Keeping a copy of the anchored subtree costs as much as the subtree: count it, so
            // anchors at every level of a deep document cannot multiply the work unbounded.
            self.nodes += self.nodes - nodes_before;
            self.count(pos)?;
            let (size, n_depth) = (node.size(), node.depth());
            self.anchors.insert(anchor, (node.clone(), size, n_depth));
        }
        Ok(node)
    }
}

fn empty_doc(span: &Span) -> Node {
    Node { kind: Kind::Scalar { text: String::new(), plain: true }, pos: Pos::from_span(span) }
}

impl Node {
    /// The text of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// How many levels this subtree nests.
    fn depth(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 0,
            Kind::Seq(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.depth().max(v.depth())).max().unwrap_or(0),
        }
    }

    /// Number of nodes in this subtree.
    fn size(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value under `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The deepest node along `path` (as far as the path exists), for pointing at a problem.
    pub fn locate(&self, path: &[Seg]) -> &Node {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => node.get(k),
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The position of the key `key` inside the mapping at `path`, or of the mapping itself.
    pub fn key_pos(&self, path: &[Seg], key: &str) -> Pos {
        let map = self.locate(path);
        map.entry(key).map(|(k, _)| k.pos).unwrap_or(map.pos)
    }

    /// Converts to JSON with YAML 1.2 core-schema typing of plain scalars.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Scalar { text, plain: true } => resolve_plain(text),
            Kind::Scalar { text, plain: false } => Value::String(text.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.scalar().unwrap_or_default().to_string(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// YAML 1.2 core schema resolution for a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(i.into());
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(i.into());
    }
    let looks_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_keeps_norway_a_string() {
        let (n, _) = parse("a: no\nb: 12\nc: '12'\nd: true\ne: 1.5\nf: ~\n").unwrap();
        let v = n.to_json();
        assert_eq!(v["a"], "no");
        assert_eq!(v["b"], 12);
        assert_eq!(v["c"], "12");
        assert_eq!(v["d"], true);
        assert_eq!(v["e"], 1.5);
        assert!(v["f"].is_null());
    }

    #[test]
    fn positions_are_one_based() {
        let (n, _) = parse("top:\n  inner: x\n").unwrap();
        let inner = n.locate(&[Seg::Key("top".into()), Seg::Key("inner".into())]);
        assert_eq!(inner.pos, Pos { line: 2, col: 10 });
        assert_eq!(n.key_pos(&[Seg::Key("top".into())], "inner"), Pos { line: 2, col: 3 });
    }

    #[test]
    fn duplicate_keys_are_problems() {
        let (_, problems) = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pos.line, 2);
    }

    #[test]
    fn deep_aliases_are_bounded() {
        let mut doc = String::from("a0: &a0 [x]\n");
        for i in 1..60 {
            let nested = "[".repeat(150) + &format!("*a{}", i - 1) + &"]".repeat(150);
            doc.push_str(&format!("a{i}: &a{i} {nested}\n"));
        }
        let err = parse(&doc).unwrap_err();
        assert!(err.message.contains("nesting deeper"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&doc).is_err());
    }
}
