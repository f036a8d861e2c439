//! WIN-11: the HostProcess structure of a Windows pod is invalid.
//!
//! As the API server reads HostProcess (`validateWindowsHostProcessPod`, see
//! [`crate::host_process`]): a container inherits the pod-level
//! `windowsOptions.hostProcess` unless it sets its own, and when both are set they must
//! be equal (so `hostProcess: false` on a container of a `hostProcess: true` pod is an
//! error, not an opt-out). Once any container (init and ephemeral included) is a
//! HostProcess container:
//! - every container must be one (Windows cannot mix them: ordinary containers cannot
//!   share the host's vNIC);
//! - `hostNetwork` must be `true`.
//!
//! From the HostProcess task doc, which the API server does not check but the node
//! needs: each HostProcess container must run as one of the three accounts
//! `NT AUTHORITY\SYSTEM`, `NT AUTHORITY\Local service`, `NT AUTHORITY\NetworkService`
//! (set on the container or inherited from the pod; Windows account names are
//! case-insensitive, and the spaced and unspaced service names are the same accounts),
//! and `runAsNonRoot` must not be `true`.
//!
//! WIN-11 applies to Windows pods; a HostProcess pod with no OS pin counts as one
//! through its `windowsOptions`. Whether HostProcess is allowed at all is WIN-12's.

use crate::host_process::{container_host_process, is_host_process, pod_host_process};
use crate::path::FieldPath;
use crate::rule::{Action, AppliesTo, Context, Finding, Rule, RuleMeta};
use crate::workload::ContainerRef;
use k8s_openapi::api::core::v1::WindowsSecurityContextOptions;

pub struct HostProcessStructureRule;

static META: RuleMeta = RuleMeta {
    id: "WIN-11",
    doc: "invalid HostProcess pod: mixed or disagreeing hostProcess flags, hostNetwork not true, runAsUserName not an NT AUTHORITY service account, runAsNonRoot true",
    applies_to: AppliesTo::WindowsPods,
    default_action: Action::Reject,
    can_mutate: false,
    source: "API server validateWindowsHostProcessPod; Kubernetes HostProcess task doc (configuration requirements)",
};

/// The three accounts a HostProcess container may run as, as the docs spell them.
pub const HOST_PROCESS_USERS: [&str; 3] = [
    "NT AUTHORITY\\SYSTEM",
    "NT AUTHORITY\\Local service",
    "NT AUTHORITY\\NetworkService",
];

/// Whether `name` is one of [`HOST_PROCESS_USERS`]: case-insensitive, and blind to the
/// space in `Local service` / `Network Service`.
pub(crate) fn is_host_process_user(name: &str) -> bool {
    let Some((domain, user)) = name.split_once('\\') else {
        return false;
    };
    let user: String = user
        .chars()
        .filter(|c| *c != ' ')
        .collect::<String>()
        .to_ascii_lowercase();
    domain.eq_ignore_ascii_case("NT AUTHORITY")
        && matches!(user.as_str(), "system" | "localservice" | "networkservice")
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
        let pod_sc = workload.spec.security_context.as_ref();
        let pod_options = pod_sc.and_then(|s| s.windows_options.as_ref());
        let pod_path = workload.spec_field("securityContext");
        let containers: Vec<ContainerRef<'_>> = workload.containers().collect();

        // A container whose own hostProcess contradicts the pod's (own, pod) is reported
        // once, here, and not again as a mix below.
        let contradiction = |c: &ContainerRef<'_>| match (container_host_process(c), pod_flag) {
            (Some(own), Some(pod)) if own != pod => Some((own, pod)),
            _ => None,
        };
        for c in &containers {
            if let Some((own, pod)) = contradiction(c) {
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

        let host_process: Vec<&ContainerRef<'_>> = containers
            .iter()
            .filter(|c| is_host_process(pod_flag, container_host_process(c)))
            .collect();
        let Some(first) = host_process.first() else {
            return;
        };

        for c in &containers {
            if is_host_process(pod_flag, container_host_process(c)) || contradiction(c).is_some() {
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

        if workload.spec.host_network != Some(true) {
            findings.push(Finding::new(
                META.id,
                workload.spec_field("hostNetwork"),
                "a pod with HostProcess containers must set hostNetwork: true",
            ));
        }

        // runAsUserName: the container's own, else the pod's (reported once).
        let pod_user = pod_options.and_then(|o| o.run_as_user_name.as_deref());
        let pod_user_path = options_path(workload.spec_path.clone()).field("runAsUserName");
        let mut pod_user_reported = false;
        let mut missing = Vec::new();
        for c in &host_process {
            match (
                windows_options(c).and_then(|o| o.run_as_user_name.as_deref()),
                pod_user,
            ) {
                (Some(user), _) if !is_host_process_user(user) => findings.push(Finding::new(
                    META.id,
                    options_path(c.path()).field("runAsUserName"),
                    format!(
                        "HostProcess container {} runs as {user:?}; it must run as one of {}",
                        c.name,
                        HOST_PROCESS_USERS.join(", ")
                    ),
                )),
                (Some(_), _) => {}
                (None, Some(user)) if !is_host_process_user(user) && !pod_user_reported => {
                    pod_user_reported = true;
                    findings.push(Finding::new(
                        META.id,
                        pod_user_path.clone(),
                        format!(
                            "the pod's HostProcess containers run as {user:?}; they must run as one of {}",
                            HOST_PROCESS_USERS.join(", ")
                        ),
                    ));
                }
                (None, Some(_)) => {}
                (None, None) => missing.push(*c),
            }
        }
        let required = format!(
            "a HostProcess container must name its account in runAsUserName: one of {}",
            HOST_PROCESS_USERS.join(", ")
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

        // runAsNonRoot: the container's own, else the pod's (reported once).
        let pod_non_root = pod_sc.and_then(|s| s.run_as_non_root);
        let mut pod_non_root_reported = false;
        for c in &host_process {
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
                    pod_path.field("runAsNonRoot"),
                    "the pod sets runAsNonRoot: true, which its HostProcess containers cannot honour",
                ));
            }
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

    #[test]
    fn knows_the_three_accounts() {
        for ok in [
            "NT AUTHORITY\\SYSTEM",
            "NT AUTHORITY\\system",
            "nt authority\\Local service",
            "NT AUTHORITY\\LocalService",
            "NT AUTHORITY\\NetworkService",
            "NT AUTHORITY\\Network Service",
        ] {
            assert!(is_host_process_user(ok), "{ok}");
        }
        for bad in [
            "SYSTEM",
            "ContainerAdministrator",
            "BUILTIN\\Administrators",
            "NT AUTHORITY\\Anonymous",
            "NT AUTHORITY\\SYSTEM\\x",
        ] {
            assert!(!is_host_process_user(bad), "{bad}");
        }
    }
}
