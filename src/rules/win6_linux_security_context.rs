use crate::engine::fix::remove_field;
use crate::engine::rule::{Action, Context, Finding, Rule, RuleMeta, declare_rule};
use crate::windows::linux_only::HOST_NAMESPACE_FIELDS;

declare_rule! {
    /// WIN-6: a Windows pod sets Linux-only security context fields.
    ///
    /// Pod level: `seLinuxOptions`, `seccompProfile`, `appArmorProfile`, `fsGroup`,
    /// `fsGroupChangePolicy`, `sysctls`, `runAsUser`, `runAsGroup`, `supplementalGroups`,
    /// `supplementalGroupsPolicy`, `seLinuxChangePolicy`; container level: `seLinuxOptions`,
    /// `seccompProfile`, `appArmorProfile`, `procMount`, `readOnlyRootFilesystem`,
    /// `allowPrivilegeEscalation`, `runAsUser`, `runAsGroup`. The API server rejects any of
    /// them on a pod with `spec.os.name: windows`, whatever the value (even `false`:
    /// actions-runner-controller#2009); without `os.name` Windows ignores them, so a pod
    /// that relies on them runs without the protection it asked for. The list is
    /// [`crate::windows::linux_only::linux_only_fields`], the same one OS-4 reads.
    ///
    /// The split with WIN-1, WIN-2 and WIN-3, so that each field is reported once:
    /// `privileged: true` is WIN-1's and capabilities that add are WIN-2's (they ask for a
    /// grant); `privileged: false` and capabilities that only drop are WIN-6's (no-op
    /// values); the host namespace fields are WIN-3's.
    ///
    /// Linux-hardened charts set values that are no-ops on Windows: `privileged: false`,
    /// `allowPrivilegeEscalation: false`, `readOnlyRootFilesystem: false`, a
    /// `RuntimeDefault` seccomp profile, capabilities that add none, `procMount: Default`.
    /// With `stripLinuxNoOps: true` these are removed by mutation while everything else
    /// keeps WIN-6's action (reject by default), so `runAsUser`, `procMount: Unmasked` or
    /// a `Localhost` seccomp profile still reject. The action `mutate` also strips the
    /// no-ops, but the rest then only warns (a finding without a patch warns under
    /// `mutate`). Stripping runs before OS-4 could add `os.name` in a module that has both:
    /// OS-4 adds it only once no Linux-only field remains, in the next pass.
    ///
    /// Example: a Linux user id and a `RuntimeDefault` seccomp profile in a Windows pod:
    /// `runAsUser` is reported; the seccomp profile is a no-op that `stripLinuxNoOps: true`
    /// removes.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     runAsUser: 1000
    ///     seccompProfile: {type: RuntimeDefault}
    /// ```
    LinuxSecurityContextRule {
        id: "WIN-6",
        summary: "Linux-only security context fields in a Windows pod (stripLinuxNoOps removes the no-op values)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: true,
        source: "API server validateWindows rejects any non-nil value for os.name windows (actions-runner-controller#2009)",
        settings: ["stripLinuxNoOps"],
    }
}

fn hint(field: &str) -> &'static str {
    match field {
        "runAsUser" | "runAsGroup" | "supplementalGroups" | "supplementalGroupsPolicy" => {
            " (a Windows identity is windowsOptions.runAsUserName)"
        }
        _ => "",
    }
}

impl Rule for LinuxSecurityContextRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let strip_opted_in = ctx.settings.strip_linux_no_ops;
        let strips = strip_opted_in || ctx.settings.action_of(self) == Action::Mutate;
        for field in ctx.linux_only_fields() {
            let owned_elsewhere = HOST_NAMESPACE_FIELDS.contains(&field.field)
                || (!field.no_op && matches!(field.field, "privileged" | "capabilities"));
            if owned_elsewhere {
                continue;
            }
            if !field.no_op {
                findings.push(Finding::new(
                    META.id,
                    field.path.clone(),
                    format!(
                        "{}: {} is Linux-only{}: Windows ignores it, and the API server rejects the field on a windows pod",
                        field.field,
                        field.value,
                        hint(field.field)
                    ),
                ));
                continue;
            }
            let message = if strips {
                format!(
                    "{}: {} is a no-op on Windows that the API server rejects on a windows pod: removed",
                    field.field, field.value
                )
            } else {
                format!(
                    "{}: {} is a no-op on Windows, but the API server rejects the field on a windows pod; remove it (stripLinuxNoOps: true removes it)",
                    field.field, field.value
                )
            };
            let patch = vec![remove_field(&field.path)];
            let finding = Finding::new(META.id, field.path.clone(), message);
            findings.push(if strip_opted_in {
                finding.with_opted_in_patch(patch)
            } else {
                finding.with_patch(patch)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::Decision;
    use crate::engine::module::Module;
    use crate::k8s::patch::{PatchOp, diff};
    use crate::rules::MissingOsNameRule;
    use crate::testing::{acted, evaluate, findings};
    use serde_json::json;

    /// A Linux-hardened chart pinned to Windows by nodeSelector only.
    fn hardened() -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": true},
            "containers": [{"name": "app", "securityContext": {
                "privileged": false, "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": false, "capabilities": {"drop": ["ALL"]}}}]}}}})
    }

    #[test]
    fn rejects_every_linux_only_field_with_its_path() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "sysctls": []},
            "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked",
                "seccompProfile": {"type": "RuntimeDefault"}, "privileged": true,
                "capabilities": {"add": ["NET_ADMIN"]}}}],
            "hostPID": true}});
        let found = findings(&LinuxSecurityContextRule, &object);
        let paths: Vec<String> = found.iter().map(|f| f.path.to_string()).collect();
        // privileged: true (WIN-1), added capabilities (WIN-2) and hostPID (WIN-3) are not here.
        assert_eq!(
            paths,
            [
                "spec.securityContext.fsGroup",
                "spec.securityContext.runAsUser",
                "spec.containers[0].securityContext.seccompProfile",
                "spec.containers[0].securityContext.procMount",
            ]
        );
        assert_eq!(
            found[1].message,
            "runAsUser: 1000 is Linux-only (a Windows identity is windowsOptions.runAsUserName): Windows ignores it, and the API server rejects the field on a windows pod"
        );
        let all = acted(&LinuxSecurityContextRule, &object, json!(null));
        assert!(all.iter().all(|f| f.action == Action::Reject));
        assert!(all.iter().all(|f| f.finding.patch.is_empty()));
    }

    #[test]
    fn accepts_windows_pods_without_linux_only_fields() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"runAsNonRoot": true, "windowsOptions": {"runAsUserName": "ContainerUser"}},
            "containers": [{"name": "a", "securityContext": {"runAsNonRoot": true}}]}});
        assert!(findings(&LinuxSecurityContextRule, &object).is_empty());
    }

    #[test]
    fn rejects_no_op_values_by_default() {
        let evaluation = evaluate(&single(), &hardened(), json!({}));
        assert_eq!(evaluation.decision, Decision::Reject);
        assert_eq!(evaluation.rejections().count(), 5);
    }

    fn single() -> Module {
        Module {
            name: "win6",
            rules: &[&LinuxSecurityContextRule],
            default_actions: &[],
            runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
            node_inventory: None,
        }
    }

    #[test]
    fn strips_the_no_op_values_when_opted_in() {
        let object = hardened();
        let evaluation = evaluate(&single(), &object, json!({"stripLinuxNoOps": true}));
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {evaluation:?}");
        };
        let remove = |p: &str| PatchOp::Remove { path: p.into() };
        assert_eq!(
            diff(&object, mutated),
            vec![
                remove("/spec/template/spec/securityContext/seccompProfile"),
                remove("/spec/template/spec/containers/0/securityContext/privileged"),
                remove("/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"),
                remove("/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem"),
                remove("/spec/template/spec/containers/0/securityContext/capabilities"),
            ]
        );
        // The findings' own patches, in the order WIN-6 reports them.
        let patches: Vec<PatchOp> = evaluation
            .mutations()
            .flat_map(|f| f.patch.clone())
            .collect();
        assert_eq!(
            patches,
            vec![
                remove("/spec/template/spec/securityContext/seccompProfile"),
                remove("/spec/template/spec/containers/0/securityContext/capabilities"),
                remove("/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem"),
                remove("/spec/template/spec/containers/0/securityContext/privileged"),
                remove("/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"),
            ]
        );
        // Idempotent: the stripped object needs nothing more.
        let again = evaluate(&single(), mutated, json!({"stripLinuxNoOps": true}));
        assert_eq!(again.decision, Decision::Accept);
        assert!(again.findings.is_empty());
    }

    #[test]
    fn strip_still_rejects_values_that_do_something() {
        let mut object = hardened();
        object["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] =
            json!(1000);
        let evaluation = evaluate(&single(), &object, json!({"stripLinuxNoOps": true}));
        assert_eq!(evaluation.decision, Decision::Reject);
        let rejected: Vec<String> = evaluation
            .rejections()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(
            rejected,
            ["spec.template.spec.containers[0].securityContext.runAsUser"]
        );
        // Under the action mutate the no-ops are stripped and the rest only warns.
        let evaluation = evaluate(&single(), &object, json!({"rules": {"WIN-6": "mutate"}}));
        assert!(matches!(evaluation.decision, Decision::Mutate(_)));
        assert_eq!(evaluation.warnings().count(), 1);
    }

    #[test]
    fn strips_before_os4_sets_os_name() {
        static WITH_OS4: Module = Module {
            name: "os4-win6",
            rules: &[&MissingOsNameRule, &LinuxSecurityContextRule],
            default_actions: &[],
            runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
            node_inventory: None,
        };
        let object = hardened();
        let evaluation = evaluate(&WITH_OS4, &object, json!({"stripLinuxNoOps": true}));
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("expected a mutation: {evaluation:?}");
        };
        let ops = diff(&object, mutated);
        assert_eq!(ops.len(), 6, "{ops:?}");
        assert_eq!(
            ops.last(),
            Some(&PatchOp::Add {
                path: "/spec/template/spec/os".into(),
                value: json!({"name": "windows"})
            })
        );
        let again = evaluate(&WITH_OS4, mutated, json!({"stripLinuxNoOps": true}));
        assert_eq!(again.decision, Decision::Accept);
        assert!(again.findings.is_empty(), "{:?}", again.findings);
    }
}
