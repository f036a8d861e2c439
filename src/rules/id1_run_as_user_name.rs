use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::path::{FieldPath, group_by_path};
use crate::k8s::workload::{ContainerRef, Workload};
use crate::windows::image::ImageReference;
use crate::windows::names::{UserNamePattern, quoted, run_as_user_name_errors};

declare_rule! {
    /// ID-1: the Windows user a container runs as is malformed, not allowed, or the
    /// container administrator.
    ///
    /// `windowsOptions.runAsUserName` may be set on the pod and on each container; a
    /// container's own value overrides the pod's. The rule reports:
    ///
    /// - every value set that breaks the API server's format rules (empty, control
    ///   characters, more than one `\`, domain and user length and characters; see
    ///   `crate::windows::names`), where it is written;
    /// - when `settings.allowedRunAsUserNames` is set, every name a container runs as that
    ///   matches no entry (names, or `DOMAIN\*`; case-insensitive, as Windows accounts are).
    ///   Without the setting, any well-formed name is allowed. The list applies to names that
    ///   are set: a container without one runs as its image's default user, which the next
    ///   option covers;
    /// - when `settings.forbidContainerAdministrator` is true, every container that runs as
    ///   `ContainerAdministrator`: explicitly, or because it sets no name and its image's
    ///   default user is the administrator — every image but Nano Server, whose default user
    ///   is `ContainerUser` — unless `runAsNonRoot: true` (the kubelet then refuses to start
    ///   the container as the administrator).
    ///
    /// A value the pod sets and several containers inherit is reported once, at the pod.
    ///
    /// A HostProcess container may also name a local group of the node, without a domain
    /// (`hpc-localgroup`, the HostProcess task doc's example): it then runs as a temporary
    /// local user of that group. ID-1 checks such a name as any other: it is well formed,
    /// and when the allow-list is set it must be listed by name (a `DOMAIN\*` entry does not
    /// cover it). Which names a HostProcess container can run as at all is WIN-11's concern.
    ///
    /// Example: a container that runs as `ContainerAdministrator` while
    /// `forbidContainerAdministrator: true`.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {runAsUserName: ContainerAdministrator}
    /// ```
    RunAsUserNameRule {
        id: "ID-1",
        summary: "runAsUserName malformed (API server rules), not in settings.allowedRunAsUserNames (DOMAIN\\* wildcards), or ContainerAdministrator under settings.forbidContainerAdministrator (unset counts unless Nano Server or runAsNonRoot)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindowsSecurityContextOptions; Azure policies \"allowed usernames\" and \"block ContainerAdministrator\"; Kyverno require-run-as-containeruser",
        settings: ["allowedRunAsUserNames", "forbidContainerAdministrator"],
    }
}

const ADMINISTRATOR: &str = "ContainerAdministrator";

/// Nano Server images run as `ContainerUser` unless told otherwise: the base repository
/// (`mcr.microsoft.com/windows/nanoserver`, the retired `microsoft/nanoserver`) and
/// images whose tag names it (`lts-nanoserver-ltsc2022`).
fn is_nano_server(image: &str) -> bool {
    let Ok(reference) = ImageReference::parse(image) else {
        return false;
    };
    let repository = format!("{}/{}", reference.registry, reference.repository);
    matches!(
        repository.as_str(),
        "mcr.microsoft.com/windows/nanoserver" | "docker.io/microsoft/nanoserver"
    ) || reference.tag.as_deref().is_some_and(|tag| {
        tag.to_ascii_lowercase()
            .split(['-', '_', '.'])
            .any(|token| token == "nanoserver")
    })
}

/// The container's `runAsNonRoot`, its own overriding the pod's.
fn runs_as_non_root(ctx: &Context<'_>, container: &ContainerRef<'_>) -> bool {
    container
        .security_context
        .and_then(|s| s.run_as_non_root)
        .or_else(|| {
            ctx.workload
                .spec
                .security_context
                .as_ref()
                .and_then(|s| s.run_as_non_root)
        })
        == Some(true)
}

/// One name used at one place, with the containers that run as it.
struct Use<'a> {
    path: FieldPath,
    name: &'a str,
    containers: Vec<&'a str>,
}

fn containers_phrase(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    if quoted.len() == 1 {
        format!("container {}", quoted[0])
    } else {
        format!("containers {}", quoted.join(", "))
    }
}

impl Rule for RunAsUserNameRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        report_malformed(ctx.workload, findings);
        // Both checks below are opt-in; by default nothing needs the grouped uses.
        if ctx.settings.allowed_run_as_user_names.is_none()
            && !ctx.settings.forbid_container_administrator
        {
            return;
        }
        let (uses, unset) = uses_of(ctx.workload);
        if let Some(entries) = &ctx.settings.allowed_run_as_user_names {
            report_unlisted(entries, &uses, findings);
        }
        if ctx.settings.forbid_container_administrator {
            report_administrator(ctx, &uses, unset, findings);
        }
    }
}

/// The API server's format rules, on every value set.
fn report_malformed(workload: &Workload, findings: &mut Vec<Finding>) {
    // The path of a value is made only when the value is malformed: a pod may have
    // thousands of containers, nearly all of them fine.
    let pod_value = workload
        .pod_windows_options()
        .and_then(|o| o.run_as_user_name.as_deref())
        .map(|name| (None, name));
    let own_values = workload.containers().filter_map(|c| {
        c.windows_options()
            .and_then(|o| o.run_as_user_name.as_deref())
            .map(|name| (Some(c), name))
    });
    for (container, name) in pod_value.into_iter().chain(own_values) {
        let errors = run_as_user_name_errors(name);
        if !errors.is_empty() {
            let base = match container {
                Some(c) => c.windows_options_path(),
                None => workload.pod_windows_options_path(),
            };
            findings.push(Finding::new(
                META.id,
                base.field("runAsUserName"),
                format!(
                    "runAsUserName {} is invalid: {}",
                    quoted(name),
                    errors.join("; ")
                ),
            ));
        }
    }
}

/// The well-formed names containers run as, grouped by where they are written, and the
/// containers that run as their image's default user.
fn uses_of(workload: &Workload) -> (Vec<Use<'_>>, Vec<ContainerRef<'_>>) {
    let mut written = Vec::new();
    let mut unset: Vec<ContainerRef<'_>> = Vec::new();
    for container in workload.containers() {
        match workload.windows_option(&container, "runAsUserName", |o| {
            o.run_as_user_name.as_deref()
        }) {
            Some(effective) if run_as_user_name_errors(effective.value).is_empty() => {
                written.push((effective.path, (effective.value, container.name)));
            }
            Some(_) => {} // malformed: reported by report_malformed
            None => unset.push(container),
        }
    }
    let uses = group_by_path(written)
        .into_iter()
        .map(|(path, containers)| Use {
            path,
            // One path, one written value.
            name: containers[0].0,
            containers: containers.into_iter().map(|(_, c)| c).collect(),
        })
        .collect();
    (uses, unset)
}

/// Names that no entry of `allowedRunAsUserNames` matches.
fn report_unlisted(entries: &[String], uses: &[Use<'_>], findings: &mut Vec<Finding>) {
    let patterns: Vec<UserNamePattern> = entries
        .iter()
        .filter_map(|e| UserNamePattern::parse(e).ok())
        .collect();
    let listed = if entries.is_empty() {
        "it is empty".to_string()
    } else {
        entries.join(", ")
    };
    for u in uses {
        if !patterns.iter().any(|p| p.matches(u.name)) {
            findings.push(Finding::new(
                META.id,
                u.path.clone(),
                format!(
                    "runAsUserName {} ({}) is not in settings.allowedRunAsUserNames ({listed})",
                    quoted(u.name),
                    containers_phrase(&u.containers)
                ),
            ));
        }
    }
}

/// `ContainerAdministrator`, written or as the image's default user, under
/// `forbidContainerAdministrator`.
fn report_administrator(
    ctx: &Context<'_>,
    uses: &[Use<'_>],
    unset: Vec<ContainerRef<'_>>,
    findings: &mut Vec<Finding>,
) {
    for u in uses {
        if u.name.eq_ignore_ascii_case(ADMINISTRATOR) {
            findings.push(Finding::new(
                META.id,
                u.path.clone(),
                format!(
                    "runAsUserName {} ({}) is refused by settings.forbidContainerAdministrator; run as ContainerUser or another unprivileged account",
                    quoted(u.name),
                    containers_phrase(&u.containers)
                ),
            ));
        }
    }
    for container in unset {
        let image = container.image.unwrap_or_default();
        if runs_as_non_root(ctx, &container) || is_nano_server(image) {
            continue;
        }
        findings.push(Finding::new(
            META.id,
            container.windows_options_path().field("runAsUserName"),
            format!(
                "container {:?} sets no runAsUserName, so it runs as its image's default user, {ADMINISTRATOR} for images other than Nano Server ({image:?}), which settings.forbidContainerAdministrator refuses; set runAsUserName: ContainerUser or runAsNonRoot: true",
                container.name
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{acted, findings};
    use serde_json::{Value, json};

    /// The website's run-as-username-container example: the pod says ContainerUser, the
    /// container overrides it with ContainerAdministrator.
    fn website_container_example() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "run-as-username-container-demo"},
            "spec": {"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
                "containers": [{"name": "run-as-username-demo",
                    "image": "mcr.microsoft.com/windows/servercore:ltsc2019",
                    "securityContext": {"windowsOptions": {"runAsUserName": "ContainerAdministrator"}}}],
                "nodeSelector": {"kubernetes.io/os": "windows"}}})
    }

    fn summary(rule_settings: Value, object: &Value) -> Vec<(String, String)> {
        acted(&RunAsUserNameRule, object, rule_settings)
            .into_iter()
            .map(|a| (a.finding.path.to_string(), a.finding.message))
            .collect()
    }

    #[test]
    fn well_formed_names_pass_without_an_allow_list() {
        assert!(findings(&RunAsUserNameRule, &website_container_example()).is_empty());
    }

    #[test]
    fn reports_malformed_names_where_they_are_written() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"runAsUserName": "CONTOSO\\svc\\web"}},
            "containers": [
                {"name": "a", "securityContext": {"windowsOptions": {"runAsUserName": "svc@contoso.com"}}},
                {"name": "b"}]}});
        assert_eq!(
            summary(Value::Null, &object),
            [
                (
                    "spec.securityContext.windowsOptions.runAsUserName".to_string(),
                    "runAsUserName \"CONTOSO\\svc\\web\" is invalid: runAsUserName cannot contain more than one backslash".to_string()
                ),
                (
                    "spec.containers[0].securityContext.windowsOptions.runAsUserName".to_string(),
                    "runAsUserName \"svc@contoso.com\" is invalid: runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]".to_string()
                ),
            ]
        );
    }

    #[test]
    fn the_allow_list_checks_the_name_each_container_runs_as() {
        let object = website_container_example();
        let both = json!({"allowedRunAsUserNames": ["ContainerUser", "containeradministrator"]});
        assert!(summary(both, &object).is_empty());
        // The container's own value overrides the pod's, so only it is checked.
        let users_only = json!({"allowedRunAsUserNames": ["ContainerUser"]});
        assert_eq!(
            summary(users_only, &object),
            [(
                "spec.containers[0].securityContext.windowsOptions.runAsUserName".to_string(),
                "runAsUserName \"ContainerAdministrator\" (container \"run-as-username-demo\") is not in settings.allowedRunAsUserNames (ContainerUser)".to_string()
            )]
        );
        let empty = json!({"allowedRunAsUserNames": []});
        assert!(summary(empty, &object)[0].1.ends_with("(it is empty)"));
    }

    #[test]
    fn domain_wildcards_and_inherited_names_are_reported_once() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"runAsUserName": "FABRIKAM\\svc-web"}},
            "containers": [{"name": "web"}, {"name": "sidecar"},
                {"name": "ok", "securityContext": {"windowsOptions": {"runAsUserName": "contoso\\svc-web"}}}]}}}});
        assert_eq!(
            summary(json!({"allowedRunAsUserNames": ["CONTOSO\\*"]}), &object),
            [(
                "spec.template.spec.securityContext.windowsOptions.runAsUserName".to_string(),
                "runAsUserName \"FABRIKAM\\svc-web\" (containers \"web\", \"sidecar\") is not in settings.allowedRunAsUserNames (CONTOSO\\*)".to_string()
            )]
        );
    }

    #[test]
    fn forbids_the_administrator_explicit_or_by_image_default() {
        let forbid = json!({"forbidContainerAdministrator": true});
        assert_eq!(
            summary(forbid.clone(), &website_container_example()),
            [(
                "spec.containers[0].securityContext.windowsOptions.runAsUserName".to_string(),
                "runAsUserName \"ContainerAdministrator\" (container \"run-as-username-demo\") is refused by settings.forbidContainerAdministrator; run as ContainerUser or another unprivileged account".to_string()
            )]
        );
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"}, "containers": [
            {"name": "core", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"},
            {"name": "nano", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"},
            {"name": "pwsh", "image": "mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022"},
            {"name": "nonroot", "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
             "securityContext": {"runAsNonRoot": true}},
            {"name": "user", "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
             "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}]}});
        let found = summary(forbid.clone(), &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].0,
            "spec.containers[0].securityContext.windowsOptions.runAsUserName"
        );
        assert!(
            found[0]
                .1
                .starts_with("container \"core\" sets no runAsUserName"),
            "{}",
            found[0].1
        );
        // runAsNonRoot from the pod counts; a container's false overrides it.
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "a", "image": "iis"},
                {"name": "b", "image": "iis", "securityContext": {"runAsNonRoot": false}}]}});
        let found = summary(forbid, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].0,
            "spec.containers[1].securityContext.windowsOptions.runAsUserName"
        );
        // Off by default.
        assert!(findings(&RunAsUserNameRule, &object).is_empty());
    }

    /// The HostProcess task doc's local-group example (kubernetes/website
    /// create-hostprocess-pod.md, "Local accounts": `runAsUserName: hpc-localgroup`):
    /// a well-formed name without a domain, which the allow-list lists by name.
    #[test]
    fn a_host_process_local_group_is_a_name_like_any_other() {
        let object = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"}, "hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "hpc-localgroup"}},
            "containers": [{"name": "agent", "image": "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"}]}}}});
        assert!(findings(&RunAsUserNameRule, &object).is_empty());
        let forbid = json!({"forbidContainerAdministrator": true});
        assert!(summary(forbid, &object).is_empty());
        let nt_only = json!({"allowedRunAsUserNames": ["NT AUTHORITY\\*"]});
        assert_eq!(
            summary(nt_only, &object),
            [(
                "spec.template.spec.securityContext.windowsOptions.runAsUserName".to_string(),
                "runAsUserName \"hpc-localgroup\" (container \"agent\") is not in settings.allowedRunAsUserNames (NT AUTHORITY\\*)".to_string()
            )]
        );
        let listed = json!({"allowedRunAsUserNames": ["NT AUTHORITY\\*", "HPC-LocalGroup"]});
        assert!(summary(listed, &object).is_empty());
    }
}
