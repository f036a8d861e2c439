//! Input parsing and wrapping into admission requests.

use serde_json::{Value, json};
use std::path::PathBuf;
use wapc_test_host::{
    Input, InputForm, Origin, input_files, is_namespaced, load_inputs, parse_inputs, resource_name,
    workspace_root,
};

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n";

fn one(text: &str, source: &str) -> Input {
    let mut inputs = parse_inputs(text, source).unwrap();
    assert_eq!(inputs.len(), 1, "{inputs:#?}");
    inputs.remove(0)
}

#[test]
fn plain_pod_is_wrapped_into_a_create_request() {
    let input = one(POD, "pod.yaml");
    assert_eq!(input.form, InputForm::Manifest);
    assert_eq!(input.label, "Pod/default/web");
    assert_eq!(
        input.origin,
        Origin {
            source: "pod.yaml".into(),
            document: 0,
            item: None
        }
    );
    assert_eq!(input.origin.to_string(), "pod.yaml#0");
    assert_eq!(input.settings, None);
    let req = &input.request;
    let uid = req["uid"].as_str().unwrap();
    assert_eq!(uid.len(), 36, "{uid}");
    assert_eq!(uid.matches('-').count(), 4, "{uid}");
    assert_eq!(
        req["kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(req["requestKind"], req["kind"]);
    assert_eq!(
        req["resource"],
        json!({"group": "", "version": "v1", "resource": "pods"})
    );
    assert_eq!(req["requestResource"], req["resource"]);
    assert_eq!(req["name"], "web");
    assert_eq!(req["namespace"], "default");
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(
        req["userInfo"],
        json!({"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})
    );
    assert_eq!(req["dryRun"], false);
    assert_eq!(
        req["options"],
        json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})
    );
    assert_eq!(req["object"]["spec"]["containers"][0]["image"], "nginx");
    assert!(req.get("oldObject").is_none());
    // The object itself is not touched (no namespace added).
    assert!(input.object()["metadata"].get("namespace").is_none());

    let vr = input.validation_request(&json!({"a": 1}));
    assert_eq!(vr["settings"], json!({"a": 1}));
    assert_eq!(vr["request"], input.request);
}

#[test]
fn uids_are_deterministic_and_distinct() {
    let a = one(POD, "pod.yaml");
    let b = one(POD, "pod.yaml");
    let c = one(POD, "other.yaml");
    assert_eq!(a.request["uid"], b.request["uid"]);
    assert_ne!(a.request["uid"], c.request["uid"]);
}

#[test]
fn group_resource_and_namespace_per_kind() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: prod}
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: hyperv}
handler: runhcs-wcow-hypervisor
---
apiVersion: batch/v1
kind: CronJob
metadata: {generateName: nightly-}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
";
    let inputs = parse_inputs(text, "mixed.yaml").unwrap();
    let labels: Vec<&str> = inputs.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Deployment/prod/d",
            "RuntimeClass/hyperv",
            "CronJob/default/nightly-*",
            "NetworkPolicy/default/np"
        ]
    );
    assert_eq!(
        inputs[0].request["resource"],
        json!({"group": "apps", "version": "v1", "resource": "deployments"})
    );
    let rc = &inputs[1].request;
    assert_eq!(
        rc["kind"],
        json!({"group": "node.k8s.io", "version": "v1", "kind": "RuntimeClass"})
    );
    assert_eq!(rc["resource"]["resource"], "runtimeclasses");
    assert!(rc.get("namespace").is_none(), "cluster-scoped: {rc}");
    assert!(inputs[2].request.get("name").is_none());
    assert_eq!(inputs[2].request["resource"]["resource"], "cronjobs");
    assert_eq!(inputs[3].request["resource"]["resource"], "networkpolicies");
}

#[test]
fn resource_names() {
    for (kind, resource) in [
        ("Pod", "pods"),
        ("Deployment", "deployments"),
        ("ReplicaSet", "replicasets"),
        ("StatefulSet", "statefulsets"),
        ("DaemonSet", "daemonsets"),
        ("Job", "jobs"),
        ("CronJob", "cronjobs"),
        ("ReplicationController", "replicationcontrollers"),
        ("RuntimeClass", "runtimeclasses"),
        ("Service", "services"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Gateway", "gateways"),
        ("Endpoints", "endpoints"),
    ] {
        assert_eq!(resource_name(kind), resource, "{kind}");
    }
    assert!(is_namespaced("Pod"));
    assert!(!is_namespaced("RuntimeClass"));
}

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let text = format!(
        "---\n{POD}---\n# only a comment\n---\n\n---\n{}",
        POD.replace("web", "db")
    );
    let inputs = parse_inputs(&text, "multi.yaml").unwrap();
    let found: Vec<(String, usize)> = inputs
        .iter()
        .map(|i| (i.label.clone(), i.origin.document))
        .collect();
    assert_eq!(
        found,
        [
            ("Pod/default/web".to_owned(), 0),
            ("Pod/default/db".to_owned(), 3)
        ]
    );
    assert_ne!(inputs[0].request["uid"], inputs[1].request["uid"]);
}

#[test]
fn lists_are_expanded() {
    let text = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: b, namespace: kube-system}
---
apiVersion: apps/v1
kind: DeploymentList
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: c}
"#;
    let inputs = parse_inputs(text, "list.yaml").unwrap();
    let found: Vec<(String, String)> = inputs
        .iter()
        .map(|i| (i.label.clone(), i.origin.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "Pod/default/a".to_owned(),
                "list.yaml#0.items[0]".to_owned()
            ),
            (
                "DaemonSet/kube-system/b".to_owned(),
                "list.yaml#0.items[1]".to_owned()
            ),
            (
                "Deployment/default/c".to_owned(),
                "list.yaml#1.items[0]".to_owned()
            ),
        ]
    );
    assert!(inputs.iter().all(|i| i.form == InputForm::Manifest));
}

#[test]
fn admission_review_uses_its_request() {
    let text = r#"{
      "apiVersion": "admission.k8s.io/v1",
      "kind": "AdmissionReview",
      "request": {
        "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "team-a",
        "operation": "UPDATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        "oldObject": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
      }
    }"#;
    let input = one(text, "review.json");
    assert_eq!(input.form, InputForm::AdmissionReview);
    assert_eq!(input.label, "Pod/team-a/p");
    assert_eq!(input.request["uid"], "1299d386-525b-4032-98ae-1949f69f9cfc");
    assert_eq!(input.request["operation"], "UPDATE");
    assert!(input.request.get("oldObject").is_some());

    let err = parse_inputs(
        r#"{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}"#,
        "r.json",
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("r.json: document 0"), "{err:#}");
    assert!(format!("{err:#}").contains("without `request`"), "{err:#}");
}

#[test]
fn validation_request_keeps_its_settings() {
    let text = r#"
settings:
  defaultOS: windows
request:
  uid: abc
  kind: {group: apps, version: v1, kind: Deployment}
  name: d
  namespace: ns
  operation: CREATE
  object:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: d}
"#;
    let input = one(text, "vr.yaml");
    assert_eq!(input.form, InputForm::ValidationRequest);
    assert_eq!(input.label, "Deployment/ns/d");
    assert_eq!(input.settings, Some(json!({"defaultOS": "windows"})));
    assert_eq!(input.request["uid"], "abc");
    // Its own settings win over the run's.
    assert_eq!(
        input.validation_request(&json!({}))["settings"],
        json!({"defaultOS": "windows"})
    );

    let without = one(
        r#"{"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "x"}}}}"#,
        "vr.json",
    );
    assert_eq!(without.settings, None);
    assert_eq!(without.label, "Pod/x");
    assert_eq!(
        without.validation_request(&json!({"s": 1}))["settings"],
        json!({"s": 1})
    );
}

#[test]
fn bare_admission_request_like_kubewarden_test_data() {
    let text = r#"{
      "uid": "u",
      "kind": {"group": "", "version": "v1", "kind": "Pod"},
      "operation": "CREATE",
      "namespace": "default",
      "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"}}
    }"#;
    let input = one(text, "pod_creation.json");
    assert_eq!(input.form, InputForm::AdmissionRequest);
    assert_eq!(input.label, "Pod/default/nginx");
    assert_eq!(input.request["uid"], "u");
}

#[test]
fn json_inputs_including_concatenated_values() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"}});
    let text = format!("{pod}\n{pod}");
    let inputs = parse_inputs(&text, "two.json").unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[1].origin.document, 1);
    // JSON without a .json name is recognised too.
    assert_eq!(parse_inputs(&pod.to_string(), "<stdin>").unwrap().len(), 1);
}

#[test]
fn yaml_details_survive_conversion() {
    let text = r#"
apiVersion: v1
kind: Pod
metadata:
  name: y
  annotations:
    answer: "42"
    on: yes
  labels: &labels {app: web}
spec:
  nodeSelector:
    <<: *labels
    kubernetes.io/os: windows
  containers:
  - name: c
    image: mcr.microsoft.com/windows/nanoserver:ltsc2022
    resources: {limits: {cpu: 0.5, memory: 1Gi}}
    ports: [{containerPort: 80}]
  terminationGracePeriodSeconds: 30
"#;
    let input = one(text, "y.yaml");
    let object = input.object();
    assert_eq!(object["metadata"]["annotations"]["answer"], "42");
    assert_eq!(object["metadata"]["annotations"]["on"], "yes");
    assert_eq!(
        object["spec"]["nodeSelector"],
        json!({"app": "web", "kubernetes.io/os": "windows"})
    );
    assert_eq!(
        object["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        json!(0.5)
    );
    assert_eq!(
        object["spec"]["containers"][0]["ports"][0]["containerPort"],
        json!(80)
    );
    assert_eq!(object["spec"]["terminationGracePeriodSeconds"], json!(30));
}

#[test]
fn bad_documents_name_source_and_document() {
    let text = format!("{POD}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: [unclosed\n");
    let err = format!("{:#}", parse_inputs(&text, "bad.yaml").unwrap_err());
    assert!(err.contains("bad.yaml: document 1"), "{err}");
    assert!(err.contains("YAML"), "{err}");

    let err = format!("{:#}", parse_inputs("{\"kind\": ", "bad.json").unwrap_err());
    assert!(err.contains("bad.json: document 0"), "{err}");
    assert!(err.contains("JSON"), "{err}");

    let err = format!(
        "{:#}",
        parse_inputs(&format!("{POD}---\n- just\n- a list\n"), "seq.yaml").unwrap_err()
    );
    assert!(err.contains("seq.yaml: document 1"), "{err}");
    assert!(err.contains("found a sequence"), "{err}");

    let err = format!(
        "{:#}",
        parse_inputs("kind: Pod\nmetadata: {name: x}\n", "noapi.yaml").unwrap_err()
    );
    assert!(err.contains("noapi.yaml: document 0"), "{err}");
    assert!(err.contains("apiVersion"), "{err}");

    let err = format!("{:#}", parse_inputs("foo: bar\n", "what.yaml").unwrap_err());
    assert!(err.contains("not a Kubernetes object"), "{err}");

    let err = format!(
        "{:#}",
        parse_inputs(
            "kind: List\napiVersion: v1\nitems:\n- {kind: Pod}\n",
            "l.yaml"
        )
        .unwrap_err()
    );
    assert!(err.contains("l.yaml: document 0"), "{err}");
    assert!(err.contains("List item 0"), "{err}");
}

#[test]
fn input_from_object() {
    let input = Input::from_object(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "o"}}),
        "test",
    )
    .unwrap();
    assert_eq!(input.label, "Pod/default/o");
    assert_eq!(input.origin.to_string(), "test#0");
}

#[test]
fn folders_are_read_recursively_in_order() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inputs-folder");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b/nested")).unwrap();
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("b/nested/z.yml"), POD.replace("web", "z")).unwrap();
    std::fs::write(
        dir.join("a/y.JSON"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "y"}}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("x.yaml"), POD.replace("web", "x")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not an input").unwrap();

    let files = input_files(&dir).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a/y.JSON", "b/nested/z.yml", "x.yaml"]);

    let labels: Vec<String> = load_inputs(&dir)
        .unwrap()
        .into_iter()
        .map(|i| i.label)
        .collect();
    assert_eq!(labels, ["Pod/default/y", "Pod/default/z", "Pod/default/x"]);
    assert_eq!(load_inputs(dir.join("x.yaml")).unwrap().len(), 1);

    let err = format!("{:#}", load_inputs(dir.join("missing")).unwrap_err());
    assert!(err.contains("not found"), "{err}");
}

/// Every manifest of the shared corpus parses (when the corpus is there).
#[test]
fn shared_corpus_parses() {
    let corpus = workspace_root().join("../shared/corpus");
    if !corpus.is_dir() {
        eprintln!("no corpus at {}: skipped", corpus.display());
        return;
    }
    let inputs = load_inputs(&corpus).unwrap();
    assert!(inputs.len() >= 50, "{} inputs", inputs.len());
    for input in &inputs {
        assert!(input.request["object"].is_object(), "{}", input.origin);
        let kind: &Value = &input.request["kind"]["kind"];
        assert!(
            kind.as_str().is_some_and(|k| !k.is_empty()),
            "{}",
            input.origin
        );
    }
}
