//! The entry points every policy module exposes, as plain functions over bytes, and the
//! macro that registers them with waPC in a policy crate.
//!
//! The functions never fail: malformed input, bad settings or an internal error all
//! become a well-formed response that says what is wrong, so a module never traps.

use crate::engine::evaluate::evaluate_request;
use crate::engine::module::Module;
use crate::facts::host::HostCalls;
use crate::k8s::request::decode_validation_request;
use crate::k8s::workload::{Workload, WorkloadKind};
use crate::settings::Settings;
use crate::wapc::response::{response_json, to_json};
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;

fn rejection(message: String) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code: Some(400),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

/// The `validate` waPC function: a Kubewarden ValidationRequest in, a ValidationResponse
/// out; `host` answers the host capabilities rules may call.
pub fn validate(module: &Module, host: &dyn HostCalls, payload: &[u8]) -> Vec<u8> {
    let request = match decode_validation_request(payload) {
        Ok(r) => r,
        Err(e) => return to_json(&rejection(format!("{}: {e}", module.name))),
    };
    let settings = match module.settings(&request.settings) {
        Ok(s) => s,
        Err(e) => {
            return to_json(&rejection(format!(
                "{}: invalid settings: {e}",
                module.name
            )));
        }
    };
    let evaluation = evaluate_request(module, &settings, host, &request.request);
    response_json(evaluation)
}

/// The floor every module stands on, for benchmarks: the request and the settings
/// decoded and a workload's pod spec and labels read, as every module does before its
/// first rule; then accepted. Errors are answered as [`validate`] answers them.
pub fn validate_floor(payload: &[u8]) -> Vec<u8> {
    let request = match decode_validation_request(payload) {
        Ok(r) => r,
        Err(e) => return to_json(&rejection(format!("{FLOOR}: {e}"))),
    };
    if let Err(e) = Settings::for_module(&request.settings, &[]) {
        return to_json(&rejection(format!("{FLOOR}: invalid settings: {e}")));
    }
    let request = request.request;
    if let Some(kind) = WorkloadKind::from_group_kind(&request.kind.group, &request.kind.kind)
        && request.object.is_object()
        && let Err(e) = Workload::from_json(kind, &request.object)
    {
        return to_json(&rejection(format!("invalid {}: {e}", kind.kind())));
    }
    to_json(&ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    })
}

/// The name the floor module answers under.
pub const FLOOR: &str = "windows-workloads-floor";

/// The settings document of a `validate_settings` call: none (blank) is `null`.
fn settings_json(payload: &[u8]) -> Result<serde_json::Value, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    crate::k8s::json_text::parse_value(payload).map_err(|e| format!("settings are not JSON: {e}"))
}

/// Validates settings for a module: known keys, good values, rules of this module.
pub fn check_settings(module: &Module, payload: &[u8]) -> Result<Settings, String> {
    module.settings(&settings_json(payload)?)
}

/// The `validate_settings` function of the floor module: the settings every module
/// shares.
pub fn validate_floor_settings(payload: &[u8]) -> Vec<u8> {
    settings_response(settings_json(payload).and_then(|v| Settings::for_module(&v, &[])))
}

/// The `validate_settings` waPC function.
pub fn validate_settings(module: &Module, payload: &[u8]) -> Vec<u8> {
    settings_response(check_settings(module, payload))
}

fn settings_response(checked: Result<Settings, String>) -> Vec<u8> {
    let message = checked.err();
    to_json(&SettingsValidationResponse {
        valid: message.is_none(),
        message,
    })
}

/// Declares the waPC entry points of a policy module. Invoke it once, in the policy
/// crate (never in this crate: every module would then export `wapc_init` twice).
///
/// ```text
/// windows_workload_rules::policy_module!(windows_workload_rules::modules::OS_PLACEMENT);
/// ```
#[macro_export]
macro_rules! policy_module {
    ($module:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn wapc_init() {
            /// Host capabilities through waPC host calls, as Kubewarden provides them.
            struct WapcHostCalls;
            impl $crate::facts::host::HostCalls for WapcHostCalls {
                fn call(
                    &self,
                    namespace: &str,
                    operation: &str,
                    payload: &[u8],
                ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    $crate::wapc_guest::host_call("kubewarden", namespace, operation, payload)
                        .map_err(|e| e.to_string())
                }
            }
            $crate::wapc_guest::register_function("validate", |payload: &[u8]| {
                Ok($crate::wapc::policy::validate(
                    &$module,
                    &WapcHostCalls,
                    payload,
                ))
            });
            $crate::wapc_guest::register_function("validate_settings", |payload: &[u8]| {
                Ok($crate::wapc::policy::validate_settings(&$module, payload))
            });
            $crate::wapc_guest::register_function(
                "protocol_version",
                $crate::kubewarden::protocol_version_guest,
            );
        }
    };
}

/// Declares the waPC entry points of the floor module ([`validate_floor`]), which the
/// benchmarks measure every module against. Not a policy: it is never shipped.
#[macro_export]
macro_rules! floor_module {
    () => {
        #[unsafe(no_mangle)]
        pub extern "C" fn wapc_init() {
            $crate::wapc_guest::register_function("validate", |payload: &[u8]| {
                Ok($crate::wapc::policy::validate_floor(payload))
            });
            $crate::wapc_guest::register_function("validate_settings", |payload: &[u8]| {
                Ok($crate::wapc::policy::validate_floor_settings(payload))
            });
            $crate::wapc_guest::register_function(
                "protocol_version",
                $crate::kubewarden::protocol_version_guest,
            );
        }
    };
}
