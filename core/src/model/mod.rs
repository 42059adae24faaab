//! Plain data and validation.

pub(crate) mod cf;
pub(crate) mod kong;
pub(crate) mod ports;
pub(crate) mod upstream;
pub(crate) mod url;
