//! A RuntimeClass object (`node.k8s.io/v1`), as far as the rules read it.

use k8s_openapi::api::node::v1::Scheduling;
use serde::Deserialize;

/// The fields of a RuntimeClass (`node.k8s.io/v1`) that rules and lookups read: its
/// name, handler and scheduling. The rest (`overhead`, the rest of `metadata`) is not
/// decoded, so a RuntimeClass with odd metadata is still judged on what matters.
#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(default)]
pub struct RuntimeClass {
    pub metadata: RuntimeClassMetadata,
    pub handler: String,
    pub scheduling: Option<Scheduling>,
}

/// `metadata` of a RuntimeClass: only its name.
#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(default)]
pub struct RuntimeClassMetadata {
    pub name: Option<String>,
}
