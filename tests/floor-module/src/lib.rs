//! The floor module of the benchmarks (`make bench`), never shipped, annotated, pushed or
//! packaged: the floor every policy module stands on. It decodes the validation request,
//! the settings every module shares and the workload's pod spec, as every module does
//! before its first rule, then accepts (`windows_workload_rules::wapc::policy::validate_floor`);
//! what a module costs beyond it is the cost of its rules.

windows_workload_rules::floor_module!();
