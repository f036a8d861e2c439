use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::path::FieldPath;
use crate::k8s::workload::{ContainerRef, Workload};
use crate::windows::host_process::{
    ALLOWED_ACCOUNTS, container_host_process, host_process_user_problem, is_host_process,
    pod_host_process,
};
use crate::windows::names::quoted;
use k8s_openapi::api::core::v1::WindowsSecurityContextOptions;

declare_rule! {
    /// WIN-11: the HostProcess structure of a Windows pod is invalid.
    ///
    /// As the API server reads HostProcess (`validateWindowsHostProcessPod`, see
    /// [`crate::windows::host_process`]): a container inherits the pod-level
    /// `windowsOptions.hostProcess` unless it sets its own, and when both are set they must
    /// be equal (so `hostProcess: false` on a container of a `hostProcess: true` pod is an
    /// error, not an opt-out). Once any container (init and ephemeral included) is a
    /// HostProcess container:
    /// - every container must be one (Windows cannot mix them: ordinary containers cannot
    ///   share the host's vNIC);
    /// - `hostNetwork` must be `true`.
    ///
    /// From the HostProcess task doc, which the API server does not check but the node
    /// needs: `runAsNonRoot` must not be `true`, and each HostProcess container must name
    /// its account in `runAsUserName` (set on the container or inherited from the pod), one
    /// of the doc's allowed values:
    /// - the service accounts `NT AUTHORITY\SYSTEM`, `NT AUTHORITY\Local service`,
    ///   `NT AUTHORITY\NetworkService` (Windows account names are case-insensitive, and the
    ///   spaced and unspaced service names are the same accounts);
    /// - a local group of the node, named without a domain (`hpc-localgroup`, the doc's
    ///   example; containerd 1.7+): the container runs as a temporary local user that
    ///   hcsshim creates in that group.
    ///
    /// Every other name fails on the node, as hcsshim's `processToken`
    /// (`internal/jobcontainers/logon.go`) reads it: a name that is not a local group is
    /// logged on as a user without a password, which works only for the `NT AUTHORITY`
    /// service accounts (service logon). So the rule rejects `DOMAIN\user` and `NODE\group`
    /// (a group is named without a domain; the API server already refuses `.\group`, `.`
    /// being no domain), the service account names without their
    /// `NT AUTHORITY` domain (`SYSTEM`, `LocalService`), the accounts of Windows container
    /// images (`ContainerAdministrator`, `ContainerUser`, which the node does not have), and
    /// names the API server refuses. Whether a local group exists on the node is not known
    /// at admission.
    ///
    /// WIN-11 applies to Windows pods; a HostProcess pod with no OS pin counts as one
    /// through its `windowsOptions`. Whether HostProcess is allowed at all is WIN-12's.
    ///
    /// Example: a HostProcess pod without `hostNetwork: true`, whose container runs as an
    /// account of a domain.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   securityContext:
    ///     windowsOptions: {hostProcess: true, runAsUserName: "CONTOSO\\agent"}
    /// ```
    HostProcessStructureRule {
        id: "WIN-11",
        summary: "invalid HostProcess pod: mixed or disagreeing hostProcess flags, hostNetwork not true, runAsUserName neither an NT AUTHORITY service account nor a local group name, runAsNonRoot true",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindowsHostProcessPod; Kubernetes HostProcess task doc (configuration requirements, local accounts); hcsshim jobcontainers processToken",
        settings: [],
    }
}

fn windows_options<'a>(c: &ContainerRef<'a>) -> Option<&'a WindowsSecurityContextOptions> {
    c.security_context.and_then(|s| s.windows_options.as_ref())
}

/// `<pod spec or container>.securityContext.windowsOptions`
fn options_path(base: FieldPath) -> FieldPath {
    base.field("securityContext").field("windowsOptions")
}

impl Rule for HostProcessStructureRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let workload = ctx.workload;
        let pod_flag = pod_host_process(workload);
        let containers: Vec<ContainerRef<'_>> = workload.containers().collect();
        report_contradictions(&containers, pod_flag, findings);

        let host_process: Vec<&ContainerRef<'_>> = containers
            .iter()
            .filter(|c| is_host_process(pod_flag, container_host_process(c)))
            .collect();
        let Some(first) = host_process.first() else {
            return;
        };
        report_mix(&containers, first, pod_flag, findings);
        if workload.spec.host_network != Some(true) {
            findings.push(Finding::new(
                META.id,
                workload.spec_field("hostNetwork"),
                "a pod with HostProcess containers must set hostNetwork: true",
            ));
        }
        report_users(workload, &host_process, findings);
        report_run_as_non_root(workload, &host_process, findings);
    }
}

/// A container whose own hostProcess contradicts the pod's: (own, pod).
fn contradiction(c: &ContainerRef<'_>, pod_flag: Option<bool>) -> Option<(bool, bool)> {
    match (container_host_process(c), pod_flag) {
        (Some(own), Some(pod)) if own != pod => Some((own, pod)),
        _ => None,
    }
}

/// Each container whose own hostProcess contradicts the pod's, reported once, here, and
/// not again as a mix.
fn report_contradictions(
    containers: &[ContainerRef<'_>],
    pod_flag: Option<bool>,
    findings: &mut Vec<Finding>,
) {
    for c in containers {
        if let Some((own, pod)) = contradiction(c, pod_flag) {
            findings.push(Finding::new(
                META.id,
                options_path(c.path()).field("hostProcess"),
                format!(
                    "container {} sets hostProcess: {own} but the pod sets hostProcess: {pod}; when both are set they must be identical",
                    c.name
                ),
            ));
        }
    }
}

/// Each ordinary container of a pod that has a HostProcess container (`first`).
fn report_mix(
    containers: &[ContainerRef<'_>],
    first: &ContainerRef<'_>,
    pod_flag: Option<bool>,
    findings: &mut Vec<Finding>,
) {
    for c in containers {
        if is_host_process(pod_flag, container_host_process(c))
            || contradiction(c, pod_flag).is_some()
        {
            continue;
        }
        findings.push(Finding::new(
            META.id,
            options_path(c.path()).field("hostProcess"),
            format!(
                "container {} is not a HostProcess container but container {} is: a pod's containers must all be HostProcess containers or none",
                c.name, first.name
            ),
        ));
    }
}

/// The account of each HostProcess container: its own `runAsUserName`, else the pod's
/// (reported once); missing everywhere, reported once at the pod.
fn report_users(
    workload: &Workload,
    host_process: &[&ContainerRef<'_>],
    findings: &mut Vec<Finding>,
) {
    let pod_options = workload
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref());
    let pod_user = pod_options.and_then(|o| o.run_as_user_name.as_deref());
    let pod_user_problem = pod_user.and_then(host_process_user_problem);
    let pod_user_path = options_path(workload.spec_path.clone()).field("runAsUserName");
    let mut pod_user_reported = false;
    let mut missing = Vec::new();
    for c in host_process {
        match (
            windows_options(c).and_then(|o| o.run_as_user_name.as_deref()),
            pod_user,
        ) {
            (Some(user), _) => {
                if let Some(problem) = host_process_user_problem(user) {
                    findings.push(Finding::new(
                        META.id,
                        options_path(c.path()).field("runAsUserName"),
                        format!(
                            "HostProcess container {} runs as {}, {problem}; a HostProcess container runs as {ALLOWED_ACCOUNTS}",
                            c.name,
                            quoted(user)
                        ),
                    ));
                }
            }
            (None, Some(user)) => {
                if let Some(problem) = &pod_user_problem
                    && !pod_user_reported
                {
                    pod_user_reported = true;
                    findings.push(Finding::new(
                        META.id,
                        pod_user_path.clone(),
                        format!(
                            "the pod's HostProcess containers run as {}, {problem}; a HostProcess container runs as {ALLOWED_ACCOUNTS}",
                            quoted(user)
                        ),
                    ));
                }
            }
            (None, None) => missing.push(*c),
        }
    }
    let required = format!(
        "a HostProcess container must name its account in runAsUserName: {ALLOWED_ACCOUNTS}"
    );
    if !missing.is_empty() && missing.len() == host_process.len() {
        findings.push(Finding::new(META.id, pod_user_path, required));
    } else {
        for c in missing {
            findings.push(Finding::new(
                META.id,
                options_path(c.path()).field("runAsUserName"),
                format!("container {}: {required}", c.name),
            ));
        }
    }
}

/// `runAsNonRoot: true` on a HostProcess container, or on the pod for those that do not
/// set it (reported once).
fn report_run_as_non_root(
    workload: &Workload,
    host_process: &[&ContainerRef<'_>],
    findings: &mut Vec<Finding>,
) {
    let pod_non_root = workload
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root);
    let mut pod_non_root_reported = false;
    for c in host_process {
        let own = c.security_context.and_then(|s| s.run_as_non_root);
        if own == Some(true) {
            findings.push(Finding::new(
                META.id,
                c.path().field("securityContext").field("runAsNonRoot"),
                format!(
                    "HostProcess container {} sets runAsNonRoot: true, which a HostProcess container cannot honour",
                    c.name
                ),
            ));
        } else if own.is_none() && pod_non_root == Some(true) && !pod_non_root_reported {
            pod_non_root_reported = true;
            findings.push(Finding::new(
                META.id,
                workload.spec_field("securityContext").field("runAsNonRoot"),
                "the pod sets runAsNonRoot: true, which its HostProcess containers cannot honour",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::findings;
    use serde_json::{Value, json};

    fn daemon_set(spec: Value) -> Value {
        let mut spec = spec;
        spec["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": spec}}})
    }

    fn paths(object: &Value) -> Vec<String> {
        findings(&HostProcessStructureRule, object)
            .iter()
            .map(|f| f.path.to_string())
            .collect()
    }

    #[test]
    fn accepts_a_valid_host_process_pod_and_ordinary_pods() {
        let valid = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\system"}},
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {
                "hostProcess": true, "runAsUserName": "NT AUTHORITY\\Local Service"}}}]}));
        assert!(paths(&valid).is_empty(), "{:?}", paths(&valid));
        let ordinary = daemon_set(json!({"containers": [{"name": "a"}],
            "securityContext": {"runAsNonRoot": true, "windowsOptions": {"runAsUserName": "ContainerUser"}}}));
        assert!(paths(&ordinary).is_empty());
    }

    #[test]
    fn rejects_a_container_that_opts_out_of_a_host_process_pod() {
        let object = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "containers": [{"name": "a"},
                {"name": "b", "securityContext": {"windowsOptions": {"hostProcess": false}}}]}));
        let found = findings(&HostProcessStructureRule, &object);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.containers[1].securityContext.windowsOptions.hostProcess"
        );
        assert!(found[0].message.contains("must be identical"));
    }

    #[test]
    fn rejects_mixed_containers_host_network_user_and_non_root() {
        let object = daemon_set(json!({
            "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "hp", "securityContext": {"windowsOptions": {"hostProcess": true}}},
                {"name": "plain"}],
            "ephemeralContainers": [{"name": "dbg", "targetContainerName": "hp", "securityContext": {
                "runAsNonRoot": true,
                "windowsOptions": {"hostProcess": true, "runAsUserName": "ContainerAdministrator"}}}]}));
        assert_eq!(
            paths(&object),
            [
                "spec.template.spec.containers[1].securityContext.windowsOptions.hostProcess",
                "spec.template.spec.hostNetwork",
                "spec.template.spec.ephemeralContainers[0].securityContext.windowsOptions.runAsUserName",
                "spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName",
                "spec.template.spec.securityContext.runAsNonRoot",
                "spec.template.spec.ephemeralContainers[0].securityContext.runAsNonRoot",
            ]
        );
    }

    #[test]
    fn a_missing_user_everywhere_is_reported_once_at_the_pod() {
        let object = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "containers": [{"name": "a"}, {"name": "b"}]}));
        assert_eq!(
            paths(&object),
            ["spec.template.spec.securityContext.windowsOptions.runAsUserName"]
        );
    }

    /// The HostProcess task doc (kubernetes/website
    /// content/en/docs/tasks/configure-pod-container/create-hostprocess-pod.md,
    /// "Local accounts"): `runAsUserName` set to the name of a local usergroup, the
    /// doc's example `hpc-localgroup`, runs the container as an ephemeral local user of
    /// that group (containerd 1.7+). hcsshim's `processToken`
    /// (internal/jobcontainers/logon.go) checks for a local group of that name first.
    #[test]
    fn accepts_a_local_group_named_without_a_domain() {
        for ok in [
            "hpc-localgroup",
            "Administrators",
            "node agents",
            "NT AUTHORITY\\SYSTEM",
            "NT AUTHORITY\\Local Service",
        ] {
            assert_eq!(host_process_user_problem(ok), None, "{ok}");
        }
        let object = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "hpc-localgroup"}},
            "containers": [{"name": "agent"}]}));
        assert!(paths(&object).is_empty(), "{:?}", paths(&object));
        // Kubernetes' e2e test "should run as localgroup accounts"
        // (test/e2e/windows/host_process.go): an init container as NT AUTHORITY\SYSTEM
        // creates the group, the container runs as it.
        let object = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "localgroup-container",
                "securityContext": {"windowsOptions": {"runAsUserName": "hpc-localgroup"}}}]}));
        assert!(paths(&object).is_empty(), "{:?}", paths(&object));
    }

    /// hcsshim `processToken`: a name that is no local group is logged on as a user with
    /// no password (`LogonUser`), as a service only in the `NT AUTHORITY` domain; so a
    /// domain or machine account, a service account without its domain or an account
    /// that exists only inside container images fails when the container starts. A name
    /// the API server refuses (`.\group`: `.` is no NetBIOS or DNS domain) never gets
    /// there.
    #[test]
    fn rejects_names_the_node_cannot_log_on_saying_why() {
        for (bad, why) in [
            ("CONTOSO\\svc-agent", "an account of the domain \"CONTOSO\""),
            (
                "NODE01\\hpc-localgroup",
                "a local group is named without a domain",
            ),
            (
                "BUILTIN\\Administrators",
                "an account of the domain \"BUILTIN\"",
            ),
            (
                "NT AUTHORITY\\Anonymous",
                "not one of the NT AUTHORITY service accounts",
            ),
            ("SYSTEM", "write NT AUTHORITY\\SYSTEM"),
            ("LocalSystem", "write NT AUTHORITY\\SYSTEM"),
            ("Local Service", "write NT AUTHORITY\\Local service"),
            ("networkservice", "write NT AUTHORITY\\NetworkService"),
            (
                "ContainerAdministrator",
                "an account of Windows container images",
            ),
            ("ContainerUser", "an account of Windows container images"),
            (".\\hpc-localgroup", "not a valid runAsUserName"),
            ("svc@contoso.com", "not a valid runAsUserName"),
            ("NT AUTHORITY\\SYSTEM\\x", "more than one backslash"),
        ] {
            let problem = host_process_user_problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(problem.contains(why), "{bad}: {problem}");
        }
        let object = daemon_set(json!({"hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "CONTOSO\\svc-agent"}},
            "containers": [{"name": "a"}, {"name": "b"}]}));
        let found = findings(&HostProcessStructureRule, &object);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.securityContext.windowsOptions.runAsUserName"
        );
        assert_eq!(
            found[0].message,
            "the pod's HostProcess containers run as \"CONTOSO\\svc-agent\", an account of the domain \"CONTOSO\": the node logs a HostProcess container on without a password, which only the NT AUTHORITY service accounts allow, and a local group is named without a domain; a HostProcess container runs as NT AUTHORITY\\SYSTEM, NT AUTHORITY\\Local service, NT AUTHORITY\\NetworkService, or a local group of the node named without a domain (containerd 1.7+)"
        );
    }
}
