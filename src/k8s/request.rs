//! The one place that decodes a Kubewarden validation request.
//!
//! The payload is `{"settings": ..., "request": <AdmissionRequest>}`. Only the fields the
//! policies use are decoded; the object (and the old object of an UPDATE) stays a `serde_json::Value` so that mutations
//! patch the original and every field (known to `k8s-openapi` or not) survives.

use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Group, version and kind of the object under review.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The parts of a Kubernetes AdmissionRequest that the policies read.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(alias = "sub_resource")]
    pub sub_resource: String,
    pub operation: String,
    pub name: String,
    pub namespace: String,
    pub object: Value,
    /// The object's previous state, on UPDATE (`null` otherwise).
    #[serde(alias = "old_object")]
    pub old_object: Value,
}

impl AdmissionRequest {
    /// An UPDATE of a `group`/`kind` object from `old_object` to `object`, as the API
    /// server sends it (for tests, benchmarks and tools).
    pub fn update(group: &str, kind: &str, object: Value, old_object: Value) -> Self {
        AdmissionRequest {
            kind: GroupVersionKind {
                group: group.to_string(),
                version: "v1".to_string(),
                kind: kind.to_string(),
            },
            operation: "UPDATE".to_string(),
            object,
            old_object,
            ..Default::default()
        }
    }
}

/// A decoded validation request: the policy settings and the admission request.
#[derive(Deserialize, Debug, Clone)]
pub struct ValidationRequest {
    #[serde(default)]
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

/// Decodes a validation request payload. Malformed JSON, a missing `request` or fields of
/// the wrong type give an error that names the field; nothing here panics.
pub fn decode_validation_request(payload: &[u8]) -> Result<ValidationRequest, DecodeError> {
    // The fast path decodes the bytes straight into the request. Only a failure is
    // looked at again, as a JSON value, to name the field that is wrong.
    serde_json::from_slice(payload).map_err(|error| explain_decode_error(payload, error))
}

fn explain_decode_error(payload: &[u8], error: serde_json::Error) -> DecodeError {
    // Not JSON at all (or trailing bytes): serde_json's message gives line and column.
    let Ok(json) = serde_json::from_slice::<Value>(payload) else {
        return DecodeError(format!("cannot decode the validation request: {error}"));
    };
    match crate::k8s::decode::from_value::<ValidationRequest>(&json) {
        Err(e) if !e.path().is_empty() => DecodeError(format!(
            "cannot decode the validation request at `{}`: {}",
            e.path(),
            e.message()
        )),
        Err(e) => DecodeError(format!("cannot decode the validation request: {e}")),
        // Valid as a value but not as bytes, e.g. a duplicate key: the first error says why.
        Ok(_) => DecodeError(format!("cannot decode the validation request: {error}")),
    }
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
