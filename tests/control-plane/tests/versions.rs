//! One Kubernetes release everywhere: the `k8s.io/kubernetes` version
//! `tests/control-plane/go.mod` requires, the `v0.<minor>.<patch>` every staging module is
//! replaced with (k8s.io/kubernetes' own `v0.0.0` requires do not resolve downstream,
//! kubernetes/kubernetes#79384), the `k8s-openapi` feature the modules decode with, and the
//! version the built commands report (`make control-plane-bin` stamps it from go.mod).

use std::process::Command;

fn go_mod() -> String {
    let path = control_plane::workspace_dir().join("tests/control-plane/go.mod");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(minor, patch)` of the `k8s.io/kubernetes v1.<minor>.<patch>` requirement.
fn kubernetes_release(go_mod: &str) -> (u32, u32) {
    let version = go_mod
        .lines()
        .find_map(|line| line.trim().strip_prefix("require k8s.io/kubernetes v1."))
        .expect("go.mod requires k8s.io/kubernetes v1.x.y");
    let mut parts = version
        .split('.')
        .map(|p| p.parse::<u32>().expect("a number"));
    (
        parts.next().expect("a minor version"),
        parts.next().expect("a patch version"),
    )
}

#[test]
fn every_staging_module_is_replaced_with_the_release_of_k8s_io_kubernetes() {
    let text = go_mod();
    let (minor, patch) = kubernetes_release(&text);
    let want = format!("v0.{minor}.{patch}");
    let replaces: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("k8s.io/") && line.contains("=>"))
        .collect();
    // The staging modules of 1.36 (the v0.0.0 requires of its go.mod).
    assert!(replaces.len() >= 31, "{} replaces", replaces.len());
    for line in replaces {
        let (from, to) = line.split_once("=>").expect("a replace");
        let module = from.trim();
        assert_eq!(
            to.trim(),
            format!("{module} {want}"),
            "{module} is replaced with another release"
        );
    }
}

#[test]
fn k8s_openapi_describes_the_release_the_control_plane_runs() {
    let (minor, _) = kubernetes_release(&go_mod());
    let cargo = std::fs::read_to_string(control_plane::workspace_dir().join("Cargo.toml"))
        .expect("the workspace's Cargo.toml");
    let line = cargo
        .lines()
        .find(|line| line.starts_with("k8s-openapi = "))
        .expect("k8s-openapi in [workspace.dependencies]");
    assert!(
        line.contains(&format!("\"v1_{minor}\"")),
        "k8s-openapi's version feature is not v1_{minor}: {line}"
    );
}

#[test]
fn the_built_commands_report_the_release_of_go_mod() {
    let (minor, patch) = kubernetes_release(&go_mod());
    let bin = control_plane::bin_dir();
    for command in [
        "kube-apiserver",
        "kube-scheduler",
        "kube-controller-manager",
    ] {
        let path = bin.join(command);
        let output = Command::new(&path)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| {
                panic!("{}: {e} (make control-plane-bin builds it)", path.display())
            });
        let printed = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            printed.trim(),
            format!("Kubernetes v1.{minor}.{patch}"),
            "{command} --version"
        );
    }
}
