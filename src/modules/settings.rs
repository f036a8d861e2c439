//! A module's settings: the keys its rules read, decoded and validated for its rules,
//! with its own defaults. Here, above the rules, because which rule reads which key is
//! the catalogue's knowledge, not the settings'.

use crate::engine::module::Module;
use crate::engine::rule::{Action, Rule};
use crate::rules::{SETTINGS_BY_RULE, id};
use crate::settings::{SHARED_KEYS, Settings};
use serde_json::Value;

impl Settings {
    /// Decodes settings for a module: every key must be one every module reads
    /// ([`SHARED_KEYS`]) or one a rule of the module reads (its declaration's
    /// `settings`), and `rules` may only name the module's rules. A key meant for another
    /// module is refused, naming the rules it configures, so it is not silently ignored.
    pub fn for_module(value: &Value, module_rules: &[&dyn Rule]) -> Result<Settings, String> {
        if let Value::Object(map) = value {
            for key in map.keys() {
                if SHARED_KEYS.contains(&key.as_str()) {
                    continue;
                }
                let readers: Vec<&str> = SETTINGS_BY_RULE
                    .iter()
                    .filter(|(_, keys)| keys.contains(&key.as_str()))
                    .map(|(id, _)| id.as_str())
                    .collect();
                let read = module_rules
                    .iter()
                    .any(|r| r.meta().settings.contains(&key.as_str()));
                // A key no rule reads is left to decoding, which names unknown keys.
                if !readers.is_empty() && !read {
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
            settings.rules.entry(id.to_string()).or_insert(*action);
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
        if self.rules.iter().any(|r| r.meta().id == id::WIN_6) {
            settings["stripLinuxNoOps"] = Value::Bool(true);
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modules_refuse_keys_of_other_modules() {
        use crate::rules::{NoTargetOsRule, OsConflictRule};
        let only_os2: &[&dyn Rule] = &[&OsConflictRule];
        let err = Settings::for_module(&json!({"defaultOs": "linux"}), only_os2).unwrap_err();
        assert_eq!(
            err,
            "settings.defaultOs: not a setting of this module (it configures OS-1)"
        );
        let with_os1: &[&dyn Rule] = &[&NoTargetOsRule, &OsConflictRule];
        assert!(Settings::for_module(&json!({"defaultOs": "linux"}), with_os1).is_ok());
        let err = Settings::for_module(&json!({"rules": {"WIN-1": "warn"}}), with_os1).unwrap_err();
        assert!(
            err.starts_with("settings.rules.WIN-1: unknown rule for this module"),
            "{err}"
        );
        let err =
            Settings::for_module(&json!({"rules": {"OS-2": "mutate"}}), with_os1).unwrap_err();
        assert_eq!(
            err,
            "settings.rules.OS-2: OS-2 cannot mutate; use reject, warn or off"
        );
    }

    #[test]
    fn image_settings_belong_to_the_modules_that_read_them() {
        use crate::modules::{IMAGE_COMPATIBILITY, OS_PLACEMENT, RUNTIME_CLASSES};
        let image = json!({"clusterWindowsBuilds": ["ltsc2022"],
            "imageLookup": {"enabled": true},
            "imageMappings": [{"image": "registry.example.com/win/*", "os": "windows"}],
            "runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-hypervisor"}},
            "rules": {"IMG-4": "warn", "RC-1": "warn"}});
        assert!(Settings::for_module(&image, IMAGE_COMPATIBILITY.rules).is_ok());
        let err = Settings::for_module(
            &json!({"imageLookup": {"enabled": true}}),
            OS_PLACEMENT.rules,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "settings.imageLookup: not a setting of this module (it configures IMG-1, IMG-2, IMG-3, IMG-4)"
        );
        // Mappings feed OS resolution, which every module does.
        let mappings = json!({"imageMappings": [{"image": "a", "os": "linux"}]});
        assert!(Settings::for_module(&mappings, OS_PLACEMENT.rules).is_ok());
        let err = Settings::for_module(&json!({"clusterWindowsBuilds": []}), RUNTIME_CLASSES.rules)
            .unwrap_err();
        assert!(
            err.starts_with("settings.clusterWindowsBuilds: not a setting"),
            "{err}"
        );
        let err =
            Settings::for_module(&json!({"rules": {"RC-2": "mutate"}}), RUNTIME_CLASSES.rules)
                .unwrap_err();
        assert_eq!(
            err,
            "settings.rules.RC-2: RC-2 cannot mutate; use reject, warn or off"
        );
        assert!(
            Settings::for_module(
                &json!({"rules": {"IMG-1": "mutate"}}),
                IMAGE_COMPATIBILITY.rules
            )
            .is_err()
        );
    }
}
