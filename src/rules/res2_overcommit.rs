use crate::engine::rule::{Action, Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::patch::PatchOp;
use crate::k8s::quantity::Quantity;
use crate::k8s::workload::ContainerList;
use serde_json::{Map, Value};

declare_rule! {
    /// RES-2: a Windows container requests less cpu or memory than its limit (overcommit).
    ///
    /// The scheduler places pods by their requests, while a container may use up to its
    /// limit: a Windows node whose containers request less than they may use is overcommitted,
    /// and Windows answers memory pressure by paging, not by OOM-killing, so every pod of the
    /// node slows down. The rule compares `requests` with `limits` of every container and init
    /// container, per resource (cpu and memory), exactly (`1Gi` equals `1024Mi`, and values
    /// beyond any machine integer such as `1e30` compare exactly too, as the API server's
    /// `Quantity.Cmp` compares them). A request above its limit is reported too (the API
    /// server refuses it).
    ///
    /// A missing request is not overcommit: the API server defaults it to the limit when it
    /// creates the Pod. So it is reported only when the rule's action is `mutate`, the opt-in
    /// fix that copies limits into the missing requests, so that the template says what runs.
    /// A resource without a limit, or whose limit is not a quantity, is RES-1's finding.
    ///
    /// Example: a Windows container that requests less cpu than its limit; a container with
    /// limits and no requests gets requests equal to its limits under `mutate`.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     resources:
    ///       requests: {cpu: 500m, memory: 2Gi}
    ///       limits: {cpu: "1", memory: 2Gi}
    /// ```
    OvercommitRule {
        id: "RES-2",
        summary: "Windows container whose cpu or memory request differs from its limit (overcommit); mutate copies limits into missing requests",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: true,
        source: "Kubernetes Windows resource management (requests equal to limits, mandatory pagefile); Azure built-in policy \"Windows containers should not overcommit cpu and memory\"",
        settings: [],
    }
}

impl Rule for OvercommitRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let copy_missing = ctx.settings.action_of(self) == Action::Mutate;
        for container in ctx.workload.containers() {
            if container.list == ContainerList::EphemeralContainers {
                continue;
            }
            let Some(resources) = container.resources else {
                continue;
            };
            // Paths are made only for a finding: most containers have none.
            let resources_path = || container.path().field("resources");
            let mut missing = Map::new();
            for resource in ["cpu", "memory"] {
                let Some(limit) = resources.limits.as_ref().and_then(|l| l.get(resource)) else {
                    continue;
                };
                let Ok(limit_value) = Quantity::parse(&limit.0) else {
                    continue;
                };
                let Some(request) = resources.requests.as_ref().and_then(|r| r.get(resource))
                else {
                    // Copy the limit as written (a string or a bare number).
                    let limit_pointer = resources_path().field("limits").key(resource).pointer();
                    let written = ctx
                        .object
                        .pointer(&limit_pointer)
                        .cloned()
                        .unwrap_or_else(|| Value::String(limit.0.clone()));
                    missing.insert(resource.to_string(), written);
                    continue;
                };
                let message = match Quantity::parse(&request.0) {
                    Err(e) => format!("container {:?}: {e}", container.name),
                    Ok(request) if request < limit_value => format!(
                        "container {:?} requests {resource} {request} but may use up to its limit {limit_value}: the node is overcommitted, and Windows pages under memory pressure instead of OOM-killing; set the request equal to the limit",
                        container.name
                    ),
                    Ok(request) if request > limit_value => format!(
                        "container {:?} requests {resource} {request}, more than its limit {limit_value}; the API server refuses a request above its limit",
                        container.name
                    ),
                    Ok(_) => continue,
                };
                let path = resources_path().field("requests").key(resource);
                findings.push(Finding::new(META.id, path, message));
            }
            if copy_missing && !missing.is_empty() {
                let requests_path = resources_path().field("requests");
                let names: Vec<String> = missing
                    .iter()
                    .map(|(resource, limit)| format!("{resource} (limit {})", show(limit)))
                    .collect();
                let patch = if resources.requests.is_some() {
                    missing
                        .into_iter()
                        .map(|(resource, value)| PatchOp::Add {
                            path: requests_path.key(&resource).pointer(),
                            value,
                        })
                        .collect()
                } else {
                    vec![PatchOp::Add {
                        path: requests_path.pointer(),
                        value: Value::Object(missing),
                    }]
                };
                findings.push(
                    Finding::new(
                        META.id,
                        requests_path,
                        format!(
                            "container {:?} sets no request for {}; the API server would default each to its limit when it creates the Pod: set them explicitly",
                            container.name,
                            names.join(", ")
                        ),
                    )
                    .with_patch(patch),
                );
            }
        }
    }
}

/// A quantity as written in JSON, without the quotes of a string.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::Decision;
    use crate::k8s::patch::diff;
    use crate::testing::{acted, evaluate, findings};
    use serde_json::json;

    fn windows_pod(containers: Value) -> Value {
        json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows"}, "containers": containers}})
    }

    #[test]
    fn warns_when_requests_are_below_or_above_limits() {
        let object = windows_pod(json!([
            {"name": "web", "resources": {
                "limits": {"cpu": "1", "memory": "1Gi"},
                "requests": {"cpu": "100m", "memory": "1024Mi"}}},
            {"name": "odd", "resources": {
                "limits": {"cpu": "500m", "memory": "1Gi"},
                "requests": {"cpu": "0.5", "memory": "2Gi"}}}
        ]));
        let found = acted(&OvercommitRule, &object, Value::Null);
        let summary: Vec<(String, Action)> = found
            .iter()
            .map(|a| (a.finding.path.to_string(), a.action))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "spec.containers[0].resources.requests[cpu]".to_string(),
                    Action::Warn
                ),
                (
                    "spec.containers[1].resources.requests[memory]".to_string(),
                    Action::Warn
                ),
            ]
        );
        assert_eq!(
            found[0].finding.message,
            "container \"web\" requests cpu 100m but may use up to its limit 1: the node is overcommitted, and Windows pages under memory pressure instead of OOM-killing; set the request equal to the limit"
        );
        assert!(found[1].finding.message.contains("more than its limit 1Gi"));
    }

    #[test]
    fn missing_requests_are_not_overcommit_unless_the_fix_is_opted_in() {
        let object = windows_pod(
            json!([{"name": "web", "resources": {"limits": {"cpu": 2, "memory": "2Gi"}}}]),
        );
        assert!(findings(&OvercommitRule, &object).is_empty());
        assert!(
            acted(
                &OvercommitRule,
                &object,
                json!({"rules": {"RES-2": "reject"}})
            )
            .is_empty()
        );
    }

    #[test]
    fn mutate_copies_limits_into_missing_requests_exactly() {
        // No requests map: one add creates it, with the limits as written (a bare number stays one).
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "os": {"name": "windows"},
            "containers": [{"name": "iis", "resources": {"limits": {"memory": "128Mi", "cpu": 2}}}],
            "initContainers": [{"name": "setup", "resources": {
                "limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}}}]}}}});
        let settings = json!({"rules": {"RES-2": "mutate"}});
        let found = acted(&OvercommitRule, &object, settings.clone());
        let summary: Vec<(String, Action, Vec<PatchOp>)> = found
            .iter()
            .map(|a| {
                (
                    a.finding.path.to_string(),
                    a.action,
                    a.finding.patch.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "spec.template.spec.containers[0].resources.requests".to_string(),
                    Action::Mutate,
                    vec![PatchOp::Add {
                        path: "/spec/template/spec/containers/0/resources/requests".into(),
                        value: json!({"cpu": 2, "memory": "128Mi"})
                    }]
                ),
                (
                    "spec.template.spec.initContainers[0].resources.requests[cpu]".to_string(),
                    Action::Warn,
                    vec![]
                ),
                (
                    "spec.template.spec.initContainers[0].resources.requests".to_string(),
                    Action::Mutate,
                    vec![PatchOp::Add {
                        path: "/spec/template/spec/initContainers/0/resources/requests/memory"
                            .into(),
                        value: json!("256Mi")
                    }]
                ),
            ]
        );
        assert_eq!(
            found[0].finding.message,
            "container \"iis\" sets no request for cpu (limit 2), memory (limit 128Mi); the API server would default each to its limit when it creates the Pod: set them explicitly"
        );
        // The whole module converges: the mutated object needs nothing more.
        let evaluation = evaluate(&crate::modules::RESOURCES, &object, settings.clone());
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("{evaluation:?}")
        };
        assert_eq!(diff(&object, mutated).len(), 2);
        let again = evaluate(&crate::modules::RESOURCES, mutated, settings);
        assert_eq!(again.decision, Decision::Accept);
        assert!(again.mutations().next().is_none());
    }

    #[test]
    fn equal_values_in_other_notations_are_not_overcommit() {
        let object = windows_pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]));
        assert!(findings(&OvercommitRule, &object).is_empty());
    }

    /// Requests and limits compare as the API server's `Quantity.Cmp` compares them
    /// (k8s.io/apimachinery/pkg/api/resource/quantity.go): exactly, at any size.
    #[test]
    fn compares_quantities_of_any_size_exactly() {
        let object = windows_pod(json!([
            {"name": "same", "resources": {
                "limits": {"cpu": "1e30", "memory": "1E3"},
                "requests": {"cpu": "1000000000000000000000000000000", "memory": "+1k"}}},
            {"name": "below", "resources": {
                "limits": {"cpu": "1000000000000000000000000000000.000000001", "memory": ".5Ki"},
                "requests": {"cpu": "1e30", "memory": "512"}}}
        ]));
        let found = findings(&OvercommitRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.containers[1].resources.requests[cpu]"
        );
        assert!(
            found[0].message.starts_with(
                "container \"below\" requests cpu 1e30 but may use up to its limit 1000000000000000000000000000000.000000001"
            ),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn malformed_requests_are_reported_and_malformed_limits_left_to_res1() {
        let object = windows_pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1GB"}, "requests": {"cpu": "one", "memory": "1Gi"}}}]));
        let found = findings(&OvercommitRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.containers[0].resources.requests[cpu]"
        );
        assert!(
            found[0]
                .message
                .starts_with("container \"a\": \"one\" is not a Kubernetes quantity"),
            "{}",
            found[0].message
        );
    }
}
