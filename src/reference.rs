//! What is generated from the rule declarations: the rule reference (`docs/rules.md`:
//! every rule's id, summary, the modules that carry it, its default action in each, the
//! settings it reads, where the constraint comes from, and its whole doc block with its
//! example) and the rules section of every module's settings form (`questions-ui.yml`).
//! `make rules-doc` writes them; a test fails when a committed one differs.

use crate::engine::module::Module;
use crate::engine::rule::{Action, AppliesTo, Rule, RuleId};
use crate::modules::{ALL, MODULES};
use crate::rules::{ALL_RULES, DOCS};
use crate::settings::SHARED_KEYS;
use std::fmt::Write;

/// Where the page lives, relative to the workspace root.
pub const PATH: &str = "docs/rules.md";

fn applies_to(applies: AppliesTo) -> &'static str {
    match applies {
        AppliesTo::AllPods => "all pods",
        AppliesTo::WindowsPods => "Windows pods",
        AppliesTo::LinuxPods => "Linux pods",
        AppliesTo::LinuxOrUnknownPods => "Linux or undeclared pods",
        AppliesTo::RuntimeClasses => "RuntimeClass objects",
    }
}

fn actions(rule: &dyn Rule) -> String {
    let mut actions = vec!["reject", "warn"];
    if rule.meta().can_mutate {
        actions.push("mutate");
    }
    actions.push("off");
    actions.join(", ")
}

fn carries(module: &Module, id: RuleId) -> bool {
    module.rules.iter().any(|r| r.meta().id == id)
}

/// The modules that carry `rule`, each with its default action there.
fn modules_of(rule: &dyn Rule) -> Vec<(&'static str, Action)> {
    MODULES
        .iter()
        .filter(|m| carries(m, rule.meta().id))
        .map(|m| (m.name, m.default_action(rule)))
        .collect()
}

fn code_list(items: &[&str]) -> String {
    if items.is_empty() {
        return "—".to_string();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plain text as Markdown: backslashes (`C:\\`, `DOMAIN\\*`), asterisks and pipes are
/// shown as written, and a table cell holds no line break.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '|' | '_' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn anchor(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// The whole page.
pub fn markdown() -> String {
    let mut out = String::new();
    intro(&mut out);
    modules_table(&mut out);
    rules_table(&mut out);
    for rule in ALL_RULES {
        rule_section(&mut out, *rule);
    }
    shared_settings(&mut out);
    out
}

fn intro(w: &mut String) {
    let _ = writeln!(w, "# Rule reference");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "<!-- Generated from the rule declarations (src/rules/) and the modules \
         (src/modules/) by `make rules-doc`. Do not edit: a test fails when this page is \
         stale. -->"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Every rule of the catalogue, the modules that carry it and its default action in \
         each. Every action is configurable per policy with `rules: {{ID: action}}`; \
         `mutate` only where the rule can fix what it reports (a finding without a fix \
         then warns). The flagship `{}` carries every rule; its defaults differ from the \
         catalogue's only where marked.",
        ALL.name
    );
    let _ = writeln!(w);
}

fn modules_table(w: &mut String) {
    let _ = writeln!(w, "## Modules");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| module | rules | defaults that differ from the catalogue |"
    );
    let _ = writeln!(w, "|---|---|---|");
    for module in MODULES {
        let ids: Vec<&str> = module.rules.iter().map(|r| r.meta().id.as_str()).collect();
        let differ: Vec<String> = module
            .default_actions
            .iter()
            .map(|(id, action)| format!("{id}: {action}"))
            .collect();
        let _ = writeln!(
            w,
            "| [`{name}`](../policies/{name}/README.md) | {} | {} |",
            ids.join(", "),
            if differ.is_empty() {
                "—".to_string()
            } else {
                differ.join(", ")
            },
            name = module.name,
        );
    }
    let _ = writeln!(w);
}

fn rules_table(w: &mut String) {
    let _ = writeln!(w, "## Rules");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| id | reports | applies to | catalogue default | flagship default | single module |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for rule in ALL_RULES {
        let meta = rule.meta();
        let flagship = ALL.default_action(*rule);
        let single: Vec<&str> = modules_of(*rule)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| *name != ALL.name)
            .collect();
        let _ = writeln!(
            w,
            "| [{id}](#{anchor}) | {} | {} | {} | {} | {} |",
            md(meta.summary),
            applies_to(meta.applies_to),
            meta.default_action,
            if flagship == meta.default_action {
                flagship.to_string()
            } else {
                format!("**{flagship}**")
            },
            code_list(&single),
            id = meta.id,
            anchor = anchor(meta.id.as_str()),
        );
    }
    let _ = writeln!(w);
}

/// A rule's section: its summary, facts, and the whole doc block of its declaration.
fn rule_section(w: &mut String, rule: &dyn Rule) {
    let meta = rule.meta();
    let _ = writeln!(w, "### {}", meta.id);
    let _ = writeln!(w);
    let _ = writeln!(w, "{}", md(meta.summary));
    let _ = writeln!(w);
    let _ = writeln!(w, "- applies to: {}", applies_to(meta.applies_to));
    let _ = writeln!(w, "- actions: {}", actions(rule));
    let defaults: Vec<String> = modules_of(rule)
        .into_iter()
        .map(|(name, action)| format!("`{name}` {action}"))
        .collect();
    let _ = writeln!(
        w,
        "- default action: {} (catalogue); by module: {}",
        meta.default_action,
        defaults.join(", ")
    );
    let _ = writeln!(w, "- settings: {}", code_list(meta.settings));
    let _ = writeln!(w, "- source: {}", md(meta.source));
    let _ = writeln!(w);
    let doc = DOCS
        .iter()
        .find(|(id, _)| *id == meta.id)
        .map_or("", |(_, doc)| doc);
    let _ = writeln!(w, "{}", doc_markdown(doc).trim_end());
    let _ = writeln!(w);
}

fn shared_settings(w: &mut String) {
    let _ = writeln!(w, "## Settings every module reads");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "{}: they feed OS resolution (or, for `rules`, choose the actions), so every \
         module accepts them. Any other key is accepted only by the modules that carry a \
         rule reading it, and refused by the others with a message naming the key.",
        code_list(SHARED_KEYS)
    );
}

/// A doc block as rustdoc holds it (each line after `///`) as plain Markdown: without
/// the space that follows `///`, and with intra-doc links (`` [`crate::x`] ``) as code.
fn doc_markdown(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    for line in doc.lines() {
        let line = line.strip_prefix(' ').unwrap_or(line);
        let mut rest = line;
        while let Some(start) = rest.find("[`") {
            let Some(len) = rest[start..].find("`]") else {
                break;
            };
            let end = start + len;
            let is_link = !rest[end + 2..].starts_with('(');
            out.push_str(&rest[..start]);
            if is_link {
                out.push_str(&rest[start + 1..end + 1]);
            } else {
                out.push_str(&rest[start..end + 2]);
            }
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// Where a module's settings form lives, relative to the workspace root.
pub fn questions_path(module: &Module) -> String {
    format!("policies/{}/questions-ui.yml", module.name)
}

/// The rules section of a module's settings form: one question per rule, in catalogue
/// order, offering the rule's actions with the module's default.
pub fn rule_questions(module: &Module) -> String {
    let mut out = String::new();
    for rule in module.rules {
        let meta = rule.meta();
        let _ = writeln!(out, "- variable: rules.{}", meta.id);
        let _ = writeln!(out, "  label: {}", meta.id);
        let _ = writeln!(out, "  group: Rule actions");
        let _ = writeln!(out, "  type: enum");
        let _ = writeln!(out, "  options: [{}]", actions(*rule));
        let _ = writeln!(out, "  default: {}", module.default_action(*rule));
        let _ = writeln!(out, "  required: false");
        let _ = writeln!(out, "  tooltip: >-");
        let _ = writeln!(out, "    {}", meta.summary);
    }
    out
}

/// A settings form with its rules section as generated: what comes before the first
/// rule question is the form's own (the module's other settings), the rest is replaced.
pub fn with_rule_questions(form: &str, module: &Module) -> String {
    let own = form
        .find("- variable: rules.")
        .map_or(form, |at| &form[..at]);
    format!("{own}{}", rule_questions(module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_and_module_is_listed() {
        let page = markdown();
        for rule in ALL_RULES {
            assert!(page.contains(&format!("\n### {}\n", rule.meta().id)));
        }
        for module in MODULES {
            assert!(page.contains(&format!("[`{}`]", module.name)));
        }
    }

    /// Every generated file is what the declarations say: the reference and the rules
    /// section of each module's settings form (and so of its artifacthub-pkg.yml, which
    /// embeds the form: `tests/wapc-host/tests/real_engine.rs` checks that one).
    #[test]
    fn the_generated_files_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stale = Vec::new();
        let committed = std::fs::read_to_string(root.join(PATH)).unwrap_or_default();
        if committed != markdown() {
            stale.push(PATH.to_string());
        }
        for module in MODULES {
            let path = questions_path(module);
            let form = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
            if form != with_rule_questions(&form, module) {
                stale.push(path);
            }
        }
        assert!(
            stale.is_empty(),
            "stale: {}; run `make rules-doc` (then `make artifacthub`) and commit them",
            stale.join(", ")
        );
    }

    #[test]
    fn doc_blocks_become_markdown() {
        assert_eq!(
            doc_markdown(" See [`crate::k8s::path`] and [`x`](y).\n\n A `C:\\` path.\n"),
            "See `crate::k8s::path` and [`x`](y).\n\nA `C:\\` path.\n"
        );
    }
}
