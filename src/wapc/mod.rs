//! The waPC face of a module: the entry points (`validate`, `validate_settings`), the
//! macro that registers them in a policy crate, and Kubewarden's responses.

pub mod policy;
pub mod response;
