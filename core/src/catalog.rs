//! What an operator tells Recoscope about their items and scenarios (the original design's
//! MongoDB configuration data): names for the ids that events carry, so the dashboard can
//! show "Blue running shoe" rather than `sku-4711`.
//!
//! Both types are built only through their checks ([`CatalogItem::new`],
//! [`Scenario::new`]), from loose [`ItemFields`] / [`ScenarioFields`] that an importer
//! fills from JSON or CSV; deserializing goes through the same checks.

use crate::bounded::{FieldError, Label};
use serde::{Deserialize, Serialize};

/// Longest description or URL (bytes).
pub const MAX_TEXT_LEN: usize = 2048;

/// One item of a tenant's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ItemFields", into = "ItemFields")]
pub struct CatalogItem {
    item_id: Label,
    name: Label,
    category: Option<Label>,
    price: Option<f64>,
    url: Option<String>,
}

/// An item as a file gives it: anything may be missing or wrong until
/// [`CatalogItem::new`] checks it. Blank strings count as missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemFields {
    #[serde(default)]
    pub item_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CatalogItem {
    /// Checks every field: `item_id` and `name` are required labels, `category` an optional
    /// label, `price` finite and not negative, `url` an absolute http(s) address.
    pub fn new(fields: ItemFields) -> Result<CatalogItem, FieldError> {
        Ok(CatalogItem {
            item_id: required(fields.item_id, "item_id")?,
            name: required(fields.name, "name")?,
            category: optional_label(fields.category, "category")?,
            price: match fields.price {
                Some(p) if !p.is_finite() || p < 0.0 => {
                    return Err(FieldError::new(
                        "out_of_range",
                        format!("price must be a finite number, not negative, got {p}"),
                    ))
                }
                price => price,
            },
            url: web_url(fields.url)?,
        })
    }

    pub fn item_id(&self) -> &str {
        &self.item_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    pub fn price(&self) -> Option<f64> {
        self.price
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl TryFrom<ItemFields> for CatalogItem {
    type Error = FieldError;
    fn try_from(fields: ItemFields) -> Result<Self, FieldError> {
        CatalogItem::new(fields)
    }
}

impl From<CatalogItem> for ItemFields {
    fn from(item: CatalogItem) -> ItemFields {
        ItemFields {
            item_id: Some(item.item_id.into_string()),
            name: Some(item.name.into_string()),
            category: item.category.map(Label::into_string),
            price: item.price,
            url: item.url,
        }
    }
}

/// A recommendation scenario (a placement: "home feed", "similar items").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScenarioFields", into = "ScenarioFields")]
pub struct Scenario {
    scenario_id: Label,
    name: Label,
    description: Option<String>,
}

/// A scenario as a file gives it, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioFields {
    #[serde(default)]
    pub scenario_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Scenario {
    /// `scenario_id` and `name` are required labels; `description` is optional text.
    pub fn new(fields: ScenarioFields) -> Result<Scenario, FieldError> {
        Ok(Scenario {
            scenario_id: required(fields.scenario_id, "scenario_id")?,
            name: required(fields.name, "name")?,
            description: text(fields.description, "description")?,
        })
    }

    pub fn scenario_id(&self) -> &str {
        &self.scenario_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl TryFrom<ScenarioFields> for Scenario {
    type Error = FieldError;
    fn try_from(fields: ScenarioFields) -> Result<Self, FieldError> {
        Scenario::new(fields)
    }
}

impl From<Scenario> for ScenarioFields {
    fn from(scenario: Scenario) -> ScenarioFields {
        ScenarioFields {
            scenario_id: Some(scenario.scenario_id.into_string()),
            name: Some(scenario.name.into_string()),
            description: scenario.description,
        }
    }
}

/// Blank is missing: a CSV cell or a JSON `""` both mean "not given".
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn required(value: Option<String>, field: &str) -> Result<Label, FieldError> {
    match given(value) {
        Some(v) => Label::new(v).map_err(|e| e.in_field(field)),
        None => Err(FieldError::new(
            "missing_field",
            format!("{field} is required"),
        )),
    }
}

fn optional_label(value: Option<String>, field: &str) -> Result<Option<Label>, FieldError> {
    given(value)
        .map(|v| Label::new(v).map_err(|e| e.in_field(field)))
        .transpose()
}

fn text(value: Option<String>, field: &str) -> Result<Option<String>, FieldError> {
    match given(value) {
        Some(v) if v.len() > MAX_TEXT_LEN => Err(FieldError::new(
            "too_long",
            format!("{field} is longer than {MAX_TEXT_LEN} bytes"),
        )),
        v => Ok(v),
    }
}

/// An absolute `http://` or `https://` address without whitespace (the dashboard links it,
/// so `javascript:` and relative paths are refused).
fn web_url(value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(url) = text(value, "url")? else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host_and_path) if !host_and_path.is_empty() && !url.contains(char::is_whitespace) => {
            Ok(Some(url))
        }
        _ => Err(FieldError::new(
            "wrong_type",
            format!("url must be an absolute http(s) address, got {url:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, name: &str) -> ItemFields {
        ItemFields {
            item_id: Some(id.into()),
            name: Some(name.into()),
            ..ItemFields::default()
        }
    }

    #[test]
    fn an_item_needs_an_id_and_a_name() {
        let ok = CatalogItem::new(item("sku-1", "Blue shoe")).unwrap();
        assert_eq!((ok.item_id(), ok.name()), ("sku-1", "Blue shoe"));
        let missing = CatalogItem::new(item("  ", "x")).unwrap_err();
        assert_eq!(missing.code, "missing_field");
        assert!(missing.message.contains("item_id"), "{missing}");
        let no_name = CatalogItem::new(ItemFields {
            item_id: Some("a".into()),
            ..ItemFields::default()
        })
        .unwrap_err();
        assert!(no_name.message.contains("name"), "{no_name}");
        let long = CatalogItem::new(item(&"x".repeat(Label::MAX_LEN + 1), "n")).unwrap_err();
        assert_eq!(long.code, "too_long");
    }

    #[test]
    fn prices_and_urls_are_checked() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let fields = ItemFields {
                price: Some(bad),
                ..item("a", "b")
            };
            assert_eq!(CatalogItem::new(fields).unwrap_err().code, "out_of_range");
        }
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "https://",
            "https://a b",
        ] {
            let fields = ItemFields {
                url: Some(bad.into()),
                ..item("a", "b")
            };
            assert_eq!(
                CatalogItem::new(fields).unwrap_err().code,
                "wrong_type",
                "{bad}"
            );
        }
        let good = ItemFields {
            url: Some("https://shop.example/p/1".into()),
            price: Some(0.0),
            category: Some(" ".into()),
            ..item("a", "b")
        };
        let good = CatalogItem::new(good).unwrap();
        assert_eq!(good.url(), Some("https://shop.example/p/1"));
        assert_eq!(good.category(), None, "a blank category is no category");
    }

    #[test]
    fn deserializing_runs_the_same_checks_and_round_trips() {
        let json = r#"{"item_id":"a","name":"b","price":2.5,"category":"shoes"}"#;
        let parsed: CatalogItem = serde_json::from_str(json).unwrap();
        let again: CatalogItem =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
        assert!(serde_json::from_str::<CatalogItem>(r#"{"item_id":"a"}"#).is_err());
        let scenario: Scenario =
            serde_json::from_str(r#"{"scenario_id":"home","name":"Home feed"}"#).unwrap();
        assert_eq!(scenario.name(), "Home feed");
        assert!(serde_json::from_str::<Scenario>(r#"{"name":"x"}"#).is_err());
    }
}
