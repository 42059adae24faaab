//! The subscription handle: a registry's events, replayed then live, polled from C.

use std::ffi::c_char;
use std::time::Duration;

use routeyard_core::{ErrorKind, Filter, Kind, RecvError, Subscription};

use crate::error::{ry_error, ry_status};
use crate::json;
use crate::registry::{registry, ry_registry};
use crate::string::{required, write_opt, StringOut};

/// Kind bit: Cloud Foundry HTTP routes (`"kind": "http_route"` in events).
pub const RY_KIND_HTTP_ROUTE: u32 = 1 << 0;
/// Kind bit: Cloud Foundry TCP route mappings (`"tcp_route_mapping"`).
pub const RY_KIND_TCP_ROUTE_MAPPING: u32 = 1 << 1;
/// Kind bit: router groups (`"router_group"`).
pub const RY_KIND_ROUTER_GROUP: u32 = 1 << 2;
/// Kind bit: port reservations (`"port_reservation"`).
pub const RY_KIND_PORT_RESERVATION: u32 = 1 << 3;
/// Kind bit: Kong routes (`"route"`).
pub const RY_KIND_ROUTE: u32 = 1 << 4;
/// Kind bit: Kong services (`"service"`).
pub const RY_KIND_SERVICE: u32 = 1 << 5;
/// Kind bit: services' backends and balancing (`"upstream"`).
pub const RY_KIND_UPSTREAM: u32 = 1 << 6;
/// Kind bit: gobetween servers (`"server"`).
pub const RY_KIND_SERVER: u32 = 1 << 7;
/// Every kind bit.
pub const RY_KIND_ALL: u32 = (1 << 8) - 1;

/// The kind bits and the core's kinds they stand for.
const KINDS: [(u32, Kind); 8] = [
    (RY_KIND_HTTP_ROUTE, Kind::HttpRoute),
    (RY_KIND_TCP_ROUTE_MAPPING, Kind::TcpRouteMapping),
    (RY_KIND_ROUTER_GROUP, Kind::RouterGroup),
    (RY_KIND_PORT_RESERVATION, Kind::PortReservation),
    (RY_KIND_ROUTE, Kind::Route),
    (RY_KIND_SERVICE, Kind::Service),
    (RY_KIND_UPSTREAM, Kind::Upstream),
    (RY_KIND_SERVER, Kind::Server),
];

/// A stream of a registry's events: first the kept history after a revision, then
/// every change as it commits, with no gap and no repeat.
///
/// Each subscription has a bounded buffer (`ry_config_set_subscriber_buffer`); writers
/// never wait for it. One that overflows is told so once (`RY_ERR_LAGGED`, with the
/// revision to resume from) and closed.
///
/// Thread-safety: not for concurrent use. It may be polled from any thread, but from
/// one at a time; polling it from two threads at once is undefined behaviour. Other
/// threads may keep writing to the registry meanwhile.
///
/// Lifetime: created by `ry_registry_subscribe` and freed by `ry_subscription_free`,
/// once. It does not borrow the registry: it may outlive it, and then delivers what it
/// buffered before reporting `RY_ERR_CLOSED`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_subscription {
    inner: Subscription,
}

/// Subscribes to a registry's events of some kinds.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `kinds`: the kinds of object wanted, an OR of `RY_KIND_*` bits (`RY_KIND_ALL` for
///   every kind).
/// - `from`: NULL to receive only changes committed from now on; otherwise a revision
///   `r`: the subscription first replays every kept event after `r`, then continues
///   live. A snapshot at revision `r` plus these events is exactly the current state.
/// - `out`: receives the subscription, to be freed with `ry_subscription_free`.
/// - `oldest_revision`: receives, on `RY_ERR_COMPACTED`, the oldest revision whose
///   events are still kept (subscribing from one less replays everything kept);
///   untouched otherwise. May be NULL.
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
/// - `RY_ERR_INVALID_ARGUMENT` for bits outside `RY_KIND_ALL`, or a `from` newer than
///   the registry's revision.
/// - `RY_ERR_COMPACTED` when the events after `from` are no longer all kept; load a
///   snapshot instead, or subscribe from `oldest_revision - 1`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `from` is NULL or valid for reading one `uint64_t`.
/// - `out` is NULL or valid for writing one `ry_subscription *`.
/// - `oldest_revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_subscribe(
    reg: *const ry_registry,
    kinds: u32,
    from: *const u64,
    out: *mut *mut ry_subscription,
    oldest_revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = required(out, "out")?;
        if kinds & !RY_KIND_ALL != 0 {
            return Err(ry_error::invalid_argument(format!(
                "kinds {kinds:#x} has bits outside RY_KIND_ALL ({RY_KIND_ALL:#x})"
            )));
        }
        let filter = KINDS
            .iter()
            .filter(|(bit, _)| kinds & bit != 0)
            .fold(Filter::none(), |filter, (_, kind)| filter.with(*kind));
        // SAFETY: the caller guarantees `from` is NULL or readable.
        let from = unsafe { from.as_ref() }.copied();
        let subscription = registry.subscribe(filter, from).map_err(|e| {
            if e.kind() == ErrorKind::Compacted {
                if let Some(oldest) = e.oldest_revision() {
                    // SAFETY: the caller guarantees `oldest_revision` is NULL or writable.
                    unsafe { write_opt(oldest_revision, oldest) };
                }
            }
            ry_error::from(e)
        })?;
        let handle = Box::into_raw(Box::new(ry_subscription {
            inner: subscription,
        }));
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Takes the next event, waiting up to `timeout_ms` for one.
///
/// The event is a JSON object:
/// `{"revision": 7, "event": "Upsert", "action": "Upsert", "kind": "http_route",
/// "object": {...}}`. `revision` is the registry's revision once the change applied;
/// `event` is Cloud Foundry's name on its event stream (`Upsert`, or `Delete` for both
/// deletions and expiries); `action` is `Upsert`, `Delete` or `Expire`; `kind` is one of
/// `http_route`, `tcp_route_mapping`, `router_group`, `port_reservation`, `route`,
/// `service`, `upstream`, `server`; `object` is the object in its dialect's shape (an
/// upstream as `ry_registry_upstream_json` writes it, a server as gobetween shows it
/// plus its `name`), as it was after an upsert or just before a delete or expiry.
///
/// # Arguments
///
/// - `sub`: the subscription.
/// - `timeout_ms`: how long to wait, in milliseconds; 0 returns at once.
/// - `out`: receives the event's JSON text on `RY_OK`; untouched otherwise.
/// - `out_len`: receives its length in bytes; may be NULL.
/// - `resume_from`: receives, on `RY_ERR_LAGGED`, the last revision whose events were
///   all delivered; untouched otherwise. May be NULL.
/// - `err`: receives NULL on `RY_OK` and `RY_TIMEOUT`, or an error to free with
///   `ry_error_free`; may be NULL.
///
/// # Returns
///
/// - `RY_OK` with an event in `*out`.
/// - `RY_TIMEOUT` when no event arrived in time; not a failure, poll again.
/// - `RY_ERR_LAGGED` once when the buffer overflowed; the subscription is then closed.
/// - `RY_ERR_CLOSED` after a lag, or once the registry is freed and the buffered
///   events are delivered.
/// - `RY_ERR_NULL_ARG` when `sub` or `out` is NULL.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `sub` is NULL or a live subscription handle no other thread uses during the call.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `resume_from` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_subscription_poll(
    sub: *mut ry_subscription,
    timeout_ms: u32,
    out: *mut *mut c_char,
    out_len: *mut usize,
    resume_from: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(status err, {
        // SAFETY: the caller guarantees `sub` is NULL or a live, unshared handle.
        let sub = unsafe { sub.as_mut() }.ok_or_else(|| ry_error::null_arg("sub"))?;
        let out = StringOut::new(out, out_len)?;
        let received = if timeout_ms == 0 {
            sub.inner.try_recv().and_then(|e| e.ok_or(RecvError::Timeout))
        } else {
            sub.inner
                .recv_timeout(Duration::from_millis(u64::from(timeout_ms)))
        };
        match received {
            Ok(event) => {
                // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
                unsafe { out.write(json::event(&event)) };
                Ok(ry_status::RyOk)
            }
            Err(RecvError::Timeout) => Ok(ry_status::RyTimeout),
            Err(lagged @ RecvError::Lagged { resume_from: revision }) => {
                // SAFETY: the caller guarantees `resume_from` is NULL or writable.
                unsafe { write_opt(resume_from, revision) };
                Err(ry_error::new(
                    ry_status::RyErrLagged,
                    "ProcessRequestError",
                    lagged.to_string(),
                )
                .into())
            }
            Err(closed) => Err(ry_error::new(
                ry_status::RyErrClosed,
                "ProcessRequestError",
                closed.to_string(),
            )
            .into()),
        }
    })
}

/// Reads how many events can be taken without waiting.
///
/// # Arguments
///
/// - `sub`: the subscription.
/// - `pending`: receives the number of events ready.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `sub` or `pending` is NULL.
///
/// # Safety
///
/// - `sub` is NULL or a live subscription handle no other thread uses during the call.
/// - `pending` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_subscription_pending(
    sub: *const ry_subscription,
    pending: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `sub` is NULL or a live handle.
        let sub = unsafe { sub.as_ref() }.ok_or_else(|| ry_error::null_arg("sub"))?;
        let pending = required(pending, "pending")?;
        // SAFETY: `pending` is non-NULL and the caller guarantees it is writable.
        unsafe { pending.write(sub.inner.pending()) };
        Ok(())
    })
}

/// Closes a subscription and frees it. Passing NULL does nothing.
///
/// # Arguments
///
/// - `sub`: the subscription, or NULL.
///
/// # Safety
///
/// - `sub` is NULL or a handle from `ry_registry_subscribe`; call this at most once,
///   after every other call on it has returned.
#[no_mangle]
pub unsafe extern "C" fn ry_subscription_free(sub: *mut ry_subscription) {
    ffi_boundary!({
        if !sub.is_null() {
            // SAFETY: non-NULL handles come from `Box::into_raw` in
            // `ry_registry_subscribe`, and the caller guarantees this one is freed once.
            drop(unsafe { Box::from_raw(sub) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::ry_registry_upsert_http_routes_json;
    use crate::error::ry_error_free;
    use crate::registry::{ry_registry_free, ry_registry_new};
    use crate::string::ry_string_free;
    use std::ffi::CStr;
    use std::ptr;

    #[test]
    fn a_timeout_is_not_an_error_and_an_event_is_json() {
        let reg = ry_registry_new(120);
        let mut sub: *mut ry_subscription = ptr::null_mut();
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut ry_error = ptr::NonNull::dangling().as_ptr();
        // SAFETY: live handles and local destinations; everything is freed below.
        unsafe {
            let status = ry_registry_subscribe(
                reg,
                RY_KIND_ALL,
                ptr::null(),
                &mut sub,
                ptr::null_mut(),
                &mut err,
            );
            assert_eq!(status, ry_status::RyOk);
            assert!(err.is_null());
            err = ptr::NonNull::dangling().as_ptr();
            let status =
                ry_subscription_poll(sub, 0, &mut out, ptr::null_mut(), ptr::null_mut(), &mut err);
            assert_eq!(status, ry_status::RyTimeout);
            assert!(err.is_null() && out.is_null());

            let routes = br#"[{"route":"a.com","ip":"1.2.3.4","port":80}]"#;
            let status = ry_registry_upsert_http_routes_json(
                reg,
                routes.as_ptr(),
                routes.len(),
                ptr::null_mut(),
                ptr::null_mut(),
            );
            assert_eq!(status, ry_status::RyOk);
            let status =
                ry_subscription_poll(sub, 0, &mut out, ptr::null_mut(), ptr::null_mut(), &mut err);
            assert_eq!(status, ry_status::RyOk);
            let text = CStr::from_ptr(out).to_str().unwrap();
            let event: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(event["revision"], 1);
            assert_eq!(event["kind"], "http_route");
            assert_eq!(event["object"]["route"], "a.com");
            ry_string_free(out);

            // The registry goes: the subscription reports it is closed.
            ry_registry_free(reg);
            let status = ry_subscription_poll(
                sub,
                10,
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut err,
            );
            assert_eq!(status, ry_status::RyErrClosed);
            ry_error_free(err);
            ry_subscription_free(sub);
        }
    }

    #[test]
    fn unknown_kind_bits_are_refused() {
        let reg = ry_registry_new(120);
        let mut sub: *mut ry_subscription = ptr::null_mut();
        // SAFETY: a live handle and a local destination; nothing is handed out.
        unsafe {
            let status = ry_registry_subscribe(
                reg,
                RY_KIND_ALL + 1,
                ptr::null(),
                &mut sub,
                ptr::null_mut(),
                ptr::null_mut(),
            );
            assert_eq!(status, ry_status::RyErrInvalidArgument);
            assert!(sub.is_null());
            ry_registry_free(reg);
        }
    }
}
