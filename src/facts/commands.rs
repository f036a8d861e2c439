//! The programs a pod's containers start, read once: each container's `command`, the
//! `exec` of its liveness, readiness and startup probes, and the `exec` of its
//! `postStart` and `preStop` hooks, for regular, init and ephemeral containers. A
//! container without `command` runs its image's entrypoint (with `args` as arguments),
//! which the pod spec does not name: it is not listed.

use crate::k8s::path::FieldPath;
use crate::k8s::workload::{ContainerRef, Workload};
use k8s_openapi::api::core::v1::{ExecAction, Probe};

/// One program a container starts, and where the pod spec names it.
#[derive(Debug, Clone)]
pub struct ProgramUse<'a> {
    pub container: ContainerRef<'a>,
    /// What starts it: `command`, `livenessProbe`, ..., `postStart hook`.
    pub what: &'static str,
    /// `<container>.command[0]`, `<container>.livenessProbe.exec.command[0]`, ...
    pub path: FieldPath,
    /// The program and its arguments.
    pub argv: &'a [String],
    /// The probe that runs it, for an exec probe.
    pub probe: Option<&'a Probe>,
}

fn exec_command(exec: Option<&ExecAction>) -> &[String] {
    exec.and_then(|e| e.command.as_deref()).unwrap_or_default()
}

/// Every program the pod's containers start, in container order, each container's
/// `command` first, then its probes, then its hooks.
pub fn programs<'a>(workload: &'a Workload) -> Vec<ProgramUse<'a>> {
    let mut uses = Vec::new();
    for container in workload.containers() {
        let path = container.path();
        let mut push =
            |what: &'static str, path: FieldPath, argv: &'a [String], probe: Option<&'a Probe>| {
                if !argv.is_empty() {
                    uses.push(ProgramUse {
                        container,
                        what,
                        path: path.index(0),
                        argv,
                        probe,
                    });
                }
            };
        push("command", path.field("command"), container.command, None);
        let probes: [(&'static str, Option<&'a Probe>); 3] = [
            ("livenessProbe", container.liveness_probe),
            ("readinessProbe", container.readiness_probe),
            ("startupProbe", container.startup_probe),
        ];
        for (field, probe) in probes {
            let argv = exec_command(probe.and_then(|p| p.exec.as_ref()));
            let at = path.field(field).field("exec").field("command");
            push(field, at, argv, probe);
        }
        if let Some(lifecycle) = container.lifecycle {
            let hooks = [
                ("postStart", "postStart hook", lifecycle.post_start.as_ref()),
                ("preStop", "preStop hook", lifecycle.pre_stop.as_ref()),
            ];
            for (field, what, hook) in hooks {
                let argv = exec_command(hook.and_then(|h| h.exec.as_ref()));
                let at = path
                    .field("lifecycle")
                    .field(field)
                    .field("exec")
                    .field("command");
                push(what, at, argv, None);
            }
        }
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use serde_json::json;

    #[test]
    fn every_program_is_found_where_it_is_written() {
        let pod = json!({"kind": "Pod", "spec": {"containers": [
            {"name": "app", "command": ["powershell", "-File", "run.ps1"],
             "livenessProbe": {"exec": {"command": ["cmd", "/c", "exit 0"]}},
             "readinessProbe": {"httpGet": {"port": 80}},
             "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}}},
            {"name": "sidecar", "args": ["--v=2"]}],
            "initContainers": [{"name": "init", "command": ["bash"]}]}});
        let workload = Workload::from_object(WorkloadKind::Pod, &pod).unwrap();
        let found: Vec<(String, &str, &str)> = programs(&workload)
            .iter()
            .map(|u| (u.path.to_string(), u.what, u.argv[0].as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "spec.containers[0].command[0]".to_string(),
                    "command",
                    "powershell"
                ),
                (
                    "spec.containers[0].livenessProbe.exec.command[0]".to_string(),
                    "livenessProbe",
                    "cmd"
                ),
                (
                    "spec.containers[0].lifecycle.preStop.exec.command[0]".to_string(),
                    "preStop hook",
                    "/bin/sh"
                ),
                (
                    "spec.initContainers[0].command[0]".to_string(),
                    "command",
                    "bash"
                ),
            ]
        );
    }
}
