//! The verdict for one lead: the JSON contract every output format is built from.

use std::sync::Arc;

use serde::Serialize;

use crate::lead::Value;

/// What the rules say about one lead. Serializes to the documented JSON object, keys in
/// this order, so the same rules and lead always give byte-identical output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The lead's id field, or where it was read (`leads.csv:4`) when it has none.
    pub id: Value,
    /// Sum of matched points, clamped to the `settings.score` range.
    pub score: i64,
    /// The stage chosen by the stage policy (e.g. `prospect`).
    pub stage: Arc<str>,
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
    /// Points the rule gave (may be negative).
    pub points: i64,
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

/// The next stage up and what stands between the lead and it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Next {
    /// The stage id.
    pub stage: Arc<str>,
    /// Signals the stage requires that the lead lacks, in the stage's order.
    pub missing: Vec<Arc<str>>,
    /// Points still needed to reach the stage's `min_score` (0 when reached).
    pub points_needed: i64,
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
        out.extend_from_slice(b",\"stage\":");
        write_str(out, &self.stage);
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

fn write_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
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

fn write_strs(out: &mut Vec<u8>, items: &[Arc<str>]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item);
    }
    out.push(b']');
}

/// Writes a JSON string the way serde_json does: `"` `\\` and control characters
/// escaped (`\n`, `\u001f`), everything else as is.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
    } else {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => {
                    out.extend_from_slice(&bytes[start..i]);
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(escaped);
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
    }
    out.push(b'"');
}

/// Whether any byte needs escaping in JSON; eight bytes at a time.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let control = v.wrapping_sub(ONES * 0x20) & !v & HIGH != 0;
        if control
            || has_zero(v ^ (ONES * u64::from(b'"')))
            || has_zero(v ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdict(text: &str, id: Value) -> Verdict {
        let s: Arc<str> = Arc::from(text);
        Verdict {
            id,
            score: -7,
            stage: s.clone(),
            signals: vec![s.clone(), Arc::from("need")],
            matched: vec![
                Match {
                    rule: s.clone(),
                    points: 3,
                    signals: vec![],
                    reason: Some(text.to_string()),
                    disqualify: None,
                },
                Match {
                    rule: Arc::from("b"),
                    points: -2,
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

    proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(text in any::<String>(), n in any::<i64>()) {
            let mut v = verdict(&text, Value::Text(text.clone()));
            v.score = n;
            prop_assert_eq!(v.to_json_line(), serde_json::to_string(&v).unwrap());
        }
    }
}
