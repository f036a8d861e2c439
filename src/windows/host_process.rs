//! HostProcess as the API server reads it (`validateWindowsHostProcessPod`, see
//! docs/notes/apiserver-os-validation.md §3a): a container's own
//! `windowsOptions.hostProcess` wins; a container that does not set it inherits the
//! pod-level value; a container is a HostProcess container only when the result is
//! `true`. WIN-4 and WIN-11 read it through here.

use crate::k8s::workload::{ContainerRef, Workload};

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
}
