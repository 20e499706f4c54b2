//! A loose record → a checked `CatalogItem` or `Scenario`: text and number fields read
//! leniently (numeric ids are common in exports), then built by the core's checks.

use super::records::kind_of;
use recoscope_core::catalog::{CatalogItem, ItemFields, Scenario, ScenarioFields};
use recoscope_core::FieldError;
use serde_json::{Map, Value};

/// A text field: a string, or a whole number (numeric ids are common in JSON exports).
pub(super) fn text_field(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, FieldError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

/// A number, or text that reads as one (CSV cells are text).
fn number_field(fields: &Map<String, Value>, name: &str) -> Result<Option<f64>, FieldError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| FieldError {
            code: "wrong_type",
            message: format!("{name} must be a number, got {s:?}"),
        }),
        Some(other) => Err(wrong_type(name, "a number", other)),
    }
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> FieldError {
    FieldError {
        code: "wrong_type",
        message: format!("{name} must be {expected}, got {}", kind_of(got)),
    }
}

pub(super) fn item(fields: &Map<String, Value>) -> Result<CatalogItem, FieldError> {
    CatalogItem::new(ItemFields {
        item_id: text_field(fields, "item_id")?,
        name: text_field(fields, "name")?,
        category: text_field(fields, "category")?,
        price: number_field(fields, "price")?,
        url: text_field(fields, "url")?,
    })
}

pub(super) fn scenario(fields: &Map<String, Value>) -> Result<Scenario, FieldError> {
    Scenario::new(ScenarioFields {
        scenario_id: text_field(fields, "scenario_id")?,
        name: text_field(fields, "name")?,
        description: text_field(fields, "description")?,
    })
}
