//! Child processes of the control plane: each one's stdout and stderr go to one log
//! file in the run directory, and each is killed when its handle is dropped.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// The file (in the run directory) that lists the pids of the run's processes, so that
/// a later run can end the ones a killed test process left behind.
pub(crate) const PIDS_FILE: &str = "pids";

pub(crate) struct ManagedProcess {
    pub name: &'static str,
    pub log: PathBuf,
    child: Option<Child>,
}

impl ManagedProcess {
    /// Starts `binary` with `args`, its output appended to `<run_dir>/<name>.log`.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        run_dir: &Path,
    ) -> Result<Self> {
        let log = run_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("duplicating the handle of {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .current_dir(run_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Everything is on loopback: no proxy may be consulted, and nothing may
            // read the developer's kubeconfig.
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("KUBECONFIG")
            .spawn()
            .with_context(|| format!("starting {} ({})", name, binary.display()))?;
        // Best effort: the record only helps a later run clean up after a killed one.
        let _ = append_pid(run_dir, child.id());
        Ok(Self {
            name,
            log,
            child: Some(child),
        })
    }

    /// Fails (quoting the log) when the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was already stopped", self.name);
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log, 40)
            ),
            Err(e) => bail!("checking whether {} runs: {e}", self.name),
        }
    }

    pub fn tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// SIGKILL and reap: the run directory is throw-away, so nothing needs a graceful
    /// shutdown, and a dead process cannot hold ports for the next test.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a log file (at most its last 64 KiB are read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX && file.seek(SeekFrom::Start(len - MAX)).is_err() {
        return format!("(cannot read {})", path.display());
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return format!("(cannot read {})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let tail = all[start..].join("\n");
    if tail.is_empty() {
        "(empty log)".to_string()
    } else {
        tail
    }
}

fn append_pid(run_dir: &Path, pid: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join(PIDS_FILE))?;
    writeln!(f, "{pid}")
}

/// Ends the processes of earlier runs whose test process is gone (killed by a timeout
/// or a signal, so no Drop ran). A pid is only killed when its command line names that
/// run's directory, so a reused pid of an unrelated process is left alone.
pub(crate) fn reap_orphans(runs_root: &Path) {
    let Ok(entries) = fs::read_dir(runs_root) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(owner) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let Ok(pids) = fs::read_to_string(dir.join(PIDS_FILE)) else {
            continue;
        };
        let marker = dir.to_string_lossy().into_owned();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        // The directory stays: it holds the logs of a run that did not end cleanly.
        let _ = fs::remove_file(dir.join(PIDS_FILE));
    }
}
