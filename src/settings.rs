//! Policy settings, shared by every module (each module reads the parts its rules use).
//! Unknown keys and bad values are errors that name the key.

use crate::k8s::quantity::Quantity;
use crate::k8s::scheduling::Taint;
use crate::windows::image::{ImageMapping, WindowsBuild};
use crate::windows::isolation::Isolation;
use crate::windows::os::Os;
use k8s_openapi::api::core::v1::Toleration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What a finding of a rule does to the request.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject the request, listing every rejecting finding.
    Reject,
    /// Accept, returning the finding as an API warning.
    Warn,
    /// Apply the finding's patch (a finding without a patch warns instead).
    Mutate,
    /// Do not run the rule.
    Off,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reject => "reject",
            Action::Warn => "warn",
            Action::Mutate => "mutate",
            Action::Off => "off",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys every module reads: OS resolution reads them (or, for `rules`, they choose
/// the actions). A rule's other keys are listed in its declaration.
pub const SHARED_KEYS: &[&str] = &["windowsTaint", "runtimeClasses", "rules", "imageMappings"];

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// The OS given to pods that declare none (OS-1). Default `linux`.
    pub default_os: Os,
    /// The taint that keeps ordinary pods off Windows nodes. Default `os=windows:NoSchedule`.
    pub windows_taint: Taint,
    /// What each RuntimeClass of the cluster pins, keyed by RuntimeClass name: its
    /// `scheduling.nodeSelector` and `scheduling.tolerations`, merged into pods that name it.
    pub runtime_classes: BTreeMap<String, RuntimeClassSettings>,
    /// Per-rule action by rule id (`OS-1: warn`); rules not named keep their default.
    pub rules: BTreeMap<String, Action>,
    /// Volume types that WIN-7 rejects on Windows pods. Default `cephfs`, `glusterfs`, `rbd`.
    pub linux_only_volume_types: Vec<String>,
    /// Volume types that WIN-7 only warns about on Windows pods. Default `nfs`.
    pub warn_volume_types: Vec<String>,
    /// WIN-6: remove the Linux-only values that are no-ops on Windows (`privileged: false`,
    /// `RuntimeDefault` seccomp, drop-only capabilities, ...) instead of rejecting them;
    /// the other Linux-only fields keep WIN-6's action. Default `false`.
    pub strip_linux_no_ops: bool,
    /// RES-1: optional floors and ceilings of Windows containers' cpu and memory limits
    /// (`windowsLimits.memory.min: 512Mi`). Default none.
    pub windows_limits: WindowsLimits,
    /// RES-4: the shortest startup budget, in seconds, a Windows container may have before
    /// its liveness probe can restart it. `0` turns the check off. Default 60.
    pub min_startup_budget_seconds: u32,
    /// RES-5: the shortest `timeoutSeconds` an exec probe of a Windows container may have.
    /// `0` turns the check off. Default 10.
    pub min_exec_probe_timeout_seconds: u32,
    /// ID-1: when set, every `runAsUserName` a container runs as must match an entry (a
    /// name, or `DOMAIN\*`); when absent, any well-formed name is allowed. Default absent.
    pub allowed_run_as_user_names: Option<Vec<String>>,
    /// ID-1: refuse containers that run as `ContainerAdministrator`, explicitly or through
    /// the image's default user. Default `false`.
    pub forbid_container_administrator: bool,
    /// ID-2: the GMSACredentialSpec names pods may use. Default empty: no gMSA at all.
    pub allowed_gmsa_credential_spec_names: Vec<String>,
    /// WIN-12: allow HostProcess containers. Default `false`.
    pub allow_host_process: bool,
    /// WIN-12: with `allowHostProcess`, only HostProcess containers whose image matches
    /// an entry (see `crate::windows::image::ImagePattern`); empty means any image. Default empty.
    pub host_process_image_allow_list: Vec<String>,
    /// IMG-3, IMG-4: the Windows builds of the cluster's nodes (`10.0.17763`, `ltsc2022`).
    /// When set, an unpinned pod whose image no node can run is rejected, and IMG-4 pins
    /// only builds that exist. Default empty: unknown.
    pub cluster_windows_builds: Vec<WindowsBuild>,
    /// The OS (and Windows build) of images the built-in classification does not know,
    /// first matching entry wins (see `crate::windows::image::ImageMapping`). Used by OS
    /// resolution and the IMG rules. Default empty.
    pub image_mappings: Vec<ImageMapping>,
    /// IMG-1 to IMG-4: ask the registry (Kubewarden's OCI host capability) for images the
    /// reference and the mappings do not tell. Default off.
    pub image_lookup: ImageLookup,
    /// Read a RuntimeClass that a pod names and `runtimeClasses` does not describe from
    /// the cluster (context-aware: `kubernetes` host capability). Default `false`.
    pub runtime_class_lookup: bool,
    /// Read the cluster's nodes (context-aware: `kubernetes/list_resources_all`, `v1`
    /// `Node`) once per request, so that OS-3, IMG-3 and IMG-4 decide from the taints and
    /// Windows builds the nodes really have; `windowsTaint` and `clusterWindowsBuilds`,
    /// where given, still win. A failed read warns and falls back to the settings.
    /// Default `false`.
    pub node_inventory: bool,
    /// ID-3, ID-4: what a failed look-up of a gMSA credential spec or of a service
    /// account's permission to use it does (no CRD, no RBAC, no answer): `reject`
    /// (default, as the windows-gmsa webhook does) or `warn` (the pod goes through
    /// unchecked).
    pub gmsa_lookup_failure: LookupFailure,
    /// Whether the settings document names `windowsTaint` (filled by `from_value`): a
    /// configured taint wins over the nodes' taints.
    #[serde(skip)]
    pub windows_taint_given: bool,
    /// Why reading a RuntimeClass from the cluster failed, by name (filled during an
    /// evaluation, never from the settings document).
    #[serde(skip)]
    pub runtime_class_lookup_errors: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_os: Os::Linux,
            windows_taint: Taint::default(),
            runtime_classes: BTreeMap::new(),
            rules: BTreeMap::new(),
            linux_only_volume_types: ["cephfs", "glusterfs", "rbd"].map(String::from).to_vec(),
            warn_volume_types: vec!["nfs".to_string()],
            strip_linux_no_ops: false,
            windows_limits: WindowsLimits::default(),
            min_startup_budget_seconds: 60,
            min_exec_probe_timeout_seconds: 10,
            allowed_run_as_user_names: None,
            forbid_container_administrator: false,
            allowed_gmsa_credential_spec_names: Vec::new(),
            allow_host_process: false,
            host_process_image_allow_list: Vec::new(),
            cluster_windows_builds: Vec::new(),
            image_mappings: Vec::new(),
            image_lookup: ImageLookup::default(),
            runtime_class_lookup: false,
            node_inventory: false,
            gmsa_lookup_failure: LookupFailure::Reject,
            windows_taint_given: false,
            runtime_class_lookup_errors: BTreeMap::new(),
        }
    }
}

/// RES-1's optional bounds of Windows containers' limits.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WindowsLimits {
    pub cpu: LimitBounds,
    pub memory: LimitBounds,
}

/// A floor and a ceiling of one limit, both optional.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LimitBounds {
    pub min: Option<Quantity>,
    pub max: Option<Quantity>,
}

/// A RuntimeClass as the cluster defines it (`node.k8s.io/v1`): its `scheduling`
/// (`nodeSelector`, `tolerations`), and its `handler` or an explicit `isolation`.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RuntimeClassSettings {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    /// The CRI handler (`runhcs-wcow-process`, `runhcs-wcow-hypervisor`).
    pub handler: Option<String>,
    /// How its Windows containers are isolated, when the handler does not say.
    pub isolation: Option<Isolation>,
}

impl RuntimeClassSettings {
    /// The isolation of pods that name this RuntimeClass: the explicit `isolation`, else
    /// what the handler says; `None` when neither tells.
    pub fn isolation(&self) -> Option<Isolation> {
        self.isolation
            .or_else(|| self.handler.as_deref().and_then(Isolation::of_handler))
    }
}

/// IMG-1 to IMG-4's registry lookup (settings `imageLookup`).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ImageLookup {
    /// Ask the registry when the reference and the mappings do not tell. Default `false`.
    pub enabled: bool,
    /// What a failed lookup does (reported by IMG-1): `warn` (default) or `reject`.
    pub on_failure: LookupFailure,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LookupFailure {
    #[default]
    Warn,
    Reject,
}

impl Settings {
    /// Decodes settings; `null` means all defaults. Errors name the offending key.
    pub fn from_value(value: &Value) -> Result<Settings, String> {
        match value {
            // No settings (what kwctl and most policies are given): all defaults, without
            // a pass of the deserializer over every field.
            Value::Null => return Ok(Settings::default()),
            Value::Object(map) if map.is_empty() => return Ok(Settings::default()),
            Value::Object(_) => {}
            other => {
                return Err(format!(
                    "settings: expected a map of settings, got {}",
                    crate::k8s::decode::json_type(other)
                ));
            }
        }
        let mut settings: Settings = crate::k8s::decode::from_value(value)
            .map_err(|e| format!("{}: {}", e.path_under("settings"), e.message()))?;
        settings.windows_taint_given = value.get("windowsTaint").is_some();
        Ok(settings)
    }

    /// What is wrong with the values, each message naming its key; rules are checked
    /// against a module by `Settings::validate_for` in the engine.
    pub fn value_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, class) in &self.runtime_classes {
            for key in ["kubernetes.io/os", "beta.kubernetes.io/os"] {
                if let Some(os) = class.node_selector.get(key)
                    && Os::from_label(os).is_none()
                {
                    errors.push(format!(
                        "settings.runtimeClasses.{name}.nodeSelector.{key}: {os:?} is not an OS label value (linux or windows)"
                    ));
                }
            }
            if let (Some(explicit), Some(handler)) = (class.isolation, class.handler.as_deref())
                && let Some(implied) = Isolation::of_handler(handler)
                && implied != explicit
            {
                errors.push(format!(
                    "settings.runtimeClasses.{name}.isolation: {explicit} contradicts the handler {handler}, which means {implied} isolation"
                ));
            }
            if let Some(value) = class
                .node_selector
                .get(crate::windows::isolation::WINDOWS_BUILD_LABEL)
                && WindowsBuild::parse(value).is_none_or(|b| b.node_label() != *value)
            {
                errors.push(format!(
                    "settings.runtimeClasses.{name}.nodeSelector.{}: {value:?} is not a node build label value (major.minor.build, e.g. 10.0.20348)",
                    crate::windows::isolation::WINDOWS_BUILD_LABEL
                ));
            }
        }
        self.validate_volume_types(&mut errors);
        self.validate_limits_and_identity(&mut errors);
        if self.windows_taint.key.is_empty() {
            errors.push("settings.windowsTaint.key: must not be empty".to_string());
        }
        errors
    }

    /// WIN-7's lists: known volume types (as the pod spec spells them), each in one list.
    fn validate_volume_types(&self, errors: &mut Vec<String>) {
        use crate::k8s::volume::VOLUME_TYPES;
        for (key, list) in [
            ("linuxOnlyVolumeTypes", &self.linux_only_volume_types),
            ("warnVolumeTypes", &self.warn_volume_types),
        ] {
            for (i, name) in list.iter().enumerate() {
                if !VOLUME_TYPES.contains(&name.as_str()) {
                    errors.push(format!(
                        "settings.{key}[{i}]: {name:?} is not a volume type of the pod spec (e.g. cephfs, glusterfs, rbd, nfs, iscsi, hostPath)"
                    ));
                }
            }
        }
        for name in &self.warn_volume_types {
            if self.linux_only_volume_types.contains(name) {
                errors.push(format!(
                    "settings.warnVolumeTypes: {name:?} is also in linuxOnlyVolumeTypes; list each volume type once"
                ));
            }
        }
    }

    /// RES-1's bounds, and the allow-lists of ID-1, ID-2 and WIN-12: every entry must be
    /// able to match something valid.
    fn validate_limits_and_identity(&self, errors: &mut Vec<String>) {
        use crate::windows::image::ImagePattern;
        use crate::windows::names::{UserNamePattern, dns1123_subdomain_error};
        for (name, bounds) in [
            ("cpu", &self.windows_limits.cpu),
            ("memory", &self.windows_limits.memory),
        ] {
            for (key, bound) in [("min", &bounds.min), ("max", &bounds.max)] {
                if bound.as_ref().is_some_and(Quantity::is_negative) {
                    errors.push(format!(
                        "settings.windowsLimits.{name}.{key}: must not be negative"
                    ));
                }
            }
            if let (Some(min), Some(max)) = (&bounds.min, &bounds.max)
                && min > max
            {
                errors.push(format!(
                    "settings.windowsLimits.{name}: min {min} is above max {max}"
                ));
            }
        }
        for (i, entry) in self.allowed_run_as_user_names.iter().flatten().enumerate() {
            if let Err(e) = UserNamePattern::parse(entry) {
                errors.push(format!("settings.allowedRunAsUserNames[{i}]: {e}"));
            }
        }
        for (i, name) in self.allowed_gmsa_credential_spec_names.iter().enumerate() {
            if let Some(e) = dns1123_subdomain_error(name) {
                errors.push(format!(
                    "settings.allowedGmsaCredentialSpecNames[{i}]: {name:?} is not a GMSACredentialSpec name: {e}"
                ));
            }
        }
        for (i, entry) in self.host_process_image_allow_list.iter().enumerate() {
            if let Err(e) = ImagePattern::parse(entry) {
                errors.push(format!("settings.hostProcessImageAllowList[{i}]: {e}"));
            }
        }
        if !self.allow_host_process && !self.host_process_image_allow_list.is_empty() {
            errors.push(
                "settings.hostProcessImageAllowList: has no effect while allowHostProcess is false; set allowHostProcess: true to allow HostProcess containers with these images".to_string(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_camel_case_keys() {
        let s = Settings::from_value(&json!({})).unwrap();
        assert_eq!(s, Settings::default());
        // `{}` skips the deserializer: what it would have made is the same.
        let decoded: Settings = crate::k8s::decode::from_value(&json!({})).unwrap();
        assert_eq!(decoded, Settings::default());
        assert_eq!(s.windows_taint.to_string(), "os=windows:NoSchedule");
        let s = Settings::from_value(&json!({
            "defaultOs": "windows",
            "windowsTaint": {"key": "sku", "value": "Windows", "effect": "NoExecute"},
            "runtimeClasses": {"hyperv": {"nodeSelector": {"kubernetes.io/os": "windows"}}},
            "rules": {"OS-1": "warn"}
        }))
        .unwrap();
        assert_eq!(s.default_os, Os::Windows);
        assert_eq!(s.windows_taint.to_string(), "sku=Windows:NoExecute");
        assert_eq!(s.rules["OS-1"], Action::Warn);
        assert!(Settings::from_value(&Value::Null).is_ok());
    }

    #[test]
    fn errors_name_the_key() {
        let err = Settings::from_value(&json!({"defaultOS": "linux"})).unwrap_err();
        assert!(err.contains("unknown field `defaultOS`"), "{err}");
        let err = Settings::from_value(&json!({"rules": {"OS-1": "rejct"}})).unwrap_err();
        assert!(err.starts_with("settings.rules.OS-1:"), "{err}");
        let err = Settings::from_value(&json!({"defaultOs": "Windows"})).unwrap_err();
        assert!(err.starts_with("settings.defaultOs:"), "{err}");
        let err = Settings::from_value(&json!({"windowsTaint": {"key": "os", "efect": "x"}}))
            .unwrap_err();
        assert!(
            err.contains("settings.windowsTaint") && err.contains("efect"),
            "{err}"
        );
        let err = Settings::from_value(&json!([1])).unwrap_err();
        assert_eq!(err, "settings: expected a map of settings, got an array");
    }

    #[test]
    fn resource_and_identity_settings_name_the_bad_value() {
        use crate::modules::{IDENTITY, RESOURCES};
        let check = |module: &crate::engine::module::Module, value: Value| {
            Settings::for_module(&value, module.rules).unwrap_err()
        };
        let err = check(
            &RESOURCES,
            json!({"windowsLimits": {"memory": {"min": "512MB"}}}),
        );
        assert!(
            err.starts_with(
                "settings.windowsLimits.memory.min: \"512MB\" is not a Kubernetes quantity: unknown suffix \"MB\""
            ),
            "{err}"
        );
        let err = check(
            &RESOURCES,
            json!({"windowsLimits": {"cpu": {"min": 4, "max": "500m"}, "memory": {"max": "-1Gi"}}}),
        );
        assert_eq!(
            err,
            "settings.windowsLimits.cpu: min 4 is above max 500m; settings.windowsLimits.memory.max: must not be negative"
        );
        let err = check(&RESOURCES, json!({"minStartupBudgetSeconds": -5}));
        assert!(
            err.starts_with("settings.minStartupBudgetSeconds:"),
            "{err}"
        );
        let err = check(&RESOURCES, json!({"allowHostProcess": true}));
        assert_eq!(
            err,
            "settings.allowHostProcess: not a setting of this module (it configures WIN-12)"
        );
        let err = check(
            &IDENTITY,
            json!({"allowedGmsaCredentialSpecNames": ["gmsa1", "WebApp_1"],
                "allowedRunAsUserNames": ["ContainerUser", "user@contoso.com", "CONTOSO\\*"],
                "hostProcessImageAllowList": ["sigwindowstools/*", "Bad/Image"]}),
        );
        let errors: Vec<&str> = err.split("; settings.").collect();
        assert!(
            errors[0].starts_with(
                "settings.allowedRunAsUserNames[1]: \"user@contoso.com\" is not a valid runAsUserName"
            ),
            "{err}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with(
                "allowedGmsaCredentialSpecNames[1]: \"WebApp_1\" is not a GMSACredentialSpec name"
            )),
            "{err}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with(
                "hostProcessImageAllowList[1]: invalid image reference \"Bad/Image\""
            )),
            "{err}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with(
                "hostProcessImageAllowList: has no effect while allowHostProcess is false"
            )),
            "{err}"
        );
        let ok = Settings::for_module(
            &json!({"allowedRunAsUserNames": ["ContainerUser", "NT AUTHORITY\\*"],
                "forbidContainerAdministrator": true,
                "allowedGmsaCredentialSpecNames": ["gmsa1"],
                "allowHostProcess": true,
                "hostProcessImageAllowList": ["sigwindowstools/*"]}),
            IDENTITY.rules,
        )
        .unwrap();
        assert_eq!(ok.allowed_run_as_user_names.unwrap().len(), 2);
        let defaults = Settings::default();
        assert_eq!(defaults.min_startup_budget_seconds, 60);
        assert!(defaults.allowed_run_as_user_names.is_none());
        assert!(defaults.allowed_gmsa_credential_spec_names.is_empty());
        assert!(!defaults.allow_host_process && !defaults.forbid_container_administrator);
    }

    #[test]
    fn image_settings_decode_and_name_the_bad_value() {
        use crate::windows::image::WindowsBuild;
        let s = Settings::from_value(&json!({
            "runtimeClasses": {
                "hyperv": {"handler": "runhcs-wcow-hypervisor"},
                "sandboxed": {"isolation": "hyperv"},
                "windows-2022": {"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.20348"}}},
            "clusterWindowsBuilds": ["10.0.17763", "ltsc2022"],
            "imageMappings": [{"image": "registry.example.com/win/*", "os": "windows", "build": "ltsc2019"}],
            "imageLookup": {"enabled": true, "onFailure": "reject"}
        }))
        .unwrap();
        assert!(s.validate_for(&[]).is_ok());
        assert_eq!(
            s.runtime_classes["hyperv"].isolation(),
            Some(Isolation::HyperV)
        );
        assert_eq!(
            s.runtime_classes["sandboxed"].isolation(),
            Some(Isolation::HyperV)
        );
        assert_eq!(s.runtime_classes["windows-2022"].isolation(), None);
        assert_eq!(
            s.cluster_windows_builds,
            [WindowsBuild::LTSC2019, WindowsBuild::LTSC2022]
        );
        assert_eq!(s.image_mappings[0].build, Some(WindowsBuild::LTSC2019));
        assert_eq!(
            s.image_lookup,
            ImageLookup {
                enabled: true,
                on_failure: LookupFailure::Reject
            }
        );
        let defaults = Settings::default();
        assert!(!defaults.image_lookup.enabled);
        assert_eq!(defaults.image_lookup.on_failure, LookupFailure::Warn);

        let err = Settings::from_value(&json!({"clusterWindowsBuilds": ["10.0.17763", "2030"]}))
            .unwrap_err();
        assert!(
            err.starts_with("settings.clusterWindowsBuilds[1]: \"2030\" is not a Windows build"),
            "{err}"
        );
        let err = Settings::from_value(
            &json!({"imageMappings": [{"image": "a", "os": "linux", "build": "ltsc2019"}]}),
        )
        .unwrap_err();
        assert!(
            err.starts_with("settings.imageMappings[0]: build: only a Windows image"),
            "{err}"
        );
        let err =
            Settings::from_value(&json!({"imageLookup": {"enabled": true, "onFailure": "ignore"}}))
                .unwrap_err();
        assert!(
            err.starts_with("settings.imageLookup.onFailure: unknown variant `ignore`"),
            "{err}"
        );
        let err = Settings::from_value(&json!({"runtimeClasses": {"x": {"isolation": "vm"}}}))
            .unwrap_err();
        assert!(
            err.starts_with("settings.runtimeClasses.x.isolation:"),
            "{err}"
        );
        let contradiction = Settings::from_value(&json!({"runtimeClasses": {
            "x": {"handler": "runhcs-wcow-process", "isolation": "hyperv"},
            "y": {"nodeSelector": {"node.kubernetes.io/windows-build": "ltsc2022"}}}}))
        .unwrap()
        .validate_for(&[])
        .unwrap_err();
        assert_eq!(
            contradiction,
            "settings.runtimeClasses.x.isolation: Hyper-V contradicts the handler runhcs-wcow-process, which means process isolation; settings.runtimeClasses.y.nodeSelector.node.kubernetes.io/windows-build: \"ltsc2022\" is not a node build label value (major.minor.build, e.g. 10.0.20348)"
        );
    }
}
