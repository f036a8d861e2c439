//! The HTTPS admission webhook (`wapc_test_host::webhook`) answers real AdmissionReviews
//! over TLS (HTTP/1.1 and h2, a certificate from a test CA) exactly as our waPC host
//! decides them, in the form Kubewarden's PolicyServer answers; and the modules'
//! `kubernetes` host calls (`wapc_test_host::cluster`) are answered from a fake API
//! server on loopback as policy-evaluator answers them.
//!
//! The upstream behaviour each test encodes is named in it: kubewarden/policy-server
//! (`src/api/handlers.rs`, `src/api/service.rs`, `src/api/api_error.rs`) and
//! kubewarden/policy-evaluator (`src/admission_response.rs`,
//! `src/admission_response_handler.rs`, `src/runtimes/wapc/runtime.rs`,
//! `src/callback_handler/kubernetes/client.rs`, `src/runtimes/callback.rs`).

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wapc_test_host::cluster::{
    ClusterOptions, ContextAwareResource, kubernetes_capabilities, kubernetes_capabilities_with,
};
use wapc_test_host::kubewarden::{self, outcome_of};
use wapc_test_host::webhook::{
    DELETE_MUTATION_MESSAGE, PolicyMode, TIMEOUT_MESSAGE, Verdict, mutation_refused_message,
};
use wapc_test_host::{
    Decision, HostCapabilities, Input, Outcome, PatchOp, PolicyModule, WebhookOptions,
    WebhookPolicy, WebhookServer, built_policy, evaluate_one, load_inputs, workspace_root,
};

// ---------------------------------------------------------------------------------------
// A test CA, a serving certificate for 127.0.0.1, and an HTTPS client that trusts the CA.

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "webhook test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a CA key"))
            .expect("the CA certificate");
        let key = KeyPair::generate().expect("a serving key");
        let mut serving =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("serving parameters");
        serving
            .subject_alt_names
            .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        serving
            .distinguished_name
            .push(DnType::CommonName, "policy webhook");
        let cert = serving
            .signed_by(&key, &ca)
            .expect("the serving certificate");
        Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    })
}

fn options() -> WebhookOptions {
    WebhookOptions::new(pki().cert_pem.clone(), pki().key_pem.clone())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Http1,
    H2,
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    alpn: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// An HTTPS client (hyper over tokio-rustls) that trusts the test CA only.
struct Client {
    runtime: tokio::runtime::Runtime,
    http1: Arc<rustls::ClientConfig>,
    h2: Arc<rustls::ClientConfig>,
}

impl Client {
    fn new() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pki().ca_pem.as_bytes()) {
            roots.add(cert.expect("the CA PEM")).expect("the CA");
        }
        let config = |alpn: &[u8]| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = vec![alpn.to_vec()];
            Arc::new(config)
        };
        Client {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the client's runtime"),
            http1: config(b"http/1.1"),
            h2: config(b"h2"),
        }
    }

    fn post(
        &self,
        addr: SocketAddr,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        proto: Proto,
    ) -> Reply {
        let config = match proto {
            Proto::Http1 => Arc::clone(&self.http1),
            Proto::H2 => Arc::clone(&self.h2),
        };
        self.runtime
            .block_on(send(addr, config, "POST", path, body, content_type, proto))
            .unwrap_or_else(|e| panic!("POST {path}: {e:#}"))
    }

    /// `POST /validate/<id>` of an AdmissionReview of `request`: the whole review.
    fn review(&self, server: &WebhookServer, id: &str, request: &Value, proto: Proto) -> Value {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        let reply = self.post(
            server.addr(),
            &format!("/validate/{id}?timeout=10s"),
            serde_json::to_vec(&body).expect("JSON"),
            Some("application/json"),
            proto,
        );
        assert_eq!(
            reply.status,
            200,
            "{id}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let expected_alpn = match proto {
            Proto::Http1 => "http/1.1",
            Proto::H2 => "h2",
        };
        assert_eq!(reply.alpn.as_deref(), Some(expected_alpn), "ALPN");
        reply.json()
    }
}

async fn send(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
    proto: Proto,
) -> anyhow::Result<Reply> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::from(std::net::IpAddr::from(Ipv4Addr::LOCALHOST));
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let alpn = tls
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let io = TokioIo::new(tls);
    let mut request = hyper::Request::builder().method(method);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = match proto {
        Proto::Http1 => {
            let request = request
                .uri(path)
                .header("host", format!("127.0.0.1:{}", addr.port()))
                .body(Full::new(Bytes::from(body)))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(connection);
            sender.send_request(request).await?
        }
        Proto::H2 => {
            let request = request
                .uri(format!("https://127.0.0.1:{}{path}", addr.port()))
                .body(Full::new(Bytes::from(body)))?;
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            sender.send_request(request).await?
        }
    };
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply { status, body, alpn })
}

// ---------------------------------------------------------------------------------------
// Comparing the webhook's answers with our host's decisions.

/// A mutation that changes nothing is an acceptance once on the wire (no patch).
fn on_the_wire(decision: &Decision) -> Decision {
    match decision {
        Decision::Mutated { patch, .. } if patch.is_empty() => Decision::Accepted,
        other => other.clone(),
    }
}

fn decoded_patch(response: &Value) -> Vec<PatchOp> {
    let Some(encoded) = response["patch"].as_str() else {
        return Vec::new();
    };
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("the patch is base64");
    serde_json::from_slice(&text).expect("the patch is a JSON patch")
}

/// The webhook's answer to `input` says what our host decided (`expected`).
fn assert_answer_matches(context: &str, input: &Input, expected: &Outcome, review: &Value) {
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{context}");
    assert_eq!(review["kind"], "AdmissionReview", "{context}");
    let response = &review["response"];
    assert_eq!(
        response["uid"], input.request["uid"],
        "{context}: uid echoed"
    );
    if let Decision::Error { message } = &expected.decision {
        // policy-evaluator src/runtimes/wapc/runtime.rs: a failed guest call is a
        // rejection with code 500.
        assert_eq!(response["allowed"], false, "{context}");
        assert_eq!(response["status"]["code"], 500, "{context}");
        let said = response["status"]["message"].as_str().unwrap_or_default();
        assert!(said.contains(message.as_str()), "{context}: {said}");
        return;
    }
    // What the API server makes of it, classified as our host classifies outcomes.
    let answered = outcome_of(input, response);
    assert_eq!(
        answered.decision,
        on_the_wire(&expected.decision),
        "{context}: decision, message, code, and the patched object"
    );
    assert_eq!(answered.warnings, expected.warnings, "{context}: warnings");
    // The very patch our host computes, not just an equivalent one.
    assert_eq!(
        decoded_patch(response),
        expected.patch(),
        "{context}: patch ops"
    );
}

/// `warnings`, `null` read as none (policy-evaluator sends `null` when unset).
fn warnings_of(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn test_data(module: &str) -> Vec<Input> {
    let inputs = load_inputs(
        workspace_root()
            .join("policies")
            .join(module)
            .join("test_data"),
    )
    .unwrap_or_else(|e| panic!("{module}'s test_data: {e:#}"));
    assert!(!inputs.is_empty(), "{module} has test data");
    inputs
}

fn module(name: &str) -> PolicyModule {
    built_policy(name).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn served(name: &str) -> WebhookPolicy {
    WebhookPolicy::new(
        name,
        module(name),
        kubewarden::example_settings(name),
        kubewarden::is_mutating(name),
    )
}

/// The only decision recorded since the last clear.
fn only_decision(server: &WebhookServer) -> wapc_test_host::WebhookDecision {
    let mut decisions = server.decisions();
    assert_eq!(decisions.len(), 1, "one decision per request");
    server.clear_decisions();
    decisions.remove(0)
}

// ---------------------------------------------------------------------------------------
// The modules over HTTPS.

#[test]
fn every_test_data_object_is_answered_as_our_host_decides() {
    let modules = [
        "windows-workloads",
        "windows-os-placement",
        "windows-identity",
    ];
    let policies: Vec<WebhookPolicy> = modules.iter().map(|name| served(name)).collect();
    let log =
        wapc_test_host::target_dir().join(format!("webhook-test-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let server = WebhookServer::start(
        policies,
        WebhookOptions {
            log_file: Some(log.clone()),
            ..options()
        },
    )
    .expect("the webhook starts");
    let client = Client::new();
    let mut answered = 0;
    let mut verdicts = std::collections::BTreeSet::new();
    for name in modules {
        let settings = kubewarden::example_settings(name);
        let ours = module(name);
        for (i, input) in test_data(name).iter().enumerate() {
            assert!(
                input.settings.is_none(),
                "{}: settings of its own",
                input.label
            );
            let context = format!("{name} {} ({})", input.label, input.origin);
            let expected = evaluate_one(&ours, &settings, input);
            // Both protocols the API server's webhook client speaks.
            let proto = if i % 2 == 0 { Proto::H2 } else { Proto::Http1 };
            let review = client.review(&server, name, &input.request, proto);
            assert_answer_matches(&context, input, &expected, &review);

            let decision = only_decision(&server);
            assert_eq!(decision.policy, name);
            assert_eq!(
                decision.uid,
                input.request["uid"].as_str().unwrap_or_default()
            );
            assert_eq!(
                decision.object,
                *input.object(),
                "{context}: the object sent"
            );
            assert_eq!(decision.response, review["response"], "{context}");
            assert_eq!(
                decision.kind.kind,
                input.request["kind"]["kind"].as_str().unwrap_or_default()
            );
            assert_eq!(
                decision.resource.resource,
                input.request["resource"]["resource"]
                    .as_str()
                    .unwrap_or_default()
            );
            assert_eq!(decision.operation, "CREATE");
            assert_eq!(decision.warnings, expected.warnings, "{context}");
            assert_eq!(
                decision.decision.name(),
                on_the_wire(&expected.decision).name(),
                "{context}"
            );
            if let Some(mutated) = expected.mutated_object() {
                assert_eq!(
                    &decision.patched_object().expect("the patch applies"),
                    mutated,
                    "{context}: the object the API server stores"
                );
            }
            verdicts.insert(decision.decision.name());
            answered += 1;
        }
    }
    assert!(answered >= 15, "{answered} objects");
    // The test data covers each kind of answer.
    for verdict in ["accepted", "rejected", "mutated"] {
        assert!(
            verdicts.contains(verdict),
            "no {verdict} answer in {verdicts:?}"
        );
    }
    let lines = std::fs::read_to_string(&log).expect("the decision log");
    assert_eq!(
        lines.lines().count(),
        answered,
        "one JSON line per decision"
    );
    let first: Value =
        serde_json::from_str(lines.lines().next().unwrap_or_default()).expect("a JSON line");
    assert_eq!(first["policy"], "windows-workloads");
    assert!(first["response"]["uid"].is_string(), "{first}");
    drop(server);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn http_errors_are_answered_as_policy_server_answers_them() {
    let server = WebhookServer::start(
        vec![served("windows-os-placement")],
        WebhookOptions {
            max_body_bytes: 64 * 1024,
            ..options()
        },
    )
    .expect("the webhook starts");
    let client = Client::new();
    let input = &test_data("windows-os-placement")[0];
    let review = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": input.request})).expect("JSON");
    let post = |path: &str, body: &[u8], content_type: Option<&str>, proto| {
        client.post(server.addr(), path, body.to_vec(), content_type, proto)
    };
    let json_body = Some("application/json");

    // policy-server src/api/handlers.rs: an unknown policy is `PolicyNotFound`, a 404
    // whose body is `{message, status}` (src/api/api_error.rs).
    for proto in [Proto::Http1, Proto::H2] {
        let reply = post("/validate/no-such-policy", &review, json_body, proto);
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.json(),
            json!({"message": "unknown policy: no-such-policy", "status": 404})
        );
    }
    // A body that is not JSON: a 400 saying so (PolicyServer's JSON extractor says
    // "Failed to parse the request body as JSON").
    let reply = post(
        "/validate/windows-os-placement",
        b"{not json",
        json_body,
        Proto::H2,
    );
    assert_eq!(reply.status, 400);
    let said = reply.json();
    assert_eq!(said["status"], 400);
    assert!(
        said["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Failed to parse the request body as JSON"),
        "{said}"
    );
    // JSON without an AdmissionRequest in `request`: a 400 naming what is missing
    // (PolicyServer answers 422 here, axum's status for a JSON of the wrong shape).
    for (body, missing) in [
        (
            json!({"kind": "AdmissionReview"}),
            "missing field `request`",
        ),
        (
            json!({"request": {"uid": "x", "operation": "CREATE"}}),
            "missing field `kind`",
        ),
    ] {
        let reply = post(
            "/validate/windows-os-placement",
            body.to_string().as_bytes(),
            json_body,
            Proto::Http1,
        );
        assert_eq!(reply.status, 400, "{body}");
        let said = reply.json();
        assert!(
            said["message"]
                .as_str()
                .unwrap_or_default()
                .contains(missing),
            "{said}"
        );
    }
    // Not JSON by its content type: 415 (axum's JSON extractor).
    let reply = post(
        "/validate/windows-os-placement",
        &review,
        Some("text/plain"),
        Proto::H2,
    );
    assert_eq!(reply.status, 415);
    // Over the body limit: 413, "length limit exceeded", as PolicyServer past 2 MiB.
    let big = vec![b' '; 70 * 1024];
    let reply = post(
        "/validate/windows-os-placement",
        &big,
        json_body,
        Proto::Http1,
    );
    assert_eq!(reply.status, 413);
    assert!(String::from_utf8_lossy(&reply.body).contains("length limit exceeded"));
    // Only POST /validate/<id> and /audit/<id> exist.
    let reply = client
        .runtime
        .block_on(send(
            server.addr(),
            Arc::clone(&client.h2),
            "GET",
            "/validate/windows-os-placement",
            Vec::new(),
            None,
            Proto::H2,
        ))
        .expect("GET");
    assert_eq!(reply.status, 405);
    let reply = post(
        "/mutate/windows-os-placement",
        &review,
        json_body,
        Proto::H2,
    );
    assert_eq!(reply.status, 404);
    assert!(
        server.decisions().is_empty(),
        "no evaluation for any of them"
    );

    // After all of that the policy still answers.
    let answer = client.review(&server, "windows-os-placement", &input.request, Proto::H2);
    assert_eq!(answer["response"]["uid"], input.request["uid"]);
}

#[test]
fn a_validating_only_policy_that_mutates_is_refused() {
    // policy-evaluator src/admission_response_handler.rs (`apply_mutation_constraint`,
    // called by policy-server src/api/service.rs for /validate in protect mode): a
    // policy whose `allowedToMutate` is false and that answers with a patch is
    // rejected, without code and without the patch, its warnings kept.
    let name = "windows-os-placement";
    let server = WebhookServer::start(
        vec![
            WebhookPolicy::new(
                "placement-validating",
                module(name),
                kubewarden::example_settings(name),
                false,
            ),
            served(name),
        ],
        options(),
    )
    .expect("the webhook starts");
    let client = Client::new();
    let settings = kubewarden::example_settings(name);
    let mut refused = 0;
    for input in test_data(name) {
        let expected = evaluate_one(&module(name), &settings, &input);
        let review = client.review(&server, "placement-validating", &input.request, Proto::H2);
        let response = &review["response"];
        let decision = only_decision(&server);
        if expected.patch().is_empty() {
            assert_answer_matches(&input.label, &input, &expected, &review);
            assert!(!decision.mutation_refused);
            continue;
        }
        assert_eq!(response["allowed"], false, "{}", input.label);
        assert_eq!(
            response["status"],
            json!({"message": mutation_refused_message("placement-validating")}),
            "{}",
            input.label
        );
        assert!(response.get("patch").is_none() && response.get("patchType").is_none());
        assert_eq!(warnings_of(response), expected.warnings, "{}", input.label);
        assert_eq!(decision.decision, Verdict::Rejected);
        assert!(decision.mutation_refused);
        assert!(decision.patch.is_empty());
        // The same module allowed to mutate sends its patch.
        let allowed = client.review(&server, name, &input.request, Proto::Http1);
        assert_answer_matches(&input.label, &input, &expected, &allowed);
        server.clear_decisions();
        refused += 1;
    }
    assert!(refused > 0, "some test data object is mutated");
}

#[test]
fn a_delete_is_answered_as_the_module_answers_it() {
    // A DELETE carries `object: null` and the deleted object in `oldObject`
    // (admission.k8s.io/v1). policy-evaluator src/admission_response.rs refuses a
    // mutation of such a request; otherwise the module's answer stands.
    let name = "windows-workloads";
    let server = WebhookServer::start(vec![served(name)], options()).expect("the webhook starts");
    let client = Client::new();
    let settings = kubewarden::example_settings(name);
    let ours = module(name);
    for input in test_data(name) {
        let mut delete = input.clone();
        delete.request["operation"] = json!("DELETE");
        delete.request["oldObject"] = input.object().clone();
        delete.request["object"] = Value::Null;
        delete.request["options"] =
            json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"});
        let expected = evaluate_one(&ours, &settings, &delete);
        let review = client.review(&server, name, &delete.request, Proto::H2);
        let decision = only_decision(&server);
        assert_eq!(decision.operation, "DELETE");
        assert_eq!(decision.object, Value::Null);
        assert_eq!(decision.old_object, *input.object());
        if expected.is_mutated() {
            assert_eq!(review["response"]["allowed"], false, "{}", input.label);
            assert_eq!(
                review["response"]["status"]["message"],
                DELETE_MUTATION_MESSAGE
            );
        } else {
            assert_answer_matches(
                &format!("DELETE {}", input.label),
                &delete,
                &expected,
                &review,
            );
        }
    }
}

#[test]
fn monitor_mode_and_audit_answer_as_policy_server() {
    // policy-evaluator src/admission_response_handler.rs (`apply_monitor_mode`): in
    // monitor mode every request is allowed, without status or patch; policy-server
    // src/api/service.rs answers /audit with the module's own response, no mode or
    // mutation constraint applied.
    let name = "windows-workloads";
    let server = WebhookServer::start(
        vec![
            served(name).with_mode(PolicyMode::Monitor),
            WebhookPolicy::new(
                "validating",
                module(name),
                kubewarden::example_settings(name),
                false,
            ),
        ],
        WebhookOptions {
            always_accept_namespace: Some("kubewarden".to_owned()),
            ..options()
        },
    )
    .expect("the webhook starts");
    let client = Client::new();
    let settings = kubewarden::example_settings(name);
    let mut rejected = 0;
    for input in test_data(name) {
        let expected = evaluate_one(&module(name), &settings, &input);
        let review = client.review(&server, name, &input.request, Proto::H2);
        let response = &review["response"];
        assert_eq!(response["allowed"], true, "{}", input.label);
        assert!(response.get("status").is_none() && response.get("patch").is_none());
        assert_eq!(warnings_of(response), expected.warnings, "{}", input.label);

        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": input.request});
        let reply = client.post(
            server.addr(),
            "/audit/validating",
            body.to_string().into_bytes(),
            Some("application/json"),
            Proto::Http1,
        );
        assert_eq!(reply.status, 200);
        assert_answer_matches(
            &format!("audit {}", input.label),
            &input,
            &expected,
            &reply.json(),
        );

        // policy-server src/api/service.rs: a request about an object in the namespace
        // of `--always-accept-admission-reviews-on-namespace` is allowed unevaluated.
        if expected.is_rejected() {
            let mut inside = input.request.clone();
            inside["namespace"] = json!("kubewarden");
            let review = client.review(&server, "validating", &inside, Proto::Http1);
            assert_eq!(
                review["response"],
                json!({"uid": inside["uid"], "allowed": true, "auditAnnotations": null, "warnings": null}),
                "{}",
                input.label
            );
            rejected += 1;
        }
    }
    assert!(rejected > 0, "some test data object is rejected");
    let unevaluated = server
        .decisions()
        .into_iter()
        .filter(|d| d.namespace.as_deref() == Some("kubewarden"))
        .collect::<Vec<_>>();
    assert_eq!(unevaluated.len(), rejected);
    assert!(
        unevaluated.iter().all(|d| d.decision == Verdict::Accepted
            && d.host_calls.is_empty()
            && d.logs.is_empty())
    );
}

#[test]
fn invalid_settings_fail_the_start() {
    // policy-server src/evaluation/evaluation_environment.rs: settings the module
    // refuses fail the bootstrap ("Policy settings are invalid: ...").
    let name = "windows-workloads";
    let err = WebhookServer::start(
        vec![WebhookPolicy::new(
            name,
            module(name),
            json!({"defaultOs": "plan9"}),
            true,
        )],
        options(),
    )
    .expect_err("invalid settings");
    let text = format!("{err:#}");
    assert!(text.contains("Policy settings are invalid"), "{text}");
    let err = WebhookServer::start(vec![served(name)], WebhookOptions::new("no PEM", "no PEM"))
        .expect_err("no certificate");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
}

// ---------------------------------------------------------------------------------------
// Failures of the module: a trap, a timeout and an error leave later requests unharmed.

fn test_guest() -> PolicyModule {
    let path = workspace_root().join("tests/wapc-host/tests/fixtures/test_guest.wat");
    let text = std::fs::read(&path).expect("the test guest");
    PolicyModule::from_bytes("test_guest", &text).expect("the test guest compiles")
}

#[test]
fn a_failing_or_timed_out_module_does_not_poison_later_requests() {
    // The test guest answers `validate` with whatever ("test", "validate") answers:
    // here, by the request's uid.
    let capabilities = HostCapabilities::new()
        .respond("test", "validate_settings", json!({"valid": true}))
        .handler("test", "validate", |call| {
            let request = call.payload_json().unwrap_or_default();
            match request["request"]["uid"].as_str().unwrap_or_default() {
                "fail" => Err("boom".to_owned()),
                // Past the module's deadline: the guest is interrupted when it resumes.
                "slow" => {
                    std::thread::sleep(Duration::from_millis(400));
                    Ok(br#"{"accepted": true}"#.to_vec())
                }
                _ => Ok(br#"{"accepted": false, "message": "no", "code": 403}"#.to_vec()),
            }
        });
    let guest = test_guest().with_timeout(Duration::from_millis(150));
    let server = WebhookServer::start(
        vec![WebhookPolicy::new("guest", guest, json!({}), false)],
        WebhookOptions {
            capabilities,
            ..options()
        },
    )
    .expect("the webhook starts");
    let client = Client::new();
    let request = |uid: &str| {
        json!({"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {"username": "admin"}, "object": {"kind": "Pod"}})
    };
    let status = |review: &Value| review["response"]["status"].clone();
    // policy-evaluator src/runtimes/wapc/runtime.rs: a failed guest call is
    // "internal server error: ..." with code 500; an interrupted one, its own message.
    let failed = client.review(&server, "guest", &request("fail"), Proto::H2);
    assert_eq!(failed["response"]["allowed"], false);
    assert_eq!(status(&failed)["code"], 500);
    let message = status(&failed)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("internal server error: ") && message.contains("boom"),
        "{message}"
    );
    assert_eq!(only_decision(&server).decision, Verdict::Error);

    let slow = client.review(&server, "guest", &request("slow"), Proto::Http1);
    assert_eq!(
        status(&slow),
        json!({"message": TIMEOUT_MESSAGE, "code": 500}),
        "{slow}"
    );
    assert_eq!(only_decision(&server).decision, Verdict::Error);

    for proto in [Proto::H2, Proto::Http1] {
        let fine = client.review(&server, "guest", &request("fine"), proto);
        assert_eq!(
            status(&fine),
            json!({"message": "no", "code": 403}),
            "{fine}"
        );
        assert_eq!(only_decision(&server).decision, Verdict::Rejected);
    }

    // Requests at once, over many connections: each gets its own answer.
    let answers = client.runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let config = Arc::clone(&client.h2);
            let addr = server.addr();
            let body = json!({"request": request(&format!("uid-{i}"))})
                .to_string()
                .into_bytes();
            tasks.spawn(async move {
                send(
                    addr,
                    config,
                    "POST",
                    "/validate/guest",
                    body,
                    Some("application/json"),
                    Proto::H2,
                )
                .await
            });
        }
        tasks.join_all().await
    });
    let mut uids: Vec<String> = answers
        .into_iter()
        .map(|reply| {
            let reply = reply.expect("an answer");
            assert_eq!(reply.status, 200);
            reply.json()["response"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    uids.sort();
    assert_eq!(uids, (0..8).map(|i| format!("uid-{i}")).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// The kubernetes host calls against a fake API server on loopback (plain HTTP).

/// A small API server: discovery for v1 and node.k8s.io/v1, nodes, pods, a
/// RuntimeClass, SubjectAccessReviews; a forbidden secrets list; a slow namespace.
struct FakeApi {
    runtime: tokio::runtime::Runtime,
    requests: Arc<Mutex<Vec<String>>>,
    client: kube::Client,
}

fn node_list(file: &str) -> Value {
    let path = workspace_root()
        .join("tests/wapc-host/tests/fixtures/nodes")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("the node list")).expect("JSON")
}

fn runtime_class() -> Value {
    json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "hyperv-2019", "resourceVersion": "7"},
        "handler": "runhcs-wcow-hypervisor",
        "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.17763"},
            "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}})
}

fn api_status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

fn fake_answer(method: &str, path: &str, body: &[u8], nodes: &Value) -> (u16, Value) {
    let resource = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
            "verbs": ["get", "list", "watch"]})
    };
    match (method, path) {
        ("GET", "/api/v1") => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                resource("nodes", "Node", false), resource("nodes/status", "Node", false),
                resource("pods", "Pod", true), resource("secrets", "Secret", true)]}),
        ),
        ("GET", "/apis/node.k8s.io/v1") => (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "node.k8s.io/v1",
                "resources": [resource("runtimeclasses", "RuntimeClass", false)]}),
        ),
        ("GET", "/api/v1/nodes") => (200, nodes.clone()),
        ("GET", "/api/v1/namespaces/shop/pods") => (
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                "items": [{"metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}]}),
        ),
        ("GET", "/api/v1/namespaces/slow/pods") => {
            std::thread::sleep(Duration::from_millis(1500));
            (
                200,
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}),
            )
        }
        ("GET", "/api/v1/secrets") => (
            403,
            api_status(
                403,
                "Forbidden",
                "secrets is forbidden: User \"system:serviceaccount:kubewarden:policy-server\" cannot list resource \"secrets\" in API group \"\" at the cluster scope",
            ),
        ),
        ("GET", "/apis/node.k8s.io/v1/runtimeclasses/hyperv-2019") => (200, runtime_class()),
        ("GET", p) if p.starts_with("/apis/node.k8s.io/v1/runtimeclasses/") => {
            let name = p.rsplit('/').next().unwrap_or_default();
            (
                404,
                api_status(
                    404,
                    "NotFound",
                    &format!("runtimeclasses.node.k8s.io \"{name}\" not found"),
                ),
            )
        }
        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
            let mut review: Value = serde_json::from_slice(body).unwrap_or_default();
            let allowed = review["spec"]["user"] == "admin";
            review["status"] = json!({"allowed": allowed, "reason": if allowed {"RBAC: allowed"} else {"no RBAC policy matched"}});
            (201, review)
        }
        _ => (
            404,
            api_status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        ),
    }
}

impl FakeApi {
    fn start(nodes: Value) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the fake API server's runtime");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("a port");
        let addr = listener.local_addr().expect("the address");
        let seen = Arc::clone(&requests);
        let nodes = Arc::new(nodes);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let nodes = Arc::clone(&nodes);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let seen = Arc::clone(&seen);
                            let nodes = Arc::clone(&nodes);
                            async move {
                                let method = request.method().to_string();
                                let path = request.uri().path().to_owned();
                                let query = request
                                    .uri()
                                    .query()
                                    .filter(|q| !q.is_empty())
                                    .map(|q| format!("?{q}"))
                                    .unwrap_or_default();
                                seen.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(format!("{method} {path}{query}"));
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                // Blocking is fine in a test server that answers one slow path.
                                let (status, answer) = tokio::task::spawn_blocking(move || {
                                    fake_answer(&method, &path, &body, &nodes)
                                })
                                .await
                                .unwrap_or((500, Value::Null));
                                let mut response = hyper::Response::new(Full::new(Bytes::from(
                                    answer.to_string(),
                                )));
                                *response.status_mut() = hyper::StatusCode::from_u16(status)
                                    .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                                response.headers_mut().insert(
                                    "content-type",
                                    hyper::header::HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let client = {
            let _entered = runtime.enter();
            let config = kube::Config::new(format!("http://{addr}").parse().expect("the URL"));
            kube::Client::try_from(config).expect("a kube client")
        };
        FakeApi {
            runtime,
            requests,
            client,
        }
    }

    fn capabilities(&self) -> HostCapabilities {
        kubernetes_capabilities(self.client.clone(), self.runtime.handle().clone())
    }

    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn count(&self, request: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.as_str() == request)
            .count()
    }
}

fn answer_json(answer: Result<Vec<u8>, String>) -> Value {
    serde_json::from_slice(&answer.expect("an answer")).expect("JSON")
}

#[test]
fn kubernetes_host_calls_are_answered_from_the_api_server() {
    let api = FakeApi::start(node_list("aks-two-windows-builds.json"));
    let caps = api.capabilities();

    // list_resources_all, as the modules ask for nodes (src/facts/nodes.rs): an object
    // list of the kind, items pruned to the masks except their metadata.
    let nodes_request = json!({"api_version": "v1", "kind": "Node", "label_selector": null,
        "field_selector": null, "field_masks": ["metadata.labels", "metadata.name", "spec.taints",
        "status.nodeInfo.kernelVersion", "status.nodeInfo.operatingSystem", "status.nodeInfo.osImage"]});
    let list = answer_json(caps.call(
        "kubernetes",
        "list_resources_all",
        nodes_request.to_string().as_bytes(),
    ));
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("NodeList"))
    );
    let items = list["items"].as_array().expect("items");
    let fixture = node_list("aks-two-windows-builds.json");
    assert_eq!(items.len(), fixture["items"].as_array().map_or(0, Vec::len));
    assert_eq!(
        items[1]["metadata"]["name"],
        fixture["items"][1]["metadata"]["name"]
    );
    assert_eq!(
        items[1]["spec"]["taints"],
        fixture["items"][1]["spec"]["taints"]
    );
    assert_eq!(
        items[1]["status"]["nodeInfo"],
        fixture["items"][1]["status"]["nodeInfo"]
    );
    // Discovery is asked once per kind.
    let again = answer_json(caps.call(
        "kubernetes",
        "list_resources_all",
        nodes_request.to_string().as_bytes(),
    ));
    assert_eq!(again, list);
    assert_eq!(api.count("GET /api/v1"), 1, "{:?}", api.requests());
    assert_eq!(api.count("GET /api/v1/nodes"), 2, "lists are live");

    // list_resources_by_namespace with a label selector.
    let pods = answer_json(caps.call("kubernetes", "list_resources_by_namespace",
        br#"{"api_version":"v1","kind":"Pod","namespace":"shop","label_selector":"app=web","field_selector":null}"#));
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["items"][0]["metadata"]["name"], "web-1");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/shop/pods?")
                && r.contains("labelSelector=app%3Dweb")),
        "{:?}",
        api.requests()
    );
    // policy-evaluator client.rs: a namespaced list of a cluster-wide kind fails.
    let cluster_wide = caps
        .call(
            "kubernetes",
            "list_resources_by_namespace",
            br#"{"api_version":"v1","kind":"Node","namespace":"shop"}"#,
        )
        .expect_err("nodes are cluster wide");
    assert_eq!(
        cluster_wide,
        "Callback evaluation failure: resource v1/Node is cluster wide. Cannot search for it inside of a namespace"
    );

    // get_resource, as the modules ask for RuntimeClasses (src/facts/cluster.rs): the
    // object as the API server returns it, cached 5 s unless disable_cache.
    let get = |name: &str, disable_cache: bool| {
        caps.call(
            "kubernetes",
            "get_resource",
            json!({"api_version": "node.k8s.io/v1",
            "kind": "RuntimeClass", "name": name, "namespace": null, "disable_cache": disable_cache,
            "field_masks": null})
            .to_string()
            .as_bytes(),
        )
    };
    assert_eq!(answer_json(get("hyperv-2019", false)), runtime_class());
    assert_eq!(answer_json(get("hyperv-2019", false)), runtime_class());
    let fetched = "GET /apis/node.k8s.io/v1/runtimeclasses/hyperv-2019";
    assert_eq!(api.count(fetched), 1, "the second answer is cached");
    assert_eq!(answer_json(get("hyperv-2019", true)), runtime_class());
    assert_eq!(api.count(fetched), 2, "disable_cache asks again");
    assert_eq!(
        get("missing", false).expect_err("no such RuntimeClass"),
        "Callback evaluation failure: Cannot find node.k8s.io/v1/RuntimeClass named 'missing' inside of namespace 'None'"
    );
    assert_eq!(
        caps.call("kubernetes", "get_resource", br#"{"api_version":"v1","kind":"Pod","name":"web-1","namespace":null,"disable_cache":true}"#)
            .expect_err("no namespace"),
        "Callback evaluation failure: Resource v1/Pod is namespaced, but no namespace was provided"
    );

    // Unknown kinds, unknown groups, refusals of the API server, bad payloads.
    assert_eq!(
        caps.call(
            "kubernetes",
            "list_resources_all",
            br#"{"api_version":"v1","kind":"Nope"}"#
        )
        .expect_err("unknown kind"),
        "Callback evaluation failure: Cannot find resource v1/Nope"
    );
    let group = caps
        .call(
            "kubernetes",
            "list_resources_all",
            br#"{"api_version":"widgets.example.com/v1","kind":"Widget"}"#,
        )
        .expect_err("unknown group");
    assert!(
        group.starts_with(
            "Callback evaluation failure: error finding resource widgets.example.com/v1 / Widget: "
        ),
        "{group}"
    );
    let forbidden = caps
        .call(
            "kubernetes",
            "list_resources_all",
            br#"{"api_version":"v1","kind":"Secret"}"#,
        )
        .expect_err("forbidden");
    assert!(
        forbidden.starts_with("Callback evaluation failure: ApiError: secrets is forbidden"),
        "{forbidden}"
    );
    let garbage = caps
        .call("kubernetes", "get_resource", b"{}")
        .expect_err("no fields");
    assert!(garbage.contains("missing field `api_version`"), "{garbage}");

    // can_i: a SubjectAccessReview, its status answered.
    let can_i = |user: &str| {
        answer_json(caps.call("kubernetes", "can_i", json!({"subject_access_review": {"groups": null,
            "resource_attributes": {"group": "", "name": null, "namespace": "shop", "resource": "pods",
                "subresource": null, "verb": "create", "version": "v1"}, "user": user},
            "disable_cache": true}).to_string().as_bytes()))
    };
    assert_eq!(
        can_i("admin"),
        json!({"allowed": true, "reason": "RBAC: allowed"})
    );
    assert_eq!(
        can_i("someone"),
        json!({"allowed": false, "reason": "no RBAC policy matched"})
    );

    // PolicyServer's contextAwareResources: a kind not granted is refused before any
    // request (policy-evaluator src/runtimes/callback.rs).
    let granted = kubernetes_capabilities_with(
        api.client.clone(),
        api.runtime.handle().clone(),
        ClusterOptions {
            allowed_resources: Some(
                [ContextAwareResource::new("v1", "Node")]
                    .into_iter()
                    .collect(),
            ),
            ..ClusterOptions::default()
        },
    );
    assert!(
        granted
            .call(
                "kubernetes",
                "list_resources_all",
                nodes_request.to_string().as_bytes()
            )
            .is_ok()
    );
    assert_eq!(
        granted.call("kubernetes", "get_resource", br#"{"api_version":"v1","kind":"Secret","name":"s","namespace":"shop","disable_cache":true}"#)
            .expect_err("not granted"),
        "Policy has not been granted access to Kubernetes v1/Secret resources. The violation has been reported."
    );
}

#[test]
fn kubernetes_host_calls_neither_deadlock_nor_panic_wherever_they_are_made() {
    let api = FakeApi::start(node_list("gke-windows-pool.json"));
    let request = br#"{"api_version":"v1","kind":"Node"}"#;
    let caps = api.capabilities();
    // Outside any runtime (this thread).
    assert!(
        caps.call("kubernetes", "list_resources_all", request)
            .is_ok()
    );
    // On a blocking-pool thread of the client's own runtime, as the webhook's wasm runs.
    let on_blocking = caps.clone();
    let answer =
        api.runtime
            .block_on(api.runtime.spawn_blocking(move || {
                on_blocking.call("kubernetes", "list_resources_all", request)
            }))
            .expect("the blocking task");
    assert!(answer.is_ok(), "{answer:?}");
    // On one of its workers, inside async code.
    let on_worker = caps.clone();
    let answer = api
        .runtime
        .block_on(
            api.runtime
                .spawn(async move { on_worker.call("kubernetes", "list_resources_all", request) }),
        )
        .expect("the task");
    assert!(answer.is_ok(), "{answer:?}");
    // An API server that does not answer in time: the call fails, it does not hang.
    let impatient = kubernetes_capabilities_with(
        api.client.clone(),
        api.runtime.handle().clone(),
        ClusterOptions {
            timeout: Duration::from_millis(300),
            ..ClusterOptions::default()
        },
    );
    let late = impatient
        .call(
            "kubernetes",
            "list_resources_by_namespace",
            br#"{"api_version":"v1","kind":"Pod","namespace":"slow"}"#,
        )
        .expect_err("too slow");
    assert!(late.contains("did not answer within 300 ms"), "{late}");
}

#[test]
fn the_flagship_reads_nodes_and_runtime_classes_from_the_api_server_through_the_webhook() {
    // nodeInventory (list_resources_all) and runtimeClassLookup (get_resource) answered
    // by the fake API server decide as the same answers given as fixtures.
    let api = FakeApi::start(node_list("aks-two-windows-builds.json"));
    let name = "windows-workloads";
    let mut settings = kubewarden::example_settings(name);
    settings["nodeInventory"] = json!(true);
    settings["runtimeClassLookup"] = json!(true);
    let server = WebhookServer::start(
        vec![WebhookPolicy::new(
            name,
            module(name),
            settings.clone(),
            true,
        )],
        WebhookOptions {
            capabilities: HostCapabilities::new()
                .fail("oci", "v1/oci_manifest_config", "no registry in this test")
                .merged(api.capabilities()),
            ..options()
        },
    )
    .expect("the webhook starts");
    let fixtures = HostCapabilities::new()
        .fail("oci", "v1/oci_manifest_config", "no registry in this test")
        .respond(
            "kubernetes",
            "list_resources_all",
            node_list("aks-two-windows-builds.json"),
        )
        .respond("kubernetes", "get_resource", runtime_class());
    let pod = |runtime_class: Option<&str>| {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "iis", "namespace": "shop"},
            "spec": {"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"}]}});
        if let Some(class) = runtime_class {
            pod["spec"]["runtimeClassName"] = json!(class);
        }
        Input::from_object(pod, "cluster").expect("a pod")
    };
    let client = Client::new();
    let ours = module(name);
    for input in [pod(None), pod(Some("hyperv-2019"))] {
        let instance = ours.instance_with(fixtures.clone()).expect("an instance");
        let expected = evaluate_one(&instance, &settings, &input);
        let review = client.review(&server, name, &input.request, Proto::H2);
        assert_answer_matches(&input.label, &input, &expected, &review);
        let decision = only_decision(&server);
        let kubernetes: Vec<&str> = decision
            .host_calls
            .iter()
            .filter(|c| c.namespace == "kubernetes")
            .map(|c| c.operation.as_str())
            .collect();
        let expected_calls: Vec<&str> = expected
            .host_calls
            .iter()
            .filter(|c| c.namespace == "kubernetes")
            .map(|c| c.operation.as_str())
            .collect();
        assert!(!kubernetes.is_empty(), "the module read the cluster");
        assert_eq!(kubernetes, expected_calls);
        for call in decision
            .host_calls
            .iter()
            .filter(|c| c.namespace == "kubernetes")
        {
            assert!(call.result.is_ok(), "{}: {:?}", call.operation, call.result);
        }
    }
    assert!(api.count("GET /api/v1/nodes") >= 2, "{:?}", api.requests());
    assert_eq!(
        api.count("GET /apis/node.k8s.io/v1/runtimeclasses/hyperv-2019"),
        1
    );
}

#[test]
fn merged_capabilities_let_the_later_answer_win() {
    let first = HostCapabilities::new()
        .respond("oci", "v1/manifest_digest", json!({"digest": "first"}))
        .respond("kubernetes", "can_i", json!({"allowed": false}));
    let second =
        HostCapabilities::new().respond("oci", "v1/manifest_digest", json!({"digest": "second"}));
    let merged = first.merged(second);
    assert_eq!(
        answer_json(merged.call("oci", "v1/manifest_digest", b"\"x\"")),
        json!({"digest": "second"})
    );
    assert_eq!(
        answer_json(merged.call("kubernetes", "can_i", b"{}")),
        json!({"allowed": false})
    );
}
