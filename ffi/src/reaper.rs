//! The reaper handle: a background thread that expires lapsed leases.

use std::time::Duration;

use routeyard_core::Reaper;

use crate::error::{ry_error, ry_status};
use crate::registry::{registry, ry_registry};
use crate::string::required;

/// A background thread that, every interval, expires the registry's lapsed leases at
/// the registry clock's time (`ry_registry_expire`) and then compacts the matcher's
/// index (`ry_registry_compact_index`).
///
/// Thread-safety: not for concurrent use: stop or free it from one thread at a time.
///
/// Lifetime: created by `ry_registry_start_reaper` and freed by `ry_reaper_free`, once,
/// which stops the thread first. It holds its own reference to the registry's state, so
/// `ry_registry_free` may come before or after it; the state is released when both are
/// freed.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_reaper {
    inner: Option<Reaper>,
}

/// Starts a reaper on a registry.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `interval_ms`: the time between sweeps, in milliseconds, on the system's monotonic
///   clock (a manual clock decides what has lapsed, not when sweeps run).
/// - `out`: receives the reaper, to be freed with `ry_reaper_free`.
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
/// - `RY_ERR_INVALID_ARGUMENT` for a zero interval.
/// - `RY_ERR_OTHER` when the operating system refused to start a thread.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `out` is NULL or valid for writing one `ry_reaper *`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_start_reaper(
    reg: *const ry_registry,
    interval_ms: u64,
    out: *mut *mut ry_reaper,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = required(out, "out")?;
        if interval_ms == 0 {
            return Err(ry_error::invalid_argument(
                "the reaper's interval must be at least 1 ms",
            ));
        }
        let reaper = registry.start_reaper(Duration::from_millis(interval_ms));
        if !reaper.is_running() {
            return Err(ry_error::new(
                ry_status::RyErrOther,
                "ResponseError",
                "the reaper thread could not be started",
            ));
        }
        let handle = Box::into_raw(Box::new(ry_reaper {
            inner: Some(reaper),
        }));
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Stops the reaper's thread and waits for its current sweep to finish. Stopping a
/// stopped reaper does nothing. The handle stays valid and must still be freed.
///
/// # Arguments
///
/// - `reaper`: the reaper.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reaper` is NULL.
///
/// # Safety
///
/// - `reaper` is NULL or a live reaper handle no other thread uses during the call.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_reaper_stop(
    reaper: *mut ry_reaper,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reaper` is NULL or a live, unshared handle.
        let reaper = unsafe { reaper.as_mut() }.ok_or_else(|| ry_error::null_arg("reaper"))?;
        if let Some(running) = reaper.inner.take() {
            running.stop();
        }
        Ok(())
    })
}

/// Tells whether the reaper's thread is running (it is until stopped).
///
/// # Arguments
///
/// - `reaper`: the reaper.
/// - `running`: receives true while the thread runs.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reaper` or `running` is NULL.
///
/// # Safety
///
/// - `reaper` is NULL or a live reaper handle.
/// - `running` is NULL or valid for writing one `bool`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_reaper_is_running(
    reaper: *const ry_reaper,
    running: *mut bool,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reaper` is NULL or a live handle.
        let reaper = unsafe { reaper.as_ref() }.ok_or_else(|| ry_error::null_arg("reaper"))?;
        let running = required(running, "running")?;
        let is_running = reaper.inner.as_ref().is_some_and(Reaper::is_running);
        // SAFETY: `running` is non-NULL and the caller guarantees it is writable.
        unsafe { running.write(is_running) };
        Ok(())
    })
}

/// Stops the reaper if it runs, then frees it. Passing NULL does nothing.
///
/// # Arguments
///
/// - `reaper`: the reaper, or NULL.
///
/// # Safety
///
/// - `reaper` is NULL or a handle from `ry_registry_start_reaper`; call this at most
///   once, after every other call on it has returned.
#[no_mangle]
pub unsafe extern "C" fn ry_reaper_free(reaper: *mut ry_reaper) {
    ffi_boundary!({
        if !reaper.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in
            // `ry_registry_start_reaper`, and the caller guarantees this one is freed
            // once. Dropping the core's reaper stops and joins its thread.
            drop(unsafe { Box::from_raw(reaper) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ry_registry_free, ry_registry_new};
    use std::ptr;

    #[test]
    fn start_stop_and_free() {
        let reg = ry_registry_new(120);
        let mut reaper: *mut ry_reaper = ptr::null_mut();
        let mut running = false;
        // SAFETY: live handles and local destinations; each is freed once below.
        unsafe {
            assert_eq!(
                ry_registry_start_reaper(reg, 0, &mut reaper, ptr::null_mut()),
                ry_status::RyErrInvalidArgument
            );
            assert!(reaper.is_null());
            assert_eq!(
                ry_registry_start_reaper(reg, 1, &mut reaper, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(
                ry_reaper_is_running(reaper, &mut running, ptr::null_mut()),
                ry_status::RyOk
            );
            assert!(running);
            // The reaper keeps the registry's state alive after the handle is freed.
            ry_registry_free(reg);
            assert_eq!(ry_reaper_stop(reaper, ptr::null_mut()), ry_status::RyOk);
            assert_eq!(
                ry_reaper_is_running(reaper, &mut running, ptr::null_mut()),
                ry_status::RyOk
            );
            assert!(!running);
            ry_reaper_free(reaper);
            ry_reaper_free(ptr::null_mut());
        }
    }
}
