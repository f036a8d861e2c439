//! HostProcess as the API server reads it (`validateWindowsHostProcessPod`, see
//! docs/notes/apiserver-os-validation.md §3a): a container's own
//! `windowsOptions.hostProcess` wins; a container that does not set it inherits the
//! pod-level value; a container is a HostProcess container only when the result is
//! `true`. WIN-4 and WIN-11 read it through here.

use crate::k8s::workload::{ContainerRef, Workload};
use crate::windows::names::quoted;
use crate::windows::names::run_as_user_name_errors;

/// The pod-level `securityContext.windowsOptions.hostProcess`.
pub fn pod_host_process(workload: &Workload) -> Option<bool> {
    workload
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
}

/// The container's own `securityContext.windowsOptions.hostProcess`.
pub fn container_host_process(container: &ContainerRef<'_>) -> Option<bool> {
    container
        .security_context
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
}

/// Whether the container runs as a HostProcess container, with inheritance.
pub fn is_host_process(pod: Option<bool>, container: Option<bool>) -> bool {
    container.or(pod).unwrap_or(false)
}

/// Whether any container of the pod (init and ephemeral included) is a HostProcess
/// container: the API server then applies its HostProcess checks to the whole pod.
pub fn is_host_process_pod(workload: &Workload) -> bool {
    let pod = pod_host_process(workload);
    workload
        .containers()
        .any(|c| is_host_process(pod, container_host_process(&c)))
}

/// The three service accounts a HostProcess container may run as, as the docs spell
/// them.
pub const HOST_PROCESS_USERS: [&str; 3] = [
    "NT AUTHORITY\\SYSTEM",
    "NT AUTHORITY\\Local service",
    "NT AUTHORITY\\NetworkService",
];

/// What a HostProcess container may run as, for messages.
pub const ALLOWED_ACCOUNTS: &str = "NT AUTHORITY\\SYSTEM, NT AUTHORITY\\Local service, NT AUTHORITY\\NetworkService, or a local group of the node named without a domain (containerd 1.7+)";

/// `name` in lower case without spaces: `Local Service` and `LocalService` alike.
fn folded(name: &str) -> String {
    name.chars()
        .filter(|c| *c != ' ')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether `name` is one of [`HOST_PROCESS_USERS`]: case-insensitive, and blind to the
/// space in `Local service` / `Network Service`.
pub fn is_host_process_user(name: &str) -> bool {
    let Some((domain, user)) = name.split_once('\\') else {
        return false;
    };
    domain.eq_ignore_ascii_case("NT AUTHORITY")
        && matches!(
            folded(user).as_str(),
            "system" | "localservice" | "networkservice"
        )
}

/// Why a HostProcess container cannot run as `name`, or `None` when it can: one of
/// [`HOST_PROCESS_USERS`], or a well-formed name without a domain, which names a local
/// group of the node.
pub fn host_process_user_problem(name: &str) -> Option<String> {
    if is_host_process_user(name) {
        return None;
    }
    let errors = run_as_user_name_errors(name);
    if !errors.is_empty() {
        return Some(format!("not a valid runAsUserName ({})", errors.join("; ")));
    }
    if let Some((domain, _)) = name.split_once('\\') {
        return Some(if domain.eq_ignore_ascii_case("NT AUTHORITY") {
            "not one of the NT AUTHORITY service accounts a HostProcess container can log on as"
                .to_string()
        } else {
            format!(
                "an account of the domain {}: the node logs a HostProcess container on without a password, which only the NT AUTHORITY service accounts allow, and a local group is named without a domain",
                quoted(domain)
            )
        });
    }
    let account = match folded(name).as_str() {
        "system" | "localsystem" => "NT AUTHORITY\\SYSTEM",
        "localservice" => "NT AUTHORITY\\Local service",
        "networkservice" => "NT AUTHORITY\\NetworkService",
        "containeradministrator" | "containeruser" => {
            return Some(
                "an account of Windows container images, which the node does not have".to_string(),
            );
        }
        _ => return None,
    };
    Some(format!(
        "a service account named without its domain: write {account}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use serde_json::{Value, json};

    fn pod(spec: Value) -> Workload {
        Workload::from_object(WorkloadKind::Pod, &json!({ "spec": spec })).unwrap()
    }

    #[test]
    fn containers_inherit_the_pod_value_unless_they_set_their_own() {
        assert!(is_host_process(Some(true), None));
        assert!(is_host_process(None, Some(true)));
        assert!(is_host_process(Some(false), Some(true)));
        assert!(!is_host_process(Some(true), Some(false)));
        assert!(!is_host_process(None, None));
        let hp = json!({"windowsOptions": {"hostProcess": true}});
        assert!(is_host_process_pod(&pod(
            json!({"securityContext": hp, "containers": [{"name": "a"}]})
        )));
        assert!(is_host_process_pod(&pod(
            json!({"containers": [{"name": "a"}],
            "initContainers": [{"name": "i", "securityContext": hp}]})
        )));
        assert!(!is_host_process_pod(&pod(json!({"securityContext": hp,
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {"hostProcess": false}}}]}))));
        assert!(!is_host_process_pod(&pod(
            json!({"containers": [{"name": "a"}]})
        )));
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
