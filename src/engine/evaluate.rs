//! The rule engine: decode once, resolve the OS once, run the module's enabled rules,
//! and combine their findings into one decision.
//!
//! A finding takes its rule's action, with two per-finding exceptions: an advisory
//! finding warns where its rule would reject, and a fix the settings opted in to
//! (WIN-6 `stripLinuxNoOps`) is applied whatever the action.
//!
//! Any rejecting finding rejects (all of them are listed). Otherwise the patches of
//! mutating findings are applied to the original object, and the result is evaluated
//! again until no rule proposes a patch: one rule's fix can make another rule apply (an
//! OS selector added by OS-1 makes the pod a Windows pod for OS-3), and a mutated object
//! must come back unchanged when it is reviewed again.
//!
//! An UPDATE is reviewed as [`lifecycle`] says: untouched when it leaves the pod spec as
//! it was; else evaluated, with the fixes the API server would refuse for the kind
//! turned into warnings and, where the update cannot change what is wrong, the
//! violations the old object already had warning instead of rejecting.

use crate::engine::lifecycle::{self, PatchScope, Review};
use crate::engine::module::Module;
use crate::engine::rule::{
    Action, AppliesTo, ClusterNodes, Context, Finding, PassFacts, RequestFacts, RuleId,
    RuntimeClassContext,
};
use crate::facts::host::{HostCalls, MemoHostCalls};
use crate::facts::images::known_images;
use crate::facts::target_os::{TargetOs, resolve_target_os};
use crate::k8s::first_seen::FirstSeen;
use crate::k8s::patch;
use crate::k8s::path::FieldPath;
use crate::k8s::request::{AdmissionRequest, JsonObject};
use crate::k8s::runtime_class::RuntimeClass;
use crate::k8s::workload::{Workload, WorkloadKind};
use crate::settings::Settings;
use serde_json::Value;

/// A finding with the action that was taken on it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActedFinding {
    pub finding: Finding,
    /// `Reject`, `Warn` or `Mutate` (a mutate finding whose patch was applied).
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Accept,
    Reject,
    /// Accept the object as patched (as JSON text when its fixes could splice it).
    Mutate(JsonObject),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    pub findings: Vec<ActedFinding>,
    /// The resolved OS of the original pod, when the object is a workload.
    pub target_os: Option<TargetOs>,
    /// Set when the request could not be evaluated (it is then rejected with this).
    pub error: Option<String>,
}

impl Evaluation {
    fn accept() -> Self {
        Evaluation {
            decision: Decision::Accept,
            findings: Vec::new(),
            target_os: None,
            error: None,
        }
    }

    fn error(message: String) -> Self {
        Evaluation {
            decision: Decision::Reject,
            findings: Vec::new(),
            target_os: None,
            error: Some(message),
        }
    }

    pub fn rejections(&self) -> impl Iterator<Item = &Finding> {
        self.with_action(Action::Reject)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.with_action(Action::Warn)
    }

    pub fn mutations(&self) -> impl Iterator<Item = &Finding> {
        self.with_action(Action::Mutate)
    }

    fn with_action(&self, action: Action) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.action == action)
            .map(|f| &f.finding)
    }
}

/// How many times a mutated object is re-evaluated before giving up. Rules converge in
/// two or three passes; more means two rules undo each other (a bug, reported as such).
const MAX_PASSES: usize = 5;

fn applies(applies_to: AppliesTo, target: TargetOs) -> bool {
    match applies_to {
        AppliesTo::AllPods => true,
        AppliesTo::WindowsPods => target == TargetOs::Windows,
        AppliesTo::LinuxPods => target == TargetOs::Linux,
        AppliesTo::LinuxOrUnknownPods => matches!(target, TargetOs::Linux | TargetOs::Unknown),
        AppliesTo::RuntimeClasses => false,
    }
}

/// One pass of the module's rules over a workload object.
pub(crate) fn run_rules(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    nodes: &ClusterNodes<'_>,
    object: &JsonObject,
    workload: &Workload,
    request: RequestFacts<'_>,
) -> (TargetOs, Vec<ActedFinding>) {
    // With `runtimeClassLookup`, the pod's RuntimeClass as the cluster defines it.
    let completed = match module.runtime_class_lookup {
        Some(lookup) => lookup(settings, workload, host),
        None => std::borrow::Cow::Borrowed(settings),
    };
    let settings: &Settings = &completed;
    let images = known_images(workload, settings);
    let os = resolve_target_os(workload, settings, &images);
    let ctx = Context {
        object,
        workload,
        os: &os,
        settings,
        host,
        module_rules: module.rules,
        facts: PassFacts::with_known_images(images),
        nodes,
        request,
    };
    let mut acted = Vec::new();
    let mut findings = Vec::new();
    for rule in module.rules {
        let meta = rule.meta();
        let action = settings.action_of(*rule);
        if action == Action::Off || !applies(meta.applies_to, os.target) {
            continue;
        }
        findings.clear();
        rule.check(&ctx, &mut findings);
        acted.extend(findings.drain(..).map(|f| act(action, f)));
    }
    acted.extend(node_inventory_failure(module, settings, nodes));
    (os.target, acted)
}

/// A failed read of the cluster's nodes warns once, under the module's first running
/// rule that reads `nodeInventory`: the rules fell back to the settings, and the request
/// is never refused for it.
fn node_inventory_failure(
    module: &Module,
    settings: &Settings,
    nodes: &ClusterNodes<'_>,
) -> Option<ActedFinding> {
    let reason = nodes.failure()?;
    let rule = module.rules.iter().find(|r| {
        r.meta().settings.contains(&"nodeInventory") && settings.action_of(**r) != Action::Off
    })?;
    Some(ActedFinding {
        finding: Finding::new(
            rule.meta().id,
            FieldPath::root(),
            format!(
                "nodeInventory: the cluster's nodes could not be read ({reason}); decided from the settings instead"
            ),
        ),
        action: Action::Warn,
    })
}

/// The action taken on one finding of a rule whose action is `action` (not `Off`).
fn act(action: Action, mut finding: Finding) -> ActedFinding {
    let action = match action {
        _ if finding.opted_in_fix && !finding.patch.is_empty() => Action::Mutate,
        Action::Mutate if finding.patch.is_empty() => Action::Warn,
        Action::Mutate => Action::Mutate,
        other => {
            finding.patch.clear();
            if other == Action::Reject && finding.advisory {
                Action::Warn
            } else {
                other
            }
        }
    };
    ActedFinding { finding, action }
}

/// A rule that warned in an early pass and fixed the same field in a later one (OS-4
/// once WIN-6 stripped the Linux-only fields) reports the fix only.
fn drop_superseded_warnings(mut findings: Vec<ActedFinding>) -> Vec<ActedFinding> {
    let fixed: FindingSet<(RuleId, FieldPath)> = findings
        .iter()
        .filter(|f| f.action == Action::Mutate)
        .map(|f| ((f.finding.rule, f.finding.path.clone()), ()))
        .collect();
    if !fixed.is_empty() {
        findings.retain(|f| {
            f.action != Action::Warn || !fixed.contains(&(f.finding.rule, f.finding.path.clone()))
        });
    }
    findings
}

/// What makes two findings the same: rule, field and message. (The path itself, not its
/// text: rendering every path of a pass costs more than comparing them.)
#[derive(PartialEq, Eq)]
struct FindingKey {
    rule: RuleId,
    path: FieldPath,
    message: String,
}

/// Hashes the rule and the field only: findings that differ by message alone are few
/// (equality still compares it), and the messages are the long part of a finding, so
/// hashing them cost more than the rest of the set.
impl std::hash::Hash for FindingKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rule.hash(state);
        self.path.hash(state);
    }
}

/// Findings (or their keys) seen so far: a set.
type FindingSet<T> = FirstSeen<T, ()>;

fn finding_key(finding: &Finding) -> FindingKey {
    FindingKey {
        rule: finding.rule,
        path: finding.path.clone(),
        message: finding.message.clone(),
    }
}

/// Evaluates a workload object of a known kind, as on CREATE: every fix applies. (For
/// tests and tools: requests go through [`evaluate_request`], which reads the object
/// from its text.)
pub fn evaluate_workload(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    kind: WorkloadKind,
    object: &Value,
) -> Evaluation {
    // As in a request: a module without workload rules leaves workloads untouched,
    // without reading them (so an invalid one is not its to refuse).
    if !module.has_workload_rules() {
        return Evaluation::accept();
    }
    // As text, as a request brings it: the object's fixes are spliced into its text.
    let object = JsonObject::from(object.to_string());
    evaluate_workload_in(module, settings, host, kind, &object, None, None)
}

/// Evaluates an UPDATE of a workload that changes its pod spec (see [`lifecycle`]):
/// a fix outside `scope` is not made but reported as a warning that says why, and
/// where the scope restricts what this update can change, a violation the old object
/// already had warns instead of rejecting (the update cannot remove it).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_workload_update(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    kind: WorkloadKind,
    object: &JsonObject,
    old_object: &JsonObject,
    scope: &PatchScope,
    namespace: Option<&str>,
) -> Evaluation {
    evaluate_workload_in(
        module,
        settings,
        host,
        kind,
        object,
        Some((old_object, scope)),
        namespace,
    )
}

/// What an UPDATE with a restricted scope does to the findings of each pass.
struct Restriction<'a> {
    scope: &'a PatchScope,
    /// The findings of the old object (rule, path, message).
    before: FindingSet<FindingKey>,
}

impl Restriction<'_> {
    /// A fix the API server would refuse in this update warns, saying why; a rejection
    /// the old object already had warns too.
    fn apply(&self, findings: &mut [ActedFinding], object: &JsonObject) {
        for acted in findings {
            match acted.action {
                Action::Mutate => {
                    let refusal = acted
                        .finding
                        .patch
                        .iter()
                        .find_map(|op| self.scope.refusal(op, object));
                    if let Some(reason) = refusal {
                        acted.action = Action::Warn;
                        acted.finding.patch.clear();
                        acted.finding.message = format!(
                            "{} (not fixed in this UPDATE: {reason})",
                            acted.finding.message
                        );
                    }
                }
                Action::Reject if self.before.contains(&finding_key(&acted.finding)) => {
                    acted.action = Action::Warn;
                    acted.finding.message = format!(
                        "{} (not enforced: the object had it before this UPDATE, which cannot remove it)",
                        acted.finding.message
                    );
                }
                _ => {}
            }
        }
    }
}

fn evaluate_workload_in(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    kind: WorkloadKind,
    object: &JsonObject,
    update: Option<(&JsonObject, &PatchScope)>,
    namespace: Option<&str>,
) -> Evaluation {
    let workload = match Workload::from_json(kind, object) {
        Ok(w) => w,
        Err(e) => return Evaluation::error(format!("invalid {}: {e}", kind.kind())),
    };
    // Every pass and every rule asks the host a question once.
    let memo = MemoHostCalls::new(host);
    let host: &dyn HostCalls = &memo;
    let nodes = ClusterNodes::new(module.node_inventory, settings, host);
    let old_request = RequestFacts {
        namespace,
        old_pod: None,
    };
    // The pod as it was, on an UPDATE of a Pod (ID-7 compares its gMSA settings).
    let mut old_pod = None;
    let restriction = match update {
        Some((old_object, scope)) if !scope.is_unrestricted() => {
            let old = match Workload::from_json(kind, old_object) {
                Ok(w) => w,
                Err(e) => {
                    return Evaluation::error(format!(
                        "request.oldObject: invalid {}: {e}",
                        kind.kind()
                    ));
                }
            };
            let (_, findings) = run_rules(
                module,
                settings,
                host,
                &nodes,
                old_object,
                &old,
                old_request,
            );
            if kind == WorkloadKind::Pod {
                old_pod = Some(old);
            }
            Some(Restriction {
                scope,
                before: findings
                    .iter()
                    .map(|f| (finding_key(&f.finding), ()))
                    .collect(),
            })
        }
        _ => None,
    };
    let request = RequestFacts {
        namespace,
        old_pod: old_pod.as_ref(),
    };
    let (target, mut all) = run_rules(module, settings, host, &nodes, object, &workload, request);
    if let Some(restriction) = &restriction {
        restriction.apply(&mut all, object);
    }
    let finish = |decision: Decision, findings: Vec<ActedFinding>| Evaluation {
        decision,
        findings,
        target_os: Some(target),
        error: None,
    };
    // The findings of the latest pass; `None` while that is the first pass (`all`).
    let mut latest: Option<Vec<ActedFinding>> = None;
    let mut current: Option<JsonObject> = None;
    // Whether the fixes applied so far changed the object. Passes never undo each
    // other's fixes: a fix undone would be proposed again, and the passes would not
    // settle. So a change made stays, and the mutated object needs no comparison with
    // the original (which would need the original's tree too).
    let mut changed = false;
    let mut seen: FindingSet<FindingKey> = FindingSet::default();
    for _ in 0..MAX_PASSES {
        let pass = latest.as_deref().unwrap_or(&all);
        if pass.iter().any(|f| f.action == Action::Reject) {
            return finish(Decision::Reject, all);
        }
        let mut fixes = pass
            .iter()
            .filter(|f| f.action == Action::Mutate)
            .map(|f| &f.finding)
            .peekable();
        if fixes.peek().is_none() {
            let decision = match current {
                Some(mutated) if changed => Decision::Mutate(mutated),
                _ => Decision::Accept,
            };
            return finish(decision, drop_superseded_warnings(all));
        }
        // The fixes splice the object's text (every other byte stays as written); the
        // tree is patched only where the text cannot be (see `patch::apply_to_text`).
        let patched = fixed_text(current.as_ref().unwrap_or(object), fixes.clone());
        let next = match patched {
            Some((text, changes)) => {
                changed |= changes;
                JsonObject::from(text)
            }
            None => {
                let mut tree = match current.take() {
                    Some(mutated) => mutated.into_value(),
                    None => object.to_value(),
                };
                for finding in fixes {
                    // A patch that does not apply ends the evaluation, so the tree is
                    // patched in place: no copy of the object per fix.
                    match patch::apply(&mut tree, &finding.patch) {
                        Ok(changes) => changed |= changes,
                        Err(e) => {
                            return Evaluation::error(format!(
                                "internal error: the patch of {} could not be applied ({e})",
                                finding.rule
                            ));
                        }
                    }
                }
                JsonObject::from(tree)
            }
        };
        let workload = match Workload::from_json(kind, &next) {
            Ok(w) => w,
            Err(e) => {
                return Evaluation::error(format!(
                    "internal error: a mutation made the object invalid: {e}"
                ));
            }
        };
        let (_, mut findings) =
            run_rules(module, settings, host, &nodes, &next, &workload, request);
        if let Some(restriction) = &restriction {
            restriction.apply(&mut findings, &next);
        }
        // Report each finding once, as first seen.
        if seen.is_empty() {
            seen.extend(all.iter().map(|f| (finding_key(&f.finding), ())));
        }
        for f in &findings {
            if seen.insert(finding_key(&f.finding), ()) {
                all.push(f.clone());
            }
        }
        latest = Some(findings);
        current = Some(next);
    }
    Evaluation::error(format!(
        "internal error: mutations did not settle after {MAX_PASSES} passes"
    ))
}

/// The text of `object` with the patches of `fixes` applied, and whether they changed
/// it; `None` when the object has no text or a patch cannot splice it.
fn fixed_text<'f>(
    object: &JsonObject,
    fixes: impl Iterator<Item = &'f Finding>,
) -> Option<(String, bool)> {
    let mut text = object.text()?.to_string();
    let mut changed = false;
    for finding in fixes {
        changed |= patch::apply_to_text(&mut text, &finding.patch)?;
    }
    Some((text, changed))
}

/// Evaluates a RuntimeClass object (`node.k8s.io`) with the module's RuntimeClass rules,
/// decoded once. One pass: no RuntimeClass rule mutates (the registry's tests hold them
/// to it), so the decision is the first pass's: reject if any finding rejects, else
/// accept with the warnings. A module without RuntimeClass rules accepts it untouched.
pub fn evaluate_runtime_class(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    object: &Value,
) -> Evaluation {
    let rules = module
        .rules
        .iter()
        .filter(|r| r.meta().applies_to == AppliesTo::RuntimeClasses);
    if rules.clone().next().is_none() {
        return Evaluation::accept();
    }
    let runtime_class: RuntimeClass = match crate::k8s::decode::from_value(object) {
        Ok(rc) => rc,
        Err(e) => return Evaluation::error(format!("invalid RuntimeClass: {e}")),
    };
    let memo = MemoHostCalls::new(host);
    let nodes = ClusterNodes::new(module.node_inventory, settings, &memo);
    let ctx = RuntimeClassContext {
        object,
        runtime_class: &runtime_class,
        settings,
        host: &memo,
        nodes: &nodes,
    };
    let mut all = Vec::new();
    let mut findings = Vec::new();
    for rule in rules {
        let action = settings.action_of(*rule);
        if action == Action::Off {
            continue;
        }
        rule.check_runtime_class(&ctx, &mut findings);
        all.extend(findings.drain(..).map(|f| act(action, f)));
    }
    all.extend(node_inventory_failure(module, settings, &nodes));
    let rejected = all.iter().any(|f| f.action == Action::Reject);
    Evaluation {
        decision: if rejected {
            Decision::Reject
        } else {
            Decision::Accept
        },
        findings: all,
        target_os: None,
        error: None,
    }
}

/// Whether a group and kind name a RuntimeClass.
fn is_runtime_class(group: &str, kind: &str) -> bool {
    group == "node.k8s.io" && kind == "RuntimeClass"
}

/// Whether an UPDATE of a RuntimeClass leaves what RC-2 reads (handler, scheduling,
/// overhead) as it was.
fn runtime_class_unchanged(request: &AdmissionRequest) -> bool {
    request.operation == "UPDATE"
        && ["handler", "scheduling", "overhead"]
            .iter()
            .all(|field| request.object.get(field) == request.old_object.get(field))
}

/// Evaluates an admission request: workloads are checked as [`lifecycle::review`] says
/// (in full on CREATE; an UPDATE that leaves the pod spec as it was is accepted
/// untouched; one that changes it gets only the fixes the API server accepts for the
/// kind), RuntimeClass objects by the modules with RuntimeClass rules, anything else is
/// accepted untouched (as are deletions and subresources other than
/// `ephemeralcontainers`).
pub fn evaluate_request(
    module: &Module,
    settings: &Settings,
    host: &dyn HostCalls,
    request: &AdmissionRequest,
) -> Evaluation {
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
        return Evaluation::accept();
    }
    if !request.sub_resource.is_empty() && request.sub_resource != lifecycle::EPHEMERAL_CONTAINERS {
        return Evaluation::accept();
    }
    let Some(kind) = WorkloadKind::from_group_kind(&request.kind.group, &request.kind.kind) else {
        if is_runtime_class(&request.kind.group, &request.kind.kind)
            && !runtime_class_unchanged(request)
        {
            return evaluate_runtime_class(module, settings, host, &request.object);
        }
        return Evaluation::accept();
    };
    if !module.has_workload_rules() {
        return Evaluation::accept();
    }
    if !request.object.is_object() {
        return Evaluation::error(format!(
            "request.object: a {} {} request carries no object",
            request.kind.kind, request.operation
        ));
    }
    let namespace = Some(request.namespace.as_str()).filter(|n| !n.is_empty());
    match lifecycle::review(kind, request) {
        Err(error) => Evaluation::error(error.0),
        Ok(Review::Create) => evaluate_workload_in(
            module,
            settings,
            host,
            kind,
            &request.object,
            None,
            namespace,
        ),
        Ok(Review::Unchanged) => Evaluation::accept(),
        Ok(Review::Changed { old_object, scope }) => evaluate_workload_update(
            module,
            settings,
            host,
            kind,
            &request.object,
            old_object,
            &scope,
            namespace,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::host::NoHostCalls;
    use crate::k8s::patch::{PatchOp, diff};
    use crate::modules::OS_PLACEMENT;
    use crate::testing::evaluate;
    use serde_json::json;

    #[test]
    fn a_module_looks_up_runtime_classes_exactly_when_a_rule_reads_the_setting() {
        use crate::modules::MODULES;
        for module in MODULES {
            let reads = module
                .rules
                .iter()
                .any(|r| r.meta().settings.contains(&"runtimeClassLookup"));
            assert_eq!(
                module.runtime_class_lookup.is_some(),
                reads,
                "{}",
                module.name
            );
        }
    }

    #[test]
    fn a_module_reads_nodes_exactly_when_a_rule_reads_the_setting() {
        use crate::modules::MODULES;
        for module in MODULES {
            let reads = module
                .rules
                .iter()
                .any(|r| r.meta().settings.contains(&"nodeInventory"));
            assert_eq!(module.node_inventory.is_some(), reads, "{}", module.name);
        }
    }

    #[test]
    fn settings_with_every_fix_turn_on_each_fix_the_module_has() {
        use crate::modules::{MODULES, POD_COMPATIBILITY, RUNTIME_CLASSES};
        let pod = POD_COMPATIBILITY.settings_with_every_fix();
        assert_eq!(pod["rules"]["WIN-6"], "mutate");
        assert_eq!(pod["stripLinuxNoOps"], true);
        assert!(pod["rules"].get("WIN-1").is_none(), "WIN-1 cannot mutate");
        let os = OS_PLACEMENT.settings_with_every_fix();
        assert_eq!(
            os,
            // OS-2 (conflicting OS signals) has no fix: only a person can tell which is meant.
            json!({"rules": {"OS-1": "mutate", "OS-3": "mutate", "OS-4": "mutate", "OS-5": "mutate"}})
        );
        assert_eq!(
            RUNTIME_CLASSES.settings_with_every_fix(),
            json!({"rules": {}})
        );
        for module in MODULES {
            let settings = module.settings(&module.settings_with_every_fix()).unwrap();
            for rule in module.rules {
                let expected = if rule.meta().can_mutate {
                    Action::Mutate
                } else {
                    module.default_action(*rule)
                };
                assert_eq!(settings.action_of(*rule), expected, "{}", rule.meta().id);
            }
        }
    }

    #[test]
    fn mutates_to_a_fixpoint_from_the_original_object() {
        // A Windows image and nothing else: OS-1 pins windows, which makes OS-3 and OS-4
        // apply in the next pass. Unknown fields survive.
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "x-extra": {"keep": [1, 2]}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                 "futureField": true}]}}}});
        let evaluation = evaluate(&OS_PLACEMENT, &object, json!({}));
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {evaluation:?}");
        };
        assert_eq!(
            diff(&object, mutated),
            vec![
                PatchOp::Add {
                    path: "/spec/template/spec/nodeSelector".into(),
                    value: json!({"kubernetes.io/os": "windows"})
                },
                PatchOp::Add {
                    path: "/spec/template/spec/tolerations".into(),
                    value: json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}])
                },
                PatchOp::Add {
                    path: "/spec/template/spec/os".into(),
                    value: json!({"name": "windows"})
                },
            ]
        );
        let rules: Vec<&str> = evaluation.mutations().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["OS-1", "OS-3", "OS-4"]);
        // Evaluated again, the mutated object needs nothing more.
        let again = evaluate(&OS_PLACEMENT, mutated, json!({}));
        assert_eq!(again.decision, Decision::Accept);
        assert!(again.findings.is_empty(), "{:?}", again.findings);
    }

    #[test]
    fn findings_that_differ_by_message_alone_are_two_findings() {
        // The key hashes rule and field only; equality still compares the message, in
        // the scanned set and in the hashed one.
        let key = |i: usize, message: &str| FindingKey {
            rule: RuleId::new("OS-1"),
            path: FieldPath::root().field("containers").index(i),
            message: message.to_owned(),
        };
        let mut set = FindingSet::default();
        for i in 0..100 {
            assert!(set.insert(key(i, "a"), ()), "{i} is new");
            assert!(!set.contains(&key(i, "b")), "{i}, another message");
        }
        assert!((0..100).all(|i| set.insert(key(i, "b"), ())));
    }

    #[test]
    fn a_warning_superseded_by_a_later_fix_is_not_reported() {
        use crate::rules::{LinuxSecurityContextRule, MissingOsNameRule};
        // OS-4 warns while WIN-6's no-op fields are there; once stripped, OS-4 sets os.name.
        let module = Module {
            name: "test",
            rules: &[&LinuxSecurityContextRule, &MissingOsNameRule],
            default_actions: &[],
            runtime_class_lookup: None,
            node_inventory: None,
        };
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false}}]}});
        let evaluation = evaluate(&module, &object, json!({"stripLinuxNoOps": true}));
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {evaluation:?}");
        };
        assert_eq!(mutated["spec"]["os"], json!({"name": "windows"}));
        assert_eq!(
            evaluation.warnings().count(),
            0,
            "{:?}",
            evaluation.findings
        );
        let fixed: Vec<&str> = evaluation.mutations().map(|f| f.rule.as_str()).collect();
        assert_eq!(fixed, ["WIN-6", "OS-4"]);
    }

    #[test]
    fn rejects_listing_every_rejecting_finding_and_drops_patches() {
        let object = json!({"kind": "Pod", "spec": {
            "os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "linux", "beta.kubernetes.io/os": "Windows"},
            "containers": [{"name": "a"}]}});
        let evaluation = evaluate(&OS_PLACEMENT, &object, json!({}));
        assert_eq!(evaluation.decision, Decision::Reject);
        let paths: Vec<String> = evaluation
            .rejections()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(paths, ["spec.nodeSelector[beta.kubernetes.io/os]", "spec"]);
        let response = crate::wapc::response::to_response(&evaluation);
        assert!(!response.accepted);
        let message = response.message.unwrap();
        assert!(
            message.starts_with(
                "2 Windows workload violations: [OS-2] spec.nodeSelector[beta.kubernetes.io/os]: "
            ),
            "{message}"
        );
    }

    #[test]
    fn warnings_ride_along_with_acceptance() {
        let object = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "tolerations": [{"operator": "Exists"}], "containers": [{"name": "a"}]}}}});
        let settings = json!({"rules": {"OS-1": "off"}});
        let evaluation = evaluate(&OS_PLACEMENT, &object, settings);
        assert_eq!(evaluation.decision, Decision::Accept);
        let response = crate::wapc::response::to_response(&evaluation);
        assert!(response.accepted);
        assert_eq!(response.warnings.unwrap().len(), 1);
    }

    #[test]
    fn a_mutating_rule_set_to_reject_rejects_without_patching() {
        let object = json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        let evaluation = evaluate(&OS_PLACEMENT, &object, json!({"rules": {"OS-1": "reject"}}));
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(evaluation.rejections().all(|f| f.patch.is_empty()));
    }

    #[test]
    fn a_module_without_workload_rules_leaves_even_an_invalid_workload_untouched() {
        use crate::modules::{ALL, RUNTIME_CLASSES};
        // Found by the structured_workload fuzz target: the engine and the entry point
        // must agree (tests/fuzz-regressions/structured_workload/).
        let object = json!({"kind": "Pod", "spec": {"containers": [{"name": "a",
            "securityContext": {"readOnlyRootFilesystem": ""}}]}});
        let settings = Settings::default();
        let evaluation = evaluate_workload(
            &RUNTIME_CLASSES,
            &settings,
            &NoHostCalls,
            WorkloadKind::Pod,
            &object,
        );
        assert_eq!(evaluation.decision, Decision::Accept);
        let evaluation =
            evaluate_workload(&ALL, &settings, &NoHostCalls, WorkloadKind::Pod, &object);
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(
            evaluation.error.unwrap().contains("readOnlyRootFilesystem"),
            "names the field"
        );
    }

    #[test]
    fn a_create_is_read_from_the_text_without_a_tree() {
        use crate::k8s::request::decode_validation_request;
        use crate::modules::ALL;
        // The whole object's tree costs more than the rules; only a fix or an UPDATE may
        // build it, and a fix builds its own, so the request's object never keeps one.
        let deployment = |os: &str| {
            json!({"settings": {}, "request": {"uid": "1", "operation": "CREATE",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}]},
                    "spec": {"template": {"spec": {"os": {"name": os},
                        "nodeSelector": {"kubernetes.io/os": os},
                        "containers": [{"name": "a", "image": "nginx:1.27"}]}}}}}})
        };
        for (os, mutated) in [("linux", false), ("windows", true)] {
            let payload = serde_json::to_vec(&deployment(os)).unwrap();
            let request = decode_validation_request(&payload).unwrap().request;
            let settings = ALL.settings(&json!({})).unwrap();
            let evaluation = evaluate_request(&ALL, &settings, &NoHostCalls, &request);
            assert_eq!(
                matches!(evaluation.decision, Decision::Mutate(_)),
                mutated,
                "{os}: {evaluation:?}"
            );
            assert!(!request.object.has_tree(), "{os}");
            // Its fixes are spliced into the text, which the response then carries.
            if let Decision::Mutate(object) = &evaluation.decision {
                assert!(object.text().is_some() && !object.has_tree(), "{object:?}");
            }
        }
    }

    #[test]
    fn a_key_written_twice_on_the_way_is_patched_in_the_tree() {
        use crate::k8s::request::decode_validation_request;
        use crate::modules::ALL;
        // JSON allows a key twice; a `Value` keeps its last value (in its first place).
        // The text cannot be spliced as that tree would be patched, so the tree is.
        let template = |os: &str| {
            format!(
                r#"{{"spec": {{"os": {{"name": "{os}"}}, "nodeSelector": {{"kubernetes.io/os": "{os}"}}, "containers": [{{"name": "a", "image": "nginx"}}]}}}}"#
            )
        };
        let request = |templates: &str| {
            format!(
                r#"{{"settings": {{}}, "request": {{"uid": "1", "operation": "CREATE",
                "kind": {{"group": "apps", "version": "v1", "kind": "Deployment"}},
                "object": {{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "a"}},
                "spec": {{{templates}}}}}}}}}"#
            )
        };
        let twice = request(&format!(
            r#""template": {}, "template": {}"#,
            template("linux"),
            template("windows")
        ));
        let once = request(&format!(r#""template": {}"#, template("windows")));
        let settings = ALL.settings(&json!({})).unwrap();
        let evaluate = |payload: &str| {
            let request = decode_validation_request(payload.as_bytes())
                .unwrap()
                .request;
            evaluate_request(&ALL, &settings, &NoHostCalls, &request)
        };
        let (twice, once) = (evaluate(&twice), evaluate(&once));
        let Decision::Mutate(mutated) = &twice.decision else {
            panic!("the Windows template, the last written, is fixed: {twice:?}");
        };
        assert!(mutated.text().is_none(), "patched as a tree");
        assert_eq!(twice, once);
    }

    #[test]
    fn other_kinds_deletions_and_subresources_are_accepted_untouched() {
        let settings = Settings::default();
        let mut request = AdmissionRequest {
            operation: "CREATE".into(),
            object: json!({"kind": "ConfigMap"}).into(),
            ..Default::default()
        };
        request.kind.kind = "ConfigMap".into();
        assert_eq!(
            evaluate_request(&OS_PLACEMENT, &settings, &NoHostCalls, &request).decision,
            Decision::Accept
        );
        request.kind.kind = "Pod".into();
        request.operation = "DELETE".into();
        assert_eq!(
            evaluate_request(&OS_PLACEMENT, &settings, &NoHostCalls, &request).decision,
            Decision::Accept
        );
        request.operation = "UPDATE".into();
        request.sub_resource = "status".into();
        assert_eq!(
            evaluate_request(&OS_PLACEMENT, &settings, &NoHostCalls, &request).decision,
            Decision::Accept
        );
        request.sub_resource = "ephemeralcontainers".into();
        request.object = json!(null).into();
        let evaluation = evaluate_request(&OS_PLACEMENT, &settings, &NoHostCalls, &request);
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(evaluation.error.unwrap().starts_with("request.object:"));
    }

    #[test]
    fn runtime_class_requests_reach_runtime_class_rules_only() {
        use crate::modules::{IMAGE_COMPATIBILITY, RUNTIME_CLASSES};
        let settings = Settings::default();
        let mut request = AdmissionRequest {
            operation: "CREATE".into(),
            object: json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "windows"}, "handler": "runhcs-wcow-process"})
            .into(),
            ..Default::default()
        };
        request.kind.group = "node.k8s.io".into();
        request.kind.kind = "RuntimeClass".into();
        let evaluation = evaluate_request(&RUNTIME_CLASSES, &settings, &NoHostCalls, &request);
        assert_eq!(evaluation.decision, Decision::Reject);
        let rules: Vec<&str> = evaluation.rejections().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["RC-2", "RC-2"]);
        assert_eq!(evaluation.target_os, None);
        // Modules without RuntimeClass rules accept it untouched; so do other groups.
        for module in [&IMAGE_COMPATIBILITY, &OS_PLACEMENT] {
            let evaluation = evaluate_request(module, &settings, &NoHostCalls, &request);
            assert_eq!(evaluation.decision, Decision::Accept);
            assert!(evaluation.findings.is_empty());
        }
        request.kind.group = "example.com".into();
        let evaluation = evaluate_request(&RUNTIME_CLASSES, &settings, &NoHostCalls, &request);
        assert_eq!(evaluation.decision, Decision::Accept);
        // Workloads are not the RuntimeClass module's business.
        let pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            evaluate(&RUNTIME_CLASSES, &pod, json!({})).decision,
            Decision::Accept
        );
    }

    #[test]
    fn host_lookups_are_asked_once_per_request() {
        use crate::modules::IMAGE_COMPATIBILITY;
        use crate::testing::{FixtureHost, evaluate_with};
        let host = FixtureHost::recorded();
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a", "image": "registry.example.com/team/legacy-app:4.8"},
                           {"name": "b", "image": "registry.example.com/team/legacy-app:4.8"}]}});
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &object,
            json!({"imageLookup": {"enabled": true}}),
            &host,
        );
        // IMG-4 pins 10.0.17763, then the mutated pod is evaluated again.
        assert!(
            matches!(evaluation.decision, Decision::Mutate(_)),
            "{evaluation:?}"
        );
        assert_eq!(host.calls().len(), 2, "{:?}", host.calls());
    }

    /// An UPDATE request of `kind` (group from `apiVersion`) from `old` to `new`.
    fn update(new: &Value, old: &Value) -> AdmissionRequest {
        let group = new["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map_or("", |(group, _)| group);
        let kind = new["kind"].as_str().unwrap();
        AdmissionRequest::update(group, kind, new.clone(), old.clone())
    }

    fn evaluate_update(module: &Module, new: &Value, old: &Value) -> Evaluation {
        let settings = module.settings(&Value::Null).unwrap();
        evaluate_request(module, &settings, &NoHostCalls, &update(new, old))
    }

    fn messages(evaluation: &Evaluation) -> Vec<String> {
        evaluation
            .findings
            .iter()
            .map(|f| format!("{} {}", f.action, f.finding))
            .collect()
    }

    #[test]
    fn a_metadata_only_update_of_an_existing_pod_is_accepted_untouched() {
        // CREATE would add /spec/nodeSelector; the API server refuses that on UPDATE
        // (ValidatePodUpdate), so a label or a removed finalizer must pass as it is.
        let old = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "finalizers": ["example.com/cleanup"], "deletionTimestamp": "2026-11-28T10:00:00Z"},
            "spec": {"containers": [{"name": "a", "image": "nginx"}]}});
        let mut new = old.clone();
        new["metadata"]["finalizers"] = json!([]);
        new["metadata"]["labels"] = json!({"team": "web"});
        let evaluation = evaluate_update(&crate::modules::ALL, &new, &old);
        assert_eq!(evaluation.decision, Decision::Accept);
        assert!(evaluation.findings.is_empty(), "{:?}", evaluation.findings);
    }

    #[test]
    fn a_pod_update_gets_only_the_fixes_the_api_server_accepts() {
        // A Windows-pinned pod without the toleration and os.name: an image update may
        // add the toleration (validateOnlyAddedTolerations) but not spec.os.
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "iis"},
            "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] =
            json!("mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022");
        let evaluation = evaluate_update(&OS_PLACEMENT, &new, &old);
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {:?}", messages(&evaluation));
        };
        assert_eq!(
            diff(&new, mutated),
            vec![PatchOp::Add {
                path: "/spec/tolerations".into(),
                value: json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}])
            }]
        );
        let os4 = evaluation.warnings().find(|f| f.rule == "OS-4").unwrap();
        assert!(
            os4.message.ends_with("(not fixed in this UPDATE: the API server refuses this change to an existing Pod, whose spec may only change its images, activeDeadlineSeconds and add tolerations (ValidatePodUpdate))"),
            "{}", os4.message
        );
        // The mutated object, updated again, needs nothing more.
        let again = evaluate_update(&OS_PLACEMENT, mutated, &old);
        assert!(
            !matches!(again.decision, Decision::Mutate(_)),
            "{:?}",
            messages(&again)
        );
    }

    #[test]
    fn an_unpinned_pod_update_warns_where_create_would_pin() {
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "a", "image": "nginx:1.26"}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        let evaluation = evaluate_update(&crate::modules::ALL, &new, &old);
        assert_eq!(
            evaluation.decision,
            Decision::Accept,
            "{:?}",
            messages(&evaluation)
        );
        let os1 = evaluation.warnings().find(|f| f.rule == "OS-1").unwrap();
        assert_eq!(os1.path.to_string(), "spec.nodeSelector");
        assert!(
            os1.message.contains("not fixed in this UPDATE"),
            "{}",
            os1.message
        );
        // A pod still held by scheduling gates may gain the selector.
        let mut gated_old = old.clone();
        gated_old["spec"]["schedulingGates"] = json!([{"name": "example.com/quota"}]);
        let mut gated_new = new.clone();
        gated_new["spec"]["schedulingGates"] = gated_old["spec"]["schedulingGates"].clone();
        let evaluation = evaluate_update(&crate::modules::ALL, &gated_new, &gated_old);
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {:?}", messages(&evaluation));
        };
        assert_eq!(
            diff(&gated_new, mutated),
            vec![PatchOp::Add {
                path: "/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "linux"})
            }]
        );
    }

    #[test]
    fn violations_the_old_pod_had_warn_and_new_ones_reject() {
        use crate::modules::POD_COMPATIBILITY;
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"},
            "spec": {"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"},
                "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                    "securityContext": {"privileged": true}}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] =
            json!("mcr.microsoft.com/windows/nanoserver:ltsc2022-amd64");
        let evaluation = evaluate_update(&POD_COMPATIBILITY, &new, &old);
        assert_eq!(
            evaluation.decision,
            Decision::Accept,
            "{:?}",
            messages(&evaluation)
        );
        let win1 = evaluation.warnings().find(|f| f.rule == "WIN-1").unwrap();
        assert!(
            win1.message.ends_with(
                "(not enforced: the object had it before this UPDATE, which cannot remove it)"
            ),
            "{}",
            win1.message
        );
        // The same update on a pod that was compliant introduces nothing new either; an
        // ephemeral container that is privileged is new, and rejects.
        let mut debug = old.clone();
        debug["spec"]["ephemeralContainers"] = json!([{"name": "debugger", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "securityContext": {"privileged": true}}]);
        let mut request = update(&debug, &old);
        request.sub_resource = "ephemeralcontainers".into();
        let settings = POD_COMPATIBILITY.settings(&Value::Null).unwrap();
        let evaluation = evaluate_request(&POD_COMPATIBILITY, &settings, &NoHostCalls, &request);
        assert_eq!(
            evaluation.decision,
            Decision::Reject,
            "{:?}",
            messages(&evaluation)
        );
        let rejected: Vec<String> = evaluation
            .rejections()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(
            rejected,
            ["spec.ephemeralContainers[0].securityContext.privileged"]
        );
    }

    #[test]
    fn a_job_template_changes_only_while_suspended() {
        let job = |suspend: bool| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"suspend": suspend, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "a", "image": "busybox:1.36"}]}}}})
        };
        let relabel = |job: &Value| {
            let mut new = job.clone();
            new["metadata"]["labels"] = json!({"a": "b"});
            new
        };
        // A label on the Job: its template is the same, nothing to do.
        let evaluation = evaluate_update(&OS_PLACEMENT, &relabel(&job(false)), &job(false));
        assert_eq!(evaluation.decision, Decision::Accept);
        assert!(evaluation.findings.is_empty());
        // A suspended Job that changes its template may get the node selector; a
        // running one may not (validatePodTemplateUpdate).
        let retemplate = |job: &Value| {
            let mut new = job.clone();
            new["spec"]["template"]["metadata"] = json!({"labels": {"tier": "batch"}});
            new
        };
        let evaluation = evaluate_update(&OS_PLACEMENT, &retemplate(&job(true)), &job(true));
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {:?}", messages(&evaluation));
        };
        assert_eq!(
            diff(&retemplate(&job(true)), mutated),
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "linux"})
            }]
        );
        let evaluation = evaluate_update(&OS_PLACEMENT, &retemplate(&job(false)), &job(false));
        assert_eq!(
            evaluation.decision,
            Decision::Accept,
            "{:?}",
            messages(&evaluation)
        );
        assert!(
            evaluation
                .warnings()
                .any(|f| f.rule == "OS-1" && f.message.contains("validatePodTemplateUpdate"))
        );
    }

    #[test]
    fn a_deployment_template_change_is_reviewed_as_a_create() {
        // The template is mutable: the fixes apply, and a violation rejects even when
        // the old template had it (the ReplicaSet it makes would be rejected anyway).
        use crate::modules::POD_COMPATIBILITY;
        let old = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"os": {"name": "windows"}, "hostNetwork": true,
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}}}});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("mcr.microsoft.com/windows/servercore:ltsc2022");
        let evaluation = evaluate_update(&POD_COMPATIBILITY, &new, &old);
        assert_eq!(
            evaluation.decision,
            Decision::Reject,
            "{:?}",
            messages(&evaluation)
        );
        let evaluation = evaluate_update(&OS_PLACEMENT, &new, &old);
        assert!(
            matches!(evaluation.decision, Decision::Mutate(_)),
            "{:?}",
            messages(&evaluation)
        );
    }

    #[test]
    fn an_update_without_its_old_object_is_a_clear_rejection() {
        let new =
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        let evaluation = evaluate_update(&OS_PLACEMENT, &new, &Value::Null);
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(
            evaluation
                .error
                .unwrap()
                .starts_with("request.oldObject: an UPDATE of a Pod must carry")
        );
        // An old object whose pod spec cannot be read, on an update that changes it.
        let old = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "none"}});
        let evaluation = evaluate_update(&OS_PLACEMENT, &new, &old);
        assert_eq!(evaluation.decision, Decision::Reject);
        let error = evaluation.error.unwrap();
        assert!(
            error.starts_with("request.oldObject: invalid Pod: spec.containers"),
            "{error}"
        );
    }
}
