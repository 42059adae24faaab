//! The reader handle: one thread's loop of matches, answered with strings lent from the
//! index instead of copied.
//!
//! `ry_match` pins the registry's published index for each call and copies the answer
//! out, so that nothing in the result depends on the library afterwards. A reader
//! (`Reader` in the core) keeps the index it last used, checking with one atomic load
//! that it is still the published one, and so can lend the answer's strings: the ids,
//! a CF route's key and a backend's name point into that index, the request's own
//! strings are lent back where the answer is a part of them, and what is neither (an
//! upstream path assembled from pieces, a normalised path) is laid out in the reader's
//! own buffer. All of it stays valid until the reader's next call or its free.

use std::ffi::c_char;
use std::mem::MaybeUninit;
use std::sync::Arc;

use routeyard_core::{Found, Reader, Registry, Request};

use crate::error::{ry_error, ry_status};
use crate::lookup::{
    backend_addr, is_plain, plain_request, request, ry_addr, ry_match_kind, ry_request, NO_ADDR,
    STACK_HEADERS,
};
use crate::registry::{registry, ry_registry};
use crate::string::required;

/// A string the library lends: `len` bytes of UTF-8 at `data`, not NUL-terminated.
/// `data` is never NULL (an empty string points at a valid, empty location), so it
/// may be passed to `memcpy` or printed with `"%.*s"` as it is.
///
/// Thread-safety and lifetime: plain data; how long `data` stays valid is stated
/// where the string is handed out.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ry_str {
    /// The first byte.
    pub data: *const c_char,
    /// The length in bytes.
    pub len: usize,
}

/// Where every empty `ry_str` points.
static EMPTY: u8 = 0;

impl ry_str {
    const EMPTY: ry_str = ry_str {
        data: &EMPTY as *const u8 as *const c_char,
        len: 0,
    };

    fn lend(text: &str) -> ry_str {
        if text.is_empty() {
            return ry_str::EMPTY;
        }
        ry_str {
            data: text.as_ptr().cast(),
            len: text.len(),
        }
    }
}

/// The answer to a request, written by `ry_reader_match`, with its strings lent by the
/// reader rather than copied.
///
/// The fields are those of `ry_match_result`, with the same meaning; each string is
/// an `ry_str` that is empty when the field does not apply.
///
/// Thread-safety and lifetime: plain data, owned by the caller, which need not
/// initialise it: every field is written, none is read. Its strings stay valid until
/// the next `ry_reader_match` or `ry_reader_free` on the reader that wrote it, and the
/// ones lent from the request (see `ry_reader_match`) as long as the request's strings
/// too.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ry_match_view {
    /// What answered; `RY_MATCH_KIND_NONE` when nothing did, in which case every other
    /// field is empty or zero (`revision` aside).
    pub kind: ry_match_kind,
    /// For `RY_MATCH_KIND_ROUTE`: the Kong route's id (a UUID, 36 bytes).
    pub route_id: ry_str,
    /// For `RY_MATCH_KIND_ROUTE` when the route has a service: the service's id.
    pub service_id: ry_str,
    /// For `RY_MATCH_KIND_CF_ROUTE`: the route's `host/path` as registered (lowercased).
    pub cf_route: ry_str,
    /// For `RY_MATCH_KIND_TCP_ROUTE`: the router group port whose mappings answered.
    pub tcp_port: u16,
    /// The path to send upstream, after the route's `strip_path` and the service's
    /// path; for CF routes the request's path; empty for streams.
    pub upstream_path: ry_str,
    /// The `Host` to send upstream: the request's when the route has `preserve_host`
    /// (and for CF routes), else the service's host; for streams the request's SNI.
    pub upstream_host: ry_str,
    /// The part of the request path that the route's path matched; empty when the
    /// route matched by other fields only, and for CF routes and streams.
    pub matched_path: ry_str,
    /// The status code to redirect with when the route accepts only HTTPS and the
    /// request came over plain HTTP; 0 otherwise.
    pub redirect: u16,
    /// Whether a backend was chosen (see `ry_match_result.backend_picked`).
    pub backend_picked: bool,
    /// The chosen backend: its address when it is an IP address, family
    /// `RY_ADDR_FAMILY_NONE` when it was registered by name (see `backend_name`), and
    /// its port. All zero when none was chosen.
    pub backend: ry_addr,
    /// The chosen backend's address when it is not an IP address, such as a DNS name.
    pub backend_name: ry_str,
    /// The registry revision of the index that answered; on a miss, the registry's
    /// revision during the call.
    pub revision: u64,
}

/// A reader of one registry, for one thread's loop of `ry_reader_match` calls.
///
/// Thread-safety: not for concurrent use: one call at a time, from any thread (a
/// reader may be handed from one thread to another between calls). Give each matching
/// thread its own; any number of readers and `ry_match` callers may read one registry
/// while other threads change it.
///
/// Lifetime: created by `ry_reader_new` and freed by `ry_reader_free`, once. It holds
/// its own reference to the registry's state, so `ry_registry_free` may come before or
/// after it. It also keeps the index it last answered from allocated until its next
/// call or its free, after writes have replaced that index: keep a reader per matching
/// loop, not one per idle connection.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ry_reader {
    reader: Reader<Arc<Registry>>,
    /// Where strings that are neither the index's nor the request's are laid out.
    scratch: Vec<u8>,
}

/// The room a reader's buffer starts with: a path assembled from pieces, a
/// normalised path and a host, as requests usually carry them, fit without growing it.
const SCRATCH: usize = 1024;

/// Creates a reader of a registry.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `out`: receives the reader, to be freed with `ry_reader_free`.
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
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `out` is NULL or valid for writing one `ry_reader *`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_reader_new(
    reg: *const ry_registry,
    out: *mut *mut ry_reader,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = required(out, "out")?;
        let handle = Box::into_raw(Box::new(ry_reader {
            reader: Reader::new(Arc::clone(registry)),
            scratch: Vec::with_capacity(SCRATCH),
        }));
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a reader; the strings of every answer it gave become invalid. NULL is a
/// no-op.
///
/// # Safety
///
/// `reader` is NULL or a live reader handle that no other thread is using, and it is
/// not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ry_reader_free(reader: *mut ry_reader) {
    ffi_boundary!({
        if !reader.is_null() {
            // SAFETY: a live handle from `ry_reader_new`, freed once.
            drop(unsafe { Box::from_raw(reader) });
        }
    })
}

/// Matches a request through a reader and writes the answer into `out`, lending its
/// strings: `ry_match` for a thread's loop of matches, without the per-call pinning of
/// the index and without copying the answer out.
///
/// The answer is the registry's: every change committed before the call is seen. As
/// `ry_match`, it takes no lock and allocates nothing, except where `ry_match` does
/// (see there) and when an answer's strings that must be laid out (below) outgrow the
/// reader's buffer, which then grows once to hold them.
///
/// Thread-safety: one call at a time on a reader, from any thread (see `ry_reader`);
/// the readers of one registry and the callers of `ry_match` on it may match at once
/// while other threads change it.
///
/// # Arguments
///
/// - `reader`: the reader.
/// - `req`: the request (see `ry_request`).
/// - `pick`: whether to choose a backend, as for `ry_match`.
/// - `out`: receives the answer; it need not be initialised.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK` whether or not something matched: `out->kind` tells. On a miss, `kind` is
/// `RY_MATCH_KIND_NONE`, every string empty, every number zero and `revision` the
/// registry's revision. Otherwise an error status, see below.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reader`, `req` or `out` is NULL, or a string of the
///   request is NULL with a non-zero length (`headers` too); `out` is left untouched.
/// - `RY_ERR_INVALID_UTF8` when a string of the request is not UTF-8; `out` is left
///   untouched.
/// - `RY_ERR_INVALID_ARGUMENT` when `protocol` or an address family is not one of its
///   enum's values; `out` is left untouched.
///
/// # Lifetimes
///
/// Every string of `out` stays valid until the next `ry_reader_match` or
/// `ry_reader_free` on this reader, whatever other threads do to the registry
/// meanwhile. `upstream_host` may point into the request's `host`, and
/// `matched_path` and `upstream_path` into its `path`, so those also need the
/// request's strings to stay where they were. The ids, `cf_route` and `backend_name`
/// never point into the request.
///
/// # Safety
///
/// - `reader` is NULL or a live reader handle that no other thread is using.
/// - `req` is NULL or valid for reading one `ry_request`, and every string and header
///   it points to is readable for its length and unchanged during the call.
/// - `out` is NULL or valid for writing one `ry_match_view`, and does not overlap the
///   request.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_reader_match(
    reader: *mut ry_reader,
    req: *const ry_request,
    pick: bool,
    out: *mut ry_match_view,
    err: *mut *mut ry_error,
) -> ry_status {
    // SAFETY: the caller guarantees `req` is NULL or readable.
    if !req.is_null() && !unsafe { is_plain(req) } {
        // SAFETY: passed on from the caller.
        return unsafe { match_full_request(reader, req, pick, out, err) };
    }
    ffi_boundary!(status err, {
        // SAFETY: the caller guarantees `reader` is NULL or a live handle used by no
        // other thread.
        let Some(handle) = (unsafe { reader.as_mut() }) else {
            return Err(ry_error::null_arg("reader").into());
        };
        if req.is_null() {
            return Err(ry_error::null_arg("req").into());
        }
        if out.is_null() {
            return Err(ry_error::null_arg("out").into());
        }
        // SAFETY: `req` is non-NULL, and the caller guarantees it and its strings.
        let request = unsafe { plain_request(req) }?;
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { match_into::<false>(handle, &request, pick, out) };
        Ok(ry_status::RyOk)
    })
}

/// [`ry_reader_match`] for a request that is not [`is_plain`], read in full.
///
/// # Safety
///
/// As for [`ry_reader_match`].
#[inline(never)]
unsafe fn match_full_request(
    reader: *mut ry_reader,
    req: *const ry_request,
    pick: bool,
    out: *mut ry_match_view,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(status err, {
        // SAFETY: as the caller guarantees.
        let Some(handle) = (unsafe { reader.as_mut() }) else {
            return Err(ry_error::null_arg("reader").into());
        };
        if out.is_null() {
            return Err(ry_error::null_arg("out").into());
        }
        let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        let mut heap = Vec::new();
        // SAFETY: `req` is non-NULL (checked by the caller), and the caller
        // guarantees it and its strings.
        let request = unsafe { request(req, &mut stack, &mut heap) }?;
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { match_into::<true>(handle, &request, pick, out) };
        Ok(ry_status::RyOk)
    })
}

/// Matches `request` through the reader and writes the answer into `out`.
///
/// `FULL` tells the two callers apart: [`ry_reader_match`] with a plain request, and
/// [`match_full_request`]. Each gets its own copy of the lookup's closure, so the core's
/// lookup is compiled for each caller separately and, for the plain request, with
/// what the compiler knows of it (no SNI, headers, addresses or router group). Shared,
/// the lookup was compiled once for any request, which cost the plain one about 75
/// instructions.
///
/// # Safety
///
/// `out` must be valid for writing one `ry_match_view`.
#[inline(always)]
unsafe fn match_into<const FULL: bool>(
    handle: &mut ry_reader,
    request: &Request<'_>,
    pick: bool,
    out: *mut ry_match_view,
) {
    let ry_reader { reader, scratch } = handle;
    let written = reader.lookup(request, |found| {
        // SAFETY: as the caller guarantees.
        unsafe { write_view(found, request, scratch, pick, out) }
    });
    if written.is_none() {
        // SAFETY: as the caller guarantees.
        unsafe { out.write(miss(reader.registry().revision())) };
    }
}

/// The answer to a request nothing matched.
#[inline(never)]
fn miss(revision: u64) -> ry_match_view {
    ry_match_view {
        kind: ry_match_kind::None,
        route_id: ry_str::EMPTY,
        service_id: ry_str::EMPTY,
        cf_route: ry_str::EMPTY,
        tcp_port: 0,
        upstream_path: ry_str::EMPTY,
        upstream_host: ry_str::EMPTY,
        matched_path: ry_str::EMPTY,
        redirect: 0,
        backend_picked: false,
        backend: NO_ADDR,
        backend_name: ry_str::EMPTY,
        revision,
    }
}

/// Whether `part` lies within `whole`'s bytes.
fn within(part: &str, whole: &str) -> bool {
    let (start, outer) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    start >= outer && start + part.len() <= outer + whole.len()
}

/// Whether `a` and `b` are the same bytes in memory, not merely equal.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()
}

/// A string of the answer that may be lent from where it already is (the index, or
/// the caller's request), or must be laid out in the reader's buffer first.
#[derive(Clone, Copy)]
enum Text {
    Lent(ry_str),
    /// At this offset of the buffer, this long.
    Laid(usize, usize),
}

impl Text {
    /// `text` lent when `stable` (it lies where it stays valid), else appended to
    /// `scratch`.
    fn of(text: &str, stable: bool, scratch: &mut Vec<u8>) -> Text {
        if stable || text.is_empty() {
            return Text::Lent(ry_str::lend(text));
        }
        let at = scratch.len();
        scratch.extend_from_slice(text.as_bytes());
        Text::Laid(at, text.len())
    }

    /// The string, once every text of the answer is in `scratch` (which no longer
    /// moves).
    fn resolve(self, scratch: &[u8]) -> ry_str {
        match self {
            Text::Lent(s) => s,
            Text::Laid(at, len) => ry_str {
                // `at + len <= scratch.len()`: the bytes were appended at `at`.
                data: scratch[at..at + len].as_ptr().cast(),
                len,
            },
        }
    }
}

/// Writes the answer from what the core found into `out`, lending what it can.
///
/// Strings of the index (ids, the CF route's key, a backend's name, a service's host
/// and path) are lent as they are: the reader keeps the index until its next call. So
/// are strings within the caller's request. Anything else, such as an upstream path
/// assembled from pieces or a part of a normalised path, is laid out in `scratch`.
///
/// # Safety
///
/// `out` must be valid for writing one `ry_match_view`.
#[inline(always)]
unsafe fn write_view(
    found: &Found<'_>,
    request: &Request<'_>,
    scratch: &mut Vec<u8>,
    pick: bool,
    out: *mut ry_match_view,
) {
    scratch.clear();
    // What answered, read as `ry_match` reads it (`Fields::of` in `lookup`), but into
    // lent strings: built through `Fields`, this function measured about 3 ns slower.
    let (mut kind, mut route_id, mut service_id) =
        (ry_match_kind::None, ry_str::EMPTY, ry_str::EMPTY);
    let (mut cf_route, mut tcp_port, mut redirect) = (ry_str::EMPTY, 0, 0);
    let service = found.service();
    if let Some(route) = found.route() {
        kind = ry_match_kind::Route;
        route_id = ry_str::lend(&route.id);
        service_id = service.map_or(ry_str::EMPTY, |s| ry_str::lend(&s.id));
        redirect = found.redirect().unwrap_or(0);
    } else if let Some(key) = found.cf_route() {
        kind = ry_match_kind::CfRoute;
        cf_route = ry_str::lend(key);
    } else if let Some((_, port)) = found.tcp_route() {
        kind = ry_match_kind::TcpRoute;
        tcp_port = port;
    }
    // The upstream host is the request's own `host`, the service's host, or (for a
    // stream) the SNI as the matcher prepared it, which may be a copy.
    let upstream_host = found.upstream_host();
    let host = Text::of(
        upstream_host,
        same(upstream_host, request.host) || service.is_some_and(|s| same(upstream_host, &s.host)),
        scratch,
    );
    // The matched path is a prefix of the request's path, or of its normalised copy.
    let matched_path = found.matched_path();
    let matched = Text::of(
        matched_path,
        std::ptr::eq(matched_path.as_ptr(), request.path.as_ptr()),
        scratch,
    );
    let parts = found.upstream_path_parts();
    let path = match parts.as_parts() {
        // One piece, which may already be where it can be lent from: a part of the
        // request's path or the service's path.
        Some(pieces) if pieces.iter().filter(|p| !p.is_empty()).count() <= 1 => {
            let piece = pieces.iter().find(|p| !p.is_empty()).map_or("", |p| *p);
            let stable = within(piece, request.path)
                || service
                    .and_then(|s| s.path.as_deref())
                    .is_some_and(|p| same(piece, p));
            Text::of(piece, stable, scratch)
        }
        _ => {
            let at = scratch.len();
            let len = parts.len();
            scratch.reserve(len);
            let spare = &mut scratch.spare_capacity_mut()[..len];
            let written = parts.copy_to(spare).unwrap_or(0);
            // SAFETY: `copy_to` initialised the first `written` bytes of the spare
            // capacity, which `reserve` made room for.
            unsafe { scratch.set_len(at + written) };
            Text::Laid(at, written)
        }
    };
    let (mut picked, mut backend, mut backend_name) = (false, NO_ADDR, ry_str::EMPTY);
    if pick {
        if let Some(chosen) = found.pick() {
            picked = true;
            let (addr, name) = backend_addr(chosen.address, chosen.port);
            backend = addr;
            backend_name = ry_str::lend(name);
        }
    }
    // SAFETY: as the caller guarantees.
    unsafe {
        out.write(ry_match_view {
            kind,
            route_id,
            service_id,
            cf_route,
            tcp_port,
            upstream_path: path.resolve(scratch),
            upstream_host: host.resolve(scratch),
            matched_path: matched.resolve(scratch),
            redirect,
            backend_picked: picked,
            backend,
            backend_name,
            revision: found.revision(),
        })
    };
}
