//! The C API's entry points that take JSON, called through the C ABI.
//!
//! An input is one call: its first byte picks the entry point, its second the
//! shape of the call (which optional out-parameters are NULL, whether the JSON
//! pointer is NULL, which key a keyed function gets, a split's fallback), and the
//! rest is the JSON argument, passed as pointer and length whatever it holds
//! (invalid UTF-8 and NUL bytes included). Every call must return a status its
//! documentation lists, report an error exactly when it fails (with a name, a
//! message and a JSON body), write its out-parameters only on success, and leave
//! the registry unchanged when it fails. Every handle and string is freed.

use std::ffi::{c_char, CStr};
use std::ptr;

use routeyard_ffi::*;
use serde_json::Value;

use crate::kong::SERVICE_ID;

/// Keys for the functions that take one besides the JSON (a service, route or
/// server name or id, a router group guid, a reservation name).
const KEYS: &[&[u8]] = &[
    b"svc",
    SERVICE_ID.as_bytes(),
    b"r0",
    b"",
    b"nope",
    b"web",
    b"\xff\xfe",
    b"a\0b",
];

/// The placeholder for the guid of the router group `tcp-1`.
const GROUP: &[u8] = b"@GROUP";

/// One entry point, as the byte that selects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    CreateRouterGroup,
    UpdateRouterGroup,
    UpsertHttpRoutes,
    DeleteHttpRoutes,
    UpsertTcpMappings,
    DeleteTcpMappings,
    TcpMappingsIn,
    ReservePortInRange,
    CreateService,
    PutService,
    PatchService,
    CreateRoute,
    PutRoute,
    PatchRoute,
    Apply,
    Restore,
    CreateServer,
    PutUpstream,
    SetSplit,
    Match,
}

const CALLS: &[Call] = &[
    Call::CreateRouterGroup,
    Call::UpdateRouterGroup,
    Call::UpsertHttpRoutes,
    Call::DeleteHttpRoutes,
    Call::UpsertTcpMappings,
    Call::DeleteTcpMappings,
    Call::TcpMappingsIn,
    Call::ReservePortInRange,
    Call::CreateService,
    Call::PutService,
    Call::PatchService,
    Call::CreateRoute,
    Call::PutRoute,
    Call::PatchRoute,
    Call::Apply,
    Call::Restore,
    Call::CreateServer,
    Call::PutUpstream,
    Call::SetSplit,
    Call::Match,
];

/// Calls that only read: they never change the registry.
fn reads_only(call: Call) -> bool {
    matches!(call, Call::TcpMappingsIn | Call::Match)
}

/// Calls whose `out` is required rather than optional.
fn out_required(call: Call) -> bool {
    matches!(
        call,
        Call::CreateRouterGroup
            | Call::TcpMappingsIn
            | Call::CreateService
            | Call::PutService
            | Call::PatchService
            | Call::CreateRoute
            | Call::PutRoute
            | Call::PatchRoute
            | Call::Match
    )
}

/// Calls that take a key (a name, id or guid) besides the JSON.
fn takes_key(call: Call) -> bool {
    matches!(
        call,
        Call::UpdateRouterGroup
            | Call::ReservePortInRange
            | Call::PutService
            | Call::PatchService
            | Call::PutRoute
            | Call::PatchRoute
            | Call::CreateServer
            | Call::PutUpstream
            | Call::SetSplit
    )
}

/// Calls that write a JSON text to `out` on success.
fn writes_out(call: Call) -> bool {
    !matches!(
        call,
        Call::UpsertHttpRoutes
            | Call::DeleteHttpRoutes
            | Call::UpsertTcpMappings
            | Call::DeleteTcpMappings
            | Call::ReservePortInRange
            | Call::Restore
            | Call::SetSplit
    )
}

/// A registry handle, freed on drop.
struct Handle(*mut ry_registry);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from `ry_registry_new` and is freed once, here.
        unsafe { ry_registry_free(self.0) };
    }
}

/// Takes an out string: checks its length, frees it, returns its text.
///
/// # Safety
///
/// `s` is NULL or a string the library handed out and nothing else frees.
unsafe fn take_string(s: *mut c_char, len: Option<usize>) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: a string handed out by the library is NUL-terminated.
    let text = unsafe { CStr::from_ptr(s) }
        .to_str()
        .expect("strings out are UTF-8")
        .to_owned();
    if let Some(len) = len {
        assert_eq!(len, text.len(), "out_len is the length without the NUL");
    }
    // SAFETY: as promised by the caller, freed once.
    unsafe { ry_string_free(s) };
    Some(text)
}

/// Checks an error handle (name, message, JSON body) and frees it.
///
/// # Safety
///
/// `err` is a live error handle nothing else frees.
unsafe fn take_error(err: *mut ry_error) -> String {
    // SAFETY: `err` is live until the free at the end.
    unsafe {
        let name = CStr::from_ptr(ry_error_name(err))
            .to_str()
            .expect("UTF-8 name");
        assert!(!name.is_empty(), "an error without a name");
        let message = CStr::from_ptr(ry_error_message(err))
            .to_str()
            .expect("UTF-8 message")
            .to_owned();
        assert!(!message.is_empty(), "an error without a message");
        let body = CStr::from_ptr(ry_error_body(err))
            .to_str()
            .expect("UTF-8 body");
        let _: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("error body {body:?} is not JSON: {e}"));
        ry_error_free(err);
        message
    }
}

fn snapshot(reg: *const ry_registry) -> String {
    let mut out: *mut c_char = ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: `reg` is live; the string is taken (and freed) once.
    unsafe {
        let status = ry_registry_snapshot_json(reg, &mut out, &mut len, ptr::null_mut());
        assert_eq!(status, ry_status::RyOk);
        take_string(out, Some(len)).expect("a snapshot")
    }
}

/// Runs `f` with an error slot; the call must succeed.
fn ok(what: &str, f: impl FnOnce(*mut *mut ry_error) -> ry_status) {
    let mut err: *mut ry_error = ptr::null_mut();
    let status = f(&mut err);
    if status != ry_status::RyOk {
        // SAFETY: a failed call stored a live error in `err`.
        let message = unsafe { take_error(err) };
        panic!("setting up {what}: {status:?} {message}");
    }
}

/// A registry with the router group `tcp-1` (1024-1100), the service `svc`
/// (with backends labelled v1 and v2), a route `r0` leading to it, and the guid
/// of the group.
fn fresh() -> (Handle, String) {
    let reg = Handle(ry_registry_new(120));
    let r = reg.0 as *const ry_registry;
    let group = br#"{"name":"tcp-1","type":"tcp","reservable_ports":"1024-1100"}"#;
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: live handle, live buffers, and every string taken once.
    let guid = unsafe {
        ok("a group", |err| {
            ry_registry_create_router_group_json(
                r,
                group.as_ptr(),
                group.len(),
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
                err,
            )
        });
        let text = take_string(out, None).expect("the group");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        value["guid"].as_str().expect("a guid").to_owned()
    };
    let service = format!(r#"{{"id":"{SERVICE_ID}","name":"svc","host":"svc.internal"}}"#);
    let route = format!(r#"{{"name":"r0","paths":["/r0"],"service":{{"id":"{SERVICE_ID}"}}}}"#);
    let upstream = br#"{"backends":[{"address":"10.0.0.1","port":80,"version":"v1"},{"address":"10.0.0.2","port":80,"version":"v2"}]}"#;
    // SAFETY: as above; the strings handed out are taken once.
    unsafe {
        let mut out: *mut c_char = ptr::null_mut();
        ok("a service", |err| {
            ry_registry_create_service_json(
                r,
                service.as_ptr(),
                service.len(),
                &mut out,
                ptr::null_mut(),
                err,
            )
        });
        take_string(out, None);
        let mut out: *mut c_char = ptr::null_mut();
        ok("a route", |err| {
            ry_registry_create_route_json(
                r,
                route.as_ptr(),
                route.len(),
                &mut out,
                ptr::null_mut(),
                err,
            )
        });
        take_string(out, None);
        ok("an upstream", |err| {
            ry_registry_put_upstream_json(
                r,
                b"svc".as_ptr(),
                3,
                upstream.as_ptr(),
                upstream.len(),
                ptr::null_mut(),
                ptr::null_mut(),
                err,
            )
        });
    }
    (reg, guid)
}

/// The statuses a call may return for a JSON it refuses or a state that does not
/// allow it; never `RY_ERR_PANIC`, `RY_ERR_OTHER` or a subscription status.
fn allowed(status: ry_status) -> bool {
    !matches!(
        status,
        ry_status::RyErrPanic
            | ry_status::RyErrOther
            | ry_status::RyTimeout
            | ry_status::RyErrLagged
            | ry_status::RyErrClosed
            | ry_status::RyErrBufferTooSmall
    )
}

/// See [`crate::ffi_json`].
pub(crate) fn run(data: &[u8]) {
    let [selector, shape, payload @ ..] = data else {
        return;
    };
    let call = CALLS[usize::from(*selector) % CALLS.len()];
    let null_out = shape & 0x01 != 0;
    let null_out_len = shape & 0x02 != 0;
    let null_err = shape & 0x04 != 0;
    let null_json = shape & 0x08 != 0 && shape & 0x80 != 0;
    let key = KEYS[usize::from(shape >> 4) % KEYS.len()];
    let fallback = u32::from(shape >> 4) % 5;
    let sticky = shape & 0x80 != 0;

    let (reg, guid) = fresh();
    let r = reg.0 as *const ry_registry;
    let payload = crate::gen::substitute(payload, GROUP, guid.as_bytes());
    let key: Vec<u8> = if call == Call::UpdateRouterGroup && key == b"svc" {
        guid.as_bytes().to_vec()
    } else {
        key.to_vec()
    };
    let json = if null_json {
        ptr::null()
    } else {
        payload.as_ptr()
    };
    let json_len = payload.len();
    let (k, k_len) = (key.as_ptr(), key.len());

    let before = snapshot(r);
    let mut out: *mut c_char = ptr::null_mut();
    let mut out_len = usize::MAX;
    let mut err: *mut ry_error = ptr::null_mut();
    let mut created = false;
    let mut revision = u64::MAX;
    let mut port = 0u16;
    let out_p: *mut *mut c_char = if null_out { ptr::null_mut() } else { &mut out };
    let out_len_p: *mut usize = if null_out_len {
        ptr::null_mut()
    } else {
        &mut out_len
    };
    let err_p: *mut *mut ry_error = if null_err { ptr::null_mut() } else { &mut err };

    // SAFETY: every pointer is NULL or points to a live local or buffer of the
    // given length; the registry handle is live.
    let status = unsafe {
        match call {
            Call::CreateRouterGroup => ry_registry_create_router_group_json(
                r,
                json,
                json_len,
                out_p,
                out_len_p,
                &mut created,
                err_p,
            ),
            Call::UpdateRouterGroup => ry_registry_update_router_group_json(
                r, k, k_len, json, json_len, out_p, out_len_p, err_p,
            ),
            Call::UpsertHttpRoutes => {
                ry_registry_upsert_http_routes_json(r, json, json_len, &mut revision, err_p)
            }
            Call::DeleteHttpRoutes => {
                ry_registry_delete_http_routes_json(r, json, json_len, &mut revision, err_p)
            }
            Call::UpsertTcpMappings => {
                ry_registry_upsert_tcp_route_mappings_json(r, json, json_len, &mut revision, err_p)
            }
            Call::DeleteTcpMappings => {
                ry_registry_delete_tcp_route_mappings_json(r, json, json_len, &mut revision, err_p)
            }
            Call::TcpMappingsIn => {
                ry_registry_tcp_route_mappings_in_json(r, json, json_len, out_p, out_len_p, err_p)
            }
            Call::ReservePortInRange => {
                ry_registry_reserve_port_in_range(r, k, k_len, json, json_len, &mut port, err_p)
            }
            Call::CreateService => {
                ry_registry_create_service_json(r, json, json_len, out_p, out_len_p, err_p)
            }
            Call::PutService => ry_registry_put_service_json(
                r,
                k,
                k_len,
                json,
                json_len,
                out_p,
                out_len_p,
                &mut created,
                err_p,
            ),
            Call::PatchService => {
                ry_registry_patch_service_json(r, k, k_len, json, json_len, out_p, out_len_p, err_p)
            }
            Call::CreateRoute => {
                ry_registry_create_route_json(r, json, json_len, out_p, out_len_p, err_p)
            }
            Call::PutRoute => ry_registry_put_route_json(
                r,
                k,
                k_len,
                json,
                json_len,
                out_p,
                out_len_p,
                &mut created,
                err_p,
            ),
            Call::PatchRoute => {
                ry_registry_patch_route_json(r, k, k_len, json, json_len, out_p, out_len_p, err_p)
            }
            Call::Apply => ry_registry_apply_json(r, json, json_len, out_p, out_len_p, err_p),
            Call::Restore => ry_registry_restore_json(r, json, json_len, &mut revision, err_p),
            Call::CreateServer => {
                ry_registry_create_server_json(r, k, k_len, json, json_len, out_p, out_len_p, err_p)
            }
            Call::PutUpstream => {
                ry_registry_put_upstream_json(r, k, k_len, json, json_len, out_p, out_len_p, err_p)
            }
            Call::SetSplit => ry_registry_set_split_json(
                r,
                k,
                k_len,
                json,
                json_len,
                fallback,
                sticky,
                &mut revision,
                err_p,
            ),
            Call::Match => ry_match_json(r, json, json_len, out_p, out_len_p, err_p),
        }
    };

    let what = format!("{call:?} with {:?}", String::from_utf8_lossy(&payload));
    assert!(allowed(status), "{what}: status {status:?}");
    // SAFETY: `out` and `err` are NULL or handed out by this call, taken once.
    let (text, message) = unsafe {
        let text = take_string(out, (!null_out_len).then_some(out_len));
        let message = (!err.is_null()).then(|| take_error(err));
        (text, message)
    };
    if null_err {
        assert!(err.is_null());
    } else {
        assert_eq!(
            status == ry_status::RyOk,
            message.is_none(),
            "{what}: status {status:?}, error {message:?}"
        );
    }
    // Argument failures come before anything else; which of several is reported
    // depends on the order the function reads its arguments in.
    let mut argument_failures = Vec::new();
    if null_json || (null_out && out_required(call)) {
        argument_failures.push(ry_status::RyErrNullArg);
    }
    if (!null_json && std::str::from_utf8(&payload).is_err())
        || (takes_key(call) && std::str::from_utf8(&key).is_err())
    {
        argument_failures.push(ry_status::RyErrInvalidUtf8);
    }
    if argument_failures.is_empty() {
        assert!(
            !matches!(
                status,
                ry_status::RyErrNullArg | ry_status::RyErrInvalidUtf8
            ),
            "{what}: {status:?} for valid arguments"
        );
    } else {
        assert!(
            argument_failures.contains(&status),
            "{what}: {status:?}, expected one of {argument_failures:?}"
        );
    }
    if status == ry_status::RyOk {
        if writes_out(call) && !null_out {
            let text = text.unwrap_or_else(|| panic!("{what}: success without out"));
            let _: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what}: out {text:?} is not JSON: {e}"));
        }
        if reads_only(call) {
            assert_eq!(snapshot(r), before, "{what}: a read changed the registry");
        }
    } else {
        assert!(
            text.is_none(),
            "{what}: failed with {status:?} but wrote out"
        );
        assert_eq!(port, 0, "{what}: failed but wrote a port");
        assert_eq!(revision, u64::MAX, "{what}: failed but wrote a revision");
        assert_eq!(
            snapshot(r),
            before,
            "{what}: failed with {status:?} and changed the registry"
        );
    }
    drop(reg);
}
