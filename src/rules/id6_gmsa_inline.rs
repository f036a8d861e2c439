use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{CredentialSpec, gmsa_uses};
use crate::k8s::patch::PatchOp;
use crate::k8s::workload::WorkloadKind;
use serde_json::Value;

declare_rule! {
    /// ID-6: a Pod names a gMSA credential spec without its contents (mutates: inlines them).
    ///
    /// The kubelet reads a container's credential spec from `gmsaCredentialSpec`, never
    /// from the name: the windows-gmsa webhook's mutating half fills it in on Pod CREATE
    /// for the pod and each container that names a credential spec without contents, with
    /// the `credspec` of the named `GMSACredentialSpec` as JSON (as Go's `encoding/json`
    /// writes it: compact, keys sorted). This rule makes the same patch, for Pods only:
    /// a template never gets contents, so that a rotated credential spec reaches the pods
    /// created after it. On an UPDATE it inlines only for ephemeral containers the update
    /// adds (`kubectl debug`); the settings of existing containers cannot change (ID-7).
    /// A credential spec the cluster does not have is ID-3's to report.
    ///
    /// Example: a Pod naming `webapp1`; `mutate` adds its contents as
    /// `securityContext.windowsOptions.gmsaCredentialSpec`.
    ///
    /// ```yaml
    /// kind: Pod
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {gmsaCredentialSpecName: webapp1}
    /// ```
    GmsaInlineRule {
        id: "ID-6",
        summary: "Pod naming a gMSA credential spec without its contents (mutates: inlines the GMSACredentialSpec's credspec, as the windows-gmsa webhook does)",
        applies_to: WindowsPods,
        default_action: Mutate,
        can_mutate: true,
        source: "windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa admission-webhook/webhook.go mutateCreateRequest)",
        settings: [],
    }
}

impl Rule for GmsaInlineRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.workload.kind != WorkloadKind::Pod {
            return;
        }
        for used in gmsa_uses(ctx.workload) {
            // On an UPDATE only what it adds is new (ephemeral containers).
            let (Some(name), None) = (used.checked_name(), used.contents) else {
                continue;
            };
            if ctx
                .request
                .old_pod
                .is_some_and(|old| used.owner_existed(old))
            {
                continue;
            }
            let spec = ctx.credential_spec(name);
            let CredentialSpec::Found { inlined, .. } = spec.as_ref() else {
                continue;
            };
            let owner = used.owner();
            let path = used.contents_path();
            findings.push(
                Finding::new(
                    META.id,
                    path.clone(),
                    format!(
                        "{owner} names gMSA credential spec {name:?} without its contents; the contents of GMSACredentialSpec {name:?} are inlined"
                    ),
                )
                .with_patch(vec![PatchOp::Add {
                    path: path.pointer(),
                    value: Value::String(inlined.clone()),
                }]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::facts::gmsa::go_json;
    use crate::testing::{
        GmsaHost, acted_in_request, acted_with, credspec_webapp1, evaluate_with, patched,
    };
    use serde_json::json;

    fn host() -> GmsaHost {
        GmsaHost::new()
            .credential_spec("webapp1", credspec_webapp1())
            .credential_spec(
                "webapp2",
                json!({"CmsPlugins": ["ActiveDirectory"], "DomainJoinConfig": {"MachineAccountName": "WebApp2"}}),
            )
    }

    /// integration_test.go's "with a GMSA at the pod level and container level" case:
    /// the pod, a container and an init container name credential specs, one container
    /// has its contents already.
    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "webapps"}, "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}},
            "initContainers": [{"name": "init", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp2"}}}],
            "containers": [
                {"name": "nginx0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp2"}}},
                {"name": "nginx1", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": "{}"}}},
                {"name": "nginx2", "unknownField": {"kept": true}}]}})
    }

    #[test]
    fn inlines_each_name_without_contents() {
        let found = acted_with(&GmsaInlineRule, &pod(), Value::Null, &host());
        let webapp1 = go_json(&credspec_webapp1());
        let webapp2 = r#"{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"MachineAccountName":"WebApp2"}}"#;
        let patches: Vec<(Action, Vec<PatchOp>)> = found
            .iter()
            .map(|a| (a.action, a.finding.patch.clone()))
            .collect();
        assert_eq!(
            patches,
            [
                (
                    Action::Mutate,
                    vec![PatchOp::Add {
                        path: "/spec/securityContext/windowsOptions/gmsaCredentialSpec".into(),
                        value: json!(webapp1)
                    }]
                ),
                (
                    Action::Mutate,
                    vec![PatchOp::Add {
                        path: "/spec/containers/0/securityContext/windowsOptions/gmsaCredentialSpec".into(),
                        value: json!(webapp2)
                    }]
                ),
                (
                    Action::Mutate,
                    vec![PatchOp::Add {
                        path: "/spec/initContainers/0/securityContext/windowsOptions/gmsaCredentialSpec".into(),
                        value: json!(webapp2)
                    }]
                ),
            ]
        );
        assert_eq!(
            found[1].finding.message,
            "container \"nginx0\" names gMSA credential spec \"webapp2\" without its contents; the contents of GMSACredentialSpec \"webapp2\" are inlined"
        );
        // Every other field is kept, unknown ones too; the patched pod is a fixpoint.
        let findings: Vec<Finding> = found.into_iter().map(|a| a.finding).collect();
        let fixed = patched(&pod(), &findings);
        assert_eq!(
            fixed["spec"]["containers"][2],
            pod()["spec"]["containers"][2]
        );
        assert_eq!(
            fixed["spec"]["containers"][1],
            pod()["spec"]["containers"][1],
            "pre-set contents are left to ID-5"
        );
        assert!(acted_with(&GmsaInlineRule, &fixed, Value::Null, &host()).is_empty());
    }

    #[test]
    fn a_full_evaluation_patches_and_reaches_a_fixpoint() {
        // The module's other rules find nothing once the contents are inlined: every
        // name exists, nginx1's contents aside (ID-5 rejects them); without nginx1's
        // contents the pod is mutated, and evaluated again it is left alone.
        let mut clean = pod();
        clean["spec"]["containers"][1]["securityContext"]["windowsOptions"]
            .as_object_mut()
            .unwrap()
            .remove("gmsaCredentialSpec");
        let host = host()
            .allow("webapps", "default", "webapp1")
            .allow("webapps", "default", "webapp2");
        let evaluation = evaluate_with(&crate::modules::GMSA, &clean, Value::Null, &host);
        let crate::engine::evaluate::Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("not mutated: {evaluation:?}");
        };
        let object = mutated.value().clone();
        assert_eq!(
            object["spec"]["containers"][1]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
            json!(go_json(&credspec_webapp1()))
        );
        let again = evaluate_with(&crate::modules::GMSA, &object, Value::Null, &host);
        assert_eq!(
            again.decision,
            crate::engine::evaluate::Decision::Accept,
            "{again:?}"
        );
        assert_eq!(
            object["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
            json!(go_json(&credspec_webapp1()))
        );
    }

    #[test]
    fn templates_and_unknown_specs_are_never_inlined() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod()["spec"].clone()}}});
        assert!(acted_with(&GmsaInlineRule, &deployment, Value::Null, &host()).is_empty());
        let unknown = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "nope"}},
            "containers": [{"name": "iis"}]}});
        assert!(acted_with(&GmsaInlineRule, &unknown, Value::Null, &host()).is_empty());
    }

    #[test]
    fn an_update_inlines_only_for_added_ephemeral_containers() {
        let old = pod();
        let mut new = pod();
        new["spec"]["ephemeralContainers"] = json!([{"name": "debug",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}}}]);
        let found = acted_in_request(
            &GmsaInlineRule,
            &new,
            Value::Null,
            &host(),
            None,
            Some(&old),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path:
                    "/spec/ephemeralContainers/0/securityContext/windowsOptions/gmsaCredentialSpec"
                        .into(),
                value: json!(go_json(&credspec_webapp1()))
            }]
        );
    }
}
