//! The C API of routeyard.
//!
//! The generated header is `include/routeyard.h` at the root of the repository; every
//! exported item is documented there. Conventions shared by all functions:
//!
//! - Everything is prefixed: functions `ry_<type>_<verb>`, types `ry_<type>`, constants
//!   `RY_*`.
//! - Fallible functions return an `ry_status` (`RY_OK` is zero) and take an optional
//!   `ry_error **err` for details. NULL pointers are reported as `RY_ERR_NULL_ARG`,
//!   never dereferenced.
//! - Strings in are `(const uint8_t *ptr, size_t len)` and must be UTF-8. Strings out are
//!   NUL-terminated, owned by the library and freed with `ry_string_free`.
//! - No panic unwinds into C: it becomes `RY_ERR_PANIC`, or NULL where a function has no
//!   status to return.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

#[macro_use]
mod macros;

mod error;
mod registry;
mod string;

pub use error::{ry_error, ry_error_free, ry_error_message, ry_error_name, ry_status};
pub use registry::{
    ry_registry, ry_registry_create_router_group_json, ry_registry_free, ry_registry_new,
    ry_registry_revision, ry_registry_router_groups_json, ry_version,
};
pub use string::ry_string_free;
