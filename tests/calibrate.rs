//! `leadscore calibrate`: on generated histories whose true effects are known, the fit
//! recovers their order and signs and its out-of-fold AUC comes within 0.01 of the true
//! model's; degenerate histories give clear errors; `--write` changes only the numbers;
//! the same seed gives the same output.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Temp, assert_code, assert_golden, leadscore, root, stderr, stdout};
use leadscore::calibrate::{CalibrateBuilder, Calibration, Options};
use leadscore::{Date, Lead, Rules, Scorer};
use serde_json::Value;

/// The generated leads' yes/no fields, their share of leads and their true effect on
/// the log-odds of `won` (the intercept is -1). `newsletter` has none.
const FIELDS: [(&str, f64, f64); 8] = [
    ("demo", 0.3, 2.0),
    ("budget", 0.3, 1.2),
    ("pricing", 0.3, 0.6),
    ("student", 0.3, -0.8),
    ("free_mail", 0.3, -1.5),
    ("newsletter", 0.3, 0.0),
    ("webinar", 0.3, 0.9),
    ("competitor", 0.08, -2.5),
];
const INTERCEPT: f64 = -1.0;

/// xorshift64*: the tests' own reproducible randomness.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A history of `n` leads: (fields, true log-odds, won).
fn history(n: usize, seed: u64) -> Vec<(Vec<bool>, f64, bool)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n)
        .map(|_| {
            let values: Vec<bool> = FIELDS.iter().map(|f| rng.unit() < f.1).collect();
            let log_odds = INTERCEPT
                + FIELDS
                    .iter()
                    .zip(&values)
                    .filter(|(_, v)| **v)
                    .map(|(f, _)| f.2)
                    .sum::<f64>();
            let won = rng.unit() < 1.0 / (1.0 + (-log_odds).exp());
            (values, log_odds, won)
        })
        .collect()
}

fn csv(rows: &[(Vec<bool>, f64, bool)]) -> String {
    let mut out = String::from("id,");
    for f in FIELDS {
        out.push_str(f.0);
        out.push(',');
    }
    out.push_str("won\n");
    for (i, (values, _, won)) in rows.iter().enumerate() {
        out.push_str(&format!("G-{i},"));
        for v in values {
            out.push_str(if *v { "true," } else { "false," });
        }
        out.push_str(if *won { "1\n" } else { "0\n" });
    }
    out
}

/// The AUC of the true log-odds, by Mann-Whitney.
fn true_auc(rows: &[(Vec<bool>, f64, bool)]) -> f64 {
    let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (_, x, y) in rows {
        let e = counts.entry((x * 1e9).round() as i64).or_default();
        if *y {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    leadscore::report::auc(&counts).unwrap()
}

/// Calibrates the YAML rules of fixtures/calibrate/rules (no Rhai: every rule's points
/// are learned) on a generated history, through the library.
fn calibrate_yaml(
    rows: &[(Vec<bool>, f64, bool)],
    options: Options,
) -> Result<Calibration, String> {
    let dir = root().join("fixtures/calibrate/rules");
    let sources: Vec<(PathBuf, String)> = ["rules.yaml", "stages.yaml"]
        .iter()
        .map(|f| {
            let path = dir.join(f);
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    let scorer = Scorer::new(Rules::from_sources(sources.clone()).unwrap());
    let as_of = Date::parse("2026-01-15").unwrap();
    let mut builder = CalibrateBuilder::new(scorer.rules(), &sources, "won", as_of, options);
    for (i, (values, _, won)) in rows.iter().enumerate() {
        let mut lead = serde_json::Map::new();
        lead.insert("id".into(), format!("G-{i}").into());
        for (f, v) in FIELDS.iter().zip(values) {
            lead.insert(f.0.into(), (*v).into());
        }
        lead.insert("won".into(), (*won).into());
        let lead = Lead::from_json(Value::Object(lead)).unwrap();
        builder.add(&lead, &scorer.score(&lead, as_of));
    }
    builder.finish()
}

fn points(c: &Calibration, rule: &str) -> i64 {
    c.rules
        .iter()
        .find(|r| r.rule == rule)
        .unwrap_or_else(|| panic!("no rule {rule}"))
        .proposed_points
}

#[test]
fn calibrate_recovers_the_order_and_signs_of_known_effects() {
    let rows = history(6000, 12);
    let c = calibrate_yaml(&rows, Options::default()).unwrap();
    // Rules by true effect, strongest first (webinar is a Rhai rule, not in this set).
    let order = [
        "asked_for_demo",
        "has_budget",
        "talked_pricing",
        "newsletter",
        "student",
        "free_mail",
        "competitor",
    ];
    let proposed: Vec<i64> = order.iter().map(|r| points(&c, r)).collect();
    assert!(
        proposed.windows(2).all(|w| w[0] > w[1]),
        "proposed points not in the true order: {order:?} {proposed:?}\n{}",
        c.to_table()
    );
    for (rule, sign) in [
        ("asked_for_demo", 1),
        ("has_budget", 1),
        ("talked_pricing", 1),
        ("student", -1),
        ("free_mail", -1),
        ("competitor", -1),
    ] {
        assert_eq!(points(&c, rule).signum(), sign, "{rule}");
    }
    // No effect: not distinguishable from zero, proposed at 0 and flagged.
    let newsletter = c.rules.iter().find(|r| r.rule == "newsletter").unwrap();
    assert!(newsletter.not_distinguishable, "{newsletter:?}");
    assert_eq!(newsletter.proposed_points, 0);
    // The baseline matches everyone: no weight of its own, it carries the offset.
    let baseline = c.rules.iter().find(|r| r.rule == "baseline").unwrap();
    assert_eq!(baseline.coefficient, None);
    // Out of fold, the proposal ranks about as well as the true model (which also knows
    // the webinar effect the YAML rules cannot see, so compare with the true model on the
    // fields the rules read).
    let visible: Vec<(Vec<bool>, f64, bool)> = rows
        .iter()
        .map(|(v, x, y)| (v.clone(), x - if v[6] { 0.9 } else { 0.0 }, *y))
        .collect();
    let truth = true_auc(&visible);
    let got = c.cross_validated.proposed.auc.unwrap();
    assert!(
        (got - truth).abs() <= 0.01,
        "out-of-fold AUC {got} vs the true model's {truth}"
    );
    // The hand-set points rank worse than the proposal, and the ceiling is no lower.
    assert!(c.cross_validated.current.auc.unwrap() < got);
    assert!(c.cross_validated.ceiling.auc.unwrap() >= got - 0.002);
}

#[test]
fn same_seed_same_calibration_other_seed_other_folds() {
    let rows = history(1500, 3);
    let options = |seed| Options {
        seed,
        ..Options::default()
    };
    let a = calibrate_yaml(&rows, options(5)).unwrap();
    let b = calibrate_yaml(&rows, options(5)).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    let c = calibrate_yaml(&rows, options(6)).unwrap();
    assert_ne!(
        a.cross_validated.proposed, c.cross_validated.proposed,
        "another seed deals other folds"
    );
    // The in-sample proposal does not depend on the folds.
    assert_eq!(a.rules, c.rules);
}

// --- the binary ---------------------------------------------------------------------

/// Writes a generated history to a temp CSV.
fn history_file(name: &str, rows: &[(Vec<bool>, f64, bool)]) -> Temp {
    let file = Temp::new(name);
    std::fs::write(file.path(), csv(rows)).unwrap();
    file
}

fn calibrate(args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "calibrate",
        "--rules",
        "fixtures/calibrate/rules",
        "--as-of",
        "2026-01-15",
    ];
    all.extend_from_slice(args);
    leadscore(&all)
}

#[test]
fn calibrate_prints_figures_rules_and_stages() {
    let file = history_file("cal-table.csv", &history(2000, 5));
    let out = calibrate(&["--outcome", "won", file.str()]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for want in [
        "Calibrated on 2000 leads with an outcome in `won`",
        "Out of fold (5 folds, seed 0)",
        "current points",
        "proposed points",
        "ceiling (logistic)",
        "asked_for_demo",
        "not written: a Rhai rule",
        "not distinguishable from zero: proposed at 0",
        "matches every lead",
        "ready_to_convert",
    ] {
        assert!(text.contains(want), "no `{want}` in:\n{text}");
    }
    // The Rhai rule's weight is learned and reported like the others.
    let out = calibrate(&["--outcome", "won", "--format", "json", file.str()]);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let webinar = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "webinar")
        .unwrap();
    assert_eq!(webinar["written"], false);
    assert!(webinar["coefficient"].as_f64().unwrap() > 0.4, "{webinar}");
    assert!(webinar["std_error"].as_f64().unwrap() > 0.0);
    for key in [
        "matched_share",
        "rate_matched",
        "rate_unmatched",
        "current_points",
        "proposed_points",
    ] {
        assert!(webinar.get(key).is_some(), "no {key}");
    }
}

#[test]
fn calibrate_output_is_byte_identical_for_a_seed() {
    let file = history_file("cal-seed.csv", &history(1200, 8));
    let run = || {
        let out = calibrate(&[
            "--outcome",
            "won",
            "--seed",
            "42",
            "--format",
            "json",
            file.str(),
        ]);
        assert_code(&out, 0);
        stdout(&out)
    };
    assert_eq!(run(), run());
}

#[test]
fn calibrate_write_changes_only_the_numbers() {
    let file = history_file("cal-write.csv", &history(3000, 21));
    let out_dir = Temp::new("cal-write-out");
    let out = calibrate(&[
        "--outcome",
        "won",
        "--ready-precision",
        "0.8",
        "--write",
        out_dir.str(),
        file.str(),
    ]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("wrote the proposal to"),
        "{}",
        stdout(&out)
    );
    let src = root().join("fixtures/calibrate/rules");
    for name in ["rules.yaml", "stages.yaml"] {
        let before = std::fs::read_to_string(src.join(name)).unwrap();
        let after = std::fs::read_to_string(out_dir.path().join(name)).unwrap();
        assert_golden(&format!("fixtures/calibrate/expected/{name}"), &after);
        // Line by line: only `points:` and `min_score:` values differ (the disqualifier
        // without `points:` may gain one line).
        let b: Vec<&str> = before.lines().collect();
        let mut ai = after.lines().peekable();
        for line in &b {
            let mut got = ai.next().unwrap_or_default();
            if got != *line && got.trim_start().starts_with("points:") && !line.contains("points:")
            {
                // An inserted `points:` line.
                got = ai.next().unwrap_or_default();
            }
            if got != *line {
                let key = ["points:", "min_score:"]
                    .into_iter()
                    .find(|k| line.contains(k))
                    .unwrap_or_else(|| panic!("changed a line without a number:\n{line}\n{got}"));
                let cut = line.find(key).unwrap() + key.len();
                assert_eq!(got[..cut], line[..cut], "text before the number changed");
                // After the number, the rest of the line (a comment) survives.
                let rest = |l: &str| {
                    let tail = l[cut..].trim_start();
                    tail.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit())
                        .to_string()
                };
                assert_eq!(rest(got), rest(line), "text after the number changed");
            }
        }
    }
    // The Rhai rule and the rule tests are copied byte for byte.
    for name in ["engagement.rhai", "tests/basics.yaml"] {
        assert_eq!(
            std::fs::read(src.join(name)).unwrap(),
            std::fs::read(out_dir.path().join(name)).unwrap(),
            "{name}"
        );
    }
    // The proposal loads, and `diff` shows what it does.
    let out = leadscore(&["check", "--rules", out_dir.str()]);
    assert_code(&out, 0);
    let out = leadscore(&[
        "diff",
        "--rules",
        "fixtures/calibrate/rules",
        "--against",
        out_dir.str(),
        "--as-of",
        "2026-01-15",
        file.str(),
    ]);
    assert_code(&out, 0);
    // Writing again into the same (now full) folder is refused: nothing is overwritten.
    let out = calibrate(&["--outcome", "won", "--write", out_dir.str(), file.str()]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
}

#[test]
fn calibrate_html_draws_current_and_proposed_on_the_same_charts() {
    let file = history_file("cal-html.csv", &history(1500, 4));
    let page = Temp::new("cal-page.html");
    let out = calibrate(&["--outcome", "won", "--html", page.str(), file.str()]);
    assert_code(&out, 0);
    let html = page.read();
    for chart in ["roc", "gains", "calibration"] {
        assert!(
            html.contains(&format!("<svg id=\"{chart}\"")),
            "no {chart} chart"
        );
    }
    // Two series per chart: current and proposed.
    assert_eq!(html.matches("class=\"line s0\"").count(), 2);
    assert_eq!(html.matches("class=\"line s1\"").count(), 2);
    assert!(html.contains("current points: AUC"));
    assert!(!html.contains("<script") && !html.contains("http"));
}

// --- degenerate histories --------------------------------------------------------------

fn error_for(rows: &[(Vec<bool>, f64, bool)], name: &str, extra: &[&str]) -> String {
    let file = history_file(name, rows);
    let mut args = if extra.contains(&"--outcome") {
        vec![]
    } else {
        vec!["--outcome", "won"]
    };
    args.extend_from_slice(extra);
    args.push(file.str());
    let out = calibrate(&args);
    assert_code(&out, 2);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    stderr(&out)
}

fn with_outcome(rows: &[(Vec<bool>, f64, bool)], won: bool) -> Vec<(Vec<bool>, f64, bool)> {
    rows.iter().map(|(v, x, _)| (v.clone(), *x, won)).collect()
}

#[test]
fn error_when_no_lead_converted() {
    let err = error_for(&with_outcome(&history(200, 1), false), "cal-nopos.csv", &[]);
    assert!(
        err.contains("no lead has a positive outcome in `won`: all 200 are negative"),
        "{err}"
    );
}

#[test]
fn error_when_the_outcome_is_constant() {
    let err = error_for(&with_outcome(&history(200, 1), true), "cal-noneg.csv", &[]);
    assert!(
        err.contains("no lead has a negative outcome in `won`: all 200 are positive"),
        "{err}"
    );
}

#[test]
fn error_when_a_rule_never_matches() {
    // Nobody works for a competitor: the history says nothing about that rule.
    let rows: Vec<_> = history(300, 2)
        .into_iter()
        .map(|(mut v, x, y)| {
            v[7] = false;
            (v, x, y)
        })
        .collect();
    let err = error_for(&rows, "cal-never.csv", &[]);
    assert!(
        err.contains("rule `competitor` (") && err.contains("never matches a lead with an outcome"),
        "{err}"
    );
    assert!(
        err.contains("fixtures/calibrate/rules/rules.yaml:"),
        "{err}"
    );
}

#[test]
fn error_when_fewer_leads_than_folds() {
    let rows = history(4, 9);
    let err = error_for(&rows, "cal-few.csv", &[]);
    assert!(
        err.contains("4 leads with an outcome are fewer than the 5 folds"),
        "{err}"
    );
    let err = error_for(&history(300, 2), "cal-one-fold.csv", &["--folds", "1"]);
    assert!(err.contains("at least 2 folds"), "{err}");
}

#[test]
fn error_when_the_outcome_column_is_missing() {
    let err = error_for(&history(50, 2), "cal-nocol.csv", &["--outcome", "closed"]);
    assert!(err.contains("no lead has a value in `closed`"), "{err}");
}

#[test]
fn calibrate_html_labels_stay_on_their_charts() {
    let Some(browser) = common::find_browser() else {
        eprintln!(
            "SKIPPED calibrate_html_labels_stay_on_their_charts: no chromium on PATH \
             (install it with `apt-get install chromium`; .ci/run does)"
        );
        return;
    };
    let file = history_file("cal-browser.csv", &history(1500, 4));
    let dir = Temp::new("cal-browser");
    std::fs::create_dir_all(dir.path()).unwrap();
    let page = dir.path().join("calibrate.html");
    let out = calibrate(&[
        "--outcome",
        "won",
        "--html",
        page.to_str().unwrap(),
        file.str(),
    ]);
    assert_code(&out, 0);
    let off = common::labels_off_their_charts(&browser, &page, &dir.path().join("browser"));
    assert!(
        off.is_empty(),
        "labels run off their charts:\n{}",
        off.join("\n")
    );
}
