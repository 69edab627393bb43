//! The verdict for one lead: the JSON contract every output format is built from.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::lead::Value;

/// What the rules say about one lead. Serializes to the documented JSON object, keys in
/// this order, so the same rules and lead always give byte-identical output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The lead's id field, or where it was read (`leads.csv:4`) when it has none.
    pub id: Value,
    /// Sum of matched points, clamped to the `settings.score` range.
    pub score: i64,
    /// Points per score dimension (`settings.scores`), in declared order, each clamped to
    /// its own range; empty (and left out of the JSON) when the rules declare none.
    #[serde(skip_serializing_if = "Scores::is_empty")]
    pub scores: Scores,
    /// The grade (`settings.grade`): `None` when the rules grade nothing (no key in the
    /// JSON), `Some(None)` when no band is reached (`null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<Option<Arc<str>>>,
    /// The stage chosen by the stage policy (e.g. `prospect`).
    pub stage: Arc<str>,
    /// The move from the stage the CRM holds (`settings.current_stage`) to `stage`:
    /// `None` when the rules read no current stage (no key in the JSON), `Some(None)`
    /// when the stage did not change (`null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<Option<Transition>>,
    /// Signals given by matched rules, sorted, each once.
    pub signals: Vec<Arc<str>>,
    /// Matched rules, in rule order.
    pub matched: Vec<Match>,
    /// The first disqualification reason, when a matched rule disqualifies.
    pub disqualified: Option<String>,
    /// The stage just above this one and what the lead lacks for it; `None` at the top
    /// and when disqualified.
    pub next: Option<Next>,
    /// Rules that failed on this lead (a script error, a bad field value). A failed rule
    /// counts as not matched; the lead is still scored.
    pub errors: Vec<RuleFailure>,
}

/// One matched rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The rule id (a YAML `id` or a Rhai function name).
    pub rule: Arc<str>,
    /// Points the rule gave (may be negative), after decay.
    pub points: i64,
    /// The score dimension the points count in (a rule's `score:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<Arc<str>>,
    /// The points before decay and the age that faded them, for a decayed rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay: Option<Decayed>,
    /// Signals the rule gave.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Arc<str>>,
    /// Why it matched, with the lead's values filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The disqualification reason, when the rule disqualifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disqualify: Option<String>,
}

impl Match {
    /// A match of the rule named `rule` with nothing else in it yet, for the rule's
    /// outcome to be written into.
    pub(crate) fn blank(rule: Arc<str>) -> Match {
        Match {
            rule,
            points: 0,
            score: None,
            decay: None,
            signals: Vec::new(),
            reason: None,
            disqualify: None,
        }
    }
}

/// What decay did to a matched rule's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decayed {
    /// The rule's points before decay.
    pub points: i64,
    /// Whole days from the rule's date to the as-of date (0 for a later date).
    pub age_days: i64,
}

/// The next stage up and what stands between the lead and it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Next {
    /// The stage id.
    pub stage: Arc<str>,
    /// Signals the stage requires that the lead lacks, in the stage's order.
    pub missing: Vec<Arc<str>>,
    /// Points still needed to reach the stage's `min_score` (0 when reached).
    pub points_needed: i64,
    /// Points still needed in each dimension the stage sets a minimum for
    /// (`min_scores`), 0 where reached; empty (no key) when it sets none.
    #[serde(skip_serializing_if = "Scores::is_empty")]
    pub scores_needed: Scores,
    /// The grades the stage accepts (`grades:`), when the lead's grade is not one of
    /// them; `None` (no key) otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade_needed: Option<Vec<Arc<str>>>,
}

/// Points per named score dimension, in declared order; serializes as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scores {
    names: Arc<[Arc<str>]>,
    points: Vec<i64>,
}

impl Scores {
    /// Pairs dimension names with their points (extra names or points are dropped).
    pub fn new(names: Arc<[Arc<str>]>, mut points: Vec<i64>) -> Scores {
        points.truncate(names.len());
        Scores { names, points }
    }

    /// Points for the named dimension.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
    }

    /// `(dimension, points)` in declared order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.names
            .iter()
            .zip(&self.points)
            .map(|(name, points)| (name.as_ref(), *points))
    }

    /// The points alone, in declared order.
    pub(crate) fn points(&self) -> &[i64] {
        &self.points
    }

    /// True when there are no dimensions.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Appends the scores as a JSON object to `out`, as serde_json writes them.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (name, points)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, name);
            out.push(b':');
            write_int(out, points);
        }
        out.push(b'}');
    }
}

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.points.len()))?;
        for (name, points) in self.iter() {
            map.serialize_entry(name, &points)?;
        }
        map.end()
    }
}

/// A lead's move from the stage the CRM holds to the stage the rules decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The stage the CRM holds; `None` for a lead it has no (readable) stage for.
    pub from: Option<Arc<str>>,
    /// The stage the rules decide.
    pub to: Arc<str>,
    /// Which way the lead moves.
    pub direction: Direction,
}

/// Which way a [`Transition`] goes, by the stage list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// To a stage listed higher, or out of a disqualified stage.
    Up,
    /// To a stage listed lower, or into a disqualified stage.
    Down,
    /// A lead the CRM holds no stage for.
    New,
}

impl Direction {
    /// `up`, `down` or `new`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::New => "new",
        }
    }
}

/// A rule that could not be evaluated on this lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    /// The rule id, `stage:<id>` for a stage condition, or `field:<name>` for a value
    /// that does not fit its declared type.
    pub rule: String,
    /// What went wrong.
    pub message: String,
}

impl Verdict {
    /// A verdict with nothing in it yet, for [`Scorer`](crate::Scorer) to decide into
    /// (the stage and scores are ones the rules already hold, so making one allocates
    /// nothing).
    pub(crate) fn blank(stage: Arc<str>, scores: Scores) -> Verdict {
        Verdict {
            id: Value::Null,
            score: 0,
            scores,
            grade: None,
            stage,
            transition: None,
            signals: Vec::new(),
            matched: Vec::new(),
            disqualified: None,
            next: None,
            errors: Vec::new(),
        }
    }

    /// Names a lead that has no id by where it was read (`leads.csv:4`, `request:2`),
    /// as every way of scoring records does.
    pub fn name_by(&mut self, place: impl std::fmt::Display) {
        if self.id == Value::Null {
            self.id = Value::Text(place.to_string());
        }
    }

    /// The verdict as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out);
        // `write_json` writes UTF-8 only: every piece is a `str`, a number or ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the verdict as one line of JSON to `out`: byte for byte what `serde_json`
    /// writes for it, without the serializer's per-value machinery (bulk scoring
    /// writes a verdict per lead, so this is on the hot path).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_value(out, &self.id);
        out.extend_from_slice(b",\"score\":");
        write_int(out, self.score);
        if !self.scores.is_empty() {
            out.extend_from_slice(b",\"scores\":");
            self.scores.write_json(out);
        }
        if let Some(grade) = &self.grade {
            out.extend_from_slice(b",\"grade\":");
            write_opt_str(out, grade.as_deref());
        }
        out.extend_from_slice(b",\"stage\":");
        write_str(out, &self.stage);
        if let Some(transition) = &self.transition {
            out.extend_from_slice(b",\"transition\":");
            match transition {
                Some(t) => {
                    out.extend_from_slice(b"{\"from\":");
                    write_opt_str(out, t.from.as_deref());
                    out.extend_from_slice(b",\"to\":");
                    write_str(out, &t.to);
                    out.extend_from_slice(b",\"direction\":");
                    write_str(out, t.direction.as_str());
                    out.push(b'}');
                }
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b",\"signals\":");
        write_strs(out, &self.signals);
        out.extend_from_slice(b",\"matched\":[");
        for (i, m) in self.matched.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"rule\":");
            write_str(out, &m.rule);
            out.extend_from_slice(b",\"points\":");
            write_int(out, m.points);
            if let Some(score) = &m.score {
                out.extend_from_slice(b",\"score\":");
                write_str(out, score);
            }
            if let Some(decay) = &m.decay {
                out.extend_from_slice(b",\"decay\":{\"points\":");
                write_int(out, decay.points);
                out.extend_from_slice(b",\"age_days\":");
                write_int(out, decay.age_days);
                out.push(b'}');
            }
            if !m.signals.is_empty() {
                out.extend_from_slice(b",\"signals\":");
                write_strs(out, &m.signals);
            }
            if let Some(reason) = &m.reason {
                out.extend_from_slice(b",\"reason\":");
                write_str(out, reason);
            }
            if let Some(disqualify) = &m.disqualify {
                out.extend_from_slice(b",\"disqualify\":");
                write_str(out, disqualify);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"disqualified\":");
        match &self.disqualified {
            Some(reason) => write_str(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"next\":");
        match &self.next {
            Some(next) => {
                out.extend_from_slice(b"{\"stage\":");
                write_str(out, &next.stage);
                out.extend_from_slice(b",\"missing\":");
                write_strs(out, &next.missing);
                out.extend_from_slice(b",\"points_needed\":");
                write_int(out, next.points_needed);
                if !next.scores_needed.is_empty() {
                    out.extend_from_slice(b",\"scores_needed\":");
                    next.scores_needed.write_json(out);
                }
                if let Some(grades) = &next.grade_needed {
                    out.extend_from_slice(b",\"grade_needed\":");
                    write_strs(out, grades);
                }
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"errors\":[");
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"rule\":");
            write_str(out, &e.rule);
            out.extend_from_slice(b",\"message\":");
            write_str(out, &e.message);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
}

pub(crate) fn write_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Text(s) => write_str(out, s),
        Value::Int(n) => write_int(out, *n),
        Value::Null => out.extend_from_slice(b"null"),
        // Rare as an id: let serde_json format floats, lists and maps.
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

pub(crate) fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub(crate) fn write_strs(out: &mut Vec<u8>, items: &[Arc<str>]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item);
    }
    out.push(b']');
}

/// `*name = new.clone()`, without touching either reference count when `name` already
/// is `new` (most leads land in the stage and match the rules the one before did).
pub(crate) fn assign_name(name: &mut Arc<str>, new: &Arc<str>) {
    if !Arc::ptr_eq(name, new) {
        *name = Arc::clone(new);
    }
}

/// `*names = new.to_vec()`, touching no reference count of a name already in place.
pub(crate) fn assign_names(names: &mut Vec<Arc<str>>, new: &[Arc<str>]) {
    names.truncate(new.len());
    for (name, new) in names.iter_mut().zip(new) {
        assign_name(name, new);
    }
    let kept = names.len();
    names.extend(new[kept..].iter().cloned());
}

/// `*name = new.cloned()`, as [`assign_name`] does.
pub(crate) fn assign_opt_name(name: &mut Option<Arc<str>>, new: Option<&Arc<str>>) {
    match (name.as_mut(), new) {
        (Some(name), Some(new)) => assign_name(name, new),
        (_, new) => *name = new.cloned(),
    }
}

/// Writes a JSON string the way serde_json does: `"` `\\` and control characters
/// escaped (`\n`, `\u001f`), everything else as is. Clean runs between the bytes that
/// need escaping are copied whole.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most of the thirty-odd strings a verdict writes per lead are names (rule ids,
    // signals, stages, dimensions) of at most 14 bytes: those go out quoted as one
    // sixteen-byte store of a value built in registers, without a per-byte check or a
    // `memcpy` call.
    if let Some(quoted) = quoted_short(bytes) {
        let end = out.len() + bytes.len() + 2;
        out.extend_from_slice(&quoted.to_le_bytes());
        out.truncate(end);
        return;
    }
    write_str_at_length(out, bytes);
}

/// `"text"` in the low bytes of a little-endian `u128`, when the text has at most 14
/// bytes and none needs escaping; `None` otherwise.
#[inline]
fn quoted_short(bytes: &[u8]) -> Option<u128> {
    let n = bytes.len();
    let text = if n < 8 {
        u128::from(clean_short_word(bytes)?)
    } else if n <= 14 {
        // The first eight bytes, and the last eight shifted down to the ones after them.
        let first = word_of(&bytes[..8]);
        let last = word_of(&bytes[n - 8..]);
        if escape_hits_in(first) | escape_hits_in(last) != 0 {
            return None;
        }
        u128::from(first) | (u128::from(last) >> (8 * (16 - n))) << 64
    } else {
        return None;
    };
    let quote = u128::from(b'"');
    Some(quote | text << 8 | quote << (8 * (n + 1)))
}

/// [`write_str`] for text of eight bytes or more, or with a byte to escape.
#[inline(never)]
fn write_str_at_length(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut rest = bytes;
    while let Some(at) = first_needing_escape(rest) {
        let (clean, tail) = rest.split_at(at);
        out.extend_from_slice(clean);
        let Some((&b, tail)) = tail.split_first() else {
            break;
        };
        write_escape(out, b);
        rest = tail;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The bytes of text shorter than eight bytes as one little-endian word (zero above),
/// when none of them needs escaping; `None` for longer text or text to escape.
#[inline]
fn clean_short_word(bytes: &[u8]) -> Option<u64> {
    let n = bytes.len();
    let word = match n {
        0 => return Some(0),
        1..=3 => {
            // Bytes 0, n/2 and n-1 cover every byte of a string this short.
            u64::from(bytes[0])
                | u64::from(bytes[n / 2]) << (8 * (n / 2))
                | u64::from(bytes[n - 1]) << (8 * (n - 1))
        }
        4..=7 => {
            let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let high = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
            // The overlapping bytes are the same in both, so or-ing them is exact.
            u64::from(low) | u64::from(high) << (8 * (n - 4))
        }
        _ => return None,
    };
    // The zero bytes above the text would read as control characters: masked off.
    let hits = escape_hits_in(word) & (HIGHS >> (8 * (8 - n)));
    (hits == 0).then_some(word)
}

/// Eight bytes as a little-endian word.
fn word_of(eight: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(eight);
    u64::from_le_bytes(word)
}

/// The escape serde_json writes for a byte that needs one.
fn write_escape(out: &mut Vec<u8>, b: u8) {
    let short: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
            return;
        }
    };
    out.extend_from_slice(short);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Index of the first byte JSON text must escape (`"`, `\\`, or a control character
/// below 0x20), eight bytes at a time; `None` when there is none. Also what the fast
/// JSON scanner (`io::scan`) hands to serde_json.
pub(crate) fn first_needing_escape(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 8 {
        // Short text (most names a verdict carries): a table lookup per byte.
        return bytes.iter().position(|&b| NEEDS_ESCAPE[usize::from(b)]);
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let hits = escape_hits(chunk);
        if hits != 0 {
            // Borrows only run upwards, so the lowest flagged byte is a true hit.
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if chunks.remainder().is_empty() {
        return None;
    }
    // The last eight bytes, overlapping some already checked: those are clean, so they
    // flag nothing and start no borrow.
    let last = bytes.len() - 8;
    let hits = escape_hits(&bytes[last..]);
    (hits != 0).then(|| last + (hits.trailing_zeros() / 8) as usize)
}

/// The high bit set in each of these eight bytes that JSON text must escape (exact for
/// the lowest one).
fn escape_hits(eight: &[u8]) -> u64 {
    escape_hits_in(word_of(eight))
}

/// [`escape_hits`] of a word already loaded.
fn escape_hits_in(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
}

/// The bytes JSON text must escape.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The high bit set in each byte of `word` that is zero (exact for the lowest one).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The SWAR scan finds what a byte-by-byte scan finds, at any offset.
        #[test]
        fn the_first_byte_needing_escape_is_found(bytes in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'a')],
            0..40,
        )) {
            let expected = bytes.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(first_needing_escape(&bytes), expected);
        }

        /// Strings thick with bytes that need escaping, at every length around the
        /// eight-byte groups, written after what `out` already holds.
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(
            chars in proptest::collection::vec(
                prop_oneof![
                    4 => Just('a'),
                    1 => Just('"'),
                    1 => Just('\\'),
                    1 => Just('\n'),
                    1 => Just('\u{1}'),
                    1 => Just('\u{1f}'),
                    1 => Just(' '),
                    1 => Just('é'),
                    1 => Just('€'),
                    1 => Just('\u{7f}'),
                ],
                0..40,
            ),
            before in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let text: String = chars.into_iter().collect();
            let mut out = before.clone();
            write_str(&mut out, &text);
            let mut expected = before;
            expected.extend_from_slice(serde_json::to_string(&text).unwrap().as_bytes());
            prop_assert_eq!(out, expected);
        }
    }

    fn verdict(text: &str, id: Value) -> Verdict {
        let s: Arc<str> = Arc::from(text);
        Verdict {
            id,
            score: -7,
            scores: Scores::default(),
            grade: None,
            stage: s.clone(),
            transition: None,
            signals: vec![s.clone(), Arc::from("need")],
            matched: vec![
                Match {
                    rule: s.clone(),
                    points: 3,
                    score: None,
                    decay: None,
                    signals: vec![],
                    reason: Some(text.to_string()),
                    disqualify: None,
                },
                Match {
                    rule: Arc::from("b"),
                    points: -2,
                    score: None,
                    decay: None,
                    signals: vec![s.clone()],
                    reason: None,
                    disqualify: Some(text.to_string()),
                },
            ],
            disqualified: Some(text.to_string()),
            next: Some(Next {
                stage: s.clone(),
                missing: vec![s.clone()],
                points_needed: 10,
                scores_needed: Scores::default(),
                grade_needed: None,
            }),
            errors: vec![RuleFailure {
                rule: text.to_string(),
                message: text.to_string(),
            }],
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for text in [
            "plain",
            "quote \" and \\ slash",
            "tab\tnew\nline\r\u{1}\u{1f}\u{7f}",
            "é ü 日本",
            "",
        ] {
            for id in [
                Value::Text(text.into()),
                Value::Int(-3),
                Value::Null,
                Value::Float(2.5),
                Value::List(vec![Value::Bool(true)]),
            ] {
                let v = verdict(text, id);
                assert_eq!(v.to_json_line(), serde_json::to_string(&v).unwrap());
            }
        }
        let mut empty = verdict("x", Value::Null);
        empty.matched.clear();
        empty.next = None;
        empty.disqualified = None;
        empty.errors.clear();
        assert_eq!(empty.to_json_line(), serde_json::to_string(&empty).unwrap());
    }

    /// The same verdict with every key the time dimension adds filled in.
    fn timed(text: &str, grade: Option<&str>, transition: Option<Transition>) -> Verdict {
        let s: Arc<str> = Arc::from(text);
        let names: Arc<[Arc<str>]> = Arc::from(vec![s.clone(), Arc::from("engagement")]);
        let mut v = verdict(text, Value::Text(text.into()));
        v.scores = Scores::new(names.clone(), vec![40, -3]);
        v.grade = Some(grade.map(Arc::from));
        v.transition = Some(transition);
        v.matched[0].score = Some(s.clone());
        v.matched[0].decay = Some(Decayed {
            points: 6,
            age_days: 30,
        });
        if let Some(next) = &mut v.next {
            next.scores_needed = Scores::new(names, vec![0, 12]);
            next.grade_needed = Some(vec![s.clone(), Arc::from("B")]);
        }
        v
    }

    #[test]
    fn scores_grades_decay_and_transitions_are_written_as_serde_json_writes_them() {
        let moves = [
            None,
            Some(Transition {
                from: None,
                to: Arc::from("lead"),
                direction: Direction::New,
            }),
            Some(Transition {
                from: Some(Arc::from("lead \"x\"")),
                to: Arc::from("prospect"),
                direction: Direction::Up,
            }),
        ];
        for text in ["fit", "quote \" and \\", "é"] {
            for grade in [None, Some("A"), Some(text)] {
                for transition in moves.clone() {
                    let v = timed(text, grade, transition);
                    assert_eq!(v.to_json_line(), serde_json::to_string(&v).unwrap());
                }
            }
        }
        let line = timed("fit", Some("A"), None).to_json_line();
        assert!(
            line.starts_with(
                "{\"id\":\"fit\",\"score\":-7,\"scores\":{\"fit\":40,\"engagement\":-3},\
                 \"grade\":\"A\",\"stage\":\"fit\",\"transition\":null,"
            ),
            "{line}"
        );
        assert!(
            line.contains(
                "\"points\":3,\"score\":\"fit\",\"decay\":{\"points\":6,\"age_days\":30}"
            )
        );
    }

    proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(text in any::<String>(), n in any::<i64>()) {
            let mut v = verdict(&text, Value::Text(text.clone()));
            v.score = n;
            prop_assert_eq!(v.to_json_line(), serde_json::to_string(&v).unwrap());
        }
    }
}
