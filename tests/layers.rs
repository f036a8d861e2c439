//! The rule crate's layers (see DESIGN.md): every `crate::` path in the code of `src/`
//! names a module of the same layer or of a lower one, and no two files import each other,
//! directly or around a loop. Test code (`#[cfg(test)] mod tests`, `src/testing.rs`) may
//! reach any layer: a rule's tests run it through a module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: the top-level modules of `src/lib.rs`.
const LAYERS: &[&str] = &[
    "k8s",
    "windows",
    "settings",
    "facts",
    "engine",
    "rules",
    "modules",
    "reference",
    "wapc",
];

/// Files outside the layers: the crate root, which declares them, test helpers and the
/// generator binary.
const OUTSIDE: &[&str] = &["lib", "testing", "bin"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `src/rules/os1.rs` is `["rules", "os1"]`, `src/k8s/mod.rs` is
/// `["k8s"]`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("under src/");
    let mut segments: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    segments
}

/// The code of a file without its unit tests and its comments.
fn code_of(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The path segments starting at `text` (`a::b::{c, d::e}` gives `a::b::c` and
/// `a::b::d::e`), each as its segments.
fn paths_at(text: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segments.push(ident);
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => return vec![segments],
        }
        if let Some(group) = rest.strip_prefix('{') {
            // One level of grouping, as `use` writes it: split at the commas outside braces.
            let mut depth = 0;
            let mut items = Vec::new();
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return items
                .into_iter()
                .flat_map(|item| paths_at(item.trim()))
                .map(|tail| segments.iter().cloned().chain(tail).collect())
                .collect();
        }
    }
    vec![segments]
}

/// Every module path the code names, absolute from the crate root: `crate::`, `$crate::`
/// and `super::` paths.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            for path in paths_at(&code[from..]) {
                found.push(base.iter().cloned().chain(path).collect());
            }
        }
    }
    found
}

/// The file a module path lands in: its longest prefix that is a module of `src/`.
fn file_of(path: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
}

fn layer_of(module: &[String]) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| module.first().is_some_and(|m| m == l))
}

/// Each file's imports of other files of the crate, by module path.
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: BTreeMap<Vec<String>, PathBuf> =
        paths.into_iter().map(|p| (module_of(&p), p)).collect();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        if module.first().is_none_or(|m| OUTSIDE.contains(&m.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("readable");
        let targets: BTreeSet<Vec<String>> = named_paths(&code_of(&text), module)
            .iter()
            .filter_map(|p| file_of(p, &files))
            .filter(|target| target != module)
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn every_file_imports_only_from_its_layer_and_those_below() {
    let mut wrong = Vec::new();
    for (module, targets) in imports() {
        let Some(layer) = layer_of(&module) else {
            wrong.push(format!("{}: in no layer of {LAYERS:?}", module.join("::")));
            continue;
        };
        for target in targets {
            match layer_of(&target) {
                Some(t) if t <= layer => {}
                _ => wrong.push(format!(
                    "{} ({}) imports {} ({})",
                    module.join("::"),
                    LAYERS[layer],
                    target.join("::"),
                    target.first().map_or("?", String::as_str)
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other() {
    let graph = imports();
    // Depth-first search; a file met again while it is on the stack closes a loop.
    fn visit(
        module: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|m| m == module) {
            let mut cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
            cycle.push(module.join("::"));
            return Some(cycle);
        }
        if !done.insert(module.clone()) {
            return None;
        }
        stack.push(module.clone());
        for target in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(target, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
}

/// A rule never imports another rule: what rules share is in `rules::util` or a lower
/// layer, and a rule names another by its id (`rules::id::IMG_1`).
#[test]
fn no_rule_imports_another_rule() {
    let mut paths = Vec::new();
    rust_files(&src().join("rules"), &mut paths);
    let mut wrong = Vec::new();
    for path in paths {
        let module = module_of(&path);
        if module.len() < 2 || module[1] == "util" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        for named in named_paths(&code_of(&text), &module) {
            let allowed = named.first().is_none_or(|m| m != "rules")
                || named.get(1).is_some_and(|m| m == "id" || m == "util");
            if !allowed {
                wrong.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    named.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rules importing rules:\n{}",
        wrong.join("\n")
    );
}

/// The check itself: it sees grouped, nested and `super::` imports, and ignores tests.
#[test]
fn the_scanner_finds_every_kind_of_import() {
    let module = vec!["rules".to_string(), "os1".to_string()];
    let code = code_of(
        "use crate::k8s::{path::FieldPath, patch::{self, PatchOp}};\n\
         // use crate::wapc::policy;\n\
         fn f() { crate::facts::host::call(); super::util::x(); }\n\
         #[cfg(test)]\nmod tests { use crate::modules::ALL; }\n",
    );
    let found: Vec<String> = named_paths(&code, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "k8s::path::FieldPath",
            "k8s::patch::self",
            "k8s::patch::PatchOp",
            "facts::host::call",
            "rules::util::x",
        ]
    );
}
