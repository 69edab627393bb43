//! YAML with positions: a small node tree built from yaml-rust2's marked events, so every
//! later problem (an unknown key, a bad regex) can point at its line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::Span;

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// The YAML 1.2 core-schema kinds of value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The kind of node, for messages ("expected a list, found a number").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "text",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// A problem found while reading YAML.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlProblem {
    pub span: Span,
    pub message: String,
}

/// Most nodes a file may expand to: anchors and aliases can otherwise blow a few bytes
/// up into billions of nodes.
const MAX_NODES: usize = 1_000_000;

/// Deepest nesting of lists and mappings: far beyond any rule file, and shallow enough
/// that walking the tree can never exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Parses one YAML document. `Ok(None)` for an empty file. Duplicate keys are reported
/// in the returned problems; a syntax error is the only fatal one.
pub(crate) fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlProblem>), YamlProblem> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let loaded = parser.load(&mut builder, false);
    if let Some(problem) = builder.fatal.take() {
        return Err(problem);
    }
    if let Err(e) = loaded {
        let m = e.marker();
        return Err(YamlProblem {
            span: span_at(m, 1),
            message: format!("invalid YAML: {}", e.info()),
        });
    }
    Ok((builder.root, builder.problems))
}

enum Open {
    Seq(Node, usize, Vec<Node>),
    Map(Node, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    problems: Vec<YamlProblem>,
    fatal: Option<YamlProblem>,
    nodes: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if self.nodes > MAX_NODES && self.fatal.is_none() {
            self.fatal = Some(YamlProblem {
                span: node.span,
                message: format!(
                    "the file expands to more than {MAX_NODES} values (aliases nested too deep?)"
                ),
            });
            return;
        }
        if anchor != 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Some(name) = key.as_str()
                        && let Some((first, _)) =
                            entries.iter().find(|(k, _)| k.as_str() == Some(name))
                    {
                        self.problems.push(YamlProblem {
                            span: key.span,
                            message: format!(
                                "duplicate key `{name}` (first at line {})",
                                first.span.line
                            ),
                        });
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.fatal.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let width = scalar_width(&text, style);
                let node = Node {
                    kind: resolve_scalar(text, style),
                    span: span_at(&mark, width),
                };
                self.push_value(node, anchor);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fatal = Some(YamlProblem {
                    span: span_at(&mark, 1),
                    message: format!("lists and mappings nested deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::SequenceStart(anchor, _) => {
                let head = Node {
                    kind: NodeKind::Null,
                    span: span_at(&mark, 1),
                };
                self.stack.push(Open::Seq(head, anchor, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                let head = Node {
                    kind: NodeKind::Null,
                    span: span_at(&mark, 1),
                };
                self.stack.push(Open::Map(head, anchor, Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq(head, anchor, items)) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            span: head.span,
                        },
                        anchor,
                    ),
                    // A block mapping's start mark sits after its first key; the key itself
                    // is the better place to point at.
                    Some(Open::Map(head, anchor, entries, _)) => (
                        Node {
                            span: entries.first().map_or(head.span, |(k, _)| k.span),
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.push_value(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                // Count before cloning: the clone itself is what a bomb makes expensive.
                Some((_, size)) if self.nodes + size > MAX_NODES => {
                    self.fatal = Some(YamlProblem {
                        span: span_at(&mark, 1),
                        message: format!(
                            "the file expands to more than {MAX_NODES} values (aliases nested too deep?)"
                        ),
                    });
                }
                Some((node, size)) => {
                    let node = node.clone();
                    self.nodes += size - 1;
                    self.push_value(node, 0);
                }
                None => {
                    self.fatal = Some(YamlProblem {
                        span: span_at(&mark, 1),
                        message: "alias to an unknown anchor".to_string(),
                    })
                }
            },
            _ => {}
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn span_at(mark: &Marker, len: usize) -> Span {
    Span::new(
        u32::try_from(mark.line()).unwrap_or(u32::MAX),
        u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
        u32::try_from(len).unwrap_or(u32::MAX),
    )
}

fn scalar_width(text: &str, style: TScalarStyle) -> usize {
    if text.contains('\n') {
        return 1;
    }
    let chars = text.chars().count().max(1);
    match style {
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => chars + 2,
        TScalarStyle::Plain => chars,
        _ => 1,
    }
}

fn resolve_scalar(text: String, style: TScalarStyle) -> NodeKind {
    if style != TScalarStyle::Plain {
        return NodeKind::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    if looks_numeric(&text) {
        if let Ok(n) = text.parse::<i64>() {
            return NodeKind::Int(n);
        }
        if let Ok(x) = text.parse::<f64>()
            && x.is_finite()
        {
            return NodeKind::Float(x);
        }
    }
    NodeKind::Str(text)
}

// Only what YAML 1.2's core schema calls a number; Rust would also parse "inf" or "nan".
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+' | '_'))
        && !body.contains('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().0.unwrap()
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let node = root("[1, -2.5, true, null, '10', yes, 1e3, .5]");
        let NodeKind::Seq(items) = node.kind else {
            panic!("not a list")
        };
        let kinds: Vec<_> = items.into_iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            vec![
                NodeKind::Int(1),
                NodeKind::Float(-2.5),
                NodeKind::Bool(true),
                NodeKind::Null,
                NodeKind::Str("10".into()),
                NodeKind::Str("yes".into()),
                NodeKind::Float(1000.0),
                NodeKind::Float(0.5),
            ]
        );
    }

    #[test]
    fn spans_are_one_based_and_cover_the_scalar() {
        let node = root("rules:\n  - id: x\n    when: { field: budjet }\n");
        let NodeKind::Map(top) = node.kind else {
            panic!()
        };
        let NodeKind::Seq(rules) = &top[0].1.kind else {
            panic!()
        };
        let NodeKind::Map(rule) = &rules[0].kind else {
            panic!()
        };
        let NodeKind::Map(when) = &rule[1].1.kind else {
            panic!()
        };
        assert_eq!(when[0].1.span, Span::new(3, 20, 6));
        assert_eq!(rule[0].0.span, Span::new(2, 5, 2));
    }

    #[test]
    fn quoted_scalars_span_their_quotes() {
        let node = root("a: 'x(y'\n");
        let NodeKind::Map(top) = node.kind else {
            panic!()
        };
        assert_eq!(top[0].1.span, Span::new(1, 4, 5));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("rules:\n  - id: [unclosed\n").unwrap_err();
        assert_eq!(err.span.line, 3);
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_reported_not_fatal() {
        let (node, problems) = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert!(node.is_some());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].span, Span::new(3, 1, 1));
        assert_eq!(problems[0].message, "duplicate key `a` (first at line 1)");
    }

    #[test]
    fn aliases_expand_and_bombs_are_stopped() {
        let (node, _) = parse("base: &b {x: 1}\ncopy: *b\n").unwrap();
        let NodeKind::Map(top) = node.unwrap().kind else {
            panic!()
        };
        assert_eq!(top[0].1.kind, top[1].1.kind);

        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb += &format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            );
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{}", err.message);
        let block: String = (0..300)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        let err = parse(&block).unwrap_err();
        assert!(
            err.message.contains("nested deeper than 128"),
            "{}",
            err.message
        );
    }

    #[test]
    fn empty_file_is_no_document() {
        assert_eq!(parse("# only a comment\n").unwrap().0, None);
    }
}
