//! Shopify's calculated query cost, as documented: a scalar or enum field costs 0, an object 1,
//! a connection 2 plus `first` (or `last`) times the cost of one node, a list asked for with a
//! size (`first`, `ids`, `names`) that many times its element, a mutation 10; the cost of an
//! abstract selection is the most expensive of its possible types. The fake takes the
//! requested cost before running a query, refunds the difference to the actual cost (what the
//! response holds) after, and refuses a query above 1000 points.

use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ast, ExecutableDocument, Schema};

/// Shopify's limit for one query.
pub const MAX_SINGLE_QUERY_COST: f64 = 1000.0;
/// What a mutation field costs on top of its selection.
pub const MUTATION_COST: f64 = 10.0;

pub struct CostContext<'a> {
    pub schema: &'a Valid<Schema>,
    pub document: &'a Valid<ExecutableDocument>,
    pub variables: &'a JsonMap,
}

impl CostContext<'_> {
    fn argument_number(&self, value: &ast::Value) -> Option<f64> {
        match value {
            ast::Value::Int(int) => int.try_to_i32().ok().map(f64::from),
            ast::Value::Variable(name) => self
                .variables
                .get(name.as_str())
                .and_then(JsonValue::as_f64),
            _ => None,
        }
    }

    fn argument_length(&self, value: &ast::Value) -> Option<f64> {
        match value {
            ast::Value::List(items) => Some(items.len() as f64),
            ast::Value::Variable(name) => self
                .variables
                .get(name.as_str())
                .and_then(JsonValue::as_array)
                .map(|items| items.len() as f64),
            _ => None,
        }
    }

    /// The cost of a selection set (fragments expanded; for inline fragments on different
    /// types, the most expensive one counts).
    pub fn selection_cost(&self, set: &SelectionSet) -> f64 {
        let mut common = 0.0;
        let mut per_type: Vec<f64> = Vec::new();
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => common += self.field_cost(field),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        if fragment.type_condition() == &set.ty {
                            common += self.selection_cost(&fragment.selection_set);
                        } else {
                            per_type.push(self.selection_cost(&fragment.selection_set));
                        }
                    }
                }
                Selection::InlineFragment(inline) => match &inline.type_condition {
                    Some(condition) if condition != &set.ty => {
                        per_type.push(self.selection_cost(&inline.selection_set))
                    }
                    _ => common += self.selection_cost(&inline.selection_set),
                },
            }
        }
        common + per_type.into_iter().fold(0.0, f64::max)
    }

    fn field_cost(&self, field: &apollo_compiler::executable::Field) -> f64 {
        let ty = field.definition.ty.inner_named_type();
        let leaf = matches!(
            self.schema.types.get(ty),
            Some(ExtendedType::Scalar(_) | ExtendedType::Enum(_)) | None
        );
        if leaf || ty.as_str() == "PageInfo" {
            return 0.0;
        }
        let argument = |name: &str| {
            field
                .arguments
                .iter()
                .find(|argument| argument.name == name)
                .map(|argument| &argument.value)
        };
        let size = argument("first")
            .or_else(|| argument("last"))
            .and_then(|value| self.argument_number(value))
            .or_else(|| {
                argument("ids")
                    .or_else(|| argument("names"))
                    .and_then(|value| self.argument_length(value))
            });
        let children = self.selection_cost(&field.selection_set);
        if ty.as_str().ends_with("Connection") {
            // The connection's nodes (or edges) cost once per requested item.
            let per_node = field
                .selection_set
                .selections
                .iter()
                .map(|selection| match selection {
                    Selection::Field(inner) if matches!(inner.name.as_str(), "nodes" | "edges") => {
                        self.selection_cost(&inner.selection_set) + 1.0
                    }
                    _ => 0.0,
                })
                .sum::<f64>();
            return 2.0 + size.unwrap_or(1.0) * per_node;
        }
        if field.definition.ty.is_list() {
            return size.unwrap_or(1.0) * (1.0 + children);
        }
        1.0 + children
    }

    /// The requested cost of an operation.
    pub fn operation_cost(&self, operation: &apollo_compiler::executable::Operation) -> f64 {
        let base = self.selection_cost(&operation.selection_set);
        if operation.operation_type == ast::OperationType::Mutation {
            base + (MUTATION_COST - 1.0)
                * operation
                    .selection_set
                    .selections
                    .iter()
                    .filter(|selection| matches!(selection, Selection::Field(_)))
                    .count() as f64
        } else {
            base
        }
    }
}

impl CostContext<'_> {
    fn is_leaf(&self, field: &apollo_compiler::executable::Field) -> bool {
        let ty = field.definition.ty.inner_named_type();
        ty.as_str() == "PageInfo"
            || matches!(
                self.schema.types.get(ty),
                Some(ExtendedType::Scalar(_) | ExtendedType::Enum(_)) | None
            )
    }

    /// The cost of what a selection actually returned: connections and lists count the items
    /// they hold, not the size asked for. Shopify refunds the difference to the bucket.
    pub fn actual_selection_cost(&self, set: &SelectionSet, data: &serde_json::Value) -> f64 {
        let mut total = 0.0;
        for selection in &set.selections {
            total += match selection {
                Selection::Field(field) => {
                    let key = field.alias.as_ref().unwrap_or(&field.name);
                    self.actual_field_cost(field, data.get(key.as_str()))
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.fragment_name)
                    .map_or(0.0, |fragment| {
                        self.actual_selection_cost(&fragment.selection_set, data)
                    }),
                Selection::InlineFragment(inline) => {
                    self.actual_selection_cost(&inline.selection_set, data)
                }
            };
        }
        total
    }

    fn actual_field_cost(
        &self,
        field: &apollo_compiler::executable::Field,
        value: Option<&serde_json::Value>,
    ) -> f64 {
        let Some(value) = value.filter(|value| !value.is_null()) else {
            return 0.0;
        };
        if self.is_leaf(field) {
            return 0.0;
        }
        let ty = field.definition.ty.inner_named_type();
        if ty.as_str().ends_with("Connection") {
            let per_items: f64 = field
                .selection_set
                .selections
                .iter()
                .map(|selection| match selection {
                    Selection::Field(inner) if matches!(inner.name.as_str(), "nodes" | "edges") => {
                        let key = inner.alias.as_ref().unwrap_or(&inner.name);
                        value
                            .get(key.as_str())
                            .and_then(serde_json::Value::as_array)
                            .map_or(0.0, |items| {
                                items
                                    .iter()
                                    .map(|item| {
                                        1.0 + self.actual_selection_cost(&inner.selection_set, item)
                                    })
                                    .sum()
                            })
                    }
                    _ => 0.0,
                })
                .sum();
            return 2.0 + per_items;
        }
        match value.as_array() {
            Some(items) => items
                .iter()
                .map(|item| 1.0 + self.actual_selection_cost(&field.selection_set, item))
                .sum(),
            None => 1.0 + self.actual_selection_cost(&field.selection_set, value),
        }
    }

    /// The actual cost of an executed operation from its response data.
    pub fn actual_operation_cost(
        &self,
        operation: &apollo_compiler::executable::Operation,
        data: &serde_json::Value,
    ) -> f64 {
        let base = self.actual_selection_cost(&operation.selection_set, data);
        if operation.operation_type == ast::OperationType::Mutation {
            base + (MUTATION_COST - 1.0)
                * operation
                    .selection_set
                    .selections
                    .iter()
                    .filter(|selection| matches!(selection, Selection::Field(_)))
                    .count() as f64
        } else {
            base
        }
    }
}
