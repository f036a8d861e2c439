//! The policy modules: each a curated subset of the catalogue (see DESIGN.md).

use crate::engine::Module;
use crate::rules::*;

/// OS placement: steer every pod to the right OS (OS-1 to OS-5).
pub static OS_PLACEMENT: Module = Module {
    name: "windows-os-placement",
    rules: &[
        &NoTargetOsRule,
        &OsConflictRule,
        &MissingWindowsTolerationRule,
        &MissingOsNameRule,
        &WindowsTaintToleratedRule,
    ],
};

/// Pod compatibility: stop pods that cannot run on the OS they target (WIN-1 to WIN-11,
/// LNX-1).
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
        &WindowsOptionsOnLinuxRule,
    ],
};

/// Resources and startup: bounded, non-overcommitted Windows containers with time to
/// start (RES-1 to RES-4). Mutating: RES-2 can copy limits into missing requests.
pub static RESOURCES: Module = Module {
    name: "windows-resources",
    rules: &[
        &MissingLimitsRule,
        &OvercommitRule,
        &HugepagesRule,
        &StartupBudgetRule,
    ],
};

/// Identity and HostProcess: who a Windows container runs as (ID-1, ID-2) and whether it
/// may run on the host (WIN-12).
pub static IDENTITY: Module = Module {
    name: "windows-identity",
    rules: &[&RunAsUserNameRule, &GmsaRule, &HostProcessAllowedRule],
};

/// Image compatibility: images that cannot run where the pod lands (IMG-1 to IMG-4,
/// RC-1). Mutating: IMG-4 pins the node's Windows build when the image's is known.
pub static IMAGE_COMPATIBILITY: Module = Module {
    name: "windows-image-compatibility",
    rules: &[
        &ImageOsRule,
        &MixedBuildsRule,
        &BuildMismatchRule,
        &PinBuildRule,
        &HyperVHostAccessRule,
    ],
};

/// Runtime classes: RuntimeClass objects with a Windows handler must steer their pods to
/// Windows nodes (RC-2). Evaluates RuntimeClass objects, not workloads.
pub static RUNTIME_CLASSES: Module = Module {
    name: "windows-runtime-classes",
    rules: &[&RuntimeClassSchedulingRule],
};
