//! What one request implies, worked out once and read by many rules: the target OS, the
//! pod's Windows build pins and isolation, the images of its containers (with registry
//! look-ups), and the RuntimeClasses read from the cluster through the host.

pub mod cluster;
pub mod commands;
pub mod gmsa;
pub mod host;
pub mod images;
pub mod nodes;
pub mod placement;
pub mod target_os;
