//! The rule registry: every rule of the catalogue, one per file, listed once here.

mod id1_run_as_user_name;
mod id2_gmsa;
mod img1_image_os;
mod img2_mixed_builds;
mod img3_build_mismatch;
mod img4_pin_build;
mod lnx1_windows_options_on_linux;
mod os1_no_target_os;
mod os2_os_conflict;
mod os3_missing_windows_toleration;
mod os4_missing_os_name;
mod os5_windows_taint_tolerated;
mod rc1_hyperv_host_access;
mod rc2_runtime_class_scheduling;
mod res1_missing_limits;
mod res2_overcommit;
mod res3_hugepages;
mod res4_startup_budget;
mod win10_dns_policy;
mod win11_host_process;
mod win12_host_process_allowed;
mod win1_privileged;
mod win2_capabilities;
mod win3_host_namespaces;
mod win4_host_network;
mod win5_host_port;
mod win6_linux_security_context;
mod win7_linux_only_volumes;
mod win8_host_path;
mod win9_storage_features;

pub use id1_run_as_user_name::RunAsUserNameRule;
pub use id2_gmsa::GmsaRule;
pub use img1_image_os::ImageOsRule;
pub use img2_mixed_builds::MixedBuildsRule;
pub use img3_build_mismatch::BuildMismatchRule;
pub use img4_pin_build::PinBuildRule;
pub use lnx1_windows_options_on_linux::WindowsOptionsOnLinuxRule;
pub use os1_no_target_os::NoTargetOsRule;
pub use os2_os_conflict::OsConflictRule;
pub use os3_missing_windows_toleration::MissingWindowsTolerationRule;
pub use os4_missing_os_name::MissingOsNameRule;
pub use os5_windows_taint_tolerated::WindowsTaintToleratedRule;
pub use rc1_hyperv_host_access::HyperVHostAccessRule;
pub use rc2_runtime_class_scheduling::RuntimeClassSchedulingRule;
pub use res1_missing_limits::MissingLimitsRule;
pub use res2_overcommit::OvercommitRule;
pub use res3_hugepages::HugepagesRule;
pub use res4_startup_budget::StartupBudgetRule;
pub use win1_privileged::PrivilegedRule;
pub use win2_capabilities::CapabilitiesRule;
pub use win3_host_namespaces::HostNamespacesRule;
pub use win4_host_network::HostNetworkRule;
pub use win5_host_port::HostPortRule;
pub use win6_linux_security_context::LinuxSecurityContextRule;
pub use win7_linux_only_volumes::LinuxOnlyVolumesRule;
pub use win8_host_path::HostPathRule;
pub use win9_storage_features::StorageFeaturesRule;
pub use win10_dns_policy::DnsPolicyRule;
pub use win11_host_process::{HOST_PROCESS_USERS, HostProcessStructureRule};
pub use win12_host_process_allowed::HostProcessAllowedRule;

use crate::engine::rule::Rule;

/// Every rule, in catalogue order.
pub static ALL_RULES: &[&dyn Rule] = &[
    &NoTargetOsRule,
    &OsConflictRule,
    &MissingWindowsTolerationRule,
    &MissingOsNameRule,
    &WindowsTaintToleratedRule,
    &PrivilegedRule,
    &CapabilitiesRule,
    &HostNamespacesRule,
    &HostNetworkRule,
    &HostPortRule,
    &LinuxSecurityContextRule,
    &LinuxOnlyVolumesRule,
    &HostPathRule,
    &StorageFeaturesRule,
    &DnsPolicyRule,
    &HostProcessStructureRule,
    &HostProcessAllowedRule,
    &WindowsOptionsOnLinuxRule,
    &ImageOsRule,
    &MixedBuildsRule,
    &BuildMismatchRule,
    &PinBuildRule,
    &MissingLimitsRule,
    &OvercommitRule,
    &HugepagesRule,
    &StartupBudgetRule,
    &RunAsUserNameRule,
    &GmsaRule,
    &HyperVHostAccessRule,
    &RuntimeClassSchedulingRule,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_documented() {
        let mut seen = HashSet::new();
        for rule in ALL_RULES {
            let meta = rule.meta();
            assert!(seen.insert(meta.id), "duplicate id {}", meta.id);
            assert!(
                !meta.doc.is_empty() && !meta.source.is_empty(),
                "{}",
                meta.id
            );
            assert!(
                meta.default_action != crate::engine::rule::Action::Mutate || meta.can_mutate,
                "{} defaults to mutate but cannot",
                meta.id
            );
            // The engine evaluates RuntimeClass objects in one pass, without patches.
            assert!(
                meta.applies_to != crate::engine::rule::AppliesTo::RuntimeClasses
                    || !meta.can_mutate,
                "{} is a RuntimeClass rule that mutates",
                meta.id
            );
        }
    }
}
