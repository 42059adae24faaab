//! A small loopback load generator for a running `routeyard-facade`.
//!
//! ```sh
//! cargo run --release -p routeyard-facade -- --listen 127.0.0.1:8080 &
//! cargo run --release -p routeyard-facade --example load -- http://127.0.0.1:8080
//! ```
//!
//! It registers CF HTTP routes (one per request, then batches of 100) from four
//! threads until 10,000 distinct routes exist, renews them all once, then times
//! `GET /routing/v1/routes` with the 10,000 routes listed. Every loop is bounded;
//! it only talks to the address given, which should be a loopback one.

use std::time::{Duration, Instant};

const THREADS: usize = 4;
const ROUTES: usize = 10_000;
const LISTS: usize = 50;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(true)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn batch(from: usize, to: usize) -> String {
    let routes: Vec<String> = (from..to)
        .map(|i| {
            format!(
                r#"{{"route":"app{i}.example.com/p","ip":"10.{}.{}.{}","port":8080,"ttl":120}}"#,
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect();
    format!("[{}]", routes.join(","))
}

/// Registers routes `0..count` in batches of `per_request` from `THREADS` threads;
/// returns routes per second.
fn upsert(base: &str, count: usize, per_request: usize) -> f64 {
    let url = format!("{base}/routing/v1/routes");
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let url = url.clone();
            scope.spawn(move || {
                let agent = agent();
                let mut i = t * per_request;
                while i < count {
                    let body = batch(i, (i + per_request).min(count));
                    agent
                        .post(&url)
                        .content_type("application/json")
                        .send(&body)
                        .expect("the upsert succeeds");
                    i += THREADS * per_request;
                }
            });
        }
    });
    count as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let base = base.trim_end_matches('/').to_string();

    let single = upsert(&base, 2_000, 1);
    println!("upsert, 1 route per request, {THREADS} threads: {single:.0} routes/s");
    let batched = upsert(&base, ROUTES, 100);
    println!("upsert, 100 routes per request, {THREADS} threads: {batched:.0} routes/s");
    let renewed = upsert(&base, ROUTES, 100);
    println!("renew, 100 routes per request, {THREADS} threads: {renewed:.0} routes/s");

    let agent = agent();
    let url = format!("{base}/routing/v1/routes");
    let mut times = Vec::with_capacity(LISTS);
    let mut bytes = 0;
    let mut listed = 0;
    for _ in 0..LISTS {
        let start = Instant::now();
        let body = agent
            .get(&url)
            .call()
            .expect("the list succeeds")
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .expect("the list is text");
        times.push(start.elapsed());
        bytes = body.len();
        listed = body.matches("\"route\":").count();
    }
    times.sort();
    println!(
        "list {listed} routes ({} KiB): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        bytes / 1024,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}
