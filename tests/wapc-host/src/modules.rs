//! Finding (and if needed building) the workspace's policy modules for tests.

use crate::module::PolicyModule;
use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Environment variable: a folder holding already built modules
/// (`<package_with_underscores>.wasm`); when set, nothing is built.
pub const MODULES_DIR_ENV: &str = "WASM_MODULES_DIR";

/// Environment variable: the benchmarks' floor module (`make bench` and `make load` set
/// it; see [`floor_module`]).
pub const FLOOR_MODULE_ENV: &str = "FLOOR_MODULE";

/// The wasm target the modules are built for.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// `windows-os-placement` → `windows_os_placement.wasm`.
pub fn module_file_name(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

/// The floor module's `.wasm` (`tests/floor-module`, never shipped): `FLOOR_MODULE`, else
/// `target/bench-modules/` where `make bench-modules` puts it; `None` when neither is
/// there.
pub fn floor_module() -> Option<PathBuf> {
    std::env::var_os(FLOOR_MODULE_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            Some(target_dir().join("bench-modules").join(module_file_name(
                windows_workload_rules::wapc::policy::FLOOR,
            )))
            .filter(|p| p.is_file())
        })
}

/// The workspace's target folder (`CARGO_TARGET_DIR` if set).
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| root.join("target"), |t| root.join(t))
}

/// Where `cargo build --release --target wasm32-wasip1` puts the modules
/// of the workspace.
pub fn release_dir() -> PathBuf {
    target_dir().join(WASM_TARGET).join("release")
}

/// The `.wasm` file of policy package `package`.
///
/// With `WASM_MODULES_DIR` set: `$WASM_MODULES_DIR/<package_with_underscores>.wasm`.
/// Otherwise the module is built once per process and package with
/// `cargo build --release --target wasm32-wasip1 -p <package>` into the
/// workspace's target folder, as `make build` does (builds are serialised,
/// so parallel tests do not race; a failed build is reported to every
/// caller without retrying). The path comes from cargo's artifact messages.
///
/// A nested `cargo build` from inside `cargo test` does not wait on
/// cargo's lock: `cargo test` releases the target folder once its build is
/// done, before the tests run (checked with cargo 1.95).
pub fn built_module(package: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(MODULES_DIR_ENV).filter(|d| !d.is_empty()) {
        return module_in(Path::new(&dir), package);
    }

    static BUILDS: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let mut builds = BUILDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let result = builds
        .entry(package.to_owned())
        .or_insert_with(|| build(package))
        .clone();
    result.map_err(|e| anyhow!(e))
}

/// The module of `package` in a folder of built modules.
fn module_in(dir: &Path, package: &str) -> Result<PathBuf> {
    let path = dir.join(module_file_name(package));
    if !path.is_file() {
        bail!(
            "policy module {package}: {MODULES_DIR_ENV} is set, but {} does not exist: build \
             the modules (`make build`) or unset {MODULES_DIR_ENV} to let the tests build them",
            path.display()
        );
    }
    Ok(path)
}

/// [`built_module`] compiled into a [`PolicyModule`], once per process
/// (see [`PolicyModule::load_cached`]).
pub fn built_policy(package: &str) -> Result<PolicyModule> {
    PolicyModule::load_cached(built_module(package)?)
}

fn build(package: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", WASM_TARGET, "-p", package])
        .arg("--message-format=json-render-diagnostics");
    let shown = format!("cargo build --release --target {WASM_TARGET} -p {package}");
    eprintln!("wapc-test-host: building {package}: {shown}");
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", PathBuf::from(&cargo).display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "building policy module {package} failed ({}): `{shown}`:\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lib_name = package.replace('-', "_");
    let from_messages = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == lib_name.as_str()
        })
        .filter_map(|msg| {
            msg["filenames"].as_array().and_then(|files| {
                files
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|f| f.ends_with(".wasm"))
                    .map(PathBuf::from)
            })
        })
        .next_back();
    let path = from_messages.unwrap_or_else(|| release_dir().join(module_file_name(package)));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "`{shown}` succeeded but produced no {}: is {package} a cdylib policy package?",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_folders() {
        assert_eq!(
            module_file_name("windows-os-placement"),
            "windows_os_placement.wasm"
        );
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(release_dir().ends_with("wasm32-wasip1/release"));

        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let err = module_in(&dir, "no-such-policy").unwrap_err().to_string();
        assert!(err.contains("no_such_policy.wasm"), "{err}");
        assert!(err.contains(MODULES_DIR_ENV), "{err}");
    }
}
