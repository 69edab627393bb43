//! From qualified lead to opportunity: each lead in the ready stage becomes one
//! [`Opportunity`], with its estimated amount, its contact, and the [`Account`] it
//! belongs to: an existing one matched by company email domain or normalised company
//! name, or a new one, never two for the same company in a run.
//!
//! ```
//! use leadscore::convert::{Account, Conversion, Converter};
//! use leadscore::{Date, Lead, Rules, Scorer};
//!
//! let scorer = Scorer::new(Rules::load_dir("rules")?);
//! let as_of = Date::parse("2026-11-27").unwrap();
//! let accounts = vec![Account::new("A-1", "Northwind Traders, Inc.", Some("northwind.com"))];
//! let mut converter = Converter::new(&scorer, accounts, as_of);
//! let lead = Lead::from_json(serde_json::json!({
//!     "id": "L-1", "first_name": "Ana", "email": "ana@northwind.com", "company": "Northwind",
//!     "budget": 48000, "pain_points": "manual reporting", "pricing_discussed": true,
//!     "title": "VP Operations",
//! }))?;
//! let verdict = scorer.score(&lead, as_of);
//! let Conversion::Converted { opportunity, .. } = converter.convert(&lead, &verdict) else {
//!     panic!("the lead is ready to convert");
//! };
//! assert_eq!(opportunity.account.id, "A-1");
//! assert_eq!(opportunity.amount, leadscore::Value::Int(48000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::date::Date;
use crate::lead::{Bound, Lead, Value};
use crate::rules::{Amount, Rules};
use crate::scorer::Scorer;
use crate::verdict::Verdict;

/// An account: an existing one read from `--accounts`, or one made for a new company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account id (`new-1`, `new-2`, ... for accounts made in this run).
    pub id: String,
    /// The account name as written.
    pub name: String,
    /// The company's web domain (`acme.com`), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Account {
    /// An account; `domain` may be a bare domain or a website (`https://www.acme.com/`).
    pub fn new(id: &str, name: &str, domain: Option<&str>) -> Account {
        Account {
            id: id.trim().to_string(),
            name: name.trim().to_string(),
            domain: domain.and_then(website_domain),
        }
    }

    /// Reads an account from a record of an accounts file: `id` and `name` are required,
    /// `domain` or `website` optional. Column names are compared ignoring case, spaces
    /// and underscores, and `account_id`/`account_name` are accepted too, so a CRM
    /// export's `Id`, `Account Name`, `Website` columns work as they are.
    ///
    /// # Errors
    /// When the record has no id or no name.
    pub fn from_record(record: &Lead) -> Result<Account, String> {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| loose_get(record, name).and_then(text_of))
        };
        let id = get(&["id", "account_id"]);
        let name = get(&["name", "account_name", "company"]);
        let domain = get(&["domain"]).or_else(|| get(&["website", "url"]));
        match (id, name) {
            (Some(id), Some(name)) => Ok(Account::new(&id, &name, domain.as_deref())),
            (None, _) => Err("an account needs an `id`".to_string()),
            (_, None) => Err("an account needs a `name`".to_string()),
        }
    }
}

/// The account an opportunity belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRef {
    /// The account id.
    pub id: String,
    /// The account name.
    pub name: String,
    /// True for an account from `--accounts`, false for one made in this run.
    pub existing: bool,
    /// How the lead was matched to it: `domain`, `name`, or `new` (made for this
    /// company by its first lead in the run).
    pub matched_by: MatchKind,
}

/// How a lead found its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// The lead's company email domain is the account's domain (or a subdomain of it).
    Domain,
    /// The lead's company name, normalised, is the account's.
    Name,
    /// No account matched: this lead made a new one.
    New,
}

impl MatchKind {
    /// `domain`, `name` or `new`.
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Domain => "domain",
            MatchKind::Name => "name",
            MatchKind::New => "new",
        }
    }
}

/// The person an opportunity came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Contact {
    /// `first_name last_name`, or `name`.
    pub name: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// The phone number.
    pub phone: Option<String>,
}

/// One opportunity, made from one lead ready to convert. Serializes to the documented
/// JSON object, keys in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opportunity {
    /// `<account name> opportunity`.
    pub name: String,
    /// The estimated amount from the `amount:` setting; null when the lead has none.
    pub amount: Value,
    /// The account it belongs to.
    pub account: AccountRef,
    /// The person it came from.
    pub contact: Contact,
    /// The id of the lead it was made from.
    pub source_lead: Value,
    /// The lead's score at conversion.
    pub score: i64,
    /// The lead's stage at conversion.
    pub stage: Arc<str>,
    /// The lead's signals at conversion.
    pub signals: Vec<Arc<str>>,
}

impl Opportunity {
    /// The opportunity as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string())
    }

    /// The CSV header matching [`Opportunity::csv_row`].
    pub const CSV_HEADER: [&'static str; 13] = [
        "name",
        "amount",
        "account_id",
        "account_name",
        "account_existing",
        "matched_by",
        "contact_name",
        "contact_email",
        "contact_phone",
        "source_lead",
        "score",
        "stage",
        "signals",
    ];

    /// The opportunity as a CSV row (empty cells for missing values, signals joined
    /// with `;`).
    pub fn csv_row(&self) -> [String; 13] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let plain = |v: &Value| match v {
            Value::Null => String::new(),
            other => other.to_string(),
        };
        [
            self.name.clone(),
            plain(&self.amount),
            self.account.id.clone(),
            self.account.name.clone(),
            self.account.existing.to_string(),
            self.account.matched_by.name().to_string(),
            opt(&self.contact.name),
            opt(&self.contact.email),
            opt(&self.contact.phone),
            plain(&self.source_lead),
            self.score.to_string(),
            self.stage.to_string(),
            self.signals
                .iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(";"),
        ]
    }
}

/// What became of one scored lead.
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// The lead is not in the ready stage.
    NotReady,
    /// The lead became an opportunity.
    Converted {
        /// The opportunity.
        opportunity: Box<Opportunity>,
        /// Why the amount is null, when it is.
        amount_problem: Option<String>,
    },
}

/// Counts of a conversion run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvertCounts {
    /// Leads that became opportunities.
    pub converted: u64,
    /// Scored leads not in the ready stage (disqualified ones included).
    pub not_ready: u64,
    /// Opportunities whose amount is null.
    pub without_amount: u64,
    /// Accounts made in this run.
    pub new_accounts: u64,
    /// Distinct existing accounts that received an opportunity.
    pub existing_accounts: u64,
}

/// Turns scored leads into opportunities, remembering the accounts it made so a company
/// gets one account per run. Feed it leads in input order: new account ids (`new-1`,
/// `new-2`, ...) follow the order in which companies first appear.
#[derive(Debug)]
pub struct Converter {
    scorer: Scorer,
    as_of: Date,
    ready: Arc<str>,
    book: AccountBook,
    counts: ConvertCounts,
}

impl Converter {
    /// A converter for leads scored by `scorer`, attaching opportunities to `accounts`
    /// when they match. Leads are converted when they are in the ready stage: the top
    /// stage of the policy that is not a disqualified one (`ready_to_convert` in the
    /// starter rules). `as_of` is the date an `amount: { expr }` sees.
    pub fn new(scorer: &Scorer, accounts: Vec<Account>, as_of: Date) -> Converter {
        Converter {
            ready: ready_stage(scorer.rules()),
            scorer: scorer.clone(),
            as_of,
            book: AccountBook::new(accounts),
            counts: ConvertCounts::default(),
        }
    }

    /// Converts leads of `stage` instead of the top stage.
    ///
    /// # Errors
    /// Names the stages when the rules have no such stage.
    pub fn with_stage(mut self, stage: &str) -> Result<Converter, String> {
        let rules = self.scorer.rules();
        if rules.stage_ids().any(|s| s == stage) {
            self.ready = Arc::from(stage);
            return Ok(self);
        }
        Err(format!(
            "no stage `{stage}` in the rules; the stages are: {}",
            rules.stage_ids().collect::<Vec<_>>().join(", ")
        ))
    }

    /// The stage whose leads are converted.
    pub fn ready_stage(&self) -> &str {
        &self.ready
    }

    /// Converts one lead, given its verdict from this converter's scorer.
    pub fn convert(&mut self, lead: &Lead, verdict: &Verdict) -> Conversion {
        if verdict.stage != self.ready {
            self.counts.not_ready += 1;
            return Conversion::NotReady;
        }
        let rules = self.scorer.rules();
        let bound = rules.schema.bind(lead);
        let get = |name: &str| field_value(rules, &bound, lead, name).and_then(text_of);
        let company = ["company", "company_name", "organization", "organisation"]
            .iter()
            .find_map(|n| get(n));
        let first = get("first_name");
        let last = get("last_name");
        let contact_name = match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => ["name", "full_name", "contact_name"]
                .iter()
                .find_map(|n| get(n)),
        };
        let contact = Contact {
            name: contact_name,
            email: get("email"),
            phone: get("phone").or_else(|| get("mobile_phone")),
        };
        let company_domain = contact
            .email
            .as_deref()
            .and_then(email_domain)
            .filter(|d| !is_free_mail(d));
        let (amount, amount_problem) = match self.amount(lead, &bound) {
            Ok(Value::Null) => (Value::Null, Some(self.amount_missing())),
            Ok(v) => (v, None),
            Err(why) => (Value::Null, Some(why)),
        };
        let placement = self.book.place(
            company.as_deref(),
            company_domain.as_deref(),
            &contact,
            &verdict.id,
        );
        self.counts.converted += 1;
        if amount_problem.is_some() {
            self.counts.without_amount += 1;
        }
        self.counts.new_accounts = self.book.new_count();
        self.counts.existing_accounts = self.book.existing_used();
        Conversion::Converted {
            opportunity: Box::new(Opportunity {
                name: format!("{} opportunity", placement.name),
                amount,
                account: placement,
                contact,
                source_lead: verdict.id.clone(),
                score: verdict.score,
                stage: verdict.stage.clone(),
                signals: verdict.signals.clone(),
            }),
            amount_problem,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> ConvertCounts {
        self.counts
    }

    /// The accounts made in this run, in the order they were made.
    pub fn new_accounts(&self) -> &[Account] {
        &self.book.new
    }

    fn amount(&self, lead: &Lead, bound: &Bound<'_>) -> Result<Value, String> {
        let rules = self.scorer.rules();
        match &rules.settings.amount {
            Amount::Field(slot) => Ok(bound
                .values
                .get(*slot)
                .and_then(|v| v.as_deref())
                .and_then(Value::as_f64)
                .map_or(Value::Null, number)),
            Amount::Expr(id) => {
                let map = crate::script::lead_to_dynamic(
                    Some(lead),
                    &rules.schema,
                    &bound.values,
                    rules.scripts.view(),
                );
                let result = rules
                    .scripts
                    .eval_value(*id, &map, self.as_of)
                    .map_err(|e| format!("the amount expression failed: {e}"))?;
                dynamic_amount(result)
            }
        }
    }

    fn amount_missing(&self) -> String {
        let rules = self.scorer.rules();
        match &rules.settings.amount {
            Amount::Field(slot) => format!(
                "no amount: field `{}` is missing or not a number",
                rules.schema.field(*slot).name
            ),
            Amount::Expr(_) => "no amount: the amount expression gave ()".to_string(),
        }
    }
}

/// A number as a value: whole numbers stay whole (`48000`, not `48000.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::Int(x as i64)
    } else {
        Value::Float(x)
    }
}

fn dynamic_amount(result: rhai::Dynamic) -> Result<Value, String> {
    if result.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(n) = result.as_int() {
        return Ok(Value::Int(n));
    }
    if let Ok(x) = result.as_float() {
        return if x.is_finite() {
            Ok(number(x))
        } else {
            Err("the amount expression gave a number that is not finite".to_string())
        };
    }
    if let Ok(text) = result.clone().into_immutable_string()
        && let Some(x) = Value::Text(text.to_string()).as_f64()
    {
        return Ok(number(x));
    }
    Err(format!(
        "the amount expression gave {}, not a number",
        result.type_name()
    ))
}

/// The stage leads are converted from: the top stage that is not a disqualified one.
pub(crate) fn ready_stage(rules: &Rules) -> Arc<str> {
    let stages = &rules.policy.stages;
    stages
        .iter()
        .find(|s| !s.disqualified)
        .or(stages.last())
        .map_or_else(|| Arc::from("ready_to_convert"), |s| s.id.clone())
}

/// The value of a field of a lead: through the rules' field names and aliases (coerced
/// to its declared type) first, else the lead's own key, else a key that differs only
/// in case, spaces and underscores (`First Name` for `first_name`).
pub(crate) fn field_value<'a>(
    rules: &Rules,
    bound: &'a Bound<'a>,
    lead: &'a Lead,
    name: &str,
) -> Option<&'a Value> {
    if let Some(slot) = rules.schema.lookup(name)
        && let Some(value) = bound.values.get(slot).and_then(|v| v.as_deref())
    {
        return Some(value);
    }
    lead.get(name).or_else(|| loose_get(lead, name))
}

/// A field by a name compared ignoring case, spaces and underscores.
fn loose_get<'a>(lead: &'a Lead, name: &str) -> Option<&'a Value> {
    let want = loose_key(name);
    lead.fields()
        .find(|(key, _)| loose_key(key) == want)
        .map(|(_, v)| v)
}

fn loose_key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A value as trimmed, non-blank text (numbers and booleans as written).
fn text_of(value: &Value) -> Option<String> {
    let text = match value {
        Value::Text(s) => s.trim().to_string(),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => value.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

// ---- accounts ----

/// Existing accounts and the ones made in this run, indexed by domain and by
/// normalised name. The first account in the file wins when two share a key.
#[derive(Debug, Default)]
struct AccountBook {
    existing: Vec<Account>,
    existing_by_domain: BTreeMap<String, usize>,
    existing_by_name: BTreeMap<String, usize>,
    existing_used: BTreeSet<usize>,
    new: Vec<Account>,
    new_by_key: BTreeMap<String, usize>,
}

impl AccountBook {
    fn new(accounts: Vec<Account>) -> AccountBook {
        let mut book = AccountBook::default();
        for (index, account) in accounts.iter().enumerate() {
            if let Some(domain) = &account.domain {
                book.existing_by_domain
                    .entry(domain.clone())
                    .or_insert(index);
            }
            let key = normalize_company(&account.name);
            if !key.is_empty() {
                book.existing_by_name.entry(key).or_insert(index);
            }
        }
        book.existing = accounts;
        book
    }

    fn new_count(&self) -> u64 {
        self.new.len() as u64
    }

    fn existing_used(&self) -> u64 {
        self.existing_used.len() as u64
    }

    /// Finds or makes the account for a lead. Order: an existing account by domain, by
    /// name; an account made earlier in this run by domain, by name; else a new one.
    fn place(
        &mut self,
        company: Option<&str>,
        domain: Option<&str>,
        contact: &Contact,
        lead_id: &Value,
    ) -> AccountRef {
        let name_key = company.map(normalize_company).filter(|k| !k.is_empty());
        let existing = domain
            .and_then(|d| find_domain(&self.existing_by_domain, d))
            .map(|i| (i, MatchKind::Domain))
            .or_else(|| {
                name_key
                    .as_ref()
                    .and_then(|k| self.existing_by_name.get(k))
                    .map(|&i| (i, MatchKind::Name))
            });
        if let Some((index, matched_by)) = existing {
            self.existing_used.insert(index);
            let account = &self.existing[index];
            return AccountRef {
                id: account.id.clone(),
                name: account.name.clone(),
                existing: true,
                matched_by,
            };
        }
        let domain_key = domain.map(|d| format!("domain:{d}"));
        let name_key = name_key.map(|k| format!("name:{k}"));
        // A person with no company and a free mailbox is their own account, keyed by
        // their address so their second lead finds it.
        let person_key = match (&domain_key, &name_key) {
            (None, None) => contact
                .email
                .as_ref()
                .map(|e| format!("email:{}", e.to_lowercase())),
            _ => None,
        };
        let found = domain_key
            .as_ref()
            .and_then(|k| self.new_by_key.get(k))
            .map(|&i| (i, MatchKind::Domain))
            .or_else(|| {
                name_key
                    .iter()
                    .chain(&person_key)
                    .find_map(|k| self.new_by_key.get(k))
                    .map(|&i| (i, MatchKind::Name))
            });
        let (index, matched_by) = match found {
            Some(found) => found,
            None => {
                let index = self.new.len();
                let name = company
                    .map(|c| c.trim().to_string())
                    .or_else(|| domain.map(str::to_string))
                    .or_else(|| contact.name.clone())
                    .or_else(|| contact.email.clone())
                    .unwrap_or_else(|| lead_id.to_string());
                self.new.push(Account {
                    id: format!("new-{}", index + 1),
                    name,
                    domain: domain.map(str::to_string),
                });
                for key in [domain_key, name_key, person_key].into_iter().flatten() {
                    self.new_by_key.entry(key).or_insert(index);
                }
                (index, MatchKind::New)
            }
        };
        let account = &self.new[index];
        AccountRef {
            id: account.id.clone(),
            name: account.name.clone(),
            existing: false,
            matched_by,
        }
    }
}

/// The account for a domain or, failing that, for the domain it is a subdomain of
/// (`eu.acme.com` finds `acme.com`).
fn find_domain(index: &BTreeMap<String, usize>, domain: &str) -> Option<usize> {
    let mut rest = domain;
    loop {
        if let Some(&i) = index.get(rest) {
            return Some(i);
        }
        let (_, parent) = rest.split_once('.')?;
        if !parent.contains('.') {
            return None;
        }
        rest = parent;
    }
}

/// Words dropped from the end of a company name: legal forms (`Inc`, `LLC`, `GmbH`,
/// ...), compared after lowercasing and removing dots (`L.L.C.` is `llc`).
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "ug",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "sl",
    "bv",
    "nv",
    "ab",
    "as",
    "asa",
    "oy",
    "oyj",
    "aps",
    "pty",
    "pte",
    "pvt",
    "private",
    "kk",
    "kft",
    "sro",
    "se",
    "lda",
    "ltda",
    "and",
];

/// A company name reduced to a matching key: lowercased, punctuation dropped (dots and
/// apostrophes join, `&` is `and`, anything else separates words), legal suffixes and
/// a leading `The` removed, words run together. "Acme, Inc." and "ACME Inc" both give
/// `acme`; "Dr. Oetker GmbH" and "DrOetker" both give `droetker`.
///
/// ```
/// use leadscore::convert::normalize_company;
/// assert_eq!(normalize_company("Acme, Inc."), normalize_company("ACME Inc"));
/// assert_eq!(normalize_company("The Widget Co., Ltd."), "widget");
/// ```
pub fn normalize_company(name: &str) -> String {
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            cleaned.extend(c.to_lowercase());
        } else if c == '&' {
            cleaned.push_str(" and ");
        } else if !matches!(c, '.' | '\'' | '\u{2019}') {
            cleaned.push(' ');
        }
    }
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    words.concat()
}

/// The domain of an email address, lowercased (`Ana@Acme.COM` gives `acme.com`);
/// `None` when the address has no `@` or its domain has no dot.
///
/// ```
/// assert_eq!(leadscore::convert::email_domain(" Ana@Acme.COM "), Some("acme.com".to_string()));
/// assert_eq!(leadscore::convert::email_domain("ana"), None);
/// ```
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    clean_domain(domain)
}

/// The domain of a website or bare domain: `https://www.Acme.com/about` gives
/// `acme.com`.
pub fn website_domain(site: &str) -> Option<String> {
    let site = site.trim();
    let site = site.split_once("://").map_or(site, |(_, rest)| rest);
    let host = site.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    clean_domain(host)
}

fn clean_domain(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    let valid = domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
    valid.then_some(domain)
}

/// Free and personal mailbox domains, exactly.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "mail.com",
    "mail.ru",
    "inbox.ru",
    "list.ru",
    "bk.ru",
    "yandex.ru",
    "yandex.com",
    "ya.ru",
    "qq.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "sohu.com",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "web.de",
    "t-online.de",
    "freenet.de",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "libero.it",
    "virgilio.it",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "rediffmail.com",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "tuta.io",
    "hey.com",
    "inbox.com",
    "btinternet.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "shaw.ca",
    "rogers.com",
    "bigpond.com",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
];

/// Free mail brands under any country domain (`yahoo.co.uk`, `hotmail.fr`, `gmx.de`).
const FREE_MAIL_BRANDS: &[&str] = &[
    "gmail",
    "googlemail",
    "yahoo",
    "ymail",
    "rocketmail",
    "hotmail",
    "outlook",
    "live",
    "aol",
    "gmx",
    "yandex",
    "protonmail",
    "icloud",
];

/// True for free and personal mailbox domains (gmail.com, yahoo.co.uk, outlook.com,
/// hotmail.fr, icloud.com, aol.com, proton.me, gmx.de, mail.ru, qq.com, ...): they say
/// nothing about the company, so they never match an account.
///
/// ```
/// assert!(leadscore::convert::is_free_mail("yahoo.co.uk"));
/// assert!(!leadscore::convert::is_free_mail("acme.com"));
/// ```
pub fn is_free_mail(domain: &str) -> bool {
    let domain = domain.trim().to_lowercase();
    if FREE_MAIL.contains(&domain.as_str()) {
        return true;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    // `brand.tld`, or `brand.co.uk`-style second-level country domains.
    let brand = match labels.as_slice() {
        [brand, _tld] => brand,
        [brand, second, tld]
            if tld.len() == 2 && matches!(*second, "co" | "com" | "net" | "org" | "ne" | "or") =>
        {
            brand
        }
        _ => return false,
    };
    FREE_MAIL_BRANDS.contains(brand)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    #[test]
    fn company_names_normalise_case_punctuation_and_legal_suffixes() {
        let same = [
            ("Acme, Inc.", "ACME Inc"),
            ("Acme Inc", "acme"),
            ("ACME L.L.C.", "Acme"),
            ("Acme GmbH", "acme"),
            ("Acme S.A.", "Acme SA"),
            ("Acme Corp.", "Acme Corporation"),
            ("Acme Ltd", "Acme Limited"),
            ("The Acme Company", "Acme Co."),
            ("Acme Holdings Co., Ltd.", "acme holdings"),
            ("Johnson & Johnson", "Johnson and Johnson"),
            ("Dr. Oetker", "DrOetker"),
            ("O'Neil Foods", "ONeil Foods"),
            ("Acme Pvt. Ltd.", "ACME"),
        ];
        for (a, b) in same {
            assert_eq!(normalize_company(a), normalize_company(b), "{a} vs {b}");
        }
        assert_eq!(normalize_company("Acme, Inc."), "acme");
        assert_ne!(normalize_company("Acme"), normalize_company("Acme Labs"));
        // A name that is only a suffix keeps it rather than vanish.
        assert_eq!(normalize_company("Company"), "company");
        assert_eq!(normalize_company("  "), "");
        assert_eq!(normalize_company("Müller GmbH"), "müller");
    }

    #[test]
    fn domains_from_emails_and_websites() {
        assert_eq!(email_domain("ana@Acme.com"), Some("acme.com".into()));
        assert_eq!(email_domain("a@b@eu.acme.com."), Some("eu.acme.com".into()));
        assert_eq!(email_domain("nobody"), None);
        assert_eq!(email_domain("x@localhost"), None);
        for site in [
            "acme.com",
            "www.acme.com",
            "https://www.acme.com/about?x=1",
            "http://ACME.com:8080",
            "acme.com/",
        ] {
            assert_eq!(website_domain(site), Some("acme.com".into()), "{site}");
        }
        assert_eq!(website_domain(""), None);
    }

    #[test]
    fn free_mail_domains_are_recognised() {
        for free in [
            "gmail.com",
            "yahoo.com",
            "yahoo.co.uk",
            "outlook.com",
            "hotmail.com",
            "hotmail.fr",
            "icloud.com",
            "aol.com",
            "proton.me",
            "gmx.de",
            "gmx.net",
            "mail.ru",
            "qq.com",
            "GMAIL.COM",
        ] {
            assert!(is_free_mail(free), "{free}");
        }
        for company in [
            "acme.com",
            "gmail-partners.com",
            "mail.acme.com",
            "acme.co.uk",
        ] {
            assert!(!is_free_mail(company), "{company}");
        }
    }

    #[test]
    fn subdomains_find_their_parent_domain() {
        let index: BTreeMap<String, usize> = [("acme.com".to_string(), 0)].into();
        assert_eq!(find_domain(&index, "acme.com"), Some(0));
        assert_eq!(find_domain(&index, "eu.mail.acme.com"), Some(0));
        assert_eq!(find_domain(&index, "notacme.com"), None);
        assert_eq!(find_domain(&index, "com"), None);
    }

    #[test]
    fn accounts_read_from_crm_style_columns() {
        let record = Lead::from_json(
            json!({"Id": 7, "Account Name": "Acme, Inc.", "Website": "https://www.acme.com"}),
        )
        .unwrap();
        assert_eq!(
            Account::from_record(&record),
            Ok(Account::new("7", "Acme, Inc.", Some("acme.com")))
        );
        let record = Lead::from_json(json!({"name": "Acme"})).unwrap();
        assert_eq!(
            Account::from_record(&record),
            Err("an account needs an `id`".to_string())
        );
    }

    fn scorer(settings: &str) -> Scorer {
        let rules = format!(
            "{settings}rules:\n  - id: ready\n    when: {{ field: ready, eq: true }}\n    points: 100\n    signals: [need, budget, pricing_discussed]\n"
        );
        Scorer::new(Rules::from_sources(vec![(PathBuf::from("r.yaml"), rules)]).unwrap())
    }

    fn convert(
        converter: &mut Converter,
        lead: serde_json::Value,
    ) -> (Opportunity, Option<String>) {
        let lead = Lead::from_json(lead).unwrap();
        let verdict = converter
            .scorer
            .score(&lead, Date::parse("2026-01-01").unwrap());
        match converter.convert(&lead, &verdict) {
            Conversion::Converted {
                opportunity,
                amount_problem,
            } => (*opportunity, amount_problem),
            Conversion::NotReady => panic!("not ready: {verdict:?}"),
        }
    }

    #[test]
    fn amounts_come_from_budget_by_default_a_field_or_an_expression() {
        let day = Date::parse("2026-01-01").unwrap();
        let mut c = Converter::new(&scorer(""), Vec::new(), day);
        let (o, problem) = convert(&mut c, json!({"ready": true, "budget": "12000"}));
        assert_eq!((o.amount, problem), (Value::Int(12000), None));
        let (o, problem) = convert(&mut c, json!({"ready": true}));
        assert_eq!(o.amount, Value::Null);
        assert_eq!(
            problem.as_deref(),
            Some("no amount: field `budget` is missing or not a number")
        );
        assert_eq!(c.counts().without_amount, 1);

        let mut c = Converter::new(
            &scorer("settings: { amount: { field: deal_size } }\n"),
            Vec::new(),
            day,
        );
        let (o, _) = convert(
            &mut c,
            json!({"ready": true, "deal_size": 2.5, "budget": 9}),
        );
        assert_eq!(o.amount, Value::Float(2.5));

        let mut c = Converter::new(
            &scorer("settings: { amount: { expr: \"lead.seats * 1200\" } }\n"),
            Vec::new(),
            day,
        );
        let (o, _) = convert(&mut c, json!({"ready": true, "seats": 10}));
        assert_eq!(o.amount, Value::Int(12000));
        let (o, problem) = convert(&mut c, json!({"ready": true, "seats": "ten"}));
        assert_eq!(o.amount, Value::Null);
        assert!(
            problem.is_some_and(|p| p.starts_with("the amount expression failed")),
            "a string times a number is a Rhai error"
        );
    }

    #[test]
    fn amount_setting_mistakes_are_reported() {
        let load = |settings: &str| {
            let rules = format!(
                "settings:\n  amount: {settings}\nrules:\n  - id: a\n    when: {{ field: x, exists: true }}\n"
            );
            match Rules::from_sources(vec![(PathBuf::from("r.yaml"), rules)]) {
                Ok(_) => Vec::new(),
                Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
            }
        };
        assert_eq!(load("{ field: budget }"), Vec::<String>::new());
        let found = load("{ field: budget, expr: \"1\" }");
        assert!(
            found[0].contains("`amount` takes one of `field` or `expr`"),
            "{found:?}"
        );
        let found = load("{ fields: budget }");
        assert!(
            found[0].contains("unknown key `fields` in `settings.amount`"),
            "{found:?}"
        );
        let found = load("{ expr: \"lead.x +\" }");
        assert!(found[0].starts_with("r.yaml:2:"), "{found:?}");
    }

    #[test]
    fn the_ready_stage_is_the_top_stage_that_is_not_disqualified() {
        let rules = Rules::from_sources(vec![(
            PathBuf::from("r.yaml"),
            "rules:\n  - id: a\n    when: { field: x, exists: true }\nstages:\n  - id: out\n    disqualified: true\n  - id: won\n    min_score: 50\n  - id: open\n".to_string(),
        )])
        .unwrap();
        assert_eq!(&*ready_stage(&rules), "won");
        assert_eq!(&*ready_stage(scorer("").rules()), "ready_to_convert");
    }
}
