//! A native waPC host that runs the built Kubewarden policy modules the way
//! Kubewarden's policy evaluator does (`wapc` + `wasmtime-provider`, WASI on,
//! a policy timeout), for end-to-end tests, the `policy-eval` command and
//! the benchmarks.
//!
//! ```no_run
//! use serde_json::json;
//! use wapc_test_host::{HostCapabilities, built_policy, evaluate, parse_inputs};
//!
//! # fn main() -> anyhow::Result<()> {
//! let module = built_policy("windows-os-placement")?; // built and compiled once per process
//! assert_eq!(module.protocol_version()?, "v1");
//! assert!(module.validate_settings(&json!({}))?.valid);
//!
//! let inputs = parse_inputs(
//!     "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: nginx}]}\n",
//!     "inline.yaml",
//! )?;
//! for outcome in evaluate(&module, &json!({}), &inputs) {
//!     println!("{} {} {:?}", outcome.decision.name(), outcome.label, outcome.patch());
//! }
//!
//! // Host capabilities answered from fixtures, calls recorded.
//! let instance = module.instance_with(
//!     HostCapabilities::new().respond("oci", "v1/manifest_digest", json!({"digest": "sha256:00"})),
//! )?;
//! let response = instance.validate(&inputs[0].validation_request(&json!({})))?;
//! println!("{response:?} {:?}", instance.capability_calls());
//! # Ok(())
//! # }
//! ```

pub mod cluster;
mod evaluate;
mod host;
mod inputs;
pub mod kubewarden;
mod module;
mod modules;
pub mod oci;
mod response;
pub mod samples;
pub mod webhook;

pub use evaluate::{Decision, Outcome, decide, evaluate, evaluate_one};
pub use host::{HostCall, HostCapabilities, LOG_ENV, LogEntry};
pub use inputs::{
    Input, InputForm, Origin, admission_request, input_files, is_namespaced, load_file,
    load_inputs, parse_inputs, resource_name, validation_request,
};
pub use module::{
    CACHE_ENV, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, Evaluator, GuestError, MAX_TABLE_ELEMENTS,
    MEMORY_LIMIT_ENV, PolicyInstance, PolicyModule, TIMEOUT_ENV, WASM_PAGE_SIZE,
};
pub use modules::{
    FLOOR_MODULE_ENV, MODULES_DIR_ENV, WASM_TARGET, built_module, built_policy, floor_module,
    module_file_name, release_dir, target_dir, workspace_root,
};
pub use response::{SettingsValidation, ValidationResponse};
pub use webhook::{WebhookDecision, WebhookOptions, WebhookPolicy, WebhookServer};
/// The JSON patch type of the rule crate, used in [`Decision::Mutated`].
pub use windows_workload_rules::k8s::patch::PatchOp;
