//! Property tests of the write path against a sequential reference model.
//!
//! Random sequences of operations over a small universe (three router group
//! names with small port ranges, five route hosts, three backend addresses, a
//! few invalid items) run against a [`Registry`] driven by a [`ManualClock`].
//! After every step the registry is compared with a plain model that keys HTTP
//! routes and TCP mappings the way Cloud Foundry does, and the event stream is
//! checked: consecutive revisions, failed calls change nothing, and a snapshot
//! taken at any observed revision plus the events after it rebuilds the final
//! state exactly.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use routeyard::{
    Action, Change, Clock, Config, ErrorKind, Event, Filter, HttpRoute, Kind, ManualClock,
    ModificationTag, Object, PortReservation, Registry, RouterGroup, Snapshot, Subscription,
    TcpRouteMapping, Timestamp,
};

// ---------------------------------------------------------------------------
// The universe
// ---------------------------------------------------------------------------

const MAX_TTL: i64 = 120;
const START: Timestamp = Timestamp::from_secs(1_000);
const HISTORY: usize = 10_000;
const BUFFER: usize = 10_000;
/// A system component port no router group may make reservable.
const SYSTEM_PORT: u16 = 4500;

/// Router group names; the last one is invalid (empty).
const GROUP_NAMES: [&str; 4] = ["tcp-a", "tcp-b", "misc-c", ""];
const GROUP_TYPES: [&str; 3] = ["tcp", "custom", "http"];
/// A `reservable_ports` value and how it parses; `None` for a value CF refuses.
type PortSpec = (&'static str, Option<&'static [(u16, u16)]>);
/// A range given to `reserve_port_in_range` and its inclusive ends, or the kind
/// of error it is refused with before any lookup.
type RangeSpec = (&'static str, Result<(u16, u16), ErrorKind>);

const PORT_SPECS: [PortSpec; 9] = [
    ("1024-1027", Some(&[(1024, 1027)])),
    ("2000-2002", Some(&[(2000, 2002)])),
    ("3001,1024-1025", Some(&[(3001, 3001), (1024, 1025)])),
    ("1025", Some(&[(1025, 1025)])),
    ("", Some(&[])),
    ("1000-1030", None),
    ("3000,3000", None),
    ("4000-", None),
    ("4400-4600", None), // holds SYSTEM_PORT
];
const RANGE_SPECS: [RangeSpec; 5] = [
    ("5000-5002", Ok((5000, 5002))),
    ("1024-1026", Ok((1024, 1026))),
    ("5000", Err(ErrorKind::ProcessRequest)),
    ("5000-5001,6000-6001", Err(ErrorKind::ProcessRequest)),
    ("abc", Err(ErrorKind::RouterGroupInvalid)),
];

/// Hosts (and paths); the last two are invalid.
const ROUTES: [&str; 7] = [
    "a.example.com",
    "b.example.com/path",
    "c.example.com",
    "d.example.com/x/y",
    "e.example.com",
    "",
    "bad?host.example.com",
];
const HTTP_IPS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", ""];
const HTTP_PORTS: [u16; 3] = [8080, 8081, 0];
const LOG_GUIDS: [&str; 3] = ["", "log-1", "log-2"];
const RS_URLS: [&str; 3] = ["", "https://rs.example.com", "http://rs.example.com"];

const TCP_PORTS: [u16; 4] = [1024, 1025, 2000, 3001];
const BACKEND_IPS: [&str; 3] = ["10.1.0.1", "10.1.0.2", ""];
const BACKEND_PORTS: [u16; 3] = [6000, 6001, 0];
const TLS_PORTS: [i64; 3] = [0, 6443, 70_000];
const SNIS: [Option<&str>; 2] = [None, Some("sni.example.com")];
const SNI_REWRITES: [Option<&str>; 2] = [None, Some("rewrite.example.com")];
const INSTANCES: [&str; 3] = ["", "inst-1", "inst-2"];
const SEGMENTS: [&str; 2] = ["", "iso-1"];
const ALPNS: [&str; 2] = ["", "h2"];
const RELEASE_PORTS: [u16; 6] = [1024, 1025, 1026, 2000, 3001, 5000];

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// A router group named by the test: the current group of a name, an earlier
/// (possibly deleted) group of that name, or a guid no group ever had.
#[derive(Clone, Debug)]
enum GroupRef {
    Current(usize),
    Earlier(usize),
    Unknown,
}

#[derive(Clone, Debug)]
struct HttpSpec {
    route: usize,
    ip: usize,
    port: usize,
    ttl: Option<i64>,
    log_guid: usize,
    rs_url: usize,
}

#[derive(Clone, Debug)]
struct TcpSpec {
    group: GroupRef,
    port: usize,
    ip: usize,
    backend_port: usize,
    tls_port: usize,
    sni: usize,
    sni_rewrite: usize,
    instance: usize,
    segment: usize,
    terminate_tls: bool,
    alpns: usize,
    mtls: bool,
    ttl: Option<i64>,
}

#[derive(Clone, Debug)]
enum ChangeSpec {
    UpsertHttp(HttpSpec),
    DeleteHttp(HttpSpec),
    UpsertTcp(TcpSpec),
    DeleteTcp(TcpSpec),
    CreateGroup {
        name: usize,
        group_type: usize,
        ports: usize,
    },
    UpdateGroup {
        group: GroupRef,
        ports: usize,
    },
    DeleteGroup(GroupRef),
    Reserve {
        group: GroupRef,
        ttl: Option<Duration>,
    },
    Release {
        group: GroupRef,
        port: usize,
    },
    /// Releases the n-th reservation the model holds (modulo their number).
    ReleaseHeld(usize),
    /// Deletes the n-th HTTP route the model holds, named by its key only.
    DeleteHeldHttp(usize),
    /// Deletes the n-th TCP mapping the model holds, named by its key only.
    DeleteHeldTcp(usize),
}

#[derive(Clone, Debug)]
enum Op {
    UpsertHttp(Vec<HttpSpec>),
    DeleteHttp(Vec<HttpSpec>),
    UpsertTcp(Vec<TcpSpec>),
    DeleteTcp(Vec<TcpSpec>),
    /// One change through its single-purpose method.
    Single(ChangeSpec),
    /// Several changes through `Registry::apply`.
    Batch(Vec<ChangeSpec>),
    ReserveInRange {
        name: usize,
        range: usize,
    },
    Advance(Duration),
    Expire,
    /// Opens a subscription from the revision observed `back` steps ago (or live).
    Subscribe {
        back: usize,
        filter: usize,
        live: bool,
    },
}

const FILTERS: usize = 6;

fn filter(i: usize) -> Filter {
    match i {
        0 => Filter::all(),
        1 => Filter::only(Kind::HttpRoute),
        2 => Filter::only(Kind::TcpRouteMapping),
        3 => Filter::only(Kind::RouterGroup),
        4 => Filter::only(Kind::PortReservation),
        _ => Filter::none()
            .with(Kind::TcpRouteMapping)
            .with(Kind::PortReservation),
    }
}

/// An index below `valid` most of the time, an invalid one (`valid..total`) rarely.
fn pick(valid: usize, total: usize) -> BoxedStrategy<usize> {
    if valid == total {
        return (0..valid).boxed();
    }
    prop_oneof![30 => 0..valid, 1 => valid..total].boxed()
}

fn ttl_secs() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        24 => (1..=MAX_TTL).prop_map(Some),
        1 => prop::sample::select(vec![0, -3, MAX_TTL + 1]).prop_map(Some),
    ]
}

fn group_ref() -> impl Strategy<Value = GroupRef> {
    prop_oneof![
        30 => (0..2usize).prop_map(GroupRef::Current),
        4 => Just(GroupRef::Current(2)),
        2 => (0..3usize).prop_map(GroupRef::Earlier),
        1 => Just(GroupRef::Unknown),
    ]
}

fn http_spec() -> impl Strategy<Value = HttpSpec> {
    (
        pick(5, ROUTES.len()),
        pick(3, HTTP_IPS.len()),
        pick(2, HTTP_PORTS.len()),
        ttl_secs(),
        0..LOG_GUIDS.len(),
        prop_oneof![30 => Just(0usize), 4 => Just(1usize), 1 => Just(2usize)],
    )
        .prop_map(|(route, ip, port, ttl, log_guid, rs_url)| HttpSpec {
            route,
            ip,
            port,
            ttl,
            log_guid,
            rs_url,
        })
}

fn tcp_spec() -> impl Strategy<Value = TcpSpec> {
    (
        (
            group_ref(),
            0..TCP_PORTS.len(),
            pick(2, BACKEND_IPS.len()),
            pick(2, BACKEND_PORTS.len()),
            prop_oneof![20 => Just(0usize), 4 => Just(1usize), 1 => Just(2usize)],
            prop_oneof![3 => Just(0usize), 1 => Just(1usize)],
        ),
        (
            0..SNI_REWRITES.len(),
            0..INSTANCES.len(),
            0..SEGMENTS.len(),
            prop::bool::weighted(0.3),
            prop_oneof![20 => Just(0usize), 1 => Just(1usize)],
            prop::bool::weighted(0.15),
            ttl_secs(),
        ),
    )
        .prop_map(
            |(
                (group, port, ip, backend_port, tls_port, sni),
                (sni_rewrite, instance, segment, terminate_tls, alpns, mtls, ttl),
            )| TcpSpec {
                group,
                port,
                ip,
                backend_port,
                tls_port,
                sni,
                sni_rewrite,
                instance,
                segment,
                terminate_tls,
                alpns,
                mtls,
                ttl,
            },
        )
}

fn reservation_ttl() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        3 => Just(None),
        6 => (1..=120u64).prop_map(|s| Some(Duration::from_secs(s))),
        1 => Just(Some(Duration::from_millis(1_500))),
        1 => Just(Some(Duration::ZERO)),
    ]
}

fn change_spec() -> impl Strategy<Value = ChangeSpec> {
    prop_oneof![
        6 => http_spec().prop_map(ChangeSpec::UpsertHttp),
        2 => http_spec().prop_map(ChangeSpec::DeleteHttp),
        6 => tcp_spec().prop_map(ChangeSpec::UpsertTcp),
        2 => tcp_spec().prop_map(ChangeSpec::DeleteTcp),
        5 => (pick(3, GROUP_NAMES.len()), prop_oneof![6 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)], pick(5, PORT_SPECS.len()))
            .prop_map(|(name, group_type, ports)| ChangeSpec::CreateGroup { name, group_type, ports }),
        1 => (group_ref(), pick(5, PORT_SPECS.len()))
            .prop_map(|(group, ports)| ChangeSpec::UpdateGroup { group, ports }),
        1 => group_ref().prop_map(ChangeSpec::DeleteGroup),
        4 => (group_ref(), reservation_ttl()).prop_map(|(group, ttl)| ChangeSpec::Reserve { group, ttl }),
        1 => (group_ref(), 0..RELEASE_PORTS.len()).prop_map(|(group, port)| ChangeSpec::Release { group, port }),
        2 => any::<usize>().prop_map(ChangeSpec::ReleaseHeld),
        2 => any::<usize>().prop_map(ChangeSpec::DeleteHeldHttp),
        2 => any::<usize>().prop_map(ChangeSpec::DeleteHeldTcp),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(http_spec(), 1..=3).prop_map(Op::UpsertHttp),
        2 => prop::collection::vec(http_spec(), 1..=2).prop_map(Op::DeleteHttp),
        6 => prop::collection::vec(tcp_spec(), 1..=3).prop_map(Op::UpsertTcp),
        2 => prop::collection::vec(tcp_spec(), 1..=2).prop_map(Op::DeleteTcp),
        8 => change_spec().prop_map(Op::Single),
        5 => prop::collection::vec(change_spec(), 1..=4).prop_map(Op::Batch),
        1 => (pick(3, GROUP_NAMES.len()), 0..RANGE_SPECS.len())
            .prop_map(|(name, range)| Op::ReserveInRange { name, range }),
        4 => prop::sample::select(vec![500u64, 1_000, 7_000, 30_000, 61_000, 121_000])
            .prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        3 => Just(Op::Expire),
        1 => (0..8usize, 0..FILTERS, prop::bool::weighted(0.25))
            .prop_map(|(back, filter, live)| Op::Subscribe { back, filter, live }),
    ]
}

// ---------------------------------------------------------------------------
// Keys and descriptions
// ---------------------------------------------------------------------------

/// CF's upsert key of an HTTP route: (route, ip, port, route_service_url).
type HttpKey = (Arc<str>, Arc<str>, u16, Arc<str>);
/// CF's upsert key of a TCP mapping: (router_group_guid, port, backend_ip,
/// backend_port, backend_tls_port, backend_sni_hostname, enable_backend_mtls).
type TcpKey = (Arc<str>, u16, Arc<str>, u16, i64, Option<Arc<str>>, bool);

fn http_key(r: &HttpRoute) -> HttpKey {
    (
        r.route.clone(),
        r.ip.clone(),
        r.port,
        r.route_service_url.clone(),
    )
}

fn tcp_key(m: &TcpRouteMapping) -> TcpKey {
    (
        m.router_group_guid.clone(),
        m.port,
        m.backend_ip.clone(),
        m.backend_port,
        m.backend_tls_port,
        m.backend_sni_hostname.clone(),
        m.enable_backend_mtls,
    )
}

/// An event reduced to what the model predicts: the action and the object's key.
fn describe(action: Action, object: &Object) -> String {
    let what = match object {
        Object::HttpRoute(r) => format!("http {:?}", http_key(r)),
        Object::TcpRouteMapping(m) => format!("tcp {:?}", tcp_key(m)),
        Object::RouterGroup(g) => format!("group {}", g.name),
        Object::PortReservation(r) => format!("reservation {}:{}", r.router_group_guid, r.port),
        other => format!("{:?}", other.kind()),
    };
    format!("{action:?} {what}")
}

fn ttl_duration(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// The guids the registry assigned, learned the first time each object is seen.
/// The model names objects by "generation": a new one on every create.
#[derive(Default)]
struct Guids {
    by_generation: HashMap<u64, Arc<str>>,
    used: HashSet<Arc<str>>,
    /// Every guid each group name has had, oldest first.
    by_name: HashMap<Arc<str>, Vec<Arc<str>>>,
}

impl Guids {
    fn learn(&mut self, generation: u64, actual: &Arc<str>) -> Result<(), TestCaseError> {
        match self.by_generation.get(&generation) {
            Some(known) => prop_assert_eq!(known, actual, "a guid changed on update"),
            None => {
                prop_assert!(!actual.is_empty(), "an empty guid was assigned");
                prop_assert!(
                    self.used.insert(actual.clone()),
                    "guid {} was given to two objects",
                    actual
                );
                self.by_generation.insert(generation, actual.clone());
            }
        }
        Ok(())
    }

    fn get(&self, generation: u64) -> Option<&Arc<str>> {
        self.by_generation.get(&generation)
    }
}

#[derive(Clone, Debug)]
struct ModelGroup {
    name: Arc<str>,
    group_type: Arc<str>,
    ports: Arc<str>,
    ranges: Vec<(u16, u16)>,
    generation: u64,
}

/// The sequential reference: what the registry stores (lapsed but unswept
/// entries included), with modification-tag guids left empty and named by
/// generation instead.
#[derive(Clone, Debug)]
struct Model {
    now: Timestamp,
    next_generation: u64,
    groups: Vec<ModelGroup>,
    http: HashMap<HttpKey, (HttpRoute, u64)>,
    tcp: HashMap<TcpKey, (TcpRouteMapping, u64)>,
    reservations: HashMap<(Arc<str>, u16), PortReservation>,
}

/// What the model predicts a call returns besides success.
#[derive(Clone, Debug, Default)]
struct Returned {
    /// Group generation and whether it was created (create_router_group).
    group: Option<(u64, bool)>,
    reservation: Option<PortReservation>,
}

/// How a list of changes is checked before it applies.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `Registry::apply`: each change is validated and applied in turn, seeing
    /// the ones before it; the error is that of the first change that fails.
    InOrder,
    /// `upsert_http_routes`, `delete_http_routes`, `delete_tcp_route_mappings`:
    /// every item is validated with CF's rules before any applies.
    ValidateFirst,
    /// `upsert_tcp_route_mappings`: each mapping in turn is validated and checked
    /// against the state before the batch; then all are stored.
    CheckFirst,
}

fn spec_ranges(spec: &str) -> Option<Vec<(u16, u16)>> {
    if let Some((_, parsed)) = PORT_SPECS.iter().find(|(s, _)| *s == spec) {
        return parsed.map(<[(u16, u16)]>::to_vec);
    }
    // A single port written by reserve_port_in_range.
    let port: u16 = spec.parse().ok()?;
    (port >= 1024).then(|| vec![(port, port)])
}

fn validate_group(name: &str, group_type: &str, ports: &str) -> Result<Vec<(u16, u16)>, ErrorKind> {
    if name.is_empty() || group_type.is_empty() {
        return Err(ErrorKind::RouterGroupInvalid);
    }
    if ports.is_empty() {
        return if group_type == "tcp" {
            Err(ErrorKind::RouterGroupInvalid)
        } else {
            Ok(Vec::new())
        };
    }
    if group_type == "http" {
        return Err(ErrorKind::RouterGroupInvalid);
    }
    spec_ranges(ports).ok_or(ErrorKind::RouterGroupInvalid)
}

fn validate_http(r: &HttpRoute, upsert: bool) -> Result<(), ErrorKind> {
    if r.route.contains(['?', '#']) {
        return Err(ErrorKind::RouteInvalid);
    }
    if !r.route_service_url.is_empty() && !r.route_service_url.starts_with("https://") {
        return Err(ErrorKind::RouteServiceUrlInvalid);
    }
    if r.port == 0 || r.route.is_empty() || r.ip.is_empty() {
        return Err(ErrorKind::RouteInvalid);
    }
    if upsert {
        let ttl = r.ttl.unwrap_or(MAX_TTL);
        if ttl > MAX_TTL || ttl <= 0 {
            return Err(ErrorKind::RouteInvalid);
        }
    }
    Ok(())
}

fn validate_tcp(m: &TcpRouteMapping, upsert: bool) -> Result<(), ErrorKind> {
    let invalid = m.router_group_guid.is_empty()
        || m.port == 0
        || m.backend_ip.is_empty()
        || (m.backend_port == 0 && m.backend_tls_port <= 0)
        || m.backend_tls_port > 65535
        || (upsert && {
            let ttl = m.ttl.unwrap_or(MAX_TTL);
            ttl > MAX_TTL || ttl <= 0
        })
        || (!m.alpns.is_empty() && !m.terminate_frontend_tls);
    if invalid {
        Err(ErrorKind::TcpRouteMappingInvalid)
    } else {
        Ok(())
    }
}

impl Model {
    fn new() -> Model {
        Model {
            now: START,
            next_generation: 0,
            groups: Vec::new(),
            http: HashMap::new(),
            tcp: HashMap::new(),
            reservations: HashMap::new(),
        }
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn group_at(&self, guid: &str, guids: &Guids) -> Option<usize> {
        self.groups.iter().position(|g| {
            guids
                .get(g.generation)
                .is_some_and(|known| &**known == guid)
        })
    }

    /// Removes every entry whose lease lapsed at or before `now`.
    fn expire_all(&mut self, ev: &mut Vec<String>) -> usize {
        let now = self.now;
        let mut removed = 0;
        let lapsed: Vec<HttpKey> = self
            .http
            .iter()
            .filter(|(_, (r, _))| r.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in lapsed {
            let (r, _) = self.http.remove(&k).unwrap();
            ev.push(describe(Action::Expire, &Object::HttpRoute(Arc::new(r))));
            removed += 1;
        }
        let lapsed: Vec<TcpKey> = self
            .tcp
            .iter()
            .filter(|(_, (m, _))| m.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in lapsed {
            let (m, _) = self.tcp.remove(&k).unwrap();
            ev.push(describe(
                Action::Expire,
                &Object::TcpRouteMapping(Arc::new(m)),
            ));
            removed += 1;
        }
        let lapsed: Vec<(Arc<str>, u16)> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in lapsed {
            let r = self.reservations.remove(&k).unwrap();
            ev.push(describe(
                Action::Expire,
                &Object::PortReservation(Arc::new(r)),
            ));
            removed += 1;
        }
        removed
    }

    fn upsert_http(&mut self, mut r: HttpRoute, ev: &mut Vec<String>) {
        let ttl = r.ttl.unwrap_or(MAX_TTL);
        r.ttl = Some(ttl);
        r.expires_at = self.now.saturating_add(ttl_duration(ttl));
        let key = http_key(&r);
        if self
            .http
            .get(&key)
            .is_some_and(|(old, _)| old.expires_at <= self.now)
        {
            // A lapsed registration is gone even before the sweep: renewing it creates.
            let (old, _) = self.http.remove(&key).unwrap();
            ev.push(describe(Action::Expire, &Object::HttpRoute(Arc::new(old))));
        }
        let generation = match self.http.get(&key) {
            Some((old, generation)) => {
                if r.log_guid.is_empty() {
                    r.log_guid = old.log_guid.clone();
                }
                r.modification_tag = ModificationTag {
                    guid: "".into(),
                    index: old.modification_tag.index + 1,
                };
                *generation
            }
            None => {
                r.modification_tag = ModificationTag::default();
                self.generation()
            }
        };
        ev.push(describe(
            Action::Upsert,
            &Object::HttpRoute(Arc::new(r.clone())),
        ));
        self.http.insert(key, (r, generation));
    }

    fn delete_http(&mut self, r: &HttpRoute, ev: &mut Vec<String>) {
        if let Some((old, _)) = self.http.remove(&http_key(r)) {
            ev.push(describe(Action::Delete, &Object::HttpRoute(Arc::new(old))));
        }
    }

    fn upsert_tcp(
        &mut self,
        m: TcpRouteMapping,
        guids: &Guids,
        ev: &mut Vec<String>,
    ) -> Result<(), ErrorKind> {
        self.check_tcp(&m, guids)?;
        self.put_tcp(m, ev);
        Ok(())
    }

    /// The checks of a mapping against the stored state: its group exists, and
    /// live mappings sharing its external port and SNI host name agree with it on
    /// terminate_frontend_tls.
    fn check_tcp(&self, m: &TcpRouteMapping, guids: &Guids) -> Result<(), ErrorKind> {
        if self.group_at(&m.router_group_guid, guids).is_none() {
            return Err(ErrorKind::TcpRouteMappingInvalid);
        }
        if let Some(sni) = &m.backend_sni_hostname {
            // Live mappings sharing the external port and SNI host name must agree
            // on terminate_frontend_tls.
            let conflict = self.tcp.values().any(|(x, _)| {
                x.port == m.port
                    && x.backend_sni_hostname.as_ref() == Some(sni)
                    && x.expires_at > self.now
                    && x.terminate_frontend_tls != m.terminate_frontend_tls
            });
            if conflict {
                return Err(ErrorKind::TcpRouteMappingInvalid);
            }
        }
        Ok(())
    }

    fn put_tcp(&mut self, mut m: TcpRouteMapping, ev: &mut Vec<String>) {
        let ttl = m.ttl.unwrap_or(MAX_TTL);
        m.ttl = Some(ttl);
        m.expires_at = self.now.saturating_add(ttl_duration(ttl));
        let key = tcp_key(&m);
        if self
            .tcp
            .get(&key)
            .is_some_and(|(old, _)| old.expires_at <= self.now)
        {
            let (old, _) = self.tcp.remove(&key).unwrap();
            ev.push(describe(
                Action::Expire,
                &Object::TcpRouteMapping(Arc::new(old)),
            ));
        }
        let generation = match self.tcp.get(&key) {
            Some((old, generation)) => {
                m.instance_id = old.instance_id.clone();
                m.terminate_frontend_tls = old.terminate_frontend_tls;
                m.alpns = old.alpns.clone();
                m.modification_tag = ModificationTag {
                    guid: "".into(),
                    index: old.modification_tag.index + 1,
                };
                *generation
            }
            None => {
                let claimed = (m.router_group_guid.clone(), m.port);
                if let Some(r) = self.reservations.remove(&claimed) {
                    ev.push(describe(
                        Action::Delete,
                        &Object::PortReservation(Arc::new(r)),
                    ));
                }
                m.modification_tag = ModificationTag::default();
                self.generation()
            }
        };
        ev.push(describe(
            Action::Upsert,
            &Object::TcpRouteMapping(Arc::new(m.clone())),
        ));
        self.tcp.insert(key, (m, generation));
    }

    fn delete_tcp(&mut self, m: &TcpRouteMapping, ev: &mut Vec<String>) {
        if let Some((old, _)) = self.tcp.remove(&tcp_key(m)) {
            ev.push(describe(
                Action::Delete,
                &Object::TcpRouteMapping(Arc::new(old)),
            ));
        }
    }

    fn group_event(action: Action, g: &ModelGroup) -> String {
        let group = RouterGroup::new(&g.name, &g.group_type, &g.ports);
        describe(action, &Object::RouterGroup(Arc::new(group)))
    }

    fn create_group(
        &mut self,
        g: &RouterGroup,
        ev: &mut Vec<String>,
    ) -> Result<(u64, bool), ErrorKind> {
        // An existing group of that name and type is returned before the new one
        // is validated (as CF).
        let existing = self.groups.iter().find(|e| e.name == g.name);
        if let Some(existing) = existing {
            if existing.group_type == g.group_type {
                return Ok((existing.generation, false));
            }
        }
        let ranges = validate_group(&g.name, &g.group_type, &g.reservable_ports)?;
        if existing.is_some() {
            return Err(ErrorKind::Conflict);
        }
        let group = ModelGroup {
            name: g.name.clone(),
            group_type: g.group_type.clone(),
            ports: g.reservable_ports.clone(),
            ranges,
            generation: self.generation(),
        };
        ev.push(Self::group_event(Action::Upsert, &group));
        let generation = group.generation;
        self.groups.push(group);
        Ok((generation, true))
    }

    fn update_group_at(
        &mut self,
        at: usize,
        ports: &str,
        ev: &mut Vec<String>,
    ) -> Result<(), ErrorKind> {
        let g = &self.groups[at];
        if &*g.ports == ports {
            return Ok(());
        }
        let ranges = validate_group(&g.name, &g.group_type, ports)?;
        let g = &mut self.groups[at];
        g.ports = ports.into();
        g.ranges = ranges;
        ev.push(Self::group_event(Action::Upsert, &self.groups[at]));
        Ok(())
    }

    fn delete_group(
        &mut self,
        guid: &str,
        guids: &Guids,
        ev: &mut Vec<String>,
    ) -> Result<(), ErrorKind> {
        let at = self.group_at(guid, guids).ok_or(ErrorKind::NotFound)?;
        let mut held: Vec<(Arc<str>, u16)> = self
            .reservations
            .keys()
            .filter(|(g, _)| &**g == guid)
            .cloned()
            .collect();
        held.sort_by_key(|(_, port)| *port);
        for k in held {
            let r = self.reservations.remove(&k).unwrap();
            ev.push(describe(
                Action::Delete,
                &Object::PortReservation(Arc::new(r)),
            ));
        }
        let g = self.groups.remove(at);
        ev.push(Self::group_event(Action::Delete, &g));
        Ok(())
    }

    fn reserve(
        &mut self,
        guid: &str,
        ttl: Duration,
        guids: &Guids,
        ev: &mut Vec<String>,
    ) -> Result<PortReservation, ErrorKind> {
        if ttl.is_zero() {
            return Err(ErrorKind::InvalidArgument);
        }
        let at = self.group_at(guid, guids).ok_or(ErrorKind::NotFound)?;
        let ranges = self.groups[at].ranges.clone();
        self.expire_all(ev);
        if ranges.is_empty() {
            return Err(ErrorKind::ProcessRequest);
        }
        let free = |p: u16| {
            !self.tcp.keys().any(|k| &*k.0 == guid && k.1 == p)
                && !self.reservations.contains_key(&(Arc::from(guid), p))
        };
        // The lowest free port, whatever the order of the ranges in the spec.
        let port = ranges
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .filter(|&p| free(p))
            .min()
            .ok_or(ErrorKind::PortRangeExhausted)?;
        let r = PortReservation {
            router_group_guid: guid.into(),
            port,
            expires_at: self.now.saturating_add(ttl),
        };
        ev.push(describe(
            Action::Upsert,
            &Object::PortReservation(Arc::new(r.clone())),
        ));
        self.reservations.insert((guid.into(), port), r.clone());
        Ok(r)
    }

    fn release(&mut self, guid: &str, port: u16, ev: &mut Vec<String>) -> Result<(), ErrorKind> {
        // A lapsed reservation is not held any more, even before a sweep.
        let key = (Arc::from(guid), port);
        if self
            .reservations
            .get(&key)
            .is_none_or(|r| r.expires_at <= self.now)
        {
            return Err(ErrorKind::NotFound);
        }
        let r = self.reservations.remove(&key).ok_or(ErrorKind::NotFound)?;
        ev.push(describe(
            Action::Delete,
            &Object::PortReservation(Arc::new(r)),
        ));
        Ok(())
    }

    fn reserve_in_range(
        &mut self,
        name: &str,
        range: usize,
        ev: &mut Vec<String>,
    ) -> Result<u16, ErrorKind> {
        let (a, b) = RANGE_SPECS[range].1?;
        let port = (a..=b)
            .find(|&p| {
                !self
                    .groups
                    .iter()
                    .any(|g| g.ranges.iter().any(|&(s, e)| s <= p && p <= e))
            })
            .ok_or(ErrorKind::PortRangeExhausted)?;
        let ports = port.to_string();
        match self.groups.iter().position(|g| &*g.name == name) {
            Some(at) => self.update_group_at(at, &ports, ev)?,
            None => {
                self.create_group(&RouterGroup::new(name, "tcp", &ports), ev)?;
            }
        }
        Ok(port)
    }

    /// A list of changes, all or none; the caller discards the model on error.
    fn apply(
        &mut self,
        changes: &[Change],
        mode: Mode,
        guids: &Guids,
        ev: &mut Vec<String>,
        out: &mut Returned,
    ) -> Result<(), ErrorKind> {
        let validate = |c: &Change| match c {
            Change::UpsertHttpRoute(r) => validate_http(r, true),
            Change::DeleteHttpRoute(r) => validate_http(r, false),
            Change::UpsertTcpRouteMapping(m) => validate_tcp(m, true),
            Change::DeleteTcpRouteMapping(m) => validate_tcp(m, false),
            _ => Ok(()),
        };
        match mode {
            Mode::InOrder => {}
            Mode::ValidateFirst => changes.iter().try_for_each(validate)?,
            Mode::CheckFirst => {
                for c in changes {
                    validate(c)?;
                    if let Change::UpsertTcpRouteMapping(m) = c {
                        self.check_tcp(m, guids)?;
                    }
                }
                for c in changes {
                    match c {
                        Change::UpsertTcpRouteMapping(m) => self.put_tcp(m.clone(), ev),
                        other => panic!("only TCP upserts are checked first: {other:?}"),
                    }
                }
                return Ok(());
            }
        }
        for c in changes {
            validate(c)?;
            match c {
                Change::UpsertHttpRoute(r) => self.upsert_http(r.clone(), ev),
                Change::DeleteHttpRoute(r) => self.delete_http(r, ev),
                Change::UpsertTcpRouteMapping(m) => self.upsert_tcp(m.clone(), guids, ev)?,
                Change::DeleteTcpRouteMapping(m) => self.delete_tcp(m, ev),
                Change::CreateRouterGroup(g) => out.group = Some(self.create_group(g, ev)?),
                Change::UpdateRouterGroup {
                    guid,
                    reservable_ports,
                } => {
                    let at = self.group_at(guid, guids).ok_or(ErrorKind::NotFound)?;
                    self.update_group_at(at, reservable_ports, ev)?;
                }
                Change::DeleteRouterGroup { guid } => self.delete_group(guid, guids, ev)?,
                Change::ReservePort {
                    router_group_guid,
                    ttl,
                } => {
                    let ttl = ttl.unwrap_or(ttl_duration(MAX_TTL));
                    out.reservation = Some(self.reserve(router_group_guid, ttl, guids, ev)?);
                }
                Change::ReleasePort {
                    router_group_guid,
                    port,
                } => self.release(router_group_guid, *port, ev)?,
                other => panic!("the model does not know {other:?}"),
            }
        }
        Ok(())
    }

    /// The snapshot the registry must show, once every guid is known.
    fn expected(&self, revision: u64, guids: &Guids) -> Snapshot {
        let guid = |generation: u64| guids.get(generation).cloned().unwrap_or_default();
        let mut s = Snapshot {
            revision,
            router_groups: self
                .groups
                .iter()
                .map(|g| RouterGroup {
                    guid: guid(g.generation),
                    ..RouterGroup::new(&g.name, &g.group_type, &g.ports)
                })
                .collect(),
            http_routes: self
                .http
                .values()
                .map(|(r, generation)| {
                    let mut r = r.clone();
                    r.modification_tag.guid = guid(*generation);
                    r
                })
                .collect(),
            tcp_route_mappings: self
                .tcp
                .values()
                .map(|(m, generation)| {
                    let mut m = m.clone();
                    m.modification_tag.guid = guid(*generation);
                    m
                })
                .collect(),
            port_reservations: self.reservations.values().cloned().collect(),
            ..Snapshot::default()
        };
        s.sort();
        s
    }
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

struct Harness {
    clock: ManualClock,
    registry: Registry,
    model: Model,
    guids: Guids,
    /// Opened before the first step, from revision 0.
    all_events: Subscription,
    events: Vec<Event>,
    /// The snapshot after every step, the initial one first.
    observed: Vec<Snapshot>,
    /// Subscriptions opened during the run: from which revision, with which filter.
    later: Vec<(u64, Filter, Subscription)>,
}

fn drain(sub: &mut Subscription) -> Result<Vec<Event>, TestCaseError> {
    let mut out = Vec::new();
    loop {
        match sub.try_recv() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return Ok(out),
            Err(e) => return Err(TestCaseError::fail(format!("subscription failed: {e}"))),
        }
    }
}

fn kind_of(result: &Result<(), routeyard::Error>) -> Result<(), ErrorKind> {
    result.as_ref().map(|_| ()).map_err(|e| e.kind())
}

impl Harness {
    fn new() -> Harness {
        let clock = ManualClock::new(START);
        let registry = Registry::new(
            Config::new()
                .clock(clock.clone())
                .max_ttl(ttl_duration(MAX_TTL))
                .history(HISTORY)
                .subscriber_buffer(BUFFER)
                .reserved_ports(vec![SYSTEM_PORT]),
        );
        let all_events = registry
            .subscribe(Filter::all(), Some(0))
            .expect("subscribe from 0");
        Harness {
            clock,
            model: Model::new(),
            guids: Guids::default(),
            all_events,
            events: Vec::new(),
            observed: vec![registry.snapshot()],
            later: Vec::new(),
            registry,
        }
    }

    fn guid_of(&self, r: &GroupRef) -> Arc<str> {
        let current = |i: usize| {
            self.model
                .groups
                .iter()
                .find(|g| &*g.name == GROUP_NAMES[i])
                .and_then(|g| self.guids.get(g.generation).cloned())
        };
        match r {
            GroupRef::Current(i) => current(*i),
            GroupRef::Earlier(i) => self
                .guids
                .by_name
                .get(GROUP_NAMES[*i])
                .and_then(|all| all.first().cloned())
                .or_else(|| current(*i)),
            GroupRef::Unknown => None,
        }
        .unwrap_or_else(|| "no-such-group".into())
    }

    fn http(&self, s: &HttpSpec) -> HttpRoute {
        HttpRoute {
            ttl: s.ttl,
            ..HttpRoute::new(ROUTES[s.route], HTTP_IPS[s.ip], HTTP_PORTS[s.port])
                .with_log_guid(LOG_GUIDS[s.log_guid])
                .with_route_service_url(RS_URLS[s.rs_url])
        }
    }

    fn tcp(&self, s: &TcpSpec) -> TcpRouteMapping {
        let guid = self.guid_of(&s.group);
        TcpRouteMapping {
            backend_tls_port: TLS_PORTS[s.tls_port],
            backend_sni_hostname: SNIS[s.sni].map(Arc::from),
            sni_rewrite_hostname: SNI_REWRITES[s.sni_rewrite].map(Arc::from),
            instance_id: INSTANCES[s.instance].into(),
            isolation_segment: SEGMENTS[s.segment].into(),
            terminate_frontend_tls: s.terminate_tls,
            alpns: ALPNS[s.alpns].into(),
            enable_backend_mtls: s.mtls,
            ttl: s.ttl,
            ..TcpRouteMapping::new(
                &guid,
                TCP_PORTS[s.port],
                BACKEND_IPS[s.ip],
                BACKEND_PORTS[s.backend_port],
            )
        }
    }

    fn change(&self, c: &ChangeSpec) -> Change {
        match c {
            ChangeSpec::UpsertHttp(s) => Change::UpsertHttpRoute(self.http(s)),
            ChangeSpec::DeleteHttp(s) => Change::DeleteHttpRoute(self.http(s)),
            ChangeSpec::UpsertTcp(s) => Change::UpsertTcpRouteMapping(self.tcp(s)),
            ChangeSpec::DeleteTcp(s) => Change::DeleteTcpRouteMapping(self.tcp(s)),
            ChangeSpec::CreateGroup {
                name,
                group_type,
                ports,
            } => Change::CreateRouterGroup(RouterGroup::new(
                GROUP_NAMES[*name],
                GROUP_TYPES[*group_type],
                PORT_SPECS[*ports].0,
            )),
            ChangeSpec::UpdateGroup { group, ports } => Change::UpdateRouterGroup {
                guid: self.guid_of(group).to_string(),
                reservable_ports: PORT_SPECS[*ports].0.to_string(),
            },
            ChangeSpec::DeleteGroup(group) => Change::DeleteRouterGroup {
                guid: self.guid_of(group).to_string(),
            },
            ChangeSpec::Reserve { group, ttl } => Change::ReservePort {
                router_group_guid: self.guid_of(group).to_string(),
                ttl: *ttl,
            },
            ChangeSpec::Release { group, port } => Change::ReleasePort {
                router_group_guid: self.guid_of(group).to_string(),
                port: RELEASE_PORTS[*port],
            },
            ChangeSpec::ReleaseHeld(n) => {
                let mut held: Vec<&(Arc<str>, u16)> = self.model.reservations.keys().collect();
                held.sort();
                let (guid, port) = match held.get(n % held.len().max(1)) {
                    Some((guid, port)) => (guid.to_string(), *port),
                    None => ("no-such-group".to_string(), RELEASE_PORTS[0]),
                };
                Change::ReleasePort {
                    router_group_guid: guid,
                    port,
                }
            }
            ChangeSpec::DeleteHeldHttp(n) => {
                let mut held: Vec<&HttpKey> = self.model.http.keys().collect();
                held.sort();
                let route = match held.get(n % held.len().max(1)) {
                    Some((route, ip, port, rs_url)) => {
                        HttpRoute::new(route, ip, *port).with_route_service_url(rs_url)
                    }
                    None => HttpRoute::new(ROUTES[0], HTTP_IPS[0], HTTP_PORTS[0]),
                };
                Change::DeleteHttpRoute(route)
            }
            ChangeSpec::DeleteHeldTcp(n) => {
                let mut held: Vec<&TcpKey> = self.model.tcp.keys().collect();
                held.sort();
                let mapping = match held.get(n % held.len().max(1)) {
                    Some((guid, port, ip, backend_port, tls_port, sni, mtls)) => TcpRouteMapping {
                        backend_tls_port: *tls_port,
                        backend_sni_hostname: sni.clone(),
                        enable_backend_mtls: *mtls,
                        ..TcpRouteMapping::new(guid, *port, ip, *backend_port)
                    },
                    None => TcpRouteMapping::new(
                        "no-such-group",
                        TCP_PORTS[0],
                        BACKEND_IPS[0],
                        BACKEND_PORTS[0],
                    ),
                };
                Change::DeleteTcpRouteMapping(mapping)
            }
        }
    }

    /// Runs one change through its single-purpose method; returns what the
    /// registry answered and a check of the returned value to run once guids
    /// are learned.
    fn single(&self, change: Change) -> (Result<(), routeyard::Error>, Option<Answer>) {
        let r = &self.registry;
        match change {
            Change::UpsertHttpRoute(x) => (rev(r, r.upsert_http_routes(vec![x])), None),
            Change::DeleteHttpRoute(x) => (rev(r, r.delete_http_routes(&[x])), None),
            Change::UpsertTcpRouteMapping(x) => {
                (rev(r, r.upsert_tcp_route_mappings(vec![x])), None)
            }
            Change::DeleteTcpRouteMapping(x) => (rev(r, r.delete_tcp_route_mappings(&[x])), None),
            Change::CreateRouterGroup(g) => match r.create_router_group(g) {
                Ok((g, created)) => (Ok(()), Some(Answer::Group(g, Some(created)))),
                Err(e) => (Err(e), None),
            },
            Change::UpdateRouterGroup {
                guid,
                reservable_ports,
            } => match r.update_router_group(&guid, &reservable_ports) {
                Ok(g) => (Ok(()), Some(Answer::Group(g, None))),
                Err(e) => (Err(e), None),
            },
            Change::DeleteRouterGroup { guid } => (rev(r, r.delete_router_group(&guid)), None),
            Change::ReservePort {
                router_group_guid,
                ttl,
            } => match r.reserve_port(&router_group_guid, ttl) {
                Ok(p) => (Ok(()), Some(Answer::Reservation(p))),
                Err(e) => (Err(e), None),
            },
            Change::ReleasePort {
                router_group_guid,
                port,
            } => (rev(r, r.release_port(&router_group_guid, port)), None),
            other => panic!("no single-purpose method for {other:?}"),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before = self.observed.last().unwrap().clone();
        let mut model = self.model.clone();
        let mut predicted_events: Vec<String> = Vec::new();
        let mut out = Returned::default();
        let mut returned: Option<Answer> = None;
        let mut batch_events: Option<Vec<Event>> = None;
        let mut expired: Option<(usize, usize)> = None;

        let (predicted, actual): (Result<(), ErrorKind>, Result<(), ErrorKind>) = match op {
            Op::UpsertHttp(specs) => {
                let routes: Vec<HttpRoute> = specs.iter().map(|s| self.http(s)).collect();
                let changes: Vec<Change> = routes
                    .iter()
                    .cloned()
                    .map(Change::UpsertHttpRoute)
                    .collect();
                let p = model.apply(
                    &changes,
                    Mode::ValidateFirst,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let a = rev(&self.registry, self.registry.upsert_http_routes(routes));
                (p, kind_of(&a))
            }
            Op::DeleteHttp(specs) => {
                let routes: Vec<HttpRoute> = specs.iter().map(|s| self.http(s)).collect();
                let changes: Vec<Change> = routes
                    .iter()
                    .cloned()
                    .map(Change::DeleteHttpRoute)
                    .collect();
                let p = model.apply(
                    &changes,
                    Mode::ValidateFirst,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let a = rev(&self.registry, self.registry.delete_http_routes(&routes));
                (p, kind_of(&a))
            }
            Op::UpsertTcp(specs) => {
                let mappings: Vec<TcpRouteMapping> = specs.iter().map(|s| self.tcp(s)).collect();
                let changes: Vec<Change> = mappings
                    .iter()
                    .cloned()
                    .map(Change::UpsertTcpRouteMapping)
                    .collect();
                let p = model.apply(
                    &changes,
                    Mode::CheckFirst,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let a = rev(
                    &self.registry,
                    self.registry.upsert_tcp_route_mappings(mappings),
                );
                (p, kind_of(&a))
            }
            Op::DeleteTcp(specs) => {
                let mappings: Vec<TcpRouteMapping> = specs.iter().map(|s| self.tcp(s)).collect();
                let changes: Vec<Change> = mappings
                    .iter()
                    .cloned()
                    .map(Change::DeleteTcpRouteMapping)
                    .collect();
                let p = model.apply(
                    &changes,
                    Mode::ValidateFirst,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let a = rev(
                    &self.registry,
                    self.registry.delete_tcp_route_mappings(&mappings),
                );
                (p, kind_of(&a))
            }
            Op::Single(spec) => {
                let change = self.change(spec);
                let mode = match change {
                    Change::UpsertTcpRouteMapping(_) => Mode::CheckFirst,
                    _ => Mode::ValidateFirst,
                };
                let p = model.apply(
                    std::slice::from_ref(&change),
                    mode,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let (a, r) = self.single(change);
                returned = r;
                (p, kind_of(&a))
            }
            Op::Batch(specs) => {
                let changes: Vec<Change> = specs.iter().map(|s| self.change(s)).collect();
                let p = model.apply(
                    &changes,
                    Mode::InOrder,
                    &self.guids,
                    &mut predicted_events,
                    &mut out,
                );
                let a = self.registry.apply(changes);
                let k = a.as_ref().map(|_| ()).map_err(|e| e.kind());
                batch_events = a.ok();
                (p, k)
            }
            Op::ReserveInRange { name, range } => {
                let p = model.reserve_in_range(GROUP_NAMES[*name], *range, &mut predicted_events);
                let a = self
                    .registry
                    .reserve_port_in_range(GROUP_NAMES[*name], RANGE_SPECS[*range].0);
                if let (Ok(pp), Ok(ap)) = (&p, &a) {
                    prop_assert_eq!(pp, ap, "reserve_port_in_range chose another port");
                }
                (p.map(|_| ()), a.map(|_| ()).map_err(|e| e.kind()))
            }
            Op::Advance(d) => {
                self.clock.advance(*d);
                model.now = model.now.saturating_add(*d);
                prop_assert_eq!(self.clock.now(), model.now);
                (Ok(()), Ok(()))
            }
            Op::Expire => {
                let n = model.expire_all(&mut predicted_events);
                let got = self.registry.expire(self.clock.now());
                expired = Some((n, got));
                (Ok(()), Ok(()))
            }
            Op::Subscribe {
                back,
                filter: f,
                live,
            } => {
                let current = self.registry.revision();
                // A revision newer than the registry's is refused and changes nothing.
                let err = self
                    .registry
                    .subscribe(filter(*f), Some(current + 1 + *back as u64))
                    .expect_err("subscribing from a future revision must fail");
                prop_assert_eq!(err.kind(), ErrorKind::InvalidArgument);
                let (from, arg) = if *live {
                    (current, None)
                } else {
                    let at = self.observed.len().saturating_sub(1 + back);
                    let r = self.observed[at].revision;
                    (r, Some(r))
                };
                let sub = self
                    .registry
                    .subscribe(filter(*f), arg)
                    .map_err(|e| TestCaseError::fail(format!("subscribe({arg:?}): {e}")))?;
                self.later.push((from, filter(*f), sub));
                (Ok(()), Ok(()))
            }
        };

        prop_assert_eq!(
            &predicted,
            &actual,
            "outcome differs from the model (model says {:?}, registry says {:?})",
            predicted,
            actual
        );
        if predicted.is_ok() {
            self.model = model;
        } else {
            predicted_events.clear();
        }
        if let Some((n, got)) = expired {
            prop_assert_eq!(n, got, "expire removed another number of leases");
        }

        // The events of this step: consecutive revisions right after the last one.
        let new = drain(&mut self.all_events)?;
        let revision = self.registry.revision();
        prop_assert_eq!(
            revision,
            before.revision + new.len() as u64,
            "the revision moved by another amount than the events published"
        );
        for (i, e) in new.iter().enumerate() {
            prop_assert_eq!(
                e.revision,
                before.revision + 1 + i as u64,
                "revisions are not consecutive"
            );
        }
        if let Some(returned_events) = &batch_events {
            prop_assert_eq!(
                returned_events,
                &new,
                "apply returned other events than it published"
            );
        }
        let mut got: Vec<String> = new.iter().map(|e| describe(e.action, &e.object)).collect();
        got.sort();
        predicted_events.sort();
        prop_assert_eq!(&got, &predicted_events, "events differ from the model's");

        let snapshot = self.registry.snapshot();
        prop_assert_eq!(snapshot.revision, revision);
        if actual.is_err() {
            prop_assert_eq!(&snapshot, &before, "a failed call changed the registry");
        }
        // The step's events carry the previous snapshot to this one.
        let mut replayed = before;
        for e in &new {
            replayed.apply(e);
        }
        prop_assert_eq!(
            &replayed,
            &snapshot,
            "previous snapshot + this step's events != snapshot"
        );
        self.events.extend(new);

        self.learn(&snapshot)?;
        let expected = self.model.expected(revision, &self.guids);
        prop_assert_eq!(
            &snapshot,
            &expected,
            "the registry's state differs from the model's"
        );
        self.check_returned(returned, &out)?;
        self.check_listings(&expected)?;
        self.observed.push(snapshot);
        Ok(())
    }

    /// Learns the guids of objects created in this step and checks that known
    /// ones did not change.
    fn learn(&mut self, s: &Snapshot) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            s.router_groups.len(),
            self.model.groups.len(),
            "number of router groups"
        );
        for g in &self.model.groups {
            let actual = s.router_groups.iter().find(|x| x.name == g.name);
            let actual =
                actual.ok_or_else(|| TestCaseError::fail(format!("group {} missing", g.name)))?;
            let known = self.guids.get(g.generation).is_some();
            self.guids.learn(g.generation, &actual.guid)?;
            if !known {
                self.guids
                    .by_name
                    .entry(g.name.clone())
                    .or_default()
                    .push(actual.guid.clone());
            }
        }
        prop_assert_eq!(
            s.http_routes.len(),
            self.model.http.len(),
            "number of HTTP routes"
        );
        for r in &s.http_routes {
            let (_, generation) = self
                .model
                .http
                .get(&http_key(r))
                .ok_or_else(|| TestCaseError::fail(format!("unexpected HTTP route {r:?}")))?;
            self.guids.learn(*generation, &r.modification_tag.guid)?;
        }
        prop_assert_eq!(
            s.tcp_route_mappings.len(),
            self.model.tcp.len(),
            "number of TCP mappings"
        );
        for m in &s.tcp_route_mappings {
            let (_, generation) = self
                .model
                .tcp
                .get(&tcp_key(m))
                .ok_or_else(|| TestCaseError::fail(format!("unexpected TCP mapping {m:?}")))?;
            self.guids.learn(*generation, &m.modification_tag.guid)?;
        }
        Ok(())
    }

    fn check_returned(
        &self,
        returned: Option<Answer>,
        out: &Returned,
    ) -> Result<(), TestCaseError> {
        match returned {
            None => {}
            Some(Answer::Group(g, created)) => {
                let expected = self
                    .model
                    .groups
                    .iter()
                    .find(|x| x.name == g.name)
                    .ok_or_else(|| TestCaseError::fail("returned a group the model lacks"))?;
                prop_assert_eq!(Some(&g.guid), self.guids.get(expected.generation));
                prop_assert_eq!(&g.group_type, &expected.group_type);
                prop_assert_eq!(&g.reservable_ports, &expected.ports);
                if let Some(created) = created {
                    let (generation, model_created) = out.group.unwrap();
                    prop_assert_eq!(generation, expected.generation);
                    prop_assert_eq!(created, model_created, "create_router_group's flag");
                }
            }
            Some(Answer::Reservation(r)) => {
                prop_assert_eq!(Some(&r), out.reservation.as_ref(), "reserve_port's answer");
            }
        }
        Ok(())
    }

    /// The listings show exactly the entries whose lease has not lapsed.
    fn check_listings(&self, expected: &Snapshot) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        let mut live = expected.clone();
        live.http_routes.retain(|r| r.expires_at > now);
        live.tcp_route_mappings.retain(|m| m.expires_at > now);
        live.port_reservations.retain(|r| r.expires_at > now);
        let mut listed = Snapshot {
            revision: expected.revision,
            router_groups: self.registry.router_groups(),
            http_routes: self.registry.http_routes(),
            tcp_route_mappings: self.registry.tcp_route_mappings(),
            port_reservations: self.registry.port_reservations(),
            ..Snapshot::default()
        };
        listed.sort();
        prop_assert_eq!(
            &listed,
            &live,
            "the listings differ from the model's live entries"
        );
        for g in &expected.router_groups {
            let by_name = self.registry.router_group_by_name(&g.name);
            prop_assert_eq!(by_name.as_ref().ok(), Some(g));
            let by_guid = self.registry.router_group(&g.guid);
            prop_assert_eq!(by_guid.as_ref(), Some(g));
        }
        Ok(())
    }

    /// The properties that need the whole run.
    fn finish(mut self) -> Result<(), TestCaseError> {
        let last = self.registry.snapshot();
        prop_assert_eq!(&last, self.observed.last().unwrap());
        prop_assert!(drain(&mut self.all_events)?.is_empty());
        // (b) every event has its own revision, 1..=revision with no gap.
        for (i, e) in self.events.iter().enumerate() {
            prop_assert_eq!(e.revision, i as u64 + 1);
        }
        prop_assert_eq!(self.events.len() as u64, last.revision);
        // (a) the snapshot at any observed revision plus the events after it
        // rebuilds the final state exactly.
        for snapshot in &self.observed {
            let mut s = snapshot.clone();
            for e in self
                .events
                .iter()
                .filter(|e| e.revision > snapshot.revision)
            {
                s.apply(e);
            }
            prop_assert_eq!(
                &s,
                &last,
                "snapshot at {} + later events != final",
                snapshot.revision
            );
        }
        let mut from_scratch = Snapshot::default();
        for e in &self.events {
            from_scratch.apply(e);
        }
        prop_assert_eq!(
            &from_scratch,
            &last,
            "all events from an empty snapshot != final"
        );
        // (d) a subscription opened during the run sees exactly the later events
        // its filter accepts.
        for (from, f, sub) in &mut self.later {
            let got = drain(sub)?;
            let want: Vec<Event> = self
                .events
                .iter()
                .filter(|e| e.revision > *from && f.accepts(e.kind()))
                .cloned()
                .collect();
            prop_assert_eq!(got, want, "subscription from {} with {:?}", from, f);
        }
        Ok(())
    }
}

/// What a single-purpose method returned, to compare with the model.
enum Answer {
    /// From create_router_group (with its `created` flag) or update_router_group.
    Group(RouterGroup, Option<bool>),
    /// From reserve_port.
    Reservation(PortReservation),
}

/// Checks the revision a write method returns, and drops it.
fn rev(registry: &Registry, result: Result<u64, routeyard::Error>) -> Result<(), routeyard::Error> {
    result.map(|r| assert_eq!(r, registry.revision(), "returned revision"))
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut h = Harness::new();
    prop_assert_eq!(h.observed[0].clone(), Snapshot::default());
    // Two TCP groups exist from the start; the generated steps may change them.
    let setup = [
        Op::Single(ChangeSpec::CreateGroup {
            name: 0,
            group_type: 0,
            ports: 0,
        }),
        Op::Single(ChangeSpec::CreateGroup {
            name: 1,
            group_type: 0,
            ports: 1,
        }),
    ];
    for op in setup.iter().chain(ops) {
        h.step(op)?;
    }
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn replay_and_model_agree(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Long runs: fewer cases, more history per case.
    #[test]
    fn long_runs(ops in prop::collection::vec(op(), 150..250)) {
        run(&ops)?;
    }
}

// ---------------------------------------------------------------------------
// The smallest cases the properties above have found
// ---------------------------------------------------------------------------

/// `Registry::apply` validates and applies each change in order, and reports
/// "the first change's error": here the release, which fails before the
/// mapping is looked at.
#[test]
fn batch_reports_the_error_of_the_first_failing_change() {
    let registry = Registry::new(Config::new().clock(ManualClock::new(START)));
    let (group, _) = registry
        .create_router_group(RouterGroup::new("tcp-a", "tcp", "1024-1027"))
        .unwrap();
    let before = registry.snapshot();
    let bad_mapping = TcpRouteMapping {
        backend_tls_port: 70_000,
        ..TcpRouteMapping::new(&group.guid, 1024, "10.1.0.1", 6000)
    };
    let err = registry
        .apply(vec![
            Change::ReleasePort {
                router_group_guid: group.guid.to_string(),
                port: 1024,
            },
            Change::UpsertTcpRouteMapping(bad_mapping),
        ])
        .unwrap_err();
    assert_eq!(registry.snapshot(), before);
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "the error is not the first failing change's: {err}"
    );
}

/// `reserve_port` "reserves the lowest port of the group's ranges" that is
/// free, also when the ranges are not written in ascending order.
#[test]
fn reserve_port_takes_the_lowest_free_port() {
    let registry = Registry::new(Config::new().clock(ManualClock::new(START)));
    let (group, _) = registry
        .create_router_group(RouterGroup::new("misc-c", "tcp", "3001,1024-1025"))
        .unwrap();
    let ports: Vec<u16> = (0..3)
        .map(|_| registry.reserve_port(&group.guid, None).unwrap().port)
        .collect();
    assert_eq!(ports, [1024, 1025, 3001]);
}
