//! The Windows workload rule catalogue shared by every policy module.
//!
//! A request flows through it once: [`request`] decodes it, [`lifecycle`] tells what it
//! may still change (a CREATE, an UPDATE that leaves the pod spec as it was, or one that
//! changes it, with the fixes the API server accepts for that kind), [`workload`] finds the pod
//! template, reads it as a typed pod spec (through [`decode`], which names the field a
//! wrong value is at) and walks its containers, [`os`] resolves the target OS, the module's
//! [`rules`] report findings, and [`engine`] combines them into one decision that
//! [`response`] turns into Kubewarden's answer. [`policy`] exposes all of it as the
//! waPC functions of a module, without depending on waPC itself.

pub mod cluster;
pub mod decode;
pub mod engine;
pub mod fix;
pub mod host;
pub mod host_process;
pub mod image;
pub mod image_facts;
pub mod isolation;
pub mod lifecycle;
pub mod linux_only;
pub mod modules;
pub mod os;
pub mod patch;
pub mod path;
pub mod policy;
pub mod quantity;
pub mod reference;
pub mod request;
pub mod response;
pub mod rule;
pub mod rules;
pub mod scheduling;
pub mod settings;
pub mod windows_names;
pub mod workload;

#[cfg(test)]
mod testing;

/// Re-exported for the `policy_module!` macro, so policy crates need no other dependency.
pub use kubewarden_policy_sdk as kubewarden;
pub use kubewarden_policy_sdk::wapc_guest;
