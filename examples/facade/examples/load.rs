//! A loopback load generator for a running `routeyard-facade`.
//!
//! ```sh
//! cargo build --release -p routeyard-facade --examples
//! target/release/routeyard-facade --listen 127.0.0.1:8080 --max-ttl 3600 --event-buffer 65536 &
//! target/release/examples/load http://127.0.0.1:8080 --ttl 3600
//! ```
//!
//! Four phases, each printing its figures:
//!
//! 1. registers CF HTTP routes from several threads until `--routes` distinct
//!    routes exist: the first `--single` one per request, the rest in batches of
//!    `--batch`; then renews them all once in batches;
//! 2. times `GET /routing/v1/routes` with all of them listed (`--lists` requests);
//! 3. opens `--sse-clients` event streams on `GET /routing/v1/events`, each read
//!    line by line on a thread of its own, resuming after the revision a list
//!    reported (so no event can fall between subscribing and writing); then
//!    registers `--sse-events` new routes in batches of `--batch` and checks that
//!    every client received an `Upsert` frame for every one of them, timing the
//!    delivery.
//!
//! `--small` is the earlier, shorter run: 10,000 routes, 2,000 of them one per
//! request, 50 lists. Routes carry `--ttl` seconds (none: the server's `--max-ttl`);
//! the whole run must fit in it, or early routes expire before the list.
//!
//! It exits with status 1 when fewer routes are listed than were registered or a
//! stream missed an event. Every loop is bounded, streams are read with a per-read timeout and closed at
//! the end, and only the address given is contacted, which should be a loopback one.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the command line asks for.
#[derive(Clone, Debug)]
struct Options {
    base: String,
    threads: usize,
    routes: usize,
    single: usize,
    batch: usize,
    lists: usize,
    ttl: Option<u64>,
    sse_clients: usize,
    sse_events: usize,
    read_timeout: Duration,
}

const USAGE: &str = "\
Usage: load [URL] [OPTIONS]

  URL                    the facade [default: http://127.0.0.1:8080]
  --threads N            writer threads [default: 4]
  --routes N             distinct routes to register [default: 100000]
  --single N             how many of them one per request [default: 20000]
  --batch N              routes per batched request [default: 100]
  --lists N              timed list requests [default: 20]
  --ttl SECONDS          the routes' ttl [default: none, the server's max]
  --sse-clients N        concurrent event streams [default: 100]
  --sse-events N         routes written while they listen [default: 1000]
  --read-timeout SECONDS per-read timeout of the streams [default: 10]
  --small                10000 routes, 2000 single, 50 lists
";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        base: "http://127.0.0.1:8080".into(),
        threads: 4,
        routes: 100_000,
        single: 20_000,
        batch: 100,
        lists: 20,
        ttl: None,
        sse_clients: 100,
        sse_events: 1_000,
        read_timeout: Duration::from_secs(10),
    };
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "--small" {
            o.routes = 10_000;
            o.single = 2_000;
            o.lists = 50;
            i += 1;
            continue;
        }
        if !flag.starts_with("--") {
            o.base = flag.trim_end_matches('/').to_string();
            i += 1;
            continue;
        }
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: expected a whole number, got {value:?}"))?;
        let size = usize::try_from(n).map_err(|_| format!("{flag}: {n} is too large"))?;
        match flag {
            "--threads" => o.threads = size,
            "--routes" => o.routes = size,
            "--single" => o.single = size,
            "--batch" => o.batch = size,
            "--lists" => o.lists = size,
            "--ttl" => o.ttl = Some(n),
            "--sse-clients" => o.sse_clients = size,
            "--sse-events" => o.sse_events = size,
            "--read-timeout" => o.read_timeout = Duration::from_secs(n),
            _ => return Err(format!("unknown option {flag}")),
        }
        i += 2;
    }
    if o.threads == 0 || o.batch == 0 || o.lists == 0 || o.read_timeout.is_zero() {
        return Err("--threads, --batch, --lists and --read-timeout must be above 0".into());
    }
    if o.single > o.routes {
        return Err("--single cannot exceed --routes".into());
    }
    Ok(o)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(true)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One CF route object; `host` tells apart the bulk routes from those of the
/// fan-out phase.
fn route_json(out: &mut String, host: &str, i: usize, ttl: Option<u64>) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#"{{"route":"{host}{i}.example.com/p","ip":"10.{}.{}.{}","port":8080"#,
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    );
    if let Some(ttl) = ttl {
        let _ = write!(out, r#","ttl":{ttl}"#);
    }
    out.push('}');
}

fn batch(host: &str, from: usize, to: usize, ttl: Option<u64>) -> String {
    let mut out = String::from("[");
    for i in from..to {
        if i > from {
            out.push(',');
        }
        route_json(&mut out, host, i, ttl);
    }
    out.push(']');
    out
}

/// Registers routes `from..to` in requests of `per_request` from the writer
/// threads; returns routes per second.
fn upsert(o: &Options, from: usize, to: usize, per_request: usize) -> f64 {
    let url = format!("{}/routing/v1/routes", o.base);
    let threads = o.threads;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let url = url.clone();
            scope.spawn(move || {
                let agent = agent();
                let mut i = from + t * per_request;
                while i < to {
                    let body = batch("app", i, (i + per_request).min(to), o.ttl);
                    agent
                        .post(&url)
                        .content_type("application/json")
                        .send(&body)
                        .expect("the upsert succeeds");
                    i += threads * per_request;
                }
            });
        }
    });
    (to - from) as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `GET /routing/v1/routes`: the body and the `X-Routeyard-Revision` header.
fn list(agent: &ureq::Agent, base: &str) -> (String, u64) {
    let mut response = agent
        .get(format!("{base}/routing/v1/routes"))
        .call()
        .expect("the list succeeds");
    let revision = response
        .headers()
        .get("x-routeyard-revision")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("the list carries its revision");
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .expect("the list is text");
    (body, revision)
}

/// What one stream saw.
struct Received {
    /// When each fan-out route's `Upsert` frame first arrived, since the phase began.
    at: Vec<Option<Duration>>,
    /// `Upsert` frames for a route already seen.
    duplicates: usize,
    /// Frames other than the expected upserts (deletes, resyncs), with their ids.
    other: Vec<String>,
    /// Why reading stopped early, if it did.
    error: Option<String>,
}

/// The index in a fan-out route's host name (`{prefix}{index}.example.com`).
fn index_in(data: &str, prefix: &str) -> Option<usize> {
    let key = format!(r#""route":"{prefix}"#);
    let rest = &data[data.find(&key)? + key.len()..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// Reads one event stream until every fan-out route arrived, the stream ends,
/// a read times out, or the overall deadline passes.
fn listen(
    o: &Options,
    after: u64,
    prefix: &str,
    phase: Instant,
    ready: mpsc::Sender<Result<(), String>>,
) -> Received {
    let mut got = Received {
        at: vec![None; o.sse_events],
        duplicates: 0,
        other: Vec::new(),
        error: None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(10)))
        .timeout_per_read(Some(o.read_timeout))
        // A bound on the whole stream, whatever arrives.
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .build()
        .into();
    let response = match agent
        .get(format!("{}/routing/v1/events", o.base))
        .header("Last-Event-ID", after.to_string())
        .call()
    {
        Ok(response) => response,
        Err(err) => {
            let _ = ready.send(Err(err.to_string()));
            got.error = Some(format!("connect: {err}"));
            return got;
        }
    };
    let _ = ready.send(Ok(()));
    let mut reader = BufReader::new(response.into_body().into_reader());
    let mut line = String::new();
    let mut id = 0u64;
    let mut event = String::new();
    let mut remaining = o.sse_events;
    while remaining > 0 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => {
                got.error = Some("the stream ended".into());
                break;
            }
            Ok(_) => {}
            Err(err) => {
                got.error = Some(format!("read: {err}"));
                break;
            }
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let index = index_in(data, prefix).filter(|&i| i < o.sse_events);
            match (event.as_str(), index) {
                ("Upsert", Some(i)) if id > after => {
                    if got.at[i].is_none() {
                        got.at[i] = Some(phase.elapsed());
                        remaining -= 1;
                    } else {
                        got.duplicates += 1;
                    }
                }
                _ => got.other.push(format!("id {id} event {event}")),
            }
            if event == "Resync" {
                got.error = Some(format!("resync: {data}"));
                break;
            }
        }
    }
    // Dropping the reader closes the connection.
    got
}

/// The fan-out phase; whether every client received every event.
fn fan_out(o: &Options, after: u64) -> bool {
    let prefix = format!("fan{after}-");
    let phase = Instant::now();
    let (ready_tx, ready_rx) = mpsc::channel();
    let url = format!("{}/routing/v1/routes", o.base);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..o.sse_clients)
            .map(|_| {
                let ready = ready_tx.clone();
                let prefix = prefix.as_str();
                scope.spawn(move || listen(o, after, prefix, phase, ready))
            })
            .collect();
        drop(ready_tx);
        let mut connected = 0;
        let mut failed = 0;
        for _ in 0..o.sse_clients {
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => connected += 1,
                Ok(Err(err)) => {
                    failed += 1;
                    println!("fan-out: a client could not connect: {err}");
                }
                Err(_) => break,
            }
        }
        println!(
            "fan-out: {connected} of {} clients connected in {:.1} ms ({failed} failed)",
            o.sse_clients,
            ms(phase.elapsed())
        );

        // The writes: new routes, so each is exactly one Upsert event.
        let agent = agent();
        let mut sent = Vec::new();
        let writes = Instant::now();
        let mut i = 0;
        while i < o.sse_events {
            let to = (i + o.batch).min(o.sse_events);
            let at = phase.elapsed();
            agent
                .post(&url)
                .content_type("application/json")
                .send(&batch(&prefix, i, to, o.ttl))
                .expect("the upsert succeeds");
            sent.extend(std::iter::repeat_n(at, to - i));
            i = to;
        }
        let written = writes.elapsed();
        println!(
            "fan-out: wrote {} routes in {:.1} ms ({:.0} routes/s)",
            o.sse_events,
            ms(written),
            o.sse_events as f64 / written.as_secs_f64()
        );

        let results: Vec<Received> = clients
            .into_iter()
            .map(|c| c.join().expect("a client thread ends"))
            .collect();
        report(o, &results, &sent)
    })
}

/// Prints the fan-out figures; whether every client received every event.
fn report(o: &Options, results: &[Received], sent: &[Duration]) -> bool {
    let mut lags = Vec::new();
    let mut last_lags = Vec::new();
    let mut delivered = 0usize;
    let mut complete = 0usize;
    let mut last_arrival = Duration::ZERO;
    let last_write = sent.last().copied().unwrap_or_default();
    for (n, r) in results.iter().enumerate() {
        let received = r.at.iter().flatten().count();
        delivered += received;
        let mut client_last = Duration::ZERO;
        for (i, at) in r.at.iter().enumerate() {
            if let Some(at) = *at {
                lags.push(at.saturating_sub(sent[i]));
                client_last = client_last.max(at);
            }
        }
        last_arrival = last_arrival.max(client_last);
        if received == o.sse_events {
            complete += 1;
            last_lags.push(client_last.saturating_sub(last_write));
        } else {
            let missing: Vec<usize> = (0..o.sse_events).filter(|&i| r.at[i].is_none()).collect();
            println!(
                "fan-out: client {n} MISSED {} of {} events (first missing index {:?}); \
                 stopped: {}",
                missing.len(),
                o.sse_events,
                missing.first(),
                r.error.as_deref().unwrap_or("no error")
            );
        }
        if r.duplicates > 0 || !r.other.is_empty() {
            println!(
                "fan-out: client {n}: {} duplicate upserts, unexpected frames: {:?}",
                r.duplicates,
                &r.other[..r.other.len().min(5)]
            );
        }
    }
    println!(
        "fan-out: {complete} of {} clients received all {} upserts; {delivered} of {} events delivered",
        results.len(),
        o.sse_events,
        results.len() * o.sse_events
    );
    let all = complete == results.len();
    if lags.is_empty() {
        return all;
    }
    let first_write = sent.first().copied().unwrap_or_default();
    let span = last_arrival.saturating_sub(first_write);
    println!(
        "fan-out: {:.0} events/s delivered in total ({delivered} events in {:.1} ms, \
         first write to last arrival)",
        delivered as f64 / span.as_secs_f64(),
        ms(span)
    );
    lags.sort();
    println!(
        "fan-out: lag from a batch's write to each client receiving each of its events: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        ms(lags[lags.len() - 1])
    );
    if !last_lags.is_empty() {
        last_lags.sort();
        println!(
            "fan-out: from the last write to a client receiving the last event: \
             p50 {:.1} ms, p99 {:.1} ms, last client {:.1} ms",
            ms(percentile(&last_lags, 0.5)),
            ms(percentile(&last_lags, 0.99)),
            ms(last_lags[last_lags.len() - 1])
        );
    }
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return;
    }
    let o = match parse(&args) {
        Ok(o) => o,
        Err(err) => {
            eprintln!("load: {err}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let threads = o.threads;
    let per = o.batch;

    let single = upsert(&o, 0, o.single, 1);
    println!(
        "upsert, 1 route per request, {threads} threads: {} routes at {single:.0} routes/s",
        o.single
    );
    let batched = upsert(&o, o.single, o.routes, per);
    println!(
        "upsert, {per} routes per request, {threads} threads: {} routes at {batched:.0} routes/s",
        o.routes - o.single
    );
    let renewed = upsert(&o, 0, o.routes, per);
    println!(
        "renew, {per} routes per request, {threads} threads: {} routes at {renewed:.0} routes/s",
        o.routes
    );

    let agent = agent();
    let mut times = Vec::with_capacity(o.lists);
    let mut bytes = 0;
    let mut revision = 0;
    let mut listed = None;
    for n in 0..o.lists {
        let start = Instant::now();
        let (body, rev) = list(&agent, &o.base);
        times.push(start.elapsed());
        bytes = body.len();
        revision = rev;
        if n == 0 {
            listed = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.as_array().map(Vec::len));
        }
    }
    times.sort();
    match listed {
        Some(listed) if listed >= o.routes => {}
        Some(listed) => println!(
            "list: MISMATCH, {listed} routes listed, {} registered",
            o.routes
        ),
        None => println!("list: the body is not a JSON array"),
    }
    println!(
        "list {} routes ({:.1} MiB, {} requests): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        listed.unwrap_or(0),
        bytes as f64 / (1 << 20) as f64,
        o.lists,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
    );

    let delivered = o.sse_clients == 0 || o.sse_events == 0 || fan_out(&o, revision);
    if listed.is_none_or(|listed| listed < o.routes) || !delivered {
        std::process::exit(1);
    }
}
