//! The modules and the images they look up in a real OCI registry: Debian's
//! `docker-registry` (the CNCF Distribution registry) on 127.0.0.1, a free port and
//! storage of its own, stopped and removed at the end of each test.
//!
//! - A single-platform Windows image and a multi-platform index are put into the
//!   registry (an OCI image layout written here, copied with skopeo), and IMG-1, IMG-3
//!   and IMG-4 resolve them in our host, whose `oci` host calls are answered from the
//!   live registry by `oci-client` (`wapc_test_host::oci`): the decisions below are
//!   reasoned from what the images are, not from what the registry's tags say.
//! - Where Kubewarden's engine is installed (`make e2e-kubewarden`; ignored tests
//!   otherwise): the same look-ups through kwctl's own `oci` host capability, decided
//!   the same; and every module goes through `make push` (which annotates it with its
//!   own `metadata.yml` first) to the registry, comes back with `kwctl pull` byte for
//!   byte and with the digest `make push` recorded, `kwctl inspect` shows its metadata,
//!   and `kwctl run registry://…` and a PolicyServer serving `registry://…` decide its
//!   `test_data/` as our host does.
//!
//! docker-registry and skopeo come from Debian (`apt-get install docker-registry
//! skopeo`, which `.ci/run` does); without them these tests fail, saying so.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use wapc_test_host::kubewarden::{
    self, Differential, PolicyServer, Registry, ServedPolicy, ServerOptions, example_settings,
};
use wapc_test_host::oci::{self, OciOptions};
use wapc_test_host::{
    HostCapabilities, Input, built_policy, evaluate_one, load_inputs, workspace_root,
};
use windows_workload_rules::modules::MODULES;

/// A registry on loopback; its absence fails the test, saying how to install it.
fn registry() -> Registry {
    Registry::start().unwrap_or_else(|e| {
        panic!("an OCI registry on loopback (apt-get install docker-registry skopeo): {e:#}")
    })
}

/// A scratch folder of this test process in the target folder.
fn scratch(name: &str) -> PathBuf {
    let dir = wapc_test_host::target_dir()
        .join("oci-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn every_module_round_trips_through_a_loopback_registry() {
    let tools = kubewarden::require_tools();
    let registry = registry();
    let sbom_tool = kubewarden::installed(
        "cargo-cyclonedx",
        "cargo install cargo-cyclonedx --version 0.5.9 --locked",
    );
    if let Err(e) = sbom_tool {
        panic!("make release-dry-run needs cargo-cyclonedx: {e:#}");
    }
    let release = scratch("release");
    let annotated_dir = release.join("annotated");
    let prefix = format!("{}/policies", registry.host());
    // What a release does (scripts/release-dry-run: make push, make sbom, kwctl scaffold
    // artifacthub), with the registry's sources file for plain HTTP on loopback.
    let make = Command::new(std::env::var("MAKE").unwrap_or_else(|_| "make".into()))
        .current_dir(workspace_root())
        .arg("--no-print-directory")
        .arg("release-dry-run")
        .env("REGISTRY", &prefix)
        .env("KWCTL", &tools.kwctl)
        .env("KWCTL_SOURCES", registry.sources_path())
        .env("RELEASE_OUT", &release)
        .output()
        .expect("make runs");
    assert!(
        make.status.success(),
        "make release-dry-run: {}\n{}\n{}",
        make.status,
        String::from_utf8_lossy(&make.stdout),
        String::from_utf8_lossy(&make.stderr)
    );
    let sources = registry.sources_path();
    let mut differential = Differential::new("kwctl run registry://");
    let mut served = Vec::new();
    for module in MODULES {
        let name = module.name;
        let version = kubewarden::module_version(name).expect("the module's version");
        let uri = format!("registry://{prefix}/{name}:v{version}");
        let annotated = annotated_dir.join(wapc_test_host::module_file_name(name));
        // The immutable reference kwctl answered to the push is the registry's digest.
        let pushed: Value = serde_json::from_slice(
            &std::fs::read(annotated_dir.join(format!("{name}.pushed.json")))
                .expect("make push recorded the push"),
        )
        .expect("kwctl push -o json");
        let immutable = pushed["immutable_ref"].as_str().expect("an immutable_ref");
        check_release_files(&release, name);
        let digest = kubewarden::kwctl_digest(&uri, &sources).expect("kwctl digest");
        assert_eq!(
            immutable,
            format!("{prefix}/{name}@{digest}"),
            "{name}: the pushed and the served digest"
        );
        // Pulled back, byte for byte what was pushed.
        let pulled = annotated_dir.join(format!("{name}.pulled.wasm"));
        kubewarden::kwctl_pull(&uri, &sources, Some(&pulled)).expect("kwctl pull -o");
        assert!(
            std::fs::read(&pulled).expect("pulled") == std::fs::read(&annotated).expect("pushed"),
            "{name}: the pulled module differs from the pushed one"
        );
        // `kwctl inspect` of the registry's copy shows the module's own metadata.
        kubewarden::kwctl_pull(&uri, &sources, None).expect("kwctl pull into the store");
        let inspected = kubewarden::kwctl_inspect(&uri, Some(&sources)).expect("kwctl inspect");
        let metadata: Value = serde_yaml::from_str(
            &std::fs::read_to_string(kubewarden::metadata_path(name)).expect("metadata.yml"),
        )
        .expect("YAML");
        assert_eq!(
            inspected,
            kubewarden::kwctl_inspect(&annotated, None).expect("kwctl inspect of the file"),
            "{name}: the registry's copy and the annotated file"
        );
        assert_eq!(inspected["rules"], metadata["rules"], "{name}: rules");
        for annotation in ["io.kubewarden.policy.title", "io.kubewarden.policy.version"] {
            assert_eq!(
                inspected["annotations"][annotation], metadata["annotations"][annotation],
                "{name}: {annotation}"
            );
        }
        // `kwctl run registry://…` decides as our host.
        let settings = example_settings(name);
        let ours = built_policy(name).expect("the module loads");
        let sources_text = sources.to_str().expect("a UTF-8 path");
        for input in test_data(name) {
            let host = evaluate_one(&ours, &settings, &input);
            let engine = kubewarden::kwctl_run(
                &uri,
                &input.request,
                &settings,
                &["--sources-path", sources_text],
            );
            differential.compare(name, &input, &host, engine);
        }
        served.push(ServedPolicy {
            id: name.to_owned(),
            module: uri,
            settings,
            mutating: kubewarden::is_mutating(name),
        });
    }
    let by_kwctl = differential.finish("");
    assert!(by_kwctl >= MODULES.len() * 3, "{by_kwctl} decisions");
    // A PolicyServer that downloads all seven from the registry decides the same.
    let options = ServerOptions {
        sources: Some(registry.sources_path()),
        ..ServerOptions::default()
    };
    let server = PolicyServer::start_with(&served, &options).expect("policy-server starts");
    let served = served_like_our_host(&server, "PolicyServer serving registry://", |module| {
        example_settings(module)
    });
    assert_eq!(served, by_kwctl);
    drop(server);
    // examples/policies.yml, the standalone PolicyServer's configuration, as written but
    // for the registry's host: it serves every module with the settings of the example
    // manifests, and decides as our host does with them.
    let published = "registry://ghcr.io/windows-workload-policies/policies/";
    let text = std::fs::read_to_string(workspace_root().join("examples/policies.yml"))
        .expect("examples/policies.yml");
    assert!(
        text.contains(published),
        "examples/policies.yml names {published}"
    );
    let config: Value =
        serde_yaml::from_str(&text.replace(published, &format!("registry://{prefix}/")))
            .expect("YAML");
    let server = PolicyServer::start_config(&config, &options).expect("policy-server starts");
    // The module READMEs' kwctl commands, as written in the module's folder but for the
    // registry's host.
    let mut from_readmes = Differential::new("kwctl run as the READMEs write it");
    let root = workspace_root();
    for module in MODULES {
        let dir = root.join("policies").join(module.name);
        let mut runs = kubewarden::readme_kwctl_runs(&dir.join("README.md"), &dir).expect("README");
        // The root README's, for this module: the annotated file, or the loopback
        // registry it starts on port 5000.
        let annotated_file = format!(
            "target/annotated/{}",
            wapc_test_host::module_file_name(module.name)
        );
        let on_loopback = format!("registry://127.0.0.1:5000/policies/{}:v", module.name);
        runs.extend(
            kubewarden::readme_kwctl_runs(&root.join("README.md"), &root)
                .expect("README")
                .into_iter()
                .filter(|run| run.module == annotated_file || run.module.starts_with(&on_loopback)),
        );
        for run in runs {
            let uri = if run.module == annotated_file {
                let (annotated, _) = kubewarden::annotated(module.name).expect("kwctl annotate");
                annotated.display().to_string()
            } else {
                run.module
                    .replace(kubewarden::PUBLISHED, &format!("registry://{prefix}/"))
                    .replace(
                        "registry://127.0.0.1:5000/policies/",
                        &format!("registry://{prefix}/"),
                    )
            };
            let settings: Value = run.settings.as_ref().map_or_else(
                || json!({}),
                |path| {
                    serde_yaml::from_str(&std::fs::read_to_string(path).expect("settings"))
                        .expect("YAML")
                },
            );
            let request = run.request.as_ref().expect("a request");
            let input = load_inputs(request).expect("the request").remove(0);
            let ours = built_policy(module.name).expect("the module loads");
            let mut args = vec!["--sources-path", sources.to_str().expect("UTF-8")];
            // A context-aware command replays its session in both engines.
            let host = match &run.replay {
                Some(session) => {
                    args.extend([
                        "--allow-context-aware",
                        "--replay-host-capabilities-interactions",
                        session.to_str().expect("UTF-8"),
                    ]);
                    let text = std::fs::read_to_string(session).expect("the session");
                    let capabilities = kubewarden::session_capabilities(&text).expect("a session");
                    let instance = ours.instance_with(capabilities).expect("an instance");
                    evaluate_one(&instance, &settings, &input)
                }
                None => evaluate_one(&ours, &settings, &input),
            };
            let engine = kubewarden::kwctl_run(&uri, &input.request, &settings, &args);
            from_readmes.compare(module.name, &input, &host, engine);
        }
    }
    assert!(from_readmes.finish("") > MODULES.len());
    let served = served_like_our_host(
        &server,
        "PolicyServer with examples/policies.yml",
        |module| config[module]["settings"].clone(),
    );
    assert_eq!(served, by_kwctl);
}

/// The SBOM and the Artifact Hub package the release made of `module`: a CycloneDX
/// document of the module's crate at its version, listing the rule crate and
/// Kubewarden's SDK, and the committed `artifacthub-pkg.yml` (but its `createdAt`).
/// Every module's test data sent to `server` (each module served under its name) and
/// to our host with `settings_of(module)`: the decisions compared; how many were.
fn served_like_our_host(
    server: &PolicyServer,
    label: &str,
    settings_of: impl Fn(&str) -> Value,
) -> usize {
    let mut differential = Differential::new(label);
    for module in MODULES {
        let settings = settings_of(module.name);
        let ours = built_policy(module.name).expect("the module loads");
        for input in test_data(module.name) {
            let host = evaluate_one(&ours, &settings, &input);
            let engine = server.validate(module.name, &input.request);
            differential.compare(module.name, &input, &host, engine);
        }
    }
    differential.finish(&server.log())
}

fn check_release_files(release: &Path, module: &str) {
    let version = kubewarden::module_version(module).expect("the module's version");
    let sbom_path = release.join("sbom").join(format!("{module}.cdx.json"));
    let sbom: Value =
        serde_json::from_slice(&std::fs::read(&sbom_path).expect("an SBOM")).expect("JSON");
    assert_eq!(sbom["bomFormat"], "CycloneDX", "{}", sbom_path.display());
    assert_eq!(sbom["metadata"]["component"]["name"], module);
    assert_eq!(sbom["metadata"]["component"]["version"], version.as_str());
    let components: Vec<&str> = sbom["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for dependency in [
        "windows-workload-rules",
        "kubewarden-policy-sdk",
        "k8s-openapi",
    ] {
        assert!(
            components.contains(&dependency),
            "{module}: SBOM without {dependency}"
        );
    }
    let without_date = |path: &Path| {
        let mut package: Value =
            serde_yaml::from_str(&std::fs::read_to_string(path).expect("a package")).expect("YAML");
        package["createdAt"] = Value::Null;
        package
    };
    assert_eq!(
        without_date(
            &release
                .join("artifacthub")
                .join(module)
                .join("artifacthub-pkg.yml")
        ),
        without_date(&kubewarden::packaging_file(module, "artifacthub-pkg.yml")),
        "{module}: the release's Artifact Hub package is the committed one"
    );
}

/// A module's `test_data/` inputs without settings of their own.
fn test_data(module: &str) -> Vec<Input> {
    load_inputs(
        workspace_root()
            .join("policies")
            .join(module)
            .join("test_data"),
    )
    .expect("test_data loads")
}

/// An OCI image layout (image-spec `image-layout.md`) written blob by blob: tiny images
/// whose config and index say which OS and Windows build they are for, which is all a
/// registry look-up reads.
struct ImageLayout {
    dir: PathBuf,
    tagged: Vec<Value>,
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl ImageLayout {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("the layout's folders");
        ImageLayout {
            dir: dir.to_path_buf(),
            tagged: Vec::new(),
        }
    }

    /// Stores a blob: its descriptor (media type, digest, size).
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).expect("a blob");
        json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// A one-layer amd64 image for `os` (and Windows build `os_version`): the descriptor
    /// of its manifest, with its platform.
    fn image(&self, os: &str, os_version: Option<&str>) -> Value {
        // An empty tar archive: two 512-byte blocks of zeros.
        let layer = self.blob("application/vnd.oci.image.layer.v1.tar", &[0; 1024]);
        let mut platform = json!({"architecture": "amd64", "os": os});
        if let Some(version) = os_version {
            platform["os.version"] = json!(version);
        }
        let mut config = platform.clone();
        config["rootfs"] = json!({"type": "layers", "diff_ids": [layer["digest"]]});
        config["config"] = json!({});
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).expect("JSON"),
        );
        let manifest = json!({"schemaVersion": 2, "mediaType": MANIFEST,
            "config": config, "layers": [layer]});
        let mut descriptor = self.blob(MANIFEST, &serde_json::to_vec(&manifest).expect("JSON"));
        descriptor["platform"] = platform;
        descriptor
    }

    /// An image index of `images`: its descriptor.
    fn index(&self, images: &[Value]) -> Value {
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": images});
        self.blob(INDEX, &serde_json::to_vec(&index).expect("JSON"))
    }

    /// Names `descriptor` `reference` in the layout's `index.json`.
    fn tag(&mut self, descriptor: &Value, reference: &str) {
        let mut tagged = descriptor.clone();
        if let Some(fields) = tagged.as_object_mut() {
            fields.remove("platform");
        }
        tagged["annotations"] = json!({"org.opencontainers.image.ref.name": reference});
        self.tagged.push(tagged);
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": self.tagged}))
                .expect("JSON"),
        )
        .expect("index.json");
        std::fs::write(
            self.dir.join("oci-layout"),
            r#"{"imageLayoutVersion": "1.0.0"}"#,
        )
        .expect("oci-layout");
    }
}

/// A pod with `node_selector`, running `image`.
fn pod(name: &str, node_selector: Value, image: &str) -> Input {
    Input::from_object(
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeSelector": node_selector,
                "containers": [{"name": "app", "image": image}]}}),
        name,
    )
    .expect("a pod")
}

/// What one look-up case must decide: `Err` says what was expected.
type Check = Box<dyn Fn(&wapc_test_host::Outcome) -> Result<(), String>>;

/// The images of the look-up cases, put into `registry`, and the cases: (what, the pod,
/// what the registry's answers imply). The expectations restate IMG-1/IMG-3/IMG-4
/// (docs/rules.md) for these images.
fn image_cases(registry: &Registry, dir: &Path) -> Vec<(&'static str, Input, Check)> {
    let mut layout = ImageLayout::new(&dir.join("layout"));
    // Windows Server 2019 only: the build of a single-platform image is in its config.
    let legacy = layout.image("windows", Some("10.0.17763.5576"));
    layout.tag(&legacy, "legacy");
    // Linux, Windows Server 2019 and 2022: an index lists its platforms.
    let agent = layout.index(&[
        layout.image("linux", None),
        layout.image("windows", Some("10.0.17763.6054")),
        layout.image("windows", Some("10.0.20348.2582")),
    ]);
    layout.tag(&agent, "agent");
    registry
        .copy_oci_layout(&dir.join("layout"), "legacy", "team/legacy-app:4.8")
        .expect("skopeo copies the single-platform image");
    registry
        .copy_oci_layout(&dir.join("layout"), "agent", "team/agent:2.1")
        .expect("skopeo copies the index");
    let host = registry.host();
    let legacy = format!("{host}/team/legacy-app:4.8");
    let agent = format!("{host}/team/agent:2.1");
    let missing = format!("{host}/team/missing:1.0");
    let linux = json!({"kubernetes.io/os": "linux"});
    let windows = json!({"kubernetes.io/os": "windows"});
    let pinned = |build: &str| json!({"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": build});
    let rejects = |text: String| -> Check {
        Box::new(move |outcome| match outcome.message() {
            Some(message) if outcome.is_rejected() && message.contains(&text) => Ok(()),
            _ => Err(format!("a rejection containing {text:?}")),
        })
    };
    let pins = |build: &'static str| -> Check {
        Box::new(move |outcome| {
            let mutated = outcome.mutated_object().ok_or("no mutation")?;
            match mutated["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"].as_str() {
                Some(pin) if pin == build => Ok(()),
                other => Err(format!("windows-build pinned to {build}, not {other:?}")),
            }
        })
    };
    let no_image_finding: Check = Box::new(|outcome| {
        let text = format!("{:?} {:?}", outcome.message(), outcome.warnings);
        if outcome.is_rejected() || text.contains("[IMG-") {
            Err(format!("no IMG finding: {text}"))
        } else {
            Ok(())
        }
    });
    let warns = |text: String| -> Check {
        Box::new(move |outcome| {
            if !outcome.is_rejected() && outcome.warnings.iter().any(|w| w.contains(&text)) {
                Ok(())
            } else {
                Err(format!("a warning containing {text:?}"))
            }
        })
    };
    vec![
        (
            "single-platform Windows 2019 image in a Linux pod",
            pod("legacy-linux", linux.clone(), &legacy),
            rejects(format!(
                "{legacy} is a windows 10.0.17763 (ltsc2019) image (according to its registry) but the pod targets linux"
            )),
        ),
        (
            "single-platform Windows 2019 image in an unpinned Windows pod",
            pod("legacy-unpinned", windows.clone(), &legacy),
            pins("10.0.17763"),
        ),
        (
            "single-platform Windows 2019 image pinned to 2022",
            pod("legacy-2022", pinned("10.0.20348"), &legacy),
            rejects("[IMG-3]".to_owned()),
        ),
        (
            "index of Linux, 2019 and 2022 in a Linux pod",
            pod("agent-linux", linux, &agent),
            no_image_finding,
        ),
        (
            "index of Linux, 2019 and 2022 pinned to 2022",
            pod("agent-2022", pinned("10.0.20348"), &agent),
            Box::new(|outcome| {
                let text = format!("{:?} {:?}", outcome.message(), outcome.warnings);
                if text.contains("[IMG-") {
                    Err(format!("no IMG finding: {text}"))
                } else {
                    Ok(())
                }
            }),
        ),
        (
            "index of Linux, 2019 and 2022 pinned to 2025",
            pod("agent-2025", pinned("10.0.26100"), &agent),
            rejects(format!(
                "{agent} is built for 10.0.17763 (ltsc2019) or 10.0.20348 (ltsc2022), but the pod is pinned to 10.0.26100 (ltsc2025)"
            )),
        ),
        (
            "an image the registry does not have",
            pod("missing", windows, &missing),
            warns(format!("the registry lookup of {missing} failed")),
        ),
    ]
}

/// The modules that look images up.
fn looking_up() -> impl Iterator<Item = &'static windows_workload_rules::engine::module::Module> {
    MODULES
        .iter()
        .copied()
        .filter(|m| m.runtime_class_lookup.is_some())
}

#[test]
fn image_look_ups_resolve_images_in_a_loopback_registry() {
    let registry = registry();
    let dir = scratch("images");
    let cases = image_cases(&registry, &dir);
    let lookup = json!({"imageLookup": {"enabled": true}});
    let capabilities = oci::with_oci_lookups(
        HostCapabilities::new(),
        &OciOptions {
            insecure_registries: vec![registry.host()],
        },
    )
    .expect("the OCI client");
    let mut failures = Vec::new();
    let mut decided = 0;
    for module in looking_up() {
        let ours = built_policy(module.name).expect("the module loads");
        let instance = ours
            .instance_with(capabilities.clone())
            .expect("an instance");
        for (case, input, check) in &cases {
            let outcome = evaluate_one(&instance, &lookup, input);
            if let Err(expected) = check(&outcome) {
                failures.push(format!(
                    "{} {case}: expected {expected}, our host decided {:?} {:?} {:?}",
                    module.name,
                    outcome.decision.name(),
                    outcome.message(),
                    outcome.warnings
                ));
            }
            // The decision came from the registry: the module asked it for the image.
            let image = input.object()["spec"]["containers"][0]["image"]
                .as_str()
                .expect("an image");
            let asked = outcome.host_calls.iter().any(|call| {
                call.namespace == "oci"
                    && call.operation == "v1/oci_manifest"
                    && call.payload == serde_json::to_vec(image).expect("JSON")
            });
            assert!(asked, "{} {case}: no look-up of {image}", module.name);
            decided += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        registry.log()
    );
    assert_eq!(decided, 2 * cases.len());
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn image_look_ups_through_kwctl_decide_as_our_host() {
    kubewarden::require_tools();
    let registry = registry();
    let dir = scratch("images-kwctl");
    let cases = image_cases(&registry, &dir);
    let lookup = json!({"imageLookup": {"enabled": true}});
    let sources = registry.sources_path();
    let mut differential = Differential::new("kwctl run (live registry)");
    let mut failures = Vec::new();
    for module in looking_up() {
        let (annotated, _) = kubewarden::annotated(module.name).expect("kwctl annotate");
        let ours = built_policy(module.name).expect("the module loads");
        for (n, (case, input, check)) in cases.iter().enumerate() {
            let session = dir.join(format!("{}-{n}.yml", module.name));
            let response = kubewarden::kwctl_run(
                &annotated,
                &input.request,
                &lookup,
                &[
                    "--allow-context-aware",
                    "--sources-path",
                    sources.to_str().expect("UTF-8"),
                    "--record-host-capabilities-interactions",
                    session.to_str().expect("UTF-8"),
                ],
            )
            .unwrap_or_else(|e| panic!("{} {case}: {e:#}", module.name));
            let engine = kubewarden::outcome_of(input, &response);
            if let Err(expected) = check(&engine) {
                failures.push(format!(
                    "{} {case}: expected {expected}, kwctl answered {response}",
                    module.name
                ));
            }
            // kwctl asked the registry for the image.
            let recorded = std::fs::read_to_string(&session).expect("a recorded session");
            let image = &input.object()["spec"]["containers"][0]["image"];
            assert!(
                recorded.contains("!OciManifest") && recorded.contains(image.as_str().unwrap()),
                "{} {case}: kwctl made no OCI look-up of {image}:\n{recorded}",
                module.name
            );
            // Our host, given the answers kwctl got, decides the same.
            let capabilities =
                kubewarden::session_capabilities(&recorded).expect("the session reads");
            let instance = ours.instance_with(capabilities).expect("an instance");
            let host = evaluate_one(&instance, &lookup, input);
            differential.compare(module.name, input, &host, Ok(response));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(differential.finish(&registry.log()), 2 * cases.len());
}
