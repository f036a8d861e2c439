//! The policy modules: each a curated subset of the catalogue (see DESIGN.md).

pub mod settings;

use crate::engine::module::Module;
use crate::engine::rule::{Action, RuleId};
use crate::rules::*;

/// OS placement: steer every pod to the right OS (OS-1 to OS-6).
pub static OS_PLACEMENT: Module = Module {
    name: "windows-os-placement",
    rules: &[
        &NoTargetOsRule,
        &OsConflictRule,
        &MissingWindowsTolerationRule,
        &MissingOsNameRule,
        &WindowsTaintToleratedRule,
        &SelectionOfOtherOsRule,
    ],
    runtime_class_lookup: None,
    node_inventory: Some(crate::facts::nodes::list_nodes),
    default_actions: &[],
};

/// Pod compatibility: stop pods that cannot run on the OS they target (WIN-1 to WIN-11,
/// WIN-13, LNX-1).
pub static POD_COMPATIBILITY: Module = Module {
    name: "windows-pod-compatibility",
    rules: &[
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
        &LinuxCommandsRule,
        &WindowsOptionsOnLinuxRule,
    ],
    runtime_class_lookup: None,
    node_inventory: None,
    default_actions: &[],
};

/// Resources and startup: bounded, non-overcommitted Windows containers with time to
/// start and probes that give them time to answer (RES-1 to RES-5). Mutating: RES-2 can
/// copy limits into missing requests.
pub static RESOURCES: Module = Module {
    name: "windows-resources",
    rules: &[
        &MissingLimitsRule,
        &OvercommitRule,
        &HugepagesRule,
        &StartupBudgetRule,
        &ExecProbeTimeoutRule,
    ],
    runtime_class_lookup: None,
    node_inventory: None,
    default_actions: &[],
};

/// Identity and HostProcess: who a Windows container runs as (ID-1, ID-2) and whether it
/// may run on the host (WIN-12).
pub static IDENTITY: Module = Module {
    name: "windows-identity",
    // Catalogue order, as every module: findings are listed in the order of the rules.
    rules: &[&HostProcessAllowedRule, &RunAsUserNameRule, &GmsaRule],
    runtime_class_lookup: None,
    node_inventory: None,
    default_actions: &[],
};

/// gMSA admission: what the windows-gmsa webhook does, inside a policy (ID-3 to ID-7):
/// the named `GMSACredentialSpec` exists, the pod's service account may `use` it, given
/// contents are its own, a Pod gets its contents inlined, and an UPDATE does not change
/// them. Context-aware (`kubernetes/get_resource`, `kubernetes/can_i`) and mutating.
pub static GMSA: Module = Module {
    name: "windows-gmsa",
    rules: &[
        &GmsaCredentialSpecExistsRule,
        &GmsaUseAuthorizedRule,
        &GmsaContentsMatchRule,
        &GmsaInlineRule,
        &GmsaUnchangedRule,
    ],
    runtime_class_lookup: None,
    node_inventory: None,
    default_actions: &[],
};

/// Image compatibility: images that cannot run where the pod lands (IMG-1 to IMG-4,
/// RC-1), and large images pulled at every start (IMG-5). Mutating: IMG-4 pins the node's
/// Windows build when the image's is known.
pub static IMAGE_COMPATIBILITY: Module = Module {
    name: "windows-image-compatibility",
    rules: &[
        &ImageOsRule,
        &MixedBuildsRule,
        &BuildMismatchRule,
        &PinBuildRule,
        &LargeImageAlwaysPulledRule,
        &HyperVHostAccessRule,
    ],
    runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
    node_inventory: Some(crate::facts::nodes::list_nodes),
    default_actions: &[],
};

/// Runtime classes: RuntimeClass objects with a Windows handler must steer their pods to
/// Windows nodes (RC-2). Evaluates RuntimeClass objects, not workloads.
pub static RUNTIME_CLASSES: Module = Module {
    name: "windows-runtime-classes",
    rules: &[&RuntimeClassSchedulingRule],
    runtime_class_lookup: None,
    node_inventory: Some(crate::facts::nodes::list_nodes),
    default_actions: &[],
};

/// The flagship: every rule of the catalogue in one module (one decode, one OS
/// resolution, one pass of the rules per request), each rule's action configurable.
///
/// Its defaults are the catalogue's except where a rule would refuse workloads that run
/// today and whose fix is a cleanup or a choice of the cluster's operators, not a defect
/// that stops the pod: those warn until the operator opts in to rejecting them (see
/// `FLAGSHIP_DEFAULTS` and the module's README).
pub static ALL: Module = Module {
    name: "windows-workloads",
    rules: ALL_RULES,
    runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
    node_inventory: Some(crate::facts::nodes::list_nodes),
    default_actions: FLAGSHIP_DEFAULTS,
};

/// The flagship's defaults that differ from the catalogue's.
pub const FLAGSHIP_DEFAULTS: &[(RuleId, Action)] = &[
    // Limits are a capacity policy: Azure's built-in policy audits them by default. Many
    // Windows node agents and charts set none, and run.
    (id::RES_1, Action::Warn),
    // Fields Windows ignores: the API server refuses them only once `os.name: windows`
    // is set, which OS-4 does not do while they remain. Hardened Linux charts and CSI
    // node plugins carry them and run.
    (id::WIN_6, Action::Warn),
    // With no allow-list configured, every gMSA pod would be refused (the gMSA webhook
    // already authorises the use of a credential spec through RBAC).
    (id::ID_2, Action::Warn),
    // The gMSA admission asks the cluster for every pod that names a credential spec: a
    // PolicyServer needs the RBAC the windows-gmsa module's README gives, and a cluster
    // that runs the windows-gmsa webhook would answer twice. An operator turns them on.
    (id::ID_3, Action::Off),
    (id::ID_4, Action::Off),
    (id::ID_5, Action::Off),
    (id::ID_6, Action::Off),
    (id::ID_7, Action::Off),
];

/// Every module: the flagship first, then the single modules in catalogue order.
pub static MODULES: &[&Module] = &[
    &ALL,
    &OS_PLACEMENT,
    &POD_COMPATIBILITY,
    &IMAGE_COMPATIBILITY,
    &RESOURCES,
    &IDENTITY,
    &GMSA,
    &RUNTIME_CLASSES,
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_flagship_carries_every_rule_and_every_rule_has_a_single_module() {
        let ids =
            |m: &Module| -> Vec<&str> { m.rules.iter().map(|r| r.meta().id.as_str()).collect() };
        assert_eq!(
            ids(&ALL),
            ALL_RULES
                .iter()
                .map(|r| r.meta().id.as_str())
                .collect::<Vec<_>>()
        );
        for rule in ALL_RULES {
            let id = rule.meta().id.as_str();
            let carriers: Vec<&str> = MODULES[1..]
                .iter()
                .filter(|m| ids(m).contains(&id))
                .map(|m| m.name)
                .collect();
            assert_eq!(carriers.len(), 1, "{id} is in {carriers:?}");
        }
        let mut names: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODULES.len());
    }

    #[test]
    fn every_module_lists_its_rules_in_catalogue_order() {
        // A response lists findings in the order of the module's rules: in catalogue
        // order, a single module and the flagship report the same findings alike.
        let position = |id: RuleId| ALL_RULES.iter().position(|r| r.meta().id == id);
        for module in MODULES {
            let positions: Vec<Option<usize>> =
                module.rules.iter().map(|r| position(r.meta().id)).collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{}: rules out of catalogue order",
                module.name
            );
        }
    }

    #[test]
    fn module_defaults_name_their_rules_and_supported_actions() {
        for module in MODULES {
            for (id, action) in module.default_actions {
                let rule = module
                    .rules
                    .iter()
                    .find(|r| r.meta().id == *id)
                    .unwrap_or_else(|| {
                        panic!("{}: default for {id}, not a rule of it", module.name)
                    });
                assert!(
                    *action != Action::Mutate || rule.meta().can_mutate,
                    "{}: {id} cannot mutate",
                    module.name
                );
                assert_ne!(
                    *action,
                    rule.meta().default_action,
                    "{}: {id}'s default is the catalogue's",
                    module.name
                );
            }
            if module.name != ALL.name {
                assert!(module.default_actions.is_empty(), "{}", module.name);
            }
        }
    }

    #[test]
    fn module_defaults_apply_unless_the_settings_name_the_rule() {
        let settings = ALL.settings(&json!(null)).unwrap();
        assert_eq!(settings.action_of(&MissingLimitsRule), Action::Warn);
        assert_eq!(settings.action_of(&PrivilegedRule), Action::Reject);
        assert_eq!(ALL.default_action(&MissingLimitsRule), Action::Warn);
        let settings = ALL
            .settings(&json!({"rules": {"RES-1": "reject"}}))
            .unwrap();
        assert_eq!(settings.action_of(&MissingLimitsRule), Action::Reject);
        // The single module keeps the catalogue default.
        let settings = RESOURCES.settings(&json!({})).unwrap();
        assert_eq!(settings.action_of(&MissingLimitsRule), Action::Reject);
        // Every key of every module is a key of the flagship.
        assert!(
            ALL.settings(&json!({"defaultOs": "windows", "allowHostProcess": true,
                "clusterWindowsBuilds": ["ltsc2022"], "minStartupBudgetSeconds": 0}))
                .is_ok()
        );
    }
}
