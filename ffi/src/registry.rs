//! The registry handle and its functions.

use std::ffi::c_char;
use std::time::Duration;

use routeyard_core::dialect::cf;
use routeyard_core::{Config, Registry};

use crate::error::{ry_error, ry_status};
use crate::string::{str_arg, StringOut};

/// A route registry: routes, backends, router groups and their revision counter.
///
/// Thread-safety: may be shared across threads. Every function that takes a
/// `const ry_registry *` may be called on the same registry from several threads at
/// once.
///
/// Lifetime: created by `ry_registry_new` and freed by `ry_registry_free`, once, after
/// every other call on it has returned. Strings and errors it hands out do not borrow
/// from it.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_registry {
    inner: Registry,
}

/// Borrows the registry behind `reg`.
///
/// # Safety
///
/// `reg` must be NULL or a live handle from `ry_registry_new` that is not freed while the
/// returned borrow is in use.
unsafe fn registry<'a>(reg: *const ry_registry) -> Result<&'a Registry, ry_error> {
    // SAFETY: the caller guarantees `reg` is NULL or a live handle.
    match unsafe { reg.as_ref() } {
        Some(reg) => Ok(&reg.inner),
        None => Err(ry_error::null_arg("reg")),
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

/// Creates an empty registry.
///
/// # Arguments
///
/// - `max_ttl_seconds`: the longest lease, in seconds, that a registration may ask for.
///   Cloud Foundry's routing-api uses 120.
///
/// # Returns
///
/// A new registry, to be freed with `ry_registry_free`, or NULL if the library panicked.
#[no_mangle]
pub extern "C" fn ry_registry_new(max_ttl_seconds: u64) -> *mut ry_registry {
    ffi_boundary!({
        let config = Config::new().max_ttl(Duration::from_secs(max_ttl_seconds));
        let registry = ry_registry {
            inner: Registry::new(config),
        };
        Box::into_raw(Box::new(registry))
    })
}

/// Frees a registry. Passing NULL does nothing.
///
/// # Arguments
///
/// - `reg`: the registry to free, or NULL.
///
/// # Safety
///
/// - `reg` is NULL or a handle from `ry_registry_new`; call this at most once per
///   handle, after every other call on it has returned, and do not use it afterwards.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_free(reg: *mut ry_registry) {
    ffi_boundary!({
        if !reg.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in `ry_registry_new`, and
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
        if revision.is_null() {
            return Err(ry_error::null_arg("revision"));
        }
        // SAFETY: `revision` is non-NULL and the caller guarantees it is writable.
        unsafe { revision.write(registry.revision()) };
        Ok(())
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
