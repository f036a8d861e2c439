//! The rule engine: what a rule is, the fixes rules propose, what a module carries, what
//! an UPDATE may still change, and the evaluation that turns findings into one decision.

pub mod evaluate;
pub mod fix;
pub mod lifecycle;
pub mod module;
pub mod rule;
