//! The rule registry: every rule of the catalogue, one per file, listed once here.

mod os1_no_target_os;
mod os2_os_conflict;
mod os3_missing_windows_toleration;
mod os4_missing_os_name;
mod os5_windows_taint_tolerated;

pub use os1_no_target_os::NoTargetOsRule;
pub use os2_os_conflict::OsConflictRule;
pub use os3_missing_windows_toleration::MissingWindowsTolerationRule;
pub use os4_missing_os_name::MissingOsNameRule;
pub use os5_windows_taint_tolerated::WindowsTaintToleratedRule;

use crate::rule::Rule;

/// Every rule, in catalogue order.
pub static ALL_RULES: &[&dyn Rule] = &[
    &NoTargetOsRule,
    &OsConflictRule,
    &MissingWindowsTolerationRule,
    &MissingOsNameRule,
    &WindowsTaintToleratedRule,
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
