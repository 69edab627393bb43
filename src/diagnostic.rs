//! Problems found in rule files: [`Span`], [`Diagnostic`], and the caret renderer that
//! prints them the way a compiler does.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

/// A place in a source file: 1-based line and column (in characters), and a width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
    /// Width in characters (at least 1 when rendered).
    pub len: u32,
}

impl Span {
    /// A span at `line:col`, `len` characters wide.
    pub fn new(line: u32, col: u32, len: u32) -> Span {
        Span { line, col, len }
    }
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The rules still load and work; something looks wrong.
    Warning,
    /// The rules cannot be loaded.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem in a rule file, with where it is and, when likely, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub path: PathBuf,
    /// Where in the file.
    pub span: Span,
    /// What is wrong, lowercase, naming what was found.
    pub message: String,
    /// A likely fix.
    pub help: Option<String>,
    /// The source line the span points into, for rendering.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// An error at `span` in `path`.
    pub fn error(path: impl Into<PathBuf>, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            path: path.into(),
            span,
            message: message.into(),
            help: None,
            source_line: None,
        }
    }

    /// A warning at `span` in `path`.
    pub fn warning(path: impl Into<PathBuf>, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, span, message)
        }
    }

    /// Adds a suggested fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// True for errors, false for warnings.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `path:line:col`, the place as editors and terminals link it.
    pub fn location(&self) -> String {
        format!(
            "{}:{}:{}",
            self.path.display(),
            self.span.line,
            self.span.col
        )
    }

    /// Renders the problem with its source line and a caret under the span:
    ///
    /// ```text
    /// error: unknown operator `gtee`
    ///  --> rules/bant.yaml:14:27
    ///    |
    /// 14 |     when: { field: budget, gtee: 10000 }
    ///    |                            ^^^^
    ///    = help: did you mean `gte`?
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.severity, self.message);
        let gutter = self.span.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}", self.location());
        if let Some(line) = &self.source_line {
            let line: Vec<char> = line
                .trim_end_matches(['\r', '\n'])
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let caret = (self.span.col.saturating_sub(1) as usize).min(line.len());
            let (shown, indent) = snippet_window(&line, caret);
            let width = (self.span.len.max(1) as usize).min(SNIPPET_WIDTH);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {shown}", self.span.line);
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(indent), "^".repeat(width));
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Characters of a source line shown in a snippet; longer lines are cut around the caret.
const SNIPPET_WIDTH: usize = 100;

/// The part of `line` to show, with `...` where it is cut, and the caret's indent in it.
fn snippet_window(line: &[char], caret: usize) -> (String, usize) {
    if line.len() <= SNIPPET_WIDTH {
        return (line.iter().collect(), caret);
    }
    let start = caret
        .saturating_sub(SNIPPET_WIDTH / 3)
        .min(line.len() - SNIPPET_WIDTH);
    let end = start + SNIPPET_WIDTH;
    let mut shown = String::new();
    if start > 0 {
        shown.push_str("...");
    }
    shown.extend(&line[start..end]);
    if end < line.len() {
        shown.push_str("...");
    }
    let indent = caret - start + if start > 0 { 3 } else { 0 };
    (shown, indent)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.location(),
            self.severity,
            self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// Fills each diagnostic's `source_line` from the text of its file.
pub(crate) fn attach_source_lines(diagnostics: &mut [Diagnostic], source: &str) {
    for d in diagnostics.iter_mut().filter(|d| d.source_line.is_none()) {
        d.source_line = source
            .lines()
            .nth(d.span.line.saturating_sub(1) as usize)
            .map(str::to_string);
    }
}

/// The closest name to `word` among `candidates`, when it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_caret_under_the_span() {
        let mut d = Diagnostic::error(
            "rules/bant.yaml",
            Span::new(2, 20, 6),
            "unknown field `budjet`",
        )
        .with_help("did you mean `budget`?");
        attach_source_lines(
            std::slice::from_mut(&mut d),
            "rules:\n    when: { field: budjet, gte: 10000 }\n",
        );
        assert_eq!(
            d.render(),
            "error: unknown field `budjet`\n \
             --> rules/bant.yaml:2:20\n  \
             |\n\
             2 |     when: { field: budjet, gte: 10000 }\n  \
             |                    ^^^^^^\n  \
             = help: did you mean `budget`?\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let mut d = Diagnostic::error("r.rhai", Span::new(1, 501, 1), "here");
        attach_source_lines(std::slice::from_mut(&mut d), &line);
        let rendered = d.render();
        let lines: Vec<&str> = rendered.lines().collect();
        let (snippet, caret) = (lines[3], lines[4]);
        assert!(snippet.starts_with("1 | ...aaa") && snippet.ends_with("bbb..."));
        assert_eq!(
            snippet.chars().count(),
            "1 | ".len() + 3 + SNIPPET_WIDTH + 3
        );
        // The caret still points at the X.
        let at = caret.find('^').unwrap();
        assert_eq!(snippet.chars().nth(at), Some('X'));
        // Near either end only one side is cut.
        d.span = Span::new(1, 1, 1);
        assert!(d.render().lines().nth(3).unwrap().starts_with("1 | aaa"));
        d.span = Span::new(1, 1001, 1);
        let rendered = d.render();
        let snippet = rendered.lines().nth(3).unwrap();
        assert!(
            snippet.ends_with('b') && snippet.contains("..."),
            "{snippet}"
        );
    }

    #[test]
    fn suggests_only_close_names() {
        let names = ["budget", "employees", "title"];
        assert_eq!(did_you_mean("budjet", names), Some("budget"));
        assert_eq!(did_you_mean("Budget", names), Some("budget"));
        assert_eq!(did_you_mean("revenue", names), None);
    }
}
