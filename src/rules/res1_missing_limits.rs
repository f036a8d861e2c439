use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::quantity::Quantity;
use crate::k8s::workload::ContainerList;
use crate::settings::LimitBounds;

declare_rule! {
    /// RES-1: a Windows container does not declare cpu and memory limits (or declares them
    /// outside the bounds the settings give).
    ///
    /// Windows has no OOM killer as Linux has: memory beyond what the node holds is paged to
    /// the mandatory pagefile, so one unbounded container slows every pod of the node, and
    /// the kubelet's reservations only work when containers are bounded. Every container and
    /// init container must therefore set `resources.limits.cpu` and `resources.limits.memory`;
    /// ephemeral containers cannot set resources and are not checked. Optional floors (e.g.
    /// the memory a Windows container needs to start) and ceilings come from
    /// `settings.windowsLimits`. A limit that is not a Kubernetes quantity (one the API
    /// server's `resource.ParseQuantity` refuses, such as `2Gb`) is reported here; every
    /// quantity it accepts (`1e30`, thirty digits, `.5`, `+1`) is read and compared exactly as
    /// it reads and compares it (see `crate::k8s::quantity`).
    ///
    /// Example: a Windows container without limits.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     resources:
    ///       requests: {cpu: 500m, memory: 1Gi}
    /// ```
    MissingLimitsRule {
        id: "RES-1",
        summary: "Windows container (init containers too) without cpu and memory limits, or with limits outside settings.windowsLimits",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Azure built-in policy \"Windows containers should not overcommit cpu and memory\"; Kubernetes Windows resource management (no OOM killer, mandatory pagefile)",
        settings: ["windowsLimits"],
    }
}

/// Why a missing limit matters, per resource.
fn why(resource: &str) -> &'static str {
    if resource == "memory" {
        "Windows pages memory out instead of OOM-killing, so an unbounded container slows every pod of the node"
    } else {
        "an unbounded container competes for all of the node's CPU"
    }
}

impl Rule for MissingLimitsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let bounds = &ctx.settings.windows_limits;
        for container in ctx.workload.containers() {
            if container.list == ContainerList::EphemeralContainers {
                continue;
            }
            let limits = container.resources.and_then(|r| r.limits.as_ref());
            for (resource, bounds) in [("cpu", &bounds.cpu), ("memory", &bounds.memory)] {
                // Made only for a finding: most containers have none.
                let path = || {
                    container
                        .path()
                        .field("resources")
                        .field("limits")
                        .key(resource)
                };
                let Some(limit) = limits.and_then(|l| l.get(resource)) else {
                    findings.push(Finding::new(
                        META.id,
                        path(),
                        format!(
                            "container {:?} declares no {resource} limit: {}; set resources.limits.{resource}",
                            container.name,
                            why(resource)
                        ),
                    ));
                    continue;
                };
                match Quantity::parse(&limit.0) {
                    Err(e) => findings.push(Finding::new(
                        META.id,
                        path(),
                        format!("container {:?}: {e}", container.name),
                    )),
                    Ok(limit) => {
                        if let Some(message) = out_of_bounds(resource, &limit, bounds) {
                            findings.push(Finding::new(
                                META.id,
                                path(),
                                format!("container {:?}: {message}", container.name),
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn out_of_bounds(resource: &str, limit: &Quantity, bounds: &LimitBounds) -> Option<String> {
    if let Some(min) = &bounds.min
        && limit < min
    {
        return Some(format!(
            "{resource} limit {limit} is below the minimum {min} (settings.windowsLimits.{resource}.min)"
        ));
    }
    if let Some(max) = &bounds.max
        && limit > max
    {
        return Some(format!(
            "{resource} limit {limit} is above the maximum {max} (settings.windowsLimits.{resource}.max)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, findings};
    use serde_json::{Value, json};

    fn windows_deployment(containers: Value, init: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": containers, "initContainers": init}}}})
    }

    fn paths(found: &[Finding]) -> Vec<String> {
        found.iter().map(|f| f.path.to_string()).collect()
    }

    #[test]
    fn reports_each_missing_limit_with_its_path() {
        let object = windows_deployment(
            json!([{"name": "iis", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "1"}}}]),
            json!([{"name": "setup"}]),
        );
        let found = findings(&MissingLimitsRule, &object);
        assert_eq!(
            paths(&found),
            [
                "spec.template.spec.containers[0].resources.limits[cpu]",
                "spec.template.spec.initContainers[0].resources.limits[cpu]",
                "spec.template.spec.initContainers[0].resources.limits[memory]",
            ]
        );
        assert_eq!(
            found[2].message,
            "container \"setup\" declares no memory limit: Windows pages memory out instead of OOM-killing, so an unbounded container slows every pod of the node; set resources.limits.memory"
        );
    }

    #[test]
    fn accepts_bounded_containers_and_skips_ephemeral_ones() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a", "resources": {"limits": {"cpu": 2, "memory": "512Mi"}}}],
            "ephemeralContainers": [{"name": "debug", "targetContainerName": "a"}]}});
        assert!(findings(&MissingLimitsRule, &object).is_empty());
        // Linux and undeclared pods are not this rule's concern.
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "a"}]}});
        assert!(findings(&MissingLimitsRule, &linux).is_empty());
    }

    #[test]
    fn a_malformed_limit_is_a_clear_error() {
        let object = windows_deployment(
            json!([{"name": "web", "resources": {"limits": {"cpu": "1", "memory": "2Gb"}}}]),
            json!([]),
        );
        let found = findings(&MissingLimitsRule, &object);
        assert_eq!(
            paths(&found),
            ["spec.template.spec.containers[0].resources.limits[memory]"]
        );
        assert!(
            found[0].message.starts_with(
                "container \"web\": \"2Gb\" is not a Kubernetes quantity: unknown suffix \"Gb\""
            ),
            "{}",
            found[0].message
        );
    }

    /// Every quantity the API server accepts is a limit (Go's `resource.ParseQuantity`,
    /// k8s.io/apimachinery/pkg/api/resource/quantity.go): an exponent, many digits, a
    /// leading dot or plus; only what it refuses is reported.
    #[test]
    fn every_quantity_the_api_server_accepts_is_a_limit() {
        let object = windows_deployment(
            json!([
                {"name": "a", "resources": {"limits": {"cpu": "1E3", "memory": "123456789012345678901234567890"}}},
                {"name": "b", "resources": {"limits": {"cpu": ".5", "memory": "+1e30"}}},
                {"name": "c", "resources": {"limits": {"cpu": "1e", "memory": "1Gi"}}}
            ]),
            json!([]),
        );
        let found = findings(&MissingLimitsRule, &object);
        assert_eq!(
            paths(&found),
            ["spec.template.spec.containers[2].resources.limits[cpu]"]
        );
        assert!(
            found[0].message.starts_with(
                "container \"c\": \"1e\" is not a Kubernetes quantity: unknown suffix \"e\""
            ),
            "{}",
            found[0].message
        );
        // Bounds compare exactly beyond any machine integer.
        let settings = json!({"windowsLimits": {"memory": {"max": "1e30"}}});
        let big = windows_deployment(
            json!([
                {"name": "at", "resources": {"limits": {"cpu": "1", "memory": "1000000000000000000000000000k"}}},
                {"name": "above", "resources": {"limits": {"cpu": "1", "memory": "1000000000000000000000000000000.000000001"}}}
            ]),
            json!([]),
        );
        let found = acted(&MissingLimitsRule, &big, settings);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].finding.message,
            "container \"above\": memory limit 1000000000000000000000000000000.000000001 is above the maximum 1e30 (settings.windowsLimits.memory.max)"
        );
    }

    #[test]
    fn enforces_floors_and_ceilings_exactly() {
        let object = windows_deployment(
            json!([
                {"name": "small", "resources": {"limits": {"cpu": "250m", "memory": "511Mi"}}},
                {"name": "exact", "resources": {"limits": {"cpu": "0.5", "memory": "0.5Gi"}}},
                {"name": "big", "resources": {"limits": {"cpu": "4001m", "memory": "8Gi"}}}
            ]),
            json!([]),
        );
        let settings = json!({"windowsLimits": {
            "cpu": {"min": "500m", "max": 4}, "memory": {"min": "512Mi", "max": "8Gi"}}});
        let found = acted(&MissingLimitsRule, &object, settings);
        let messages: Vec<(String, String)> = found
            .iter()
            .map(|a| (a.finding.path.to_string(), a.finding.message.clone()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    "spec.template.spec.containers[0].resources.limits[cpu]".to_string(),
                    "container \"small\": cpu limit 250m is below the minimum 500m (settings.windowsLimits.cpu.min)".to_string()
                ),
                (
                    "spec.template.spec.containers[0].resources.limits[memory]".to_string(),
                    "container \"small\": memory limit 511Mi is below the minimum 512Mi (settings.windowsLimits.memory.min)".to_string()
                ),
                (
                    "spec.template.spec.containers[2].resources.limits[cpu]".to_string(),
                    "container \"big\": cpu limit 4001m is above the maximum 4 (settings.windowsLimits.cpu.max)".to_string()
                ),
            ]
        );
        assert!(found.iter().all(|a| a.action == Action::Reject));
    }
}
