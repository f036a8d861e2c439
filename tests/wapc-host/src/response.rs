//! The answers of a Kubewarden policy module, as the host reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Answer of the guest function `validate_settings`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Answer of the guest function `validate`, mirroring Kubewarden's
/// `ValidationResponse`.
///
/// Serialized in camelCase (`mutatedObject`, `auditAnnotations`); read from
/// either camelCase or the snake_case (`mutated_object`, `audit_annotations`)
/// that `kubewarden-policy-sdk` 0.17 writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResponse {
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(
        default,
        alias = "mutated_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub mutated_object: Option<Value>,
    #[serde(
        default,
        alias = "audit_annotations",
        skip_serializing_if = "Option::is_none"
    )]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl ValidationResponse {
    /// The warnings, empty when there are none.
    pub fn warnings(&self) -> &[String] {
        self.warnings.as_deref().unwrap_or_default()
    }

    /// True when the request is accepted with a mutated object.
    pub fn is_mutation(&self) -> bool {
        self.accepted && self.mutated_object.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_sdk_snake_case_and_writes_camel_case() {
        let sdk = json!({
            "accepted": true,
            "message": null,
            "code": null,
            "mutated_object": {"kind": "Pod"},
            "audit_annotations": {"a": "b"},
            "warnings": ["w"]
        });
        let resp: ValidationResponse = serde_json::from_value(sdk).unwrap();
        assert!(resp.is_mutation());
        assert_eq!(resp.warnings(), ["w".to_owned()]);
        let out = serde_json::to_value(&resp).unwrap();
        assert_eq!(
            out,
            json!({"accepted": true, "mutatedObject": {"kind": "Pod"}, "auditAnnotations": {"a": "b"}, "warnings": ["w"]})
        );
        let back: ValidationResponse = serde_json::from_value(out).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn minimal_rejection() {
        let resp: ValidationResponse =
            serde_json::from_str(r#"{"accepted": false, "message": "no", "code": 400}"#).unwrap();
        assert!(!resp.accepted);
        assert_eq!(resp.code, Some(400));
        assert!(resp.warnings().is_empty());
        assert!(!resp.is_mutation());
    }
}
