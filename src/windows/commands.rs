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
//!   and `.cmd` files through `cmd.exe`; a `.ps1`, `.sh` or `.py` needs its interpreter.

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
            "",
        ] {
            assert_eq!(command_problem(program), None, "{program:?}");
        }
    }
}
