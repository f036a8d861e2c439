use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::commands::programs;
use crate::windows::commands::{CommandProblem, command_problem};

declare_rule! {
    /// WIN-13: a Windows container starts a program Windows cannot run: a Linux shell or path, a whole command line in one argument, a script, or a shell's own command.
    ///
    /// Charts ported from Linux keep `command: ["/bin/sh", "-c", ...]`, `bash`, exec probes
    /// such as `["/bin/sh", "-c", "curl localhost"]` and paths under `/usr` or `/bin`; no
    /// Windows image has them, and the container or the probe fails at start with "The
    /// system cannot find the file specified" (Azure/AKS#1836, containerd/containerd#5067
    /// and #6300). The runtime runs no shell: containerd escapes each argument with Go's
    /// `windows.EscapeArg` and joins them into the command line `CreateProcess` gets
    /// (`WithProcessCommandLineOrArgsForWindows`), so a whole command line written as one
    /// argument (`["powershell -Command Start-Sleep 3600"]`) is quoted into one program name
    /// that does not exist (kubernetes/kubernetes#90802), and a `.ps1`, `.sh` or `.py`
    /// script is no program (`CreateProcess` starts `.exe` and `.com` files, and `.bat` and
    /// `.cmd` through `cmd.exe`), nor is `dir` (built into `cmd.exe`) or a cmdlet such as
    /// `Get-Date` (Azure/AKS#1836 tried both). The rule checks the first word of each container's
    /// `command` (init and ephemeral containers too), of exec probes and of `postStart` and
    /// `preStop` exec hooks, and names the fix. It warns by default: an image may carry a
    /// shell of its own (Git for Windows' `bash.exe`).
    ///
    /// Example: a container of a Windows pod started by a Linux shell.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     image: mcr.microsoft.com/windows/servercore:ltsc2022
    ///     command: ["/bin/sh", "-c", "ping -t localhost"]
    /// ```
    LinuxCommandsRule {
        id: "WIN-13",
        summary: "Windows container, exec probe or hook starting a Linux shell or path, a whole command line as one argument, a script (.ps1, .sh, .py), a cmd.exe built-in or a PowerShell cmdlet as the program",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: false,
        source: "containerd CRI WithProcessCommandLineOrArgsForWindows (windows.EscapeArg), CreateProcess; Azure/AKS#1836, containerd/containerd#5067 and #6300, kubernetes/kubernetes#90802",
        settings: [],
    }
}

/// A JSON list of strings, as a fix is written in a manifest.
fn list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Rule for LinuxCommandsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for used in programs(ctx.workload) {
            let program = used.argv[0].as_str();
            let Some(problem) = command_problem(program) else {
                continue;
            };
            let who = format!("the {} of container {:?}", used.what, used.container.name);
            let message = match problem {
                CommandProblem::LinuxShell(shell) => {
                    let script = used
                        .argv
                        .get(2)
                        .filter(|_| used.argv.get(1).is_some_and(|flag| flag == "-c"));
                    let fix = match script {
                        Some(script) => format!(
                            "{} or {}",
                            list(&["powershell", "-Command", script]),
                            list(&["cmd", "/c", script])
                        ),
                        None => format!(
                            "{} or {}",
                            list(&["powershell", "-Command", "..."]),
                            list(&["cmd", "/c", "..."])
                        ),
                    };
                    format!(
                        "{who} starts {program:?}, the Linux shell {shell}, which no Windows image has; use {fix}"
                    )
                }
                CommandProblem::LinuxPath => format!(
                    "{who} starts {program:?}, a Linux system path, which no Windows image has (Windows looks for it on the system drive); start a Windows program, e.g. {} or {}",
                    list(&["powershell", "-Command", "..."]),
                    list(&["cmd", "/c", "..."])
                ),
                CommandProblem::WholeCommandLine(words) => {
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    format!(
                        "{who} writes a whole command line as one argument, {program:?}: the runtime quotes it into one program name that does not exist; write each argument as its own entry, e.g. {}",
                        list(&words)
                    )
                }
                CommandProblem::CmdBuiltin => format!(
                    "{who} starts {program:?}, a command built into cmd.exe, not a program; start it through cmd: {}",
                    list(&["cmd", "/c", &used.argv.join(" ")])
                ),
                CommandProblem::Cmdlet => format!(
                    "{who} starts {program:?}, a PowerShell cmdlet, not a program; start it through PowerShell: {}",
                    list(&["powershell", "-Command", &used.argv.join(" ")])
                ),
                CommandProblem::Script { interpreter: [] } => format!(
                    "{who} starts the shell script {program:?}, which Windows cannot run (there is no sh); rewrite it for PowerShell and start it with {}",
                    list(&["powershell", "-File", "script.ps1"])
                ),
                CommandProblem::Script { interpreter } => {
                    let mut words: Vec<&str> = interpreter.to_vec();
                    words.push(program);
                    format!(
                        "{who} starts the script {program:?}, which is no program Windows can start (CreateProcess runs .exe and .com files, .bat and .cmd through cmd.exe); start its interpreter: {}",
                        list(&words)
                    )
                }
            };
            findings.push(Finding::new(META.id, used.path, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, described, findings};
    use serde_json::{Value, json};

    fn windows_pod(container: Value) -> Value {
        json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [container]}})
    }

    #[test]
    fn warns_about_linux_shells_paths_and_scripts_where_they_are_written() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "initContainers": [{"name": "setup", "command": ["/app/setup.sh"]}],
            "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
                "command": ["/bin/sh", "-c", "ping -t localhost"],
                "livenessProbe": {"exec": {"command": ["/usr/bin/curl", "-f", "http://localhost"]}},
                "readinessProbe": {"exec": {"command": ["C:\\probe\\ready.ps1"]}},
                "lifecycle": {"preStop": {"exec": {"command": ["powershell -Command Stop-Service w3svc"]}}}}]}}}});
        let found = acted(&LinuxCommandsRule, &object, Value::Null);
        let lines = described(&found);
        assert_eq!(
            lines,
            [
                (
                    "spec.template.spec.containers[0].command[0]".to_string(),
                    "the command of container \"app\" starts \"/bin/sh\", the Linux shell sh, which no Windows image has; use [\"powershell\", \"-Command\", \"ping -t localhost\"] or [\"cmd\", \"/c\", \"ping -t localhost\"]".to_string(),
                    Action::Warn
                ),
                (
                    "spec.template.spec.containers[0].livenessProbe.exec.command[0]".to_string(),
                    "the livenessProbe of container \"app\" starts \"/usr/bin/curl\", a Linux system path, which no Windows image has (Windows looks for it on the system drive); start a Windows program, e.g. [\"powershell\", \"-Command\", \"...\"] or [\"cmd\", \"/c\", \"...\"]".to_string(),
                    Action::Warn
                ),
                (
                    "spec.template.spec.containers[0].readinessProbe.exec.command[0]".to_string(),
                    "the readinessProbe of container \"app\" starts the script \"C:\\\\probe\\\\ready.ps1\", which is no program Windows can start (CreateProcess runs .exe and .com files, .bat and .cmd through cmd.exe); start its interpreter: [\"powershell\", \"-File\", \"C:\\\\probe\\\\ready.ps1\"]".to_string(),
                    Action::Warn
                ),
                (
                    "spec.template.spec.containers[0].lifecycle.preStop.exec.command[0]".to_string(),
                    "the preStop hook of container \"app\" writes a whole command line as one argument, \"powershell -Command Stop-Service w3svc\": the runtime quotes it into one program name that does not exist; write each argument as its own entry, e.g. [\"powershell\", \"-Command\", \"Stop-Service\", \"w3svc\"]".to_string(),
                    Action::Warn
                ),
                (
                    "spec.template.spec.initContainers[0].command[0]".to_string(),
                    "the command of container \"setup\" starts the shell script \"/app/setup.sh\", which Windows cannot run (there is no sh); rewrite it for PowerShell and start it with [\"powershell\", \"-File\", \"script.ps1\"]".to_string(),
                    Action::Warn
                ),
            ]
        );
        // Under reject, each rejects.
        let rejected = acted(
            &LinuxCommandsRule,
            &object,
            json!({"rules": {"WIN-13": "reject"}}),
        );
        assert!(rejected.iter().all(|a| a.action == Action::Reject) && rejected.len() == 5);
    }

    #[test]
    fn accepts_windows_programs_images_entrypoints_and_linux_pods() {
        for command in [
            json!(["powershell", "-Command", "Start-Sleep 3600"]),
            json!(["cmd.exe", "/c", "ping -t localhost"]),
            json!([
                "C:\\Program Files\\PowerShell\\7\\pwsh.exe",
                "-File",
                "C:\\run.ps1"
            ]),
            json!(["C:\\app\\start.cmd"]),
        ] {
            let object = windows_pod(json!({"name": "app", "command": command,
                "livenessProbe": {"exec": {"command": ["cmd", "/c", "dir", "c:\\health.txt"]}}}));
            assert!(
                findings(&LinuxCommandsRule, &object).is_empty(),
                "{command}"
            );
        }
        // args alone go to the image's entrypoint, which the pod spec does not name.
        let entrypoint = windows_pod(json!({"name": "app", "args": ["/bin/sh", "-c", "x"]}));
        assert!(findings(&LinuxCommandsRule, &entrypoint).is_empty());
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "app", "command": ["/bin/sh", "-c", "x"]}]}});
        assert!(findings(&LinuxCommandsRule, &linux).is_empty());
    }

    #[test]
    fn shell_commands_are_started_through_their_shell() {
        // Azure/AKS#1836: `dir` and `Get-Date` as exec probes.
        let object = windows_pod(json!({"name": "app",
            "livenessProbe": {"exec": {"command": ["dir", "c:\\health.txt"]}},
            "readinessProbe": {"exec": {"command": ["Get-Date"]}}}));
        let found = findings(&LinuxCommandsRule, &object);
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "the livenessProbe of container \"app\" starts \"dir\", a command built into cmd.exe, not a program; start it through cmd: [\"cmd\", \"/c\", \"dir c:\\\\health.txt\"]",
                "the readinessProbe of container \"app\" starts \"Get-Date\", a PowerShell cmdlet, not a program; start it through PowerShell: [\"powershell\", \"-Command\", \"Get-Date\"]",
            ]
        );
    }

    #[test]
    fn ephemeral_debug_containers_are_checked() {
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "app"}],
            "ephemeralContainers": [{"name": "debugger", "image": "registry.example.com/tools/debug:1.0", "command": ["sh"]}]}});
        let found = findings(&LinuxCommandsRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.ephemeralContainers[0].command[0]"
        );
        assert!(found[0].message.contains("the Linux shell sh"));
    }
}
