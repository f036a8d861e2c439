//! What several rules share, so that no rule imports another.

use crate::windows::image::WindowsBuild;
use std::collections::BTreeSet;

/// Builds as a message lists them: `10.0.17763 or 10.0.20348`.
pub fn list_builds(builds: &BTreeSet<WindowsBuild>) -> String {
    let names: Vec<String> = builds.iter().map(ToString::to_string).collect();
    names.join(" or ")
}

/// A finding for a gMSA look-up that failed (ID-3, ID-4): `what` says what could not be
/// found out; `settings.gmsaLookupFailure` says whether it rejects (the default, as the
/// windows-gmsa webhook does) or warns, and the message says which.
pub fn gmsa_lookup_failed(
    rule: crate::engine::rule::RuleId,
    path: crate::k8s::path::FieldPath,
    what: String,
    failure: crate::settings::LookupFailure,
) -> crate::engine::rule::Finding {
    use crate::settings::LookupFailure;
    let outcome = match failure {
        LookupFailure::Reject => "rejected (settings.gmsaLookupFailure: reject)",
        LookupFailure::Warn => "not checked (settings.gmsaLookupFailure: warn)",
    };
    let finding = crate::engine::rule::Finding::new(rule, path, format!("{what}; {outcome}"));
    match failure {
        LookupFailure::Reject => finding,
        LookupFailure::Warn => finding.advisory(),
    }
}
