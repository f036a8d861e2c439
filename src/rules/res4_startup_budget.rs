use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use k8s_openapi::api::core::v1::Probe;

declare_rule! {
    /// RES-4: a Windows container's probes may restart it before it has had time to start.
    ///
    /// Windows containers start more slowly than Linux ones (larger images, first-run
    /// setup of the .NET runtime or IIS), and a liveness probe that fails during startup
    /// makes the kubelet restart the container, often into a crash loop. The startup budget
    /// is the time the probes give a container before they can restart it:
    ///
    /// - with a `startupProbe`: `initialDelaySeconds + failureThreshold × periodSeconds`
    ///   (defaults 0, 3 and 10), since the liveness probe waits for the startup probe;
    /// - with only a `livenessProbe`: its `initialDelaySeconds` (default 0), as the catalogue
    ///   defines it; the first failed checks already count towards the restart.
    ///
    /// A budget below `settings.minStartupBudgetSeconds` (default 60; 0 turns the rule off) is
    /// reported. Containers without either probe are never restarted by probes.
    ///
    /// Example: a liveness probe that may restart a Windows container after 10 seconds, with no
    /// startup probe (below the default 60 of `minStartupBudgetSeconds`).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     livenessProbe:
    ///       httpGet: {path: /healthz, port: 80}
    ///       initialDelaySeconds: 10
    /// ```
    StartupBudgetRule {
        id: "RES-4",
        summary: "Windows container whose startupProbe (failureThreshold × periodSeconds + initialDelaySeconds), or liveness initialDelaySeconds without a startupProbe, is below settings.minStartupBudgetSeconds",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: false,
        source: "Kubernetes probe semantics (startupProbe gates liveness); Windows containers start slower than Linux ones (large images, runtime setup)",
        settings: ["minStartupBudgetSeconds"],
    }
}

/// Probe defaults (`k8s.io/api/core/v1` Probe).
const DEFAULT_PERIOD_SECONDS: i64 = 10;
const DEFAULT_FAILURE_THRESHOLD: i64 = 3;

fn seconds(value: Option<i32>, default: i64) -> i64 {
    value.map_or(default, |v| i64::from(v).max(0))
}

impl Rule for StartupBudgetRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let min = i64::from(ctx.settings.min_startup_budget_seconds);
        if min == 0 {
            return;
        }
        for container in ctx.workload.containers() {
            if let Some(startup) = container.startup_probe {
                let budget = startup_budget(startup);
                if budget.total < min {
                    // total < min, so min > initial_delay: a positive ceiling division.
                    let period = budget.period.max(1);
                    let needed = (min - budget.initial_delay + period - 1) / period;
                    findings.push(Finding::new(
                        META.id,
                        container.path().field("startupProbe"),
                        format!(
                            "container {:?}: its startupProbe gives it {}s to start (initialDelaySeconds {} + failureThreshold {} × periodSeconds {}), below the minimum startup budget of {min}s for Windows containers; raise failureThreshold to {needed}",
                            container.name,
                            budget.total,
                            budget.initial_delay,
                            budget.failure_threshold,
                            budget.period
                        ),
                    ));
                }
            } else if let Some(liveness) = container.liveness_probe {
                let delay = seconds(liveness.initial_delay_seconds, 0);
                if delay < min {
                    findings.push(Finding::new(
                        META.id,
                        container.path().field("livenessProbe").field("initialDelaySeconds"),
                        format!(
                            "container {:?} has no startupProbe and its livenessProbe starts after {delay}s, below the minimum startup budget of {min}s for Windows containers; add a startupProbe with failureThreshold × periodSeconds of at least {min}s, or raise initialDelaySeconds to {min}",
                            container.name
                        ),
                    ));
                }
            }
        }
    }
}

struct Budget {
    initial_delay: i64,
    failure_threshold: i64,
    period: i64,
    total: i64,
}

fn startup_budget(probe: &Probe) -> Budget {
    let initial_delay = seconds(probe.initial_delay_seconds, 0);
    let failure_threshold = seconds(probe.failure_threshold, DEFAULT_FAILURE_THRESHOLD);
    let period = seconds(probe.period_seconds, DEFAULT_PERIOD_SECONDS);
    Budget {
        initial_delay,
        failure_threshold,
        period,
        total: initial_delay + failure_threshold * period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, findings};
    use serde_json::{Value, json};

    fn windows_pod(container: Value) -> Value {
        json!({"kind": "Pod", "spec": {"os": {"name": "windows"}, "containers": [container]}})
    }

    const HTTP: &str = "/healthz";

    #[test]
    fn a_short_startup_probe_is_reported_with_the_failure_threshold_it_needs() {
        // Defaults: 0 + 3 × 10 = 30s.
        let object = windows_pod(json!({"name": "iis",
            "startupProbe": {"httpGet": {"path": HTTP, "port": 80}},
            "livenessProbe": {"httpGet": {"path": HTTP, "port": 80}}}));
        let found = findings(&StartupBudgetRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.containers[0].startupProbe");
        assert_eq!(
            found[0].message,
            "container \"iis\": its startupProbe gives it 30s to start (initialDelaySeconds 0 + failureThreshold 3 × periodSeconds 10), below the minimum startup budget of 60s for Windows containers; raise failureThreshold to 6"
        );
        // Its initialDelaySeconds counts: 15 + 5 × 10 = 65s.
        let object = windows_pod(json!({"name": "iis", "startupProbe": {
            "httpGet": {"path": HTTP, "port": 80}, "initialDelaySeconds": 15, "failureThreshold": 5}}));
        assert!(findings(&StartupBudgetRule, &object).is_empty());
    }

    #[test]
    fn without_a_startup_probe_the_liveness_delay_counts() {
        let object = windows_pod(json!({"name": "app",
            "livenessProbe": {"exec": {"command": ["cmd", "/c", "exit 0"]}, "initialDelaySeconds": 10}}));
        let found = acted(&StartupBudgetRule, &object, Value::Null);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.containers[0].livenessProbe.initialDelaySeconds"
        );
        let at_minimum = windows_pod(json!({"name": "app",
            "livenessProbe": {"exec": {"command": ["cmd"]}, "initialDelaySeconds": 60}}));
        assert!(findings(&StartupBudgetRule, &at_minimum).is_empty());
    }

    #[test]
    fn the_minimum_is_configurable_and_zero_turns_it_off() {
        let object = windows_pod(json!({"name": "app",
            "livenessProbe": {"exec": {"command": ["cmd"]}, "initialDelaySeconds": 60}}));
        assert_eq!(
            acted(
                &StartupBudgetRule,
                &object,
                json!({"minStartupBudgetSeconds": 120})
            )
            .len(),
            1
        );
        let short =
            windows_pod(json!({"name": "app", "livenessProbe": {"exec": {"command": ["cmd"]}}}));
        assert!(
            acted(
                &StartupBudgetRule,
                &short,
                json!({"minStartupBudgetSeconds": 0})
            )
            .is_empty()
        );
        // No probes, nothing to restart the container.
        assert!(findings(&StartupBudgetRule, &windows_pod(json!({"name": "app"}))).is_empty());
    }
}
