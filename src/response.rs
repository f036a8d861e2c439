//! Turns an evaluation into Kubewarden's `ValidationResponse`.

use crate::engine::{Decision, Evaluation};
use kubewarden_policy_sdk::response::ValidationResponse;

/// Warnings and messages name the rule, the field path and what is wrong.
pub fn to_response(evaluation: &Evaluation) -> ValidationResponse {
    let mut warnings: Vec<String> = evaluation.warnings().map(|f| f.to_string()).collect();
    // A rejected request is not mutated: its fixes are not reported as made.
    if evaluation.decision != Decision::Reject {
        warnings.extend(evaluation.mutations().map(|f| format!("mutated: {f}")));
    }
    let warnings = (!warnings.is_empty()).then_some(warnings);
    match &evaluation.decision {
        Decision::Accept => ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings,
        },
        Decision::Mutate(object) => ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: Some(object.clone()),
            audit_annotations: None,
            warnings,
        },
        Decision::Reject => {
            let message = match &evaluation.error {
                Some(error) => error.clone(),
                None => {
                    let rejections: Vec<String> =
                        evaluation.rejections().map(|f| f.to_string()).collect();
                    let count = rejections.len();
                    let noun = if count == 1 {
                        "violation"
                    } else {
                        "violations"
                    };
                    format!("{count} Windows workload {noun}: {}", rejections.join("; "))
                }
            };
            ValidationResponse {
                accepted: false,
                message: Some(message),
                code: Some(400),
                mutated_object: None,
                audit_annotations: None,
                warnings,
            }
        }
    }
}
