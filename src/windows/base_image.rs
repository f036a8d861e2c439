//! Which Windows base an image is built on, where its reference says so, for the bases
//! whose size makes every pull count: Windows Server Core, Windows Server and Windows
//! (Microsoft, "Container base images": Nano Server is the small one, a few hundred MB;
//! the others are gigabytes, which Azure/AKS#2114 and #1677 measured as minutes of pull
//! on every container start with `imagePullPolicy: Always`).

use crate::windows::image::ImageReference;

/// Repositories of large Windows bases, as (registry, repository, base): the repository
/// itself or any under it (`windows/servercore/iis`). The .NET Framework and IIS images
/// are built on Server Core (their Dockerfiles' `FROM`).
const LARGE_BASE_REPOSITORIES: &[(&str, &str, &str)] = &[
    (
        "mcr.microsoft.com",
        "windows/servercore",
        "Windows Server Core",
    ),
    ("mcr.microsoft.com", "windows/server", "Windows Server"),
    (
        "mcr.microsoft.com",
        "dotnet/framework",
        "Windows Server Core",
    ),
    (
        "docker.io",
        "microsoft/windowsservercore",
        "Windows Server Core",
    ),
    ("docker.io", "microsoft/iis", "Windows Server Core"),
    ("docker.io", "microsoft/aspnet", "Windows Server Core"),
    (
        "docker.io",
        "microsoft/dotnet-framework",
        "Windows Server Core",
    ),
];

/// Tag tokens that name a Server Core base (`windowsservercore-ltsc2022`,
/// `4.8-servercore-ltsc2019`); tokens are split on `-`, `_` and `.`.
const SERVER_CORE_TAG_TOKENS: &[&str] = &["windowsservercore", "servercore"];

/// The large Windows base `image` is built on, when its reference tells.
pub fn large_windows_base(image: &ImageReference) -> Option<&'static str> {
    let under = |repository: &str| {
        image
            .repository
            .strip_prefix(repository)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if let Some((_, _, base)) = LARGE_BASE_REPOSITORIES
        .iter()
        .find(|(registry, repository, _)| image.registry == *registry && under(repository))
    {
        return Some(base);
    }
    // The full Windows image: `mcr.microsoft.com/windows` itself (its insider twin too).
    if image.registry == "mcr.microsoft.com"
        && matches!(image.repository.as_str(), "windows" | "windows/insider")
    {
        return Some("Windows");
    }
    let tag = image.tag.as_deref()?.to_ascii_lowercase();
    tag.split(['-', '_', '.'])
        .any(|token| SERVER_CORE_TAG_TOKENS.contains(&token))
        .then_some("Windows Server Core")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(reference: &str) -> Option<&'static str> {
        large_windows_base(&ImageReference::parse(reference).unwrap())
    }

    #[test]
    fn large_bases_are_told_by_repository_and_tag() {
        assert_eq!(
            base("mcr.microsoft.com/windows/servercore:ltsc2022"),
            Some("Windows Server Core")
        );
        assert_eq!(
            base("mcr.microsoft.com/windows/servercore/iis"),
            Some("Windows Server Core")
        );
        assert_eq!(
            base("mcr.microsoft.com/windows/server:ltsc2022"),
            Some("Windows Server")
        );
        assert_eq!(base("mcr.microsoft.com/windows:ltsc2019"), Some("Windows"));
        assert_eq!(
            base("mcr.microsoft.com/dotnet/framework/aspnet:4.8"),
            Some("Windows Server Core")
        );
        assert_eq!(base("microsoft/iis"), Some("Windows Server Core"));
        assert_eq!(
            base("public.ecr.aws/aws-observability/aws-for-fluent-bit:windowsservercore-stable"),
            Some("Windows Server Core")
        );
        for small in [
            "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022",
            "mcr.microsoft.com/windows/servercore-like:1.0",
            "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0",
            "nginx",
        ] {
            assert_eq!(base(small), None, "{small}");
        }
    }
}
