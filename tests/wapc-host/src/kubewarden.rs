//! Kubewarden's own engine, `kwctl` and `policy-server` (both built on Kubewarden's
//! `policy-evaluator`): the one place that finds them, annotates the modules for them,
//! runs `kwctl` and serves the modules from a PolicyServer on loopback.
//!
//! The tools are found as `$KWCTL` / `$POLICY_SERVER`, else in `target/kubewarden/`
//! (where `make kubewarden-tools` and `.ci/run` unpack them), else on `PATH`, else they
//! are unpacked from `../shared/tools` (the team's copy, built from Kubewarden's source)
//! with its `install.sh`. Where none is to be had, [`tools`] says so plainly.

use crate::evaluate::{Decision, Outcome};
use crate::host::HostCall;
use crate::inputs::Input;
use crate::modules::{built_module, target_dir, workspace_root};
use crate::response::ValidationResponse;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Environment variable: the kwctl binary to use.
pub const KWCTL_ENV: &str = "KWCTL";
/// Environment variable: the policy-server binary to use.
pub const POLICY_SERVER_ENV: &str = "POLICY_SERVER";

/// The paths of kwctl and policy-server.
#[derive(Clone, Debug)]
pub struct Tools {
    pub kwctl: PathBuf,
    pub policy_server: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn find(env: &str, name: &str, unpacked: &Path) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let local = unpacked.join(name);
    if local.is_file() {
        return Some(local);
    }
    on_path(name)
}

/// kwctl and policy-server, found or unpacked once per process (see the module doc);
/// the error says what is missing and how to get it.
pub fn tools() -> Result<Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS
        .get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn locate() -> Result<Tools> {
    let unpacked = target_dir().join("kubewarden");
    let found = |unpacked: &Path| {
        Some(Tools {
            kwctl: find(KWCTL_ENV, "kwctl", unpacked)?,
            policy_server: find(POLICY_SERVER_ENV, "policy-server", unpacked)?,
        })
    };
    if let Some(tools) = found(&unpacked) {
        return Ok(tools);
    }
    let install = workspace_root().join("../shared/tools/install.sh");
    if !install.is_file() {
        bail!(
            "kwctl and policy-server are not installed: set {KWCTL_ENV} and {POLICY_SERVER_ENV}, \
             put them on PATH, or provide ../shared/tools/install.sh (the team's copy, built \
             from Kubewarden's source); {} was not found",
            install.display()
        );
    }
    let status = Command::new("sh")
        .arg(&install)
        .arg(&unpacked)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {}", install.display()))?;
    if !status.success() {
        bail!(
            "{} {} failed: {status}",
            install.display(),
            unpacked.display()
        );
    }
    found(&unpacked).ok_or_else(|| {
        anyhow!(
            "{} did not unpack kwctl and policy-server",
            install.display()
        )
    })
}

/// An annotated module and kwctl's warnings, or why annotating failed.
type Annotated = Result<(PathBuf, String), String>;

/// Runs kwctl with `args`: its output (stdout, stderr) when it succeeds, else an error
/// with what it printed on stderr.
fn kwctl(args: &[&std::ffi::OsStr]) -> Result<(Vec<u8>, String)> {
    let output = Command::new(&tools()?.kwctl)
        .args(args)
        .output()
        .context("running kwctl")?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        let command: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        bail!("kwctl {}: {}\n{stderr}", command.join(" "), output.status);
    }
    Ok((output.stdout, stderr))
}

/// A packaging file of a module (`metadata.yml`, `artifacthub-pkg.yml`): the
/// flagship's are at the repository root, the others' in `policies/<module>/`.
pub fn packaging_file(module: &str, file: &str) -> PathBuf {
    let root = workspace_root();
    if module == windows_workload_rules::modules::ALL.name {
        root.join(file)
    } else {
        root.join("policies").join(module).join(file)
    }
}

/// The Kubewarden metadata of a module.
pub fn metadata_path(module: &str) -> PathBuf {
    packaging_file(module, "metadata.yml")
}

/// The module annotated with its own `metadata.yml` and README by `kwctl annotate`
/// (`target/annotated/<module>.wasm`), once per process and module. kwctl's warnings
/// (stderr) are returned with the path.
pub fn annotated(module: &str) -> Result<(PathBuf, String)> {
    static DONE: OnceLock<Mutex<HashMap<String, Annotated>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    done.entry(module.to_owned())
        .or_insert_with(|| annotate(module).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn annotate(module: &str) -> Result<(PathBuf, String)> {
    let wasm = built_module(module)?;
    let dir = target_dir().join("annotated");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(wasm.file_name().unwrap_or_default());
    let readme = workspace_root()
        .join("policies")
        .join(module)
        .join("README.md");
    let (_, stderr) = kwctl(&[
        "annotate".as_ref(),
        "-m".as_ref(),
        metadata_path(module).as_os_str(),
        "-u".as_ref(),
        readme.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        wasm.as_os_str(),
    ])?;
    Ok((out, stderr))
}

/// The Artifact Hub package `kwctl scaffold artifacthub` makes of a module's
/// `metadata.yml` and `questions-ui.yml`, as YAML text.
pub fn scaffold_artifacthub(module: &str) -> Result<String> {
    let questions = workspace_root()
        .join("policies")
        .join(module)
        .join("questions-ui.yml");
    let (stdout, _) = kwctl(&[
        "scaffold".as_ref(),
        "artifacthub".as_ref(),
        "-m".as_ref(),
        metadata_path(module).as_os_str(),
        "-q".as_ref(),
        questions.as_os_str(),
    ])?;
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The `ClusterAdmissionPolicy` that `kwctl scaffold manifest` makes of an annotated
/// module (with its context-aware resources when `context_aware`).
pub fn scaffold_manifest(annotated: &Path, context_aware: bool) -> Result<Value> {
    let mut args: Vec<&std::ffi::OsStr> =
        ["scaffold", "manifest", "--type", "ClusterAdmissionPolicy"]
            .iter()
            .map(|a| a.as_ref())
            .collect();
    if context_aware {
        args.push("--allow-context-aware".as_ref());
    }
    args.push(annotated.as_os_str());
    let (stdout, _) = kwctl(&args)?;
    Ok(serde_yaml::from_slice(&stdout)?)
}

/// A host-capability session for `kwctl run --replay-host-capabilities-interactions`:
/// the calls a module made in our host, in order, with the answers it got. The request
/// is policy-evaluator's `CallbackRequestType` in YAML (`!OciManifest`, ...).
pub fn replay_session(calls: &[HostCall]) -> Result<String> {
    let mut session = Vec::new();
    for call in calls.iter().filter(|c| !c.is_log()) {
        let payload = call.payload_json().ok_or_else(|| {
            anyhow!(
                "{}/{}: the payload is not JSON",
                call.namespace,
                call.operation
            )
        })?;
        let (tag, fields) = match (call.namespace.as_str(), call.operation.as_str()) {
            ("oci", "v1/oci_manifest") => ("!OciManifest", json!({"image": payload})),
            ("oci", "v1/oci_manifest_config") => {
                ("!OciManifestAndConfig", json!({"image": payload}))
            }
            ("oci", "v1/manifest_digest") => ("!OciManifestDigest", json!({"image": payload})),
            ("kubernetes", "get_resource") => ("!KubernetesGetResource", payload),
            (namespace, operation) => {
                bail!("no session form for the host call {namespace}/{operation}")
            }
        };
        let request = format!("{tag}\n{}", serde_yaml::to_string(&fields)?);
        let response = match &call.result {
            Ok(bytes) => json!({"type": "Success", "payload": String::from_utf8_lossy(bytes)}),
            Err(message) => json!({"type": "Error", "message": message}),
        };
        session.push(json!({"type": "Exchange", "request": request, "response": response}));
    }
    Ok(serde_yaml::to_string(&session)?)
}

/// `kwctl run` of an annotated module on one AdmissionRequest: the AdmissionResponse.
pub fn kwctl_run(
    module: &Path,
    request: &Value,
    settings: &Value,
    extra: &[&str],
) -> Result<Value> {
    let dir = target_dir().join("kwctl-run");
    std::fs::create_dir_all(&dir)?;
    let request_path = dir.join(format!(
        "request-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&request_path, serde_json::to_vec(request)?)?;
    let settings = settings.to_string();
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "run".as_ref(),
        "--request-path".as_ref(),
        request_path.as_os_str(),
        "--settings-json".as_ref(),
        settings.as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push(module.as_os_str());
    let run = kwctl(&args);
    let _ = std::fs::remove_file(&request_path);
    let (stdout, _) = run?;
    serde_json::from_slice(&stdout).with_context(|| {
        format!(
            "kwctl run printed no AdmissionResponse: {}",
            String::from_utf8_lossy(&stdout)
        )
    })
}

/// One policy of a PolicyServer: its id, annotated module and settings.
pub struct ServedPolicy {
    pub id: String,
    pub module: PathBuf,
    pub settings: Value,
    pub mutating: bool,
}

/// A PolicyServer on loopback, stopped when dropped.
pub struct PolicyServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PolicyServer {
    /// Starts a PolicyServer with `policies` and waits until it is ready (its
    /// readiness probe answers 200), or fails with its log.
    pub fn start(policies: &[ServedPolicy]) -> Result<Self> {
        let tools = tools()?;
        let port = free_port()?;
        let readiness = free_port()?;
        let dir = target_dir()
            .join("policy-server")
            .join(format!("{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("downloads"))?;
        let mut config = serde_json::Map::new();
        for policy in policies {
            config.insert(
                policy.id.clone(),
                json!({
                    "module": format!("file://{}", policy.module.canonicalize()?.display()),
                    "settings": policy.settings,
                    "allowedToMutate": policy.mutating,
                }),
            );
        }
        std::fs::write(dir.join("policies.yml"), serde_yaml::to_string(&config)?)?;
        std::fs::write(dir.join("sources.yml"), "insecure_sources: []\n")?;
        let log = std::fs::File::create(dir.join("policy-server.log"))?;
        let child = Command::new(&tools.policy_server)
            .arg("--policies")
            .arg(dir.join("policies.yml"))
            .arg("--policies-download-dir")
            .arg(dir.join("downloads"))
            .arg("--sources-path")
            .arg(dir.join("sources.yml"))
            .args([
                "--ignore-kubernetes-connection-failure",
                "--addr",
                "127.0.0.1",
            ])
            .args(["--port", &port.to_string()])
            .args(["--readiness-probe-port", &readiness.to_string()])
            .args(["--workers", "2", "--log-level", "warn", "--log-no-color"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting policy-server")?;
        let mut server = PolicyServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = http("GET", readiness, "/readiness", None) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("policy-server exited ({status}):\n{}", server.log());
            }
            if Instant::now() > deadline {
                bail!("policy-server was not ready in 120 s:\n{}", server.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("policy-server.log")).unwrap_or_default()
    }

    /// `POST /validate/<policy>` with `body` as it is: the HTTP status and body.
    pub fn post_raw(&self, policy: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        http(
            "POST",
            self.port,
            &format!("/validate/{policy}"),
            Some(body),
        )
    }

    /// `POST /validate/<policy>` with an AdmissionReview of `request`: the response.
    pub fn validate(&self, policy: &str, request: &Value) -> Result<Value> {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        });
        let (status, body) = http(
            "POST",
            self.port,
            &format!("/validate/{policy}"),
            Some(&serde_json::to_vec(&review)?),
        )?;
        if status != 200 {
            bail!(
                "policy-server answered {status} for {policy}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let review: Value = serde_json::from_slice(&body)?;
        review
            .get("response")
            .cloned()
            .ok_or_else(|| anyhow!("policy-server's AdmissionReview has no response: {review}"))
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange on loopback (one request per connection).
fn http(method: &str, port: u16, path: &str, body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in {head:?}"))?;
    let mut content = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        content = dechunk(&content)?;
    }
    Ok((status, content))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk"))?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(|| anyhow!("short chunk"))?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// An AdmissionResponse of Kubewarden's engine (kwctl or PolicyServer) as an
/// [`Outcome`] of `input`, comparable with the waPC host's: the patch is applied to the
/// object and the decision classified the same way.
pub fn outcome_of(input: &Input, response: &Value) -> Outcome {
    let allowed = response["allowed"].as_bool().unwrap_or(false);
    let warnings: Vec<String> = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let message = response["status"]["message"].as_str().map(str::to_owned);
    let code = response["status"]["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok());
    // The engine sends a base64 JSONPatch; our host, the mutated object.
    let patched = response["patch"]
        .as_str()
        .map(|patch| patched_object(input.object(), patch))
        .transpose();
    let (decision, response) = match patched {
        Err(e) => (
            Decision::Error {
                message: format!("the engine's patch does not apply: {e:#}"),
            },
            None,
        ),
        Ok(mutated_object) => {
            let validation = ValidationResponse {
                accepted: allowed,
                message,
                code,
                mutated_object,
                warnings: (!warnings.is_empty()).then(|| warnings.clone()),
                audit_annotations: None,
            };
            (
                crate::evaluate::decide(input.object(), &validation),
                Some(validation),
            )
        }
    };
    Outcome {
        label: input.label.clone(),
        origin: input.origin.clone(),
        decision,
        warnings,
        response,
        host_calls: Vec::new(),
        logs: Vec::new(),
    }
}

/// `object` with the engine's base64 JSONPatch applied.
fn patched_object(object: &Value, encoded: &str) -> Result<Value> {
    let ops: Vec<windows_workload_rules::k8s::patch::PatchOp> =
        serde_json::from_slice(&base64_decode(encoded)?)?;
    let mut object = object.clone();
    windows_workload_rules::k8s::patch::apply(&mut object, &ops).map_err(|e| anyhow!("{e}"))?;
    Ok(object)
}

fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len().saturating_sub(1);
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_alphabet() {
        assert_eq!(base64_decode("W10=").unwrap(), b"[]");
        assert_eq!(base64_decode("YWJjZA==").unwrap(), b"abcd");
        assert_eq!(base64_decode("YWJjZGU=").unwrap(), b"abcde");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("a*").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}
