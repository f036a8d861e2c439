//! Helpers for the rules' unit tests.

use crate::engine::{ActedFinding, Evaluation, Module, evaluate_workload, run_rules};
use crate::host::NoHostCalls;
use crate::rule::{Finding, Rule};
use crate::settings::Settings;
use crate::workload::{Workload, WorkloadKind};
use serde_json::Value;

pub fn settings(value: Value) -> Settings {
    Settings::from_value(&value).expect("test settings are valid")
}

fn kind_of(object: &Value) -> WorkloadKind {
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/').map(|(g, _)| g))
        .unwrap_or("");
    WorkloadKind::from_group_kind(group, object["kind"].as_str().unwrap_or("Pod"))
        .expect("a workload kind")
}

fn single_rule_module(rule: &'static dyn Rule) -> Module {
    Module {
        name: "test",
        rules: Box::leak(Box::new([rule])),
    }
}

/// The findings of one rule in one pass over `object` (with its action applied: the
/// patch is kept only when the rule's action is mutate).
pub fn acted(rule: &'static dyn Rule, object: &Value, settings_value: Value) -> Vec<ActedFinding> {
    let settings = settings(settings_value);
    let workload = Workload::from_object(kind_of(object), object).expect("a valid workload");
    run_rules(
        &single_rule_module(rule),
        &settings,
        &NoHostCalls,
        object,
        &workload,
    )
    .1
}

/// The findings of one rule with default settings.
pub fn findings(rule: &'static dyn Rule, object: &Value) -> Vec<Finding> {
    acted(rule, object, Value::Null)
        .into_iter()
        .map(|a| a.finding)
        .collect()
}

/// A full evaluation (all passes) of `object` by `module`.
pub fn evaluate(module: &Module, object: &Value, settings_value: Value) -> Evaluation {
    evaluate_workload(
        module,
        &settings(settings_value),
        &NoHostCalls,
        kind_of(object),
        object,
    )
}

/// The object after applying every patch of `findings`.
#[allow(dead_code)]
pub fn patched(object: &Value, findings: &[Finding]) -> Value {
    let mut out = object.clone();
    for f in findings {
        crate::patch::apply(&mut out, &f.patch).expect("patch applies");
    }
    out
}
