//! Container image references (the Docker/OCI distribution reference grammar) and what a
//! reference alone says about the image's OS and Windows build.
//!
//! Grammar (github.com/distribution/reference, `reference.go`):
//! `reference := name [ ":" tag ] [ "@" digest ]`, `name := [domain "/"] path-component
//! ["/" path-component]*`; a first component is a domain when it contains `.` or `:`, or is
//! `localhost`; otherwise the registry is `docker.io` (also written `index.docker.io`), and
//! one-component names on it live in `library/`.

use std::borrow::Cow;
use std::fmt;

pub const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

impl fmt::Display for ImageReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.reference, self.reason
        )
    }
}

impl std::error::Error for ImageReferenceError {}

fn is_path_component(s: &str) -> bool {
    // [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        match b {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        // A separator must be followed by an alphanumeric.
        match bytes.get(i) {
            Some(n) if n.is_ascii_lowercase() || n.is_ascii_digit() => {}
            _ => return false,
        }
    }
    true
}

fn is_domain(s: &str) -> bool {
    // host [":" port]; host is dot-separated labels of [a-zA-Z0-9-] or an IPv6 literal.
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, tail)) => (ip, tail.strip_prefix(':')),
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if s.starts_with('[') {
        return !host.is_empty() && host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn is_tag(s: &str) -> bool {
    // [\w][\w.-]{0,127}
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_digest(s: &str) -> bool {
    // algorithm ":" encoded; sha256 must be 64 lower-case hex digits.
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'_' | b'-')
        });
    let encoded_ok = encoded.len() >= 32
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    let sha_ok = match algorithm {
        "sha256" => {
            encoded.len() == 64
                && encoded
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        "sha512" => {
            encoded.len() == 128
                && encoded
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        _ => true,
    };
    algorithm_ok && encoded_ok && sha_ok
}

impl ImageReference {
    pub fn parse(reference: &str) -> Result<Self, ImageReferenceError> {
        let fail = |reason| ImageReferenceError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("empty reference"));
        }
        if reference.len() > 4096 {
            return Err(fail("reference too long"));
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => {
                if !is_digest(d) {
                    return Err(fail("malformed digest"));
                }
                (n, Some(d.to_string()))
            }
            None => (reference, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let tag = &name_tag[at + 1..];
                if !is_tag(tag) {
                    return Err(fail("malformed tag"));
                }
                (&name_tag[..at], Some(tag.to_string()))
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(fail("missing repository name"));
        }
        if name.len() > 255 {
            return Err(fail("repository name longer than 255 characters"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_domain(first) {
                    return Err(fail("malformed registry host"));
                }
                // Docker's legacy name of its default registry.
                let registry = if first == LEGACY_DEFAULT_REGISTRY {
                    DEFAULT_REGISTRY
                } else {
                    first
                };
                (registry.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !path.split('/').all(is_path_component) {
            return Err(fail(
                "repository path components must be lower-case letters, digits and separators",
            ));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(ImageReference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag, or `latest` when neither tag nor digest is given (as the runtime pulls it).
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// An entry of an image allow-list (WIN-12's `hostProcessImageAllowList`), matched
/// against the parsed image reference, so `nginx` and `docker.io/library/nginx` name the
/// same repository:
///
/// - `REPOSITORY` (`ghcr.io/kubernetes-sigs/sig-windows/csi-proxy`): any tag or digest;
/// - `REPOSITORY:TAG`: that tag only; `REPOSITORY@DIGEST`: that digest only;
/// - `PREFIX/*` (`sigwindowstools/*`, `mcr.microsoft.com/oss/kubernetes/*`): every
///   repository below that path, at any depth; `REGISTRY/*` for a whole registry.
///
/// Registry hosts compare without regard to case; repositories, tags and digests exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePattern {
    /// One repository, optionally pinned to a tag and/or digest.
    Repository(ImageReference),
    /// Every repository of `registry` whose path starts with `prefix/` (any, if empty).
    Under { registry: String, prefix: String },
}

impl ImagePattern {
    pub fn parse(entry: &str) -> Result<ImagePattern, String> {
        if let Some(prefix) = entry.strip_suffix("/*") {
            let probe = format!("{prefix}/x");
            let reference = ImageReference::parse(&probe)
                .ok()
                .filter(|r| r.tag.is_none() && r.digest.is_none())
                .ok_or_else(|| {
                    format!("{entry:?}: {prefix:?} is not a registry or repository path (a prefix takes no tag or digest)")
                })?;
            let repository = reference.repository;
            let prefix = if repository == "x"
                || (reference.registry == DEFAULT_REGISTRY
                    && repository == "library/x"
                    && !prefix.ends_with("library"))
            {
                String::new()
            } else {
                repository
                    .strip_suffix("/x")
                    .unwrap_or_default()
                    .to_string()
            };
            return Ok(ImagePattern::Under {
                registry: reference.registry,
                prefix,
            });
        }
        ImageReference::parse(entry)
            .map(ImagePattern::Repository)
            .map_err(|e| {
                format!("{e}; write a repository (registry.example.com/team/agent), optionally with :tag or @digest, or a prefix ending in /*")
            })
    }

    /// Whether `image` matches this entry.
    pub fn matches(&self, image: &ImageReference) -> bool {
        match self {
            ImagePattern::Repository(pattern) => {
                pattern.registry.eq_ignore_ascii_case(&image.registry)
                    && pattern.repository == image.repository
                    && pattern
                        .tag
                        .as_ref()
                        .is_none_or(|t| image.tag.as_ref() == Some(t))
                    && pattern
                        .digest
                        .as_ref()
                        .is_none_or(|d| image.digest.as_ref() == Some(d))
            }
            ImagePattern::Under { registry, prefix } => {
                registry.eq_ignore_ascii_case(&image.registry)
                    && (prefix.is_empty()
                        || image
                            .repository
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
            }
        }
    }
}

/// A Windows build (`major.minor.build`, as the `node.kubernetes.io/windows-build` node
/// label and an image's `os.version` write it; the revision after it does not matter for
/// compatibility). Ordered by version, so Hyper-V's "host at least the image" compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowsBuild {
    major: u16,
    minor: u16,
    build: u32,
}

/// Windows Server releases that container images are built for: release name and build.
const RELEASES: &[(&str, u32)] = &[
    ("ltsc2016", 14393),
    ("1709", 16299),
    ("1803", 17134),
    ("ltsc2019", 17763),
    ("1903", 18362),
    ("1909", 18363),
    ("2004", 19041),
    ("20h2", 19042),
    ("ltsc2022", 20348),
    ("23h2", 25398),
    ("ltsc2025", 26100),
];

impl WindowsBuild {
    /// Windows Server 2019 / 1809
    pub const LTSC2019: WindowsBuild = WindowsBuild::windows10(17763);
    /// Windows Server 2022
    pub const LTSC2022: WindowsBuild = WindowsBuild::windows10(20348);
    /// Windows Server 2025
    pub const LTSC2025: WindowsBuild = WindowsBuild::windows10(26100);
    /// The oldest build Kubernetes supports for Windows nodes (Windows Server 2019): an
    /// image of an older build runs on no node under process isolation.
    pub const OLDEST_NODE: WindowsBuild = WindowsBuild::LTSC2019;

    /// Build `build` of Windows 10.0 (every Windows Server release since 2016).
    pub const fn windows10(build: u32) -> Self {
        WindowsBuild {
            major: 10,
            minor: 0,
            build,
        }
    }

    /// The value of the `node.kubernetes.io/windows-build` node label (`10.0.17763`).
    pub fn node_label(self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.build)
    }

    /// The release name (`ltsc2019`, `1709`), for builds of a known release.
    pub fn name(self) -> Option<&'static str> {
        if (self.major, self.minor) != (10, 0) {
            return None;
        }
        RELEASES
            .iter()
            .find(|(_, b)| *b == self.build)
            .map(|(name, _)| *name)
    }

    /// Parses `10.0.17763` (a revision such as `.6054` is ignored) or a release name
    /// (`ltsc2019`, `1809`, `ltsc2022`, `ltsc2025`, `1709`, `20H2`, ...; case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(build) = Self::from_token(&lower) {
            return Some(build);
        }
        let mut parts = lower.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let build = parts.next()?.parse().ok()?;
        match parts.next() {
            None => {}
            Some(revision) if revision.parse::<u32>().is_ok() && parts.next().is_none() => {}
            Some(_) => return None,
        }
        Some(WindowsBuild {
            major,
            minor,
            build,
        })
    }

    /// Tag tokens that name a build (bare years and SAC versions count only once the
    /// image is known to be a Windows image).
    fn from_token(token: &str) -> Option<Self> {
        let release = match token {
            "1809" | "2019" => "ltsc2019",
            "2022" => "ltsc2022",
            "2025" => "ltsc2025",
            "2016" => "ltsc2016",
            other => other,
        };
        RELEASES
            .iter()
            .find(|(name, _)| *name == release)
            .map(|(_, build)| WindowsBuild::windows10(*build))
    }

    /// A `10.0.NNNNN` version inside a tag (`10.0.17763.6054`, `nanoserver-10.0.20348`).
    fn from_version(tag: &str) -> Option<Self> {
        let mut rest = tag;
        while let Some(at) = rest.find("10.0.") {
            let before = rest[..at].chars().next_back();
            let digits: String = rest[at + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
                && digits.len() >= 4
                && let Ok(build) = digits.parse()
            {
                return Some(WindowsBuild::windows10(build));
            }
            rest = &rest[at + 5..];
        }
        None
    }
}

impl fmt::Display for WindowsBuild {
    /// `10.0.17763 (ltsc2019)`, or the bare version for builds of no known release.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node_label())?;
        if let Some(name) = self.name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for WindowsBuild {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        WindowsBuild::parse(&text).ok_or_else(|| {
            format!(
                "{text:?} is not a Windows build: write major.minor.build (10.0.20348) or a release name (ltsc2019, ltsc2022, ltsc2025, 1809)"
            )
        })
    }
}

impl<'de> serde::Deserialize<'de> for WindowsBuild {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WindowsBuild::try_from(text).map_err(serde::de::Error::custom)
    }
}

/// What a reference says about the image's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageOs {
    /// A Windows image, with its build when the reference names it.
    Windows(Option<WindowsBuild>),
    /// A Linux image: only a settings mapping says so (the reference alone never does).
    Linux,
    /// The reference alone does not tell (most images, including multi-platform ones).
    Unknown,
}

/// Repositories that only ship Windows images, as (registry, repository): the
/// repository itself or any under it.
const WINDOWS_REPOSITORIES: &[(&str, &str)] = &[
    ("mcr.microsoft.com", "windows"),
    // The retired Docker Hub repositories of the same Windows images.
    ("docker.io", "microsoft/windowsservercore"),
    ("docker.io", "microsoft/nanoserver"),
    ("docker.io", "microsoft/iis"),
    ("docker.io", "microsoft/aspnet"),
    ("docker.io", "microsoft/dotnet-framework"),
    ("mcr.microsoft.com", "dotnet/framework"),
];

/// Docker Hub's official images that publish Linux platforms only (their
/// `docker-library/official-images` `library/<name>` files list no `windows-*`
/// architecture): the images `kubectl debug --image=...` is most often given. Any other
/// registry's image of the same name (`registry.k8s.io/e2e-test-images/busybox` has
/// Windows variants) is not one of them, and a tag that names a Windows base still wins.
const LINUX_ONLY_OFFICIAL_IMAGES: &[&str] = &[
    "library/alpine",
    "library/amazonlinux",
    "library/busybox",
    "library/debian",
    "library/fedora",
    "library/ubuntu",
];

/// Tag tokens that only Windows images use (`-nanoserver-ltsc2022`,
/// `windowsservercore-1809`, ...). Tokens are split on `-`, `_` and `.`.
const WINDOWS_TAG_TOKENS: &[&str] = &[
    "nanoserver",
    "windowsservercore",
    "servercore",
    "ltsc2016",
    "ltsc2019",
    "ltsc2022",
    "ltsc2025",
    "1809",
    "windows",
];

/// Classifies an image by its reference: well-known Windows base repositories, and tags
/// that name a Windows base or build; Docker Hub's official Linux-only images
/// (`busybox`, `alpine`, ...) as Linux. Anything else is `Unknown`: a plain tag says
/// nothing about the platforms an index offers.
pub fn classify(image: &ImageReference) -> ImageOs {
    // `registry/repository` is the prefix or under it (a registry has no `/`).
    let windows_repository = WINDOWS_REPOSITORIES.iter().any(|(registry, repository)| {
        image.registry == *registry
            && image
                .repository
                .strip_prefix(repository)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    // Lower-cased only when it has capitals: most tags have none.
    let tag = image.tag.as_deref().unwrap_or_default();
    let tag: Cow<'_, str> = if tag.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(tag.to_ascii_lowercase())
    } else {
        Cow::Borrowed(tag)
    };
    let tokens = || tag.split(['-', '_', '.']);
    let version_build = WindowsBuild::from_version(&tag);
    let windows_tag = version_build.is_some() || tokens().any(|t| WINDOWS_TAG_TOKENS.contains(&t));
    if !(windows_repository || windows_tag) {
        let linux_only = image.registry == "docker.io"
            && LINUX_ONLY_OFFICIAL_IMAGES.contains(&image.repository.as_str());
        return if linux_only {
            ImageOs::Linux
        } else {
            ImageOs::Unknown
        };
    }
    let build = version_build.or_else(|| {
        // Bare years (`-2019`) count only here, once the image is known to be Windows.
        tokens().find_map(WindowsBuild::from_token)
    });
    ImageOs::Windows(build)
}

/// A user's mapping of images to a platform (settings `imageMappings`), for images the
/// built-in classification does not know: `image` is an [`ImagePattern`] (a repository,
/// optionally with tag or digest, or a `PREFIX/*`), `tag` an optional glob over the tag
/// (`*` matches any run of characters: `*-win2022`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMapping {
    pub image: ImagePattern,
    /// The entry as written, for messages.
    pub image_text: String,
    pub tag: Option<String>,
    pub os: crate::windows::os::Os,
    pub build: Option<WindowsBuild>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImageMapping {
    image: String,
    #[serde(default)]
    tag: Option<String>,
    os: crate::windows::os::Os,
    #[serde(default)]
    build: Option<WindowsBuild>,
}

impl TryFrom<RawImageMapping> for ImageMapping {
    type Error = String;

    fn try_from(raw: RawImageMapping) -> Result<Self, String> {
        let image = ImagePattern::parse(&raw.image).map_err(|e| format!("image: {e}"))?;
        if let Some(tag) = &raw.tag
            && (tag.is_empty()
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'*')))
        {
            return Err(format!(
                "tag: {tag:?} is not a tag pattern (tag characters and * only)"
            ));
        }
        if raw.os == crate::windows::os::Os::Linux && raw.build.is_some() {
            return Err("build: only a Windows image has a Windows build".to_string());
        }
        Ok(ImageMapping {
            image,
            image_text: raw.image,
            tag: raw.tag,
            os: raw.os,
            build: raw.build,
        })
    }
}

impl<'de> serde::Deserialize<'de> for ImageMapping {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawImageMapping::deserialize(deserializer)?;
        ImageMapping::try_from(raw).map_err(serde::de::Error::custom)
    }
}

impl ImageMapping {
    pub fn matches(&self, image: &ImageReference) -> bool {
        self.image.matches(image)
            && self.tag.as_deref().is_none_or(|pattern| {
                image
                    .effective_tag()
                    .is_some_and(|tag| glob_matches(pattern, tag))
            })
    }

    pub fn image_os(&self) -> ImageOs {
        match self.os {
            crate::windows::os::Os::Linux => ImageOs::Linux,
            crate::windows::os::Os::Windows => ImageOs::Windows(self.build),
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text; // no `*` at all
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Where a classification comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifiedBy {
    /// The built-in knowledge of Windows base images and tags.
    Reference,
    /// `settings.imageMappings[index]`.
    Mapping(usize),
}

/// Classifies an image with the settings' mappings first (the first matching entry
/// wins), then the built-in classification.
pub fn classify_with(image: &ImageReference, mappings: &[ImageMapping]) -> (ImageOs, ClassifiedBy) {
    match mappings.iter().position(|m| m.matches(image)) {
        Some(index) => (mappings[index].image_os(), ClassifiedBy::Mapping(index)),
        None => (classify(image), ClassifiedBy::Reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_reference_grammar() {
        let r = parse("nginx");
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.clone(),
                r.digest.clone()
            ),
            ("docker.io", "library/nginx", None, None)
        );
        assert_eq!(r.effective_tag(), Some("latest"));
        let r = parse("localhost:5000/team/app:v1.2-rc_1");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2-rc_1"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!(
            "mcr.microsoft.com/windows/servercore:ltsc2022@{digest}"
        ));
        assert_eq!(r.repository, "windows/servercore");
        assert_eq!(r.tag.as_deref(), Some("ltsc2022"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        let r = parse(&format!("quay.io/a/b@{digest}"));
        assert_eq!((r.tag.as_deref(), r.effective_tag()), (None, None));
        assert_eq!(parse("user/app").repository, "user/app");
        assert_eq!(parse("[::1]:5000/app:1").registry, "[::1]:5000");
        assert_eq!(parse("a__b/c---d/e.f:TAG").repository, "a__b/c---d/e.f");
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "UPPER/case",
            "nginx:",
            "nginx:-bad",
            "nginx@sha256:abc",
            "registry.io:/app",
            "a//b",
            "app-",
            "-app",
            "app:tag with space",
            "bad_host.io_/app",
        ] {
            assert!(ImageReference::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn image_patterns_match_parsed_references() {
        let matches = |pattern: &str, image: &str| {
            ImagePattern::parse(pattern)
                .unwrap_or_else(|e| panic!("{e}"))
                .matches(&parse(image))
        };
        assert!(matches("nginx", "docker.io/library/nginx:1.25"));
        assert!(matches("docker.io/library/nginx", "nginx"));
        assert!(matches("nginx:1.25", "nginx:1.25"));
        assert!(!matches("nginx:1.25", "nginx:1.26"));
        assert!(!matches("nginx", "nginx-unprivileged"));
        let digest = format!("sha256:{}", "b".repeat(64));
        assert!(matches(
            &format!("ghcr.io/a/b@{digest}"),
            &format!("ghcr.io/a/b:v1@{digest}")
        ));
        assert!(!matches(&format!("ghcr.io/a/b@{digest}"), "ghcr.io/a/b:v1"));
        assert!(matches(
            "sigwindowstools/*",
            "sigwindowstools/kube-proxy:v1.30-calico-hostprocess"
        ));
        assert!(!matches("sigwindowstools/*", "sigwindowstoolsx/kube-proxy"));
        assert!(matches(
            "ghcr.io/kubernetes-sigs/sig-windows/*",
            "ghcr.io/kubernetes-sigs/sig-windows/csi-proxy:v1.1.2"
        ));
        assert!(matches(
            "mcr.microsoft.com/oss/*",
            "MCR.microsoft.com/oss/kubernetes/pause:3.9"
        ));
        assert!(!matches(
            "mcr.microsoft.com/oss/*",
            "mcr.microsoft.com/ossx/a"
        ));
        assert!(matches(
            "mcr.microsoft.com/*",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022"
        ));
        assert!(!matches(
            "mcr.microsoft.com/*",
            "ghcr.io/windows/nanoserver"
        ));
        assert!(matches("docker.io/*", "calico/windows:v3.25.2"));
        assert!(matches("localhost:5000/*", "localhost:5000/agent:1"));
        assert!(!matches(
            "sigwindowstools/kube-proxy",
            "ghcr.io/sigwindowstools/kube-proxy"
        ));
        for bad in ["*", "/*", "Nginx", "nginx:1.25/*", "a//b/*", ""] {
            assert!(ImagePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn official_linux_only_images_are_linux_elsewhere_unknown() {
        assert_eq!(classify(&parse("busybox")), ImageOs::Linux);
        assert_eq!(
            classify(&parse("docker.io/library/alpine:3.20")),
            ImageOs::Linux
        );
        assert_eq!(classify(&parse("ubuntu:24.04")), ImageOs::Linux);
        // The same names elsewhere, and names that are no official image, say nothing.
        assert_eq!(
            classify(&parse("registry.k8s.io/e2e-test-images/busybox:1.29-2")),
            ImageOs::Unknown
        );
        assert_eq!(classify(&parse("someone/busybox")), ImageOs::Unknown);
        assert_eq!(classify(&parse("nginx:1.25")), ImageOs::Unknown);
        // A tag naming a Windows base wins (no such tag exists for these today).
        assert!(matches!(
            classify(&parse("busybox:windowsservercore-ltsc2022")),
            ImageOs::Windows(_)
        ));
    }

    #[test]
    fn classifies_windows_images() {
        let cases = [
            (
                "mcr.microsoft.com/windows/servercore:ltsc2019",
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
            ),
            (
                "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                ImageOs::Windows(Some(WindowsBuild::LTSC2022)),
            ),
            (
                "mcr.microsoft.com/windows/server:ltsc2025",
                ImageOs::Windows(Some(WindowsBuild::LTSC2025)),
            ),
            (
                "mcr.microsoft.com/windows:1809",
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
            ),
            (
                "mcr.microsoft.com/dotnet/framework/aspnet:4.8",
                ImageOs::Windows(None),
            ),
            (
                "mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022",
                ImageOs::Windows(Some(WindowsBuild::LTSC2022)),
            ),
            (
                "mcr.microsoft.com/windows/servercore:10.0.17763.6054",
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
            ),
            (
                "example.com/app:1.0-windowsservercore-ltsc2019",
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
            ),
            ("microsoft/iis", ImageOs::Windows(None)),
            (
                "microsoft/windowsservercore:1709",
                ImageOs::Windows(Some(WindowsBuild::windows10(16299))),
            ),
            (
                "mcr.microsoft.com/windows/servercore:20H2",
                ImageOs::Windows(Some(WindowsBuild::windows10(19042))),
            ),
            (
                "mcr.microsoft.com/windows/nanoserver:10.0.25398.1",
                ImageOs::Windows(Some(WindowsBuild::windows10(25398))),
            ),
            (
                "mcr.microsoft.com/oss/kubernetes/pause:3.9-windows-ltsc2022-amd64",
                ImageOs::Windows(Some(WindowsBuild::LTSC2022)),
            ),
            (
                "sigwindowstools/kube-proxy:VERSION-nanoserver",
                ImageOs::Windows(None),
            ),
            // A year in a non-Windows tag says nothing; nor does a version near 10.0.
            ("example.com/app:2022", ImageOs::Unknown),
            ("example.com/app:110.0.17763", ImageOs::Unknown),
            ("microsoft/iisfoo:1", ImageOs::Unknown),
            ("nginx:1.25", ImageOs::Unknown),
            ("registry.k8s.io/pause:3.9", ImageOs::Unknown),
            (
                "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.30.0",
                ImageOs::Unknown,
            ),
            ("mcr.microsoft.com/windowsfoo/app:1", ImageOs::Unknown),
        ];
        for (reference, expected) in cases {
            assert_eq!(classify(&parse(reference)), expected, "{reference}");
        }
    }

    #[test]
    fn parses_odd_but_valid_references() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let long_tag = "t".repeat(128);
        let (with_digest, tag_and_digest, long) = (
            format!("nginx@{digest}"),
            format!("example.com:443/a:v1@{digest}"),
            format!("x:{long_tag}"),
        );
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: [Case; 12] = [
            ("localhost/app", "localhost", "app", None, None),
            ("localhost:5000/a/b", "localhost:5000", "a/b", None, None),
            // One component with a "port" is a name and a tag, on Docker Hub.
            (
                "localhost:5000",
                "docker.io",
                "library/localhost",
                Some("5000"),
                None,
            ),
            (
                "index.docker.io/nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "docker.io/library/nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            (
                "192.168.1.10:5000/team/app:v1",
                "192.168.1.10:5000",
                "team/app",
                Some("v1"),
                None,
            ),
            (
                "Registry.Example.COM/app",
                "Registry.Example.COM",
                "app",
                None,
                None,
            ),
            (
                "example.com/a/b/c/d/e:TAG_x.1-2",
                "example.com",
                "a/b/c/d/e",
                Some("TAG_x.1-2"),
                None,
            ),
            (
                &with_digest,
                "docker.io",
                "library/nginx",
                None,
                Some(&digest),
            ),
            (
                &tag_and_digest,
                "example.com:443",
                "a",
                Some("v1"),
                Some(&digest),
            ),
            (
                "a.b/c_d/e__f/g-h---i:_",
                "a.b",
                "c_d/e__f/g-h---i",
                Some("_"),
                None,
            ),
            (&long, "docker.io", "library/x", Some(&long_tag), None),
        ];
        for (reference, registry, repository, tag, digest) in cases {
            let r = parse(reference);
            assert_eq!(
                (
                    r.registry.as_str(),
                    r.repository.as_str(),
                    r.tag.as_deref(),
                    r.digest.as_deref()
                ),
                (registry, repository, tag, digest),
                "{reference}"
            );
        }
        let sha512 = format!("sha512:{}", "f".repeat(128));
        assert_eq!(
            parse(&format!("app@{sha512}")).digest.as_deref(),
            Some(sha512.as_str())
        );
        assert_eq!(
            parse("localhost:5000/a:v1").to_string(),
            "localhost:5000/a:v1"
        );
        assert_eq!(parse("nginx").to_string(), "docker.io/library/nginx");
    }

    #[test]
    fn reports_why_a_reference_is_malformed() {
        let reason = |s: &str| ImageReference::parse(s).unwrap_err().reason;
        assert_eq!(
            reason("<image-name>"),
            "repository path components must be lower-case letters, digits and separators"
        );
        assert_eq!(reason(&format!("x:{}", "t".repeat(129))), "malformed tag");
        assert_eq!(reason("app@sha256:XYZ"), "malformed digest");
        assert_eq!(reason("app@md5"), "malformed digest");
        assert_eq!(reason("host:port/app"), "malformed registry host");
        assert_eq!(
            reason(" nginx"),
            "repository path components must be lower-case letters, digits and separators"
        );
        assert_eq!(reason(&"a".repeat(4097)), "reference too long");
        let err = ImageReference::parse("Nginx").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid image reference \"Nginx\": repository path components must be lower-case letters, digits and separators"
        );
    }

    #[test]
    fn windows_builds_parse_compare_and_name() {
        assert_eq!(
            WindowsBuild::parse("10.0.17763"),
            Some(WindowsBuild::LTSC2019)
        );
        assert_eq!(
            WindowsBuild::parse("10.0.20348.2340"),
            Some(WindowsBuild::LTSC2022)
        );
        assert_eq!(
            WindowsBuild::parse("LTSC2025"),
            Some(WindowsBuild::LTSC2025)
        );
        assert_eq!(WindowsBuild::parse("1809"), Some(WindowsBuild::LTSC2019));
        for bad in ["", "10.0", "10.0.x", "ltsc2030", "10.0.1.2.3", "windows"] {
            assert_eq!(WindowsBuild::parse(bad), None, "{bad:?}");
        }
        assert!(WindowsBuild::LTSC2019 < WindowsBuild::LTSC2022);
        assert!(WindowsBuild::LTSC2022 < WindowsBuild::LTSC2025);
        assert_eq!(WindowsBuild::LTSC2022.to_string(), "10.0.20348 (ltsc2022)");
        assert_eq!(WindowsBuild::windows10(12345).to_string(), "10.0.12345");
        assert_eq!(WindowsBuild::LTSC2025.node_label(), "10.0.26100");
        let err = WindowsBuild::try_from("2030".to_string()).unwrap_err();
        assert!(err.starts_with("\"2030\" is not a Windows build"), "{err}");
    }

    #[test]
    fn mappings_come_first_and_match_tag_globs() {
        let mappings: Vec<ImageMapping> = serde_json::from_value(serde_json::json!([
            {"image": "registry.example.com/win/*", "os": "windows", "build": "ltsc2022"},
            {"image": "registry.example.com/apps/*", "tag": "*-win2019", "os": "windows", "build": "10.0.17763"},
            {"image": "registry.example.com/apps/*", "os": "linux"},
            {"image": "mcr.microsoft.com/windows/servercore", "tag": "custom*", "os": "windows", "build": "ltsc2025"}
        ]))
        .unwrap();
        let classify = |image: &str| classify_with(&parse(image), &mappings);
        assert_eq!(
            classify("registry.example.com/win/team/app:1"),
            (
                ImageOs::Windows(Some(WindowsBuild::LTSC2022)),
                ClassifiedBy::Mapping(0)
            )
        );
        assert_eq!(
            classify("registry.example.com/apps/web:3.1-win2019"),
            (
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
                ClassifiedBy::Mapping(1)
            )
        );
        assert_eq!(
            classify("registry.example.com/apps/web:3.1"),
            (ImageOs::Linux, ClassifiedBy::Mapping(2))
        );
        assert_eq!(
            classify("mcr.microsoft.com/windows/servercore:custom-1"),
            (
                ImageOs::Windows(Some(WindowsBuild::LTSC2025)),
                ClassifiedBy::Mapping(3)
            )
        );
        assert_eq!(
            classify("mcr.microsoft.com/windows/servercore:ltsc2019"),
            (
                ImageOs::Windows(Some(WindowsBuild::LTSC2019)),
                ClassifiedBy::Reference
            )
        );
        assert_eq!(
            classify("nginx"),
            (ImageOs::Unknown, ClassifiedBy::Reference)
        );
        for (pattern, text, expected) in [
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*-win2019", "1-win2019", true),
            ("*-win2019", "win2019", false),
            ("v1", "v1", true),
            ("v1*", "v2", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} {text}");
        }
        for (bad, message) in [
            (
                serde_json::json!({"image": "Bad", "os": "windows"}),
                "image: invalid image reference",
            ),
            (
                serde_json::json!({"image": "a", "os": "linux", "build": "ltsc2022"}),
                "build: only a Windows image",
            ),
            (
                serde_json::json!({"image": "a", "tag": "v 1", "os": "linux"}),
                "tag: \"v 1\" is not a tag pattern",
            ),
            (
                serde_json::json!({"image": "a", "os": "windows", "build": "2030"}),
                "is not a Windows build",
            ),
            (
                serde_json::json!({"image": "a", "os": "macos"}),
                "unknown variant `macos`",
            ),
            (
                serde_json::json!({"prefix": "a", "os": "linux"}),
                "unknown field `prefix`",
            ),
        ] {
            let err = serde_json::from_value::<ImageMapping>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{bad}: {err}");
        }
    }
}
