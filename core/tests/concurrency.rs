//! Concurrency tests: writers, readers, the reaper and subscribers at once.
//!
//! Every wait is bounded: a deadlock or a lost wake-up fails the test instead of
//! hanging it. Time moves only through a [`ManualClock`].

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    cf_upsert, drive_clock, join, join_all, spawn, subscriber, CfExpected, Rng, DEADLINE, START,
};
use routeyard::{
    Action, Change, Clock, Config, ErrorKind, Event, Filter, HttpRoute, ManualClock, Registry,
    Request, RouterGroup, Snapshot, TcpRouteMapping,
};

// ---------------------------------------------------------------------------
// (a) writers, readers, reaper, subscribers
// ---------------------------------------------------------------------------

/// Entries of the lasting writers live this long: far more than the clock moves.
const LONG_TTL: i64 = 24 * 3600;
/// The clock moves at most this far while the writers run.
const CLOCK_CAP: Duration = Duration::from_secs(600);
const OPS_PER_WRITER: usize = 300;
const KEYS_PER_WRITER: u64 = 6;

#[derive(Default, Debug)]
struct WriterModel {
    http: BTreeMap<String, CfExpected>,
    tcp: BTreeMap<u16, CfExpected>,
    /// Calls that were refused, as they must be.
    refused: usize,
}

fn http_route(writer: usize, key: u64, ttl: i64, log_guid: &str) -> HttpRoute {
    HttpRoute::new(&format!("w{writer}-k{key}.example.com"), "10.9.0.1", 8080)
        .with_ttl(ttl)
        .with_log_guid(log_guid)
}

/// Writer `w`'s TCP keys differ by backend port, which is part of CF's key.
fn backend_port(writer: usize, key: u64) -> u16 {
    10_000 + (writer as u16) * 100 + key as u16
}

fn tcp_mapping(group: &str, writer: usize, key: u64, ttl: i64) -> TcpRouteMapping {
    TcpRouteMapping::new(group, 1024, "10.9.1.1", backend_port(writer, key)).with_ttl(ttl)
}

/// One lasting writer: a seeded sequence of single upserts and deletes, batches
/// through `apply` and batches that must fail, all on its own keys.
fn lasting_writer(
    registry: &Registry,
    group: &str,
    writer: usize,
    seed: u64,
    ops_done: &AtomicU64,
) -> WriterModel {
    let mut rng = Rng(seed);
    let mut model = WriterModel::default();
    let log_guids = ["", "log-a", "log-b"];
    for _ in 0..OPS_PER_WRITER {
        let key = rng.below(KEYS_PER_WRITER);
        let ttl = LONG_TTL - rng.below(100) as i64;
        let log_guid = log_guids[rng.below(3) as usize];
        match rng.below(10) {
            0..=2 => {
                registry
                    .upsert_http_routes(vec![http_route(writer, key, ttl, log_guid)])
                    .expect("upsert HTTP");
                cf_upsert(
                    &mut model.http,
                    http_route(writer, key, 1, "").route.to_string(),
                    ttl,
                    log_guid,
                );
            }
            3 => {
                registry
                    .delete_http_routes(&[http_route(writer, key, ttl, "")])
                    .expect("delete HTTP");
                model.http.remove(&*http_route(writer, key, 1, "").route);
            }
            4..=5 => {
                registry
                    .upsert_tcp_route_mappings(vec![tcp_mapping(group, writer, key, ttl)])
                    .expect("upsert TCP");
                cf_upsert(&mut model.tcp, backend_port(writer, key), ttl, "");
            }
            6 => {
                registry
                    .delete_tcp_route_mappings(&[tcp_mapping(group, writer, key, ttl)])
                    .expect("delete TCP");
                model.tcp.remove(&backend_port(writer, key));
            }
            7..=8 => {
                // A batch mixing kinds; applied in order.
                let other = rng.below(KEYS_PER_WRITER);
                let delete_tcp = rng.chance(50);
                let mut changes = vec![
                    Change::UpsertHttpRoute(http_route(writer, key, ttl, log_guid)),
                    Change::UpsertTcpRouteMapping(tcp_mapping(group, writer, other, ttl)),
                ];
                cf_upsert(
                    &mut model.http,
                    http_route(writer, key, 1, "").route.to_string(),
                    ttl,
                    log_guid,
                );
                cf_upsert(&mut model.tcp, backend_port(writer, other), ttl, "");
                if delete_tcp {
                    changes.push(Change::DeleteTcpRouteMapping(tcp_mapping(
                        group, writer, key, ttl,
                    )));
                    model.tcp.remove(&backend_port(writer, key));
                }
                let events = registry.apply(changes).expect("apply a valid batch");
                for pair in events.windows(2) {
                    assert_eq!(
                        pair[1].revision,
                        pair[0].revision + 1,
                        "a batch's revisions are consecutive"
                    );
                }
            }
            _ => {
                // A batch whose last change fails: nothing of it may apply.
                let err = registry
                    .apply(vec![
                        Change::UpsertHttpRoute(http_route(writer, key, ttl, "log-z")),
                        Change::DeleteTcpRouteMapping(tcp_mapping(group, writer, key, ttl)),
                        Change::UpsertTcpRouteMapping(tcp_mapping(
                            "no-such-group",
                            writer,
                            key,
                            ttl,
                        )),
                    ])
                    .expect_err("a batch naming an unknown router group must fail");
                assert_eq!(err.kind(), ErrorKind::TcpRouteMappingInvalid);
                model.refused += 1;
            }
        }
        ops_done.fetch_add(1, Ordering::Relaxed);
        // Two cores run a whole writer in one time slice otherwise.
        thread::yield_now();
    }
    model
}

/// The writer whose entries are meant to lapse: TTLs of a few seconds.
fn lapsing_writer(registry: &Registry, group: &str, seed: u64, ops_done: &AtomicU64) {
    let mut rng = Rng(seed);
    for _ in 0..OPS_PER_WRITER {
        let key = rng.below(KEYS_PER_WRITER);
        let ttl = 1 + rng.below(3) as i64;
        let route =
            HttpRoute::new(&format!("lapse-k{key}.example.com"), "10.8.0.1", 8080).with_ttl(ttl);
        let mapping =
            TcpRouteMapping::new(group, 1025, "10.8.1.1", 20_000 + key as u16).with_ttl(ttl);
        match rng.below(4) {
            0 => drop(
                registry
                    .upsert_http_routes(vec![route])
                    .expect("upsert lapsing HTTP"),
            ),
            1 => drop(
                registry
                    .delete_http_routes(&[route])
                    .expect("delete lapsing HTTP"),
            ),
            2 => drop(
                registry
                    .upsert_tcp_route_mappings(vec![mapping])
                    .expect("upsert lapsing TCP"),
            ),
            _ => drop(
                registry
                    .delete_tcp_route_mappings(&[mapping])
                    .expect("delete lapsing TCP"),
            ),
        }
        ops_done.fetch_add(1, Ordering::Relaxed);
        thread::yield_now();
    }
}

/// What a reader saw: how many rounds, and some snapshots to check later.
struct ReaderLog {
    rounds: u64,
    samples: Vec<Snapshot>,
}

/// A reader keeps one snapshot of every this many distinct revisions it sees.
const SAMPLE_EVERY: u64 = 4;

fn reader(registry: &Registry, clock: &ManualClock, stop: &AtomicBool) -> ReaderLog {
    let mut log = ReaderLog {
        rounds: 0,
        samples: Vec::new(),
    };
    let mut last_revision = 0;
    let mut distinct = 0;
    while !stop.load(Ordering::Acquire) {
        let before = clock.now();
        for r in registry.http_routes() {
            assert!(
                r.expires_at > before,
                "a lapsed HTTP route was listed: {r:?}"
            );
        }
        for m in registry.tcp_route_mappings() {
            assert!(
                m.expires_at > before,
                "a lapsed TCP mapping was listed: {m:?}"
            );
        }
        registry
            .router_group_by_name("shared")
            .expect("the shared group");
        let snapshot = registry.snapshot();
        assert!(
            snapshot.revision >= last_revision,
            "snapshot revisions went back: {} after {last_revision}",
            snapshot.revision
        );
        if snapshot.revision != last_revision {
            distinct += 1;
            if distinct % SAMPLE_EVERY == 0 && log.samples.len() < 512 {
                log.samples.push(snapshot.clone());
            }
        }
        last_revision = snapshot.revision;
        log.rounds += 1;
    }
    log
}

fn writers_readers_reaper_subscribers(writers: usize) {
    let deadline = Instant::now() + DEADLINE;
    let clock = ManualClock::new(START);
    let registry = Arc::new(Registry::new(
        Config::new()
            .clock(clock.clone())
            .max_ttl(Duration::from_secs(LONG_TTL as u64))
            .history(1 << 20)
            .subscriber_buffer(1 << 16),
    ));
    // One subscriber from before the first change, one opened after it that
    // replays the history.
    let first = registry.subscribe(Filter::all(), Some(0)).unwrap();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("shared", "tcp", "1024-1100"))
        .unwrap();
    let second = registry.subscribe(Filter::all(), Some(0)).unwrap();
    let group: Arc<str> = group.guid;

    let ops_done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let target = Arc::new(AtomicU64::new(0));
    let reaper = registry.start_reaper(Duration::from_millis(1));
    assert!(reaper.is_running());

    let subscribers: Vec<_> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(i, sub)| {
            let target = target.clone();
            spawn(&format!("subscriber-{i}"), move || {
                subscriber(sub, 0, &target, deadline)
            })
        })
        .collect();
    // Writers and readers start together.
    let start = Arc::new(Barrier::new(writers + 3));
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (registry, clock, stop, start) =
                (registry.clone(), clock.clone(), stop.clone(), start.clone());
            spawn(&format!("reader-{i}"), move || {
                start.wait();
                reader(&registry, &clock, &stop)
            })
        })
        .collect();
    // The clock follows the writers' progress: 250 ms per 4 operations, capped.
    let driver = {
        let (clock, ops_done, stop) = (clock.clone(), ops_done.clone(), stop.clone());
        spawn("clock", move || {
            let step = Duration::from_millis(250);
            drive_clock(&clock, &ops_done, &stop, step, 4, CLOCK_CAP)
        })
    };
    let lasting: Vec<_> = (0..writers)
        .map(|w| {
            let (registry, group, ops_done, start) = (
                registry.clone(),
                group.clone(),
                ops_done.clone(),
                start.clone(),
            );
            spawn(&format!("writer-{w}"), move || {
                start.wait();
                lasting_writer(&registry, &group, w, 0x5EED_0000 + w as u64, &ops_done)
            })
        })
        .collect();
    let lapsing = {
        let (registry, group, ops_done, start) = (
            registry.clone(),
            group.clone(),
            ops_done.clone(),
            start.clone(),
        );
        spawn("lapsing-writer", move || {
            start.wait();
            lapsing_writer(&registry, &group, 0x1A95E, &ops_done)
        })
    };

    let models: Vec<WriterModel> = join_all(&lasting, deadline, "writer");
    join(&lapsing, deadline, "the lapsing writer");
    stop.store(true, Ordering::Release);
    let moved = join(&driver, deadline, "the clock driver");
    let reader_logs: Vec<ReaderLog> = join_all(&readers, deadline, "reader");
    reaper.stop();
    assert!(moved < Duration::from_secs(LONG_TTL as u64));

    // Every lapsing lease is due now; a final sweep removes what the reaper left.
    clock.advance(Duration::from_secs(10));
    let before_sweep = registry.revision();
    registry.expire(clock.now());
    let last = registry.snapshot();
    target.store(last.revision.max(1), Ordering::Release);
    let streams: Vec<Vec<Event>> = join_all(&subscribers, deadline, "subscriber");

    // The final state is what each writer's own sequence predicts.
    assert!(
        last.http_routes
            .iter()
            .all(|r| !r.route.starts_with("lapse-")),
        "lapsed HTTP routes survived the final expire"
    );
    assert!(
        last.tcp_route_mappings.iter().all(|m| m.port != 1025),
        "lapsed TCP mappings survived the final expire"
    );
    assert!(registry
        .http_routes()
        .iter()
        .all(|r| !r.route.starts_with("lapse-")));
    for (w, model) in models.iter().enumerate() {
        let prefix = format!("w{w}-");
        let http: BTreeMap<String, CfExpected> = last
            .http_routes
            .iter()
            .filter(|r| r.route.starts_with(&prefix))
            .map(|r| {
                (
                    r.route.to_string(),
                    CfExpected {
                        index: r.modification_tag.index,
                        ttl: r.ttl.unwrap(),
                        log_guid: r.log_guid.to_string(),
                    },
                )
            })
            .collect();
        assert_eq!(http, model.http, "writer {w}'s HTTP routes");
        let ports: HashSet<u16> = (0..KEYS_PER_WRITER).map(|k| backend_port(w, k)).collect();
        let tcp: BTreeMap<u16, CfExpected> = last
            .tcp_route_mappings
            .iter()
            .filter(|m| m.port == 1024 && ports.contains(&m.backend_port))
            .map(|m| {
                (
                    m.backend_port,
                    CfExpected {
                        index: m.modification_tag.index,
                        ttl: m.ttl.unwrap(),
                        log_guid: String::new(),
                    },
                )
            })
            .collect();
        assert_eq!(tcp, model.tcp, "writer {w}'s TCP mappings");
        assert!(model.refused > 0, "writer {w} never tried a failing batch");
    }
    let lasting_keys: usize = models.iter().map(|m| m.http.len() + m.tcp.len()).sum();
    assert_eq!(
        last.http_routes.len() + last.tcp_route_mappings.len(),
        lasting_keys,
        "entries nobody wrote"
    );

    // Every subscriber's stream is the whole history, once, and rebuilds the state.
    for (i, events) in streams.iter().enumerate() {
        assert_eq!(
            events.len() as u64,
            last.revision,
            "subscriber {i} event count"
        );
        let mut rebuilt = Snapshot::default();
        for e in events {
            rebuilt.apply(e);
        }
        assert_eq!(
            rebuilt, last,
            "subscriber {i}'s events do not rebuild the final state"
        );
    }
    assert_eq!(
        streams[0], streams[1],
        "the two subscribers saw different streams"
    );
    assert!(
        streams[0]
            .iter()
            .any(|e| e.action == Action::Expire && e.revision <= before_sweep),
        "nothing lapsed while the writers ran"
    );

    // Every snapshot a reader took is exactly the state at its revision.
    let mut samples: Vec<&Snapshot> = reader_logs.iter().flat_map(|l| &l.samples).collect();
    samples.sort_by_key(|s| s.revision);
    let mut state = Snapshot::default();
    let mut events = streams[0].iter().peekable();
    for sample in samples {
        while let Some(e) = events.next_if(|e| e.revision <= sample.revision) {
            state.apply(e);
        }
        assert_eq!(
            &state, sample,
            "a reader's snapshot is not the state at its revision"
        );
    }
    for (i, log) in reader_logs.iter().enumerate() {
        assert!(log.rounds > 0, "reader {i} never completed a round");
    }
}

#[test]
fn two_writers_readers_reaper_subscribers() {
    writers_readers_reaper_subscribers(2);
}

#[test]
fn four_writers_readers_reaper_subscribers() {
    writers_readers_reaper_subscribers(4);
}

#[test]
fn eight_writers_readers_reaper_subscribers() {
    writers_readers_reaper_subscribers(8);
}

// ---------------------------------------------------------------------------
// (b) concurrent port reservation
// ---------------------------------------------------------------------------

#[test]
fn concurrent_reservations_never_share_a_port_and_cover_the_range() {
    const FIRST: u16 = 1024;
    const LAST: u16 = 1535;
    let deadline = Instant::now() + DEADLINE;
    let clock = ManualClock::new(START);
    let registry = Arc::new(Registry::new(Config::new().clock(clock)));
    let (group, _) = registry
        .create_router_group(RouterGroup::new(
            "reservable",
            "tcp",
            &format!("{FIRST}-{LAST}"),
        ))
        .unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (registry, guid, start) = (registry.clone(), group.guid.clone(), start.clone());
            spawn(&format!("reserver-{i}"), move || {
                start.wait();
                let mut ports = Vec::new();
                loop {
                    match registry.reserve_port(&guid, None) {
                        Ok(r) => {
                            assert_eq!(r.router_group_guid, guid);
                            assert!(
                                (FIRST..=LAST).contains(&r.port),
                                "port {} outside the range",
                                r.port
                            );
                            ports.push(r.port);
                            assert!(
                                ports.len() <= usize::from(LAST - FIRST) + 1,
                                "one thread got more ports than the range holds"
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::PortRangeExhausted => return ports,
                        Err(e) => panic!("reserve_port: {e}"),
                    }
                }
            })
        })
        .collect();
    let mut owner: HashMap<u16, usize> = HashMap::new();
    for (i, rx) in threads.iter().enumerate() {
        for port in join(rx, deadline, &format!("reserver {i}")) {
            if let Some(other) = owner.insert(port, i) {
                panic!("port {port} was given to threads {other} and {i}");
            }
        }
    }
    let all: HashSet<u16> = (FIRST..=LAST).collect();
    let got: HashSet<u16> = owner.keys().copied().collect();
    assert_eq!(got, all, "the reserved ports are not the whole range");
    let listed: HashSet<u16> = registry
        .port_reservations()
        .iter()
        .map(|r| r.port)
        .collect();
    assert_eq!(listed, all);
    assert_eq!(
        registry.reserve_port(&group.guid, None).unwrap_err().kind(),
        ErrorKind::PortRangeExhausted
    );
}

// ---------------------------------------------------------------------------
// (c) a long expiry does not block readers
// ---------------------------------------------------------------------------

#[test]
fn readers_progress_during_a_long_expiry() {
    const LEASES: usize = 200_000;
    let deadline = Instant::now() + DEADLINE;
    let clock = ManualClock::new(START);
    let registry = Arc::new(Registry::new(
        Config::new().clock(clock.clone()).history(1024),
    ));
    registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    let routes: Vec<HttpRoute> = (0..LEASES)
        .map(|i| HttpRoute::new(&format!("app-{i}.example.com"), "10.0.0.1", 8080).with_ttl(1))
        .collect();
    registry.upsert_http_routes(routes).unwrap();
    clock.advance(Duration::from_secs(2));
    assert!(
        registry.http_routes().is_empty(),
        "lapsed routes are listed"
    );
    // The expiry publishes one event per lease, so the revision runs from
    // `first` to `last` while it works.
    let first = registry.revision();
    let last = first + LEASES as u64;

    // `calls` counts every completed lookup; `inside` those that began after the
    // expiry had committed something and returned before it had committed all,
    // which no lookup can do if the expiry holds the lock throughout.
    let calls = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (registry, calls, inside, stop) = (
            registry.clone(),
            calls.clone(),
            inside.clone(),
            stop.clone(),
        );
        spawn("reader", move || {
            while !stop.load(Ordering::Acquire) {
                let began = registry.revision();
                let g = registry.router_group_by_name("default-tcp").expect("group");
                let ended = registry.revision();
                assert_eq!(&*g.name, "default-tcp");
                if began > first && ended < last {
                    inside.fetch_add(1, Ordering::AcqRel);
                }
                calls.fetch_add(1, Ordering::AcqRel);
            }
        })
    };
    // Start the expiry only once the reader is running.
    while calls.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "the reader never started");
        thread::yield_now();
    }
    let expirer = {
        let (registry, inside, now) = (registry.clone(), inside, clock.now());
        spawn("expirer", move || {
            let removed = registry.expire(now);
            (removed, inside.load(Ordering::Acquire))
        })
    };
    let (removed, inside_when_done) = join(&expirer, deadline, "the expiry");
    stop.store(true, Ordering::Release);
    join(&reader, deadline, "the reader");
    assert_eq!(removed, LEASES);
    assert_eq!(registry.revision(), last);
    assert!(
        inside_when_done >= 5,
        "only {inside_when_done} lookups completed while {LEASES} leases expired"
    );
    assert!(registry.snapshot().http_routes.is_empty());
}

#[test]
fn a_subscriber_never_hears_of_a_change_readers_cannot_see_yet() {
    const CHANGES: usize = 5_000;
    let deadline = Instant::now() + DEADLINE;
    let registry = Arc::new(Registry::new(Config::new().subscriber_buffer(CHANGES * 2)));
    let mut sub = registry.subscribe(Filter::all(), None).unwrap();
    let writer = {
        let registry = registry.clone();
        spawn("writer", move || {
            for i in 0..CHANGES {
                registry
                    .upsert_http_routes(vec![HttpRoute::new(
                        &format!("h{i}.example.com"),
                        "10.0.0.1",
                        8080,
                    )])
                    .unwrap();
            }
        })
    };
    // Each event is checked the moment it arrives, while the writer goes on: the
    // registry's revision must have reached it and its route must match.
    let (mut behind, mut unseen) = (Vec::new(), Vec::new());
    for i in 0..CHANGES {
        let event = sub
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap();
        if registry.revision() < event.revision {
            behind.push(event.revision);
        }
        let host = format!("h{i}.example.com");
        if registry.find(&Request::new("GET", &host, "/")).is_none() {
            unseen.push(host);
        }
    }
    join(&writer, deadline, "writer");
    assert_eq!(
        (behind.len(), unseen.len()),
        (0, 0),
        "events ahead of the revision: {behind:?}; routes announced but not matched: {unseen:?}"
    );
}
