//! Packaging of every module: metadata.yml, artifacthub-pkg.yml, questions-ui.yml, the
//! README's kwctl commands and the examples/ policies agree with each other, with the one
//! version of the workspace and with the modules themselves (settings checked by each
//! module's own `validate_settings` in the waPC host).
//!
//! Every module, the flagship `windows-workloads` too, is a package folder
//! `policies/<module>/` as in Kubewarden's policies monorepo; the repository's
//! `artifacthub-repo.yml` is at the root.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use wapc_test_host::{PolicyModule, built_policy, kubewarden, module_file_name, workspace_root};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::modules::MODULES;

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
    // No package at the root: Artifact Hub would show the developer README for it.
    assert!(!root().join("metadata.yml").exists());
    assert!(!root().join("artifacthub-pkg.yml").exists());
}

#[test]
fn the_artifact_hub_repository_names_owners_with_an_email() {
    // Artifact Hub's repository metadata (artifacthub-repo.yml, read at the repository
    // URL): the owners who may claim the repository, each with a name and an email.
    let text = std::fs::read_to_string(root().join("artifacthub-repo.yml"))
        .expect("artifacthub-repo.yml at the repository root");
    let repo: Value = serde_yaml::from_str(&text).expect("YAML");
    let owners = repo["owners"].as_array().expect("owners");
    assert!(!owners.is_empty());
    for owner in owners {
        let email = owner["email"].as_str().unwrap_or_default();
        assert!(
            owner["name"].as_str().is_some_and(|n| !n.is_empty())
                && email.contains('@')
                && !email.starts_with('@'),
            "{owner}"
        );
    }
    for key in repo.as_object().expect("a mapping").keys() {
        assert!(
            ["repositoryID", "owners", "ignore"].contains(&key.as_str()),
            "artifacthub-repo.yml: unknown key {key}"
        );
    }
}

/// `make check-versions` runs this test (its name holds "versions").
#[test]
fn versions_of_every_module_agree_with_its_crate() {
    // Each module is versioned and released on its own, as in Kubewarden's policies
    // monorepo: its crate's version is the one of its metadata, Artifact Hub package,
    // image tag, release tag (`<module>/v<version>`, `com.github.release.tag`), example
    // and changelog.
    let mut problems = Vec::new();
    for module in MODULES {
        let name = module.name;
        let version = match kubewarden::module_version(name) {
            Ok(version) => version,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let tag = annotation(&yaml(&metadata_path(name)), "com.github.release.tag").to_owned();
        if tag != format!("{name}/v{version}") {
            problems.push(format!(
                "{}: com.github.release.tag {tag}, expected {name}/v{version}",
                metadata_path(name).display()
            ));
        }
        let changelog = read(&policy_dir(name).join("CHANGELOG.md"));
        if !changelog.lines().any(|l| {
            l.strip_prefix("## ")
                .is_some_and(|h| h.split_whitespace().next() == Some(version.as_str()))
        }) {
            problems.push(format!(
                "policies/{name}/CHANGELOG.md: no section ## {version}"
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
        // The gMSA admission (ID-3, ID-4 read gmsaLookupFailure) reads credential specs
        // and asks whether a service account may use them.
        if module.reads_setting("gmsaLookupFailure") {
            callable.insert("kubernetes/get_resource".to_string());
            callable.insert("kubernetes/can_i".to_string());
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

        // Context-aware exactly when the module can read RuntimeClasses, nodes or gMSA
        // credential specs from the cluster, and declaring exactly those.
        let mut resources = Vec::new();
        if module.reads_setting("runtimeClassLookup") {
            resources.push(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass"}));
        }
        if module.reads_setting("nodeInventory") {
            resources.push(json!({"apiVersion": "v1", "kind": "Node"}));
        }
        if module.reads_setting("gmsaLookupFailure") {
            resources
                .push(json!({"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec"}));
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
    let version = kubewarden::module_version(name).expect("the module's version");
    assert_eq!(tag, format!("v{version}"), "{file}: {name}");
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
/// host it gets an answer, not an error. A module README is the usage text of the
/// published module (`kwctl inspect`, Artifact Hub): its commands run in the module's
/// folder and name the published module at its version; the root README's name the
/// annotated file or a loopback registry. (tests/wapc-host/tests/oci_registry.rs runs
/// the module READMEs' commands in kwctl against a registry holding the modules.)
#[test]
fn readme_kwctl_run_commands_work_as_written() {
    let mut commands = 0;
    for module in MODULES {
        let readme = policy_dir(module.name).join("README.md");
        let runs = kubewarden::readme_kwctl_runs(&readme, &policy_dir(module.name))
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            !runs.is_empty(),
            "{}: no kwctl run command",
            readme.display()
        );
        let version = kubewarden::module_version(module.name).expect("a version");
        for run in &runs {
            assert_eq!(
                run.module,
                format!("{}{}:v{version}", kubewarden::PUBLISHED, module.name),
                "{}: `{}` names the published module",
                readme.display(),
                run.command
            );
            let ociurl = annotation(
                &yaml(&metadata_path(module.name)),
                "io.kubewarden.policy.ociUrl",
            )
            .to_owned();
            assert_eq!(run.module, format!("registry://{ociurl}:v{version}"));
            run_as_written(&readme, run, module.name);
        }
        commands += runs.len();
    }
    let readme = root().join("README.md");
    for run in kubewarden::readme_kwctl_runs(&readme, &root()).unwrap_or_else(|e| panic!("{e:#}")) {
        let name = MODULES
            .iter()
            .map(|m| m.name)
            .find(|name| {
                run.module == format!("target/annotated/{}", module_file_name(name))
                    || run
                        .module
                        .starts_with(&format!("registry://127.0.0.1:5000/policies/{name}:v"))
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: `{}`: not a module of the workspace",
                    readme.display(),
                    run.command
                )
            });
        run_as_written(&readme, &run, name);
        commands += 1;
    }
    assert!(commands > MODULES.len());
}

fn run_as_written(readme: &Path, run: &kubewarden::ReadmeRun, module: &str) {
    let context = format!("{}: `{}`", readme.display(), run.command);
    let settings = run
        .settings
        .as_ref()
        .map_or_else(|| json!({}), |path| yaml(path));
    let request_path = run
        .request
        .as_ref()
        .unwrap_or_else(|| panic!("{context}: no --request-path"));
    let request: Value = serde_json::from_str(&read(request_path))
        .unwrap_or_else(|e| panic!("{context}: {}: {e}", request_path.display()));
    assert!(
        request["kind"]["kind"].is_string() && request["object"].is_object(),
        "{context}: {} is an AdmissionRequest, as kwctl run reads it",
        request_path.display()
    );
    let policy = policy(module);
    let verdict = policy.validate_settings(&settings).unwrap();
    assert!(verdict.valid, "{context}: {:?}", verdict.message);
    // A replayed session answers the host calls, as kwctl replays it.
    let capabilities = match &run.replay {
        Some(path) => kubewarden::session_capabilities(&read(path))
            .unwrap_or_else(|e| panic!("{context}: {}: {e:#}", path.display())),
        None => wapc_test_host::HostCapabilities::new(),
    };
    let response = policy
        .instance_with(capabilities)
        .and_then(|instance| instance.validate(&json!({"settings": settings, "request": request})))
        .unwrap_or_else(|e| panic!("{context}: {e:#}"));
    let message = response.message.clone().unwrap_or_default();
    assert!(
        response.accepted || message.contains("violation"),
        "{context}: {message}"
    );
}

#[test]
fn the_standalone_policy_server_config_serves_what_the_examples_deploy() {
    // examples/policies.yml (a PolicyServer without the controller) and the
    // ClusterAdmissionPolicy manifests must not drift apart: the same module, settings,
    // mutation and context-aware resources for every module.
    let config = yaml(&root().join("examples/policies.yml"));
    let ids: BTreeSet<&str> = config
        .as_object()
        .expect("a mapping of policy ids")
        .keys()
        .map(String::as_str)
        .collect();
    let names: BTreeSet<&str> = MODULES.iter().map(|m| m.name).collect();
    assert_eq!(ids, names, "examples/policies.yml serves every module once");
    for module in MODULES {
        let entry = &config[module.name];
        let spec = &yaml(&root().join(format!("examples/{}.yaml", module.name)))["spec"];
        let context = format!("examples/policies.yml: {}", module.name);
        assert_eq!(entry["module"], spec["module"], "{context}: module");
        let settings = if spec["settings"].is_null() {
            json!({})
        } else {
            spec["settings"].clone()
        };
        assert_eq!(entry["settings"], settings, "{context}: settings");
        assert_eq!(
            entry["allowedToMutate"],
            spec["mutating"].as_bool().unwrap_or(false),
            "{context}: allowedToMutate"
        );
        assert_eq!(
            entry["contextAwareResources"], spec["contextAwareResources"],
            "{context}: contextAwareResources"
        );
    }
}

#[test]
fn module_readmes_show_the_example_policy_as_it_is() {
    // The "In a cluster" section of each module README (its usage text on Artifact Hub
    // and in kwctl inspect) shows examples/<module>.yaml verbatim, so what a user copies
    // is what the tests deploy.
    for module in MODULES {
        let readme = read(&policy_dir(module.name).join("README.md"));
        let section = readme
            .split("\n## In a cluster\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no In a cluster section", module.name));
        let block = section
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("\n```").next())
            .unwrap_or_else(|| panic!("{}: no yaml block", module.name));
        let example = read(&root().join(format!("examples/{}.yaml", module.name)));
        assert_eq!(block.trim_end(), example.trim_end(), "{}", module.name);
    }
}
