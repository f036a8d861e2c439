//! A cluster with gMSA for the end-to-end tests of the gMSA admission (gmsa.rs, and
//! real_engine.rs through kwctl): the credential spec of examples/gmsa/, and the host
//! calls answered as policy-evaluator answers them.

use serde_json::{Value, json};
use wapc_test_host::{HostCapabilities, workspace_root};
use windows_workload_rules::facts::gmsa::go_json;

/// The credential spec `webapp1` of examples/gmsa/credential-spec.yaml.
pub fn webapp1() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("examples/gmsa/credential-spec.yaml"))
        .expect("examples/gmsa/credential-spec.yaml");
    serde_yaml::from_str(&text).expect("a GMSACredentialSpec")
}

/// `webapp1`'s contents as the webhook inlines them (Go's `json.Marshal` of `credspec`).
pub fn inlined() -> String {
    go_json(&webapp1()["credspec"])
}

/// A cluster with credential specs `webapp1` and `empty` (no `credspec`), where only
/// `system:serviceaccount:webapps:webapp` may use `webapp1`; answers as policy-evaluator
/// does (an unknown object is its "Cannot find" error).
pub fn cluster() -> HostCapabilities {
    HostCapabilities::new()
        .handler("kubernetes", "get_resource", |call| {
            let request = call.payload_json().unwrap_or_default();
            let name = request["name"].as_str().unwrap_or_default();
            match (request["kind"].as_str(), name) {
                (Some("GMSACredentialSpec"), "webapp1") => Ok(webapp1().to_string().into_bytes()),
                (Some("GMSACredentialSpec"), "empty") => Ok(json!({"apiVersion": "windows.k8s.io/v1",
                    "kind": "GMSACredentialSpec", "metadata": {"name": "empty"}})
                .to_string()
                .into_bytes()),
                _ => Err(format!(
                    "Cannot find windows.k8s.io/v1/GMSACredentialSpec named '{name}' inside of namespace 'None'"
                )),
            }
        })
        .handler("kubernetes", "can_i", |call| {
            let request = call.payload_json().unwrap_or_default();
            let review = &request["subject_access_review"];
            let attributes = &review["resource_attributes"];
            let allowed = review["user"] == "system:serviceaccount:webapps:webapp"
                && attributes["namespace"] == "webapps"
                && attributes["group"] == "windows.k8s.io"
                && attributes["resource"] == "gmsacredentialspecs"
                && attributes["verb"] == "use"
                && attributes["name"] == "webapp1";
            Ok(json!({"allowed": allowed}).to_string().into_bytes())
        })
}
