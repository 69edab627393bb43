//! One incoming record: [`Lead`] and its [`Value`]s, and how text from a CSV cell or a
//! JSON string is coerced to a field's declared [`FieldType`].

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::date::Date;

/// A field value as it arrived: JSON-like, with integers kept apart from floats so
/// `{budget}` in a reason prints `12000`, not `12000.0`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Missing or explicitly null.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (never NaN or infinite when built from JSON).
    Float(f64),
    /// Text, as given.
    Text(String),
    /// A list of values.
    List(Vec<Value>),
    /// A nested object, keys in input order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The number this value holds, reading numeric text too (`" 12000 "` is 12000).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) => Some(*x),
            Value::Text(s) => parse_number(s),
            _ => None,
        }
    }

    /// The truth value this value holds, reading `true/false/yes/no/y/n/1/0` text too.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            Value::Text(s) => parse_bool(s),
            _ => None,
        }
    }

    /// The text this value holds, if it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The date this value holds, if it is text starting with `YYYY-MM-DD`.
    pub fn as_date(&self) -> Option<Date> {
        self.as_text().and_then(Date::parse)
    }

    /// True for null, blank text and empty lists: what the `empty` operator means.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.trim().is_empty(),
            Value::List(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
            _ => false,
        }
    }

    /// Converts a JSON value. Numbers that fit an `i64` stay whole.
    pub fn from_json(value: serde_json::Value) -> Value {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n.as_f64().map_or(Value::Null, Value::Float),
            },
            serde_json::Value::String(s) => Value::Text(s),
            serde_json::Value::Array(items) => {
                Value::List(items.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts back to a JSON value (non-finite floats become null).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Value {
    /// Renders a value for people: text as is, numbers plainly, lists comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
            Value::Map(_) => f.write_str(&self.to_json().to_string()),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => serializer.serialize_i64(*n),
            Value::Float(x) if x.is_finite() => serializer.serialize_f64(*x),
            Value::Float(_) => serializer.serialize_unit(),
            Value::Text(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => serialize_entries(serializer, entries),
        }
    }
}

fn serialize_entries<S: Serializer>(
    serializer: S,
    entries: &[(String, Value)],
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(i64::try_from(n).map_or(Value::Float(n as f64), Value::Int))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(if x.is_finite() {
            Value::Float(x)
        } else {
            Value::Null
        })
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Text(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Text(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        entries(map).map(Value::Map)
    }
}

/// A map's entries in input order, each key once (the last value wins, as in
/// `serde_json::Value`).
fn entries<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<(String, Value)>, A::Error> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(map.size_hint().unwrap_or(16).min(256));
    while let Some((key, value)) = map.next_entry::<String, Value>()? {
        out.push((key, value));
    }
    dedupe_keep_last(&mut out);
    Ok(out)
}

fn dedupe_keep_last(entries: &mut Vec<(String, Value)>) {
    // Small maps (every real lead) compare directly; large ones index by name, so a
    // hostile record with many keys costs linear time, not quadratic.
    let duplicated = if entries.len() <= 32 {
        (1..entries.len()).any(|i| entries[..i].iter().any(|(k, _)| *k == entries[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        !entries.iter().all(|(k, _)| seen.insert(k.as_str()))
    };
    if !duplicated {
        return;
    }
    let mut last = std::collections::HashMap::with_capacity(entries.len());
    for (i, (k, _)) in entries.iter().enumerate() {
        last.insert(k.clone(), i);
    }
    let mut index = 0;
    entries.retain(|(k, _)| {
        let keep = last.get(k) == Some(&index);
        index += 1;
        keep
    });
}

impl<'de> Deserialize<'de> for Lead {
    /// A lead is a JSON object; anything else is refused with a sentence saying what
    /// was found.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Lead, D::Error> {
        deserializer.deserialize_any(LeadVisitor)
    }
}

struct LeadVisitor;

impl LeadVisitor {
    fn refuse<E: de::Error>(found: &str) -> Result<Lead, E> {
        Err(E::custom(format!(
            "a lead must be a JSON object, found {found}"
        )))
    }
}

impl<'de> Visitor<'de> for LeadVisitor {
    type Value = Lead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lead, A::Error> {
        entries(map).map(|fields| Lead { fields })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Lead, E> {
        Self::refuse("null")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lead, E> {
        Self::refuse("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lead, E> {
        Self::refuse("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lead, E> {
        Self::refuse("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lead, E> {
        Self::refuse("a number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Lead, E> {
        Self::refuse("a string")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Lead, A::Error> {
        Self::refuse("an array")
    }
}

/// Deserializes a JSON object into a vector of values by slot.
struct SlotsSeed<'s> {
    schema: &'s Schema,
}

impl<'de> de::DeserializeSeed<'de> for SlotsSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SlotsSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(self.schema.fields.len());
        values.resize_with(self.schema.fields.len(), || None);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.schema.lookup(key.as_str()) {
                // A later key wins, as when a parsed lead is bound.
                Some(slot) => values[slot] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<Skipped>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A value read and dropped. Unlike [`de::IgnoredAny`], which serde_json skips without
/// counting depth, it nests through serde_json's recursion limit, so a record too deep to
/// parse as a [`Lead`] is refused here too and both ways of reading agree.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skipped, D::Error> {
        deserializer.deserialize_any(Skipped)
    }
}

impl<'de> Visitor<'de> for Skipped {
    type Value = Skipped;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skipped, A::Error> {
        while seq.next_element::<Skipped>()?.is_some() {}
        Ok(Skipped)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skipped, A::Error> {
        while map.next_entry::<de::IgnoredAny, Skipped>()?.is_some() {}
        Ok(Skipped)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Parses a number written as text, ignoring surrounding blanks. NaN and infinities are
/// not numbers here: they would poison every comparison.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    // `f64::from_str` accepts "inf", "nan" and "infinity"; a lead's budget never means those.
    if t.is_empty()
        || t.bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    const TRUE: [&str; 5] = ["true", "yes", "y", "1", "t"];
    const FALSE: [&str; 5] = ["false", "no", "n", "0", "f"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A lead could not be built from the given data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadError {
    /// What was wrong, in one sentence.
    pub reason: String,
}

impl fmt::Display for LeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LeadError {}

/// One record: named fields with values, in input order, each name once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lead {
    fields: Vec<(String, Value)>,
}

impl Lead {
    /// An empty lead.
    pub fn new() -> Lead {
        Lead::default()
    }

    /// Sets a field; a field of the same name is replaced (the last value wins).
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Sets a field like [`insert`](Lead::insert) and returns the value it replaced.
    pub fn replace(&mut self, name: impl Into<String>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.fields.push((name, value));
                None
            }
        }
    }

    /// Removes a field; returns its value, if it was present.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(at).1)
    }

    /// The value of a field, if present (a present null is `Some(&Value::Null)`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The fields in input order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the lead has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Builds a lead from a JSON object.
    ///
    /// # Errors
    /// When `value` is not an object (a lead is a set of named fields).
    pub fn from_json(value: serde_json::Value) -> Result<Lead, LeadError> {
        match value {
            // serde_json's map already holds each key once.
            serde_json::Value::Object(map) => Ok(Lead {
                fields: map
                    .into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            }),
            other => Err(LeadError {
                reason: format!("a lead must be a JSON object, found {}", json_kind(&other)),
            }),
        }
    }

    /// Builds a lead from any serializable value that serializes as a map or struct.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Form { email: String, budget: u32 }
    /// let lead = leadscore::Lead::from_serialize(&Form { email: "a@b.co".into(), budget: 12000 })?;
    /// assert_eq!(lead.get("budget"), Some(&leadscore::Value::Int(12000)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// When the value cannot be serialized or is not a map.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Lead, LeadError> {
        let json = serde_json::to_value(value).map_err(|e| LeadError {
            reason: format!("cannot read the lead: {e}"),
        })?;
        Lead::from_json(json)
    }

    /// The lead as a JSON object, fields in input order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }
}

impl FromIterator<(String, Value)> for Lead {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut lead = Lead::new();
        for (k, v) in iter {
            lead.insert(k, v);
        }
        lead
    }
}

impl IntoIterator for Lead {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    /// The fields in input order, by value.
    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

impl Serialize for Lead {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(serializer, &self.fields)
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The declared type of a field, from the `fields:` section of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any text.
    String,
    /// A number, whole or not.
    Number,
    /// A whole number.
    Integer,
    /// true/false (also yes/no, y/n, 1/0 in text).
    Bool,
    /// A date `YYYY-MM-DD`, optionally with a time.
    Date,
    /// A list; text is split on `;` as CRM multi-select picklists export it.
    List,
}

impl FieldType {
    /// Every type name, as written in rule files.
    pub const NAMES: [&'static str; 6] = ["string", "number", "integer", "bool", "date", "list"];

    /// The type for a name as written in rule files (`boolean` and `text` are accepted too).
    pub fn from_name(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" | "text" => FieldType::String,
            "number" | "float" => FieldType::Number,
            "integer" | "int" => FieldType::Integer,
            "bool" | "boolean" => FieldType::Bool,
            "date" => FieldType::Date,
            "list" => FieldType::List,
            _ => return None,
        })
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::List => "list",
        }
    }

    /// Brings `value` to this type: borrowed when it already fits, converted when it is
    /// text that reads as this type; blank text becomes null (a missing value).
    ///
    /// # Errors
    /// A sentence naming what was found, when the value does not fit.
    pub fn coerce<'a>(self, value: &'a Value) -> Result<Cow<'a, Value>, String> {
        if self != FieldType::String
            && let Value::Text(s) = value
            && s.trim().is_empty()
        {
            return Ok(Cow::Owned(Value::Null));
        }
        let fits = match (self, value) {
            (FieldType::Date, Value::Text(s)) => Date::parse(s).is_some(),
            _ => self.holds_as_is(value),
        };
        if fits {
            return Ok(Cow::Borrowed(value));
        }
        self.convert(value)
            .map(Cow::Owned)
            .ok_or_else(|| format!("expected {}, found {}", self.described(), describe(value)))
    }

    /// [`FieldType::coerce`] of a text value, read straight from the text (CSV cells):
    /// `Ok(None)` when the text fits as it is (the value is the text), `Ok(Some(v))`
    /// when it converts to `v`, and the same error otherwise.
    pub(crate) fn coerce_text(self, text: &str) -> Result<Option<Value>, String> {
        if self == FieldType::String {
            return Ok(None);
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        if self == FieldType::Date && Date::parse(text).is_some() {
            return Ok(None);
        }
        self.convert_text(text).map(Some).ok_or_else(|| {
            let value = Value::Text(text.to_string());
            format!("expected {}, found {}", self.described(), describe(&value))
        })
    }

    /// Whether `value` is already of this type, as it stands: the common case,
    /// decided without a call to [`FieldType::coerce`] (which agrees: it borrows it).
    #[inline]
    fn holds_as_is(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (_, Value::Null)
                | (FieldType::String, Value::Text(_))
                | (FieldType::Number, Value::Int(_) | Value::Float(_))
                | (FieldType::Integer, Value::Int(_))
                | (FieldType::Bool, Value::Bool(_))
                | (FieldType::List, Value::List(_))
        )
    }

    fn convert(self, value: &Value) -> Option<Value> {
        match (self, value) {
            (_, Value::Text(text)) => self.convert_text(text),
            (FieldType::String, Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
                Some(Value::Text(value.to_string()))
            }
            (FieldType::Integer, Value::Float(x)) => whole_int(*x),
            (FieldType::Bool, _) => value.as_bool().map(Value::Bool),
            _ => None,
        }
    }

    /// What text converts to under this type, when it converts.
    fn convert_text(self, text: &str) -> Option<Value> {
        match self {
            FieldType::String | FieldType::Date => None,
            FieldType::Number => parse_number(text).map(whole_or_float),
            FieldType::Integer => parse_number(text).and_then(whole_int),
            FieldType::Bool => parse_bool(text).map(Value::Bool),
            FieldType::List => Some(Value::List(
                text.split(';')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::Text(part.to_string()))
                    .collect(),
            )),
        }
    }

    fn described(self) -> &'static str {
        match self {
            FieldType::String => "text",
            FieldType::Number => "a number",
            FieldType::Integer => "a whole number",
            FieldType::Bool => "true or false",
            FieldType::Date => "a date (YYYY-MM-DD)",
            FieldType::List => "a list",
        }
    }
}

/// `x` as a whole number, when it is one (and exact as an `f64`).
fn whole_int(x: f64) -> Option<Value> {
    (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(Value::Int(x as i64))
}

fn whole_or_float(x: f64) -> Value {
    whole_int(x).unwrap_or(Value::Float(x))
}

/// Describes a value for error messages: its kind and, when short, the value itself.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int(n) => format!("the number {n}"),
        Value::Float(x) => format!("the number {x}"),
        Value::Text(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if s.chars().count() > 40 { "..." } else { "" };
            format!("the text \"{shown}{more}\"")
        }
        Value::List(_) => "a list".to_string(),
        Value::Map(_) => "an object".to_string(),
    }
}

/// Index of a field in a [`Schema`]: conditions read `values[slot]`, not a map by name.
pub(crate) type Slot = usize;

/// One field the rules know about.
#[derive(Debug, Clone)]
pub(crate) struct SchemaField {
    pub name: std::sync::Arc<str>,
    pub ty: Option<FieldType>,
    pub declared: bool,
    /// Something reads its value: a condition, a template, a script, the settings (id,
    /// decay, CRM stage, amount). False for a field only declared in `fields:`.
    pub read: bool,
}

/// Every field the rules read or declare, each with a slot; names and aliases map to
/// slots once at load, so scoring a lead costs one lookup per lead field.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    fields: Vec<SchemaField>,
    index: NameIndex,
}

/// Field names and aliases to slots, looked up once per key of every record read, so
/// it avoids hashing: names are bucketed by length, and compared as three words (names
/// up to 24 bytes, nearly all) before any longer rest.
#[derive(Debug, Clone, Default)]
struct NameIndex {
    by_len: Vec<Vec<(Words, Box<str>, Slot)>>,
    /// Which names map to which slots, as a number: a new one at every insert, so two
    /// indexes with the same number (one cloned from the other) map alike. The JSON
    /// scanner keys what it remembers of earlier records by it.
    mapping: u64,
}

/// The last [`NameIndex::mapping`] handed out.
static LAST_MAPPING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The first 24 bytes of a name as words, zero-padded.
type Words = [u64; 3];

impl NameIndex {
    fn get(&self, name: &str) -> Option<Slot> {
        let bytes = name.as_bytes();
        let words = words(bytes);
        self.by_len
            .get(bytes.len())?
            .iter()
            // Names of 24 bytes or fewer (nearly all) are decided by their words alone,
            // without a call to `memcmp` for the empty rest.
            .find(|(w, n, _)| {
                *w == words && (bytes.len() <= 24 || n.as_bytes().get(24..) == bytes.get(24..))
            })
            .map(|&(_, _, slot)| slot)
    }

    fn insert(&mut self, name: &str, slot: Slot) {
        self.mapping = LAST_MAPPING.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let len = name.len();
        if self.by_len.len() <= len {
            self.by_len.resize_with(len + 1, Vec::new);
        }
        let bucket = &mut self.by_len[len];
        match bucket.iter_mut().find(|(_, n, _)| **n == *name) {
            Some(entry) => entry.2 = slot,
            None => bucket.push((words(name.as_bytes()), name.into(), slot)),
        }
    }
}

fn words(bytes: &[u8]) -> Words {
    [word_at(bytes, 0), word_at(bytes, 8), word_at(bytes, 16)]
}

/// The 8 bytes of `bytes` from `start` as a little-endian word, zero-padded past the
/// end. Whole words are loaded at once; only a name's last part is assembled byte by
/// byte (a `copy_from_slice` of a variable length is a call to `memcpy`).
fn word_at(bytes: &[u8], start: usize) -> u64 {
    match bytes.get(start..start + 8) {
        Some(chunk) => {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            u64::from_le_bytes(w)
        }
        None => bytes
            .get(start..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .fold(0, |w, (i, &b)| w | u64::from(b) << (8 * i)),
    }
}

/// A lead's values arranged by slot, coerced to declared types.
pub(crate) struct Bound<'a> {
    pub values: Vec<Option<Cow<'a, Value>>>,
    /// Values that did not fit their declared type: (field name, what was wrong).
    pub misfits: Vec<(std::sync::Arc<str>, String)>,
}

/// How many strings a thread keeps for [`owned_text`], and the largest it keeps: enough
/// for the text fields of one lead, so memory stays a few kilobytes per thread.
const SPARE_TEXTS: usize = 64;
const SPARE_TEXT_BYTES: usize = 256;

thread_local! {
    /// Strings of the text values of leads already scored on this thread, emptied,
    /// for the next lead's values: a lead read straight into slots holds about ten.
    static SPARE_TEXT: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `text` as an owned string for a text value, in a string a lead scored earlier on
/// this thread left behind when there is one: bulk scoring allocates and frees no
/// string per value. A `String`, not a [`Value`]: returned in three words, it reaches
/// the caller's slot without a store-to-load stall (see `Scanner::scalar_into`).
#[inline]
pub(crate) fn owned_text(text: &str) -> String {
    // `try_with`: never a panic, even while the thread's locals are being torn down.
    let spare = SPARE_TEXT
        .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    match spare {
        Some(mut s) => {
            s.push_str(text);
            s
        }
        None => text.to_string(),
    }
}

impl Drop for Bound<'_> {
    /// Hands the strings of owned text values back to [`owned_text`].
    fn drop(&mut self) {
        let _ = SPARE_TEXT.try_with(|spare| {
            let Ok(mut spare) = spare.try_borrow_mut() else {
                return;
            };
            // Drained here, so each value is dropped in this loop (most hold no heap
            // memory: a number, a borrowed value, nothing) instead of by a call per slot
            // when the vector goes.
            for value in self.values.drain(..) {
                match value {
                    Some(Cow::Owned(Value::Text(mut s)))
                        if s.capacity() <= SPARE_TEXT_BYTES && spare.len() < SPARE_TEXTS =>
                    {
                        s.clear();
                        spare.push(s);
                    }
                    None | Some(Cow::Borrowed(_)) => {}
                    Some(Cow::Owned(other)) => drop(other),
                }
            }
        });
    }
}

impl Schema {
    /// Declares a field with a type and aliases. Returns the slot, or the name that is
    /// already taken by another field.
    pub fn declare(
        &mut self,
        name: &str,
        ty: Option<FieldType>,
        aliases: &[String],
    ) -> Result<Slot, String> {
        let slot = self.slot_of(name);
        let field = &mut self.fields[slot];
        if field.declared {
            return Err(name.to_string());
        }
        field.declared = true;
        field.ty = ty;
        for alias in aliases {
            match self.index.get(alias) {
                Some(other) if other != slot => return Err(alias.clone()),
                _ => self.index.insert(alias, slot),
            }
        }
        Ok(slot)
    }

    /// The slot of a field something reads, adding an undeclared field when it is new.
    pub fn slot_for(&mut self, name: &str) -> Slot {
        let slot = self.slot_of(name);
        self.fields[slot].read = true;
        slot
    }

    /// The slot of a field, adding it when it is new (not marked as read).
    fn slot_of(&mut self, name: &str) -> Slot {
        if let Some(slot) = self.index.get(name) {
            return slot;
        }
        let slot = self.fields.len();
        self.fields.push(SchemaField {
            name: name.into(),
            ty: None,
            declared: false,
            read: false,
        });
        self.index.insert(name, slot);
        slot
    }

    /// Whether scoring needs the value of the field at `slot` in a lead bound to
    /// slots: when something reads it, or when its declared type may refuse a value
    /// (a value that does not fit rejects the lead, read or not). A field only declared,
    /// as text or without a type, takes any string, number, boolean or null, so the
    /// JSON scanner walks over its value without copying it (BENCHMARKS.md, issue 14,
    /// session 6).
    pub(crate) fn needs_value(&self, slot: Slot) -> bool {
        self.fields
            .get(slot)
            .is_none_or(|f| f.read || !matches!(f.ty, None | Some(FieldType::String)))
    }

    /// The slot for a name or alias, if the rules know it.
    pub fn lookup(&self, name: &str) -> Option<Slot> {
        self.index.get(name)
    }

    /// A number for how names map to slots: equal for two schemas only when
    /// [`Schema::lookup`] answers alike in both.
    pub(crate) fn mapping(&self) -> u64 {
        self.index.mapping
    }

    /// The field at a slot.
    pub fn field(&self, slot: Slot) -> &SchemaField {
        &self.fields[slot]
    }

    /// Every field, by slot.
    pub fn fields(&self) -> &[SchemaField] {
        &self.fields
    }

    /// True when any field was declared in a `fields:` section.
    pub fn has_declarations(&self) -> bool {
        self.fields.iter().any(|f| f.declared)
    }

    /// Reads a JSON object straight into slots: only the fields the rules know are
    /// kept (others are skipped unparsed), keys are not copied, and values are coerced
    /// to their declared types. Same meaning as `bind` on the parsed lead.
    ///
    /// # Errors
    /// When the text is not one JSON object.
    pub fn bind_json(&self, text: &str) -> Result<Bound<'static>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let values = de::DeserializeSeed::deserialize(SlotsSeed { schema: self }, &mut de)?;
        de.end()?;
        Ok(self.coerce_slots(values.into_iter().map(|v| v.map(Cow::Owned))))
    }

    /// Arranges a lead's values by slot and coerces them to their declared types.
    /// When a name and its alias are both present, the later one wins.
    pub fn bind<'a>(&self, lead: &'a Lead) -> Bound<'a> {
        let mut values: Vec<Option<&'a Value>> = vec![None; self.fields.len()];
        for (key, value) in lead.fields() {
            if let Some(slot) = self.lookup(key) {
                values[slot] = Some(value);
            }
        }
        self.coerce_slots(values.into_iter().map(|v| v.map(Cow::Borrowed)))
    }

    /// Coerces each slot's final value to its field's declared type; a value that does
    /// not fit is left out and named in `misfits`. Both ways of binding end here, so
    /// they agree.
    pub(crate) fn coerce_slots<'a>(
        &self,
        values: impl Iterator<Item = Option<Cow<'a, Value>>>,
    ) -> Bound<'a> {
        let mut values: Vec<_> = values.take(self.fields.len()).collect();
        values.resize(self.fields.len(), None);
        self.coerce_in_place(values)
    }

    /// [`Schema::coerce_slots`] over values already laid out by slot (one per field),
    /// converted where they stand: no second vector per lead.
    pub(crate) fn coerce_in_place<'a>(&self, mut values: Vec<Option<Cow<'a, Value>>>) -> Bound<'a> {
        let mut misfits = Vec::new();
        for (field, value) in self.fields.iter().zip(values.iter_mut()) {
            let (Some(ty), Some(v)) = (field.ty, value.as_ref()) else {
                continue;
            };
            if ty.holds_as_is(v) {
                continue;
            }
            match ty.coerce(v) {
                Ok(Cow::Borrowed(_)) => {}
                Ok(Cow::Owned(c)) => *value = Some(Cow::Owned(c)),
                Err(why) => {
                    misfits.push((field.name.clone(), why));
                    *value = None;
                }
            }
        }
        Bound { values, misfits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_reuse_the_strings_of_dropped_leads_on_the_same_thread() {
        std::thread::spawn(|| {
            let first = owned_text("ana@acme.com");
            assert_eq!(first.capacity(), "ana@acme.com".len()); // nothing to reuse yet
            let long = "x".repeat(SPARE_TEXT_BYTES + 1);
            let bound = Bound {
                values: vec![
                    Some(Cow::Owned(Value::Text(first))),
                    None,
                    Some(Cow::Owned(Value::Text(long))), // too large to keep
                ],
                misfits: Vec::new(),
            };
            drop(bound);
            let second = owned_text("Bo");
            assert_eq!(second, "Bo");
            assert_eq!(
                second.capacity(),
                "ana@acme.com".len(),
                "the first lead's string"
            );
            assert_eq!(owned_text("Cy").capacity(), 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn name_words_are_the_first_24_bytes_zero_padded() {
        let name = b"abcdefghijklmnopqrstuvwxyz0123";
        for len in 0..=name.len() {
            let mut padded = [0u8; 24];
            let n = len.min(24);
            padded[..n].copy_from_slice(&name[..n]);
            let expected: Vec<u64> = padded
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(words(&name[..len]).to_vec(), expected, "length {len}");
        }
    }
    use serde_json::json;

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    #[test]
    fn numeric_text_reads_as_a_number_but_nan_and_inf_do_not() {
        assert_eq!(text(" 12000 ").as_f64(), Some(12000.0));
        assert_eq!(text("1e3").as_f64(), Some(1000.0));
        for s in ["NaN", "inf", "-infinity", "", "12k", "1e999"] {
            assert_eq!(text(s).as_f64(), None, "{s}");
        }
    }

    #[test]
    fn only_fields_declared_as_text_or_untyped_and_read_by_nothing_go_unread() {
        let mut schema = Schema::default();
        let nick = schema
            .declare("nick", Some(FieldType::String), &[])
            .unwrap();
        let memo = schema.declare("memo", None, &[]).unwrap();
        let seats = schema
            .declare("seats", Some(FieldType::Integer), &[])
            .unwrap();
        let seen = schema.declare("seen", Some(FieldType::Date), &[]).unwrap();
        let title = schema
            .declare("title", Some(FieldType::String), &[])
            .unwrap();
        assert_eq!(schema.slot_for("title"), title);
        let budget = schema.slot_for("budget");
        assert!(!schema.needs_value(nick));
        assert!(!schema.needs_value(memo));
        assert!(schema.needs_value(seats));
        assert!(schema.needs_value(seen));
        assert!(schema.needs_value(title));
        assert!(schema.needs_value(budget));
        // Read first and declared after: still read.
        let mut later = Schema::default();
        later.slot_for("nick");
        let slot = later.declare("nick", Some(FieldType::String), &[]).unwrap();
        assert!(later.needs_value(slot));
    }

    #[test]
    fn a_field_nothing_reads_is_walked_over_but_must_still_fit() {
        let mut schema = Schema::default();
        let nick = schema
            .declare("nick", Some(FieldType::String), &[])
            .unwrap();
        let budget = schema.slot_for("budget");
        let bound = crate::io::bind_json(&schema, r#"{"nick":5,"budget":7}"#).unwrap();
        assert_eq!(bound.values[nick], None);
        assert_eq!(bound.values[budget].as_deref(), Some(&Value::Int(7)));
        assert!(bound.misfits.is_empty());
        // A list does not fit a text field: refused, as when the field is read.
        let bound = crate::io::bind_json(&schema, r#"{"nick":[1],"budget":7}"#).unwrap();
        assert_eq!(&*bound.misfits[0].0, "nick");
    }

    const EVERY_TYPE: [FieldType; 6] = [
        FieldType::String,
        FieldType::Number,
        FieldType::Integer,
        FieldType::Bool,
        FieldType::Date,
        FieldType::List,
    ];

    #[test]
    fn values_held_as_is_are_those_coerce_borrows() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(3),
            Value::Float(2.5),
            Value::Text("2026-11-27".into()),
            Value::Text(" ".into()),
            Value::Text("12".into()),
            Value::List(vec![Value::Int(1)]),
        ];
        for ty in EVERY_TYPE {
            for v in &values {
                if ty.holds_as_is(v) {
                    assert!(matches!(ty.coerce(v), Ok(Cow::Borrowed(_))), "{ty:?} {v:?}");
                }
            }
        }
    }

    #[test]
    fn coerces_csv_text_to_declared_types() {
        let cases = [
            (FieldType::Number, text("12000"), Value::Int(12000)),
            (FieldType::Number, text("2.5"), Value::Float(2.5)),
            (FieldType::Integer, text("12.0"), Value::Int(12)),
            (FieldType::Bool, text("Yes"), Value::Bool(true)),
            (FieldType::Bool, text("0"), Value::Bool(false)),
            (FieldType::String, Value::Int(7), text("7")),
            (FieldType::Number, text("  "), Value::Null),
            (FieldType::Date, text("2024-05-01"), text("2024-05-01")),
            (
                FieldType::List,
                text("a; b;;c"),
                Value::List(vec![text("a"), text("b"), text("c")]),
            ),
        ];
        for (ty, input, want) in cases {
            assert_eq!(
                ty.coerce(&input).map(Cow::into_owned),
                Ok(want),
                "{ty:?} {input:?}"
            );
        }
    }

    /// CSV cells are coerced from the text itself; every type must agree with what
    /// coercing the cell as a text value gives, message included.
    #[test]
    fn coercing_text_agrees_with_coercing_a_text_value() {
        let texts = [
            "",
            "  ",
            "12000",
            " 12000 ",
            "2.5",
            "12.0",
            "-3",
            "1e3",
            "1,200",
            "$5",
            "lots",
            "Yes",
            "no",
            "TRUE",
            "0",
            "1",
            "2024-05-01",
            "2024-02-30",
            "yesterday",
            "a; b;;c",
            ";",
            "\u{e9}t\u{e9}",
            "9007199254740993",
            "nan",
            "inf",
        ];
        for ty in EVERY_TYPE {
            for t in texts {
                let value = text(t);
                let want = match ty.coerce(&value) {
                    Ok(Cow::Borrowed(_)) => Ok(None),
                    Ok(Cow::Owned(v)) => Ok(Some(v)),
                    Err(why) => Err(why),
                };
                assert_eq!(ty.coerce_text(t), want, "{ty:?} {t:?}");
            }
        }
    }

    #[test]
    fn coercion_failures_say_what_was_found() {
        assert_eq!(
            FieldType::Number.coerce(&text("lots")).unwrap_err(),
            "expected a number, found the text \"lots\""
        );
        assert!(FieldType::Integer.coerce(&text("2.5")).is_err());
        assert!(FieldType::Date.coerce(&text("yesterday")).is_err());
        assert!(FieldType::Bool.coerce(&Value::Int(3)).is_err());
    }

    #[test]
    fn replace_and_remove_hand_back_the_earlier_value() {
        let mut lead = Lead::from_json(json!({"a": 1, "b": "x"})).unwrap();
        assert_eq!(lead.replace("a", Value::Int(2)), Some(Value::Int(1)));
        assert_eq!(lead.replace("c", Value::Bool(true)), None);
        assert_eq!(lead.remove("b"), Some(text("x")));
        assert_eq!(lead.remove("b"), None);
        let fields: Vec<(String, Value)> = lead.into_iter().collect();
        assert_eq!(
            fields,
            vec![("a".into(), Value::Int(2)), ("c".into(), Value::Bool(true))]
        );
    }

    #[test]
    fn leads_come_from_json_objects_only() {
        let lead = Lead::from_json(json!({"id": "L1", "budget": 12000, "score": 1.5})).unwrap();
        assert_eq!(lead.get("budget"), Some(&Value::Int(12000)));
        assert_eq!(lead.get("score"), Some(&Value::Float(1.5)));
        assert_eq!(
            Lead::from_json(json!([1])).unwrap_err().reason,
            "a lead must be a JSON object, found an array"
        );
    }

    #[test]
    fn deserializes_straight_from_json_text() {
        let lead: Lead = serde_json::from_str(
            r#"{"a": 1, "b": [true, null, 2.5], "a": "again", "c": {"d": 18446744073709551615}}"#,
        )
        .unwrap();
        assert_eq!(lead.len(), 3);
        assert_eq!(lead.get("a"), Some(&text("again")));
        assert_eq!(
            lead.get("b"),
            Some(&Value::List(vec![
                Value::Bool(true),
                Value::Null,
                Value::Float(2.5)
            ]))
        );
        assert_eq!(
            lead.get("c"),
            Some(&Value::Map(vec![(
                "d".to_string(),
                Value::Float(18446744073709551615.0)
            )]))
        );
        let err = serde_json::from_str::<Lead>("[1, 2]").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a lead must be a JSON object, found an array"),
            "{err}"
        );
    }

    #[test]
    fn many_duplicate_keys_keep_the_last_value_in_linear_time() {
        let body: Vec<String> = (0..5000)
            .map(|i| format!("\"k{}\": {i}", i % 100))
            .collect();
        let lead: Lead = serde_json::from_str(&format!("{{{}}}", body.join(","))).unwrap();
        assert_eq!(lead.len(), 100);
        assert_eq!(lead.get("k7"), Some(&Value::Int(4907)));
    }

    #[test]
    fn binding_json_refuses_nesting_too_deep_to_parse_even_in_an_unread_field() {
        let schema = Schema::default();
        let deep = format!(
            "{{\"id\": \"x\", \"x\": {}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(serde_json::from_str::<Lead>(&deep).is_err());
        assert!(schema.bind_json(&deep).is_err());
        let fine = format!(
            "{{\"x\": {}{{\"a\": 1}}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(serde_json::from_str::<Lead>(&fine).is_ok());
        assert!(schema.bind_json(&fine).is_ok());
    }

    #[test]
    fn insert_replaces_a_field_of_the_same_name() {
        let mut lead = Lead::new();
        lead.insert("a", Value::Int(1));
        lead.insert("a", Value::Int(2));
        assert_eq!(lead.len(), 1);
        assert_eq!(lead.get("a"), Some(&Value::Int(2)));
    }

    #[test]
    fn binding_resolves_aliases_and_coerces_declared_types() {
        let mut schema = Schema::default();
        let budget = schema
            .declare(
                "budget",
                Some(FieldType::Number),
                &["Budget__c".to_string()],
            )
            .unwrap();
        let title = schema.slot_for("title");
        let lead: Lead = [
            ("Budget__c".to_string(), text("12000")),
            ("title".to_string(), text("VP Sales")),
            ("other".to_string(), Value::Int(1)),
        ]
        .into_iter()
        .collect();
        let bound = schema.bind(&lead);
        assert_eq!(bound.values[budget].as_deref(), Some(&Value::Int(12000)));
        assert_eq!(bound.values[title].as_deref(), Some(&text("VP Sales")));
        assert!(bound.misfits.is_empty());
    }

    #[test]
    fn binding_reports_values_that_do_not_fit() {
        let mut schema = Schema::default();
        schema
            .declare("budget", Some(FieldType::Number), &[])
            .unwrap();
        let lead: Lead = [("budget".to_string(), text("lots"))].into_iter().collect();
        let bound = schema.bind(&lead);
        assert_eq!(bound.values[0], None);
        assert_eq!(bound.misfits[0].0.as_ref(), "budget");
    }

    #[test]
    fn binding_json_text_agrees_with_binding_the_parsed_lead() {
        let mut schema = Schema::default();
        schema
            .declare(
                "budget",
                Some(FieldType::Number),
                &["Budget__c".to_string()],
            )
            .unwrap();
        schema.declare("seen", Some(FieldType::Date), &[]).unwrap();
        schema.slot_for("title");
        for text in [
            r#"{"Budget__c": "12000", "title": "VP", "skipped": {"deep": [1, 2]}}"#,
            r#"{"budget": 5, "Budget__c": 7, "t\u0069tle": "escaped key"}"#,
            r#"{"budget": "lots", "seen": "2024-01-01"}"#,
            r#"{"seen": "yesterday", "title": null}"#,
            r#"{}"#,
        ] {
            let lead: Lead = serde_json::from_str(text).unwrap();
            let slow = schema.bind(&lead);
            let fast = schema.bind_json(text).unwrap();
            assert_eq!(fast.values, slow.values, "{text}");
            assert_eq!(fast.misfits, slow.misfits, "{text}");
        }
        assert!(schema.bind_json("[1]").is_err());
        assert!(schema.bind_json(r#"{"a": 1} x"#).is_err());
    }

    #[test]
    fn regression_a_field_and_its_alias_both_misfit_are_reported_once() {
        let mut schema = Schema::default();
        schema
            .declare(
                "budget",
                Some(FieldType::Number),
                &["Budget__c".to_string()],
            )
            .unwrap();
        let lead: Lead =
            serde_json::from_str(r#"{"budget": "lots", "Budget__c": "many"}"#).unwrap();
        let bound = schema.bind(&lead);
        assert_eq!(bound.misfits.len(), 1);
        assert!(
            bound.misfits[0].1.contains("many"),
            "the later value is the one read"
        );
    }

    #[test]
    fn an_alias_cannot_name_two_fields() {
        let mut schema = Schema::default();
        schema.declare("a", None, &["X".to_string()]).unwrap();
        assert_eq!(
            schema.declare("b", None, &["X".to_string()]),
            Err("X".to_string())
        );
        assert_eq!(schema.declare("a", None, &[]), Err("a".to_string()));
    }

    #[test]
    fn values_display_for_people() {
        assert_eq!(Value::Float(12000.0).to_string(), "12000");
        assert_eq!(
            Value::List(vec![text("a"), Value::Int(2)]).to_string(),
            "a, 2"
        );
    }
}
