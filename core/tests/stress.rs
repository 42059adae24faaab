//! Stress tests against sequential models: writers of every kind of object,
//! matchers, the reaper and subscribers at once, on 2, 4, 8 and 16 writer
//! threads.
//!
//! Each writer owns its keys (CF HTTP routes and TCP mappings, Kong services
//! and routes, upstreams and splits, gobetween servers, port reservations of its
//! own router group, and pairs of a service and a route written together by
//! atomic batches) and predicts their final state with a plain sequential model;
//! two shared keys (a CF route and a Kong service) end as one of the writers'
//! last values. At the end:
//!
//! - the registry's state is exactly the merged models;
//! - a subscriber from revision 0 received every revision once, in order, and
//!   its events rebuild that state; one opened later, replaying the history,
//!   received the same stream; a filtered one received exactly its kinds;
//! - a subscriber that falls behind a small buffer is told from which revision
//!   to resume, and either resumes from the history or reloads a snapshot, and
//!   reaches the same state;
//! - every lookup a matcher made (`lookup`, `find`, `find_and_pick`) agrees with
//!   the state at a revision it could have seen: a route seen at revision `r`
//!   stays visible until a delete, a service and route written by one batch are
//!   seen together or not at all, nothing of a batch that failed is ever seen,
//!   and a gobetween server's port never matches without its backend.
//!
//! Upstreams carry draining backends, which the reaper removes while writers
//! rewrite the same upstreams; only the live ones may remain.
//!
//! Every wait is bounded. `ROUTEYARD_STRESS_ITERS=n` multiplies the work, and
//! `ROUTEYARD_STRESS_SEED` changes the writers' sequences (each run prints its
//! seed).

mod common;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    cf_upsert, drive_clock, join, join_all, next_event, spawn, CfExpected, Rng, DEADLINE, START,
};
use routeyard::balance::{Backend, BackendState, PoolConfig, Split, SplitConfig};
use routeyard::dialect::gobetween::{BackendSpec, Server};
use routeyard::{
    Action, Change, Clock, Config, ErrorKind, Event, Filter, HttpRoute, Kind, ManualClock, Matched,
    Object, Protocol, RecvError, Registry, Request, Route, RouterGroup, Service, ServiceRef,
    Snapshot, Subscription, TcpRouteMapping,
};

/// Entries of the writers' own keys live this long: far more than the clock moves.
const LONG_TTL: i64 = 24 * 3600;
/// The clock moves at most this far while the writers run.
const CLOCK_CAP: Duration = Duration::from_secs(600);
/// Keys per writer and per kind.
const KEYS: u64 = 4;
/// Operations per writer in one iteration.
const OPS: usize = 500;
/// The writers' seeds start here unless `ROUTEYARD_STRESS_SEED` says otherwise.
const SEED: u64 = 0x57E5_0000;
/// What each matcher keeps of its observations, at most.
const MAX_OBSERVATIONS: usize = 200_000;

/// How many times the default work to do (`ROUTEYARD_STRESS_ITERS`, default 1).
fn iterations() -> usize {
    std::env::var("ROUTEYARD_STRESS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1)
}

/// The first writer's seed (`ROUTEYARD_STRESS_SEED`, decimal or 0x-hex).
fn seed() -> u64 {
    std::env::var("ROUTEYARD_STRESS_SEED")
        .ok()
        .and_then(|v| match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        })
        .unwrap_or(SEED)
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

fn http_host(w: usize, k: u64) -> String {
    format!("w{w}-k{k}.example.com")
}

fn lapse_host(w: usize, k: u64) -> String {
    format!("lapse-w{w}-k{k}.example.com")
}

const SHARED_HOST: &str = "shared.example.com";
const SHARED_SERVICE: &str = "shared";

/// Writer `w`'s TCP keys differ by backend port, part of CF's key.
fn backend_port(w: usize, k: u64) -> u16 {
    10_000 + (w as u16) * 16 + k as u16
}

fn service_name(w: usize, k: u64) -> String {
    format!("s-w{w}-k{k}")
}

fn route_name(w: usize, k: u64) -> String {
    format!("r-w{w}-k{k}")
}

fn route_path(w: usize, k: u64) -> String {
    format!("/r/w{w}/k{k}/")
}

fn server_name(w: usize, k: u64) -> String {
    format!("g-w{w}-k{k}")
}

fn server_port(w: usize, k: u64) -> u16 {
    30_000 + (w as u16) * 16 + k as u16
}

fn group_name(w: usize) -> String {
    format!("resv-w{w}")
}

/// Writer `w`'s reservable ports: four, its own.
fn group_ports(w: usize) -> (u16, u16) {
    let first = 2_000 + (w as u16) * 8;
    (first, first + 3)
}

fn pair_service_id(w: usize, k: u64) -> String {
    format!("00000000-0000-4000-8000-{w:06x}{k:06x}")
}

fn pair_service_name(w: usize, k: u64) -> String {
    format!("p-w{w}-k{k}")
}

fn pair_route_name(w: usize, k: u64) -> String {
    format!("pr-w{w}-k{k}")
}

fn pair_path(w: usize, k: u64) -> String {
    format!("/p/w{w}/k{k}/")
}

fn pair_host(generation: u64) -> String {
    format!("gen{generation}.pair.internal")
}

// ---------------------------------------------------------------------------
// A writer and its model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct KongService {
    host: String,
    retries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KongRoute {
    path: String,
    service: Option<String>,
    strip_path: bool,
    tag: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pool {
    backends: Vec<(String, u16, Option<String>)>,
    /// Percentage of `v1` when split.
    split: Option<i64>,
}

#[derive(Default, Debug)]
struct Model {
    http: BTreeMap<String, CfExpected>,
    tcp: BTreeMap<u16, CfExpected>,
    services: BTreeMap<String, KongService>,
    routes: BTreeMap<String, KongRoute>,
    /// By service name.
    upstreams: BTreeMap<String, Pool>,
    /// Server name to bind port.
    servers: BTreeMap<String, u16>,
    reservations: BTreeSet<u16>,
    /// Pair index to the generation its service and route carry.
    pairs: BTreeMap<u64, u64>,
    /// The writer's last log guid on the shared CF route, and how many times
    /// it upserted it.
    shared_route: Option<String>,
    shared_upserts: u32,
    /// The writer's last `retries` on the shared service.
    shared_retries: Option<u32>,
    /// Calls refused as the model predicted.
    refused: usize,
    /// Calls made.
    ops: usize,
}

/// A service's backends: two live ones, and every other generation a third
/// one draining, which the reaper removes while the writers run.
fn backends_of(w: usize, k: u64, generation: u64) -> Vec<Backend> {
    let port = 8000 + (generation % 3) as u16;
    let mut backends = vec![
        Backend::new(format!("10.{w}.{k}.1"), port).with_version("v1"),
        Backend::new(format!("10.{w}.{k}.2"), port).with_version("v2"),
    ];
    if generation % 2 == 0 {
        backends.push(
            Backend::new(format!("10.{w}.{k}.3"), port)
                .with_version("v1")
                .with_state(BackendState::Draining),
        );
    }
    backends
}

fn pool_of(backends: &[Backend], split: Option<i64>) -> Pool {
    Pool {
        backends: backends
            .iter()
            .map(|b| (b.address.clone(), b.port, b.version.clone()))
            .collect(),
        split,
    }
}

fn split(v1: i64, v2: i64) -> SplitConfig {
    SplitConfig::new(Split::new().with("v1", v1).with("v2", v2))
}

fn gobetween_server(w: usize, k: u64) -> Server {
    let backend = BackendSpec {
        host: format!("10.{w}.{k}.9"),
        port: 7000,
        weight: 1,
        priority: 1,
        max_connections: 0,
        sni: None,
    };
    Server::with_static_backends(format!("0.0.0.0:{}", server_port(w, k)), &[backend])
}

/// Fails unless `result` is the error of kind `kind`.
fn refused<T: std::fmt::Debug>(
    result: Result<T, routeyard::Error>,
    kind: ErrorKind,
    what: &str,
) -> usize {
    match result {
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: {e}");
            1
        }
        Ok(v) => panic!("{what} succeeded where it must fail: {v:?}"),
    }
}

/// A delete that must succeed when the model had the object (`had`) and be
/// refused as not found otherwise; returns the refusals counted.
fn deleted<T: std::fmt::Debug>(
    had: bool,
    result: Result<T, routeyard::Error>,
    what: &str,
) -> usize {
    if had {
        result.unwrap();
        0
    } else {
        refused(result, ErrorKind::NotFound, what)
    }
}

struct Writer<'a> {
    registry: &'a Registry,
    w: usize,
    shared_group: &'a str,
    own_group: &'a str,
    rng: Rng,
    model: Model,
    generation: u64,
}

impl Writer<'_> {
    fn step(&mut self) {
        self.generation += 1;
        let (w, g) = (self.w, self.generation);
        let k = self.rng.below(KEYS);
        let registry = self.registry;
        let m = &mut self.model;
        match self.rng.below(30) {
            // CF HTTP routes.
            0..=1 => {
                let ttl = LONG_TTL - self.rng.below(100) as i64;
                let log_guid = ["", "log-a", "log-b"][self.rng.below(3) as usize];
                let route = HttpRoute::new(&http_host(w, k), "10.9.0.1", 8080)
                    .with_ttl(ttl)
                    .with_log_guid(log_guid);
                registry.upsert_http_routes(vec![route]).unwrap();
                cf_upsert(&mut m.http, http_host(w, k), ttl, log_guid);
            }
            2 => {
                let route = HttpRoute::new(&http_host(w, k), "10.9.0.1", 8080);
                registry.delete_http_routes(&[route]).unwrap();
                m.http.remove(&http_host(w, k));
            }
            // Routes that lapse while the writers run (or at the final sweep).
            3 => {
                let ttl = 1 + self.rng.below(3) as i64;
                let route = HttpRoute::new(&lapse_host(w, k), "10.8.0.1", 8080).with_ttl(ttl);
                registry.upsert_http_routes(vec![route]).unwrap();
            }
            // CF TCP mappings.
            4 => {
                let ttl = LONG_TTL - self.rng.below(100) as i64;
                let mapping =
                    TcpRouteMapping::new(self.shared_group, 1024, "10.9.1.1", backend_port(w, k))
                        .with_ttl(ttl);
                registry.upsert_tcp_route_mappings(vec![mapping]).unwrap();
                cf_upsert(&mut m.tcp, backend_port(w, k), ttl, "");
            }
            5 => {
                let mapping =
                    TcpRouteMapping::new(self.shared_group, 1024, "10.9.1.1", backend_port(w, k));
                registry.delete_tcp_route_mappings(&[mapping]).unwrap();
                m.tcp.remove(&backend_port(w, k));
            }
            // The shared CF route: every writer renews it with its own log guid.
            6 => {
                let log_guid = format!("w{w}-g{g}");
                let route = HttpRoute::new(SHARED_HOST, "10.7.0.1", 8080)
                    .with_ttl(LONG_TTL)
                    .with_log_guid(&log_guid);
                registry.upsert_http_routes(vec![route]).unwrap();
                m.shared_route = Some(log_guid);
                m.shared_upserts += 1;
            }
            // Kong services: create or replace (PUT), patch, delete.
            7..=8 => {
                let name = service_name(w, k);
                let host = format!("h{g}.w{w}.internal");
                let service = Service {
                    host: host.clone(),
                    ..Service::default()
                };
                let exists = m.services.contains_key(&name);
                if self.rng.chance(50) {
                    let (_, created) = registry.put_service(&name, service).unwrap();
                    assert_eq!(created, !exists, "PUT {name}");
                } else {
                    let result = registry.create_service(Service {
                        name: Some(name.clone()),
                        ..service
                    });
                    if exists {
                        m.refused += refused(result, ErrorKind::UniqueViolation, "POST service");
                        return self.counted();
                    }
                    result.unwrap();
                }
                m.services.insert(name, KongService { host, retries: 5 });
            }
            9 => {
                let name = service_name(w, k);
                let retries = (g % 10) as u32;
                let result = registry.modify_service(&name, |s| {
                    Ok(Service {
                        retries,
                        ..s.clone()
                    })
                });
                match m.services.get_mut(&name) {
                    Some(s) => {
                        assert_eq!(result.unwrap().retries, retries);
                        s.retries = retries;
                    }
                    None => m.refused += refused(result, ErrorKind::NotFound, "PATCH"),
                }
            }
            10 => {
                let name = service_name(w, k);
                let result = registry.delete_service(&name);
                let referenced = m
                    .routes
                    .values()
                    .any(|r| r.service.as_deref() == Some(name.as_str()));
                if !m.services.contains_key(&name) {
                    m.refused += refused(result, ErrorKind::NotFound, "DELETE service");
                } else if referenced {
                    m.refused += refused(result, ErrorKind::ForeignKeyViolation, "DELETE service");
                } else {
                    result.unwrap();
                    m.services.remove(&name);
                    m.upstreams.remove(&name);
                }
            }
            // The shared service: every writer patches it.
            11 => {
                let retries = (w as u32) * 1000 + (g % 1000) as u32;
                registry
                    .modify_service(SHARED_SERVICE, |s| {
                        Ok(Service {
                            retries,
                            ..s.clone()
                        })
                    })
                    .unwrap();
                m.shared_retries = Some(retries);
            }
            // Kong routes: PUT (to one of the writer's services, or none), PATCH, delete.
            12..=13 => {
                let name = route_name(w, k);
                let target = service_name(w, self.rng.below(KEYS));
                let service = if m.services.contains_key(&target) {
                    let id = registry.service(&target).expect("the writer's service").id;
                    Some(ServiceRef { id })
                } else {
                    None
                };
                let route = Route {
                    paths: Some(vec![route_path(w, k)]),
                    service,
                    tags: Some(vec![g.to_string()]),
                    ..Route::default()
                };
                let had = m.routes.contains_key(&name);
                if self.rng.chance(50) {
                    let (_, created) = registry.put_route(&name, route).unwrap();
                    assert_eq!(created, !had, "PUT {name}");
                } else {
                    let result = registry.create_route(Route {
                        name: Some(name.clone()),
                        ..route
                    });
                    if had {
                        m.refused += refused(result, ErrorKind::UniqueViolation, "POST route");
                        return self.counted();
                    }
                    result.unwrap();
                }
                m.routes.insert(
                    name,
                    KongRoute {
                        path: route_path(w, k),
                        service: m.services.contains_key(&target).then_some(target),
                        strip_path: true,
                        tag: g,
                    },
                );
            }
            14 => {
                let name = route_name(w, k);
                let result = registry.modify_route(&name, |r| {
                    Ok(Route {
                        strip_path: !r.strip_path,
                        tags: Some(vec![g.to_string()]),
                        ..r.clone()
                    })
                });
                match m.routes.get_mut(&name) {
                    Some(r) => {
                        assert_eq!(result.unwrap().strip_path, !r.strip_path);
                        r.strip_path = !r.strip_path;
                        r.tag = g;
                    }
                    None => m.refused += refused(result, ErrorKind::NotFound, "PATCH route"),
                }
            }
            15 => {
                let name = route_name(w, k);
                let result = registry.delete_route(&name);
                m.refused += deleted(m.routes.remove(&name).is_some(), result, "DELETE route");
            }
            // Upstreams and splits.
            16 => {
                let name = service_name(w, k);
                let mut backends = backends_of(w, k, g);
                let result = registry.put_upstream(&name, backends.clone(), PoolConfig::new());
                if m.services.contains_key(&name) {
                    result.unwrap();
                    // Draining backends are gone by the end.
                    backends.retain(|b| b.state != BackendState::Draining);
                    m.upstreams.insert(name, pool_of(&backends, None));
                } else {
                    m.refused += refused(result, ErrorKind::NotFound, "PUT upstream");
                }
            }
            17 => {
                let name = service_name(w, k);
                let v1 = self.rng.below(101) as i64;
                // One split in four does not add up to 100 and is refused.
                let bad = self.rng.chance(25);
                let result = registry.set_split(&name, split(v1, 100 - v1 + i64::from(bad)));
                match m.upstreams.get_mut(&name) {
                    Some(pool) if !bad => {
                        result.unwrap();
                        pool.split = Some(v1);
                    }
                    Some(_) => {
                        m.refused += refused(result, ErrorKind::InvalidArgument, "bad split")
                    }
                    None if !m.services.contains_key(&name) => {
                        m.refused += refused(result, ErrorKind::NotFound, "split")
                    }
                    // No backend has the versions the split names.
                    None => m.refused += refused(result, ErrorKind::InvalidArgument, "split"),
                }
            }
            18 => {
                let name = service_name(w, k);
                let result = registry.delete_split(&name);
                match m.upstreams.get_mut(&name) {
                    Some(pool) if pool.split.is_some() => {
                        result.unwrap();
                        pool.split = None;
                    }
                    _ => m.refused += refused(result, ErrorKind::NotFound, "DELETE split"),
                }
            }
            19 => {
                let name = service_name(w, k);
                let result = registry.delete_upstream(&name);
                let had = m.upstreams.remove(&name).is_some();
                m.refused += deleted(had, result, "DELETE upstream");
            }
            // gobetween servers.
            20 => {
                let name = server_name(w, k);
                let result = registry.create_server(&name, &gobetween_server(w, k));
                match m.servers.entry(name) {
                    Entry::Occupied(_) => {
                        m.refused += refused(result, ErrorKind::Conflict, "POST server")
                    }
                    Entry::Vacant(slot) => {
                        result.unwrap();
                        slot.insert(server_port(w, k));
                    }
                }
            }
            21 => {
                let name = server_name(w, k);
                let result = registry.delete_server(&name);
                m.refused += deleted(m.servers.remove(&name).is_some(), result, "DELETE server");
            }
            // Port reservations: the lowest free port of the writer's group.
            22 => {
                let (first, last) = group_ports(w);
                let result = registry.reserve_port(self.own_group, None);
                match (first..=last).find(|p| !m.reservations.contains(p)) {
                    Some(port) => {
                        assert_eq!(result.unwrap().port, port, "reserved port");
                        m.reservations.insert(port);
                    }
                    None => m.refused += refused(result, ErrorKind::PortRangeExhausted, "reserve"),
                }
            }
            23 => {
                let (first, _) = group_ports(w);
                let port = first + k as u16;
                let result = registry.release_port(self.own_group, port);
                if m.reservations.remove(&port) {
                    result.unwrap();
                } else {
                    assert!(
                        result.is_err(),
                        "released port {port} that was not reserved"
                    );
                    m.refused += 1;
                }
            }
            // A service and its route written, or removed, together.
            24..=25 => {
                let id = pair_service_id(w, k);
                let events = registry
                    .apply(vec![
                        Change::PutService {
                            key: id.clone(),
                            service: Service {
                                name: Some(pair_service_name(w, k)),
                                host: pair_host(g),
                                ..Service::default()
                            },
                        },
                        Change::PutRoute {
                            key: pair_route_name(w, k),
                            route: Route {
                                paths: Some(vec![pair_path(w, k)]),
                                service: Some(ServiceRef { id }),
                                tags: Some(vec![g.to_string()]),
                                ..Route::default()
                            },
                        },
                    ])
                    .unwrap();
                assert_eq!(events.len(), 2);
                assert_eq!(events[1].revision, events[0].revision + 1);
                m.pairs.insert(k, g);
            }
            26 => {
                let result = registry.apply(vec![
                    Change::DeleteRoute {
                        key: pair_route_name(w, k),
                    },
                    Change::DeleteService {
                        key: pair_service_id(w, k),
                    },
                ]);
                if m.pairs.remove(&k).is_some() {
                    assert_eq!(result.unwrap().len(), 2);
                } else {
                    m.refused += refused(result, ErrorKind::NotFound, "DELETE pair");
                }
            }
            // A batch that fails at its last change: none of it may apply, and no
            // matcher may ever see its generation.
            27 => {
                let id = pair_service_id(w, k);
                let result = registry.apply(vec![
                    Change::PutService {
                        key: id.clone(),
                        service: Service {
                            name: Some(pair_service_name(w, k)),
                            host: pair_host(g),
                            ..Service::default()
                        },
                    },
                    Change::PutRoute {
                        key: pair_route_name(w, k),
                        route: Route {
                            paths: Some(vec![pair_path(w, k)]),
                            service: Some(ServiceRef { id }),
                            tags: Some(vec![g.to_string()]),
                            ..Route::default()
                        },
                    },
                    Change::UpsertHttpRoute(
                        HttpRoute::new(&http_host(w, k), "10.9.0.1", 8080).with_ttl(LONG_TTL),
                    ),
                    Change::DeleteService {
                        key: format!("missing-w{w}"),
                    },
                ]);
                m.refused += refused(result, ErrorKind::NotFound, "a failing batch");
            }
            // A CF batch mixing kinds, and one that fails on an unknown group.
            28 => {
                let other = self.rng.below(KEYS);
                let ttl = LONG_TTL - self.rng.below(100) as i64;
                registry
                    .apply(vec![
                        Change::UpsertHttpRoute(
                            HttpRoute::new(&http_host(w, k), "10.9.0.1", 8080).with_ttl(ttl),
                        ),
                        Change::UpsertTcpRouteMapping(
                            TcpRouteMapping::new(
                                self.shared_group,
                                1024,
                                "10.9.1.1",
                                backend_port(w, other),
                            )
                            .with_ttl(ttl),
                        ),
                    ])
                    .unwrap();
                cf_upsert(&mut m.http, http_host(w, k), ttl, "");
                cf_upsert(&mut m.tcp, backend_port(w, other), ttl, "");
            }
            _ => {
                let result = registry.apply(vec![
                    Change::DeleteHttpRoute(HttpRoute::new(&http_host(w, k), "10.9.0.1", 8080)),
                    Change::ReservePort {
                        router_group_guid: self.own_group.to_string(),
                        ttl: None,
                    },
                    Change::UpsertTcpRouteMapping(
                        TcpRouteMapping::new("no-such-group", 1024, "10.9.1.1", backend_port(w, k))
                            .with_ttl(60),
                    ),
                ]);
                // The reservation fails first when the group is full.
                let kind = if m.reservations.len() == 4 {
                    ErrorKind::PortRangeExhausted
                } else {
                    ErrorKind::TcpRouteMappingInvalid
                };
                m.refused += refused(result, kind, "a CF batch");
            }
        }
        self.counted();
    }

    fn counted(&mut self) {
        self.model.ops += 1;
    }
}

// ---------------------------------------------------------------------------
// Matchers
// ---------------------------------------------------------------------------

/// One lookup of writer `w`'s route `k`: whether it matched, and the range of
/// revisions the index it read could have had.
#[derive(Clone, Copy, Debug)]
struct Observation {
    w: u16,
    k: u16,
    visible: bool,
    lo: u64,
    hi: u64,
}

#[derive(Default)]
struct MatcherLog {
    rounds: u64,
    observations: Vec<Observation>,
    /// Pairs seen: writer, key, generation and the revision seen at.
    pairs: Vec<(u16, u16, u64, u64)>,
    /// gobetween servers found with their backend.
    servers: u64,
}

/// Checks that a pair's route came with its service, from the same batch;
/// returns the batch's generation.
fn check_pair(w: usize, k: u64, route: &Route, service: Option<&Service>) -> u64 {
    assert_eq!(route.name.as_deref(), Some(pair_route_name(w, k).as_str()));
    let service = service.expect("a pair's route is seen without its service");
    let generation: u64 = route.tags.as_ref().unwrap()[0].parse().unwrap();
    assert_eq!(
        service.host,
        pair_host(generation),
        "a pair's route and service from different batches"
    );
    generation
}

fn matcher(registry: &Registry, writers: usize, seed: u64, stop: &AtomicBool) -> MatcherLog {
    let mut rng = Rng(seed);
    let mut log = MatcherLog::default();
    let mut shared_seen = false;
    let mut last_revision = 0;
    while !stop.load(Ordering::Acquire) {
        let w = rng.below(writers as u64) as usize;
        let k = rng.below(KEYS);

        // A writer's route: a hit names its index's revision; a miss could have
        // read any index between the revisions around it (the index is swapped
        // in just before the revision moves).
        let path = format!("{}x", route_path(w, k));
        let before = registry.revision();
        assert!(before >= last_revision, "the revision went back");
        last_revision = before;
        let hit = registry.lookup(&Request::new("GET", "any.example.com", &path), |f| {
            let route = f.route().expect("a Kong route");
            assert_eq!(route.name.as_deref(), Some(route_name(w, k).as_str()));
            if let Some(s) = &route.service {
                let service = f.service().expect("the route's service");
                assert_eq!(service.id, s.id, "the service of another route");
            }
            f.revision()
        });
        let observation = match hit {
            Some(revision) => Observation {
                w: w as u16,
                k: k as u16,
                visible: true,
                lo: revision,
                hi: revision,
            },
            None => Observation {
                w: w as u16,
                k: k as u16,
                visible: false,
                lo: before,
                hi: registry.revision() + 1,
            },
        };
        if log.observations.len() < MAX_OBSERVATIONS {
            log.observations.push(observation);
        }

        // A pair: route and service come from the same batch, or neither is
        // seen; through `lookup` or `find`, alternately.
        let path = format!("{}x", pair_path(w, k));
        let request = Request::new("GET", "any.example.com", &path);
        let pair = if rng.chance(50) {
            registry.lookup(&request, |f| {
                let route = f.route().expect("a Kong route");
                let generation = check_pair(w, k, route, f.service());
                (generation, f.revision())
            })
        } else {
            registry.find(&request).map(|m| {
                let Matched::Route(route) = &m.matched else {
                    panic!("a pair's path matched {:?}", m.matched)
                };
                let generation = check_pair(w, k, route, m.service.as_deref());
                (generation, m.revision)
            })
        };
        if let Some((generation, revision)) = pair {
            if log.pairs.len() < MAX_OBSERVATIONS {
                log.pairs.push((w as u16, k as u16, generation, revision));
            }
        }

        // A gobetween server lands as a route, a service and an upstream in one
        // commit: its bind port either matches nothing or reaches its backend.
        let from = SocketAddr::from(([192, 0, 2, 10], 50_000));
        let to = SocketAddr::from(([127, 0, 0, 1], server_port(w, k)));
        if let Some(m) = registry.find_and_pick(&Request::stream(Protocol::Tcp, from, to)) {
            let Matched::Route(route) = &m.matched else {
                panic!("a server's port matched {:?}", m.matched)
            };
            assert_eq!(route.name.as_deref(), Some(server_name(w, k).as_str()));
            let backend = m
                .backend
                .expect("a server's route is seen without its backends");
            assert_eq!(
                (&*backend.address, backend.port),
                (format!("10.{w}.{k}.9").as_str(), 7000)
            );
            log.servers += 1;
        }

        // The shared CF route is never deleted and lives long: once seen, it
        // stays.
        let shared = registry
            .lookup(&Request::new("GET", SHARED_HOST, "/"), |f| {
                f.cf_route().map(str::to_string)
            })
            .flatten();
        match shared {
            Some(route) => {
                assert_eq!(route, SHARED_HOST);
                shared_seen = true;
            }
            None => assert!(!shared_seen, "the shared CF route disappeared"),
        }
        log.rounds += 1;
        thread::yield_now();
    }
    log
}

/// Checks each observation against the state at the revisions it could have
/// read, as the full event stream tells it.
fn check_observations(events: &[Event], logs: &[MatcherLog]) {
    // Revisions at which each writer route appeared or went.
    let mut timelines: HashMap<String, Vec<(u64, bool)>> = HashMap::new();
    // When each pair generation became current, and when it stopped being.
    let mut pair_generations: HashMap<(String, u64), (u64, u64)> = HashMap::new();
    let mut current_pair: HashMap<String, u64> = HashMap::new();
    for e in events {
        if let Object::Route(r) = &e.object {
            let name = r.name.clone().unwrap_or_default();
            if name.starts_with("r-") {
                timelines
                    .entry(name)
                    .or_default()
                    .push((e.revision, e.action == Action::Upsert));
            } else if name.starts_with("pr-") {
                if let Some(previous) = current_pair.remove(&name) {
                    pair_generations
                        .get_mut(&(name.clone(), previous))
                        .unwrap()
                        .1 = e.revision;
                }
                if e.action == Action::Upsert {
                    let generation = r.tags.as_ref().unwrap()[0].parse().unwrap();
                    pair_generations.insert((name.clone(), generation), (e.revision, u64::MAX));
                    current_pair.insert(name, generation);
                }
            }
        }
    }
    let at = |timeline: &[(u64, bool)], revision: u64| {
        timeline
            .iter()
            .take_while(|(r, _)| *r <= revision)
            .last()
            .is_some_and(|(_, v)| *v)
    };
    let mut checked = 0;
    for log in logs {
        for o in &log.observations {
            let name = route_name(o.w as usize, o.k as u64);
            let timeline = timelines.get(&name).map_or(&[][..], Vec::as_slice);
            let agrees = at(timeline, o.lo) == o.visible
                || timeline
                    .iter()
                    .any(|(r, v)| *r > o.lo && *r <= o.hi && *v == o.visible);
            assert!(
                agrees,
                "{name} was {} between revisions {} and {}, which no state there shows",
                if o.visible { "seen" } else { "missed" },
                o.lo,
                o.hi
            );
            checked += 1;
        }
        for &(w, k, generation, revision) in &log.pairs {
            // The generation was committed, and current at the revision seen.
            let name = pair_route_name(w as usize, k as u64);
            let current = pair_generations
                .get(&(name.clone(), generation))
                .is_some_and(|(from, to)| *from <= revision && revision < *to);
            assert!(
                current,
                "{name} generation {generation} seen at revision {revision}, when it was not current"
            );
        }
    }
    assert!(checked > 0, "no lookup was checked");
}

// ---------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum OnLag {
    /// Subscribe again from the revision the lag notice names.
    Resume,
    /// Load a snapshot and subscribe from its revision.
    Reload,
}

struct Followed {
    /// The events received, in order (with [`OnLag::Reload`], only those since
    /// the last reload).
    events: Vec<Event>,
    /// The state they built.
    state: Snapshot,
    lags: usize,
}

/// Follows the registry until revision `target` (set once the writers are
/// done), checking that revisions follow each other and that a lag notice names
/// the last revision delivered; a lag is handled as `on_lag` says. With `wait`,
/// reads nothing before the revision reaches that far.
fn follow(
    registry: &Registry,
    mut sub: Subscription,
    on_lag: OnLag,
    wait: Option<u64>,
    target: &AtomicU64,
    deadline: Instant,
) -> Followed {
    if let Some(revision) = wait {
        while registry.revision() < revision && target.load(Ordering::Acquire) == 0 {
            assert!(Instant::now() < deadline, "the writers stalled");
            thread::yield_now();
        }
    }
    let mut followed = Followed {
        events: Vec::new(),
        state: Snapshot::default(),
        lags: 0,
    };
    loop {
        let last = followed.state.revision;
        let Some(read) = next_event(&mut sub, last, target, deadline) else {
            return followed;
        };
        match read {
            Ok(e) => {
                followed.state.apply(&e);
                followed.events.push(e);
            }
            Err(RecvError::Timeout) => {}
            Err(RecvError::Lagged { resume_from }) => {
                assert_eq!(resume_from, last, "the lag notice names another revision");
                assert_eq!(sub.try_recv(), Err(RecvError::Closed));
                followed.lags += 1;
                let from = match on_lag {
                    OnLag::Resume => last,
                    OnLag::Reload => {
                        followed.state = registry.snapshot();
                        followed.events.clear();
                        followed.state.revision
                    }
                };
                sub = registry
                    .subscribe(Filter::all(), Some(from))
                    .expect("the history covers the lag");
            }
            Err(RecvError::Closed) => panic!("subscription closed after revision {last}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// Counts a writer thread out when dropped, by return or by panic.
struct Finished(Arc<AtomicU64>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// The kinds the filtered subscriber takes.
fn kong_filter() -> Filter {
    Filter::only(Kind::Route)
        .with(Kind::Service)
        .with(Kind::Upstream)
}

/// Runs `writers` writers with subscribers whose buffer holds `buffer` events,
/// or (`None`) more than the run can publish.
fn run(writers: usize, buffer: Option<usize>) {
    let deadline = Instant::now() + DEADLINE * iterations() as u32;
    let ops = OPS * iterations();
    let seed = seed();
    // No operation publishes more than four events (a gobetween server is a
    // service, an upstream, a route and the server).
    let most_events = (ops * writers * 4 + 1024).max(1 << 20);
    let small = buffer.is_some();
    let buffer = buffer.unwrap_or(most_events);
    eprintln!("{writers} writers, buffer {buffer}, seed {seed:#x}, {ops} operations each");
    let clock = ManualClock::new(START);
    let registry = Arc::new(Registry::new(
        Config::new()
            .clock(clock.clone())
            .max_ttl(Duration::from_secs(LONG_TTL as u64))
            .history(most_events)
            .subscriber_buffer(buffer),
    ));
    let target = Arc::new(AtomicU64::new(0));
    let follower = |on_lag: OnLag, wait: Option<u64>| {
        let sub = registry.subscribe(Filter::all(), Some(0)).unwrap();
        let (registry, target) = (registry.clone(), target.clone());
        spawn("subscriber", move || {
            follow(&registry, sub, on_lag, wait, &target, deadline)
        })
    };
    // From before the first change: one that follows, one that reads nothing
    // for a while and reloads a snapshot if it lags.
    let first = follower(OnLag::Resume, None);
    let slow = follower(OnLag::Reload, Some(64 + 4 * buffer.min(1024) as u64));
    let filtered = (!small).then(|| registry.subscribe(kong_filter(), Some(0)).unwrap());

    let (shared, _) = registry
        .create_router_group(RouterGroup::new("shared", "tcp", "1024-1100"))
        .unwrap();
    let own_groups: Vec<Arc<str>> = (0..writers)
        .map(|w| {
            let (first, last) = group_ports(w);
            let group = RouterGroup::new(&group_name(w), "tcp", &format!("{first}-{last}"));
            registry.create_router_group(group).unwrap().0.guid
        })
        .collect();
    registry
        .create_service(Service {
            name: Some(SHARED_SERVICE.into()),
            host: "shared.internal".into(),
            ..Service::default()
        })
        .unwrap();

    let ops_done = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reaper = registry.start_reaper(Duration::from_millis(1));
    assert!(reaper.is_running());
    let start = Arc::new(Barrier::new(writers + 2));
    let matchers: Vec<_> = (0..2)
        .map(|i| {
            let (registry, stop, start) = (registry.clone(), stop.clone(), start.clone());
            spawn(&format!("matcher-{i}"), move || {
                start.wait();
                matcher(&registry, writers, 0xA11CE + i, &stop)
            })
        })
        .collect();
    let driver = {
        let (clock, ops_done, stop) = (clock.clone(), ops_done.clone(), stop.clone());
        spawn("clock", move || {
            drive_clock(
                &clock,
                &ops_done,
                &stop,
                Duration::from_millis(250),
                4,
                CLOCK_CAP,
            )
        })
    };
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (registry, shared, own, ops_done, finished, start) = (
                registry.clone(),
                shared.guid.clone(),
                own_groups[w].clone(),
                ops_done.clone(),
                finished.clone(),
                start.clone(),
            );
            spawn(&format!("writer-{w}"), move || {
                // Counts the writer out however it ends, so that no one waits
                // for the progress of a writer that panicked.
                let _finished = Finished(finished);
                let mut writer = Writer {
                    registry: &registry,
                    w,
                    shared_group: &shared,
                    own_group: &own,
                    rng: Rng(seed.wrapping_add(w as u64)),
                    model: Model::default(),
                    generation: 0,
                };
                start.wait();
                for _ in 0..ops {
                    writer.step();
                    ops_done.fetch_add(1, Ordering::Relaxed);
                    thread::yield_now();
                }
                writer.model
            })
        })
        .collect();
    // A subscriber opened while the writers run, replaying the history first.
    while ops_done.load(Ordering::Relaxed) < (ops * writers / 3) as u64
        && finished.load(Ordering::Acquire) == 0
    {
        assert!(Instant::now() < deadline, "the writers stalled");
        thread::yield_now();
    }
    let late = follower(OnLag::Resume, None);

    let models: Vec<Model> = join_all(&threads, deadline, "writer");
    stop.store(true, Ordering::Release);
    let moved = join(&driver, deadline, "the clock driver");
    let logs: Vec<MatcherLog> = join_all(&matchers, deadline, "matcher");
    reaper.stop();
    assert!(moved < Duration::from_secs(LONG_TTL as u64 / 2));

    // Every short lease is due now; a final sweep removes what the reaper left.
    clock.advance(Duration::from_secs(10));
    let before_sweep = registry.revision();
    registry.expire(clock.now());
    // And the draining backends the reaper had not removed yet.
    registry.remove_drained();
    let last = registry.snapshot();
    target.store(last.revision, Ordering::Release);
    let first = join(&first, deadline, "the first subscriber");
    let slow = join(&slow, deadline, "the slow subscriber");
    let late = join(&late, deadline, "the late subscriber");

    check_state(&last, &models, writers);

    // The stream from revision 0 is every revision once and rebuilds the state.
    assert_eq!(first.events.len() as u64, last.revision);
    assert_eq!(first.state, last, "the events do not rebuild the state");
    assert_eq!(late.events, first.events, "the late subscriber's stream");
    assert_eq!(slow.state, last, "the slow subscriber's state");
    if small {
        assert!(
            slow.lags > 0,
            "a subscriber behind a small buffer never lagged"
        );
    } else {
        assert_eq!(first.lags + late.lags, 0, "a subscriber with room lagged");
        assert_eq!(slow.events, first.events);
        let mut filtered = filtered.expect("the filtered subscription");
        let expected: Vec<Event> = first
            .events
            .iter()
            .filter(|e| kong_filter().accepts(e.kind()))
            .cloned()
            .collect();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            assert!(Instant::now() < deadline, "the filtered subscriber stalled");
            match filtered.recv_timeout(Duration::from_millis(20)) {
                Ok(e) => got.push(e),
                Err(RecvError::Timeout) => {}
                Err(e) => panic!("the filtered subscription failed: {e}"),
            }
        }
        assert_eq!(filtered.try_recv(), Ok(None));
        assert_eq!(got, expected, "the filtered stream");
    }
    assert!(
        first
            .events
            .iter()
            .any(|e| e.action == Action::Expire && e.revision <= before_sweep),
        "nothing lapsed while the writers ran"
    );

    check_observations(&first.events, &logs);
    for (i, log) in logs.iter().enumerate() {
        assert!(log.rounds > 0, "matcher {i} never completed a round");
    }
    assert!(
        logs.iter().map(|l| l.pairs.len()).sum::<usize>() > 0,
        "no matcher ever saw a pair"
    );
    let total: usize = models.iter().map(|m| m.ops).sum();
    let refused: usize = models.iter().map(|m| m.refused).sum();
    // Upstream rewrites that only dropped draining backends: the reaper's.
    let mut upstreams: HashMap<&str, &[Backend]> = HashMap::new();
    let mut drained = 0;
    for e in &first.events {
        if let Object::Upstream(u) = &e.object {
            if let Some(before) = upstreams.get(u.service_id.as_str()) {
                let kept: Vec<&Backend> = before
                    .iter()
                    .filter(|b| b.state != BackendState::Draining)
                    .collect();
                if e.action == Action::Upsert
                    && kept.len() < before.len()
                    && u.backends.iter().eq(kept.iter().copied())
                {
                    drained += 1;
                }
            }
            upstreams.insert(&u.service_id, &u.backends);
        }
    }
    let rounds: u64 = logs.iter().map(|l| l.rounds).sum();
    let servers: u64 = logs.iter().map(|l| l.servers).sum();
    eprintln!(
        "{writers} writers, buffer {buffer}: {total} writes ({refused} refused), {} revisions, \
         {rounds} matcher rounds ({servers} reached a server), {drained} removals of drained \
         backends, {} lags of the slow subscriber",
        last.revision, slow.lags
    );
}

/// Compares the final state with the merged models.
fn check_state(last: &Snapshot, models: &[Model], writers: usize) {
    let service_names: HashMap<&str, &str> = last
        .services
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_deref().unwrap_or("")))
        .collect();
    assert!(
        last.http_routes
            .iter()
            .all(|r| !r.route.starts_with("lapse-")),
        "lapsed routes survived the final sweep"
    );
    for (w, model) in models.iter().enumerate() {
        let prefix = format!("w{w}-");
        let http: BTreeMap<String, CfExpected> = last
            .http_routes
            .iter()
            .filter(|r| r.route.starts_with(&prefix))
            .map(|r| {
                let cf = CfExpected {
                    index: r.modification_tag.index,
                    ttl: r.ttl.unwrap(),
                    log_guid: r.log_guid.to_string(),
                };
                (r.route.to_string(), cf)
            })
            .collect();
        assert_eq!(http, model.http, "writer {w}'s HTTP routes");
        let ports: BTreeSet<u16> = (0..KEYS).map(|k| backend_port(w, k)).collect();
        let tcp: BTreeMap<u16, CfExpected> = last
            .tcp_route_mappings
            .iter()
            .filter(|m| ports.contains(&m.backend_port))
            .map(|m| {
                let cf = CfExpected {
                    index: m.modification_tag.index,
                    ttl: m.ttl.unwrap(),
                    log_guid: String::new(),
                };
                (m.backend_port, cf)
            })
            .collect();
        assert_eq!(tcp, model.tcp, "writer {w}'s TCP mappings");

        let prefix = format!("s-w{w}-");
        let services: BTreeMap<String, KongService> = last
            .services
            .iter()
            .filter_map(|s| {
                let name = s.name.clone()?;
                name.starts_with(&prefix).then(|| {
                    let service = KongService {
                        host: s.host.clone(),
                        retries: s.retries,
                    };
                    (name, service)
                })
            })
            .collect();
        assert_eq!(services, model.services, "writer {w}'s services");
        let upstreams: BTreeMap<String, Pool> = last
            .upstreams
            .iter()
            .filter_map(|u| {
                let name = service_names[u.service_id.as_str()];
                name.starts_with(&prefix).then(|| {
                    let split = u
                        .config
                        .split
                        .as_ref()
                        .map(|s| s.split.as_ref().unwrap().percentages()["v1"]);
                    (name.to_string(), pool_of(&u.backends, split))
                })
            })
            .collect();
        assert_eq!(upstreams, model.upstreams, "writer {w}'s upstreams");

        let prefix = format!("r-w{w}-");
        let routes: BTreeMap<String, KongRoute> = last
            .routes
            .iter()
            .filter_map(|r| {
                let name = r.name.clone()?;
                name.starts_with(&prefix).then(|| {
                    let route = KongRoute {
                        path: r.paths.as_ref().unwrap()[0].clone(),
                        service: r
                            .service
                            .as_ref()
                            .map(|s| service_names[s.id.as_str()].to_string()),
                        strip_path: r.strip_path,
                        tag: r.tags.as_ref().unwrap()[0].parse().unwrap(),
                    };
                    (name, route)
                })
            })
            .collect();
        assert_eq!(routes, model.routes, "writer {w}'s routes");

        // A server lands as a service, an upstream and a route of its name.
        let prefix = format!("g-w{w}-");
        let servers: BTreeMap<String, u16> = last
            .servers
            .iter()
            .filter(|s| s.name.starts_with(&prefix))
            .map(|s| (s.name.clone(), s.server.bind_port().unwrap()))
            .collect();
        assert_eq!(servers, model.servers, "writer {w}'s servers");
        let landed: BTreeSet<&str> = last
            .services
            .iter()
            .filter_map(|s| s.name.as_deref())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let routed: BTreeSet<&str> = last
            .routes
            .iter()
            .filter_map(|r| r.name.as_deref())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let named: BTreeSet<&str> = model.servers.keys().map(String::as_str).collect();
        assert_eq!(landed, named, "writer {w}'s servers' services");
        assert_eq!(routed, named, "writer {w}'s servers' routes");

        let group = last
            .router_groups
            .iter()
            .find(|g| *g.name == *group_name(w))
            .unwrap();
        let reserved: BTreeSet<u16> = last
            .port_reservations
            .iter()
            .filter(|r| r.router_group_guid == group.guid)
            .map(|r| r.port)
            .collect();
        assert_eq!(reserved, model.reservations, "writer {w}'s reservations");

        let pairs: BTreeMap<u64, u64> = (0..KEYS)
            .filter_map(|k| {
                let service = last.services.iter().find(|s| s.id == pair_service_id(w, k));
                let route = last
                    .routes
                    .iter()
                    .find(|r| r.name.as_deref() == Some(pair_route_name(w, k).as_str()));
                match (service, route) {
                    (None, None) => None,
                    (Some(s), Some(r)) => {
                        let generation: u64 = r.tags.as_ref().unwrap()[0].parse().unwrap();
                        assert_eq!(s.host, pair_host(generation), "a torn pair");
                        assert_eq!(r.service.as_ref().unwrap().id, s.id);
                        Some((k, generation))
                    }
                    (s, r) => panic!("half a pair: {s:?} {r:?}"),
                }
            })
            .collect();
        assert_eq!(pairs, model.pairs, "writer {w}'s pairs");
        assert!(model.refused > 0, "writer {w} was never refused");
    }

    // The shared keys end as one writer's last write.
    let shared = last
        .http_routes
        .iter()
        .find(|r| &*r.route == SHARED_HOST)
        .expect("the shared CF route");
    let upserts: u32 = models.iter().map(|m| m.shared_upserts).sum();
    assert_eq!(shared.modification_tag.index + 1, upserts);
    assert!(
        models
            .iter()
            .any(|m| m.shared_route.as_deref() == Some(&*shared.log_guid)),
        "the shared route's log guid {} is no writer's last",
        shared.log_guid
    );
    let service = last
        .services
        .iter()
        .find(|s| s.name.as_deref() == Some(SHARED_SERVICE))
        .expect("the shared service");
    assert!(
        models
            .iter()
            .any(|m| m.shared_retries == Some(service.retries)),
        "the shared service's retries {} are no writer's last",
        service.retries
    );

    // Nothing else.
    let sum = |f: fn(&Model) -> usize| models.iter().map(f).sum::<usize>();
    assert_eq!(
        last.http_routes.len(),
        sum(|m| m.http.len()) + 1,
        "stray HTTP routes"
    );
    assert_eq!(last.tcp_route_mappings.len(), sum(|m| m.tcp.len()));
    assert_eq!(
        last.services.len(),
        sum(|m| m.services.len() + m.servers.len() + m.pairs.len()) + 1,
        "stray services"
    );
    assert_eq!(
        last.routes.len(),
        sum(|m| m.routes.len() + m.servers.len() + m.pairs.len()),
        "stray routes"
    );
    assert_eq!(
        last.upstreams.len(),
        sum(|m| m.upstreams.len() + m.servers.len()),
        "stray upstreams"
    );
    assert_eq!(last.router_groups.len(), writers + 1);
    assert_eq!(last.port_reservations.len(), sum(|m| m.reservations.len()));
}

#[test]
fn stress_2_writers() {
    run(2, None);
}

#[test]
fn stress_4_writers() {
    run(4, None);
}

#[test]
fn stress_8_writers() {
    run(8, None);
}

#[test]
fn stress_16_writers() {
    run(16, None);
}

#[test]
fn lagging_subscribers_2_writers() {
    run(2, Some(16));
}

#[test]
fn lagging_subscribers_4_writers() {
    run(4, Some(16));
}

#[test]
fn lagging_subscribers_8_writers() {
    run(8, Some(16));
}

#[test]
fn lagging_subscribers_16_writers() {
    run(16, Some(16));
}
