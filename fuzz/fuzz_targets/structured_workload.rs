//! Well-formed Kubernetes workload objects, generated from the fuzzer's bytes: a corpus
//! object's pod spec (chosen by the first two bytes) edited field by field (OS signals,
//! security contexts, resources, volumes, container lists, unknown fields, now and then
//! a value of the wrong type) and wrapped into any of the eight kinds, evaluated by every
//! module's rule engine under several settings.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (seed, rest) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let mut u = Unstructured::new(rest);
    let Ok((kind, object, settings)) =
        windows_workload_rules_fuzz::structured_workload(seed, &mut u)
    else {
        return;
    };
    if std::env::var_os("FUZZ_PRINT").is_some() {
        println!(
            "{}",
            serde_json::json!({"kind": kind.kind(), "settings": settings, "object": object})
        );
    }
    windows_workload_rules_fuzz::check_workload(kind, &object, &settings);
});
