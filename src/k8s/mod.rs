//! Kubernetes, with no Windows knowledge and no settings: reading JSON text
//! ([`json_text`]), decoding with field paths,
//! admission requests, workloads and their pod templates, field paths and JSON patches,
//! quantities, scheduling (taints, tolerations), volume sources and RuntimeClass objects;
//! and [`first_seen`], the small first-seen index a request's lists are built with.

pub mod decode;
pub mod first_seen;
pub mod json_text;
pub mod node_selection;
pub mod patch;
pub mod path;
pub mod quantity;
pub mod request;
pub mod runtime_class;
pub mod scheduling;
pub mod volume;
pub mod workload;
