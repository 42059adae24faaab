//! The hot path: a request given as a C struct, matched against a registry, the answer
//! written into memory the caller owns.
//!
//! `ry_match` neither parses text nor allocates: addresses arrive as bytes, strings are
//! borrowed from the caller and only checked for UTF-8, headers are gathered on the
//! stack, the answer is borrowed from the index (`Registry::lookup`) and copied into the
//! caller's fixed arrays and buffers; the upstream path, which the core hands over in
//! pieces, is assembled in the caller's buffer. `ry_match_json` is the same lookup with
//! JSON in and out, for tools.
//!
//! Every read of the caller's structs goes field by field through raw pointers: C may
//! hand over an enum field with a value Rust's enum does not have, or a result struct
//! whose unused fields were never initialised, and neither may be read as a Rust value
//! of the struct's type.

use std::ffi::c_char;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ptr::{addr_of, addr_of_mut};

use routeyard_core::dialect::kong;
use routeyard_core::{Found, Match, Matched, Protocol, Request, UpstreamPath};
use serde_json::Value;

use crate::error::{ry_error, ry_status, Failure};
use crate::registry::{registry, ry_registry};
use crate::string::{str_arg, StringOut};

/// The protocol a request arrived over. The values are stable.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ry_protocol {
    /// Plain HTTP.
    Http = 0,
    /// HTTP over TLS.
    Https = 1,
    /// gRPC over plain HTTP/2.
    Grpc = 2,
    /// gRPC over TLS.
    Grpcs = 3,
    /// A TCP stream.
    Tcp = 4,
    /// A TLS stream the proxy terminates.
    Tls = 5,
    /// A TLS stream passed through by SNI.
    TlsPassthrough = 6,
    /// UDP datagrams.
    Udp = 7,
}

// The enum fields C hands over are read as `u32`: a C enum has the size of an
// `unsigned int` on every platform this library is built for, and so do these.
const _: () =
    assert!(std::mem::size_of::<ry_protocol>() == 4 && std::mem::size_of::<ry_addr_family>() == 4);

/// The core's protocol for a raw `ry_protocol` value, or None for an unknown value.
fn protocol(raw: u32) -> Option<Protocol> {
    Some(match raw {
        0 => Protocol::Http,
        1 => Protocol::Https,
        2 => Protocol::Grpc,
        3 => Protocol::Grpcs,
        4 => Protocol::Tcp,
        5 => Protocol::Tls,
        6 => Protocol::TlsPassthrough,
        7 => Protocol::Udp,
        _ => return None,
    })
}

/// The family of an `ry_addr`. The values are stable.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ry_addr_family {
    /// No address: the field is absent (in a request) or not an IP address (a backend
    /// registered by name).
    None = 0,
    /// An IPv4 address in the first 4 bytes of `addr`.
    Ipv4 = 1,
    /// An IPv6 address in the 16 bytes of `addr`.
    Ipv6 = 2,
}

/// An IP address and port, as bytes: nothing to parse.
///
/// Thread-safety and lifetime: plain data.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ry_addr {
    /// Which of the fields below hold an address; `RY_ADDR_FAMILY_NONE` for none.
    pub family: ry_addr_family,
    /// The address in network byte order: 4 bytes for IPv4 (the other 12 are
    /// ignored on input and zero on output), 16 for IPv6.
    pub addr: [u8; 16],
    /// The port, in host byte order.
    pub port: u16,
}

/// One request header: a name and a value, both `(pointer, length)` UTF-8 strings.
///
/// Thread-safety and lifetime: plain data; the strings are the caller's and are only
/// read during the call they are passed to.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct ry_header {
    /// The name, compared without regard to case. Never NULL.
    pub name: *const u8,
    /// The name's length in bytes.
    pub name_len: usize,
    /// The value. NULL only with `value_len` 0 (an empty value).
    pub value: *const u8,
    /// The value's length in bytes.
    pub value_len: usize,
}

/// A request to match, described by the caller.
///
/// Every string is a `(pointer, length)` pair of UTF-8 bytes, not NUL-terminated; a
/// NULL pointer with length 0 means the field is absent (an absent method, host or path
/// is the empty string). A NULL pointer with a non-zero length is refused.
///
/// HTTP protocols (`http`, `https`, `grpc`, `grpcs`) match Kong routes by method, host,
/// path, headers and SNI, then CF HTTP routes by host and path. Stream protocols
/// (`tcp`, `tls`, `tls_passthrough`, `udp`) match Kong stream routes by SNI, source and
/// destination, then, when `router_group` is given, the CF TCP mappings of that router
/// group on the destination's port.
///
/// Thread-safety and lifetime: plain data; everything it points to is the caller's and
/// is only read during the call. Zero-initialise it (`ry_request req = {0};` or
/// `memset`) and set what applies: all-zero is an HTTP request with every field absent.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct ry_request {
    /// The protocol; one of `ry_protocol`, any other value is refused.
    pub protocol: ry_protocol,
    /// The HTTP method, such as `GET`.
    pub method: *const u8,
    /// The method's length in bytes.
    pub method_len: usize,
    /// The `Host` header as sent; a `:port` suffix is allowed.
    pub host: *const u8,
    /// The host's length in bytes.
    pub host_len: usize,
    /// The raw request target's path; a query (from `?`) is ignored.
    pub path: *const u8,
    /// The path's length in bytes.
    pub path_len: usize,
    /// The request headers: an array of `headers_len` entries, NULL when there are
    /// none. A name may repeat. Up to 64 headers are gathered without allocating; a
    /// request with more costs one allocation.
    pub headers: *const ry_header,
    /// How many entries `headers` has.
    pub headers_len: usize,
    /// The TLS server name, if the request came over TLS.
    pub sni: *const u8,
    /// The server name's length in bytes.
    pub sni_len: usize,
    /// The client's address; family `RY_ADDR_FAMILY_NONE` when unknown.
    pub source: ry_addr,
    /// The local address the request arrived on; family `RY_ADDR_FAMILY_NONE` when
    /// unknown. Stream requests need it for CF TCP mappings (its port is the router
    /// group port).
    pub destination: ry_addr,
    /// For a stream request to a CF TCP router: the guid of the router group it
    /// arrived on.
    pub router_group: *const u8,
    /// The router group guid's length in bytes.
    pub router_group_len: usize,
}

/// What answered a request. The values are stable.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ry_match_kind {
    /// Nothing matched.
    None = 0,
    /// A Kong route, HTTP or stream: `route_id` (and `service_id` when it has a service).
    Route = 1,
    /// A CF HTTP route: `cf_route` receives its `host/path`.
    CfRoute = 2,
    /// The CF TCP mappings of the request's router group on `tcp_port`.
    TcpRoute = 3,
}

/// The size of `ry_match_result`'s id arrays: a UUID's 36 characters and a NUL.
pub const RY_ID_SIZE: usize = 37;

/// A caller-owned buffer that `ry_match` writes a string into.
///
/// The caller sets `data` and `capacity`; the library sets `len`. After `RY_OK`, a
/// buffer with a non-NULL `data` holds `len` bytes of UTF-8 and a NUL after them (the
/// empty string when the field does not apply). A NULL `data` means "not wanted": the
/// value is not even computed, and `len` is 0.
///
/// Thread-safety and lifetime: plain data; `data` is the caller's.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct ry_buffer {
    /// Where to write, or NULL when the value is not wanted.
    pub data: *mut c_char,
    /// The size of `data` in bytes, the NUL included.
    pub capacity: usize,
    /// Set by the library: the length of the value in bytes, the NUL not included.
    /// After `RY_ERR_BUFFER_TOO_SMALL`, the length the value needs (so `len + 1`
    /// bytes of capacity hold it).
    pub len: usize,
}

/// The answer to a request, written by `ry_match` into memory the caller owns.
///
/// Before the call, set the `data` and `capacity` of each buffer wanted (every other
/// field is only written, never read, so it need not be initialised). Buffers must not
/// overlap one another, the result's other fields, or the strings of the request.
///
/// Thread-safety and lifetime: plain data, owned by the caller. Nothing in it borrows
/// from the library: ids and strings are copies.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct ry_match_result {
    /// What answered; `RY_MATCH_KIND_NONE` when nothing did, in which case every other
    /// field is empty or zero (`revision` aside).
    pub kind: ry_match_kind,
    /// For `RY_MATCH_KIND_ROUTE`: the Kong route's id, a NUL-terminated UUID. Empty
    /// otherwise.
    pub route_id: [c_char; RY_ID_SIZE],
    /// For `RY_MATCH_KIND_ROUTE` when the route has a service: the service's id, a
    /// NUL-terminated UUID. Empty otherwise.
    pub service_id: [c_char; RY_ID_SIZE],
    /// For `RY_MATCH_KIND_CF_ROUTE`: the route's `host/path` as registered (lowercased).
    /// Empty otherwise.
    pub cf_route: ry_buffer,
    /// For `RY_MATCH_KIND_TCP_ROUTE`: the router group port whose mappings answered
    /// (the request destination's port); the router group is the request's. 0
    /// otherwise.
    pub tcp_port: u16,
    /// The path to send upstream, after the route's `strip_path` and the service's
    /// path; for CF routes the request's path; empty for streams.
    pub upstream_path: ry_buffer,
    /// The `Host` to send upstream: the request's when the route has `preserve_host`
    /// (and for CF routes), else the service's host; for streams the request's SNI.
    pub upstream_host: ry_buffer,
    /// The part of the request path that the route's path matched; empty when the
    /// route matched by other fields only, and for CF routes and streams.
    pub matched_path: ry_buffer,
    /// The status code to redirect with when the route accepts only HTTPS and the
    /// request came over plain HTTP (Kong's `https_redirect_status_code`); 0 otherwise.
    pub redirect: u16,
    /// Whether a backend was chosen: `ry_match` was asked to pick, and the route has
    /// one to give: a live registration of a CF HTTP route or TCP mappings, or an
    /// eligible backend of a Kong route's service upstream (by the upstream's
    /// strategy, tiers and split, with the request's source as the client).
    pub backend_picked: bool,
    /// The chosen backend: its address when it is an IP address (family IPv4 or IPv6),
    /// family `RY_ADDR_FAMILY_NONE` when it was registered by name (see
    /// `backend_name`), and its port. All zero when none was chosen.
    pub backend: ry_addr,
    /// The chosen backend's address when it is not an IP address, such as a DNS name.
    /// Empty otherwise. Needed only if backends may register names: when one is
    /// chosen and this buffer's `data` is NULL, the call reports
    /// `RY_ERR_BUFFER_TOO_SMALL`.
    pub backend_name: ry_buffer,
    /// The registry revision of the index that answered; on a miss, the registry's
    /// revision during the call.
    pub revision: u64,
}

/// Headers gathered on the stack before the request needs a heap allocation.
pub(crate) const STACK_HEADERS: usize = 64;

/// A `(pointer, length)` field of the request as UTF-8, None when absent.
///
/// The usual field, ASCII or absent, is read here; anything else, valid or not, is
/// left to [`text_slow`], out of line.
///
/// # Safety
///
/// `ptr` must be NULL or valid for reading `len` bytes that stay unchanged for `'a`.
#[inline(always)]
unsafe fn text<'a>(
    ptr: *const u8,
    len: usize,
    field: &'static str,
) -> Result<Option<&'a str>, Failure> {
    if !ptr.is_null() {
        // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for `'a`.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        // Methods, hosts and paths are ASCII as a rule, and checking that a word at a
        // time costs a fraction of a full UTF-8 validation.
        if is_ascii(bytes) {
            // SAFETY: ASCII is valid UTF-8.
            return Ok(Some(unsafe { std::str::from_utf8_unchecked(bytes) }));
        }
    } else if len == 0 {
        return Ok(None);
    }
    // SAFETY: as the caller guarantees.
    unsafe { text_slow(ptr, len, field) }
}

/// [`text`] for a field that is not ASCII (a full UTF-8 check), or NULL with a
/// length (refused).
///
/// # Safety
///
/// As for [`text`].
#[inline(never)]
unsafe fn text_slow<'a>(
    ptr: *const u8,
    len: usize,
    field: &'static str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Err(Box::new(ry_error::argument(
            ry_status::RyErrNullArg,
            format!("`{field}` is NULL but its length is {len}"),
        )));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for `'a`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(cause) => Err(Box::new(ry_error::invalid_utf8(field, cause))),
    }
}

/// Whether every byte is ASCII, read eight bytes at a time; the short strings of a
/// request (a method, a host, a path) take one or two loads each.
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().fold(0u8, |acc, &b| acc | b) < 0x80;
    }
    let mut seen = word(&bytes[n - 8..]);
    let mut chunks = bytes[..n - 8].chunks_exact(8);
    for chunk in &mut chunks {
        seen |= word(chunk);
    }
    if !chunks.remainder().is_empty() {
        // The eight bytes before the last eight, overlapping bytes already read.
        let start = (n - 8).saturating_sub(8);
        seen |= word(&bytes[start..start + 8]);
    }
    seen & HIGH == 0
}

/// An `ry_addr` of the request as a socket address, None for family none.
///
/// # Safety
///
/// `addr` must be valid for reading one `ry_addr`, whose `family` may hold any value.
#[inline]
unsafe fn socket_addr(
    addr: *const ry_addr,
    field: &'static str,
) -> Result<Option<SocketAddr>, Failure> {
    // SAFETY: the caller guarantees `addr` is readable. The family is read as the
    // integer C stored (a C enum has the size of an unsigned int, as `ry_addr_family`
    // has), never as a Rust enum that might not have that value.
    let family = unsafe { addr_of!((*addr).family).cast::<u32>().read() };
    let ip = match family {
        0 => return Ok(None),
        // SAFETY: as above.
        1 => unsafe {
            let bytes = addr_of!((*addr).addr).cast::<[u8; 4]>().read();
            IpAddr::V4(Ipv4Addr::from(bytes))
        },
        // SAFETY: as above.
        2 => IpAddr::V6(Ipv6Addr::from(unsafe { addr_of!((*addr).addr).read() })),
        value => return Err(bad_family(field, value)),
    };
    // SAFETY: as above.
    let port = unsafe { addr_of!((*addr).port).read() };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// A request's protocol that is not an `ry_protocol`.
#[cold]
#[inline(never)]
fn bad_protocol(value: u32) -> Failure {
    Box::new(ry_error::invalid_argument(format!(
        "`protocol` is {value}, not an ry_protocol"
    )))
}

/// A request's address family that is not an `ry_addr_family`.
#[cold]
#[inline(never)]
fn bad_family(field: &'static str, value: u32) -> Failure {
    Box::new(ry_error::invalid_argument(format!(
        "`{field}.family` is {value}, not an ry_addr_family"
    )))
}

/// The request's headers as the core takes them: gathered into `stack` when they fit,
/// else into `heap`. Out of line: most requests a proxy matches carry none the
/// routes ask about, and the caller passes none.
///
/// # Safety
///
/// `len` must not be 0, and `headers` must be NULL or valid for reading `len`
/// `ry_header`s whose strings are readable and unchanged for `'a`.
#[inline(never)]
unsafe fn headers<'a>(
    headers: *const ry_header,
    len: usize,
    stack: &'a mut [MaybeUninit<(&'a str, &'a str)>; STACK_HEADERS],
    heap: &'a mut Vec<(&'a str, &'a str)>,
) -> Result<&'a [(&'a str, &'a str)], Failure> {
    if headers.is_null() {
        return Err(Box::new(ry_error::argument(
            ry_status::RyErrNullArg,
            format!("`headers` is NULL but `headers_len` is {len}"),
        )));
    }
    let read = |i: usize| -> Result<(&'a str, &'a str), Failure> {
        // SAFETY: `i < len`, and the caller guarantees `len` readable entries.
        let (name, name_len, value, value_len) = unsafe {
            let h = headers.add(i);
            (
                addr_of!((*h).name).read(),
                addr_of!((*h).name_len).read(),
                addr_of!((*h).value).read(),
                addr_of!((*h).value_len).read(),
            )
        };
        if name.is_null() {
            return Err(Box::new(ry_error::argument(
                ry_status::RyErrNullArg,
                format!("`headers[{i}].name` is NULL"),
            )));
        }
        // SAFETY: the caller guarantees each header's strings are readable for `'a`.
        let name = unsafe { text(name, name_len, "headers[].name") }?.unwrap_or("");
        // SAFETY: as above.
        let value = unsafe { text(value, value_len, "headers[].value") }?.unwrap_or("");
        Ok((name, value))
    };
    if len <= STACK_HEADERS {
        for (i, slot) in stack.iter_mut().take(len).enumerate() {
            slot.write(read(i)?);
        }
        // SAFETY: the first `len` slots were initialised just above, and
        // `MaybeUninit<T>` has the layout of `T`.
        Ok(unsafe { std::slice::from_raw_parts(stack.as_ptr().cast(), len) })
    } else {
        heap.reserve_exact(len);
        for i in 0..len {
            heap.push(read(i)?);
        }
        Ok(heap)
    }
}

/// Whether `req` is the usual request of a proxy's loop: only a protocol, a method, a
/// host and a path, with no headers, SNI, addresses or router group. Such a request
/// is read inline ([`plain_request`]); `ry_reader_match` reads any other out of line.
///
/// # Safety
///
/// `req` must be valid for reading one `ry_request` (its enum fields may hold any
/// value).
#[inline(always)]
pub(crate) unsafe fn is_plain(req: *const ry_request) -> bool {
    // SAFETY: as the caller guarantees; the families are read as the integers C
    // stored.
    unsafe {
        let rest = (*req).sni as usize
            | (*req).sni_len
            | (*req).router_group as usize
            | (*req).router_group_len
            | (*req).headers_len
            | addr_of!((*req).source.family).cast::<u32>().read() as usize
            | addr_of!((*req).destination.family).cast::<u32>().read() as usize;
        rest == 0
    }
}

/// Reads the protocol, method, host and path of a request: all of a request that
/// [`is_plain`], and the start of any other ([`request`]).
///
/// # Safety
///
/// As for [`request`].
#[inline(always)]
pub(crate) unsafe fn plain_request<'a>(req: *const ry_request) -> Result<Request<'a>, Failure> {
    // SAFETY: the caller guarantees `req` is readable; the protocol is read as the
    // integer C stored.
    unsafe {
        let raw_protocol = addr_of!((*req).protocol).cast::<u32>().read();
        let Some(protocol) = protocol(raw_protocol) else {
            return Err(bad_protocol(raw_protocol));
        };
        let method = text((*req).method, (*req).method_len, "method")?.unwrap_or("");
        let host = text((*req).host, (*req).host_len, "host")?.unwrap_or("");
        let path = text((*req).path, (*req).path_len, "path")?.unwrap_or("");
        Ok(Request::new(method, host, path).protocol(protocol))
    }
}

/// Reads the caller's request into the core's form.
///
/// # Safety
///
/// `req` must be valid for reading one `ry_request` (its enum fields may hold any
/// value), and everything it points to must be readable and unchanged for `'a`.
#[inline(always)]
pub(crate) unsafe fn request<'a>(
    req: *const ry_request,
    stack: &'a mut [MaybeUninit<(&'a str, &'a str)>; STACK_HEADERS],
    heap: &'a mut Vec<(&'a str, &'a str)>,
) -> Result<Request<'a>, Failure> {
    // SAFETY: the caller guarantees `req` is readable; every field is read on its own.
    unsafe {
        let plain = plain_request(req)?;
        let headers = match (*req).headers_len {
            0 => &[],
            len => headers((*req).headers, len, stack, heap)?,
        };
        let sni = text((*req).sni, (*req).sni_len, "sni")?;
        let source = socket_addr(addr_of!((*req).source), "source")?;
        let destination = socket_addr(addr_of!((*req).destination), "destination")?;
        let router_group = text((*req).router_group, (*req).router_group_len, "router_group")?;
        Ok(Request {
            headers,
            sni,
            source,
            destination,
            router_group,
            ..plain
        })
    }
}

/// The result's buffers, in the order a too-small one is reported.
const BUFFERS: usize = 5;
const CF_ROUTE: usize = 0;
const UPSTREAM_PATH_BUF: usize = 1;
const UPSTREAM_HOST: usize = 2;
const MATCHED_PATH: usize = 3;
const BACKEND_NAME: usize = 4;
const BUFFER_NAMES: [&str; BUFFERS] = [
    "cf_route",
    "upstream_path",
    "upstream_host",
    "matched_path",
    "backend_name",
];

/// Copies `src` to `dst`. The strings of an answer are short as a rule: up to 64 bytes
/// (a UUID among them) are moved in two (possibly overlapping) loads and stores of one
/// width, without a call.
///
/// # Safety
///
/// `dst` must be valid for writing `src.len()` bytes and must not overlap `src`.
#[inline(always)]
unsafe fn copy_bytes(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: every access below is within the first `n` bytes of `src` and `dst`,
    // which the caller guarantees (and the slice proves) are valid.
    unsafe {
        macro_rules! two {
            ($t:ty) => {{
                let w = std::mem::size_of::<$t>();
                let head = s.cast::<$t>().read_unaligned();
                let tail = s.add(n - w).cast::<$t>().read_unaligned();
                dst.cast::<$t>().write_unaligned(head);
                dst.add(n - w).cast::<$t>().write_unaligned(tail);
            }};
        }
        match n {
            0 => {}
            1..=3 => {
                dst.write(*s);
                dst.add(n / 2).write(*s.add(n / 2));
                dst.add(n - 1).write(*s.add(n - 1));
            }
            4..=7 => two!(u32),
            8..=15 => two!(u64),
            16..=32 => two!(u128),
            33..=64 => two!([u8; 32]),
            _ => std::ptr::copy_nonoverlapping(s, dst, n),
        }
    }
}

/// Where the caller wants one string: the `data` and `capacity` it set.
#[derive(Clone, Copy)]
struct Target {
    data: *mut c_char,
    capacity: usize,
}

impl Target {
    fn wanted(self) -> bool {
        !self.data.is_null()
    }

    /// Whether a value of `len` bytes and its NUL fit (anything does when the value
    /// is not wanted).
    fn fits(self, len: usize) -> bool {
        self.data.is_null() || len < self.capacity
    }

    /// Copies `text` and a NUL in, when wanted; the length written.
    ///
    /// # Safety
    ///
    /// A wanted target must be writable for `text.len() + 1` bytes (checked with
    /// [`Target::fits`]) and must not overlap `text`.
    #[inline(always)]
    unsafe fn put(self, text: &str) -> usize {
        if self.data.is_null() {
            return 0;
        }
        // SAFETY: as the caller guarantees.
        unsafe {
            copy_bytes(text.as_bytes(), self.data.cast::<u8>());
            self.data.add(text.len()).write(0);
        }
        text.len()
    }

    /// Assembles an upstream path and a NUL in, when wanted; the length written.
    ///
    /// # Safety
    ///
    /// As [`Target::put`], for the path's length.
    #[inline(always)]
    unsafe fn put_path(self, path: Option<UpstreamPath<'_>>) -> usize {
        let (false, Some(path)) = (self.data.is_null(), path) else {
            // SAFETY: as the caller guarantees.
            return unsafe { self.put("") };
        };
        if let Some(parts) = path.as_parts() {
            let mut at = 0;
            for part in parts {
                // SAFETY: the caller checked that the parts and a NUL fit.
                unsafe { copy_bytes(part.as_bytes(), self.data.cast::<u8>().add(at)) };
                at += part.len();
            }
            // SAFETY: as above.
            unsafe { self.data.add(at).write(0) };
            return at;
        }
        // SAFETY: the caller checked that the path and its NUL fit in `capacity`
        // writable bytes, which the slice (the NUL's byte aside) covers.
        unsafe {
            let dst = std::slice::from_raw_parts_mut(
                self.data.cast::<MaybeUninit<u8>>(),
                self.capacity - 1,
            );
            let len = path.copy_to(dst).unwrap_or(0);
            self.data.add(len).write(0);
            len
        }
    }
}

/// The caller's buffers, as set before the call.
#[derive(Clone, Copy)]
struct Targets {
    cf_route: Target,
    upstream_path: Target,
    upstream_host: Target,
    matched_path: Target,
    backend_name: Target,
}

impl Targets {
    /// Reads the `data` and `capacity` the caller set.
    ///
    /// # Safety
    ///
    /// `out` must be valid for reads of one `ry_match_result` whose buffers' `data`
    /// and `capacity` are initialised.
    unsafe fn read(out: *mut ry_match_result) -> Targets {
        let target = |b: *const ry_buffer| {
            // SAFETY: as the caller guarantees; no reference is made.
            unsafe {
                Target {
                    data: addr_of!((*b).data).read(),
                    capacity: addr_of!((*b).capacity).read(),
                }
            }
        };
        // SAFETY: as the caller guarantees.
        unsafe {
            Targets {
                cf_route: target(addr_of!((*out).cf_route)),
                upstream_path: target(addr_of!((*out).upstream_path)),
                upstream_host: target(addr_of!((*out).upstream_host)),
                matched_path: target(addr_of!((*out).matched_path)),
                backend_name: target(addr_of!((*out).backend_name)),
            }
        }
    }

    fn all(&self) -> [Target; BUFFERS] {
        [
            self.cf_route,
            self.upstream_path,
            self.upstream_host,
            self.matched_path,
            self.backend_name,
        ]
    }

    /// The first buffer that is wanted but too small for its value (or, for the
    /// backend name, missing while a name was chosen).
    fn too_small(&self, lens: &[usize; BUFFERS]) -> Option<usize> {
        let all = self.all();
        (0..BUFFERS).find(|&i| {
            if all[i].wanted() {
                !all[i].fits(lens[i])
            } else {
                i == BACKEND_NAME && lens[i] > 0
            }
        })
    }
}

/// The strings of an answer, borrowed until they are copied out.
#[derive(Default)]
struct Texts<'a> {
    cf_route: &'a str,
    upstream_path: Option<UpstreamPath<'a>>,
    upstream_host: &'a str,
    matched_path: &'a str,
    backend_name: &'a str,
}

impl Texts<'_> {
    /// Every buffer's value length, in the buffers' order.
    fn lens(&self) -> [usize; BUFFERS] {
        [
            self.cf_route.len(),
            self.upstream_path.map_or(0, |p| p.len()),
            self.upstream_host.len(),
            self.matched_path.len(),
            self.backend_name.len(),
        ]
    }
}

/// The fixed-size fields of an answer.
struct Fields<'a> {
    kind: ry_match_kind,
    route_id: &'a str,
    service_id: &'a str,
    tcp_port: u16,
    redirect: u16,
    picked: bool,
    backend: ry_addr,
    revision: u64,
}

impl<'a> Fields<'a> {
    /// What answered, from what the core found: the kind, the ids, the TCP port and
    /// the redirect; no backend yet.
    #[inline(always)]
    fn of(found: &Found<'a>) -> Fields<'a> {
        let mut fields = Fields::miss(found.revision());
        if let Some(route) = found.route() {
            fields.kind = ry_match_kind::Route;
            fields.route_id = &route.id;
            fields.service_id = found.service().map_or("", |s| s.id.as_str());
            fields.redirect = found.redirect().unwrap_or(0);
        } else if found.cf_route().is_some() {
            fields.kind = ry_match_kind::CfRoute;
        } else if let Some((_, port)) = found.tcp_route() {
            fields.kind = ry_match_kind::TcpRoute;
            fields.tcp_port = port;
        }
        fields
    }
}

impl Fields<'_> {
    /// A miss: nothing but the revision.
    fn miss(revision: u64) -> Fields<'static> {
        Fields {
            kind: ry_match_kind::None,
            route_id: "",
            service_id: "",
            tcp_port: 0,
            redirect: 0,
            picked: false,
            backend: NO_ADDR,
            revision,
        }
    }
}

/// An `ry_addr` of family none: all zero.
pub(crate) const NO_ADDR: ry_addr = ry_addr {
    family: ry_addr_family::None,
    addr: [0; 16],
    port: 0,
};

/// What the lookup closure reports: the answer was written, or some buffer is too small
/// (its index, and the length each buffer needs).
enum Outcome {
    Written,
    TooSmall(usize, [usize; BUFFERS]),
}

/// Copies an id into one of the fixed arrays; ids are UUIDs, longer text is cut.
///
/// # Safety
///
/// `dst` must be valid for writing `RY_ID_SIZE` bytes and must not overlap `id`.
#[inline(always)]
unsafe fn copy_id(dst: *mut c_char, id: &str) {
    let id = &id.as_bytes()[..id.len().min(RY_ID_SIZE - 1)];
    // SAFETY: `id.len() + 1 <= RY_ID_SIZE` bytes, as the caller guarantees writable.
    unsafe {
        copy_bytes(id, dst.cast::<u8>());
        dst.add(id.len()).cast::<u8>().write(0);
    }
}

/// Writes a whole answer into `out`; every wanted buffer was checked to be big enough.
///
/// # Safety
///
/// `out` must be valid for writes of one `ry_match_result`, and `targets` must be what
/// its buffers hold, each big enough for its value in `texts`.
#[inline(always)]
unsafe fn write_answer(
    out: *mut ry_match_result,
    targets: &Targets,
    fields: &Fields<'_>,
    texts: &Texts<'_>,
) {
    // SAFETY: as the caller guarantees; every field is written through its own place.
    unsafe {
        addr_of_mut!((*out).kind).write(fields.kind);
        copy_id(addr_of_mut!((*out).route_id).cast(), fields.route_id);
        copy_id(addr_of_mut!((*out).service_id).cast(), fields.service_id);
        addr_of_mut!((*out).tcp_port).write(fields.tcp_port);
        addr_of_mut!((*out).redirect).write(fields.redirect);
        addr_of_mut!((*out).backend_picked).write(fields.picked);
        addr_of_mut!((*out).backend).write(fields.backend);
        addr_of_mut!((*out).revision).write(fields.revision);
        let len = targets.cf_route.put(texts.cf_route);
        addr_of_mut!((*out).cf_route.len).write(len);
        let len = targets.upstream_path.put_path(texts.upstream_path);
        addr_of_mut!((*out).upstream_path.len).write(len);
        let len = targets.upstream_host.put(texts.upstream_host);
        addr_of_mut!((*out).upstream_host.len).write(len);
        let len = targets.matched_path.put(texts.matched_path);
        addr_of_mut!((*out).matched_path.len).write(len);
        let len = targets.backend_name.put(texts.backend_name);
        addr_of_mut!((*out).backend_name.len).write(len);
    }
}

/// Writes the needed lengths after a buffer proved too small, and nothing else.
///
/// # Safety
///
/// `out` must be valid for writes of one `ry_match_result`.
unsafe fn write_lens(out: *mut ry_match_result, lens: &[usize; BUFFERS]) {
    // SAFETY: as the caller guarantees.
    unsafe {
        addr_of_mut!((*out).cf_route.len).write(lens[CF_ROUTE]);
        addr_of_mut!((*out).upstream_path.len).write(lens[UPSTREAM_PATH_BUF]);
        addr_of_mut!((*out).upstream_host.len).write(lens[UPSTREAM_HOST]);
        addr_of_mut!((*out).matched_path.len).write(lens[MATCHED_PATH]);
        addr_of_mut!((*out).backend_name.len).write(lens[BACKEND_NAME]);
    }
}

/// The chosen backend as an `ry_addr`, or its name when it is not an IP address.
pub(crate) fn backend_addr(address: &str, port: u16) -> (ry_addr, &str) {
    let mut addr = ry_addr { port, ..NO_ADDR };
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            addr.family = ry_addr_family::Ipv4;
            addr.addr[..4].copy_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            addr.family = ry_addr_family::Ipv6;
            addr.addr = ip.octets();
        }
        Err(_) => return (addr, address),
    }
    (addr, "")
}

/// Reads the answer from what the core found, checks the buffers, then (and only if
/// everything fits) picks a backend and writes it all.
///
/// # Safety
///
/// As [`write_answer`], with `targets` read from `out`.
#[inline(always)]
unsafe fn answer(
    found: &Found<'_>,
    out: *mut ry_match_result,
    targets: &Targets,
    pick: bool,
) -> Outcome {
    let mut fields = Fields::of(found);
    let mut texts = Texts::default();
    if targets.cf_route.wanted() {
        texts.cf_route = found.cf_route().unwrap_or("");
    }
    if targets.upstream_path.wanted() {
        texts.upstream_path = Some(found.upstream_path_parts());
    }
    if targets.upstream_host.wanted() {
        texts.upstream_host = found.upstream_host();
    }
    if targets.matched_path.wanted() {
        texts.matched_path = found.matched_path();
    }
    let lens = texts.lens();
    if let Some(i) = targets.too_small(&lens) {
        // Found before the pick, so the round robin has not moved.
        return Outcome::TooSmall(i, lens);
    }
    if pick {
        if let Some(chosen) = found.pick() {
            fields.picked = true;
            (fields.backend, texts.backend_name) = backend_addr(chosen.address, chosen.port);
            let lens = texts.lens();
            if let Some(i) = targets.too_small(&lens) {
                return Outcome::TooSmall(i, lens);
            }
        }
    }
    // SAFETY: passed on from the caller; every wanted buffer was checked above.
    unsafe { write_answer(out, targets, &fields, &texts) };
    Outcome::Written
}

/// Matches a request against the registry and writes the answer into caller memory:
/// the allocation-free hot path.
///
/// Readers never wait for writers: the match runs against the index published by the
/// last committed change. A lapsed CF backend is never matched nor picked, swept or
/// not. Kong routes are consulted before CF routes (see `ry_request` for the order of
/// stream matches).
///
/// Thread-safety: may be called on one registry from any number of threads at once,
/// while other threads change it. It takes no lock and allocates nothing, except that
/// a request with more than 64 headers costs one allocation, and so does a request
/// that needs normalising (a host with capital letters, a path with `%`
/// escapes, `//` or dot segments) or a lookup key over 192 bytes.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `req`: the request (see `ry_request`).
/// - `pick`: whether to choose a live backend, round robin, for routes that have
///   backends (CF HTTP routes and TCP mappings). Picking advances the route's round
///   robin.
/// - `out`: the caller's result; set the `data` and `capacity` of the buffers wanted
///   before the call (see `ry_match_result`).
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK` whether or not something matched: `out->kind` tells. On a miss, `kind` is
/// `RY_MATCH_KIND_NONE`, every id and buffer is empty, every number zero and
/// `revision` the registry's revision. Otherwise an error status, see below.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `req` or `out` is NULL, or a string of the request
///   is NULL with a non-zero length (`headers` too); `out` is left untouched.
/// - `RY_ERR_INVALID_UTF8` when a string of the request is not UTF-8; `out` is left
///   untouched.
/// - `RY_ERR_INVALID_ARGUMENT` when `protocol` or an address family is not one of its
///   enum's values; `out` is left untouched.
/// - `RY_ERR_BUFFER_TOO_SMALL` when a wanted buffer cannot hold its value and a NUL (a
///   non-NULL buffer of capacity 0 never can, even on a miss), or a backend registered
///   by name was picked and `backend_name.data` is NULL. Only the `len` of each buffer
///   is written: the length its value needs (0 for a buffer not wanted, but the
///   name's length for that `backend_name`), so a second call with
///   `capacity >= len + 1` everywhere succeeds. Nothing else is written, and bytes
///   already in the buffers are left as they were. A short buffer found before the
///   pick leaves the round robin where it was; only a too-small `backend_name` is
///   found after it.
///
/// # Lifetimes
///
/// Nothing written into `out` borrows from the library: ids and strings are copies,
/// valid for as long as the caller keeps them.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `req` is NULL or valid for reading one `ry_request`, and every string and header
///   array it points to is readable for its length and unchanged during the call.
/// - `out` is NULL or valid for reading and writing one `ry_match_result`, with the
///   `data` and `capacity` of each buffer set; each non-NULL `data` is writable for
///   `capacity` bytes and overlaps neither another buffer nor the request's strings.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_match(
    reg: *const ry_registry,
    req: *const ry_request,
    pick: bool,
    out: *mut ry_match_result,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(status err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        if req.is_null() {
            return Err(ry_error::null_arg("req").into());
        }
        if out.is_null() {
            return Err(ry_error::null_arg("out").into());
        }
        let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        let mut heap = Vec::new();
        // SAFETY: `req` is non-NULL, and the caller guarantees it and its strings.
        let request = unsafe { request(req, &mut stack, &mut heap) }?;
        // SAFETY: `out` is non-NULL, and the caller guarantees its buffers are set.
        let targets = unsafe { Targets::read(out) };
        let outcome = registry.lookup(&request, |found| {
            // SAFETY: `out` and `targets` as above.
            unsafe { answer(found, out, &targets, pick) }
        });
        match outcome {
            Some(Outcome::Written) => Ok(ry_status::RyOk),
            // SAFETY: `out` as above.
            None => unsafe { miss(out, &targets, registry.revision()) },
            // SAFETY: `out` as above.
            Some(Outcome::TooSmall(i, lens)) => Err(unsafe { too_small(out, i, &lens, &targets) }),
        }
    })
}

/// Writes the answer to a request nothing matched: the empty string into every wanted
/// buffer, each of which needs room for its NUL.
///
/// # Safety
///
/// `out` must be valid for writes of one `ry_match_result` whose wanted buffers are
/// `targets`.
#[inline(never)]
unsafe fn miss(
    out: *mut ry_match_result,
    targets: &Targets,
    revision: u64,
) -> Result<ry_status, Failure> {
    if let Some(i) = targets.too_small(&[0; BUFFERS]) {
        // SAFETY: as the caller guarantees.
        return Err(unsafe { too_small(out, i, &[0; BUFFERS], targets) });
    }
    // SAFETY: as the caller guarantees; every wanted buffer holds at least the NUL.
    unsafe { write_answer(out, targets, &Fields::miss(revision), &Texts::default()) };
    Ok(ry_status::RyOk)
}

/// Reports a buffer too small: writes every needed length and builds the error.
///
/// # Safety
///
/// `out` must be valid for writes of one `ry_match_result`.
#[cold]
unsafe fn too_small(
    out: *mut ry_match_result,
    i: usize,
    lens: &[usize; BUFFERS],
    targets: &Targets,
) -> Failure {
    // SAFETY: as the caller guarantees.
    unsafe { write_lens(out, lens) };
    let Target { data, capacity } = targets.all()[i];
    let message = if data.is_null() {
        format!(
            "the chosen backend is registered by name ({} bytes) and `out->{}.data` is NULL",
            lens[i], BUFFER_NAMES[i]
        )
    } else {
        format!(
            "`out->{}` holds {capacity} bytes but its value needs {} (with the NUL)",
            BUFFER_NAMES[i],
            lens[i] + 1
        )
    };
    Box::new(ry_error::argument(ry_status::RyErrBufferTooSmall, message))
}

/// A request described as JSON, for `ry_match_json`; owns its strings.
#[derive(Debug, Default)]
struct JsonRequest {
    protocol: Option<Protocol>,
    method: String,
    host: String,
    path: String,
    headers: Vec<(String, String)>,
    sni: Option<String>,
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    router_group: Option<String>,
    pick: bool,
}

/// The fields `ry_match_json` reads, for its error messages.
const JSON_FIELDS: &str =
    "protocol, method, host, path, headers, sni, source, destination, router_group, pick";

impl JsonRequest {
    /// Reads the request shape documented on `ry_match_json`.
    fn decode(text: &str) -> Result<JsonRequest, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the request is not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("the request must be a JSON object".to_owned());
        };
        let mut req = JsonRequest::default();
        for (key, value) in map {
            let string = |value: Value| match value {
                Value::String(s) => Ok(s),
                _ => Err(format!("`{key}` must be a string")),
            };
            let address = |value: Value| -> Result<SocketAddr, String> {
                string(value)?.parse().map_err(|_| {
                    format!(
                        "`{key}` must be an address with a port, such as 10.0.0.1:80 or [::1]:80"
                    )
                })
            };
            match key.as_str() {
                "protocol" => {
                    let name = string(value)?;
                    let protocol =
                        serde_json::from_value(Value::String(name.clone())).map_err(|_| {
                            format!(
                                "`protocol` is \"{name}\", not one of http, https, grpc, grpcs, \
                                 tcp, tls, tls_passthrough, udp"
                            )
                        })?;
                    req.protocol = Some(protocol);
                }
                "method" => req.method = string(value)?,
                "host" => req.host = string(value)?,
                "path" => req.path = string(value)?,
                "sni" => req.sni = Some(string(value)?),
                "router_group" => req.router_group = Some(string(value)?),
                "source" => req.source = Some(address(value)?),
                "destination" => req.destination = Some(address(value)?),
                "pick" => {
                    req.pick = value
                        .as_bool()
                        .ok_or_else(|| "`pick` must be true or false".to_owned())?;
                }
                "headers" => {
                    let Value::Object(headers) = value else {
                        return Err("`headers` must be an object of names to a string or an \
                                    array of strings"
                            .to_owned());
                    };
                    for (name, values) in headers {
                        let values = match values {
                            Value::String(s) => vec![Value::String(s)],
                            Value::Array(all) => all,
                            _ => {
                                return Err(format!(
                                    "`headers.{name}` must be a string or an array of strings"
                                ))
                            }
                        };
                        for value in values {
                            let Value::String(value) = value else {
                                return Err(format!(
                                    "`headers.{name}` must be a string or an array of strings"
                                ));
                            };
                            req.headers.push((name.clone(), value));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown field `{other}`; the fields are {JSON_FIELDS}"
                    ))
                }
            }
        }
        Ok(req)
    }
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// The answer shape documented on `ry_match_json`.
fn encode_match(m: &Match) -> String {
    let mut out = format!("{{\"revision\":{}", m.revision);
    match &m.matched {
        Matched::Route(route) => {
            out.push_str(",\"kind\":\"route\",\"route\":");
            out.push_str(&kong::encode_route(route));
        }
        Matched::CfRoute(key) => {
            out.push_str(",\"kind\":\"cf_route\",\"cf_route\":");
            out.push_str(&json_string(key));
        }
        Matched::TcpRoute {
            router_group_guid,
            port,
        } => {
            out.push_str(",\"kind\":\"tcp_route\",\"router_group_guid\":");
            out.push_str(&json_string(router_group_guid));
            out.push_str(&format!(",\"port\":{port}"));
        }
        // A kind added to the core reaches C by name only until it is described here.
        _ => out.push_str(",\"kind\":\"other\""),
    }
    out.push_str(",\"service\":");
    match &m.service {
        Some(service) => out.push_str(&kong::encode_service(service)),
        None => out.push_str("null"),
    }
    let captures: Vec<Value> = m
        .captures
        .iter()
        .map(|c| serde_json::json!({ "index": c.index, "name": c.name, "value": c.value }))
        .collect();
    let backend = m
        .backend
        .as_ref()
        .map(|b| serde_json::json!({ "address": &*b.address, "port": b.port }));
    out.push_str(&format!(
        ",\"upstream_path\":{},\"upstream_host\":{},\"matched_path\":{},\"captures\":{},\
         \"redirect\":{},\"backend\":{}}}",
        json_string(&m.upstream_path),
        json_string(&m.upstream_host),
        json_string(&m.matched_path),
        Value::Array(captures),
        m.redirect.map_or(Value::Null, Value::from),
        backend.unwrap_or(Value::Null),
    ));
    out
}

/// Matches a request described as JSON and answers in JSON: the tooling form of
/// `ry_match`, which also reports regex captures and the whole route and service.
///
/// The request is an object whose fields are all optional:
/// `{"protocol": "https", "method": "GET", "host": "shop.example.com:443",
/// "path": "/orders/7?x=1", "headers": {"x-version": "2", "accept": ["a", "b"]},
/// "sni": "shop.example.com", "source": "10.0.0.9:40000",
/// "destination": "10.0.0.1:443", "router_group": "<guid>", "pick": true}`.
/// `protocol` is one of `http` (the default), `https`, `grpc`, `grpcs`, `tcp`, `tls`,
/// `tls_passthrough`, `udp`; addresses are `ip:port`, IPv6 in brackets; `pick` asks
/// for a backend as `ry_match`'s `pick` does. Any other field is refused.
///
/// The answer is `null` when nothing matched, else
/// `{"revision": 7, "kind": "route", "route": {Kong route}, "service": {Kong service}
/// or null, "upstream_path": "/api/7", "upstream_host": "orders.internal",
/// "matched_path": "/orders", "captures": [{"index": 1, "name": "id", "value": "7"}],
/// "redirect": null or a status code, "backend": {"address": "10.0.0.7", "port": 8080}
/// or null}`. For a CF HTTP route, `"kind": "cf_route"` and `"cf_route": "host/path"`
/// replace `route`; for CF TCP mappings, `"kind": "tcp_route"`,
/// `"router_group_guid"` and `"port"`.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `json`, `json_len`: the request, UTF-8 JSON.
/// - `out`: receives the answer, NUL-terminated, to free with `ry_string_free`.
/// - `out_len`: receives the answer's length in bytes without the NUL; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK` (a miss included), or an error status; nothing is written to `out` on
/// failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `json` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` when `json` is not such an object; the message names the
///   field at fault.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`; `out_len` NULL or valid for
///   writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_match_json(
    reg: *const ry_registry,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let out = StringOut::new(out, out_len)?;
        let req = JsonRequest::decode(json).map_err(ry_error::bad_json)?;
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut request = Request::new(&req.method, &req.host, &req.path)
            .protocol(req.protocol.unwrap_or(Protocol::Http))
            .headers(&headers);
        request.sni = req.sni.as_deref();
        request.source = req.source;
        request.destination = req.destination;
        request.router_group = req.router_group.as_deref();
        let answer = if req.pick {
            registry.find_and_pick(&request)
        } else {
            registry.find(&request)
        };
        let text = answer
            .as_ref()
            .map_or_else(|| "null".to_owned(), encode_match);
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(text) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ry_registry_free, ry_registry_new};
    use routeyard_core::{HttpRoute, Route, Service, ServiceRef};
    use std::ptr;

    /// A registry handle with a service and a route needing host, path and a header
    /// (`x-n: 69`), and a CF route; freed on drop.
    struct Fixture {
        reg: *mut ry_registry,
        route_id: String,
        service_id: String,
    }

    impl Fixture {
        fn new() -> Fixture {
            let reg = ry_registry_new(120);
            // SAFETY: a live handle, just created.
            let registry = unsafe { registry(reg) }.unwrap();
            let service = registry
                .create_service(Service {
                    host: "orders.internal".into(),
                    path: Some("/api".into()),
                    ..Service::default()
                })
                .unwrap();
            let route = registry
                .create_route(Route {
                    hosts: Some(vec!["shop.example.com".into()]),
                    paths: Some(vec!["/orders".into()]),
                    headers: Some([("x-n".to_owned(), vec!["69".to_owned()])].into()),
                    strip_path: true,
                    service: Some(ServiceRef {
                        id: service.id.clone(),
                    }),
                    ..Route::default()
                })
                .unwrap();
            registry
                .upsert_http_routes(vec![HttpRoute::new("cf.example.com/a", "10.0.0.7", 8080)])
                .unwrap();
            Fixture {
                reg,
                route_id: route.id,
                service_id: service.id,
            }
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            // SAFETY: the handle is freed once, here.
            unsafe { ry_registry_free(self.reg) };
        }
    }

    fn none_addr() -> ry_addr {
        ry_addr {
            family: ry_addr_family::None,
            addr: [0; 16],
            port: 0,
        }
    }

    fn http(host: &'static str, path: &'static str, headers: &[ry_header]) -> ry_request {
        ry_request {
            protocol: ry_protocol::Http,
            method: b"GET".as_ptr(),
            method_len: 3,
            host: host.as_ptr(),
            host_len: host.len(),
            path: path.as_ptr(),
            path_len: path.len(),
            headers: headers.as_ptr(),
            headers_len: headers.len(),
            sni: ptr::null(),
            sni_len: 0,
            source: none_addr(),
            destination: none_addr(),
            router_group: ptr::null(),
            router_group_len: 0,
        }
    }

    /// A result whose five buffers point into `storage`, `capacity` bytes each.
    fn result(storage: &mut [[u8; 64]; BUFFERS], capacity: usize) -> ry_match_result {
        let mut buffers = storage.iter_mut().map(|s| ry_buffer {
            data: s.as_mut_ptr().cast(),
            capacity,
            len: usize::MAX,
        });
        let mut next = || buffers.next().unwrap();
        ry_match_result {
            kind: ry_match_kind::TcpRoute,
            route_id: [1; RY_ID_SIZE],
            service_id: [1; RY_ID_SIZE],
            cf_route: next(),
            tcp_port: 7,
            upstream_path: next(),
            upstream_host: next(),
            matched_path: next(),
            redirect: 7,
            backend_picked: true,
            backend: none_addr(),
            backend_name: next(),
            revision: 7,
        }
    }

    fn text_of(storage: &[u8; 64], len: usize) -> &str {
        assert_eq!(storage[len], 0, "NUL-terminated");
        std::str::from_utf8(&storage[..len]).unwrap()
    }

    fn id_of(id: &[c_char; RY_ID_SIZE]) -> String {
        // SAFETY: the ids are NUL-terminated within the array.
        unsafe { std::ffi::CStr::from_ptr(id.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn header(name: &'static str, value: &'static str) -> ry_header {
        ry_header {
            name: name.as_ptr(),
            name_len: name.len(),
            value: value.as_ptr(),
            value_len: value.len(),
        }
    }

    /// Seventy headers, more than the stack holds; the one the route needs is last.
    fn many_headers(value: &'static str) -> Vec<ry_header> {
        let mut headers: Vec<ry_header> = (0..69).map(|_| header("x-filler", "1")).collect();
        headers.push(header("X-N", value));
        headers
    }

    #[test]
    fn a_hit_is_written_whole_with_headers_past_the_stack() {
        let fixture = Fixture::new();
        let headers = many_headers("69");
        let req = http("shop.example.com", "/orders/7", &headers);
        let mut storage = [[0xa5u8; 64]; BUFFERS];
        let mut out = result(&mut storage, 64);
        // SAFETY: live handle, request and result as documented.
        let status = unsafe { ry_match(fixture.reg, &req, false, &mut out, ptr::null_mut()) };
        assert_eq!(status, ry_status::RyOk);
        assert_eq!(out.kind, ry_match_kind::Route);
        assert_eq!(id_of(&out.route_id), fixture.route_id);
        assert_eq!(id_of(&out.service_id), fixture.service_id);
        assert_eq!(out.tcp_port, 0);
        assert_eq!(out.redirect, 0);
        assert!(!out.backend_picked);
        assert_eq!(out.revision, 3);
        let lens = [
            out.cf_route.len,
            out.upstream_path.len,
            out.upstream_host.len,
            out.matched_path.len,
            out.backend_name.len,
        ];
        let texts: Vec<&str> = storage
            .iter()
            .zip(lens)
            .map(|(s, len)| text_of(s, len))
            .collect();
        assert_eq!(texts, ["", "/api/7", "orders.internal", "/orders", ""]);

        // Without the header the route does not match: a miss, written as such.
        let headers = many_headers("70");
        let req = http("shop.example.com", "/orders/7", &headers);
        let mut out = result(&mut storage, 64);
        // SAFETY: as above.
        let status = unsafe { ry_match(fixture.reg, &req, true, &mut out, ptr::null_mut()) };
        assert_eq!(status, ry_status::RyOk);
        assert_eq!(out.kind, ry_match_kind::None);
        assert_eq!(
            (id_of(&out.route_id), id_of(&out.service_id)),
            (String::new(), String::new())
        );
        assert_eq!((out.tcp_port, out.redirect, out.revision), (0, 0, 3));
        assert!(!out.backend_picked);
        assert_eq!(out.upstream_host.len, 0);
    }

    #[test]
    fn a_cf_route_picks_an_ipv4_backend() {
        let fixture = Fixture::new();
        let req = http("CF.example.com", "/a/b", &[]);
        let mut storage = [[0u8; 64]; BUFFERS];
        let mut out = result(&mut storage, 64);
        // SAFETY: as above.
        let status = unsafe { ry_match(fixture.reg, &req, true, &mut out, ptr::null_mut()) };
        assert_eq!(status, ry_status::RyOk);
        assert_eq!(out.kind, ry_match_kind::CfRoute);
        assert!(out.backend_picked);
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[10, 0, 0, 7]);
        assert_eq!(
            out.backend,
            ry_addr {
                family: ry_addr_family::Ipv4,
                addr,
                port: 8080
            }
        );
        assert_eq!(
            text_of(&storage[CF_ROUTE], out.cf_route.len),
            "cf.example.com/a"
        );
        assert_eq!(
            text_of(&storage[UPSTREAM_PATH_BUF], out.upstream_path.len),
            "/a/b"
        );
    }

    #[test]
    fn a_short_buffer_writes_only_the_lengths() {
        let fixture = Fixture::new();
        let headers = [header("x-n", "69")];
        let req = http("shop.example.com", "/orders/7", &headers);
        let mut storage = [[0xa5u8; 64]; BUFFERS];
        // "orders.internal" needs 16 bytes with its NUL.
        let mut out = result(&mut storage, 15);
        let mut err = ptr::null_mut();
        // SAFETY: as above; the error is freed below.
        let status = unsafe { ry_match(fixture.reg, &req, false, &mut out, &mut err) };
        assert_eq!(status, ry_status::RyErrBufferTooSmall);
        // SAFETY: `err` is a live error handle, freed once.
        let err = unsafe { Box::from_raw(err) };
        assert_eq!(
            err.message_text(),
            "`out->upstream_host` holds 15 bytes but its value needs 16 (with the NUL)"
        );
        assert_eq!(
            [
                out.cf_route.len,
                out.upstream_path.len,
                out.upstream_host.len,
                out.matched_path.len
            ],
            [0, 6, 15, 7]
        );
        assert_eq!(out.kind, ry_match_kind::TcpRoute);
        assert_eq!((out.tcp_port, out.redirect, out.revision), (7, 7, 7));
        assert!(storage.iter().all(|s| s.iter().all(|&b| b == 0xa5)));
    }

    #[test]
    fn enum_fields_are_checked_as_integers() {
        let fixture = Fixture::new();
        let mut storage = [[0u8; 64]; BUFFERS];
        let mut out = result(&mut storage, 64);
        for (offset, value, message) in [
            (
                std::mem::offset_of!(ry_request, protocol),
                8u32,
                "`protocol` is 8, not an ry_protocol",
            ),
            (
                std::mem::offset_of!(ry_request, destination),
                u32::MAX,
                "`destination.family` is 4294967295, not an ry_addr_family",
            ),
        ] {
            let mut req = MaybeUninit::new(http("shop.example.com", "/", &[]));
            // SAFETY: both offsets are of a 4-byte enum field inside the request (the
            // family is the first field of `ry_addr`); the value is written as C
            // would, and the request is then only passed as a pointer.
            unsafe {
                req.as_mut_ptr()
                    .cast::<u8>()
                    .add(offset)
                    .cast::<u32>()
                    .write(value)
            };
            let mut err = ptr::null_mut();
            // SAFETY: as above; the error is freed below.
            let status = unsafe { ry_match(fixture.reg, req.as_ptr(), false, &mut out, &mut err) };
            assert_eq!(status, ry_status::RyErrInvalidArgument);
            // SAFETY: `err` is a live error handle, freed once.
            let err = unsafe { Box::from_raw(err) };
            assert_eq!(err.message_text(), message);
        }
        assert_eq!(out.kind, ry_match_kind::TcpRoute);
    }

    #[test]
    fn the_ascii_check_agrees_with_the_standard_one() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..48 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // One byte in sixty-four has its high bit set.
                        if seed % 64 == 0 {
                            0x80 | (seed >> 8) as u8
                        } else {
                            (seed >> 8) as u8 & 0x7f
                        }
                    })
                    .collect();
                assert_eq!(is_ascii(&bytes), bytes.is_ascii(), "{bytes:?}");
            }
        }
    }

    #[test]
    fn enum_values_are_stable() {
        let protocols = [
            (ry_protocol::Http, 0, Protocol::Http),
            (ry_protocol::Https, 1, Protocol::Https),
            (ry_protocol::Grpc, 2, Protocol::Grpc),
            (ry_protocol::Grpcs, 3, Protocol::Grpcs),
            (ry_protocol::Tcp, 4, Protocol::Tcp),
            (ry_protocol::Tls, 5, Protocol::Tls),
            (ry_protocol::TlsPassthrough, 6, Protocol::TlsPassthrough),
            (ry_protocol::Udp, 7, Protocol::Udp),
        ];
        for (c, value, core) in protocols {
            assert_eq!(c as u32, value);
            assert_eq!(protocol(value), Some(core));
        }
        assert_eq!(protocol(8), None);
        assert_eq!(std::mem::size_of::<ry_protocol>(), 4);
        assert_eq!(std::mem::size_of::<ry_addr_family>(), 4);
        assert_eq!(
            [
                ry_addr_family::None,
                ry_addr_family::Ipv4,
                ry_addr_family::Ipv6
            ]
            .map(|f| f as u32),
            [0, 1, 2]
        );
        assert_eq!(
            [
                ry_match_kind::None,
                ry_match_kind::Route,
                ry_match_kind::CfRoute,
                ry_match_kind::TcpRoute
            ]
            .map(|k| k as u32),
            [0, 1, 2, 3]
        );
    }

    /// Calls `ry_match_json`: the answer's text, or the error's status and message.
    fn match_json(reg: *const ry_registry, json: &str) -> Result<String, (ry_status, String)> {
        let mut out = ptr::null_mut();
        let mut len = 0usize;
        let mut err = ptr::null_mut();
        // SAFETY: live handle, a string of its length, writable out-parameters; the
        // string or the error is freed below.
        let status =
            unsafe { ry_match_json(reg, json.as_ptr(), json.len(), &mut out, &mut len, &mut err) };
        if status != ry_status::RyOk {
            assert!(out.is_null());
            // SAFETY: `err` is a live error handle, freed once.
            let err = unsafe { Box::from_raw(err) };
            return Err((status, err.message_text().to_owned()));
        }
        // SAFETY: `out` is a string handed out just above, freed once.
        let text = unsafe { std::ffi::CStr::from_ptr(out) }
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.len(), len);
        // SAFETY: as above.
        unsafe { crate::string::ry_string_free(out) };
        Ok(text)
    }

    #[test]
    fn json_answers_carry_captures_routes_and_backends() {
        let fixture = Fixture::new();
        // SAFETY: a live handle.
        let registry = unsafe { registry(fixture.reg) }.unwrap();
        let route = registry
            .create_route(Route {
                name: Some("users".into()),
                paths: Some(vec![r"~/users/(?<id>\d+)$".into()]),
                strip_path: false,
                ..Route::default()
            })
            .unwrap();

        let text = match_json(fixture.reg, r#"{"path":"/users/42","method":"GET"}"#).unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["kind"], "route");
        assert_eq!(answer["route"]["id"], route.id.as_str());
        assert_eq!(answer["route"]["name"], "users");
        assert_eq!(answer["service"], Value::Null);
        assert_eq!(answer["matched_path"], "/users/42");
        assert_eq!(
            answer["captures"],
            serde_json::json!([{ "index": 1, "name": "id", "value": "42" }])
        );
        assert_eq!(
            (answer["backend"].clone(), answer["redirect"].clone()),
            (Value::Null, Value::Null)
        );
        assert_eq!(answer["revision"], 4);

        let text = match_json(
            fixture.reg,
            r#"{"host":"shop.example.com","path":"/orders/1","headers":{"X-N":["1","69"]}}"#,
        )
        .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["route"]["id"], fixture.route_id.as_str());
        assert_eq!(answer["service"]["id"], fixture.service_id.as_str());
        assert_eq!(answer["upstream_path"], "/api/1");
        assert_eq!(answer["upstream_host"], "orders.internal");

        let text = match_json(
            fixture.reg,
            r#"{"protocol":"https","host":"cf.example.com","path":"/a","pick":true}"#,
        )
        .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["kind"], "cf_route");
        assert_eq!(answer["cf_route"], "cf.example.com/a");
        assert_eq!(
            answer["backend"],
            serde_json::json!({ "address": "10.0.0.7", "port": 8080 })
        );

        assert_eq!(
            match_json(fixture.reg, r#"{"host":"nowhere.example.com"}"#).unwrap(),
            "null"
        );
        assert_eq!(
            match_json(
                fixture.reg,
                r#"{"protocol":"tcp","source":"10.0.0.9:4000","destination":"[::1]:5000"}"#
            )
            .unwrap(),
            "null"
        );
    }

    #[test]
    fn json_requests_are_checked_field_by_field() {
        let fixture = Fixture::new();
        for (json, status, message) in [
            (
                "[]",
                ry_status::RyErrInvalidJson,
                "the request must be a JSON object",
            ),
            ("{", ry_status::RyErrInvalidJson, "the request is not JSON"),
            (
                r#"{"host":1}"#,
                ry_status::RyErrInvalidJson,
                "`host` must be a string",
            ),
            (
                r#"{"protocol":"gopher"}"#,
                ry_status::RyErrInvalidJson,
                "`protocol` is \"gopher\", not one of http,",
            ),
            (
                r#"{"source":"10.0.0.1"}"#,
                ry_status::RyErrInvalidJson,
                "`source` must be an address with a port",
            ),
            (
                r#"{"pick":1}"#,
                ry_status::RyErrInvalidJson,
                "`pick` must be true or false",
            ),
            (
                r#"{"headers":{"a":[1]}}"#,
                ry_status::RyErrInvalidJson,
                "`headers.a` must be a string or an array of strings",
            ),
            (
                r#"{"headers":[]}"#,
                ry_status::RyErrInvalidJson,
                "`headers` must be an object",
            ),
            (
                r#"{"colour":"red"}"#,
                ry_status::RyErrInvalidJson,
                "unknown field `colour`",
            ),
        ] {
            let (got, text) = match_json(fixture.reg, json).unwrap_err();
            assert_eq!(got, status, "{json}");
            assert!(text.starts_with(message), "{json}: {text}");
        }
        let (status, _) = match_json(ptr::null(), "{}").unwrap_err();
        assert_eq!(status, ry_status::RyErrNullArg);
        let bad = [b'{', 0xff, b'}'];
        // SAFETY: a live handle and a 3-byte array; nothing is written on failure.
        let status = unsafe {
            ry_match_json(
                fixture.reg,
                bad.as_ptr(),
                3,
                &mut ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        assert_eq!(status, ry_status::RyErrInvalidUtf8);
    }
}
