use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::windows::base_image::large_windows_base;

declare_rule! {
    /// IMG-5: a Windows container pulls a multi-gigabyte image again at every start.
    ///
    /// Windows Server Core, Windows Server and Windows images are gigabytes (Nano Server is
    /// the small base); with `imagePullPolicy: Always` the kubelet pulls the image at every
    /// start of the container, so each restart or rescheduling waits minutes for the
    /// registry (Azure/AKS#2114, #1677). `Always` is also the API server's default when the
    /// image has no tag or the tag `latest` (`SetDefaults_Container`). The rule reports a
    /// container whose image its reference shows to be one of those bases (the repository,
    /// or a `servercore` tag) and whose pull policy is, or defaults to, `Always`; the fix is
    /// a versioned tag and `IfNotPresent`. It warns by default; `rules: {IMG-5: off}` turns
    /// it off where a registry cache makes pulls cheap.
    ///
    /// Example: an IIS image (Server Core based) pulled at every start.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: web
    ///     image: mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022
    ///     imagePullPolicy: Always
    /// ```
    LargeImageAlwaysPulledRule {
        id: "IMG-5",
        summary: "Windows container whose image is a multi-gigabyte base (Server Core, Server, Windows) pulled with imagePullPolicy Always (set, or the default of an untagged or latest image)",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: false,
        source: "Microsoft container base images (sizes); kubelet imagePullPolicy semantics and SetDefaults_Container; Azure/AKS#2114, #1677",
        settings: [],
    }
}

impl Rule for LargeImageAlwaysPulledRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        // The references as the pass already parsed them (an unparsable one is IMG-1's).
        for known in ctx.container_images(false) {
            let (container, written) = (known.container, known.image);
            let Ok(image) = known.reference.as_ref() else {
                continue;
            };
            let Some(base) = large_windows_base(image) else {
                continue;
            };
            let why = match container.image_pull_policy {
                Some("Always") => "imagePullPolicy Always",
                Some(_) => continue,
                None if image.effective_tag() == Some("latest") => {
                    "imagePullPolicy Always (the default for an image without a tag or with the tag latest)"
                }
                None => continue,
            };
            findings.push(Finding::new(
                META.id,
                container.path().field("imagePullPolicy"),
                format!(
                    "container {:?} pulls {written:?}, a {base} image of several gigabytes, with {why}: every start of the container pulls it again, which takes minutes on Windows nodes; use a versioned tag with imagePullPolicy IfNotPresent",
                    container.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, described, findings};
    use serde_json::{Value, json};

    fn pod(containers: Value) -> Value {
        json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": containers}})
    }

    #[test]
    fn warns_about_large_images_pulled_at_every_start() {
        let object = pod(json!([
            {"name": "web", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
             "imagePullPolicy": "Always"},
            {"name": "legacy", "image": "microsoft/iis"}]));
        let found = acted(&LargeImageAlwaysPulledRule, &object, Value::Null);
        let lines = described(&found);
        assert_eq!(
            lines,
            [
                (
                    "spec.containers[0].imagePullPolicy".to_string(),
                    "container \"web\" pulls \"mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022\", a Windows Server Core image of several gigabytes, with imagePullPolicy Always: every start of the container pulls it again, which takes minutes on Windows nodes; use a versioned tag with imagePullPolicy IfNotPresent".to_string(),
                    Action::Warn
                ),
                (
                    "spec.containers[1].imagePullPolicy".to_string(),
                    "container \"legacy\" pulls \"microsoft/iis\", a Windows Server Core image of several gigabytes, with imagePullPolicy Always (the default for an image without a tag or with the tag latest): every start of the container pulls it again, which takes minutes on Windows nodes; use a versioned tag with imagePullPolicy IfNotPresent".to_string(),
                    Action::Warn
                ),
            ]
        );
    }

    #[test]
    fn accepts_cached_pulls_small_bases_and_unknown_images() {
        let object = pod(json!([
            {"name": "a", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"},
            {"name": "b", "image": "mcr.microsoft.com/windows/servercore:ltsc2022", "imagePullPolicy": "IfNotPresent"},
            {"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022", "imagePullPolicy": "Always"},
            {"name": "d", "image": "registry.example.com/app:latest", "imagePullPolicy": "Always"},
            {"name": "e", "image": "mcr.microsoft.com/windows/servercore@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]));
        assert!(findings(&LargeImageAlwaysPulledRule, &object).is_empty());
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "a", "image": "ubuntu:latest", "imagePullPolicy": "Always"}]}});
        assert!(findings(&LargeImageAlwaysPulledRule, &linux).is_empty());
    }
}
