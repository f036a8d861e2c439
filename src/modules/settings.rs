//! A module's settings: the keys its rules read, decoded and validated for its rules,
//! with its own defaults. Here, above the rules, because which rule reads which key is
//! the catalogue's knowledge, not the settings'.

use crate::engine::module::Module;
use crate::engine::rule::{Action, Rule};
use crate::settings::Settings;
use serde_json::Value;

/// Which rules read each top-level settings key; `"*"` means every module (OS resolution
/// reads it). A module refuses keys that none of its rules reads, so a setting meant for
/// another module is not silently ignored. New settings are added here with their rules.
pub const SETTING_READERS: &[(&str, &[&str])] = &[
    ("defaultOs", &["OS-1"]),
    ("windowsTaint", &["*"]),
    ("runtimeClasses", &["*"]),
    ("rules", &["*"]),
    ("linuxOnlyVolumeTypes", &["WIN-7"]),
    ("warnVolumeTypes", &["WIN-7"]),
    ("stripLinuxNoOps", &["WIN-6"]),
    ("windowsLimits", &["RES-1"]),
    ("minStartupBudgetSeconds", &["RES-4"]),
    ("allowedRunAsUserNames", &["ID-1"]),
    ("forbidContainerAdministrator", &["ID-1"]),
    ("allowedGmsaCredentialSpecNames", &["ID-2"]),
    ("allowHostProcess", &["WIN-12"]),
    ("hostProcessImageAllowList", &["WIN-12"]),
    ("clusterWindowsBuilds", &["IMG-3", "IMG-4"]),
    ("imageMappings", &["*"]),
    ("imageLookup", &["IMG-1", "IMG-2", "IMG-3", "IMG-4"]),
    ("runtimeClassLookup", &["IMG-3", "IMG-4", "RC-1"]),
];

impl Settings {
    /// Decodes settings for a module: every key must be one the module's rules read,
    /// and `rules` may only name the module's rules.
    pub fn for_module(value: &Value, module_rules: &[&dyn Rule]) -> Result<Settings, String> {
        if let Value::Object(map) = value {
            for key in map.keys() {
                let Some((_, readers)) = SETTING_READERS.iter().find(|(k, _)| k == key) else {
                    continue; // decoding below names unknown keys
                };
                let read = readers
                    .iter()
                    .any(|r| *r == "*" || module_rules.iter().any(|rule| rule.meta().id == *r));
                if !read {
                    return Err(format!(
                        "settings.{key}: not a setting of this module (it configures {})",
                        readers.join(", ")
                    ));
                }
            }
        }
        let settings = Settings::from_value(value)?;
        settings.validate_for(module_rules)?;
        Ok(settings)
    }
}

impl Module {
    /// The settings of this module from a policy's settings value (`null`: all
    /// defaults): validated for its rules (see [`Settings::for_module`]), with the
    /// module's default action for each rule the settings do not name.
    pub fn settings(&self, value: &Value) -> Result<Settings, String> {
        let mut settings = Settings::for_module(value, self.rules)?;
        for (id, action) in self.default_actions {
            settings.rules.entry((*id).to_string()).or_insert(*action);
        }
        Ok(settings)
    }

    /// Settings under which every rule of this module that can mutate does, and WIN-6
    /// (when the module carries it) strips the Linux-only values that do nothing on
    /// Windows: the most a module can change, for tests and fuzzing.
    pub fn settings_with_every_fix(&self) -> Value {
        let rules: serde_json::Map<String, Value> = self
            .rules
            .iter()
            .map(|r| r.meta())
            .filter(|m| m.can_mutate)
            .map(|m| (m.id.to_string(), Value::from(Action::Mutate.as_str())))
            .collect();
        let mut settings = serde_json::json!({ "rules": rules });
        if self.rules.iter().any(|r| r.meta().id == "WIN-6") {
            settings["stripLinuxNoOps"] = Value::Bool(true);
        }
        settings
    }
}
