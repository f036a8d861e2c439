//! Kubewarden policy module: pod compatibility (rules WIN-1 to WIN-11 and LNX-1).
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::POD_COMPATIBILITY);
