//! gMSA, read once: where a pod names a credential spec and brings its contents (the
//! pod's `securityContext.windowsOptions` and every container's, init and ephemeral
//! containers included), the service account the kubelet runs it as, and how the
//! cluster answers for a `GMSACredentialSpec` (`windows.k8s.io/v1`, cluster-scoped) and
//! for the service account's permission to `use` it. ID-2 reads the fields from here;
//! the rules of the gMSA admission (issue 26) read the look-ups too.
//!
//! What the windows-gmsa admission webhook does, which these facts let a policy do
//! (kubernetes-sigs/windows-gmsa, `admission-webhook/webhook.go` and `kube_client.go`):
//! it inlines a named credential spec as the JSON of its `credspec` field marshalled by
//! Go's `encoding/json` (compact, map keys sorted, `<`, `>` and `&` escaped), authorises
//! the pod's service account with a SubjectAccessReview (verb `use`, group
//! `windows.k8s.io`, resource `gmsacredentialspecs`, the name, the pod's namespace), and
//! compares contents given with a name to the named resource's as JSON objects (key
//! order and whitespace do not matter).

use crate::facts::host::HostCalls;
use crate::k8s::path::FieldPath;
use crate::k8s::workload::{ContainerRef, Workload};
use k8s_openapi::api::core::v1::WindowsSecurityContextOptions;
use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    CanIRequest, GetResourceRequest, ResourceAttributes, SubjectAccessReview,
};
use serde_json::Value;

/// The API group, version and resource of credential specs.
pub const GMSA_GROUP: &str = "windows.k8s.io";
pub const GMSA_API_VERSION: &str = "windows.k8s.io/v1";
pub const GMSA_KIND: &str = "GMSACredentialSpec";
pub const GMSA_RESOURCE: &str = "gmsacredentialspecs";

/// One `windowsOptions` that names a credential spec or carries contents.
#[derive(Debug, Clone)]
pub struct GmsaUse<'a> {
    /// The container whose own `windowsOptions` it is; `None` for the pod's.
    pub container: Option<ContainerRef<'a>>,
    /// `<pod spec>.securityContext.windowsOptions` or the container's.
    pub options_path: FieldPath,
    pub name: Option<&'a str>,
    pub contents: Option<&'a str>,
}

impl<'a> GmsaUse<'a> {
    /// The name, when it is one the API server accepts (a DNS-1123 subdomain): the one
    /// the gMSA admission looks up. A malformed name is ID-2's to report.
    pub fn checked_name(&self) -> Option<&'a str> {
        self.name
            .filter(|name| crate::windows::names::dns1123_subdomain_error(name).is_none())
    }

    /// Whether the pod as it was (`old_pod`, on an UPDATE) has this use's owner: the pod
    /// itself always, a container when the old pod has one of that list and name.
    pub fn owner_existed(&self, old_pod: &Workload) -> bool {
        self.container.as_ref().is_none_or(|c| {
            old_pod
                .containers()
                .any(|old| old.list == c.list && old.name == c.name)
        })
    }

    pub fn name_path(&self) -> FieldPath {
        self.options_path.field("gmsaCredentialSpecName")
    }

    pub fn contents_path(&self) -> FieldPath {
        self.options_path.field("gmsaCredentialSpec")
    }

    /// `pod` or `container "<name>"` (`init container`, `ephemeral container`), as the
    /// messages name where a use is written.
    pub fn owner(&self) -> String {
        match &self.container {
            None => "the pod".to_string(),
            Some(c) => {
                let list = match c.list {
                    crate::k8s::workload::ContainerList::Containers => "container",
                    crate::k8s::workload::ContainerList::InitContainers => "init container",
                    crate::k8s::workload::ContainerList::EphemeralContainers => {
                        "ephemeral container"
                    }
                };
                format!("{list} {:?}", c.name)
            }
        }
    }
}

fn use_of<'a>(
    options: &'a WindowsSecurityContextOptions,
    container: Option<ContainerRef<'a>>,
    options_path: FieldPath,
) -> Option<GmsaUse<'a>> {
    let name = options.gmsa_credential_spec_name.as_deref();
    let contents = options.gmsa_credential_spec.as_deref();
    (name.is_some() || contents.is_some()).then_some(GmsaUse {
        container,
        options_path,
        name,
        contents,
    })
}

/// Every place the pod names a credential spec or carries its contents: the pod's own
/// `windowsOptions` first, then each container's in [`Workload::containers`] order (the
/// webhook's order: pod, then containers by index).
pub fn gmsa_uses(workload: &Workload) -> Vec<GmsaUse<'_>> {
    let pod = workload
        .pod_windows_options()
        .and_then(|o| use_of(o, None, workload.pod_windows_options_path()));
    let containers = workload.containers().filter_map(|c| {
        c.windows_options()
            .and_then(|o| use_of(o, Some(c), c.windows_options_path()))
    });
    pod.into_iter().chain(containers).collect()
}

/// The service account a pod runs as: `serviceAccountName`, else the deprecated
/// `serviceAccount` (its alias, `Convert_v1_PodSpec_To_core_PodSpec`), else `default`
/// (the ServiceAccount admission plugin sets it on every Pod before the webhooks; a
/// template's pods get it at their creation).
pub fn service_account(workload: &Workload) -> &str {
    let spec = &workload.spec;
    spec.service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(spec.service_account.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or("default")
}

/// What the cluster says of a credential spec name.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSpec {
    /// The resource, its `credspec` and that as the webhook inlines it.
    Found { credspec: Value, inlined: String },
    /// No `GMSACredentialSpec` of that name (the webhook: 404 "cred spec X does not exist").
    NotFound,
    /// The resource has no `credspec`, or an empty one (the webhook: 417).
    NoCredspec,
    /// The look-up failed: no permission, no CRD, no answer.
    Failed(String),
}

/// Reads `GMSACredentialSpec` `name` from the cluster (`kubernetes/get_resource`).
pub fn credential_spec(host: &dyn HostCalls, name: &str) -> CredentialSpec {
    let request = GetResourceRequest {
        api_version: GMSA_API_VERSION.to_string(),
        kind: GMSA_KIND.to_string(),
        name: name.to_string(),
        namespace: None,
        disable_cache: false,
        field_masks: None,
    };
    let payload = match serde_json::to_vec(&request) {
        Ok(p) => p,
        Err(e) => return CredentialSpec::Failed(e.to_string()),
    };
    let answer = match host.call("kubernetes", "get_resource", &payload) {
        Ok(answer) => answer,
        Err(e) if is_not_found(&e) => return CredentialSpec::NotFound,
        Err(e) => return CredentialSpec::Failed(format!("kubernetes/get_resource: {e}")),
    };
    let object: Value = match serde_json::from_slice(&answer) {
        Ok(v) => v,
        Err(e) => {
            return CredentialSpec::Failed(format!(
                "kubernetes/get_resource: the answer is not a {GMSA_KIND} ({e})"
            ));
        }
    };
    match object.get("credspec") {
        None | Some(Value::Null) => CredentialSpec::NoCredspec,
        Some(Value::String(s)) if s.is_empty() => CredentialSpec::NoCredspec,
        Some(credspec) => CredentialSpec::Found {
            inlined: go_json(credspec),
            credspec: credspec.clone(),
        },
    }
}

/// Whether a host error says the object does not exist: policy-evaluator answers
/// "Cannot find windows.k8s.io/v1/GMSACredentialSpec named '<name>' ..." (its
/// `get_resource`), an API server's status says `NotFound`.
fn is_not_found(error: &str) -> bool {
    error.contains(&format!("Cannot find {GMSA_API_VERSION}/{GMSA_KIND} named"))
        || error.contains("NotFound")
        || error.trim_end().ends_with("not found")
}

/// Whether `service_account` of `namespace` may `use` credential spec `name`: the
/// SubjectAccessReview's `allowed && !denied`, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub allowed: bool,
    pub reason: String,
}

/// The `kubernetes/can_i` request for a service account's `use` of a credential spec,
/// as the webhook builds its SubjectAccessReview (`serviceaccount.UserInfo`: user
/// `system:serviceaccount:<ns>:<name>`, groups `system:serviceaccounts` and
/// `system:serviceaccounts:<ns>`; the namespace lets a RoleBinding there grant it).
pub fn use_request(namespace: &str, service_account: &str, name: &str) -> CanIRequest {
    CanIRequest {
        subject_access_review: SubjectAccessReview {
            groups: Some(vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ]),
            resource_attributes: ResourceAttributes {
                group: Some(GMSA_GROUP.to_string()),
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                resource: GMSA_RESOURCE.to_string(),
                subresource: None,
                verb: "use".to_string(),
                version: Some("v1".to_string()),
            },
            user: format!("system:serviceaccount:{namespace}:{service_account}"),
        },
        disable_cache: false,
    }
}

/// Asks the cluster whether the service account may use the credential spec.
pub fn may_use(
    host: &dyn HostCalls,
    namespace: &str,
    service_account: &str,
    name: &str,
) -> Result<Authorization, String> {
    let payload = serde_json::to_vec(&use_request(namespace, service_account, name))
        .map_err(|e| e.to_string())?;
    let answer = host
        .call("kubernetes", "can_i", &payload)
        .map_err(|e| format!("kubernetes/can_i: {e}"))?;
    let status: Value = serde_json::from_slice(&answer).map_err(|e| {
        format!("kubernetes/can_i: the answer is not a SubjectAccessReview status ({e})")
    })?;
    let flag = |key: &str| status.get(key).and_then(Value::as_bool).unwrap_or(false);
    Ok(Authorization {
        allowed: flag("allowed") && !flag("denied"),
        reason: status
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A JSON value as Go's `json.Marshal` writes an unstructured object: compact, object
/// keys sorted at every level, `<`, `>`, `&`, U+2028 and U+2029 escaped (Go's default
/// HTML escaping), other escapes as serde_json writes them (the same as Go's).
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(value, &mut out);
    out
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_go_string(s: &str, out: &mut String) {
    let quoted = Value::String(s.to_string()).to_string();
    for c in quoted.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// Whether contents given in a pod equal the resource's `credspec`: the same JSON
/// object, whatever the key order and whitespace (`compareCredSpecContents`: equal
/// text, else equal once both are decoded as objects). Contents that are not a JSON
/// object are an error that says so.
pub fn contents_match(contents: &str, credspec: &Value) -> Result<bool, String> {
    if contents == go_json(credspec) {
        return Ok(true);
    }
    let given: Value = serde_json::from_str(contents)
        .map_err(|e| format!("gmsaCredentialSpec is not JSON ({e})"))?;
    if !given.is_object() {
        return Err("gmsaCredentialSpec is not a JSON object".to_string());
    }
    Ok(json_equal(&given, credspec))
}

/// JSON equality with numbers compared as Go decodes them (float64).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_equal(v, w))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use serde_json::json;

    /// `admission-webhook/integration_tests/templates/credspec-0.yml`'s credspec.
    fn credspec_0() -> Value {
        json!({"ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
                {"Name": "WebApplication0", "Scope": "CONTOSO"},
                {"Name": "WebApplication0", "Scope": "contoso.com"}]},
            "CmsPlugins": ["ActiveDirectory"],
            "DomainJoinConfig": {"DnsName": "contoso.com", "DnsTreeName": "contoso.com",
                "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a", "MachineAccountName": "WebApplication0",
                "NetBiosName": "CONTOSO", "Sid": "S-1-5-21-2126729477-2524075714-3094792973"}})
    }

    #[test]
    fn inlined_contents_are_go_marshalled() {
        // The integration test's expectedCredSpec0 (integration_test.go).
        assert_eq!(
            go_json(&credspec_0()),
            r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524075714-3094792973"}}"#
        );
        // Keys sorted whatever order they came in; HTML characters escaped as Go does
        // (expectedCredSpecWithHostAgentConfig: "contoso.com:gmsaccg:\u003cpassword\u003e").
        let host_agent =
            json!({"Z": 1, "A": {"PluginInput": "contoso.com:gmsaccg:<password>", "And": "a&b"}});
        assert_eq!(
            go_json(&host_agent),
            r#"{"A":{"And":"a\u0026b","PluginInput":"contoso.com:gmsaccg:\u003cpassword\u003e"},"Z":1}"#
        );
    }

    #[test]
    fn contents_compare_as_json_objects() {
        let spec = credspec_0();
        assert_eq!(contents_match(&go_json(&spec), &spec), Ok(true));
        // Reordered keys and whitespace: still the same credential spec.
        let reordered = r#"{ "DomainJoinConfig": {"Sid":"S-1-5-21-2126729477-2524075714-3094792973","NetBiosName":"CONTOSO","MachineAccountName":"WebApplication0","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","DnsTreeName":"contoso.com","DnsName":"contoso.com"},
            "CmsPlugins": ["ActiveDirectory"],
            "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [{"Scope":"CONTOSO","Name":"WebApplication0"},{"Scope":"contoso.com","Name":"WebApplication0"}]} }"#;
        assert_eq!(contents_match(reordered, &spec), Ok(true));
        // Array order matters (reflect.DeepEqual).
        let mut swapped = spec.clone();
        swapped["ActiveDirectoryConfig"]["GroupManagedServiceAccounts"] = json!([
            {"Name": "WebApplication0", "Scope": "contoso.com"},
            {"Name": "WebApplication0", "Scope": "CONTOSO"}]);
        assert_eq!(contents_match(&go_json(&swapped), &spec), Ok(false));
        assert_eq!(
            contents_match(r#"{"CmsPlugins":["ActiveDirectory"]}"#, &spec),
            Ok(false)
        );
        // Not JSON, not an object: an error that says so.
        assert!(
            contents_match("i ain't no JSON object", &spec)
                .unwrap_err()
                .starts_with("gmsaCredentialSpec is not JSON (")
        );
        assert_eq!(
            contents_match("[1]", &spec),
            Err("gmsaCredentialSpec is not a JSON object".to_string())
        );
        assert_eq!(contents_match(r#"{"n": 1.0}"#, &json!({"n": 1})), Ok(true));
    }

    #[test]
    fn every_use_is_found_in_the_webhooks_order() {
        let pod = json!({"kind": "Pod", "spec": {
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs1"}},
            "containers": [
                {"name": "nginx0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs0"}}},
                {"name": "nginx1"},
                {"name": "nginx2", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs2", "gmsaCredentialSpec": "{}"}}}],
            "initContainers": [{"name": "init", "securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{}"}}}],
            "ephemeralContainers": [{"name": "debug", "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}]}});
        let workload = Workload::from_object(WorkloadKind::Pod, &pod).unwrap();
        let uses: Vec<(String, String, Option<&str>, Option<&str>)> = gmsa_uses(&workload)
            .iter()
            .map(|u| (u.owner(), u.name_path().to_string(), u.name, u.contents))
            .collect();
        assert_eq!(
            uses,
            [
                (
                    "the pod".into(),
                    "spec.securityContext.windowsOptions.gmsaCredentialSpecName".into(),
                    Some("cs1"),
                    None
                ),
                (
                    "container \"nginx0\"".into(),
                    "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
                        .into(),
                    Some("cs0"),
                    None
                ),
                (
                    "container \"nginx2\"".into(),
                    "spec.containers[2].securityContext.windowsOptions.gmsaCredentialSpecName"
                        .into(),
                    Some("cs2"),
                    Some("{}")
                ),
                (
                    "init container \"init\"".into(),
                    "spec.initContainers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
                        .into(),
                    None,
                    Some("{}")
                ),
            ]
        );
        assert_eq!(service_account(&workload), "default");
    }

    #[test]
    fn the_service_account_is_the_pods_or_its_alias() {
        let with = |spec: Value| {
            let object = json!({"kind": "Pod", "spec": spec});
            Workload::from_object(WorkloadKind::Pod, &object).unwrap()
        };
        let named =
            with(json!({"serviceAccountName": "web", "serviceAccount": "old", "containers": []}));
        assert_eq!(service_account(&named), "web");
        let alias = with(json!({"serviceAccount": "old", "containers": []}));
        assert_eq!(service_account(&alias), "old");
    }

    struct Answer(Result<Vec<u8>, String>);

    impl HostCalls for Answer {
        fn call(&self, _: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, String> {
            self.0.clone()
        }
    }

    #[test]
    fn the_clusters_answers_are_told_apart() {
        let found = Answer(Ok(
            json!({"apiVersion": GMSA_API_VERSION, "kind": GMSA_KIND,
            "metadata": {"name": "cs0"}, "credspec": credspec_0()})
            .to_string()
            .into_bytes(),
        ));
        assert!(
            matches!(credential_spec(&found, "cs0"), CredentialSpec::Found { inlined, .. } if inlined == go_json(&credspec_0()))
        );
        let empty = Answer(Ok(
            br#"{"kind":"GMSACredentialSpec","metadata":{"name":"cs0"}}"#.to_vec(),
        ));
        assert_eq!(credential_spec(&empty, "cs0"), CredentialSpec::NoCredspec);
        // policy-evaluator's answer for an object that does not exist.
        let missing = Answer(Err("Callback evaluation failure: Cannot find windows.k8s.io/v1/GMSACredentialSpec named 'cs9' inside of namespace 'None'".into()));
        assert_eq!(credential_spec(&missing, "cs9"), CredentialSpec::NotFound);
        let forbidden = Answer(Err(
            "gmsacredentialspecs.windows.k8s.io \"cs0\" is forbidden".into(),
        ));
        assert_eq!(
            credential_spec(&forbidden, "cs0"),
            CredentialSpec::Failed(
                "kubernetes/get_resource: gmsacredentialspecs.windows.k8s.io \"cs0\" is forbidden"
                    .into()
            )
        );
    }

    #[test]
    fn authorization_is_allowed_and_not_denied() {
        let request = serde_json::to_value(use_request("web", "app", "cs0")).unwrap();
        assert_eq!(
            request,
            json!({"subject_access_review": {
                "groups": ["system:serviceaccounts", "system:serviceaccounts:web"],
                "resource_attributes": {"group": "windows.k8s.io", "name": "cs0", "namespace": "web",
                    "resource": "gmsacredentialspecs", "subresource": null, "verb": "use", "version": "v1"},
                "user": "system:serviceaccount:web:app"},
                "disable_cache": false})
        );
        let answer = |status: Value| Answer(Ok(status.to_string().into_bytes()));
        assert_eq!(
            may_use(&answer(json!({"allowed": true})), "web", "app", "cs0"),
            Ok(Authorization {
                allowed: true,
                reason: String::new()
            })
        );
        assert_eq!(
            may_use(
                &answer(json!({"allowed": true, "denied": true, "reason": "webhook says no"})),
                "web",
                "app",
                "cs0"
            ),
            Ok(Authorization {
                allowed: false,
                reason: "webhook says no".into()
            })
        );
        assert_eq!(
            may_use(&Answer(Err("timeout".into())), "web", "app", "cs0"),
            Err("kubernetes/can_i: timeout".to_string())
        );
    }
}
