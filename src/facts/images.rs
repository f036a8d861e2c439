//! What is known about the image of each container of a pod, and from where: the
//! settings' `imageMappings`, the built-in classification of the reference, or (when
//! `imageLookup.enabled`) the registry, asked through Kubewarden's OCI host capability
//! only when the reference and the mappings do not tell.
//!
//! The lookup asks `oci` / `v1/oci_manifest` first. An index lists its platforms (`os`,
//! `os.version`), which is all that is needed: `v1/oci_manifest_config` is not asked for
//! an index, because the host resolves an index to the host's own platform (Linux), not
//! to the pod's. A single image manifest is followed by `v1/oci_manifest_config`, whose
//! config carries `os` and `os.version`. Answers are read leniently (only the fields
//! needed, whatever else they carry); an answer of no known shape is a failed lookup.

use crate::facts::host::HostCalls;
use crate::k8s::first_seen::FirstSeen;
use crate::k8s::path::FieldPath;
use crate::k8s::workload::{ContainerRef, Workload};
use crate::settings::Settings;
use crate::windows::image::{
    ClassifiedBy, ImageOs, ImageReference, ImageReferenceError, WindowsBuild, classify_with,
};
use crate::windows::os::Os;
use serde_json::Value;
use std::collections::BTreeSet;
use std::rc::Rc;

/// The platforms an image offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms {
    /// One OS for a single-platform image; an index may offer both. Never empty.
    pub oses: BTreeSet<Os>,
    /// The Windows builds offered, when every Windows platform names its build; `None`
    /// when the build is not known (or some Windows platform names none, as
    /// build-agnostic HostProcess images do).
    pub windows_builds: Option<BTreeSet<WindowsBuild>>,
}

impl Platforms {
    fn from_image_os(os: ImageOs) -> Option<Platforms> {
        match os {
            ImageOs::Unknown => None,
            ImageOs::Linux => Some(Platforms {
                oses: BTreeSet::from([Os::Linux]),
                windows_builds: None,
            }),
            ImageOs::Windows(build) => Some(Platforms {
                oses: BTreeSet::from([Os::Windows]),
                windows_builds: build.map(|b| BTreeSet::from([b])),
            }),
        }
    }

    pub fn offers(&self, os: Os) -> bool {
        self.oses.contains(&os)
    }

    /// `windows`, `linux and windows 10.0.17763 (ltsc2019), 10.0.20348 (ltsc2022)`.
    pub fn describe(&self) -> String {
        let oses: Vec<String> = self
            .oses
            .iter()
            .map(|os| match (os, &self.windows_builds) {
                (Os::Windows, Some(builds)) => {
                    let builds: Vec<String> = builds.iter().map(ToString::to_string).collect();
                    format!("windows {}", builds.join(", "))
                }
                (os, _) => os.to_string(),
            })
            .collect();
        oses.join(" and ")
    }
}

/// Where the knowledge of an image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Reference,
    Mapping(usize),
    Registry,
}

/// One container's image and what is known about it.
#[derive(Debug, Clone)]
pub struct ContainerImage<'a> {
    pub container: ContainerRef<'a>,
    /// The reference as written.
    pub image: &'a str,
    /// Shared by the containers that name the same image.
    pub reference: Rc<Result<ImageReference, ImageReferenceError>>,
    /// `None`: the OS is not known.
    pub platforms: Option<Platforms>,
    pub source: Source,
    /// Why a registry lookup failed (the knowledge is then what the reference says).
    pub lookup_error: Option<String>,
}

impl ContainerImage<'_> {
    pub fn path(&self) -> FieldPath {
        self.container.path().field("image")
    }

    /// The Windows builds the image is known to offer (`None`: unknown).
    pub fn windows_builds(&self) -> Option<&BTreeSet<WindowsBuild>> {
        self.platforms
            .as_ref()
            .filter(|p| p.offers(Os::Windows))
            .and_then(|p| p.windows_builds.as_ref())
    }

    /// `X is a windows 10.0.17763 (ltsc2019) image (by its reference)`, for messages.
    pub fn describe(&self, settings: &Settings) -> String {
        let Some(platforms) = &self.platforms else {
            return format!("{}: OS unknown", self.image);
        };
        let source = match self.source {
            Source::Reference => "by its reference".to_string(),
            Source::Mapping(i) => format!(
                "by settings.imageMappings[{i}] ({})",
                settings
                    .image_mappings
                    .get(i)
                    .map_or("", |m| m.image_text.as_str())
            ),
            Source::Registry => "according to its registry".to_string(),
        };
        if platforms.oses.len() > 1 {
            format!("{} offers {} ({source})", self.image, platforms.describe())
        } else {
            format!(
                "{} is a {} image ({source})",
                self.image,
                platforms.describe()
            )
        }
    }
}

/// Whether a rule that asks for registry look-ups gets them: only with
/// `imageLookup.enabled`.
pub fn looks_up(settings: &Settings, lookup: bool) -> bool {
    lookup && settings.image_lookup.enabled
}

/// The images of every container of the pod (containers, initContainers,
/// ephemeralContainers; those without an image are skipped) as their references and the
/// settings' `imageMappings` tell, without asking a registry. Each distinct image is parsed and classified once:
/// the containers of a pod often share one (sidecars, init containers).
pub fn known_images<'a>(workload: &'a Workload, settings: &Settings) -> Vec<ContainerImage<'a>> {
    let mut known: Vec<ContainerImage<'a>> = Vec::new();
    // The index in `known` of each distinct image's first container.
    let mut distinct: FirstSeen<&'a str, usize> = FirstSeen::default();
    for container in workload.containers() {
        let Some(image) = container.image else {
            continue;
        };
        if let Some(&first) = distinct.get(&image) {
            let same = ContainerImage {
                container,
                ..known[first].clone()
            };
            known.push(same);
            continue;
        }
        let reference = ImageReference::parse(image);
        let (platforms, source) = match &reference {
            Ok(r) => {
                let (os, by) = classify_with(r, &settings.image_mappings);
                let source = match by {
                    ClassifiedBy::Reference => Source::Reference,
                    ClassifiedBy::Mapping(i) => Source::Mapping(i),
                };
                (Platforms::from_image_os(os), source)
            }
            Err(_) => (None, Source::Reference),
        };
        distinct.insert(image, known.len());
        known.push(ContainerImage {
            container,
            image,
            reference: Rc::new(reference),
            platforms,
            source,
            lookup_error: None,
        });
    }
    known
}

/// `known` with the images whose OS, or Windows build, it does not tell looked up in
/// their registry through `host` (each image asked once: the host answers are memoized
/// per request).
pub fn looked_up<'a>(
    known: &[ContainerImage<'a>],
    host: &dyn HostCalls,
) -> Vec<ContainerImage<'a>> {
    known
        .iter()
        .map(|image| {
            let mut image = image.clone();
            let untold = match &image.platforms {
                None => true,
                Some(p) => p.offers(Os::Windows) && p.windows_builds.is_none(),
            };
            if untold && image.reference.is_ok() {
                match look_up(host, image.image) {
                    Ok(Some(platforms)) => {
                        image.platforms = Some(platforms);
                        image.source = Source::Registry;
                    }
                    Ok(None) => {}
                    Err(e) => image.lookup_error = Some(e),
                }
            }
            image
        })
        .collect()
}

/// Asks the registry for the platforms of `image`: `Ok(None)` when its answer names no
/// OS, `Err` when the lookup failed or the answer has no known shape.
pub fn look_up(host: &dyn HostCalls, image: &str) -> Result<Option<Platforms>, String> {
    let payload = serde_json::to_vec(image).map_err(|e| e.to_string())?;
    let manifest = ask(host, "v1/oci_manifest", &payload)?;
    if let Some(entries) = manifest.get("manifests").and_then(Value::as_array) {
        let platforms = entries
            .iter()
            .filter_map(|entry| entry.get("platform"))
            .map(|p| (p.get("os"), p.get("os.version")));
        return Ok(platforms_of(platforms));
    }
    if !manifest.get("config").is_some_and(Value::is_object) {
        return Err(
            "the registry's answer to v1/oci_manifest is neither an image manifest nor an index"
                .to_string(),
        );
    }
    let answer = ask(host, "v1/oci_manifest_config", &payload)?;
    let Some(config) = answer.get("config").filter(|c| c.is_object()) else {
        return Err("the registry's answer to v1/oci_manifest_config has no config".to_string());
    };
    Ok(platforms_of(std::iter::once((
        config.get("os"),
        config.get("os.version"),
    ))))
}

fn ask(host: &dyn HostCalls, operation: &str, payload: &[u8]) -> Result<Value, String> {
    let answer = host
        .call("oci", operation, payload)
        .map_err(|e| format!("oci/{operation}: {e}"))?;
    crate::k8s::json_text::parse_value(&answer)
        .map_err(|e| format!("oci/{operation}: the answer is not JSON ({e})"))
}

/// The platforms of `(os, os.version)` pairs; OSes other than linux and windows (the
/// `unknown` of attestation manifests) are ignored.
fn platforms_of<'v>(
    pairs: impl Iterator<Item = (Option<&'v Value>, Option<&'v Value>)>,
) -> Option<Platforms> {
    let mut oses = BTreeSet::new();
    let mut builds = Some(BTreeSet::new());
    for (os, version) in pairs {
        let Some(os) = os.and_then(Value::as_str).and_then(Os::from_label) else {
            continue;
        };
        oses.insert(os);
        if os == Os::Windows {
            match version
                .and_then(Value::as_str)
                .and_then(WindowsBuild::parse)
            {
                Some(build) => {
                    if let Some(set) = builds.as_mut() {
                        set.insert(build);
                    }
                }
                None => builds = None,
            }
        }
    }
    if oses.is_empty() {
        return None;
    }
    let windows_builds = builds.filter(|b| oses.contains(&Os::Windows) && !b.is_empty());
    Some(Platforms {
        oses,
        windows_builds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use crate::testing::{FixtureHost, settings};
    use serde_json::json;

    fn images(
        containers: Value,
        settings_value: Value,
        host: &dyn HostCalls,
    ) -> Vec<(String, Option<Platforms>, Source, Option<String>)> {
        let object = json!({"spec": {"containers": containers}});
        let workload = Workload::from_object(WorkloadKind::Pod, &object).unwrap();
        let settings = settings(settings_value);
        let known = known_images(&workload, &settings);
        let images = if looks_up(&settings, true) {
            looked_up(&known, host)
        } else {
            known
        };
        images
            .into_iter()
            .map(|c| (c.image.to_string(), c.platforms, c.source, c.lookup_error))
            .collect()
    }

    fn windows(builds: &[WindowsBuild]) -> Option<Platforms> {
        Some(Platforms {
            oses: BTreeSet::from([Os::Windows]),
            windows_builds: Some(builds.iter().copied().collect()),
        })
    }

    /// Containers that share an image share its classification, with few distinct
    /// images (scanned) and with many (hashed); each is what its image alone gives.
    #[test]
    fn shared_images_are_classified_once_and_alike() {
        let names: Vec<String> = (0..12)
            .map(|i| match i % 3 {
                0 => format!("mcr.microsoft.com/windows/servercore:ltsc20{}", 19 + i % 4),
                1 => format!("registry.example.com/team/app-{i}:v1"),
                _ => format!("Invalid/Ref-{i}"),
            })
            .collect();
        for distinct in [2, 12] {
            let images: Vec<&String> = (0..30).map(|i| &names[(i * 7) % distinct]).collect();
            let containers: Vec<Value> = images
                .iter()
                .enumerate()
                .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
                .collect();
            let object = json!({"spec": {"containers": containers, "initContainers": [{"name": "no-image"}]}});
            let workload = Workload::from_object(WorkloadKind::Pod, &object).unwrap();
            let settings = settings(json!({}));
            let known = known_images(&workload, &settings);
            assert_eq!(known.len(), images.len());
            for (i, image) in known.iter().enumerate() {
                assert_eq!(
                    (image.container.index, image.image),
                    (i, images[i].as_str())
                );
                let alone = json!({"spec": {"containers": [{"name": "a", "image": images[i]}]}});
                let alone = Workload::from_object(WorkloadKind::Pod, &alone).unwrap();
                let alone = &known_images(&alone, &settings)[0];
                assert_eq!(
                    (&image.platforms, image.source, &*image.reference),
                    (&alone.platforms, alone.source, &*alone.reference),
                    "{}",
                    images[i]
                );
            }
        }
    }

    #[test]
    fn the_reference_and_mappings_need_no_lookup() {
        let host = FixtureHost::recorded();
        let found = images(
            json!([
                {"name": "a", "image": "mcr.microsoft.com/windows/servercore:ltsc2019"},
                {"name": "b", "image": "registry.example.com/apps/web:1"},
                {"name": "c", "image": "<image-name>"},
                {"name": "d"}]),
            json!({"imageMappings": [{"image": "registry.example.com/apps/*", "os": "linux"}]}),
            &host,
        );
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].1, windows(&[WindowsBuild::LTSC2019]));
        assert_eq!(found[0].2, Source::Reference);
        assert_eq!(
            found[1].1.as_ref().map(Platforms::describe).as_deref(),
            Some("linux")
        );
        assert_eq!(found[1].2, Source::Mapping(0));
        assert_eq!(found[2].1, None);
        assert!(host.calls().is_empty(), "{:?}", host.calls());
    }

    #[test]
    fn lookups_read_single_images_and_indexes() {
        let host = FixtureHost::recorded();
        let lookup = json!({"imageLookup": {"enabled": true}});
        let found = images(
            json!([
                {"name": "a", "image": "registry.example.com/team/legacy-app:4.8"},
                {"name": "b", "image": "registry.example.com/team/agent:2.1"}]),
            lookup.clone(),
            &host,
        );
        assert_eq!(found[0].1, windows(&[WindowsBuild::LTSC2019]));
        assert_eq!(found[0].2, Source::Registry);
        let index = found[1].1.clone().unwrap();
        assert_eq!(
            index.describe(),
            "linux and windows 10.0.17763 (ltsc2019), 10.0.20348 (ltsc2022)"
        );
        assert_eq!(
            host.calls(),
            [
                "oci/v1/oci_manifest \"registry.example.com/team/legacy-app:4.8\"",
                "oci/v1/oci_manifest_config \"registry.example.com/team/legacy-app:4.8\"",
                "oci/v1/oci_manifest \"registry.example.com/team/agent:2.1\"",
            ]
        );
        // Off unless enabled.
        let host = FixtureHost::recorded();
        let found = images(
            json!([{"name": "a", "image": "registry.example.com/team/agent:2.1"}]),
            json!({}),
            &host,
        );
        assert_eq!(found[0].1, None);
        assert!(host.calls().is_empty());
    }

    #[test]
    fn a_windows_image_without_build_is_looked_up_for_its_build() {
        let host = FixtureHost::recorded().index(
            "mcr.microsoft.com/dotnet/framework/aspnet:4.8",
            &[
                ("windows", Some("10.0.17763.6054")),
                ("windows", Some("10.0.20348.2582")),
            ],
        );
        let found = images(
            json!([{"name": "a", "image": "mcr.microsoft.com/dotnet/framework/aspnet:4.8"}]),
            json!({"imageLookup": {"enabled": true}}),
            &host,
        );
        assert_eq!(
            found[0].1,
            windows(&[WindowsBuild::LTSC2019, WindowsBuild::LTSC2022])
        );
    }

    #[test]
    fn failed_and_odd_lookups_say_why_and_never_panic() {
        let host = FixtureHost::recorded()
            .respond("v1/oci_manifest", "example.com/garbage:1", json!([1, 2]))
            .respond(
                "v1/oci_manifest",
                "example.com/empty-index:1",
                json!({"manifests": []}),
            )
            .respond(
                "v1/oci_manifest",
                "example.com/odd-index:1",
                json!({"manifests": [{"platform": "x"}, {"platform": {"os": 5}},
                    {"platform": {"os": "windows"}}, {"digest": "y"}]}),
            )
            .respond(
                "v1/oci_manifest",
                "example.com/no-config:1",
                json!({"config": {}, "layers": []}),
            )
            .respond(
                "v1/oci_manifest_config",
                "example.com/no-config:1",
                json!({"digest": "x"}),
            )
            .raw(
                "v1/oci_manifest",
                "example.com/not-json:1",
                b"\xff{".to_vec(),
            );
        let found = images(
            json!([
                {"name": "a", "image": "registry.example.com/team/private:1.0"},
                {"name": "b", "image": "example.com/garbage:1"},
                {"name": "c", "image": "example.com/empty-index:1"},
                {"name": "d", "image": "example.com/odd-index:1"},
                {"name": "e", "image": "example.com/no-config:1"},
                {"name": "f", "image": "example.com/not-json:1"},
                {"name": "g", "image": "example.com/unregistered:1"}]),
            json!({"imageLookup": {"enabled": true}}),
            &host,
        );
        let errors: Vec<Option<&str>> = found.iter().map(|f| f.3.as_deref()).collect();
        assert_eq!(
            errors[0],
            Some(
                "oci/v1/oci_manifest: cannot fetch the manifest of registry.example.com/team/private:1.0: authentication required (401 Unauthorized)"
            )
        );
        assert_eq!(
            errors[1],
            Some(
                "the registry's answer to v1/oci_manifest is neither an image manifest nor an index"
            )
        );
        assert_eq!((found[2].1.as_ref(), errors[2]), (None, None));
        // A Windows platform without os.version: Windows, build unknown.
        assert_eq!(
            found[3].1,
            Some(Platforms {
                oses: BTreeSet::from([Os::Windows]),
                windows_builds: None
            })
        );
        assert_eq!(
            errors[4],
            Some("the registry's answer to v1/oci_manifest_config has no config")
        );
        assert!(
            errors[5]
                .unwrap()
                .starts_with("oci/v1/oci_manifest: the answer is not JSON")
        );
        assert!(
            errors[6]
                .unwrap()
                .starts_with("oci/v1/oci_manifest: no fixture")
        );
        assert!(found.iter().all(|f| f.1.is_none() || f.3.is_none()));
    }

    #[test]
    fn recorded_fixtures_have_the_sdk_shapes() {
        use kubewarden_policy_sdk::host_capabilities::oci::{
            OciManifestAndConfigResponse, OciManifestResponse,
        };
        for (operation, image, response) in crate::testing::recorded_oci_fixtures() {
            let Ok(response) = response else { continue };
            let bytes = serde_json::to_vec(&response).unwrap();
            match operation.as_str() {
                "v1/oci_manifest" => {
                    let decoded: OciManifestResponse =
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{image}: {e}"));
                    let is_index = matches!(decoded, OciManifestResponse::ImageIndex(_));
                    assert_eq!(is_index, response.get("manifests").is_some(), "{image}");
                }
                "v1/oci_manifest_config" => {
                    let decoded: OciManifestAndConfigResponse =
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{image}: {e}"));
                    assert_eq!(decoded.config.os().to_string(), "windows");
                }
                other => panic!("unexpected operation {other}"),
            }
        }
    }
}
