use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{GmsaUse, gmsa_uses};
use crate::k8s::path::FieldPath;
use crate::windows::names::{MAX_GMSA_CREDENTIAL_SPEC_LENGTH, dns1123_subdomain_error};

declare_rule! {
    /// ID-2: a Windows pod uses a gMSA credential spec that is not allowed, or brings its own.
    ///
    /// A group Managed Service Account gives a container an Active Directory identity: whoever
    /// may name a credential spec acts as that account on the network. The credential spec
    /// lives in a cluster-scoped `GMSACredentialSpec` object that the windows-gmsa webhook
    /// resolves by `gmsaCredentialSpecName` (pod or container `windowsOptions`, the
    /// container's overriding the pod's). The rule reports:
    ///
    /// - a `gmsaCredentialSpecName` that is not a DNS-1123 subdomain (the API server's rule);
    /// - a name a container uses that `settings.allowedGmsaCredentialSpecNames` does not list
    ///   (exact match). The list is empty by default: no pod may use gMSA until the operator
    ///   names the credential specs it allows;
    /// - an inline `gmsaCredentialSpec` without a `gmsaCredentialSpecName` beside it (the
    ///   webhook refuses it too: the spec must come from a named, authorised object), and an
    ///   inline spec that is empty or larger than 64 KiB (the API server's rules).
    ///
    /// Example: a gMSA credential spec that `allowedGmsaCredentialSpecNames` does not list
    /// (empty by default).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {gmsaCredentialSpecName: webapp1}
    /// ```
    GmsaRule {
        id: "ID-2",
        summary: "gMSA credential spec name not in settings.allowedGmsaCredentialSpecNames (empty by default) or not a DNS-1123 subdomain, or an inline gmsaCredentialSpec without a name",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindowsSecurityContextOptions; windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa)",
        settings: ["allowedGmsaCredentialSpecNames"],
    }
}

/// The checks on one use (pod or container `windowsOptions`) that do not depend on
/// settings.
fn check_written(used: &GmsaUse<'_>, findings: &mut Vec<Finding>) {
    if let Some(name) = used.name
        && let Some(error) = dns1123_subdomain_error(name)
    {
        findings.push(Finding::new(
            META.id,
            used.name_path(),
            format!("gmsaCredentialSpecName {name:?} {error}"),
        ));
    }
    if let Some(spec) = used.contents {
        let path = used.contents_path();
        if used.name.is_none() {
            findings.push(Finding::new(
                META.id,
                path.clone(),
                "an inline gmsaCredentialSpec without gmsaCredentialSpecName: a credential spec must come from a GMSACredentialSpec object, named in gmsaCredentialSpecName, that the gMSA webhook resolves and authorises",
            ));
        }
        if spec.is_empty() {
            findings.push(Finding::new(
                META.id,
                path,
                "gmsaCredentialSpec cannot be an empty string",
            ));
        } else if spec.len() > MAX_GMSA_CREDENTIAL_SPEC_LENGTH {
            findings.push(Finding::new(
                META.id,
                path,
                "gmsaCredentialSpec size must be under 64 KiB",
            ));
        }
    }
}

impl Rule for GmsaRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let workload = ctx.workload;
        for used in gmsa_uses(workload) {
            check_written(&used, findings);
        }

        // The names containers use, each reported once where it is written.
        let allowed = &ctx.settings.allowed_gmsa_credential_spec_names;
        let mut reported: Vec<(FieldPath, Vec<&str>, &str)> = Vec::new();
        for container in workload.containers() {
            let Some(effective) =
                workload.windows_option(&container, "gmsaCredentialSpecName", |o| {
                    o.gmsa_credential_spec_name.as_deref()
                })
            else {
                continue;
            };
            let name = effective.value;
            if dns1123_subdomain_error(name).is_some() || allowed.iter().any(|a| a == name) {
                continue;
            }
            match reported
                .iter_mut()
                .find(|(path, _, _)| *path == effective.path)
            {
                Some((_, containers, _)) => containers.push(container.name),
                None => reported.push((effective.path, vec![container.name], name)),
            }
        }
        for (path, containers, name) in reported {
            let quoted: Vec<String> = containers.iter().map(|c| format!("{c:?}")).collect();
            let who = if quoted.len() == 1 {
                format!("container {}", quoted[0])
            } else {
                format!("containers {}", quoted.join(", "))
            };
            let why = if allowed.is_empty() {
                "no gMSA credential spec is allowed (settings.allowedGmsaCredentialSpecNames is empty); list the credential specs pods may use".to_string()
            } else {
                format!(
                    "it is not in settings.allowedGmsaCredentialSpecNames ({})",
                    allowed.join(", ")
                )
            };
            findings.push(Finding::new(
                META.id,
                path,
                format!("gMSA credential spec {name:?} ({who}): {why}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{acted, findings};
    use serde_json::{Value, json};

    /// The Rancher gMSA sample: the pod names credential spec gmsa1.
    fn rancher_sample() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa1"}},
            "containers": [{"name": "iis",
                "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}],
            "nodeSelector": {"kubernetes.io/os": "windows"}}}}})
    }

    fn summary(settings: Value, object: &Value) -> Vec<(String, String)> {
        acted(&GmsaRule, object, settings)
            .into_iter()
            .map(|a| (a.finding.path.to_string(), a.finding.message))
            .collect()
    }

    #[test]
    fn no_gmsa_is_allowed_by_default() {
        assert_eq!(
            summary(Value::Null, &rancher_sample()),
            [(
                "spec.template.spec.securityContext.windowsOptions.gmsaCredentialSpecName".to_string(),
                "gMSA credential spec \"gmsa1\" (container \"iis\"): no gMSA credential spec is allowed (settings.allowedGmsaCredentialSpecNames is empty); list the credential specs pods may use".to_string()
            )]
        );
    }

    #[test]
    fn allowed_names_pass_and_others_are_named() {
        assert!(
            summary(
                json!({"allowedGmsaCredentialSpecNames": ["gmsa1"]}),
                &rancher_sample()
            )
            .is_empty()
        );
        let found = summary(
            json!({"allowedGmsaCredentialSpecNames": ["webapp1", "gmsa2"]}),
            &rancher_sample(),
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .1
                .ends_with("it is not in settings.allowedGmsaCredentialSpecNames (webapp1, gmsa2)")
        );
    }

    #[test]
    fn a_container_name_overrides_the_pods() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa1"}},
            "containers": [
                {"name": "a", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa2"}}},
                {"name": "b"}]}});
        let found = summary(
            json!({"allowedGmsaCredentialSpecNames": ["gmsa1"]}),
            &object,
        );
        assert_eq!(
            found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"]
        );
    }

    #[test]
    fn rejects_inline_specs_without_a_name_and_malformed_names() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "WebApp_1"}},
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {
                "gmsaCredentialSpec": "{\"CmsPlugins\":[\"ActiveDirectory\"]}"}}},
                {"name": "b", "securityContext": {"windowsOptions": {"gmsaCredentialSpec": ""}}}]}});
        let found = summary(
            json!({"allowedGmsaCredentialSpecNames": ["webapp1"]}),
            &object,
        );
        let paths: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.securityContext.windowsOptions.gmsaCredentialSpecName",
                "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpec",
                "spec.containers[1].securityContext.windowsOptions.gmsaCredentialSpec",
                "spec.containers[1].securityContext.windowsOptions.gmsaCredentialSpec",
            ]
        );
        assert!(found[0].1.starts_with(
            "gmsaCredentialSpecName \"WebApp_1\" must be a lowercase RFC 1123 subdomain"
        ));
        assert_eq!(found[3].1, "gmsaCredentialSpec cannot be an empty string");
    }

    #[test]
    fn pods_without_gmsa_pass() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
            "containers": [{"name": "a"}]}});
        assert!(findings(&GmsaRule, &object).is_empty());
    }
}
