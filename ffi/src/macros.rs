//! The panic boundary every exported function goes through.

/// Runs the body of an `extern "C"` function so that no panic unwinds into C.
///
/// Since Rust 1.81 an unwinding panic that reaches an `extern "C"` frame aborts the whole
/// process. This macro turns it into an ordinary failure instead:
///
/// - `ffi_boundary!(err, { ... })` is for functions that return [`ry_status`]. The body
///   evaluates to `Result<(), ry_error>`. A panic becomes an `RY_ERR_PANIC` error, and the
///   outcome is reported through the caller's `ry_error **err` by
///   [`finish`](crate::error::finish).
/// - `ffi_boundary!(status err, { ... })` is the same for functions whose success has
///   several outcomes: the body evaluates to `Result<ry_status, Failure>`. A
///   [`Failure`](crate::error::Failure) is a boxed `ry_error` (`?` boxes one), so the
///   result is two words, which the hot path (`ry_match`) hands back in registers.
/// - `ffi_boundary!({ ... })` is for functions that return something else. A panic
///   yields that type's [`OnPanic`] value: NULL for pointers, nothing for `()`. The panic
///   message has already been printed to stderr by the panic hook.
///
/// `AssertUnwindSafe` is sound here because nothing observes a half-done operation: the
/// closure owns or borrows only the call's arguments, the core applies a change only after
/// validating it, and after a panic the caller can still free every handle it holds.
///
/// [`ry_status`]: crate::error::ry_status
macro_rules! ffi_boundary {
    ($err:ident, $body:block) => {{
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::error::ry_error> { $body },
        ))
        .unwrap_or_else(|payload| Err($crate::error::ry_error::from_panic(payload.as_ref())));
        // SAFETY: every function that uses this form documents `err` as "NULL or valid for
        // writing one `ry_error *`" in its `# Safety` section, which its caller must uphold.
        unsafe { $crate::error::finish(result, $err) }
    }};
    (status $err:ident, $body:block) => {{
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<$crate::error::ry_status, $crate::error::Failure> { $body },
        ))
        .unwrap_or_else(|payload| {
            Err($crate::error::ry_error::from_panic(payload.as_ref()).into())
        });
        // SAFETY: as in the first form.
        unsafe { $crate::error::finish_status(result, $err) }
    }};
    ($body:block) => {{
        ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body))
            .unwrap_or_else(|_| $crate::macros::OnPanic::on_panic())
    }};
}

/// What a function without a status returns when its body panicked.
pub(crate) trait OnPanic {
    /// The value handed to C instead of unwinding.
    fn on_panic() -> Self;
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

impl<T> OnPanic for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

#[cfg(test)]
mod tests {
    use crate::error::{ry_error, ry_error_free, ry_error_message, ry_error_name, ry_status};
    use std::ffi::CStr;
    use std::ptr;

    fn explode() -> *const u8 {
        panic!("no pointer today")
    }

    fn panicking_status(err: *mut *mut ry_error) -> ry_status {
        ffi_boundary!(err, {
            explode();
            Ok(())
        })
    }

    fn succeeding_status(err: *mut *mut ry_error) -> ry_status {
        ffi_boundary!(err, { Ok(()) })
    }

    fn panicking_pointer() -> *const u8 {
        ffi_boundary!({ explode() })
    }

    #[test]
    fn a_panic_becomes_ry_err_panic_with_its_message() {
        let mut err: *mut ry_error = ptr::null_mut();
        assert_eq!(panicking_status(&mut err), ry_status::RyErrPanic);
        assert!(!err.is_null());
        // SAFETY: the boundary just stored a live error handle in `err`; it is freed once.
        unsafe {
            let message = CStr::from_ptr(ry_error_message(err)).to_str().unwrap();
            assert_eq!(message, "panic inside routeyard: no pointer today");
            let name = CStr::from_ptr(ry_error_name(err)).to_str().unwrap();
            assert_eq!(name, "ResponseError");
            ry_error_free(err);
        }
    }

    #[test]
    fn a_panic_is_reported_even_when_the_caller_wants_no_details() {
        assert_eq!(panicking_status(ptr::null_mut()), ry_status::RyErrPanic);
    }

    #[test]
    fn success_sets_the_error_slot_to_null() {
        let mut err: *mut ry_error = ptr::NonNull::dangling().as_ptr();
        assert_eq!(succeeding_status(&mut err), ry_status::RyOk);
        assert!(err.is_null());
    }

    #[test]
    fn a_panic_without_a_status_returns_null() {
        assert!(panicking_pointer().is_null());
    }
}
