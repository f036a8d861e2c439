//! Typed decoding of JSON that names the field where it fails.
//!
//! The pod spec, the settings, RuntimeClasses and host answers are decoded from a
//! [`Node`] tree ([`json_text`](crate::k8s::json_text)): read from the request's text, or
//! borrowed from a `serde_json::Value`. Errors must name the field
//! (`containers[1].ports[0].containerPort: invalid type...`), as the API server would. A
//! wrapper such as `serde_path_to_error` wraps every visitor and access type, so each
//! Deserialize impl of the Kubernetes types is compiled twice more; that cost a quarter
//! of each module's size. This is one deserializer over `&Node` that keeps the location
//! as a chain of stack frames (no allocation) and writes it into an error only when one
//! happens: one instantiation of each type's visitor, and next to no cost on the success
//! path. A deserializer over the text itself would skip the tree, but its visitors came
//! out 120 KB larger (see DESIGN.md).

use crate::k8s::json_text::{JsonNumber, Node, SyntaxError};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt;

/// A decoding failure and the field it happened at (`""` for the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    path: Option<String>,
    message: String,
}

impl PathError {
    /// The error with its path put under `prefix` (`request` + `kind.group`).
    pub fn under(self, prefix: &str) -> Self {
        PathError {
            path: Some(self.path_under(prefix)),
            message: self.message,
        }
    }

    /// Where the error happened, relative to the decoded value: `containers[1].name`, or
    /// `""` when the value itself is wrong.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("")
    }

    /// What went wrong, as serde's visitors word it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The path joined to `prefix` (`spec.template.spec` + `containers[0]`).
    pub fn path_under(&self, prefix: &str) -> String {
        match (prefix, self.path()) {
            (p, "") => p.to_string(),
            ("", q) => q.to_string(),
            (p, q) if q.starts_with('[') => format!("{p}{q}"),
            (p, q) => format!("{p}.{q}"),
        }
    }

    /// Records the location of an error that does not know it yet: the innermost
    /// location wins, as errors travel outwards.
    fn at(mut self, location: &Location<'_>) -> Self {
        if self.path.is_none() {
            self.path = Some(location.to_string());
        }
        self
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            "" => f.write_str(&self.message),
            path => write!(f, "{path}: {}", self.message),
        }
    }
}

impl std::error::Error for PathError {}

/// Text that is no JSON fails where the decoding starts.
impl From<SyntaxError> for PathError {
    fn from(error: SyntaxError) -> Self {
        de::Error::custom(error)
    }
}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PathError {
            path: None,
            message: msg.to_string(),
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!(
            "invalid type: {}, expected {expected}",
            AsJson(unexpected)
        ))
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!(
            "invalid value: {}, expected {expected}",
            AsJson(unexpected)
        ))
    }
}

/// An unexpected value worded as serde_json words it (`null`, JSON floats), so that
/// messages do not depend on which decoder read the value.
struct AsJson<'a>(de::Unexpected<'a>);

impl fmt::Display for AsJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            de::Unexpected::Unit => f.write_str("null"),
            de::Unexpected::Float(value) => match Number::from_f64(value) {
                Some(number) => write!(f, "floating point `{number}`"),
                None => fmt::Display::fmt(&self.0, f),
            },
            other => fmt::Display::fmt(&other, f),
        }
    }
}

/// Decodes `value` as a `T`; an error names the field it happened at.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, PathError> {
    from_node(&Node::of(value))
}

/// Decodes JSON `text` as a `T`; an error names the field it happened at.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, PathError> {
    from_node(&Node::parse(text)?)
}

/// Decodes a JSON tree as a `T`.
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node<'_>) -> Result<T, PathError> {
    T::deserialize(NodeDeserializer {
        value: node,
        location: &Location::Root,
    })
}

/// Where the deserializer is: a chain of borrowed frames, turned into text only for an
/// error.
enum Location<'a> {
    Root,
    Field(&'a Location<'a>, &'a str),
    Index(&'a Location<'a>, usize),
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Root => Ok(()),
            // A key that is no field name (`kubernetes.io/os` in a map) is written as
            // Kubernetes' field errors write map keys: `nodeSelector[kubernetes.io/os]`.
            Location::Field(parent, key) if !is_field_name(key) => write!(f, "{parent}[{key}]"),
            Location::Field(Location::Root, key) => f.write_str(key),
            Location::Field(parent, key) => write!(f, "{parent}.{key}"),
            Location::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn is_field_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

struct NodeDeserializer<'de, 'p> {
    value: &'de Node<'de>,
    location: &'p Location<'p>,
}

// Each `deserialize_*` method is compiled once per visitor, and there are hundreds of
// visitors in the Kubernetes types: so each method handles only the JSON types its
// visitor can take and leaves the rest to one shared error function. Locations are added
// to errors by the caller (the map or sequence access that made this deserializer), not
// here: one place per value instead of one per method and visitor.
impl<'de> NodeDeserializer<'de, '_> {
    fn seq_access(&self, items: &'de [Node<'de>]) -> SeqAccess<'de, '_> {
        SeqAccess {
            items: items.iter(),
            index: 0,
            location: self.location,
        }
    }

    fn map_access(&self, map: &'de [(Cow<'de, str>, Node<'de>)]) -> MapAccess<'de, '_> {
        MapAccess {
            entries: map.iter(),
            value: None,
            location: self.location,
        }
    }
}

/// The error for a JSON value of the wrong type: not generic, so written once.
fn invalid_type(value: &Node<'_>, expected: &dyn de::Expected) -> PathError {
    de::Error::invalid_type(unexpected(value), expected)
}

fn visit_number<'de, V: Visitor<'de>>(n: &JsonNumber, visitor: V) -> Result<V::Value, PathError> {
    match *n {
        JsonNumber::Unsigned(u) => visitor.visit_u64(u),
        JsonNumber::Signed(i) => visitor.visit_i64(i),
        JsonNumber::Float(f) => visitor.visit_f64(f),
    }
}

macro_rules! deserialize_number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
            match self.value {
                Node::Number(n) => visit_number(n, visitor),
                other => Err(invalid_type(other, &visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de, '_> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Number(n) => visit_number(n, visitor),
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            Node::Map(map) => visitor.visit_map(self.map_access(map)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Bool(b) => visitor.visit_bool(*b),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    deserialize_number!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64);

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Str(s) => visitor.visit_borrowed_str(s),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Null => visitor.visit_unit(),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Node::Map(map) => visitor.visit_map(self.map_access(map)),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    /// A struct is a JSON object; unlike serde_json, not an array of its fields, which no
    /// Kubernetes object or setting is written as.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let location = self.location;
        match self.value {
            // A unit variant is a string; any other variant is a map with one key.
            Node::Str(variant) => visitor.visit_enum(EnumAccess {
                variant,
                content: None,
                location,
            }),
            Node::Map(map) if map.len() == 1 => match map.first() {
                Some((variant, content)) => visitor.visit_enum(EnumAccess {
                    variant: variant.as_ref(),
                    content: Some(content),
                    location,
                }),
                None => Err(invalid_type(self.value, &visitor)),
            },
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        // Unknown fields are skipped without walking them.
        visitor.visit_unit()
    }
}

fn unexpected<'a>(value: &'a Node<'_>) -> de::Unexpected<'a> {
    match value {
        Node::Null => de::Unexpected::Unit,
        Node::Bool(b) => de::Unexpected::Bool(*b),
        Node::Number(JsonNumber::Unsigned(u)) => de::Unexpected::Unsigned(*u),
        Node::Number(JsonNumber::Signed(i)) => de::Unexpected::Signed(*i),
        Node::Number(JsonNumber::Float(f)) => de::Unexpected::Float(*f),
        Node::Str(s) => de::Unexpected::Str(s),
        Node::Seq(_) => de::Unexpected::Seq,
        Node::Map(_) => de::Unexpected::Map,
    }
}

struct SeqAccess<'de, 'p> {
    items: std::slice::Iter<'de, Node<'de>>,
    index: usize,
    location: &'p Location<'p>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de, '_> {
    type Error = PathError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PathError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let location = Location::Index(self.location, self.index);
        self.index += 1;
        // Also here, not only in the deserializer: a Deserialize impl may fail after its
        // deserializer returned (a string that does not parse).
        seed.deserialize(NodeDeserializer {
            value,
            location: &location,
        })
        .map(Some)
        .map_err(|e| e.at(&location))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'de, 'p> {
    entries: std::slice::Iter<'de, (Cow<'de, str>, Node<'de>)>,
    value: Option<(&'de str, &'de Node<'de>)>,
    location: &'p Location<'p>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de, '_> {
    type Error = PathError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PathError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let key: &'de str = key;
        self.value = Some((key, value));
        // A key error (an unknown field) gets the map's location from the caller; the
        // message names the key.
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, PathError> {
        let Some((key, value)) = self.value.take() else {
            return Err(de::Error::custom("a map value was read before its key"));
        };
        let location = Location::Field(self.location, key);
        seed.deserialize(NodeDeserializer {
            value,
            location: &location,
        })
        .map_err(|e| e.at(&location))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess<'de, 'p> {
    variant: &'de str,
    content: Option<&'de Node<'de>>,
    location: &'p Location<'p>,
}

impl<'de, 'p> de::EnumAccess<'de> for EnumAccess<'de, 'p> {
    type Error = PathError;
    type Variant = VariantAccess<'de, 'p>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), PathError> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<PathError>::new(self.variant))?;
        Ok((
            variant,
            VariantAccess {
                name: self.variant,
                content: self.content,
                location: self.location,
            },
        ))
    }
}

struct VariantAccess<'de, 'p> {
    name: &'de str,
    content: Option<&'de Node<'de>>,
    location: &'p Location<'p>,
}

impl<'de> VariantAccess<'de, '_> {
    fn content(&self, expected: &str) -> Result<&'de Node<'de>, PathError> {
        self.content
            .ok_or_else(|| de::Error::invalid_type(de::Unexpected::UnitVariant, &expected))
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de, '_> {
    type Error = PathError;

    fn unit_variant(self) -> Result<(), PathError> {
        match self.content {
            None | Some(Node::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, PathError> {
        let value = self.content("newtype variant")?;
        let location = Location::Field(self.location, self.name);
        seed.deserialize(NodeDeserializer {
            value,
            location: &location,
        })
        .map_err(|e| e.at(&location))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let value = self.content("tuple variant")?;
        let location = Location::Field(self.location, self.name);
        de::Deserializer::deserialize_seq(
            NodeDeserializer {
                value,
                location: &location,
            },
            visitor,
        )
        .map_err(|e| e.at(&location))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let value = self.content("struct variant")?;
        let location = Location::Field(self.location, self.name);
        de::Deserializer::deserialize_map(
            NodeDeserializer {
                value,
                location: &location,
            },
            visitor,
        )
        .map_err(|e| e.at(&location))
    }
}

/// A JSON value's type, with its article, for messages (`an array`, `null`).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde::Deserialize;
    use serde_json::json;

    #[test]
    fn decodes_what_serde_json_decodes() {
        let value = json!({
            "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "500m", "memory": 1024}},
                "unknownField": {"deep": [1, 2, {"x": null}]}}],
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "terminationGracePeriodSeconds": 30,
            "overhead": null
        });
        let ours: PodSpec = from_value(&value).unwrap();
        let theirs: PodSpec = serde_json::from_value(value).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn errors_name_the_innermost_field() {
        let value = json!({"containers": [{"name": "a"}, {"name": "b",
            "ports": [{"containerPort": "http"}]}]});
        let err = from_value::<PodSpec>(&value).unwrap_err();
        assert_eq!(err.path(), "containers[1].ports[0].containerPort");
        assert!(
            err.message().starts_with("invalid type: string \"http\""),
            "{err}"
        );
        assert_eq!(
            err.path_under("spec.template.spec"),
            "spec.template.spec.containers[1].ports[0].containerPort"
        );
    }

    #[test]
    fn map_keys_that_are_no_field_names_are_bracketed() {
        let value = json!({"containers": [], "nodeSelector": {"kubernetes.io/os": 1}});
        let err = from_value::<PodSpec>(&value).unwrap_err();
        assert_eq!(err.path(), "nodeSelector[kubernetes.io/os]");
        let value = json!({"containers": [{"name": "a",
            "resources": {"limits": {"cpu": true}}}]});
        let err = from_value::<PodSpec>(&value).unwrap_err();
        assert_eq!(err.path(), "containers[0].resources.limits.cpu");
    }

    #[test]
    fn a_missing_field_is_reported_at_its_object() {
        #[derive(Deserialize, Debug)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        #[derive(Deserialize, Debug)]
        struct Inner {
            #[allow(dead_code)]
            name: String,
        }
        let err = from_value::<Outer>(&json!({"items": [{"name": "a"}, {}]})).unwrap_err();
        assert_eq!(err.path(), "items[1]");
        assert_eq!(err.message(), "missing field `name`");
        let err = from_value::<Outer>(&json!({})).unwrap_err();
        assert_eq!(err.path(), "");
        assert_eq!(err.to_string(), "missing field `items`");
        let err = from_value::<PodSpec>(&json!([])).unwrap_err();
        assert_eq!(err.path(), "");
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Strict {
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        nested: Option<Box<Strict>>,
        #[serde(default)]
        shape: Option<Shape>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Warn,
        Reject,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    enum Shape {
        Circle(u32),
        Pair(u8, u8),
        Rect { w: u32 },
    }

    #[test]
    fn unknown_fields_and_variants_are_reported_where_they_are() {
        let err = from_value::<Strict>(&json!({"nested": {"mdoe": "warn"}})).unwrap_err();
        assert_eq!(err.path(), "nested");
        assert!(err.message().starts_with("unknown field `mdoe`"), "{err}");
        let err = from_value::<Strict>(&json!({"nested": {"mode": "wran"}})).unwrap_err();
        assert_eq!(err.path(), "nested.mode");
        assert!(err.message().starts_with("unknown variant `wran`"), "{err}");
        let err = from_value::<Strict>(&json!({"mode": 3})).unwrap_err();
        assert_eq!(err.path(), "mode");
    }

    #[test]
    fn enums_decode_as_serde_json_does() {
        for value in [
            json!({"mode": "reject", "nested": {"mode": "warn"}}),
            json!({"shape": {"Circle": 3}}),
            json!({"shape": {"Pair": [1, 2]}}),
            json!({"shape": {"Rect": {"w": 4}}}),
        ] {
            let ours: Strict = from_value(&value).unwrap();
            let theirs: Strict = serde_json::from_value(value).unwrap();
            assert_eq!(ours, theirs);
        }
        let err = from_value::<Strict>(&json!({"shape": {"Pair": [1, 300]}})).unwrap_err();
        assert_eq!(err.path(), "shape.Pair[1]");
        let err = from_value::<Strict>(&json!({"shape": "Circle"})).unwrap_err();
        assert_eq!(err.path(), "shape");
        let err = from_value::<Strict>(&json!({"shape": {"A": 1, "B": 2}})).unwrap_err();
        assert_eq!(err.path(), "shape");
    }

    #[test]
    fn a_failure_after_the_deserializer_returned_is_reported_at_the_element() {
        #[derive(Debug)]
        struct Even;
        impl<'de> Deserialize<'de> for Even {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match u32::deserialize(d)? {
                    n if n % 2 == 0 => Ok(Even),
                    n => Err(de::Error::custom(format!("{n} is odd"))),
                }
            }
        }
        let err = from_value::<Vec<Even>>(&json!([2, 4, 5])).unwrap_err();
        assert_eq!(err.to_string(), "[2]: 5 is odd");
    }

    #[test]
    fn numbers_keep_their_range_checks() {
        #[derive(Deserialize, Debug)]
        struct N {
            #[allow(dead_code)]
            small: u8,
        }
        let err = from_value::<N>(&json!({"small": 256})).unwrap_err();
        assert_eq!(err.path(), "small");
        let err = from_value::<N>(&json!({"small": -1})).unwrap_err();
        assert_eq!(err.path(), "small");
        let err = from_value::<N>(&json!({"small": 1.5})).unwrap_err();
        assert_eq!(err.path(), "small");
        assert_eq!(from_value::<u8>(&json!(7)).unwrap(), 7);
        assert_eq!(from_value::<f64>(&json!(-0.5)).unwrap(), -0.5);
    }
}
