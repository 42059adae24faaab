//! The registry's write path: upserts at a 100k-route table, expiring a million
//! leases while a reader keeps reading, and event delivery to subscribers.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use routeyard::{Clock, Config, Filter, ManualClock, Registry, RouterGroup, Timestamp};
use routeyard_benches::cf_routes;

const TABLE: usize = 100_000;

fn filled(n: usize, config: Config) -> Registry {
    let registry = Registry::new(config);
    for chunk in cf_routes(n).chunks(10_000) {
        registry.upsert_http_routes(chunk.to_vec()).unwrap();
    }
    registry
}

fn upserts(c: &mut Criterion) {
    let routes = cf_routes(TABLE);
    let registry = filled(TABLE, Config::new());
    let mut group = c.benchmark_group("upsert_at_100k");

    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("renew_one_per_call", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % TABLE;
                vec![routes[i].clone()]
            },
            |batch| black_box(registry.upsert_http_routes(batch).unwrap()),
            BatchSize::SmallInput,
        )
    });

    group.throughput(Throughput::Elements(1_000));
    let mut start = 0;
    group.bench_function("renew_1000_per_call", |b| {
        b.iter_batched(
            || {
                start = (start + 1_000) % TABLE;
                routes[start..start + 1_000].to_vec()
            },
            |batch| black_box(registry.upsert_http_routes(batch).unwrap()),
            BatchSize::SmallInput,
        )
    });

    // New keys: every call creates (fresh guid) and the table grows past 100k.
    let fresh = cf_routes(TABLE + 2_000_000);
    let mut next = TABLE;
    group.bench_function("create_1000_per_call", |b| {
        b.iter_batched(
            || {
                if next + 1_000 > fresh.len() {
                    next = TABLE;
                }
                next += 1_000;
                fresh[next - 1_000..next].to_vec()
            },
            |batch| black_box(registry.upsert_http_routes(batch).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn expiry(c: &mut Criterion) {
    const LEASES: usize = 1_000_000;
    let routes = cf_routes(LEASES);
    let mut group = c.benchmark_group("expire");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LEASES as u64));
    let reader_waits = std::sync::Mutex::new(Vec::<[u64; 5]>::new());
    group.bench_function("1m_leases_with_a_reader", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let clock = ManualClock::new(Timestamp::from_secs(1_000));
                let registry = Arc::new(Registry::new(
                    Config::new().clock(clock.clone()).history(1 << 16),
                ));
                registry
                    .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-65535"))
                    .unwrap();
                for chunk in routes.chunks(50_000) {
                    registry.upsert_http_routes(chunk.to_vec()).unwrap();
                }
                clock.advance(Duration::from_secs(61));

                // A reader that records how long each of its calls waits while the
                // sweep runs.
                let running = Arc::new(AtomicBool::new(true));
                let reader = {
                    let (registry, running) = (registry.clone(), running.clone());
                    thread::spawn(move || {
                        let mut waits = Vec::with_capacity(1 << 20);
                        while running.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            black_box(registry.router_group_by_name("default-tcp").unwrap());
                            waits.push(t.elapsed().as_nanos() as u64);
                        }
                        waits
                    })
                };
                let t = Instant::now();
                let removed = registry.expire(clock.now());
                total += t.elapsed();
                running.store(false, Ordering::Relaxed);
                let mut waits = reader.join().unwrap();
                assert_eq!(removed, LEASES);
                assert!(!waits.is_empty());
                waits.sort_unstable();
                let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize];
                reader_waits.lock().unwrap().push([
                    waits.len() as u64,
                    at(0.5),
                    at(0.99),
                    at(0.999),
                    *waits.last().unwrap(),
                ]);
            }
            total
        })
    });
    // What the matcher's index then takes to drop the lapsed backends (the
    // reaper does it right after each sweep; readers keep matching meanwhile).
    // Measured on 200k, to keep the setup of each sample short.
    const COMPACTED: usize = 200_000;
    group.throughput(Throughput::Elements(COMPACTED as u64));
    group.bench_function("compact_index_after_200k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let clock = ManualClock::new(Timestamp::from_secs(1_000));
                let registry = Registry::new(Config::new().clock(clock.clone()));
                for chunk in routes[..COMPACTED].chunks(50_000) {
                    registry.upsert_http_routes(chunk.to_vec()).unwrap();
                }
                clock.advance(Duration::from_secs(61));
                assert_eq!(registry.expire(clock.now()), COMPACTED);
                let t = Instant::now();
                let removed = registry.compact_index();
                total += t.elapsed();
                assert_eq!(removed, COMPACTED);
            }
            total
        })
    });
    group.finish();
    // Per sample: calls, then the median, p99, p99.9 and longest wait (ns). On a
    // small machine the longest wait is mostly the reader thread being scheduled
    // out; the percentiles show what the registry itself makes readers wait.
    for [calls, p50, p99, p999, max] in reader_waits.lock().unwrap().iter() {
        eprintln!(
            "expire/1m_leases_with_a_reader: {calls} reader calls, wait p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.2} ms",
            *p50 as f64 / 1e3,
            *p99 as f64 / 1e3,
            *p999 as f64 / 1e3,
            *max as f64 / 1e6
        );
    }
}

/// Commits `events` renewals in batches of 1,000 (one event each).
fn write_events(registry: &Registry, routes: &[routeyard::HttpRoute], events: usize) {
    let mut written = 0;
    while written < events {
        let start = written % routes.len();
        let end = (start + 1_000).min(routes.len());
        registry
            .upsert_http_routes(routes[start..end].to_vec())
            .unwrap();
        written += end - start;
    }
}

fn delivery(c: &mut Criterion) {
    const EVENTS: usize = 200_000;
    let routes = cf_routes(10_000);
    let mut group = c.benchmark_group("events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    for subscribers in [1usize, 16, 128] {
        group.bench_function(format!("deliver_to_{subscribers}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let registry = Registry::new(Config::new().subscriber_buffer(EVENTS + 1));
                    let from = registry.revision();
                    let readers: Vec<_> = (0..subscribers)
                        .map(|_| {
                            let mut sub = registry.subscribe(Filter::all(), Some(from)).unwrap();
                            thread::spawn(move || {
                                let mut seen = 0;
                                while seen < EVENTS {
                                    sub.recv_timeout(Duration::from_secs(60)).unwrap();
                                    seen += 1;
                                }
                                Instant::now()
                            })
                        })
                        .collect();
                    let t = Instant::now();
                    write_events(&registry, &routes, EVENTS);
                    let last = readers
                        .into_iter()
                        .map(|r| r.join().unwrap())
                        .max()
                        .unwrap();
                    total += last - t;
                }
                total
            })
        });
    }

    // What a subscriber that never reads costs the writer, against none at all.
    for (name, stalled) in [
        ("writer_alone", false),
        ("writer_with_stalled_subscriber", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let registry = Registry::new(Config::new().subscriber_buffer(EVENTS + 1));
                    let sub = stalled.then(|| registry.subscribe(Filter::all(), None).unwrap());
                    let t = Instant::now();
                    write_events(&registry, &routes, EVENTS);
                    total += t.elapsed();
                    drop(sub);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, upserts, expiry, delivery);
criterion_main!(benches);
