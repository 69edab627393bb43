//! The rule file JSON Schema: `leadscore schema` prints what is committed at
//! rules/leadscore.schema.json, and the starter rules validate against it.

mod common;

use common::{assert_golden, code, leadscore, root, stdout};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// A YAML document as JSON, the way an editor's YAML language server sees it.
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Yaml::Integer(n) => Value::from(*n),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn yaml(text: &str) -> Value {
    let docs = YamlLoader::load_from_str(text).unwrap();
    to_json(&docs[0])
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&leadscore::Rules::json_schema()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

fn problems(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_leadscore_schema_prints() {
    let out = leadscore(&["schema"]);
    assert_eq!(code(&out), 0);
    assert_golden("rules/leadscore.schema.json", &stdout(&out));
}

#[test]
fn the_starter_rules_validate_and_name_the_schema() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=leadscore.schema.json\n"),
            "{} does not name the schema on its first line",
            path.display()
        );
        let found = problems(&validator, &yaml(&text));
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator = validator();
    for (bad, why) in [
        (
            "rules:\n  - id: a\n    pionts: 3\n    when: { field: x, exists: true }\n",
            "unknown rule key",
        ),
        (
            "rules:\n  - id: a\n    when: { field: budget, gtee: 1 }\n",
            "unknown operator",
        ),
        (
            "rules:\n  - id: a\n    when: { field: x, eq: 1, ne: 2 }\n",
            "two operators",
        ),
        ("rules:\n  - id: a\n    when: { all: [] }\n", "empty all"),
        (
            "rules:\n  - id: a\n    points: lots\n    when: { field: x, exists: true }\n",
            "points as text",
        ),
        (
            "rules:\n  - points: 3\n    when: { field: x, exists: true }\n",
            "no id",
        ),
        ("rules:\n  - id: a\n", "no when"),
        ("fields:\n  budget: { type: money }\n", "unknown field type"),
        (
            "settings: { score: { min: 0, top: 5 } }\n",
            "unknown score key",
        ),
        ("stages:\n  - min_score: 3\n", "stage without id"),
        (
            "rules:\n  - id: a\n    when: { field: d, within_days: -1 }\n",
            "negative days",
        ),
        (
            "rules:\n  - id: a\n    when: { field: x, between: [1] }\n",
            "one bound",
        ),
        (
            "rules:\n  - id: a\n    when: { field: x, exists: yes please }\n",
            "exists takes a boolean",
        ),
        ("rulez: []\n", "unknown top-level key"),
    ] {
        assert!(
            !validator.is_valid(&yaml(bad)),
            "the schema accepts a rule file with {why}:\n{bad}"
        );
    }
    let good = "fields:\n  budget: number\n  title: { type: string, aliases: [Title] }\n\
                settings: { score: { min: 0, max: 10 }, id_field: id, limits: { max_operations: 5000 } }\n\
                rules:\n  - id: a\n    when: { any: [ { field: budget, between: [1, 2] }, { not: { expr: \"lead.x\" } }, { field: t, in: [a, 1] } ] }\n    signals: need\n\
                stages:\n  - id: lead\n    requires: [need]\n";
    assert_eq!(problems(&validator, &yaml(good)), Vec::<String>::new());
}
