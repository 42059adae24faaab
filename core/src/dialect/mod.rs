//! The wire shapes and rules of the systems routeyard speaks for.

pub mod cdap;
pub mod cf;
pub mod gobetween;
pub mod kong;
