use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{gmsa_uses, may_use, service_account};
use crate::rules::util::gmsa_lookup_failed;

declare_rule! {
    /// ID-4: a pod's service account is not authorized to use the gMSA credential spec it names.
    ///
    /// Whoever may name a credential spec acts as its Active Directory account, so the
    /// windows-gmsa webhook lets a pod name one only when its service account may `use` it:
    /// a SubjectAccessReview for verb `use` on `gmsacredentialspecs.windows.k8s.io` with the
    /// name, in the pod's namespace (403 otherwise). This rule asks the same question with
    /// `kubernetes/can_i`, for the service account the pods run as (`serviceAccountName`,
    /// else `default`), at the pod template of every workload kind too. The grant is a
    /// ClusterRole or Role with `verbs: [use]` and `resourceNames` bound to the service
    /// account. When the question cannot be asked (PolicyServer may not create
    /// SubjectAccessReviews), `settings.gmsaLookupFailure` says whether the pod is refused
    /// (`reject`, the default) or goes through with a warning (`warn`).
    ///
    /// Example: service account `default` has no role that lets it use `webapp1`.
    ///
    /// ```yaml
    /// metadata: {namespace: webapps}
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {gmsaCredentialSpecName: webapp1}
    /// ```
    GmsaUseAuthorizedRule {
        id: "ID-4",
        summary: "the pod's service account may not use (RBAC verb use on gmsacredentialspecs.windows.k8s.io) the gMSA credential spec it names",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa admission-webhook/webhook.go validateCreateRequest, kube_client.go isAuthorizedToUseCredSpec)",
        settings: ["gmsaLookupFailure"],
    }
}

impl Rule for GmsaUseAuthorizedRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let uses = gmsa_uses(ctx.workload);
        if uses.iter().all(|u| u.name.is_none()) {
            return;
        }
        let account = service_account(ctx.workload);
        // The API server sets the namespace of every namespaced object before admission;
        // an object without one is reviewed as `default`'s, where kubectl would create it.
        let namespace = ctx.namespace().unwrap_or("default");
        for used in uses {
            let Some(name) = used.checked_name() else {
                continue;
            };
            let owner = used.owner();
            match may_use(ctx.host, namespace, account, name) {
                Ok(authorization) if authorization.allowed => {}
                Ok(authorization) => {
                    let reason = if authorization.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", authorization.reason)
                    };
                    findings.push(Finding::new(
                        META.id,
                        used.name_path(),
                        format!(
                            "service account {account:?} of namespace {namespace:?} is not authorized to use gMSA credential spec {name:?} ({owner}){reason}; grant it the verb use on gmsacredentialspecs.windows.k8s.io {name:?} with a role bound to the service account"
                        ),
                    ));
                }
                Err(error) => findings.push(gmsa_lookup_failed(
                    META.id,
                    used.name_path(),
                    format!(
                        "whether service account {account:?} of namespace {namespace:?} may use gMSA credential spec {name:?} ({owner}) could not be checked: {error}"
                    ),
                    ctx.settings.gmsa_lookup_failure,
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{GmsaHost, acted_in_request};
    use serde_json::{Value, json};

    /// `integration_tests/templates/several-containers-with-gmsa.yml` in spirit: the pod
    /// names one credential spec and two of its containers name others.
    fn pod(service_account: &str) -> Value {
        json!({"kind": "Pod", "metadata": {"name": "web", "namespace": "webapps"}, "spec": {
            "serviceAccountName": service_account,
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}},
            "containers": [
                {"name": "nginx0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp2"}}},
                {"name": "nginx1"},
                {"name": "nginx2", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}}}]}})
    }

    #[test]
    fn rejects_each_use_the_service_account_may_not_make() {
        let host = GmsaHost::new().allow("webapps", "web", "webapp1");
        let found = acted_in_request(
            &GmsaUseAuthorizedRule,
            &pod("web"),
            Value::Null,
            &host,
            Some("webapps"),
            None,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].action, Action::Reject);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
        );
        assert_eq!(
            found[0].finding.message,
            "service account \"web\" of namespace \"webapps\" is not authorized to use gMSA credential spec \"webapp2\" (container \"nginx0\"); grant it the verb use on gmsacredentialspecs.windows.k8s.io \"webapp2\" with a role bound to the service account"
        );
        // One question per use (an evaluation asks the host once per question:
        // MemoHostCalls).
        assert_eq!(
            host.calls(),
            [
                "can_i system:serviceaccount:webapps:web use webapp1",
                "can_i system:serviceaccount:webapps:web use webapp2",
                "can_i system:serviceaccount:webapps:web use webapp1",
            ]
        );
    }

    #[test]
    fn accepts_a_service_account_allowed_every_use() {
        let host = GmsaHost::new()
            .allow("webapps", "web", "webapp1")
            .allow("webapps", "web", "webapp2");
        let found = acted_in_request(
            &GmsaUseAuthorizedRule,
            &pod("web"),
            Value::Null,
            &host,
            Some("webapps"),
            None,
        );
        assert!(found.is_empty(), "{found:?}");
        // The same grant in another namespace does not count.
        let elsewhere = acted_in_request(
            &GmsaUseAuthorizedRule,
            &pod("web"),
            Value::Null,
            &host,
            Some("other"),
            None,
        );
        assert_eq!(elsewhere.len(), 3);
        assert!(
            elsewhere[0]
                .finding
                .message
                .starts_with("service account \"web\" of namespace \"other\" is not authorized")
        );
    }

    #[test]
    fn the_template_namespace_and_default_service_account_are_used() {
        // No serviceAccountName: the pods run as `default`; no request namespace: the
        // object's own.
        let host = GmsaHost::new().allow("webapps", "default", "webapp1");
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": "webapps"}, "spec": {"template": {"spec": {
                "nodeSelector": {"kubernetes.io/os": "windows"},
                "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}},
                "containers": [{"name": "iis"}]}}}});
        let found = acted_in_request(
            &GmsaUseAuthorizedRule,
            &deployment,
            Value::Null,
            &host,
            None,
            None,
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(
            host.calls(),
            ["can_i system:serviceaccount:webapps:default use webapp1"]
        );
    }

    #[test]
    fn a_failed_question_rejects_or_warns_by_setting() {
        let host = GmsaHost::new().failing_can_i(
            "subjectaccessreviews.authorization.k8s.io is forbidden: User \"system:serviceaccount:kubewarden:policy-server\" cannot create resource \"subjectaccessreviews\"",
        );
        let object = json!({"kind": "Pod", "metadata": {"namespace": "webapps"}, "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}},
            "containers": [{"name": "iis"}]}});
        let rejected = acted_in_request(
            &GmsaUseAuthorizedRule,
            &object,
            Value::Null,
            &host,
            None,
            None,
        );
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].action, Action::Reject);
        assert_eq!(
            rejected[0].finding.message,
            "whether service account \"default\" of namespace \"webapps\" may use gMSA credential spec \"webapp1\" (the pod) could not be checked: kubernetes/can_i: subjectaccessreviews.authorization.k8s.io is forbidden: User \"system:serviceaccount:kubewarden:policy-server\" cannot create resource \"subjectaccessreviews\"; rejected (settings.gmsaLookupFailure: reject)"
        );
        let warned = acted_in_request(
            &GmsaUseAuthorizedRule,
            &object,
            json!({"gmsaLookupFailure": "warn"}),
            &host,
            None,
            None,
        );
        assert_eq!(warned[0].action, Action::Warn);
    }

    #[test]
    fn the_denial_reason_is_given() {
        struct Denying;
        impl crate::facts::host::HostCalls for Denying {
            fn call(&self, _: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, String> {
                Ok(br#"{"allowed": true, "denied": true, "reason": "denied by the cluster's authorization webhook"}"#.to_vec())
            }
        }
        let found = acted_in_request(
            &GmsaUseAuthorizedRule,
            &pod("web"),
            Value::Null,
            &Denying,
            Some("webapps"),
            None,
        );
        assert_eq!(found.len(), 3);
        assert!(found[0].finding.message.contains(
            "(the pod): denied by the cluster's authorization webhook; grant it the verb use"
        ));
    }
}
