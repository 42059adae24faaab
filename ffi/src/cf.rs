//! The Cloud Foundry dialect on a registry: HTTP routes, TCP route mappings, router
//! groups and port reservations, as routing-api's JSON.
//!
//! Bodies are decoded and objects encoded by the core's CF codec
//! (`routeyard::dialect::cf`), so C sees routing-api's shapes, rules and messages.

use std::ffi::c_char;
use std::time::Duration;

use routeyard_core::dialect::cf;

use crate::error::{ry_error, ry_status};
use crate::registry::{registry, ry_registry};
use crate::string::{required, str_arg, write_opt, StringOut};

/// Lists the router groups as a JSON array in Cloud Foundry's shape:
/// `[{"guid": "...", "name": "default-tcp", "type": "tcp", "reservable_ports": "1024-65535"}]`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `out`: receives the JSON text, NUL-terminated.
/// - `out_len`: receives the length of the JSON text in bytes, without the NUL; may be
///   NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL if the caller does not want details.
///
/// # Returns
///
/// `RY_OK`, or an error status.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `out` is NULL.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and must be freed with `ry_string_free`. It is a
/// snapshot and does not borrow from `reg`. Nothing is written on failure.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_router_groups_json(
    reg: *const ry_registry,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = StringOut::new(out, out_len)?;
        let json = cf::encode(&registry.router_groups());
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(json) };
        Ok(())
    })
}

/// Creates a router group from a JSON object in Cloud Foundry's shape, such as
/// `{"name": "default-tcp", "type": "tcp", "reservable_ports": "1024-65535"}`.
///
/// As in Cloud Foundry, a `guid` in the input is ignored: a new group gets a new guid.
/// If a group with the same name and type exists, it is returned unchanged and
/// `*created` is false.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the JSON object, as UTF-8 bytes; no NUL terminator needed.
/// - `out`: receives the stored group as a JSON object, NUL-terminated.
/// - `out_len`: receives the length of that JSON text in bytes; may be NULL.
/// - `created`: receives true when the group is new, false when it already existed;
///   may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL if the caller does not want details.
///
/// # Returns
///
/// `RY_OK`, or an error status. On failure the registry is unchanged and nothing is
/// written to `out`, `out_len` or `created`.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `json` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when the input is not UTF-8.
/// - `RY_ERR_INVALID_JSON` when the input is not JSON, or a field has the wrong type.
/// - `RY_ERR_INVALID_ROUTER_GROUP` when the group fails validation, for example
///   `"reservable_ports": "1024, 2000"` (spaces are not allowed).
/// - `RY_ERR_CONFLICT` when the name is taken by a group of another type.
///
/// # Lifetimes
///
/// `json` is only read during the call. `*out` is owned by the caller and must be freed
/// with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes, and `json_len` does not
///   exceed `PTRDIFF_MAX`.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `created` is NULL or valid for writing one `bool`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_create_router_group_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    created: *mut bool,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let out = StringOut::new(out, out_len)?;
        let group = cf::decode_router_group(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let (group, is_new) = registry.create_router_group(group)?;
        let json = cf::encode(&group);
        // SAFETY: the caller guarantees `out`, `out_len` and `created` are writable or NULL.
        unsafe {
            out.write(json);
            if !created.is_null() {
                created.write(is_new);
            }
        }
        Ok(())
    })
}

/// Finds a router group by name, as routing-api's `GET /routing/v1/router_groups?name=`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the group's name, UTF-8.
/// - `out`: receives the group as a CF JSON object, NUL-terminated.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `name` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` (`ResourceNotFoundError`, "router group 'NAME' not found").
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_router_group_by_name_json(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        let out = StringOut::new(out, out_len)?;
        let group = registry.router_group_by_name(name)?;
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(cf::encode(&group)) };
        Ok(())
    })
}

/// Finds a router group by guid.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `guid`, `guid_len`: the group's guid, UTF-8.
/// - `out`: receives the group as a CF JSON object, NUL-terminated.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `guid` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `guid` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` (`ResourceNotFoundError`, "router group 'GUID' does not exist").
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `guid` is NULL or valid for reading `guid_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_router_group_json(
    reg: *const ry_registry,
    guid: *const u8,
    guid_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `guid` is NULL or `guid_len` readable bytes.
        let guid = unsafe { str_arg(guid, guid_len, "guid") }?;
        let out = StringOut::new(out, out_len)?;
        let group = registry
            .router_group(guid)
            .ok_or_else(|| ry_error::not_found(format!("router group '{guid}' does not exist")))?;
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(cf::encode(&group)) };
        Ok(())
    })
}

/// Replaces the reservable ports of a router group, as routing-api's
/// `PUT /routing/v1/router_groups/:guid`: the body is a CF router group object of which
/// only `reservable_ports` is used (name and type cannot change). An unchanged value
/// commits nothing.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `guid`, `guid_len`: the group's guid, UTF-8.
/// - `json`, `json_len`: the body, such as `{"reservable_ports": "5000-5010"}`.
/// - `out`: receives the updated group as a CF JSON object; may be NULL.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `guid` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8`, `RY_ERR_INVALID_JSON` for a body that is not a CF object.
/// - `RY_ERR_NOT_FOUND` for an unknown guid ("router group 'GUID' does not exist").
/// - `RY_ERR_INVALID_ROUTER_GROUP` for ports CF refuses, with CF's message.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `guid` is NULL or valid for reading `guid_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_update_router_group_json(
    reg: *const ry_registry,
    guid: *const u8,
    guid_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `guid` is NULL or `guid_len` readable bytes.
        let guid = unsafe { str_arg(guid, guid_len, "guid") }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let body = cf::decode_router_group(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let group = registry.update_router_group(guid, &body.reservable_ports)?;
        if !out.is_null() {
            // SAFETY: `out` is non-NULL; the caller guarantees it and `out_len` are
            // writable or NULL.
            unsafe { StringOut::new(out, out_len)?.write(cf::encode(&group)) };
        }
        Ok(())
    })
}

/// Deletes a router group and its port reservations. Its TCP mappings stay, as in
/// Cloud Foundry.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `guid`, `guid_len`: the group's guid, UTF-8.
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
/// - `RY_ERR_NULL_ARG` when `reg` or `guid` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `guid` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown guid.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `guid` is NULL or valid for reading `guid_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_router_group(
    reg: *const ry_registry,
    guid: *const u8,
    guid_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `guid` is NULL or `guid_len` readable bytes.
        let guid = unsafe { str_arg(guid, guid_len, "guid") }?;
        let after = registry.delete_router_group(guid)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

// -- HTTP routes --------------------------------------------------------------------

/// Creates or renews Cloud Foundry HTTP routes, all or none, as routing-api's
/// `POST /routing/v1/routes`.
///
/// The body is a JSON array of route objects,
/// `[{"route": "myapp.com/path", "ip": "10.0.0.1", "port": 8080, "ttl": 60,
/// "log_guid": "...", "route_service_url": "https://..."}]`. The whole array is
/// validated with CF's rules in CF's order before anything applies; a route without
/// `ttl` gets the `max_ttl`. A new key (route, ip, port, route_service_url) gets a new
/// modification tag; renewing one bumps its index and restarts its lease.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the JSON array, UTF-8.
/// - `revision`: receives the registry's revision after the call; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8`, or `RY_ERR_INVALID_JSON` for a body that is not an array of
///   route objects (routing-api's `ProcessRequestError`, with the decoder's message).
/// - `RY_ERR_INVALID_ROUTE` (`RouteInvalidError`), such as "Each route request requires
///   a port greater than 0" or "Max ttl is 120".
/// - `RY_ERR_INVALID_ROUTE_SERVICE_URL` (`RouteServiceUrlInvalidError`), such as
///   "Route service url must use HTTPS.".
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_upsert_http_routes_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let routes = cf::decode_http_routes(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let after = registry.upsert_http_routes(routes)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Removes Cloud Foundry HTTP routes by key (route, ip, port, route_service_url), as
/// routing-api's `DELETE /routing/v1/routes`; routes that do not exist are skipped.
/// The body is a JSON array of route objects, validated whole first (TTLs are not
/// checked).
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the JSON array, UTF-8.
/// - `revision`: receives the registry's revision after the call; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// As `ry_registry_upsert_http_routes_json`, without the TTL rules.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_http_routes_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let routes = cf::decode_http_routes(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let after = registry.delete_http_routes(&routes)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Lists the live Cloud Foundry HTTP routes as routing-api's `GET /routing/v1/routes`
/// does: a JSON array of route objects with their `ttl` and `modification_tag`, in no
/// particular order. Lapsed routes never appear, expired or not.
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
pub unsafe extern "C" fn ry_registry_http_routes_json(
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
        unsafe { out.write(cf::encode(&registry.http_routes())) };
        Ok(())
    })
}

// -- TCP route mappings -------------------------------------------------------------

/// Creates or renews Cloud Foundry TCP route mappings, all or none, as routing-api's
/// `POST /routing/v1/tcp_routes/create`.
///
/// The body is a JSON array of mapping objects,
/// `[{"router_group_guid": "...", "port": 5000, "backend_ip": "10.0.0.1",
/// "backend_port": 6000, "ttl": 60}]`. Each mapping passes CF's rules, must name an
/// existing router group, and must agree on `terminate_frontend_tls` with live mappings
/// sharing its SNI host name and port. A new mapping claims the reservation of its
/// port, if any.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the JSON array, UTF-8.
/// - `revision`: receives the registry's revision after the call; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8`, or `RY_ERR_INVALID_JSON` for a body that is not an array of
///   mapping objects.
/// - `RY_ERR_INVALID_TCP_MAPPING` with CF's message, such as "Each tcp mapping requires
///   a positive backend port. RouteMapping=[...]" or "router_group_guid: X not found";
///   `ry_error_body` gives it as routing-api sends it (`ProcessRequestError`,
///   "Cannot process request: ...").
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_upsert_tcp_route_mappings_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let mappings =
            cf::decode_tcp_route_mappings(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let after = registry.upsert_tcp_route_mappings(mappings)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Removes Cloud Foundry TCP route mappings by key, as routing-api's
/// `POST /routing/v1/tcp_routes/delete`; mappings that do not exist are skipped.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the JSON array of mapping objects, UTF-8.
/// - `revision`: receives the registry's revision after the call; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// As `ry_registry_upsert_tcp_route_mappings_json`, without the TTL and router group
/// checks.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_tcp_route_mappings_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let mappings =
            cf::decode_tcp_route_mappings(json.as_bytes()).map_err(ry_error::invalid_json)?;
        let after = registry.delete_tcp_route_mappings(&mappings)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Lists the live Cloud Foundry TCP route mappings as routing-api's
/// `GET /routing/v1/tcp_routes` does: a JSON array of mapping objects, in no
/// particular order.
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
pub unsafe extern "C" fn ry_registry_tcp_route_mappings_json(
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
        unsafe { out.write(cf::encode(&registry.tcp_route_mappings())) };
        Ok(())
    })
}

/// Lists the live TCP route mappings in any of the given isolation segments, as
/// routing-api's `GET /routing/v1/tcp_routes?isolation_segment=A&isolation_segment=B`.
/// An empty string selects mappings without a segment.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `segments`, `segments_len`: a JSON array of strings, such as `["is1", ""]`.
/// - `out`: receives the JSON array of mappings, NUL-terminated.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `segments` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8`, or `RY_ERR_INVALID_JSON` when `segments` is not an array of
///   strings.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `segments` is NULL or valid for reading `segments_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_tcp_route_mappings_in_json(
    reg: *const ry_registry,
    segments: *const u8,
    segments_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `segments` is NULL or `segments_len` bytes.
        let segments = unsafe { str_arg(segments, segments_len, "segments") }?;
        let out = StringOut::new(out, out_len)?;
        let segments: Vec<String> = serde_json::from_str(segments).map_err(|e| {
            ry_error::bad_json(format!("segments must be a JSON array of strings: {e}"))
        })?;
        let mappings = registry.tcp_route_mappings_in(&segments);
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(cf::encode(&mappings)) };
        Ok(())
    })
}

// -- Port reservations --------------------------------------------------------------

/// Reserves the lowest port of a router group's reservable ports that no TCP mapping
/// and no live reservation holds. Concurrent callers never get the same port. The
/// reservation lapses after its TTL unless a TCP mapping on that port claims it first.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `guid`, `guid_len`: the router group's guid, UTF-8.
/// - `ttl_seconds`: the reservation's lifetime in seconds, or NULL for the configured
///   reservation TTL.
/// - `port`: receives the reserved port.
/// - `expires_at_nanos`: receives when the reservation lapses, on the registry's clock;
///   may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing is reserved nor written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `guid` or `port` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `guid` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown group.
/// - `RY_ERR_INVALID_ARGUMENT` for a zero TTL.
/// - `RY_ERR_INVALID_REQUEST` for a group without reservable ports.
/// - `RY_ERR_PORT_RANGE_EXHAUSTED` (`PortRangeExhaustedError`, "There are no free ports
///   in range: ...") when every port is held.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `guid` is NULL or valid for reading `guid_len` bytes.
/// - `ttl_seconds` is NULL or valid for reading one `uint64_t`.
/// - `port` is NULL or valid for writing one `uint16_t`.
/// - `expires_at_nanos` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_reserve_port(
    reg: *const ry_registry,
    guid: *const u8,
    guid_len: usize,
    ttl_seconds: *const u64,
    port: *mut u16,
    expires_at_nanos: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `guid` is NULL or `guid_len` readable bytes.
        let guid = unsafe { str_arg(guid, guid_len, "guid") }?;
        let port = required(port, "port")?;
        // SAFETY: the caller guarantees `ttl_seconds` is NULL or readable.
        let ttl = unsafe { ttl_seconds.as_ref() }.map(|s| Duration::from_secs(*s));
        let reservation = registry.reserve_port(guid, ttl)?;
        // SAFETY: `port` is non-NULL; the caller guarantees both destinations.
        unsafe {
            port.write(reservation.port);
            write_opt(expires_at_nanos, reservation.expires_at.as_nanos());
        }
        Ok(())
    })
}

/// Releases a port reservation.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `guid`, `guid_len`: the router group's guid, UTF-8.
/// - `port`: the reserved port.
/// - `revision`: receives the registry's revision after the call; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `guid` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `guid` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` when the port is not reserved (a lapsed reservation is not,
///   even before it is expired).
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `guid` is NULL or valid for reading `guid_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_release_port(
    reg: *const ry_registry,
    guid: *const u8,
    guid_len: usize,
    port: u16,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `guid` is NULL or `guid_len` readable bytes.
        let guid = unsafe { str_arg(guid, guid_len, "guid") }?;
        let after = registry.release_port(guid, port)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Lists the live port reservations as a JSON array,
/// `[{"router_group_guid": "...", "port": 5000, "expires_at": 1700000000000000000}]`
/// (`expires_at` in nanoseconds on the registry's clock), in no particular order.
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
pub unsafe extern "C" fn ry_registry_port_reservations_json(
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
        unsafe { out.write(cf::encode(&registry.port_reservations())) };
        Ok(())
    })
}

/// Cloud Foundry's client-side `ReservePort(name, "a-b")`, done atomically: picks the
/// first port of `a..=b` that no router group's ranges contain, then narrows the group
/// called `name` to that single port, creating it as a `tcp` group if needed.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the router group's name, UTF-8.
/// - `range`, `range_len`: the port range, such as `"1024-2000"`, UTF-8.
/// - `port`: receives the chosen port.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `name`, `range` or `port` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` or `range` is not UTF-8.
/// - `RY_ERR_INVALID_ROUTER_GROUP` for a range CF cannot parse, with CF's message.
/// - `RY_ERR_INVALID_REQUEST` for several ranges ("multiple port ranges are not
///   supported") or a single port ("single port is not supported").
/// - `RY_ERR_PORT_RANGE_EXHAUSTED` ("There are no free ports in range: [a-b]").
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `range` is NULL or valid for reading `range_len` bytes.
/// - `port` is NULL or valid for writing one `uint16_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_reserve_port_in_range(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    range: *const u8,
    range_len: usize,
    port: *mut u16,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        // SAFETY: the caller guarantees `range` is NULL or `range_len` readable bytes.
        let range = unsafe { str_arg(range, range_len, "range") }?;
        let port = required(port, "port")?;
        let chosen = registry.reserve_port_in_range(name, range)?;
        // SAFETY: `port` is non-NULL and the caller guarantees it is writable.
        unsafe { port.write(chosen) };
        Ok(())
    })
}
