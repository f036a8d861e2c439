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
