//! The rule registry: every rule of the catalogue, one per file, listed once here.

mod os1_no_target_os;
mod os2_os_conflict;
mod os3_missing_windows_toleration;
mod os4_missing_os_name;
mod os5_windows_taint_tolerated;
mod win1_privileged;
mod win2_capabilities;
mod win3_host_namespaces;
mod win4_host_network;
mod win5_host_port;
mod win6_linux_security_context;
mod win7_linux_only_volumes;
mod win8_host_path;
mod win9_storage_features;
mod win10_dns_policy;
mod win11_host_process;
mod lnx1_windows_options_on_linux;

pub use os1_no_target_os::NoTargetOsRule;
pub use os2_os_conflict::OsConflictRule;
pub use os3_missing_windows_toleration::MissingWindowsTolerationRule;
pub use os4_missing_os_name::MissingOsNameRule;
pub use os5_windows_taint_tolerated::WindowsTaintToleratedRule;
pub use win1_privileged::PrivilegedRule;
pub use win2_capabilities::CapabilitiesRule;
pub use win3_host_namespaces::HostNamespacesRule;
pub use win4_host_network::HostNetworkRule;
pub use win5_host_port::HostPortRule;
pub use win6_linux_security_context::LinuxSecurityContextRule;
pub use win7_linux_only_volumes::{LinuxOnlyVolumesRule, VOLUME_TYPES};
pub use win8_host_path::HostPathRule;
pub use win9_storage_features::StorageFeaturesRule;
pub use win10_dns_policy::DnsPolicyRule;
pub use win11_host_process::{HOST_PROCESS_USERS, HostProcessStructureRule};
pub use lnx1_windows_options_on_linux::WindowsOptionsOnLinuxRule;

use crate::rule::Rule;

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
    &WindowsOptionsOnLinuxRule,
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
                meta.default_action != crate::rule::Action::Mutate || meta.can_mutate,
                "{} defaults to mutate but cannot",
                meta.id
            );
        }
    }
}
