//! What the host answers when a policy calls back into it (`host_call`).
//!
//! The Kubewarden SDK reaches the host through waPC host calls
//! `(binding, namespace, operation, payload)`: logging goes to
//! `("kubewarden", "tracing", "log")`, context-aware lookups to namespaces such
//! as `oci` (`v1/manifest_digest`, `v1/oci_manifest`, `v1/oci_manifest_config`)
//! or `kubernetes` (`get_resource`, `list_resources_by_namespace`,
//! `list_resources_all`, `can_i`). The test host answers log lines itself and
//! every other capability from fixtures a test registers in
//! [`HostCapabilities`]; without a fixture the call fails with an error that
//! names it, as a cluster without that capability would.

use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Environment variable: when set to a non-empty value other than `0`, guest
/// log lines are also printed on stderr.
pub const LOG_ENV: &str = "WAPC_HOST_LOG";

type Responder = dyn Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync;

#[derive(Clone)]
struct Fixture {
    namespace: String,
    operation: String,
    /// Answer only this exact request (compared as JSON when both sides parse).
    request: Option<Vec<u8>>,
    respond: Arc<Responder>,
}

/// Fixtures for the host capabilities a policy may call, keyed by
/// `(namespace, operation)` and optionally by the exact request payload.
///
/// Lookup order: fixtures bound to the exact request payload first, then
/// fixtures for any payload; among equals the one registered last wins.
/// The binding (always `kubewarden` for the SDK) is recorded, not matched.
///
/// ```
/// use serde_json::json;
/// use wapc_test_host::HostCapabilities;
///
/// let caps = HostCapabilities::new()
///     .respond("oci", "v1/manifest_digest", json!({"digest": "sha256:0123"}))
///     .respond_to(
///         "kubernetes",
///         "get_resource",
///         json!({"api_version": "node.k8s.io/v1", "kind": "RuntimeClass", "name": "hyperv", "disable_cache": false}),
///         json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "hyperv"}, "handler": "runhcs-wcow-hypervisor"}),
///     )
///     .fail("kubernetes", "can_i", "forbidden");
/// # let _ = caps;
/// ```
#[derive(Clone, Default)]
pub struct HostCapabilities {
    fixtures: Vec<Fixture>,
}

impl fmt::Debug for HostCapabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .fixtures
            .iter()
            .map(|fx| {
                let scope = if fx.request.is_some() {
                    " (exact request)"
                } else {
                    ""
                };
                format!("{}/{}{}", fx.namespace, fx.operation, scope)
            })
            .collect();
        f.debug_struct("HostCapabilities")
            .field("fixtures", &keys)
            .finish()
    }
}

impl HostCapabilities {
    /// No fixture: every capability other than logging fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer every `(namespace, operation)` call with this JSON value.
    pub fn respond(self, namespace: &str, operation: &str, response: Value) -> Self {
        let bytes = json_bytes(&response);
        self.push(namespace, operation, None, move |_| Ok(bytes.clone()))
    }

    /// Answer `(namespace, operation)` calls whose payload equals `request`
    /// (as JSON) with this JSON value.
    pub fn respond_to(
        self,
        namespace: &str,
        operation: &str,
        request: Value,
        response: Value,
    ) -> Self {
        let bytes = json_bytes(&response);
        self.push(
            namespace,
            operation,
            Some(json_bytes(&request)),
            move |_| Ok(bytes.clone()),
        )
    }

    /// Answer every `(namespace, operation)` call with these raw bytes.
    pub fn respond_bytes(self, namespace: &str, operation: &str, response: Vec<u8>) -> Self {
        self.push(namespace, operation, None, move |_| Ok(response.clone()))
    }

    /// Make every `(namespace, operation)` call fail with this message, as a
    /// host whose lookup failed (registry down, object not found...).
    pub fn fail(self, namespace: &str, operation: &str, message: &str) -> Self {
        let message = message.to_owned();
        self.push(namespace, operation, None, move |_| Err(message.clone()))
    }

    /// Make `(namespace, operation)` calls whose payload equals `request`
    /// (as JSON) fail with this message.
    pub fn fail_to(self, namespace: &str, operation: &str, request: Value, message: &str) -> Self {
        let message = message.to_owned();
        self.push(
            namespace,
            operation,
            Some(json_bytes(&request)),
            move |_| Err(message.clone()),
        )
    }

    /// Answer `(namespace, operation)` calls with a function of the call
    /// (its payload is in [`HostCall::payload`]); `Err` fails the host call.
    pub fn handler<F>(self, namespace: &str, operation: &str, handler: F) -> Self
    where
        F: Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    {
        self.push(namespace, operation, None, handler)
    }

    fn push<F>(
        mut self,
        namespace: &str,
        operation: &str,
        request: Option<Vec<u8>>,
        respond: F,
    ) -> Self
    where
        F: Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    {
        self.fixtures.push(Fixture {
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            request,
            respond: Arc::new(respond),
        });
        self
    }

    /// Fixtures from their data form (YAML or JSON), a list of
    /// `{namespace, operation, request?, response | error}`: `request`
    /// restricts the fixture to that exact payload (as JSON), `response` is
    /// the JSON answer, `error` a failure message.
    ///
    /// ```yaml
    /// - namespace: oci
    ///   operation: v1/manifest_digest
    ///   request: mcr.microsoft.com/windows/nanoserver:ltsc2022
    ///   response: {digest: "sha256:0123"}
    /// - namespace: kubernetes
    ///   operation: can_i
    ///   error: forbidden
    /// ```
    pub fn from_value(fixtures: &Value) -> anyhow::Result<Self> {
        let Some(list) = fixtures.as_array() else {
            anyhow::bail!(
                "fixtures must be a list of {{namespace, operation, request?, response | error}}"
            );
        };
        let mut caps = Self::new();
        for (i, fx) in list.iter().enumerate() {
            let field = |name: &str| fx.get(name).and_then(Value::as_str);
            let (Some(namespace), Some(operation)) = (field("namespace"), field("operation"))
            else {
                anyhow::bail!("fixture {i}: `namespace` and `operation` (strings) are required");
            };
            let request = fx.get("request").cloned();
            caps = match (fx.get("response"), fx.get("error"), request) {
                (Some(response), None, None) => {
                    caps.respond(namespace, operation, response.clone())
                }
                (Some(response), None, Some(request)) => {
                    caps.respond_to(namespace, operation, request, response.clone())
                }
                (None, Some(Value::String(error)), None) => caps.fail(namespace, operation, error),
                (None, Some(Value::String(error)), Some(request)) => {
                    caps.fail_to(namespace, operation, request, error)
                }
                _ => anyhow::bail!(
                    "fixture {i} ({namespace}/{operation}): give either `response` or `error` (a string)"
                ),
            };
        }
        Ok(caps)
    }

    /// [`HostCapabilities::from_value`] read from a YAML or JSON file.
    pub fn load(path: impl AsRef<std::path::Path>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fixtures {}", path.display()))?;
        let value: Value = serde_yaml::from_str(&text)
            .with_context(|| format!("cannot parse fixtures {}", path.display()))?;
        Self::from_value(&value).with_context(|| format!("fixtures {}", path.display()))
    }

    /// `self`'s fixtures and handlers, then `other`'s: where both answer the same call,
    /// `other`'s answer wins (registered later), except that a fixture bound to the
    /// exact request payload still wins over one for any payload.
    pub fn merged(mut self, other: HostCapabilities) -> Self {
        self.fixtures.extend(other.fixtures);
        self
    }

    /// The answer to the host call `namespace`/`operation` with `payload`, as a guest
    /// would get it (binding `kubewarden`); for testing handlers without a module.
    pub fn call(
        &self,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.answer(&HostCall {
            binding: "kubewarden".to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            payload: payload.to_vec(),
            result: Ok(Vec::new()),
        })
    }

    /// True when no fixture is registered.
    pub fn is_empty(&self) -> bool {
        self.fixtures.is_empty()
    }

    /// The answer to one (non-log) host call.
    fn answer(&self, call: &HostCall) -> Result<Vec<u8>, String> {
        let same_key: Vec<&Fixture> = self
            .fixtures
            .iter()
            .rev()
            .filter(|fx| fx.namespace == call.namespace && fx.operation == call.operation)
            .collect();
        let exact = same_key.iter().find(|fx| {
            fx.request
                .as_deref()
                .is_some_and(|req| same_payload(req, &call.payload))
        });
        let any = || same_key.iter().find(|fx| fx.request.is_none());
        match exact.or_else(any) {
            Some(fx) => (fx.respond)(call),
            None if same_key.is_empty() => Err(format!(
                "the waPC test host has no fixture for host capability \
                 binding={:?} namespace={:?} operation={:?}; register one with \
                 HostCapabilities",
                call.binding, call.namespace, call.operation
            )),
            None => Err(format!(
                "the waPC test host has fixtures for binding={:?} namespace={:?} \
                 operation={:?}, but none for the request payload {}",
                call.binding,
                call.namespace,
                call.operation,
                call.payload_text()
            )),
        }
    }
}

fn json_bytes(value: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn same_payload(expected: &[u8], actual: &[u8]) -> bool {
    match (
        serde_json::from_slice::<Value>(expected),
        serde_json::from_slice::<Value>(actual),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => expected == actual,
    }
}

/// One call the guest made to the host, with the host's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCall {
    pub binding: String,
    pub namespace: String,
    pub operation: String,
    pub payload: Vec<u8>,
    /// What the host answered: the response bytes, or the error message.
    pub result: Result<Vec<u8>, String>,
}

impl HostCall {
    /// The payload parsed as JSON, if it is JSON.
    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }

    /// The payload as (lossy) UTF-8 text.
    pub fn payload_text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// True for the SDK's log calls, `(kubewarden, tracing, log)`.
    pub fn is_log(&self) -> bool {
        self.binding == "kubewarden" && self.namespace == "tracing" && self.operation == "log"
    }

    /// True when this call is `namespace`/`operation`.
    pub fn is(&self, namespace: &str, operation: &str) -> bool {
        self.namespace == namespace && self.operation == operation
    }
}

/// One log line the guest sent through `(kubewarden, tracing, log)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// `debug`, `info`, `warning` or `error` when the payload says so.
    pub level: Option<String>,
    /// The `message` field, or the whole payload when it has none.
    pub message: String,
    /// The payload as JSON (`Value::String` of the text when it is not JSON).
    pub fields: Value,
}

impl LogEntry {
    fn from_payload(payload: &[u8]) -> Self {
        let text = String::from_utf8_lossy(payload).into_owned();
        let fields =
            serde_json::from_slice::<Value>(payload).unwrap_or(Value::String(text.clone()));
        let level = fields
            .get("level")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = fields
            .get("message")
            .and_then(Value::as_str)
            .map_or(text, str::to_owned);
        Self {
            level,
            message,
            fields,
        }
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.level {
            Some(level) => write!(f, "[{level}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Default, Debug)]
pub(crate) struct Records {
    pub(crate) calls: Vec<HostCall>,
    pub(crate) logs: Vec<LogEntry>,
}

/// State shared between a policy instance and its host callback.
#[derive(Debug)]
pub(crate) struct HostState {
    capabilities: HostCapabilities,
    records: Mutex<Records>,
    echo_logs: bool,
}

impl HostState {
    pub(crate) fn new(capabilities: HostCapabilities) -> Self {
        let echo_logs = std::env::var(LOG_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        Self {
            capabilities,
            records: Mutex::new(Records::default()),
            echo_logs,
        }
    }

    pub(crate) fn records(&self) -> MutexGuard<'_, Records> {
        // A panic while holding the lock cannot leave the records inconsistent.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host side of `host_call`.
    pub(crate) fn host_call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut call = HostCall {
            binding: binding.to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            payload: payload.to_vec(),
            result: Ok(Vec::new()),
        };
        if call.is_log() {
            let entry = LogEntry::from_payload(payload);
            if self.echo_logs {
                eprintln!("policy log: {entry}");
            }
            let mut records = self.records();
            records.logs.push(entry);
            records.calls.push(call);
            return Ok(Vec::new());
        }
        call.result = self.capabilities.answer(&call);
        let result = call.result.clone();
        if self.echo_logs {
            match &result {
                Ok(_) => eprintln!("host call: {binding}/{namespace}/{operation}: answered"),
                Err(e) => eprintln!("host call: {binding}/{namespace}/{operation}: error: {e}"),
            }
        }
        self.records().calls.push(call);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(state: &HostState, ns: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        state.host_call("kubewarden", ns, op, payload)
    }

    #[test]
    fn unknown_capability_names_the_call() {
        let state = HostState::new(HostCapabilities::new());
        let err = call(&state, "oci", "v1/manifest_digest", b"\"busybox\"").unwrap_err();
        assert!(err.contains("no fixture"), "{err}");
        assert!(err.contains("\"kubewarden\""), "{err}");
        assert!(err.contains("\"oci\""), "{err}");
        assert!(err.contains("\"v1/manifest_digest\""), "{err}");
        assert_eq!(state.records().calls.len(), 1);
        assert!(state.records().calls[0].result.is_err());
    }

    #[test]
    fn logs_are_recorded_and_answered() {
        let state = HostState::new(HostCapabilities::new());
        let payload = br#"{"level":"info","message":"hello","line":3}"#;
        assert_eq!(call(&state, "tracing", "log", payload), Ok(Vec::new()));
        let records = state.records();
        assert_eq!(records.logs.len(), 1);
        assert_eq!(records.logs[0].level.as_deref(), Some("info"));
        assert_eq!(records.logs[0].message, "hello");
        assert_eq!(records.logs[0].to_string(), "[info] hello");
        assert!(records.calls[0].is_log());
    }

    #[test]
    fn exact_request_fixtures_win_and_later_fixtures_override() {
        let caps = HostCapabilities::new()
            .respond("oci", "v1/manifest_digest", json!({"digest": "first"}))
            .respond("oci", "v1/manifest_digest", json!({"digest": "any"}))
            .respond_to(
                "oci",
                "v1/manifest_digest",
                json!("mcr.microsoft.com/windows/nanoserver:ltsc2022"),
                json!({"digest": "exact"}),
            );
        let state = HostState::new(caps);
        let exact = call(
            &state,
            "oci",
            "v1/manifest_digest",
            b" \"mcr.microsoft.com/windows/nanoserver:ltsc2022\"",
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&exact).unwrap(),
            json!({"digest": "exact"})
        );
        let other = call(&state, "oci", "v1/manifest_digest", b"\"busybox\"").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&other).unwrap(),
            json!({"digest": "any"})
        );
    }

    #[test]
    fn payload_bound_fixture_reports_unmatched_payload() {
        let caps = HostCapabilities::new().respond_to(
            "kubernetes",
            "get_resource",
            json!({"name": "a"}),
            json!({}),
        );
        let state = HostState::new(caps);
        let err = call(&state, "kubernetes", "get_resource", br#"{"name":"b"}"#).unwrap_err();
        assert!(
            err.contains("none for the request payload {\"name\":\"b\"}"),
            "{err}"
        );
    }

    #[test]
    fn fixtures_from_data() {
        let caps = HostCapabilities::from_value(&json!([
            {"namespace": "oci", "operation": "v1/manifest_digest", "request": "a", "response": {"digest": "d"}},
            {"namespace": "kubernetes", "operation": "can_i", "error": "forbidden"}
        ]))
        .unwrap();
        let state = HostState::new(caps);
        assert_eq!(
            call(&state, "oci", "v1/manifest_digest", b"\"a\""),
            Ok(br#"{"digest":"d"}"#.to_vec())
        );
        assert!(call(&state, "oci", "v1/manifest_digest", b"\"b\"").is_err());
        assert_eq!(
            call(&state, "kubernetes", "can_i", b"{}"),
            Err("forbidden".to_owned())
        );
        assert!(HostCapabilities::from_value(&json!({"namespace": "x"})).is_err());
        assert!(
            HostCapabilities::from_value(&json!([{"namespace": "x", "operation": "y"}])).is_err()
        );
    }

    #[test]
    fn failures_and_handlers() {
        let caps = HostCapabilities::new()
            .fail("kubernetes", "can_i", "forbidden")
            .handler("net", "v1/dns_lookup_host", |c| {
                Ok(c.payload.to_ascii_uppercase())
            });
        let state = HostState::new(caps);
        assert_eq!(
            call(&state, "kubernetes", "can_i", b"{}"),
            Err("forbidden".to_owned())
        );
        assert_eq!(
            call(&state, "net", "v1/dns_lookup_host", b"abc"),
            Ok(b"ABC".to_vec())
        );
    }
}
