//! End-to-end tests of the windows-identity module (ID-1, ID-2, WIN-12): the built
//! `.wasm` runs in the waPC host (wasmtime, WASI), as Kubewarden's policy evaluator runs it.
//!
//! The expected decision for every workload of the corpus, with default settings, is in
//! `expected/identity.yaml`, reasoned from the catalogue (DESIGN.md) and issue 5. The
//! tests below add the settings variants the issue names: allow-lists naming the corpus
//! users, credential specs and node-agent images.

mod common;

use common::{Expectation, check_corpus, finding_count, rule_ids};
use serde_json::{Value, json};
use wapc_test_host::{
    Input, Outcome, PolicyModule, built_policy, evaluate_one, load_file, workspace_root,
};

const MODULE: &str = "windows-identity";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

/// The workload objects of a corpus file.
fn corpus_workloads(name: &str) -> Vec<Input> {
    load_file(common::corpus_dir().join(name))
        .expect("a corpus file")
        .into_iter()
        .filter(|i| {
            matches!(
                i.request["kind"]["kind"].as_str(),
                Some("Pod" | "Deployment" | "DaemonSet" | "StatefulSet")
            )
        })
        .collect()
}

fn one(name: &str) -> Input {
    let mut workloads = corpus_workloads(name);
    assert_eq!(workloads.len(), 1, "{name}");
    workloads.remove(0)
}

/// The rejection message's findings as `[RULE] path`, in order.
fn rejections(outcome: &Outcome) -> Vec<String> {
    let Some(message) = outcome.message() else {
        return Vec::new();
    };
    let (_, list) = message
        .split_once(": ")
        .expect("N Windows workload violations: ...");
    list.split("; [")
        .filter_map(|piece| {
            let piece = piece.trim_start_matches('[');
            let (id, rest) = piece.split_once("] ")?;
            let (path, _) = rest.split_once(": ")?;
            Some(format!("[{id}] {path}"))
        })
        .collect()
}

const WEBSITE_POD: &str =
    "kubernetes__website/content__en__examples__windows__run-as-username-pod.yaml";
const WEBSITE_CONTAINER: &str =
    "kubernetes__website/content__en__examples__windows__run-as-username-container.yaml";

/// The SIG Windows HostProcess DaemonSets of the corpus (sig-windows-tools).
const SIG_WINDOWS_HOSTPROCESS: &[&str] = &[
    "kubernetes-sigs__sig-windows-tools/hostprocess__antrea__kube-proxy__kube-proxy.yml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__calico__calico.yml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__calico__kube-proxy__kube-proxy.yml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__csi-proxy__csi-proxy.yaml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__eventflow-logger__containerd-logger.yaml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__flannel__flanneld__flannel-overlay.yml",
    "kubernetes-sigs__sig-windows-tools/hostprocess__flannel__kube-proxy__kube-proxy.yml",
];

#[test]
fn speaks_the_kubewarden_protocol_and_validates_settings() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, "windows-identity");

    let cases = [
        (
            json!({"allowedGmsaCredentialSpecNames": ["Gmsa1"]}),
            "settings.allowedGmsaCredentialSpecNames[0]: \"Gmsa1\" is not a GMSACredentialSpec name: must be a lowercase RFC 1123 subdomain",
        ),
        (
            json!({"allowedRunAsUserNames": ["CONTOSO\\svc\\web"]}),
            "settings.allowedRunAsUserNames[0]: \"CONTOSO\\svc\\web\" is not a valid runAsUserName (runAsUserName cannot contain more than one backslash)",
        ),
        (
            json!({"hostProcessImageAllowList": ["sigwindowstools/*"]}),
            "settings.hostProcessImageAllowList: has no effect while allowHostProcess is false",
        ),
        (
            json!({"allowHostProcess": true, "hostProcessImageAllowList": ["*"]}),
            "settings.hostProcessImageAllowList[0]: invalid image reference \"*\"",
        ),
        (
            json!({"rules": {"WIN-12": "mutate"}}),
            "settings.rules.WIN-12: WIN-12 cannot mutate; use reject, warn or off",
        ),
        (
            json!({"minStartupBudgetSeconds": 90}),
            "settings.minStartupBudgetSeconds: not a setting of this module (it configures RES-4)",
        ),
    ];
    common::assert_settings_refused_with_prefix(&module, &cases);
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    let expectations: Vec<Expectation> = common::load_expectations("identity.yaml");
    let module = module();
    check_corpus(&module, &json!({}), &expectations);
    // Every finding is one of the expected paths: as many findings as paths.
    common::check_each_expected(&module, &json!({}), &expectations, |outcome, expected| {
        assert!(!outcome.is_mutated(), "the identity module never mutates");
        (finding_count(outcome) != expected.paths.len())
            .then(|| format!("{:?}, expected {:?}", rejections(outcome), expected.paths))
    });
}

#[test]
fn website_run_as_username_examples_pass_with_their_users_allowed() {
    let module = module();
    let pod = one(WEBSITE_POD);
    let container = one(WEBSITE_CONTAINER);

    // Without an allow-list any well-formed name is allowed.
    for input in [&pod, &container] {
        assert!(evaluate_one(&module, &json!({}), input).is_accepted());
    }
    // An allow-list naming their users.
    let theirs = json!({"allowedRunAsUserNames": ["ContainerUser", "ContainerAdministrator"]});
    for input in [&pod, &container] {
        let outcome = evaluate_one(&module, &theirs, input);
        assert!(
            outcome.is_accepted(),
            "{}: {:?}",
            input.label,
            outcome.decision
        );
    }
    // An allow-list without them: both refused, each where its name is written (the
    // container's own name overrides the pod's).
    let others = json!({"allowedRunAsUserNames": ["CONTOSO\\*"]});
    let outcome = evaluate_one(&module, &others, &pod);
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-1] spec.securityContext.windowsOptions.runAsUserName: runAsUserName \"ContainerUser\" (container \"run-as-username-demo\") is not in settings.allowedRunAsUserNames (CONTOSO\\*)"
        )
    );
    let outcome = evaluate_one(&module, &others, &container);
    assert_eq!(
        rejections(&outcome),
        ["[ID-1] spec.containers[0].securityContext.windowsOptions.runAsUserName"]
    );
    // Only ContainerUser allowed: the pod example passes, the container example does not.
    let users = json!({"allowedRunAsUserNames": ["ContainerUser"]});
    assert!(evaluate_one(&module, &users, &pod).is_accepted());
    assert!(evaluate_one(&module, &users, &container).is_rejected());
    // Forbidding the administrator refuses the container example's explicit name.
    let forbid = json!({"forbidContainerAdministrator": true});
    assert!(evaluate_one(&module, &forbid, &pod).is_accepted());
    let outcome = evaluate_one(&module, &forbid, &container);
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-1] spec.containers[0].securityContext.windowsOptions.runAsUserName: runAsUserName \"ContainerAdministrator\" (container \"run-as-username-demo\") is refused by settings.forbidContainerAdministrator; run as ContainerUser or another unprivileged account"
        )
    );
}

#[test]
fn forbidding_the_administrator_counts_unset_names_except_nano_server_and_run_as_non_root() {
    let module = module();
    let forbid = json!({"forbidContainerAdministrator": true});
    // Server Core image, no runAsUserName: the image default is the administrator.
    let simple = one("kubernetes__website/content__en__examples__windows__simple-pod.yaml");
    let outcome = evaluate_one(&module, &forbid, &simple);
    assert_eq!(
        rejections(&outcome),
        ["[ID-1] spec.containers[0].securityContext.windowsOptions.runAsUserName"]
    );
    // A Nano Server based image runs as ContainerUser.
    let nano = one(
        "ms-azure-demos__aks-windows-container-configmap-file-mount-powershell/configMap-pod.yaml",
    );
    assert!(evaluate_one(&module, &forbid, &nano).is_accepted());
    // runAsNonRoot: true (PSA's restricted Windows fixture) keeps the administrator out.
    let non_root = one(
        "kubernetes__pod-security-admission/test__testdata__restricted__v1.37__pass__base_windows.yaml",
    );
    assert!(evaluate_one(&module, &forbid, &non_root).is_accepted());
}

#[test]
fn gmsa_samples_pass_with_their_credential_specs_allowed() {
    let module = module();
    let rancher = one("rancher__Rancher-Plugin-gMSA/test.yaml");
    let eshop = one(
        "microsoft__windows-containers-demos/eshop-mvc-modernized-app__scripts__deployment-scripts__app-deployment-mainfest-files__eshop-deployment.yaml",
    );

    let outcome = evaluate_one(&module, &json!({}), &rancher);
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-2] spec.template.spec.securityContext.windowsOptions.gmsaCredentialSpecName: gMSA credential spec \"gmsa1\" (container \"iis\"): no gMSA credential spec is allowed (settings.allowedGmsaCredentialSpecNames is empty); list the credential specs pods may use"
        )
    );
    let outcome = evaluate_one(&module, &json!({}), &eshop);
    assert_eq!(
        rejections(&outcome),
        [
            "[ID-2] spec.template.spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
        ]
    );

    let allowed = json!({"allowedGmsaCredentialSpecNames": ["gmsa1", "eshop-gmsa-spec"]});
    for input in [&rancher, &eshop] {
        let outcome = evaluate_one(&module, &allowed, input);
        assert!(
            outcome.is_accepted(),
            "{}: {:?}",
            input.label,
            outcome.decision
        );
        assert!(outcome.warnings.is_empty());
    }
    // Allowing one does not allow the other.
    let outcome = evaluate_one(
        &module,
        &json!({"allowedGmsaCredentialSpecNames": ["gmsa1"]}),
        &eshop,
    );
    assert!(
        outcome
            .message()
            .unwrap()
            .ends_with("gMSA credential spec \"eshop-gmsa-spec\" (container \"eshop-app-deployment\"): it is not in settings.allowedGmsaCredentialSpecNames (gmsa1)"),
        "{:?}",
        outcome.message()
    );
}

#[test]
fn sig_windows_hostprocess_daemonsets_are_refused_by_default_and_accepted_with_their_images_allowed()
 {
    let module = module();
    let allowed = json!({"allowHostProcess": true,
        "hostProcessImageAllowList": ["sigwindowstools/*", "ghcr.io/kubernetes-sigs/sig-windows/*"]});
    for file in SIG_WINDOWS_HOSTPROCESS {
        let input = one(file);
        let outcome = evaluate_one(&module, &json!({}), &input);
        assert!(outcome.is_rejected(), "{file}: {:?}", outcome.decision);
        assert_eq!(rule_ids(&outcome), ["WIN-12"], "{file}");
        assert!(
            rejections(&outcome).contains(
                &"[WIN-12] spec.template.spec.securityContext.windowsOptions.hostProcess"
                    .to_string()
            ),
            "{file}: {:?}",
            outcome.message()
        );
        let outcome = evaluate_one(&module, &allowed, &input);
        assert!(outcome.is_accepted(), "{file}: {:?}", outcome.decision);
        assert!(
            outcome.warnings.is_empty(),
            "{file}: {:?}",
            outcome.warnings
        );
    }

    // Calico sets hostProcess on the pod and again on its init container: two places.
    let calico = one("kubernetes-sigs__sig-windows-tools/hostprocess__calico__calico.yml");
    let outcome = evaluate_one(&module, &json!({}), &calico);
    assert_eq!(
        outcome.message(),
        Some(
            "2 Windows workload violations: [WIN-12] spec.template.spec.securityContext.windowsOptions.hostProcess: HostProcess containers \"calico-node-startup\", \"calico-node-felix\" would run on the node itself, with the host's network and a node account; HostProcess is not allowed (settings.allowHostProcess is false); [WIN-12] spec.template.spec.initContainers[0].securityContext.windowsOptions.hostProcess: HostProcess container \"install-cni\" would run on the node itself, with the host's network and a node account; HostProcess is not allowed (settings.allowHostProcess is false)"
        )
    );
    // Only kube-proxy's image listed: every other agent is refused at its image.
    let kube_proxy_only = json!({"allowHostProcess": true,
        "hostProcessImageAllowList": ["sigwindowstools/kube-proxy"]});
    let outcome = evaluate_one(&module, &kube_proxy_only, &calico);
    assert_eq!(
        rejections(&outcome),
        [
            "[WIN-12] spec.template.spec.containers[0].image",
            "[WIN-12] spec.template.spec.containers[1].image",
            "[WIN-12] spec.template.spec.initContainers[0].image",
        ]
    );
    for file in SIG_WINDOWS_HOSTPROCESS
        .iter()
        .filter(|f| f.contains("kube-proxy"))
    {
        assert!(
            evaluate_one(&module, &kube_proxy_only, &one(file)).is_accepted(),
            "{file}"
        );
    }
    // allowHostProcess alone allows any image.
    for file in SIG_WINDOWS_HOSTPROCESS {
        assert!(
            evaluate_one(&module, &json!({"allowHostProcess": true}), &one(file)).is_accepted()
        );
    }
}

#[test]
fn a_cluster_that_allows_what_the_corpus_uses_accepts_all_of_it() {
    // HostProcess allowed, the two credential specs allowed, and an allow-list naming
    // every runAsUserName of the corpus: nothing is left to refuse.
    let module = module();
    let settings = json!({
        "allowHostProcess": true,
        "allowedGmsaCredentialSpecNames": ["gmsa1", "eshop-gmsa-spec"],
        "allowedRunAsUserNames": ["ContainerUser", "ContainerAdministrator", "NT AUTHORITY\\*"]});
    let mut refused = Vec::new();
    for input in common::corpus_inputs() {
        let outcome = evaluate_one(&module, &settings, &input);
        if !outcome.is_accepted() || !outcome.warnings.is_empty() {
            refused.push(format!(
                "{} {}: {:?}",
                input.origin,
                outcome.label,
                outcome.message()
            ));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

#[test]
fn the_sample_manifests_show_accept_and_reject() {
    let module = module();
    let root = workspace_root().join("policies/windows-identity");
    let settings: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("settings.example.yaml")).unwrap())
            .unwrap();
    let outcome = |file: &str| {
        let inputs = load_file(root.join("test_data").join(file)).unwrap();
        evaluate_one(&module, &settings, &inputs[0])
    };
    let default_user = outcome("default-user-deployment.yaml");
    assert_eq!(
        rejections(&default_user),
        ["[ID-1] spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName"]
    );
    assert!(outcome("gmsa-deployment.yaml").is_accepted());
    let inline = outcome("inline-gmsa-pod.yaml");
    assert_eq!(
        rejections(&inline),
        [
            "[ID-1] spec.containers[0].securityContext.windowsOptions.runAsUserName",
            "[ID-2] spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpec",
        ]
    );
    assert!(outcome("kube-proxy-daemonset.yaml").is_accepted());
    let untrusted = outcome("untrusted-hostprocess-daemonset.yaml");
    assert_eq!(
        rejections(&untrusted),
        ["[WIN-12] spec.template.spec.containers[0].image"]
    );
    assert_eq!(
        outcome("untrusted-hostprocess-daemonset-request.json").message(),
        untrusted.message()
    );
}

/// The HostProcess task doc (kubernetes/website content/en/docs/tasks/
/// configure-pod-container/create-hostprocess-pod.md, "Local accounts"): a HostProcess
/// container may run as a local group of the node, `runAsUserName: hpc-localgroup`.
/// WIN-12 treats such a DaemonSet as any HostProcess DaemonSet (refused by default,
/// accepted once HostProcess is allowed), and ID-1 as any well-formed name (an
/// allow-list must name it; `NT AUTHORITY\*` does not cover it).
#[test]
fn a_host_process_daemon_set_running_as_a_local_group_is_allowed_with_host_process() {
    let module = module();
    let yaml = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: hpc-agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: hpc-agent}}
  template:
    metadata: {labels: {app: hpc-agent}}
    spec:
      nodeSelector: {kubernetes.io/os: windows}
      hostNetwork: true
      securityContext:
        windowsOptions: {hostProcess: true, runAsUserName: hpc-localgroup}
      containers:
        - name: agent
          image: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0
"#;
    let inputs = wapc_test_host::parse_inputs(yaml, "inline.yaml").unwrap();
    let input = &inputs[0];
    let outcome = evaluate_one(&module, &json!({}), input);
    assert_eq!(
        rejections(&outcome),
        ["[WIN-12] spec.template.spec.securityContext.windowsOptions.hostProcess"]
    );
    let allowed = json!({"allowHostProcess": true});
    let outcome = evaluate_one(&module, &allowed, input);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);

    let nt_only = json!({"allowHostProcess": true, "allowedRunAsUserNames": ["NT AUTHORITY\\*"]});
    let outcome = evaluate_one(&module, &nt_only, input);
    assert_eq!(
        rejections(&outcome),
        ["[ID-1] spec.template.spec.securityContext.windowsOptions.runAsUserName"]
    );
    let listed = json!({"allowHostProcess": true,
        "allowedRunAsUserNames": ["NT AUTHORITY\\*", "hpc-localgroup"]});
    assert!(evaluate_one(&module, &listed, input).is_accepted());
}
