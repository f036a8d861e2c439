//! Host capabilities (Kubewarden's OCI registry and Kubernetes lookups) seen from the
//! rule crate: a trait, so that rules stay plain Rust. Policy crates answer it with
//! waPC host calls (see `policy_module!`); unit tests answer it with fixtures.

/// Calls a Kubewarden host capability (`binding` is always `kubewarden`): `namespace`
/// is e.g. `oci` or `kubernetes`, `operation` e.g. `v1/oci_manifest_config`; the payload
/// and the answer are JSON.
pub trait HostCalls {
    fn call(&self, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String>;
}

/// No host: every capability is unavailable (native evaluation, modules that use none).
pub struct NoHostCalls;

impl HostCalls for NoHostCalls {
    fn call(&self, namespace: &str, operation: &str, _payload: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!(
            "host capability {namespace}/{operation} is not available here"
        ))
    }
}
