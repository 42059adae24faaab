//! The wire shapes and rules of the systems routeyard speaks for.

pub mod cf;
pub mod kong;
