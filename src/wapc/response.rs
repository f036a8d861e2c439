//! Turns an evaluation into Kubewarden's `ValidationResponse`.

use crate::engine::evaluate::{Decision, Evaluation};
use kubewarden_policy_sdk::response::ValidationResponse;

/// Warnings and messages name the rule, the field path and what is wrong.
pub fn to_response(evaluation: &Evaluation) -> ValidationResponse {
    into_response(evaluation.clone())
}

/// [`to_response`] taking the evaluation, so that a mutated object is moved into the
/// response rather than copied (what the waPC entry point uses).
pub fn into_response(evaluation: Evaluation) -> ValidationResponse {
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
    ValidationResponse {
        accepted,
        code: (!accepted).then_some(400),
        message,
        mutated_object,
        audit_annotations: None,
        warnings,
    }
}
