//! Deterministic synthetic leads for benchmarks and demos: the same seed always gives
//! the same bytes. Fields follow the starter rules (and, for CSV, Salesforce's column
//! names), with realistic gaps: many leads lack a budget, a title or a stated need.
//! [`write_history`] writes the same kind of leads as a history of updates.
// Shared by several examples and the benches; each uses a part.
#![allow(dead_code)]

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

/// One generated lead, before it is written out. Only high-cardinality leads
/// ([`Synth::varied_lead`]) have an industry and an annual revenue.
pub struct SynthLead {
    pub id: u64,
    pub first: &'static str,
    pub last: &'static str,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: String,
    pub title: Option<String>,
    pub source: &'static str,
    pub industry: Option<&'static str>,
    pub employees: Option<u64>,
    pub annual_revenue: Option<u64>,
    pub budget: Option<u64>,
    pub pain: Option<String>,
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
            title: self.chance(80).then(|| self.pick(&TITLES).to_string()),
            source: self.pick(&SOURCES),
            industry: None,
            employees: self.chance(60).then(|| 1 + self.below(5000)),
            annual_revenue: None,
            budget: self.chance(50).then(|| 500 * (1 + self.below(200))),
            pain: self.chance(45).then(|| self.pick(&PAINS).to_string()),
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
        let lead = synth.lead(id);
        line.clear();
        lead.write_json(&mut line);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

impl SynthLead {
    /// Appends the lead as one JSON line; absent fields are left out.
    fn write_json(&self, line: &mut String) {
        let _ = write!(
            line,
            "{{\"id\":\"S-{}\",\"first_name\":\"{}\",\"last_name\":\"{}\"",
            self.id,
            json_text(self.first),
            json_text(self.last)
        );
        let text = |line: &mut String, name: &str, value: Option<&str>| {
            if let Some(value) = value {
                let _ = write!(line, ",\"{name}\":\"{}\"", json_text(value));
            }
        };
        let number = |line: &mut String, name: &str, value: Option<u64>| {
            if let Some(value) = value {
                let _ = write!(line, ",\"{name}\":{value}");
            }
        };
        text(line, "email", self.email.as_deref());
        text(line, "phone", self.phone.as_deref());
        text(line, "company", Some(&self.company));
        text(line, "lead_source", Some(self.source));
        text(line, "title", self.title.as_deref());
        text(line, "industry", self.industry);
        number(line, "employees", self.employees);
        number(line, "annual_revenue", self.annual_revenue);
        number(line, "budget", self.budget);
        text(line, "pain_points", self.pain.as_deref());
        if self.demo {
            line.push_str(",\"demo_requested\":true");
        }
        text(line, "timeline", self.timeline);
        let _ = write!(
            line,
            ",\"pricing_discussed\":{},\"page_views\":{}",
            self.pricing, self.page_views
        );
        text(line, "last_activity_at", self.last_activity.as_deref());
        line.push_str("}\n");
    }

    /// Appends the lead as one CSV row, in [`write_csv`]'s columns, then, with
    /// `industry_and_revenue`, `Industry` and `AnnualRevenue`. Cells holding a comma
    /// (titles like "Vice President, Sales") are quoted, as CSV requires.
    fn write_csv(&self, line: &mut String, industry_and_revenue: bool) {
        fn text(value: Option<&str>) -> std::borrow::Cow<'_, str> {
            csv_text(value.unwrap_or(""))
        }
        let number = |value: Option<u64>| value.map_or(String::new(), |n| n.to_string());
        let _ = write!(
            line,
            "S-{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.id,
            csv_text(self.first),
            csv_text(self.last),
            text(self.email.as_deref()),
            text(self.phone.as_deref()),
            csv_text(&self.company),
            text(self.title.as_deref()),
            csv_text(self.source),
            number(self.employees),
            number(self.budget),
            text(self.pain.as_deref()),
            if self.demo { "true" } else { "" },
            text(self.timeline),
            self.pricing,
            self.page_views,
            text(self.last_activity.as_deref()),
        );
        if industry_and_revenue {
            let _ = write!(
                line,
                ",{},{}",
                text(self.industry),
                number(self.annual_revenue)
            );
        }
        line.push('\n');
    }
}

/// Writes `count` leads as CSV with Salesforce Lead export column names.
pub fn write_csv(out: &mut impl Write, count: u64, seed: u64) -> io::Result<()> {
    out.write_all(b"Id,FirstName,LastName,Email,Phone,Company,Title,LeadSource,NumberOfEmployees,Budget__c,Pain_Points__c,Demo_Requested__c,Timeline__c,Pricing_Discussed__c,Page_Views__c,LastActivityDate\n")?;
    let mut synth = Synth::new(seed);
    let mut line = String::with_capacity(512);
    for id in 1..=count {
        let lead = synth.lead(id);
        line.clear();
        lead.write_csv(&mut line, false);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The output format of [`write_history`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    /// JSON Lines with the starter rules' field names and `updated_at`; a revised
    /// budget may come as an explicit `null` (the value was withdrawn).
    Jsonl,
    /// CSV with Salesforce column names and `LastModifiedDate`; an empty cell leaves
    /// the earlier value as it was.
    Csv,
}

/// A lead whose history is still being written.
struct Unfolding {
    lead: SynthLead,
    /// Updates still to come, this one included.
    left: u32,
    step: u32,
    /// Page views so far (they only grow).
    views: u64,
    shown_pain: bool,
    shown_budget: bool,
    shown_timeline: bool,
    shown_demo: bool,
    shown_pricing: bool,
}

/// The first day of generated histories: 2026-01-01 as days since 1970-01-01.
const HISTORY_START: i64 = 20_454;

/// Writes a realistic event history of `events` records, in time order (as a CRM
/// export sorted by modification time): leads arrive every day over about half a
/// year; each gets one to eight updates, one to fourteen days apart; need, budget,
/// timeline, demo requests and pricing talks appear over the updates, page views
/// grow, and about one lead in four goes quiet after its first update or two. The same
/// arguments always give the same bytes.
pub fn write_history(
    out: &mut impl Write,
    events: u64,
    format: HistoryFormat,
    seed: u64,
) -> io::Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    if format == HistoryFormat::Csv {
        out.write_all(b"Id,LastModifiedDate,FirstName,LastName,Email,Phone,Company,Title,LeadSource,NumberOfEmployees,Budget__c,Pain_Points__c,Demo_Requested__c,Timeline__c,Pricing_Discussed__c,Page_Views__c,LastActivityDate\n")?;
    }
    let mut synth = Synth::new(seed);
    // About 4 updates a lead, spread over 180 days of arrivals.
    let per_day = (events / 4 / 180).max(1);
    // Leads with updates to come, and when: (seconds since the start, order, slot).
    let mut live: Vec<Option<Unfolding>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut queue: BinaryHeap<Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut next_id = 1u64;
    let mut day = 0i64;
    let mut written = 0u64;
    let mut line = String::with_capacity(512);
    while written < events {
        let due = queue.peek().map(|Reverse((t, ..))| *t);
        if due.is_none_or(|t| t >= day * 86_400) {
            // Nothing is due before this day starts: let today's leads arrive.
            for _ in 0..per_day + synth.below(per_day / 2 + 1) {
                let lead = synth.lead(next_id);
                next_id += 1;
                let quiet = synth.chance(25);
                let left = if quiet {
                    1 + synth.below(2) as u32
                } else {
                    2 + synth.below(7) as u32
                };
                let unfolding = Unfolding {
                    views: synth.below(4),
                    lead,
                    left,
                    step: 0,
                    shown_pain: false,
                    shown_budget: false,
                    shown_timeline: false,
                    shown_demo: false,
                    shown_pricing: false,
                };
                let slot = match free.pop() {
                    Some(slot) => {
                        live[slot] = Some(unfolding);
                        slot
                    }
                    None => {
                        live.push(Some(unfolding));
                        live.len() - 1
                    }
                };
                let at = day * 86_400 + synth.below(86_400) as i64;
                queue.push(Reverse((at, order, slot)));
                order += 1;
            }
            day += 1;
            continue;
        }
        let Some(Reverse((at, _, slot))) = queue.pop() else {
            break;
        };
        let Some(u) = live[slot].as_mut() else {
            continue;
        };
        line.clear();
        write_update(&mut line, &mut synth, u, at, format);
        out.write_all(line.as_bytes())?;
        written += 1;
        u.step += 1;
        u.left -= 1;
        if u.left == 0 {
            live[slot] = None;
            free.push(slot);
        } else {
            let gap = 86_400 * (1 + synth.below(14) as i64) + synth.below(36_000) as i64;
            queue.push(Reverse((at + gap, order, slot)));
            order += 1;
        }
    }
    Ok(())
}

/// Writes one update of `u` at `at` (seconds since the start) and moves it on.
fn write_update(
    line: &mut String,
    synth: &mut Synth,
    u: &mut Unfolding,
    at: i64,
    format: HistoryFormat,
) {
    let date = leadscore::Date::from_unix_days(HISTORY_START + at.div_euclid(86_400))
        .map_or_else(String::new, |d| d.to_string());
    let secs = at.rem_euclid(86_400);
    let time = format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let l = &u.lead;
    let first = u.step == 0;
    // The later half of the lead's updates, when pricing talks come up.
    let late = u.step * 2 >= u.step + u.left;
    u.views += synth.below(6);
    let mut pain = None;
    if let Some(p) = l.pain.as_deref()
        && !u.shown_pain
        && (first && synth.chance(30) || synth.chance(50))
    {
        u.shown_pain = true;
        pain = Some(p);
    }
    // Some(None): the budget was withdrawn.
    let mut budget: Option<Option<u64>> = None;
    if let Some(b) = l.budget {
        if !u.shown_budget && !first && synth.chance(45) {
            u.shown_budget = true;
            budget = Some(Some(b));
        } else if u.shown_budget && synth.chance(6) {
            u.shown_budget = false;
            budget = Some(None);
        }
    }
    let mut timeline = None;
    if let Some(t) = l.timeline
        && !u.shown_timeline
        && synth.chance(35)
    {
        u.shown_timeline = true;
        timeline = Some(t);
    }
    let demo = l.demo && !u.shown_demo && !first && synth.chance(40);
    u.shown_demo |= demo;
    let pricing = l.pricing && !u.shown_pricing && (late || synth.chance(20)) && !first;
    u.shown_pricing |= pricing;
    match format {
        HistoryFormat::Jsonl => {
            let _ = write!(line, "{{\"id\":\"H-{}\",\"updated_at\":\"{time}\"", l.id);
            if first {
                let _ = write!(
                    line,
                    ",\"first_name\":\"{}\",\"last_name\":\"{}\",\"company\":\"{}\",\"lead_source\":\"{}\"",
                    l.first, l.last, l.company, l.source
                );
                if let Some(email) = &l.email {
                    let _ = write!(line, ",\"email\":\"{email}\"");
                }
                if let Some(phone) = &l.phone {
                    let _ = write!(line, ",\"phone\":\"{phone}\"");
                }
                if let Some(title) = &l.title {
                    let _ = write!(line, ",\"title\":\"{title}\"");
                }
                if let Some(n) = l.employees {
                    let _ = write!(line, ",\"employees\":{n}");
                }
            }
            if let Some(p) = pain {
                let _ = write!(line, ",\"pain_points\":\"{p}\"");
            }
            match budget {
                Some(Some(b)) => {
                    let _ = write!(line, ",\"budget\":{b}");
                }
                Some(None) => line.push_str(",\"budget\":null"),
                None => {}
            }
            if let Some(t) = timeline {
                let _ = write!(line, ",\"timeline\":\"{t}\"");
            }
            if demo {
                line.push_str(",\"demo_requested\":true");
            }
            if pricing {
                line.push_str(",\"pricing_discussed\":true");
            }
            let _ = writeln!(
                line,
                ",\"page_views\":{},\"last_activity_at\":\"{date}\"}}",
                u.views
            );
        }
        HistoryFormat::Csv => {
            let text = |v: Option<&str>| v.unwrap_or("").to_string();
            let _ = writeln!(
                line,
                "H-{},{time},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{date}",
                l.id,
                text(first.then_some(l.first)),
                text(first.then_some(l.last)),
                text(l.email.as_deref().filter(|_| first)),
                text(l.phone.as_deref().filter(|_| first)),
                text(first.then_some(l.company.as_str())),
                text(l.title.as_deref().filter(|_| first)),
                text(first.then_some(l.source)),
                l.employees
                    .filter(|_| first)
                    .map_or(String::new(), |n| n.to_string()),
                budget.flatten().map_or(String::new(), |b| b.to_string()),
                text(pain),
                if demo { "true" } else { "" },
                text(timeline),
                if pricing { "true" } else { "" },
                u.views,
            );
        }
    }
}

/// How many distinct values the generated fields take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// The original generator: names, companies, titles and emails from small arrays,
    /// budgets in 200 steps, page views below 40. Its bytes never change (benchmark
    /// figures in BENCHMARKS.md depend on them).
    Low,
    /// Realistic cardinality: an email per lead, tens of thousands of companies,
    /// several hundred titles, and budgets, employees, revenue and page views from wide
    /// log-normal ranges, so caches keyed by field values and branch predictors see
    /// what a real lead base gives them. Adds `industry` and `annual_revenue`.
    High,
}

const FIRST_MANY: [&str; 64] = [
    "Ana", "Kenji", "Maria", "Tom", "Priya", "Lucas", "Grace", "Sam", "Olga", "Nadia", "Eli",
    "Rosa", "Ahmed", "Chloe", "Diego", "Emma", "Farah", "Gabriel", "Hana", "Igor", "Jamal",
    "Keiko", "Liam", "Mei", "Noah", "Oscar", "Paula", "Quentin", "Rania", "Sofia", "Tariq", "Uma",
    "Victor", "Wen", "Xavier", "Yara", "Zoe", "Aisha", "Bruno", "Carmen", "Dmitri", "Elena",
    "Felix", "Giulia", "Hugo", "Ines", "Jonas", "Kwame", "Laura", "Mateo", "Nora", "Omar", "Pia",
    "Rafael", "Sara", "Thomas", "Ursula", "Vera", "William", "Ximena", "Yusuf", "Zainab", "Arjun",
    "Beatriz",
];
const LAST_MANY: [&str; 64] = [
    "Silva",
    "Watanabe",
    "Garcia",
    "Becker",
    "Nair",
    "Martin",
    "Okafor",
    "Lee",
    "Ivanova",
    "Diaz",
    "Smith",
    "Johnson",
    "Brown",
    "Müller",
    "Schmidt",
    "Rossi",
    "Russo",
    "Dubois",
    "Moreau",
    "Kowalski",
    "Nowak",
    "Novak",
    "Horvat",
    "Jensen",
    "Hansen",
    "Nielsen",
    "Larsen",
    "Andersson",
    "Johansson",
    "Virtanen",
    "Korhonen",
    "Papadopoulos",
    "Yilmaz",
    "Kaya",
    "Cohen",
    "Levi",
    "Haddad",
    "Khan",
    "Ali",
    "Sharma",
    "Patel",
    "Singh",
    "Wang",
    "Li",
    "Zhang",
    "Chen",
    "Liu",
    "Kim",
    "Park",
    "Nguyen",
    "Tran",
    "Santos",
    "Oliveira",
    "Souza",
    "Pereira",
    "Costa",
    "Mensah",
    "Adeyemi",
    "Mwangi",
    "Otieno",
    "O'Brien",
    "Murphy",
    "Walsh",
    "Fernández",
];
/// Free mailboxes: about a quarter of real B2B form fills use one.
const FREE_MAIL: [&str; 8] = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "proton.me",
];
const COMPANY_A: [&str; 48] = [
    "North", "Blue", "Red", "Silver", "Golden", "Bright", "Green", "Iron", "Stone", "River",
    "Lake", "Summit", "Pioneer", "Atlas", "Nova", "Apex", "Cedar", "Maple", "Oak", "Pine",
    "Harbor", "Coastal", "Prairie", "Alpine", "Urban", "Metro", "Global", "United", "First",
    "Prime", "Vertex", "Quantum", "Fusion", "Spark", "Beacon", "Falcon", "Eagle", "Lotus",
    "Tundra", "Sierra", "Delta", "Orbit", "Polar", "Sun", "Moon", "Star", "Crystal", "Ember",
];
const COMPANY_B: [&str; 40] = [
    "wind",
    "path",
    "tech",
    "works",
    "soft",
    "labs",
    "logic",
    "point",
    "bridge",
    "field",
    "line",
    "gate",
    "stream",
    "wave",
    "forge",
    "craft",
    "ware",
    "net",
    "cloud",
    "data",
    "foods",
    "health",
    "clinics",
    "energy",
    "logistics",
    "freight",
    "retail",
    "finance",
    "capital",
    "media",
    "systems",
    "dynamics",
    "analytics",
    "robotics",
    "textiles",
    "motors",
    "pharma",
    "builders",
    "farms",
    "studios",
];
const COMPANY_FORM: [&str; 8] = ["Inc", "GmbH", "Ltd", "SA", "Co", "LLC", "BV", "Pty"];
const TLDS: [&str; 10] = [
    "com", "com", "com", "io", "co", "de", "fr", "in", "com.br", "co.uk",
];
const SENIORITY: [&str; 16] = [
    "VP of",
    "Vice President,",
    "Director of",
    "Head of",
    "Senior Director of",
    "Manager,",
    "Senior Manager,",
    "Lead,",
    "Principal",
    "Senior",
    "Junior",
    "Associate",
    "Specialist,",
    "Coordinator,",
    "Intern,",
    "Global Head of",
];
const FUNCTION: [&str; 28] = [
    "Operations",
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "IT",
    "Procurement",
    "Supply Chain",
    "Customer Success",
    "Product",
    "Data",
    "Security",
    "HR",
    "People",
    "Growth",
    "Revenue Operations",
    "Business Development",
    "Logistics",
    "Facilities",
    "Analytics",
    "Strategy",
    "Partnerships",
    "Legal",
    "Compliance",
    "Quality",
    "Design",
    "Support",
    "Infrastructure",
];
/// Titles that do not follow "seniority function".
const TITLES_OTHER: [&str; 16] = [
    "Founder",
    "Co-Founder",
    "Owner",
    "CEO",
    "CFO",
    "CTO",
    "COO",
    "Chief Technology Officer",
    "Chief Revenue Officer",
    "President",
    "Consultant",
    "Analyst",
    "Student",
    "PhD Student",
    "Freelancer",
    "Office Manager",
];
const SOURCES_MANY: [&str; 14] = [
    "Web",
    "Web",
    "Web",
    "Partner Referral",
    "Trade Show",
    "Webinar",
    "Cold Call",
    "LinkedIn",
    "Customer Referral",
    "Employee Referral",
    "Paid Search",
    "Organic Search",
    "Email Campaign",
    "Content Download",
];
const TIMELINES_MANY: [&str; 9] = [
    "this quarter",
    "next year",
    "this month",
    "unknown",
    "next 30 days",
    "immediately",
    "next quarter",
    "6-12 months",
    "just researching",
];
const PAIN_VERB: [&str; 12] = [
    "manual",
    "slow",
    "error-prone",
    "no visibility into",
    "too many tools for",
    "costly",
    "outdated",
    "fragmented",
    "spreadsheet-based",
    "delayed",
    "inconsistent",
    "untracked",
];
const PAIN_OBJECT: [&str; 20] = [
    "reporting",
    "supplier management",
    "ticket handling",
    "pipeline tracking",
    "invoicing",
    "onboarding",
    "inventory",
    "forecasting",
    "scheduling",
    "dispatch",
    "compliance audits",
    "customer follow-up",
    "quoting",
    "expense approval",
    "hiring",
    "contract renewals",
    "field service",
    "lead routing",
    "budget planning",
    "vendor payments",
];
const INDUSTRIES: [&str; 24] = [
    "Software",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Financial Services",
    "Logistics",
    "Education",
    "Energy",
    "Construction",
    "Hospitality",
    "Media",
    "Telecommunications",
    "Agriculture",
    "Government",
    "Non-Profit",
    "Insurance",
    "Real Estate",
    "Pharmaceuticals",
    "Automotive",
    "Food & Beverage",
    "Professional Services",
    "Consulting",
    "Transportation",
    "Wholesale",
];
/// 2025-01-01 as days since 1970-01-01: activity dates run from here over two years.
const ACTIVITY_START: i64 = 20_089;

impl Synth {
    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A log-normal draw with this median and spread (sigma of the log): the sum of
    /// four uniforms stands in for a normal, which is close enough for test data and
    /// needs no transcendental function besides `exp`.
    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let z = (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 3f64.sqrt();
        median * (sigma * z).exp()
    }

    /// The lead numbered `id`, with realistic cardinality (see [`Cardinality::High`]).
    pub fn varied_lead(&mut self, id: u64) -> SynthLead {
        let first = self.pick(&FIRST_MANY);
        let last = self.pick(&LAST_MANY);
        let a = self.pick(&COMPANY_A);
        let b = self.pick(&COMPANY_B);
        // Several companies share a name stem; a number keeps them apart, as a CRM's
        // duplicates-by-name do ("Northwind 2").
        let company = match self.below(4) {
            0 => format!("{a}{b} {}", self.pick(&COMPANY_FORM)),
            1 => format!("{a} {}{b} {}", last, self.pick(&COMPANY_FORM)),
            _ => format!("{a}{b} {} {}", self.below(500), self.pick(&COMPANY_FORM)),
        };
        let slug: String = company
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let domain = match self.below(100) {
            0..=23 => self.pick(&FREE_MAIL).to_string(),
            24..=25 => format!("{}.edu", slug.get(..6).unwrap_or(&slug)),
            26 => self
                .pick(&["rivalsoft.com", "competico.io", "leadzilla.com"])
                .to_string(),
            _ => format!("{slug}.{}", self.pick(&TLDS)),
        };
        let local_first = ascii_lower(first);
        let local_last = ascii_lower(last);
        let email = self.chance(92).then(|| match self.below(4) {
            0 => format!("{local_first}.{local_last}@{domain}"),
            1 => format!("{}{local_last}{}@{domain}", &local_first[..1], id % 997),
            2 => format!("{local_first}_{local_last}{id}@{domain}"),
            _ => format!("{local_first}{}@{domain}", id * 7 % 100_003),
        });
        let title = self.chance(80).then(|| {
            if self.chance(85) {
                format!("{} {}", self.pick(&SENIORITY), self.pick(&FUNCTION))
            } else {
                self.pick(&TITLES_OTHER).to_string()
            }
        });
        let employees = self
            .chance(65)
            .then(|| (self.log_normal(60.0, 1.6).round() as u64).max(1));
        // Revenue follows size, with a wide spread of revenue per head.
        let annual_revenue = self.chance(40).then(|| {
            let heads = employees.unwrap_or(50) as f64;
            (heads * self.log_normal(150_000.0, 0.8) / 1000.0).round() as u64 * 1000
        });
        let budget = self
            .chance(50)
            .then(|| (self.log_normal(12_000.0, 1.3) / 50.0).round() as u64 * 50);
        let pain = self
            .chance(45)
            .then(|| format!("{} {}", self.pick(&PAIN_VERB), self.pick(&PAIN_OBJECT)));
        let day = ACTIVITY_START + self.below(730) as i64;
        SynthLead {
            id,
            first,
            last,
            email,
            phone: self.chance(40).then(|| {
                format!(
                    "+{} {:03} {:07}",
                    1 + self.below(98),
                    self.below(1000),
                    self.below(10_000_000)
                )
            }),
            company,
            title,
            source: self.pick(&SOURCES_MANY),
            industry: self.chance(70).then(|| self.pick(&INDUSTRIES)),
            employees,
            annual_revenue,
            budget,
            pain,
            demo: self.chance(20),
            timeline: self.chance(50).then(|| self.pick(&TIMELINES_MANY)),
            pricing: self.chance(25),
            // Heavy-tailed, as visits are: most leads look at a few pages, a few at
            // hundreds.
            page_views: self.log_normal(6.0, 1.3) as u64,
            last_activity: self.chance(85).then(|| {
                leadscore::Date::from_unix_days(day).map_or_else(String::new, |d| d.to_string())
            }),
        }
    }
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Writes `count` leads as JSON Lines with `cardinality`; [`Cardinality::Low`] is
/// [`write_jsonl`], byte for byte.
pub fn write_jsonl_with(
    out: &mut impl Write,
    count: u64,
    seed: u64,
    cardinality: Cardinality,
) -> io::Result<()> {
    if cardinality == Cardinality::Low {
        return write_jsonl(out, count, seed);
    }
    let mut synth = Synth::new(seed);
    let mut line = String::with_capacity(640);
    for id in 1..=count {
        let lead = synth.varied_lead(id);
        line.clear();
        lead.write_json(&mut line);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes `count` leads as CSV with `cardinality`; [`Cardinality::Low`] is
/// [`write_csv`], byte for byte. The high-cardinality columns add `Industry` and
/// `AnnualRevenue` (Salesforce's names) at the end.
pub fn write_csv_with(
    out: &mut impl Write,
    count: u64,
    seed: u64,
    cardinality: Cardinality,
) -> io::Result<()> {
    if cardinality == Cardinality::Low {
        return write_csv(out, count, seed);
    }
    out.write_all(b"Id,FirstName,LastName,Email,Phone,Company,Title,LeadSource,NumberOfEmployees,Budget__c,Pain_Points__c,Demo_Requested__c,Timeline__c,Pricing_Discussed__c,Page_Views__c,LastActivityDate,Industry,AnnualRevenue\n")?;
    let mut synth = Synth::new(seed);
    let mut line = String::with_capacity(640);
    for id in 1..=count {
        let lead = synth.varied_lead(id);
        line.clear();
        lead.write_csv(&mut line, true);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `text` as the inside of a JSON string (the generated names hold `'` but no `"` or `\`).
fn json_text(text: &str) -> &str {
    debug_assert!(!text.contains(['"', '\\']));
    text
}

/// `text` as a CSV cell: quoted when it holds a comma or a quote.
fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}
