//! Benchmarks for routeyard, run with `make bench`; shared helpers live here.

use routeyard::HttpRoute;

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
