//! The read side: requests, matches, and the published index.

mod index;
mod normalize;
mod shard;
mod trie;

use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) use self::index::Index;
use self::index::{Hit, PathRule, Target};
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
}

/// Which route answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matched {
    /// A Kong-style route.
    Route(Arc<Route>),
    /// A CF HTTP route: the `host/path` its backends registered, lowercased.
    CfRoute(Arc<str>),
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

/// Kong's `get_upstream_uri_v0`.
pub(crate) fn upstream_path_v0(base: &str, request: &str, postfix: Option<&str>) -> String {
    let base = if base.is_empty() { "/" } else { base };
    let mut out = String::with_capacity(base.len() + request.len());
    match postfix {
        None => {
            // strip_path off.
            if base.ends_with('/') {
                out.push_str(base);
                out.push_str(request.strip_prefix('/').unwrap_or(request));
            } else if request == "/" {
                out.push_str(base);
            } else {
                out.push_str(base);
                out.push_str(request);
            }
        }
        Some(postfix) => {
            let postfix = clean_postfix(postfix);
            if let Some(trimmed) = base.strip_suffix('/') {
                if postfix.is_empty() {
                    if base == "/" {
                        out.push('/');
                    } else if request.ends_with('/') {
                        out.push_str(base);
                    } else {
                        out.push_str(trimmed);
                    }
                } else if postfix.starts_with('/') {
                    out.push_str(trimmed);
                    out.push_str(postfix);
                } else {
                    out.push_str(base);
                    out.push_str(postfix);
                }
            } else if postfix.is_empty() {
                out.push_str(base);
                if request.ends_with('/') && request != "/" {
                    out.push('/');
                }
            } else if postfix.starts_with('/') {
                out.push_str(base);
                out.push_str(postfix);
            } else {
                out.push_str(base);
                out.push('/');
                out.push_str(postfix);
            }
        }
    }
    out
}

/// Kong's deprecated v1 rules.
pub(crate) fn upstream_path_v1(base: &str, request: &str, postfix: Option<&str>) -> String {
    let base = if base.is_empty() { "/" } else { base };
    let joined = match postfix {
        Some(postfix) => format!("{base}{postfix}"),
        None => format!("{base}{}", request.strip_prefix('/').unwrap_or(request)),
    };
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

impl Published {
    /// Matches a request; `choose` asks for a backend.
    pub(crate) fn find(&self, req: &Request<'_>, clock: &dyn Clock, choose: bool) -> Option<Match> {
        let prepared = index::prepare(
            req.protocol,
            req.method,
            req.host,
            req.path,
            req.headers,
            req.sni,
            clock,
        );
        let hit = self.index.find(&prepared)?;
        Some(self.build(req, &prepared, &hit, choose))
    }

    fn build(
        &self,
        req: &Request<'_>,
        prepared: &index::Prepared<'_>,
        hit: &Hit<'_>,
        choose: bool,
    ) -> Match {
        let path: &str = &prepared.path;
        let matched_path = if hit.cf {
            String::new()
        } else {
            path[..hit.matched.min(path.len())].to_string()
        };
        match &hit.route.target {
            Target::CfPool(key) => {
                let backend = if choose {
                    self.index.pool(key).and_then(|pool| {
                        pool.pick(prepared.now()).map(|b| Backend {
                            address: b.route.ip.clone(),
                            port: b.route.port,
                        })
                    })
                } else {
                    None
                };
                Match {
                    matched: Matched::CfRoute(key.clone()),
                    service: None,
                    upstream_path: path.to_string(),
                    upstream_host: req.host.to_string(),
                    matched_path,
                    captures: Vec::new(),
                    backend,
                    redirect: None,
                    revision: self.revision,
                }
            }
            Target::Route(route) => {
                let service = route
                    .service
                    .as_ref()
                    .and_then(|s| self.index.service(&s.id))
                    .cloned();
                let base = service
                    .as_ref()
                    .and_then(|s| s.path.as_deref())
                    .unwrap_or("/");
                let postfix = if route.strip_path {
                    Some(match hit.path {
                        Some(_) => &path[hit.matched.min(path.len())..],
                        None => path.strip_prefix('/').unwrap_or(path),
                    })
                } else {
                    None
                };
                let upstream_path = match route.path_handling {
                    PathHandling::V0 => upstream_path_v0(base, path, postfix),
                    PathHandling::V1 => upstream_path_v1(base, path, postfix),
                };
                let upstream_host = if route.preserve_host {
                    req.host.to_string()
                } else {
                    service.as_ref().map(|s| s.host.clone()).unwrap_or_default()
                };
                let captures = match hit.path.map(|i| &hit.route.paths[i]) {
                    Some(PathRule::Regex(regex, _)) => regex
                        .captures(path)
                        .map(|caps| {
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
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let redirect = (req.protocol == Protocol::Http
                    && !route.protocols.contains(&Protocol::Http)
                    && route.protocols.contains(&Protocol::Https))
                .then_some(route.https_redirect_status_code);
                Match {
                    matched: Matched::Route(route.clone()),
                    service,
                    upstream_path,
                    upstream_host,
                    matched_path,
                    captures,
                    backend: None,
                    redirect,
                    revision: self.revision,
                }
            }
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
            assert_eq!(
                upstream_path_v0(base, request, *postfix),
                *want,
                "{base} {request} {postfix:?}"
            );
        }
    }

    #[test]
    fn upstream_paths_v1() {
        assert_eq!(upstream_path_v1("/srv", "/roureq", Some("req")), "/srvreq");
        assert_eq!(upstream_path_v1("/srv/", "/rou/x", Some("/x")), "/srv/x");
        assert_eq!(upstream_path_v1("/srv", "/rou/x", None), "/srvrou/x");
    }
}
