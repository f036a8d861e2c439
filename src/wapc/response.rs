//! Turns an evaluation into Kubewarden's `ValidationResponse`.

use crate::engine::evaluate::{Decision, Evaluation};
use crate::k8s::request::JsonObject;
use kubewarden_policy_sdk::response::ValidationResponse;

/// Warnings and messages name the rule, the field path and what is wrong.
pub fn to_response(evaluation: &Evaluation) -> ValidationResponse {
    into_response(evaluation.clone())
}

/// [`to_response`] taking the evaluation, so that a mutated object is moved into the
/// response rather than copied.
pub fn into_response(evaluation: Evaluation) -> ValidationResponse {
    let (mut response, mutated) = response_parts(evaluation);
    response.mutated_object = mutated.map(JsonObject::into_value);
    response
}

/// The response's JSON, as the waPC entry point answers: a mutated object patched as
/// text goes in as that text, never parsed into a tree to be written out again.
pub fn response_json(evaluation: Evaluation) -> Vec<u8> {
    let (mut response, mutated) = response_parts(evaluation);
    let Some(mutated) = mutated else {
        return to_json(&response);
    };
    if let Some(text) = mutated.text()
        && let Some(answer) = with_mutated_text(&to_json(&response), text)
    {
        return answer;
    }
    response.mutated_object = Some(mutated.into_value());
    to_json(&response)
}

/// `json`, a response written without its mutated object, with `text` as that object.
/// The SDK writes every field, an absent one as `null`, and a mutated response's
/// `message` is `null`: the first `"mutated_object":null` is the field itself (in a
/// string each `"` is escaped).
fn with_mutated_text(json: &[u8], text: &str) -> Option<Vec<u8>> {
    let field = br#""mutated_object":"#;
    let at = json
        .windows(field.len() + 4)
        .position(|w| w.starts_with(field) && w.ends_with(b"null"))?;
    let value = at + field.len();
    let mut answer = Vec::with_capacity(json.len() + text.len());
    answer.extend_from_slice(&json[..value]);
    answer.extend_from_slice(text.as_bytes());
    answer.extend_from_slice(&json[value + 4..]);
    Some(answer)
}

/// A response as JSON. Writing these plain structs cannot fail; were it to, the answer
/// says so.
pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"accepted":false,"message":"internal error: cannot encode the response"}"#.to_vec()
    })
}

/// The response without its mutated object, and the mutated object.
fn response_parts(evaluation: Evaluation) -> (ValidationResponse, Option<JsonObject>) {
    let mut warnings: Vec<String> = evaluation.warnings().map(|f| f.to_string()).collect();
    // A rejected request is not mutated: its fixes are not reported as made.
    if evaluation.decision != Decision::Reject {
        warnings.extend(evaluation.mutations().map(|f| format!("mutated: {f}")));
    }
    let warnings = (!warnings.is_empty()).then_some(warnings);
    let message = (evaluation.decision == Decision::Reject).then(|| match &evaluation.error {
        Some(error) => error.clone(),
        None => {
            let rejections: Vec<String> = evaluation.rejections().map(|f| f.to_string()).collect();
            let count = rejections.len();
            let noun = if count == 1 {
                "violation"
            } else {
                "violations"
            };
            format!("{count} Windows workload {noun}: {}", rejections.join("; "))
        }
    });
    let (accepted, mutated_object) = match evaluation.decision {
        Decision::Accept => (true, None),
        Decision::Mutate(object) => (true, Some(object)),
        Decision::Reject => (false, None),
    };
    let response = ValidationResponse {
        accepted,
        code: (!accepted).then_some(400),
        message,
        mutated_object: None,
        audit_annotations: None,
        warnings,
    };
    (response, mutated_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::{ActedFinding, Evaluation};
    use crate::engine::rule::{Action, Finding, RuleId};
    use crate::k8s::path::FieldPath;
    use serde_json::{Value, json};

    fn mutated(object: JsonObject) -> Evaluation {
        let finding = Finding::new(
            RuleId::new("OS-4"),
            FieldPath::root().field("os"),
            "set os.name \"x\"",
        );
        Evaluation {
            decision: Decision::Mutate(object),
            findings: vec![ActedFinding {
                finding,
                action: Action::Mutate,
            }],
            target_os: None,
            error: None,
        }
    }

    #[test]
    fn a_mutated_object_is_answered_as_its_text_or_its_tree_alike() {
        // A message quoting the field's name must not be mistaken for it.
        let text = r#"{"kind": "Pod", "note": "\"mutated_object\":null", "n": 1.50}"#;
        let as_text = response_json(mutated(JsonObject::from(text.to_string())));
        let tree: Value = serde_json::from_str(text).unwrap();
        let as_tree = to_json(&into_response(mutated(JsonObject::from(tree.clone()))));
        let read = |json: &[u8]| -> ValidationResponse { serde_json::from_slice(json).unwrap() };
        let (from_text, from_tree) = (read(&as_text), read(&as_tree));
        assert_eq!(from_text.mutated_object, Some(tree));
        assert_eq!(from_text.mutated_object, from_tree.mutated_object);
        assert_eq!(from_text.warnings, from_tree.warnings);
        assert!(from_text.accepted);
        // The text goes in as written.
        let answer = String::from_utf8(as_text).unwrap();
        assert!(
            answer.contains(&format!(r#""mutated_object":{text},"#)),
            "{answer}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&answer).unwrap()["warnings"],
            json!(["mutated: [OS-4] os: set os.name \"x\""])
        );
    }
}
