//! The reference pages (`raw/api-reference/**/*.spec.json`) as request validators: the path
//! and method, required and known query parameters, and the body's fields (nesting written
//! with `^` prefixes) with their documented types.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the TikTok Shop documentation is: `TIKTOK_SPECS_DIR`, else `../shared/specs/tiktok-shop`
/// relative to the repository root (or to its parent, for a worktree one level deeper).
pub fn specs_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TIKTOK_SPECS_DIR") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        root.join("../shared/specs/tiktok-shop"),
        root.join("../../shared/specs/tiktok-shop"),
    ]
    .into_iter()
    .find(|dir| dir.join("raw/api-reference").is_dir())
}

#[derive(Debug, Deserialize)]
struct Page {
    document_api_meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Meta {
    interface_path: String,
    method: i64,
    #[serde(default)]
    request_query_param: Option<Vec<Param>>,
    #[serde(default)]
    request_body_param: Option<Vec<Param>>,
    #[serde(default)]
    request_header_param: Option<Vec<Param>>,
    #[serde(default)]
    is_shop_chiper_exist: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Param {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: String,
}

/// A documented field and its children.
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub kind: String,
    pub required: bool,
    pub children: BTreeMap<String, Field>,
}

/// One endpoint's documented request.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub path: String,
    pub post: bool,
    pub shop_cipher: bool,
    pub query: BTreeMap<String, Field>,
    pub headers: BTreeMap<String, Field>,
    pub body: BTreeMap<String, Field>,
}

/// Every reference page found.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub endpoints: Vec<Endpoint>,
}

fn tree(params: &[Param]) -> BTreeMap<String, Field> {
    let mut root: BTreeMap<String, Field> = BTreeMap::new();
    // The names of the last field seen at each depth.
    let mut stack: Vec<String> = Vec::new();
    for param in params {
        let depth = param.name.chars().take_while(|c| *c == '^').count();
        let name = param.name.trim_start_matches('^').to_string();
        stack.truncate(depth);
        let field = Field {
            kind: param.kind.clone(),
            required: param.required == "Y",
            children: BTreeMap::new(),
        };
        insert(&mut root, &stack, name.clone(), field);
        stack.push(name);
    }
    root
}

fn insert(level: &mut BTreeMap<String, Field>, parents: &[String], name: String, field: Field) {
    match parents.split_first() {
        None => {
            level.insert(name, field);
        }
        Some((parent, rest)) => {
            if let Some(parent) = level.get_mut(parent) {
                insert(&mut parent.children, rest, name, field);
            }
        }
    }
}

impl Reference {
    /// Reads every `*.spec.json` under `dir/raw/api-reference`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut endpoints = Vec::new();
        let base = dir.join("raw/api-reference");
        let groups =
            std::fs::read_dir(&base).map_err(|error| format!("{}: {error}", base.display()))?;
        for group in groups.flatten() {
            let Ok(files) = std::fs::read_dir(group.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if !path.to_string_lossy().ends_with(".spec.json") {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                let page: Page = serde_json::from_str(&text)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                let meta = page.document_api_meta;
                endpoints.push(Endpoint {
                    path: meta.interface_path,
                    post: meta.method == 1,
                    shop_cipher: meta.is_shop_chiper_exist,
                    query: tree(meta.request_query_param.as_deref().unwrap_or_default()),
                    headers: tree(meta.request_header_param.as_deref().unwrap_or_default()),
                    body: tree(meta.request_body_param.as_deref().unwrap_or_default()),
                });
            }
        }
        Ok(Self { endpoints })
    }

    /// The endpoint a request path matches (`{product_id}` matches one segment).
    pub fn endpoint(&self, path: &str, post: bool) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.post == post && template_matches(&endpoint.path, path))
    }
}

pub fn template_matches(template: &str, path: &str) -> bool {
    let left: Vec<&str> = template.split('/').collect();
    let right: Vec<&str> = path.split('/').collect();
    left.len() == right.len()
        && left.iter().zip(&right).all(|(expected, actual)| {
            (expected.starts_with('{') && expected.ends_with('}') && !actual.is_empty())
                || expected == actual
        })
}

impl Endpoint {
    /// Every problem of a request's query (keys and values as sent) and body.
    pub fn check(
        &self,
        query: &BTreeMap<String, String>,
        headers: &BTreeMap<String, String>,
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, field) in &self.query {
            match query.get(name) {
                None if field.required => {
                    problems.push(format!("query parameter {name} is required"))
                }
                Some(value) if !scalar_fits(&field.kind, value) => {
                    problems.push(format!("query parameter {name} is not a {}", field.kind))
                }
                _ => {}
            }
        }
        for name in query.keys() {
            if !self.query.contains_key(name) {
                problems.push(format!("query parameter {name} is not documented"));
            }
        }
        for (name, field) in &self.headers {
            if field.required && !headers.contains_key(name) {
                problems.push(format!("header {name} is required"));
            }
        }
        match body {
            Some(Value::Object(map)) => check_object(&self.body, map, "", &mut problems),
            Some(_) => problems.push("the body is not a JSON object".into()),
            None => {
                if self.body.values().any(|field| field.required) {
                    problems.push("the body is required".into());
                }
            }
        }
        problems
    }
}

fn scalar_fits(kind: &str, value: &str) -> bool {
    match kind {
        "int" | "int64" | "int32" => value.parse::<i64>().is_ok(),
        "bool" => value == "true" || value == "false",
        _ => true,
    }
}

fn check_object(
    fields: &BTreeMap<String, Field>,
    map: &serde_json::Map<String, Value>,
    at: &str,
    problems: &mut Vec<String>,
) {
    for (name, field) in fields {
        match map.get(name) {
            None | Some(Value::Null) if field.required => {
                problems.push(format!("{at}{name} is required"))
            }
            None | Some(Value::Null) => {}
            Some(value) => check_value(field, value, &format!("{at}{name}"), problems),
        }
    }
    for name in map.keys() {
        if !fields.contains_key(name) {
            problems.push(format!("{at}{name} is not documented"));
        }
    }
}

fn check_value(field: &Field, value: &Value, at: &str, problems: &mut Vec<String>) {
    let kind = field.kind.as_str();
    let fits = match kind {
        "string" => value.is_string(),
        "int" | "int64" | "int32" => value.is_i64() || value.is_u64(),
        "bool" => value.is_boolean(),
        "object" => value.is_object(),
        "number" | "float" => value.is_number(),
        _ if kind.starts_with("[]") => value.is_array(),
        _ => true,
    };
    if !fits {
        problems.push(format!("{at} is not a {kind}"));
        return;
    }
    match value {
        Value::Object(map) if !field.children.is_empty() => {
            check_object(&field.children, map, &format!("{at}."), problems)
        }
        Value::Array(items) => {
            let item_kind = kind.trim_start_matches("[]");
            for (index, item) in items.iter().enumerate() {
                let item_field = Field {
                    kind: item_kind.to_string(),
                    required: true,
                    children: field.children.clone(),
                };
                check_value(&item_field, item, &format!("{at}[{index}]"), problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_update_inventory_page_validates_bodies() {
        let Some(dir) = specs_dir() else {
            eprintln!("skipped: the TikTok Shop specs folder is absent");
            return;
        };
        let reference = Reference::load(&dir).unwrap_or_else(|error| panic!("{error}"));
        let endpoint = reference
            .endpoint(
                "/product/202309/products/1729382561353664372/inventory/update",
                true,
            )
            .unwrap_or_else(|| panic!("update inventory page"));
        let query: BTreeMap<String, String> = [
            ("app_key", "k"),
            ("sign", "s"),
            ("timestamp", "1"),
            ("shop_cipher", "c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let headers: BTreeMap<String, String> = [
            ("content-type", "application/json"),
            ("x-tts-access-token", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let good = json!({"skus":[{"id":"1","inventory":[{"warehouse_id":"7","quantity":3}]}]});
        assert_eq!(
            endpoint.check(&query, &headers, Some(&good)),
            Vec::<String>::new()
        );
        let bad = json!({"skus":[{"id":"1","inventory":[{"warehouse_id":"7","qty":3}]}]});
        let problems = endpoint.check(&query, &headers, Some(&bad));
        assert!(
            problems.iter().any(|p| p.contains("quantity is required")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("qty is not documented")),
            "{problems:?}"
        );
    }
}
