//! Windows facts that hold for any request: the two node OSes, Windows builds, image
//! references and their classification, container isolation, Windows names, the pod
//! fields that are Linux-only, what makes a container a HostProcess container, and the
//! programs a Windows container cannot start, and the large Windows base images.

pub mod base_image;
pub mod commands;
pub mod host_process;
pub mod image;
pub mod isolation;
pub mod linux_only;
pub mod names;
pub mod os;
