//! Arbitrary bytes into every module's waPC entry points (`validate`, and
//! `validate_settings`), through the rule crate's request path: decoding, settings,
//! evaluation and the response. Seeded with the corpus as validation requests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    windows_workload_rules_fuzz::check_entry_points(data);
});
