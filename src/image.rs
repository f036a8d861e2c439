//! Container image references (the Docker/OCI distribution reference grammar) and what a
//! reference alone says about the image's OS and Windows build.
//!
//! Grammar (github.com/distribution/reference, `reference.go`):
//! `reference := name [ ":" tag ] [ "@" digest ]`, `name := [domain "/"] path-component
//! ["/" path-component]*`; a first component is a domain when it contains `.` or `:`, or is
//! `localhost`; otherwise the registry is `docker.io`, and one-component names live in
//! `library/`.

use std::fmt;

pub const DEFAULT_REGISTRY: &str = "docker.io";

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
                (first.to_string(), rest.to_string())
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

/// A Windows Server build that container images target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowsBuild {
    /// Windows Server 2019 / 1809, 10.0.17763
    Ltsc2019,
    /// Windows Server 2022, 10.0.20348
    Ltsc2022,
    /// Windows Server 2025, 10.0.26100
    Ltsc2025,
}

impl WindowsBuild {
    pub const ALL: [WindowsBuild; 3] = [
        WindowsBuild::Ltsc2019,
        WindowsBuild::Ltsc2022,
        WindowsBuild::Ltsc2025,
    ];

    /// The value of the `node.kubernetes.io/windows-build` node label (major.minor.build).
    pub fn node_label(self) -> &'static str {
        match self {
            WindowsBuild::Ltsc2019 => "10.0.17763",
            WindowsBuild::Ltsc2022 => "10.0.20348",
            WindowsBuild::Ltsc2025 => "10.0.26100",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WindowsBuild::Ltsc2019 => "ltsc2019",
            WindowsBuild::Ltsc2022 => "ltsc2022",
            WindowsBuild::Ltsc2025 => "ltsc2025",
        }
    }

    /// Tag tokens that name this build.
    fn from_token(token: &str) -> Option<Self> {
        match token {
            "ltsc2019" | "1809" | "2019" => Some(WindowsBuild::Ltsc2019),
            "ltsc2022" | "2022" => Some(WindowsBuild::Ltsc2022),
            "ltsc2025" | "2025" => Some(WindowsBuild::Ltsc2025),
            _ => None,
        }
    }

    fn from_version(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| tag.contains(b.node_label()))
    }
}

/// What a reference says about the image's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageOs {
    /// A well-known Windows image, with its build when the reference names it.
    Windows(Option<WindowsBuild>),
    /// The reference alone does not tell (most images, including multi-platform ones).
    Unknown,
}

/// Repositories that only ship Windows images.
const WINDOWS_REPOSITORY_PREFIXES: &[&str] = &[
    "mcr.microsoft.com/windows/",
    // The retired Docker Hub repositories of the same Windows images.
    "docker.io/microsoft/windowsservercore",
    "docker.io/microsoft/nanoserver",
    "docker.io/microsoft/iis",
    "docker.io/microsoft/aspnet",
    "docker.io/microsoft/dotnet-framework",
    "mcr.microsoft.com/dotnet/framework/",
];

/// Tag tokens that only Windows images use (`-nanoserver-ltsc2022`,
/// `windowsservercore-1809`, ...). Tokens are split on `-`, `_` and `.`.
const WINDOWS_TAG_TOKENS: &[&str] = &[
    "nanoserver",
    "windowsservercore",
    "servercore",
    "ltsc2019",
    "ltsc2022",
    "ltsc2025",
    "1809",
    "windows",
];

/// Classifies an image by its reference: well-known Windows base repositories, and tags
/// that name a Windows base or build. Anything else is `Unknown`, never Linux: a plain
/// tag says nothing about the platforms an index offers.
pub fn classify(image: &ImageReference) -> ImageOs {
    let full = format!("{}/{}", image.registry, image.repository);
    let windows_repository = WINDOWS_REPOSITORY_PREFIXES.iter().any(|p| {
        let p = p.trim_end_matches('/');
        full == p
            || full
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    let tag = image
        .tag
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let tokens: Vec<&str> = tag.split(['-', '_', '.']).collect();
    let windows_tag = tokens.iter().any(|t| WINDOWS_TAG_TOKENS.contains(t))
        || WindowsBuild::from_version(&tag).is_some();
    if !(windows_repository || windows_tag) {
        return ImageOs::Unknown;
    }
    let build = WindowsBuild::from_version(&tag).or_else(|| {
        // Bare years (`-2019`) count only here, once the image is known to be Windows.
        tokens.iter().find_map(|t| WindowsBuild::from_token(t))
    });
    ImageOs::Windows(build)
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
    fn classifies_windows_images() {
        let cases = [
            (
                "mcr.microsoft.com/windows/servercore:ltsc2019",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2019)),
            ),
            (
                "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2022)),
            ),
            (
                "mcr.microsoft.com/windows/server:ltsc2025",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2025)),
            ),
            (
                "mcr.microsoft.com/windows:1809",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2019)),
            ),
            (
                "mcr.microsoft.com/dotnet/framework/aspnet:4.8",
                ImageOs::Windows(None),
            ),
            (
                "mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2022)),
            ),
            (
                "mcr.microsoft.com/windows/servercore:10.0.17763.6054",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2019)),
            ),
            (
                "example.com/app:1.0-windowsservercore-ltsc2019",
                ImageOs::Windows(Some(WindowsBuild::Ltsc2019)),
            ),
            ("microsoft/iis", ImageOs::Windows(None)),
            ("microsoft/windowsservercore:1709", ImageOs::Windows(None)),
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
}
