//! Backend choice: one pick per strategy at 10, 100 and 1,000 backends, alone and
//! with a second thread picking from the same pool, a split pick, a connection
//! slot taken and given back, and the counter updates of the hot path.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use routeyard::balance::{Backend, PickInput, Pool, PoolConfig, Split, SplitConfig, Strategy};
use routeyard::stats::BackendStats;
use routeyard::Timestamp;

const INPUTS: usize = 1024;

/// `n` live backends in one tier, weights 1 to 4, plus one standby.
fn backends(n: usize) -> Vec<Backend> {
    let mut v: Vec<Backend> = (0..n)
        .map(|i| {
            Backend::new(format!("10.0.{}.{}", i / 250, i % 250 + 1), 8080)
                .with_weight(1 + (i % 4) as u32)
                .with_version(if i % 5 == 0 { "v2" } else { "v1" })
        })
        .collect();
    v.push(Backend::new("10.9.9.9", 8080).with_tier(1));
    v
}

/// Session keys and client addresses the hash strategies cycle through.
fn inputs() -> (Vec<String>, Vec<IpAddr>) {
    let keys = (0..INPUTS).map(|k| format!("session-{k:08}")).collect();
    let ips = (0..INPUTS as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i * 7)))
        .collect();
    (keys, ips)
}

fn input<'a>(strategy: Strategy, keys: &'a [String], ips: &[IpAddr], i: usize) -> PickInput<'a> {
    match strategy {
        Strategy::ConsistentHash => PickInput::new().key(keys[i % INPUTS].as_bytes()),
        Strategy::IpHash | Strategy::IpHash1 => PickInput::new().client_ip(ips[i % INPUTS]),
        _ => PickInput::new(),
    }
}

fn picks(c: &mut Criterion) {
    let (keys, ips) = inputs();
    for n in [10usize, 100, 1_000] {
        let mut group = c.benchmark_group(format!("pick_{n}"));
        group.throughput(Throughput::Elements(1));
        for strategy in Strategy::ALL {
            let pool = Pool::try_new(backends(n), PoolConfig::new().strategy(strategy)).unwrap();
            let mut i = 0;
            group.bench_function(strategy.name(), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(pool.pick(&input(strategy, &keys, &ips, i)).unwrap());
                })
            });
        }
        group.finish();
    }
}

/// One pick timed on this thread while another thread picks from the same pool
/// without pause (shared counters and cache lines contended).
fn contended(c: &mut Criterion) {
    let (keys, ips) = inputs();
    let keys = Arc::new(keys);
    let ips = Arc::new(ips);
    let mut group = c.benchmark_group("pick_100_two_threads");
    group.throughput(Throughput::Elements(1));
    for strategy in Strategy::ALL {
        let pool =
            Arc::new(Pool::try_new(backends(100), PoolConfig::new().strategy(strategy)).unwrap());
        group.bench_function(strategy.name(), |b| {
            b.iter_custom(|iters| {
                let running = Arc::new(AtomicBool::new(true));
                let other = {
                    let (pool, running, keys, ips) =
                        (pool.clone(), running.clone(), keys.clone(), ips.clone());
                    thread::spawn(move || {
                        let mut i = 7;
                        while running.load(Ordering::Relaxed) {
                            i += 1;
                            black_box(pool.pick(&input(strategy, &keys, &ips, i)));
                        }
                    })
                };
                let t = Instant::now();
                for i in 0..iters as usize {
                    black_box(pool.pick(&input(strategy, &keys, &ips, i)).unwrap());
                }
                let elapsed = t.elapsed();
                running.store(false, Ordering::Relaxed);
                other.join().unwrap();
                elapsed
            })
        });
    }
    group.finish();
}

fn splits_and_connections(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_100");
    group.throughput(Throughput::Elements(1));
    let split = SplitConfig::new(Split::new().with("v1", 80).with("v2", 20));
    let pool = Pool::try_new(
        backends(100),
        PoolConfig::new()
            .strategy(Strategy::RoundRobin)
            .split(split.clone()),
    )
    .unwrap();
    group.bench_function("split_80_20_roundrobin", |b| {
        b.iter(|| black_box(pool.pick(&PickInput::new()).unwrap()))
    });
    let sticky = Pool::try_new(
        backends(100),
        PoolConfig::new()
            .strategy(Strategy::ConsistentHash)
            .split(split.sticky(true)),
    )
    .unwrap();
    let (keys, _) = inputs();
    let mut i = 0;
    group.bench_function("split_80_20_sticky_hash", |b| {
        b.iter(|| {
            i += 1;
            black_box(
                sticky
                    .pick(&PickInput::new().key(keys[i % INPUTS].as_bytes()))
                    .unwrap(),
            )
        })
    });
    let capped: Vec<Backend> = backends(100)
        .into_iter()
        .map(|b| b.with_max_connections(1_000))
        .collect();
    let pool = Pool::try_new(capped, PoolConfig::new()).unwrap();
    group.bench_function("connect_and_close_capped", |b| {
        b.iter(|| drop(black_box(pool.connect(&PickInput::new()).unwrap())))
    });
    group.finish();

    // What a change costs the writer: the next pool from the current one, with
    // one backend replaced. Consistent hashing also rescores the slot table
    // (incrementally), and builds it whole for a new pool.
    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10);
    for n in [100usize, 1_000] {
        let mut next = backends(n);
        next[n / 2].address = "10.8.8.8".into();
        for strategy in [Strategy::RoundRobin, Strategy::ConsistentHash] {
            let config = PoolConfig::new().strategy(strategy);
            let pool = Pool::try_new(backends(n), config.clone()).unwrap();
            group.bench_function(format!("{}_{n}_one_changed", strategy.name()), |b| {
                b.iter(|| black_box(pool.try_rebuild(next.clone()).unwrap()))
            });
            group.bench_function(format!("{}_{n}_new_pool", strategy.name()), |b| {
                b.iter(|| black_box(Pool::try_new(next.clone(), config.clone()).unwrap()))
            });
        }
    }
    group.finish();
}

fn stats(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats");
    group.throughput(Throughput::Elements(1));
    let s = BackendStats::new();
    group.bench_function("add_rx", |b| b.iter(|| s.add_rx(black_box(1_500))));
    group.bench_function("connection_opened_closed", |b| {
        b.iter(|| {
            s.connection_opened();
            s.connection_closed();
        })
    });
    let mut t = 1u64;
    group.bench_function("sample", |b| {
        b.iter(|| {
            t += 1;
            s.sample(Timestamp::from_nanos(t));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = picks, contended, splits_and_connections, stats
}
criterion_main!(benches);
