//! The catalogue: every rule, one per file, listed once here in catalogue order. The
//! list gives the registry ([`ALL_RULES`]), the re-exported rule types, and [`id`], the
//! typed id of every rule, by which code names a rule (`id::IMG_1`). A rule never
//! imports another rule: what several share is in [`util`] or a lower layer.

mod id1_run_as_user_name;
mod id2_gmsa;
mod id3_gmsa_credential_spec_exists;
mod id4_gmsa_use_authorized;
mod id5_gmsa_contents_match;
mod id6_gmsa_inline;
mod id7_gmsa_unchanged;
mod img1_image_os;
mod img2_mixed_builds;
mod img3_build_mismatch;
mod img4_pin_build;
mod img5_large_image_always_pulled;
mod lnx1_windows_options_on_linux;
mod os1_no_target_os;
mod os2_os_conflict;
mod os3_missing_windows_toleration;
mod os4_missing_os_name;
mod os5_windows_taint_tolerated;
mod os6_selection_of_other_os;
mod rc1_hyperv_host_access;
mod rc2_runtime_class_scheduling;
mod res1_missing_limits;
mod res2_overcommit;
mod res3_hugepages;
mod res4_startup_budget;
mod res5_exec_probe_timeout;
pub mod util;
mod win10_dns_policy;
mod win11_host_process;
mod win12_host_process_allowed;
mod win13_linux_commands;
mod win1_privileged;
mod win2_capabilities;
mod win3_host_namespaces;
mod win4_host_network;
mod win5_host_port;
mod win6_linux_security_context;
mod win7_linux_only_volumes;
mod win8_host_path;
mod win9_storage_features;

use crate::engine::rule::{Rule, RuleId};

/// Declares the catalogue: `ID_CONSTANT => file::RuleType`, in catalogue order.
macro_rules! catalogue {
    ($($id:ident => $file:ident::$rule:ident,)*) => {
        $(pub use $file::$rule;)*

        /// Every rule's id, named as a constant (`OS_1` for `OS-1`).
        pub mod id {
            use crate::engine::rule::RuleId;
            $(pub const $id: RuleId = super::$rule::ID;)*
        }

        /// Every rule, in catalogue order.
        pub static ALL_RULES: &[&dyn Rule] = &[$(&$rule),*];

        /// The settings keys each rule reads: data only, so that a module that names
        /// another module's settings in a message does not carry that module's rules.
        pub static SETTINGS_BY_RULE: &[(RuleId, &[&str])] = &[$(($rule::ID, $rule::SETTINGS)),*];

        /// Each rule's doc block, in Markdown (for the reference).
        pub static DOCS: &[(RuleId, &str)] = &[$(($rule::ID, $rule::DOC)),*];

        // A constant's name is its rule's id: `OS_1` cannot name WIN-1.
        $(const _: () = assert!(RuleId::is_named($rule::ID, stringify!($id)));)*
    };
}

catalogue! {
    OS_1 => os1_no_target_os::NoTargetOsRule,
    OS_2 => os2_os_conflict::OsConflictRule,
    OS_3 => os3_missing_windows_toleration::MissingWindowsTolerationRule,
    OS_4 => os4_missing_os_name::MissingOsNameRule,
    OS_5 => os5_windows_taint_tolerated::WindowsTaintToleratedRule,
    OS_6 => os6_selection_of_other_os::SelectionOfOtherOsRule,
    WIN_1 => win1_privileged::PrivilegedRule,
    WIN_2 => win2_capabilities::CapabilitiesRule,
    WIN_3 => win3_host_namespaces::HostNamespacesRule,
    WIN_4 => win4_host_network::HostNetworkRule,
    WIN_5 => win5_host_port::HostPortRule,
    WIN_6 => win6_linux_security_context::LinuxSecurityContextRule,
    WIN_7 => win7_linux_only_volumes::LinuxOnlyVolumesRule,
    WIN_8 => win8_host_path::HostPathRule,
    WIN_9 => win9_storage_features::StorageFeaturesRule,
    WIN_10 => win10_dns_policy::DnsPolicyRule,
    WIN_11 => win11_host_process::HostProcessStructureRule,
    WIN_12 => win12_host_process_allowed::HostProcessAllowedRule,
    WIN_13 => win13_linux_commands::LinuxCommandsRule,
    LNX_1 => lnx1_windows_options_on_linux::WindowsOptionsOnLinuxRule,
    IMG_1 => img1_image_os::ImageOsRule,
    IMG_2 => img2_mixed_builds::MixedBuildsRule,
    IMG_3 => img3_build_mismatch::BuildMismatchRule,
    IMG_4 => img4_pin_build::PinBuildRule,
    IMG_5 => img5_large_image_always_pulled::LargeImageAlwaysPulledRule,
    RES_1 => res1_missing_limits::MissingLimitsRule,
    RES_2 => res2_overcommit::OvercommitRule,
    RES_3 => res3_hugepages::HugepagesRule,
    RES_4 => res4_startup_budget::StartupBudgetRule,
    RES_5 => res5_exec_probe_timeout::ExecProbeTimeoutRule,
    ID_1 => id1_run_as_user_name::RunAsUserNameRule,
    ID_2 => id2_gmsa::GmsaRule,
    ID_3 => id3_gmsa_credential_spec_exists::GmsaCredentialSpecExistsRule,
    ID_4 => id4_gmsa_use_authorized::GmsaUseAuthorizedRule,
    ID_5 => id5_gmsa_contents_match::GmsaContentsMatchRule,
    ID_6 => id6_gmsa_inline::GmsaInlineRule,
    ID_7 => id7_gmsa_unchanged::GmsaUnchangedRule,
    RC_1 => rc1_hyperv_host_access::HyperVHostAccessRule,
    RC_2 => rc2_runtime_class_scheduling::RuntimeClassSchedulingRule,
}

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
            // Every doc block says what and why, and ends with an example.
            let doc = DOCS
                .iter()
                .find(|(id, _)| *id == meta.id)
                .map_or("", |(_, doc)| doc);
            assert!(
                !meta.summary.is_empty()
                    && doc.starts_with(&format!(" {}: ", meta.id))
                    && doc.contains("\n Example: ")
                    && doc.contains("```yaml")
                    && !meta.source.is_empty(),
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
