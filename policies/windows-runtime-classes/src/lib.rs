//! Kubewarden policy module: runtime classes (rule RC-2), evaluated on RuntimeClass
//! objects. Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::RUNTIME_CLASSES);
