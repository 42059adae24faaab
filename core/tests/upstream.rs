//! Services' backends: upstreams in the registry, picks through the matcher,
//! version splits with CDAP's rules, connection counters, draining, events,
//! snapshots and batches.

use std::collections::BTreeMap;
use std::time::Duration;

use routeyard::balance::{
    Backend, BackendState, PickInput, PoolConfig, Split, SplitConfig, Strategy,
};
use routeyard::{
    Action, Change, Clock, Config, ErrorKind, Filter, Kind, ManualClock, Registry, Request, Route,
    Service, ServiceRef, Snapshot, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(5_000_000);

fn registry() -> (Registry, ManualClock) {
    let clock = ManualClock::new(T0);
    let registry = Registry::new(Config::new().clock(clock.clone()));
    let service = registry
        .create_service(Service {
            name: Some("orders".into()),
            host: "orders.internal".into(),
            ..Service::default()
        })
        .unwrap();
    registry
        .create_route(Route {
            name: Some("orders".into()),
            paths: Some(vec!["/orders".into()]),
            service: Some(ServiceRef { id: service.id }),
            ..Route::default()
        })
        .unwrap();
    (registry, clock)
}

fn req() -> Request<'static> {
    Request::new("GET", "shop.example.com", "/orders/7")
}

fn picks(registry: &Registry, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let m = registry.find_and_pick(&req()).expect("a match");
        let b = m.backend.expect("a backend");
        *seen.entry(format!("{}:{}", b.address, b.port)).or_default() += 1;
    }
    seen
}

#[test]
fn routes_pick_from_their_service_upstream() {
    let (r, _) = registry();
    // No upstream yet: the route matches, with no backend to pick.
    assert!(r.find_and_pick(&req()).unwrap().backend.is_none());
    r.put_upstream(
        "orders",
        vec![
            Backend::new("10.0.0.1", 80).with_weight(1),
            Backend::new("10.0.0.2", 80).with_weight(2),
            Backend::new("10.0.0.3", 80).with_weight(7),
        ],
        PoolConfig::new().strategy(Strategy::RoundRobin),
    )
    .unwrap();
    let seen = picks(&r, 1000);
    assert_eq!(seen["10.0.0.1:80"], 100);
    assert_eq!(seen["10.0.0.2:80"], 200);
    assert_eq!(seen["10.0.0.3:80"], 700);

    // Tiers: the standby serves only while tier 0 has nobody eligible.
    r.put_upstream(
        "orders",
        vec![
            Backend::new("10.0.0.1", 80).with_state(BackendState::Down),
            Backend::new("10.0.0.9", 80).with_tier(1),
        ],
        PoolConfig::new(),
    )
    .unwrap();
    assert_eq!(picks(&r, 10).keys().collect::<Vec<_>>(), ["10.0.0.9:80"]);
    r.put_upstream(
        "orders",
        vec![
            Backend::new("10.0.0.1", 80),
            Backend::new("10.0.0.9", 80).with_tier(1),
        ],
        PoolConfig::new(),
    )
    .unwrap();
    assert_eq!(picks(&r, 10).keys().collect::<Vec<_>>(), ["10.0.0.1:80"]);

    // Consistent hashing keeps a caller key on its backend.
    r.put_upstream(
        "orders",
        (1..=20)
            .map(|i| Backend::new(format!("10.1.0.{i}"), 80))
            .collect(),
        PoolConfig::new().strategy(Strategy::ConsistentHash),
    )
    .unwrap();
    let pick = |key: &str| {
        r.lookup(&req(), |f| {
            f.pick_with(&PickInput::new().key(key.as_bytes()))
                .map(|b| b.backend().address.clone())
        })
        .flatten()
        .unwrap()
    };
    for key in ["alice", "bob", "carol"] {
        let first = pick(key);
        assert!((0..10).all(|_| pick(key) == first));
    }
}

#[test]
fn upstream_errors_change_nothing() {
    let (r, _) = registry();
    let err = r
        .put_upstream(
            "nothing",
            vec![Backend::new("10.0.0.1", 80)],
            PoolConfig::new(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        r.delete_upstream("orders").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(r.upstream("orders").is_none());
    let revision = r.revision();
    assert_eq!(
        r.delete_split("orders").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(r.revision(), revision);
}

#[test]
fn version_splits_follow_cdap_rules_and_percentages() {
    let (r, _) = registry();
    r.put_upstream(
        "orders",
        vec![
            Backend::new("10.0.0.1", 80).with_version("v1"),
            Backend::new("10.0.0.2", 80).with_version("v1"),
            Backend::new("10.0.0.3", 80).with_version("v2"),
        ],
        PoolConfig::new(),
    )
    .unwrap();
    let cases = [
        (
            Split::new(),
            "Route config contains invalid format or empty content.",
        ),
        (
            Split::new().with("v1", 50).with("v9", 50),
            "The following versions of the application/service could not be found : [v9]",
        ),
        (
            Split::new().with("v1", 150).with("v2", -50),
            "Route Percentage for version v1 must be between 0 and 100, got 150.",
        ),
        (
            Split::new().with("v1", 50).with("v2", 40),
            "Route Percentage needs to add up to 100.",
        ),
    ];
    for (split, message) in cases {
        let err = r.set_split("orders", SplitConfig::new(split)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.message(), message);
        assert!(r.split("orders").is_none());
    }
    r.set_split(
        "orders",
        SplitConfig::new(Split::new().with("v1", 80).with("v2", 20)),
    )
    .unwrap();
    assert_eq!(
        r.split("orders").unwrap().split.unwrap().percentages()["v1"],
        80
    );
    // Per version, not per instance: v2's one backend takes 20 of every 100.
    let seen = picks(&r, 1000);
    assert_eq!(seen["10.0.0.3:80"], 200);
    assert_eq!(seen["10.0.0.1:80"] + seen["10.0.0.2:80"], 800);
    r.delete_split("orders").unwrap();
    assert!(r.split("orders").is_none());
    assert_eq!(
        r.delete_split("orders").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn connections_are_counted_and_drained_backends_leave() {
    let (r, clock) = registry();
    r.put_upstream(
        "orders",
        vec![Backend::new("10.0.0.1", 80).with_max_connections(1)],
        PoolConfig::new(),
    )
    .unwrap();
    let conn = r
        .lookup(&req(), |f| f.connect(&PickInput::new()))
        .flatten()
        .expect("a slot");
    conn.established();
    conn.add_rx(1000);
    // The cap holds: no second slot.
    assert!(r
        .lookup(&req(), |f| f.connect(&PickInput::new()))
        .flatten()
        .is_none());
    let stats = r.pool("orders").unwrap().stats();
    assert_eq!(stats.active_connections, 1);
    assert_eq!(stats.rx_total, 1000);
    r.sample_stats(clock.now());
    clock.advance(Duration::from_secs(2));
    conn.add_rx(4000);
    r.sample_stats(clock.now());
    assert_eq!(r.pool("orders").unwrap().stats().rx_second, 2000);

    // Draining: no new picks; it leaves once its connection closes, and its
    // counters survived the rebuild that marked it.
    r.put_upstream(
        "orders",
        vec![
            Backend::new("10.0.0.1", 80)
                .with_max_connections(1)
                .with_state(BackendState::Draining),
            Backend::new("10.0.0.2", 80),
        ],
        PoolConfig::new(),
    )
    .unwrap();
    assert_eq!(picks(&r, 4).keys().collect::<Vec<_>>(), ["10.0.0.2:80"]);
    assert_eq!(r.remove_drained(), 0);
    drop(conn);
    assert_eq!(r.remove_drained(), 1);
    let left: Vec<String> = r
        .upstream("orders")
        .unwrap()
        .backends
        .iter()
        .map(|b| b.address.clone())
        .collect();
    assert_eq!(left, ["10.0.0.2"]);
}

#[test]
fn upstreams_have_events_snapshots_and_batches() {
    let (r, _) = registry();
    let start = r.snapshot();
    let mut events = r.subscribe(Filter::all(), Some(start.revision)).unwrap();
    r.apply(vec![Change::PutUpstream {
        service: "orders".into(),
        backends: vec![Backend::new("10.0.0.1", 80)],
        config: PoolConfig::new(),
    }])
    .unwrap();
    // A failing batch leaves the upstream as it was.
    let err = r
        .apply(vec![
            Change::PutUpstream {
                service: "orders".into(),
                backends: vec![Backend::new("10.0.0.2", 80)],
                config: PoolConfig::new(),
            },
            Change::DeleteUpstream {
                service: "missing".into(),
            },
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        r.upstream("orders").unwrap().backends[0].address,
        "10.0.0.1"
    );

    // Deleting the route then the service takes the upstream with it.
    r.delete_route("orders").unwrap();
    r.delete_service("orders").unwrap();
    let mut seen = Vec::new();
    let mut rebuilt: Snapshot = start;
    while let Ok(Some(event)) = events.try_recv() {
        seen.push((event.action, event.object.kind()));
        rebuilt.apply(&event);
    }
    assert!(seen.contains(&(Action::Upsert, Kind::Upstream)));
    assert!(seen.contains(&(Action::Delete, Kind::Upstream)));
    let upstream_delete = seen
        .iter()
        .position(|e| *e == (Action::Delete, Kind::Upstream))
        .unwrap();
    let service_delete = seen
        .iter()
        .position(|e| *e == (Action::Delete, Kind::Service))
        .unwrap();
    assert!(upstream_delete < service_delete);
    assert_eq!(rebuilt, r.snapshot());
    assert!(r.upstreams().is_empty());
}

#[test]
fn restore_brings_upstreams_back() {
    let (source, _) = registry();
    source
        .put_upstream(
            "orders",
            vec![Backend::new("10.0.0.1", 80), Backend::new("10.0.0.2", 81)],
            PoolConfig::new().strategy(Strategy::LeastConnections),
        )
        .unwrap();
    let snap = source.snapshot();
    assert_eq!(snap.upstreams.len(), 1);
    let replica = Registry::new(Config::new());
    replica.restore(snap.clone()).unwrap();
    assert_eq!(replica.upstreams(), source.upstreams());
    assert!(replica.find_and_pick(&req()).unwrap().backend.is_some());

    // An upstream of a service the snapshot lacks is refused.
    let mut bad = snap;
    bad.services.clear();
    bad.routes.clear();
    let err = replica.restore(bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignKeyViolation);
    assert_eq!(replica.upstreams(), source.upstreams());
}
