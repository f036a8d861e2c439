//! Writes what is generated from the rule declarations (`make rules-doc`): the rule
//! reference `docs/rules.md` and the rules section of every module's settings form
//! (`policies/*/questions-ui.yml`; `make artifacthub` then regenerates the Artifact Hub
//! packages that embed them). `cargo run -p windows-workload-rules --bin rules-doc -- -`
//! prints the reference only.

use std::path::Path;
use windows_workload_rules::modules::MODULES;
use windows_workload_rules::reference;

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("rules-doc: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}

fn main() {
    let page = reference::markdown();
    if std::env::args().nth(1).as_deref() == Some("-") {
        print!("{page}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    write(&root.join(reference::PATH), &page);
    for module in MODULES {
        let path = root.join(reference::questions_path(module));
        let form = match std::fs::read_to_string(&path) {
            Ok(form) => form,
            Err(e) => {
                eprintln!("rules-doc: cannot read {}: {e}", path.display());
                std::process::exit(1);
            }
        };
        write(&path, &reference::with_rule_questions(&form, module));
    }
}
