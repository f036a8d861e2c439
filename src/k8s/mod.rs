//! Kubernetes, with no Windows knowledge and no settings: decoding with field paths,
//! admission requests, workloads and their pod templates, field paths and JSON patches,
//! quantities, scheduling (taints, tolerations), volume sources and RuntimeClass objects.

pub mod decode;
pub mod node_selection;
pub mod patch;
pub mod path;
pub mod quantity;
pub mod request;
pub mod runtime_class;
pub mod scheduling;
pub mod volume;
pub mod workload;
