//! Kubewarden policy module: identity and HostProcess (rules ID-1, ID-2, WIN-12).
//! Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::IDENTITY);
