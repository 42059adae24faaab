//! Registry semantics: upsert keys and modification tags, TTL leases and expiry,
//! router groups, port reservation, revisioned events, atomic batches and
//! snapshots.

use std::collections::BTreeSet;
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use routeyard::{
    Action, Change, Clock, Config, Error, ErrorKind, Event, Filter, HttpRoute, Kind, ManualClock,
    ModificationTag, Object, RecvError, Registry, RouterGroup, Snapshot, Subscription,
    TcpRouteMapping, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(1_000_000);
const WAIT: Duration = Duration::from_secs(5);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(offset: u64) -> Timestamp {
    T0.saturating_add(secs(offset))
}

fn setup_with(config: Config) -> (Registry, ManualClock) {
    let clock = ManualClock::new(T0);
    (Registry::new(config.clock(clock.clone())), clock)
}

fn setup() -> (Registry, ManualClock) {
    setup_with(Config::new())
}

fn tcp_group(registry: &Registry, name: &str, ports: &str) -> String {
    let (group, created) = registry
        .create_router_group(RouterGroup::new(name, "tcp", ports))
        .expect("router group");
    assert!(created);
    group.guid.to_string()
}

fn http(route: &str) -> HttpRoute {
    HttpRoute::new(route, "10.0.0.1", 8080)
}

fn tcp(guid: &str, port: u16, backend_port: u16) -> TcpRouteMapping {
    TcpRouteMapping::new(guid, port, "10.0.0.1", backend_port)
}

fn only_http(registry: &Registry) -> HttpRoute {
    let routes = registry.http_routes();
    assert_eq!(routes.len(), 1, "{routes:?}");
    routes.into_iter().next().unwrap()
}

fn only_tcp(registry: &Registry) -> TcpRouteMapping {
    let mappings = registry.tcp_route_mappings();
    assert_eq!(mappings.len(), 1, "{mappings:?}");
    mappings.into_iter().next().unwrap()
}

/// Every event ready now; panics on a lag or close.
fn drain(events: &mut Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        match events.try_recv() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return out,
            Err(e) => panic!("unexpected {e:?} after {out:?}"),
        }
    }
}

fn summary(events: &[Event]) -> Vec<(u64, Action, Kind)> {
    events
        .iter()
        .map(|e| (e.revision, e.action, e.kind()))
        .collect()
}

fn revisions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

fn http_of(event: &Event) -> &HttpRoute {
    match &event.object {
        Object::HttpRoute(r) => r,
        other => panic!("not an HTTP route: {other:?}"),
    }
}

fn tcp_of(event: &Event) -> &TcpRouteMapping {
    match &event.object {
        Object::TcpRouteMapping(m) => m,
        other => panic!("not a TCP mapping: {other:?}"),
    }
}

fn reservation_port(event: &Event) -> u16 {
    match &event.object {
        Object::PortReservation(r) => r.port,
        other => panic!("not a reservation: {other:?}"),
    }
}

fn assert_kind(err: &Error, kind: ErrorKind, message: &str) {
    assert_eq!(err.kind(), kind, "{err:?}");
    assert_eq!(err.message(), message, "{err:?}");
}

/// Runs `f` on another thread and fails the test if it does not finish in time
/// (for code that must terminate or must not block).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT).expect("did not finish in time")
}

// ---------------------------------------------------------------------------
// Modification tags and upserts
// ---------------------------------------------------------------------------

fn assert_uuid_v4(guid: &str) {
    let parsed = uuid::Uuid::parse_str(guid).unwrap_or_else(|e| panic!("{guid:?}: {e}"));
    assert_eq!(parsed.get_version_num(), 4, "{guid}");
}

#[test]
fn http_tags_fresh_on_create_bumped_on_update_new_after_recreate() {
    let (registry, _) = setup();
    let route = http("app.example.com");
    registry.upsert_http_routes(vec![route.clone()]).unwrap();
    let created = only_http(&registry).modification_tag;
    assert_uuid_v4(&created.guid);
    assert_eq!(created.index, 0);

    for expected_index in 1..=3 {
        registry.upsert_http_routes(vec![route.clone()]).unwrap();
        let tag = only_http(&registry).modification_tag;
        assert_eq!(tag.guid, created.guid);
        assert_eq!(tag.index, expected_index);
    }

    registry
        .delete_http_routes(std::slice::from_ref(&route))
        .unwrap();
    registry.upsert_http_routes(vec![route]).unwrap();
    let recreated = only_http(&registry).modification_tag;
    assert_uuid_v4(&recreated.guid);
    assert_ne!(recreated.guid, created.guid);
    assert_eq!(recreated.index, 0);
    assert!(created.succeeded_by(&recreated));
}

#[test]
fn distinct_routes_get_distinct_tag_guids() {
    let (registry, _) = setup();
    registry
        .upsert_http_routes(vec![http("a.example.com"), http("b.example.com")])
        .unwrap();
    let guids: BTreeSet<_> = registry
        .http_routes()
        .into_iter()
        .map(|r| r.modification_tag.guid)
        .collect();
    assert_eq!(guids.len(), 2);
}

#[test]
fn tcp_tags_fresh_on_create_bumped_on_update_new_after_recreate() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    let mapping = tcp(&g, 5200, 6000);
    registry
        .upsert_tcp_route_mappings(vec![mapping.clone()])
        .unwrap();
    let created = only_tcp(&registry).modification_tag;
    assert_uuid_v4(&created.guid);
    assert_eq!(created.index, 0);

    registry
        .upsert_tcp_route_mappings(vec![mapping.clone()])
        .unwrap();
    let updated = only_tcp(&registry).modification_tag;
    assert_eq!(
        (updated.guid.clone(), updated.index),
        (created.guid.clone(), 1)
    );

    registry
        .delete_tcp_route_mappings(std::slice::from_ref(&mapping))
        .unwrap();
    assert!(registry.tcp_route_mappings().is_empty());
    registry.upsert_tcp_route_mappings(vec![mapping]).unwrap();
    let recreated = only_tcp(&registry).modification_tag;
    assert_ne!(recreated.guid, created.guid);
    assert_eq!(recreated.index, 0);
}

#[test]
fn client_supplied_modification_tags_are_ignored() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    let client_tag = |guid: &str, index| ModificationTag {
        guid: guid.into(),
        index,
    };

    let mut route = http("app.example.com");
    route.modification_tag = client_tag("client-guid", 7);
    registry.upsert_http_routes(vec![route.clone()]).unwrap();
    let created = only_http(&registry).modification_tag;
    assert_ne!(&*created.guid, "client-guid");
    assert_eq!(created.index, 0);
    route.modification_tag = client_tag("other-guid", 42);
    registry.upsert_http_routes(vec![route]).unwrap();
    let updated = only_http(&registry).modification_tag;
    assert_eq!((updated.guid, updated.index), (created.guid, 1));

    let mut mapping = tcp(&g, 5200, 6000);
    mapping.modification_tag = client_tag("client-guid", 9);
    registry
        .upsert_tcp_route_mappings(vec![mapping.clone()])
        .unwrap();
    let created = only_tcp(&registry).modification_tag;
    assert_ne!(&*created.guid, "client-guid");
    assert_eq!(created.index, 0);
    mapping.modification_tag = client_tag(&created.guid, 100);
    registry.upsert_tcp_route_mappings(vec![mapping]).unwrap();
    assert_eq!(only_tcp(&registry).modification_tag.index, 1);
}

#[test]
fn omitted_ttl_is_max_ttl() {
    for (config, max) in [(Config::new(), 120), (Config::new().max_ttl(secs(60)), 60)] {
        let (registry, _) = setup_with(config);
        let g = tcp_group(&registry, "tcp-a", "1024-1100");
        registry
            .upsert_http_routes(vec![http("app.example.com")])
            .unwrap();
        registry
            .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000)])
            .unwrap();
        let route = only_http(&registry);
        assert_eq!(route.ttl, Some(max));
        assert_eq!(route.expires_at, at(max as u64));
        let mapping = only_tcp(&registry);
        assert_eq!(mapping.ttl, Some(max));
        assert_eq!(mapping.expires_at, at(max as u64));
    }
}

#[test]
fn explicit_ttl_sets_the_lease_and_is_replaced_on_update() {
    let (registry, clock) = setup();
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(30)])
        .unwrap();
    assert_eq!(only_http(&registry).expires_at, at(30));
    clock.advance(secs(5));
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(10)])
        .unwrap();
    let route = only_http(&registry);
    assert_eq!(route.ttl, Some(10));
    assert_eq!(route.expires_at, at(15));
}

#[test]
fn log_guid_is_replaced_only_when_not_empty() {
    let (registry, _) = setup();
    registry
        .upsert_http_routes(vec![http("app.example.com").with_log_guid("log-1")])
        .unwrap();
    assert_eq!(&*only_http(&registry).log_guid, "log-1");
    registry
        .upsert_http_routes(vec![http("app.example.com")])
        .unwrap();
    let kept = only_http(&registry);
    assert_eq!(&*kept.log_guid, "log-1");
    assert_eq!(kept.modification_tag.index, 1);
    registry
        .upsert_http_routes(vec![http("app.example.com").with_log_guid("log-2")])
        .unwrap();
    let replaced = only_http(&registry);
    assert_eq!(&*replaced.log_guid, "log-2");
    assert_eq!(replaced.modification_tag.index, 2);
}

/// Each row is upserted after `base`; the second value is how many entries the
/// registry then holds (1: same key, an update; 2: a different key).
struct HttpKeyTest {
    base: HttpRoute,
    rows: Vec<(HttpRoute, usize)>,
}

impl HttpKeyTest {
    fn run(self) {
        for (second, entries) in self.rows {
            let (registry, _) = setup();
            registry
                .upsert_http_routes(vec![self.base.clone()])
                .unwrap();
            registry.upsert_http_routes(vec![second.clone()]).unwrap();
            let routes = registry.http_routes();
            assert_eq!(routes.len(), entries, "row {second:?}: {routes:?}");
            let max_index = routes
                .iter()
                .map(|r| r.modification_tag.index)
                .max()
                .unwrap();
            assert_eq!(
                max_index,
                if entries == 1 { 1 } else { 0 },
                "row {second:?}"
            );
            assert_eq!(registry.revision(), 2, "row {second:?}");
        }
    }
}

#[test]
fn http_upsert_key_is_route_ip_port_and_route_service_url() {
    let base = HttpRoute::new("app.example.com/api", "10.0.0.1", 8080)
        .with_log_guid("log-1")
        .with_route_service_url("https://rs.example.com");
    HttpKeyTest {
        base: base.clone(),
        rows: vec![
            (base.clone(), 1),
            (base.clone().with_log_guid("log-2"), 1),
            (base.clone().with_ttl(5), 1),
            (
                base.clone()
                    .with_route_service_url("https://other-rs.example.com"),
                2,
            ),
            (
                HttpRoute {
                    route_service_url: "".into(),
                    ..base.clone()
                },
                2,
            ),
            (
                HttpRoute {
                    port: 8081,
                    ..base.clone()
                },
                2,
            ),
            (
                HttpRoute {
                    ip: "10.0.0.2".into(),
                    ..base.clone()
                },
                2,
            ),
            (
                HttpRoute {
                    route: "app.example.com/api2".into(),
                    ..base.clone()
                },
                2,
            ),
            (
                HttpRoute {
                    route: "app.example.com/api/".into(),
                    ..base
                },
                2,
            ),
        ],
    }
    .run();
}

/// As [`HttpKeyTest`] for TCP mappings; `{a}` and `{b}` in a row's group guid
/// stand for the two router groups of the test.
struct TcpKeyTest {
    base: TcpRouteMapping,
    rows: Vec<(TcpRouteMapping, usize)>,
}

impl TcpKeyTest {
    fn run(self) {
        for (second, entries) in self.rows {
            let (registry, _) = setup();
            let a = tcp_group(&registry, "tcp-a", "1024-1100");
            let b = tcp_group(&registry, "tcp-b", "2000-2100");
            let resolve = |mut m: TcpRouteMapping| {
                m.router_group_guid = m
                    .router_group_guid
                    .replace("{a}", &a)
                    .replace("{b}", &b)
                    .into();
                m
            };
            registry
                .upsert_tcp_route_mappings(vec![resolve(self.base.clone())])
                .unwrap();
            registry
                .upsert_tcp_route_mappings(vec![resolve(second.clone())])
                .unwrap();
            let mappings = registry.tcp_route_mappings();
            assert_eq!(mappings.len(), entries, "row {second:?}: {mappings:?}");
            assert_eq!(registry.revision(), 4, "row {second:?}");
        }
    }
}

#[test]
fn tcp_upsert_key_leaves_out_instance_id() {
    let mut base = TcpRouteMapping::new("{a}", 5200, "10.0.0.1", 6000);
    base.instance_id = "instance-1".into();
    let with = |f: &dyn Fn(&mut TcpRouteMapping)| {
        let mut m = base.clone();
        f(&mut m);
        m
    };
    TcpKeyTest {
        base: base.clone(),
        rows: vec![
            (base.clone(), 1),
            (with(&|m| m.instance_id = "instance-2".into()), 1),
            (with(&|m| m.instance_id = "".into()), 1),
            (with(&|m| m.isolation_segment = "seg".into()), 1),
            (with(&|m| m.ttl = Some(5)), 1),
            (with(&|m| m.sni_rewrite_hostname = Some("rw".into())), 1),
            (with(&|m| m.terminate_frontend_tls = true), 1),
            (
                with(&|m| {
                    m.terminate_frontend_tls = true;
                    m.alpns = "h2".into();
                }),
                1,
            ),
            (with(&|m| m.backend_tls_port = 6001), 2),
            (
                with(&|m| m.backend_sni_hostname = Some("a.example.com".into())),
                2,
            ),
            // NULL-aware: an empty SNI host name is not an absent one.
            (with(&|m| m.backend_sni_hostname = Some("".into())), 2),
            (with(&|m| m.enable_backend_mtls = true), 2),
            (with(&|m| m.port = 5201), 2),
            (with(&|m| m.backend_ip = "10.0.0.2".into()), 2),
            (with(&|m| m.backend_port = 6001), 2),
            (with(&|m| m.router_group_guid = "{b}".into()), 2),
        ],
    }
    .run();
}

#[test]
fn tcp_update_keeps_instance_tls_and_alpns_and_replaces_segment_and_rewrite() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    let mut first = tcp(&g, 5200, 6000);
    first.instance_id = "instance-1".into();
    first.terminate_frontend_tls = true;
    first.alpns = "h2,http/1.1".into();
    first.isolation_segment = "seg-1".into();
    first.sni_rewrite_hostname = Some("rewrite-1".into());
    registry.upsert_tcp_route_mappings(vec![first]).unwrap();

    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let mut second = tcp(&g, 5200, 6000).with_ttl(30);
    second.instance_id = "instance-2".into();
    registry.upsert_tcp_route_mappings(vec![second]).unwrap();
    let stored = only_tcp(&registry);
    assert_eq!(&*stored.instance_id, "instance-1");
    assert!(stored.terminate_frontend_tls);
    assert_eq!(&*stored.alpns, "h2,http/1.1");
    assert_eq!(&*stored.isolation_segment, "");
    assert_eq!(stored.sni_rewrite_hostname, None);
    assert_eq!(stored.ttl, Some(30));
    assert_eq!(stored.modification_tag.index, 1);
    let published = drain(&mut events);
    assert_eq!(published.len(), 1);
    assert_eq!(tcp_of(&published[0]), &stored);

    let mut third = tcp(&g, 5200, 6000);
    third.isolation_segment = "seg-2".into();
    third.sni_rewrite_hostname = Some("rewrite-2".into());
    registry.upsert_tcp_route_mappings(vec![third]).unwrap();
    let stored = only_tcp(&registry);
    assert_eq!(&*stored.isolation_segment, "seg-2");
    assert_eq!(stored.sni_rewrite_hostname.as_deref(), Some("rewrite-2"));
    assert_eq!(&*stored.instance_id, "instance-1");
}

#[test]
fn delete_of_absent_is_ok_and_emits_nothing() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_http_routes(vec![http("present.example.com")])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000)])
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    assert_eq!(
        registry
            .delete_http_routes(&[http("absent.example.com")])
            .unwrap(),
        3
    );
    assert_eq!(
        registry
            .delete_tcp_route_mappings(&[tcp(&g, 5201, 6000), tcp("no-such-group", 5200, 6000)])
            .unwrap(),
        3
    );
    assert_eq!(registry.revision(), 3);
    assert!(drain(&mut events).is_empty());
    assert_eq!(registry.http_routes().len(), 1);
    assert_eq!(registry.tcp_route_mappings().len(), 1);
}

#[test]
fn delete_publishes_the_removed_object() {
    let (registry, _) = setup();
    registry
        .upsert_http_routes(vec![http("app.example.com").with_log_guid("log-1")])
        .unwrap();
    let stored = only_http(&registry);
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    registry
        .delete_http_routes(&[http("app.example.com")])
        .unwrap();
    let published = drain(&mut events);
    assert_eq!(summary(&published), [(2, Action::Delete, Kind::HttpRoute)]);
    assert_eq!(http_of(&published[0]), &stored);
}

/// Rows are isolation-segment filters and the backend ports of the mappings
/// they select, from mappings on backend ports 6000 (no segment), 6001 and 6003
/// (`seg-a`), 6002 (`seg-b`), and a lapsed one on 6004 (`seg-a`).
struct SegmentFilterTest(Vec<(Vec<&'static str>, Vec<u16>)>);

impl SegmentFilterTest {
    fn run(self) {
        let (registry, clock) = setup();
        let g = tcp_group(&registry, "tcp-a", "1024-1100");
        let in_segment = |port: u16, segment: &str| {
            let mut m = tcp(&g, 5200, port);
            m.isolation_segment = segment.into();
            m
        };
        registry
            .upsert_tcp_route_mappings(vec![
                in_segment(6004, "seg-a").with_ttl(5),
                in_segment(6000, ""),
                in_segment(6001, "seg-a"),
                in_segment(6002, "seg-b"),
                in_segment(6003, "seg-a"),
            ])
            .unwrap();
        clock.advance(secs(5));
        for (segments, expected) in self.0 {
            let mut got: Vec<u16> = registry
                .tcp_route_mappings_in(&segments)
                .iter()
                .map(|m| m.backend_port)
                .collect();
            got.sort_unstable();
            assert_eq!(got, expected, "segments {segments:?}");
        }
    }
}

#[test]
fn tcp_list_filters_by_isolation_segment() {
    SegmentFilterTest(vec![
        (vec!["seg-a"], vec![6001, 6003]),
        (vec!["seg-b"], vec![6002]),
        (vec!["seg-a", "seg-b"], vec![6001, 6002, 6003]),
        (vec![""], vec![6000]),
        (vec!["", "seg-b"], vec![6000, 6002]),
        (vec!["seg-c"], vec![]),
        (vec!["SEG-A"], vec![]),
    ])
    .run();
}

// ---------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------

#[test]
fn lapsed_entries_are_never_listed_even_before_expire() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(10)])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000).with_ttl(10)])
        .unwrap();
    registry.reserve_port(&g, Some(secs(10))).unwrap();
    let revision = registry.revision();

    clock.advance(Duration::from_millis(9_999));
    assert_eq!(registry.http_routes().len(), 1);
    assert_eq!(registry.tcp_route_mappings().len(), 1);
    assert_eq!(registry.tcp_route_mappings_in(&[""]).len(), 1);
    assert_eq!(registry.port_reservations().len(), 1);

    clock.advance(Duration::from_millis(1));
    assert!(registry.http_routes().is_empty());
    assert!(registry.tcp_route_mappings().is_empty());
    assert!(registry.tcp_route_mappings_in(&[""]).is_empty());
    assert!(registry.port_reservations().is_empty());
    // Nothing was removed yet: no event, and the snapshot still holds them.
    assert_eq!(registry.revision(), revision);
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.http_routes.len(), 1);
    assert_eq!(snapshot.tcp_route_mappings.len(), 1);
    assert_eq!(snapshot.port_reservations.len(), 1);

    assert_eq!(registry.expire(clock.now()), 3);
    let snapshot = registry.snapshot();
    assert!(snapshot.http_routes.is_empty());
    assert!(snapshot.tcp_route_mappings.is_empty());
    assert!(snapshot.port_reservations.is_empty());
}

#[test]
fn expire_removes_exactly_the_lapsed_leases() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_http_routes(vec![
            http("ten.example.com").with_ttl(10),
            http("twenty.example.com").with_ttl(20),
            http("thirty.example.com").with_ttl(30),
        ])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000).with_ttl(15)])
        .unwrap();
    registry.reserve_port(&g, Some(secs(25))).unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();

    assert_eq!(registry.expire(at(9)), 0);
    assert!(drain(&mut events).is_empty());

    clock.set(at(20));
    assert_eq!(registry.expire(clock.now()), 3);
    let expired = drain(&mut events);
    assert_eq!(revisions(&expired), [7, 8, 9]);
    assert!(expired.iter().all(|e| e.action == Action::Expire));
    let mut gone: Vec<String> = expired
        .iter()
        .map(|e| match &e.object {
            Object::HttpRoute(r) => r.route.to_string(),
            Object::TcpRouteMapping(m) => m.backend_port.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    gone.sort();
    assert_eq!(gone, ["6000", "ten.example.com", "twenty.example.com"]);
    assert_eq!(only_http(&registry).route.as_ref(), "thirty.example.com");
    assert_eq!(registry.port_reservations().len(), 1);

    // Nothing more is due: a second sweep removes and publishes nothing.
    assert_eq!(registry.expire(clock.now()), 0);
    assert!(drain(&mut events).is_empty());
    assert_eq!(registry.revision(), 9);

    // `expire` uses the time it is given, not the clock.
    assert_eq!(registry.expire(at(30)), 2);
    assert_eq!(registry.snapshot().http_routes.len(), 0);
    assert_eq!(registry.snapshot().port_reservations.len(), 0);
}

#[test]
fn renewal_before_lapse_extends_the_lease() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(10)])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000).with_ttl(10)])
        .unwrap();
    clock.advance(secs(5));
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(10)])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000).with_ttl(10)])
        .unwrap();
    clock.advance(secs(5));
    // The first schedule is due now, but the leases were renewed.
    assert_eq!(registry.expire(clock.now()), 0);
    assert_eq!(registry.http_routes().len(), 1);
    assert_eq!(registry.tcp_route_mappings().len(), 1);
    clock.advance(Duration::from_millis(4_999));
    assert_eq!(registry.expire(clock.now()), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(registry.expire(clock.now()), 2);
}

#[test]
fn many_renewed_leases_expire_exactly_once_each() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-9000");
    let routes: Vec<HttpRoute> = (0..3000)
        .map(|i| http(&format!("r{i}.example.com")).with_ttl(10))
        .collect();
    let mappings: Vec<TcpRouteMapping> = (0..600).map(|i| tcp(&g, 5000 + i, 6000)).collect();
    // Renewals leave stale schedule entries behind; there are enough of them to
    // make the registry rebuild its schedule.
    for _ in 0..3 {
        registry.upsert_http_routes(routes.clone()).unwrap();
        registry
            .upsert_tcp_route_mappings(mappings.iter().map(|m| m.clone().with_ttl(20)).collect())
            .unwrap();
        clock.advance(secs(1));
    }
    for _ in 0..50 {
        registry.reserve_port(&g, Some(secs(30))).unwrap();
    }
    let start = registry.revision();
    clock.set(at(12));
    assert_eq!(registry.expire(clock.now()), 3000);
    assert_eq!(registry.revision(), start + 3000);
    assert!(registry.http_routes().is_empty());
    assert_eq!(registry.tcp_route_mappings().len(), 600);
    clock.set(at(22));
    assert_eq!(registry.expire(clock.now()), 600);
    clock.set(at(45));
    assert_eq!(registry.expire(clock.now()), 50);
    assert_eq!(registry.expire(clock.now()), 0);
    let mut events = registry.subscribe(Filter::all(), Some(start)).unwrap();
    let expired = drain(&mut events);
    assert_eq!(
        revisions(&expired),
        (start + 1..=start + 3650).collect::<Vec<_>>()
    );
    assert!(expired.iter().all(|e| e.action == Action::Expire));
    assert_eq!(
        registry.snapshot(),
        Snapshot {
            revision: start + 3650,
            router_groups: registry.router_groups(),
            ..Snapshot::default()
        }
    );
}

#[test]
fn upsert_of_lapsed_unswept_key_expires_it_then_creates_with_new_guid() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(10)])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000).with_ttl(10)])
        .unwrap();
    let old_http = registry.snapshot().http_routes[0].clone();
    let old_tcp = registry.snapshot().tcp_route_mappings[0].clone();
    clock.advance(secs(10));
    let mut events = registry.subscribe(Filter::all(), None).unwrap();

    registry
        .upsert_http_routes(vec![http("app.example.com")])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 5200, 6000)])
        .unwrap();
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [
            (4, Action::Expire, Kind::HttpRoute),
            (5, Action::Upsert, Kind::HttpRoute),
            (6, Action::Expire, Kind::TcpRouteMapping),
            (7, Action::Upsert, Kind::TcpRouteMapping),
        ]
    );
    assert_eq!(http_of(&published[0]), &old_http);
    assert_eq!(tcp_of(&published[2]), &old_tcp);
    let new_http = only_http(&registry);
    assert_ne!(
        new_http.modification_tag.guid,
        old_http.modification_tag.guid
    );
    assert_eq!(new_http.modification_tag.index, 0);
    assert_eq!(http_of(&published[1]), &new_http);
    let new_tcp = only_tcp(&registry);
    assert_ne!(new_tcp.modification_tag.guid, old_tcp.modification_tag.guid);
    assert_eq!(new_tcp.modification_tag.index, 0);
    // The old lease's schedule does not remove the new entries.
    assert_eq!(registry.expire(clock.now()), 0);
}

#[test]
fn reaper_expires_with_the_registry_clock_and_stops() {
    let (registry, clock) = setup();
    let registry = Arc::new(registry);
    registry
        .upsert_http_routes(vec![http("app.example.com").with_ttl(1)])
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let reaper = registry.start_reaper(Duration::from_millis(10));
    assert!(reaper.is_running());
    assert_eq!(Arc::strong_count(&registry), 2);
    clock.advance(secs(1));
    let event = events.recv_timeout(WAIT).expect("expire event");
    assert_eq!((event.revision, event.action), (2, Action::Expire));
    assert_eq!(http_of(&event).route.as_ref(), "app.example.com");
    assert!(registry.snapshot().http_routes.is_empty());

    // A second lapse is swept too: the reaper keeps running.
    registry
        .upsert_http_routes(vec![http("two.example.com").with_ttl(1)])
        .unwrap();
    assert_eq!(events.recv_timeout(WAIT).unwrap().action, Action::Upsert);
    clock.advance(secs(1));
    assert_eq!(events.recv_timeout(WAIT).unwrap().action, Action::Expire);

    reaper.stop();
    // The thread has finished and released its handle on the registry.
    assert_eq!(Arc::strong_count(&registry), 1);
}

#[test]
fn reaper_stops_when_dropped() {
    let (registry, _) = setup();
    let registry = Arc::new(registry);
    let reaper = registry.start_reaper(Duration::from_millis(10));
    assert!(reaper.is_running());
    assert_eq!(Arc::strong_count(&registry), 2);
    within(move || drop(reaper));
    assert_eq!(Arc::strong_count(&registry), 1);
}

// ---------------------------------------------------------------------------
// Router groups
// ---------------------------------------------------------------------------

#[test]
fn create_router_group_assigns_guid_and_publishes() {
    let (registry, _) = setup();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let mut input = RouterGroup::new("default-tcp", "tcp", "1024-1033");
    input.guid = "client-guid".into();
    let (group, created) = registry.create_router_group(input).unwrap();
    assert!(created);
    assert_ne!(&*group.guid, "client-guid");
    assert_uuid_v4(&group.guid);
    assert_eq!(
        (&*group.name, &*group.group_type, &*group.reservable_ports),
        ("default-tcp", "tcp", "1024-1033")
    );
    assert_eq!(registry.router_group(&group.guid), Some(group.clone()));
    assert_eq!(registry.router_group("client-guid"), None);
    assert_eq!(registry.router_group_by_name("default-tcp").unwrap(), group);
    assert_eq!(registry.router_groups(), vec![group.clone()]);
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [(1, Action::Upsert, Kind::RouterGroup)]
    );
    assert_eq!(published[0].object, Object::RouterGroup(Arc::new(group)));
}

#[test]
fn create_with_same_name_and_type_returns_existing_without_event() {
    let (registry, _) = setup();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let (again, created) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "2000-2100"))
        .unwrap();
    assert!(!created);
    assert_eq!(again, group);
    assert_eq!(
        registry.router_group(&group.guid).unwrap().reservable_ports,
        group.reservable_ports
    );
    assert_eq!(registry.revision(), 1);
    assert!(drain(&mut events).is_empty());
    assert_eq!(registry.router_groups().len(), 1);
}

#[test]
fn create_with_same_name_and_type_returns_existing_before_validating() {
    // CF looks for a group of the same name and type before it validates the
    // body, so an existing group is returned even for a body it would refuse.
    let (registry, _) = setup();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    let (again, created) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", ""))
        .expect("existing group");
    assert!(!created);
    assert_eq!(again, group);
    assert_eq!(registry.revision(), 1);
}

#[test]
fn create_with_same_name_and_other_type_conflicts() {
    let (registry, _) = setup();
    registry
        .create_router_group(RouterGroup::new("shared", "tcp", "1024-1033"))
        .unwrap();
    let err = registry
        .create_router_group(RouterGroup::new("shared", "http", ""))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.cf_name(), "DBConflictError");
    assert_eq!(registry.router_groups().len(), 1);
    assert_eq!(registry.revision(), 1);
}

#[test]
fn update_router_group_changes_only_reservable_ports() {
    let (registry, _) = setup();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let updated = registry
        .update_router_group(&group.guid, "2000-2010,3000")
        .unwrap();
    let expected = RouterGroup {
        reservable_ports: "2000-2010,3000".into(),
        ..group.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(registry.router_group(&group.guid), Some(expected.clone()));
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [(2, Action::Upsert, Kind::RouterGroup)]
    );
    assert_eq!(published[0].object, Object::RouterGroup(Arc::new(expected)));
    // The new ranges take effect for reservations.
    assert_eq!(registry.reserve_port(&group.guid, None).unwrap().port, 2000);
}

#[test]
fn update_router_group_with_unchanged_ports_commits_nothing() {
    let (registry, _) = setup();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let same = registry
        .update_router_group(&group.guid, "1024-1033")
        .unwrap();
    assert_eq!(same, group);
    assert_eq!(registry.revision(), 1);
    assert!(drain(&mut events).is_empty());
}

#[test]
fn update_router_group_is_validated_against_its_type() {
    let (registry, _) = setup();
    let (http_group, _) = registry
        .create_router_group(RouterGroup::new("default-http", "http", ""))
        .unwrap();
    let err = registry
        .update_router_group(&http_group.guid, "1024-1033")
        .unwrap_err();
    assert_kind(
        &err,
        ErrorKind::RouterGroupInvalid,
        "reservable ports are not supported for router groups of type http",
    );
    assert_eq!(registry.router_group(&http_group.guid), Some(http_group));
    assert_eq!(registry.revision(), 1);
}

#[test]
fn update_and_delete_of_unknown_router_group_are_not_found() {
    let (registry, _) = setup();
    let err = registry
        .update_router_group("no-such-guid", "1024")
        .unwrap_err();
    assert_kind(
        &err,
        ErrorKind::NotFound,
        "router group 'no-such-guid' does not exist",
    );
    assert_eq!(err.cf_name(), "ResourceNotFoundError");
    let err = registry.delete_router_group("no-such-guid").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(registry.revision(), 0);
}

#[test]
fn router_group_by_name_not_found() {
    let (registry, _) = setup();
    tcp_group(&registry, "default-tcp", "1024-1033");
    let err = registry.router_group_by_name("other").unwrap_err();
    assert_kind(&err, ErrorKind::NotFound, "router group 'other' not found");
    assert_eq!(err.cf_name(), "ResourceNotFoundError");
    assert!(registry.router_group_by_name("default-tcp").is_ok());
}

#[test]
fn delete_router_group_removes_its_reservations_but_keeps_its_mappings() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1033");
    let other = tcp_group(&registry, "tcp-b", "2000-2010");
    registry.reserve_port(&g, None).unwrap();
    registry.reserve_port(&g, None).unwrap();
    registry.reserve_port(&other, None).unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1030, 6000)])
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();

    registry.delete_router_group(&g).unwrap();
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [
            (7, Action::Delete, Kind::PortReservation),
            (8, Action::Delete, Kind::PortReservation),
            (9, Action::Delete, Kind::RouterGroup),
        ]
    );
    let mut released: Vec<u16> = published[..2].iter().map(reservation_port).collect();
    released.sort_unstable();
    assert_eq!(released, [1024, 1025]);
    assert_eq!(registry.router_group(&g), None);
    assert!(registry.router_group_by_name("tcp-a").is_err());
    let left: Vec<_> = registry
        .port_reservations()
        .into_iter()
        .map(|r| (r.router_group_guid.to_string(), r.port))
        .collect();
    assert_eq!(left, [(other, 2000)]);
    assert_eq!(only_tcp(&registry).router_group_guid.as_ref(), g);
    // The name is free again.
    let (again, created) = registry
        .create_router_group(RouterGroup::new("tcp-a", "http", ""))
        .unwrap();
    assert!(created);
    assert_ne!(&*again.guid, g);
}

// ---------------------------------------------------------------------------
// Port reservation
// ---------------------------------------------------------------------------

#[test]
fn reserve_takes_the_lowest_port_no_mapping_or_reservation_holds() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1024, 6000), tcp(&g, 1027, 6001)])
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let r = registry.reserve_port(&g, Some(secs(30))).unwrap();
    assert_eq!(r.port, 1025);
    assert_eq!(&*r.router_group_guid, g);
    assert_eq!(r.expires_at, at(30));
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1026);
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1028);
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [
            (4, Action::Upsert, Kind::PortReservation),
            (5, Action::Upsert, Kind::PortReservation),
            (6, Action::Upsert, Kind::PortReservation),
        ]
    );
    let mut held: Vec<u16> = registry
        .port_reservations()
        .iter()
        .map(|r| r.port)
        .collect();
    held.sort_unstable();
    assert_eq!(held, [1025, 1026, 1028]);
}

#[test]
fn reservation_ttl_defaults_to_config() {
    let (registry, _) = setup_with(Config::new().reservation_ttl(secs(7)));
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    assert_eq!(registry.reserve_port(&g, None).unwrap().expires_at, at(7));
    let (registry, _) = setup_with(Config::new().max_ttl(secs(50)));
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    assert_eq!(registry.reserve_port(&g, None).unwrap().expires_at, at(50));
}

#[test]
fn lapsed_mapping_or_reservation_frees_its_port() {
    let (registry, clock) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1024, 6000).with_ttl(10)])
        .unwrap();
    assert_eq!(
        registry.reserve_port(&g, Some(secs(10))).unwrap().port,
        1025
    );
    assert_eq!(
        registry.reserve_port(&g, Some(secs(60))).unwrap().port,
        1026
    );
    clock.advance(secs(10));
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1024);
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1025);
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1027);
    assert!(registry.tcp_route_mappings().is_empty());
}

#[test]
fn new_mapping_claims_the_reservation_of_its_port() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    let reservation = registry.reserve_port(&g, None).unwrap();
    assert_eq!(reservation.port, 1024);
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1024, 6000)])
        .unwrap();
    assert!(registry.port_reservations().is_empty());
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [
            (3, Action::Delete, Kind::PortReservation),
            (4, Action::Upsert, Kind::TcpRouteMapping),
        ]
    );
    assert_eq!(
        published[0].object,
        Object::PortReservation(Arc::new(reservation))
    );
    // The port stays held, now by the mapping.
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1025);
    assert!(registry.release_port(&g, 1024).is_err());
}

#[test]
fn release_frees_a_reserved_port() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry.reserve_port(&g, None).unwrap();
    registry.reserve_port(&g, None).unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    assert_eq!(registry.release_port(&g, 1024).unwrap(), 4);
    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [(4, Action::Delete, Kind::PortReservation)]
    );
    assert_eq!(reservation_port(&published[0]), 1024);
    let held: Vec<u16> = registry
        .port_reservations()
        .iter()
        .map(|r| r.port)
        .collect();
    assert_eq!(held, [1025]);
    assert_eq!(registry.reserve_port(&g, None).unwrap().port, 1024);
}

#[test]
fn release_of_unreserved_port_is_not_found() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry.reserve_port(&g, None).unwrap();
    for (group, port) in [
        (g.as_str(), 1025),
        (g.as_str(), 9999),
        ("no-such-group", 1024),
    ] {
        let err = registry.release_port(group, port).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{group} {port}");
    }
    registry.release_port(&g, 1024).unwrap();
    let err = registry.release_port(&g, 1024).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(registry.revision(), 3);
}

#[test]
fn reserve_reports_exhaustion() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "2000-2002");
    let ports: Vec<u16> = (0..3)
        .map(|_| registry.reserve_port(&g, None).unwrap().port)
        .collect();
    assert_eq!(ports, [2000, 2001, 2002]);
    let err = registry.reserve_port(&g, None).unwrap_err();
    assert_kind(
        &err,
        ErrorKind::PortRangeExhausted,
        "There are no free ports in range: [2000-2002]",
    );
    assert_eq!(err.cf_name(), "PortRangeExhaustedError");
    assert_eq!(registry.revision(), 4);

    let multi = tcp_group(&registry, "tcp-b", "3000-3001,4000");
    for expected in [3000, 3001, 4000] {
        assert_eq!(registry.reserve_port(&multi, None).unwrap().port, expected);
    }
    let err = registry.reserve_port(&multi, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PortRangeExhausted);
    assert!(
        err.message()
            .starts_with("There are no free ports in range: "),
        "{err:?}"
    );
}

#[test]
fn reserve_in_a_range_ending_at_65535_terminates() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "top", "65530-65535");
    let registry = Arc::new(registry);
    let worker = Arc::clone(&registry);
    let (ports, err) = within(move || {
        let mut ports = Vec::new();
        loop {
            match worker.reserve_port(&g, None) {
                Ok(r) => ports.push(r.port),
                Err(e) => return (ports, e),
            }
        }
    });
    assert_eq!(ports, [65530, 65531, 65532, 65533, 65534, 65535]);
    assert_kind(
        &err,
        ErrorKind::PortRangeExhausted,
        "There are no free ports in range: [65530-65535]",
    );
}

#[test]
fn reserve_needs_a_group_with_reservable_ports() {
    let (registry, _) = setup();
    let (http_group, _) = registry
        .create_router_group(RouterGroup::new("default-http", "http", ""))
        .unwrap();
    let err = registry.reserve_port(&http_group.guid, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProcessRequest);
    let err = registry.reserve_port("no-such-group", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(registry.revision(), 1);
    assert!(registry.port_reservations().is_empty());
}

#[test]
fn concurrent_reservations_never_share_a_port() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "3000-3499");
    let threads = 8;
    let barrier = Barrier::new(threads);
    let per_thread: Vec<(Vec<u16>, Error)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut ports = Vec::new();
                    loop {
                        match registry.reserve_port(&g, None) {
                            Ok(r) => ports.push(r.port),
                            Err(e) => return (ports, e),
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u16> = Vec::new();
    for (ports, err) in &per_thread {
        assert_kind(
            err,
            ErrorKind::PortRangeExhausted,
            "There are no free ports in range: [3000-3499]",
        );
        all.extend(ports);
    }
    assert_eq!(all.len(), 500);
    let distinct: BTreeSet<u16> = all.iter().copied().collect();
    assert_eq!(distinct, (3000..=3499).collect());
    assert_eq!(registry.port_reservations().len(), 500);
    assert_eq!(registry.revision(), 501);
}

/// A port, or the kind and message of the failure.
type Reserved = Result<u16, (ErrorKind, &'static str)>;

/// Rows call `reserve_port_in_range("new-group", range)` on a registry holding
/// `existing-a` (tcp, 1024-1030) and `existing-b` (tcp, 2000,2002).
struct ReserveInRangeTest(Vec<(&'static str, Reserved)>);

impl ReserveInRangeTest {
    fn run(self) {
        for (range, want) in self.0 {
            let (registry, _) = setup();
            tcp_group(&registry, "existing-a", "1024-1030");
            tcp_group(&registry, "existing-b", "2000,2002");
            let got = registry.reserve_port_in_range("new-group", range);
            match (&got, &want) {
                (Ok(port), Ok(expected)) => {
                    assert_eq!(port, expected, "range {range}");
                    let group = registry.router_group_by_name("new-group").unwrap();
                    assert_eq!(&*group.group_type, "tcp", "range {range}");
                    assert_eq!(&*group.reservable_ports, port.to_string(), "range {range}");
                    assert_eq!(registry.revision(), 3, "range {range}");
                }
                (Err(err), Err((kind, message))) => {
                    assert_eq!(err.kind(), *kind, "range {range}");
                    assert_eq!(err.message(), *message, "range {range}");
                    assert!(registry.router_group_by_name("new-group").is_err());
                    assert_eq!(registry.revision(), 2, "range {range}");
                }
                _ => panic!("range {range}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn reserve_port_in_range_follows_cf_client() {
    use ErrorKind::{PortRangeExhausted, ProcessRequest, RouterGroupInvalid};
    ReserveInRangeTest(vec![
        ("1024-1040", Ok(1031)),
        (
            "1020-1040",
            Err((RouterGroupInvalid, "port must be between 1024 and 65535")),
        ),
        ("2000-2005", Ok(2001)),
        ("2002-2005", Ok(2003)),
        ("5000-5001", Ok(5000)),
        ("65534-65535", Ok(65534)),
        (
            "1024-1030",
            Err((
                PortRangeExhausted,
                "There are no free ports in range: [1024-1030]",
            )),
        ),
        (
            "1024-1100,3000-4000",
            Err((ProcessRequest, "multiple port ranges are not supported")),
        ),
        (
            "5000,6000",
            Err((ProcessRequest, "multiple port ranges are not supported")),
        ),
        (
            "5000",
            Err((ProcessRequest, "single port is not supported")),
        ),
        (
            "5000-5000",
            Err((ProcessRequest, "single port is not supported")),
        ),
        (
            "abc",
            Err((RouterGroupInvalid, "port must be between 1024 and 65535")),
        ),
        (
            "1024-70000",
            Err((
                RouterGroupInvalid,
                "range (1024-70000) requires an ending port",
            )),
        ),
        (
            "3000-2000",
            Err((
                RouterGroupInvalid,
                "range (3000-2000) must be in ascending numeric order",
            )),
        ),
    ])
    .run();
}

#[test]
fn reserve_port_in_range_narrows_an_existing_group() {
    let (registry, _) = setup();
    let a = tcp_group(&registry, "existing-a", "1024-1030");
    assert_eq!(
        registry
            .reserve_port_in_range("existing-a", "1024-1040")
            .unwrap(),
        1031
    );
    let group = registry.router_group(&a).unwrap();
    assert_eq!(&*group.reservable_ports, "1031");
    assert_eq!(&*group.name, "existing-a");
    // Only the group's narrowed port is taken now, so the range's first port is
    // free again.
    assert_eq!(
        registry
            .reserve_port_in_range("existing-a", "1024-1040")
            .unwrap(),
        1024
    );
    assert_eq!(
        &*registry.router_group(&a).unwrap().reservable_ports,
        "1024"
    );
    assert_eq!(registry.router_groups().len(), 1);
}

#[test]
fn reserve_port_in_range_ending_at_65535_terminates_when_exhausted() {
    let (registry, _) = setup();
    tcp_group(&registry, "top", "65530-65535");
    let registry = Arc::new(registry);
    let worker = Arc::clone(&registry);
    let got = within(move || worker.reserve_port_in_range("x", "65530-65535"));
    let err = got.unwrap_err();
    assert_kind(
        &err,
        ErrorKind::PortRangeExhausted,
        "There are no free ports in range: [65530-65535]",
    );
    assert_eq!(err.cf_name(), "PortRangeExhaustedError");
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

#[test]
fn every_change_advances_the_revision_by_one() {
    let (registry, clock) = setup();
    let mut events = registry.subscribe(Filter::all(), Some(0)).unwrap();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    assert_eq!(registry.revision(), 1);
    let revision = registry
        .upsert_http_routes(vec![
            http("a.example.com").with_ttl(5),
            http("b.example.com"),
        ])
        .unwrap();
    assert_eq!(revision, 3);
    registry.reserve_port(&g, None).unwrap();
    assert_eq!(
        registry
            .delete_http_routes(&[http("b.example.com")])
            .unwrap(),
        5
    );
    registry.update_router_group(&g, "1024-1040").unwrap();
    clock.advance(secs(5));
    assert_eq!(registry.expire(clock.now()), 1);

    // Changes that change nothing publish nothing.
    registry
        .delete_http_routes(&[http("b.example.com")])
        .unwrap();
    registry
        .create_router_group(RouterGroup::new("tcp-a", "tcp", "1024-1030"))
        .unwrap();
    registry.update_router_group(&g, "1024-1040").unwrap();
    assert_eq!(registry.expire(clock.now()), 0);

    let published = drain(&mut events);
    assert_eq!(
        summary(&published),
        [
            (1, Action::Upsert, Kind::RouterGroup),
            (2, Action::Upsert, Kind::HttpRoute),
            (3, Action::Upsert, Kind::HttpRoute),
            (4, Action::Upsert, Kind::PortReservation),
            (5, Action::Delete, Kind::HttpRoute),
            (6, Action::Upsert, Kind::RouterGroup),
            (7, Action::Expire, Kind::HttpRoute),
        ]
    );
    assert_eq!(registry.revision(), 7);
}

#[test]
fn actions_have_cf_event_names() {
    assert_eq!(Action::Upsert.cf_name(), "Upsert");
    assert_eq!(Action::Delete.cf_name(), "Delete");
    assert_eq!(Action::Expire.cf_name(), "Delete");
}

fn five_events(registry: &Registry) {
    for i in 0..5 {
        registry
            .upsert_http_routes(vec![http(&format!("r{i}.example.com"))])
            .unwrap();
    }
}

#[test]
fn subscribe_from_a_revision_replays_then_continues_live() {
    let (registry, _) = setup();
    five_events(&registry);
    let mut events = registry.subscribe(Filter::all(), Some(2)).unwrap();
    assert_eq!(events.pending(), 3);
    let replayed = drain(&mut events);
    assert_eq!(revisions(&replayed), [3, 4, 5]);
    assert_eq!(http_of(&replayed[0]).route.as_ref(), "r2.example.com");
    registry
        .upsert_http_routes(vec![http("r5.example.com"), http("r6.example.com")])
        .unwrap();
    assert_eq!(revisions(&drain(&mut events)), [6, 7]);

    let mut from_current = registry.subscribe(Filter::all(), Some(7)).unwrap();
    assert_eq!(from_current.pending(), 0);
    let mut live = registry.subscribe(Filter::all(), None).unwrap();
    assert!(drain(&mut live).is_empty());
    registry
        .upsert_http_routes(vec![http("r7.example.com")])
        .unwrap();
    assert_eq!(revisions(&drain(&mut from_current)), [8]);
    assert_eq!(revisions(&drain(&mut live)), [8]);
}

#[test]
fn subscribe_during_concurrent_writes_has_no_gap_or_repeat() {
    let (registry, _) = setup();
    let registry = Arc::new(registry);
    let writes = 300u64;
    let writer = {
        let registry = Arc::clone(&registry);
        std::thread::spawn(move || {
            for i in 0..writes {
                registry
                    .upsert_http_routes(vec![http(&format!("r{i}.example.com"))])
                    .unwrap();
            }
        })
    };
    let mut subscriptions = Vec::new();
    for _ in 0..4 {
        let from = registry.revision();
        subscriptions.push((from, registry.subscribe(Filter::all(), Some(from)).unwrap()));
    }
    writer.join().unwrap();
    for (from, mut events) in subscriptions {
        let mut got = Vec::new();
        while got.last().copied().unwrap_or(from) < writes {
            got.push(events.recv_timeout(WAIT).expect("event").revision);
        }
        assert_eq!(got, (from + 1..=writes).collect::<Vec<_>>());
        assert_eq!(events.try_recv(), Ok(None));
    }
}

#[test]
fn filters_select_kinds_in_replay_and_live() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry
        .upsert_http_routes(vec![http("a.example.com")])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1024, 6000)])
        .unwrap();
    let mut tcp_only = registry
        .subscribe(Filter::only(Kind::TcpRouteMapping), Some(0))
        .unwrap();
    let mut http_and_groups = registry
        .subscribe(
            Filter::only(Kind::HttpRoute).with(Kind::RouterGroup),
            Some(0),
        )
        .unwrap();
    let mut nothing = registry.subscribe(Filter::none(), Some(0)).unwrap();
    registry.reserve_port(&g, None).unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&g, 1025, 6000)])
        .unwrap();
    registry
        .delete_http_routes(&[http("a.example.com")])
        .unwrap();

    assert_eq!(
        summary(&drain(&mut tcp_only)),
        [
            (3, Action::Upsert, Kind::TcpRouteMapping),
            (6, Action::Upsert, Kind::TcpRouteMapping),
        ]
    );
    assert_eq!(
        summary(&drain(&mut http_and_groups)),
        [
            (1, Action::Upsert, Kind::RouterGroup),
            (2, Action::Upsert, Kind::HttpRoute),
            (7, Action::Delete, Kind::HttpRoute),
        ]
    );
    assert!(drain(&mut nothing).is_empty());
    assert!(Filter::all().accepts(Kind::PortReservation));
    assert!(!Filter::only(Kind::HttpRoute).accepts(Kind::TcpRouteMapping));
}

#[test]
fn subscribe_older_than_history_is_compacted() {
    let (registry, _) = setup_with(Config::new().history(3));
    five_events(&registry);
    for from in [0, 1] {
        let err = registry.subscribe(Filter::all(), Some(from)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Compacted, "from {from}");
        assert_eq!(err.oldest_revision(), Some(3), "from {from}");
        assert_eq!(err.cf_name(), "ProcessRequestError");
    }
    let mut events = registry.subscribe(Filter::all(), Some(2)).unwrap();
    assert_eq!(revisions(&drain(&mut events)), [3, 4, 5]);
    // The history moves on with new events.
    registry
        .upsert_http_routes(vec![http("r5.example.com")])
        .unwrap();
    let err = registry.subscribe(Filter::all(), Some(2)).unwrap_err();
    assert_eq!(err.oldest_revision(), Some(4));
    assert!(registry.subscribe(Filter::all(), Some(3)).is_ok());
}

#[test]
fn subscribe_from_the_future_is_invalid() {
    let (registry, _) = setup();
    five_events(&registry);
    let err = registry.subscribe(Filter::all(), Some(6)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.oldest_revision(), None);
    assert!(registry.subscribe(Filter::all(), Some(5)).is_ok());
}

#[test]
fn lagging_subscriber_gets_what_fit_then_lagged_then_closed() {
    let (registry, _) = setup_with(Config::new().subscriber_buffer(3));
    let registry = Arc::new(registry);
    let mut slow = registry.subscribe(Filter::all(), None).unwrap();
    let mut also_slow = registry.subscribe(Filter::all(), None).unwrap();
    assert_eq!(registry.subscriber_count(), 2);
    let writer = Arc::clone(&registry);
    // The writer must finish although `slow` reads nothing.
    within(move || five_events(&writer));
    assert_eq!(registry.revision(), 5);

    let mut got = Vec::new();
    let lag = loop {
        match slow.recv_timeout(WAIT) {
            Ok(e) => got.push(e.revision),
            Err(e) => break e,
        }
    };
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(lag, RecvError::Lagged { resume_from: 3 });
    assert_eq!(slow.recv_timeout(WAIT).unwrap_err(), RecvError::Closed);
    assert_eq!(slow.try_recv(), Err(RecvError::Closed));
    assert_eq!(slow.next(), None);

    // Both lagging subscribers were dropped from the registry's list.
    assert_eq!(registry.subscriber_count(), 0);
    // Resuming from `resume_from` delivers the rest.
    let mut resumed = registry.subscribe(Filter::all(), Some(3)).unwrap();
    assert_eq!(revisions(&drain(&mut resumed)), [4, 5]);

    assert_eq!(registry.subscriber_count(), 1);
    // The other subscriber lagged the same way.
    assert_eq!(revisions(&take_until_error(&mut also_slow)), [1, 2, 3]);
}

fn take_until_error(events: &mut Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = events.recv_timeout(WAIT) {
        out.push(e);
    }
    out
}

#[test]
fn filtered_lagging_subscriber_resumes_without_gap_or_repeat() {
    let (registry, _) = setup_with(Config::new().subscriber_buffer(2));
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    let mut http_only = registry
        .subscribe(Filter::only(Kind::HttpRoute), None)
        .unwrap();
    registry
        .upsert_http_routes(vec![http("a.example.com")])
        .unwrap(); // 2
    registry.update_router_group(&g, "1024-1031").unwrap(); // 3
    registry
        .upsert_http_routes(vec![http("b.example.com")])
        .unwrap(); // 4
    registry.update_router_group(&g, "1024-1032").unwrap(); // 5
    registry
        .upsert_http_routes(vec![http("c.example.com"), http("d.example.com")])
        .unwrap(); // 6, 7
    let mut delivered = Vec::new();
    let resume_from = loop {
        match http_only.recv_timeout(WAIT) {
            Ok(e) => delivered.push(e.revision),
            Err(RecvError::Lagged { resume_from }) => break resume_from,
            Err(e) => panic!("unexpected {e:?}"),
        }
    };
    assert_eq!(delivered, [2, 4]);
    let mut resumed = registry
        .subscribe(Filter::only(Kind::HttpRoute), Some(resume_from))
        .unwrap();
    delivered.extend(revisions(&drain(&mut resumed)));
    assert_eq!(delivered, [2, 4, 6, 7]);
}

#[test]
fn dropping_a_subscription_lowers_the_count_after_the_next_publish() {
    let (registry, _) = setup();
    assert_eq!(registry.subscriber_count(), 0);
    let first = registry.subscribe(Filter::all(), None).unwrap();
    let second = registry.subscribe(Filter::all(), Some(0)).unwrap();
    assert_eq!(registry.subscriber_count(), 2);
    drop(first);
    registry
        .upsert_http_routes(vec![http("a.example.com")])
        .unwrap();
    assert_eq!(registry.subscriber_count(), 1);
    drop(second);
    registry
        .upsert_http_routes(vec![http("b.example.com")])
        .unwrap();
    assert_eq!(registry.subscriber_count(), 0);
}

// ---------------------------------------------------------------------------
// Atomic batches and snapshots
// ---------------------------------------------------------------------------

#[test]
fn apply_commits_a_mixed_batch_with_consecutive_revisions() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    registry
        .upsert_http_routes(vec![http("old.example.com")])
        .unwrap();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let committed = registry
        .apply(vec![
            Change::CreateRouterGroup(RouterGroup::new("tcp-b", "tcp", "4000-4010")),
            Change::UpsertHttpRoute(http("new.example.com")),
            Change::DeleteHttpRoute(http("old.example.com")),
            Change::ReservePort {
                router_group_guid: g.clone(),
                ttl: None,
            },
            Change::UpsertTcpRouteMapping(tcp(&g, 1030, 6000)),
            Change::UpdateRouterGroup {
                guid: g.clone(),
                reservable_ports: "1024-1040".into(),
            },
        ])
        .unwrap();
    assert_eq!(
        summary(&committed),
        [
            (3, Action::Upsert, Kind::RouterGroup),
            (4, Action::Upsert, Kind::HttpRoute),
            (5, Action::Delete, Kind::HttpRoute),
            (6, Action::Upsert, Kind::PortReservation),
            (7, Action::Upsert, Kind::TcpRouteMapping),
            (8, Action::Upsert, Kind::RouterGroup),
        ]
    );
    assert_eq!(registry.revision(), 8);
    assert_eq!(drain(&mut events), committed);
    assert_eq!(only_http(&registry).route.as_ref(), "new.example.com");
    assert!(registry.router_group_by_name("tcp-b").is_ok());
    assert_eq!(
        &*registry.router_group(&g).unwrap().reservable_ports,
        "1024-1040"
    );
}

#[test]
fn apply_later_changes_see_earlier_ones() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    let committed = registry
        .apply(vec![
            Change::UpdateRouterGroup {
                guid: g.clone(),
                reservable_ports: "5000-5002".into(),
            },
            Change::ReservePort {
                router_group_guid: g.clone(),
                ttl: None,
            },
            Change::ReservePort {
                router_group_guid: g.clone(),
                ttl: None,
            },
            Change::UpsertTcpRouteMapping(tcp(&g, 5000, 6000)),
            Change::ReleasePort {
                router_group_guid: g.clone(),
                port: 5001,
            },
            Change::UpsertHttpRoute(http("a.example.com").with_log_guid("log-1")),
            Change::UpsertHttpRoute(http("a.example.com")),
            Change::CreateRouterGroup(RouterGroup::new("tcp-b", "tcp", "6000")),
            Change::CreateRouterGroup(RouterGroup::new("tcp-b", "tcp", "6000")),
        ])
        .unwrap();
    assert_eq!(
        summary(&committed),
        [
            (2, Action::Upsert, Kind::RouterGroup),
            (3, Action::Upsert, Kind::PortReservation),
            (4, Action::Upsert, Kind::PortReservation),
            (5, Action::Delete, Kind::PortReservation),
            (6, Action::Upsert, Kind::TcpRouteMapping),
            (7, Action::Delete, Kind::PortReservation),
            (8, Action::Upsert, Kind::HttpRoute),
            (9, Action::Upsert, Kind::HttpRoute),
            (10, Action::Upsert, Kind::RouterGroup),
        ]
    );
    assert_eq!(reservation_port(&committed[1]), 5000);
    assert_eq!(reservation_port(&committed[2]), 5001);
    assert_eq!(reservation_port(&committed[3]), 5000);
    let (first, second) = (http_of(&committed[6]), http_of(&committed[7]));
    assert_eq!(second.modification_tag.guid, first.modification_tag.guid);
    assert_eq!(second.modification_tag.index, 1);
    assert_eq!(&*second.log_guid, "log-1");
    assert!(registry.port_reservations().is_empty());
    assert_eq!(registry.router_groups().len(), 2);
}

#[test]
fn apply_fails_on_a_change_that_needs_an_earlier_removed_object() {
    let (registry, _) = setup();
    let g = tcp_group(&registry, "tcp-a", "1024-1030");
    let err = registry
        .apply(vec![
            Change::DeleteRouterGroup { guid: g.clone() },
            Change::ReservePort {
                router_group_guid: g.clone(),
                ttl: None,
            },
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(registry.router_group(&g).is_some());
    let err = registry
        .apply(vec![
            Change::CreateRouterGroup(RouterGroup::new("shared", "tcp", "6000")),
            Change::CreateRouterGroup(RouterGroup::new("shared", "http", "")),
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(registry.router_group_by_name("shared").is_err());
    assert_eq!(registry.revision(), 1);
}

#[test]
fn apply_failing_at_the_last_change_leaves_everything_as_before() {
    let (registry, clock) = setup();
    let a = tcp_group(&registry, "tcp-a", "1024-1100");
    let b = tcp_group(&registry, "tcp-b", "2000-2010");
    registry.reserve_port(&a, None).unwrap(); // 1024
    registry.reserve_port(&b, None).unwrap(); // 2000
    registry
        .upsert_http_routes(vec![
            http("live.example.com"),
            http("lapsing.example.com").with_ttl(5),
        ])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&a, 1050, 6000), tcp(&a, 1051, 6001).with_ttl(5)])
        .unwrap();
    clock.advance(secs(5));
    let before = registry.snapshot();
    assert_eq!(before.http_routes.len(), 2);
    assert_eq!(before.tcp_route_mappings.len(), 2);
    let mut events = registry.subscribe(Filter::all(), None).unwrap();

    let err = registry
        .apply(vec![
            Change::UpsertHttpRoute(http("lapsing.example.com")),
            Change::UpsertHttpRoute(http("new.example.com")),
            Change::DeleteHttpRoute(http("live.example.com")),
            Change::UpsertTcpRouteMapping(tcp(&a, 1050, 6000).with_ttl(60)),
            Change::UpsertTcpRouteMapping(tcp(&a, 1024, 6002)),
            Change::DeleteTcpRouteMapping(tcp(&a, 1050, 6000)),
            Change::CreateRouterGroup(RouterGroup::new("tcp-c", "tcp", "3000")),
            Change::UpdateRouterGroup {
                guid: a.clone(),
                reservable_ports: "1024-1200".into(),
            },
            Change::DeleteRouterGroup { guid: b.clone() },
            Change::ReservePort {
                router_group_guid: a.clone(),
                ttl: None,
            },
            Change::ReleasePort {
                router_group_guid: a.clone(),
                port: 1099,
            },
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(registry.snapshot(), before);
    assert_eq!(registry.revision(), before.revision);
    assert!(drain(&mut events).is_empty());

    // The restored state behaves as it did: lapsed leases are still due, the
    // names and reservations are back.
    assert_eq!(
        registry
            .router_group_by_name("tcp-b")
            .unwrap()
            .guid
            .as_ref(),
        b
    );
    assert!(registry.router_group_by_name("tcp-c").is_err());
    assert_eq!(registry.expire(clock.now()), 2);
    assert_eq!(registry.reserve_port(&a, None).unwrap().port, 1025);
    assert_eq!(registry.reserve_port(&b, None).unwrap().port, 2001);
}

#[test]
fn apply_reports_the_first_failing_change_in_order() {
    let (registry, _) = setup();
    let err = registry
        .apply(vec![
            Change::CreateRouterGroup(RouterGroup::new("", "tcp", "1024")),
            Change::UpsertHttpRoute(HttpRoute::new("a.example.com", "10.0.0.1", 0)),
        ])
        .unwrap_err();
    assert_kind(
        &err,
        ErrorKind::RouterGroupInvalid,
        "missing name in router group",
    );
}

#[test]
fn snapshot_shows_revision_and_every_object() {
    let (registry, clock) = setup();
    assert_eq!(registry.snapshot(), Snapshot::default());
    let a = tcp_group(&registry, "tcp-a", "1024-1100");
    let b = tcp_group(&registry, "tcp-b", "2000-2010");
    registry
        .upsert_http_routes(vec![
            http("b.example.com"),
            http("a.example.com").with_ttl(5),
        ])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&b, 2005, 6000), tcp(&a, 1050, 6000)])
        .unwrap();
    registry.reserve_port(&a, None).unwrap();
    clock.advance(secs(5));

    let snapshot = registry.snapshot();
    assert_eq!(snapshot.revision, 7);
    assert_eq!(snapshot.revision, registry.revision());
    let mut groups = registry.router_groups();
    groups.sort_by(|x, y| x.guid.cmp(&y.guid));
    assert_eq!(snapshot.router_groups, groups);
    // A lapsed but unswept route is still part of the state.
    let routes: Vec<&str> = snapshot.http_routes.iter().map(|r| &*r.route).collect();
    assert_eq!(routes, ["a.example.com", "b.example.com"]);
    assert_eq!(registry.http_routes().len(), 1);
    assert_eq!(snapshot.tcp_route_mappings.len(), 2);
    assert_eq!(snapshot.port_reservations.len(), 1);
    assert_eq!(snapshot.port_reservations[0].port, 1024);

    // Equal states give equal snapshots, whatever the insertion order.
    let mut shuffled = snapshot.clone();
    shuffled.http_routes.reverse();
    shuffled.tcp_route_mappings.reverse();
    shuffled.router_groups.reverse();
    shuffled.sort();
    assert_eq!(shuffled, snapshot);
}

#[test]
fn snapshot_plus_later_events_is_the_current_state() {
    let (registry, clock) = setup();
    let a = tcp_group(&registry, "tcp-a", "1024-1100");
    let b = tcp_group(&registry, "tcp-b", "2000-2010");
    registry
        .upsert_http_routes(vec![http("a.example.com").with_ttl(5)])
        .unwrap();
    registry.reserve_port(&b, None).unwrap();
    let mut replica = registry.snapshot();
    let mut events = registry
        .subscribe(Filter::all(), Some(replica.revision))
        .unwrap();

    registry
        .upsert_http_routes(vec![
            http("b.example.com"),
            http("c.example.com").with_ttl(5),
        ])
        .unwrap();
    registry.reserve_port(&a, None).unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&a, 1024, 6000), tcp(&a, 1060, 6001).with_ttl(5)])
        .unwrap();
    clock.advance(secs(5));
    registry
        .upsert_http_routes(vec![http("a.example.com")])
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![tcp(&a, 1024, 6000).with_ttl(60)])
        .unwrap();
    registry.expire(clock.now());
    registry.delete_router_group(&b).unwrap();
    registry.update_router_group(&a, "1024-1200").unwrap();
    registry
        .delete_http_routes(&[http("b.example.com")])
        .unwrap();

    for event in drain(&mut events) {
        replica.apply(&event);
    }
    assert_eq!(replica, registry.snapshot());
}
