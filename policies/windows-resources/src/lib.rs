//! Kubewarden policy module: resources and startup (rules RES-1 to RES-4).
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::RESOURCES);
