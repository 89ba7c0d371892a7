//! `Text`: a string field of a request body that takes only a JSON string.
//!
//! poem-openapi reads a JSON number or boolean sent for a `String` field as its text, so that
//! `"venue": false` would make a venue called "false". Request bodies use `Text` instead, which
//! refuses anything but a string with the same 400 as any other mistyped field; the document
//! describes it as a plain `string`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text(String);

impl Text {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text(text.to_owned())
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Text(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_strings_only() {
        assert_eq!(
            Text::parse_from_json(Some(json!("Teater Kecil"))).unwrap(),
            Text::from("Teater Kecil")
        );
        for not_a_string in [
            json!(false),
            json!(42),
            json!(1.5),
            json!(null),
            json!([]),
            json!({}),
        ] {
            assert!(Text::parse_from_json(Some(not_a_string)).is_err());
        }
        assert!(Text::parse_from_json(None).is_err());
    }
}
