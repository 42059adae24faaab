//! Services' backends on a registry: upstreams, CDAP version splits, backend pools'
//! statistics and the connection reports a proxy makes about them.
//!
//! Upstreams travel as the core's JSON shape (`routeyard::Upstream`:
//! `{"service_id", "backends", "config"}`), splits as CDAP's route config
//! (`{"v1": 80, "v2": 20}`, read by `routeyard::dialect::cdap::decode`) and
//! statistics as gobetween's `GET /servers/{name}/stats` body. Errors carry CDAP's
//! texts where CDAP has one; `ry_error_body` gives them in CF's `{"name", "message"}`
//! form (CDAP's own body is the bare text).

use std::ffi::c_char;

use routeyard_core::balance::{Backend, Fallback, PoolConfig, Split, SplitConfig};
use routeyard_core::dialect::cdap;
use routeyard_core::stats::BackendStats;
use routeyard_core::{Registry, Timestamp, Upstream};
use serde_json::{Map, Value};

use crate::error::{ry_error, ry_status};
use crate::registry::{registry, ry_registry};
use crate::string::{str_arg, write_opt, StringOut};

/// A split's fallback, CDAP's `router.userservice.fallback.strategy`: what a pick does
/// when the split is missing or no longer valid. One of the `RY_FALLBACK_*` values.
#[allow(non_camel_case_types)]
pub type ry_fallback = u32;

/// Fallback: any eligible backend, whatever its version (CDAP's default).
pub const RY_FALLBACK_RANDOM: ry_fallback = 0;
/// Fallback: no backend; the request is dropped.
pub const RY_FALLBACK_DROP: ry_fallback = 1;
/// Fallback: the backends of the smallest version label (by byte order) with an eligible
/// backend.
pub const RY_FALLBACK_SMALLEST: ry_fallback = 2;
/// Fallback: the backends of the largest version label (by byte order) with an eligible
/// backend.
pub const RY_FALLBACK_LARGEST: ry_fallback = 3;

/// The fallbacks by their C value.
const FALLBACKS: [(ry_fallback, Fallback); 4] = [
    (RY_FALLBACK_RANDOM, Fallback::Random),
    (RY_FALLBACK_DROP, Fallback::Drop),
    (RY_FALLBACK_SMALLEST, Fallback::Smallest),
    (RY_FALLBACK_LARGEST, Fallback::Largest),
];

/// What happened to a connection to a backend, for `ry_registry_report`. One of the
/// `RY_REPORT_*` values.
#[allow(non_camel_case_types)]
pub type ry_report_kind = u32;

/// Report: a connection to the backend was established and is now open (one more in
/// total, one more active).
pub const RY_REPORT_OPENED: ry_report_kind = 0;
/// Report: an open connection ended (one fewer active, never below zero).
pub const RY_REPORT_CLOSED: ry_report_kind = 1;
/// Report: a connection attempt was refused (one more refused).
pub const RY_REPORT_REFUSED: ry_report_kind = 2;
/// Report: a connection whose active slot was already counted is now established (one
/// more in total, active unchanged).
pub const RY_REPORT_ESTABLISHED: ry_report_kind = 3;

/// An argument `(ptr, len)` pair.
type Text = (*const u8, usize);

/// The keys of the body of `ry_registry_put_upstream_json`.
const POOL_KEYS: &str = "backends, config";

/// Reads `{"backends": [...], "config": {...}}` (config optional) into the core's types,
/// after the caller took the keys it owns (a batch's `service`); any other key is
/// refused. The error is the message, prefixed by `context`.
pub(crate) fn decode_pool(
    context: &str,
    mut map: Map<String, Value>,
) -> Result<(Vec<Backend>, PoolConfig), String> {
    let backends = match map.remove("backends") {
        None | Some(Value::Null) => return Err(format!("{context}: `backends` is required")),
        Some(v @ Value::Array(_)) => serde_json::from_value::<Vec<Backend>>(v)
            .map_err(|e| format!("{context}: backends: {e}"))?,
        Some(_) => return Err(format!("{context}: `backends` must be an array")),
    };
    let config = match map.remove("config") {
        None | Some(Value::Null) => PoolConfig::default(),
        Some(v @ Value::Object(_)) => serde_json::from_value::<PoolConfig>(v)
            .map_err(|e| format!("{context}: config: {e}"))?,
        Some(_) => return Err(format!("{context}: `config` must be an object")),
    };
    if let Some(key) = map.keys().next() {
        return Err(format!(
            "{context}: unknown key `{key}`; expected {POOL_KEYS}"
        ));
    }
    Ok((backends, config))
}

/// An upstream as C sees it: the core's shape, `{"service_id", "backends", "config"}`.
pub(crate) fn encode_upstream(upstream: &Upstream) -> String {
    // Strings, integers, booleans and string maps only: serialising cannot fail.
    serde_json::to_string(upstream).unwrap_or_default()
}

/// Reads an upstream as `encode_upstream` writes it (a snapshot's `upstreams`).
pub(crate) fn decode_upstream(context: &str, value: Value) -> Result<Upstream, String> {
    if !value.is_object() {
        return Err(format!("{context}: must be a JSON object"));
    }
    serde_json::from_value::<Upstream>(value).map_err(|e| format!("{context}: {e}"))
}

/// The service named or identified by `key` must exist.
fn known_service(registry: &Registry, key: &str) -> Result<(), ry_error> {
    match registry.service(key) {
        Some(_) => Ok(()),
        None => Err(ry_error::not_found(format!("no service {key:?}"))),
    }
}

/// Sets the backends and balancing of a service (a Kong service, by name or id): the
/// routes leading to it then pick among these backends. Counters of backends that stay
/// (same address and port) carry over; backends that go take their counters with them.
///
/// The body is `{"backends": [backend, ...], "config": {...}}`, `config` optional:
///
/// - a backend: `{"address": "10.0.0.1", "port": 8080, "weight": 1, "tier": 0,
///   "version": "v1", "max_connections": 100, "state": "live", "discovered": true,
///   "metadata": {"k": "v"}}`, only `address` and `port` required (`weight` defaults to
///   1, `state` is `live`, `draining` or `down`);
/// - `config`: `{"strategy": "roundrobin", "split": {"split": {"v1": 80, "v2": 20},
///   "fallback": "random", "sticky": false}, "seed": 7}`, every key optional; the
///   strategies are `roundrobin`, `random`, `leastconn`, `hash`, `iphash`, `iphash1`,
///   `leastbandwidth`, `weight`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `json`, `json_len`: the body, UTF-8.
/// - `out`: receives the stored upstream, `{"service_id": ..., "backends": [...],
///   "config": {...}}`; may be NULL.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` or `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` when `json` is not the body above (the message names the
///   field).
/// - `RY_ERR_NOT_FOUND` for an unknown service.
/// - `RY_ERR_INVALID_ARGUMENT` for backends the core refuses: an empty address, port 0,
///   or the same address and port twice. (A split in `config` is not checked here; one
///   that does not fit the backends applies its fallback. `ry_registry_set_split_json`
///   checks it by CDAP's rules.)
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_put_upstream_json(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let value: Value = serde_json::from_str(json)
            .map_err(|e| ry_error::bad_json(format!("the upstream is not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ry_error::bad_json(
                "upstream: the body must be a JSON object",
            ));
        };
        let (backends, config) = decode_pool("upstream", map).map_err(ry_error::bad_json)?;
        let stored = registry.put_upstream(service, backends, config)?;
        if !out.is_null() {
            // SAFETY: `out` is non-NULL; the caller guarantees it and `out_len` are
            // writable or NULL.
            unsafe { StringOut::new(out, out_len)?.write(encode_upstream(&stored)) };
        }
        Ok(())
    })
}

/// Reads the backends and balancing of a service.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `out`: receives the upstream, `{"service_id": ..., "backends": [...], "config":
///   {...}}`, in the shape `ry_registry_put_upstream_json` documents.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service or one without an upstream.
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
pub unsafe extern "C" fn ry_registry_upstream_json(
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
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        let out = StringOut::new(out, out_len)?;
        known_service(registry, service)?;
        let upstream = registry
            .upstream(service)
            .ok_or_else(|| ry_error::not_found(format!("service {service:?} has no upstream")))?;
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(encode_upstream(&upstream)) };
        Ok(())
    })
}

/// Lists every upstream, sorted by service id, as a JSON array of upstream objects (the
/// shape `ry_registry_upstream_json` writes); `[]` when there is none.
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
pub unsafe extern "C" fn ry_registry_upstreams_json(
    reg: *const ry_registry,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = StringOut::new(out, out_len)?;
        let all: Vec<String> = registry.upstreams().iter().map(encode_upstream).collect();
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(format!("[{}]", all.join(","))) };
        Ok(())
    })
}

/// Removes the backends and balancing of a service (its split with them); its routes
/// then match without a backend to pick.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
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
/// - `RY_ERR_NULL_ARG` when `reg` or `service` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service or one without an upstream.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_upstream(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        let after = registry.delete_upstream(service)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Sets the version split of a service from a CDAP route config body, as CDAP's
/// `PUT .../services/{service}/routeconfig`: `{"v1": 80, "v2": 20}` sends 80 of every
/// 100 requests that name no version to the backends labelled `v1`, 20 to `v2`.
///
/// The body is read as CDAP reads it (integral numbers and numeric strings accepted,
/// a repeated key or a non-integer refused) and checked by CDAP's rules, in CDAP's
/// order, against the `version` labels of the service's backends: not empty, every
/// version present, each percentage within 0..=100, a total of 100. A service without
/// an upstream gets one with no backends, so any version is then unknown.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `json`, `json_len`: the route config, UTF-8.
/// - `fallback`: what a pick does if the split becomes invalid (a version's last backend
///   removed): one of the `RY_FALLBACK_*` values.
/// - `sticky`: true to hash a caller key onto the percentages (the same key keeps its
///   version) instead of interleaving exactly.
/// - `revision`: receives the registry's revision after the change; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. Its message is the dialect's text; `ry_error_body` gives it in CF's
///   `{"name", "message"}` form.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` or `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` for a body CDAP cannot read, with its message (such as
///   `duplicate key: v1` or `Expected an int but was true at path $.v1`).
/// - `RY_ERR_INVALID_ARGUMENT` for a `fallback` outside `RY_FALLBACK_*`, or a split
///   CDAP's rules refuse, with CDAP's message: `Route config contains invalid format or
///   empty content.`, `The following versions of the application/service could not be
///   found : [v3]` (version labels), `Route Percentage for version v1 must be between 0
///   and 100, got 150.`, `Route Percentage needs to add up to 100.`
/// - `RY_ERR_NOT_FOUND` for an unknown service.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_set_split_json(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    json: *const u8,
    json_len: usize,
    fallback: ry_fallback,
    sticky: bool,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let fallback = FALLBACKS
            .iter()
            .find(|(value, _)| *value == fallback)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                ry_error::invalid_argument(format!(
                    "fallback {fallback} is none of RY_FALLBACK_RANDOM (0), RY_FALLBACK_DROP (1), \
                     RY_FALLBACK_SMALLEST (2), RY_FALLBACK_LARGEST (3)"
                ))
            })?;
        let entries = cdap::decode(json.as_bytes())
            .map_err(|e| ry_error::bad_json(e.message().to_owned()))?;
        let split = entries
            .into_iter()
            .fold(Split::new(), |split, (version, percent)| {
                split.with(version, i64::from(percent))
            });
        let config = SplitConfig::new(split).fallback(fallback).sticky(sticky);
        let after = registry.set_split(service, config)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Reads the version split of a service as CDAP's `GET .../routeconfig` answers it:
/// `{"v1":80,"v2":20}` (versions in byte order), or `{}` when the service has none.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `out`: receives the route config.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `fallback`: receives the split's `RY_FALLBACK_*` value (`RY_FALLBACK_RANDOM` when
///   there is no split); may be NULL.
/// - `sticky`: receives whether the split is sticky (false when there is none); may be
///   NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service.
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
/// - `fallback` is NULL or valid for writing one `ry_fallback`.
/// - `sticky` is NULL or valid for writing one `bool`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_split_json(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    fallback: *mut ry_fallback,
    sticky: *mut bool,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        let out = StringOut::new(out, out_len)?;
        known_service(registry, service)?;
        let config = registry.split(service).unwrap_or_default();
        let text = match &config.split {
            // A map of strings to integers always serialises.
            Some(split) => serde_json::to_string(split.percentages()).unwrap_or_default(),
            None => "{}".to_owned(),
        };
        let value = FALLBACKS
            .iter()
            .find(|(_, f)| *f == config.fallback)
            .map_or(RY_FALLBACK_RANDOM, |(value, _)| *value);
        // SAFETY: the caller guarantees every destination is writable or NULL.
        unsafe {
            out.write(text);
            write_opt(fallback, value);
            write_opt(sticky, config.sticky);
        }
        Ok(())
    })
}

/// Removes the version split of a service, as CDAP's `DELETE .../routeconfig`; its
/// backends and strategy stay.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
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
/// - `RY_ERR_NULL_ARG` when `reg` or `service` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service or one without a split (CDAP answers 404).
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_split(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        let after = registry.delete_split(service)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Reads the statistics of a service's backend pool in gobetween's shape
/// (`GET /servers/{name}/stats`): `{"active_connections", "rx_total", "tx_total",
/// "rx_second", "tx_second", "backends": [{"host", "port", "priority", "weight",
/// "stats": {"live", "discovered", "total_connections", "active_connections",
/// "refused_connections", "rx", "tx", "rx_second", "tx_second"}}, ...]}`. Per-second
/// rates are those of the last window closed by `ry_registry_sample_stats`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `out`: receives the statistics.
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
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service or one without an upstream.
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
pub unsafe extern "C" fn ry_registry_pool_stats_json(
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
        // SAFETY: the caller guarantees `service` is NULL or `service_len` readable bytes.
        let service = unsafe { str_arg(service, service_len, "service") }?;
        let out = StringOut::new(out, out_len)?;
        known_service(registry, service)?;
        let pool = registry
            .pool(service)
            .ok_or_else(|| ry_error::not_found(format!("service {service:?} has no upstream")))?;
        // Counters and strings only: serialising cannot fail.
        let text = serde_json::to_string(&pool.stats()).unwrap_or_default();
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(text) };
        Ok(())
    })
}

/// Closes a statistics window at `now_nanos` for every backend of every pool: each
/// backend's `rx_second` and `tx_second` become the bytes counted since the previous
/// sample divided by the seconds between the two (0 before the second sample). Call it
/// periodically (gobetween samples every 2 s) with the registry's clock
/// (`ry_registry_now`); a time at or before the previous sample changes nothing.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `now_nanos`: the end of the window, in nanoseconds on the registry's clock.
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
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_sample_stats(
    reg: *const ry_registry,
    now_nanos: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        registry.sample_stats(Timestamp::from_nanos(now_nanos));
        Ok(())
    })
}

/// Removes from every upstream the backends that are draining (`"state": "draining"`,
/// or `"discovered": false`) and hold no open connection any more. Each upstream that
/// loses backends is written as one change with its event.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `removed`: receives how many backends were removed; may be NULL.
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
pub unsafe extern "C" fn ry_registry_remove_drained(
    reg: *const ry_registry,
    removed: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let count = registry.remove_drained();
        // SAFETY: the caller guarantees `removed` is NULL or writable.
        unsafe { write_opt(removed, count) };
        Ok(())
    })
}

/// Runs `f` on the counters of one backend of a service's pool, found by address and
/// port.
///
/// # Safety
///
/// As `ry_registry_report`.
unsafe fn with_backend(
    reg: *const ry_registry,
    service: Text,
    address: Text,
    port: u16,
    f: impl FnOnce(&BackendStats),
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    let registry = unsafe { registry(reg) }?;
    // SAFETY: the caller guarantees `service` is NULL or that many readable bytes.
    let service = unsafe { str_arg(service.0, service.1, "service") }?;
    // SAFETY: the caller guarantees `address` is NULL or that many readable bytes.
    let address = unsafe { str_arg(address.0, address.1, "address") }?;
    known_service(registry, service)?;
    let pool = registry
        .pool(service)
        .ok_or_else(|| ry_error::not_found(format!("service {service:?} has no upstream")))?;
    let backend = pool.get(address, port).ok_or_else(|| {
        ry_error::not_found(format!(
            "service {service:?} has no backend {address}:{port}"
        ))
    })?;
    f(backend.stats());
    Ok(())
}

/// Reports what happened to a connection to one backend of a service, so that its
/// counters (`ry_registry_pool_stats_json`, `ry_registry_server_stats_json`) and the
/// strategies that read them (least connections) see it. The backend is named by its
/// identity, address and port; its counters survive changes to the upstream that keep
/// it.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `address`, `address_len`: the backend's address, UTF-8, as in its upstream.
/// - `port`: the backend's port.
/// - `kind`: what happened, one of the `RY_REPORT_*` values.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure no counter moved.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `address` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` or `address` is not UTF-8.
/// - `RY_ERR_INVALID_ARGUMENT` for a `kind` outside `RY_REPORT_*`.
/// - `RY_ERR_NOT_FOUND` for an unknown service, one without an upstream, or a backend
///   not in its pool.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `address` is NULL or valid for reading `address_len` bytes.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_report(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    address: *const u8,
    address_len: usize,
    port: u16,
    kind: ry_report_kind,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        let update: fn(&BackendStats) = match kind {
            RY_REPORT_OPENED => BackendStats::connection_opened,
            RY_REPORT_CLOSED => BackendStats::connection_closed,
            RY_REPORT_REFUSED => BackendStats::connection_refused,
            RY_REPORT_ESTABLISHED => BackendStats::connection_established,
            other => {
                return Err(ry_error::invalid_argument(format!(
                    "kind {other} is none of RY_REPORT_OPENED (0), RY_REPORT_CLOSED (1), \
                     RY_REPORT_REFUSED (2), RY_REPORT_ESTABLISHED (3)"
                )))
            }
        };
        // SAFETY: the caller's guarantees are those `with_backend` needs.
        unsafe {
            with_backend(
                reg,
                (service, service_len),
                (address, address_len),
                port,
                update,
            )
        }
    })
}

/// Reports bytes received from and sent to one backend of a service (see
/// `ry_registry_report` for how the backend is found). They count in the totals at
/// once, and in the per-second rates from the next `ry_registry_sample_stats`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `service`, `service_len`: the service's name or id, UTF-8.
/// - `address`, `address_len`: the backend's address, UTF-8.
/// - `port`: the backend's port.
/// - `rx`: bytes received from the backend.
/// - `tx`: bytes sent to the backend.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure no counter moved.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `service` or `address` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `service` or `address` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown service, one without an upstream, or a backend
///   not in its pool.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `service` is NULL or valid for reading `service_len` bytes.
/// - `address` is NULL or valid for reading `address_len` bytes.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_report_bytes(
    reg: *const ry_registry,
    service: *const u8,
    service_len: usize,
    address: *const u8,
    address_len: usize,
    port: u16,
    rx: u64,
    tx: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller's guarantees are those `with_backend` needs.
        unsafe {
            with_backend(
                reg,
                (service, service_len),
                (address, address_len),
                port,
                |stats| {
                    stats.add_rx(rx);
                    stats.add_tx(tx);
                },
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_pool_body_reads_into_the_core_types() {
        let (backends, config) = decode_pool(
            "u",
            map(serde_json::json!({
                "backends": [{"address": "a", "port": 1, "state": "draining", "tier": 2}],
                "config": {"strategy": "iphash1", "split": {"split": {"v1": 100}, "fallback": "drop"}}
            })),
        )
        .unwrap();
        assert_eq!(backends.len(), 1);
        assert_eq!(backends[0].tier, 2);
        assert_eq!(backends[0].weight, 1);
        assert_eq!(config.strategy.name(), "iphash1");
        assert_eq!(config.split.unwrap().fallback, Fallback::Drop);

        let (backends, config) = decode_pool(
            "u",
            map(serde_json::json!({"backends": [], "config": null})),
        )
        .unwrap();
        assert!(backends.is_empty());
        assert_eq!(config, PoolConfig::default());
    }

    #[test]
    fn a_bad_pool_body_names_its_fault() {
        for (value, message) in [
            (serde_json::json!({}), "u: `backends` is required"),
            (
                serde_json::json!({"backends": 1}),
                "u: `backends` must be an array",
            ),
            (
                serde_json::json!({"backends": [], "config": []}),
                "u: `config` must be an object",
            ),
            (
                serde_json::json!({"backends": [], "seed": 1}),
                "u: unknown key `seed`; expected backends, config",
            ),
            (
                serde_json::json!({"backends": [{"address": "a", "port": 70000}]}),
                "u: backends: invalid value",
            ),
            (
                serde_json::json!({"backends": [], "config": {"strategy": "fast"}}),
                "u: config: unknown variant `fast`",
            ),
        ] {
            let err = decode_pool("u", map(value.clone())).unwrap_err();
            assert!(err.starts_with(message), "{value}: {err}");
        }
    }

    #[test]
    fn fallbacks_and_report_kinds_have_distinct_values() {
        let mut values: Vec<ry_fallback> = FALLBACKS.iter().map(|(v, _)| *v).collect();
        values.dedup();
        assert_eq!(values, [0, 1, 2, 3]);
        let kinds = [
            RY_REPORT_OPENED,
            RY_REPORT_CLOSED,
            RY_REPORT_REFUSED,
            RY_REPORT_ESTABLISHED,
        ];
        assert_eq!(kinds, [0, 1, 2, 3]);
    }
}
