//! A JSON Schema validator for the subset Amazon's models use: Swagger 2.0 definitions
//! (`$ref` to `#/definitions/…`, `type`, `format`, `enum`, `required`, `properties`,
//! `additionalProperties`, `items`, bounds) and the draft-07 JSON_LISTINGS_FEED schemas
//! (`const`, `oneOf`, `anyOf`, `allOf`, `minProperties`). `pattern` is not checked. Small on
//! purpose: it runs only in the fake, and every keyword the models use is listed here.

use serde_json::Value;

/// Validates `value` against `schema`, whose `$ref`s point into `root`; appends one message
/// per violation, each naming the JSON path.
pub fn validate(schema: &Value, value: &Value, root: &Value, path: &str, errors: &mut Vec<String>) {
    validate_depth(schema, value, root, path, errors, 0);
}

/// Whether `value` is valid (for `oneOf`/`anyOf` branches).
fn is_valid(schema: &Value, value: &Value, root: &Value, depth: usize) -> bool {
    let mut errors = Vec::new();
    validate_depth(schema, value, root, "", &mut errors, depth);
    errors.is_empty()
}

fn resolve<'a>(reference: &str, root: &'a Value) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn validate_depth(
    schema: &Value,
    value: &Value,
    root: &Value,
    path: &str,
    errors: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        errors.push(format!("{path}: schema nesting too deep"));
        return;
    }
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(reference, root) {
            Some(target) => validate_depth(target, value, root, path, errors, depth + 1),
            None => errors.push(format!("{path}: unresolvable $ref {reference}")),
        }
        return;
    }
    match schema.get("type") {
        Some(Value::String(expected)) if !type_matches(expected, value) => {
            errors.push(format!("{path}: expected {expected}, got {value}"));
            return;
        }
        Some(Value::Array(types))
            if !types
                .iter()
                .filter_map(Value::as_str)
                .any(|expected| type_matches(expected, value)) =>
        {
            errors.push(format!("{path}: expected one of {types:?}, got {value}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            errors.push(format!("{path}: expected {constant}, got {value}"));
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        if let (Some(text), "date-time") = (value.as_str(), format) {
            if chrono::DateTime::parse_from_rfc3339(text).is_err() {
                errors.push(format!("{path}: {text:?} is not an ISO 8601 date-time"));
            }
        }
    }
    check_bounds(schema, value, path, errors);
    for (keyword, combine) in [
        ("allOf", Combine::All),
        ("anyOf", Combine::Any),
        ("oneOf", Combine::One),
    ] {
        if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
            let valid = branches
                .iter()
                .filter(|branch| is_valid(branch, value, root, depth + 1))
                .count();
            let ok = match combine {
                Combine::All => valid == branches.len(),
                Combine::Any => valid >= 1,
                Combine::One => valid == 1,
            };
            if !ok {
                errors.push(format!(
                    "{path}: {valid} of {} {keyword} branches match",
                    branches.len()
                ));
            }
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{path}: missing required property {name:?}"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, member) in object {
            let member_path = format!("{path}/{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    validate_depth(property, member, root, &member_path, errors, depth + 1)
                }
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: property {name:?} is not allowed"))
                    }
                    Some(additional @ Value::Object(_)) => {
                        validate_depth(additional, member, root, &member_path, errors, depth + 1)
                    }
                    _ => {}
                },
            }
        }
        if let Some(minimum) = schema.get("minProperties").and_then(Value::as_u64) {
            if (object.len() as u64) < minimum {
                errors.push(format!("{path}: fewer than {minimum} properties"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            validate_depth(
                items,
                item,
                root,
                &format!("{path}/{index}"),
                errors,
                depth + 1,
            );
        }
    }
}

enum Combine {
    All,
    Any,
    One,
}

fn check_bounds(
    schema: &serde_json::Map<String, Value>,
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) {
    let bound = |name: &str| schema.get(name).and_then(Value::as_f64);
    if let Some(number) = value.as_f64() {
        if bound("minimum").is_some_and(|minimum| number < minimum) {
            errors.push(format!("{path}: {number} is below the minimum"));
        }
        if bound("maximum").is_some_and(|maximum| number > maximum) {
            errors.push(format!("{path}: {number} is above the maximum"));
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as f64;
        if bound("minLength").is_some_and(|minimum| length < minimum) {
            errors.push(format!("{path}: shorter than minLength"));
        }
        if bound("maxLength").is_some_and(|maximum| length > maximum) {
            errors.push(format!("{path}: longer than maxLength"));
        }
    }
    if let Some(array) = value.as_array() {
        let length = array.len() as f64;
        if bound("minItems").is_some_and(|minimum| length < minimum) {
            errors.push(format!("{path}: fewer items than minItems"));
        }
        if bound("maxItems").is_some_and(|maximum| length > maximum) {
            errors.push(format!("{path}: more items than maxItems"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_types_required_enums_and_one_of() {
        let root = json!({"definitions": {
            "Patch": {"type": "object", "required": ["op"], "additionalProperties": false,
                "properties": {"op": {"type": "string", "enum": ["merge", "replace"]},
                    "value": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}}}}
        }});
        let schema = json!({"$ref": "#/definitions/Patch"});
        let mut errors = Vec::new();
        validate(
            &schema,
            &json!({"op": "merge", "value": [1]}),
            &root,
            "",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        validate(
            &schema,
            &json!({"op": "move", "value": [-1], "x": 1}),
            &root,
            "",
            &mut errors,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        let one_of = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
        let mut errors = Vec::new();
        validate(&one_of, &json!(true), &root, "", &mut errors);
        assert_eq!(errors.len(), 1);
    }
}
