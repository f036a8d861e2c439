//! The Windows workload rule catalogue shared by every policy module.
//!
//! The crate is built in layers, each importing only from those before it (see
//! DESIGN.md; `tests/layers.rs` checks it):
//!
//! - [`k8s`]: Kubernetes without Windows knowledge or settings (decoding, requests,
//!   workloads, field paths, patches, quantities, scheduling, RuntimeClass objects);
//! - [`windows`]: Windows facts (OSes, builds, images, isolation, names, Linux-only
//!   fields, HostProcess);
//! - [`settings`]: the policy settings, their values checked;
//! - [`facts`]: what one request implies, worked out once (target OS, placement, images,
//!   cluster look-ups through the host);
//! - [`engine`]: what a rule and a module are, and the evaluation of one request;
//! - [`rules`]: the catalogue, one file per rule;
//! - [`modules`]: the policy modules, each a subset of the catalogue, and their settings;
//! - [`reference`]: the generated rule reference;
//! - [`wapc`]: the waPC entry points and Kubewarden's responses.
//!
//! A request flows through it once: [`k8s::request`] decodes it,
//! [`engine::lifecycle`] tells what it may still change (a CREATE, an UPDATE that leaves
//! the pod spec as it was, or one that changes it, with the fixes the API server accepts
//! for that kind), [`k8s::workload`] finds the pod template, reads it as a typed pod spec
//! (through [`k8s::decode`], which names the field a wrong value is at) and walks its
//! containers, [`facts::target_os`] resolves the target OS, the module's [`rules`] report
//! findings, and [`engine::evaluate`] combines them into one decision that
//! [`wapc::response`] turns into Kubewarden's answer. [`wapc::policy`] exposes all of it
//! as the waPC functions of a module, without depending on waPC itself.

// The layers, lowest first: each imports only from the layers before it (tests/layers.rs
// checks it).
pub mod engine;
pub mod facts;
pub mod k8s;
pub mod modules;
pub mod reference;
pub mod rules;
pub mod settings;
pub mod wapc;
pub mod windows;

#[cfg(test)]
mod testing;

/// Re-exported for the `policy_module!` macro, so policy crates need no other dependency.
pub use kubewarden_policy_sdk as kubewarden;
pub use kubewarden_policy_sdk::wapc_guest;
