//! The YAML rewrite behind `calibrate --write`: find each rule's `points:` value and each
//! stage's `min_score:` value by the positions the spanned YAML tree keeps, and replace
//! just those characters, so comments, order and formatting survive byte for byte.

use crate::diagnostic::Span;
use crate::rules::yaml::{self, Node, NodeKind};

/// Where a mapping (a rule or a stage) keeps a number, by the mapping's `id`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NumberSite {
    /// The rule or stage id.
    pub id: String,
    /// The value's position, when the key is written.
    pub value: Option<Span>,
    /// The `id` key's position: a missing key is inserted on the line after it.
    pub id_key: Span,
}

/// The `points:` sites of the rules in one YAML file (empty for a file without `rules:`
/// or one that does not parse: the loader has already reported those).
pub(crate) fn points_sites(text: &str) -> Vec<NumberSite> {
    sites(text, "rules", "points")
}

/// The `min_score:` sites of the stages in one YAML file.
pub(crate) fn min_score_sites(text: &str) -> Vec<NumberSite> {
    sites(text, "stages", "min_score")
}

fn sites(text: &str, list: &str, key: &str) -> Vec<NumberSite> {
    let Ok((Some(root), _)) = yaml::parse(text) else {
        return Vec::new();
    };
    let Some(items) = get(&root, list) else {
        return Vec::new();
    };
    let NodeKind::Seq(items) = &items.kind else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let NodeKind::Map(entries) = &item.kind else {
                return None;
            };
            let (id_key, id) = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("id"))
                .and_then(|(k, v)| Some((k.span, scalar_text(v)?)))?;
            let value = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.span);
            Some(NumberSite { id, value, id_key })
        })
        .collect()
}

fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Str(s) => Some(s.clone()),
        NodeKind::Int(i) => Some(i.to_string()),
        NodeKind::Float(f) => Some(f.to_string()),
        NodeKind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One change to a file's text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Edit {
    /// Replace the characters at the span with the text.
    Replace(Span, String),
    /// Insert `key: value` as a new line after the `id` key's line, indented like it.
    /// Only for block mappings (`- id: x` on its own line); `None` from [`apply`] for a
    /// flow mapping (`{ id: x, ... }`).
    InsertAfter(Span, String),
}

/// Applies the edits; `Err` names the id key of an insertion that cannot be made (the
/// mapping is written inline as `{ ... }`).
pub(crate) fn apply(text: &str, edits: &[Edit]) -> Result<String, Span> {
    // Byte ranges to replace, applied from the end so earlier offsets stay valid.
    let mut changes: Vec<(usize, usize, String)> = Vec::new();
    for edit in edits {
        match edit {
            Edit::Replace(span, value) => {
                let start = offset(text, span.line, span.col).ok_or(*span)?;
                let end = offset_from(text, start, span.len as usize);
                changes.push((start, end, value.clone()));
            }
            Edit::InsertAfter(span, line) => {
                let start = offset(text, span.line, span.col).ok_or(*span)?;
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let before = &text[line_start..start];
                // Block style: only spaces and list dashes before the key.
                if !before.chars().all(|c| c == ' ' || c == '-') {
                    return Err(*span);
                }
                let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                let rest = &text[start..end];
                if rest.contains('{') || rest.contains('[') {
                    return Err(*span);
                }
                let indent = " ".repeat(span.col.saturating_sub(1) as usize);
                let newline = if text[..end].ends_with('\r') {
                    "\r\n"
                } else {
                    "\n"
                };
                let insert = format!("{newline}{indent}{line}");
                // After the line's text, before its line break: for `\r\n` the break
                // starts at the `\r`.
                let at = if text[..end].ends_with('\r') {
                    end - 1
                } else {
                    end
                };
                changes.push((at, at, insert));
            }
        }
    }
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = text.to_string();
    for (start, end, value) in changes {
        out.replace_range(start..end, &value);
    }
    Ok(out)
}

/// The byte offset of a 1-based line and character column.
fn offset(text: &str, line: u32, col: u32) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = &text[start..];
    let line_end = line_text.find('\n').unwrap_or(line_text.len());
    let mut chars = line_text[..line_end].char_indices();
    let at = match col.saturating_sub(1) as usize {
        0 => 0,
        n => chars.nth(n).map_or(line_end, |(i, _)| i),
    };
    Some(start + at)
}

/// The byte offset `chars` characters after `start` (stopping at the line end).
fn offset_from(text: &str, start: usize, chars: usize) -> usize {
    let rest = &text[start..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    rest[..line_end]
        .char_indices()
        .nth(chars.max(1))
        .map_or(start + line_end, |(i, _)| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "# Points were set by hand.\nrules:\n  - id: big_budget   # the big one\n    when: { field: budget, gte: 10000 }\n    points: 40\n\n  - id: gmail\n    when: { field: email, ends_with: \"@gmail.com\" }\n    points: -5 # free mail\n  - id: banned\n    when: { field: country, eq: XX }\n    disqualify: banned country\n  - { id: inline, when: { field: a, eq: 1 }, points: 3 }\n";

    #[test]
    fn finds_each_points_value() {
        let sites = points_sites(RULES);
        type Found<'a> = (&'a str, Option<(u32, u32, u32)>);
        let found: Vec<Found> = sites
            .iter()
            .map(|s| (s.id.as_str(), s.value.map(|v| (v.line, v.col, v.len))))
            .collect();
        assert_eq!(
            found,
            [
                ("big_budget", Some((5, 13, 2))),
                ("gmail", Some((9, 13, 2))),
                ("banned", None),
                ("inline", Some((13, 54, 1))),
            ]
        );
    }

    #[test]
    fn replaces_only_the_numbers() {
        let sites = points_sites(RULES);
        let edits = vec![
            Edit::Replace(sites[0].value.unwrap(), "35".into()),
            Edit::Replace(sites[1].value.unwrap(), "-12".into()),
            Edit::InsertAfter(sites[2].id_key, "points: 7".into()),
            Edit::Replace(sites[3].value.unwrap(), "0".into()),
        ];
        let out = apply(RULES, &edits).unwrap();
        let expected = RULES
            .replace("points: 40", "points: 35")
            .replace("points: -5 #", "points: -12 #")
            .replace("id: banned\n", "id: banned\n    points: 7\n")
            .replace("points: 3 }", "points: 0 }");
        assert_eq!(out, expected);
    }

    #[test]
    fn will_not_insert_into_an_inline_mapping() {
        let sites = points_sites(RULES);
        let span = sites[3].id_key;
        assert_eq!(
            apply(RULES, &[Edit::InsertAfter(span, "points: 1".into())]),
            Err(span)
        );
    }

    #[test]
    fn stage_min_scores() {
        let text = "stages:\n  - id: hot\n    min_score: 60 # call now\n  - id: cold\n";
        let sites = min_score_sites(text);
        assert_eq!(sites.len(), 2);
        let out = apply(
            text,
            &[
                Edit::Replace(sites[0].value.unwrap(), "55".into()),
                Edit::InsertAfter(sites[1].id_key, "min_score: 10".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "stages:\n  - id: hot\n    min_score: 55 # call now\n  - id: cold\n    min_score: 10\n"
        );
    }

    /// Replaces each points value with `#` (by the sites found in that text).
    fn masked(text: &str) -> String {
        let edits: Vec<Edit> = points_sites(text)
            .into_iter()
            .filter_map(|s| s.value)
            .map(|span| Edit::Replace(span, "#".into()))
            .collect();
        apply(text, &edits).unwrap()
    }

    proptest::proptest! {
        /// Whatever the comments, spacing and numbers, a rewrite changes the points values
        /// and nothing else, and the new values read back as written.
        #[test]
        fn a_rewrite_changes_only_the_numbers(
            rules in proptest::collection::vec(
                (
                    proptest::option::of(-1000i64..1000),
                    -1000i64..1000,
                    0usize..4,
                    "[ a-zA-Z0-9:#,.é-]{0,20}",
                    proptest::bool::ANY,
                ),
                1..8,
            ),
        ) {
            let mut text = String::from("# rules\nrules:\n");
            for (i, (points, _, spaces, comment, crlf)) in rules.iter().enumerate() {
                let nl = if *crlf { "\r\n" } else { "\n" };
                text.push_str(&format!("  - id: r{i}{nl}    when: {{ expr: \"true\" }}{nl}"));
                if let Some(p) = points {
                    text.push_str(&format!(
                        "    points:{}{p} # {comment}{nl}",
                        " ".repeat(spaces + 1)
                    ));
                }
            }
            let sites = points_sites(&text);
            proptest::prop_assert_eq!(sites.len(), rules.len());
            let edits: Vec<Edit> = sites
                .iter()
                .zip(&rules)
                .map(|(site, (_, new, ..))| match site.value {
                    Some(span) => Edit::Replace(span, new.to_string()),
                    None => Edit::InsertAfter(site.id_key, format!("points: {new}")),
                })
                .collect();
            let out = apply(&text, &edits).unwrap();
            // Read back: every rule now has its new value.
            let after = points_sites(&out);
            let (root, _) = yaml::parse(&out).unwrap();
            proptest::prop_assert!(root.is_some());
            for (site, (_, new, ..)) in after.iter().zip(&rules) {
                let span = site.value.unwrap();
                let line = out.lines().nth(span.line as usize - 1).unwrap();
                let value: String = line.chars().skip(span.col as usize - 1).take(span.len as usize).collect();
                proptest::prop_assert_eq!(value, new.to_string());
            }
            // Nothing else changed: masked, the texts agree (inserted lines aside).
            let inserted = rules.iter().any(|r| r.0.is_none());
            if !inserted {
                proptest::prop_assert_eq!(masked(&text), masked(&out));
            }
        }
    }
}
