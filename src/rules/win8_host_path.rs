use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// WIN-8: a `hostPath` volume of a Windows pod names something a Windows node does not
    /// have.
    ///
    /// What a Windows node does with `hostPath.path`, from the kubelet's `makeMounts`
    /// (kubernetes `pkg/kubelet/kubelet_pods.go`, with `IsWindowsUNCPath`,
    /// `IsWindowsLocalPath` and `MakeAbsolutePath` of `pkg/volume/util/util.go`) and
    /// containerd's `parseMount` (`internal/cri/opts/spec_windows_opts.go`):
    ///
    /// - a drive path (`C:\var\lib\kubelet`, `C:/var/lib/kubelet`, `D:`) is mounted as it is;
    /// - a rooted path without a drive (`/var/lib/kubelet`, `\etc\cni\net.d`, `/`) is one on
    ///   the system drive: the kubelet prefixes `c:` (`MakeAbsolutePath`), so
    ///   `/var/lib/kubelet` is `C:\var\lib\kubelet`, the kubelet's own root directory on
    ///   Windows. SIG Windows manifests (kube-proxy, flannel, calico) write such paths, and
    ///   Kubernetes' own HostProcess e2e test mounts `/var/hostpath`;
    /// - a named pipe (`\\.\pipe\containerd-containerd`) is left alone by the kubelet (a `\\`
    ///   path: `IsWindowsUNCPath` looks for `\\` only) and mapped as a pipe by containerd
    ///   (`namedPipePath`). Written with slashes (`//./pipe/docker_engine`) it is no pipe:
    ///   it starts with `/`, so the kubelet makes it `c://./pipe/docker_engine`, and
    ///   containerd creates an empty directory there;
    /// - a path that does not exist is created by containerd as an empty directory, unless
    ///   the volume's `type` makes the kubelet check it first (`checkType`,
    ///   `pkg/volume/hostpath/host_path.go`), which then fails.
    ///
    /// So a rooted Linux-style path works wherever the node has that directory, and the rule
    /// rejects only what no Windows node has:
    ///
    /// - Linux kernel interfaces: `/proc`, `/sys`, `/dev` and below (procfs, sysfs, device
    ///   nodes; "Windows has no /dev device node tree", `pkg/volume/util/hostutil/
    ///   hostutil_windows.go`);
    /// - the Unix sockets and socket directories of Linux container runtimes, under `/run`
    ///   or `/var/run`: Docker's `docker.sock`, containerd's `containerd/`, CRI-O's `crio/`,
    ///   `cri-dockerd.sock`, `dockershim.sock` (the Container Runtimes doc: on Windows
    ///   containerd's endpoint is the named pipe `\\.\pipe\containerd-containerd`, and CRI-O
    ///   runs on Linux only);
    /// - a relative path (`var\log`): the kubelet does not make it absolute, so the kubelet
    ///   and containerd resolve it against their own working directories;
    /// - a rooted path with a `:` (`IsWindowsLocalPath` leaves it as it is, and Windows file
    ///   names cannot contain `:`), and a network share or device path (`\\server\share`,
    ///   `\\.\PhysicalDrive0`), which is no directory or pipe of the node.
    ///
    /// The Linux-only paths are recognised as Linux writes them (lower case, `/`): a path
    /// written the Windows way (`\dev\tools`) names a directory on `C:`. The check is on the
    /// text: whether a path exists on the node is not known at admission.
    ///
    /// Example: a Linux runtime socket mounted into a Windows pod; `C:\ProgramData\docker` or
    /// `\\.\pipe\docker_engine` would pass.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   volumes:
    ///   - name: docker
    ///     hostPath: {path: /var/run/docker.sock}
    /// ```
    HostPathRule {
        id: "WIN-8",
        summary: "hostPath in a Windows pod that no Windows node has: a Linux kernel interface (/proc, /sys, /dev), a Linux runtime socket (/var/run/docker.sock, /run/containerd, ...), a relative path or a share; drive paths (C:\\...), rooted paths (on C:) and named pipes (\\\\.\\pipe\\...) pass",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "kubelet makeMounts (pkg/kubelet/kubelet_pods.go) with IsWindowsLocalPath and MakeAbsolutePath (pkg/volume/util); containerd parseMount (internal/cri/opts/spec_windows_opts.go); Kubernetes Container Runtimes doc (runtime endpoints)",
        settings: [],
    }
}

/// `C:\...`, `C:/...` or a bare `C:`.
fn is_drive_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes.get(2), None | Some(b'\\') | Some(b'/'))
}

/// `\\.\pipe\name`: only with backslashes does the kubelet leave it alone.
fn is_named_pipe(path: &str) -> bool {
    path.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("\\\\.\\pipe\\"))
        && path.len() > 9
}

/// `//./pipe/name`: a named pipe written with slashes, which starts with `/`.
fn is_slashed_pipe(path: &str) -> bool {
    path.starts_with('/') && is_named_pipe(&path.replace('/', "\\"))
}

fn is_separator(c: char) -> bool {
    c == '/' || c == '\\'
}

/// A Linux path that names what only Linux nodes have, as components of a rooted path.
struct LinuxOnly {
    /// The leading components (`["proc"]`); under `/run` or `/var/run` when `run`.
    components: &'static [&'static str],
    run: bool,
    /// What it is on Linux, for the message.
    what: &'static str,
}

const RUNTIME_SOCKET: &str = "Windows container runtimes listen on named pipes (containerd on \\\\.\\pipe\\containerd-containerd, Docker on \\\\.\\pipe\\docker_engine)";

static LINUX_ONLY: &[LinuxOnly] = &[
    LinuxOnly {
        components: &["proc"],
        run: false,
        what: "the Linux kernel's process interface (procfs)",
    },
    LinuxOnly {
        components: &["sys"],
        run: false,
        what: "the Linux kernel's sysfs",
    },
    LinuxOnly {
        components: &["dev"],
        run: false,
        what: "the Linux device nodes",
    },
    LinuxOnly {
        components: &["docker.sock"],
        run: true,
        what: "the Unix socket of Docker on Linux",
    },
    LinuxOnly {
        components: &["containerd"],
        run: true,
        what: "the Unix socket directory of containerd on Linux",
    },
    LinuxOnly {
        components: &["crio"],
        run: true,
        what: "the Unix socket directory of CRI-O, which runs on Linux only",
    },
    LinuxOnly {
        components: &["cri-dockerd.sock"],
        run: true,
        what: "the Unix socket of cri-dockerd on Linux",
    },
    LinuxOnly {
        components: &["dockershim.sock"],
        run: true,
        what: "the Unix socket of the kubelet's dockershim on Linux (removed in Kubernetes 1.24)",
    },
];

/// The Linux-only entry `components` (of a `/`-written rooted path) starts with.
fn linux_only(components: &[&str]) -> Option<&'static LinuxOnly> {
    let after_run = match components {
        ["run", rest @ ..] | ["var", "run", rest @ ..] => Some(rest),
        _ => None,
    };
    LINUX_ONLY.iter().find(|entry| {
        let rest = if entry.run {
            after_run
        } else {
            Some(components)
        };
        rest.is_some_and(|rest| rest.starts_with(entry.components))
    })
}

/// Why `path` names nothing a Windows node has (the message after "mounts host path
/// P, "), or `None` when it is a drive path, a named pipe or a rooted path on `C:`.
fn problem(path: &str) -> Option<String> {
    if is_drive_path(path) || is_named_pipe(path) {
        return None;
    }
    if path.is_empty() {
        return Some("which is empty (the API server requires a path)".to_string());
    }
    if is_slashed_pipe(path) {
        return Some(format!(
            "a named pipe written with slashes, which the kubelet does not recognise (IsWindowsUNCPath looks for a leading \\\\): it becomes the directory c:{path}; write it {:?}",
            path.replace('/', "\\")
        ));
    }
    let unc = path.starts_with("\\\\") || path.starts_with("//");
    if unc {
        return Some(
            "a network share or device path, not a directory or named pipe of the node: use a drive path (C:\\...), a rooted path (taken on C:) or a named pipe (\\\\.\\pipe\\...)"
                .to_string(),
        );
    }
    if !path.starts_with(is_separator) {
        return Some(
            "a relative path: the kubelet does not make it absolute, so it names whatever lies below the working directory of the kubelet and the container runtime; use a drive path (C:\\...) or a rooted path (/var/lib/..., taken on C:)"
                .to_string(),
        );
    }
    if path.contains(':') {
        return Some(
            "a rooted path with a ':', which the kubelet does not take on C: and which Windows file names cannot contain".to_string(),
        );
    }
    if path.contains('\\') {
        // Written the Windows way: a directory on C:.
        return None;
    }
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let entry = linux_only(&components)?;
    let on_c = format!("C:\\{}", components.join("\\"));
    let runtimes = if entry.run {
        format!("; {RUNTIME_SOCKET}")
    } else {
        String::new()
    };
    Some(format!(
        "{}, which Windows nodes do not have{runtimes}: there the path is {on_c}, which does not exist (without a type, the container runtime mounts an empty directory created in its place)",
        entry.what
    ))
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
            let Some(problem) = problem(&host_path.path) else {
                continue;
            };
            findings.push(Finding::new(
                META.id,
                ctx.workload
                    .spec_field("volumes")
                    .index(i)
                    .field("hostPath")
                    .field("path"),
                format!(
                    "volume {} mounts host path {:?}, {problem}",
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

    /// kubelet `makeMounts` (pkg/kubelet/kubelet_pods.go): a drive path is used as it is,
    /// a rooted path without a drive gets `c:` from `MakeAbsolutePath` (pkg/volume/util/
    /// util.go, `IsWindowsLocalPath`), a `\\` path (named pipe) is left alone and
    /// containerd's `namedPipePath` (internal/cri/opts/spec_windows_opts.go) maps it as a
    /// pipe. The rooted paths are those of SIG Windows manifests (sig-windows-tools
    /// kube-proxy, flannel and calico DaemonSets: `/`, `/opt`, `/etc`, `/opt/cni/bin`,
    /// `/etc/cni/net.d`), of AKS nodes (`/k`, `/AzureData`), of Kubernetes' HostProcess
    /// e2e test (test/e2e/windows/host_process.go: `/var/hostpath`) and of the kubelet's
    /// Windows root (`/var/lib/kubelet`).
    #[test]
    fn drive_paths_rooted_paths_and_named_pipes_pass() {
        for ok in [
            "C:\\var\\lib\\kubelet",
            "c:/etc/kubernetes",
            "D:",
            "\\\\.\\pipe\\containerd-containerd",
            "/var/lib/kubelet",
            "/var/lib/kubelet/device-plugins",
            "/etc/kubernetes",
            "/etc/cni/net.d",
            "/opt/cni/bin",
            "/",
            "/k",
            "/AzureData",
            "/var/log",
            "/var/hostpath",
            "/var/run",
            "/run/flannel",
            "\\etc\\kubernetes",
            // Written the Windows way: C:\dev\tools, not the Linux device nodes.
            "\\dev\\tools",
            // Not the Linux names: procfs is /proc, and /devices is not /dev.
            "/Proc",
            "/devices",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
    }

    /// Linux kernel interfaces (hostutil_windows.go: "Windows has no /dev device node
    /// tree") and the Unix sockets of Linux runtimes (Kubernetes Container Runtimes doc:
    /// containerd's socket is /run/containerd/containerd.sock on Linux and the named pipe
    /// \\.\pipe\containerd-containerd on Windows; CRI-O's /var/run/crio/crio.sock;
    /// cri-dockerd's /run/cri-dockerd.sock). On a Windows node they are paths on C: that
    /// do not exist (containerd `parseMount` creates an empty directory in their place).
    #[test]
    fn linux_kernel_interfaces_and_runtime_sockets_are_rejected_saying_why() {
        for (bad, what) in [
            ("/proc", "procfs"),
            ("/proc/1/ns", "procfs"),
            ("/sys", "sysfs"),
            ("/sys/fs/cgroup", "sysfs"),
            ("/dev", "device nodes"),
            ("/dev/kmsg", "device nodes"),
            ("/./dev//kmsg/", "device nodes"),
            ("/var/run/docker.sock", "Docker"),
            ("/run/docker.sock", "Docker"),
            ("/run/containerd/containerd.sock", "containerd"),
            ("/var/run/containerd", "containerd"),
            ("/var/run/crio/crio.sock", "CRI-O"),
            ("/run/cri-dockerd.sock", "cri-dockerd"),
            ("/var/run/dockershim.sock", "dockershim"),
        ] {
            let message = problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(message.contains(what), "{bad}: {message}");
        }
        assert_eq!(
            problem("/var/run/docker.sock").unwrap(),
            "the Unix socket of Docker on Linux, which Windows nodes do not have; Windows container runtimes listen on named pipes (containerd on \\\\.\\pipe\\containerd-containerd, Docker on \\\\.\\pipe\\docker_engine): there the path is C:\\var\\run\\docker.sock, which does not exist (without a type, the container runtime mounts an empty directory created in its place)"
        );
        assert_eq!(
            problem("/proc").unwrap(),
            "the Linux kernel's process interface (procfs), which Windows nodes do not have: there the path is C:\\proc, which does not exist (without a type, the container runtime mounts an empty directory created in its place)"
        );
    }

    /// kubelet `IsWindowsLocalPath` makes absolute only paths that start with a
    /// separator and have no `:`; a `\\` path other than a pipe is a share or device.
    #[test]
    fn relative_paths_shares_and_colons_are_rejected() {
        for (bad, what) in [
            ("var\\log", "relative"),
            ("k", "relative"),
            ("C:var", "relative"),
            ("CC:\\x", "relative"),
            ("\\\\server\\share", "share"),
            ("//server/share", "share"),
            ("\\\\.\\pipe\\", "share"),
            ("\\\\.\\PhysicalDrive0", "share"),
            ("/var/a:b", "':'"),
            ("", "empty"),
            // IsWindowsUNCPath (pkg/volume/util/util.go) looks for a leading `\\` only:
            // a slashed pipe is a rooted path that MakeAbsolutePath puts on c:.
            (
                "//./pipe/docker_engine",
                "write it \"\\\\\\\\.\\\\pipe\\\\docker_engine\"",
            ),
            ("/\\./pipe/x", "named pipe written with slashes"),
            ("\\\\./pipe/x", "share"),
        ] {
            let message = problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(message.contains(what), "{bad:?}: {message}");
        }
    }

    #[test]
    fn rejects_a_runtime_socket_at_its_volume_path() {
        let object = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a"}],
            "volumes": [{"name": "ok", "hostPath": {"path": "C:\\k"}},
                {"name": "kubelet", "hostPath": {"path": "/var/lib/kubelet", "type": "Directory"}},
                {"name": "docker", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}]}}}});
        let found = findings(&HostPathRule, &object);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.volumes[2].hostPath.path"
        );
        assert!(
            found[0]
                .message
                .starts_with("volume docker mounts host path \"/var/run/docker.sock\", the Unix socket of Docker on Linux"),
            "{}",
            found[0].message
        );
    }

    /// The SIG Windows kube-proxy DaemonSet (sig-windows-tools kubeadm/kube-proxy):
    /// the host's root `/` and the wins named pipe.
    #[test]
    fn accepts_the_sig_windows_kube_proxy_volumes() {
        let object = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "kube-proxy"}],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}},
                {"name": "wins", "hostPath": {"path": "\\\\.\\pipe\\rancher_wins"}}]}}}});
        assert!(findings(&HostPathRule, &object).is_empty());
    }
}
