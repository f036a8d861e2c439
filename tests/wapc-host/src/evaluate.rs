//! Running inputs through a module and classifying the answers.

use crate::host::{HostCall, LogEntry};
use crate::inputs::{Input, Origin};
use crate::module::{Evaluator, PolicyInstance};
use crate::response::ValidationResponse;
use serde::Serialize;
use serde_json::{Value, json};
use windows_workload_rules::k8s::patch::{self, PatchOp};

/// What the module decided for one input.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Accepted without mutation.
    Accepted,
    /// Rejected, with the module's message and code.
    Rejected {
        message: Option<String>,
        code: Option<u16>,
    },
    /// Accepted with a mutated object; `patch` is the minimal JSON patch
    /// from the original object to it (empty when the module sent the
    /// object back unchanged).
    Mutated {
        patch: Vec<PatchOp>,
        mutated_object: Value,
    },
    /// The module failed on this input (guest error, trap, timeout, or an
    /// answer that is not a ValidationResponse).
    Error { message: String },
}

impl Decision {
    /// `accepted`, `rejected`, `mutated` or `error`.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected { .. } => "rejected",
            Decision::Mutated { .. } => "mutated",
            Decision::Error { .. } => "error",
        }
    }
}

/// The result of evaluating one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `Kind/namespace/name` of the input.
    pub label: String,
    pub origin: Origin,
    pub decision: Decision,
    /// The response's warnings (empty for errors).
    pub warnings: Vec<String>,
    /// The module's full response, when it gave one.
    pub response: Option<ValidationResponse>,
    /// Capability host calls made while evaluating this input (log calls
    /// are in `logs`).
    pub host_calls: Vec<HostCall>,
    /// Log lines the module sent while evaluating this input.
    pub logs: Vec<LogEntry>,
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self.decision, Decision::Accepted)
    }

    pub fn is_rejected(&self) -> bool {
        matches!(self.decision, Decision::Rejected { .. })
    }

    pub fn is_mutated(&self) -> bool {
        matches!(self.decision, Decision::Mutated { .. })
    }

    pub fn is_error(&self) -> bool {
        matches!(self.decision, Decision::Error { .. })
    }

    /// The rejection or error message.
    pub fn message(&self) -> Option<&str> {
        match &self.decision {
            Decision::Rejected { message, .. } => message.as_deref(),
            Decision::Error { message } => Some(message),
            Decision::Accepted | Decision::Mutated { .. } => None,
        }
    }

    /// The mutation patch (empty unless mutated).
    pub fn patch(&self) -> &[PatchOp] {
        match &self.decision {
            Decision::Mutated { patch, .. } => patch,
            _ => &[],
        }
    }

    /// The mutated object, when mutated.
    pub fn mutated_object(&self) -> Option<&Value> {
        match &self.decision {
            Decision::Mutated { mutated_object, .. } => Some(mutated_object),
            _ => None,
        }
    }

    /// The flat JSON form printed by `policy-eval --format json`:
    /// `label`, `origin`, `decision`, `message`, `code`, `patch`,
    /// `warnings`.
    pub fn to_json(&self) -> Value {
        let code = match &self.decision {
            Decision::Rejected { code, .. } => json!(code),
            _ => Value::Null,
        };
        json!({
            "label": self.label,
            "origin": self.origin.to_string(),
            "decision": self.decision.name(),
            "message": self.message(),
            "code": code,
            "patch": self.patch(),
            "warnings": self.warnings,
        })
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The decision for a response to a request about `original`.
pub fn decide(original: &Value, response: &ValidationResponse) -> Decision {
    if !response.accepted {
        return Decision::Rejected {
            message: response.message.clone(),
            code: response.code,
        };
    }
    match &response.mutated_object {
        Some(mutated) => Decision::Mutated {
            patch: patch::diff(original, mutated),
            mutated_object: mutated.clone(),
        },
        None => Decision::Accepted,
    }
}

fn evaluate_on(instance: &PolicyInstance, settings: &Value, input: &Input) -> Outcome {
    let mark = instance.records_mark();
    let result = instance.validate(&input.validation_request(settings));
    let (host_calls, logs) = instance.records_since(mark);
    let (decision, warnings, response) = match result {
        Ok(response) => (
            decide(input.object(), &response),
            response.warnings().to_vec(),
            Some(response),
        ),
        Err(e) => (
            Decision::Error {
                message: format!("{e:#}"),
            },
            Vec::new(),
            None,
        ),
    };
    Outcome {
        label: input.label.clone(),
        origin: input.origin.clone(),
        decision,
        warnings,
        response,
        host_calls,
        logs,
    }
}

/// Evaluate one input with `settings` (an input that carries its own
/// settings uses them instead). Never fails: a module failure is a
/// [`Decision::Error`].
pub fn evaluate_one(evaluator: &impl Evaluator, settings: &Value, input: &Input) -> Outcome {
    evaluate(evaluator, settings, std::slice::from_ref(input))
        .pop()
        .unwrap_or_else(|| error_outcome(input, "no outcome".to_owned()))
}

/// Evaluate every input in order with `settings` (not checked here: see
/// [`PolicyInstance::validate_settings`]). `evaluator` is a
/// [`crate::PolicyModule`] (this thread's instance, no fixtures) or a
/// [`PolicyInstance`] (its fixtures and records). A failure on one input is
/// that input's [`Decision::Error`]; the run goes on.
pub fn evaluate(evaluator: &impl Evaluator, settings: &Value, inputs: &[Input]) -> Vec<Outcome> {
    let run = evaluator.with_instance(&mut |instance| {
        inputs
            .iter()
            .map(|input| evaluate_on(instance, settings, input))
            .collect::<Vec<_>>()
    });
    match run {
        Ok(outcomes) => outcomes,
        Err(e) => inputs
            .iter()
            .map(|input| error_outcome(input, format!("{e:#}")))
            .collect(),
    }
}

fn error_outcome(input: &Input, message: String) -> Outcome {
    Outcome {
        label: input.label.clone(),
        origin: input.origin.clone(),
        decision: Decision::Error { message },
        warnings: Vec::new(),
        response: None,
        host_calls: Vec::new(),
        logs: Vec::new(),
    }
}
