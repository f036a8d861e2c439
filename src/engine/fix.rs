//! Patch builders for the pod spec: the few shapes of fix the rules propose, made
//! minimal against the original object (a map entry is added to an existing map, a new
//! map only when there is none).

use crate::k8s::patch::PatchOp;
use crate::k8s::workload::Workload;
use serde_json::{Value, json};

/// Sets `spec.<map_field>[key] = value`, creating the map when the pod has none.
pub fn set_map_entry(
    workload: &Workload,
    map_field: &'static str,
    map_present: bool,
    key: &str,
    value: &str,
) -> PatchOp {
    let map = workload.spec_field(map_field);
    if map_present {
        PatchOp::Add {
            path: map.key(key).pointer(),
            value: Value::String(value.to_string()),
        }
    } else {
        PatchOp::Add {
            path: map.pointer(),
            value: json!({ key: value }),
        }
    }
}

/// Appends `item` to `spec.<list_field>`, creating the list when the pod has none.
pub fn append_to_list(
    workload: &Workload,
    list_field: &'static str,
    list_present: bool,
    item: Value,
) -> PatchOp {
    let list = workload.spec_field(list_field);
    if list_present {
        PatchOp::Add {
            path: list.append_pointer(),
            value: item,
        }
    } else {
        PatchOp::Add {
            path: list.pointer(),
            value: Value::Array(vec![item]),
        }
    }
}

/// Sets the pod's `nodeSelector[kubernetes.io/os]`.
pub fn set_os_selector(workload: &Workload, os: crate::windows::os::Os) -> PatchOp {
    set_map_entry(
        workload,
        "nodeSelector",
        workload.spec.node_selector.is_some(),
        crate::windows::os::OS_LABEL,
        os.as_str(),
    )
}

/// Removes the field at `path` (which must be present).
pub fn remove_field(path: &crate::k8s::path::FieldPath) -> PatchOp {
    PatchOp::Remove {
        path: path.pointer(),
    }
}

/// Replaces the value of the field at `path` (which must be present).
pub fn replace_value(path: &crate::k8s::path::FieldPath, value: Value) -> PatchOp {
    PatchOp::Replace {
        path: path.pointer(),
        value,
    }
}
