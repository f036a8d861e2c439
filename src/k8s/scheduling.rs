//! Taints and tolerations, matched exactly as the Kubernetes scheduler matches them
//! (`Toleration.ToleratesTaint` in k8s.io/api/core/v1/toleration.go, called by
//! `TolerationsTolerateTaint` in k8s.io/component-helpers/scheduling/corev1/helpers.go).
//!
//! The `Lt` and `Gt` operators (KEP-5471, Kubernetes 1.35, alpha behind the
//! `TaintTolerationComparisonOperators` feature gate, off by default) compare the taint's
//! value with the toleration's as integers. Upstream reads both values the same strict way
//! in the scheduler (`compareNumericValues`) and in the API server's validation
//! (`ValidateTolerations` in pkg/apis/core/validation/validation.go): a decimal integer in
//! canonical form (`content.IsDecimalInteger`, k8s.io/apimachinery/pkg/api/validate/content:
//! `0`, or an optional `-` and a digit 1 to 9 followed by digits; no `+`, no leading zero,
//! no `-0`, no space) within the int64 range (`strconv.ParseInt`). A value that is not one
//! tolerates nothing; the API server refuses such a toleration when it validates the pod,
//! and refuses `Lt`/`Gt` altogether while the gate is off, so an object that carries them
//! was written for a cluster that has it on: they are compared here as such a cluster's
//! scheduler compares them.

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
/// values case-sensitively. `Lt`/`Gt` compare the values as integers in canonical form
/// (see the module documentation; KEP-5471): `Lt` tolerates a taint whose value is less
/// than the toleration's, `Gt` one whose value is greater. Any other operator tolerates
/// nothing.
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
        op @ ("Lt" | "Gt") => match (numeric_value(value), numeric_value(&taint.value)) {
            // The taint's value is compared against the toleration's: `Lt` tolerates
            // taints whose value is less than the toleration's value.
            (Some(limit), Some(actual)) => {
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

/// A taint or toleration value as `Lt` and `Gt` read it: a decimal integer in canonical
/// form (upstream's `content.IsDecimalInteger`) that fits an int64 (`strconv.ParseInt`),
/// else `None`, which tolerates nothing.
fn numeric_value(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let canonical = match digits.as_bytes() {
        // `0`, but not `-0`.
        [b'0'] => digits.len() == value.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    // Canonical digits with at most one `-`: Rust's parser reads them as Go's does, and
    // refuses what is out of the int64 range.
    value.parse().ok()
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

    fn numeric_taint(value: &str) -> Taint {
        Taint {
            key: "node.kubernetes.io/sla".into(),
            value: value.into(),
            effect: TaintEffect::NoSchedule,
        }
    }

    /// Upstream's cases for `Lt` and `Gt`: k8s.io/api/core/v1/toleration_test.go,
    /// `TestTolerationToleratesTaint` (with the comparison operators enabled) and
    /// `TestCompareNumericValues` (operator, toleration value, taint value, result).
    #[test]
    fn upstream_lt_gt_cases() {
        let tolerates_taint = [
            ("Gt", "950", "800", false),
            ("Gt", "750", "950", true),
            ("Lt", "800", "950", false),
            ("Lt", "950", "800", true),
            ("Gt", "950", "950", false),
            ("Gt", "950", "high", false),
            ("Gt", "-100", "-200", false),
            ("Gt", "9223372036854775806", "100", false),
        ];
        let compare_numeric_values = [
            ("Gt", "100", "200", true),
            ("Gt", "200", "100", false),
            ("Gt", "100", "100", false),
            ("Gt", "-100", "-50", true),
            ("Gt", "-50", "-100", false),
            ("Gt", "0", "1", true),
            ("Gt", "9223372036854775806", "9223372036854775807", true),
            ("Lt", "200", "100", true),
            ("Lt", "100", "200", false),
            ("Lt", "100", "100", false),
            ("Lt", "-50", "-100", true),
            ("Lt", "-100", "-50", false),
            ("Lt", "0", "-1", true),
            // Values that are not decimal integers in canonical form tolerate nothing.
            ("Gt", "abc", "100", false),
            ("Gt", "", "100", false),
            ("Gt", "0100", "200", false),
            ("Gt", "+100", "200", false),
            ("Gt", "100.5", "200", false),
            ("Gt", "-", "100", false),
            ("Gt", "100", "xyz", false),
            ("Gt", "100", "", false),
            ("Gt", "100", "0200", false),
            ("Lt", "100", "+200", false),
            ("Lt", "100", " 200 ", false),
            ("Gt", "0", "0", false),
            ("Lt", "0", "0", false),
            ("Gt", "0", "9223372036854775807", true),
            ("Lt", "0", "-9223372036854775808", true),
        ];
        for (op, toleration, taint, expected) in
            tolerates_taint.into_iter().chain(compare_numeric_values)
        {
            let t = tol("node.kubernetes.io/sla", op, toleration, "NoSchedule");
            assert_eq!(
                tolerates(&t, &numeric_taint(taint)),
                expected,
                "{op} {toleration:?} against taint value {taint:?}"
            );
        }
    }

    /// The values `Lt` and `Gt` read, as upstream reads them:
    /// k8s.io/apimachinery/pkg/api/validate/content/decimal_int_test.go,
    /// `TestIsDecimalInteger` (each input and whether it passes), then the int64 range
    /// (`strconv.ParseInt`, which `compareNumericValues` and `ValidateTolerations` apply
    /// next: `12345678901234567890` passes the first and not the second).
    #[test]
    fn upstream_decimal_integer_cases() {
        let valid = [
            ("0", 0),
            ("1", 1),
            ("2", 2),
            ("5", 5),
            ("9", 9),
            ("-5", -5),
            ("-1", -1),
            ("-9", -9),
            ("100", 100),
            ("234", 234),
            ("345", 345),
            ("456", 456),
            ("567", 567),
            ("678", 678),
            ("789", 789),
            ("890", 890),
            ("999", 999),
            ("123", 123),
            ("-456", -456),
            ("-100", -100),
            ("-987", -987),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("999999999999", 999_999_999_999),
        ];
        for (value, expected) in valid {
            assert_eq!(numeric_value(value), Some(expected), "{value:?}");
        }
        // Canonical, but beyond int64.
        assert_eq!(numeric_value("12345678901234567890"), None);
        assert_eq!(numeric_value("9223372036854775808"), None);
        assert_eq!(numeric_value("-9223372036854775809"), None);
        let invalid = [
            "-0",
            "00",
            "000",
            "0000000",
            "01",
            "02",
            "09",
            "0123",
            "0700",
            "0950",
            "00123",
            "-01",
            "-0123",
            "-00",
            "+123",
            "+5",
            "+0",
            "",
            "-",
            "+",
            " ",
            "   ",
            " 123",
            "123 ",
            "12 3",
            " 123 ",
            "12.3",
            "0.0",
            "-12.5",
            "123.",
            ".123",
            "abc",
            "12a3",
            "a123",
            "123a",
            "ABC",
            "12A3",
            "0x123",
            "0X123",
            "0o777",
            "0b101",
            "1e5",
            "1e-5",
            "1E5",
            "1_000",
            "1,000",
            "1.000",
            "1'000",
            "--123",
            "++123",
            "+-123",
            "-+123",
            "123-",
            "12-3",
            "123+",
            "12+3",
            "\t123",
            "123\t",
            "123\n",
            "123\r",
            "123\x00",
            "123\u{b}",
            "123\u{c}",
            "(123)",
            "[123]",
            "{123}",
            "$123",
            "123%",
            "#123",
            "@123",
            "&123",
            "*123",
            "12/3",
            "12\\3",
            "12|3",
            "12;3",
            "12:3",
            "12?3",
            "12!3",
            "~123",
            "`123",
            "'123'",
            "\"123\"",
            "\u{2212}123",
            "１２３",
            "١٢٣",
            "一二三",
            "123⁴",
            "123₄",
        ];
        for value in invalid {
            assert_eq!(numeric_value(value), None, "{value:?}");
        }
    }

    /// A Windows taint with a numeric value (settings `windowsTaint`), tolerated by `Gt`:
    /// only canonical values count, on either side.
    #[test]
    fn a_numeric_windows_taint_is_tolerated_only_by_canonical_values() {
        let taint = Taint {
            key: "example.com/windows-build".into(),
            value: "20348".into(),
            effect: TaintEffect::NoSchedule,
        };
        let gt = |value: &str| tol("example.com/windows-build", "Gt", value, "");
        assert!(tolerates(&gt("17763"), &taint));
        assert!(names_taint(&gt("17763"), &taint));
        for value in ["+17763", "017763", " 17763", "17763.0", "1.7763e4"] {
            assert!(!tolerates(&gt(value), &taint), "{value:?}");
        }
        assert!(!tolerates(&gt("20348"), &taint));
        let padded = Taint {
            value: "020348".into(),
            ..taint.clone()
        };
        assert!(!tolerates(&gt("17763"), &padded));
        // Equal still compares the strings as written.
        assert!(tolerates(
            &tol("example.com/windows-build", "Equal", "020348", ""),
            &padded
        ));
    }

    #[test]
    fn blanket_tolerations_do_not_name_the_taint() {
        let taint = Taint::default();
        assert!(!names_taint(&tol("", "Exists", "", ""), &taint));
        assert!(names_taint(&tol("os", "Exists", "", ""), &taint));
        assert!(names_taint(&tol("os", "Equal", "windows", ""), &taint));
    }
}
