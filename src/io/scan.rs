//! A fast, validating scanner for the common shape of a lead: one JSON object whose
//! keys and strings have no escapes, read straight into the rules' field slots.
//!
//! It handles a strict subset of JSON and says "not mine" (`None`) for anything
//! outside it: an escape or control character in a string, a number with an exponent
//! or more than 18 digits, `-0`, an array or object where the rules read a field, deep
//! nesting, and every syntax error. The caller then reads the record with serde_json,
//! which gives the same values, or the exact error. So the scanner never has to agree
//! with serde_json on an error message, only on what it accepts: it accepts nothing
//! serde_json refuses and reads every value it accepts as serde_json does (property
//! tested below against the serde path).
//!
//! Why: reading leads was the largest part of bulk scoring (10 K of 30 K instructions
//! per lead through serde_json's visitor machinery). Unread values are only walked
//! over, strings eight bytes at a time.

use std::borrow::Cow;

use crate::lead::{Slot, Value};
use crate::verdict::first_needing_escape;

/// How deep unread arrays and objects may nest before the record is left to
/// serde_json, whose own limit (128) then decides.
const MAX_DEPTH: u32 = 64;

/// More digits than this and a number is left to serde_json (an `i64` always holds
/// 18 decimal digits; a fraction of at most 18 digits is always a finite `f64`).
const MAX_DIGITS: usize = 18;

/// Reads one JSON object into values by slot (`slots` of them; `lookup` maps a key to
/// its slot). A key seen twice keeps its last value, as the serde path does. `None`
/// when the text is outside the scanner's subset, valid JSON or not.
pub(crate) fn object_into_slots(
    text: &str,
    slots: usize,
    lookup: impl Fn(&str) -> Option<Slot>,
) -> Option<Vec<Option<Cow<'static, Value>>>> {
    // Filled, not cloned: `vec![None; n]` clones the `None` into every slot.
    let mut values = Vec::with_capacity(slots);
    values.resize_with(slots, || None);
    let mut scan = Scanner {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    scan.expect(b'{')?;
    if scan.peek_after_blanks()? == b'}' {
        scan.at += 1;
    } else {
        loop {
            scan.expect(b'"')?;
            let key = scan.plain_string()?;
            scan.expect(b':')?;
            match lookup(key) {
                Some(slot) => *values.get_mut(slot)? = Some(Cow::Owned(scan.scalar()?)),
                None => scan.skip_value(0)?,
            }
            match scan.next_after_blanks()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    scan.skip_blanks();
    (scan.at == scan.bytes.len()).then_some(values)
}

/// A position in the text being scanned.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    /// Steps over JSON whitespace (space, tab, line feed, carriage return).
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after blanks, not consumed.
    fn peek_after_blanks(&mut self) -> Option<u8> {
        self.skip_blanks();
        self.bytes.get(self.at).copied()
    }

    /// The next byte after blanks, consumed.
    fn next_after_blanks(&mut self) -> Option<u8> {
        let byte = self.peek_after_blanks()?;
        self.at += 1;
        Some(byte)
    }

    /// Consumes `byte` after blanks, or gives up.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_after_blanks()? == byte).then_some(())
    }

    /// The contents of a string whose opening quote was just consumed, when it holds
    /// no escape and no control character.
    fn plain_string(&mut self) -> Option<&'a str> {
        let start = self.at;
        let end = start + first_needing_escape(self.bytes.get(start..)?)?;
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        // Both ends sit next to an ASCII quote, so this slice is on character boundaries.
        self.text.get(start..end)
    }

    /// A value the rules read: a string, number, boolean or null. Arrays and objects
    /// are left to serde_json.
    fn scalar(&mut self) -> Option<Value> {
        match self.next_after_blanks()? {
            b'"' => Some(crate::lead::owned_text(self.plain_string()?)),
            b't' => self.literal(b"rue", Value::Bool(true)),
            b'f' => self.literal(b"alse", Value::Bool(false)),
            b'n' => self.literal(b"ull", Value::Null),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number()
            }
            _ => None,
        }
    }

    /// The rest of `true`, `false` or `null`, whose first letter was consumed.
    fn literal(&mut self, rest: &[u8], value: Value) -> Option<Value> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| {
            self.at = end;
            value
        })
    }

    /// A number as serde_json reads it: whole numbers as `Int`, fractions as `Float`.
    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        let shape = self.number_shape()?;
        let text = self.text.get(start..self.at)?;
        if shape.fraction {
            // serde_json's own float parsing, so the bits are the same.
            return serde_json::from_str::<f64>(text).ok().map(Value::Float);
        }
        let n: i64 = text.parse().ok()?;
        // serde_json reads `-0` as the float -0.0.
        (!(n == 0 && shape.negative)).then_some(Value::Int(n))
    }

    /// Walks over a number in JSON's grammar without an exponent, at most
    /// [`MAX_DIGITS`] digits.
    fn number_shape(&mut self) -> Option<NumberShape> {
        let negative = self.bytes.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let whole = self.digits();
        let leading_zero = whole > 1 && self.bytes.get(self.at - whole) == Some(&b'0');
        if whole == 0 || leading_zero {
            return None;
        }
        let mut fraction_digits = 0;
        let fraction = self.bytes.get(self.at) == Some(&b'.');
        if fraction {
            self.at += 1;
            fraction_digits = self.digits();
            if fraction_digits == 0 {
                return None;
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E'))
            || whole + fraction_digits > MAX_DIGITS
        {
            return None;
        }
        Some(NumberShape { negative, fraction })
    }

    /// Steps over ASCII digits, returning how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        self.at - start
    }

    /// Walks over a value the rules do not read, checking it as serde_json would.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match self.next_after_blanks()? {
            b'"' => self.plain_string().map(drop),
            b't' => self.literal(b"rue", Value::Null).map(drop),
            b'f' => self.literal(b"alse", Value::Null).map(drop),
            b'n' => self.literal(b"ull", Value::Null).map(drop),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number_shape().map(drop)
            }
            b'[' if depth < MAX_DEPTH => self.skip_items(depth + 1),
            b'{' if depth < MAX_DEPTH => self.skip_members(depth + 1),
            _ => None,
        }
    }

    /// The rest of an array whose `[` was consumed.
    fn skip_items(&mut self, depth: u32) -> Option<()> {
        if self.peek_after_blanks()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_value(depth)?;
            match self.next_after_blanks()? {
                b',' => continue,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The rest of an object whose `{` was consumed.
    fn skip_members(&mut self, depth: u32) -> Option<()> {
        if self.peek_after_blanks()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            self.plain_string()?;
            self.expect(b':')?;
            self.skip_value(depth)?;
            match self.next_after_blanks()? {
                b',' => continue,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }
}

/// What [`Scanner::number_shape`] found.
struct NumberShape {
    negative: bool,
    fraction: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fields the tests read: `a` and `b`, and `c` as an alias of `a`.
    fn lookup(key: &str) -> Option<Slot> {
        match key {
            "a" | "c" => Some(0),
            "b" => Some(1),
            _ => None,
        }
    }

    /// What serde_json makes of the same text, through the library's serde path.
    fn by_serde(text: &str) -> Option<Vec<Option<Value>>> {
        let mut schema = crate::lead::Schema::default();
        let a = schema.slot_for("a");
        schema.slot_for("b");
        schema.declare("a", None, &["c".to_string()]).ok()?;
        assert_eq!(a, 0);
        let mut bound = schema.bind_json(text).ok()?;
        Some(
            std::mem::take(&mut bound.values)
                .into_iter()
                .map(|v| v.map(|v| v.into_owned()))
                .collect(),
        )
    }

    fn scanned(text: &str) -> Option<Vec<Option<Value>>> {
        let values = object_into_slots(text, 2, lookup)?;
        Some(values.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    /// The law: whatever the scanner accepts, serde_json accepts with the same values.
    fn agrees(text: &str) {
        if let Some(values) = scanned(text) {
            assert_eq!(Some(values), by_serde(text), "{text:?}");
        }
    }

    #[test]
    fn reads_the_common_shape_and_skips_unread_fields() {
        let text = r#" {"id":"S-1","a":"Ana","x":[1,{"y":null}],"b":-42, "z":true} "#;
        assert_eq!(
            scanned(text),
            Some(vec![Some(Value::Text("Ana".into())), Some(Value::Int(-42))])
        );
        agrees(text);
        assert_eq!(scanned("{}"), Some(vec![None, None]));
    }

    #[test]
    fn a_later_key_or_alias_wins() {
        let text = r#"{"a":1,"c":2,"a":3,"b":null}"#;
        assert_eq!(
            scanned(text),
            Some(vec![Some(Value::Int(3)), Some(Value::Null)])
        );
        agrees(text);
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for n in [
            "0",
            "-1",
            "1.5",
            "0.1",
            "123456789012345678",
            "-0.0",
            "2.50",
        ] {
            let text = format!(r#"{{"a":{n}}}"#);
            assert!(scanned(&text).is_some(), "{n}");
            agrees(&text);
        }
    }

    #[test]
    fn leaves_everything_outside_its_subset_to_serde_json() {
        for text in [
            r#"{"a":"tab\tquoted"}"#,
            r#"{"x":"\u00e9"}"#,
            "{\"a\":\"raw\u{1}control\"}",
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":1234567890123456789}"#,
            r#"{"a":[1]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nulll}"#,
            r#"{"a":1}x"#,
            r#"[{"a":1}]"#,
            r#"{"a":1"#,
            "",
        ] {
            assert_eq!(scanned(text), None, "{text:?}");
        }
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(70), "]".repeat(70));
        assert_eq!(scanned(&deep), None);
    }

    #[test]
    fn finds_bytes_needing_escape_at_every_offset() {
        for len in 0..20 {
            for special in [b'"', b'\\', 0x1f, 0] {
                let mut bytes = vec![b'a'; len + 1];
                bytes[len] = special;
                bytes.extend_from_slice(b"\"\\");
                assert_eq!(first_needing_escape(&bytes), Some(len), "{len} {special}");
            }
            assert_eq!(first_needing_escape(&vec![0xc3; len]), None);
        }
    }

    /// JSON-ish text built from the pieces the scanner decides on.
    fn jsonish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\"a\"".to_string()),
            Just("\"b\"".to_string()),
            Just("\"c\"".to_string()),
            Just("\"x\"".to_string()),
            Just("\"é\\n\"".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("-".to_string()),
            Just(".".to_string()),
            Just("e".to_string()),
            "[0-9]{1,20}",
            "\"[ -~]{0,12}\"",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn accepts_only_what_serde_json_accepts_with_the_same_values(body in jsonish()) {
            agrees(&body);
            agrees(&format!("{{{body}}}"));
            agrees(&format!(r#"{{"a":{body}}}"#));
            agrees(&format!(r#"{{"x":{body},"b":1}}"#));
        }
    }
}
