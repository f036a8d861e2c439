//! The requests the performance figures are measured on, shared by the benchmarks
//! (`make bench`, also through `kwctl bench`) and the load run (`make load`), so that
//! every figure of the README is about the same objects.

use crate::inputs::{Input, load_inputs};
use crate::modules::workspace_root;
use anyhow::{Result, anyhow};
use serde_json::{Value, json};

/// A typical Linux Deployment of the corpus (kube-state-metrics).
pub const LINUX_DEPLOYMENT: &str = "deployment (linux)";
/// A typical Windows Deployment of the corpus, as written (the OS placement rules
/// mutate it).
pub const WINDOWS_DEPLOYMENT: &str = "deployment (windows)";

/// The Windows Deployment as the OS placement rules leave it (`os.name` and the Windows
/// toleration added): no module needs to mutate it.
pub const FIXED_DEPLOYMENT: &str = "deployment (windows, fixed)";

/// The corpus file of each Deployment sample.
const DEPLOYMENT_FILES: [(&str, &str); 2] = [
    (
        LINUX_DEPLOYMENT,
        "kubernetes__kube-state-metrics/examples__standard__deployment.yaml",
    ),
    (
        WINDOWS_DEPLOYMENT,
        "JanneMattila__playground-aks-windows/deploy__demo__deployment.yaml",
    ),
];

/// The name of the sample Windows pod of `n` containers.
pub fn pods(n: usize) -> String {
    format!("windows pod x{n}")
}

/// The Deployment sample `name` ([`LINUX_DEPLOYMENT`], [`WINDOWS_DEPLOYMENT`]).
pub fn deployment(name: &str) -> Result<Input> {
    let (_, file) = DEPLOYMENT_FILES
        .iter()
        .find(|(sample, _)| *sample == name)
        .ok_or_else(|| anyhow!("no Deployment sample {name:?}"))?;
    let path = workspace_root().join("tests/corpus").join(file);
    load_inputs(&path)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no object in {}", path.display()))
}

/// [`FIXED_DEPLOYMENT`]: `windows` (the [`WINDOWS_DEPLOYMENT`]) with `os.name: windows`
/// and the toleration of the Windows node taint in its pod template.
pub fn fixed_deployment(windows: &Input) -> Result<Input> {
    let mut fixed = windows.object().clone();
    let spec = &mut fixed["spec"]["template"]["spec"];
    spec["os"] = json!({"name": "windows"});
    spec["tolerations"] = json!([{"key": "os", "operator": "Equal",
        "value": "windows", "effect": "NoSchedule"}]);
    Input::from_object(fixed, "fixed-windows-deployment")
}

fn container(i: usize) -> Value {
    json!({
        "name": format!("app-{i}"),
        "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
        "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
        "env": [{"name": "INDEX", "value": i.to_string()}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "500m", "memory": "1Gi"}
        },
        "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}
    })
}

/// A Windows pod that every module accepts as it is, with `containers` containers.
pub fn windows_pod(containers: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("windows-pod-{containers}"), "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {
            "os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"},
            "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
            "containers": (0..containers).map(container).collect::<Vec<_>>()
        }
    })
}

/// The samples the engine comparisons use (kwctl bench, our host's table beside it, the
/// load run): the Linux Deployment, the compliant Windows Deployment (which no module
/// mutates), the Windows Deployment as written (the flagship mutates it) and the
/// Windows pod of 100 containers, in that order.
pub fn engine_samples() -> Result<Vec<(String, Input)>> {
    let [linux, fixed, windows, pod] = engine_sample_names();
    let windows_deployment = deployment(WINDOWS_DEPLOYMENT)?;
    Ok(vec![
        (linux, deployment(LINUX_DEPLOYMENT)?),
        (fixed, fixed_deployment(&windows_deployment)?),
        (windows, windows_deployment),
        (
            pod,
            Input::from_object(windows_pod(100), "windows-pod-100")?,
        ),
    ])
}

/// The names of [`engine_samples`], in their order.
pub fn engine_sample_names() -> [String; 4] {
    [
        LINUX_DEPLOYMENT.to_owned(),
        FIXED_DEPLOYMENT.to_owned(),
        WINDOWS_DEPLOYMENT.to_owned(),
        pods(100),
    ]
}
