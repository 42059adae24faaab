//! The Kong dialect on a registry: services and routes, as Kong's Admin API's JSON.
//!
//! Bodies are decoded and checked, and objects encoded, by the core's Kong codec
//! (`routeyard::dialect::kong`), so C sees Kong's shapes, schema rules and error bodies
//! (through `ry_error_body`).

use std::ffi::c_char;

use routeyard_core::dialect::kong;
use routeyard_core::{Error as CoreError, ErrorKind, Registry, Route, Service};

use crate::error::{ry_error, ry_status};
use crate::registry::{registry, ry_registry};
use crate::string::{opt_str_arg, str_arg, write_opt, StringOut};

/// What the entry points need of a Kong entity; implemented for services and routes,
/// each method one call into the core.
trait Entity: Sized {
    /// The collection's path, for Kong's page shape.
    const PATH: &'static str;
    fn decode(body: &[u8]) -> Result<Self, CoreError>;
    fn patch(existing: &Self, body: &[u8]) -> Result<Self, CoreError>;
    fn encode(&self) -> String;
    fn page(all: &[Self]) -> String;
    fn create(registry: &Registry, entity: Self) -> Result<Self, CoreError>;
    fn put(registry: &Registry, key: &str, entity: Self) -> Result<(Self, bool), CoreError>;
    fn modify(
        registry: &Registry,
        key: &str,
        f: impl FnOnce(&Self) -> Result<Self, CoreError>,
    ) -> Result<Self, CoreError>;
    fn get(registry: &Registry, key: &str) -> Option<Self>;
    fn delete(registry: &Registry, key: &str) -> Result<u64, CoreError>;
}

impl Entity for Service {
    const PATH: &'static str = "/services";
    fn decode(body: &[u8]) -> Result<Self, CoreError> {
        kong::decode_service(body)
    }
    fn patch(existing: &Self, body: &[u8]) -> Result<Self, CoreError> {
        kong::patch_service(existing, body)
    }
    fn encode(&self) -> String {
        kong::encode_service(self)
    }
    fn page(all: &[Self]) -> String {
        let wire: Vec<_> = all.iter().map(kong::Wire).collect();
        kong::encode_page(&wire, None, Self::PATH)
    }
    fn create(registry: &Registry, entity: Self) -> Result<Self, CoreError> {
        registry.create_service(entity)
    }
    fn put(registry: &Registry, key: &str, entity: Self) -> Result<(Self, bool), CoreError> {
        registry.put_service(key, entity)
    }
    fn modify(
        registry: &Registry,
        key: &str,
        f: impl FnOnce(&Self) -> Result<Self, CoreError>,
    ) -> Result<Self, CoreError> {
        registry.modify_service(key, f)
    }
    fn get(registry: &Registry, key: &str) -> Option<Self> {
        registry.service(key)
    }
    fn delete(registry: &Registry, key: &str) -> Result<u64, CoreError> {
        registry.delete_service(key)
    }
}

impl Entity for Route {
    const PATH: &'static str = "/routes";
    fn decode(body: &[u8]) -> Result<Self, CoreError> {
        kong::decode_route(body)
    }
    fn patch(existing: &Self, body: &[u8]) -> Result<Self, CoreError> {
        kong::patch_route(existing, body)
    }
    fn encode(&self) -> String {
        kong::encode_route(self)
    }
    fn page(all: &[Self]) -> String {
        let wire: Vec<_> = all.iter().map(kong::Wire).collect();
        kong::encode_page(&wire, None, Self::PATH)
    }
    fn create(registry: &Registry, entity: Self) -> Result<Self, CoreError> {
        registry.create_route(entity)
    }
    fn put(registry: &Registry, key: &str, entity: Self) -> Result<(Self, bool), CoreError> {
        registry.put_route(key, entity)
    }
    fn modify(
        registry: &Registry,
        key: &str,
        f: impl FnOnce(&Self) -> Result<Self, CoreError>,
    ) -> Result<Self, CoreError> {
        registry.modify_route(key, f)
    }
    fn get(registry: &Registry, key: &str) -> Option<Self> {
        registry.route(key)
    }
    fn delete(registry: &Registry, key: &str) -> Result<u64, CoreError> {
        registry.delete_route(key)
    }
}

/// `POST /{entities}`: decode, create, encode.
///
/// # Safety
///
/// As the `ry_registry_create_*_json` functions.
unsafe fn create<E: Entity>(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
    let json = unsafe { str_arg(json, json_len, "json") }?;
    let out = StringOut::new(out, out_len)?;
    let entity = E::decode(json.as_bytes()).map_err(ry_error::kong)?;
    let stored = E::create(registry, entity).map_err(ry_error::kong)?;
    // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
    unsafe { out.write(stored.encode()) };
    Ok(())
}

/// `PUT /{entities}/{key}`: decode, create or replace, encode.
///
/// # Safety
///
/// As the `ry_registry_put_*_json` functions.
unsafe fn put<E: Entity>(
    reg: *const ry_registry,
    key: (*const u8, usize),
    json: (*const u8, usize),
    out: *mut *mut c_char,
    out_len: *mut usize,
    created: *mut bool,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `key` is NULL or that many readable bytes.
    let key = unsafe { str_arg(key.0, key.1, "key") }?;
    // SAFETY: the caller guarantees `json` is NULL or that many readable bytes.
    let json = unsafe { str_arg(json.0, json.1, "json") }?;
    let out = StringOut::new(out, out_len)?;
    let entity = E::decode(json.as_bytes()).map_err(ry_error::kong)?;
    let (stored, is_new) = E::put(registry, key, entity).map_err(ry_error::kong)?;
    // SAFETY: the caller guarantees `out`, `out_len` and `created` are writable or NULL.
    unsafe {
        out.write(stored.encode());
        write_opt(created, is_new);
    }
    Ok(())
}

/// `PATCH /{entities}/{key}`: read, merge the body, replace, encode.
///
/// # Safety
///
/// As the `ry_registry_patch_*_json` functions.
unsafe fn patch<E: Entity>(
    reg: *const ry_registry,
    key: (*const u8, usize),
    json: (*const u8, usize),
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `key` is NULL or that many readable bytes.
    let key = unsafe { str_arg(key.0, key.1, "key") }?;
    // SAFETY: the caller guarantees `json` is NULL or that many readable bytes.
    let json = unsafe { str_arg(json.0, json.1, "json") }?;
    let out = StringOut::new(out, out_len)?;
    // Read, merge and write in one step: no other write comes in between.
    let stored = E::modify(registry, key, |existing| {
        E::patch(existing, json.as_bytes())
    })
    .map_err(|e| match e.kind() {
        ErrorKind::NotFound => ry_error::kong_not_found(),
        _ => ry_error::kong(e),
    })?;
    // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
    unsafe { out.write(stored.encode()) };
    Ok(())
}

/// `GET /{entities}/{key}`.
///
/// # Safety
///
/// As the `ry_registry_service_json` and `ry_registry_route_json` functions.
unsafe fn get<E: Entity>(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `key` is NULL or `key_len` readable bytes.
    let key = unsafe { str_arg(key, key_len, "key") }?;
    let out = StringOut::new(out, out_len)?;
    let entity = E::get(registry, key).ok_or_else(ry_error::kong_not_found)?;
    // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
    unsafe { out.write(entity.encode()) };
    Ok(())
}

/// `DELETE /{entities}/{key}`.
///
/// # Safety
///
/// As the `ry_registry_delete_service` and `ry_registry_delete_route` functions.
unsafe fn delete<E: Entity>(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    revision: *mut u64,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `key` is NULL or `key_len` readable bytes.
    let key = unsafe { str_arg(key, key_len, "key") }?;
    let after = E::delete(registry, key).map_err(ry_error::kong)?;
    // SAFETY: the caller guarantees `revision` is NULL or writable.
    unsafe { write_opt(revision, after) };
    Ok(())
}

/// Creates a Kong service from a JSON object in Kong's shape, as Kong's
/// `POST /services`: `{"name": "shop", "url": "http://10.0.0.5:8080/api"}` or with
/// `protocol`, `host`, `port` and `path` given one by one. The registry assigns the
/// `id` unless the body has one, and sets `created_at` and `updated_at`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the service object, UTF-8.
/// - `out`: receives the stored service as Kong writes it (every field present).
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `json` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` when `json` is not a JSON object ("Cannot parse JSON body").
/// - `RY_ERR_SCHEMA_VIOLATION` for unknown fields, wrong types or broken schema rules,
///   all listed in Kong's message and `fields`.
/// - `RY_ERR_UNIQUE_VIOLATION` for a name or id in use.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_create_service_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `create` needs.
    ffi_boundary!(err, {
        unsafe { create::<Service>(reg, json, json_len, out, out_len) }
    })
}

/// Creates or replaces the service named or identified by `key`, as Kong's
/// `PUT /services/{name or id}`: a UUID-shaped key is the id, any other key the name,
/// which the service keeps whatever the body says or leaves out. The body is a whole
/// service, as for `ry_registry_create_service_json`; fields it lacks take their
/// defaults.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the service's name or id, UTF-8.
/// - `json`, `json_len`: the service object, UTF-8.
/// - `out`: receives the stored service in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `created`: receives true when the service is new, false when it was replaced; may
///   be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// As `ry_registry_create_service_json`; `RY_ERR_NULL_ARG` also for a NULL `key`.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `created` is NULL or valid for writing one `bool`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_put_service_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    created: *mut bool,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller's guarantees are those `put` needs.
        unsafe { put::<Service>(reg, (key, key_len), (json, json_len), out, out_len, created) }
    })
}

/// Updates some fields of a service, as Kong's `PATCH /services/{name or id}`: each
/// field in the body replaces the stored one, `null` resets a field, fields the body
/// lacks are kept, and the merged service is checked whole. `id` and `created_at` stay.
///
/// The read, the merge and the replacement are one step under the registry's lock:
/// of two patches of the same service running at once, the second applies to the
/// result of the first, and neither is lost.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the service's name or id, UTF-8.
/// - `json`, `json_len`: the fields to change, as a JSON object.
/// - `out`: receives the stored service in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NOT_FOUND` for an unknown key (Kong's `{"message":"Not found"}`).
/// - Otherwise as `ry_registry_put_service_json`; a `null` for a field Kong requires is
///   `RY_ERR_SCHEMA_VIOLATION` ("required field missing").
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_patch_service_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller's guarantees are those `patch` needs.
        unsafe { patch::<Service>(reg, (key, key_len), (json, json_len), out, out_len) }
    })
}

/// Reads the service named or identified by `key`, as Kong's
/// `GET /services/{name or id}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the service's name or id, UTF-8.
/// - `out`: receives the service in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `key` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `key` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown key (Kong's `{"message":"Not found"}`).
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_service_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `get` needs.
    ffi_boundary!(err, {
        unsafe { get::<Service>(reg, key, key_len, out, out_len) }
    })
}

/// Deletes the service named or identified by `key`, as Kong's
/// `DELETE /services/{name or id}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the service's name or id, UTF-8.
/// - `revision`: receives the registry's revision after the delete; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `key` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `key` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown key.
/// - `RY_ERR_FOREIGN_KEY_VIOLATION` while routes still lead to the service ("an
///   existing 'routes' entity references this 'services' entity").
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_service(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `delete` needs.
    ffi_boundary!(err, {
        unsafe { delete::<Service>(reg, key, key_len, revision) }
    })
}

/// Lists every service, oldest first, as one page of Kong's `GET /services`:
/// `{"data": [service, ...], "next": null}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `out`: receives the JSON text, NUL-terminated.
/// - `out_len`: receives its length in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` or `out` is NULL.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_services_json(
    reg: *const ry_registry,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = StringOut::new(out, out_len)?;
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(Service::page(&registry.services())) };
        Ok(())
    })
}

/// Creates a Kong route from a JSON object in Kong's shape, as Kong's `POST /routes`:
/// `{"name": "api", "paths": ["/api"], "hosts": ["shop.test"], "service": {"id": "..."}}`,
/// plus routeyard's `priority` and `path_mode` (`prefix`, `segment`, `exact`). The
/// registry assigns the `id` unless the body has one.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the route object, UTF-8.
/// - `out`: receives the stored route as Kong writes it (every field present).
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `json` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` when `json` is not a JSON object ("Cannot parse JSON body").
/// - `RY_ERR_SCHEMA_VIOLATION` for unknown fields, wrong types or broken schema rules,
///   such as "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex
///   path))".
/// - `RY_ERR_UNIQUE_VIOLATION` for a name or id in use.
/// - `RY_ERR_FOREIGN_KEY_VIOLATION` for a service that does not exist.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_create_route_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `create` needs.
    ffi_boundary!(err, {
        unsafe { create::<Route>(reg, json, json_len, out, out_len) }
    })
}

/// Creates or replaces the route named or identified by `key`, as Kong's
/// `PUT /routes/{name or id}`: a UUID-shaped key is the id, any other key the name,
/// which the route keeps whatever the body says or leaves out. The body is a whole
/// route, as for `ry_registry_create_route_json`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the route's name or id, UTF-8.
/// - `json`, `json_len`: the route object, UTF-8.
/// - `out`: receives the stored route in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `created`: receives true when the route is new, false when it was replaced; may
///   be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// As `ry_registry_create_route_json`; `RY_ERR_NULL_ARG` also for a NULL `key`.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `created` is NULL or valid for writing one `bool`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_put_route_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    created: *mut bool,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller's guarantees are those `put` needs.
        unsafe { put::<Route>(reg, (key, key_len), (json, json_len), out, out_len, created) }
    })
}

/// Updates some fields of a route, as Kong's `PATCH /routes/{name or id}`; see
/// `ry_registry_patch_service_json` for the merge rules and their atomicity.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the route's name or id, UTF-8.
/// - `json`, `json_len`: the fields to change, as a JSON object.
/// - `out`: receives the stored route in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. `ry_error_body` gives Kong's error body.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NOT_FOUND` for an unknown key.
/// - Otherwise as `ry_registry_put_route_json`.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_patch_route_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller's guarantees are those `patch` needs.
        unsafe { patch::<Route>(reg, (key, key_len), (json, json_len), out, out_len) }
    })
}

/// Reads the route named or identified by `key`, as Kong's `GET /routes/{name or id}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the route's name or id, UTF-8.
/// - `out`: receives the route in Kong's shape.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `key` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `key` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown key (Kong's `{"message":"Not found"}`).
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_route_json(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `get` needs.
    ffi_boundary!(err, {
        unsafe { get::<Route>(reg, key, key_len, out, out_len) }
    })
}

/// Deletes the route named or identified by `key`, as Kong's
/// `DELETE /routes/{name or id}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `key`, `key_len`: the route's name or id, UTF-8.
/// - `revision`: receives the registry's revision after the delete; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `key` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `key` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown key.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `key` is NULL or valid for reading `key_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_route(
    reg: *const ry_registry,
    key: *const u8,
    key_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller's guarantees are those `delete` needs.
    ffi_boundary!(err, {
        unsafe { delete::<Route>(reg, key, key_len, revision) }
    })
}

/// Lists routes, oldest first, as one page of Kong's `GET /routes`, or of
/// `GET /services/{name or id}/routes` when `service` is given:
/// `{"data": [route, ...], "next": null}`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: a service's name or id, UTF-8, to list only the routes
///   leading to it; NULL for every route.
/// - `out`: receives the JSON text, NUL-terminated.
/// - `out_len`: receives its length in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` when `service` names no service, as Kong answers 404.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_routes_json(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` bytes.
        let service = unsafe { opt_str_arg(service, service_len, "service") }?;
        let out = StringOut::new(out, out_len)?;
        if let Some(key) = service {
            registry.service(key).ok_or_else(ry_error::kong_not_found)?;
        }
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(Route::page(&registry.routes(service))) };
        Ok(())
    })
}
