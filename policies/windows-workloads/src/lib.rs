//! Kubewarden policy module: the flagship, every rule of the catalogue in one module.
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::ALL);
