//! The starter YAML rules written by hand in plain Rust: the baseline the compiled rules
//! are measured against. Same rules, same verdicts (the bench checks they agree), over a
//! typed lead.

use std::sync::Arc;

use leadscore::{Date, Match, Next, Scores, Value, Verdict};
use regex::Regex;
use serde::Deserialize;

/// A lead with the starter rules' fields, typed.
#[derive(Debug, Default, Deserialize)]
pub struct TypedLead {
    pub id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub lead_source: Option<String>,
    pub employees: Option<i64>,
    pub annual_revenue: Option<f64>,
    pub budget: Option<f64>,
    pub pain_points: Option<String>,
    pub demo_requested: Option<bool>,
    pub timeline: Option<String>,
    pub pricing_discussed: Option<bool>,
    pub do_not_contact: Option<bool>,
    pub last_activity_at: Option<String>,
}

/// The hand-written rules, their regexes compiled once.
pub struct HandRules {
    decision_maker: Regex,
    senior: Regex,
    influencer: Regex,
    student: Regex,
    competitor: Regex,
    personal: Regex,
    names: Names,
}

/// Interned names, as the compiled rules hold them.
struct Names {
    need: Arc<str>,
    budget: Arc<str>,
    authority: Arc<str>,
    timeline: Arc<str>,
    pricing: Arc<str>,
    stages: [Arc<str>; 4],
    rules: Vec<Arc<str>>,
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn shown(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "(none)".to_string())
}

fn number(x: f64) -> String {
    Value::Float(x).to_string()
}

impl HandRules {
    /// Compiles the regexes.
    pub fn new() -> HandRules {
        let rule = |s: &str| Arc::from(s);
        HandRules {
            decision_maker: Regex::new(
                r"(?i)\b(vp|vice president|director|head|chief|c[eft]o|founder|owner)\b",
            )
            .unwrap(),
            senior: Regex::new(r"(?i)\b(vp|vice president|director|head|chief|c[eft]o)\b").unwrap(),
            influencer: Regex::new(r"(?i)\b(manager|lead|principal)\b").unwrap(),
            student: Regex::new(r"(?i)\bstudent\b").unwrap(),
            competitor: Regex::new(r"(?i)@(rivalsoft|competico|leadzilla)\.(com|io)$").unwrap(),
            personal: Regex::new(r"(?i)@(gmail|yahoo|hotmail|outlook|aol|icloud)\.com\s*$")
                .unwrap(),
            names: Names {
                need: rule("need"),
                budget: rule("budget"),
                authority: rule("authority"),
                timeline: rule("timeline"),
                pricing: rule("pricing_discussed"),
                stages: [
                    rule("disqualified"),
                    rule("ready_to_convert"),
                    rule("prospect"),
                    rule("lead"),
                ],
                rules: [
                    "need_stated",
                    "demo_requested",
                    "budget_confirmed",
                    "large_company",
                    "decision_maker",
                    "influencer",
                    "buying_soon",
                    "pricing_discussed",
                    "no_contact",
                    "opted_out",
                    "cannot_afford",
                    "student",
                    "competitor",
                    "recent_activity",
                    "gone_quiet",
                    "personal_email",
                    "referred",
                ]
                .into_iter()
                .map(rule)
                .collect(),
            },
        }
    }

    /// Scores a lead as the starter YAML rules do.
    pub fn score(&self, l: &TypedLead, as_of: Date) -> Verdict {
        let n = &self.names;
        let mut matched = Vec::new();
        let mut hit = |i: usize,
                       points: i64,
                       signals: &[&Arc<str>],
                       reason: Option<String>,
                       disqualify: Option<String>| {
            matched.push(Match {
                rule: n.rules[i].clone(),
                points,
                score: None,
                decay: None,
                signals: signals.iter().map(|s| (*s).clone()).collect(),
                reason,
                disqualify,
            })
        };
        let title = l.title.as_deref();
        let email = l.email.as_deref();
        if !blank(&l.pain_points) {
            hit(
                0,
                20,
                &[&n.need],
                Some(format!("stated need: {}", shown(&l.pain_points))),
                None,
            );
        }
        if l.demo_requested == Some(true) {
            hit(1, 15, &[&n.need], Some("asked for a demo".into()), None);
        }
        if l.budget.is_some_and(|b| b >= 10000.0) {
            hit(
                2,
                20,
                &[&n.budget],
                Some(format!("budget of {}", number(l.budget.unwrap_or(0.0)))),
                None,
            );
        }
        if l.employees.is_some_and(|e| e >= 200)
            || l.annual_revenue.is_some_and(|r| r >= 20_000_000.0)
        {
            let employees = l.employees.map_or("(none)".to_string(), |e| e.to_string());
            hit(3, 10, &[], Some(format!("{employees} employees")), None);
        }
        let senior = title.is_some_and(|t| self.senior.is_match(t));
        if title.is_some_and(|t| self.decision_maker.is_match(t)) {
            hit(
                4,
                20,
                &[&n.authority],
                Some(format!("title {}", shown(&l.title))),
                None,
            );
        }
        if title.is_some_and(|t| self.influencer.is_match(t)) && !senior {
            hit(5, 10, &[], Some(format!("title {}", shown(&l.title))), None);
        }
        let soon = ["immediately", "this month", "this quarter", "next 30 days"];
        if l.timeline
            .as_deref()
            .is_some_and(|t| soon.iter().any(|s| t.trim().eq_ignore_ascii_case(s)))
        {
            hit(
                6,
                15,
                &[&n.timeline],
                Some(format!("timeline: {}", shown(&l.timeline))),
                None,
            );
        }
        if l.pricing_discussed == Some(true) {
            hit(7, 15, &[&n.pricing], Some("pricing discussed".into()), None);
        }
        if blank(&l.email) && blank(&l.phone) && blank(&l.linkedin) {
            hit(8, 0, &[], None, Some("no way to contact".into()));
        }
        if l.do_not_contact == Some(true) {
            hit(9, 0, &[], None, Some("asked not to be contacted".into()));
        }
        if let Some(b) = l.budget.filter(|b| *b < 1000.0) {
            hit(
                10,
                -20,
                &[],
                None,
                Some(format!(
                    "budget of {} is below the smallest plan",
                    number(b)
                )),
            );
        }
        let edu = email.is_some_and(|e| e.trim().to_ascii_lowercase().ends_with(".edu"));
        if edu || title.is_some_and(|t| self.student.is_match(t)) {
            hit(11, 0, &[], None, Some("student".into()));
        }
        if email.is_some_and(|e| self.competitor.is_match(e)) {
            hit(
                12,
                0,
                &[],
                None,
                Some(format!("works for a competitor ({})", shown(&l.company))),
            );
        }
        let age = l
            .last_activity_at
            .as_deref()
            .and_then(Date::parse)
            .map(|d| as_of.days_since(d));
        if age.is_some_and(|a| (0..=30).contains(&a)) {
            hit(
                13,
                10,
                &[],
                Some(format!("last active {}", shown(&l.last_activity_at))),
                None,
            );
        }
        if age.is_some_and(|a| a > 180) {
            hit(
                14,
                -15,
                &[],
                Some(format!("no activity since {}", shown(&l.last_activity_at))),
                None,
            );
        }
        if email.is_some_and(|e| self.personal.is_match(e)) {
            hit(
                15,
                -5,
                &[],
                Some(format!("personal email {}", shown(&l.email))),
                None,
            );
        }
        let referrals = ["Partner Referral", "Customer Referral", "Employee Referral"];
        if l.lead_source
            .as_deref()
            .is_some_and(|s| referrals.iter().any(|r| s.trim().eq_ignore_ascii_case(r)))
        {
            hit(
                16,
                10,
                &[],
                Some(format!("source: {}", shown(&l.lead_source))),
                None,
            );
        }
        self.decide(l, matched)
    }

    fn decide(&self, l: &TypedLead, matched: Vec<Match>) -> Verdict {
        let n = &self.names;
        let score = matched.iter().map(|m| m.points).sum::<i64>().clamp(0, 100);
        let mut signals: Vec<Arc<str>> = matched
            .iter()
            .flat_map(|m| m.signals.iter().cloned())
            .collect();
        signals.sort();
        signals.dedup();
        let disqualified = matched.iter().find_map(|m| m.disqualify.clone());
        let has = |s: &Arc<str>| signals.contains(s);
        let ready = score >= 70 && has(&n.need) && has(&n.budget) && has(&n.pricing);
        let prospect = score >= 40 && has(&n.need) && has(&n.budget);
        let stage = if disqualified.is_some() {
            0
        } else if ready {
            1
        } else if prospect {
            2
        } else {
            3
        };
        let next = match stage {
            2 => Some((1, 70, vec![&n.need, &n.budget, &n.pricing])),
            3 => Some((2, 40, vec![&n.need, &n.budget])),
            _ => None,
        }
        .map(
            |(above, min, requires): (usize, i64, Vec<&Arc<str>>)| Next {
                stage: n.stages[above].clone(),
                missing: requires.into_iter().filter(|s| !has(s)).cloned().collect(),
                points_needed: (min - score).max(0),
                scores_needed: Scores::default(),
                grade_needed: None,
            },
        );
        Verdict {
            id: l.id.clone().map_or(Value::Null, Value::Text),
            score,
            scores: Scores::default(),
            grade: None,
            stage: n.stages[stage].clone(),
            transition: None,
            signals,
            matched,
            disqualified,
            next,
            errors: Vec::new(),
        }
    }
}
