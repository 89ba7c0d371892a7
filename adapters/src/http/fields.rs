//! The field types of request bodies and parameters, each with the rule the document states
//! for it (`rules.rs`): its length, range, pattern, format or values.
//!
//! `Text` takes only a JSON string: poem-openapi reads a JSON number or boolean sent for a
//! `String` field as its text, so that `"venue": false` would make a venue called "false".
//! `Whole` takes only a whole number, `List` only an array. None of them checks its rule when
//! parsing: the domain decides (with the same constants), and answers every problem at once as
//! `validation_failed`; the document states the rule so that a client can keep to it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::rules::{AnyText, SchemaRule};

/// A text field whose schema states rule `R`.
pub struct Text<R = AnyText>(String, PhantomData<fn() -> R>);

impl<R> Text<R> {
    pub fn new(text: impl Into<String>) -> Self {
        Text(text.into(), PhantomData)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<R> Clone for Text<R> {
    fn clone(&self) -> Self {
        Text::new(self.0.clone())
    }
}

impl<R> PartialEq for Text<R> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<R> Deref for Text<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<R> fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<R> From<&str> for Text<R> {
    fn from(text: &str) -> Self {
        Text::new(text)
    }
}

impl<R> From<String> for Text<R> {
    fn from(text: String) -> Self {
        Text::new(text)
    }
}

impl<R> serde::Serialize for Text<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<R> From<Text<R>> for String {
    fn from(text: Text<R>) -> Self {
        text.0
    }
}

impl<R: SchemaRule> Type for Text<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        R::state(&mut schema);
        MetaSchemaRef::Inline(Box::new(schema))
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

impl<R: SchemaRule> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Text::new(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<R: SchemaRule> ParseFromParameter for Text<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Text::new(value))
    }
}

impl<R: SchemaRule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A whole-number field whose schema states rule `R` (its range).
pub struct Whole<R>(i64, PhantomData<fn() -> R>);

impl<R> Whole<R> {
    pub fn get(&self) -> i64 {
        self.0
    }
}

impl<R> Clone for Whole<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Whole<R> {}

impl<R> PartialEq for Whole<R> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<R> fmt::Debug for Whole<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<R> From<i64> for Whole<R> {
    fn from(value: i64) -> Self {
        Whole(value, PhantomData)
    }
}

impl<R: SchemaRule> Type for Whole<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer_int64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("integer", "int64");
        R::state(&mut schema);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<R: SchemaRule> ParseFromJSON for Whole<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match value.as_i64() {
            Some(whole) => Ok(Whole::from(whole)),
            None => Err(ParseError::expected_type(value)),
        }
    }
}

impl<R: SchemaRule> ParseFromParameter for Whole<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value
            .parse::<i64>()
            .map(Whole::from)
            .map_err(|_| ParseError::custom("must be a whole number"))
    }
}

impl<R: SchemaRule> ToJSON for Whole<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A list field whose schema states rule `R` (how many items, whether each is distinct).
pub struct List<T, R>(Vec<T>, PhantomData<fn() -> R>);

impl<T, R> From<Vec<T>> for List<T, R> {
    fn from(items: Vec<T>) -> Self {
        List(items, PhantomData)
    }
}

impl<T, R> Deref for List<T, R> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, R> fmt::Debug for List<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: Type, R: SchemaRule> Type for List<T, R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = T::RawValueType;

    fn name() -> Cow<'static, str> {
        Vec::<T>::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            ..MetaSchema::new("array")
        };
        R::state(&mut schema);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(|item| item.as_raw_value()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: ParseFromJSON, R: SchemaRule> ParseFromJSON for List<T, R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<T>::parse_from_json(value)
            .map(List::from)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, R: SchemaRule> ToJSON for List<T, R> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_strings_only() {
        assert_eq!(
            Text::<AnyText>::parse_from_json(Some(json!("Teater Kecil"))).unwrap(),
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
            assert!(Text::<AnyText>::parse_from_json(Some(not_a_string)).is_err());
        }
        assert!(Text::<AnyText>::parse_from_json(None).is_err());
    }
}
