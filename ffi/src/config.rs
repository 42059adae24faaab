//! The configuration handle: a registry's options before it is created.

use std::time::Duration;

use routeyard_core::Config;

use crate::clock::ry_clock;
use crate::error::{ry_error, ry_status};

/// The options of a registry to create with `ry_registry_new_with_config`. Unset
/// options take their defaults: `max_ttl` 120 s, history 65,536 events, subscriber
/// buffer 1,024 events, reservation TTL equal to `max_ttl`, no reserved ports, the
/// system clock.
///
/// Thread-safety: a configuration may be read (`ry_registry_new_with_config`) from
/// several threads at once, but not while a setter runs on it.
///
/// Lifetime: created by `ry_config_new` and freed by `ry_config_free`, once. A registry
/// created from it copies the options, so the configuration may be freed or changed
/// right after, and reused for other registries.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_config {
    inner: Config,
}

/// Borrows the options behind `config`.
///
/// # Safety
///
/// `config` must be NULL or a live handle from `ry_config_new`.
pub(crate) unsafe fn config<'a>(config: *const ry_config) -> Result<&'a Config, ry_error> {
    // SAFETY: the caller guarantees `config` is NULL or a live handle.
    match unsafe { config.as_ref() } {
        Some(config) => Ok(&config.inner),
        None => Err(ry_error::null_arg("config")),
    }
}

/// Applies one setter of the core's by-value builder to the configuration behind
/// `config`.
///
/// # Safety
///
/// `config` must be NULL or a live handle that no other thread uses during the call.
unsafe fn update(
    config: *mut ry_config,
    set: impl FnOnce(Config) -> Config,
) -> Result<(), ry_error> {
    // SAFETY: the caller guarantees `config` is NULL or a live, unshared handle.
    let config = unsafe { config.as_mut() }.ok_or_else(|| ry_error::null_arg("config"))?;
    config.inner = set(std::mem::take(&mut config.inner));
    Ok(())
}

/// Creates a configuration with every option unset.
///
/// # Returns
///
/// A new configuration, to be freed with `ry_config_free`, or NULL if the library
/// panicked.
#[no_mangle]
pub extern "C" fn ry_config_new() -> *mut ry_config {
    ffi_boundary!({
        Box::into_raw(Box::new(ry_config {
            inner: Config::new(),
        }))
    })
}

/// Frees a configuration. Passing NULL does nothing; registries created from it are
/// not affected.
///
/// # Arguments
///
/// - `config`: the configuration, or NULL.
///
/// # Safety
///
/// - `config` is NULL or a handle from `ry_config_new`; call this at most once, after
///   every other call on it has returned.
#[no_mangle]
pub unsafe extern "C" fn ry_config_free(config: *mut ry_config) {
    ffi_boundary!({
        if !config.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in `ry_config_new`, and
            // the caller guarantees this one is freed once.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}

/// Sets the longest lease a registration may ask for, which is also the lease of one
/// that asks for none (Cloud Foundry's `max_ttl`; default 120 s).
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `seconds`: the TTL in seconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_max_ttl(
    config: *mut ry_config,
    seconds: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.max_ttl(Duration::from_secs(seconds))) }
    })
}

/// Sets how many past events are kept for subscriptions to replay (default 65,536).
/// Subscribing from a revision whose events are no longer kept fails with
/// `RY_ERR_COMPACTED`.
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `events`: the number of events kept.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_history(
    config: *mut ry_config,
    events: usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.history(events)) }
    })
}

/// Sets how many undelivered events one subscription may hold before it is told it
/// lagged (`RY_ERR_LAGGED`) and closed (default 1,024, as Cloud Foundry's).
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `events`: the buffer size, in events.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_subscriber_buffer(
    config: *mut ry_config,
    events: usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.subscriber_buffer(events)) }
    })
}

/// Sets how long a port reservation lives unless a TCP mapping on its port claims it
/// first (default: the `max_ttl`).
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `seconds`: the reservation TTL in seconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_reservation_ttl(
    config: *mut ry_config,
    seconds: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.reservation_ttl(Duration::from_secs(seconds))) }
    })
}

/// Sets the ports no router group may make reservable (Cloud Foundry's
/// `reserved_system_component_ports` with `fail_on_router_port_conflicts`). Replaces
/// any list set before; default none.
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `ports`, `count`: the ports; `ports` may be NULL when `count` is 0.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` is NULL, or `ports` is NULL with a
/// non-zero `count`.
///
/// # Lifetimes
///
/// The ports are copied; the array is only read during the call.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `ports` is NULL or valid for reading `count` `uint16_t` values.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_reserved_ports(
    config: *mut ry_config,
    ports: *const u16,
    count: usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        let list = if count == 0 {
            Vec::new()
        } else if ports.is_null() {
            return Err(ry_error::null_arg("ports"));
        } else {
            // SAFETY: non-NULL, and the caller guarantees `count` readable values.
            unsafe { std::slice::from_raw_parts(ports, count) }.to_vec()
        };
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.reserved_ports(list)) }
    })
}

/// Makes registries created from this configuration read a manual clock instead of
/// the system clock. They share the clock's time: `ry_clock_advance` moves theirs.
///
/// # Arguments
///
/// - `config`: the configuration.
/// - `clock`: the clock; the configuration keeps its own reference, so the handle may
///   be freed afterwards.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `config` or `clock` is NULL.
///
/// # Safety
///
/// - `config` is NULL or a live configuration handle no other thread uses during the
///   call.
/// - `clock` is NULL or a live clock handle.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_config_set_clock(
    config: *mut ry_config,
    clock: *const ry_clock,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        if config.is_null() {
            return Err(ry_error::null_arg("config"));
        }
        // SAFETY: the caller guarantees `clock` is NULL or a live handle.
        let clock = unsafe { crate::clock::clock(clock) }?.clone();
        // SAFETY: passed on from the caller.
        unsafe { update(config, |c| c.clock(clock)) }
    })
}
