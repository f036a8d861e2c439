//! Writes the seed corpora of the fuzz targets from the project's corpus:
//! `fuzz/corpus/validate_bytes/` gets each corpus object as a validation request (and
//! each module's example settings), `fuzz/corpus/structured_workload/` one seed per
//! corpus workload (its index, then bytes that drive a few edits).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin seed_corpus`

use std::path::Path;
use windows_workload_rules_fuzz::{corpus_objects, repository_root, validation_request};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let root = repository_root();
    let out = root.join("fuzz/corpus");
    let objects = corpus_objects();
    let bytes_dir = out.join("validate_bytes");
    for (i, object) in objects.iter().enumerate() {
        let request = validation_request(object, &serde_json::json!({}));
        let text = serde_json::to_vec(&request).unwrap_or_default();
        write(&bytes_dir, &format!("corpus-{i:03}.json"), &text)?;
    }
    let mut settings = 0;
    for entry in std::fs::read_dir(root.join("policies"))?.flatten() {
        let path = entry.path().join("settings.example.yaml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(value) = serde_yaml::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        write(
            &bytes_dir,
            &format!("settings-{name}.json"),
            &serde_json::to_vec(&value).unwrap_or_default(),
        )?;
        settings += 1;
    }
    let structured_dir = out.join("structured_workload");
    let mut workloads = 0u16;
    for object in objects {
        if windows_workload_rules_fuzz::kind_of(object).is_none() {
            continue;
        }
        // The structured target indexes the corpus's workloads only.
        // The index, then 62 fixed pseudo-random bytes that drive a few edits.
        let mut seed = workloads.to_le_bytes().to_vec();
        let mut state = u32::from(workloads)
            .wrapping_mul(2_654_435_761)
            .wrapping_add(1);
        for _ in 0..62 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            seed.push((state >> 16) as u8);
        }
        write(&structured_dir, &format!("workload-{workloads:03}"), &seed)?;
        workloads += 1;
    }
    println!(
        "seeds: {} validation requests and {settings} settings in {}, {workloads} workloads in {}",
        objects.len(),
        bytes_dir.display(),
        structured_dir.display()
    );
    Ok(())
}
