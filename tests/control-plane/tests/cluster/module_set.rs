//! Every single module as a webhook of its own, as `examples/hybrid-cluster.yaml` deploys
//! them: the mutating ones called one after the other in the order of their
//! configurations' names, each on the object as the one before patched it, then the
//! validating ones on the final object (`staging/src/k8s.io/apiserver/pkg/admission/
//! plugin/webhook/mutating/dispatcher.go`, `.../validating/dispatcher.go`).
//!
//! Judged against the corpus expectations (`tests/wapc-host/tests/expected/`, one file per
//! module, reasoned from the catalogue): an object is denied exactly when some module
//! expects to reject it, with the message of one that does; otherwise it is stored
//! carrying every fix the modules expect to make. And against the chain itself: each
//! webhook saw the object as the one before it left it, and what is stored is the
//! last patch applied.

use crate::objects::{Answer, Applied};
use crate::{Report, admitted_part, differences, webhooks};
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wapc_test_host::PatchOp;
use wapc_test_host::webhook::{Verdict, WebhookDecision};
use wapc_test_host::workspace_root;

/// The single modules, each served as `clusterwide-<module>`.
pub fn single_modules() -> Vec<&'static str> {
    windows_workload_rules::modules::MODULES
        .iter()
        .map(|m| m.name)
        .filter(|name| *name != crate::FLAGSHIP)
        .collect()
}

/// One corpus expectation (the fields the cluster needs).
#[derive(Deserialize)]
struct Expectation {
    file: String,
    object: String,
    decision: String,
    #[serde(default)]
    patch: Option<Vec<PatchOp>>,
}

/// The expectations files and the module each is about.
const EXPECTATIONS: &[(&str, &str)] = &[
    ("gmsa.yaml", "windows-gmsa"),
    ("identity.yaml", "windows-identity"),
    ("image_compatibility.yaml", "windows-image-compatibility"),
    ("os_placement.yaml", "windows-os-placement"),
    ("pod_compatibility.yaml", "windows-pod-compatibility"),
    ("resources.yaml", "windows-resources"),
];

/// One module's expectation of an object: (module, decision, patch).
type ModuleExpectation = (String, String, Vec<PatchOp>);

/// What the modules expect of each corpus object, by `(file, Kind/namespace/name)`.
pub struct Expected(BTreeMap<(String, String), Vec<ModuleExpectation>>);

pub fn expectations() -> Result<Expected> {
    let dir = workspace_root().join("tests/wapc-host/tests/expected");
    let mut by_object: BTreeMap<(String, String), Vec<ModuleExpectation>> = BTreeMap::new();
    for (file, module) in EXPECTATIONS {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let list: Vec<Expectation> =
            serde_yaml::from_str(&text).with_context(|| path.display().to_string())?;
        for expectation in list {
            by_object
                .entry((expectation.file, expectation.object))
                .or_default()
                .push((
                    module.to_string(),
                    expectation.decision,
                    expectation.patch.unwrap_or_default(),
                ));
        }
    }
    Ok(Expected(by_object))
}

impl Expected {
    /// The expectations of a corpus object (its source is `corpus/<file>#<n>`).
    fn of(&self, item: &Applied) -> Option<&Vec<ModuleExpectation>> {
        let file = item.source.strip_prefix("corpus/")?;
        let file = file.rsplit_once('#').map_or(file, |(f, _)| f);
        self.0.get(&(file.to_owned(), item.label.clone()))
    }
}

/// Whether `stored` carries what `op` wrote: the value at its path holds every entry of
/// the value written (a list: each element; a map: each key), or, for a removal, no value.
fn carries(stored: &Value, op: &PatchOp) -> bool {
    let op = serde_json::to_value(op).unwrap_or(Value::Null);
    let path = op["path"].as_str().unwrap_or_default();
    // An add at the end of a list (`/-`) or at an index: the list holds the value.
    let (pointer, into_list) = match path.rsplit_once('/') {
        Some((parent, last)) if last == "-" || last.parse::<usize>().is_ok() => (parent, true),
        _ => (path, false),
    };
    let at = stored.pointer(pointer);
    match op["op"].as_str() {
        Some("remove") => at.is_none() || into_list,
        Some("add" | "replace") => {
            let written = &op["value"];
            match at {
                None => false,
                Some(Value::Array(items)) if into_list => items.contains(written),
                Some(found) => holds(found, written),
            }
        }
        _ => true,
    }
}

fn holds(found: &Value, written: &Value) -> bool {
    match (found, written) {
        (Value::Array(items), Value::Array(wanted)) => wanted.iter().all(|w| items.contains(w)),
        (Value::Object(fields), Value::Object(wanted)) => wanted
            .iter()
            .all(|(k, w)| fields.get(k).is_some_and(|f| holds(f, w))),
        _ => found == written,
    }
}

/// The API server's answer for one object against the chain of webhooks it called and
/// the corpus expectations.
pub fn judge(
    report: &mut Report,
    item: &Applied,
    decisions: &[WebhookDecision],
    answer: &Answer,
    expected: &Expected,
) {
    let what = format!("{} ({})", item.label, item.source);
    // The chain: each webhook saw the object the one before it left.
    let mut current: Option<Value> = None;
    let mut denial: Option<&WebhookDecision> = None;
    for decision in decisions {
        if let Some(previous) = &current {
            let mut lines = Vec::new();
            differences(
                "",
                &admitted_part(previous),
                &admitted_part(&decision.object),
                &mut lines,
            );
            if !lines.is_empty() {
                report.unexpected.push(format!(
                    "{what}: {} saw another object than the webhook before left: {}",
                    decision.policy,
                    lines.join("; ")
                ));
            }
        }
        if matches!(decision.decision, Verdict::Rejected | Verdict::Error) {
            denial.get_or_insert(decision);
        }
        match decision.patched_object() {
            Ok(patched) => current = Some(patched),
            Err(e) => report.patches_refused.push(format!(
                "{what}: {}'s patch does not apply: {e:#}",
                decision.policy
            )),
        }
    }
    match (denial, answer) {
        (_, Answer::NotServed(_)) => {}
        (Some(decision), Answer::Refused { message, .. }) => {
            report.denied += 1;
            let ours = decision.message.as_deref().unwrap_or_default();
            if !message.contains(ours) {
                report.unexpected.push(format!(
                    "{what}: denied with {message:?}, not with {}'s message {ours:?}",
                    decision.policy
                ));
            }
        }
        (Some(decision), Answer::Created(_)) => report.unexpected.push(format!(
            "{what}: stored, though {} rejected it",
            decision.policy
        )),
        (
            None,
            Answer::Refused {
                code,
                reason,
                message,
            },
        ) => {
            let patched = decisions.iter().any(|d| !d.patch.is_empty());
            let line = format!("{what}: the API server refused it ({code} {reason}): {message}");
            if patched {
                report.patches_refused.push(line);
            } else {
                report.unexpected.push(line);
            }
        }
        (None, Answer::Created(stored)) => {
            report.created += 1;
            if decisions.iter().any(|d| !d.patch.is_empty()) {
                report.mutated += 1;
            }
            if let Some(last) = &current {
                let mut lines = Vec::new();
                differences("", &admitted_part(last), &admitted_part(stored), &mut lines);
                if !lines.is_empty() {
                    report.patches_refused.push(format!(
                        "{what}: stored otherwise than the last webhook patched it: {}",
                        lines.join("; ")
                    ));
                }
            }
        }
    }
    // The corpus expectations, reasoned from the catalogue.
    let Some(expectations) = expected.of(item) else {
        return;
    };
    let rejecting: Vec<&str> = expectations
        .iter()
        .filter(|(_, decision, _)| decision == "reject")
        .map(|(module, _, _)| module.as_str())
        .collect();
    match answer {
        Answer::Refused { message, .. } if rejecting.is_empty() => report.unexpected.push(format!(
            "{what}: denied ({message}), but no module's expectation rejects it"
        )),
        Answer::Refused { message, .. } => {
            let by = denial.map(|d| d.policy.trim_start_matches("clusterwide-"));
            if !by.is_some_and(|module| rejecting.contains(&module)) {
                report.unexpected.push(format!(
                    "{what}: denied by {by:?} ({message}), expected by one of {rejecting:?}"
                ));
            }
        }
        Answer::Created(_) if !rejecting.is_empty() => report.unexpected.push(format!(
            "{what}: stored, but {rejecting:?} expect to reject it"
        )),
        Answer::Created(stored) => {
            for (module, _, patch) in expectations {
                for op in patch {
                    if !carries(stored, op) {
                        report.unexpected.push(format!(
                            "{what}: the stored object lacks {module}'s expected fix {}",
                            serde_json::to_string(op).unwrap_or_default()
                        ));
                    }
                }
            }
        }
        Answer::NotServed(_) => {}
    }
}

/// The webhooks' policies: `(policy id, module, may mutate)`.
pub fn policies() -> Result<Vec<(String, &'static str, bool)>> {
    single_modules()
        .into_iter()
        .map(|module| {
            let metadata = webhooks::metadata(module)?;
            Ok((
                webhooks::unique_name(module),
                module,
                metadata.get("mutating").and_then(Value::as_bool) == Some(true),
            ))
        })
        .collect()
}
