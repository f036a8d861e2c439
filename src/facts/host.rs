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

/// One answer remembered by [`MemoHostCalls`]: the call and what the host said.
type Remembered = ((String, String, Vec<u8>), Result<Vec<u8>, String>);

/// Remembers the host's answers for the evaluation of one request: the rules of a module
/// (IMG-1 to IMG-4 all need an image's platforms) and the re-evaluation after a mutation
/// then ask the host once per question.
pub struct MemoHostCalls<'a> {
    inner: &'a dyn HostCalls,
    answers: std::cell::RefCell<Vec<Remembered>>,
}

impl<'a> MemoHostCalls<'a> {
    pub fn new(inner: &'a dyn HostCalls) -> Self {
        MemoHostCalls {
            inner,
            answers: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl HostCalls for MemoHostCalls<'_> {
    fn call(&self, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let key = (
            namespace.to_string(),
            operation.to_string(),
            payload.to_vec(),
        );
        if let Some((_, answer)) = self.answers.borrow().iter().find(|(k, _)| *k == key) {
            return answer.clone();
        }
        let answer = self
            .inner
            .call(namespace, operation, payload)
            .map_err(|e| host_error_text(&e));
        self.answers.borrow_mut().push((key, answer.clone()));
        answer
    }
}

/// What a host's failure says, fit for a finding: Kubewarden's engine wraps it as
/// "Callback evaluation failure: ..." and appends its causes ("Caused by:", which for a
/// registry error repeat the failure) and its Rust backtrace ("Stack backtrace:" and
/// frames) to the text the guest receives (seen with kwctl 1.36, live and replayed);
/// only the failure itself is kept, on one line.
pub fn host_error_text(error: &str) -> String {
    let failure = error
        .split("\n\nStack backtrace:")
        .next()
        .and_then(|failure| failure.split("\n\nCaused by:").next())
        .unwrap_or_default()
        .replace("Callback evaluation failure: ", "");
    failure.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn host_errors_lose_the_engines_wrapping_and_backtrace() {
        // As kwctl 1.36 hands a replayed OCI failure to the guest.
        let kwctl = "Host error: Callback evaluation failure: cannot fetch the manifest of \
            registry.example.com/team/private:1.0: authentication required (401 Unauthorized)\n\n\
            Stack backtrace:\n   0: <unknown>\n  18: start_thread\n             at ./nptl/pthread_create.c:442:8";
        assert_eq!(
            host_error_text(kwctl),
            "Host error: cannot fetch the manifest of registry.example.com/team/private:1.0: \
             authentication required (401 Unauthorized)"
        );
        assert_eq!(
            host_error_text("Host error: not found"),
            "Host error: not found"
        );
        // As kwctl 1.36 hands a live registry failure to the guest: the causes repeat it.
        let live = "Host error: Callback evaluation failure: Fail to interact with OCI registry: \
            Registry error: url http://127.0.0.1:5000/v2/team/missing/manifests/1.0, envelope: \
            OCI API errors: [OCI API error: manifest unknown]\n\nCaused by:\n    Registry error: \
            url http://127.0.0.1:5000/v2/team/missing/manifests/1.0, envelope: OCI API errors: \
            [OCI API error: manifest unknown]\n\nStack backtrace:\n   0: <unknown>";
        assert_eq!(
            host_error_text(live),
            "Host error: Fail to interact with OCI registry: Registry error: url \
             http://127.0.0.1:5000/v2/team/missing/manifests/1.0, envelope: OCI API errors: \
             [OCI API error: manifest unknown]"
        );
    }

    struct Counting(Cell<usize>);

    impl HostCalls for Counting {
        fn call(&self, _: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
            self.0.set(self.0.get() + 1);
            if operation == "fail" {
                Err("down".to_string())
            } else {
                Ok(payload.to_vec())
            }
        }
    }

    #[test]
    fn memo_asks_the_host_once_per_question() {
        let host = Counting(Cell::new(0));
        let memo = MemoHostCalls::new(&host);
        assert_eq!(memo.call("oci", "op", b"a"), Ok(b"a".to_vec()));
        assert_eq!(memo.call("oci", "op", b"a"), Ok(b"a".to_vec()));
        assert_eq!(memo.call("oci", "op", b"b"), Ok(b"b".to_vec()));
        assert_eq!(memo.call("oci", "fail", b"a"), Err("down".to_string()));
        assert_eq!(memo.call("oci", "fail", b"a"), Err("down".to_string()));
        assert_eq!(host.0.get(), 3);
        assert!(NoHostCalls.call("oci", "op", b"").is_err());
    }
}
