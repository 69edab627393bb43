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
/// its slot, the way numbered `mapping`, see [`crate::lead::Schema::mapping`]). A key
/// seen twice keeps its last value, as the serde path does. A slot `keeps` refuses is
/// walked over, not read, but its value must still be a string, number, boolean or
/// null (see [`crate::lead::Schema::needs_value`]). `None` when the text is outside the
/// scanner's subset, valid JSON or not.
pub(crate) fn object_into_slots(
    text: &str,
    slots: usize,
    mapping: u64,
    lookup: impl Fn(&str) -> Option<Slot>,
    keeps: impl Fn(Slot) -> bool,
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
        SEEN_KEYS.with_borrow_mut(|known| {
            let seen = SeenKeys::for_mapping(known, mapping);
            seen.start();
            loop {
                scan.expect(b'"')?;
                let slot = match seen.expected(scan.rest()) {
                    Some((length, slot)) => {
                        scan.at += length;
                        slot
                    }
                    None => {
                        let start = scan.at;
                        let key = scan.plain_string()?;
                        let slot = lookup(key);
                        seen.learn(scan.bytes.get(start..scan.at)?, slot);
                        slot
                    }
                };
                scan.expect(b':')?;
                match slot {
                    Some(slot) if keeps(slot) => scan.scalar_into(values.get_mut(slot)?)?,
                    Some(_) => scan.skip_scalar()?,
                    None => scan.skip_value(0)?,
                }
                match scan.next_after_blanks()? {
                    b',' => continue,
                    b'}' => return Some(()),
                    _ => return None,
                }
            }
        })?;
    }
    scan.skip_blanks();
    (scan.at == scan.bytes.len()).then_some(values)
}

/// How many distinct keys a thread remembers per mapping, and how long each may be.
const SEEN_KEYS_MAX: usize = 64;
const SEEN_KEY_BYTES_MAX: usize = 64;

/// How many mappings (rule sets) a thread remembers keys for at once: a service scoring
/// each request with its rules and shadow rules, or with several rule sets, alternates
/// between a few on every thread.
const SEEN_MAPPINGS_MAX: usize = 4;

std::thread_local! {
    /// The keys of the objects this thread read, for the next, by mapping.
    static SEEN_KEYS: std::cell::RefCell<Vec<SeenKeys>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The keys this thread met in earlier objects, each with its slot and the key that
/// followed it last time.
///
/// Why: the records of one file nearly always carry their keys in the same order, with
/// some left out. So the scanner first checks whether the object goes on with the key
/// that followed the previous one last time: a comparison of a few words, in place of
/// finding the string's end and looking the key up (about 150 instructions a key;
/// BENCHMARKS.md, issue 14, session 6). When it does not, the key is read and looked
/// up as before, and remembered.
#[derive(Default)]
struct SeenKeys {
    /// Which lookup the slots came from (`Schema::mapping`).
    mapping: u64,
    /// Entry 0 stands for the object's start; the others are keys met.
    keys: Vec<SeenKey>,
    /// The entry of the key just read.
    current: usize,
    /// For each slot, the entry of the key last seen for it (0: none), so that a key
    /// read the slow way is found among those met without comparing it to each.
    by_slot: Vec<usize>,
}

struct SeenKey {
    quoted: Quoted,
    slot: Option<Slot>,
    /// The entry of the key that followed this one last time (0: none yet).
    next: usize,
}

impl SeenKeys {
    /// The keys remembered for `mapping`; when there are none, a fresh set, in place of
    /// the last one when the thread already remembers [`SEEN_MAPPINGS_MAX`].
    fn for_mapping(known: &mut Vec<SeenKeys>, mapping: u64) -> &mut SeenKeys {
        let at = match known.iter().position(|seen| seen.mapping == mapping) {
            Some(at) => at,
            None => {
                let fresh = SeenKeys {
                    mapping,
                    ..SeenKeys::default()
                };
                if known.len() < SEEN_MAPPINGS_MAX {
                    known.push(fresh);
                } else if let Some(last) = known.last_mut() {
                    *last = fresh;
                }
                known.len() - 1
            }
        };
        &mut known[at]
    }

    /// Begins an object.
    fn start(&mut self) {
        if self.keys.is_empty() {
            // Entry 0: the object's start.
            self.keys.push(SeenKey {
                quoted: Quoted::new(b""),
                slot: None,
                next: 0,
            });
        }
        self.current = 0;
    }

    /// When `rest` (the text after a key's opening quote) starts with a key expected
    /// next and its closing quote: their length and the key's slot. Expected: the key
    /// that followed the current one last time, or the key that followed that one (an
    /// optional field left out).
    #[inline]
    fn expected(&mut self, rest: &[u8]) -> Option<(usize, Option<Slot>)> {
        let mut next = self.keys.get(self.current)?.next;
        for _ in 0..2 {
            let key = self.keys.get(next).filter(|_| next != 0)?;
            if key.quoted.starts(rest) {
                self.current = next;
                return Some((key.quoted.len(), key.slot));
            }
            next = key.next;
        }
        None
    }

    /// Records that the key `quoted` (with its closing quote) came next, with `slot`.
    fn learn(&mut self, quoted: &[u8], slot: Option<Slot>) {
        let by_slot = slot
            .and_then(|s| self.by_slot.get(s).copied())
            .filter(|&i| i != 0 && self.keys.get(i).is_some_and(|k| k.quoted.is(quoted)));
        let known = by_slot.or_else(|| {
            // Another spelling of a field (an alias), or a key the rules do not read.
            (1..self.keys.len()).find(|&i| self.keys.get(i).is_some_and(|k| k.quoted.is(quoted)))
        });
        let entry = match known {
            Some(i) => i,
            None if self.keys.len() <= SEEN_KEYS_MAX && quoted.len() <= SEEN_KEY_BYTES_MAX => {
                self.keys.push(SeenKey {
                    quoted: Quoted::new(quoted),
                    slot,
                    next: 0,
                });
                self.keys.len() - 1
            }
            // Full: no expectation until the next object.
            None => {
                self.current = usize::MAX;
                return;
            }
        };
        if let Some(s) = slot {
            if self.by_slot.len() <= s {
                self.by_slot.resize(s + 1, 0);
            }
            if let Some(place) = self.by_slot.get_mut(s) {
                *place = entry;
            }
        }
        if let Some(previous) = self.keys.get_mut(self.current) {
            previous.next = entry;
        }
        self.current = entry;
    }
}

/// A key's bytes and its closing quote (so the match is exact: `"id"` does not match
/// `"idx"`), with the words a comparison needs loaded ahead.
struct Quoted {
    bytes: Box<[u8]>,
    /// The first eight bytes (zero-padded), the eight from 8, and the last eight.
    head: u64,
    middle: u64,
    tail: u64,
}

impl Quoted {
    fn new(bytes: &[u8]) -> Self {
        Quoted {
            bytes: bytes.into(),
            head: padded_word(bytes, 0),
            middle: padded_word(bytes, 8),
            tail: padded_word(bytes, bytes.len().saturating_sub(8)),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn is(&self, bytes: &[u8]) -> bool {
        *self.bytes == *bytes
    }

    /// Whether `text` starts with these bytes: two or three word comparisons for keys
    /// up to 24 bytes (nearly all), a byte comparison for longer ones.
    fn starts(&self, text: &[u8]) -> bool {
        let len = self.bytes.len();
        if text.len() < len.max(8) {
            return text.get(..len) == Some(&*self.bytes);
        }
        if len < 8 {
            // The text's first eight bytes, of which the key's `len` must agree.
            let mask = (1u64 << (8 * len)) - 1;
            return (padded_word(text, 0) ^ self.head) & mask == 0;
        }
        if len > 24 {
            return text.get(..len) == Some(&*self.bytes);
        }
        padded_word(text, 0) == self.head
            && padded_word(text, len - 8) == self.tail
            && (len <= 16 || padded_word(text, 8) == self.middle)
    }
}

/// The eight bytes of `bytes` from `at` as a little-endian word, zero-padded past the
/// end. The same word as `lead::word_at` gives; that one assembles a short tail byte by
/// byte, and used here it cost about 160 instructions per lead (measured), so the
/// scanner keeps this form.
fn padded_word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    match bytes.get(at..at + 8) {
        Some(chunk) => w.copy_from_slice(chunk),
        None => {
            let tail = bytes.get(at..).unwrap_or_default();
            w[..tail.len()].copy_from_slice(tail);
        }
    }
    u64::from_le_bytes(w)
}

/// A position in the text being scanned.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    /// The text from the current position on.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    /// Steps over JSON whitespace (space, tab, line feed, carriage return).
    #[cold]
    #[inline(never)]
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after blanks, not consumed.
    #[inline]
    fn peek_after_blanks(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        // Compact JSON (what exports write) has no blanks: one test, no loop.
        if byte > b' ' {
            return Some(byte);
        }
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
    #[inline]
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

    /// Reads a value the rules read (a string, number, boolean or null) into its slot.
    /// Arrays and objects are left to serde_json.
    ///
    /// Why each arm stores its own variant into the slot instead of returning a
    /// [`Value`]: a returned value crossed the stack as a 32-byte enum whose parts were
    /// written and read back in different widths, and the processor cannot forward
    /// such stores to the loads: a timer-sampled profile charged that wait with a third
    /// of the scanner's time (BENCHMARKS.md, issue 14, session 8).
    #[inline]
    fn scalar_into(&mut self, slot: &mut Option<Cow<'static, Value>>) -> Option<()> {
        match self.next_after_blanks()? {
            b'"' => {
                let text = self.plain_string()?;
                *slot = Some(Cow::Owned(Value::Text(crate::lead::owned_text(text))));
            }
            b't' => {
                self.word(b"rue")?;
                *slot = Some(Cow::Owned(Value::Bool(true)));
            }
            b'f' => {
                self.word(b"alse")?;
                *slot = Some(Cow::Owned(Value::Bool(false)));
            }
            b'n' => {
                self.word(b"ull")?;
                *slot = Some(Cow::Owned(Value::Null));
            }
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number_into(slot)?;
            }
            _ => return None,
        }
        Some(())
    }

    /// The rest of `true`, `false` or `null`, whose first letter was consumed.
    fn word(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| self.at = end)
    }

    /// Reads a number into its slot as serde_json reads it: whole numbers as `Int`,
    /// fractions as `Float`.
    #[inline]
    fn number_into(&mut self, slot: &mut Option<Cow<'static, Value>>) -> Option<()> {
        let start = self.at;
        let shape = self.number_shape()?;
        let text = self.text.get(start..self.at)?;
        if shape.fraction {
            // serde_json's own float parsing, so the bits are the same.
            let x = serde_json::from_str::<f64>(text).ok()?;
            *slot = Some(Cow::Owned(Value::Float(x)));
            return Some(());
        }
        let n: i64 = text.parse().ok()?;
        // serde_json reads `-0` as the float -0.0.
        if n == 0 && shape.negative {
            return None;
        }
        *slot = Some(Cow::Owned(Value::Int(n)));
        Some(())
    }

    /// Walks over a number in JSON's grammar without an exponent, at most
    /// [`MAX_DIGITS`] digits.
    #[inline]
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

    /// Walks over a string, number, boolean or null, checking it as serde_json would;
    /// an array or object is left to serde_json, as [`Scanner::scalar_into`] leaves it.
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek_after_blanks()? {
            b'[' | b'{' => None,
            _ => self.skip_value(0),
        }
    }

    /// Walks over a value the rules do not read, checking it as serde_json would.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match self.next_after_blanks()? {
            b'"' => self.plain_string().map(drop),
            b't' => self.word(b"rue"),
            b'f' => self.word(b"alse"),
            b'n' => self.word(b"ull"),
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
        let values = object_into_slots(text, 2, 1, lookup, |_| true)?;
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

    /// A second way of naming fields, numbered apart from `lookup`'s: `b` is slot 0
    /// here, and `a` is not read.
    fn other_lookup(key: &str) -> Option<Slot> {
        match key {
            "b" => Some(0),
            "x" => Some(1),
            _ => None,
        }
    }

    #[test]
    fn keys_remembered_under_one_lookup_are_not_used_under_another() {
        let text = r#"{"a":1,"b":2,"x":3}"#;
        for _ in 0..3 {
            let first = object_into_slots(text, 2, 1, lookup, |_| true).unwrap();
            assert_eq!(first[0].as_deref(), Some(&Value::Int(1)));
            let second = object_into_slots(text, 2, 2, other_lookup, |_| true).unwrap();
            assert_eq!(second[0].as_deref(), Some(&Value::Int(2)));
            assert_eq!(second[1].as_deref(), Some(&Value::Int(3)));
        }
        // Both kept, each with the keys it learned (start, a, b, x).
        SEEN_KEYS.with_borrow(|known| {
            let sizes: Vec<(u64, usize)> =
                known.iter().map(|s| (s.mapping, s.keys.len())).collect();
            assert_eq!(sizes, [(1, 4), (2, 4)]);
        });
        // A thread remembers a few mappings at most; one more takes the last place.
        for mapping in 3..=6 {
            object_into_slots(text, 2, mapping, lookup, |_| true).unwrap();
        }
        SEEN_KEYS.with_borrow(|known| {
            let mappings: Vec<u64> = known.iter().map(|s| s.mapping).collect();
            assert_eq!(mappings, [1, 2, 3, 6]);
        });
    }

    #[test]
    fn a_remembered_key_matches_only_itself() {
        // `a` then `b` is learned; later objects hold keys that start like them.
        assert!(scanned(r#"{"a":1,"b":2}"#).is_some());
        for text in [
            r#"{"ab":1,"b":2}"#,
            r#"{"a":1,"bb":2}"#,
            r#"{"a":1,"b\u0041":2}"#,
            r#"{"a":1,"":2}"#,
            r#"{"a":1,"b"}"#,
            r#"{"a":1,"b"#,
        ] {
            agrees(text);
            let expected = by_serde(text);
            assert_eq!(
                scanned(text).is_some(),
                expected.is_some() && !text.contains('\\'),
                "{text}"
            );
        }
    }

    /// Keys that share beginnings, ends and lengths around the word sizes the
    /// comparison uses; the last one is not a field.
    const RUN_KEYS: &[&str] = &[
        "a",
        "b",
        "ab",
        "ac",
        "abcdefg",
        "abcdefgh",
        "abcdefghijklmnop",
        "abcdefghijklmnopq",
        "abcdefgh_1_ijklmnop",
        "abcdefgh_2_ijklmnop",
        "abcdefghijklmnopqrstuvwx",
        "abcdefghijklmnopqrstuvwxy",
        "abcdefghijklmnopqrstuvwxz",
        "unread",
    ];

    /// Keys drawn from names that share beginnings and lengths around the word sizes
    /// the comparison uses, for a run of objects read one after another.
    fn object_run() -> impl Strategy<Value = Vec<String>> {
        let key = (0..RUN_KEYS.len()).prop_map(|i| RUN_KEYS[i]);
        let member = (key, 0i64..9).prop_map(|(k, v)| format!(r#""{k}":{v}"#));
        let object = proptest::collection::vec(member, 0..8)
            .prop_map(|members| format!("{{{}}}", members.join(",")));
        proptest::collection::vec(object, 1..12)
    }

    proptest! {
        #[test]
        fn accepts_only_what_serde_json_accepts_with_the_same_values(body in jsonish()) {
            agrees(&body);
            agrees(&format!("{{{body}}}"));
            agrees(&format!(r#"{{"a":{body}}}"#));
            agrees(&format!(r#"{{"x":{body},"b":1}}"#));
        }

        /// Whatever keys earlier objects taught the scanner, each object reads as
        /// serde_json reads it.
        #[test]
        fn objects_read_one_after_another_read_as_serde_json_reads_them(run in object_run()) {
            let mut schema = crate::lead::Schema::default();
            for key in &RUN_KEYS[..RUN_KEYS.len() - 1] {
                schema.slot_for(key);
            }
            let slots = schema.fields().len();
            for text in &run {
                let scanned = object_into_slots(text, slots, schema.mapping(), |k| schema.lookup(k), |_| true)
                    .map(|values| values.into_iter().map(|v| v.map(Cow::into_owned)).collect::<Vec<_>>());
                let expected = schema.bind_json(text).ok().map(|mut bound| {
                    std::mem::take(&mut bound.values)
                        .into_iter()
                        .map(|v| v.map(Cow::into_owned))
                        .collect::<Vec<_>>()
                });
                prop_assert_eq!(scanned, expected, "{}", text);
            }
        }
    }
}
