//! The write path: validate, apply, advance the revision, publish.

use std::fmt;
use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use hashbrown::{HashMap, HashSet};
use parking_lot::RwLock;

use crate::balance::{Backend, BackendState, Pool, PoolConfig, SplitConfig, Strategy};
use crate::dialect::gobetween::{self, GbError, GbErrorKind};
use crate::error::{Error, ErrorKind};
use crate::events::{Action, Event, EventLog, Filter, Object, Subscription};
use crate::lease::{Clock, LeaseQueue, SystemClock, Timestamp};
use crate::matcher::{Found, Garbage, Index, Match, Published, Request};
use crate::model::cf::{
    validate_http_route, validate_router_group, validate_tcp_mapping, HttpKey, HttpRoute,
    ModificationTag, PortReservation, RouterGroup, TcpKey, TcpRouteMapping,
};
use crate::model::kong::{self, Route, Service};
use crate::model::ports::{self, PortRange};
use crate::model::upstream::{NamedServer, Upstream};
use crate::sync::LeaseCell;

/// Lapsed CF backends the index drops per lock hold in
/// [`Registry::compact_index`]: each costs a few microseconds, mostly freeing.
const COMPACT_CHUNK: usize = 128;

/// How many leases one lock hold of [`Registry::expire`] removes at most, so that
/// readers and writers wait for a bounded time (well under a millisecond) while a
/// large set lapses.
const EXPIRE_CHUNK: usize = 256;

/// How many lapsed CF backends one commit removes from the matcher's index.
const DEAD_PER_COMMIT: usize = 64;

/// Options of a [`Registry`]. Unset options take the documented defaults.
///
/// # Example
///
/// ```
/// use routeyard::{Config, ManualClock, Registry, Timestamp};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(Timestamp::from_secs(1_000));
/// let registry = Registry::new(
///     Config::new()
///         .max_ttl(Duration::from_secs(60))
///         .history(10_000)
///         .clock(clock.clone()),
/// );
/// assert_eq!(registry.max_ttl(), Duration::from_secs(60));
/// ```
#[derive(Clone, Default)]
pub struct Config {
    max_ttl: Option<Duration>,
    history: Option<usize>,
    subscriber_buffer: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
    reserved_ports: Option<Vec<u16>>,
    reservation_ttl: Option<Duration>,
}

impl Config {
    /// A configuration with every option at its default.
    pub fn new() -> Config {
        Config::default()
    }

    /// The longest TTL a registration may ask for, and the TTL of one that asks for
    /// none. Whole seconds; default 120 s (CF's `max_ttl`).
    pub fn max_ttl(mut self, max_ttl: Duration) -> Config {
        self.max_ttl = Some(max_ttl);
        self
    }

    /// How many past events are kept for subscribers to replay. Default 65,536.
    pub fn history(mut self, events: usize) -> Config {
        self.history = Some(events);
        self
    }

    /// How many undelivered events a subscriber may hold before it is told it
    /// lagged and closed. Default 1,024 (CF's per-subscriber buffer).
    pub fn subscriber_buffer(mut self, events: usize) -> Config {
        self.subscriber_buffer = Some(events);
        self
    }

    /// The clock every TTL decision reads. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Config {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Ports no router group may make reservable (CF's
    /// `reserved_system_component_ports` with `fail_on_router_port_conflicts`).
    /// Default: none.
    pub fn reserved_ports(mut self, ports: impl Into<Vec<u16>>) -> Config {
        self.reserved_ports = Some(ports.into());
        self
    }

    /// How long a port reservation lives unless a mapping claims its port.
    /// Default: the `max_ttl`.
    pub fn reservation_ttl(mut self, ttl: Duration) -> Config {
        self.reservation_ttl = Some(ttl);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_ttl", &self.max_ttl)
            .field("history", &self.history)
            .field("subscriber_buffer", &self.subscriber_buffer)
            .field("clock", &self.clock)
            .field("reserved_ports", &self.reserved_ports)
            .field("reservation_ttl", &self.reservation_ttl)
            .finish()
    }
}

/// One change of an atomic batch given to [`Registry::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Create or renew a CF HTTP route.
    UpsertHttpRoute(HttpRoute),
    /// Remove a CF HTTP route (absent is not an error).
    DeleteHttpRoute(HttpRoute),
    /// Create or renew a CF TCP route mapping.
    UpsertTcpRouteMapping(TcpRouteMapping),
    /// Remove a CF TCP route mapping (absent is not an error).
    DeleteTcpRouteMapping(TcpRouteMapping),
    /// Create a router group (an existing one of the same name and type is kept).
    CreateRouterGroup(RouterGroup),
    /// Replace the reservable ports of a router group.
    UpdateRouterGroup {
        /// The group's guid.
        guid: String,
        /// The new `reservable_ports`.
        reservable_ports: String,
    },
    /// Remove a router group and its port reservations.
    DeleteRouterGroup {
        /// The group's guid.
        guid: String,
    },
    /// Reserve a free port of a router group.
    ReservePort {
        /// The group's guid.
        router_group_guid: String,
        /// The reservation's lifetime; `None` for the configured default.
        ttl: Option<Duration>,
    },
    /// Release a port reservation.
    ReleasePort {
        /// The group's guid.
        router_group_guid: String,
        /// The reserved port.
        port: u16,
    },
    /// Create a service, or replace the one its `id` names.
    UpsertService(Service),
    /// Create or replace the service named or identified by `key`, as
    /// [`Registry::put_service`].
    PutService {
        /// A UUID-shaped id, or a name.
        key: String,
        /// The service.
        service: Service,
    },
    /// Delete a service by name or id (it must exist and have no routes).
    DeleteService {
        /// A name or an id.
        key: String,
    },
    /// Create a route, or replace the one its `id` names.
    UpsertRoute(Route),
    /// Create or replace the route named or identified by `key`, as
    /// [`Registry::put_route`].
    PutRoute {
        /// A UUID-shaped id, or a name.
        key: String,
        /// The route.
        route: Route,
    },
    /// Delete a route by name or id (it must exist).
    DeleteRoute {
        /// A name or an id.
        key: String,
    },
    /// Set the backends and balancing of a service, as
    /// [`Registry::put_upstream`].
    PutUpstream {
        /// The service's name or id.
        service: String,
        /// The backends.
        backends: Vec<Backend>,
        /// Strategy, split and seed.
        config: PoolConfig,
    },
    /// Remove the backends and balancing of a service (it must have them).
    DeleteUpstream {
        /// The service's name or id.
        service: String,
    },
    /// Create a gobetween server, as [`Registry::create_server`].
    CreateServer {
        /// The server's name.
        name: String,
        /// Its configuration.
        server: Box<gobetween::Server>,
    },
    /// Delete a gobetween server, as [`Registry::delete_server`].
    DeleteServer {
        /// The server's name.
        name: String,
    },
}

/// Everything the registry holds at one revision.
///
/// Leased objects are included with their `expires_at` even if that time has
/// passed: they stay part of the state until the event that removes them. Lists
/// are sorted, so equal states give equal snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The revision this snapshot shows.
    pub revision: u64,
    /// Router groups, by guid.
    pub router_groups: Vec<RouterGroup>,
    /// CF HTTP routes, by key.
    pub http_routes: Vec<HttpRoute>,
    /// CF TCP route mappings, by key.
    pub tcp_route_mappings: Vec<TcpRouteMapping>,
    /// Port reservations, by group and port.
    pub port_reservations: Vec<PortReservation>,
    /// Kong-style routes, by id.
    pub routes: Vec<Route>,
    /// Kong-style services, by id.
    pub services: Vec<Service>,
    /// Services' backends and balancing, by service id.
    pub upstreams: Vec<Upstream>,
    /// gobetween servers, by name.
    pub servers: Vec<NamedServer>,
}

#[derive(Clone)]
struct GroupEntry {
    group: Arc<RouterGroup>,
    ranges: Arc<[PortRange]>,
}

enum Lease {
    Http(Arc<HttpRoute>),
    Tcp(Arc<TcpRouteMapping>),
    Reservation(Arc<PortReservation>),
}

type ReservationKey = (Arc<str>, u16);

/// A stored CF HTTP route and the cell that holds its expiry for the matcher.
///
/// The cell is shared with the matcher's index, so a renewal (the registry's most
/// common write) reaches readers with one atomic store at commit and no change to
/// the index.
#[derive(Clone)]
struct HttpEntry {
    route: Arc<HttpRoute>,
    lease: Arc<LeaseCell>,
}

/// A lapsed CF backend waiting to leave the index.
type Dead = (Arc<HttpRoute>, Arc<LeaseCell>);

/// Lapsed CF backends waiting to leave the index, in chunks.
///
/// An expiry sweep adds up to a chunk per lock hold; the chunk is allocated
/// before the lock is taken ([`DeadList::spare`]), because with glibc a large
/// allocation after heavy freeing can stop for tens of milliseconds while the
/// allocator consolidates its free lists, and no one should wait on the registry
/// for that. The list of chunks itself only allocates small nodes.
#[derive(Default)]
struct DeadList {
    chunks: std::collections::LinkedList<Vec<Dead>>,
}

impl DeadList {
    /// An empty chunk for one sweep step, to allocate outside the lock.
    fn spare() -> Vec<Dead> {
        Vec::with_capacity(EXPIRE_CHUNK)
    }

    /// Makes room for `n` more entries with `spare`, if the last chunk lacks it.
    fn provide(&mut self, spare: Vec<Dead>, n: usize) {
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.capacity() - c.len() >= n);
        if !fits {
            self.chunks.push_back(spare);
        }
    }

    fn push(&mut self, dead: Dead) {
        match self.chunks.back_mut() {
            Some(chunk) if chunk.len() < chunk.capacity() => chunk.push(dead),
            _ => {
                let mut chunk = Vec::with_capacity(64);
                chunk.push(dead);
                self.chunks.push_back(chunk);
            }
        }
    }

    fn pop(&mut self) -> Option<Dead> {
        loop {
            let chunk = self.chunks.back_mut()?;
            if let Some(dead) = chunk.pop() {
                return Some(dead);
            }
            self.chunks.pop_back();
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }
}

/// What a committed change does to the matcher's index.
#[derive(Clone)]
enum IndexOp {
    /// Apply the event's object.
    Apply,
    /// A CF route was created: add it as a backend with this expiry cell.
    CreateCf(Arc<LeaseCell>),
    /// A CF route was renewed: move its expiry cell to this time.
    RenewCf(Arc<LeaseCell>, Timestamp),
    /// A CF route lapsed: `find` already skips it by time, so its removal from
    /// the index is queued and done in bounded steps after later commits.
    ExpireCf(Arc<LeaseCell>),
    /// A Kong-style route was stored in place of this one (if any), whose
    /// entries the index removes first.
    ReplaceRoute(Option<Arc<Route>>),
}

enum Undo {
    Route(Arc<str>, Option<Arc<Route>>),
    Service(Arc<str>, Option<Arc<Service>>),
    Upstream(Arc<str>, Option<Arc<Upstream>>),
    Server(Arc<str>, Option<Arc<NamedServer>>),
    Http(HttpKey, Option<HttpEntry>),
    Tcp(TcpKey, Option<Arc<TcpRouteMapping>>),
    Group(Arc<str>, Option<GroupEntry>),
    Reservation(ReservationKey, Option<Arc<PortReservation>>),
}

/// A small, fast generator for guids (SplitMix64, seeded from the OS).
struct GuidSource(u64);

impl GuidSource {
    fn new() -> GuidSource {
        let seed = uuid::Uuid::new_v4().as_u64_pair();
        GuidSource(seed.0 ^ seed.1.rotate_left(32))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn guid(&mut self) -> Arc<str> {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        Arc::from(&*uuid.hyphenated().encode_lower(&mut buf))
    }
}

/// Objects with an id and an optional unique name.
struct Named<T> {
    by_id: ById<T>,
    by_name: HashMap<String, Arc<str>>,
}

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named {
            by_id: ById::default(),
            by_name: HashMap::new(),
        }
    }
}

/// What a Kong-style object exposes to [`Named`].
trait Identified {
    fn id(&self) -> &str;
    fn name(&self) -> Option<&str>;
}

impl Identified for Route {
    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl Identified for Service {
    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// Objects by the id each carries: the table holds each object once, with the
/// hash of its own id, so no id is kept a second time as a key (at a million
/// routes, a key of its own cost some 80 bytes a route). The hash is kept so that
/// growing the table does not read every object's id again.
struct ById<T> {
    table: hashbrown::HashTable<(u64, Arc<T>)>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<T> Default for ById<T> {
    fn default() -> Self {
        ById {
            table: hashbrown::HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }
}

impl<T: Identified> ById<T> {
    fn get(&self, id: &str) -> Option<&Arc<T>> {
        let hash = self.hasher.hash_one(id);
        let (_, value) = self.table.find(hash, |(h, v)| *h == hash && v.id() == id)?;
        Some(value)
    }

    fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Adds `value` under its id; the object it replaces, if any.
    fn insert(&mut self, value: Arc<T>) -> Option<Arc<T>> {
        let hash = self.hasher.hash_one(value.id());
        match self.table.entry(
            hash,
            |(h, v)| *h == hash && v.id() == value.id(),
            |(h, _)| *h,
        ) {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                Some(std::mem::replace(&mut slot.get_mut().1, value))
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, value));
                None
            }
        }
    }

    fn remove(&mut self, id: &str) -> Option<Arc<T>> {
        let hash = self.hasher.hash_one(id);
        let slot = self
            .table
            .find_entry(hash, |(h, v)| *h == hash && v.id() == id)
            .ok()?;
        Some(slot.remove().0 .1)
    }

    fn values(&self) -> impl Iterator<Item = &Arc<T>> {
        self.table.iter().map(|(_, v)| v)
    }

    /// Every object with its id, as [`sorted_values`] takes them.
    fn keyed(&self) -> impl Iterator<Item = (&str, &Arc<T>)> {
        self.values().map(|v| (v.id(), v))
    }
}

/// A map's entries as [`sorted_values`] takes them.
fn keyed<T>(map: &HashMap<Arc<str>, Arc<T>>) -> impl Iterator<Item = (&str, &Arc<T>)> {
    map.iter().map(|(k, v)| (&**k, v))
}

impl<T: Identified> Named<T> {
    fn set(&mut self, id: Arc<str>, value: Option<Arc<T>>) -> Option<Arc<T>> {
        let old = match &value {
            Some(v) => {
                debug_assert_eq!(v.id(), &*id, "an object is set under its own id");
                self.by_id.insert(v.clone())
            }
            None => self.by_id.remove(&id),
        };
        // The old name goes unless the new value keeps it.
        if let Some(old_name) = old.as_ref().and_then(|o| o.name()) {
            let kept = value.as_ref().and_then(|v| v.name()) == Some(old_name);
            if !kept && self.by_name.get(old_name).is_some_and(|owner| *owner == id) {
                self.by_name.remove(old_name);
            }
        }
        if let Some(name) = value.as_ref().and_then(|v| v.name()) {
            self.by_name.insert(name.to_string(), id);
        }
        old
    }

    /// By id when `key` is UUID-shaped, else by name (Kong's `{name or id}`).
    fn get(&self, key: &str) -> Option<&Arc<T>> {
        if kong::is_uuid(key) {
            self.by_id.get(key)
        } else {
            self.by_name.get(key).and_then(|id| self.by_id.get(id))
        }
    }
}

/// Everything behind the write lock.
struct State {
    revision: u64,
    groups: HashMap<Arc<str>, GroupEntry>,
    group_names: HashMap<Arc<str>, Arc<str>>,
    http: HashMap<HttpKey, HttpEntry>,
    tcp: HashMap<TcpKey, Arc<TcpRouteMapping>>,
    /// Mappings per (group, external port): the ports they hold against reservations.
    tcp_ports: HashMap<ReservationKey, u32>,
    /// Mappings with an SNI host name, per (external port, SNI), for CF's
    /// `terminate_frontend_tls` consistency rule.
    tcp_sni: HashMap<(u16, Arc<str>), HashSet<TcpKey>>,
    reservations: HashMap<ReservationKey, Arc<PortReservation>>,
    /// Kong-style routes and services by id, and their names.
    routes: Named<Route>,
    services: Named<Service>,
    /// Backends and balancing, by service id.
    upstreams: HashMap<Arc<str>, Arc<Upstream>>,
    /// gobetween servers, by name.
    servers: HashMap<Arc<str>, Arc<NamedServer>>,
    leases: LeaseQueue<Lease>,
    log: EventLog,
    /// The matcher's index as of the last commit; its clones are what readers see.
    index: Index,
    guids: GuidSource,
    // Scratch space of the transaction in progress, kept to reuse its allocation.
    undo: Vec<Undo>,
    pending: Vec<(Action, Object, IndexOp)>,
    events: Vec<Event>,
    /// Lapsed CF backends still in the index, removed a few at a time.
    index_dead: DeadList,
    /// What the last commit let go of, freed once the lock is released.
    garbage: Garbage,
}

impl State {
    /// Sends the last commit's events to subscribers (after the index showing them
    /// is published, where there is one to publish).
    fn deliver(&mut self) {
        self.log.publish(&mut self.events);
    }

    fn live_leases(&self) -> usize {
        self.http.len() + self.tcp.len() + self.reservations.len()
    }

    fn set_http(&mut self, key: HttpKey, value: Option<HttpEntry>) -> Option<HttpEntry> {
        match value {
            Some(entry) => {
                self.leases
                    .push(entry.route.expires_at, Lease::Http(entry.route.clone()));
                self.http.insert(key, entry)
            }
            None => self.http.remove(&key),
        }
    }

    fn set_tcp(
        &mut self,
        key: TcpKey,
        value: Option<Arc<TcpRouteMapping>>,
    ) -> Option<Arc<TcpRouteMapping>> {
        let old = match &value {
            Some(mapping) => {
                self.leases
                    .push(mapping.expires_at, Lease::Tcp(mapping.clone()));
                self.tcp.insert(key.clone(), mapping.clone())
            }
            None => self.tcp.remove(&key),
        };
        let port_key = (key.router_group_guid.clone(), key.port);
        match (&old, &value) {
            (None, Some(_)) => {
                *self.tcp_ports.entry(port_key).or_insert(0) += 1;
                if let Some(sni) = &key.backend_sni_hostname {
                    self.tcp_sni
                        .entry((key.port, sni.clone()))
                        .or_default()
                        .insert(key);
                }
            }
            (Some(_), None) => {
                if let Some(n) = self.tcp_ports.get_mut(&port_key) {
                    *n -= 1;
                    if *n == 0 {
                        self.tcp_ports.remove(&port_key);
                    }
                }
                if let Some(sni) = &key.backend_sni_hostname {
                    let sni_key = (key.port, sni.clone());
                    if let Some(set) = self.tcp_sni.get_mut(&sni_key) {
                        set.remove(&key);
                        if set.is_empty() {
                            self.tcp_sni.remove(&sni_key);
                        }
                    }
                }
            }
            _ => {}
        }
        old
    }

    fn set_group(&mut self, guid: Arc<str>, value: Option<GroupEntry>) -> Option<GroupEntry> {
        let old = match value {
            Some(entry) => {
                self.group_names
                    .insert(entry.group.name.clone(), guid.clone());
                self.groups.insert(guid, entry)
            }
            None => self.groups.remove(&guid),
        };
        if let Some(old) = &old {
            let still_named = self.groups.values().any(|e| e.group.name == old.group.name);
            if !still_named {
                self.group_names.remove(&old.group.name);
            }
        }
        old
    }

    fn set_reservation(
        &mut self,
        key: ReservationKey,
        value: Option<Arc<PortReservation>>,
    ) -> Option<Arc<PortReservation>> {
        match value {
            Some(r) => {
                self.leases
                    .push(r.expires_at, Lease::Reservation(r.clone()));
                self.reservations.insert(key, r)
            }
            None => self.reservations.remove(&key),
        }
    }

    fn rebuild_leases(&mut self) {
        let http = self
            .http
            .values()
            .map(|e| (e.route.expires_at, Lease::Http(e.route.clone())));
        let tcp = self
            .tcp
            .values()
            .map(|m| (m.expires_at, Lease::Tcp(m.clone())));
        let reservations = self
            .reservations
            .values()
            .map(|r| (r.expires_at, Lease::Reservation(r.clone())));
        let live: Vec<(Timestamp, Lease)> = http.chain(tcp).chain(reservations).collect();
        self.leases.rebuild(live);
    }
}

/// A transaction over the state: every mutation is recorded so that a failure
/// anywhere in a batch puts everything back; events are published only on commit.
///
/// A transaction dropped without [`Txn::commit`] (a failed batch, or a panic inside
/// one) rolls back, so the state behind the lock is always a committed one.
struct Txn<'a> {
    st: &'a mut State,
    now: Timestamp,
    committed: bool,
    /// Whether the commit also drops a few lapsed CF backends from the index
    /// (not during an expiry sweep, which would only slow it down).
    compact: bool,
    /// Whether changes are journaled for rollback. An expiry sweep cannot fail,
    /// so it is not journaled, and if it is dropped unfinished (a panic) it
    /// commits what it removed instead, so that every removal has its event.
    journal: bool,
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.committed {
            if self.journal {
                self.undo_all();
            } else {
                self.commit_in_place();
                self.st.deliver();
            }
        }
    }
}

impl Txn<'_> {
    fn begin(st: &mut State, now: Timestamp) -> Txn<'_> {
        st.undo.clear();
        st.pending.clear();
        Txn {
            st,
            now,
            committed: false,
            compact: true,
            journal: true,
        }
    }

    fn http(&mut self, key: HttpKey, value: Option<HttpEntry>) -> Option<HttpEntry> {
        let old = self.st.set_http(key.clone(), value);
        if self.journal {
            self.st.undo.push(Undo::Http(key, old.clone()));
        }
        old
    }

    fn tcp(
        &mut self,
        key: TcpKey,
        value: Option<Arc<TcpRouteMapping>>,
    ) -> Option<Arc<TcpRouteMapping>> {
        let old = self.st.set_tcp(key.clone(), value);
        if self.journal {
            self.st.undo.push(Undo::Tcp(key, old.clone()));
        }
        old
    }

    fn group(&mut self, guid: Arc<str>, value: Option<GroupEntry>) -> Option<GroupEntry> {
        let old = self.st.set_group(guid.clone(), value);
        self.st.undo.push(Undo::Group(guid, old.clone()));
        old
    }

    fn reservation(
        &mut self,
        key: ReservationKey,
        value: Option<Arc<PortReservation>>,
    ) -> Option<Arc<PortReservation>> {
        let old = self.st.set_reservation(key.clone(), value);
        if self.journal {
            self.st.undo.push(Undo::Reservation(key, old.clone()));
        }
        old
    }

    fn route(&mut self, id: Arc<str>, value: Option<Arc<Route>>) -> Option<Arc<Route>> {
        let old = self.st.routes.set(id.clone(), value);
        self.st.undo.push(Undo::Route(id, old.clone()));
        old
    }

    fn service(&mut self, id: Arc<str>, value: Option<Arc<Service>>) -> Option<Arc<Service>> {
        let old = self.st.services.set(id.clone(), value);
        self.st.undo.push(Undo::Service(id, old.clone()));
        old
    }

    fn server(
        &mut self,
        name: Arc<str>,
        value: Option<Arc<NamedServer>>,
    ) -> Option<Arc<NamedServer>> {
        let old = set_entry(&mut self.st.servers, name.clone(), value);
        self.st.undo.push(Undo::Server(name, old.clone()));
        old
    }

    fn upstream(&mut self, id: Arc<str>, value: Option<Arc<Upstream>>) -> Option<Arc<Upstream>> {
        let old = set_upstream(&mut self.st.upstreams, id.clone(), value);
        self.st.undo.push(Undo::Upstream(id, old.clone()));
        old
    }

    /// Stores a Kong-style route under `id` and emits its upsert, with the
    /// route it replaces for the index to take out.
    fn store_route(&mut self, id: Arc<str>, route: Arc<Route>) {
        let old = self.route(id, Some(route.clone()));
        self.st.pending.push((
            Action::Upsert,
            Object::Route(route),
            IndexOp::ReplaceRoute(old),
        ));
    }

    fn emit(&mut self, action: Action, object: Object) {
        self.st.pending.push((action, object, IndexOp::Apply));
    }

    fn emit_cf(&mut self, action: Action, route: Arc<HttpRoute>, op: IndexOp) {
        self.st.pending.push((action, Object::HttpRoute(route), op));
    }

    fn undo_all(&mut self) {
        let mut undo = std::mem::take(&mut self.st.undo);
        while let Some(u) = undo.pop() {
            match u {
                Undo::Route(k, v) => {
                    self.st.routes.set(k, v);
                }
                Undo::Service(k, v) => {
                    self.st.services.set(k, v);
                }
                Undo::Upstream(k, v) => {
                    set_upstream(&mut self.st.upstreams, k, v);
                }
                Undo::Server(k, v) => {
                    set_entry(&mut self.st.servers, k, v);
                }
                Undo::Http(k, v) => {
                    self.st.set_http(k, v);
                }
                Undo::Tcp(k, v) => {
                    self.st.set_tcp(k, v);
                }
                Undo::Group(k, v) => {
                    self.st.set_group(k, v);
                }
                Undo::Reservation(k, v) => {
                    self.st.set_reservation(k, v);
                }
            }
        }
        self.st.undo = undo;
        self.st.pending.clear();
    }

    /// Publishes the pending events under consecutive revisions and returns the
    /// registry's revision after them.
    fn commit(mut self) -> u64 {
        self.commit_in_place()
    }

    fn commit_in_place(&mut self) -> u64 {
        self.committed = true;
        let st = &mut *self.st;
        st.undo.clear();
        let mut pending = std::mem::take(&mut st.pending);
        let mut events = std::mem::take(&mut st.events);
        for (action, object, op) in pending.drain(..) {
            match (op, &object) {
                (IndexOp::Apply, _) => st.index.apply(action, &object, &mut st.garbage),
                (IndexOp::CreateCf(cell), Object::HttpRoute(r)) => {
                    st.index.upsert_cf(r.clone(), cell)
                }
                (IndexOp::RenewCf(cell, at), _) => cell.set(at.as_nanos()),
                (IndexOp::ExpireCf(cell), Object::HttpRoute(r)) => {
                    st.index_dead.push((r.clone(), cell))
                }
                (IndexOp::ReplaceRoute(old), Object::Route(r)) => {
                    st.index.upsert_route(r.clone(), old.as_ref())
                }
                (_, _) => st.index.apply(action, &object, &mut st.garbage),
            }
            st.revision += 1;
            events.push(Event {
                revision: st.revision,
                action,
                object,
            });
        }
        // Delivered by `State::deliver` once the caller has published the index, so
        // that a subscriber never hears of a change readers cannot see yet.
        st.events = events;
        st.pending = pending;
        // Lapsed CF backends leave the index a few at a time.
        let budget = if self.compact { DEAD_PER_COMMIT } else { 0 };
        for _ in 0..budget {
            let Some((route, cell)) = st.index_dead.pop() else {
                break;
            };
            st.index.remove_cf(&route, Some(&cell), &mut st.garbage);
            st.garbage.keep((route, cell));
        }
        if st.leases.wants_rebuild(st.live_leases()) {
            st.rebuild_leases();
        }
        st.revision
    }

    // -- Kong-style routes and services ------------------------------------

    fn now_secs(&self) -> i64 {
        i64::try_from(self.now.as_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
    }

    /// Stores `service` under `id` (a new id when `None`), replacing what was
    /// there; `created_at` survives a replacement.
    fn put_service(
        &mut self,
        mut service: Service,
        id: Option<Arc<str>>,
    ) -> Result<Arc<Service>, Error> {
        kong::normalize_service(&mut service);
        kong::validate_service(&service)?;
        let id = match id {
            Some(id) => id,
            None if service.id.is_empty() => self.st.guids.guid(),
            None => service.id.as_str().into(),
        };
        service.id = id.to_string();
        if let Some(name) = &service.name {
            if self
                .st
                .services
                .by_name
                .get(name)
                .is_some_and(|owner| *owner != id)
            {
                return Err(unique_name(name));
            }
        }
        let now = self.now_secs();
        service.created_at = self
            .st
            .services
            .by_id
            .get(&id)
            .map_or(now, |s| s.created_at);
        service.updated_at = now;
        let service = Arc::new(service);
        self.service(id, Some(service.clone()));
        self.emit(Action::Upsert, Object::Service(service.clone()));
        Ok(service)
    }

    /// Creates or replaces the service named or identified by `key`: a
    /// UUID-shaped key is the id, anything else the name. Returns the service
    /// and whether it was created.
    fn put_service_at(
        &mut self,
        key: &str,
        mut service: Service,
    ) -> Result<(Arc<Service>, bool), Error> {
        let existing = self
            .st
            .services
            .get(key)
            .map(|s| Arc::<str>::from(s.id.as_str()));
        let created = existing.is_none();
        // A key that is not an id is the name, kept whatever the body says.
        let by_name = !kong::is_uuid(key);
        if by_name {
            service.name = Some(key.to_string());
        }
        let id = match existing {
            Some(id) => id,
            None if by_name => self.st.guids.guid(),
            None => key.into(),
        };
        self.put_service(service, Some(id)).map(|s| (s, created))
    }

    /// Creates a service, or replaces the one its `id` names.
    fn upsert_service(&mut self, service: Service) -> Result<Arc<Service>, Error> {
        let id = (!service.id.is_empty()).then(|| Arc::<str>::from(service.id.as_str()));
        self.put_service(service, id)
    }

    fn delete_service(&mut self, key: &str) -> Result<(), Error> {
        let Some(service) = self.st.services.get(key).cloned() else {
            return Err(not_found());
        };
        let referenced = self
            .st
            .routes
            .by_id
            .values()
            .any(|r| r.service.as_ref().is_some_and(|s| s.id == service.id));
        if referenced {
            return Err(Error::with_fields(
                ErrorKind::ForeignKeyViolation,
                vec![("@referenced_by".to_string(), "routes".to_string())],
            ));
        }
        let id: Arc<str> = service.id.as_str().into();
        if let Some(upstream) = self.upstream(id.clone(), None) {
            self.emit(Action::Delete, Object::Upstream(upstream));
        }
        self.service(id, None);
        self.emit(Action::Delete, Object::Service(service));
        Ok(())
    }

    // -- Upstreams ---------------------------------------------------------

    /// Sets the backends and balancing of the service named or identified by
    /// `key`; the pool they make is checked first.
    fn put_upstream(
        &mut self,
        key: &str,
        backends: Vec<Backend>,
        config: PoolConfig,
    ) -> Result<Arc<Upstream>, Error> {
        let Some(service) = self.st.services.get(key) else {
            return Err(not_found());
        };
        let id: Arc<str> = service.id.as_str().into();
        Pool::try_new(backends.clone(), config.clone())?;
        let upstream = Arc::new(Upstream {
            service_id: id.to_string(),
            backends,
            config,
        });
        if self.st.upstreams.get(&id).is_some_and(|u| **u == *upstream) {
            return Ok(upstream);
        }
        self.upstream(id, Some(upstream.clone()));
        self.emit(Action::Upsert, Object::Upstream(upstream.clone()));
        Ok(upstream)
    }

    fn delete_upstream(&mut self, key: &str) -> Result<(), Error> {
        let Some(service) = self.st.services.get(key) else {
            return Err(not_found());
        };
        let id: Arc<str> = service.id.as_str().into();
        match self.upstream(id, None) {
            Some(old) => {
                self.emit(Action::Delete, Object::Upstream(old));
                Ok(())
            }
            None => Err(not_found()),
        }
    }

    /// Sets (or with `None` removes) the version split of a service's upstream,
    /// checked with CDAP's rules against the versions of its backends.
    fn set_split(&mut self, key: &str, split: Option<SplitConfig>) -> Result<(), Error> {
        let Some(service) = self.st.services.get(key) else {
            return Err(not_found());
        };
        let current = self
            .st
            .upstreams
            .get(service.id.as_str())
            .map(|u| (**u).clone());
        let mut upstream = match (current, &split) {
            (Some(u), _) => u,
            (None, None) => return Err(not_found()),
            (None, Some(_)) => Upstream {
                service_id: service.id.clone(),
                ..Upstream::default()
            },
        };
        if let Some(SplitConfig {
            split: Some(percentages),
            ..
        }) = &split
        {
            let versions: Vec<&str> = upstream
                .backends
                .iter()
                .filter_map(|b| b.version.as_deref())
                .collect();
            percentages.validate(versions)?;
        }
        if split.is_none() && upstream.config.split.is_none() {
            return Err(not_found());
        }
        upstream.config.split = split;
        let key = upstream.service_id.clone();
        self.put_upstream(&key, upstream.backends, upstream.config)?;
        Ok(())
    }

    /// Stores `route` under `id` (a new id when `None`), replacing what was there.
    fn put_route(&mut self, mut route: Route, id: Option<Arc<str>>) -> Result<Arc<Route>, Error> {
        kong::normalize_route(&mut route);
        kong::validate_route(&route)?;
        let id = match id {
            Some(id) => id,
            None if route.id.is_empty() => self.st.guids.guid(),
            None => route.id.as_str().into(),
        };
        route.id = String::from(&*id);
        if let Some(name) = &route.name {
            if self
                .st
                .routes
                .by_name
                .get(name)
                .is_some_and(|owner| *owner != id)
            {
                return Err(unique_name(name));
            }
        }
        if let Some(service) = &route.service {
            if !self.st.services.by_id.contains_key(service.id.as_str()) {
                return Err(Error::with_fields(
                    ErrorKind::ForeignKeyViolation,
                    vec![("service.id".to_string(), service.id.clone())],
                ));
            }
        }
        let now = self.now_secs();
        route.created_at = self.st.routes.by_id.get(&id).map_or(now, |r| r.created_at);
        route.updated_at = now;
        let route = Arc::new(route);
        self.store_route(id, route.clone());
        Ok(route)
    }

    /// As [`Txn::put_service_at`], for routes.
    fn put_route_at(&mut self, key: &str, mut route: Route) -> Result<(Arc<Route>, bool), Error> {
        let existing = self
            .st
            .routes
            .get(key)
            .map(|r| Arc::<str>::from(r.id.as_str()));
        let created = existing.is_none();
        // A key that is not an id is the name, kept whatever the body says.
        let by_name = !kong::is_uuid(key);
        if by_name {
            route.name = Some(key.to_string());
        }
        let id = match existing {
            Some(id) => id,
            None if by_name => self.st.guids.guid(),
            None => key.into(),
        };
        self.put_route(route, Some(id)).map(|r| (r, created))
    }

    /// Creates a route, or replaces the one its `id` names.
    fn upsert_route(&mut self, route: Route) -> Result<Arc<Route>, Error> {
        let id = (!route.id.is_empty()).then(|| Arc::<str>::from(route.id.as_str()));
        self.put_route(route, id)
    }

    fn delete_route(&mut self, key: &str) -> Result<(), Error> {
        let Some(route) = self.st.routes.get(key).cloned() else {
            return Err(not_found());
        };
        self.route(route.id.as_str().into(), None);
        self.emit(Action::Delete, Object::Route(route));
        Ok(())
    }

    // -- CF HTTP routes ----------------------------------------------------

    fn upsert_http(&mut self, mut route: HttpRoute, max_ttl: i64) {
        let ttl = route.ttl.unwrap_or(max_ttl);
        route.ttl = Some(ttl);
        route.expires_at = self.now.saturating_add(ttl_duration(ttl));
        let now = self.now;
        let st = &mut *self.st;
        // Renewal of a live route, the common case: one probe, replaced in place,
        // and only an expiry cell to move for the matcher.
        if let Some(slot) = st.http.get_mut(&route.key_ref()) {
            if slot.route.expires_at > now {
                let current = &slot.route;
                if route.log_guid.is_empty() {
                    route.log_guid = current.log_guid.clone();
                }
                route.modification_tag = ModificationTag {
                    guid: current.modification_tag.guid.clone(),
                    index: current.modification_tag.index.wrapping_add(1),
                };
                let route = Arc::new(route);
                let lease = slot.lease.clone();
                let old = std::mem::replace(
                    slot,
                    HttpEntry {
                        route: route.clone(),
                        lease: lease.clone(),
                    },
                );
                st.leases.push(route.expires_at, Lease::Http(route.clone()));
                if self.journal {
                    st.undo.push(Undo::Http(old.route.key(), Some(old)));
                }
                let expires_at = route.expires_at;
                self.emit_cf(Action::Upsert, route, IndexOp::RenewCf(lease, expires_at));
                return;
            }
            // Lapsed but not yet swept: it is gone, and this renewal is a create.
            let old = slot.clone();
            self.http(old.route.key(), None);
            self.emit_cf(Action::Expire, old.route, IndexOp::ExpireCf(old.lease));
        }
        route.modification_tag = ModificationTag {
            guid: self.st.guids.guid(),
            index: 0,
        };
        let route = Arc::new(route);
        let lease = Arc::new(LeaseCell::new(route.expires_at.as_nanos()));
        self.http(
            route.key(),
            Some(HttpEntry {
                route: route.clone(),
                lease: lease.clone(),
            }),
        );
        self.emit_cf(Action::Upsert, route, IndexOp::CreateCf(lease));
    }

    fn delete_http(&mut self, route: &HttpRoute) {
        if let Some(old) = self.st.http.get(&route.key_ref()) {
            let key = old.route.key();
            if let Some(old) = self.http(key, None) {
                self.emit(Action::Delete, Object::HttpRoute(old.route));
            }
        }
    }

    // -- CF TCP route mappings ---------------------------------------------

    /// CF's checks of a mapping against the stored state: its router group exists,
    /// and live mappings with the same SNI host name and external port agree on
    /// `terminate_frontend_tls`.
    fn check_tcp(&self, mapping: &TcpRouteMapping) -> Result<(), Error> {
        if !self.st.groups.contains_key(&mapping.router_group_guid) {
            return Err(Error::new(
                ErrorKind::TcpRouteMappingInvalid,
                format!("router_group_guid: {} not found", mapping.router_group_guid),
            ));
        }
        if let Some(sni) = &mapping.backend_sni_hostname {
            if let Some(similar) = self.st.tcp_sni.get(&(mapping.port, sni.clone())) {
                let conflict = similar.iter().any(|k| {
                    self.st.tcp.get(k).is_some_and(|m| {
                        m.expires_at > self.now
                            && m.terminate_frontend_tls != mapping.terminate_frontend_tls
                    })
                });
                if conflict {
                    return Err(Error::new(
                        ErrorKind::TcpRouteMappingInvalid,
                        format!(
                            "terminate_frontend_tls: {} not allowed",
                            mapping.terminate_frontend_tls
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Stores a mapping that passed its checks.
    fn put_tcp(&mut self, mut mapping: TcpRouteMapping, max_ttl: i64) {
        let ttl = mapping.ttl.unwrap_or(max_ttl);
        mapping.ttl = Some(ttl);
        mapping.expires_at = self.now.saturating_add(ttl_duration(ttl));
        let key = mapping.key();
        let existing = match self.st.tcp.get(&key) {
            Some(old) if old.expires_at <= self.now => {
                let old = old.clone();
                self.tcp(key.clone(), None);
                self.emit(Action::Expire, Object::TcpRouteMapping(old));
                None
            }
            other => other.cloned(),
        };
        mapping.modification_tag = match &existing {
            Some(old) => {
                // CF keeps these three on update.
                mapping.instance_id = old.instance_id.clone();
                mapping.terminate_frontend_tls = old.terminate_frontend_tls;
                mapping.alpns = old.alpns.clone();
                ModificationTag {
                    guid: old.modification_tag.guid.clone(),
                    index: old.modification_tag.index.wrapping_add(1),
                }
            }
            None => {
                // A mapping claims the reservation of its port, if any.
                let claimed = (mapping.router_group_guid.clone(), mapping.port);
                if let Some(r) = self.reservation(claimed, None) {
                    self.emit(Action::Delete, Object::PortReservation(r));
                }
                ModificationTag {
                    guid: self.st.guids.guid(),
                    index: 0,
                }
            }
        };
        let mapping = Arc::new(mapping);
        self.tcp(key, Some(mapping.clone()));
        self.emit(Action::Upsert, Object::TcpRouteMapping(mapping));
    }

    fn delete_tcp(&mut self, mapping: &TcpRouteMapping) {
        if let Some(old) = self.tcp(mapping.key(), None) {
            self.emit(Action::Delete, Object::TcpRouteMapping(old));
        }
    }

    // -- Router groups -----------------------------------------------------

    fn create_group(
        &mut self,
        group: &RouterGroup,
        reserved: &[u16],
    ) -> Result<(Arc<RouterGroup>, bool), Error> {
        // As CF: an existing group of that name and type is returned before the
        // new one is validated.
        let existing = self
            .st
            .group_names
            .get(&group.name)
            .map(|guid| self.st.groups[guid].group.clone());
        if let Some(existing) = &existing {
            if existing.group_type == group.group_type {
                return Ok((existing.clone(), false));
            }
        }
        let ranges = validate_router_group(group, reserved)?;
        if let Some(existing) = existing {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "router group '{}' already exists with type '{}'",
                    group.name, existing.group_type
                ),
            ));
        }
        let created = Arc::new(RouterGroup {
            guid: self.st.guids.guid(),
            name: group.name.clone(),
            group_type: group.group_type.clone(),
            reservable_ports: group.reservable_ports.clone(),
        });
        self.group(
            created.guid.clone(),
            Some(GroupEntry {
                group: created.clone(),
                ranges: ranges.into(),
            }),
        );
        self.emit(Action::Upsert, Object::RouterGroup(created.clone()));
        Ok((created, true))
    }

    fn update_group(
        &mut self,
        guid: &str,
        reservable_ports: &str,
        reserved: &[u16],
    ) -> Result<Arc<RouterGroup>, Error> {
        let Some(entry) = self.st.groups.get(guid) else {
            return Err(group_does_not_exist(guid));
        };
        let current = entry.group.clone();
        if &*current.reservable_ports == reservable_ports {
            return Ok(current);
        }
        let updated = RouterGroup {
            reservable_ports: reservable_ports.into(),
            ..(*current).clone()
        };
        let ranges = validate_router_group(&updated, reserved)?;
        let updated = Arc::new(updated);
        self.group(
            current.guid.clone(),
            Some(GroupEntry {
                group: updated.clone(),
                ranges: ranges.into(),
            }),
        );
        self.emit(Action::Upsert, Object::RouterGroup(updated.clone()));
        Ok(updated)
    }

    fn delete_group(&mut self, guid: &str) -> Result<(), Error> {
        let Some(entry) = self.st.groups.get(guid) else {
            return Err(group_does_not_exist(guid));
        };
        let guid = entry.group.guid.clone();
        let mut held: Vec<ReservationKey> = self
            .st
            .reservations
            .keys()
            .filter(|(g, _)| *g == guid)
            .cloned()
            .collect();
        held.sort_unstable_by_key(|(_, port)| *port);
        for key in held {
            if let Some(r) = self.reservation(key, None) {
                self.emit(Action::Delete, Object::PortReservation(r));
            }
        }
        if let Some(old) = self.group(guid, None) {
            self.emit(Action::Delete, Object::RouterGroup(old.group));
        }
        Ok(())
    }

    // -- Port reservations -------------------------------------------------

    /// Whether no mapping and no reservation holds the port. Call after sweeping
    /// lapsed leases, so that every stored one is live.
    fn port_is_free(&self, guid: &Arc<str>, port: u16) -> bool {
        let key = (guid.clone(), port);
        !self.st.tcp_ports.contains_key(&key) && !self.st.reservations.contains_key(&key)
    }

    fn reserve(&mut self, guid: &str, ttl: Duration) -> Result<Arc<PortReservation>, Error> {
        if ttl.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a port reservation requires a ttl greater than 0",
            ));
        }
        let Some(entry) = self.st.groups.get(guid) else {
            return Err(group_does_not_exist(guid));
        };
        let (guid, ranges) = (entry.group.guid.clone(), entry.ranges.clone());
        // Lapsed mappings and reservations free their ports: sweep them first.
        self.expire(usize::MAX);
        if ranges.is_empty() {
            return Err(Error::new(
                ErrorKind::ProcessRequest,
                format!("router group '{guid}' has no reservable ports"),
            ));
        }
        // Ranges never overlap, so scanning them by start finds the lowest port.
        let mut ordered = ranges.to_vec();
        ordered.sort_unstable_by_key(|r| r.start());
        let Some(port) = ordered
            .iter()
            .flat_map(|r| r.ports())
            .find(|&p| self.port_is_free(&guid, p))
        else {
            return Err(Error::new(
                ErrorKind::PortRangeExhausted,
                format!(
                    "There are no free ports in range: {}",
                    ports::describe(&ranges)
                ),
            ));
        };
        let key = (guid.clone(), port);
        let reservation = Arc::new(PortReservation {
            router_group_guid: guid,
            port,
            expires_at: self.now.saturating_add(ttl),
        });
        self.reservation(key, Some(reservation.clone()));
        self.emit(Action::Upsert, Object::PortReservation(reservation.clone()));
        Ok(reservation)
    }

    fn release(&mut self, guid: &str, port: u16) -> Result<(), Error> {
        let key: ReservationKey = (guid.into(), port);
        // A lapsed reservation is no longer held, swept or not.
        let live = self
            .st
            .reservations
            .get(&key)
            .is_some_and(|r| r.expires_at > self.now);
        match live.then(|| self.reservation(key, None)).flatten() {
            Some(r) => {
                self.emit(Action::Delete, Object::PortReservation(r));
                Ok(())
            }
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("port {port} of router group '{guid}' is not reserved"),
            )),
        }
    }

    // -- gobetween servers -------------------------------------------------

    /// Creates a gobetween server: checks it as gobetween does, then stores it
    /// with the service (same name, the server's backends as its upstream) and
    /// the stream route (same name, on the bind port) it lands as.
    fn create_server(
        &mut self,
        name: &str,
        server: &gobetween::Server,
    ) -> Result<Arc<NamedServer>, Error> {
        if self.st.servers.contains_key(name) {
            return Err(gb_error(gobetween::already_exists(name)));
        }
        let server =
            gobetween::prepare_server(name, server, &gobetween::ConnectionOptions::default())
                .map_err(gb_error)?;
        if let Err(rule) = kong::check_name(name) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("server name '{name}' cannot name its service and route: {rule}"),
            ));
        }
        if self.st.services.get(name).is_some() || self.st.routes.get(name).is_some() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("a service or route named '{name}' exists already"),
            ));
        }
        let port = server.bind_port().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("server {name}: bind must be host:port"),
            )
        })?;
        let backends = server
            .backends()
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
        let protocol = match server.protocol {
            Some(gobetween::Protocol::Udp) => kong::Protocol::Udp,
            Some(gobetween::Protocol::Tls) => kong::Protocol::Tls,
            _ => kong::Protocol::Tcp,
        };
        let tags = Some(vec![SERVER_TAG.to_string()]);
        let bind_host = server
            .bind
            .as_deref()
            .and_then(|b| b.rsplit_once(':'))
            .map(|(h, _)| h.trim_matches(['[', ']']))
            .filter(|h| !h.is_empty() && *h != "0.0.0.0" && *h != "::")
            .unwrap_or("localhost")
            .to_string();
        // A bind host the service cannot carry is the server's fault, not a
        // Kong body's: refused as gobetween refuses a bad server.
        let (service, _) = self
            .put_service_at(
                name,
                Service {
                    protocol: protocol.as_str().to_string(),
                    host: bind_host.clone(),
                    port,
                    tags: tags.clone(),
                    ..Service::default()
                },
            )
            .map_err(|e| match e.kind() {
                ErrorKind::SchemaViolation => Error::new(
                    ErrorKind::InvalidArgument,
                    format!("server {name}: bind host '{bind_host}' is not a valid host"),
                ),
                _ => e,
            })?;
        self.put_route_at(
            name,
            Route {
                protocols: vec![protocol],
                destinations: Some(vec![kong::Peer {
                    ip: None,
                    port: Some(port),
                }]),
                service: Some(kong::ServiceRef {
                    id: service.id.clone(),
                }),
                tags,
                ..Route::default()
            },
        )?;
        let strategy = match server.balance {
            Some(gobetween::Balance::LeastConn) => Strategy::LeastConnections,
            Some(gobetween::Balance::RoundRobin) => Strategy::RoundRobin,
            Some(gobetween::Balance::LeastBandwidth) => Strategy::LeastBandwidth,
            Some(gobetween::Balance::IpHash) => Strategy::IpHash,
            Some(gobetween::Balance::IpHash1) => Strategy::IpHash1,
            _ => Strategy::Weight,
        };
        // gobetween's `roundrobin` ignores weights; here it lands as smooth
        // weighted round robin, which honours them (as every strategy honours
        // tiers), and statistics report the weights as configured.
        let backends = backends
            .into_iter()
            .map(|b| {
                let mut backend = Backend::new(b.host, b.port)
                    .with_weight(b.weight)
                    .with_tier(b.priority);
                if b.max_connections > 0 {
                    backend = backend.with_max_connections(b.max_connections);
                }
                if let Some(sni) = b.sni {
                    backend = backend.with_metadata("sni", sni);
                }
                backend
            })
            .collect();
        self.put_upstream(name, backends, PoolConfig::new().strategy(strategy))?;
        let named = Arc::new(NamedServer {
            name: name.to_string(),
            server,
        });
        self.server(name.into(), Some(named.clone()));
        self.emit(Action::Upsert, Object::Server(named.clone()));
        Ok(named)
    }

    /// Deletes a gobetween server with the route, upstream and service it
    /// landed as.
    fn delete_server(&mut self, name: &str) -> Result<(), Error> {
        let Some(named) = self.server(name.into(), None) else {
            return Err(gb_error(gobetween::not_found()));
        };
        let owned = |tags: &Option<Vec<String>>| {
            tags.as_ref()
                .is_some_and(|t| t.iter().any(|t| t == SERVER_TAG))
        };
        if self.st.routes.get(name).is_some_and(|r| owned(&r.tags)) {
            self.delete_route(name)?;
        }
        if self.st.services.get(name).is_some_and(|s| owned(&s.tags)) {
            self.delete_service(name)?;
        }
        self.emit(Action::Delete, Object::Server(named));
        Ok(())
    }

    // -- Restore -----------------------------------------------------------

    /// Removes every object `snap` lacks, dependents before what they depend on.
    fn remove_missing(&mut self, snap: &Snapshot) {
        let groups: HashSet<&str> = snap.router_groups.iter().map(|g| &*g.guid).collect();
        let http: HashSet<HttpKey> = snap.http_routes.iter().map(HttpRoute::key).collect();
        let tcp: HashSet<TcpKey> = snap
            .tcp_route_mappings
            .iter()
            .map(TcpRouteMapping::key)
            .collect();
        let reservations: HashSet<(&str, u16)> = snap
            .port_reservations
            .iter()
            .map(|r| (&*r.router_group_guid, r.port))
            .collect();
        let services: HashSet<&str> = snap.services.iter().map(|s| s.id.as_str()).collect();
        let routes: HashSet<&str> = snap.routes.iter().map(|r| r.id.as_str()).collect();

        let servers: HashSet<&str> = snap.servers.iter().map(|v| v.name.as_str()).collect();
        let gone: Vec<Arc<NamedServer>> =
            sorted_values(keyed(&self.st.servers), |name| !servers.contains(name));
        for server in gone {
            self.server(server.name.as_str().into(), None);
            self.emit(Action::Delete, Object::Server(server));
        }
        let upstreams: HashSet<&str> = snap
            .upstreams
            .iter()
            .map(|u| u.service_id.as_str())
            .collect();
        let gone: Vec<Arc<Upstream>> =
            sorted_values(keyed(&self.st.upstreams), |id| !upstreams.contains(id));
        for upstream in gone {
            self.upstream(upstream.service_id.as_str().into(), None);
            self.emit(Action::Delete, Object::Upstream(upstream));
        }
        let gone: Vec<Arc<Route>> =
            sorted_values(self.st.routes.by_id.keyed(), |id| !routes.contains(id));
        for route in gone {
            self.route(route.id.as_str().into(), None);
            self.emit(Action::Delete, Object::Route(route));
        }
        let gone: Vec<Arc<Service>> =
            sorted_values(self.st.services.by_id.keyed(), |id| !services.contains(id));
        for service in gone {
            self.service(service.id.as_str().into(), None);
            self.emit(Action::Delete, Object::Service(service));
        }
        let gone: Vec<HttpKey> = self
            .st
            .http
            .keys()
            .filter(|k| !http.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = self.http(key, None) {
                self.emit(Action::Delete, Object::HttpRoute(old.route));
            }
        }
        let gone: Vec<TcpKey> = self
            .st
            .tcp
            .keys()
            .filter(|k| !tcp.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = self.tcp(key, None) {
                self.emit(Action::Delete, Object::TcpRouteMapping(old));
            }
        }
        let gone: Vec<ReservationKey> = self
            .st
            .reservations
            .keys()
            .filter(|(g, p)| !reservations.contains(&(&**g, *p)))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = self.reservation(key, None) {
                self.emit(Action::Delete, Object::PortReservation(old));
            }
        }
        let gone: Vec<Arc<str>> = self
            .st
            .groups
            .keys()
            .filter(|g| !groups.contains(&***g))
            .cloned()
            .collect();
        for guid in gone {
            if let Some(old) = self.group(guid, None) {
                self.emit(Action::Delete, Object::RouterGroup(old.group));
            }
        }
    }

    /// Makes the state equal to `snap`: checks it whole, removes what it lacks,
    /// then stores what differs, publishing one event per object changed.
    fn restore(&mut self, snap: Snapshot, reserved: &[u16]) -> Result<(), Error> {
        let ranges = check_snapshot(&snap, reserved)?;
        self.remove_missing(&snap);
        // Then what is new or different, what others depend on first.
        for (group, ranges) in snap.router_groups.into_iter().zip(ranges) {
            if self
                .st
                .groups
                .get(&group.guid)
                .is_some_and(|e| *e.group == group)
            {
                continue;
            }
            let group = Arc::new(group);
            self.group(
                group.guid.clone(),
                Some(GroupEntry {
                    group: group.clone(),
                    ranges: ranges.into(),
                }),
            );
            self.emit(Action::Upsert, Object::RouterGroup(group));
        }
        for service in snap.services {
            if self
                .st
                .services
                .by_id
                .get(service.id.as_str())
                .is_some_and(|s| **s == service)
            {
                continue;
            }
            let service = Arc::new(service);
            self.service(service.id.as_str().into(), Some(service.clone()));
            self.emit(Action::Upsert, Object::Service(service));
        }
        for route in snap.routes {
            if self
                .st
                .routes
                .by_id
                .get(route.id.as_str())
                .is_some_and(|r| **r == route)
            {
                continue;
            }
            self.store_route(route.id.as_str().into(), Arc::new(route));
        }
        for upstream in snap.upstreams {
            let id: Arc<str> = upstream.service_id.as_str().into();
            if self.st.upstreams.get(&id).is_some_and(|u| **u == upstream) {
                continue;
            }
            let upstream = Arc::new(upstream);
            self.upstream(id, Some(upstream.clone()));
            self.emit(Action::Upsert, Object::Upstream(upstream));
        }
        for route in snap.http_routes {
            let key = route.key();
            let lease = match self.st.http.get(&key) {
                Some(e) if *e.route == route => continue,
                Some(e) => Some(e.lease.clone()),
                None => None,
            };
            let route = Arc::new(route);
            let expires_at = route.expires_at;
            let (lease, op) = match lease {
                Some(lease) => (lease.clone(), IndexOp::RenewCf(lease, expires_at)),
                None => {
                    let lease = Arc::new(LeaseCell::new(expires_at.as_nanos()));
                    (lease.clone(), IndexOp::CreateCf(lease))
                }
            };
            self.http(
                key,
                Some(HttpEntry {
                    route: route.clone(),
                    lease,
                }),
            );
            self.emit_cf(Action::Upsert, route, op);
        }
        for mapping in snap.tcp_route_mappings {
            let key = mapping.key();
            if self.st.tcp.get(&key).is_some_and(|m| **m == mapping) {
                continue;
            }
            let mapping = Arc::new(mapping);
            self.tcp(key, Some(mapping.clone()));
            self.emit(Action::Upsert, Object::TcpRouteMapping(mapping));
        }
        for server in snap.servers {
            let name: Arc<str> = server.name.as_str().into();
            if self.st.servers.get(&name).is_some_and(|v| **v == server) {
                continue;
            }
            let server = Arc::new(server);
            self.server(name, Some(server.clone()));
            self.emit(Action::Upsert, Object::Server(server));
        }
        for r in snap.port_reservations {
            let key: ReservationKey = (r.router_group_guid.clone(), r.port);
            if self.st.reservations.get(&key).is_some_and(|c| **c == r) {
                continue;
            }
            let r = Arc::new(r);
            self.reservation(key, Some(r.clone()));
            self.emit(Action::Upsert, Object::PortReservation(r));
        }
        Ok(())
    }

    // -- Expiry ------------------------------------------------------------

    /// Removes up to `limit` lapsed leases; returns how many it removed and whether
    /// more may be due.
    fn expire(&mut self, limit: usize) -> (usize, bool) {
        let mut removed = 0;
        while removed < limit {
            let Some((_, lease)) = self.st.leases.pop_due(self.now) else {
                return (removed, false);
            };
            // A lease is current only if the stored object is the very one that was
            // scheduled; a renewal stores a new object and schedules it anew.
            match lease {
                Lease::Http(route) if !self.journal => {
                    // Not journaled (a sweep): one probe finds and removes it.
                    let old = match self.st.http.entry_ref(&route.key_ref()) {
                        hashbrown::hash_map::EntryRef::Occupied(o)
                            if Arc::ptr_eq(&o.get().route, &route) =>
                        {
                            o.remove()
                        }
                        _ => continue,
                    };
                    self.emit_cf(Action::Expire, route, IndexOp::ExpireCf(old.lease));
                    removed += 1;
                }
                Lease::Http(route) => {
                    let current = self.st.http.get(&route.key_ref());
                    if current.is_some_and(|c| Arc::ptr_eq(&c.route, &route)) {
                        if let Some(old) = self.http(route.key(), None) {
                            self.emit_cf(Action::Expire, route, IndexOp::ExpireCf(old.lease));
                            removed += 1;
                        }
                    }
                }
                Lease::Tcp(mapping) => {
                    let key = mapping.key();
                    if self
                        .st
                        .tcp
                        .get(&key)
                        .is_some_and(|c| Arc::ptr_eq(c, &mapping))
                    {
                        self.tcp(key, None);
                        self.emit(Action::Expire, Object::TcpRouteMapping(mapping));
                        removed += 1;
                    }
                }
                Lease::Reservation(r) => {
                    let key = (r.router_group_guid.clone(), r.port);
                    if self
                        .st
                        .reservations
                        .get(&key)
                        .is_some_and(|c| Arc::ptr_eq(c, &r))
                    {
                        self.reservation(key, None);
                        self.emit(Action::Expire, Object::PortReservation(r));
                        removed += 1;
                    }
                }
            }
        }
        (removed, true)
    }
}

fn set_upstream(
    map: &mut HashMap<Arc<str>, Arc<Upstream>>,
    id: Arc<str>,
    value: Option<Arc<Upstream>>,
) -> Option<Arc<Upstream>> {
    set_entry(map, id, value)
}

fn set_entry<T>(
    map: &mut HashMap<Arc<str>, Arc<T>>,
    key: Arc<str>,
    value: Option<Arc<T>>,
) -> Option<Arc<T>> {
    match value {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    }
}

/// A gobetween refusal as the registry reports it, gobetween's text kept.
fn gb_error(e: GbError) -> Error {
    let kind = match e.kind() {
        GbErrorKind::Exists => ErrorKind::Conflict,
        GbErrorKind::NotFound => ErrorKind::NotFound,
        GbErrorKind::Decode => ErrorKind::ProcessRequest,
        _ => ErrorKind::InvalidArgument,
    };
    Error::new(kind, e.message())
}

/// The tag on the service and route a gobetween server lands as.
const SERVER_TAG: &str = "gobetween";

/// The values of `map` whose keys `keep` accepts, in key order.
fn sorted_values<'a, T: 'a>(
    items: impl Iterator<Item = (&'a str, &'a Arc<T>)>,
    keep: impl Fn(&str) -> bool,
) -> Vec<Arc<T>> {
    let mut found: Vec<(&str, &Arc<T>)> = items.filter(|(k, _)| keep(k)).collect();
    found.sort_unstable_by(|a, b| a.0.cmp(b.0));
    found.into_iter().map(|(_, v)| v.clone()).collect()
}

/// Checks that a snapshot holds a consistent state: every object valid, ids and
/// keys and names unique, every reference resolved. Returns each router group's
/// port ranges, in the snapshot's order.
fn check_snapshot(snap: &Snapshot, reserved: &[u16]) -> Result<Vec<Vec<PortRange>>, Error> {
    fn duplicate(what: &str, key: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("snapshot holds {what} {key} twice"),
        )
    }
    let mut ranges = Vec::with_capacity(snap.router_groups.len());
    let mut guids = HashSet::new();
    let mut names = HashSet::new();
    for group in &snap.router_groups {
        if group.guid.is_empty() {
            return Err(Error::new(
                ErrorKind::RouterGroupInvalid,
                "a restored router group needs its guid",
            ));
        }
        ranges.push(validate_router_group(group, reserved)?);
        if !guids.insert(&*group.guid) {
            return Err(duplicate("router group", &group.guid));
        }
        if !names.insert(&*group.name) {
            return Err(duplicate("router group name", &group.name));
        }
    }
    let mut keys = HashSet::new();
    for route in &snap.http_routes {
        validate_http_route(route, None)?;
        if !keys.insert(route.key()) {
            return Err(duplicate("HTTP route", &route.route));
        }
    }
    let mut keys = HashSet::new();
    for mapping in &snap.tcp_route_mappings {
        validate_tcp_mapping(mapping, None)?;
        if !guids.contains(&*mapping.router_group_guid) {
            return Err(Error::new(
                ErrorKind::TcpRouteMappingInvalid,
                format!("router_group_guid: {} not found", mapping.router_group_guid),
            ));
        }
        if !keys.insert(mapping.key()) {
            return Err(duplicate("TCP route mapping on port", mapping.port));
        }
    }
    let mut keys = HashSet::new();
    for r in &snap.port_reservations {
        if !guids.contains(&*r.router_group_guid) {
            return Err(group_does_not_exist(&r.router_group_guid));
        }
        if !keys.insert((&*r.router_group_guid, r.port)) {
            return Err(duplicate("port reservation of port", r.port));
        }
    }
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for service in &snap.services {
        kong::validate_service(service)?;
        if service.id.is_empty() || !ids.insert(service.id.as_str()) {
            return Err(duplicate("service", &service.id));
        }
        if let Some(name) = &service.name {
            if !names.insert(name.as_str()) {
                return Err(unique_name(name));
            }
        }
    }
    let mut names = HashSet::new();
    for named in &snap.servers {
        if !names.insert(named.name.as_str()) {
            return Err(duplicate("server", &named.name));
        }
        gobetween::prepare_server(
            &named.name,
            &named.server,
            &gobetween::ConnectionOptions::default(),
        )
        .map_err(gb_error)?;
    }
    let services = ids;
    let mut seen = HashSet::new();
    for upstream in &snap.upstreams {
        if !services.contains(upstream.service_id.as_str()) {
            return Err(Error::with_fields(
                ErrorKind::ForeignKeyViolation,
                vec![("service.id".to_string(), upstream.service_id.clone())],
            ));
        }
        if !seen.insert(upstream.service_id.as_str()) {
            return Err(duplicate("upstream of service", &upstream.service_id));
        }
        Pool::try_new(upstream.backends.clone(), upstream.config.clone())?;
    }
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for route in &snap.routes {
        kong::validate_route(route)?;
        if route.id.is_empty() || !ids.insert(route.id.as_str()) {
            return Err(duplicate("route", &route.id));
        }
        if let Some(name) = &route.name {
            if !names.insert(name.as_str()) {
                return Err(unique_name(name));
            }
        }
        if let Some(service) = &route.service {
            if !services.contains(service.id.as_str()) {
                return Err(Error::with_fields(
                    ErrorKind::ForeignKeyViolation,
                    vec![("service.id".to_string(), service.id.clone())],
                ));
            }
        }
    }
    Ok(ranges)
}

fn ttl_duration(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}

fn not_found() -> Error {
    Error::new(ErrorKind::NotFound, "Not found")
}

fn unique_name(name: &str) -> Error {
    Error::with_fields(
        ErrorKind::UniqueViolation,
        vec![("name".to_string(), name.to_string())],
    )
}

fn group_does_not_exist(guid: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("router group '{guid}' does not exist"),
    )
}

/// A registry's reader for one thread's loop of lookups, from
/// [`Registry::reader`] (borrowing the registry) or [`Reader::new`] (given any
/// pointer to it, such as an `Arc<Registry>`, which the reader then keeps
/// alive).
///
/// [`Registry::lookup`] pins the published index for the length of each call,
/// which costs a few atomic operations on a slot of the calling thread (about
/// 13 ns). A reader keeps the index it last used and, on each call, only checks
/// that it is still the published one (one atomic load), taking the new one when
/// a write has replaced it. Its answers are the registry's answers: every commit
/// is visible from the reader's next call on.
///
/// The index a reader keeps stays allocated until the reader's next call or its
/// drop, even after writes have replaced it: keep a reader for a loop that
/// matches, not one per idle connection. A reader is `Send` when its pointer to
/// the registry is (as `&Registry` and `Arc<Registry>` are): a thread may hand
/// its reader to another, but calls take `&mut self`, so each thread uses its
/// own.
pub struct Reader<R: Deref<Target = Registry> + Clone> {
    registry: R,
    published: arc_swap::Cache<PublishedOf<R>, Arc<Published>>,
}

/// The published index of the registry a reader points to, as `arc_swap::Cache`
/// takes it: something that dereferences to the `ArcSwap`.
struct PublishedOf<R>(R);

impl<R: Deref<Target = Registry>> Deref for PublishedOf<R> {
    type Target = arc_swap::ArcSwap<Published>;

    fn deref(&self) -> &arc_swap::ArcSwap<Published> {
        &self.0.published
    }
}

impl<R: Deref<Target = Registry> + Clone> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The index it keeps is only reachable through `&mut self`.
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl<R: Deref<Target = Registry> + Clone> Reader<R> {
    /// A reader of the registry `registry` points to, which starts from the index
    /// published now. `registry` and its clones must lead to the same registry, as
    /// references and `Arc`s do.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use routeyard::{Config, Reader, Registry};
    ///
    /// let registry = Arc::new(Registry::new(Config::new()));
    /// // The reader owns a pointer to the registry, so it can go to another thread.
    /// let mut reader = Reader::new(Arc::clone(&registry));
    /// std::thread::spawn(move || reader.registry().revision()).join().unwrap();
    /// ```
    pub fn new(registry: R) -> Reader<R> {
        Reader {
            published: arc_swap::Cache::new(PublishedOf(registry.clone())),
            registry,
        }
    }

    /// [`Registry::find`] through this reader.
    pub fn find(&mut self, request: &Request<'_>) -> Option<Match> {
        let clock = &*self.registry.clock;
        self.published.load().find(request, clock, false)
    }

    /// [`Registry::find_and_pick`] through this reader.
    pub fn find_and_pick(&mut self, request: &Request<'_>) -> Option<Match> {
        let clock = &*self.registry.clock;
        self.published.load().find(request, clock, true)
    }

    /// [`Registry::lookup`] through this reader: the answer, borrowed from the
    /// index, is handed to `f`.
    pub fn lookup<T>(
        &mut self,
        request: &Request<'_>,
        f: impl FnOnce(&Found<'_>) -> T,
    ) -> Option<T> {
        let clock = &*self.registry.clock;
        self.published.load().with_found(request, clock, f)
    }

    /// The registry this reader reads.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The registry: router groups, CF HTTP routes and TCP mappings with leases, port
/// reservations, and the revisioned event log.
///
/// `Registry` is `Send + Sync` and every method takes `&self`: share it with an
/// [`Arc`]. Writes are serialised; every committed change advances the revision by
/// one and publishes one [`Event`]. A call that fails changes nothing.
///
/// # Example
///
/// ```
/// use routeyard::{Config, Filter, HttpRoute, Registry, RouterGroup};
///
/// let registry = Registry::new(Config::new());
/// let mut events = registry.subscribe(Filter::all(), Some(0))?;
///
/// registry.upsert_http_routes(vec![HttpRoute::new("myapp.com/api", "10.0.0.1", 8080)])?;
/// let routes = registry.http_routes();
/// assert_eq!(routes.len(), 1);
/// assert_eq!(routes[0].ttl, Some(120));
/// assert_eq!(routes[0].modification_tag.index, 0);
///
/// let event = events.recv()?;
/// assert_eq!((event.revision, event.action.cf_name()), (1, "Upsert"));
///
/// let err = registry
///     .create_router_group(RouterGroup::new("tcp-1", "tcp", "1024, 2000"))
///     .unwrap_err();
/// assert_eq!(err.message(), "port must be between 1024 and 65535");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry {
    state: RwLock<State>,
    revision: AtomicU64,
    /// What `find` reads: swapped in after each commit that changed the index.
    published: arc_swap::ArcSwap<Published>,
    clock: Arc<dyn Clock>,
    max_ttl: i64,
    reservation_ttl: Duration,
    reserved_ports: Vec<u16>,
    subscriber_buffer: usize,
}

impl Registry {
    /// A registry with the given configuration.
    pub fn new(config: Config) -> Registry {
        let max_ttl = config.max_ttl.unwrap_or(Duration::from_secs(120));
        let max_ttl_secs = i64::try_from(max_ttl.as_secs()).unwrap_or(i64::MAX);
        Registry {
            state: RwLock::new(State {
                revision: 0,
                groups: HashMap::new(),
                group_names: HashMap::new(),
                http: HashMap::new(),
                tcp: HashMap::new(),
                tcp_ports: HashMap::new(),
                tcp_sni: HashMap::new(),
                reservations: HashMap::new(),
                routes: Named::default(),
                services: Named::default(),
                upstreams: HashMap::new(),
                servers: HashMap::new(),
                leases: LeaseQueue::new(),
                log: EventLog::new(config.history.unwrap_or(1 << 16)),
                index: Index::default(),
                guids: GuidSource::new(),
                undo: Vec::new(),
                pending: Vec::new(),
                events: Vec::new(),
                index_dead: DeadList::default(),
                garbage: Garbage::default(),
            }),
            revision: AtomicU64::new(0),
            published: arc_swap::ArcSwap::from_pointee(Published::default()),
            clock: config.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            max_ttl: max_ttl_secs,
            reservation_ttl: config.reservation_ttl.unwrap_or(max_ttl),
            reserved_ports: config.reserved_ports.unwrap_or_default(),
            subscriber_buffer: config.subscriber_buffer.unwrap_or(1024),
        }
    }

    /// The configured `max_ttl`.
    pub fn max_ttl(&self) -> Duration {
        ttl_duration(self.max_ttl)
    }

    /// The registry's clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The revision of the last committed change (0 before any).
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Makes the committed state visible: the revision, and the matcher's index
    /// (a clone shares every node with the staged one; the next write copies only
    /// what it changes). Called with the write lock held, so publications follow
    /// commit order.
    /// Publishes the staged index; returns the one it replaces, for the caller to
    /// drop after releasing the lock (dropping an index frees what the changes
    /// since made garbage, and no one should wait on the registry for that).
    #[must_use = "drop the replaced index after unlocking"]
    fn publish(&self, st: &State, revision: u64) -> Arc<Published> {
        let old = self.published.swap(Arc::new(Published {
            index: st.index.clone(),
            revision,
        }));
        self.revision.store(revision, Ordering::Release);
        old
    }

    // -- Matching ----------------------------------------------------------

    /// The route for a request, without choosing a backend. Never waits for
    /// writers: it reads the index published by the last commit.
    pub fn find(&self, request: &Request<'_>) -> Option<Match> {
        self.published.load().find(request, &*self.clock, false)
    }

    /// The route for a request and a live backend of it, chosen round robin.
    pub fn find_and_pick(&self, request: &Request<'_>) -> Option<Match> {
        self.published.load().find(request, &*self.clock, true)
    }

    /// Matches a request and hands the answer, borrowed from the index, to `f`:
    /// the allocation-free form of [`Registry::find`], for the hot path.
    ///
    /// ```
    /// use routeyard::{Config, Registry, Request, Route, Service, ServiceRef};
    ///
    /// let registry = Registry::new(Config::new());
    /// let service = registry.create_service(Service {
    ///     host: "orders.internal".into(),
    ///     ..Service::default()
    /// })?;
    /// registry.create_route(Route {
    ///     paths: Some(vec!["/orders".into()]),
    ///     strip_path: true,
    ///     service: Some(ServiceRef { id: service.id }),
    ///     ..Route::default()
    /// })?;
    /// let mut upstream = String::new();
    /// let host = registry.lookup(&Request::new("GET", "shop", "/orders/7"), |found| {
    ///     found.write_upstream_path(&mut upstream);
    ///     found.upstream_host().len()
    /// });
    /// assert_eq!(host, Some("orders.internal".len()));
    /// assert_eq!(upstream, "/7");
    /// # Ok::<(), routeyard::Error>(())
    /// ```
    pub fn lookup<R>(&self, request: &Request<'_>, f: impl FnOnce(&Found<'_>) -> R) -> Option<R> {
        self.published.load().with_found(request, &*self.clock, f)
    }

    /// A reader for one thread's loop of lookups: the same answers as
    /// [`Registry::lookup`] and [`Registry::find`], without the cost of pinning the
    /// published index on every call (see [`Reader`]).
    ///
    /// ```
    /// use routeyard::{Config, Registry, Request, Route};
    ///
    /// let registry = Registry::new(Config::new());
    /// let mut reader = registry.reader();
    /// let request = Request::new("GET", "", "/orders");
    /// assert!(reader.find(&request).is_none());
    /// registry.create_route(Route {
    ///     paths: Some(vec!["/orders".into()]),
    ///     ..Route::default()
    /// })?;
    /// // The reader sees every commit from its next call on.
    /// assert!(reader.lookup(&request, |found| found.route().is_some()).unwrap());
    /// # Ok::<(), routeyard::Error>(())
    /// ```
    pub fn reader(&self) -> Reader<&Registry> {
        Reader::new(self)
    }

    /// Runs `f` as one transaction at the current time: commits if it succeeds,
    /// rolls everything back if it fails.
    fn write<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<T, Error>) -> Result<T, Error> {
        self.write_with(true, f)
    }

    /// [`Registry::write`] for a change that cannot fail once validated (CF route
    /// batches): nothing is journaled, and a transaction dropped unfinished commits
    /// what it did, so every change keeps its event.
    fn write_infallible(&self, f: impl FnOnce(&mut Txn<'_>)) {
        let _ = self.write_with(false, |txn| {
            f(txn);
            Ok(())
        });
    }

    fn write_with<T>(
        &self,
        journal: bool,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut st = self.state.write();
        // Read the time under the lock, so that commits never go back in time.
        let now = self.clock.now();
        let mut txn = Txn::begin(&mut st, now);
        txn.journal = journal;
        let (result, replaced) = match f(&mut txn) {
            Ok(value) => {
                let before = txn.st.revision;
                let revision = txn.commit();
                let replaced = (revision != before).then(|| self.publish(&st, revision));
                st.deliver();
                (Ok(value), replaced)
            }
            Err(e) => {
                // Dropping the transaction rolls it back.
                drop(txn);
                (Err(e), None)
            }
        };
        let mut garbage = std::mem::take(&mut st.garbage);
        drop(st);
        drop(replaced);
        garbage.clear();
        result
    }

    // -- CF HTTP routes ----------------------------------------------------

    /// Creates or renews CF HTTP routes, all or none.
    ///
    /// The whole batch is validated first, with CF's rules in CF's order; a
    /// route without `ttl` gets `max_ttl`. A new key gets a fresh modification
    /// tag (index 0); an existing one keeps its guid with index + 1, a new TTL, and
    /// a new `log_guid` only if the given one is not empty.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RouteInvalid`] or [`ErrorKind::RouteServiceUrlInvalid`] with
    /// CF's message for the first invalid route; nothing is applied.
    pub fn upsert_http_routes(&self, routes: Vec<HttpRoute>) -> Result<u64, Error> {
        for route in &routes {
            validate_http_route(route, Some(self.max_ttl))?;
        }
        self.write_infallible(|txn| {
            for route in routes {
                txn.upsert_http(route, self.max_ttl);
            }
        });
        Ok(self.revision())
    }

    /// Removes CF HTTP routes by key; absent ones are skipped.
    ///
    /// # Errors
    ///
    /// As [`Registry::upsert_http_routes`], without the TTL rules.
    pub fn delete_http_routes(&self, routes: &[HttpRoute]) -> Result<u64, Error> {
        for route in routes {
            validate_http_route(route, None)?;
        }
        self.write_infallible(|txn| {
            for route in routes {
                txn.delete_http(route);
            }
        });
        Ok(self.revision())
    }

    /// The live CF HTTP routes (lapsed ones never appear, swept or not), in no
    /// particular order.
    pub fn http_routes(&self) -> Vec<HttpRoute> {
        let now = self.clock.now();
        let st = self.state.read();
        st.http
            .values()
            .filter(|e| e.route.expires_at > now)
            .map(|e| (*e.route).clone())
            .collect()
    }

    // -- CF TCP route mappings ---------------------------------------------

    /// Creates or renews CF TCP route mappings, all or none.
    ///
    /// Each mapping in turn is validated with CF's rules, must name an existing
    /// router group, and must agree on `terminate_frontend_tls` with the live
    /// mappings that share its SNI host name and external port (the state before
    /// the batch, as in CF). An update keeps
    /// `instance_id`, `terminate_frontend_tls` and `alpns`, and replaces the TTL,
    /// `isolation_segment` and `sni_rewrite_hostname`. A new mapping claims the
    /// reservation of its port, if there is one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TcpRouteMappingInvalid`] with CF's message; nothing is applied.
    pub fn upsert_tcp_route_mappings(&self, mappings: Vec<TcpRouteMapping>) -> Result<u64, Error> {
        self.write(|txn| {
            // As CF: each mapping passes every check, against the state before the
            // batch, before the next is looked at; then all are stored.
            for mapping in &mappings {
                validate_tcp_mapping(mapping, Some(self.max_ttl))?;
                txn.check_tcp(mapping)?;
            }
            for mapping in mappings {
                txn.put_tcp(mapping, self.max_ttl);
            }
            Ok(())
        })?;
        Ok(self.revision())
    }

    /// Removes CF TCP route mappings by key; absent ones are skipped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TcpRouteMappingInvalid`] for an invalid mapping (TTL not checked).
    pub fn delete_tcp_route_mappings(&self, mappings: &[TcpRouteMapping]) -> Result<u64, Error> {
        for mapping in mappings {
            validate_tcp_mapping(mapping, None)?;
        }
        self.write(|txn| {
            for mapping in mappings {
                txn.delete_tcp(mapping);
            }
            Ok(())
        })?;
        Ok(self.revision())
    }

    /// The live CF TCP route mappings, in no particular order.
    pub fn tcp_route_mappings(&self) -> Vec<TcpRouteMapping> {
        self.collect_tcp(|_| true)
    }

    /// The live CF TCP route mappings in any of the given isolation segments; an
    /// empty string selects mappings without a segment.
    pub fn tcp_route_mappings_in<S: AsRef<str>>(&self, segments: &[S]) -> Vec<TcpRouteMapping> {
        self.collect_tcp(|m| segments.iter().any(|s| s.as_ref() == &*m.isolation_segment))
    }

    fn collect_tcp(&self, keep: impl Fn(&TcpRouteMapping) -> bool) -> Vec<TcpRouteMapping> {
        let now = self.clock.now();
        let st = self.state.read();
        st.tcp
            .values()
            .filter(|m| m.expires_at > now && keep(m))
            .map(|m| (**m).clone())
            .collect()
    }

    // -- Router groups -----------------------------------------------------

    /// Creates a router group; returns it and whether it is new.
    ///
    /// A group with the same name and type is returned unchanged (`false`); the
    /// registry assigns the guid of a new one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RouterGroupInvalid`] with CF's message (name, type, ports), or
    /// [`ErrorKind::Conflict`] when the name is taken by a group of another type.
    pub fn create_router_group(&self, group: RouterGroup) -> Result<(RouterGroup, bool), Error> {
        let (group, created) = self.write(|txn| txn.create_group(&group, &self.reserved_ports))?;
        Ok(((*group).clone(), created))
    }

    /// Replaces a router group's `reservable_ports` (the only field that can change).
    /// An unchanged value commits nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown guid; [`ErrorKind::RouterGroupInvalid`]
    /// for ports CF would refuse.
    pub fn update_router_group(
        &self,
        guid: &str,
        reservable_ports: &str,
    ) -> Result<RouterGroup, Error> {
        let group =
            self.write(|txn| txn.update_group(guid, reservable_ports, &self.reserved_ports))?;
        Ok((*group).clone())
    }

    /// Removes a router group and its port reservations. Its TCP mappings stay,
    /// as in CF.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown guid.
    pub fn delete_router_group(&self, guid: &str) -> Result<u64, Error> {
        self.write(|txn| txn.delete_group(guid))?;
        Ok(self.revision())
    }

    /// Every router group, in no particular order.
    pub fn router_groups(&self) -> Vec<RouterGroup> {
        let st = self.state.read();
        st.groups.values().map(|e| (*e.group).clone()).collect()
    }

    /// The router group with this guid.
    pub fn router_group(&self, guid: &str) -> Option<RouterGroup> {
        let st = self.state.read();
        st.groups.get(guid).map(|e| (*e.group).clone())
    }

    /// The router group with this name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`]: "router group 'NAME' not found".
    pub fn router_group_by_name(&self, name: &str) -> Result<RouterGroup, Error> {
        let st = self.state.read();
        st.group_names
            .get(name)
            .and_then(|guid| st.groups.get(guid))
            .map(|e| (*e.group).clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("router group '{name}' not found"),
                )
            })
    }

    // -- Port reservations -------------------------------------------------

    /// Reserves the lowest port of the group's ranges that no TCP mapping and no
    /// live reservation holds. The reservation lapses after `ttl` (default: the
    /// configured reservation TTL) unless a mapping on that port claims it first.
    /// Concurrent callers never get the same port.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown group, [`ErrorKind::InvalidArgument`]
    /// for a zero `ttl`, [`ErrorKind::ProcessRequest`] for a group without
    /// reservable ports, [`ErrorKind::PortRangeExhausted`]
    /// ("There are no free ports in range: ...") when every port is held.
    pub fn reserve_port(
        &self,
        router_group_guid: &str,
        ttl: Option<Duration>,
    ) -> Result<PortReservation, Error> {
        let ttl = ttl.unwrap_or(self.reservation_ttl);
        let r = self.write(|txn| txn.reserve(router_group_guid, ttl))?;
        Ok((*r).clone())
    }

    /// Releases a port reservation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the port is not reserved (a lapsed reservation
    /// is not, even before it is swept).
    pub fn release_port(&self, router_group_guid: &str, port: u16) -> Result<u64, Error> {
        self.write(|txn| txn.release(router_group_guid, port))?;
        Ok(self.revision())
    }

    /// The live port reservations, in no particular order.
    pub fn port_reservations(&self) -> Vec<PortReservation> {
        let now = self.clock.now();
        let st = self.state.read();
        st.reservations
            .values()
            .filter(|r| r.expires_at > now)
            .map(|r| (**r).clone())
            .collect()
    }

    /// CF's client-side `ReservePort(name, "a-b")`, done atomically: picks the first
    /// port of `a..=b` that no router group's ranges contain, then narrows the group
    /// called `name` to that single port, creating it as a `tcp` group if needed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RouterGroupInvalid`] for a range CF cannot parse,
    /// [`ErrorKind::ProcessRequest`] for several ranges ("multiple port ranges are
    /// not supported") or one port ("single port is not supported"),
    /// [`ErrorKind::PortRangeExhausted`] ("There are no free ports in range: [a-b]").
    pub fn reserve_port_in_range(&self, name: &str, range: &str) -> Result<u16, Error> {
        let ranges =
            ports::parse(range).map_err(|m| Error::new(ErrorKind::RouterGroupInvalid, m))?;
        if ranges.len() > 1 {
            return Err(Error::new(
                ErrorKind::ProcessRequest,
                "multiple port ranges are not supported",
            ));
        }
        let wanted = ranges[0];
        if wanted.start() == wanted.end() {
            return Err(Error::new(
                ErrorKind::ProcessRequest,
                "single port is not supported",
            ));
        }
        self.write(|txn| {
            let taken = |p: u16| {
                txn.st
                    .groups
                    .values()
                    .any(|e| e.ranges.iter().any(|r| r.contains(p)))
            };
            let Some(port) = wanted.ports().find(|&p| !taken(p)) else {
                return Err(Error::new(
                    ErrorKind::PortRangeExhausted,
                    format!(
                        "There are no free ports in range: [{}-{}]",
                        wanted.start(),
                        wanted.end()
                    ),
                ));
            };
            let ports = port.to_string();
            let existing = txn.st.group_names.get(name).cloned();
            match existing {
                Some(guid) => {
                    txn.update_group(&guid, &ports, &self.reserved_ports)?;
                }
                None => {
                    txn.create_group(&RouterGroup::new(name, "tcp", &ports), &self.reserved_ports)?;
                }
            }
            Ok(port)
        })
    }

    // -- Kong-style routes and services --------------------------------------

    /// Creates a service (Kong's `POST /services`); the registry assigns the id
    /// unless one is given, and sets `created_at` and `updated_at`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UniqueViolation`] for a name in use.
    pub fn create_service(&self, service: Service) -> Result<Service, Error> {
        self.write(|txn| {
            if !service.id.is_empty() && txn.st.services.by_id.contains_key(service.id.as_str()) {
                return Err(Error::with_fields(
                    ErrorKind::UniqueViolation,
                    vec![("id".to_string(), service.id)],
                ));
            }
            txn.put_service(service, None)
        })
        .map(|s| (*s).clone())
    }

    /// Creates or replaces the service named or identified by `key` (Kong's
    /// `PUT /services/{name or id}`): a UUID-shaped key is the id, anything
    /// else the name. Returns the service and whether it was created.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UniqueViolation`] for a name in use by another service.
    pub fn put_service(&self, key: &str, service: Service) -> Result<(Service, bool), Error> {
        self.write(|txn| txn.put_service_at(key, service))
            .map(|(s, created)| ((*s).clone(), created))
    }

    /// Replaces an existing service (the caller merged a PATCH into it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown key; as [`Registry::create_service`].
    pub fn update_service(&self, key: &str, service: Service) -> Result<Service, Error> {
        self.write(|txn| {
            let Some(id) = txn
                .st
                .services
                .get(key)
                .map(|s| Arc::<str>::from(s.id.as_str()))
            else {
                return Err(not_found());
            };
            txn.put_service(service, Some(id))
        })
        .map(|s| (*s).clone())
    }

    /// Changes the service named or identified by `key` atomically: `f` gets the
    /// stored service and returns the one to store (Kong's PATCH merges a body into
    /// it with [`dialect::kong::patch_service`](crate::dialect::kong::patch_service)).
    /// No other write comes between the read and the write. `f` runs under the
    /// registry's write lock: keep it short, and do not call the registry from it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown key; `f`'s error; as
    /// [`Registry::create_service`] for the result. On error nothing changes.
    pub fn modify_service(
        &self,
        key: &str,
        f: impl FnOnce(&Service) -> Result<Service, Error>,
    ) -> Result<Service, Error> {
        self.write(|txn| {
            let Some(current) = txn.st.services.get(key).cloned() else {
                return Err(not_found());
            };
            let next = f(&current)?;
            txn.put_service(next, Some(current.id.as_str().into()))
        })
        .map(|s| (*s).clone())
    }

    /// Deletes a service by name or id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`]; [`ErrorKind::ForeignKeyViolation`] while routes
    /// still lead to it.
    pub fn delete_service(&self, key: &str) -> Result<u64, Error> {
        self.write(|txn| txn.delete_service(key))?;
        Ok(self.revision())
    }

    /// The service with this name or id.
    pub fn service(&self, key: &str) -> Option<Service> {
        self.state.read().services.get(key).map(|s| (**s).clone())
    }

    /// Every service, oldest first (then by id).
    pub fn services(&self) -> Vec<Service> {
        let st = self.state.read();
        let mut all: Vec<Service> = st.services.by_id.values().map(|s| (**s).clone()).collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Creates a route (Kong's `POST /routes`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UniqueViolation`] for a name or id in use,
    /// [`ErrorKind::ForeignKeyViolation`] for an unknown service.
    pub fn create_route(&self, route: Route) -> Result<Route, Error> {
        self.write(|txn| {
            if !route.id.is_empty() && txn.st.routes.by_id.contains_key(route.id.as_str()) {
                return Err(Error::with_fields(
                    ErrorKind::UniqueViolation,
                    vec![("id".to_string(), route.id)],
                ));
            }
            txn.put_route(route, None)
        })
        .map(|r| (*r).clone())
    }

    /// Creates or replaces the route named or identified by `key` (Kong's
    /// `PUT /routes/{name or id}`). Returns the route and whether it was created.
    ///
    /// # Errors
    ///
    /// As [`Registry::create_route`].
    pub fn put_route(&self, key: &str, route: Route) -> Result<(Route, bool), Error> {
        self.write(|txn| txn.put_route_at(key, route))
            .map(|(r, created)| ((*r).clone(), created))
    }

    /// Replaces an existing route (the caller merged a PATCH into it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown key; as [`Registry::create_route`].
    pub fn update_route(&self, key: &str, route: Route) -> Result<Route, Error> {
        self.write(|txn| {
            let Some(id) = txn
                .st
                .routes
                .get(key)
                .map(|r| Arc::<str>::from(r.id.as_str()))
            else {
                return Err(not_found());
            };
            txn.put_route(route, Some(id))
        })
        .map(|r| (*r).clone())
    }

    /// As [`Registry::modify_service`], for the route named or identified by `key`
    /// (Kong's PATCH with [`dialect::kong::patch_route`](crate::dialect::kong::patch_route)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown key; `f`'s error; as
    /// [`Registry::create_route`] for the result. On error nothing changes.
    pub fn modify_route(
        &self,
        key: &str,
        f: impl FnOnce(&Route) -> Result<Route, Error>,
    ) -> Result<Route, Error> {
        self.write(|txn| {
            let Some(current) = txn.st.routes.get(key).cloned() else {
                return Err(not_found());
            };
            let next = f(&current)?;
            txn.put_route(next, Some(current.id.as_str().into()))
        })
        .map(|r| (*r).clone())
    }

    /// Deletes a route by name or id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`].
    pub fn delete_route(&self, key: &str) -> Result<u64, Error> {
        self.write(|txn| txn.delete_route(key))?;
        Ok(self.revision())
    }

    /// The route with this name or id.
    pub fn route(&self, key: &str) -> Option<Route> {
        self.state.read().routes.get(key).map(|r| (**r).clone())
    }

    /// Every route, oldest first (then by id); with `service` (a name or id),
    /// only the routes leading to it.
    pub fn routes(&self, service: Option<&str>) -> Vec<Route> {
        let st = self.state.read();
        let service_id = service.map(|key| st.services.get(key).map(|s| s.id.clone()));
        let mut all: Vec<Route> = st
            .routes
            .by_id
            .values()
            .filter(|r| match &service_id {
                None => true,
                Some(None) => false,
                Some(Some(id)) => r.service.as_ref().is_some_and(|s| &s.id == id),
            })
            .map(|r| (**r).clone())
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    // -- Upstreams ---------------------------------------------------------

    /// Sets the backends, strategy and split of the service named or
    /// identified by `service`: the routes leading to it then pick among these
    /// backends ([`Found::pick`], [`Found::connect`]). Counters of backends
    /// that stay (same address and port) carry over.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown service; the pool's own errors
    /// for backends or a configuration it refuses (for example a split naming
    /// a version no backend has).
    pub fn put_upstream(
        &self,
        service: &str,
        backends: Vec<Backend>,
        config: PoolConfig,
    ) -> Result<Upstream, Error> {
        self.write(|txn| txn.put_upstream(service, backends, config))
            .map(|u| (*u).clone())
    }

    /// The backends and balancing of a service, by its name or id.
    pub fn upstream(&self, service: &str) -> Option<Upstream> {
        let st = self.state.read();
        let id = &st.services.get(service)?.id;
        st.upstreams.get(id.as_str()).map(|u| (**u).clone())
    }

    /// Every upstream, by service id.
    pub fn upstreams(&self) -> Vec<Upstream> {
        let st = self.state.read();
        let mut all: Vec<Upstream> = st.upstreams.values().map(|u| (**u).clone()).collect();
        all.sort_by(|a, b| a.service_id.cmp(&b.service_id));
        all
    }

    /// Removes a service's backends and balancing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown service or one without an upstream.
    pub fn delete_upstream(&self, service: &str) -> Result<u64, Error> {
        self.write(|txn| txn.delete_upstream(service))?;
        Ok(self.revision())
    }

    /// Sets the version split of a service (CDAP's route config), checked with
    /// CDAP's rules and messages against the version labels of its backends.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown service; [`ErrorKind::InvalidArgument`]
    /// with CDAP's message for an empty split, unknown versions, a percentage
    /// outside 0..=100 or a total other than 100.
    pub fn set_split(&self, service: &str, split: SplitConfig) -> Result<u64, Error> {
        self.write(|txn| txn.set_split(service, Some(split)))?;
        Ok(self.revision())
    }

    /// The version split of a service, if it has one.
    pub fn split(&self, service: &str) -> Option<SplitConfig> {
        self.upstream(service)?.config.split
    }

    /// Removes the version split of a service.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the service is unknown or has no split (as
    /// CDAP answers a DELETE of a route config that does not exist).
    pub fn delete_split(&self, service: &str) -> Result<u64, Error> {
        self.write(|txn| txn.set_split(service, None))?;
        Ok(self.revision())
    }

    /// The live backend pool of a service (name or id), as the matcher picks
    /// from it: its backends' counters, [`Pool::stats`] in gobetween's shape.
    pub fn pool(&self, service: &str) -> Option<Arc<Pool>> {
        let id = self.state.read().services.get(service)?.id.clone();
        self.published.load().index.pool_of(&id).cloned()
    }

    /// Removes from every upstream the backends that were draining (or no
    /// longer discovered) and have no connection left; returns how many went.
    pub fn remove_drained(&self) -> usize {
        let published = self.published.load();
        let mut removed = 0;
        for (service_id, pool) in published.index.service_pools() {
            let drained = pool.drained();
            if drained.is_empty() {
                continue;
            }
            // Only backends the stored upstream still has draining (or
            // undiscovered) go: a concurrent change that made one live wins.
            let gone = |b: &Backend| {
                (b.state == BackendState::Draining || !b.discovered) && drained.contains(&b.id())
            };
            let applied = self.write(|txn| {
                let Some(current) = txn.st.upstreams.get(service_id).cloned() else {
                    return Ok(0);
                };
                let keep: Vec<Backend> = current
                    .backends
                    .iter()
                    .filter(|b| !gone(b))
                    .cloned()
                    .collect();
                let n = current.backends.len() - keep.len();
                if n > 0 {
                    txn.put_upstream(service_id, keep, current.config.clone())?;
                }
                Ok(n)
            });
            removed += applied.unwrap_or(0);
        }
        removed
    }

    /// Moves every backend pool's per-second rates to the window ending at
    /// `now` (the reaper does it on each tick).
    pub fn sample_stats(&self, now: Timestamp) {
        let published = self.published.load();
        for pool in published.index.pools() {
            pool.sample(now);
        }
    }

    // -- gobetween servers -------------------------------------------------

    /// Creates a gobetween server (gobetween's `POST /servers/{name}`): checked
    /// and completed with defaults as gobetween does, it lands as a service of
    /// the same name whose upstream holds the static backends (`priority` as
    /// tier, `balance` as strategy) and a stream route of the same name on the
    /// bind port, both tagged `gobetween`. Returns the stored server.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`] for a name in use (gobetween's text);
    /// [`ErrorKind::InvalidArgument`] with gobetween's text for a server it
    /// refuses, or for a name a service cannot carry.
    pub fn create_server(
        &self,
        name: &str,
        server: &gobetween::Server,
    ) -> Result<NamedServer, Error> {
        self.write(|txn| txn.create_server(name, server))
            .map(|v| (*v).clone())
    }

    /// Deletes a gobetween server and the route, upstream and service it
    /// landed as.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown name.
    pub fn delete_server(&self, name: &str) -> Result<u64, Error> {
        self.write(|txn| txn.delete_server(name))?;
        Ok(self.revision())
    }

    /// The gobetween server of this name.
    pub fn server(&self, name: &str) -> Option<NamedServer> {
        self.state.read().servers.get(name).map(|v| (**v).clone())
    }

    /// Every gobetween server, by name (what gobetween's `/dump` lists).
    pub fn servers(&self) -> std::collections::BTreeMap<String, gobetween::Server> {
        self.state
            .read()
            .servers
            .values()
            .map(|v| (v.name.clone(), v.server.clone()))
            .collect()
    }

    /// A gobetween server's statistics in gobetween's shape: connections and
    /// traffic over its backends, then each backend.
    pub fn server_stats(&self, name: &str) -> Option<crate::stats::ServerStats> {
        self.state.read().servers.get(name)?;
        Some(self.pool(name)?.stats())
    }

    // -- Batches -----------------------------------------------------------

    /// Applies a list of changes atomically: every change is validated and applied
    /// in order, each seeing the ones before it; if any fails, none is kept and the
    /// registry is exactly as before. Returns the events committed, in order (their
    /// revisions are consecutive).
    ///
    /// # Errors
    ///
    /// The first change's error, as the single-purpose methods report it.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<Event>, Error> {
        // The revision moves only on commit, so the batch's events start right
        // after the revision seen inside the transaction.
        let (start, pending) = self.write(|txn| {
            for change in changes {
                match change {
                    Change::UpsertHttpRoute(r) => {
                        validate_http_route(&r, Some(self.max_ttl))?;
                        txn.upsert_http(r, self.max_ttl);
                    }
                    Change::DeleteHttpRoute(r) => {
                        validate_http_route(&r, None)?;
                        txn.delete_http(&r);
                    }
                    Change::UpsertTcpRouteMapping(m) => {
                        validate_tcp_mapping(&m, Some(self.max_ttl))?;
                        txn.check_tcp(&m)?;
                        txn.put_tcp(m, self.max_ttl);
                    }
                    Change::DeleteTcpRouteMapping(m) => {
                        validate_tcp_mapping(&m, None)?;
                        txn.delete_tcp(&m);
                    }
                    Change::CreateRouterGroup(g) => {
                        txn.create_group(&g, &self.reserved_ports)?;
                    }
                    Change::UpdateRouterGroup {
                        guid,
                        reservable_ports,
                    } => {
                        txn.update_group(&guid, &reservable_ports, &self.reserved_ports)?;
                    }
                    Change::DeleteRouterGroup { guid } => txn.delete_group(&guid)?,
                    Change::ReservePort {
                        router_group_guid,
                        ttl,
                    } => {
                        txn.reserve(&router_group_guid, ttl.unwrap_or(self.reservation_ttl))?;
                    }
                    Change::ReleasePort {
                        router_group_guid,
                        port,
                    } => txn.release(&router_group_guid, port)?,
                    Change::UpsertService(service) => {
                        txn.upsert_service(service)?;
                    }
                    Change::PutService { key, service } => {
                        txn.put_service_at(&key, service)?;
                    }
                    Change::DeleteService { key } => txn.delete_service(&key)?,
                    Change::UpsertRoute(route) => {
                        txn.upsert_route(route)?;
                    }
                    Change::PutRoute { key, route } => {
                        txn.put_route_at(&key, route)?;
                    }
                    Change::DeleteRoute { key } => txn.delete_route(&key)?,
                    Change::PutUpstream {
                        service,
                        backends,
                        config,
                    } => {
                        txn.put_upstream(&service, backends, config)?;
                    }
                    Change::DeleteUpstream { service } => txn.delete_upstream(&service)?,
                    Change::CreateServer { name, server } => {
                        txn.create_server(&name, &server)?;
                    }
                    Change::DeleteServer { name } => txn.delete_server(&name)?,
                }
            }
            let events: Vec<(Action, Object)> = txn
                .st
                .pending
                .iter()
                .map(|(action, object, _)| (*action, object.clone()))
                .collect();
            Ok((txn.st.revision, events))
        })?;
        Ok(pending
            .into_iter()
            .zip(start + 1..)
            .map(|((action, object), revision)| Event {
                revision,
                action,
                object,
            })
            .collect())
    }

    /// Makes the registry hold exactly what `snapshot` holds, atomically.
    ///
    /// Objects keep everything the snapshot gives them: guids, ids, modification
    /// tags, `expires_at`, `created_at`. Only differences are written, each with
    /// its event under a new revision (the snapshot's own revision is not taken
    /// over: revisions never go back). Leases that lapsed in the meantime are
    /// restored lapsed, never listed, and leave at the next sweep.
    ///
    /// # Errors
    ///
    /// The snapshot is checked whole first: every object as its kind's rules
    /// say, unique ids, keys and names, every router group and service that
    /// objects refer to present in the snapshot. On error nothing changes.
    pub fn restore(&self, snapshot: Snapshot) -> Result<u64, Error> {
        self.write(|txn| txn.restore(snapshot, &self.reserved_ports))?;
        Ok(self.revision())
    }

    // -- Leases ------------------------------------------------------------

    /// Removes every lease that lapsed at or before `now` and publishes one
    /// [`Action::Expire`] event for each; returns how many were removed.
    ///
    /// The work is done in chunks, releasing the lock between them, so other
    /// callers wait at most for one chunk however many leases lapse.
    pub fn expire(&self, now: Timestamp) -> usize {
        let mut total = 0;
        loop {
            let spare = DeadList::spare();
            let mut st = self.state.write();
            st.index_dead.provide(spare, EXPIRE_CHUNK);
            let mut txn = Txn::begin(&mut st, now);
            txn.compact = false;
            txn.journal = false;
            let (removed, more) = txn.expire(EXPIRE_CHUNK);
            let revision = txn.commit();
            self.revision.store(revision, Ordering::Release);
            // Each chunk's events go out now, before the index that drops its routes
            // is published after the last chunk: matching already skips a lapsed
            // backend by time.
            st.deliver();
            total += removed;
            // The index is published once, after the last chunk: until then readers
            // keep the previous one, where `find` already skips lapsed backends by
            // time, and the staged index is changed in place instead of being
            // copied chunk after chunk.
            let replaced = (!more && total > 0).then(|| self.publish(&st, revision));
            let mut garbage = std::mem::take(&mut st.garbage);
            // Hand the lock to whoever waits, rather than taking it straight back.
            parking_lot::RwLockWriteGuard::unlock_fair(st);
            drop(replaced);
            garbage.clear();
            if !more {
                return total;
            }
        }
    }

    /// Removes every lapsed CF backend still in the matcher's index, in bounded
    /// steps; returns how many it removed. Lapsed backends are never matched, and
    /// each commit removes a few of them anyway: this finishes the job, for
    /// example after a large [`Registry::expire`]. The reaper calls it after every
    /// sweep.
    pub fn compact_index(&self) -> usize {
        let mut total = 0;
        let mut garbage = Garbage::default();
        loop {
            let mut st = self.state.write();
            let mut removed = 0;
            while removed < COMPACT_CHUNK {
                let Some((route, lease)) = st.index_dead.pop() else {
                    break;
                };
                st.index.remove_cf(&route, Some(&lease), &mut garbage);
                garbage.keep((route, lease));
                removed += 1;
            }
            total += removed;
            let done = st.index_dead.is_empty();
            let replaced = (done && total > 0).then(|| {
                let revision = st.revision;
                self.publish(&st, revision)
            });
            parking_lot::RwLockWriteGuard::unlock_fair(st);
            // What the removals let go of is freed outside the lock.
            garbage.clear();
            drop(replaced);
            if done {
                return total;
            }
        }
    }

    /// Starts a background thread that calls [`Registry::expire`] with the
    /// registry's clock every `interval`, then [`Registry::compact_index`],
    /// [`Registry::sample_stats`] and [`Registry::remove_drained`]. Dropping or stopping the returned handle
    /// stops the thread.
    pub fn start_reaper(self: &Arc<Self>, interval: Duration) -> Reaper {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let registry = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("routeyard-reaper".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        let now = registry.clock.now();
                        registry.expire(now);
                        registry.compact_index();
                        registry.sample_stats(now);
                        registry.remove_drained();
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .ok();
        Reaper {
            stop: Some(stop),
            thread,
        }
    }

    // -- Events and snapshots ----------------------------------------------

    /// Subscribes to the events of the kinds `filter` accepts.
    ///
    /// With `from: Some(r)` the subscription first replays every kept event after
    /// revision `r`, then continues live with no gap and no repeat; with `None` it
    /// starts live. Writers never wait for subscribers (see [`Subscription`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Compacted`] when events after `r` are no longer kept (the error
    /// names the oldest revision available); [`ErrorKind::InvalidArgument`] when `r`
    /// is newer than the registry.
    pub fn subscribe(&self, filter: Filter, from: Option<u64>) -> Result<Subscription, Error> {
        let mut st = self.state.write();
        let current = st.revision;
        st.log
            .subscribe(filter, from, current, self.subscriber_buffer)
    }

    /// The number of open subscriptions.
    pub fn subscriber_count(&self) -> usize {
        self.state.read().log.subscriber_count()
    }

    /// Every object the registry holds and the revision that state reflects.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state.read();
        let mut snapshot = Snapshot {
            revision: st.revision,
            router_groups: st.groups.values().map(|e| (*e.group).clone()).collect(),
            http_routes: st.http.values().map(|e| (*e.route).clone()).collect(),
            tcp_route_mappings: st.tcp.values().map(|m| (**m).clone()).collect(),
            port_reservations: st.reservations.values().map(|r| (**r).clone()).collect(),
            routes: st.routes.by_id.values().map(|r| (**r).clone()).collect(),
            services: st.services.by_id.values().map(|s| (**s).clone()).collect(),
            upstreams: st.upstreams.values().map(|u| (**u).clone()).collect(),
            servers: st.servers.values().map(|v| (**v).clone()).collect(),
        };
        drop(st);
        snapshot.sort();
        snapshot
    }
}

impl Snapshot {
    /// Sorts every list by its key, so that equal states compare equal.
    pub fn sort(&mut self) {
        self.router_groups.sort_by(|a, b| a.guid.cmp(&b.guid));
        self.http_routes
            .sort_by(|a, b| a.key_ref().cmp(&b.key_ref()));
        self.tcp_route_mappings.sort_by_key(TcpRouteMapping::key);
        self.port_reservations
            .sort_by(|a, b| (&a.router_group_guid, a.port).cmp(&(&b.router_group_guid, b.port)));
        self.routes.sort_by(|a, b| a.id.cmp(&b.id));
        self.services.sort_by(|a, b| a.id.cmp(&b.id));
        self.upstreams
            .sort_by(|a, b| a.service_id.cmp(&b.service_id));
        self.servers.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Applies one event to this snapshot, as a replica following the registry
    /// does: an upsert inserts or replaces the object with the same key, a delete
    /// or expiry removes it, and the revision moves to the event's.
    pub fn apply(&mut self, event: &Event) {
        fn put<T: Clone>(list: &mut Vec<T>, same: impl Fn(&T) -> bool, value: Option<&T>) {
            list.retain(|x| !same(x));
            if let Some(v) = value {
                list.push(v.clone());
            }
        }
        let upsert = event.action == Action::Upsert;
        match &event.object {
            Object::HttpRoute(r) => {
                let key = r.key();
                put(
                    &mut self.http_routes,
                    |x| x.key() == key,
                    upsert.then_some(&**r),
                );
            }
            Object::TcpRouteMapping(m) => {
                let key = m.key();
                put(
                    &mut self.tcp_route_mappings,
                    |x| x.key() == key,
                    upsert.then_some(&**m),
                );
            }
            Object::RouterGroup(g) => put(
                &mut self.router_groups,
                |x| x.guid == g.guid,
                upsert.then_some(&**g),
            ),
            Object::PortReservation(r) => put(
                &mut self.port_reservations,
                |x| x.router_group_guid == r.router_group_guid && x.port == r.port,
                upsert.then_some(&**r),
            ),
            Object::Route(r) => put(&mut self.routes, |x| x.id == r.id, upsert.then_some(&**r)),
            Object::Service(s) => put(&mut self.services, |x| x.id == s.id, upsert.then_some(&**s)),
            Object::Upstream(u) => put(
                &mut self.upstreams,
                |x| x.service_id == u.service_id,
                upsert.then_some(&**u),
            ),
            Object::Server(v) => put(
                &mut self.servers,
                |x| x.name == v.name,
                upsert.then_some(&**v),
            ),
        }
        self.revision = event.revision;
        self.sort();
    }
}

// A panic inside a transaction rolls it back (see `Txn`), and the lock does not
// poison, so a registry observed after a caught panic holds a committed state.
impl std::panic::RefUnwindSafe for Registry {}
impl std::panic::UnwindSafe for Registry {}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("revision", &self.revision())
            .field("max_ttl", &self.max_ttl)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The background expiry thread started by [`Registry::start_reaper`].
///
/// Stops (and joins the thread) on [`Reaper::stop`] or when dropped.
#[derive(Debug)]
pub struct Reaper {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reaper {
    /// Whether the thread could be started (it may not if the OS refuses threads).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and waits for it to finish its current sweep.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_send_sync_unwind_safe() {
        fn assert<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        assert::<Registry>();
        assert::<Arc<Registry>>();
        assert::<Snapshot>();
        assert::<Error>();
    }

    #[test]
    fn guids_are_distinct_uuid_v4() {
        let mut g = GuidSource::new();
        let a = g.guid();
        let b = g.guid();
        assert_ne!(a, b);
        for _ in 0..1000 {
            let text = g.guid();
            let parsed = uuid::Uuid::parse_str(&text).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
            // The canonical form: hyphenated, lowercase.
            assert_eq!(parsed.hyphenated().to_string(), *text);
        }
    }
}
