//! The JSON Schema (draft 2020-12) of a YAML rule file, so editors validate and complete
//! rule files (`leadscore schema`). It is generated from the key lists the decoder in
//! `raw.rs` accepts (`FILE_KEYS`, `RULE_KEYS`, `Op::ALL`, ...), so the two cannot drift:
//! a key added there without a description here fails this module's tests.

use serde_json::{Map, Value, json};

use super::Rules;
use super::raw::{
    AMOUNT_KEYS, BAND_KEYS, COMBINATORS, CURRENT_STAGE_KEYS, DECAY_KEYS, DIMENSION_KEYS,
    EVENT_TIME_KEYS, FIELD_KEYS, FILE_KEYS, GRADE_KEYS, LIMIT_KEYS, Op, RULE_KEYS, SCORE_KEYS,
    SETTINGS_KEYS, STAGE_KEYS,
};
use crate::lead::FieldType;

/// The draft the schema follows.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

impl Rules {
    /// The JSON Schema (draft 2020-12) of a YAML rule file, pretty-printed with sorted
    /// keys: what `leadscore schema` prints. Point an editor at it (the starter files
    /// carry a `# yaml-language-server: $schema=leadscore.schema.json` line) to have
    /// rule files checked and completed as they are typed. The schema checks shape (keys,
    /// kinds of value); `leadscore check` still does the rest (fields, regexes, Rhai).
    ///
    /// ```
    /// let schema: serde_json::Value = serde_json::from_str(&leadscore::Rules::json_schema())?;
    /// assert!(schema["$defs"]["rule"]["properties"]["points"].is_object());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json_schema() -> String {
        let mut out = String::new();
        write_sorted(&schema(), 0, &mut out);
        out.push('\n');
        out
    }
}

/// The schema as a JSON value.
pub(crate) fn schema() -> Value {
    json!({
        "$schema": DIALECT,
        "title": "leadscore rule file",
        "description": "A YAML file of a leadscore rules folder: field declarations, settings, rules and the stage policy. Every section is optional.",
        "type": "object",
        "properties": properties(&FILE_KEYS, file_key),
        "additionalProperties": false,
        "$defs": {
            "names": {
                "description": "A name, or a list of names.",
                "anyOf": [
                    { "type": "string" },
                    { "type": "array", "items": { "type": "string" } }
                ]
            },
            "field_type": {
                "description": "How values of the field are read: CSV text becomes numbers, booleans, dates and lists.",
                "enum": FieldType::NAMES
            },
            "field": {
                "type": "object",
                "properties": properties(&FIELD_KEYS, field_key),
                "additionalProperties": false
            },
            "rule": {
                "type": "object",
                "required": ["id", "when"],
                "properties": properties(&RULE_KEYS, rule_key),
                "additionalProperties": false
            },
            "stage": {
                "type": "object",
                "required": ["id"],
                "properties": properties(&STAGE_KEYS, stage_key),
                "additionalProperties": false
            },
            "condition": {
                "description": "{ field: NAME, OPERATOR: VALUE }, or one of all, any, not, expr.",
                "anyOf": conditions()
            },
            "comparison": comparison(),
            "bound": {
                "description": "A number, or a date (YYYY-MM-DD).",
                "anyOf": [
                    { "type": "number" },
                    { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}" }
                ]
            },
            "scalar": {
                "description": "Text, a number, or true/false.",
                "type": ["string", "number", "boolean"]
            },
            "decay": object(
                &DECAY_KEYS,
                decay_key,
                "Points fade with the age of a date: halved every `half_life_days` days from the field's date to the as-of date.",
            ),
            "dimension": object(
                &DIMENSION_KEYS,
                dimension_key,
                "A score dimension: the sum of the points of the rules that name it, clamped to its range.",
            ),
            "band": object(
                &BAND_KEYS,
                band_key,
                "A grade band: leads whose dimension reaches `min` get `grade`, unless a band above takes them.",
            )
        }
    })
}

/// An object with exactly these keys, each described by `describe`.
fn properties(keys: &[&str], describe: fn(&str) -> Option<Value>) -> Value {
    let map: Map<String, Value> = keys
        .iter()
        .map(|key| (key.to_string(), describe(key).unwrap_or_else(|| json!({}))))
        .collect();
    Value::Object(map)
}

fn object(keys: &[&str], describe: fn(&str) -> Option<Value>, description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": properties(keys, describe),
        "additionalProperties": false
    })
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn integer(description: &str) -> Value {
    json!({ "type": "integer", "description": description })
}

fn names(description: &str) -> Value {
    json!({ "$ref": "#/$defs/names", "description": description })
}

fn condition(description: &str) -> Value {
    json!({ "$ref": "#/$defs/condition", "description": description })
}

fn file_key(key: &str) -> Option<Value> {
    Some(match key {
        "fields" => json!({
            "description": "Field declarations, partial and optional: `budget: { type: number, aliases: [Budget__c] }`, or just `budget: number`.",
            "type": "object",
            "additionalProperties": {
                "anyOf": [{ "$ref": "#/$defs/field_type" }, { "$ref": "#/$defs/field" }]
            }
        }),
        "settings" => object(
            &SETTINGS_KEYS,
            settings_key,
            "Settings for the whole folder; in at most one file.",
        ),
        "rules" => json!({
            "description": "Rules, evaluated in order; ids are unique across the folder.",
            "type": "array",
            "items": { "$ref": "#/$defs/rule" }
        }),
        "stages" => json!({
            "description": "The stage policy, in at most one file: the first stage that matches, from the top, wins; the last is the default.",
            "type": "array",
            "items": { "$ref": "#/$defs/stage" }
        }),
        _ => return None,
    })
}

fn field_key(key: &str) -> Option<Value> {
    Some(match key {
        "type" => json!({ "$ref": "#/$defs/field_type" }),
        "aliases" => names("Source column names read as this field (CSV headers, JSON keys)."),
        "description" => text("What the field holds."),
        _ => return None,
    })
}

fn settings_key(key: &str) -> Option<Value> {
    Some(match key {
        "score" => object(
            &SCORE_KEYS,
            score_key,
            "The range the total of matched points is clamped to (default 0..100).",
        ),
        "id_field" => text("The field that names a lead (default `id`)."),
        "version" => text(
            "A name for this version of the rules (`\"2026-03\"`), shown in stamped verdicts (`leadscore score --stamp`).",
        ),
        "limits" => object(
            &LIMIT_KEYS,
            limit_key,
            "Limits on Rhai scripts (see SECURITY.md).",
        ),
        "amount" => {
            let mut amount = object(
                &AMOUNT_KEYS,
                amount_key,
                "The estimated amount of an opportunity made by `leadscore convert` (default: the `budget` field).",
            );
            amount["minProperties"] = json!(1);
            amount["maxProperties"] = json!(1);
            amount
        }
        "scores" => json!({
            "description": "Named score dimensions, e.g. `fit` (who the lead is) and `engagement` (what they did): `fit: { min: 0, max: 100 }`. A rule's `score: fit` counts its points there.",
            "type": "object",
            "additionalProperties": {
                "anyOf": [{ "type": "null" }, { "$ref": "#/$defs/dimension" }]
            }
        }),
        "grade" => object(
            &GRADE_KEYS,
            grade_key,
            "Letter grades on one score dimension: the first band from the top whose `min` the dimension reaches.",
        ),
        "current_stage" => object(
            &CURRENT_STAGE_KEYS,
            current_stage_key,
            "Where the CRM has the lead now, so verdicts carry the `transition` from it.",
        ),
        "event_time" => {
            let mut event_time = object(
                &EVENT_TIME_KEYS,
                event_time_key,
                "The field giving each record's time (a date or an RFC 3339 time) when `leadscore timeline` replays a history.",
            );
            event_time["required"] = json!(["field"]);
            event_time
        }
        _ => return None,
    })
}

fn dimension_key(key: &str) -> Option<Value> {
    Some(match key {
        "min" => integer("The lowest points of the dimension (default 0)."),
        "max" => integer("The highest points of the dimension (default 100)."),
        "decay" => {
            json!({ "$ref": "#/$defs/decay", "description": "Decay for every rule in this dimension that has none of its own." })
        }
        _ => return None,
    })
}

fn decay_key(key: &str) -> Option<Value> {
    Some(match key {
        "field" => text("The date field whose age fades the points (e.g. `last_activity_at`)."),
        "half_life_days" => json!({
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Days after which the points are halved."
        }),
        _ => return None,
    })
}

fn grade_key(key: &str) -> Option<Value> {
    Some(match key {
        "score" => text("The score dimension graded (declared under `scores`)."),
        "bands" => json!({
            "description": "Bands from the highest `min` down.",
            "type": "array",
            "minItems": 1,
            "items": { "$ref": "#/$defs/band" }
        }),
        _ => return None,
    })
}

fn band_key(key: &str) -> Option<Value> {
    Some(match key {
        "grade" => text("The grade, e.g. `A`."),
        "min" => integer("The dimension's points needed for this grade."),
        _ => return None,
    })
}

fn current_stage_key(key: &str) -> Option<Value> {
    Some(match key {
        "field" => text("The field holding the CRM's stage or status (e.g. `lead_status`)."),
        "map" => json!({
            "description": "CRM values and the stage each means, e.g. `{ Open: lead, Working: prospect }`; stage ids are read as they are too. Case and surrounding blanks are ignored.",
            "type": "object",
            "additionalProperties": { "type": "string" }
        }),
        _ => return None,
    })
}

fn event_time_key(key: &str) -> Option<Value> {
    Some(match key {
        "field" => text("The field holding the record's time, e.g. `updated_at`."),
        _ => return None,
    })
}

fn amount_key(key: &str) -> Option<Value> {
    Some(match key {
        "field" => text("The field holding the amount."),
        "expr" => text("A Rhai expression over `lead` giving the amount."),
        _ => return None,
    })
}

fn score_key(key: &str) -> Option<Value> {
    Some(match key {
        "min" => integer("The lowest score (default 0)."),
        "max" => integer("The highest score (default 100)."),
        _ => return None,
    })
}

fn limit_key(key: &str) -> Option<Value> {
    Some(match key {
        "max_operations" => json!({
            "type": "integer",
            "minimum": 1,
            "description": "Rhai operations allowed per rule call; a script that runs longer is stopped and reported (default 100000)."
        }),
        "max_call_depth" => {
            json!({ "type": "integer", "minimum": 1, "description": "Nested function calls per rule call (default 32)." })
        }
        "max_string_size" => {
            json!({ "type": "integer", "minimum": 1, "description": "Bytes in one string (default 1048576)." })
        }
        "max_array_size" => {
            json!({ "type": "integer", "minimum": 1, "description": "Items in one array (default 10000)." })
        }
        "max_map_size" => {
            json!({ "type": "integer", "minimum": 1, "description": "Entries in one map (default 10000)." })
        }
        "max_expr_depth" => {
            json!({ "type": "integer", "minimum": 1, "maximum": super::raw::MAX_EXPR_DEPTH, "description": "Nesting of one Rhai expression, checked when the rules load (default 32, at most 256)." })
        }
        _ => return None,
    })
}

fn rule_key(key: &str) -> Option<Value> {
    Some(match key {
        "id" => json!({
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_.-]*$",
            "description": "A unique name, shown in verdicts."
        }),
        "description" => text("What the rule checks, for people."),
        "when" => condition("When the rule applies."),
        "points" => {
            integer("Points added to the score when the rule matches; may be negative (default 0).")
        }
        "signals" => names(
            "Qualification criteria the rule satisfies (need, budget, authority, timeline, pricing_discussed, or any name); stages require them.",
        ),
        "reason" => text("Why it matched, shown in the verdict; `{field}` takes the lead's value."),
        "disqualify" => text(
            "Disqualifies a matching lead, with this reason; `{field}` takes the lead's value.",
        ),
        "score" => text("The score dimension (under `settings.scores`) the points count in."),
        "decay" => json!({ "$ref": "#/$defs/decay" }),
        _ => return None,
    })
}

fn stage_key(key: &str) -> Option<Value> {
    Some(match key {
        "id" => text("The stage name, shown in verdicts (`prospect`, `ready_to_convert`, ...)."),
        "description" => text("What the stage means, for people."),
        "disqualified" => json!({
            "type": "boolean",
            "description": "Taken whenever a matched rule disqualifies the lead."
        }),
        "min_score" => integer("The score the lead needs."),
        "requires" => names("Signals the lead needs, every one."),
        "when" => condition("A further condition the lead must meet."),
        "min_scores" => json!({
            "description": "Points the lead needs in each named score dimension, e.g. `{ fit: 40 }`.",
            "type": "object",
            "additionalProperties": { "type": "integer" }
        }),
        "grades" => names("Grades the lead must have one of (from `settings.grade`)."),
        _ => return None,
    })
}

/// The combinators, then the comparison.
fn conditions() -> Vec<Value> {
    let mut all: Vec<Value> = COMBINATORS
        .iter()
        .map(|name| {
            let (value, description) = combinator(name).unwrap_or((json!({}), ""));
            json!({
                "type": "object",
                "description": description,
                "required": [name],
                "properties": { *name: value },
                "additionalProperties": false
            })
        })
        .collect();
    all.push(json!({ "$ref": "#/$defs/comparison" }));
    all
}

fn combinator(name: &str) -> Option<(Value, &'static str)> {
    let list = json!({ "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/condition" } });
    Some(match name {
        "all" => (list, "Every condition holds."),
        "any" => (list, "At least one condition holds."),
        "not" => (
            json!({ "$ref": "#/$defs/condition" }),
            "The condition does not hold.",
        ),
        "expr" => (
            json!({ "type": "string" }),
            "A Rhai expression giving true or false; the lead is `lead`.",
        ),
        _ => return None,
    })
}

/// `{ field: NAME, OP: VALUE }`: the field and exactly one operator.
fn comparison() -> Value {
    let mut props = Map::new();
    props.insert("field".to_string(), text("The field to test."));
    for (name, op) in Op::ALL {
        props.insert(name.to_string(), operand(op));
    }
    json!({
        "description": "Compares a field with a value: the field and one operator.",
        "type": "object",
        "required": ["field"],
        "minProperties": 2,
        "maxProperties": 2,
        "properties": props,
        "additionalProperties": false
    })
}

/// What each operator takes. The match is exhaustive: a new operator needs an entry.
fn operand(op: Op) -> Value {
    let textual = |d: &str| json!({ "type": ["string", "number"], "description": d });
    let scalar = |d: &str| json!({ "$ref": "#/$defs/scalar", "description": d });
    let bound = |d: &str| json!({ "$ref": "#/$defs/bound", "description": d });
    let list = |d: &str| json!({ "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/scalar" }, "description": d });
    let flag = |d: &str| json!({ "type": "boolean", "description": d });
    match op {
        Op::Eq => scalar("Equals the value (text ignores case and surrounding blanks)."),
        Op::Ne => scalar("Differs from the value (a missing field never matches)."),
        Op::In => list("Is one of the values."),
        Op::NotIn => list("Is none of the values (a missing field never matches)."),
        Op::Gt => bound("Is above a number or after a date."),
        Op::Gte => bound("Is at least a number or on or after a date."),
        Op::Lt => bound("Is below a number or before a date."),
        Op::Lte => bound("Is at most a number or on or before a date."),
        Op::Between => json!({
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": { "$ref": "#/$defs/bound" },
            "description": "Lies in [low, high], both ends included."
        }),
        Op::Matches => textual("Matches a regex (a search; `(?i)` for any case)."),
        Op::Contains => textual("Holds the text (a list field: has the item)."),
        Op::StartsWith => textual("Starts with the text."),
        Op::EndsWith => textual("Ends with the text."),
        Op::Exists => flag("Is present and not null (true), or not (false)."),
        Op::Empty => flag("Is missing, null, blank text or an empty list (true), or not (false)."),
        Op::WithinDays => json!({
            "type": "integer",
            "minimum": 0,
            "description": "Is a date on or before the as-of date, at most this many days before it."
        }),
        Op::OlderThanDays => json!({
            "type": "integer",
            "minimum": 0,
            "description": "Is a date more than this many days before the as-of date."
        }),
    }
}

/// Writes `value` as pretty JSON with object keys sorted, whatever order serde_json's
/// map keeps (it depends on a cargo feature another dependency may turn on), so the
/// output is byte-identical in every build.
fn write_sorted(value: &Value, depth: usize, out: &mut String) {
    let indent = |out: &mut String, depth: usize| out.extend(std::iter::repeat_n("  ", depth));
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                indent(out, depth + 1);
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push_str(": ");
                if let Some(v) = map.get(*key) {
                    write_sorted(v, depth + 1, out);
                }
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, depth + 1);
                write_sorted(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::rules::raw::Decoder;
    use crate::rules::yaml;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Problems the decoder reports for `text`.
    fn decode(text: &str) -> Vec<Diagnostic> {
        let (node, mut problems) = match yaml::parse(text) {
            Ok((node, problems)) => (node, problems),
            Err(problem) => panic!("{text}: {}", problem.message),
        };
        assert!(problems.is_empty(), "{text}: {:?}", problems.pop());
        let mut decoder = Decoder::new(Path::new("r.yaml"));
        decoder.file(&node.expect("a document"));
        decoder.problems
    }

    /// True when the decoder refuses `key` as unknown where the template puts it.
    fn refused(template: &str, key: &str) -> bool {
        decode(&template.replace("KEY", key))
            .iter()
            .any(|d| d.message.starts_with("unknown "))
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Each place a key can go: its properties in the schema, the decoder's key list, and
    /// a YAML document with `KEY` where the key goes.
    fn sections(
        schema: &Value,
    ) -> Vec<(
        &'static str,
        BTreeSet<String>,
        Vec<&'static str>,
        &'static str,
    )> {
        let defs = &schema["$defs"];
        let settings = &schema["properties"]["settings"]["properties"];
        let combinators: BTreeSet<String> = defs["condition"]["anyOf"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| keys(&c["properties"]))
            .collect();
        let mut ops = keys(&defs["comparison"]["properties"]);
        assert!(ops.remove("field"));
        vec![
            (
                "file",
                keys(&schema["properties"]),
                FILE_KEYS.to_vec(),
                "KEY: ~\n",
            ),
            (
                "field",
                keys(&defs["field"]["properties"]),
                FIELD_KEYS.to_vec(),
                "fields:\n  budget: { KEY: ~ }\n",
            ),
            (
                "settings",
                keys(settings),
                SETTINGS_KEYS.to_vec(),
                "settings: { KEY: ~ }\n",
            ),
            (
                "score",
                keys(&settings["score"]["properties"]),
                SCORE_KEYS.to_vec(),
                "settings: { score: { KEY: ~ } }\n",
            ),
            (
                "limits",
                keys(&settings["limits"]["properties"]),
                LIMIT_KEYS.to_vec(),
                "settings: { limits: { KEY: ~ } }\n",
            ),
            (
                "dimension",
                keys(&defs["dimension"]["properties"]),
                DIMENSION_KEYS.to_vec(),
                "settings: { scores: { fit: { KEY: ~ } } }\n",
            ),
            (
                "decay",
                keys(&defs["decay"]["properties"]),
                DECAY_KEYS.to_vec(),
                "rules:\n  - { id: a, when: { expr: \"true\" }, decay: { KEY: ~ } }\n",
            ),
            (
                "grade",
                keys(&settings["grade"]["properties"]),
                GRADE_KEYS.to_vec(),
                "settings: { grade: { KEY: ~ } }\n",
            ),
            (
                "band",
                keys(&defs["band"]["properties"]),
                BAND_KEYS.to_vec(),
                "settings: { grade: { score: fit, bands: [ { KEY: ~ } ] } }\n",
            ),
            (
                "current_stage",
                keys(&settings["current_stage"]["properties"]),
                CURRENT_STAGE_KEYS.to_vec(),
                "settings: { current_stage: { KEY: ~ } }\n",
            ),
            (
                "event_time",
                keys(&settings["event_time"]["properties"]),
                EVENT_TIME_KEYS.to_vec(),
                "settings: { event_time: { KEY: ~ } }\n",
            ),
            (
                "rule",
                keys(&defs["rule"]["properties"]),
                RULE_KEYS.to_vec(),
                "rules:\n  - { KEY: ~ }\n",
            ),
            (
                "stage",
                keys(&defs["stage"]["properties"]),
                STAGE_KEYS.to_vec(),
                "stages:\n  - { KEY: ~ }\n",
            ),
            (
                "combinator",
                combinators,
                COMBINATORS.to_vec(),
                "rules:\n  - { id: a, when: { KEY: ~ } }\n",
            ),
            (
                "operator",
                ops,
                Op::ALL.iter().map(|(n, _)| *n).collect(),
                "rules:\n  - { id: a, when: { field: x, KEY: ~ } }\n",
            ),
        ]
    }

    #[test]
    fn every_key_the_decoder_accepts_is_in_the_schema_and_vice_versa() {
        let schema = schema();
        for (section, in_schema, in_decoder, template) in sections(&schema) {
            let in_decoder: BTreeSet<String> = in_decoder.iter().map(|k| k.to_string()).collect();
            assert_eq!(in_schema, in_decoder, "{section} keys");
            for key in &in_schema {
                assert!(
                    !refused(template, key),
                    "the decoder refuses {section} key `{key}`"
                );
            }
            assert!(
                refused(template, "bogus"),
                "the decoder takes any {section} key"
            );
        }
    }

    #[test]
    fn every_key_has_a_description_of_its_value() {
        type Describe = fn(&str) -> Option<Value>;
        let lists: [(&[&str], Describe); 14] = [
            (&AMOUNT_KEYS, amount_key),
            (&DIMENSION_KEYS, dimension_key),
            (&DECAY_KEYS, decay_key),
            (&GRADE_KEYS, grade_key),
            (&BAND_KEYS, band_key),
            (&CURRENT_STAGE_KEYS, current_stage_key),
            (&EVENT_TIME_KEYS, event_time_key),
            (&FILE_KEYS, file_key),
            (&FIELD_KEYS, field_key),
            (&SETTINGS_KEYS, settings_key),
            (&SCORE_KEYS, score_key),
            (&LIMIT_KEYS, limit_key),
            (&RULE_KEYS, rule_key),
            (&STAGE_KEYS, stage_key),
        ];
        for (keys, describe) in lists {
            for key in keys {
                assert!(describe(key).is_some(), "no schema for key `{key}`");
            }
        }
        for name in COMBINATORS {
            assert!(combinator(name).is_some(), "no schema for `{name}`");
        }
    }

    #[test]
    fn field_types_are_the_loader_s() {
        let schema = schema();
        let names: Vec<&str> = schema["$defs"]["field_type"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(names, FieldType::NAMES);
    }

    #[test]
    fn the_text_is_sorted_pretty_json_of_the_schema() {
        let text = Rules::json_schema();
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed, schema());
        assert!(text.starts_with("{\n  \"$defs\": {\n"), "{}", &text[..40]);
        assert!(text.ends_with("}\n"));
    }
}
