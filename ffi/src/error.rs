//! Status codes and the error handle.

use std::any::Any;
use std::ffi::{c_char, CString};
use std::ptr;

use routeyard_core::dialect::cf;
use routeyard_core::dialect::kong::KongError;
use routeyard_core::{Error as CoreError, ErrorKind};

/// The outcome of a fallible call.
///
/// `RY_OK` is zero and every error is non-zero, so `if (status) { ... }` tests for
/// failure; the one exception is `RY_TIMEOUT`, which only `ry_subscription_poll`
/// returns and which means "nothing yet". The values are stable: new codes may be added in later versions, existing
/// ones never change meaning, so treat an unknown code as a generic failure.
/// cbindgen:prefix-with-name=false
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ry_status {
    /// The call succeeded.
    RyOk = 0,
    /// A required pointer argument was NULL.
    RyErrNullArg = 1,
    /// A string argument was not valid UTF-8.
    RyErrInvalidUtf8 = 2,
    /// A JSON argument could not be decoded into the expected shape.
    RyErrInvalidJson = 3,
    /// An HTTP route failed validation (CF `RouteInvalidError`).
    RyErrInvalidRoute = 4,
    /// A route service URL failed validation (CF `RouteServiceUrlInvalidError`).
    RyErrInvalidRouteServiceUrl = 5,
    /// A TCP route mapping failed validation (CF `TcpRouteMappingInvalidError`).
    RyErrInvalidTcpMapping = 6,
    /// A router group failed validation (CF reports it as `ProcessRequestError`).
    RyErrInvalidRouterGroup = 7,
    /// The object named by the call does not exist (CF `ResourceNotFoundError`).
    RyErrNotFound = 8,
    /// The change conflicts with an existing object, such as a router group name already
    /// taken by a group of another type.
    RyErrConflict = 9,
    /// No free port is left in the requested range (CF `PortRangeExhaustedError`).
    RyErrPortRangeExhausted = 10,
    /// A revision older than the kept event history was requested.
    RyErrCompacted = 11,
    /// An argument that can never be valid, such as a revision newer than the registry's.
    RyErrInvalidArgument = 12,
    /// The registry could not process the request (CF `ProcessRequestError`).
    RyErrInvalidRequest = 13,
    /// A Kong route or service broke Kong's schema (Kong's `schema violation`, code 2).
    /// `ry_error_body` gives Kong's body, whose `fields` name every offending field.
    RyErrSchemaViolation = 14,
    /// A Kong route or service reuses a unique value, such as a name or an id (Kong's
    /// `unique constraint violation`, code 5).
    RyErrUniqueViolation = 15,
    /// A Kong route refers to a service that does not exist, or a service still
    /// referred to by routes was to be deleted (Kong's `foreign key violation`, code 4).
    RyErrForeignKeyViolation = 16,
    /// No event arrived within the timeout. Not a failure: `*err` is set to NULL.
    RyTimeout = 17,
    /// The subscriber fell behind and its buffer overflowed; the subscription is
    /// closed. Every event up to the reported `resume_from` revision was delivered:
    /// subscribe again from there (or load a snapshot) to continue.
    RyErrLagged = 18,
    /// The subscription is closed: it already reported `RY_ERR_LAGGED`, or its
    /// registry was freed and every buffered event has been delivered.
    RyErrClosed = 19,
    /// A caller-provided buffer cannot hold what belongs in it (`ry_match`). The length
    /// each buffer needs has been written; nothing else has.
    RyErrBufferTooSmall = 20,
    /// A failure of a kind this version of the C API has no dedicated code for.
    RyErrOther = 99,
    /// The library panicked. The registry involved can still be freed; the error message
    /// carries the panic message.
    RyErrPanic = 100,
}

impl ry_status {
    /// The status code for a kind of core error.
    fn for_kind(kind: ErrorKind) -> ry_status {
        match kind {
            ErrorKind::RouteInvalid => ry_status::RyErrInvalidRoute,
            ErrorKind::RouteServiceUrlInvalid => ry_status::RyErrInvalidRouteServiceUrl,
            ErrorKind::TcpRouteMappingInvalid => ry_status::RyErrInvalidTcpMapping,
            ErrorKind::RouterGroupInvalid => ry_status::RyErrInvalidRouterGroup,
            ErrorKind::ProcessRequest => ry_status::RyErrInvalidRequest,
            ErrorKind::NotFound => ry_status::RyErrNotFound,
            ErrorKind::PortRangeExhausted => ry_status::RyErrPortRangeExhausted,
            ErrorKind::Conflict => ry_status::RyErrConflict,
            ErrorKind::Compacted => ry_status::RyErrCompacted,
            ErrorKind::InvalidArgument => ry_status::RyErrInvalidArgument,
            ErrorKind::SchemaViolation => ry_status::RyErrSchemaViolation,
            ErrorKind::UniqueViolation => ry_status::RyErrUniqueViolation,
            ErrorKind::ForeignKeyViolation => ry_status::RyErrForeignKeyViolation,
            // `ErrorKind` is non-exhaustive: a kind added to the core reaches C as a
            // generic failure until it gets its own code here.
            _ => ry_status::RyErrOther,
        }
    }
}

/// The details of a failed call: its status, the Cloud Foundry error name, a message,
/// and the error body in the wire shape of the dialect the failing function speaks.
///
/// Thread-safety: immutable once created, so it may be read from any thread.
///
/// Lifetime: created by the library and handed out through an `ry_error **err`
/// parameter. The caller owns it and must free it with `ry_error_free`, at most once.
/// It does not borrow from the registry that produced it.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_error {
    status: ry_status,
    name: CString,
    message: CString,
    body: CString,
}

/// A failed call's error, boxed so that a result carries one word for it; only a
/// failing call builds one.
pub(crate) type Failure = Box<ry_error>;

/// The CF name given to failures the C layer detects itself (NULL pointers, bad UTF-8),
/// as CF routing-api names the requests it cannot decode.
const PROCESS_REQUEST: &str = "ProcessRequestError";

impl ry_error {
    /// A new error. NUL bytes, which a C string cannot hold, are replaced by U+FFFD.
    pub(crate) fn new(
        status: ry_status,
        name: &'static str,
        message: impl Into<String>,
    ) -> ry_error {
        let message = message.into();
        // Cloud Foundry's error body, `{"name": ..., "message": ...}`.
        let body = serde_json::json!({ "name": name, "message": message }).to_string();
        ry_error::with_body(status, name, message, body)
    }

    fn with_body(status: ry_status, name: &str, message: String, body: String) -> ry_error {
        ry_error {
            status,
            name: c_string_lossy(name.to_owned()),
            message: c_string_lossy(message),
            body: c_string_lossy(body),
        }
    }

    /// An error the core reported to a Kong-dialect function: the message is Kong's and
    /// the body Kong's `{"code", "name", "message", "fields"}`. A body that is no JSON object (Kong's
    /// `Cannot parse JSON body`) is reported as `RY_ERR_INVALID_JSON`.
    pub(crate) fn kong(err: CoreError) -> ry_error {
        let status = match err.kind() {
            ErrorKind::ProcessRequest => ry_status::RyErrInvalidJson,
            kind => ry_status::for_kind(kind),
        };
        let wire = KongError::from(&err);
        let body = wire.body();
        ry_error::with_body(status, err.cf_name(), wire.message, body)
    }

    /// A JSON argument the C layer decodes itself did not have the documented shape.
    pub(crate) fn bad_json(message: impl Into<String>) -> ry_error {
        ry_error::new(ry_status::RyErrInvalidJson, PROCESS_REQUEST, message)
    }

    /// An argument outside its documented domain, such as a zero interval.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> ry_error {
        ry_error::new(ry_status::RyErrInvalidArgument, PROCESS_REQUEST, message)
    }

    /// An object named by the call does not exist; `message` in the dialect's words.
    pub(crate) fn not_found(message: impl Into<String>) -> ry_error {
        ry_error::new(ry_status::RyErrNotFound, "ResourceNotFoundError", message)
    }

    /// A Kong object named by the call does not exist: Kong's `{"message":"Not found"}`.
    pub(crate) fn kong_not_found() -> ry_error {
        ry_error::with_body(
            ry_status::RyErrNotFound,
            "ResourceNotFoundError",
            "Not found".to_owned(),
            r#"{"message":"Not found"}"#.to_owned(),
        )
    }

    /// A failure the C layer found in an argument it cannot accept (`ry_match`'s
    /// request fields), reported with `status`.
    pub(crate) fn argument(status: ry_status, message: impl Into<String>) -> ry_error {
        ry_error::new(status, PROCESS_REQUEST, message)
    }

    /// The status this error is reported with.
    #[cfg(test)]
    pub(crate) fn status(&self) -> ry_status {
        self.status
    }

    /// The message this error carries.
    #[cfg(test)]
    pub(crate) fn message_text(&self) -> &str {
        self.message.to_str().unwrap_or_default()
    }

    /// A required pointer argument was NULL.
    pub(crate) fn null_arg(arg: &str) -> ry_error {
        ry_error::new(
            ry_status::RyErrNullArg,
            PROCESS_REQUEST,
            format!("argument `{arg}` must not be NULL"),
        )
    }

    /// A string argument was not UTF-8.
    pub(crate) fn invalid_utf8(arg: &str, cause: std::str::Utf8Error) -> ry_error {
        ry_error::new(
            ry_status::RyErrInvalidUtf8,
            PROCESS_REQUEST,
            format!("argument `{arg}` is not valid UTF-8: {cause}"),
        )
    }

    /// A JSON argument could not be decoded; `cause` is the core decoder's error.
    pub(crate) fn invalid_json(cause: CoreError) -> ry_error {
        let body = cf::encode(&cf::WireError::from(&cause));
        ry_error::with_body(
            ry_status::RyErrInvalidJson,
            cause.cf_name(),
            cause.message().to_owned(),
            body,
        )
    }

    /// The library panicked with `payload`.
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> ry_error {
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic without a message");
        ry_error::new(
            ry_status::RyErrPanic,
            "ResponseError",
            format!("panic inside routeyard: {what}"),
        )
    }
}

/// An error the core reported to a Cloud Foundry-dialect function: the body is CF's
/// `{"name", "message"}` as routing-api sends it (with its `Cannot process request: `
/// prefix where CF adds one).
impl From<CoreError> for ry_error {
    fn from(err: CoreError) -> ry_error {
        let body = cf::encode(&cf::WireError::from(&err));
        ry_error::with_body(
            ry_status::for_kind(err.kind()),
            err.cf_name(),
            err.message().to_owned(),
            body,
        )
    }
}

fn c_string_lossy(text: String) -> CString {
    let text = if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    };
    CString::new(text).expect("every NUL byte was replaced")
}

/// Reports the outcome of a call to C: returns its status and, when the caller passed
/// an `err` slot, stores NULL on success or a new error handle on failure.
///
/// # Safety
///
/// `err` must be NULL or valid for writing one `*mut ry_error`.
pub(crate) unsafe fn finish(result: Result<(), ry_error>, err: *mut *mut ry_error) -> ry_status {
    // SAFETY: the caller's guarantee on `err` is passed on unchanged.
    unsafe { finish_status(result.map(|()| ry_status::RyOk).map_err(Box::new), err) }
}

/// [`finish`] for a call whose success has several outcomes (such as `RY_TIMEOUT`):
/// `Ok(status)` is returned as is, with NULL stored in `err`.
///
/// # Safety
///
/// `err` must be NULL or valid for writing one `*mut ry_error`.
pub(crate) unsafe fn finish_status(
    result: Result<ry_status, Failure>,
    err: *mut *mut ry_error,
) -> ry_status {
    let (status, handle) = match result {
        Ok(status) => (status, ptr::null_mut()),
        Err(error) => (error.status, Box::into_raw(error)),
    };
    if err.is_null() {
        if !handle.is_null() {
            // SAFETY: `handle` came from `Box::into_raw` just above and was not shared.
            drop(unsafe { Box::from_raw(handle) });
        }
    } else {
        // SAFETY: the caller guarantees a non-NULL `err` is valid for writing a pointer.
        unsafe { err.write(handle) };
    }
    status
}

/// Returns the message of an error, as NUL-terminated UTF-8.
///
/// # Arguments
///
/// - `err`: the error, or NULL.
///
/// # Returns
///
/// The message, or NULL when `err` is NULL.
///
/// # Lifetimes
///
/// The string is owned by `err` and stays valid until `ry_error_free(err)`. Do not pass
/// it to `ry_string_free` or `free`.
///
/// # Safety
///
/// - `err` is NULL or an error handle from this library that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ry_error_message(err: *const ry_error) -> *const c_char {
    ffi_boundary!({
        // SAFETY: the caller guarantees `err` is NULL or a live handle.
        match unsafe { err.as_ref() } {
            Some(err) => err.message.as_ptr(),
            None => ptr::null(),
        }
    })
}

/// Returns the Cloud Foundry routing-api name of an error, such as
/// `"ProcessRequestError"` or `"ResourceNotFoundError"`.
///
/// Failures detected by the C layer itself (NULL pointers, invalid UTF-8 or JSON) are
/// named `"ProcessRequestError"`; a panic is named `"ResponseError"`.
///
/// # Arguments
///
/// - `err`: the error, or NULL.
///
/// # Returns
///
/// The name as NUL-terminated ASCII, or NULL when `err` is NULL.
///
/// # Lifetimes
///
/// The string is owned by `err` and stays valid until `ry_error_free(err)`.
///
/// # Safety
///
/// - `err` is NULL or an error handle from this library that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ry_error_name(err: *const ry_error) -> *const c_char {
    ffi_boundary!({
        // SAFETY: the caller guarantees `err` is NULL or a live handle.
        match unsafe { err.as_ref() } {
            Some(err) => err.name.as_ptr(),
            None => ptr::null(),
        }
    })
}

/// Returns the error as the body the failing function's dialect sends over HTTP.
///
/// Functions of the Cloud Foundry dialect (routes, TCP mappings, router groups, ports,
/// batches, subscriptions) give CF routing-api's `{"name": ..., "message": ...}`, with
/// CF's `Cannot process request: ` prefix where routing-api adds one; functions of the
/// Kong dialect (`ry_registry_*_service*`, `ry_registry_*_route*` other than the CF HTTP
/// route ones) give Kong's `{"code": 2, "name": "schema violation", "message": ...,
/// "fields": {...}}`, or `{"message": "Not found"}`. Failures found before the call
/// reached a dialect (NULL pointers, invalid UTF-8) use CF's form.
///
/// # Arguments
///
/// - `err`: the error, or NULL.
///
/// # Returns
///
/// The JSON text, NUL-terminated, or NULL when `err` is NULL.
///
/// # Lifetimes
///
/// The string is owned by `err` and stays valid until `ry_error_free(err)`.
///
/// # Safety
///
/// - `err` is NULL or an error handle from this library that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ry_error_body(err: *const ry_error) -> *const c_char {
    ffi_boundary!({
        // SAFETY: the caller guarantees `err` is NULL or a live handle.
        match unsafe { err.as_ref() } {
            Some(err) => err.body.as_ptr(),
            None => ptr::null(),
        }
    })
}

/// Frees an error handle. Passing NULL does nothing.
///
/// # Arguments
///
/// - `err`: the error to free, or NULL.
///
/// # Safety
///
/// - `err` is NULL or an error handle from this library; call this at most once per
///   handle, and use neither the handle nor strings borrowed from it afterwards.
#[no_mangle]
pub unsafe extern "C" fn ry_error_free(err: *mut ry_error) {
    ffi_boundary!({
        if !err.is_null() {
            // SAFETY: non-NULL handles are only created by `finish` with `Box::into_raw`,
            // and the caller guarantees this one has not been freed before.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn text(ptr: *const c_char) -> String {
        // SAFETY: the tests only pass strings borrowed from live error handles.
        unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn core_errors_keep_their_kind_name_and_message() {
        let registry = routeyard_core::Registry::new(routeyard_core::Config::new());
        let core_err = registry
            .create_router_group(routeyard_core::RouterGroup::new("g", "tcp", "1024, 2000"))
            .unwrap_err();
        let expected_message = core_err.message().to_owned();
        let err = ry_error::from(core_err);
        assert_eq!(err.status, ry_status::RyErrInvalidRouterGroup);
        assert_eq!(text(err.name.as_ptr()), "ProcessRequestError");
        assert_eq!(text(err.message.as_ptr()), expected_message);
    }

    #[test]
    fn messages_with_nul_bytes_survive() {
        let err = ry_error::new(ry_status::RyErrInvalidJson, "ProcessRequestError", "a\0b");
        assert_eq!(text(err.message.as_ptr()), "a\u{FFFD}b");
    }

    #[test]
    fn accessors_and_free_accept_null() {
        // SAFETY: NULL is a documented input of all three functions.
        unsafe {
            assert!(ry_error_message(ptr::null()).is_null());
            assert!(ry_error_name(ptr::null()).is_null());
            ry_error_free(ptr::null_mut());
        }
    }

    #[test]
    fn finish_without_a_slot_still_reports_the_status() {
        let err = ry_error::null_arg("reg");
        // SAFETY: a NULL slot is allowed; the error is dropped inside.
        let status = unsafe { finish(Err(err), ptr::null_mut()) };
        assert_eq!(status, ry_status::RyErrNullArg);
    }

    #[test]
    fn status_values_are_stable() {
        let expected = [
            (ry_status::RyOk, 0),
            (ry_status::RyErrNullArg, 1),
            (ry_status::RyErrInvalidUtf8, 2),
            (ry_status::RyErrInvalidJson, 3),
            (ry_status::RyErrInvalidRoute, 4),
            (ry_status::RyErrInvalidRouteServiceUrl, 5),
            (ry_status::RyErrInvalidTcpMapping, 6),
            (ry_status::RyErrInvalidRouterGroup, 7),
            (ry_status::RyErrNotFound, 8),
            (ry_status::RyErrConflict, 9),
            (ry_status::RyErrPortRangeExhausted, 10),
            (ry_status::RyErrCompacted, 11),
            (ry_status::RyErrInvalidArgument, 12),
            (ry_status::RyErrInvalidRequest, 13),
            (ry_status::RyErrSchemaViolation, 14),
            (ry_status::RyErrUniqueViolation, 15),
            (ry_status::RyErrForeignKeyViolation, 16),
            (ry_status::RyTimeout, 17),
            (ry_status::RyErrLagged, 18),
            (ry_status::RyErrClosed, 19),
            (ry_status::RyErrBufferTooSmall, 20),
            (ry_status::RyErrOther, 99),
            (ry_status::RyErrPanic, 100),
        ];
        for (status, value) in expected {
            assert_eq!(status as i32, value, "{status:?}");
        }
    }
}
