//! Strings across the boundary: `(ptr, len)` UTF-8 in, owned NUL-terminated strings out.

use std::ffi::{c_char, CString};

use crate::error::ry_error;

/// Borrows a `(ptr, len)` argument as UTF-8 text.
///
/// # Safety
///
/// `ptr` must be NULL or valid for reading `len` bytes, which stay unchanged for `'a`,
/// and `len` must not exceed `isize::MAX`.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const u8,
    len: usize,
    arg: &str,
) -> Result<&'a str, ry_error> {
    if ptr.is_null() {
        return Err(ry_error::null_arg(arg));
    }
    // SAFETY: `ptr` is non-NULL, and the caller guarantees it points to `len` readable
    // bytes that outlive `'a`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).map_err(|cause| ry_error::invalid_utf8(arg, cause))
}

/// Borrows an optional `(ptr, len)` argument: NULL means absent.
///
/// # Safety
///
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const u8,
    len: usize,
    arg: &str,
) -> Result<Option<&'a str>, ry_error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: passed on from the caller.
    unsafe { str_arg(ptr, len, arg) }.map(Some)
}

/// Checks that a required out-parameter is not NULL, before any work is done.
pub(crate) fn required<T>(ptr: *mut T, arg: &str) -> Result<*mut T, ry_error> {
    if ptr.is_null() {
        Err(ry_error::null_arg(arg))
    } else {
        Ok(ptr)
    }
}

/// Stores `value` in an optional out-parameter.
///
/// # Safety
///
/// `ptr` must be NULL or valid for writing one `T`.
pub(crate) unsafe fn write_opt<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL, and the caller guarantees it is writable.
        unsafe { ptr.write(value) };
    }
}

/// Where a function hands an owned string to its caller: `char **out` plus an optional
/// `size_t *out_len`.
///
/// Built before the function does any work, so a NULL `out` is reported without side
/// effects.
#[derive(Debug)]
pub(crate) struct StringOut {
    out: *mut *mut c_char,
    out_len: *mut usize,
}

impl StringOut {
    /// Checks that `out` is not NULL; `out_len` may be.
    pub(crate) fn new(out: *mut *mut c_char, out_len: *mut usize) -> Result<Self, ry_error> {
        if out.is_null() {
            return Err(ry_error::null_arg("out"));
        }
        Ok(StringOut { out, out_len })
    }

    /// Moves `text` to the caller, who frees it with `ry_string_free`.
    ///
    /// # Safety
    ///
    /// `out` must be valid for writing a pointer, and `out_len` NULL or valid for writing
    /// a `size_t`.
    pub(crate) unsafe fn write(self, text: String) {
        let len = text.len();
        let text = CString::new(text).expect("JSON text escapes NUL, so it never contains one");
        // SAFETY: the caller guarantees both destinations; `out` was checked non-NULL.
        unsafe {
            self.out.write(text.into_raw());
            if !self.out_len.is_null() {
                self.out_len.write(len);
            }
        }
    }
}

/// Frees a string returned by this library. Passing NULL does nothing.
///
/// # Arguments
///
/// - `s`: a string from an out-parameter of a function of this library, or NULL.
///
/// # Safety
///
/// - `s` is NULL or a string this library handed out that has not been freed yet; call
///   this at most once per string. Never pass it to C's `free`, and never pass a string
///   borrowed from a handle (such as `ry_error_message`'s) here.
#[no_mangle]
pub unsafe extern "C" fn ry_string_free(s: *mut c_char) {
    ffi_boundary!({
        if !s.is_null() {
            // SAFETY: strings handed out come from `CString::into_raw` in
            // `StringOut::write`, and the caller guarantees this one is freed only once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ry_status;
    use std::ffi::CStr;
    use std::ptr;

    #[test]
    fn str_arg_checks_null_and_utf8() {
        // SAFETY: each pointer is NULL or a live slice of the given length.
        unsafe {
            assert_eq!(str_arg(b"tcp".as_ptr(), 3, "s").unwrap(), "tcp");
            assert_eq!(str_arg(b"".as_ptr(), 0, "s").unwrap(), "");
            let err = str_arg(ptr::null(), 0, "json").unwrap_err();
            assert_eq!(err.status(), ry_status::RyErrNullArg);
            let err = str_arg(b"\xff\xfe".as_ptr(), 2, "json").unwrap_err();
            assert_eq!(err.status(), ry_status::RyErrInvalidUtf8);
        }
    }

    #[test]
    fn string_out_hands_over_an_owned_string() {
        let mut out: *mut c_char = ptr::null_mut();
        let mut len = 0usize;
        let slot = StringOut::new(&mut out, &mut len).unwrap();
        // SAFETY: both destinations are live locals; the string is freed once below.
        unsafe {
            slot.write("[]".to_owned());
            assert_eq!(CStr::from_ptr(out).to_str().unwrap(), "[]");
            assert_eq!(len, 2);
            ry_string_free(out);
            ry_string_free(ptr::null_mut());
        }
    }

    #[test]
    fn string_out_requires_out_but_not_out_len() {
        let err = StringOut::new(ptr::null_mut(), ptr::null_mut()).unwrap_err();
        assert_eq!(err.status(), ry_status::RyErrNullArg);
        let mut out: *mut c_char = ptr::null_mut();
        let slot = StringOut::new(&mut out, ptr::null_mut()).unwrap();
        // SAFETY: `out` is a live local; the string is freed once below.
        unsafe {
            slot.write("{}".to_owned());
            ry_string_free(out);
        }
    }
}
