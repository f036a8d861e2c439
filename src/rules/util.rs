//! What several rules share, so that no rule imports another.

use crate::windows::image::WindowsBuild;
use std::collections::BTreeSet;

/// Builds as a message lists them: `10.0.17763 or 10.0.20348`.
pub fn list_builds(builds: &BTreeSet<WindowsBuild>) -> String {
    let names: Vec<String> = builds.iter().map(ToString::to_string).collect();
    names.join(" or ")
}
