//! Which nodes a pod's node selection admits, as the scheduler's NodeAffinity filter reads
//! it (`GetRequiredNodeAffinity` and `nodeaffinity.NewLazyErrorNodeSelector` in
//! k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go): every
//! `nodeSelector` entry must equal the node's label, and when required node affinity is
//! set, one of its terms must match (a term matches when all its `matchExpressions` and
//! `matchFields` do; a term with neither matches no node). Operators, as
//! `labels.Requirement.Matches` reads them: `In`, `NotIn` (also true without the label),
//! `Exists`, `DoesNotExist`, `Gt` and `Lt` (the label and the single value as integers).
//! `matchFields` knows one field, `metadata.name`, with `In` and `NotIn`.

use crate::k8s::workload::required_node_selector_terms;
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, PodSpec};
use std::collections::BTreeMap;

/// A pod's node selection without the requirements on some label keys (the OS labels, to
/// ask which nodes the rest of the selection picks).
#[derive(Debug, Clone)]
pub struct NodeSelection<'a> {
    selector: Vec<(&'a str, &'a str)>,
    /// The required terms, each its label and field requirements; `None` without required
    /// node affinity.
    terms: Option<Vec<Term<'a>>>,
}

#[derive(Debug, Clone)]
struct Term<'a> {
    expressions: Vec<&'a NodeSelectorRequirement>,
    fields: Vec<&'a NodeSelectorRequirement>,
    /// The term had requirements before the left-out keys were taken away (an empty term
    /// matches nothing; one emptied here matches every node).
    written: bool,
}

impl<'a> NodeSelection<'a> {
    /// The pod's selection without requirements on the keys in `left_out`; `None` when
    /// nothing else is left to select with.
    pub fn of(spec: &'a PodSpec, left_out: &[&str]) -> Option<Self> {
        let selector: Vec<(&str, &str)> = spec
            .node_selector
            .iter()
            .flatten()
            .filter(|(key, _)| !left_out.contains(&key.as_str()))
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let terms = required_node_selector_terms(spec).map(|required| {
            required
                .iter()
                .map(|term| {
                    let expressions = term.match_expressions.as_deref().unwrap_or_default();
                    let fields = term.match_fields.as_deref().unwrap_or_default();
                    Term {
                        written: !expressions.is_empty() || !fields.is_empty(),
                        expressions: expressions
                            .iter()
                            .filter(|r| !left_out.contains(&r.key.as_str()))
                            .collect(),
                        fields: fields.iter().collect(),
                    }
                })
                .collect::<Vec<_>>()
        });
        let constrains = !selector.is_empty()
            || terms.as_ref().is_some_and(|terms| {
                terms
                    .iter()
                    .any(|t| !t.written || !t.expressions.is_empty() || !t.fields.is_empty())
            });
        constrains.then_some(NodeSelection { selector, terms })
    }

    /// Whether `nodeSelector` takes part (it names a key not left out).
    pub fn selects_by_node_selector(&self) -> bool {
        !self.selector.is_empty()
    }

    /// Whether a node with these labels and this name is admitted.
    pub fn admits(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.selector
            .iter()
            .all(|(key, value)| labels.get(*key).is_some_and(|v| v == value))
            && self.terms.as_ref().is_none_or(|terms| {
                terms.iter().any(|term| {
                    term.written
                        && term.expressions.iter().all(|r| label_matches(r, labels))
                        && term.fields.iter().all(|r| field_matches(r, name))
                })
            })
    }
}

fn label_matches(requirement: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(label), [bound]) = (value, values) else {
                return false;
            };
            match (label.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(label), Ok(bound)) if requirement.operator == "Gt" => label > bound,
                (Ok(label), Ok(bound)) => label < bound,
                _ => false,
            }
        }
        // The API server refuses any other operator.
        _ => false,
    }
}

fn field_matches(requirement: &NodeSelectorRequirement, name: &str) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let is_name = values.iter().any(|v| v == name);
    match (requirement.key.as_str(), requirement.operator.as_str()) {
        ("metadata.name", "In") => is_name,
        ("metadata.name", "NotIn") => !is_name,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const OS: &[&str] = &["kubernetes.io/os"];

    #[test]
    fn the_selector_and_the_terms_as_the_scheduler_reads_them() {
        let pod = spec(
            json!({"containers": [], "nodeSelector": {"kubernetes.io/os": "linux", "agentpool": "win22"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                      {"key": "gpu", "operator": "DoesNotExist"}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-9"]}]}
            ]}}}}),
        );
        let selection = NodeSelection::of(&pod, OS).unwrap();
        assert!(selection.selects_by_node_selector());
        let win = labels(&[
            ("kubernetes.io/os", "windows"),
            ("agentpool", "win22"),
            ("zone", "a"),
        ]);
        assert!(selection.admits(&win, "node-1"), "the OS label is left out");
        assert!(!selection.admits(&labels(&[("agentpool", "win22"), ("zone", "c")]), "node-1"));
        assert!(selection.admits(&labels(&[("agentpool", "win22"), ("zone", "c")]), "node-9"));
        assert!(!selection.admits(
            &labels(&[("agentpool", "win22"), ("zone", "a"), ("gpu", "1")]),
            "n"
        ));
        assert!(!selection.admits(&labels(&[("agentpool", "lin"), ("zone", "a")]), "node-1"));
        // Nothing but the OS label: no selection to speak of.
        let only_os =
            spec(json!({"containers": [], "nodeSelector": {"kubernetes.io/os": "linux"}}));
        assert!(NodeSelection::of(&only_os, OS).is_none());
        assert!(NodeSelection::of(&spec(json!({"containers": []})), OS).is_none());
    }

    #[test]
    fn operators_and_empty_terms() {
        let pod = spec(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["4"]},
                                      {"key": "pool", "operator": "NotIn", "values": ["spot"]},
                                      {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}
            ]}}}}),
        );
        let selection = NodeSelection::of(&pod, OS).unwrap();
        assert!(!selection.selects_by_node_selector());
        assert!(selection.admits(&labels(&[("size", "8")]), "n"));
        assert!(!selection.admits(&labels(&[("size", "4")]), "n"));
        assert!(!selection.admits(&labels(&[("size", "x")]), "n"));
        assert!(!selection.admits(&labels(&[("size", "8"), ("pool", "spot")]), "n"));
        // A term with only the OS requirement picks every node once it is left out; a
        // term written empty picks none.
        let os_term = spec(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}}}),
        );
        assert!(NodeSelection::of(&os_term, OS).is_none());
        let empty = spec(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}}),
        );
        let selection = NodeSelection::of(&empty, OS).unwrap();
        assert!(!selection.admits(&labels(&[]), "n"));
    }
}
