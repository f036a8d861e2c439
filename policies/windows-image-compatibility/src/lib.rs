//! Kubewarden policy module: image compatibility (rules IMG-1 to IMG-4, RC-1).
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::IMAGE_COMPATIBILITY);
