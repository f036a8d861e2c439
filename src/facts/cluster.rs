//! Context-aware lookups of cluster objects (Kubewarden's `kubernetes` host capability):
//! with `runtimeClassLookup: true`, a RuntimeClass that a pod names and the settings do
//! not describe is read from the cluster (`get_resource`, `node.k8s.io/v1`
//! `RuntimeClass`; the module's metadata declares it in `contextAwareResources`), so OS
//! resolution, OS-3, IMG-3, IMG-4 and RC-1 see its scheduling and handler as if
//! `runtimeClasses` described it. Settings win over the cluster.
//!
//! A failed lookup leaves the RuntimeClass undescribed (process isolation, no pins); the
//! reason is kept in `Settings::runtime_class_lookup_errors` for messages. A pod that
//! names a RuntimeClass the cluster does not have is refused by the API server anyway
//! (the RuntimeClass admission plugin).

use crate::facts::host::HostCalls;
use crate::k8s::runtime_class::RuntimeClass;
use crate::k8s::workload::Workload;
use crate::settings::{RuntimeClassSettings, Settings};
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use std::borrow::Cow;

/// The settings for one pass over `workload`: with `runtimeClassLookup`, completed with
/// the pod's RuntimeClass as the cluster defines it, when the settings do not describe it.
pub fn with_cluster_runtime_class<'a>(
    settings: &'a Settings,
    workload: &Workload,
    host: &dyn HostCalls,
) -> Cow<'a, Settings> {
    let Some(name) = workload.spec.runtime_class_name.as_deref() else {
        return Cow::Borrowed(settings);
    };
    if !settings.runtime_class_lookup || settings.runtime_classes.contains_key(name) {
        return Cow::Borrowed(settings);
    }
    let mut completed = settings.clone();
    match get_runtime_class(host, name) {
        Ok(class) => {
            completed.runtime_classes.insert(name.to_string(), class);
        }
        Err(e) => {
            completed
                .runtime_class_lookup_errors
                .insert(name.to_string(), e);
        }
    }
    Cow::Owned(completed)
}

/// Reads RuntimeClass `name` from the cluster.
pub fn get_runtime_class(host: &dyn HostCalls, name: &str) -> Result<RuntimeClassSettings, String> {
    let request = GetResourceRequest {
        api_version: "node.k8s.io/v1".to_string(),
        kind: "RuntimeClass".to_string(),
        name: name.to_string(),
        namespace: None,
        disable_cache: false,
        field_masks: None,
    };
    let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let answer = host
        .call("kubernetes", "get_resource", &payload)
        .map_err(|e| format!("kubernetes/get_resource: {e}"))?;
    // Read by the module's one JSON reader and decoder (see crate::k8s::json_text).
    let class: RuntimeClass = std::str::from_utf8(&answer)
        .map_err(|e| e.to_string())
        .and_then(|text| crate::k8s::decode::from_str(text).map_err(|e| e.to_string()))
        .map_err(|e| format!("kubernetes/get_resource: the answer is not a RuntimeClass ({e})"))?;
    let scheduling = class.scheduling.unwrap_or_default();
    Ok(RuntimeClassSettings {
        node_selector: scheduling.node_selector.unwrap_or_default(),
        tolerations: scheduling.tolerations.unwrap_or_default(),
        handler: Some(class.handler),
        isolation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::placement::Placement;
    use crate::k8s::workload::WorkloadKind;
    use crate::testing::settings;
    use crate::windows::isolation::Isolation;
    use serde_json::{Value, json};
    use std::cell::RefCell;

    /// Answers `get_resource` for RuntimeClass `hyperv` only; records the payloads.
    struct Cluster(RefCell<Vec<Value>>);

    impl HostCalls for Cluster {
        fn call(
            &self,
            namespace: &str,
            operation: &str,
            payload: &[u8],
        ) -> Result<Vec<u8>, String> {
            let request: Value = serde_json::from_slice(payload).unwrap();
            self.0.borrow_mut().push(request.clone());
            assert_eq!((namespace, operation), ("kubernetes", "get_resource"));
            if request["name"] == "hyperv" {
                Ok(serde_json::to_vec(
                    &json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                    "metadata": {"name": "hyperv"}, "handler": "runhcs-wcow-hypervisor",
                    "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows",
                        "node.kubernetes.io/windows-build": "10.0.20348"}}}),
                )
                .unwrap())
            } else if request["name"] == "garbage" {
                Ok(b"[]".to_vec())
            } else {
                Err(format!(
                    "runtimeclasses.node.k8s.io \"{}\" not found",
                    request["name"].as_str().unwrap()
                ))
            }
        }
    }

    fn pod(runtime_class: &str) -> Workload {
        let object = json!({"spec": {"runtimeClassName": runtime_class,
            "containers": [{"name": "a", "image": "x"}]}});
        Workload::from_object(WorkloadKind::Pod, &object).unwrap()
    }

    #[test]
    fn reads_an_undescribed_runtime_class_from_the_cluster() {
        let cluster = Cluster(RefCell::new(Vec::new()));
        let on = settings(json!({"runtimeClassLookup": true}));
        let completed = with_cluster_runtime_class(&on, &pod("hyperv"), &cluster);
        let placement = Placement::of(&pod("hyperv"), &completed);
        assert_eq!(placement.isolation, Isolation::HyperV);
        assert_eq!(placement.pins.len(), 1);
        assert_eq!(
            cluster.0.borrow()[0],
            json!({"api_version": "node.k8s.io/v1", "kind": "RuntimeClass", "name": "hyperv",
                "namespace": null, "disable_cache": false, "field_masks": null})
        );
        // A failure keeps the reason for messages.
        let completed = with_cluster_runtime_class(&on, &pod("missing"), &cluster);
        assert_eq!(
            completed.runtime_class_lookup_errors["missing"],
            "kubernetes/get_resource: runtimeclasses.node.k8s.io \"missing\" not found"
        );
        let completed = with_cluster_runtime_class(&on, &pod("garbage"), &cluster);
        assert!(
            completed.runtime_class_lookup_errors["garbage"]
                .starts_with("kubernetes/get_resource: the answer is not a RuntimeClass")
        );
    }

    #[test]
    fn settings_win_and_lookups_are_off_by_default() {
        let cluster = Cluster(RefCell::new(Vec::new()));
        let off = settings(json!({}));
        assert!(matches!(
            with_cluster_runtime_class(&off, &pod("hyperv"), &cluster),
            Cow::Borrowed(_)
        ));
        let described = settings(json!({"runtimeClassLookup": true,
            "runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-process"}}}));
        let completed = with_cluster_runtime_class(&described, &pod("hyperv"), &cluster);
        assert_eq!(
            Placement::of(&pod("hyperv"), &completed).isolation,
            Isolation::Process
        );
        assert!(cluster.0.borrow().is_empty());
    }
}
