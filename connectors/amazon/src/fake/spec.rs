//! Amazon's official models, loaded at test time from `shared/specs/amazon-sp-api/` beside
//! the repository (see [`specs_dir`]), and the checks of one request against
//! them: the operation (method and path), its path and query parameters (required, type,
//! enum, bounds, no unknown ones) and its body against the body schema.

use super::schema;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Overrides where the models are read from.
pub const SPECS_DIR_ENV: &str = "OMNISTOCK_AMAZON_SPECS_DIR";

/// The API models the fake serves.
pub const API_MODELS: &[&str] = &[
    "ordersV0.json",
    "listingsItems_2021-08-01.json",
    "feeds_2021-06-30.json",
];
/// The JSON_LISTINGS_FEED document schema.
pub const FEED_SCHEMA: &str = "listings-feed-schema-v2.json";
/// The JSON_LISTINGS_FEED processing report schema.
pub const REPORT_SCHEMA: &str = "listings-feed-processing-report-schema-v2.json";

/// The folder holding the models: `$OMNISTOCK_AMAZON_SPECS_DIR`, else `shared/specs/amazon-sp-api`
/// beside the repository (or beside its parent, for a worktree one level deeper).
pub fn specs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SPECS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let beside = root.join("../shared/specs/amazon-sp-api");
    let above = root.join("../../shared/specs/amazon-sp-api");
    if !beside.is_dir() && above.is_dir() {
        above
    } else {
        beside
    }
}

/// One operation of a model.
#[derive(Debug, Clone)]
pub struct OperationSpec {
    pub id: String,
    pub method: String,
    /// Path segments; `{name}` is a parameter.
    pub segments: Vec<String>,
    pub parameters: Vec<Value>,
    /// The model the operation comes from, for its `$ref`s.
    pub model: usize,
    pub responses: Value,
}

/// Every model's operations, and the feed schemas.
#[derive(Debug, Clone)]
pub struct Specs {
    pub models: Vec<Value>,
    pub operations: Vec<OperationSpec>,
    pub feed_schema: Value,
    pub report_schema: Value,
}

/// A request matched to its operation.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub operation: &'a OperationSpec,
    pub path_params: Vec<(String, String)>,
}

fn read_json(dir: &Path, name: &str) -> Result<Value, String> {
    let path = dir.join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

impl Specs {
    /// Loads the models; the error says which file is missing or unreadable.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut models = Vec::new();
        let mut operations = Vec::new();
        for (model, name) in API_MODELS.iter().enumerate() {
            let document = read_json(dir, name)?;
            let paths = document
                .get("paths")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{name}: no paths"))?;
            for (path, methods) in paths {
                let Some(methods) = methods.as_object() else {
                    continue;
                };
                let shared: Vec<Value> = methods
                    .get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for (method, operation) in methods {
                    if method == "parameters" {
                        continue;
                    }
                    let mut parameters = shared.clone();
                    if let Some(own) = operation.get("parameters").and_then(Value::as_array) {
                        parameters.extend(own.iter().cloned());
                    }
                    let parameters = parameters
                        .into_iter()
                        .map(
                            |parameter| match parameter.get("$ref").and_then(Value::as_str) {
                                Some(reference) => reference
                                    .strip_prefix('#')
                                    .and_then(|pointer| document.pointer(pointer))
                                    .cloned()
                                    .unwrap_or(parameter),
                                None => parameter,
                            },
                        )
                        .collect();
                    operations.push(OperationSpec {
                        id: operation
                            .get("operationId")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        method: method.to_ascii_uppercase(),
                        segments: path
                            .trim_start_matches('/')
                            .split('/')
                            .map(str::to_string)
                            .collect(),
                        parameters,
                        model,
                        responses: operation.get("responses").cloned().unwrap_or(Value::Null),
                    });
                }
            }
            models.push(document);
        }
        Ok(Self {
            models,
            operations,
            feed_schema: read_json(dir, FEED_SCHEMA)?,
            report_schema: read_json(dir, REPORT_SCHEMA)?,
        })
    }

    /// The operation a method and (decoded) path segments name. Literal segments win over
    /// parameters (`/orders/{orderId}/orderItems` vs `/orders/{orderId}/address`).
    pub fn match_request(&self, method: &str, segments: &[String]) -> Option<Matched<'_>> {
        self.operations
            .iter()
            .filter(|operation| {
                operation.method == method && operation.segments.len() == segments.len()
            })
            .filter_map(|operation| {
                let mut params = Vec::new();
                let mut literal = 0;
                for (template, actual) in operation.segments.iter().zip(segments) {
                    match template
                        .strip_prefix('{')
                        .and_then(|rest| rest.strip_suffix('}'))
                    {
                        Some(name) => params.push((name.to_string(), actual.clone())),
                        None if template == actual => literal += 1,
                        None => return None,
                    }
                }
                Some((
                    literal,
                    Matched {
                        operation,
                        path_params: params,
                    },
                ))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, matched)| matched)
    }

    /// Checks a matched request's parameters and body; one message per violation.
    pub fn check(
        &self,
        matched: &Matched<'_>,
        query: &[(String, String)],
        body: &[u8],
    ) -> Vec<String> {
        let operation = matched.operation;
        let root = &self.models[operation.model];
        let mut errors = Vec::new();
        for parameter in &operation.parameters {
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let location = parameter
                .get("in")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let required = parameter
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match location {
                "path" => {
                    let value = matched.path_params.iter().find(|(key, _)| key == name);
                    match value {
                        Some((_, value)) if !value.is_empty() => {
                            check_scalar(parameter, name, value, &mut errors)
                        }
                        _ => errors.push(format!("path parameter {name} is missing")),
                    }
                }
                "query" => {
                    let values: Vec<&String> = query
                        .iter()
                        .filter(|(key, _)| key == name)
                        .map(|(_, value)| value)
                        .collect();
                    if values.len() > 1 {
                        errors.push(format!(
                            "query parameter {name} given {} times",
                            values.len()
                        ));
                    }
                    match values.first() {
                        Some(value) => check_query(parameter, name, value, &mut errors),
                        None if required => {
                            errors.push(format!("required query parameter {name} is missing"))
                        }
                        None => {}
                    }
                }
                "body" => {
                    let schema = parameter.get("schema").cloned().unwrap_or(Value::Null);
                    if body.is_empty() {
                        if required {
                            errors.push("the request has no body".to_string());
                        }
                    } else {
                        match serde_json::from_slice::<Value>(body) {
                            Ok(value) => {
                                schema::validate(&schema, &value, root, "body", &mut errors)
                            }
                            Err(error) => errors.push(format!("the body is not JSON: {error}")),
                        }
                    }
                }
                _ => {}
            }
        }
        let known: Vec<&str> = operation
            .parameters
            .iter()
            .filter(|parameter| parameter.get("in").and_then(Value::as_str) == Some("query"))
            .filter_map(|parameter| parameter.get("name").and_then(Value::as_str))
            .collect();
        for (key, _) in query {
            if !known.contains(&key.as_str()) {
                errors.push(format!("unknown query parameter {key}"));
            }
        }
        let takes_body = operation
            .parameters
            .iter()
            .any(|parameter| parameter.get("in").and_then(Value::as_str) == Some("body"));
        if !takes_body && !body.is_empty() {
            errors.push(format!("{} takes no body", operation.id));
        }
        errors
    }

    /// Checks an answer against the documented response of its status.
    pub fn check_response(
        &self,
        operation: &OperationSpec,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let root = &self.models[operation.model];
        let mut errors = Vec::new();
        match operation.responses.get(status.to_string()) {
            Some(response) => {
                if let Some(schema) = response.get("schema") {
                    schema::validate(schema, body, root, "response", &mut errors);
                }
            }
            None => errors.push(format!("{} documents no {status} answer", operation.id)),
        }
        errors
    }
}

fn check_query(parameter: &Value, name: &str, value: &str, errors: &mut Vec<String>) {
    if parameter.get("type").and_then(Value::as_str) == Some("array") {
        let items: Vec<&str> = value.split(',').collect();
        let count = items.len() as u64;
        if parameter
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|max| count > max)
        {
            errors.push(format!(
                "query parameter {name} has more than maxItems values"
            ));
        }
        if parameter
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|min| count < min)
        {
            errors.push(format!(
                "query parameter {name} has fewer than minItems values"
            ));
        }
        let item_schema = parameter.get("items").cloned().unwrap_or(Value::Null);
        for item in items {
            if item.is_empty() {
                errors.push(format!("query parameter {name} has an empty value"));
            }
            check_scalar(&item_schema, name, item, errors);
        }
    } else {
        check_scalar(parameter, name, value, errors);
    }
}

fn check_scalar(schema: &Value, name: &str, value: &str, errors: &mut Vec<String>) {
    let typed = match schema.get("type").and_then(Value::as_str) {
        Some("integer") => match value.parse::<i64>() {
            Ok(number) => Value::from(number),
            Err(_) => {
                errors.push(format!("parameter {name}: {value:?} is not an integer"));
                return;
            }
        },
        Some("boolean") => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                errors.push(format!("parameter {name}: {value:?} is not a boolean"));
                return;
            }
        },
        _ => Value::String(value.to_string()),
    };
    let mut scalar = schema.clone();
    if let Some(object) = scalar.as_object_mut() {
        for key in [
            "name",
            "in",
            "required",
            "description",
            "items",
            "collectionFormat",
            "schema",
        ] {
            object.remove(key);
        }
        if object.get("type").and_then(Value::as_str) == Some("array") {
            object.remove("type");
        }
    }
    schema::validate(
        &scalar,
        &typed,
        &Value::Null,
        &format!("parameter {name}"),
        errors,
    );
}
