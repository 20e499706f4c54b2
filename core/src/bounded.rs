//! Bounded value types. An [`Event`](crate::Event) is built only from these, so once one
//! exists its ids are non-blank and bounded, its ratios are in range and its durations are
//! finite: nothing downstream re-checks them. They deserialize through the same checks, so
//! a record read back from Kafka holds the same guarantees.
//!
//! The hard ceilings here are what the types promise everywhere; the ingest API's
//! configurable [`Limits`](crate::validate::Limits) may only be tighter.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

/// Why a value does not fit its type: a machine-readable code (one of
/// [`REJECTION_CODES`](crate::validate::REJECTION_CODES)) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            code,
            message: message.into(),
        }
    }

    /// The same error, with the field it was found in named in the message.
    pub fn in_field(self, field: &str) -> Self {
        FieldError {
            code: self.code,
            message: format!("{field} {}", self.message),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for FieldError {}

/// An id or a label (scenario, user, item, experiment, device...): not blank, at most
/// [`Label::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Label(String);

impl Label {
    /// The ceiling every label respects; the ingest limit (256 by default) is lower.
    pub const MAX_LEN: usize = 1024;

    pub fn new(value: impl Into<String>) -> Result<Label, FieldError> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(FieldError::new("empty_field", "must not be empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                "too_long",
                format!("is longer than {} bytes", Self::MAX_LEN),
            ));
        }
        Ok(Label(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Label {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<Label> for String {
    fn from(label: Label) -> String {
        label.0
    }
}

impl TryFrom<String> for Label {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Label::new(value)
    }
}

impl TryFrom<&str> for Label {
    type Error = FieldError;
    fn try_from(value: &str) -> Result<Self, FieldError> {
        Label::new(value)
    }
}

/// A share of something, `0..=1` (the completion rate).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fraction(f64);

impl Fraction {
    pub fn new(value: f64) -> Result<Fraction, FieldError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Fraction(value))
        } else {
            Err(FieldError::new(
                "out_of_range",
                format!("must be between 0 and 1, got {value}"),
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// A duration in seconds (watch or dwell time): finite, `0..=Seconds::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seconds(f64);

impl Seconds {
    /// A week: the ceiling every duration respects; the ingest limit (a day) is lower.
    pub const MAX: f64 = 7.0 * 24.0 * 3600.0;

    pub fn new(value: f64) -> Result<Seconds, FieldError> {
        if value.is_finite() && (0.0..=Self::MAX).contains(&value) {
            Ok(Seconds(value))
        } else {
            Err(FieldError::new(
                "out_of_range",
                format!("must be between 0 and {} seconds, got {value}", Self::MAX),
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// A point in time in milliseconds since the Unix epoch, not before 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnixMillis(i64);

impl UnixMillis {
    pub fn new(value: i64) -> Result<UnixMillis, FieldError> {
        if value >= 0 {
            Ok(UnixMillis(value))
        } else {
            Err(FieldError::new(
                "out_of_range",
                format!("must be milliseconds since the Unix epoch, got {value}"),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The operator's free-form data kept with an event: always a JSON object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExtraData(serde_json::Map<String, serde_json::Value>);

impl ExtraData {
    pub fn new(value: serde_json::Value) -> Result<ExtraData, FieldError> {
        match value {
            serde_json::Value::Object(map) => Ok(ExtraData(map)),
            other => Err(FieldError::new(
                "wrong_type",
                format!("must be a JSON object, got {other}"),
            )),
        }
    }

    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    /// The compact JSON text, as stored in ClickHouse.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON map always serializes")
    }
}

/// Serde for the wrappers: the inner value on the wire, the constructor's checks on the way
/// in (so a deserialized value is as trustworthy as a constructed one).
macro_rules! serde_through {
    ($ty:ident, $inner:ty, $ser:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.$ser(self.0.clone())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let inner = <$inner>::deserialize(deserializer)?;
                $ty::new(inner).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_through!(Fraction, f64, serialize_f64);
serde_through!(Seconds, f64, serialize_f64);
serde_through!(UnixMillis, i64, serialize_i64);

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Label::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ExtraData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ExtraData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ExtraData::new(serde_json::Value::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_not_blank_and_bounded() {
        assert_eq!(Label::new("home").unwrap(), "home");
        assert_eq!(Label::new("").unwrap_err().code, "empty_field");
        assert_eq!(Label::new(" \t").unwrap_err().code, "empty_field");
        assert!(Label::new("x".repeat(Label::MAX_LEN)).is_ok());
        assert_eq!(
            Label::new("x".repeat(Label::MAX_LEN + 1)).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn numbers_stay_in_range() {
        assert!(Fraction::new(0.0).is_ok() && Fraction::new(1.0).is_ok());
        for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(Fraction::new(bad).unwrap_err().code, "out_of_range");
        }
        assert!(Seconds::new(0.0).is_ok() && Seconds::new(Seconds::MAX).is_ok());
        for bad in [-1.0, Seconds::MAX + 1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(Seconds::new(bad).unwrap_err().code, "out_of_range");
        }
        assert!(UnixMillis::new(0).is_ok());
        assert_eq!(UnixMillis::new(-1).unwrap_err().code, "out_of_range");
    }

    #[test]
    fn deserializing_applies_the_same_checks() {
        assert!(serde_json::from_str::<Label>("\"\"").is_err());
        assert!(serde_json::from_str::<Fraction>("1.5").is_err());
        assert!(serde_json::from_str::<Seconds>("-3").is_err());
        assert!(serde_json::from_str::<ExtraData>("[1]").is_err());
        let extra: ExtraData = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(extra.to_json(), r#"{"a":1}"#);
        let label: Label = serde_json::from_str("\"u1\"").unwrap();
        assert_eq!(serde_json::to_string(&label).unwrap(), "\"u1\"");
        let rate: Fraction = serde_json::from_str("0.25").unwrap();
        assert_eq!(serde_json::to_string(&rate).unwrap(), "0.25");
    }
}
