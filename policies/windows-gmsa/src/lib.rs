//! Kubewarden policy module: gMSA admission (rules ID-3 to ID-7), what the windows-gmsa
//! webhook does. Everything but the waPC entry points lives in the shared rule crate.

windows_workload_rules::policy_module!(windows_workload_rules::modules::GMSA);
