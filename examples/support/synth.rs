//! Deterministic synthetic leads for benchmarks and demos: the same seed always gives
//! the same bytes. Fields follow the starter rules (and, for CSV, Salesforce's column
//! names), with realistic gaps: many leads lack a budget, a title or a stated need.

use std::fmt::Write as _;
use std::io::{self, Write};

/// A small, fast, seeded generator (SplitMix64): no dependency, same stream everywhere.
pub struct Synth {
    state: u64,
}

const FIRST: [&str; 12] = [
    "Ana", "Kenji", "Maria", "Tom", "Priya", "Lucas", "Grace", "Sam", "Olga", "Nadia", "Eli",
    "Rosa",
];
const LAST: [&str; 10] = [
    "Silva", "Watanabe", "Garcia", "Becker", "Nair", "Martin", "Okafor", "Lee", "Ivanova", "Diaz",
];
const DOMAINS: [&str; 12] = [
    "northwind.com",
    "globex.com",
    "initech.io",
    "umbrella.co",
    "acme.com",
    "brightpath.io",
    "gmail.com",
    "yahoo.com",
    "state.edu",
    "rivalsoft.com",
    "lotusclinics.in",
    "tundra-energy.ng",
];
const TITLES: [&str; 10] = [
    "VP of Operations",
    "Head of Engineering",
    "Operations Manager",
    "Director of Sales",
    "Founder",
    "Consultant",
    "Analyst",
    "Student",
    "Chief Technology Officer",
    "Marketing Lead",
];
const SOURCES: [&str; 7] = [
    "Web",
    "Partner Referral",
    "Trade Show",
    "Webinar",
    "Cold Call",
    "LinkedIn",
    "Customer Referral",
];
const TIMELINES: [&str; 5] = [
    "this quarter",
    "next year",
    "this month",
    "unknown",
    "next 30 days",
];
const PAINS: [&str; 5] = [
    "manual reporting",
    "supplier delays",
    "ticket backlog",
    "spreadsheets everywhere",
    "no pipeline visibility",
];

/// One generated lead, before it is written out.
pub struct SynthLead {
    pub id: u64,
    pub first: &'static str,
    pub last: &'static str,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: String,
    pub title: Option<&'static str>,
    pub source: &'static str,
    pub employees: Option<u64>,
    pub budget: Option<u64>,
    pub pain: Option<&'static str>,
    pub demo: bool,
    pub timeline: Option<&'static str>,
    pub pricing: bool,
    pub page_views: u64,
    pub last_activity: Option<String>,
}

impl Synth {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Synth {
        Synth { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// The lead numbered `id`.
    pub fn lead(&mut self, id: u64) -> SynthLead {
        let first = self.pick(&FIRST);
        let last = self.pick(&LAST);
        let domain = self.pick(&DOMAINS);
        SynthLead {
            id,
            first,
            last,
            email: self.chance(90).then(|| {
                format!(
                    "{}.{}{}@{domain}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    id % 1000
                )
            }),
            phone: self
                .chance(40)
                .then(|| format!("+1 555 {:04}", self.below(10_000))),
            company: format!(
                "{} {}",
                last,
                self.pick(&["Inc", "GmbH", "Ltd", "SA", "Co"])
            ),
            title: self.chance(80).then(|| self.pick(&TITLES)),
            source: self.pick(&SOURCES),
            employees: self.chance(60).then(|| 1 + self.below(5000)),
            budget: self.chance(50).then(|| 500 * (1 + self.below(200))),
            pain: self.chance(45).then(|| self.pick(&PAINS)),
            demo: self.chance(20),
            timeline: self.chance(50).then(|| self.pick(&TIMELINES)),
            pricing: self.chance(25),
            page_views: self.below(40),
            last_activity: self
                .chance(85)
                .then(|| format!("2026-{:02}-{:02}", 1 + self.below(11), 1 + self.below(28))),
        }
    }
}

/// Writes `count` leads as JSON Lines with the starter rules' field names.
pub fn write_jsonl(out: &mut impl Write, count: u64, seed: u64) -> io::Result<()> {
    let mut synth = Synth::new(seed);
    let mut line = String::with_capacity(512);
    for id in 1..=count {
        let l = synth.lead(id);
        line.clear();
        let _ = write!(
            line,
            "{{\"id\":\"S-{}\",\"first_name\":\"{}\",\"last_name\":\"{}\"",
            l.id, l.first, l.last
        );
        if let Some(email) = &l.email {
            let _ = write!(line, ",\"email\":\"{email}\"");
        }
        if let Some(phone) = &l.phone {
            let _ = write!(line, ",\"phone\":\"{phone}\"");
        }
        let _ = write!(
            line,
            ",\"company\":\"{}\",\"lead_source\":\"{}\"",
            l.company, l.source
        );
        if let Some(title) = l.title {
            let _ = write!(line, ",\"title\":\"{title}\"");
        }
        if let Some(n) = l.employees {
            let _ = write!(line, ",\"employees\":{n}");
        }
        if let Some(b) = l.budget {
            let _ = write!(line, ",\"budget\":{b}");
        }
        if let Some(p) = l.pain {
            let _ = write!(line, ",\"pain_points\":\"{p}\"");
        }
        if l.demo {
            line.push_str(",\"demo_requested\":true");
        }
        if let Some(t) = l.timeline {
            let _ = write!(line, ",\"timeline\":\"{t}\"");
        }
        let _ = write!(
            line,
            ",\"pricing_discussed\":{},\"page_views\":{}",
            l.pricing, l.page_views
        );
        if let Some(d) = &l.last_activity {
            let _ = write!(line, ",\"last_activity_at\":\"{d}\"");
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes `count` leads as CSV with Salesforce Lead export column names.
pub fn write_csv(out: &mut impl Write, count: u64, seed: u64) -> io::Result<()> {
    out.write_all(b"Id,FirstName,LastName,Email,Phone,Company,Title,LeadSource,NumberOfEmployees,Budget__c,Pain_Points__c,Demo_Requested__c,Timeline__c,Pricing_Discussed__c,Page_Views__c,LastActivityDate\n")?;
    let mut synth = Synth::new(seed);
    let mut line = String::with_capacity(512);
    let opt = |v: Option<String>| v.unwrap_or_default();
    for id in 1..=count {
        let l = synth.lead(id);
        line.clear();
        let _ = writeln!(
            line,
            "S-{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            l.id,
            l.first,
            l.last,
            opt(l.email),
            opt(l.phone),
            l.company,
            l.title.unwrap_or(""),
            l.source,
            opt(l.employees.map(|n| n.to_string())),
            opt(l.budget.map(|n| n.to_string())),
            l.pain.unwrap_or(""),
            if l.demo { "true" } else { "" },
            l.timeline.unwrap_or(""),
            l.pricing,
            l.page_views,
            opt(l.last_activity),
        );
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}
