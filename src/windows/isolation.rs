//! How a Windows container is isolated from its host, which RuntimeClass handlers run
//! Windows containers, and the node labels of a Windows node's build.
//!
//! The compatibility matrix (Microsoft's "Windows container version compatibility"):
//! - process isolation: the host build must equal the image build (the revision may
//!   differ); otherwise "The container operating system does not match the host
//!   operating system";
//! - Hyper-V isolation: the host build must be at least the image build: a 2022 host runs
//!   2019 and 2022 images, a 2019 host only 2019 images.

use crate::windows::image::WindowsBuild;
use serde::Deserialize;
use std::fmt;

/// The node label of a Windows node's build (`10.0.17763`), set by the kubelet.
pub const WINDOWS_BUILD_LABEL: &str = "node.kubernetes.io/windows-build";
/// AKS's node label of the node image SKU (`Windows2019`, `Windows2022`, `Windows2025`).
pub const AKS_OS_SKU_LABEL: &str = "kubernetes.azure.com/os-sku";

/// How a Windows container is isolated from the host.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    #[serde(rename = "process")]
    Process,
    #[serde(rename = "hyperv")]
    HyperV,
}

impl Isolation {
    /// The isolation a containerd Windows handler gives (`runhcs-wcow-process`,
    /// `runhcs-wcow-hypervisor`, and their suffixed variants); `None` for other handlers.
    pub fn of_handler(handler: &str) -> Option<Isolation> {
        if handler.starts_with("runhcs-wcow-hypervisor") {
            Some(Isolation::HyperV)
        } else if handler.starts_with("runhcs-wcow-process") {
            Some(Isolation::Process)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::HyperV => "Hyper-V",
        }
    }

    /// Whether a host of build `host` runs an image of build `image` under this isolation.
    pub fn runs(self, host: WindowsBuild, image: WindowsBuild) -> bool {
        match self {
            Isolation::Process => host == image,
            Isolation::HyperV => host >= image,
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a RuntimeClass handler runs Windows containers (`runhcs-wcow-*`).
pub fn is_windows_handler(handler: &str) -> bool {
    handler.starts_with("runhcs-wcow-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_isolation_matrix() {
        use WindowsBuild as B;
        let process = Isolation::Process;
        let hyperv = Isolation::HyperV;
        assert!(process.runs(B::LTSC2022, B::LTSC2022));
        assert!(!process.runs(B::LTSC2022, B::LTSC2019));
        assert!(!process.runs(B::LTSC2019, B::LTSC2022));
        assert!(hyperv.runs(B::LTSC2022, B::LTSC2019));
        assert!(hyperv.runs(B::LTSC2022, B::LTSC2022));
        assert!(!hyperv.runs(B::LTSC2019, B::LTSC2022));
        assert!(hyperv.runs(B::LTSC2025, B::LTSC2019));
        assert_eq!(
            Isolation::of_handler("runhcs-wcow-hypervisor"),
            Some(Isolation::HyperV)
        );
        assert_eq!(
            Isolation::of_handler("runhcs-wcow-hypervisor-17763"),
            Some(Isolation::HyperV)
        );
        assert_eq!(
            Isolation::of_handler("runhcs-wcow-process"),
            Some(Isolation::Process)
        );
        assert_eq!(Isolation::of_handler("runc"), None);
        assert!(is_windows_handler("runhcs-wcow-process") && !is_windows_handler("runsc"));
    }
}
