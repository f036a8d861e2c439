//! What a Windows container cannot start as a program. The runtime does not run a
//! shell: containerd's CRI plugin escapes each argument of `command` (and of an exec
//! probe or hook) with Go's `windows.EscapeArg` and joins them with spaces
//! (`WithProcessCommandLineOrArgsForWindows`, `pkg/cri/opts/spec_windows.go`; hcsshim
//! escapes an exec's arguments alike), and the container's process is created from that
//! command line by `CreateProcess`, which takes the first (quoted) word as the program.
//! So:
//!
//! - a whole command line written as one argument (`["powershell -Command Start-Sleep 3600"]`)
//!   is quoted into one program name that does not exist (kubernetes/kubernetes#90802);
//! - Linux shells and programs under Linux system directories (`/bin/sh`, `bash`,
//!   `/usr/bin/curl`) exist in no Windows image: a rooted path is looked up on the
//!   system drive (`C:\bin\sh`) and fails with "The system cannot find the file
//!   specified" (Azure/AKS#1836, containerd/containerd#5067 and #6300);
//! - a script is not a program: `CreateProcess` runs `.exe` and `.com` files, and `.bat`
//!   and `.cmd` files through `cmd.exe`; a `.ps1`, `.sh` or `.py` needs its interpreter;
//! - neither is a command of a shell: `dir` is built into `cmd.exe`, `Get-Date` is a
//!   PowerShell cmdlet; as a program they are not found (Azure/AKS#1836 tried both).

/// Why a program cannot start in a Windows container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandProblem {
    /// A Linux shell or utility (its name without a path or `.exe`).
    LinuxShell(String),
    /// A path under a Linux system directory (`/bin`, `/usr`, ...).
    LinuxPath,
    /// A whole command line in one argument: the words it holds.
    WholeCommandLine(Vec<String>),
    /// A script `CreateProcess` does not run, and how to run it.
    Script {
        interpreter: &'static [&'static str],
    },
    /// A command built into `cmd.exe`, not a program.
    CmdBuiltin,
    /// A PowerShell cmdlet (`Verb-Noun`), not a program.
    Cmdlet,
}

/// Commands built into `cmd.exe` (Microsoft's "Windows commands" reference marks them
/// internal): no `.exe` exists for them.
const CMD_BUILTINS: &[&str] = &[
    "assoc", "call", "cd", "chdir", "cls", "copy", "date", "del", "dir", "echo", "erase", "ftype",
    "md", "mkdir", "mklink", "move", "path", "popd", "pushd", "rd", "ren", "rename", "rmdir",
    "set", "start", "time", "title", "type", "ver", "vol",
];

/// PowerShell's approved verbs (`Get-Verb`; Microsoft, "Approved Verbs for PowerShell
/// Commands"): `<verb>-<noun>` names a cmdlet.
const POWERSHELL_VERBS: &[&str] = &[
    "add",
    "approve",
    "assert",
    "backup",
    "block",
    "build",
    "checkpoint",
    "clear",
    "close",
    "compare",
    "complete",
    "compress",
    "confirm",
    "connect",
    "convert",
    "convertfrom",
    "convertto",
    "copy",
    "debug",
    "deny",
    "deploy",
    "disable",
    "disconnect",
    "dismount",
    "edit",
    "enable",
    "enter",
    "exit",
    "expand",
    "export",
    "find",
    "format",
    "get",
    "grant",
    "group",
    "hide",
    "import",
    "initialize",
    "install",
    "invoke",
    "join",
    "limit",
    "lock",
    "measure",
    "merge",
    "mount",
    "move",
    "new",
    "open",
    "optimize",
    "out",
    "ping",
    "pop",
    "protect",
    "publish",
    "push",
    "read",
    "receive",
    "redo",
    "register",
    "remove",
    "rename",
    "repair",
    "request",
    "reset",
    "resize",
    "resolve",
    "restart",
    "restore",
    "resume",
    "revoke",
    "save",
    "search",
    "select",
    "send",
    "set",
    "show",
    "skip",
    "split",
    "start",
    "step",
    "stop",
    "submit",
    "suspend",
    "switch",
    "sync",
    "test",
    "trace",
    "unblock",
    "undo",
    "uninstall",
    "unlock",
    "unprotect",
    "unpublish",
    "unregister",
    "update",
    "use",
    "wait",
    "watch",
    "write",
];

/// Whether `name` (lower case, no path) is `<approved verb>-<noun>`.
fn is_cmdlet(name: &str) -> bool {
    name.split_once('-').is_some_and(|(verb, noun)| {
        POWERSHELL_VERBS.contains(&verb)
            && !noun.is_empty()
            && noun.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Linux shells and the multi-call binary that provides them; none ships in a Windows
/// image (a Git for Windows install may add a `bash.exe`: the rule that reads this warns).
const LINUX_SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"];

/// The directories of the Linux filesystem hierarchy where programs live.
const LINUX_PROGRAM_DIRS: &[&str] = &["bin", "sbin", "usr", "lib", "lib64", "etc"];

/// Programs `CreateProcess` starts (`.exe`, `.com`) or hands to `cmd.exe` (`.bat`,
/// `.cmd`).
const RUNNABLE_EXTENSIONS: &[&str] = &[".exe", ".com", ".bat", ".cmd"];

/// Scripts, and the interpreter (and its option) that runs one.
const SCRIPTS: &[(&str, &[&str])] = &[
    (".ps1", &["powershell", "-File"]),
    (".sh", &[]),
    (".py", &["python"]),
];

/// Why `program` (the first word of a container's command, an exec probe's or a hook's)
/// cannot start in a Windows container; `None` when nothing says it cannot.
pub fn command_problem(program: &str) -> Option<CommandProblem> {
    let program = program.trim();
    if program.is_empty() {
        return None;
    }
    let lower = program.to_ascii_lowercase();
    if program.contains([' ', '\t']) && !RUNNABLE_EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
        return Some(CommandProblem::WholeCommandLine(
            program.split_whitespace().map(str::to_owned).collect(),
        ));
    }
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    let name = base.strip_suffix(".exe").unwrap_or(base);
    if LINUX_SHELLS.contains(&name) {
        return Some(CommandProblem::LinuxShell(name.to_owned()));
    }
    if let Some((_, interpreter)) = SCRIPTS.iter().find(|(ext, _)| base.ends_with(ext)) {
        return Some(CommandProblem::Script { interpreter });
    }
    // Only a bare name: `C:\tools\dir.exe` or `.\get-report.exe` is a program.
    if base == lower {
        if CMD_BUILTINS.contains(&base) {
            return Some(CommandProblem::CmdBuiltin);
        }
        if is_cmdlet(base) {
            return Some(CommandProblem::Cmdlet);
        }
    }
    let first_dir = program
        .strip_prefix('/')
        .and_then(|rest| rest.split('/').next());
    if first_dir.is_some_and(|dir| LINUX_PROGRAM_DIRS.contains(&dir)) {
        return Some(CommandProblem::LinuxPath);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_programs_and_scripts_are_told_apart() {
        let shell = |name: &str| Some(CommandProblem::LinuxShell(name.to_owned()));
        assert_eq!(command_problem("/bin/sh"), shell("sh"));
        assert_eq!(command_problem("bash"), shell("bash"));
        assert_eq!(
            command_problem("/usr/bin/env"),
            Some(CommandProblem::LinuxPath)
        );
        assert_eq!(command_problem("/bin/busybox"), shell("busybox"));
        assert_eq!(command_problem("BASH.EXE"), shell("bash"));
        assert_eq!(
            command_problem("powershell -Command Start-Sleep 3600"),
            Some(CommandProblem::WholeCommandLine(vec![
                "powershell".into(),
                "-Command".into(),
                "Start-Sleep".into(),
                "3600".into()
            ]))
        );
        assert_eq!(
            command_problem(r"C:\app\start.ps1"),
            Some(CommandProblem::Script {
                interpreter: &["powershell", "-File"]
            })
        );
        assert_eq!(
            command_problem("/app/entrypoint.sh"),
            Some(CommandProblem::Script { interpreter: &[] })
        );
        // Azure/AKS#1836's probes: `dir` and `Get-Date`.
        assert_eq!(command_problem("dir"), Some(CommandProblem::CmdBuiltin));
        assert_eq!(command_problem("Get-Date"), Some(CommandProblem::Cmdlet));
        assert_eq!(command_problem("Test-Path"), Some(CommandProblem::Cmdlet));
    }

    #[test]
    fn windows_programs_pass() {
        for program in [
            "powershell",
            "powershell.exe",
            "pwsh",
            "cmd.exe",
            "cmd",
            "ping",
            r"C:\Program Files\PowerShell\7\pwsh.exe",
            r"c:\\CalicoWindows\\calico-node.exe",
            r"C:\app\run.cmd",
            "run.bat",
            // A rooted path outside the Linux directories lands on the system drive,
            // where an image may well have put it (C:\app\server.exe).
            "/app/server.exe",
            // Hyphenated program names that are no cmdlets.
            "kube-proxy",
            "csi-node-driver-registrar.exe",
            r"C:\tools\dir.exe",
            "",
        ] {
            assert_eq!(command_problem(program), None, "{program:?}");
        }
    }
}
