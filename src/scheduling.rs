//! Taints and tolerations, matched exactly as the Kubernetes scheduler matches them
//! (`Toleration.ToleratesTaint` in k8s.io/api/core/v1/toleration.go).

use k8s_openapi::api::core::v1::Toleration;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A node taint, such as the `os=windows:NoSchedule` that Windows node pools carry.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

impl Default for Taint {
    /// The taint AKS and GKE documentation put on Windows node pools.
    fn default() -> Self {
        Taint {
            key: "os".to_string(),
            value: "windows".to_string(),
            effect: TaintEffect::NoSchedule,
        }
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}:{}", self.key, self.value, self.effect.as_str())
    }
}

impl Taint {
    /// The toleration that tolerates exactly this taint (what OS-3 adds).
    pub fn toleration_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "operator": "Equal",
            "value": self.value,
            "effect": self.effect.as_str(),
        })
    }
}

/// Whether `toleration` tolerates `taint`, following the scheduler: a set effect must
/// equal the taint's (empty matches all effects); a set key must equal the taint's
/// (empty with `Exists` tolerates every taint); `Equal` (the default operator) compares
/// values case-sensitively. `Lt`/`Gt` compare integer values (KEP-5471); anything else
/// tolerates nothing.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect.as_str() {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    let value = toleration.value.as_deref().unwrap_or_default();
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => value == taint.value,
        "Exists" => true,
        op @ ("Lt" | "Gt") => match (value.parse::<i64>(), taint.value.parse::<i64>()) {
            // The taint's value is compared against the toleration's: `Lt` tolerates
            // taints whose value is less than the toleration's value.
            (Ok(limit), Ok(actual)) => {
                if op == "Lt" {
                    actual < limit
                } else {
                    actual > limit
                }
            }
            _ => false,
        },
        _ => false,
    }
}

/// Whether the toleration names the taint's key (not a blanket `Exists`): a sign that
/// the pod was written for nodes with this taint.
pub fn names_taint(toleration: &Toleration, taint: &Taint) -> bool {
    toleration.key.as_deref() == Some(taint.key.as_str()) && tolerates(toleration, taint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(op),
            value: opt(value),
            effect: opt(effect),
            ..Default::default()
        }
    }

    #[test]
    fn matches_like_the_scheduler() {
        let taint = Taint::default();
        let cases = [
            (tol("os", "Equal", "windows", "NoSchedule"), true),
            (tol("os", "", "windows", ""), true),
            (tol("os", "Exists", "", ""), true),
            (tol("", "Exists", "", ""), true),
            (tol("", "Exists", "", "NoSchedule"), true),
            (tol("", "Exists", "", "NoExecute"), false),
            (tol("os", "Equal", "Windows", "NoSchedule"), false),
            (tol("OS", "Equal", "windows", "NoSchedule"), false),
            (tol("os", "Equal", "windows", "PreferNoSchedule"), false),
            (tol("os", "Equal", "linux", ""), false),
            (tol("os", "exists", "", ""), false),
            (tol("", "", "windows", ""), true),
            (tol("os", "Lt", "5", ""), false),
        ];
        for (t, expected) in cases {
            assert_eq!(tolerates(&t, &taint), expected, "{t:?}");
        }
        let numeric = Taint {
            key: "tier".into(),
            value: "3".into(),
            effect: TaintEffect::NoSchedule,
        };
        assert!(tolerates(&tol("tier", "Lt", "5", ""), &numeric));
        assert!(!tolerates(&tol("tier", "Gt", "5", ""), &numeric));
    }

    #[test]
    fn blanket_tolerations_do_not_name_the_taint() {
        let taint = Taint::default();
        assert!(!names_taint(&tol("", "Exists", "", ""), &taint));
        assert!(names_taint(&tol("os", "Exists", "", ""), &taint));
        assert!(names_taint(&tol("os", "Equal", "windows", ""), &taint));
    }
}
