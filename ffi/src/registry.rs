//! The registry handle: creation, revision, time, expiry, snapshots and atomic batches.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use routeyard_core::{Config, Registry, Timestamp};

use crate::config::ry_config;
use crate::error::{ry_error, ry_status};
use crate::json;
use crate::string::{required, str_arg, write_opt, StringOut};

/// A route registry: Cloud Foundry HTTP routes and TCP route mappings with TTL
/// leases, router groups and port reservations, Kong-style routes and services, and
/// the revisioned change log that subscriptions follow.
///
/// Thread-safety: may be shared across threads. Every function that takes a
/// `const ry_registry *` may be called on the same registry from several threads at
/// once; readers never wait for writers to finish a batch.
///
/// Lifetime: created by `ry_registry_new` or `ry_registry_new_with_config` and freed
/// by `ry_registry_free`, once, after every other call on it has returned. Strings,
/// errors and subscriptions it hands out do not borrow from it; a reaper started on it
/// keeps it alive until the reaper is freed.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_registry {
    inner: Arc<Registry>,
}

/// Borrows the registry behind `reg`.
///
/// # Safety
///
/// `reg` must be NULL or a live handle from `ry_registry_new` that is not freed while the
/// returned borrow is in use.
pub(crate) unsafe fn registry<'a>(reg: *const ry_registry) -> Result<&'a Arc<Registry>, ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    match unsafe { reg.as_ref() } {
        Some(reg) => Ok(&reg.inner),
        None => Err(ry_error::null_arg("reg")),
    }
}

/// Hands a new registry to C.
fn into_handle(registry: Registry) -> *mut ry_registry {
    ry_registry::from_shared(Arc::new(registry))
}

impl ry_registry {
    /// A C handle to a registry that Rust code already holds, for a Rust program that
    /// links the C API in process (as the benchmarks do, through the
    /// `routeyard-ffi-rlib` package) and shares one registry between its Rust and C
    /// parts. Free the handle with `ry_registry_free`, which drops only its own
    /// reference. Not part of the C API.
    pub fn from_shared(registry: Arc<Registry>) -> *mut ry_registry {
        Box::into_raw(Box::new(ry_registry { inner: registry }))
    }
}

/// The version of the core library, NUL-terminated, built at compile time so that
/// `ry_version` neither allocates nor fails.
static VERSION: [u8; routeyard_core::VERSION.len() + 1] = nul_terminated(routeyard_core::VERSION);

const fn nul_terminated<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    assert!(
        bytes.len() + 1 == N,
        "the buffer holds the text and one NUL"
    );
    let mut buf = [0u8; N];
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i] != 0, "the version contains no NUL byte");
        buf[i] = bytes[i];
        i += 1;
    }
    buf
}

/// Returns the version of the library, such as `"0.1.0"`.
///
/// Thread-safety: may be called from any thread.
///
/// # Returns
///
/// A static NUL-terminated string; never NULL.
///
/// # Lifetimes
///
/// The string lives as long as the library is loaded. Do not free it.
#[no_mangle]
pub extern "C" fn ry_version() -> *const c_char {
    ffi_boundary!({ VERSION.as_ptr().cast() })
}

/// Creates an empty registry on the system clock, every other option at its default
/// (see `ry_config_new`).
///
/// # Arguments
///
/// - `max_ttl_seconds`: the longest lease, in seconds, that a registration may ask for,
///   and the lease of one that asks for none. Cloud Foundry's routing-api uses 120.
///
/// # Returns
///
/// A new registry, to be freed with `ry_registry_free`, or NULL if the library panicked.
#[no_mangle]
pub extern "C" fn ry_registry_new(max_ttl_seconds: u64) -> *mut ry_registry {
    ffi_boundary!({
        let config = Config::new().max_ttl(Duration::from_secs(max_ttl_seconds));
        into_handle(Registry::new(config))
    })
}

/// Creates an empty registry with the options of a configuration.
///
/// # Arguments
///
/// - `config`: the options; only read during the call, so it may be freed or changed
///   afterwards without affecting the registry. A manual clock set on it is shared:
///   moving the clock moves the registry's time.
/// - `out`: receives the new registry, to be freed with `ry_registry_free`.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `config` or `out` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle.
/// - `out` is NULL or valid for writing one `ry_registry *`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_new_with_config(
    config: *const ry_config,
    out: *mut *mut ry_registry,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `config` is NULL or a live handle.
        let config = unsafe { crate::config::config(config) }?.clone();
        let out = required(out, "out")?;
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { out.write(into_handle(Registry::new(config))) };
        Ok(())
    })
}

/// Frees a registry. Passing NULL does nothing.
///
/// Open subscriptions stay valid: they deliver what they buffered, then report
/// `RY_ERR_CLOSED`. A running reaper keeps the registry's state alive until the reaper
/// is freed.
///
/// # Arguments
///
/// - `reg`: the registry to free, or NULL.
///
/// # Safety
///
/// - `reg` is NULL or a handle from `ry_registry_new` or `ry_registry_new_with_config`;
///   call this at most once per handle, after every other call on it has returned, and
///   do not use it afterwards.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_free(reg: *mut ry_registry) {
    ffi_boundary!({
        if !reg.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in `into_handle`, and
            // the caller guarantees this one is freed once and no longer in use.
            drop(unsafe { Box::from_raw(reg) });
        }
    })
}

/// Reads the registry's revision: a counter that every committed change advances.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `revision`: receives the revision; a new registry is at revision 0.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL if the caller does not want details.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG`.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `revision` is NULL.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_revision(
    reg: *const ry_registry,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let revision = required(revision, "revision")?;
        // SAFETY: `revision` is non-NULL and the caller guarantees it is writable.
        unsafe { revision.write(registry.revision()) };
        Ok(())
    })
}

/// Reads the registry's clock: nanoseconds since the Unix epoch for the system clock,
/// or the time of the manual clock it was configured with.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `now_nanos`: receives the time in nanoseconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` or `now_nanos` is NULL.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `now_nanos` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_now(
    reg: *const ry_registry,
    now_nanos: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let now_nanos = required(now_nanos, "now_nanos")?;
        // SAFETY: `now_nanos` is non-NULL and the caller guarantees it is writable.
        unsafe { now_nanos.write(registry.clock().now().as_nanos()) };
        Ok(())
    })
}

/// Removes every lease (CF HTTP route, TCP mapping, port reservation) that lapsed at
/// or before `now_nanos` and publishes one event per removal, action `Expire`.
///
/// A lapsed lease is never listed, matched or counted as held, even before it is
/// removed: this only reclaims memory and publishes the events. The work runs in
/// chunks, so other threads wait for one chunk at most.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `now_nanos`: the time to expire at, on the registry's clock (see
///   `ry_registry_now`).
/// - `removed`: receives how many leases were removed; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` is NULL.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `removed` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_expire(
    reg: *const ry_registry,
    now_nanos: u64,
    removed: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let count = registry.expire(Timestamp::from_nanos(now_nanos));
        // SAFETY: the caller guarantees `removed` is NULL or writable.
        unsafe { write_opt(removed, count) };
        Ok(())
    })
}

/// Drops every lapsed CF backend still held by the matcher's index. Lapsed backends
/// are never matched, and each commit drops a few anyway: this finishes the job, for
/// example after a large `ry_registry_expire`. A reaper does it after every sweep.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `removed`: receives how many backends were dropped; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` is NULL.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `removed` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_compact_index(
    reg: *const ry_registry,
    removed: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let count = registry.compact_index();
        // SAFETY: the caller guarantees `removed` is NULL or writable.
        unsafe { write_opt(removed, count) };
        Ok(())
    })
}

/// Reads how many subscriptions of the registry are open.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `count`: receives the number of open subscriptions.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` or `count` is NULL.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `count` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_subscriber_count(
    reg: *const ry_registry,
    count: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let count = required(count, "count")?;
        // SAFETY: `count` is non-NULL and the caller guarantees it is writable.
        unsafe { count.write(registry.subscriber_count()) };
        Ok(())
    })
}

/// Writes everything the registry holds, and the revision it shows, as one JSON
/// object:
///
/// ```text
/// {"revision": 12,
///  "router_groups": [CF router group, ...],
///  "http_routes": [CF HTTP route + "expires_at", ...],
///  "tcp_route_mappings": [CF TCP mapping + "expires_at", ...],
///  "port_reservations": [{"router_group_guid", "port", "expires_at"}, ...],
///  "services": [Kong service, ...],
///  "routes": [Kong route, ...],
///  "upstreams": [{"service_id", "backends", "config"}, ...],
///  "servers": [{"name": ..., gobetween server fields}, ...]}
/// ```
///
/// Objects are in their dialect's wire shape (as the list functions write them);
/// leased ones also carry `expires_at`, in nanoseconds on the registry's clock. Leases
/// that lapsed but were not yet expired are included: they are part of the state until
/// the event that removes them. Lists are sorted by key (Kong objects by id), so equal
/// states give equal text. The snapshot at revision `r` plus the events after `r`
/// (`ry_registry_subscribe` from `r`) is exactly the current state.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `out`: receives the JSON text, NUL-terminated.
/// - `out_len`: receives its length in bytes, without the NUL; may be NULL.
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
pub unsafe extern "C" fn ry_registry_snapshot_json(
    reg: *const ry_registry,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = StringOut::new(out, out_len)?;
        let text = json::snapshot(&registry.snapshot());
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(text) };
        Ok(())
    })
}

/// Applies a batch of changes atomically: each change is validated and applied in
/// order, seeing the ones before it; if any fails, none is kept and the registry is
/// exactly as before. The committed events have consecutive revisions.
///
/// The batch is a JSON array; each change is an object with exactly one key, naming
/// the change, whose value is its argument:
///
/// | change | argument |
/// |---|---|
/// | `upsert_http_route` | a CF HTTP route object |
/// | `delete_http_route` | a CF HTTP route object |
/// | `upsert_tcp_route_mapping` | a CF TCP route mapping object |
/// | `delete_tcp_route_mapping` | a CF TCP route mapping object |
/// | `create_router_group` | a CF router group object |
/// | `update_router_group` | `{"guid": "...", "reservable_ports": "..."}` |
/// | `delete_router_group` | `{"guid": "..."}` |
/// | `reserve_port` | `{"router_group_guid": "...", "ttl": 30}`, `ttl` in seconds, optional |
/// | `release_port` | `{"router_group_guid": "...", "port": 5000}` |
/// | `upsert_service` | a Kong service object; replaces the service its `id` names, if any |
/// | `put_service` | `{"key": "name or id", "service": {Kong service}}`, as `ry_registry_put_service_json` |
/// | `delete_service` | `{"key": "name or id"}` |
/// | `upsert_route` | a Kong route object; replaces the route its `id` names, if any |
/// | `put_route` | `{"key": "name or id", "route": {Kong route}}`, as `ry_registry_put_route_json` |
/// | `delete_route` | `{"key": "name or id"}` |
/// | `put_upstream` | `{"service": "name or id", "backends": [...], "config": {...}}`, as `ry_registry_put_upstream_json` |
/// | `delete_upstream` | `{"service": "name or id"}` |
/// | `create_server` | `{"name": "web", "server": {gobetween server}}`, as `ry_registry_create_server_json` |
/// | `delete_server` | `{"name": "web"}` |
///
/// For example
/// `[{"create_router_group": {"name": "g", "type": "tcp", "reservable_ports": "5000"}},
///   {"upsert_http_route": {"route": "a.example.com", "ip": "10.0.0.1", "port": 80}}]`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the batch, UTF-8.
/// - `out`: receives the committed events as a JSON array of event objects (the shape
///   `ry_subscription_poll` writes); `[]` when nothing changed. May be NULL.
/// - `out_len`: receives the length of that text; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing was applied and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8`, or `RY_ERR_INVALID_JSON` for a batch that is not an array of
///   the changes above, or an argument its dialect's decoder refuses (Kong objects that
///   break Kong's schema included); the message names the change by its index (from 0).
/// - The first failing change's own status and message, as the single-purpose functions
///   report it (`RY_ERR_INVALID_ROUTE`, `RY_ERR_NOT_FOUND`, `RY_ERR_UNIQUE_VIOLATION`,
///   ...); `ry_error_body` gives CF's form for every change.
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
pub unsafe extern "C" fn ry_registry_apply_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let changes = json::decode_changes(json)?;
        let events = registry.apply(changes)?;
        if !out.is_null() {
            // SAFETY: `out` is non-NULL; the caller guarantees it and `out_len` are
            // writable or NULL.
            unsafe { StringOut::new(out, out_len)?.write(json::events(&events)) };
        }
        Ok(())
    })
}

/// Makes the registry hold exactly what a snapshot holds, atomically: the state a
/// replica loads before following the events after the snapshot's revision.
///
/// The input is the JSON `ry_registry_snapshot_json` writes (every key required but
/// `upstreams` and `servers`, which may be absent for none; no other key allowed).
/// Objects keep everything the snapshot gives them: guids, ids, modification tags,
/// `expires_at`, `created_at`. Only differences are written, each with its event under
/// a new revision of this registry (the snapshot's own revision is not taken over:
/// revisions never go back). Leases that lapsed meanwhile are restored lapsed: never
/// listed, and gone at the next expiry.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the snapshot, UTF-8.
/// - `revision`: receives the registry's revision after the restore; may be NULL.
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
/// - `RY_ERR_INVALID_UTF8`, or `RY_ERR_INVALID_JSON` for text that is not a snapshot, or
///   an object its dialect's decoder refuses; the message names the list and index.
/// - The status of the first inconsistency the core finds, with its message: an object
///   breaking its kind's rules (`RY_ERR_INVALID_ROUTE`, `RY_ERR_SCHEMA_VIOLATION`, ...),
///   a repeated id, key or name, or a reference to a router group or service the
///   snapshot lacks.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_restore_json(
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
        let snapshot = json::decode_snapshot(json)?;
        let after = registry.restore(snapshot)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::{ry_registry_create_router_group_json, ry_registry_router_groups_json};
    use crate::error::{ry_error_free, ry_error_message, ry_error_name};
    use crate::string::ry_string_free;
    use std::ffi::CStr;
    use std::ptr;

    /// A registry freed when the test ends.
    struct Reg(*mut ry_registry);

    impl Reg {
        fn new() -> Reg {
            let reg = ry_registry_new(120);
            assert!(!reg.is_null());
            Reg(reg)
        }

        fn revision(&self) -> u64 {
            let mut revision = u64::MAX;
            // SAFETY: a live handle and a local destination.
            let status = unsafe { ry_registry_revision(self.0, &mut revision, ptr::null_mut()) };
            assert_eq!(status, ry_status::RyOk);
            revision
        }

        /// Calls `ry_registry_create_router_group_json`; returns the status and, on
        /// success, the group JSON and the created flag, or else the error's name and
        /// message.
        fn create(&self, json: &[u8]) -> (ry_status, String, bool) {
            let mut out: *mut c_char = ptr::null_mut();
            let mut len = 0usize;
            let mut created = false;
            let mut err: *mut ry_error = ptr::null_mut();
            // SAFETY: all pointers are live locals; whatever is handed out is freed below.
            unsafe {
                let status = ry_registry_create_router_group_json(
                    self.0,
                    json.as_ptr(),
                    json.len(),
                    &mut out,
                    &mut len,
                    &mut created,
                    &mut err,
                );
                if status == ry_status::RyOk {
                    assert!(err.is_null());
                    let text = CStr::from_ptr(out).to_str().unwrap().to_owned();
                    assert_eq!(text.len(), len);
                    ry_string_free(out);
                    (status, text, created)
                } else {
                    assert!(out.is_null());
                    let name = CStr::from_ptr(ry_error_name(err)).to_str().unwrap();
                    let message = CStr::from_ptr(ry_error_message(err)).to_str().unwrap();
                    let text = format!("{name}: {message}");
                    ry_error_free(err);
                    (status, text, created)
                }
            }
        }

        fn groups(&self) -> serde_json::Value {
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: a live handle and local destinations; the string is freed below.
            unsafe {
                let status = ry_registry_router_groups_json(
                    self.0,
                    &mut out,
                    ptr::null_mut(),
                    ptr::null_mut(),
                );
                assert_eq!(status, ry_status::RyOk);
                let value = serde_json::from_slice(CStr::from_ptr(out).to_bytes()).unwrap();
                ry_string_free(out);
                value
            }
        }
    }

    impl Drop for Reg {
        fn drop(&mut self) {
            // SAFETY: the handle is live and freed exactly once, here.
            unsafe { ry_registry_free(self.0) };
        }
    }

    const DEFAULT_TCP: &[u8] =
        br#"{"name":"default-tcp","type":"tcp","reservable_ports":"1024-65535"}"#;

    #[test]
    fn version_is_the_core_version() {
        // SAFETY: `ry_version` returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(ry_version()) };
        assert_eq!(version.to_str().unwrap(), routeyard_core::VERSION);
    }

    #[test]
    fn create_then_list_router_groups() {
        let reg = Reg::new();
        assert_eq!(reg.revision(), 0);
        assert_eq!(reg.groups(), serde_json::json!([]));

        let (status, json, created) = reg.create(DEFAULT_TCP);
        assert_eq!(status, ry_status::RyOk);
        assert!(created);
        let group: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(group["name"], "default-tcp");
        assert_eq!(group["type"], "tcp");
        assert_eq!(group["reservable_ports"], "1024-65535");
        assert!(!group["guid"].as_str().unwrap().is_empty());
        assert!(reg.revision() > 0);
        assert_eq!(reg.groups(), serde_json::json!([group]));

        let revision = reg.revision();
        let (status, again, created) = reg.create(DEFAULT_TCP);
        assert_eq!(status, ry_status::RyOk);
        assert!(!created);
        assert_eq!(again, json);
        assert_eq!(reg.revision(), revision);
    }

    #[test]
    fn create_reports_each_kind_of_bad_input() {
        let reg = Reg::new();
        let (status, text, _) = reg.create(b"\xff{}");
        assert_eq!(status, ry_status::RyErrInvalidUtf8);
        assert!(text.starts_with("ProcessRequestError: argument `json` is not valid UTF-8"));

        let (status, text, _) = reg.create(b"{\"name\":");
        assert_eq!(status, ry_status::RyErrInvalidJson);
        assert!(text.starts_with("ProcessRequestError: "), "{text}");

        let (status, text, _) =
            reg.create(br#"{"name":"g","type":"tcp","reservable_ports":"1024, 2000"}"#);
        assert_eq!(status, ry_status::RyErrInvalidRouterGroup);
        assert!(text.starts_with("ProcessRequestError: "), "{text}");

        assert_eq!(reg.revision(), 0);
        assert_eq!(reg.groups(), serde_json::json!([]));
    }

    #[test]
    fn null_arguments_are_reported_not_dereferenced() {
        let reg = Reg::new();
        let mut out: *mut c_char = ptr::null_mut();
        let mut revision = 0u64;
        // SAFETY: every pointer is NULL or a live local; nothing is handed out.
        unsafe {
            assert_eq!(
                ry_registry_revision(ptr::null(), &mut revision, ptr::null_mut()),
                ry_status::RyErrNullArg
            );
            assert_eq!(
                ry_registry_revision(reg.0, ptr::null_mut(), ptr::null_mut()),
                ry_status::RyErrNullArg
            );
            assert_eq!(
                ry_registry_router_groups_json(
                    ptr::null(),
                    &mut out,
                    ptr::null_mut(),
                    ptr::null_mut()
                ),
                ry_status::RyErrNullArg
            );
            assert_eq!(
                ry_registry_router_groups_json(
                    reg.0,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut()
                ),
                ry_status::RyErrNullArg
            );
            let status = ry_registry_create_router_group_json(
                reg.0,
                ptr::null(),
                0,
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            );
            assert_eq!(status, ry_status::RyErrNullArg);
            let status = ry_registry_create_router_group_json(
                reg.0,
                DEFAULT_TCP.as_ptr(),
                DEFAULT_TCP.len(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            );
            assert_eq!(status, ry_status::RyErrNullArg);
            ry_registry_free(ptr::null_mut());
        }
        assert!(out.is_null());
        // The call with a NULL `out` was rejected before it created anything.
        assert_eq!(reg.revision(), 0);
    }

    #[test]
    fn one_registry_serves_several_threads() {
        let reg = Reg::new();
        let handle = reg.0 as usize;
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || {
                    let reg = handle as *const ry_registry;
                    let json = format!(
                        r#"{{"name":"g{t}","type":"tcp","reservable_ports":"{}"}}"#,
                        2000 + t
                    );
                    let mut out: *mut c_char = ptr::null_mut();
                    // SAFETY: the registry outlives the scope; `out` is freed below.
                    unsafe {
                        let status = ry_registry_create_router_group_json(
                            reg,
                            json.as_ptr(),
                            json.len(),
                            &mut out,
                            ptr::null_mut(),
                            ptr::null_mut(),
                            ptr::null_mut(),
                        );
                        assert_eq!(status, ry_status::RyOk);
                        ry_string_free(out);
                    }
                });
            }
        });
        assert_eq!(reg.groups().as_array().unwrap().len(), 4);
    }

    #[test]
    fn a_shared_registry_outlives_its_c_handle() {
        let shared = Arc::new(Registry::new(Config::new()));
        let handle = ry_registry::from_shared(shared.clone());
        let mut revision = u64::MAX;
        // SAFETY: a live handle and a writable local.
        assert_eq!(
            unsafe { ry_registry_revision(handle, &mut revision, ptr::null_mut()) },
            ry_status::RyOk
        );
        assert_eq!(revision, 0);
        shared
            .create_router_group(routeyard_core::RouterGroup::new("g", "tcp", "5000"))
            .unwrap();
        // SAFETY: as above; the handle is freed once, then only the Rust side is used.
        unsafe {
            assert_eq!(
                ry_registry_revision(handle, &mut revision, ptr::null_mut()),
                ry_status::RyOk
            );
            ry_registry_free(handle);
        }
        assert_eq!(revision, 1);
        assert_eq!(Arc::strong_count(&shared), 1);
        assert_eq!(shared.router_groups().len(), 1);
    }
}
