use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::gmsa::{GmsaUse, gmsa_uses};
use crate::k8s::workload::ContainerList;

declare_rule! {
    /// ID-7: an UPDATE changes the gMSA settings of an existing pod.
    ///
    /// A running container keeps the identity it started with; a changed
    /// `gmsaCredentialSpecName` or `gmsaCredentialSpec` would say another account than the
    /// one the container runs as, and the contents were authorized and inlined only at
    /// creation. The windows-gmsa webhook refuses such an update (403). This rule compares
    /// the pod's and each container's gMSA name and contents with the old pod's, for
    /// containers the old pod has (containers added by `kubectl debug` are checked as on
    /// creation), and reports removals too.
    ///
    /// Example: an update of a running pod that names another credential spec.
    ///
    /// ```yaml
    /// kind: Pod
    /// spec:
    ///   securityContext:
    ///     windowsOptions: {gmsaCredentialSpecName: webapp2}  # was webapp1
    /// ```
    GmsaUnchangedRule {
        id: "ID-7",
        summary: "UPDATE of a Pod that changes the gMSA credential spec name or contents of the pod or of an existing container",
        applies_to: AllPods,
        default_action: Reject,
        can_mutate: false,
        source: "windows-gmsa admission webhook (kubernetes-sigs/windows-gmsa admission-webhook/webhook.go validateUpdateRequest)",
        settings: [],
    }
}

/// Where a use is written, by owner: the pod, or a container list and name.
type Owner<'a> = Option<(ContainerList, &'a str)>;

fn owner_key<'a>(used: &GmsaUse<'a>) -> Owner<'a> {
    used.container.as_ref().map(|c| (c.list, c.name))
}

/// A use's name and contents; none for no use.
fn settings<'a>(used: Option<&GmsaUse<'a>>) -> (Option<&'a str>, Option<&'a str>) {
    used.map_or((None, None), |u| (u.name, u.contents))
}

impl Rule for GmsaUnchangedRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let Some(old_pod) = ctx.request.old_pod else {
            return;
        };
        let new_uses = gmsa_uses(ctx.workload);
        let old_uses = gmsa_uses(old_pod);
        // Each owner with gMSA settings now or before, in the new pod's order, then the
        // owners whose settings were removed.
        let mut owners: Vec<(Owner<'_>, Option<&GmsaUse<'_>>, Option<&GmsaUse<'_>>)> = Vec::new();
        for used in &new_uses {
            let key = owner_key(used);
            if used.owner_existed(old_pod) {
                let old = old_uses.iter().find(|o| owner_key(o) == key);
                owners.push((key, Some(used), old));
            }
        }
        for old in &old_uses {
            let key = owner_key(old);
            if !new_uses.iter().any(|u| owner_key(u) == key) {
                owners.push((key, None, Some(old)));
            }
        }
        for (_, new, old) in owners {
            let ((new_name, new_contents), (old_name, old_contents)) =
                (settings(new), settings(old));
            let what = match (new_name != old_name, new_contents != old_contents) {
                (true, true) => "gmsaCredentialSpecName and gmsaCredentialSpec",
                (true, false) => "gmsaCredentialSpecName",
                (false, true) => "gmsaCredentialSpec",
                (false, false) => continue,
            };
            // Reported where the pod has it now, else where the old pod had it.
            let Some(at) = new.or(old) else { continue };
            let path = if new_name != old_name {
                at.name_path()
            } else {
                at.contents_path()
            };
            findings.push(Finding::new(
                META.id,
                path,
                format!(
                    "the gMSA settings of an existing pod cannot change ({what} of {} modified); delete and recreate the pod, or let its controller replace it",
                    at.owner()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::acted_in_request;
    use serde_json::{Value, json};

    fn pod(pod_name: &str, container: Value) -> Value {
        json!({"kind": "Pod", "metadata": {"name": "web"}, "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": pod_name, "gmsaCredentialSpec": "{\"a\":1}"}},
            "containers": [
                {"name": "nginx0", "image": "iis:ltsc2022", "securityContext": {"windowsOptions": container}},
                {"name": "nginx1", "image": "iis:ltsc2022"}]}})
    }

    fn update(new: &Value, old: &Value) -> Vec<(String, String)> {
        acted_in_request(
            &GmsaUnchangedRule,
            new,
            Value::Null,
            &crate::facts::host::NoHostCalls,
            None,
            Some(old),
        )
        .into_iter()
        .map(|a| (a.finding.path.to_string(), a.finding.message))
        .collect()
    }

    #[test]
    fn rejects_a_changed_name_or_contents() {
        // integration_test.go's "trying to update the GMSA name" case, at both levels.
        let old = pod(
            "webapp1",
            json!({"gmsaCredentialSpecName": "webapp2", "gmsaCredentialSpec": "{}"}),
        );
        let new = pod(
            "webapp2",
            json!({"gmsaCredentialSpecName": "webapp2", "gmsaCredentialSpec": "{\"b\":2}"}),
        );
        assert_eq!(
            update(&new, &old),
            [
                (
                    "spec.securityContext.windowsOptions.gmsaCredentialSpecName".to_string(),
                    "the gMSA settings of an existing pod cannot change (gmsaCredentialSpecName of the pod modified); delete and recreate the pod, or let its controller replace it".to_string()
                ),
                (
                    "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpec".to_string(),
                    "the gMSA settings of an existing pod cannot change (gmsaCredentialSpec of container \"nginx0\" modified); delete and recreate the pod, or let its controller replace it".to_string()
                ),
            ]
        );
        // Removed, and added to a container that had none.
        let removed = pod("webapp1", json!({}));
        let mut added = pod(
            "webapp1",
            json!({"gmsaCredentialSpecName": "webapp2", "gmsaCredentialSpec": "{}"}),
        );
        added["spec"]["containers"][1]["securityContext"] =
            json!({"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}});
        let found = update(&removed, &old);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.contains(
            "(gmsaCredentialSpecName and gmsaCredentialSpec of container \"nginx0\" modified)"
        ));
        let found = update(&added, &old);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].0,
            "spec.containers[1].securityContext.windowsOptions.gmsaCredentialSpecName"
        );
    }

    #[test]
    fn accepts_updates_that_keep_the_gmsa_settings_and_creates() {
        let old = pod("webapp1", json!({"gmsaCredentialSpecName": "webapp2"}));
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("iis:ltsc2025");
        // An ephemeral container added with its own credential spec is not a change.
        new["spec"]["ephemeralContainers"] = json!([{"name": "debug",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}}}]);
        assert!(update(&new, &old).is_empty());
        // A CREATE has no old pod.
        let created = acted_in_request(
            &GmsaUnchangedRule,
            &new,
            Value::Null,
            &crate::facts::host::NoHostCalls,
            None,
            None,
        );
        assert!(created.is_empty());
    }
}
