//! The read side: requests, matches, and the published index.

mod index;
mod key;
mod normalize;
mod shard;
mod slots;
mod stream;
mod trie;

use std::net::SocketAddr;
use std::sync::Arc;

use self::index::{Forwarding, Hit, PathRule, Target};
pub(crate) use self::index::{Garbage, Index};
use self::stream::{StreamRequest, StreamRoute, TcpPool};
use crate::balance::{Connection, PickInput, Pool, PoolBackend};
use crate::lease::Clock;
use crate::model::kong::{PathHandling, Protocol, Route, Service};

/// A request to match. Strings are borrowed; nothing is copied unless the path
/// or host needs normalising.
///
/// # Example
///
/// ```
/// use routeyard::{Protocol, Request};
///
/// let headers = [("x-version", "2")];
/// let req = Request::new("GET", "api.example.com:8443", "/users/42?full=1")
///     .protocol(Protocol::Https)
///     .headers(&headers)
///     .sni("api.example.com");
/// assert_eq!(req.method, "GET");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The protocol; default `http`.
    pub protocol: Protocol,
    /// The HTTP method.
    pub method: &'a str,
    /// The `Host` header as sent; it may carry a port.
    pub host: &'a str,
    /// The raw path; the query (from `?`) is ignored, and the path normalised as
    /// Kong 3.x does.
    pub path: &'a str,
    /// Request headers as (name, value) pairs; names are case-insensitive and a
    /// name may repeat.
    pub headers: &'a [(&'a str, &'a str)],
    /// The TLS server name, if any.
    pub sni: Option<&'a str>,
    /// The client's address.
    pub source: Option<SocketAddr>,
    /// The local address the request arrived on.
    pub destination: Option<SocketAddr>,
    /// For a stream request to a CF TCP router: the guid of the router group
    /// whose port (the destination's) it arrived on.
    pub router_group: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// An HTTP request.
    pub fn new(method: &'a str, host: &'a str, path: &'a str) -> Request<'a> {
        Request {
            protocol: Protocol::Http,
            method,
            host,
            path,
            headers: &[],
            sni: None,
            source: None,
            destination: None,
            router_group: None,
        }
    }

    /// Sets the protocol.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the TLS server name.
    pub fn sni(mut self, sni: &'a str) -> Self {
        self.sni = Some(sni);
        self
    }

    /// Sets the client and local addresses.
    pub fn addresses(mut self, source: SocketAddr, destination: SocketAddr) -> Self {
        self.source = Some(source);
        self.destination = Some(destination);
        self
    }

    /// A stream request (`tcp`, `tls`, `tls_passthrough` or `udp`) from `source`
    /// to `destination`; the SNI, if any, is set with [`Request::sni`].
    ///
    /// ```
    /// use routeyard::{Protocol, Request};
    ///
    /// let req = Request::stream(
    ///     Protocol::Tls,
    ///     "10.0.0.9:40000".parse().unwrap(),
    ///     "10.0.0.1:5432".parse().unwrap(),
    /// )
    /// .sni("db.example.com");
    /// assert_eq!(req.destination.map(|d| d.port()), Some(5432));
    /// ```
    pub fn stream(protocol: Protocol, source: SocketAddr, destination: SocketAddr) -> Self {
        Request::new("", "", "")
            .protocol(protocol)
            .addresses(source, destination)
    }

    /// The CF router group the request arrived on: its TCP mappings on the
    /// destination port answer when no stream route does.
    pub fn router_group(mut self, guid: &'a str) -> Self {
        self.router_group = Some(guid);
        self
    }
}

/// Which route answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Matched {
    /// A Kong-style route (HTTP or stream).
    Route(Arc<Route>),
    /// A CF HTTP route: the `host/path` its backends registered, lowercased.
    CfRoute(Arc<str>),
    /// The CF TCP mappings of a router group's port.
    TcpRoute {
        /// The router group's guid.
        router_group_guid: Arc<str>,
        /// The external port.
        port: u16,
    },
}

/// One capture group of a regex path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The group's name, for named groups.
    pub name: Option<String>,
    /// The group's number (1 for the first).
    pub index: usize,
    /// The captured text.
    pub value: String,
}

/// A chosen backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Its address.
    pub address: Arc<str>,
    /// Its port.
    pub port: u16,
}

/// The answer to a request: the route, its service, the rewritten upstream path
/// and host, captures, and a backend when one was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The route that matched.
    pub matched: Matched,
    /// The route's service, if it has one.
    pub service: Option<Arc<Service>>,
    /// The path to send upstream (after `strip_path` and the service's path).
    pub upstream_path: String,
    /// The `Host` to send upstream: the request's with `preserve_host`, else the
    /// service's; for CF routes the request's.
    pub upstream_host: String,
    /// The part of the request path the route's path matched (empty when it
    /// matched by other fields only).
    pub matched_path: String,
    /// Numbered and named groups of a regex path, in group order.
    pub captures: Vec<Capture>,
    /// A live backend chosen round robin, for routes that have backends.
    pub backend: Option<Backend>,
    /// The status code to redirect with, when the route accepts only HTTPS and
    /// the request came over plain HTTP.
    pub redirect: Option<u16>,
    /// The registry revision of the index that answered.
    pub revision: u64,
}

/// The published state of the index plus the revision it shows.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) index: Index,
    pub(crate) revision: u64,
}

/// Cleans a path postfix as Kong does: `./x` and `../x` become `x`, `.` and `..`
/// become empty.
fn clean_postfix(postfix: &str) -> &str {
    if let Some(rest) = postfix.strip_prefix("./") {
        return rest;
    }
    if let Some(rest) = postfix.strip_prefix("../") {
        return rest;
    }
    if postfix == "." || postfix == ".." {
        return "";
    }
    postfix
}

/// The path a route sends upstream, borrowed from the route, its service and the
/// request: at most three pieces laid end to end, nothing built yet.
///
/// Got from [`Found::upstream_path_parts`]; it knows its length before it is written
/// anywhere, so a caller can size (or refuse) a buffer first. Displays as the path.
///
/// # Example
///
/// ```
/// use routeyard::{Config, Registry, Request, Route, Service, ServiceRef};
///
/// let registry = Registry::new(Config::new());
/// let service = registry
///     .create_service(Service {
///         host: "orders.internal".into(),
///         path: Some("/api".into()),
///         ..Service::default()
///     })
///     .unwrap();
/// registry
///     .create_route(Route {
///         paths: Some(vec!["/orders".into()]),
///         service: Some(ServiceRef { id: service.id }),
///         ..Route::default()
///     })
///     .unwrap();
/// registry.lookup(&Request::new("GET", "", "/orders/7"), |found| {
///     let path = found.upstream_path_parts();
///     assert_eq!((path.len(), path.to_string()), (6, "/api/7".to_string()));
///     assert_eq!(path.as_parts().map(|p| p.concat()).as_deref(), Some("/api/7"));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamPath<'a> {
    parts: [&'a str; 3],
    /// Kong's v1 rules: runs of `/` across the whole path collapse into one.
    collapse: bool,
}

impl<'a> UpstreamPath<'a> {
    const EMPTY: UpstreamPath<'static> = UpstreamPath {
        parts: ["", "", ""],
        collapse: false,
    };

    fn of(parts: [&'a str; 3]) -> UpstreamPath<'a> {
        UpstreamPath {
            parts,
            collapse: false,
        }
    }

    /// The path's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        if self.collapse {
            return self.collapsed_len();
        }
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// [`UpstreamPath::len`] under Kong's v1 rules, counted byte by byte.
    #[inline(never)]
    fn collapsed_len(&self) -> usize {
        self.bytes().count()
    }

    /// Whether the path is empty (only for streams).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The path's bytes, one at a time, slashes collapsed where the rules say so.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let mut last = 0u8;
        self.parts.iter().flat_map(|p| p.bytes()).filter(move |&b| {
            let keep = !(self.collapse && b == b'/' && last == b'/');
            last = b;
            keep
        })
    }

    /// The path as pieces to lay end to end (some may be empty), or None when Kong's
    /// v1 rules collapse runs of `/` across them: then use [`UpstreamPath::push_to`] or
    /// [`UpstreamPath::copy_to`]. Handy for writing the path out without building it.
    pub fn as_parts(&self) -> Option<[&'a str; 3]> {
        (!self.collapse).then_some(self.parts)
    }

    /// Appends the path to `out`.
    pub fn push_to(&self, out: &mut String) {
        if !self.collapse {
            for part in self.parts.iter().filter(|p| !p.is_empty()) {
                out.push_str(part);
            }
            return;
        }
        // The rule of `bytes`, a character at a time.
        let mut last_slash = false;
        for c in self.parts.iter().flat_map(|p| p.chars()) {
            let slash = c == '/';
            if !(slash && last_slash) {
                out.push(c);
            }
            last_slash = slash;
        }
    }

    /// Copies the path into the start of `dst` and returns its length, or returns
    /// `Err` with the length it needs, leaving `dst` untouched, when it does not fit.
    /// `dst` may be uninitialised memory; the bytes written are initialised.
    pub fn copy_to(&self, dst: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize, usize> {
        let len = self.len();
        if len > dst.len() {
            return Err(len);
        }
        if self.collapse {
            for (slot, b) in dst.iter_mut().zip(self.bytes()) {
                slot.write(b);
            }
            return Ok(len);
        }
        let mut at = 0;
        for part in self.parts.iter().filter(|p| !p.is_empty()) {
            for (slot, &b) in dst[at..].iter_mut().zip(part.as_bytes()) {
                slot.write(b);
            }
            at += part.len();
        }
        Ok(len)
    }
}

impl std::fmt::Display for UpstreamPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.collapse {
            return self.parts.iter().try_for_each(|p| f.write_str(p));
        }
        let mut out = String::with_capacity(self.parts.iter().map(|p| p.len()).sum());
        self.push_to(&mut out);
        f.write_str(&out)
    }
}

/// Kong's `get_upstream_uri_v0`.
fn upstream_path_v0<'a>(
    base: &'a str,
    request: &'a str,
    postfix: Option<&'a str>,
) -> UpstreamPath<'a> {
    let base = if base.is_empty() { "/" } else { base };
    let Some(postfix) = postfix else {
        // strip_path off.
        return if base.ends_with('/') {
            UpstreamPath::of([base, request.strip_prefix('/').unwrap_or(request), ""])
        } else if request == "/" {
            UpstreamPath::of([base, "", ""])
        } else {
            UpstreamPath::of([base, request, ""])
        };
    };
    let postfix = clean_postfix(postfix);
    if let Some(trimmed) = base.strip_suffix('/') {
        if postfix.is_empty() {
            if base == "/" || request.ends_with('/') {
                UpstreamPath::of([base, "", ""])
            } else {
                UpstreamPath::of([trimmed, "", ""])
            }
        } else if postfix.starts_with('/') {
            UpstreamPath::of([trimmed, postfix, ""])
        } else {
            UpstreamPath::of([base, postfix, ""])
        }
    } else if postfix.is_empty() {
        let slash = if request.ends_with('/') && request != "/" {
            "/"
        } else {
            ""
        };
        UpstreamPath::of([base, slash, ""])
    } else if postfix.starts_with('/') {
        UpstreamPath::of([base, postfix, ""])
    } else {
        UpstreamPath::of([base, "/", postfix])
    }
}

/// Kong's deprecated v1 rules: the two parts joined, with runs of `/` collapsed.
fn upstream_path_v1<'a>(
    base: &'a str,
    request: &'a str,
    postfix: Option<&'a str>,
) -> UpstreamPath<'a> {
    let base = if base.is_empty() { "/" } else { base };
    let rest = match postfix {
        Some(postfix) => postfix,
        None => request.strip_prefix('/').unwrap_or(request),
    };
    UpstreamPath {
        parts: [base, rest, ""],
        collapse: true,
    }
}

impl Published {
    /// Matches a request; `choose` asks for a backend.
    pub(crate) fn find(&self, req: &Request<'_>, clock: &dyn Clock, choose: bool) -> Option<Match> {
        self.with_found(req, clock, |found| found.to_match(choose))
    }

    /// Matches a request and hands `f` the answer, borrowed from this index
    /// and from the request's prepared form (which stays where it was built).
    #[inline]
    pub(crate) fn with_found<R>(
        &self,
        req: &Request<'_>,
        clock: &dyn Clock,
        f: impl FnOnce(&Found<'_>) -> R,
    ) -> Option<R> {
        let prepared = index::prepare(
            req.protocol,
            req.method,
            req.host,
            req.path,
            req.headers,
            req.sni,
            clock,
        );
        let answer = if req.protocol.is_stream() {
            let stream = StreamRequest {
                protocol: req.protocol,
                sni: req.sni,
                source: req.source,
                destination: req.destination,
            };
            match self.index.find_stream(&stream) {
                Some(route) => Answer::Stream(route),
                None => {
                    let (group, port) = (req.router_group?, req.destination?.port());
                    Answer::Tcp(self.index.find_tcp(group, port, req.sni, prepared.now())?)
                }
            }
        } else {
            // The hit borrows only the index; the answer borrows the request's
            // normalised form beside it.
            Answer::Http(self.index.find(&prepared)?)
        };
        Some(f(&Found {
            published: self,
            answer,
            prepared: &prepared,
            source: req.source,
            host: req.host,
            protocol: req.protocol,
        }))
    }
}

/// What answered: an HTTP route (Kong or CF), a stream route, or a TCP pool.
enum Answer<'a> {
    Http(Hit<'a>),
    Stream(&'a Arc<StreamRoute>),
    Tcp(&'a Arc<TcpPool>),
}

/// A backend chosen for a request, borrowed from the index that answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendRef<'a> {
    /// Its address.
    pub address: &'a str,
    /// Its port.
    pub port: u16,
}

/// The answer to a request, borrowed from the index that gave it: nothing is
/// copied or allocated until asked for.
///
/// Given to the closure of [`Registry::lookup`](crate::Registry::lookup);
/// [`Found::to_match`] makes the owned [`Match`] that
/// [`Registry::find`](crate::Registry::find)
/// returns.
pub struct Found<'a> {
    published: &'a Published,
    answer: Answer<'a>,
    prepared: &'a index::Prepared<'a>,
    source: Option<SocketAddr>,
    host: &'a str,
    protocol: Protocol,
}

impl std::fmt::Debug for Found<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("route", &self.route().map(|r| &r.id))
            .field("cf_route", &self.cf_route())
            .field("tcp_route", &self.tcp_route())
            .field("matched_path", &self.matched_path())
            .field("revision", &self.published.revision)
            .finish()
    }
}

impl<'a> Found<'a> {
    /// The HTTP hit, for HTTP answers.
    fn hit(&self) -> Option<&Hit<'a>> {
        match &self.answer {
            Answer::Http(hit) => Some(hit),
            _ => None,
        }
    }

    fn route_arc(&self) -> Option<&'a Arc<Route>> {
        match &self.answer {
            Answer::Http(hit) => hit.kong,
            Answer::Stream(stream) => Some(&stream.route),
            Answer::Tcp(_) => None,
        }
    }

    /// The Kong-style route (HTTP or stream) that matched, if one did.
    pub fn route(&self) -> Option<&'a Route> {
        self.route_arc().map(|r| &**r)
    }

    /// How the matched Kong route (HTTP or stream) forwards, if a Kong route matched.
    fn forwarding(&self) -> Option<Forwarding> {
        match &self.answer {
            Answer::Http(hit) => hit.route.forwarding,
            Answer::Stream(stream) => Some(Forwarding::of(&stream.route)),
            Answer::Tcp(_) => None,
        }
    }

    /// The CF route (`host/path`, lowercased) that matched, if one did.
    pub fn cf_route(&self) -> Option<&'a str> {
        match &self.answer {
            Answer::Http(hit) => match &hit.route.target {
                Target::CfPool(key) => Some(key),
                Target::Route(_) => None,
            },
            _ => None,
        }
    }

    /// The router group guid and port whose CF TCP mappings answered, if they did.
    pub fn tcp_route(&self) -> Option<(&'a str, u16)> {
        match &self.answer {
            Answer::Tcp(pool) => Some((&pool.router_group_guid, pool.port)),
            _ => None,
        }
    }

    /// Which route answered, as an owned value.
    pub fn matched(&self) -> Matched {
        if let Some(route) = self.route_arc() {
            return Matched::Route(route.clone());
        }
        match &self.answer {
            Answer::Tcp(pool) => Matched::TcpRoute {
                router_group_guid: pool.router_group_guid.clone(),
                port: pool.port,
            },
            Answer::Http(Hit {
                route: compiled, ..
            }) => match &compiled.target {
                Target::CfPool(key) => Matched::CfRoute(key.clone()),
                Target::Route(route) => Matched::Route(route.clone()),
            },
            Answer::Stream(stream) => Matched::Route(stream.route.clone()),
        }
    }

    /// The matched route's service, if it has one.
    #[inline]
    pub fn service(&self) -> Option<&'a Service> {
        self.service_arc().map(|s| &**s)
    }

    /// The matched route's service as the index shares it, for keeping beyond the
    /// lookup without a copy.
    #[inline]
    pub fn service_arc(&self) -> Option<&'a Arc<Service>> {
        self.published.index.service_in(self.service_slot()?)
    }

    /// The (normalised) request path the matcher saw.
    pub fn path(&self) -> &str {
        &self.prepared.path
    }

    /// The part of the request path the route's path matched; empty when the
    /// route matched by other fields only, and for CF routes.
    pub fn matched_path(&self) -> &str {
        match self.hit() {
            Some(hit) if hit.pool.is_none() => {
                let path = self.path();
                &path[..hit.matched.min(path.len())]
            }
            _ => "",
        }
    }

    /// The registry revision of the index that answered.
    pub fn revision(&self) -> u64 {
        self.published.revision
    }

    /// The path to send upstream (after `strip_path` and the service's path), in
    /// pieces borrowed from the route, the service and the request: for CF routes the
    /// request's path, for streams empty.
    pub fn upstream_path_parts(&self) -> UpstreamPath<'_> {
        let path = self.path();
        let Some(hit) = self.hit() else {
            // Streams have no path.
            return UpstreamPath::EMPTY;
        };
        let Some(forwarding) = hit.route.forwarding else {
            return UpstreamPath::of([path, "", ""]);
        };
        let base = self
            .service()
            .and_then(|s| s.path.as_deref())
            .unwrap_or("/");
        let postfix = forwarding.strip_path.then(|| match hit.path {
            Some(_) => &path[hit.matched.min(path.len())..],
            None => path.strip_prefix('/').unwrap_or(path),
        });
        match forwarding.path_handling {
            PathHandling::V0 => upstream_path_v0(base, path, postfix),
            PathHandling::V1 => upstream_path_v1(base, path, postfix),
        }
    }

    /// Writes the path to send upstream (after `strip_path` and the service's
    /// path) into `out`, which is cleared first.
    pub fn write_upstream_path(&self, out: &mut String) {
        out.clear();
        self.upstream_path_parts().push_to(out);
    }

    /// The path to send upstream.
    pub fn upstream_path(&self) -> String {
        let mut out = String::new();
        self.write_upstream_path(&mut out);
        out
    }

    /// The `Host` to send upstream: the request's with `preserve_host` (and for
    /// CF routes), else the service's.
    #[inline]
    pub fn upstream_host(&self) -> &'a str {
        match (&self.answer, self.forwarding()) {
            (_, Some(forwarding)) if !forwarding.preserve_host => {
                self.service().map_or("", |s| &s.host)
            }
            // A stream has no Host header: its SNI stands in.
            (Answer::Stream(_) | Answer::Tcp(_), _) => self.prepared.sni.unwrap_or(""),
            _ => self.host,
        }
    }

    /// Numbered and named groups of a regex path, in group order.
    pub fn captures(&self) -> Vec<Capture> {
        let Some(hit) = self.hit() else {
            return Vec::new();
        };
        let Some(PathRule::Regex(path_rule)) = hit.path.map(|i| &hit.route.paths[i]) else {
            return Vec::new();
        };
        let regex = &path_rule.regex;
        let Some(caps) = regex.captures(self.path()) else {
            return Vec::new();
        };
        regex
            .capture_names()
            .enumerate()
            .skip(1)
            .filter_map(|(i, name)| {
                caps.get(i).map(|m| Capture {
                    name: name.map(str::to_string),
                    index: i,
                    value: m.as_str().to_string(),
                })
            })
            .collect()
    }

    /// The status code to redirect with, when the route accepts only HTTPS and
    /// the request came over plain HTTP.
    pub fn redirect(&self) -> Option<u16> {
        let forwarding = self.hit()?.route.forwarding?;
        if self.protocol == Protocol::Http {
            forwarding.https_redirect
        } else {
            None
        }
    }

    fn service_slot(&self) -> Option<u32> {
        match &self.answer {
            Answer::Http(hit) => hit.route.service,
            Answer::Stream(stream) => stream.service,
            Answer::Tcp(_) => None,
        }
    }

    /// The backend pool of the matched route's service, if it has an
    /// [`Upstream`](crate::Upstream).
    pub fn pool(&self) -> Option<&'a Pool> {
        self.published
            .index
            .pool_in(self.service_slot()?)
            .map(|p| &**p)
    }

    /// What a pick weighs: the request's client address (for the `iphash`
    /// strategies and, without a key, consistent hashing).
    fn pick_input(&self) -> PickInput<'static> {
        match self.source {
            Some(source) => PickInput::new().client_ip(source.ip()),
            None => PickInput::new(),
        }
    }

    /// Chooses a backend of the matched route's service pool with `input` (a
    /// caller key for consistent hashing or sticky splits, a client address, a
    /// version), by the pool's strategy, tiers and split.
    pub fn pick_with(&self, input: &PickInput<'_>) -> Option<&'a Arc<PoolBackend>> {
        self.pool()?.pick(input)
    }

    /// Takes a connection slot on a backend of the matched route's service
    /// pool (honouring connection caps); the returned [`Connection`] reports
    /// the connection's life and bytes to the backend's counters.
    pub fn connect(&self, input: &PickInput<'_>) -> Option<Connection> {
        self.pool()?.connect(input)
    }

    /// Chooses a backend: for a Kong route, from its service's pool by the
    /// pool's strategy (with the request's source address as the client); for
    /// a CF HTTP route or TCP mappings, a live registration round robin (for
    /// TCP, the mappings that name the request's SNI when there are any).
    pub fn pick(&self) -> Option<BackendRef<'a>> {
        if self.route().is_some() {
            let backend = self.pick_with(&self.pick_input())?.backend();
            return Some(BackendRef {
                address: &backend.address,
                port: backend.port,
            });
        }
        if let Answer::Tcp(pool) = &self.answer {
            return pool
                .pick(self.prepared.sni, self.prepared.now())
                .map(|m| BackendRef {
                    address: &m.backend_ip,
                    port: m.backend_port,
                });
        }
        // A CF route's pool was found live while matching.
        let pool = self.hit()?.pool?;
        pool.pick(self.prepared.now()).map(|b| BackendRef {
            address: &b.route.ip,
            port: b.route.port,
        })
    }

    /// The owned answer; `choose` picks a backend.
    pub fn to_match(&self, choose: bool) -> Match {
        Match {
            matched: self.matched(),
            service: self.service_arc().cloned(),
            upstream_path: self.upstream_path(),
            upstream_host: self.upstream_host().to_string(),
            matched_path: self.matched_path().to_string(),
            captures: self.captures(),
            backend: if choose {
                self.pick().map(|b| Backend {
                    address: b.address.into(),
                    port: b.port,
                })
            } else {
                None
            },
            redirect: self.redirect(),
            revision: self.revision(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_paths_v0_fixture_rows() {
        // (base, request, postfix or None for strip off, expected)
        let table: &[(&str, &str, Option<&str>, &str)] = &[
            ("/service", "/routereq", Some("req"), "/service/req"),
            ("/service", "/route/", Some("/"), "/service/"),
            ("/srv/", "/rou", Some(""), "/srv"),
            ("/srv/", "/rou/", Some(""), "/srv/"),
            ("/", "/rou", Some(""), "/"),
            ("/srv/", "/rou/x", Some("/x"), "/srv/x"),
            ("/srv/", "/roux", Some("x"), "/srv/x"),
            ("/srv/", "/rou/x", None, "/srv/rou/x"),
            ("/srv", "/rou/", Some(""), "/srv/"),
            ("/srv", "/", Some(""), "/srv"),
            ("/srv", "/rou/x", Some("/x"), "/srv/x"),
            ("/srv", "/", None, "/srv"),
            ("/srv", "/rou/x", None, "/srv/rou/x"),
            ("/", "/a/b", None, "/a/b"),
            ("/srv", "/rou/../x", Some("../x"), "/srv/x"),
        ];
        for (base, request, postfix, want) in table {
            let path = upstream_path_v0(base, request, *postfix);
            assert_eq!(path.to_string(), *want, "{base} {request} {postfix:?}");
            assert_eq!(path.len(), want.len());
        }
    }

    #[test]
    fn upstream_paths_v1() {
        for (base, request, postfix, want) in [
            ("/srv", "/roureq", Some("req"), "/srvreq"),
            ("/srv/", "/rou/x", Some("/x"), "/srv/x"),
            ("/srv", "/rou/x", None, "/srvrou/x"),
        ] {
            let path = upstream_path_v1(base, request, postfix);
            assert_eq!(path.to_string(), want, "{base} {request} {postfix:?}");
            assert_eq!(path.len(), want.len());
        }
    }
}
