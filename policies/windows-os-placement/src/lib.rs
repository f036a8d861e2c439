//! Kubewarden policy module: OS placement (rules OS-1 to OS-6).
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::OS_PLACEMENT);
