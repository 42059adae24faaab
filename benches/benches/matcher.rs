//! The read side: lookups in static path tables (against `matchit` and
//! `path-tree`), host-and-path tables up to a million routes, regex misses, and
//! at a million routes the build time, memory per route and how soon a new
//! route is visible to `find`.
//!
//! Table sizes are divided by 100 in debug builds (see `scaled`), so that
//! `cargo test --benches` stays a quick smoke test; the names keep the release
//! sizes.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use path_tree::PathTree;
use routeyard::{
    Change, Config, Match, Matched, PathMode, Reader, Registry, Request, Route, Service, ServiceRef,
};
use routeyard_benches::{
    host_path_route, in_turns, median, route_host, rss_bytes, scaled, spread, static_paths,
    HOST_PATHS,
};

/// Lookups per iteration in the lookup benches.
const BATCH: usize = 1_000;
const MILLION: usize = 1_000_000;

/// A registry with one service; returns it with the service's id.
fn with_service() -> (Registry, String) {
    let registry = Registry::new(Config::new());
    let service = registry
        .create_service(Service {
            name: Some("bench".into()),
            host: "backend.internal".into(),
            ..Service::default()
        })
        .unwrap();
    (registry, service.id)
}

/// Creates host-and-path routes `from..to`, one `create_route` call each.
fn add_host_path_routes(registry: &Registry, service_id: &str, from: usize, to: usize) {
    for i in from..to {
        registry
            .create_route(host_path_route(i, service_id))
            .unwrap();
    }
}

fn host_path_table(n: usize) -> (Registry, String) {
    let (registry, service_id) = with_service();
    add_host_path_routes(&registry, &service_id, 0, n);
    (registry, service_id)
}

/// `BATCH` (host, path) pairs that hit routes of a table of `n`, spread over it;
/// the paths carry a suffix, as real requests under a prefix route do.
fn host_path_hits(n: usize) -> Vec<(String, String)> {
    spread(n, BATCH)
        .into_iter()
        .map(|i| {
            let path = format!("{}/{}", HOST_PATHS[i % HOST_PATHS.len()], i);
            (route_host(i), path)
        })
        .collect()
}

/// `BATCH` misses for a table of `n`: every even one an unknown host with a
/// known path, every odd one a known host with an unknown path.
fn host_path_misses(n: usize) -> Vec<(String, String)> {
    spread(n, BATCH)
        .into_iter()
        .enumerate()
        .map(|(j, i)| {
            if j % 2 == 0 {
                (
                    format!("svc-{}.example.org", i / HOST_PATHS.len()),
                    HOST_PATHS[i % HOST_PATHS.len()].to_string(),
                )
            } else {
                (route_host(i), format!("/unknown/{i}"))
            }
        })
        .collect()
}

/// Matches every request with the borrowed lookup a proxy uses on its hot
/// path, reading what it needs to forward: the route's id and its service's
/// host.
fn lookup_all(registry: &Registry, requests: &[(String, String)]) -> usize {
    requests
        .iter()
        .filter(|(host, path)| {
            black_box(registry.lookup(&Request::new("GET", host, path), |found| {
                let route = found.route().map(|r| r.id.len());
                let service = found.service().map(|s| s.host.len());
                (route, service)
            }))
            .is_some()
        })
        .count()
}

/// [`lookup_all`] through a [`Reader`], which keeps the index between calls. The
/// loops are written out, here and for the static paths: folding them into one
/// generic over the lookup measured the static paths' routeyard sides 5–15% slower
/// against matchit, timed in turns with this form.
fn reader_lookup_all(reader: &mut Reader<&Registry>, requests: &[(String, String)]) -> usize {
    requests
        .iter()
        .filter(|(host, path)| {
            black_box(reader.lookup(&Request::new("GET", host, path), |found| {
                let route = found.route().map(|r| r.id.len());
                let service = found.service().map(|s| s.host.len());
                (route, service)
            }))
            .is_some()
        })
        .count()
}

/// The same with the owned answer ([`Registry::find`]): the route, service,
/// upstream path and host copied out.
fn find_all(registry: &Registry, requests: &[(String, String)]) -> usize {
    requests
        .iter()
        .filter(|(host, path)| black_box(registry.find(&Request::new("GET", host, path))).is_some())
        .count()
}

// -- 1. Static paths against matchit and path-tree ----------------------------

fn static_paths_bench(c: &mut Criterion) {
    for (label, n) in [("10k", 10_000), ("100k", 100_000)] {
        let n = scaled(n);
        let paths = static_paths(n);
        let batch: Vec<&str> = spread(n, BATCH)
            .into_iter()
            .map(|i| paths[i].as_str())
            .collect();

        let mut matchit = matchit::Router::new();
        let mut tree = PathTree::new();
        let (registry, service_id) = with_service();
        for (i, path) in paths.iter().enumerate() {
            matchit.insert(path.as_str(), i).unwrap();
            let _ = tree.insert(path, i);
            registry
                .create_route(Route {
                    paths: Some(vec![path.clone()]),
                    path_mode: PathMode::Exact,
                    service: Some(ServiceRef {
                        id: service_id.clone(),
                    }),
                    ..Route::default()
                })
                .unwrap();
        }
        // Every router must hit every lookup of the batch.
        for path in &batch {
            assert!(matchit.at(path).is_ok(), "matchit misses {path}");
            assert!(tree.find(path).is_some(), "path-tree misses {path}");
            assert!(
                registry.find(&Request::new("GET", "", path)).is_some(),
                "routeyard misses {path}"
            );
        }

        let mut group = c.benchmark_group(format!("static_paths/{label}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("matchit", |b| {
            b.iter(|| {
                for path in &batch {
                    black_box(matchit.at(black_box(path)).unwrap());
                }
            })
        });
        group.bench_function("path_tree", |b| {
            b.iter(|| {
                for path in &batch {
                    black_box(tree.find(black_box(path)).unwrap());
                }
            })
        });
        group.bench_function("routeyard", |b| {
            b.iter(|| static_lookups(&registry, &batch, true))
        });
        group.bench_function("routeyard_ref", |b| {
            b.iter(|| static_lookups(&registry, &batch, false))
        });
        let mut reader = registry.reader();
        group.bench_function("routeyard_reader", |b| {
            b.iter(|| static_reader_lookups(&mut reader, &batch))
        });
        group.finish();
        static_ratios(label, &matchit, &registry, &batch);
    }
}

/// routeyard's side of the static paths: a lookup per path, reading the matched
/// route's id when `read_id` (the `routeyard` function), else handing back a
/// reference to the route (`routeyard_ref`), as the peers' sides hand back a
/// reference to their value without reading it.
fn static_lookups(registry: &Registry, batch: &[&str], read_id: bool) {
    for path in batch {
        let request = Request::new("GET", "", black_box(path));
        if read_id {
            black_box(registry.lookup(&request, |f| f.route().map(|r| r.id.len())));
        } else {
            black_box(registry.lookup(&request, |f| f.route().map(std::ptr::from_ref)));
        }
    }
}

/// routeyard's side of the static paths through a [`Reader`], reading the matched
/// route's id (the `routeyard_reader` function).
fn static_reader_lookups(reader: &mut Reader<&Registry>, batch: &[&str]) {
    for path in batch {
        let request = Request::new("GET", "", black_box(path));
        black_box(reader.lookup(&request, |f| f.route().map(|r| r.id.len())));
    }
}

/// routeyard against matchit on the static paths, in turns ([`in_turns`]): each round
/// runs every side for a block of batches, the first half warming its caches and the
/// second timed. Prints the medians of the per-round ratios to matchit: routeyard
/// reading the route's id (the criterion figure) and handing back the route.
fn static_ratios(
    label: &str,
    matchit: &matchit::Router<usize>,
    registry: &Registry,
    batch: &[&str],
) {
    // Fewer batches than this leave a side slower for having followed another: a
    // block of 20 measured matchit at 10k paths at 2.5 times its criterion figure.
    let block = if cfg!(debug_assertions) { 2 } else { 100 };
    let rounds = if cfg!(debug_assertions) { 3 } else { 60 };
    let mut reader = registry.reader();
    let time = |side: usize| {
        let mut run = || match side {
            0 => batch.iter().for_each(|path| {
                black_box(matchit.at(black_box(path)).ok());
            }),
            1 | 2 => static_lookups(registry, batch, side == 1),
            _ => static_reader_lookups(&mut reader, batch),
        };
        (0..block).for_each(|_| run());
        let start = Instant::now();
        (0..block).for_each(|_| run());
        start.elapsed().as_secs_f64() * 1e9 / (block * batch.len()) as f64
    };
    let rounds_times = in_turns::<4>(rounds, time);
    let ratio = |side: usize| {
        let mut ratios: Vec<f64> = rounds_times.iter().map(|t| t[side] / t[0]).collect();
        median(&mut ratios)
    };
    eprintln!(
        "static_paths/{label}/ratio: {rounds} rounds in turns, routeyard / matchit: {:.2} \
         reading the route's id, {:.2} handing back the route, {:.2} reading the id \
         through a Reader (medians)",
        ratio(1),
        ratio(2),
        ratio(3)
    );
}

// -- 2. Host and path ---------------------------------------------------------

/// Benchmarks hits and misses of `registry` (a host-and-path table of `n`) in
/// `group`.
fn host_path_lookups(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    registry: &Registry,
    n: usize,
) {
    let hits = host_path_hits(n);
    let misses = host_path_misses(n);
    assert_eq!(lookup_all(registry, &hits), BATCH, "a hit missed");
    assert_eq!(lookup_all(registry, &misses), 0, "a miss hit");
    group.throughput(Throughput::Elements(BATCH as u64));
    assert_eq!(find_all(registry, &hits), BATCH, "a hit missed");
    group.bench_function("hits", |b| b.iter(|| lookup_all(registry, &hits)));
    let mut reader = registry.reader();
    assert_eq!(reader_lookup_all(&mut reader, &hits), BATCH, "a hit missed");
    group.bench_function("hits_reader", |b| {
        b.iter(|| reader_lookup_all(&mut reader, &hits))
    });
    group.bench_function("hits_owned", |b| b.iter(|| find_all(registry, &hits)));
    group.bench_function("misses", |b| b.iter(|| lookup_all(registry, &misses)));
}

fn host_path_bench(c: &mut Criterion) {
    for (label, n) in [("10k", 10_000), ("100k", 100_000)] {
        let n = scaled(n);
        let (registry, _) = host_path_table(n);
        let mut group = c.benchmark_group(format!("host_path/{label}"));
        host_path_lookups(&mut group, &registry, n);
        group.finish();
    }
}

// -- 3. Regex misses ----------------------------------------------------------

fn regex_miss_bench(c: &mut Criterion) {
    let n = scaled(10_000);
    let (registry, service_id) = with_service();
    for i in 0..n {
        registry
            .create_route(Route {
                paths: Some(vec![format!("~/svc{i}/items/(?<id>\\d+)$")]),
                service: Some(ServiceRef {
                    id: service_id.clone(),
                }),
                ..Route::default()
            })
            .unwrap();
    }
    // Half share a route's literal prefix but fail its pattern (a non-numeric
    // id), half share no prefix with any route.
    let misses: Vec<String> = spread(n, BATCH)
        .into_iter()
        .enumerate()
        .map(|(j, i)| {
            if j % 2 == 0 {
                format!("/svc{i}/items/x{i}")
            } else {
                format!("/other/{i}/items/{i}")
            }
        })
        .collect();
    let hit = "/svc0/items/42";
    assert!(registry.find(&Request::new("GET", "", hit)).is_some());
    for path in &misses {
        assert!(
            registry.find(&Request::new("GET", "", path)).is_none(),
            "{path} hit"
        );
    }

    let mut group = c.benchmark_group("regex_miss/10k");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("routeyard", |b| {
        b.iter(|| {
            for path in &misses {
                black_box(
                    registry.lookup(&Request::new("GET", "", black_box(path)), |f| {
                        f.route().map(|r| r.id.len())
                    }),
                );
            }
        })
    });
    group.finish();
}

// -- 4-6. A million routes ----------------------------------------------------

/// The million-route table the 1M lookup and visibility benches share, with its
/// service id. Built once, by the memory measurement in `build_bench` when that
/// runs first, else on first use.
static MILLION_TABLE: OnceLock<(Arc<Registry>, String)> = OnceLock::new();

fn million_table() -> &'static (Arc<Registry>, String) {
    MILLION_TABLE.get_or_init(|| {
        let (registry, service_id) = host_path_table(scaled(MILLION));
        (Arc::new(registry), service_id)
    })
}

fn configure_million(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
}

fn build_bench(c: &mut Criterion) {
    let n = scaled(MILLION);

    // Memory per route, from the resident set before and after building the
    // shared table (criterion has no memory measurement, so this is printed).
    // Measured here, before any other million-route table exists, so that
    // freed memory from earlier tables does not hide part of the growth. The
    // figure includes the registry's event history (65,536 events by default)
    // and the allocator's slack.
    if MILLION_TABLE.get().is_none() {
        let before = rss_bytes();
        let table = million_table();
        let after = rss_bytes();
        black_box(table);
        if let (Some(before), Some(after)) = (before, after) {
            eprintln!(
                "build/1m: {n} host+path routes: resident set +{:.1} MiB, {:.0} bytes/route",
                after.saturating_sub(before) as f64 / (1 << 20) as f64,
                after.saturating_sub(before) as f64 / n as f64,
            );
        }
    }

    // Build time: a fresh registry per iteration, one `create_route` call
    // (one transaction) per route; building each `Route` value is inside the
    // measurement (two short strings), dropping the registry is not. Flat
    // sampling runs one build per sample: ten samples plus one warm-up build.
    let mut group = c.benchmark_group("build/1m");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("create_route_host_path", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (registry, service_id) = with_service();
                let t = Instant::now();
                add_host_path_routes(&registry, &service_id, 0, n);
                total += t.elapsed();
                drop(black_box(registry));
            }
            total
        })
    });
    // The bulk path a control plane loading its table takes: `apply` with
    // batches of 10,000 `UpsertRoute` changes, one transaction and one
    // publication each.
    group.bench_function("apply_batches_of_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (registry, service_id) = with_service();
                let t = Instant::now();
                let mut from = 0;
                while from < n {
                    let to = (from + 10_000).min(n);
                    let changes = (from..to)
                        .map(|i| Change::UpsertRoute(host_path_route(i, &service_id)))
                        .collect();
                    registry.apply(changes).unwrap();
                    from = to;
                }
                total += t.elapsed();
                drop(black_box(registry));
            }
            total
        })
    });
    group.finish();
}

fn host_path_million_bench(c: &mut Criterion) {
    let (registry, _) = million_table();
    let mut group = c.benchmark_group("host_path/1m");
    configure_million(&mut group);
    host_path_lookups(&mut group, registry, scaled(MILLION));
    group.finish();
}

/// Time from calling `create_route` until `find` from the same thread returns
/// the new route, for `iters` new routes (numbered from `*next` on). Each new
/// route is deleted again after its measurement, so the table stays at its size
/// however many iterations criterion asks for.
fn time_to_visible(
    registry: &Registry,
    service_id: &str,
    next: &AtomicU64,
    iters: u64,
    each: &std::sync::Mutex<Vec<u64>>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
        let route = host_path_route(i, service_id);
        let host = route_host(i);
        let path = HOST_PATHS[i % HOST_PATHS.len()];
        let t = Instant::now();
        let created = registry.create_route(route).unwrap();
        loop {
            let found = registry.find(&Request::new("GET", &host, path));
            if let Some(Match {
                matched: Matched::Route(r),
                ..
            }) = found
            {
                if r.id == created.id {
                    break;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "route {i} not visible after 10 s"
            );
        }
        let took = t.elapsed();
        total += took;
        each.lock().unwrap().push(took.as_nanos() as u64);
        registry.delete_route(&created.id).unwrap();
    }
    total
}

fn upsert_visible_bench(c: &mut Criterion) {
    let (registry, service_id) = million_table();
    // New routes continue the table's numbering: fresh hosts, never a clash.
    // The assert inside makes a route that never shows up fail loudly.
    let next = AtomicU64::new(scaled(MILLION) as u64);

    let alone = std::sync::Mutex::new(Vec::new());
    let contended = std::sync::Mutex::new(Vec::new());
    let mut group = c.benchmark_group("upsert_visible/1m");
    configure_million(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("alone", |b| {
        b.iter_custom(|iters| time_to_visible(registry, service_id, &next, iters, &alone))
    });

    // The same with one reader thread calling `find` (hits over the table)
    // the whole time; its longest single lookup is printed at the end.
    let worst_read = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(host_path_hits(scaled(MILLION)));
    group.bench_function("with_a_reader", |b| {
        b.iter_custom(|iters| {
            let running = Arc::new(AtomicBool::new(true));
            let reader = {
                let (registry, running, worst, hits) = (
                    registry.clone(),
                    running.clone(),
                    worst_read.clone(),
                    hits.clone(),
                );
                thread::spawn(move || {
                    let mut reads = 0u64;
                    'outer: loop {
                        for (host, path) in hits.iter() {
                            if !running.load(Ordering::Relaxed) {
                                break 'outer;
                            }
                            let t = Instant::now();
                            black_box(registry.find(&Request::new("GET", host, path)));
                            worst.fetch_max(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            reads += 1;
                        }
                    }
                    reads
                })
            };
            let total = time_to_visible(registry, service_id, &next, iters, &contended);
            running.store(false, Ordering::Relaxed);
            reader.join().unwrap();
            total
        })
    });
    group.finish();
    // Criterion reports means; the target is on the 99th percentile.
    for (label, times) in [("alone", &alone), ("with_a_reader", &contended)] {
        let mut times = times.lock().unwrap().clone();
        if times.is_empty() {
            continue;
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize] as f64 / 1e3;
        eprintln!(
            "upsert_visible/1m/{label}: {} upserts, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
            times.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    eprintln!(
        "upsert_visible/1m/with_a_reader: longest reader lookup {:.3} ms",
        worst_read.load(Ordering::Relaxed) as f64 / 1e6
    );
}

// The million-route groups come first so the memory figure is taken before
// other tables have been built and freed.
criterion_group!(
    million,
    build_bench,
    host_path_million_bench,
    upsert_visible_bench
);
criterion_group!(
    smaller,
    static_paths_bench,
    host_path_bench,
    regex_miss_bench
);
criterion_main!(million, smaller);
