//! Rule tests: known leads and what the rules must say about them, kept in
//! `rules/tests/*.yaml` and run by `leadscore test`.
//!
//! ```yaml
//! as_of: 2026-11-27              # optional; the as-of date for every case in the file
//! cases:
//!   - name: a VP with budget and a need is a prospect
//!     lead: { email: ana@acme.com, budget: 25000, title: VP Sales, pain_points: reporting }
//!     expect:
//!       stage: prospect
//!       score: { min: 40, max: 80 }   # or an exact number
//!       signals: [need, budget]        # present
//!       not_signals: [pricing_discussed]
//!       matched: [budget_confirmed]
//!       not_matched: [student]
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::date::Date;
use crate::diagnostic::{Diagnostic, Span, attach_source_lines};
use crate::error::Error;
use crate::lead::{Lead, Value};
use crate::rules::raw::Spanned;
use crate::rules::yaml::{self, Node, NodeKind};
use crate::scorer::Scorer;
use crate::verdict::Verdict;

/// The cases of one or more test files.
#[derive(Debug, Clone, Default)]
pub struct TestSuite {
    cases: Vec<TestCase>,
}

/// One case: a lead and what is expected of its verdict.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The case's name.
    pub name: String,
    /// Where it is written, `file:line`.
    pub at: String,
    lead: Lead,
    as_of: Option<Date>,
    expect: Expect,
}

#[derive(Debug, Clone, Default)]
struct Expect {
    stage: Option<String>,
    score_min: Option<i64>,
    score_max: Option<i64>,
    signals: Vec<String>,
    not_signals: Vec<String>,
    matched: Vec<String>,
    not_matched: Vec<String>,
    disqualified: Option<bool>,
    errors: Option<bool>,
    /// `grade: B`, or `grade: none` for no band reached.
    grade: Option<String>,
    /// `scores: { fit: 30, engagement: { min: 5 } }`: (dimension, min, max).
    scores: Vec<(String, Option<i64>, Option<i64>)>,
    /// `transition: up`, `down`, `new`, or `none` (the stage did not change).
    transition: Option<String>,
}

/// A case that did not come out as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// The case's name.
    pub name: String,
    /// Where it is written, `file:line`.
    pub at: String,
    /// Each expectation that failed: `stage: expected prospect, got lead`.
    pub mismatches: Vec<String>,
}

/// The outcome of running a suite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, in file order.
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    /// The report for people: each failure with expected against actual, then
    /// `N passed, M failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.failures {
            let _ = writeln!(out, "FAIL {} ({})", f.name, f.at);
            for m in &f.mismatches {
                let _ = writeln!(out, "  {m}");
            }
        }
        let _ = writeln!(
            out,
            "{} passed, {} failed",
            self.passed,
            self.failures.len()
        );
        out
    }
}

const FILE_KEYS: [&str; 2] = ["as_of", "cases"];
const CASE_KEYS: [&str; 4] = ["name", "lead", "expect", "as_of"];
const EXPECT_KEYS: [&str; 11] = [
    "stage",
    "score",
    "signals",
    "not_signals",
    "matched",
    "not_matched",
    "disqualified",
    "errors",
    "grade",
    "scores",
    "transition",
];

impl TestSuite {
    /// Loads every `*.yaml`/`*.yml` file in `dir` (no cases if the folder is missing).
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be read, [`Error::Rules`] listing every problem
    /// in the test files.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<TestSuite, Error> {
        let dir = dir.as_ref();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(TestSuite::default());
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        paths.sort();
        let mut sources = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            sources.push((path, text));
        }
        TestSuite::from_sources(&sources)
    }

    /// Loads cases from in-memory files `(path, text)`.
    ///
    /// # Errors
    /// [`Error::Rules`] listing every problem in the files.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> Result<TestSuite, Error> {
        let mut suite = TestSuite::default();
        let mut problems = Vec::new();
        for (path, text) in sources {
            let mut reader = CaseReader {
                path,
                problems: Vec::new(),
            };
            match yaml::parse(text) {
                Err(p) => reader.error(p.span, p.message),
                Ok((root, dups)) => {
                    for p in dups {
                        reader.error(p.span, p.message);
                    }
                    if let Some(root) = root {
                        suite.cases.extend(reader.file(&root));
                    }
                }
            }
            attach_source_lines(&mut reader.problems, text);
            problems.append(&mut reader.problems);
        }
        if problems.is_empty() {
            Ok(suite)
        } else {
            Err(Error::Rules(problems))
        }
    }

    /// The cases, in file order.
    pub fn cases(&self) -> &[TestCase] {
        &self.cases
    }

    /// Runs every case; a case without its own `as_of` uses `default_as_of`.
    pub fn run(&self, scorer: &Scorer, default_as_of: Date) -> TestReport {
        let mut report = TestReport::default();
        for case in &self.cases {
            let verdict = scorer.score(&case.lead, case.as_of.unwrap_or(default_as_of));
            let mismatches = case.expect.check(&verdict);
            if mismatches.is_empty() {
                report.passed += 1;
            } else {
                report.failures.push(TestFailure {
                    name: case.name.clone(),
                    at: case.at.clone(),
                    mismatches,
                });
            }
        }
        report
    }
}

impl Expect {
    fn check(&self, v: &Verdict) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(stage) = &self.stage
            && **stage != *v.stage
        {
            out.push(format!("stage: expected {stage}, got {}", v.stage));
        }
        out.extend(range_mismatch(
            "score",
            self.score_min,
            self.score_max,
            v.score,
        ));
        for (name, lo, hi) in &self.scores {
            match v.scores.get(name) {
                Some(points) => {
                    out.extend(range_mismatch(&format!("scores.{name}"), *lo, *hi, points));
                }
                None => out.push(format!(
                    "scores.{name}: the rules declare no such dimension"
                )),
            }
        }
        if let Some(want) = &self.grade {
            let got = match &v.grade {
                None => "no grading (settings.grade)",
                Some(None) => "none",
                Some(Some(grade)) => grade,
            };
            if want != got {
                out.push(format!("grade: expected {want}, got {got}"));
            }
        }
        if let Some(want) = &self.transition {
            let got = match &v.transition {
                None => "no transitions (settings.current_stage)".to_string(),
                Some(None) => "none".to_string(),
                Some(Some(t)) => t.direction.as_str().to_string(),
            };
            if *want != got {
                out.push(format!("transition: expected {want}, got {got}"));
            }
        }
        let has_signal = |s: &str| v.signals.iter().any(|x| &**x == s);
        let matched = |r: &str| v.matched.iter().any(|m| &*m.rule == r);
        let signals_got = || {
            v.signals
                .iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rules_got = || {
            v.matched
                .iter()
                .map(|m| m.rule.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for s in self.signals.iter().filter(|s| !has_signal(s)) {
            out.push(format!("signals: expected `{s}`, got [{}]", signals_got()));
        }
        for s in self.not_signals.iter().filter(|s| has_signal(s)) {
            out.push(format!(
                "signals: expected no `{s}`, got [{}]",
                signals_got()
            ));
        }
        for r in self.matched.iter().filter(|r| !matched(r)) {
            out.push(format!(
                "matched: expected `{r}` to match, matched [{}]",
                rules_got()
            ));
        }
        for r in self.not_matched.iter().filter(|r| matched(r)) {
            out.push(format!("matched: expected `{r}` not to match, but it did"));
        }
        if let Some(want) = self.disqualified
            && want != v.disqualified.is_some()
        {
            out.push(match &v.disqualified {
                Some(reason) => format!("disqualified: expected no, got yes ({reason})"),
                None => "disqualified: expected yes, got no".to_string(),
            });
        }
        if let Some(want) = self.errors
            && want == v.errors.is_empty()
        {
            let got: Vec<String> = v
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.rule, e.message))
                .collect();
            out.push(format!(
                "errors: expected {}, got [{}]",
                if want { "some" } else { "none" },
                got.join("; ")
            ));
        }
        out
    }
}

/// `what: expected N, got M` (or `expected LO to HI`) when `got` is out of range.
fn range_mismatch(what: &str, lo: Option<i64>, hi: Option<i64>, got: i64) -> Option<String> {
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo == hi => {
            (got != lo).then(|| format!("{what}: expected {lo}, got {got}"))
        }
        (lo, hi) if lo.is_some_and(|lo| got < lo) || hi.is_some_and(|hi| got > hi) => {
            let show = |b: Option<i64>| b.map_or("any".to_string(), |n| n.to_string());
            Some(format!(
                "{what}: expected {} to {}, got {got}",
                show(lo),
                show(hi)
            ))
        }
        _ => None,
    }
}

struct CaseReader<'p> {
    path: &'p Path,
    problems: Vec<Diagnostic>,
}

impl CaseReader<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(self.path, span, message));
    }

    fn entries<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.span,
                format!("expected {what}, found {}", node.kind_name()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            match k.as_str() {
                Some(name) if known.contains(&name) => out.push((name, v)),
                Some(name) => {
                    let mut d = Diagnostic::error(
                        self.path,
                        k.span,
                        format!("unknown key `{name}` in {what}"),
                    );
                    d.help = Some(format!("known keys: {}", known.join(", ")));
                    self.problems.push(d);
                }
                None => self.error(k.span, format!("expected a key in {what}")),
            }
        }
        out
    }

    fn file(&mut self, root: &Node) -> Vec<TestCase> {
        let mut as_of = None;
        let mut cases = Vec::new();
        for (key, value) in self.entries(root, "a test file", &FILE_KEYS) {
            match key {
                "as_of" => as_of = self.date(value),
                _ => match &value.kind {
                    NodeKind::Seq(items) => {
                        cases = items.iter().filter_map(|c| self.case(c)).collect()
                    }
                    _ => self.error(value.span, "expected a list of cases"),
                },
            }
        }
        for case in &mut cases {
            case.as_of = case.as_of.or(as_of);
        }
        cases
    }

    fn case(&mut self, node: &Node) -> Option<TestCase> {
        let mut name = None;
        let mut lead = None;
        let mut expect = None;
        let mut as_of = None;
        for (key, value) in self.entries(node, "a test case", &CASE_KEYS) {
            match key {
                "name" => name = self.text(value),
                "lead" => match node_value(value) {
                    Value::Map(fields) => lead = Some(fields.into_iter().collect::<Lead>()),
                    _ => self.error(value.span, "expected the lead as a mapping of fields"),
                },
                "expect" => expect = Some(self.expect(value)),
                _ => as_of = self.date(value),
            }
        }
        let at = format!("{}:{}", self.path.display(), node.span.line);
        let what = if lead.is_none() { "lead" } else { "expect" };
        let (Some(lead), Some(expect)) = (lead, expect) else {
            self.error(node.span, format!("test case has no `{what}`"));
            return None;
        };
        Some(TestCase {
            name: name.map_or_else(|| format!("case at line {}", node.span.line), |n| n.value),
            at,
            lead,
            as_of,
            expect,
        })
    }

    fn expect(&mut self, node: &Node) -> Expect {
        let mut e = Expect::default();
        for (key, value) in self.entries(node, "`expect`", &EXPECT_KEYS) {
            match key {
                "stage" => e.stage = self.text(value).map(|s| s.value),
                "score" => (e.score_min, e.score_max) = self.range(value, "`score`"),
                "scores" => {
                    for (name, range) in self.pairs(value, "`scores` (dimension: points)") {
                        let (lo, hi) = self.range(range, "a dimension's points");
                        e.scores.push((name, lo, hi));
                    }
                }
                "grade" => {
                    e.grade = match &value.kind {
                        NodeKind::Null => Some("none".to_string()),
                        _ => self.text(value).map(|s| s.value),
                    }
                }
                "transition" => {
                    let directions = ["up", "down", "new", "none"];
                    e.transition = match &value.kind {
                        NodeKind::Null => Some("none".to_string()),
                        NodeKind::Str(s) if directions.contains(&s.as_str()) => Some(s.clone()),
                        _ => {
                            self.error(value.span, "expected up, down, new or none");
                            None
                        }
                    }
                }
                "signals" => e.signals = self.names(value),
                "not_signals" => e.not_signals = self.names(value),
                "matched" => e.matched = self.names(value),
                "not_matched" => e.not_matched = self.names(value),
                "disqualified" => e.disqualified = self.flag(value),
                _ => e.errors = self.flag(value),
            }
        }
        e
    }

    /// A number, or `{ min, max }` with either bound.
    fn range(&mut self, value: &Node, what: &str) -> (Option<i64>, Option<i64>) {
        let mut range = (None, None);
        match &value.kind {
            NodeKind::Int(n) => range = (Some(*n), Some(*n)),
            NodeKind::Map(_) => {
                for (k, v) in self.entries(value, what, &["min", "max"]) {
                    let n = match v.kind {
                        NodeKind::Int(n) => Some(n),
                        _ => {
                            self.error(v.span, "expected a whole number");
                            None
                        }
                    };
                    if k == "min" {
                        range.0 = n;
                    } else {
                        range.1 = n;
                    }
                }
            }
            _ => self.error(value.span, "expected a number, or { min, max }"),
        }
        range
    }

    /// The entries of a mapping with any keys, in written order.
    fn pairs<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(String, &'n Node)> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.span,
                format!("expected {what}, found {}", node.kind_name()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            match k.as_str() {
                Some(name) => out.push((name.to_string(), v)),
                None => self.error(k.span, format!("expected a name in {what}")),
            }
        }
        out
    }

    fn text(&mut self, node: &Node) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Str(s) => Some(Spanned {
                value: s.clone(),
                span: node.span,
            }),
            _ => {
                self.error(
                    node.span,
                    format!("expected text, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn names(&mut self, node: &Node) -> Vec<String> {
        match &node.kind {
            NodeKind::Str(s) => vec![s.clone()],
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| self.text(i))
                .map(|s| s.value)
                .collect(),
            _ => {
                self.error(node.span, "expected a list of names");
                Vec::new()
            }
        }
    }

    fn flag(&mut self, node: &Node) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => {
                self.error(node.span, "expected true or false");
                None
            }
        }
    }

    fn date(&mut self, node: &Node) -> Option<Date> {
        let date = node.as_str().and_then(Date::parse);
        if date.is_none() {
            self.error(node.span, "expected a date (YYYY-MM-DD)");
        }
        date
    }
}

/// A YAML node as a lead value.
fn node_value(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(n) => Value::Int(*n),
        NodeKind::Float(x) => Value::Float(*x),
        NodeKind::Str(s) => Value::Text(s.clone()),
        NodeKind::Seq(items) => Value::List(items.iter().map(node_value).collect()),
        NodeKind::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (node_value(k).to_string(), node_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    fn scorer() -> Scorer {
        let rules = "rules:\n  - id: big\n    when: { field: budget, gte: 10000 }\n    points: 50\n    signals: [budget]\n";
        Scorer::new(
            Rules::from_sources(vec![(PathBuf::from("r.yaml"), rules.to_string())]).unwrap(),
        )
    }

    fn run(cases: &str) -> TestReport {
        let suite =
            TestSuite::from_sources(&[(PathBuf::from("t.yaml"), cases.to_string())]).unwrap();
        suite.run(&scorer(), Date::parse("2024-01-01").unwrap())
    }

    #[test]
    fn passing_and_failing_cases_are_counted() {
        let report = run(
            "cases:\n  - name: rich\n    lead: { budget: 20000 }\n    expect: { stage: lead, score: 50, signals: [budget], matched: [big] }\n  - name: poor\n    lead: { budget: 5 }\n    expect: { stage: prospect, score: { min: 10 }, signals: budget, disqualified: true }\n",
        );
        assert_eq!(report.passed, 1);
        assert_eq!(
            report.failures,
            vec![TestFailure {
                name: "poor".into(),
                at: "t.yaml:5".into(),
                mismatches: vec![
                    "stage: expected prospect, got lead".into(),
                    "score: expected 10 to any, got 0".into(),
                    "signals: expected `budget`, got []".into(),
                    "disqualified: expected yes, got no".into(),
                ],
            }]
        );
        assert!(report.render().ends_with("1 passed, 1 failed\n"));
    }

    #[test]
    fn mistakes_in_test_files_point_at_the_line() {
        let err = TestSuite::from_sources(&[(
            PathBuf::from("t.yaml"),
            "cases:\n  - name: x\n    lead: { a: 1 }\n    expcet: { stage: lead }\n".to_string(),
        )])
        .unwrap_err();
        let found: Vec<String> = err.diagnostics().iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("t.yaml:4:5: error: unknown key `expcet` in a test case"));
        assert!(found[1].starts_with("t.yaml:2:5: error: test case has no `expect`"));
    }
}
