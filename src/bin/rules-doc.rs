//! Writes the rule reference generated from the registry (`make rules-doc`):
//! `cargo run -p windows-workload-rules --bin rules-doc [-- PATH]`, by default to
//! `docs/rules.md` of the workspace; `-` prints it.

use std::path::PathBuf;
use windows_workload_rules::reference;

fn main() {
    let page = reference::markdown();
    let target = std::env::args().nth(1);
    if target.as_deref() == Some("-") {
        print!("{page}");
        return;
    }
    let path = target.map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(reference::PATH),
        PathBuf::from,
    );
    if let Err(e) = std::fs::write(&path, page) {
        eprintln!("rules-doc: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}
