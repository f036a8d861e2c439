use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{CredentialSpec, gmsa_uses};
use crate::rules::util::gmsa_lookup_failed;

declare_rule! {
    /// ID-3: a pod names a gMSA credential spec that the cluster does not have.
    ///
    /// The kubelet hands a Windows container the contents of its credential spec, which the
    /// windows-gmsa webhook copies from the cluster-scoped `GMSACredentialSpec`
    /// (`windows.k8s.io/v1`) named in `gmsaCredentialSpecName`. The webhook refuses a Pod
    /// whose name has no such object (404) or whose object has no `credspec` (417). This
    /// rule reads each named object with `kubernetes/get_resource` and reports the same,
    /// at the pod template of every workload kind too, so that a Deployment is refused
    /// before its ReplicaSet fails to create pods. A name on a pod that does not target
    /// Windows is reported as a warning: gMSA works on Windows nodes only. When the
    /// look-up itself fails (no CRD, no permission to read it), `settings.gmsaLookupFailure`
    /// says whether the pod is refused (`reject`, the default, as the webhook does) or
    /// goes through with a warning (`warn`).
    ///
    /// Example: a credential spec the cluster has no `GMSACredentialSpec` for.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {gmsaCredentialSpecName: no-such-spec}
    /// ```
    GmsaCredentialSpecExistsRule {
        id: "ID-3",
        summary: "gMSA credential spec name with no GMSACredentialSpec (or one without credspec) in the cluster, or named on a pod that does not target Windows",
        applies_to: AllPods,
        default_action: Reject,
        can_mutate: false,
        source: "windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa admission-webhook/webhook.go, kube_client.go retrieveCredSpecContents)",
        settings: ["gmsaLookupFailure"],
    }
}

impl Rule for GmsaCredentialSpecExistsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let windows = ctx.os.is_windows();
        for used in gmsa_uses(ctx.workload) {
            let Some(name) = used.checked_name() else {
                continue;
            };
            let owner = used.owner();
            let path = used.name_path();
            if !windows {
                findings.push(
                    Finding::new(
                        META.id,
                        path,
                        format!(
                            "{owner} names gMSA credential spec {name:?} in a pod that is not a Windows pod ({}); gMSA works on Windows nodes only",
                            ctx.os.explain()
                        ),
                    )
                    .advisory(),
                );
                continue;
            }
            let message = match ctx.credential_spec(name).as_ref() {
                CredentialSpec::Found { .. } => continue,
                CredentialSpec::NotFound => format!(
                    "{owner} names gMSA credential spec {name:?}, which does not exist (no GMSACredentialSpec {name:?} in the cluster)"
                ),
                CredentialSpec::NoCredspec => format!(
                    "{owner} names gMSA credential spec {name:?}, whose GMSACredentialSpec has no credspec"
                ),
                CredentialSpec::Failed(error) => {
                    findings.push(gmsa_lookup_failed(
                        META.id,
                        path,
                        format!(
                            "gMSA credential spec {name:?} ({owner}) could not be looked up: {error}"
                        ),
                        ctx.settings.gmsa_lookup_failure,
                    ));
                    continue;
                }
            };
            findings.push(Finding::new(META.id, path, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{GmsaHost, acted_with, credspec_webapp1, described};
    use serde_json::{Value, json};

    /// `integration_tests/templates/simple-with-gmsa.yml` in spirit: a Windows pod
    /// naming a credential spec at the pod level and one container naming another.
    fn pod(pod_name: &str, container_name: &str) -> Value {
        json!({"kind": "Pod", "metadata": {"namespace": "webapps"}, "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": pod_name}},
            "containers": [
                {"name": "iis", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": container_name}}},
                {"name": "sidecar"}]}})
    }

    fn host() -> GmsaHost {
        GmsaHost::new()
            .credential_spec("webapp1", credspec_webapp1())
            .raw_credential_spec("empty", json!({"metadata": {"name": "empty"}}))
    }

    #[test]
    fn rejects_names_the_cluster_does_not_have() {
        // The webhook's 404 ("cred spec ... does not exist") and 417 (no credspec).
        let found = acted_with(
            &GmsaCredentialSpecExistsRule,
            &pod("no-such-spec", "empty"),
            Value::Null,
            &host(),
        );
        let messages = described(&found);
        assert_eq!(
            messages,
            [
                (
                    "spec.securityContext.windowsOptions.gmsaCredentialSpecName".to_string(),
                    "the pod names gMSA credential spec \"no-such-spec\", which does not exist (no GMSACredentialSpec \"no-such-spec\" in the cluster)".to_string(),
                    Action::Reject
                ),
                (
                    "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName".to_string(),
                    "container \"iis\" names gMSA credential spec \"empty\", whose GMSACredentialSpec has no credspec".to_string(),
                    Action::Reject
                ),
            ]
        );
    }

    #[test]
    fn accepts_names_the_cluster_has_and_pods_without_gmsa() {
        let host = host();
        let found = acted_with(
            &GmsaCredentialSpecExistsRule,
            &pod("webapp1", "webapp1"),
            Value::Null,
            &host,
        );
        assert!(found.is_empty(), "{found:?}");
        let plain = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "iis"}]}});
        assert!(acted_with(&GmsaCredentialSpecExistsRule, &plain, Value::Null, &host).is_empty());
        // Templates are checked as pods are.
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {
            "spec": pod("webapp1", "missing")["spec"].clone()}}});
        let found = acted_with(
            &GmsaCredentialSpecExistsRule,
            &deployment,
            Value::Null,
            &host,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.template.spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
        );
    }

    #[test]
    fn a_failed_look_up_rejects_or_warns_by_setting() {
        let failing = GmsaHost::new().failing_get(
            "the server could not find the requested resource (get gmsacredentialspecs.windows.k8s.io webapp1)",
        );
        let object = pod("webapp1", "webapp1");
        let rejected = acted_with(
            &GmsaCredentialSpecExistsRule,
            &object,
            Value::Null,
            &failing,
        );
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].action, Action::Reject);
        assert_eq!(
            rejected[0].finding.message,
            "gMSA credential spec \"webapp1\" (the pod) could not be looked up: kubernetes/get_resource: the server could not find the requested resource (get gmsacredentialspecs.windows.k8s.io webapp1); rejected (settings.gmsaLookupFailure: reject)"
        );
        let warned = acted_with(
            &GmsaCredentialSpecExistsRule,
            &object,
            json!({"gmsaLookupFailure": "warn"}),
            &failing,
        );
        assert!(warned.iter().all(|a| a.action == Action::Warn));
        assert!(
            warned[1]
                .finding
                .message
                .ends_with("; not checked (settings.gmsaLookupFailure: warn)")
        );
    }

    #[test]
    fn a_name_on_a_linux_pod_warns_without_a_look_up() {
        let host = host();
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}},
            "containers": [{"name": "app"}]}});
        let found = acted_with(&GmsaCredentialSpecExistsRule, &linux, Value::Null, &host);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
        assert!(
            found[0]
                .finding
                .message
                .starts_with("the pod names gMSA credential spec \"webapp1\" in a pod that is not a Windows pod ("),
            "{}",
            found[0].finding.message
        );
        assert!(host.calls().is_empty());
    }
}
