//! Layer 4: Kong stream routes (by SNI, sources and destinations) and CF TCP
//! route mappings (by router group and port).

use std::cmp::Reverse;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::lease::Timestamp;
use crate::matcher::key::Key;
use crate::matcher::shard::ShardMap;
use crate::model::cf::TcpRouteMapping;
use crate::model::kong::{Peer, Protocol, Route};

// Kong's stream field kinds, as bits of a route's category.
const SNI: u8 = 0x04;
const SRC: u8 = 0x02;
const DST: u8 = 0x01;

/// A stream request as the matcher sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamRequest<'r> {
    pub(crate) protocol: Protocol,
    pub(crate) sni: Option<&'r str>,
    pub(crate) source: Option<SocketAddr>,
    pub(crate) destination: Option<SocketAddr>,
}

/// Where a stream route ranks: smaller is better. Kong's traditional order
/// (more kinds of field first, then SNI > sources > destinations, then the more
/// specific address entries) with the explicit `priority` in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    priority: Reverse<i64>,
    fields: Reverse<u8>,
    category: Reverse<u8>,
    specificity: Reverse<u8>,
    created_at: i64,
    seq: u64,
}

/// A Kong stream route ready for matching.
#[derive(Debug)]
pub(crate) struct StreamRoute {
    pub(crate) route: Arc<Route>,
    /// The slot of the route's service in the index, if it has one.
    pub(crate) service: Option<u32>,
    snis: Box<[Box<str>]>,
    sources: Box<[Peer]>,
    destinations: Box<[Peer]>,
    protocols: Box<[Protocol]>,
    rank: Rank,
}

/// How specific an address entry is: address and port, port, address, network.
fn peer_class(peer: &Peer) -> u8 {
    match (peer.ip, peer.port) {
        (Some(ip), Some(_)) if ip.is_host() => 4,
        (Some(_), Some(_)) => 3,
        (None, Some(_)) => 2,
        (Some(ip), None) if ip.is_host() => 1,
        _ => 0,
    }
}

impl StreamRoute {
    pub(crate) fn new(route: Arc<Route>, seq: u64, service: Option<u32>) -> StreamRoute {
        let snis: Box<[Box<str>]> = route
            .snis
            .iter()
            .flatten()
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase().into())
            .collect();
        let sources: Box<[Peer]> = route.sources.iter().flatten().cloned().collect();
        let destinations: Box<[Peer]> = route.destinations.iter().flatten().cloned().collect();
        let mut category = 0;
        if !snis.is_empty() {
            category |= SNI;
        }
        if !sources.is_empty() {
            category |= SRC;
        }
        if !destinations.is_empty() {
            category |= DST;
        }
        let best = |peers: &[Peer]| peers.iter().map(peer_class).max().unwrap_or(0);
        let rank = Rank {
            priority: Reverse(route.priority),
            fields: Reverse(category.count_ones() as u8),
            category: Reverse(category),
            specificity: Reverse(best(&sources) * 8 + best(&destinations)),
            created_at: route.created_at,
            seq,
        };
        StreamRoute {
            service,
            protocols: route.protocols.iter().copied().collect(),
            route,
            snis,
            sources,
            destinations,
            rank,
        }
    }

    /// The route's insertion order, kept across updates.
    pub(crate) fn seq(&self) -> u64 {
        self.rank.seq
    }

    /// Every field of the route matches the request.
    fn matches(&self, req: &StreamRequest<'_>) -> bool {
        if !self.protocols.contains(&req.protocol) {
            return false;
        }
        if !self.snis.is_empty() {
            let Some(sni) = req.sni else {
                return false;
            };
            let sni = sni.trim_end_matches('.');
            if !self.snis.iter().any(|s| s.eq_ignore_ascii_case(sni)) {
                return false;
            }
        }
        let fits = |peers: &[Peer], addr: Option<SocketAddr>| {
            peers.is_empty()
                || peers
                    .iter()
                    .any(|p| p.matches(addr.map(|a| a.ip()), addr.map(|a| a.port())))
        };
        fits(&self.sources, req.source) && fits(&self.destinations, req.destination)
    }

    /// The index keys the route is filed under; empty when it can only go to the
    /// list every lookup reads (networks without a port).
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = if !self.snis.is_empty() {
            self.snis.iter().map(|s| format!("s/{s}")).collect()
        } else if let Some(keys) = peer_keys(&self.destinations, 'p', 'd') {
            keys
        } else {
            peer_keys(&self.sources, 'q', 'i').unwrap_or_default()
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// One key per entry (by port when it has one, else by address when it is a
/// single one), or `None` if an entry has neither.
fn peer_keys(peers: &[Peer], port_tag: char, ip_tag: char) -> Option<Vec<String>> {
    if peers.is_empty() {
        return None;
    }
    peers
        .iter()
        .map(|p| match (p.port, p.ip) {
            (Some(port), _) => Some(format!("{port_tag}/{port}")),
            (None, Some(ip)) if ip.is_host() => Some(format!("{ip_tag}/{}", ip.addr())),
            _ => None,
        })
        .collect()
}

/// The stream routes, filed by SNI, destination port or address, source port
/// or address; those with only networks sit in `rest`, which every lookup reads.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamTable {
    keyed: ShardMap<Vec<Arc<StreamRoute>>>,
    rest: Arc<Vec<Arc<StreamRoute>>>,
    len: usize,
}

fn insert_ranked(list: &mut Vec<Arc<StreamRoute>>, route: Arc<StreamRoute>) {
    let at = list.partition_point(|r| r.rank < route.rank);
    list.insert(at, route);
}

impl StreamTable {
    pub(crate) fn insert(&mut self, route: Arc<StreamRoute>) {
        let keys = route.keys();
        if keys.is_empty() {
            insert_ranked(Arc::make_mut(&mut self.rest), route);
        } else {
            for key in keys {
                self.keyed.update(
                    &key,
                    Vec::new,
                    |list| insert_ranked(list, route.clone()),
                    |_| false,
                );
            }
        }
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, route: &Arc<StreamRoute>) {
        let keys = route.keys();
        if keys.is_empty() {
            Arc::make_mut(&mut self.rest).retain(|r| !Arc::ptr_eq(r, route));
        } else {
            for key in keys {
                if self.keyed.get(&key).is_none() {
                    continue;
                }
                self.keyed.update(
                    &key,
                    Vec::new,
                    |list| list.retain(|r| !Arc::ptr_eq(r, route)),
                    Vec::is_empty,
                );
            }
        }
        self.len -= 1;
    }

    /// The best stream route for a request.
    pub(crate) fn find(&self, req: &StreamRequest<'_>) -> Option<&Arc<StreamRoute>> {
        if self.len == 0 {
            return None;
        }
        let mut key = Key::new();
        let probe = |key: &Key| self.keyed.get(key.as_str()).map(Vec::as_slice);
        let mut lists: [Option<&[Arc<StreamRoute>]>; 6] = [None; 6];
        if let Some(sni) = req.sni {
            key.push_lower("s/");
            key.push_lower(sni.trim_end_matches('.'));
            lists[0] = probe(&key);
        }
        let mut peer = |at: usize, port_tag: char, ip_tag: char, addr: SocketAddr| {
            key.clear();
            let _ = write!(key, "{port_tag}/{}", addr.port());
            lists[at] = probe(&key);
            key.clear();
            let _ = write!(key, "{ip_tag}/{}", addr.ip());
            lists[at + 1] = probe(&key);
        };
        if let Some(d) = req.destination {
            peer(1, 'p', 'd', d);
        }
        if let Some(s) = req.source {
            peer(3, 'q', 'i', s);
        }
        lists[5] = Some(&self.rest);
        let mut best: Option<&Arc<StreamRoute>> = None;
        for list in lists.into_iter().flatten() {
            for r in list {
                if best.is_some_and(|b| b.rank <= r.rank) {
                    break;
                }
                if r.matches(req) {
                    best = Some(r);
                    break;
                }
            }
        }
        best
    }
}

/// The CF TCP mappings of one (router group, external port).
#[derive(Debug, Default)]
pub(crate) struct TcpPool {
    pub(crate) router_group_guid: Arc<str>,
    pub(crate) port: u16,
    pub(crate) backends: Vec<Arc<TcpRouteMapping>>,
    cursor: AtomicUsize,
}

impl Clone for TcpPool {
    fn clone(&self) -> TcpPool {
        TcpPool {
            router_group_guid: self.router_group_guid.clone(),
            port: self.port,
            backends: self.backends.clone(),
            cursor: AtomicUsize::new(self.cursor.load(Ordering::Relaxed)),
        }
    }
}

impl TcpPool {
    /// The pool's index key.
    pub(crate) fn key(router_group_guid: &str, port: u16) -> String {
        format!("{router_group_guid}:{port}")
    }

    /// Whether a mapping serves a request with this SNI: mappings that name an
    /// SNI host serve only it; the others serve requests whose SNI no live
    /// mapping names.
    fn serves(&self, b: &TcpRouteMapping, sni: Option<&str>, named: bool) -> bool {
        match (&b.backend_sni_hostname, sni) {
            (Some(want), Some(sni)) => want.eq_ignore_ascii_case(sni.trim_end_matches('.')),
            (Some(_), None) => false,
            (None, _) => !named,
        }
    }

    /// Whether a live mapping names this SNI.
    fn names(&self, sni: Option<&str>, now: Timestamp) -> bool {
        let Some(sni) = sni else {
            return false;
        };
        let sni = sni.trim_end_matches('.');
        self.backends.iter().any(|b| {
            b.expires_at > now
                && b.backend_sni_hostname
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(sni))
        })
    }

    /// Whether some live mapping serves the request.
    pub(crate) fn has_live(&self, sni: Option<&str>, now: Timestamp) -> bool {
        let named = self.names(sni, now);
        self.backends
            .iter()
            .any(|b| b.expires_at > now && self.serves(b, sni, named))
    }

    /// The next live mapping that serves the request, round robin.
    pub(crate) fn pick(&self, sni: Option<&str>, now: Timestamp) -> Option<&TcpRouteMapping> {
        let n = self.backends.len();
        if n == 0 {
            return None;
        }
        let named = self.names(sni, now);
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &*self.backends[(start + i) % n])
            .find(|b| b.expires_at > now && self.serves(b, sni, named))
    }
}

/// CF TCP pools by (router group, port).
#[derive(Clone, Debug, Default)]
pub(crate) struct TcpPools {
    pools: ShardMap<Arc<TcpPool>>,
}

impl TcpPools {
    pub(crate) fn upsert(&mut self, mapping: Arc<TcpRouteMapping>) {
        let key = TcpPool::key(&mapping.router_group_guid, mapping.port);
        self.pools.update(
            &key,
            || {
                Arc::new(TcpPool {
                    router_group_guid: mapping.router_group_guid.clone(),
                    port: mapping.port,
                    ..TcpPool::default()
                })
            },
            |pool| {
                let pool = Arc::make_mut(pool);
                let key = mapping.key();
                match pool.backends.iter_mut().find(|b| b.key() == key) {
                    Some(b) => *b = mapping.clone(),
                    None => pool.backends.push(mapping.clone()),
                }
            },
            |_| false,
        );
    }

    pub(crate) fn remove(&mut self, mapping: &TcpRouteMapping) {
        let key = TcpPool::key(&mapping.router_group_guid, mapping.port);
        if self.pools.get(&key).is_none() {
            return;
        }
        let gone = mapping.key();
        self.pools.update(
            &key,
            || Arc::new(TcpPool::default()),
            |pool| Arc::make_mut(pool).backends.retain(|b| b.key() != gone),
            |pool| pool.backends.is_empty(),
        );
    }

    pub(crate) fn get(&self, router_group_guid: &str, port: u16) -> Option<&Arc<TcpPool>> {
        if self.pools.is_empty() {
            return None;
        }
        let mut key = Key::new();
        let _ = write!(key, "{router_group_guid}:{port}");
        self.pools.get(key.as_str())
    }
}
