//! The one place that decodes a Kubewarden validation request.
//!
//! The payload is `{"settings": ..., "request": <AdmissionRequest>}`. Only the fields the
//! policies use are decoded. The object (and the old object of an UPDATE) is kept as the
//! JSON text it came as ([`JsonObject`]): the pod template is found in the text and read
//! into its typed form ([`Workload::from_json`](crate::k8s::workload::Workload::from_json)),
//! a fix is spliced into the text ([`patch::apply_to_text`](crate::k8s::patch::apply_to_text)),
//! and the text is parsed into a `serde_json::Value` only when the whole tree is needed:
//! an UPDATE compares it with the old one, or a fix the text cannot take patches the
//! tree. The JSON is read by [`json_text`](crate::k8s::json_text), as all JSON is in a
//! module: one reader of JSON, not serde_json's beside ours, keeps the modules under
//! 1 MiB.

use crate::k8s::decode::{PathError, from_str};
use crate::k8s::json_text::{Fields, fields_and_nested, value_of};
use serde::Deserialize;
use serde_json::Value;
use std::cell::OnceCell;
use std::fmt;

/// An object of the request as it came: its JSON text, and the parsed tree once asked
/// for. Parsing a large object into a `Value` (ordered maps, a string per key) cost
/// more than every rule together, and most requests never need the tree.
#[derive(Debug, Clone, Default)]
pub struct JsonObject {
    /// The JSON text, as the request carried it or as fixes patched it; `None` for an
    /// object built from a `Value`.
    text: Option<Box<str>>,
    tree: OnceCell<Value>,
}

impl JsonObject {
    /// An object read from JSON text, which must be one JSON value.
    fn from_text(text: &str) -> Self {
        JsonObject {
            text: Some(text.into()),
            tree: OnceCell::new(),
        }
    }

    /// Whether the tree was parsed and kept (a CREATE that the rules read from the text
    /// alone never parses it).
    pub fn has_tree(&self) -> bool {
        self.tree.get().is_some()
    }

    /// The JSON text of the object, when it was decoded from a request.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The object as a JSON tree, parsed from the text on first use. The text was
    /// read as JSON when the request was decoded, so this does not fail; were it to,
    /// the tree is `null`, which every caller treats as "no object".
    pub fn value(&self) -> &Value {
        self.tree.get_or_init(|| self.parsed())
    }

    /// The tree, parsed if it was not yet.
    pub fn into_value(self) -> Value {
        match self.tree.into_inner() {
            Some(tree) => tree,
            None => JsonObject::parsed_text(self.text.as_deref()),
        }
    }

    /// A tree of its own: the one already parsed, copied, else parsed from the text
    /// without keeping it (what a mutation patches: one parse, no copy).
    pub fn to_value(&self) -> Value {
        match self.tree.get() {
            Some(tree) => tree.clone(),
            None => self.parsed(),
        }
    }

    fn parsed(&self) -> Value {
        JsonObject::parsed_text(self.text())
    }

    fn parsed_text(text: Option<&str>) -> Value {
        text.and_then(|text| value_of(text).ok())
            .unwrap_or(Value::Null)
    }

    /// Whether the object is a JSON object, read from the text's first byte when the
    /// tree was not parsed (the text of a value starts with the value).
    pub fn is_object(&self) -> bool {
        match (self.tree.get(), self.text()) {
            (Some(tree), _) => tree.is_object(),
            (None, Some(text)) => text.starts_with('{'),
            (None, None) => false,
        }
    }
}

/// Two objects are equal when their JSON is, however they were written.
impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl From<Value> for JsonObject {
    fn from(tree: Value) -> Self {
        JsonObject {
            text: None,
            tree: OnceCell::from(tree),
        }
    }
}

/// An object given as JSON text (a patched object's), which must be one JSON value.
impl From<String> for JsonObject {
    fn from(text: String) -> Self {
        JsonObject {
            text: Some(text.into_boxed_str()),
            tree: OnceCell::new(),
        }
    }
}

/// Reads as the tree (parsed on first use), so code that needs the whole object reads
/// it as a `Value`.
impl std::ops::Deref for JsonObject {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

/// Group, version and kind of the object under review.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The parts of a Kubernetes AdmissionRequest that the policies read.
#[derive(Default, Debug, Clone)]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: String,
    pub operation: String,
    pub name: String,
    pub namespace: String,
    pub object: JsonObject,
    /// The object's previous state, on UPDATE (none otherwise).
    pub old_object: JsonObject,
}

impl AdmissionRequest {
    /// An UPDATE of a `group`/`kind` object from `old_object` to `object`, as the API
    /// server sends it: the objects as JSON text (for tests, benchmarks and tools).
    pub fn update(group: &str, kind: &str, object: Value, old_object: Value) -> Self {
        AdmissionRequest {
            kind: GroupVersionKind {
                group: group.to_string(),
                version: "v1".to_string(),
                kind: kind.to_string(),
            },
            operation: "UPDATE".to_string(),
            object: object.to_string().into(),
            old_object: old_object.to_string().into(),
            ..Default::default()
        }
    }
}

/// A decoded validation request: the policy settings and the admission request.
#[derive(Debug, Clone)]
pub struct ValidationRequest {
    pub settings: Value,
    pub request: AdmissionRequest,
}

/// Why a request could not be decoded; shown to the user as the rejection message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The fields of an AdmissionRequest that are read, with the names they may be written
/// under (Kubewarden's camelCase, and the snake_case of older tools).
const REQUEST_FIELDS: [&str; 10] = [
    "uid",
    "kind",
    "subResource",
    "sub_resource",
    "operation",
    "name",
    "namespace",
    "object",
    "oldObject",
    "old_object",
];

/// Decodes a validation request payload. Malformed JSON, a missing `request` or fields of
/// the wrong type give an error that names the field; nothing here panics.
pub fn decode_validation_request(payload: &[u8]) -> Result<ValidationRequest, DecodeError> {
    let failed = |e: PathError| match e.path() {
        "" => DecodeError(format!(
            "cannot decode the validation request: {}",
            e.message()
        )),
        path => DecodeError(format!(
            "cannot decode the validation request at `{path}`: {}",
            e.message()
        )),
    };
    let text = std::str::from_utf8(payload).map_err(|e| {
        DecodeError(format!(
            "cannot decode the validation request: not UTF-8 text ({e})"
        ))
    })?;
    let (envelope, fields) = fields_and_nested(text, &["settings"], "request", &REQUEST_FIELDS)
        .map_err(|e| DecodeError(format!("cannot decode the validation request: {e}")))?;
    let fields = match fields {
        None => {
            return Err(DecodeError(
                "cannot decode the validation request: missing field `request`".to_string(),
            ));
        }
        Some(Fields::Found(fields)) => fields,
        Some(Fields::Missing(_)) => {
            return Err(DecodeError(
                "cannot decode the validation request at `request`: expected a map (an AdmissionRequest)"
                    .to_string(),
            ));
        }
    };
    let settings = match envelope[0] {
        None => Value::Null,
        Some(text) => value_of(text).map_err(|e| failed(PathError::from(e).under("settings")))?,
    };
    let &[
        uid,
        kind,
        sub_resource,
        sub_resource_snake,
        operation,
        name,
        namespace,
        object,
        old_object,
        old_object_snake,
    ] = fields.as_slice()
    else {
        return Err(DecodeError(
            "internal error: the request's fields were not all looked up".to_string(),
        ));
    };
    let decode = |text: Option<&str>, name: &str| -> Result<String, DecodeError> {
        text.map(|text| {
            from_str::<String>(text).map_err(|e| failed(e.under(&format!("request.{name}"))))
        })
        .transpose()
        .map(Option::unwrap_or_default)
    };
    let kind = match kind {
        None => GroupVersionKind::default(),
        Some(text) => {
            from_str::<GroupVersionKind>(text).map_err(|e| failed(e.under("request.kind")))?
        }
    };
    let json_object = |text: Option<&str>| text.map(JsonObject::from_text).unwrap_or_default();
    Ok(ValidationRequest {
        settings,
        request: AdmissionRequest {
            uid: decode(uid, "uid")?,
            kind,
            // A field given under both names counts under its camelCase one.
            sub_resource: decode(sub_resource.or(sub_resource_snake), "subResource")?,
            operation: decode(operation, "operation")?,
            name: decode(name, "name")?,
            namespace: decode(namespace, "namespace")?,
            object: json_object(object),
            old_object: json_object(old_object.or(old_object_snake)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_camel_case_request() {
        let payload = br#"{"settings": {"defaultOs": "linux"}, "request": {"uid": "1",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "subResource": "", "operation": "CREATE", "namespace": "ns",
            "object": {"kind": "Deployment", "x": 1}}}"#;
        let request = decode_validation_request(payload).unwrap();
        assert_eq!(request.request.kind.kind, "Deployment");
        assert_eq!(request.request.operation, "CREATE");
        assert_eq!(request.settings["defaultOs"], "linux");
        assert_eq!(request.request.object["x"], 1);
    }

    #[test]
    fn malformed_payloads_are_clear_errors() {
        let err = decode_validation_request(b"{not json").unwrap_err();
        assert!(
            err.0.contains("cannot decode the validation request"),
            "{err}"
        );
        let err = decode_validation_request(br#"{"settings": {}}"#).unwrap_err();
        assert!(err.0.contains("missing field `request`"), "{err}");
        let err = decode_validation_request(br#"{"request": {"operation": 5}}"#).unwrap_err();
        assert!(err.0.contains("request.operation"), "{err}");
        let err = decode_validation_request(b"\xff\xfe").unwrap_err();
        assert!(err.0.contains("cannot decode"), "{err}");
        assert!(decode_validation_request(br#"{"request": {}} trailing"#).is_err());
    }
}
