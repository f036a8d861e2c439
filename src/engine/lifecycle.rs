//! What an admission request may still change: the one place that knows how a CREATE,
//! an UPDATE and the `ephemeralcontainers` subresource differ, for every workload kind.
//!
//! A CREATE is reviewed in full. An UPDATE reaches an object that exists already, often
//! one created before the policy was installed, and most UPDATEs change no pod spec at
//! all (labels, annotations, finalizers, owner references): the object already runs as it
//! is, so such an update is accepted untouched. This is Pod Security Admission's rule
//! (`isSignificantPodUpdate` in `staging/src/k8s.io/pod-security-admission/admission/
//! admission.go`: "Nothing we care about changed, so always allow the update"); where
//! PSA looks at images and container counts only, the whole pod spec (or pod template)
//! is compared here, and the pod's own `kubernetes.io/os` label, which the kubelet reads.
//!
//! An UPDATE that changes the pod spec is evaluated, but a patch must be one the API
//! server accepts for that kind (a mutating webhook's patch that fails update
//! validation fails the whole request, so a wrong fix would block the update):
//!
//! - Pod: the spec is immutable but for images, `activeDeadlineSeconds`, added
//!   tolerations and removed scheduling gates; while the old pod still has scheduling
//!   gates, `nodeSelector` and node affinity may gain entries
//!   (`ValidatePodUpdate`, `validateOnlyAddedTolerations`,
//!   `validateNodeSelectorMutation`, `validateNodeAffinityMutation` in
//!   `pkg/apis/core/validation/validation.go`). Pod metadata labels and annotations may
//!   change.
//! - Job: `spec.template` is immutable, except that a Job that is suspended and has
//!   never started may change its template's node selector, tolerations, node
//!   affinity, scheduling gates, labels and annotations (`validatePodTemplateUpdate` in
//!   `pkg/apis/batch/validation/validation.go`; `AllowMutableSchedulingDirectives` is
//!   `suspended && notStarted` in `pkg/registry/batch/job/strategy.go`). `os` never.
//! - `pods/ephemeralcontainers`: the API server keeps nothing of the request but the
//!   ephemeral containers (`dropNonEphemeralContainerUpdates` in
//!   `pkg/registry/core/pod/strategy.go`), and existing ones cannot change
//!   (`ValidatePodEphemeralContainersUpdate`): only the containers this update adds may
//!   be patched.
//! - Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, CronJob:
//!   the pod template may change; every fix applies, as on CREATE.

use crate::k8s::patch::{PatchOp, pointer_tokens};
use crate::k8s::request::{AdmissionRequest, JsonObject};
use crate::k8s::workload::WorkloadKind;
use serde_json::Value;

/// The `ephemeralcontainers` subresource of a Pod: what `kubectl debug` sends.
pub const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

/// How a workload request is reviewed.
#[derive(Debug, Clone, PartialEq)]
pub enum Review<'a> {
    /// A new object: every rule runs and every fix applies.
    Create,
    /// An UPDATE that leaves the pod spec (and the pod's OS label) as it was.
    Unchanged,
    /// An UPDATE that changes the pod spec: evaluated, with patches limited to `scope`.
    Changed {
        old_object: &'a JsonObject,
        scope: PatchScope,
    },
}

/// What a patch may change in an UPDATE, by kind and subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchScope {
    /// The pod template is mutable (Deployment, ReplicaSet, StatefulSet, DaemonSet,
    /// ReplicationController, CronJob).
    Any,
    /// A Pod: only added tolerations; while `gated` (the old pod has scheduling gates),
    /// also added `nodeSelector` entries and node affinity requirements.
    Pod { gated: bool },
    /// A Job: nothing in `spec.template`, unless `scheduling_mutable` (suspended and
    /// never started); then its scheduling directives and template metadata.
    Job { scheduling_mutable: bool },
    /// `pods/ephemeralcontainers`: only the ephemeral containers at these indices (the
    /// ones this update adds).
    NewEphemeralContainers { added: Vec<usize> },
}

/// Why a request's lifecycle cannot be told; the request is rejected with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleError(pub String);

impl std::fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How `request` (a workload of `kind`, with an object) is to be reviewed. An UPDATE
/// must carry the object's previous state (`oldObject`), as the API server always sends
/// it; without it nothing tells which fixes the API server would accept.
pub fn review<'a>(
    kind: WorkloadKind,
    request: &'a AdmissionRequest,
) -> Result<Review<'a>, LifecycleError> {
    if request.operation != "UPDATE" {
        return Ok(Review::Create);
    }
    let old_object = &request.old_object;
    if !old_object.is_object() {
        let found = if old_object.is_null() {
            "none".to_string()
        } else {
            crate::k8s::decode::json_type(old_object).to_string()
        };
        return Err(LifecycleError(format!(
            "request.oldObject: an UPDATE of a {} must carry the object's previous state \
             as a JSON object (the API server always sends it), found {found}",
            kind.kind()
        )));
    }
    if !pod_template_changed(kind, &request.object, old_object) {
        return Ok(Review::Unchanged);
    }
    let scope = if request.sub_resource == EPHEMERAL_CONTAINERS {
        PatchScope::NewEphemeralContainers {
            added: added_ephemeral_containers(&request.object, old_object),
        }
    } else {
        match kind {
            WorkloadKind::Pod => PatchScope::Pod {
                gated: old_object
                    .pointer("/spec/schedulingGates")
                    .and_then(Value::as_array)
                    .is_some_and(|gates| !gates.is_empty()),
            },
            WorkloadKind::Job => PatchScope::Job {
                scheduling_mutable: old_object.pointer("/spec/suspend") == Some(&Value::Bool(true))
                    && old_object
                        .pointer("/status/startTime")
                        .is_none_or(Value::is_null),
            },
            _ => PatchScope::Any,
        }
    };
    Ok(Review::Changed { old_object, scope })
}

/// The value at the end of `fields` in `object`.
fn at<'a>(object: &'a Value, fields: &[&str]) -> Option<&'a Value> {
    fields
        .iter()
        .try_fold(object, |node, field| node.get(field))
}

/// Whether an UPDATE changes what the rules read: a Pod's spec or its OS label; a pod
/// template (spec and metadata, so that a `kubectl rollout restart` is evaluated and
/// the ReplicaSet it creates matches its Deployment's template).
fn pod_template_changed(kind: WorkloadKind, object: &Value, old_object: &Value) -> bool {
    let spec = kind.pod_spec_fields();
    if kind != WorkloadKind::Pod {
        // The pod template: where the pod spec and the pod's metadata sit.
        let template = &spec[..spec.len() - 1];
        return at(object, template) != at(old_object, template);
    }
    let os_label = |o| {
        at(o, kind.pod_metadata_fields())
            .and_then(|metadata| metadata.get("labels"))
            .and_then(|labels| labels.get(crate::windows::os::OS_LABEL))
    };
    at(object, spec) != at(old_object, spec) || os_label(object) != os_label(old_object)
}

/// The indices of the ephemeral containers of `object` whose names `old_object` has not.
fn added_ephemeral_containers(object: &Value, old_object: &Value) -> Vec<usize> {
    let names = |o: &Value| -> Vec<Value> {
        o.pointer("/spec/ephemeralContainers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| c.get("name").cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .unwrap_or_default()
    };
    let old_names = names(old_object);
    names(object)
        .iter()
        .enumerate()
        .filter(|(_, name)| !old_names.contains(name))
        .map(|(i, _)| i)
        .collect()
}

impl PatchScope {
    /// Whether every fix applies (CREATE, or a mutable pod template).
    pub fn is_unrestricted(&self) -> bool {
        *self == PatchScope::Any
    }

    /// Why the API server would refuse `op` (made against `object`, the object as
    /// patched so far) in this update; `None` when it is accepted.
    pub fn refusal(&self, op: &PatchOp, object: &Value) -> Option<&'static str> {
        let Ok(tokens) = pointer_tokens(op.path()) else {
            return Some("the patch path is not a JSON pointer");
        };
        let tokens: Vec<&str> = tokens.iter().map(AsRef::as_ref).collect();
        let allowed = match self {
            PatchScope::Any => true,
            PatchScope::Pod { gated } => pod_allows(*gated, &tokens, op, object),
            PatchScope::Job { scheduling_mutable } => {
                job_allows(*scheduling_mutable, &tokens, op, object)
            }
            PatchScope::NewEphemeralContainers { added } => match tokens.as_slice() {
                ["spec", "ephemeralContainers", index, _, ..] => index
                    .parse::<usize>()
                    .is_ok_and(|index| added.contains(&index)),
                _ => false,
            },
        };
        (!allowed).then(|| self.rule())
    }

    /// What the API server allows this update to change, said as the reason a fix
    /// outside it is not made.
    fn rule(&self) -> &'static str {
        match self {
            PatchScope::Any => "",
            PatchScope::Pod { gated: false } => {
                "the API server refuses this change to an existing Pod, whose spec may only \
                 change its images, activeDeadlineSeconds and add tolerations (ValidatePodUpdate)"
            }
            PatchScope::Pod { gated: true } => {
                "the API server refuses this change to an existing Pod, whose spec may only \
                 change its images, activeDeadlineSeconds, add tolerations and, while scheduling \
                 gates remain, add nodeSelector entries and node affinity requirements \
                 (ValidatePodUpdate)"
            }
            PatchScope::Job {
                scheduling_mutable: false,
            } => {
                "the API server refuses any change to the pod template of an existing Job \
                 that is not suspended or has started (validatePodTemplateUpdate)"
            }
            PatchScope::Job {
                scheduling_mutable: true,
            } => {
                "the pod template of a suspended Job may only change its nodeSelector, \
                 tolerations, node affinity, scheduling gates, labels and annotations \
                 (validatePodTemplateUpdate)"
            }
            PatchScope::NewEphemeralContainers { .. } => {
                "the ephemeralcontainers subresource keeps only the ephemeral containers an \
                 update adds (dropNonEphemeralContainerUpdates)"
            }
        }
    }
}

/// Whether the value at the pointer `tokens` exists in `object`.
fn exists(object: &Value, tokens: &[&str]) -> bool {
    object
        .pointer(&crate::k8s::patch::pointer(tokens))
        .is_some()
}

/// An `add` that creates what is not there yet (never one that overwrites a value).
fn adds_new(tokens: &[&str], op: &PatchOp, object: &Value) -> bool {
    matches!(op, PatchOp::Add { .. }) && !exists(object, tokens)
}

/// An `add` of a new list element (`.../-` or an index: JSON Patch inserts), or of the
/// whole list where there is none.
fn adds_list_item(list: &[&str], rest: &[&str], op: &PatchOp, object: &Value) -> bool {
    match rest {
        [] => adds_new(list, op, object),
        [_] => matches!(op, PatchOp::Add { .. }),
        _ => false,
    }
}

fn pod_allows(gated: bool, tokens: &[&str], op: &PatchOp, object: &Value) -> bool {
    match tokens {
        // Labels and annotations of a Pod may change (ValidateObjectMetaUpdate).
        ["metadata", "labels" | "annotations", ..] => true,
        // Existing tolerations stay; new ones may be added (validateOnlyAddedTolerations).
        ["spec", "tolerations", rest @ ..] => {
            adds_list_item(&["spec", "tolerations"], rest, op, object)
        }
        ["spec", "nodeSelector", ..] if gated => adds_new(tokens, op, object),
        ["spec", "affinity", rest @ ..] if gated => {
            adds_node_affinity(&tokens[..2], rest, op, object)
        }
        _ => false,
    }
}

/// A gated pod's node affinity may gain requirements: a new affinity, node affinity or
/// required selector, or a new expression in an existing term; not a new term in a
/// non-empty list of terms (validateNodeAffinityMutation).
fn adds_node_affinity(affinity: &[&str], rest: &[&str], op: &PatchOp, object: &Value) -> bool {
    let PatchOp::Add { value, .. } = op else {
        return false;
    };
    match rest {
        [] => {
            !exists(object, affinity)
                && value
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "nodeAffinity"))
        }
        ["nodeAffinity"]
        | [
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ] => {
            let mut tokens = affinity.to_vec();
            tokens.extend_from_slice(rest);
            !exists(object, &tokens)
        }
        [
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
            _,
            "matchExpressions" | "matchFields",
            more @ ..,
        ] => {
            let mut list = affinity.to_vec();
            list.extend_from_slice(&rest[..5]);
            adds_list_item(&list, more, op, object)
        }
        _ => false,
    }
}

fn job_allows(scheduling_mutable: bool, tokens: &[&str], op: &PatchOp, object: &Value) -> bool {
    match tokens {
        ["spec", "template", in_template @ ..] => {
            scheduling_mutable
                && match in_template {
                    ["metadata", "labels" | "annotations", ..]
                    | [
                        "spec",
                        "nodeSelector" | "tolerations" | "schedulingGates",
                        ..,
                    ]
                    | ["spec", "affinity", "nodeAffinity", ..] => true,
                    // A whole affinity where there is none, holding node affinity only.
                    ["spec", "affinity"] => match op {
                        PatchOp::Add { value, .. } => {
                            !exists(object, &tokens[..4])
                                && value
                                    .as_object()
                                    .is_some_and(|o| o.keys().all(|k| k == "nodeAffinity"))
                        }
                        _ => false,
                    },
                    _ => false,
                }
        }
        // The Job's own metadata; nothing else of a Job is patched by a rule.
        ["metadata", ..] => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(kind: &str, object: Value, old_object: Value) -> AdmissionRequest {
        AdmissionRequest::update("", kind, object, old_object)
    }

    fn add(path: &str, value: Value) -> PatchOp {
        PatchOp::Add {
            path: path.into(),
            value,
        }
    }

    #[test]
    fn create_and_other_operations_are_reviewed_in_full() {
        let mut request = update("Pod", json!({"spec": {}}), Value::Null);
        request.operation = "CREATE".into();
        assert_eq!(review(WorkloadKind::Pod, &request), Ok(Review::Create));
    }

    #[test]
    fn an_update_without_an_old_object_is_a_clear_error() {
        let request = update("Pod", json!({"spec": {}}), Value::Null);
        let error = review(WorkloadKind::Pod, &request).unwrap_err();
        assert_eq!(
            error.0,
            "request.oldObject: an UPDATE of a Pod must carry the object's previous state as \
             a JSON object (the API server always sends it), found none"
        );
        let request = update("Job", json!({"spec": {}}), json!([1]));
        let error = review(WorkloadKind::Job, &request).unwrap_err();
        assert!(error.0.ends_with("found an array"), "{error}");
    }

    #[test]
    fn metadata_only_updates_are_unchanged() {
        // isSignificantPodUpdate (pod-security-admission admission.go): labels,
        // annotations, finalizers and owner references do not change what runs.
        let old = json!({"metadata": {"name": "p", "finalizers": ["x"]},
            "spec": {"containers": [{"name": "a", "image": "nginx"}]}, "status": {"phase": "Running"}});
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"team": "web"});
        new["metadata"]["finalizers"] = json!([]);
        new["status"]["phase"] = json!("Succeeded");
        let request = update("Pod", new, old);
        assert_eq!(review(WorkloadKind::Pod, &request), Ok(Review::Unchanged));
    }

    #[test]
    fn the_pods_os_label_is_a_change() {
        // The kubelet compares it with the node's OS (rejectPodAdmissionBasedOnOSSelector).
        let old = json!({"spec": {"containers": [{"name": "a"}]}});
        let mut new = old.clone();
        new["metadata"] = json!({"labels": {"kubernetes.io/os": "windows"}});
        let request = update("Pod", new, old.clone());
        assert!(matches!(
            review(WorkloadKind::Pod, &request),
            Ok(Review::Changed {
                scope: PatchScope::Pod { gated: false },
                ..
            })
        ));
    }

    #[test]
    fn a_template_metadata_change_is_a_change_for_controllers() {
        // kubectl rollout restart changes only the template's annotations; the new
        // ReplicaSet is created from the template, so it is reviewed.
        let old = json!({"spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "a"}]}}}});
        let mut new = old.clone();
        new["spec"]["template"]["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-11-28T10:00:00Z"});
        let request = update("Deployment", new, old.clone());
        assert!(matches!(
            review(WorkloadKind::Deployment, &request),
            Ok(Review::Changed {
                scope: PatchScope::Any,
                ..
            })
        ));
        // Replicas alone: the template is the same.
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(5);
        let request = update("Deployment", scaled, old);
        assert_eq!(
            review(WorkloadKind::Deployment, &request),
            Ok(Review::Unchanged)
        );
    }

    #[test]
    fn scopes_by_kind() {
        let pod = |gates: Value| json!({"spec": {"schedulingGates": gates, "containers": []}});
        let request = update(
            "Pod",
            json!({"spec": {"containers": [{"name": "b"}]}}),
            pod(json!([{"name": "wait"}])),
        );
        assert!(matches!(
            review(WorkloadKind::Pod, &request),
            Ok(Review::Changed {
                scope: PatchScope::Pod { gated: true },
                ..
            })
        ));
        // Job: AllowMutableSchedulingDirectives = suspended && notStarted
        // (pkg/registry/batch/job/strategy.go).
        let job = |suspend: bool, status: Value| json!({"spec": {"suspend": suspend, "template": {"spec": {"containers": [{"name": "a"}]}}}, "status": status});
        let changed = json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}});
        for (old, mutable) in [
            (job(true, json!({})), true),
            (
                job(true, json!({"startTime": "2026-11-28T10:00:00Z"})),
                false,
            ),
            (job(false, json!({})), false),
        ] {
            let request = update("Job", changed.clone(), old);
            let Ok(Review::Changed { scope, .. }) = review(WorkloadKind::Job, &request) else {
                panic!("a changed template");
            };
            assert_eq!(
                scope,
                PatchScope::Job {
                    scheduling_mutable: mutable
                }
            );
        }
        let request = update(
            "CronJob",
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}}}}),
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}}),
        );
        assert!(matches!(
            review(WorkloadKind::CronJob, &request),
            Ok(Review::Changed {
                scope: PatchScope::Any,
                ..
            })
        ));
    }

    #[test]
    fn ephemeral_containers_added_by_the_update() {
        let old = json!({"spec": {"containers": [{"name": "a"}],
            "ephemeralContainers": [{"name": "debugger-1"}]}});
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debugger-2"}));
        let mut request = update("Pod", new, old);
        request.sub_resource = EPHEMERAL_CONTAINERS.into();
        assert!(matches!(
            review(WorkloadKind::Pod, &request),
            Ok(Review::Changed { scope: PatchScope::NewEphemeralContainers { added }, .. }) if added == [1]
        ));
    }

    #[test]
    fn a_running_pod_takes_added_tolerations_only() {
        // ValidatePodUpdate, validateOnlyAddedTolerations (pkg/apis/core/validation).
        let scope = PatchScope::Pod { gated: false };
        let bare = json!({"spec": {"containers": []}});
        let tolerating =
            json!({"spec": {"tolerations": [{"operator": "Exists"}], "containers": []}});
        let toleration = json!({"key": "os", "value": "windows", "effect": "NoSchedule"});
        assert_eq!(
            scope.refusal(&add("/spec/tolerations", json!([toleration])), &bare),
            None
        );
        assert_eq!(
            scope.refusal(&add("/spec/tolerations/-", toleration.clone()), &tolerating),
            None
        );
        // Replacing the list, or changing an existing toleration, is refused.
        assert!(
            scope
                .refusal(&add("/spec/tolerations", json!([])), &tolerating)
                .is_some()
        );
        assert!(
            scope
                .refusal(
                    &PatchOp::Remove {
                        path: "/spec/tolerations/0".into()
                    },
                    &tolerating
                )
                .is_some()
        );
        assert!(
            scope
                .refusal(&add("/spec/tolerations/0/value", json!("x")), &tolerating)
                .is_some()
        );
        // spec.os, nodeSelector, resources, securityContext: immutable.
        for path in [
            "/spec/os",
            "/spec/nodeSelector",
            "/spec/containers/0/resources/requests",
            "/spec/dnsPolicy",
        ] {
            let refusal = scope.refusal(&add(path, json!({})), &bare);
            assert!(
                refusal.is_some_and(|r| r.contains("ValidatePodUpdate")),
                "{path}"
            );
        }
        assert_eq!(
            scope.refusal(&add("/metadata/labels/team", json!("web")), &bare),
            None
        );
    }

    #[test]
    fn a_gated_pod_may_gain_node_selector_entries_and_node_affinity() {
        // validateNodeSelectorMutation, validateNodeAffinityMutation: additions only.
        let scope = PatchScope::Pod { gated: true };
        let pod = json!({"spec": {"schedulingGates": [{"name": "g"}], "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}},
            "containers": []}});
        let os = json!("windows");
        assert_eq!(
            scope.refusal(
                &add("/spec/nodeSelector/kubernetes.io~1os", os.clone()),
                &pod
            ),
            None
        );
        assert!(
            scope
                .refusal(&add("/spec/nodeSelector/disk", os.clone()), &pod)
                .is_some()
        );
        assert!(
            scope
                .refusal(&add("/spec/nodeSelector", json!({})), &pod)
                .is_some()
        );
        assert!(scope.refusal(&add("/spec/os", json!({})), &pod).is_some());
        let terms = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";
        let expression =
            json!({"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]});
        assert_eq!(
            scope.refusal(
                &add(&format!("{terms}/0/matchExpressions/-"), expression.clone()),
                &pod
            ),
            None
        );
        // A new term in a non-empty list is refused.
        assert!(
            scope
                .refusal(&add(&format!("{terms}/-"), json!({})), &pod)
                .is_some()
        );
        let bare = json!({"spec": {"schedulingGates": [{"name": "g"}], "containers": []}});
        assert_eq!(
            scope.refusal(&add("/spec/affinity", json!({"nodeAffinity": {}})), &bare),
            None
        );
        assert!(
            scope
                .refusal(&add("/spec/affinity", json!({"podAffinity": {}})), &bare)
                .is_some()
        );
    }

    #[test]
    fn a_jobs_template_changes_only_while_suspended_and_never_started() {
        // validatePodTemplateUpdate (pkg/apis/batch/validation/validation.go).
        let job = json!({"spec": {"template": {"spec": {"containers": []}}}});
        let selector = add(
            "/spec/template/spec/nodeSelector",
            json!({"kubernetes.io/os": "linux"}),
        );
        let running = PatchScope::Job {
            scheduling_mutable: false,
        };
        assert!(
            running
                .refusal(&selector, &job)
                .is_some_and(|r| r.contains("validatePodTemplateUpdate"))
        );
        let suspended = PatchScope::Job {
            scheduling_mutable: true,
        };
        assert_eq!(suspended.refusal(&selector, &job), None);
        assert_eq!(
            suspended.refusal(&add("/spec/template/spec/tolerations", json!([])), &job),
            None
        );
        assert_eq!(
            suspended.refusal(&add("/spec/template/metadata/labels/a", json!("b")), &job),
            None
        );
        // os is not among the scheduling directives.
        assert!(
            suspended
                .refusal(
                    &add("/spec/template/spec/os", json!({"name": "linux"})),
                    &job
                )
                .is_some()
        );
        assert!(
            suspended
                .refusal(
                    &add("/spec/template/spec/containers/0/resources", json!({})),
                    &job
                )
                .is_some()
        );
    }

    #[test]
    fn the_ephemeral_subresource_patches_added_containers_only() {
        let scope = PatchScope::NewEphemeralContainers { added: vec![1] };
        let pod = json!({"spec": {"ephemeralContainers": [{"name": "a"}, {"name": "b"}]}});
        let strip = PatchOp::Remove {
            path: "/spec/ephemeralContainers/1/securityContext/runAsUser".into(),
        };
        assert_eq!(scope.refusal(&strip, &pod), None);
        let old_one = PatchOp::Remove {
            path: "/spec/ephemeralContainers/0/securityContext/runAsUser".into(),
        };
        assert!(scope.refusal(&old_one, &pod).is_some());
        assert!(
            scope
                .refusal(&add("/spec/os", json!({"name": "windows"})), &pod)
                .is_some()
        );
        assert_eq!(
            PatchScope::Any.refusal(&add("/spec/os", json!({})), &pod),
            None
        );
    }
}
