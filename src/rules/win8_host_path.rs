//! WIN-8: a `hostPath` volume of a Windows pod does not name a Windows path.
//!
//! A Windows host path is a drive path (`C:\var\lib\kubelet`, `C:/var/lib/kubelet`) or
//! a named pipe (`\\.\pipe\containerd-containerd`, also written `//./pipe/...`).
//! Linux paths copied from a Linux manifest (`/var/lib/kubelet`, `/dev`, `/run/...`)
//! do not name what the manifest meant on a Windows node. The check is on the text:
//! whether the path exists on the node is not known at admission.

use crate::rule::{Action, AppliesTo, Context, Finding, Rule, RuleMeta};

pub struct HostPathRule;

static META: RuleMeta = RuleMeta {
    id: "WIN-8",
    doc: "hostPath in a Windows pod that is not a drive path (C:\\...) or named pipe (\\\\.\\pipe\\...)",
    applies_to: AppliesTo::WindowsPods,
    default_action: Action::Reject,
    can_mutate: false,
    source: "seed (hardcoded Linux paths fail on Windows nodes); Kubernetes Windows storage docs",
};

/// `C:\...`, `C:/...` or a bare `C:`.
fn is_drive_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes.get(2), None | Some(b'\\') | Some(b'/'))
}

/// `\\.\pipe\name` or `//./pipe/name`.
fn is_named_pipe(path: &str) -> bool {
    let normalised = path.replace('/', "\\");
    normalised
        .get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("\\\\.\\pipe\\"))
        && normalised.len() > 9
}

/// Whether `path` names a location on a Windows host.
pub(crate) fn is_windows_host_path(path: &str) -> bool {
    is_drive_path(path) || is_named_pipe(path)
}

impl Rule for HostPathRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for (i, volume) in ctx.workload.spec.volumes.iter().flatten().enumerate() {
            let Some(host_path) = &volume.host_path else {
                continue;
            };
            if is_windows_host_path(&host_path.path) {
                continue;
            }
            findings.push(Finding::new(
                META.id,
                ctx.workload
                    .spec_field("volumes")
                    .index(i)
                    .field("hostPath")
                    .field("path"),
                format!(
                    "volume {} mounts host path {:?}, which is not a Windows path: use a drive path (C:\\...) or a named pipe (\\\\.\\pipe\\...)",
                    volume.name, host_path.path
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::findings;
    use serde_json::json;

    #[test]
    fn tells_windows_paths_from_linux_paths() {
        for ok in [
            "C:\\var\\lib\\kubelet",
            "c:/etc/kubernetes",
            "D:",
            "\\\\.\\pipe\\containerd-containerd",
            "//./pipe/docker_engine",
        ] {
            assert!(is_windows_host_path(ok), "{ok}");
        }
        for bad in [
            "/var/lib/kubelet",
            "/dev",
            "var\\log",
            "\\\\server\\share",
            "\\\\.\\pipe\\",
            "CC:\\x",
            "",
        ] {
            assert!(!is_windows_host_path(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_a_linux_host_path() {
        let object = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a"}],
            "volumes": [{"name": "ok", "hostPath": {"path": "C:\\k"}},
                {"name": "kubelet", "hostPath": {"path": "/var/lib/kubelet", "type": "Directory"}}]}}}});
        let found = findings(&HostPathRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.volumes[1].hostPath.path"
        );
    }

    #[test]
    fn accepts_windows_host_paths() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a"}],
            "volumes": [{"name": "pipe", "hostPath": {"path": "\\\\.\\pipe\\containerd-containerd"}}]}});
        assert!(findings(&HostPathRule, &object).is_empty());
    }
}
