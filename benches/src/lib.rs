//! Benchmarks for routeyard, run with `make bench`; shared helpers live here.

use routeyard::{HttpRoute, Route, ServiceRef};

/// `n` distinct CF HTTP routes spread over hosts, paths and backends, in the
/// shape a platform registers them (`app-17.apps.example.com/api/v3`).
pub fn cf_routes(n: usize) -> Vec<HttpRoute> {
    (0..n)
        .map(|i| {
            let host = format!("app-{}.apps.example.com/api/v{}", i / 4, i % 4);
            let ip = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
            HttpRoute::new(&host, &ip, 8080 + (i % 16) as u16)
                .with_ttl(60)
                .with_log_guid("bench")
        })
        .collect()
}

/// Scales a table size down in debug builds, where `cargo test --benches` runs
/// every benchmark once as a smoke test; release benchmarks use `n` as given.
pub fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        (n / 100).max(200)
    } else {
        n
    }
}

/// `n` distinct static REST-style paths without parameters, cycling through API
/// versions and leaves: `/api/v2/res41/items`, `/api/v3/res41/settings`, ...
pub fn static_paths(n: usize) -> Vec<String> {
    const LEAVES: [&str; 4] = ["items", "settings", "history", "owners"];
    (0..n)
        .map(|k| {
            format!(
                "/api/v{}/res{}/{}",
                1 + k % 3,
                k / 12,
                LEAVES[(k / 3) % LEAVES.len()]
            )
        })
        .collect()
}

/// The paths every host of [`host_path_route`] serves, one per route.
pub const HOST_PATHS: [&str; 10] = [
    "/orders",
    "/users",
    "/carts",
    "/catalog/items",
    "/catalog/search",
    "/payments",
    "/invoices",
    "/auth/token",
    "/health",
    "/static/assets",
];

/// The host of route `i` of [`host_path_route`]: ten routes share a host.
pub fn route_host(i: usize) -> String {
    format!("svc-{}.example.com", i / HOST_PATHS.len())
}

/// Kong route `i` of a host-and-path table: host `svc-{i/10}.example.com`, one
/// of [`HOST_PATHS`] (prefix mode, Kong's default), leading to `service_id`.
pub fn host_path_route(i: usize, service_id: &str) -> Route {
    Route {
        hosts: Some(vec![route_host(i)]),
        paths: Some(vec![HOST_PATHS[i % HOST_PATHS.len()].to_string()]),
        service: Some(ServiceRef {
            id: service_id.to_string(),
        }),
        ..Route::default()
    }
}

/// `count` indices below `n`, spread pseudo-randomly (and deterministically)
/// over the whole range, so a lookup batch touches all of a table.
pub fn spread(n: usize, count: usize) -> Vec<usize> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..count)
        .map(|_| {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z % n as u64) as usize
        })
        .collect()
}

/// The resident set size of this process in bytes (`VmRSS` of
/// `/proc/self/status`), or `None` where procfs is unavailable.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The median of `values` (the upper one of an even count), sorting them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `N` sides in turns: each round runs every side once, each side first in its
/// share of rounds, so that the machine's changes of speed (this one's vary by a third
/// over minutes) fall on all alike. `time(side)` runs side `side` and returns how long
/// it took; the result holds every round's times, by side.
pub fn in_turns<const N: usize>(
    rounds: usize,
    mut time: impl FnMut(usize) -> f64,
) -> Vec<[f64; N]> {
    (0..rounds)
        .map(|round| {
            let mut this = [0.0; N];
            for k in 0..N {
                let side = (round + k) % N;
                this[side] = time(side);
            }
            this
        })
        .collect()
}
