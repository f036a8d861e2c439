//! Packaging of every module: metadata.yml, artifacthub-pkg.yml, questions-ui.yml, the
//! README's kwctl commands and the examples/ policies agree with each other, with the one
//! version of the workspace and with the modules themselves (settings checked by each
//! module's own `validate_settings` in the waPC host).
//!
//! The flagship `windows-workloads` keeps its metadata.yml and artifacthub-pkg.yml at the
//! repository root; its README, settings example, settings form and samples are under
//! policies/windows-workloads/ like every other module's.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use wapc_test_host::{PolicyModule, built_policy, kubewarden, module_file_name, workspace_root};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::modules::{ALL, MODULES};

const WORKLOAD_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];

fn root() -> PathBuf {
    workspace_root()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn policy_dir(module: &str) -> PathBuf {
    root().join("policies").join(module)
}

fn metadata_path(module: &str) -> PathBuf {
    kubewarden::metadata_path(module)
}

fn artifacthub_path(module: &str) -> PathBuf {
    kubewarden::packaging_file(module, "artifacthub-pkg.yml")
}

/// `[workspace.package] version` of the root Cargo.toml: the version of every module.
fn workspace_version() -> String {
    let text = read(&root().join("Cargo.toml"));
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section
            && let Some(value) = line.strip_prefix("version")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return value.trim().trim_matches('"').to_string();
        }
    }
    panic!("Cargo.toml has no [workspace.package] version");
}

fn annotation<'a>(metadata: &'a Value, key: &str) -> &'a str {
    metadata["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("metadata has no annotation {key}"))
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn module_named(name: &str) -> &'static Module {
    MODULES
        .iter()
        .find(|m| m.name == name)
        .copied()
        .unwrap_or_else(|| panic!("no module {name} in src/modules/mod.rs"))
}

fn policy(name: &str) -> PolicyModule {
    built_policy(name).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// The `(group, resource, operation)` triples that metadata rules subscribe to.
fn subscriptions_of(rules: &Value, context: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    for rule in rules
        .as_array()
        .unwrap_or_else(|| panic!("{context}: rules"))
    {
        assert_eq!(rule["apiVersions"], json!(["v1"]), "{context}: {rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for operation in strings(&rule["operations"]) {
                    out.insert((group.clone(), resource.clone(), operation));
                }
            }
        }
    }
    out
}

/// What a module must subscribe to, from its rules: CREATE and UPDATE of the eight
/// workload kinds and UPDATE of `pods/ephemeralcontainers` (what `kubectl debug` sends:
/// OS resolution and every container rule read ephemeral containers) where it has
/// workload rules; CREATE and UPDATE of RuntimeClasses where it has RuntimeClass rules.
/// Nothing else: no DELETE, no `status` or `scale`, which the engine accepts untouched,
/// and no CREATE of the subresource, which would make the audit scanner skip the policy.
fn expected_subscriptions(module: &Module) -> BTreeSet<(String, String, String)> {
    let mut expected = BTreeSet::new();
    let mut add = |group: &str, resource: &str, operations: &[&str]| {
        for operation in operations {
            expected.insert((
                group.to_string(),
                resource.to_string(),
                operation.to_string(),
            ));
        }
    };
    if module.has_workload_rules() {
        for (group, resource) in WORKLOAD_RESOURCES {
            add(group, resource, &["CREATE", "UPDATE"]);
        }
        add("", "pods/ephemeralcontainers", &["UPDATE"]);
    }
    if has_runtime_class_rules(module) {
        add("node.k8s.io", "runtimeclasses", &["CREATE", "UPDATE"]);
    }
    expected
}

fn has_runtime_class_rules(module: &Module) -> bool {
    module.rules.iter().any(|r| {
        r.meta().applies_to == windows_workload_rules::engine::rule::AppliesTo::RuntimeClasses
    })
}

#[test]
fn every_module_is_a_policy_crate_with_its_packaging_files() {
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("policies"))
        .expect("policies/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let modules: BTreeSet<String> = MODULES.iter().map(|m| m.name.to_string()).collect();
    assert_eq!(
        dirs, modules,
        "policies/ and src/modules/mod.rs list the same modules"
    );
    for module in MODULES {
        let dir = policy_dir(module.name);
        for file in ["README.md", "settings.example.yaml", "questions-ui.yml"] {
            assert!(dir.join(file).is_file(), "{}: no {file}", module.name);
        }
        assert!(
            dir.join("test_data").is_dir(),
            "{}: no test_data/",
            module.name
        );
        assert!(metadata_path(module.name).is_file(), "{}", module.name);
        assert!(artifacthub_path(module.name).is_file(), "{}", module.name);
        assert!(
            root()
                .join("examples")
                .join(format!("{}.yaml", module.name))
                .is_file(),
            "{}: no examples/{}.yaml",
            module.name,
            module.name
        );
    }
    // The flagship's metadata is at the root only: no second copy to drift.
    assert!(!policy_dir(ALL.name).join("metadata.yml").exists());
    assert!(!policy_dir(ALL.name).join("artifacthub-pkg.yml").exists());
}

/// `make check-versions` runs this test (its name holds "versions").
#[test]
fn versions_of_every_module_agree_with_the_workspace() {
    let version = workspace_version();
    assert!(!version.is_empty());
    let mut problems = Vec::new();
    for module in MODULES {
        let name = module.name;
        let cargo = read(&policy_dir(name).join("Cargo.toml"));
        let crate_version = cargo
            .lines()
            .find(|l| l.trim_start().starts_with("version"))
            .map(str::trim);
        if crate_version != Some("version.workspace = true")
            && crate_version != Some(&format!("version = \"{version}\""))
        {
            problems.push(format!(
                "policies/{name}/Cargo.toml: version {crate_version:?}, expected version.workspace = true"
            ));
        }
        let metadata = yaml(&metadata_path(name));
        let v = metadata["annotations"]["io.kubewarden.policy.version"].as_str();
        if v != Some(version.as_str()) {
            problems.push(format!(
                "{}: io.kubewarden.policy.version {v:?}, Cargo.toml says {version}",
                metadata_path(name).display()
            ));
        }
        let hub = yaml(&artifacthub_path(name));
        if hub["version"].as_str() != Some(version.as_str()) {
            problems.push(format!(
                "{}: version {}, Cargo.toml says {version}",
                artifacthub_path(name).display(),
                hub["version"]
            ));
        }
        for image in hub["containersImages"].as_array().into_iter().flatten() {
            let reference = image["image"].as_str().unwrap_or_default();
            if !reference.ends_with(&format!(":v{version}")) {
                problems.push(format!(
                    "{}: image {reference} is not tagged v{version}",
                    artifacthub_path(name).display()
                ));
            }
        }
        let example = yaml(&root().join(format!("examples/{name}.yaml")));
        let url = example["spec"]["module"].as_str().unwrap_or_default();
        if !url.ends_with(&format!("/{name}:v{version}")) {
            problems.push(format!(
                "examples/{name}.yaml: module {url} is not {name} v{version}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn metadata_declares_what_each_module_does() {
    for module in MODULES {
        let name = module.name;
        let path = metadata_path(name);
        let metadata = yaml(&path);
        let context = path.display().to_string();
        assert_eq!(metadata["executionMode"], "kubewarden-wapc", "{context}");
        assert_eq!(metadata["policyType"], "kubernetes", "{context}");
        assert!(metadata["backgroundAudit"].is_boolean(), "{context}");
        for key in [
            "io.kubewarden.policy.title",
            "io.kubewarden.policy.description",
            "io.kubewarden.policy.version",
            "io.kubewarden.policy.author",
            "io.kubewarden.policy.url",
            "io.kubewarden.policy.source",
            "io.kubewarden.policy.license",
            "io.kubewarden.policy.category",
            "io.kubewarden.policy.severity",
            "io.kubewarden.policy.ociUrl",
            "io.artifacthub.displayName",
            "io.artifacthub.keywords",
            "io.artifacthub.resources",
        ] {
            assert!(
                !annotation(&metadata, key).trim().is_empty(),
                "{context}: {key}"
            );
        }
        assert_eq!(annotation(&metadata, "io.kubewarden.policy.title"), name);
        assert!(
            annotation(&metadata, "io.kubewarden.policy.ociUrl").ends_with(&format!("/{name}")),
            "{context}: ociUrl"
        );
        assert!(
            SEVERITIES.contains(&annotation(&metadata, "io.kubewarden.policy.severity")),
            "{context}: severity"
        );
        assert_eq!(
            annotation(&metadata, "io.kubewarden.policy.license"),
            "Apache-2.0"
        );

        // The admission rules agree with the module's rules (see expected_subscriptions).
        let subscriptions = subscriptions_of(&metadata["rules"], &context);
        let expected = expected_subscriptions(module);
        assert!(
            subscriptions == expected,
            "{context}: missing {:?}, unexpected {:?}",
            expected.difference(&subscriptions).collect::<Vec<_>>(),
            subscriptions.difference(&expected).collect::<Vec<_>>()
        );
        // The host capabilities it can call: a RuntimeClass from the cluster where a
        // rule reads runtimeClassLookup, image manifests where one reads imageLookup.
        let declared: BTreeSet<String> = metadata["hostCapabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let mut callable = BTreeSet::new();
        if module.runtime_class_lookup.is_some() {
            callable.insert("kubernetes/get_resource".to_string());
        }
        if module.node_inventory.is_some() {
            callable.insert("kubernetes/list_resources_all".to_string());
        }
        if module.reads_setting("imageLookup") {
            callable.insert("oci/v1/oci_manifest".to_string());
            callable.insert("oci/v1/oci_manifest_config".to_string());
        }
        assert_eq!(declared, callable, "{context}: hostCapabilities");

        let kinds = annotation(&metadata, "io.artifacthub.resources");
        assert_eq!(
            kinds.contains("RuntimeClass"),
            has_runtime_class_rules(module),
            "{context}: io.artifacthub.resources {kinds}"
        );

        // Mutating exactly when some rule of the module can mutate.
        let can_mutate = module.rules.iter().any(|r| r.meta().can_mutate);
        assert_eq!(
            metadata["mutating"].as_bool(),
            Some(can_mutate),
            "{context}: mutating"
        );

        // Context-aware exactly when the module can read RuntimeClasses or nodes from
        // the cluster, and declaring exactly those.
        let mut resources = Vec::new();
        if module.reads_setting("runtimeClassLookup") {
            resources.push(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass"}));
        }
        if module.reads_setting("nodeInventory") {
            resources.push(json!({"apiVersion": "v1", "kind": "Node"}));
        }
        let context_aware = !resources.is_empty();
        let declared = metadata["contextAwareResources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(declared, resources, "{context}: contextAwareResources");
        if let Some(flag) = metadata["contextAware"].as_bool() {
            assert_eq!(flag, context_aware, "{context}: contextAware");
        }
    }
}

#[test]
fn artifact_hub_packages_agree_with_the_metadata() {
    for module in MODULES {
        let name = module.name;
        let metadata = yaml(&metadata_path(name));
        let path = artifacthub_path(name);
        let hub = yaml(&path);
        let context = path.display().to_string();
        assert_eq!(hub["name"], name, "{context}: name");
        assert_eq!(
            hub["displayName"].as_str(),
            Some(annotation(&metadata, "io.artifacthub.displayName")),
            "{context}: displayName"
        );
        assert_eq!(
            words(hub["description"].as_str().unwrap_or_default()),
            words(annotation(&metadata, "io.kubewarden.policy.description")),
            "{context}: description"
        );
        assert_eq!(
            hub["license"].as_str(),
            Some(annotation(&metadata, "io.kubewarden.policy.license"))
        );
        assert_eq!(
            hub["homeURL"].as_str(),
            Some(annotation(&metadata, "io.kubewarden.policy.url"))
        );
        let keywords: Vec<String> = annotation(&metadata, "io.artifacthub.keywords")
            .split(',')
            .map(|k| k.trim().to_string())
            .collect();
        assert_eq!(hub["keywords"], json!(keywords), "{context}: keywords");
        let image = hub["containersImages"][0]["image"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            image.rsplit_once(':').map(|(repo, _)| repo),
            Some(annotation(&metadata, "io.kubewarden.policy.ociUrl")),
            "{context}: containersImages"
        );
        assert!(
            hub["install"].as_str().unwrap_or_default().contains(image),
            "{context}: install names the image"
        );

        let annotations = &hub["annotations"];
        assert_eq!(
            annotations["kubewarden/mutation"].as_str(),
            Some(if metadata["mutating"] == true {
                "true"
            } else {
                "false"
            }),
            "{context}: kubewarden/mutation"
        );
        assert_eq!(
            annotations["kubewarden/resources"].as_str(),
            Some(annotation(&metadata, "io.artifacthub.resources")),
            "{context}: kubewarden/resources"
        );
        let embedded = |key: &str| -> Value {
            annotations[key]
                .as_str()
                .map(|text| {
                    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{context}: {key}: {e}"))
                })
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            embedded("kubewarden/rules"),
            metadata["rules"],
            "{context}: kubewarden/rules"
        );
        let context_aware = metadata["contextAwareResources"].clone();
        assert_eq!(
            embedded("kubewarden/contextAwareResources"),
            if context_aware.as_array().is_some_and(|a| !a.is_empty()) {
                context_aware
            } else {
                Value::Null
            },
            "{context}: kubewarden/contextAwareResources"
        );
        assert_eq!(
            embedded("kubewarden/questions-ui"),
            yaml(&policy_dir(name).join("questions-ui.yml")),
            "{context}: kubewarden/questions-ui is questions-ui.yml"
        );
    }
}

/// Sets `value` at a dotted path (`windowsTaint.key`, `rules.OS-1`), as the UI does.
fn set_dotted(settings: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            settings.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = settings
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                set_dotted(inner, rest, value);
            }
        }
    }
}

#[test]
fn settings_forms_ask_for_the_module_settings_with_valid_defaults() {
    for module in MODULES {
        let name = module.name;
        let path = policy_dir(name).join("questions-ui.yml");
        let form = yaml(&path);
        let questions = form["questions"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: questions", path.display()));
        let mut settings = Map::new();
        let mut rules_asked = BTreeSet::new();
        for question in questions {
            let variable = question["variable"].as_str().unwrap_or_default();
            let top = variable.split('.').next().unwrap_or_default();
            assert!(
                module.reads_setting(top),
                "{}: {variable} is not a setting of {name}",
                path.display()
            );
            if let Some(id) = variable.strip_prefix("rules.") {
                let rule = module
                    .rules
                    .iter()
                    .find(|r| r.meta().id == id)
                    .unwrap_or_else(|| panic!("{}: {id} is not a rule of {name}", path.display()));
                let mut options = vec!["reject", "warn"];
                if rule.meta().can_mutate {
                    options.push("mutate");
                }
                options.push("off");
                assert_eq!(
                    question["options"],
                    json!(options),
                    "{}: {id}",
                    path.display()
                );
                assert_eq!(
                    question["default"].as_str(),
                    Some(module.default_action(*rule).as_str()),
                    "{}: {id}'s default is the module's",
                    path.display()
                );
                rules_asked.insert(id.to_string());
            }
            for sub in question["subquestions"].as_array().into_iter().flatten() {
                let variable = sub["variable"].as_str().unwrap_or_default();
                set_dotted(&mut settings, variable, sub["default"].clone());
            }
            if question["subquestions"].is_null() {
                set_dotted(&mut settings, variable, question["default"].clone());
            }
        }
        let all: BTreeSet<String> = module
            .rules
            .iter()
            .map(|r| r.meta().id.to_string())
            .collect();
        assert_eq!(
            rules_asked,
            all,
            "{}: one question per rule",
            path.display()
        );
        // The form's defaults, submitted as they are, are valid settings of the module.
        let settings = Value::Object(settings);
        let verdict = policy(name).validate_settings(&settings).unwrap();
        assert!(
            verdict.valid,
            "{}: defaults {settings} refused: {:?}",
            path.display(),
            verdict.message
        );
    }
}

#[test]
fn settings_examples_pass_each_module_validate_settings() {
    for module in MODULES {
        let path = policy_dir(module.name).join("settings.example.yaml");
        let settings = yaml(&path);
        let verdict = policy(module.name).validate_settings(&settings).unwrap();
        assert!(verdict.valid, "{}: {:?}", path.display(), verdict.message);
    }
}

/// A key misspelled in the settings file is refused, and the message names it.
#[test]
fn a_typo_in_a_settings_key_is_refused_naming_the_key() {
    for module in MODULES {
        let path = policy_dir(module.name).join("settings.example.yaml");
        let settings = yaml(&path);
        let Value::Object(map) = &settings else {
            panic!("{}: a map", path.display());
        };
        let policy = policy(module.name);
        // Each top-level key with two letters swapped (windowsTaint → iwndowsTaint).
        for key in map.keys() {
            let mut chars: Vec<char> = key.chars().collect();
            chars.swap(0, 1);
            let typo: String = chars.into_iter().collect();
            let mut wrong = map.clone();
            let value = wrong.remove(key).unwrap_or(Value::Null);
            wrong.insert(typo.clone(), value);
            let verdict = policy.validate_settings(&Value::Object(wrong)).unwrap();
            assert!(!verdict.valid, "{}: {typo} accepted", module.name);
            let message = verdict.message.unwrap_or_default();
            assert!(
                message.contains(&format!("`{typo}`")),
                "{}: the message does not name {typo}: {message}",
                module.name
            );
        }
        // A nested typo and a rule id typo name their full path.
        let mut wrong = map.clone();
        wrong.insert(
            "windowsTaint".into(),
            json!({"key": "os", "value": "windows", "efect": "NoSchedule"}),
        );
        let verdict = policy.validate_settings(&Value::Object(wrong)).unwrap();
        let message = verdict.message.unwrap_or_default();
        assert!(
            !verdict.valid
                && message.contains("settings.windowsTaint")
                && message.contains("efect"),
            "{}: {message}",
            module.name
        );
        let first_rule = module.rules[0].meta().id.as_str();
        let misspelt = first_rule.replace('-', "");
        let verdict = policy
            .validate_settings(&json!({"rules": {misspelt.clone(): "warn"}}))
            .unwrap();
        let message = verdict.message.unwrap_or_default();
        assert!(
            !verdict.valid && message.contains(&format!("settings.rules.{misspelt}")),
            "{}: {message}",
            module.name
        );
    }
}

/// The ClusterAdmissionPolicies of examples/: each names a module of the project, at
/// the workspace version, with the rules, mutation and context of its metadata, and
/// settings that the module's own validate_settings accepts.
fn check_example_policy(policy_doc: &Value, file: &str) {
    assert_eq!(
        policy_doc["apiVersion"], "policies.kubewarden.io/v1",
        "{file}"
    );
    assert_eq!(policy_doc["kind"], "ClusterAdmissionPolicy", "{file}");
    let spec = &policy_doc["spec"];
    let url = spec["module"].as_str().unwrap_or_default();
    let (repository, tag) = url
        .strip_prefix("registry://")
        .and_then(|u| u.rsplit_once(':'))
        .unwrap_or_else(|| panic!("{file}: module {url}"));
    let name = repository.rsplit('/').next().unwrap_or_default();
    module_named(name); // a module of the project
    let metadata = yaml(&metadata_path(name));
    assert_eq!(
        repository,
        annotation(&metadata, "io.kubewarden.policy.ociUrl"),
        "{file}: {name}"
    );
    assert_eq!(tag, format!("v{}", workspace_version()), "{file}: {name}");
    assert_eq!(spec["rules"], metadata["rules"], "{file}: {name}: rules");
    assert_eq!(
        spec["mutating"], metadata["mutating"],
        "{file}: {name}: mutating"
    );
    assert!(
        matches!(spec["mode"].as_str(), Some("protect" | "monitor")),
        "{file}: {name}: mode"
    );
    let settings = &spec["settings"];
    // The policy lets the module read what its settings turn on (and what else the
    // module declares, as `kwctl scaffold manifest` grants it).
    let mut needed = Vec::new();
    if settings["runtimeClassLookup"] == true {
        needed.push(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass"}));
    }
    if settings["nodeInventory"] == true {
        needed.push(json!({"apiVersion": "v1", "kind": "Node"}));
    }
    let declared = spec["contextAwareResources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for resource in &needed {
        assert!(
            declared.contains(resource),
            "{file}: {name}: contextAwareResources lacks {resource}"
        );
    }
    let verdict = policy(name).validate_settings(settings).unwrap();
    assert!(
        verdict.valid,
        "{file}: {name}: settings refused: {:?}",
        verdict.message
    );
}

#[test]
fn example_policies_name_their_module_and_pass_its_validate_settings() {
    let dir = root().join("examples");
    let mut names = BTreeSet::new();
    for module in MODULES {
        let file = format!("examples/{}.yaml", module.name);
        let doc = yaml(&root().join(&file));
        assert_eq!(doc["metadata"]["name"], module.name, "{file}");
        check_example_policy(&doc, &file);
        names.insert(module.name);
    }
    // The hybrid-cluster set: several policies in one file.
    let text = read(&dir.join("hybrid-cluster.yaml"));
    let mut count = 0;
    for document in serde_yaml::Deserializer::from_str(&text) {
        let doc: Value = serde::Deserialize::deserialize(document).expect("hybrid-cluster.yaml");
        check_example_policy(&doc, "examples/hybrid-cluster.yaml");
        count += 1;
    }
    assert!(count >= 5, "hybrid-cluster.yaml holds {count} policies");
}

/// Every `kwctl run` command of the READMEs names files of the repository and a module
/// of the workspace; run as written (settings file, request file, module) in the waPC
/// host it gets an answer, not an error.
#[test]
fn readme_kwctl_run_commands_work_as_written() {
    let mut readmes: Vec<PathBuf> = MODULES
        .iter()
        .map(|m| policy_dir(m.name).join("README.md"))
        .collect();
    readmes.push(root().join("README.md"));
    let mut commands = 0;
    for readme in &readmes {
        let text = read(readme);
        let mut found_in_file = 0;
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with("kwctl run") {
                i += 1;
                continue;
            }
            let mut command = String::new();
            while i < lines.len() {
                let line = lines[i].trim();
                i += 1;
                match line.strip_suffix('\\') {
                    Some(part) => {
                        command.push_str(part);
                        command.push(' ');
                    }
                    None => {
                        command.push_str(line);
                        break;
                    }
                }
            }
            run_as_written(readme, &command);
            found_in_file += 1;
        }
        if readme != &root().join("README.md") {
            assert!(
                found_in_file > 0,
                "{}: no kwctl run command",
                readme.display()
            );
        }
        commands += found_in_file;
    }
    assert!(commands >= MODULES.len());
}

fn run_as_written(readme: &Path, command: &str) {
    let context = format!("{}: `{command}`", readme.display());
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut settings = json!({});
    let mut request = None;
    let mut module = None;
    let mut i = 2; // after `kwctl run`
    while i < words.len() {
        match words[i] {
            "--settings-path" | "-s" => {
                settings = yaml(&root().join(words[i + 1]));
                i += 2;
            }
            "--request-path" | "-r" => {
                request = Some(words[i + 1]);
                i += 2;
            }
            "--allow-context-aware" => i += 1,
            word if word.starts_with('-') => panic!("{context}: unexpected option {word}"),
            word => {
                module = Some(word);
                i += 1;
            }
        }
    }
    let module = module.unwrap_or_else(|| panic!("{context}: no module"));
    let file = Path::new(module)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    let policy_name = MODULES
        .iter()
        .map(|m| m.name)
        .find(|name| module_file_name(name) == file)
        .unwrap_or_else(|| panic!("{context}: {module} is not a module of the workspace"));
    assert_eq!(
        module,
        format!("target/wasm32-wasip1/release/{file}"),
        "{context}: where `make build` puts it"
    );
    let request_path = request.unwrap_or_else(|| panic!("{context}: no --request-path"));
    let request: Value = serde_json::from_str(&read(&root().join(request_path)))
        .unwrap_or_else(|e| panic!("{context}: {request_path}: {e}"));
    assert!(
        request["kind"]["kind"].is_string() && request["object"].is_object(),
        "{context}: {request_path} is an AdmissionRequest, as kwctl run reads it"
    );
    let policy = policy(policy_name);
    let verdict = policy.validate_settings(&settings).unwrap();
    assert!(verdict.valid, "{context}: {:?}", verdict.message);
    let response = policy
        .validate(&json!({"settings": settings, "request": request}))
        .unwrap_or_else(|e| panic!("{context}: {e:#}"));
    let message = response.message.clone().unwrap_or_default();
    assert!(
        response.accepted || message.contains("violation"),
        "{context}: {message}"
    );
}
