//! The manual clock handle: time that moves only when told to.

use routeyard_core::{Clock, ManualClock, Timestamp};
use std::time::Duration;

use crate::error::{ry_error, ry_status};
use crate::string::required;

/// A manual clock: a time in nanoseconds that moves only when `ry_clock_advance` or
/// `ry_clock_set` moves it. Give it to a registry through `ry_config_set_clock` to
/// drive every TTL decision (leases, reservations, expiry) from a test or a simulation
/// without sleeping.
///
/// Thread-safety: may be shared across threads; every function takes a
/// `const ry_clock *` and may be called concurrently, with a registry reading it.
///
/// Lifetime: created by `ry_clock_new` and freed by `ry_clock_free`, once. Registries
/// and configurations it was given to hold their own reference to the same time, so
/// the handle may be freed while they still use it; a freed handle can no longer move
/// their time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_clock {
    inner: ManualClock,
}

/// Borrows the clock behind `clock`.
///
/// # Safety
///
/// `clock` must be NULL or a live handle from `ry_clock_new`.
pub(crate) unsafe fn clock<'a>(clock: *const ry_clock) -> Result<&'a ManualClock, ry_error> {
    // SAFETY: the caller guarantees `clock` is NULL or a live handle.
    match unsafe { clock.as_ref() } {
        Some(clock) => Ok(&clock.inner),
        None => Err(ry_error::null_arg("clock")),
    }
}

/// Creates a manual clock showing `start_nanos`.
///
/// # Arguments
///
/// - `start_nanos`: the initial time, in nanoseconds since an epoch of the caller's
///   choosing (the Unix epoch keeps it comparable with the system clock).
///
/// # Returns
///
/// A new clock, to be freed with `ry_clock_free`, or NULL if the library panicked.
#[no_mangle]
pub extern "C" fn ry_clock_new(start_nanos: u64) -> *mut ry_clock {
    ffi_boundary!({
        Box::into_raw(Box::new(ry_clock {
            inner: ManualClock::new(Timestamp::from_nanos(start_nanos)),
        }))
    })
}

/// Frees a clock handle. Passing NULL does nothing. Registries using the clock keep
/// their current time.
///
/// # Arguments
///
/// - `clock`: the clock, or NULL.
///
/// # Safety
///
/// - `clock` is NULL or a handle from `ry_clock_new`; call this at most once, after
///   every other call on it has returned.
#[no_mangle]
pub unsafe extern "C" fn ry_clock_free(clock: *mut ry_clock) {
    ffi_boundary!({
        if !clock.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in `ry_clock_new`, and
            // the caller guarantees this one is freed once.
            drop(unsafe { Box::from_raw(clock) });
        }
    })
}

/// Reads the clock's time.
///
/// # Arguments
///
/// - `clock`: the clock.
/// - `now_nanos`: receives the time in nanoseconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `clock` or `now_nanos` is NULL.
///
/// # Safety
///
/// - `clock` is NULL or a live clock handle.
/// - `now_nanos` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_clock_now(
    clock: *const ry_clock,
    now_nanos: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `clock` is NULL or a live handle.
        let clock = unsafe { self::clock(clock) }?;
        let now_nanos = required(now_nanos, "now_nanos")?;
        // SAFETY: `now_nanos` is non-NULL and the caller guarantees it is writable.
        unsafe { now_nanos.write(clock.now().as_nanos()) };
        Ok(())
    })
}

/// Moves the clock forward, saturating at the largest time.
///
/// # Arguments
///
/// - `clock`: the clock.
/// - `nanos`: how far to move it, in nanoseconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `clock` is NULL.
///
/// # Safety
///
/// - `clock` is NULL or a live clock handle.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_clock_advance(
    clock: *const ry_clock,
    nanos: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `clock` is NULL or a live handle.
        let clock = unsafe { self::clock(clock) }?;
        clock.advance(Duration::from_nanos(nanos));
        Ok(())
    })
}

/// Sets the clock to a time, which may be earlier than its current one.
///
/// # Arguments
///
/// - `clock`: the clock.
/// - `now_nanos`: the new time, in nanoseconds.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `clock` is NULL.
///
/// # Safety
///
/// - `clock` is NULL or a live clock handle.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_clock_set(
    clock: *const ry_clock,
    now_nanos: u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `clock` is NULL or a live handle.
        let clock = unsafe { self::clock(clock) }?;
        clock.set(Timestamp::from_nanos(now_nanos));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    #[test]
    fn the_clock_moves_only_when_told() {
        let clock = ry_clock_new(1_000);
        let mut now = 0u64;
        // SAFETY: a live handle and local destinations; freed once at the end.
        unsafe {
            assert_eq!(
                ry_clock_now(clock, &mut now, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(now, 1_000);
            assert_eq!(
                ry_clock_advance(clock, 500, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(
                ry_clock_now(clock, &mut now, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(now, 1_500);
            assert_eq!(ry_clock_set(clock, 10, ptr::null_mut()), ry_status::RyOk);
            assert_eq!(
                ry_clock_now(clock, &mut now, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(now, 10);
            assert_eq!(
                ry_clock_advance(clock, u64::MAX, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(
                ry_clock_now(clock, &mut now, ptr::null_mut()),
                ry_status::RyOk
            );
            assert_eq!(now, u64::MAX);
            assert_eq!(
                ry_clock_now(ptr::null(), &mut now, ptr::null_mut()),
                ry_status::RyErrNullArg
            );
            assert_eq!(
                ry_clock_now(clock, ptr::null_mut(), ptr::null_mut()),
                ry_status::RyErrNullArg
            );
            ry_clock_free(clock);
            ry_clock_free(ptr::null_mut());
        }
    }
}
