use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{CredentialSpec, contents_match, gmsa_uses};
use crate::rules::id;

declare_rule! {
    /// ID-5: a pod brings gMSA credential spec contents that are not those of the credential spec it names.
    ///
    /// The kubelet uses the contents in `gmsaCredentialSpec`, not the name: contents written
    /// by hand beside a name would give the container another account than the one its
    /// service account is authorized to use. The windows-gmsa webhook therefore refuses
    /// contents that differ from the named `GMSACredentialSpec`'s `credspec` (422), compared
    /// as JSON objects (key order and whitespace do not matter), and contents without a
    /// name. This rule does the same, at the pod template of every workload kind too;
    /// contents without a name are ID-2's to report when the module runs it. A
    /// credential spec the cluster does not have, or cannot be read, is ID-3's.
    ///
    /// Example: contents that name another account than `webapp1`'s.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions:
    ///       gmsaCredentialSpecName: webapp1
    ///       gmsaCredentialSpec: '{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"MachineAccountName":"Admin"}}'
    /// ```
    GmsaContentsMatchRule {
        id: "ID-5",
        summary: "inline gmsaCredentialSpec that is not the named GMSACredentialSpec's credspec (compared as JSON), or without a name",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa admission-webhook/webhook.go validateCreateRequest, compareCredSpecContents)",
        settings: [],
    }
}

impl Rule for GmsaContentsMatchRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for used in gmsa_uses(ctx.workload) {
            let Some(contents) = used.contents else {
                continue;
            };
            let owner = used.owner();
            if used.name.is_none() {
                if !ctx.runs(id::ID_2) {
                    findings.push(Finding::new(
                        META.id,
                        used.contents_path(),
                        format!(
                            "{owner} has a gmsaCredentialSpec but no gmsaCredentialSpecName: inline contents must come from a named GMSACredentialSpec"
                        ),
                    ));
                }
                continue;
            }
            let Some(name) = used.checked_name() else {
                continue;
            };
            let spec = ctx.credential_spec(name);
            let CredentialSpec::Found { credspec, .. } = spec.as_ref() else {
                continue;
            };
            let message = match contents_match(contents, credspec) {
                Ok(true) => continue,
                Ok(false) => format!(
                    "the gmsaCredentialSpec of {owner} does not match the contents of GMSACredentialSpec {name:?}; remove it and let the credential spec be inlined, or name the credential spec these contents are"
                ),
                Err(error) => format!(
                    "the gmsaCredentialSpec of {owner} cannot be compared with GMSACredentialSpec {name:?}: {error}"
                ),
            };
            findings.push(Finding::new(META.id, used.contents_path(), message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::gmsa::go_json;
    use crate::testing::{GmsaHost, acted_with, credspec_webapp1};
    use serde_json::{Value, json};

    fn pod(contents: &str) -> Value {
        json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "iis", "securityContext": {"windowsOptions": {
                "gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": contents}}}]}})
    }

    fn host() -> GmsaHost {
        GmsaHost::new().credential_spec("webapp1", credspec_webapp1())
    }

    #[test]
    fn rejects_contents_other_than_the_named_specs() {
        // integration_test.go's "with pre-set unmatching contents" case.
        let other = r#"{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"MachineAccountName":"Admin"}}"#;
        let found = acted_with(&GmsaContentsMatchRule, &pod(other), Value::Null, &host());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpec"
        );
        assert_eq!(
            found[0].finding.message,
            "the gmsaCredentialSpec of container \"iis\" does not match the contents of GMSACredentialSpec \"webapp1\"; remove it and let the credential spec be inlined, or name the credential spec these contents are"
        );
        let invalid = acted_with(
            &GmsaContentsMatchRule,
            &pod("i ain't no JSON object"),
            Value::Null,
            &host(),
        );
        assert!(
            invalid[0].finding.message.starts_with(
                "the gmsaCredentialSpec of container \"iis\" cannot be compared with GMSACredentialSpec \"webapp1\": gmsaCredentialSpec is not JSON ("
            ),
            "{}",
            invalid[0].finding.message
        );
    }

    #[test]
    fn accepts_the_named_specs_contents_in_any_key_order() {
        // "with pre-set matching contents": as inlined, and reformatted by hand.
        let inlined = go_json(&credspec_webapp1());
        assert!(
            acted_with(&GmsaContentsMatchRule, &pod(&inlined), Value::Null, &host()).is_empty()
        );
        let pretty = serde_json::to_string_pretty(&credspec_webapp1()).unwrap();
        assert!(acted_with(&GmsaContentsMatchRule, &pod(&pretty), Value::Null, &host()).is_empty());
        // A spec the cluster does not have is ID-3's.
        let unknown = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "nope", "gmsaCredentialSpec": "{}"}},
            "containers": [{"name": "iis"}]}});
        assert!(acted_with(&GmsaContentsMatchRule, &unknown, Value::Null, &host()).is_empty());
    }

    #[test]
    fn contents_without_a_name_are_reported_when_id2_does_not_run() {
        // "with contents but no name": the single-rule module does not carry ID-2.
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "initContainers": [{"name": "init", "securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{}"}}}],
            "containers": [{"name": "iis"}]}});
        let found = acted_with(&GmsaContentsMatchRule, &object, Value::Null, &host());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].finding.message,
            "init container \"init\" has a gmsaCredentialSpec but no gmsaCredentialSpecName: inline contents must come from a named GMSACredentialSpec"
        );
        assert!(host().calls().is_empty());
    }
}
