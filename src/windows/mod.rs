//! Windows facts that hold for any request: the two node OSes, Windows builds, image
//! references and their classification, container isolation, Windows names, the pod
//! fields that are Linux-only, and what makes a container a HostProcess container.

pub mod host_process;
pub mod image;
pub mod isolation;
pub mod linux_only;
pub mod names;
pub mod os;
