//! A policy module as the engine sees it: the rules it carries and its defaults, and
//! what the settings say each of its rules does.

use crate::engine::rule::{AppliesTo, Rule, RuleId};
use crate::facts::host::HostCalls;
use crate::k8s::workload::Workload;
use crate::settings::{Action, SHARED_KEYS, Settings};

/// A policy module: a name, the rules it carries, and its own defaults where they differ
/// from the catalogue's.
pub struct Module {
    pub name: &'static str,
    pub rules: &'static [&'static dyn Rule],
    /// The module's default action of some of its rules (rule id, action), in place of
    /// the rule's catalogue default; empty for the single modules, which keep the
    /// catalogue's. The flagship uses it for defaults that are safe to adopt at once.
    pub default_actions: &'static [(RuleId, Action)],
    /// How the module completes the settings with the RuntimeClass a pod names, read
    /// from the cluster (settings `runtimeClassLookup`); `None` where no rule of the
    /// module reads that setting, so that its code, and the host capability it calls,
    /// is not in the module at all (`kwctl annotate` lists what a module can call).
    pub runtime_class_lookup: Option<RuntimeClassLookup>,
    /// How the module reads the cluster's nodes (settings `nodeInventory`); `None` where
    /// no rule of the module reads that setting, so that the host call is not linked.
    pub node_inventory: Option<crate::facts::nodes::ReadNodes>,
}

/// Completes settings with the RuntimeClass a workload names, from the cluster.
pub type RuntimeClassLookup =
    for<'a> fn(&'a Settings, &Workload, &dyn HostCalls) -> std::borrow::Cow<'a, Settings>;

impl Module {
    /// Whether the module has rules for workloads (not only for RuntimeClass objects).
    pub fn has_workload_rules(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.meta().applies_to != AppliesTo::RuntimeClasses)
    }

    /// Whether the module's settings accept `key`: every module reads it, or a rule of
    /// the module does.
    pub fn reads_setting(&self, key: &str) -> bool {
        SHARED_KEYS.contains(&key) || self.rules.iter().any(|r| r.meta().settings.contains(&key))
    }

    /// The action of `rule` in this module when the settings do not name it.
    pub fn default_action(&self, rule: &dyn Rule) -> Action {
        let meta = rule.meta();
        self.default_actions
            .iter()
            .find(|(id, _)| *id == meta.id)
            .map_or(meta.default_action, |(_, action)| *action)
    }
}

/// What the settings make of rules: implemented here, above `settings`, so that the
/// settings know no rule.
impl Settings {
    /// The action of a rule: the configured one, else the rule's default.
    pub fn action_of(&self, rule: &dyn Rule) -> Action {
        let meta = rule.meta();
        self.rules
            .get(meta.id.as_str())
            .copied()
            .unwrap_or(meta.default_action)
    }

    /// Checks that every rule named in `rules` belongs to the module and supports the
    /// chosen action, then every value (see [`Settings::value_errors`]).
    pub fn validate_for(&self, module_rules: &[&dyn Rule]) -> Result<(), String> {
        let mut errors = Vec::new();
        for (id, action) in &self.rules {
            match module_rules.iter().find(|r| r.meta().id == id.as_str()) {
                None => {
                    let known: Vec<&str> =
                        module_rules.iter().map(|r| r.meta().id.as_str()).collect();
                    errors.push(format!(
                        "settings.rules.{id}: unknown rule for this module (its rules: {})",
                        known.join(", ")
                    ));
                }
                Some(rule) if *action == Action::Mutate && !rule.meta().can_mutate => {
                    errors.push(format!(
                        "settings.rules.{id}: {id} cannot mutate; use reject, warn or off"
                    ));
                }
                Some(_) => {}
            }
        }
        errors.extend(self.value_errors());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
