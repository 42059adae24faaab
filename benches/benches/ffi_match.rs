//! The C hot path against the Rust one: the same host-and-path lookups in the
//! same registry of 100k Kong routes, side by side in one group, in two pairs:
//!
//! - `Registry::lookup` against `ry_match` (called through the C ABI on a C handle
//!   to that registry), both pinning the published index for each call;
//! - a `Reader` against `ry_reader_match` on a C reader, both keeping the index
//!   between calls.
//!
//! Every side reads what a proxy needs of the answer: the route and service ids,
//! the upstream path (built into a reused buffer), the upstream host, the matched
//! path and the redirect status, and all touch the same bytes (the ids' first
//! bytes, the strings' lengths). The Rust sides borrow the answer; `ry_match` reads
//! the request struct, checks its strings for UTF-8 and copies the answer into
//! caller memory, and `ry_reader_match` does the same but lends the answer's
//! strings: that is what the differences measure. After the criterion group, the
//! sides are also timed in alternation (see `paired`), which keeps the machine's
//! drift out of their differences, beside a fifth: the Rust lookup copying the same
//! outputs into its caller's memory, to tell the cost of the copies from the cost
//! of the C boundary.
//!
//! The table size is divided by 100 in debug builds (see `scaled`), so that
//! `cargo test --benches` stays a quick smoke test.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use routeyard::{Config, Found, Reader, Registry, Request, Service};
use routeyard_benches::{
    host_path_route, in_turns, median, route_host, scaled, spread, HOST_PATHS,
};
use routeyard_ffi::{
    ry_addr, ry_addr_family, ry_buffer, ry_match, ry_match_kind, ry_match_result, ry_match_view,
    ry_protocol, ry_reader, ry_reader_free, ry_reader_match, ry_reader_new, ry_registry,
    ry_registry_free, ry_request, ry_status, RY_ID_SIZE,
};

/// Lookups per iteration.
const BATCH: usize = 1_000;
const TABLE: usize = 100_000;
/// The service every route leads to.
const SERVICE_ID: &str = "6a3c2b8e-2f34-4f9b-9d4a-0c2f1e5d7a11";

/// The registry: `n` host-and-path routes, shared by both sides.
fn table(n: usize) -> Arc<Registry> {
    let registry = Registry::new(Config::new());
    registry
        .create_service(Service {
            id: SERVICE_ID.into(),
            host: "backend.internal".into(),
            ..Service::default()
        })
        .unwrap();
    for i in 0..n {
        registry
            .create_route(host_path_route(i, SERVICE_ID))
            .unwrap();
    }
    Arc::new(registry)
}

/// A C handle to the same registry, freed on drop.
struct CRegistry(*mut ry_registry);

impl CRegistry {
    fn new(registry: &Arc<Registry>) -> CRegistry {
        CRegistry(ry_registry::from_shared(registry.clone()))
    }
}

impl Drop for CRegistry {
    fn drop(&mut self) {
        // SAFETY: the handle came from `from_shared` and is freed once, here.
        unsafe { ry_registry_free(self.0) };
    }
}

/// `BATCH` (host, path) pairs that hit routes of a table of `n`, spread over it.
fn hits(n: usize) -> Vec<(String, String)> {
    spread(n, BATCH)
        .into_iter()
        .map(|i| {
            let path = format!("{}/{}", HOST_PATHS[i % HOST_PATHS.len()], i);
            (route_host(i), path)
        })
        .collect()
}

/// An id as both sides read it: its length and its first byte (ids are UUIDs).
fn id_digest(id: &[u8]) -> usize {
    id.first().map_or(0, |&b| id.len() + usize::from(b))
}

/// What the Rust sides read of an answer, summed so that nothing is optimised away:
/// the upstream path is built into `path`.
#[inline(always)]
fn read_answer(found: &Found<'_>, path: &mut String) -> usize {
    found.write_upstream_path(path);
    found.route().map_or(0, |r| id_digest(r.id.as_bytes()))
        + found.service().map_or(0, |s| id_digest(s.id.as_bytes()))
        + path.len()
        + found.upstream_host().len()
        + found.matched_path().len()
        + usize::from(found.redirect().unwrap_or(0))
}

/// The lookups through `Registry::lookup`, reading each answer.
fn rust_lookup_all(registry: &Registry, requests: &[(String, String)], path: &mut String) -> usize {
    let mut total = 0;
    for (host, p) in requests {
        let read = registry.lookup(&Request::new("GET", host, p), |found| {
            read_answer(found, path)
        });
        total += black_box(read).unwrap_or(0);
    }
    total
}

/// [`rust_lookup_all`] through a [`Reader`], which keeps the index between calls.
fn rust_reader_all(
    reader: &mut Reader<&Registry>,
    requests: &[(String, String)],
    path: &mut String,
) -> usize {
    let mut total = 0;
    for (host, p) in requests {
        let read = reader.lookup(&Request::new("GET", host, p), |found| {
            read_answer(found, path)
        });
        total += black_box(read).unwrap_or(0);
    }
    total
}

/// A C reader of the same registry, freed on drop.
struct CReader(*mut ry_reader);

impl CReader {
    fn new(reg: &CRegistry) -> CReader {
        let mut reader = ptr::null_mut();
        // SAFETY: a live registry handle and a writable out-parameter.
        let status = unsafe { ry_reader_new(reg.0, &mut reader, ptr::null_mut()) };
        assert_eq!(status, ry_status::RyOk);
        CReader(reader)
    }
}

impl Drop for CReader {
    fn drop(&mut self) {
        // SAFETY: the handle came from `ry_reader_new` and is freed once, here.
        unsafe { ry_reader_free(self.0) };
    }
}

/// The same lookups through `ry_reader_match`, reading the lent strings as the Rust
/// side reads its borrowed answer.
fn c_reader_all(reader: &mut CReader, requests: &[(String, String)]) -> usize {
    let mut total = 0;
    let mut out = MaybeUninit::<ry_match_view>::uninit();
    for (host, path) in requests {
        let req = c_request(host, path);
        // SAFETY: a live reader used by this thread only, a request pointing into live
        // strings, and a writable view.
        let status =
            unsafe { ry_reader_match(reader.0, &req, false, out.as_mut_ptr(), ptr::null_mut()) };
        if status == ry_status::RyOk {
            // SAFETY: `RY_OK` wrote every field.
            let view = unsafe { out.assume_init_ref() };
            if view.kind != ry_match_kind::None {
                // SAFETY: the lent strings stay valid until the reader's next call.
                let id = |s: routeyard_ffi::ry_str| unsafe {
                    id_digest(std::slice::from_raw_parts(s.data.cast::<u8>(), s.len))
                };
                total += id(view.route_id)
                    + id(view.service_id)
                    + view.upstream_path.len
                    + view.upstream_host.len
                    + view.matched_path.len
                    + usize::from(view.redirect);
            }
        }
        black_box(&out);
    }
    total
}

/// A Rust caller's own copy of an answer: what `ry_match` writes into its result.
struct Copied {
    route_id: [u8; 36],
    service_id: [u8; 36],
    upstream_path: String,
    upstream_host: [u8; 256],
    upstream_host_len: usize,
    matched_path: [u8; 256],
    matched_path_len: usize,
    redirect: u16,
    revision: u64,
}

impl Copied {
    fn new() -> Copied {
        Copied {
            route_id: [0; 36],
            service_id: [0; 36],
            upstream_path: String::new(),
            upstream_host: [0; 256],
            upstream_host_len: 0,
            matched_path: [0; 256],
            matched_path_len: 0,
            redirect: 0,
            revision: 0,
        }
    }
}

/// Copies as much of `src` as fits into the start of `dst`; the length copied.
fn copy_into(dst: &mut [u8], src: &str) -> usize {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src.as_bytes()[..n]);
    n
}

/// The same lookups, each answer copied into the caller's memory as `ry_match` copies
/// it (ids, upstream path, upstream host, matched path, redirect, revision): what a
/// Rust caller that keeps the answer past the lookup does.
fn rust_copy_all(registry: &Registry, requests: &[(String, String)], out: &mut Copied) -> usize {
    let mut total = 0;
    for (host, p) in requests {
        let read = registry.lookup(&Request::new("GET", host, p), |found| {
            copy_into(
                &mut out.route_id,
                found.route().map_or("", |r| r.id.as_str()),
            );
            let service = found.service().map_or("", |s| s.id.as_str());
            copy_into(&mut out.service_id, service);
            found.write_upstream_path(&mut out.upstream_path);
            out.upstream_host_len = copy_into(&mut out.upstream_host, found.upstream_host());
            out.matched_path_len = copy_into(&mut out.matched_path, found.matched_path());
            out.redirect = found.redirect().unwrap_or(0);
            out.revision = found.revision();
            36 + usize::from(out.route_id[0])
                + 36
                + usize::from(out.service_id[0])
                + out.upstream_path.len()
                + out.upstream_host_len
                + out.matched_path_len
                + usize::from(out.redirect)
        });
        total += black_box(read).unwrap_or(0);
        black_box(&*out);
    }
    total
}

fn empty_addr() -> ry_addr {
    ry_addr {
        family: ry_addr_family::None,
        addr: [0; 16],
        port: 0,
    }
}

/// A request as a C caller fills one in, on its stack, for each request it serves.
fn c_request(host: &str, path: &str) -> ry_request {
    ry_request {
        protocol: ry_protocol::Http,
        method: b"GET".as_ptr(),
        method_len: 3,
        host: host.as_ptr(),
        host_len: host.len(),
        path: path.as_ptr(),
        path_len: path.len(),
        headers: ptr::null(),
        headers_len: 0,
        sni: ptr::null(),
        sni_len: 0,
        source: empty_addr(),
        destination: empty_addr(),
        router_group: ptr::null(),
        router_group_len: 0,
    }
}

fn buffer(storage: &mut [u8]) -> ry_buffer {
    ry_buffer {
        data: storage.as_mut_ptr().cast(),
        capacity: storage.len(),
        len: 0,
    }
}

fn no_buffer() -> ry_buffer {
    ry_buffer {
        data: ptr::null_mut(),
        capacity: 0,
        len: 0,
    }
}

/// The caller's side of `ry_match`: a result and the buffers it points into.
struct CAnswer {
    result: ry_match_result,
    _storage: Box<[u8; 3 * 256]>,
}

impl CAnswer {
    /// A result with upstream path, upstream host and matched path buffers.
    fn new() -> CAnswer {
        let mut storage = Box::new([0u8; 3 * 256]);
        let (path, rest) = storage.split_at_mut(256);
        let (host, matched) = rest.split_at_mut(256);
        let result = ry_match_result {
            kind: ry_match_kind::None,
            route_id: [0; RY_ID_SIZE],
            service_id: [0; RY_ID_SIZE],
            cf_route: no_buffer(),
            tcp_port: 0,
            upstream_path: buffer(path),
            upstream_host: buffer(host),
            matched_path: buffer(matched),
            redirect: 0,
            backend_picked: false,
            backend: empty_addr(),
            backend_name: no_buffer(),
            revision: 0,
        };
        CAnswer {
            result,
            _storage: storage,
        }
    }
}

/// The same lookups through `ry_match`, each with its `ry_request` built on the
/// stack as the Rust side builds its `Request`. A C caller knows the ids are 36
/// bytes, so the timed loop reads the ids' first bytes and the buffers' lengths;
/// with `check`, it measures the ids as the Rust side does, to compare the two
/// outside the timing.
fn c_match_all(
    reg: &CRegistry,
    requests: &[(String, String)],
    answer: &mut CAnswer,
    check: bool,
) -> usize {
    let mut total = 0;
    for (host, path) in requests {
        let req = c_request(host, path);
        let out = &mut answer.result;
        // SAFETY: a live handle, a request pointing into live strings, and a result
        // whose buffers point into `answer`'s storage.
        let status = unsafe { ry_match(reg.0, &req, false, out, ptr::null_mut()) };
        if status == ry_status::RyOk && out.kind != ry_match_kind::None {
            let id = |id: &[std::ffi::c_char; RY_ID_SIZE]| {
                let first = id[0] as u8;
                if first == 0 {
                    0
                } else if check {
                    id.iter().position(|&c| c == 0).unwrap_or(0) + usize::from(first)
                } else {
                    36 + usize::from(first)
                }
            };
            total += id(&out.route_id)
                + id(&out.service_id)
                + out.upstream_path.len
                + out.upstream_host.len
                + out.matched_path.len
                + usize::from(out.redirect);
        }
        black_box(&*out);
    }
    total
}

fn ffi_match_bench(c: &mut Criterion) {
    let n = scaled(TABLE);
    let requests = hits(n);
    let rust = table(n);
    let creg = CRegistry::new(&rust);
    let mut answer = CAnswer::new();
    let mut path = String::new();

    // Both sides answer every request, and read the same bytes.
    let rust_total = rust_lookup_all(&rust, &requests, &mut path);
    let c_total = c_match_all(&creg, &requests, &mut answer, true);
    assert_eq!(c_match_all(&creg, &requests, &mut answer, false), c_total);
    // Two ids of 36 bytes, then the strings: every request hits.
    assert!(rust_total > BATCH * 72, "a Rust lookup missed");
    assert_eq!(rust_total, c_total, "the two sides read different answers");
    let mut rust_reader = rust.reader();
    let mut c_reader = CReader::new(&creg);
    assert_eq!(
        rust_reader_all(&mut rust_reader, &requests, &mut path),
        rust_total
    );
    assert_eq!(c_reader_all(&mut c_reader, &requests), rust_total);

    let mut group = c.benchmark_group("ffi_match/host_path_100k_hit");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("rust_lookup", |b| {
        b.iter(|| rust_lookup_all(&rust, black_box(&requests), &mut path))
    });
    group.bench_function("c_ry_match", |b| {
        b.iter(|| c_match_all(&creg, black_box(&requests), &mut answer, false))
    });
    group.bench_function("rust_reader", |b| {
        b.iter(|| rust_reader_all(&mut rust_reader, black_box(&requests), &mut path))
    });
    group.bench_function("c_ry_reader_match", |b| {
        b.iter(|| c_reader_all(&mut c_reader, black_box(&requests)))
    });
    group.finish();
    drop(c_reader);
    paired(&rust, &creg, &requests, &mut answer, &mut path);
}

/// The sides timed in alternation, a batch of each in turn ([`in_turns`]). Prints the
/// median time per lookup of each side and the medians of the per-round differences:
/// `ry_match` against the Rust lookup that reads the same outputs in place, and
/// against one that copies them into its caller's memory as `ry_match` does; and
/// `ry_reader_match` against a Rust `Reader` reading the outputs in place.
fn paired(
    rust: &Registry,
    creg: &CRegistry,
    requests: &[(String, String)],
    answer: &mut CAnswer,
    path: &mut String,
) {
    let rounds = if cfg!(debug_assertions) { 10 } else { 2_000 };
    let mut copied = Copied::new();
    // Every round's time per lookup, by side.
    let mut rust_reader = rust.reader();
    let mut c_reader = CReader::new(creg);
    let rounds_times = in_turns::<5>(rounds, |side| {
        let start = Instant::now();
        black_box(match side {
            0 => rust_lookup_all(rust, black_box(requests), path),
            1 => rust_copy_all(rust, black_box(requests), &mut copied),
            2 => c_match_all(creg, black_box(requests), answer, false),
            3 => rust_reader_all(&mut rust_reader, black_box(requests), path),
            _ => c_reader_all(&mut c_reader, black_box(requests)),
        });
        start.elapsed().as_secs_f64() * 1e9 / requests.len() as f64
    });
    let side = |i: usize| rounds_times.iter().map(|t| t[i]).collect::<Vec<f64>>();
    let mut gap_read: Vec<f64> = rounds_times.iter().map(|t| t[2] - t[0]).collect();
    let mut gap_copied: Vec<f64> = rounds_times.iter().map(|t| t[2] - t[1]).collect();
    let mut gap_reader: Vec<f64> = rounds_times.iter().map(|t| t[4] - t[3]).collect();
    let [read, copying, c, rust_reader, c_reader] = [0, 1, 2, 3, 4].map(|i| median(&mut side(i)));
    eprintln!(
        "ffi_match/paired: {rounds} rounds of 1,000-lookup batches: rust_lookup {read:.1} ns, \
         rust_lookup copying the outputs {copying:.1} ns, c_ry_match {c:.1} ns, \
         rust Reader {rust_reader:.1} ns, c_ry_reader_match {c_reader:.1} ns; \
         c minus rust_lookup {:.1} ns, c minus copying {:.1} ns, \
         c_ry_reader_match minus rust Reader {:.1} ns (medians)",
        median(&mut gap_read),
        median(&mut gap_copied),
        median(&mut gap_reader)
    );
}

criterion_group!(benches, ffi_match_bench);
criterion_main!(benches);
