//! An HTTPS admission webhook that runs the policy modules in this crate's waPC host
//! and answers as Kubewarden's PolicyServer answers, so that a real kube-apiserver can
//! call the modules (`ValidatingWebhookConfiguration` / `MutatingWebhookConfiguration`
//! pointing at [`WebhookServer::url`]).
//!
//! What it does, and where PolicyServer does the same (repos kubewarden/policy-server
//! and kubewarden/policy-evaluator):
//!
//! - `POST /validate/<policy>` and `POST /audit/<policy>` with an AdmissionReview v1
//!   (policy-server `src/lib.rs`, `src/api/handlers.rs`); the answer is an
//!   AdmissionReview `{apiVersion: admission.k8s.io/v1, kind: AdmissionReview,
//!   response}` (`src/api/admission_review.rs`). A body that is not JSON, or has no
//!   AdmissionRequest in `request`, is a 400; PolicyServer (axum's JSON extractor)
//!   answers 400 and 422 respectively, both with `{message, status}`
//!   (`src/api/api_error.rs`). An unknown policy is a 404 (`unknown policy: <id>`), a
//!   body over [`WebhookOptions::max_body_bytes`] (default axum's 2 MiB) a 413, a
//!   content type other than JSON a 415.
//! - Each request runs in a fresh instance of the module, on tokio's blocking pool,
//!   at most [`WebhookOptions::workers`] at once (PolicyServer rehydrates a
//!   `PolicyEvaluatorPre` per request, under a semaphore of its pool size): a trap or
//!   a timeout cannot leave state behind for the next request.
//! - The module's ValidationResponse becomes the AdmissionResponse as in
//!   policy-evaluator `src/admission_response.rs`: `allowed`, `status {message, code}`
//!   when either is set, `warnings`, `auditAnnotations`, and for a mutated object a
//!   base64 JSONPatch (`patchType: JSONPatch`) from the request's object, computed
//!   with the diff [`crate::decide`] uses; an unchanged object sends no patch. A
//!   mutation of a request without an object (DELETE) is refused with upstream's
//!   message. A module failure is `allowed: false`, code 500, `internal server error:
//!   ...` (`src/runtimes/wapc/runtime.rs`), or upstream's message for a timeout.
//! - On `/validate`, the policy's settings as PolicyServer applies them
//!   (`src/admission_response_handler.rs`): monitor mode accepts everything without a
//!   patch; a policy not allowed to mutate that answers with a patch is rejected
//!   (`Request rejected by policy <id>. The policy attempted to mutate the request,
//!   but it is currently configured to not allow mutations.`).
//! - Settings are validated at start; invalid settings fail [`WebhookServer::start`],
//!   as they fail PolicyServer's bootstrap (`src/evaluation/evaluation_environment.rs`).
//!
//! Every answered evaluation is kept as a [`WebhookDecision`] ([`WebhookServer::decisions`])
//! and, when [`WebhookOptions::log_file`] is set, appended to it as a JSON line.

use crate::host::{HostCall, HostCapabilities, LogEntry};
use crate::inputs::validation_request;
use crate::module::{GuestError, PolicyModule};
use crate::response::ValidationResponse;
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use windows_workload_rules::k8s::patch::{self, PatchOp};

/// The largest body accepted: 2 MiB, the default limit of axum's JSON extractor that
/// PolicyServer answers with (HTTP 413 above it).
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`WebhookServer`]'s drop waits for evaluations under way.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// PolicyServer's policy modes (`policyMode` in its `policies.yml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PolicyMode {
    /// Decisions are enforced.
    #[default]
    Protect,
    /// Every request is accepted, without a patch; the module's decision is only recorded.
    Monitor,
}

/// One policy served by the webhook.
#[derive(Clone, Debug)]
pub struct WebhookPolicy {
    /// The `<policy>` of `/validate/<policy>`.
    pub id: String,
    pub module: PolicyModule,
    /// The settings sent with every request.
    pub settings: Value,
    /// PolicyServer's `allowedToMutate`: without it a patch is refused.
    pub allowed_to_mutate: bool,
    pub mode: PolicyMode,
    /// This policy's host capabilities, instead of [`WebhookOptions::capabilities`].
    pub capabilities: Option<HostCapabilities>,
}

impl WebhookPolicy {
    /// A policy in protect mode with the server's host capabilities.
    pub fn new(id: &str, module: PolicyModule, settings: Value, allowed_to_mutate: bool) -> Self {
        Self {
            id: id.to_owned(),
            module,
            settings,
            allowed_to_mutate,
            mode: PolicyMode::Protect,
            capabilities: None,
        }
    }

    /// The same policy in `mode`.
    pub fn with_mode(mut self, mode: PolicyMode) -> Self {
        self.mode = mode;
        self
    }

    /// The same policy with host capabilities of its own.
    pub fn with_capabilities(mut self, capabilities: HostCapabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }
}

/// How a [`WebhookServer`] is started.
#[derive(Clone)]
pub struct WebhookOptions {
    /// The serving certificate (and its chain), PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: Vec<u8>,
    /// The port on 127.0.0.1; 0 takes a free one.
    pub port: u16,
    /// The host capabilities of every request (cloned into each instance): fixtures,
    /// [`crate::cluster::kubernetes_capabilities`], OCI look-ups, combined with
    /// [`HostCapabilities::merged`].
    pub capabilities: HostCapabilities,
    /// Append each decision to this file as a JSON line.
    pub log_file: Option<PathBuf>,
    /// Evaluations run at once (PolicyServer's `--workers`); more requests wait.
    pub workers: usize,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Accept every request about an object in this namespace without evaluating it
    /// (PolicyServer's `--always-accept-admission-reviews-on-namespace`).
    pub always_accept_namespace: Option<String>,
}

impl WebhookOptions {
    /// TLS from these PEM texts, a free port, no host capabilities, two workers.
    pub fn new(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            port: 0,
            capabilities: HostCapabilities::new(),
            log_file: None,
            workers: 2,
            max_body_bytes: DEFAULT_BODY_LIMIT,
            always_accept_namespace: None,
        }
    }

    /// [`WebhookOptions::new`] with the certificate and key read from PEM files.
    pub fn from_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        };
        Ok(Self::new(read(cert.as_ref())?, read(key.as_ref())?))
    }
}

impl fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"(hidden)")
            .field("port", &self.port)
            .field("capabilities", &self.capabilities)
            .field("log_file", &self.log_file)
            .field("workers", &self.workers)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("always_accept_namespace", &self.always_accept_namespace)
            .finish()
    }
}

/// The endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/validate/<policy>`, what the API server calls.
    Validate,
    /// `/audit/<policy>`, what Kubewarden's audit scanner calls: no mode, no mutation
    /// check.
    Audit,
}

/// What the webhook answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Allowed without a patch.
    Accepted,
    /// Not allowed (the module's rejection, or a refused mutation).
    Rejected,
    /// Allowed with a patch.
    Mutated,
    /// The module failed: not allowed, code 500 (or HTTP 500 when no instance could
    /// be made).
    Error,
}

impl Verdict {
    /// `accepted`, `rejected`, `mutated` or `error`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
            Verdict::Mutated => "mutated",
            Verdict::Error => "error",
        }
    }
}

/// `{group, version, kind}` of an AdmissionRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// `{group, version, resource}` of an AdmissionRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// One request the webhook evaluated, and its answer.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDecision {
    pub policy: String,
    pub endpoint: Endpoint,
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    pub sub_resource: Option<String>,
    pub operation: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `userInfo.username`.
    pub user: Option<String>,
    pub dry_run: bool,
    pub decision: Verdict,
    pub allowed: bool,
    /// `status.message`.
    pub message: Option<String>,
    /// `status.code`.
    pub code: Option<u16>,
    /// The JSON patch sent (empty unless mutated).
    pub patch: Vec<PatchOp>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<String, String>,
    /// The module answered with a patch that the policy was not allowed to send.
    pub mutation_refused: bool,
    /// `request.object` as the API server sent it (`null` when absent).
    pub object: Value,
    /// `request.oldObject` (`null` when absent).
    pub old_object: Value,
    /// The AdmissionResponse sent (`null` when the answer was an HTTP error).
    pub response: Value,
    /// The module's capability host calls, in order.
    pub host_calls: Vec<HostCall>,
    /// The module's log lines.
    pub logs: Vec<LogEntry>,
    /// Time spent from the parsed request to the answer, waiting for a worker included.
    pub duration: Duration,
}

impl WebhookDecision {
    /// `object` with the patch applied: what the API server goes on with.
    pub fn patched_object(&self) -> Result<Value> {
        let mut object = self.object.clone();
        patch::apply(&mut object, &self.patch).map_err(|e| anyhow!("{e}"))?;
        Ok(object)
    }

    /// The JSON line written to the log file.
    pub fn to_json(&self) -> Value {
        let host_calls: Vec<Value> = self
            .host_calls
            .iter()
            .map(|call| {
                json!({
                    "namespace": call.namespace,
                    "operation": call.operation,
                    "request": call.payload_json().unwrap_or_else(|| Value::String(call.payload_text())),
                    "error": call.result.as_ref().err(),
                })
            })
            .collect();
        json!({
            "policy": self.policy,
            "endpoint": self.endpoint,
            "uid": self.uid,
            "kind": self.kind,
            "resource": self.resource,
            "subResource": self.sub_resource,
            "operation": self.operation,
            "namespace": self.namespace,
            "name": self.name,
            "user": self.user,
            "dryRun": self.dry_run,
            "decision": self.decision,
            "allowed": self.allowed,
            "message": self.message,
            "code": self.code,
            "patch": self.patch,
            "warnings": self.warnings,
            "auditAnnotations": self.audit_annotations,
            "mutationRefused": self.mutation_refused,
            "object": self.object,
            "oldObject": self.old_object,
            "response": self.response,
            "hostCalls": host_calls,
            "logs": self.logs.iter().map(|l| l.fields.clone()).collect::<Vec<_>>(),
            "durationMs": self.duration.as_secs_f64() * 1000.0,
        })
    }
}

/// An HTTPS admission webhook on 127.0.0.1, on a tokio runtime of its own; stopped
/// when dropped.
pub struct WebhookServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<watch::Sender<bool>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.state.policies.keys().collect();
        ids.sort();
        f.debug_struct("WebhookServer")
            .field("addr", &self.addr)
            .field("policies", &ids)
            .finish()
    }
}

struct State {
    policies: HashMap<String, WebhookPolicy>,
    capabilities: HostCapabilities,
    workers: Arc<Semaphore>,
    max_body_bytes: usize,
    always_accept_namespace: Option<String>,
    decisions: Mutex<Vec<WebhookDecision>>,
    log: Option<Mutex<std::fs::File>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Appending records cannot leave them inconsistent, even after a panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl WebhookServer {
    /// Checks each policy's settings (in its module), then serves the policies over
    /// HTTPS on 127.0.0.1 until dropped.
    pub fn start(policies: Vec<WebhookPolicy>, options: WebhookOptions) -> Result<Self> {
        let mut served = HashMap::new();
        for policy in policies {
            if policy.id.is_empty() || policy.id.contains('/') {
                bail!(
                    "policy id {:?}: ids must be non-empty and without '/'",
                    policy.id
                );
            }
            check_settings(&policy, &options.capabilities)?;
            if let Some(previous) = served.insert(policy.id.clone(), policy) {
                bail!("policy id {:?} is given twice", previous.id);
            }
        }
        let tls = tls_config(&options.cert_pem, &options.key_pem)?;
        let log = match &options.log_file {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open the decision log {}", path.display()))?,
            )),
            None => None,
        };
        let state = Arc::new(State {
            policies: served,
            capabilities: options.capabilities.clone(),
            workers: Arc::new(Semaphore::new(options.workers.max(1))),
            max_body_bytes: options.max_body_bytes,
            always_accept_namespace: options.always_accept_namespace.clone(),
            decisions: Mutex::new(Vec::new()),
            log,
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("policy-webhook")
            .enable_all()
            .build()
            .context("cannot start the webhook's tokio runtime")?;
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, options.port))
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", options.port))?;
        let addr = listener
            .local_addr()
            .context("the webhook's listening address")?;
        listener
            .set_nonblocking(true)
            .context("cannot make the webhook's socket non-blocking")?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
                .context("cannot hand the webhook's socket to tokio")?
        };
        let (shutdown, stopped) = watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        runtime.spawn(accept_loop(listener, acceptor, Arc::clone(&state), stopped));
        Ok(Self {
            addr,
            state,
            shutdown: Some(shutdown),
            runtime: Some(runtime),
        })
    }

    /// The listening address (127.0.0.1 and the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:<port>/validate/<id>`, the URL of a webhook configuration's
    /// `clientConfig.url`.
    pub fn url(&self, id: &str) -> String {
        format!("https://127.0.0.1:{}/validate/{id}", self.port())
    }

    /// `https://127.0.0.1:<port>/audit/<id>`.
    pub fn audit_url(&self, id: &str) -> String {
        format!("https://127.0.0.1:{}/audit/{id}", self.port())
    }

    /// Every decision so far, in the order the answers were ready.
    pub fn decisions(&self) -> Vec<WebhookDecision> {
        locked(&self.state.decisions).clone()
    }

    /// Forgets the decisions kept so far (the log file keeps them).
    pub fn clear_decisions(&self) {
        locked(&self.state.decisions).clear();
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(runtime) = self.runtime.take() {
            // Waiting is not allowed inside an async context: there, let it go.
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(STOP_TIMEOUT);
            }
        }
    }
}

/// Fails like PolicyServer's bootstrap when the module refuses the settings.
fn check_settings(policy: &WebhookPolicy, capabilities: &HostCapabilities) -> Result<()> {
    let capabilities = policy
        .capabilities
        .clone()
        .unwrap_or_else(|| capabilities.clone());
    let answer = policy
        .module
        .instance_with(capabilities)
        .and_then(|instance| instance.validate_settings(&policy.settings))
        .with_context(|| format!("policy {}: cannot validate its settings", policy.id))?;
    if !answer.valid {
        bail!(
            "policy {}: Policy settings are invalid: {}",
            policy.id,
            answer.message.as_deref().unwrap_or("no message")
        );
    }
    Ok(())
}

fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .context("cannot read the webhook's certificate (PEM)")?;
    if certs.is_empty() {
        bail!("the webhook's certificate PEM holds no CERTIFICATE");
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .context("cannot read the webhook's private key (PEM)")?
        .context("the webhook's key PEM holds no private key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the webhook's certificate and key do not make a TLS identity")?;
    // kube-apiserver's webhook client speaks either.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, acceptor.clone(), Arc::clone(&state)));
                }
                // Out of descriptors or the like: let it pass instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            _ = stopped.changed() => return,
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await else {
        return;
    };
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(state, request).await) }
    });
    // HTTP/1.1 or h2, whichever the client speaks (ALPN or the h2 preface).
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: Vec<u8>) -> Answer {
    let json = !body.is_empty();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if json {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// PolicyServer's error body, `{message, status}`.
fn api_error(status: StatusCode, message: &str) -> Answer {
    let body = json!({"message": message, "status": status.as_u16()});
    respond(status, body.to_string().into_bytes())
}

fn is_json(request: &Request<Incoming>) -> bool {
    // As axum's JSON extractor: `application/json` or `application/*+json`.
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    let (endpoint, id) = match path.split_once('/').map(|(_, rest)| rest.split_once('/')) {
        Some(Some(("validate", id))) if !id.is_empty() && !id.contains('/') => {
            (Endpoint::Validate, id.to_owned())
        }
        Some(Some(("audit", id))) if !id.is_empty() && !id.contains('/') => {
            (Endpoint::Audit, id.to_owned())
        }
        _ => return respond(StatusCode::NOT_FOUND, Vec::new()),
    };
    if request.method() != Method::POST {
        return respond(StatusCode::METHOD_NOT_ALLOWED, Vec::new());
    }
    if !is_json(&request) {
        return api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
        );
    }
    let body = match Limited::new(request.into_body(), state.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            );
        }
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                &format!("Failed to buffer the request body: {e}"),
            );
        }
    };
    let (head, request) = match parse_review(&body) {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let Some(policy) = state.policies.get(&id).cloned() else {
        return api_error(StatusCode::NOT_FOUND, &format!("unknown policy: {id}"));
    };
    let started = Instant::now();
    let job_state = Arc::clone(&state);
    let evaluated = match Arc::clone(&state.workers).acquire_owned().await {
        Ok(permit) => {
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                evaluate(&job_state, &policy, endpoint, head, request, started)
            })
            .await
        }
        // The semaphore is never closed; answer as for any internal failure.
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
    };
    match evaluated {
        Ok(decision) => {
            let status = if decision.response.is_null() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            let body = if status == StatusCode::OK {
                json!({
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": decision.response,
                })
            } else {
                // PolicyServer hides the cause of an evaluation it could not run.
                json!({"message": "Something went wrong", "status": 500})
            };
            state.record(decision);
            respond(status, body.to_string().into_bytes())
        }
        Err(_) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
    }
}

impl State {
    fn record(&self, decision: WebhookDecision) {
        if let Some(log) = &self.log {
            let line = decision.to_json().to_string();
            if let Err(e) = writeln!(locked(log), "{line}") {
                eprintln!("policy webhook: cannot append to the decision log: {e}");
            }
        }
        locked(&self.decisions).push(decision);
    }
}

/// The parts of an AdmissionRequest the webhook reads; the same fields PolicyServer
/// requires (policy-evaluator `src/admission_request.rs`).
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
struct RequestHead {
    uid: String,
    kind: GroupVersionKind,
    resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: String,
    user_info: UserInfo,
    #[serde(default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
struct UserInfo {
    #[serde(default)]
    username: Option<String>,
}

/// The AdmissionReview's request, or the 400's message.
fn parse_review(body: &[u8]) -> Result<(RequestHead, Value), String> {
    let review: Value = serde_json::from_slice(body)
        .map_err(|e| format!("Failed to parse the request body as JSON: {e}"))?;
    let Value::Object(mut review) = review else {
        return Err(
            "Failed to deserialize the JSON body into the target type: the body is not an \
             AdmissionReview object"
                .to_owned(),
        );
    };
    let Some(request) = review.remove("request").filter(|r| !r.is_null()) else {
        return Err(
            "Failed to deserialize the JSON body into the target type: missing field `request`"
                .to_owned(),
        );
    };
    let head = RequestHead::deserialize(&request).map_err(|e| {
        format!("Failed to deserialize the JSON body into the target type: request: {e}")
    })?;
    Ok((head, request))
}

/// Runs one request in a fresh instance (on a blocking thread) and builds the answer.
fn evaluate(
    state: &State,
    policy: &WebhookPolicy,
    endpoint: Endpoint,
    head: RequestHead,
    request: Value,
    started: Instant,
) -> WebhookDecision {
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    let old_object = request.get("oldObject").cloned().unwrap_or(Value::Null);
    let mut decision = WebhookDecision {
        policy: policy.id.clone(),
        endpoint,
        uid: head.uid.clone(),
        kind: head.kind,
        resource: head.resource,
        sub_resource: head.sub_resource,
        operation: head.operation,
        namespace: head.namespace,
        name: head.name,
        user: head.user_info.username,
        dry_run: head.dry_run.unwrap_or(false),
        decision: Verdict::Error,
        allowed: false,
        message: None,
        code: None,
        patch: Vec::new(),
        warnings: Vec::new(),
        audit_annotations: BTreeMap::new(),
        mutation_refused: false,
        object,
        old_object,
        response: Value::Null,
        host_calls: Vec::new(),
        logs: Vec::new(),
        duration: Duration::ZERO,
    };

    let always_accepted = endpoint == Endpoint::Validate
        && decision.namespace.is_some()
        && decision.namespace == state.always_accept_namespace;
    let answer = if always_accepted {
        // PolicyServer accepts these before any evaluation (policy-server
        // `src/api/service.rs`).
        AdmissionAnswer::allow()
    } else {
        let capabilities = policy
            .capabilities
            .clone()
            .unwrap_or_else(|| state.capabilities.clone());
        let instance = match policy.module.instance_with(capabilities) {
            Ok(instance) => instance,
            Err(e) => {
                // PolicyServer answers HTTP 500 when it cannot rehydrate a module.
                decision.message = Some(format!("{e:#}"));
                decision.code = Some(500);
                decision.duration = started.elapsed();
                return decision;
            }
        };
        let result = instance.validate(&validation_request(&policy.settings, &request));
        decision.host_calls = instance.capability_calls();
        decision.logs = instance.logs();
        let object = Some(&decision.object).filter(|o| !o.is_null());
        let answer = AdmissionAnswer::from_module(object, result);
        match endpoint {
            Endpoint::Validate => {
                answer.enforced(&policy.id, policy.allowed_to_mutate, policy.mode)
            }
            Endpoint::Audit => answer,
        }
    };
    decision.decision = answer.verdict();
    decision.allowed = answer.allowed;
    decision.message = answer.message.clone();
    decision.code = answer.code;
    decision.patch = answer.patch.clone();
    decision.warnings = answer.warnings.clone().unwrap_or_default();
    decision.audit_annotations = answer.audit_annotations.clone().unwrap_or_default();
    decision.mutation_refused = answer.mutation_refused;
    decision.response = answer.to_json(&head.uid);
    decision.duration = started.elapsed();
    decision
}

/// An AdmissionResponse being built, as policy-evaluator's `AdmissionResponse`.
#[derive(Clone, Debug, Default, PartialEq)]
struct AdmissionAnswer {
    allowed: bool,
    /// The patch (sent as `patch` + `patchType` when not empty).
    patch: Vec<PatchOp>,
    /// `status` is sent when either is set.
    message: Option<String>,
    code: Option<u16>,
    audit_annotations: Option<BTreeMap<String, String>>,
    warnings: Option<Vec<String>>,
    /// The module failed.
    failed: bool,
    mutation_refused: bool,
}

/// The message of a DELETE (no object) that a module tried to mutate (policy-evaluator
/// `src/admission_response.rs`).
pub const DELETE_MUTATION_MESSAGE: &str = "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed";

/// The message of a module interrupted at its deadline (policy-evaluator
/// `src/runtimes/wapc/runtime.rs`).
pub const TIMEOUT_MESSAGE: &str =
    "Policy execution interrupted because it exceeded the allowed execution time";

/// PolicyServer's rejection of a patch from a policy not allowed to mutate
/// (policy-evaluator `src/admission_response_handler.rs`).
pub fn mutation_refused_message(policy_id: &str) -> String {
    format!(
        "Request rejected by policy {policy_id}. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
    )
}

impl AdmissionAnswer {
    fn allow() -> Self {
        Self {
            allowed: true,
            ..Self::default()
        }
    }

    fn reject(message: String, code: Option<u16>) -> Self {
        Self {
            allowed: false,
            message: Some(message),
            code,
            ..Self::default()
        }
    }

    /// The module's answer about `object` (`None`: the request has none).
    fn from_module(object: Option<&Value>, result: Result<ValidationResponse>) -> Self {
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let timed_out = e
                    .downcast_ref::<GuestError>()
                    .is_some_and(|g| g.message.contains("execution deadline exceeded"));
                let message = if timed_out {
                    TIMEOUT_MESSAGE.to_owned()
                } else {
                    format!("internal server error: {e:#}")
                };
                return Self {
                    failed: true,
                    ..Self::reject(message, Some(500))
                };
            }
        };
        let patch = match (&response.mutated_object, object) {
            (Some(_), None) => {
                return Self::reject(DELETE_MUTATION_MESSAGE.to_owned(), None);
            }
            // The diff `decide` uses, so that the API server applies our host's patch.
            (Some(mutated), Some(object)) => patch::diff(object, mutated),
            (None, _) => Vec::new(),
        };
        Self {
            allowed: response.accepted,
            patch,
            message: response.message,
            code: response.code,
            audit_annotations: response.audit_annotations,
            warnings: response.warnings,
            failed: false,
            mutation_refused: false,
        }
    }

    /// With the policy's mode and mutation permission applied, in PolicyServer's order.
    fn enforced(self, policy_id: &str, allowed_to_mutate: bool, mode: PolicyMode) -> Self {
        if mode == PolicyMode::Monitor {
            return Self {
                allowed: true,
                patch: Vec::new(),
                message: None,
                code: None,
                failed: false,
                ..self
            };
        }
        if !allowed_to_mutate && !self.patch.is_empty() {
            return Self {
                allowed: false,
                patch: Vec::new(),
                message: Some(mutation_refused_message(policy_id)),
                code: None,
                mutation_refused: true,
                ..self
            };
        }
        self
    }

    fn verdict(&self) -> Verdict {
        if self.failed {
            Verdict::Error
        } else if !self.allowed {
            Verdict::Rejected
        } else if self.patch.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Mutated
        }
    }

    /// The AdmissionResponse as policy-evaluator serializes it (`auditAnnotations` and
    /// `warnings` always present, `null` when unset).
    fn to_json(&self, uid: &str) -> Value {
        let mut response = Map::new();
        response.insert("uid".into(), json!(uid));
        response.insert("allowed".into(), json!(self.allowed));
        if !self.patch.is_empty() {
            // Serializing patch operations cannot fail.
            let text = serde_json::to_string(&self.patch).unwrap_or_default();
            response.insert("patchType".into(), json!("JSONPatch"));
            response.insert(
                "patch".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
        if self.message.is_some() || self.code.is_some() {
            let mut status = Map::new();
            if let Some(message) = &self.message {
                status.insert("message".into(), json!(message));
            }
            if let Some(code) = self.code {
                status.insert("code".into(), json!(code));
            }
            response.insert("status".into(), Value::Object(status));
        }
        response.insert("auditAnnotations".into(), json!(self.audit_annotations));
        response.insert("warnings".into(), json!(self.warnings));
        Value::Object(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutation() -> Result<ValidationResponse> {
        Ok(ValidationResponse {
            accepted: true,
            mutated_object: Some(json!({"a": 2})),
            warnings: Some(vec!["w".to_owned()]),
            ..ValidationResponse::default()
        })
    }

    #[test]
    fn a_mutation_is_a_base64_json_patch() {
        let answer = AdmissionAnswer::from_module(Some(&json!({"a": 1})), mutation());
        assert_eq!(answer.verdict(), Verdict::Mutated);
        let response = answer.to_json("u");
        assert_eq!(response["patchType"], "JSONPatch");
        let text = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap();
        let ops: Vec<PatchOp> = serde_json::from_slice(&text).unwrap();
        assert_eq!(ops, patch::diff(&json!({"a": 1}), &json!({"a": 2})));
        assert_eq!(response["warnings"], json!(["w"]));
        assert_eq!(response["auditAnnotations"], Value::Null);
        assert!(response.get("status").is_none());
    }

    #[test]
    fn an_unchanged_object_sends_no_patch() {
        let same = Ok(ValidationResponse {
            accepted: true,
            mutated_object: Some(json!({"a": 1})),
            ..ValidationResponse::default()
        });
        let answer = AdmissionAnswer::from_module(Some(&json!({"a": 1})), same).enforced(
            "p",
            false,
            PolicyMode::Protect,
        );
        assert_eq!(answer.verdict(), Verdict::Accepted);
        assert!(answer.to_json("u").get("patch").is_none());
    }

    #[test]
    fn validating_only_policies_refuse_patches_and_monitor_mode_accepts() {
        let refused = AdmissionAnswer::from_module(Some(&json!({"a": 1})), mutation()).enforced(
            "p",
            false,
            PolicyMode::Protect,
        );
        assert_eq!(refused.verdict(), Verdict::Rejected);
        assert!(refused.mutation_refused);
        let response = refused.to_json("u");
        assert_eq!(
            response["status"],
            json!({"message": mutation_refused_message("p")})
        );
        assert!(response.get("patch").is_none());
        // Warnings survive the refusal, as `..admission_response` keeps them upstream.
        assert_eq!(response["warnings"], json!(["w"]));

        let rejection = Ok(ValidationResponse {
            accepted: false,
            message: Some("no".to_owned()),
            code: Some(403),
            ..ValidationResponse::default()
        });
        let monitored = AdmissionAnswer::from_module(Some(&json!({})), rejection).enforced(
            "p",
            true,
            PolicyMode::Monitor,
        );
        assert_eq!(monitored.verdict(), Verdict::Accepted);
        assert!(monitored.to_json("u").get("status").is_none());
    }

    #[test]
    fn failures_and_deletes() {
        let failed = AdmissionAnswer::from_module(None, Err(anyhow!("boom")));
        assert_eq!(failed.verdict(), Verdict::Error);
        assert_eq!(
            failed.to_json("u")["status"],
            json!({"message": "internal server error: boom", "code": 500})
        );
        let timeout = GuestError {
            module: "m".to_owned(),
            operation: "validate".to_owned(),
            message: "guest code interrupted: execution deadline exceeded (10 ms); ...".to_owned(),
        };
        let timed_out = AdmissionAnswer::from_module(None, Err(timeout.into()));
        assert_eq!(timed_out.message.as_deref(), Some(TIMEOUT_MESSAGE));
        let delete = AdmissionAnswer::from_module(None, mutation());
        assert_eq!(delete.verdict(), Verdict::Rejected);
        assert_eq!(delete.message.as_deref(), Some(DELETE_MUTATION_MESSAGE));
        assert_eq!(delete.code, None);
    }

    #[test]
    fn reviews_are_read_as_policy_server_reads_them() {
        let ok = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{"username":"admin"},"object":{}}}"#;
        let (head, request) = parse_review(ok).unwrap();
        assert_eq!((head.uid.as_str(), head.kind.kind.as_str()), ("1", "Pod"));
        assert_eq!(request["object"], json!({}));
        let garbage = parse_review(b"{not json").unwrap_err();
        assert!(
            garbage.starts_with("Failed to parse the request body as JSON"),
            "{garbage}"
        );
        let missing = parse_review(br#"{"kind":"AdmissionReview"}"#).unwrap_err();
        assert!(missing.ends_with("missing field `request`"), "{missing}");
        let no_user = parse_review(
            br#"{"request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE"}}"#,
        )
        .unwrap_err();
        assert!(no_user.contains("missing field `userInfo`"), "{no_user}");
    }
}
