//! Validation of nfpath's JSON output against `schema/answer.schema.json` (JSON Schema 2020-12),
//! shared by the CLI tests with `#[path = "support/schema.rs"] mod schema;`.

use std::sync::OnceLock;

fn compiled() -> &'static jsonschema::JSONSchema {
    static S: OnceLock<jsonschema::JSONSchema> = OnceLock::new();
    S.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/answer.schema.json");
        let text = std::fs::read_to_string(&path).expect("read the answer schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        // Leaked once per test binary: the compiled schema borrows nothing but lives for 'static.
        let schema: &'static serde_json::Value = Box::leak(Box::new(schema));
        jsonschema::JSONSchema::options().with_draft(jsonschema::Draft::Draft202012).should_validate_formats(true).compile(schema).expect("the schema compiles")
    })
}

/// Panics with every violation when `text` is not valid JSON or does not follow the schema.
pub fn assert_valid(text: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    if let Err(errors) = compiled().validate(&v) {
        let msgs: Vec<String> = errors.map(|e| format!("{} at {}", e, e.instance_path)).collect();
        panic!("output does not follow schema/answer.schema.json:\n{}", msgs.join("\n"));
    }
    v
}

/// True when `v` follows the schema (for tests that the schema rejects bad documents).
#[allow(dead_code)]
pub fn is_valid(v: &serde_json::Value) -> bool {
    compiled().is_valid(v)
}
