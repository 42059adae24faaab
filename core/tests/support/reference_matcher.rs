//! A deliberately simple reference matcher for Kong-style HTTP routes, and the
//! harness that compares it with the registry.
//!
//! Routes and requests are drawn from small alphabets (hosts, paths, regex paths
//! the reference understands by hand, methods, headers, SNIs) so that the
//! reference can stay a linear scan over every (route, path) pair that applies
//! the traditional rules and picks the best-ranked full match. [`run`] applies a
//! sequence of creates, updates, deletes and clock ticks to a registry and, after
//! each, asks both for every request.
//!
//! Shared by the property test `matcher_model.rs` and the fuzz target
//! `match_reference` (which includes this file by path), so both exercise the
//! same reference.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use routeyard::{
    Config, ManualClock, Matched, PathMode, Protocol, Registry, Request, Route, Timestamp,
};

/// Whether an update takes a new place in the insertion order (the tie-break
/// after `created_at`). The registry currently re-sequences an updated route;
/// `matcher_table::update_keeps_created_at_and_tie_order` states the rule the
/// other way and reports the difference.
pub const UPDATE_IS_REINSERTION: bool = false;

// -- Alphabets ----------------------------------------------------------------------

pub const ROUTE_HOSTS: &[&str] = &[
    "a.com",
    "A.com",
    "a.com:8080",
    "a.com:80",
    "b.a.com",
    "*.a.com",
    "*.a.com:8080",
    "*.b.a.com",
    "a.*",
    "b.*",
    "c.org",
];

/// (raw, normalised) request hosts.
pub const REQUEST_HOSTS: &[&str] = &[
    "a.com",
    "a.com:8080",
    "a.com:80",
    "A.COM",
    "b.a.com",
    "b.a.com:8080",
    "x.b.a.com",
    "X.B.A.COM:80",
    "a.org",
    "a.org:80",
    "b.net",
    "b.net:443",
    "c.org",
    "c.org:443",
];

pub const PLAIN_PATHS: &[&str] = &["/", "/a", "/a/", "/a/b", "/ab", "/a/b/c", "/b"];

/// Regex paths the reference understands by hand: pattern and a matcher
/// returning whether the pattern matches at the start of the path.
pub type PathTest = fn(&str) -> bool;

pub const REGEX_PATHS: &[(&str, PathTest)] = &[
    ("~/a/\\d+", |p| {
        p.strip_prefix("/a/")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    }),
    ("~/a/b", |p| p.starts_with("/a/b")),
    ("~/a[bc]", |p| p.starts_with("/ab") || p.starts_with("/ac")),
    ("~/b/(x|y)", |p| {
        p.starts_with("/b/x") || p.starts_with("/b/y")
    }),
    ("~/(?i)a", |p| {
        p.len() >= 2 && p.as_bytes()[..2].eq_ignore_ascii_case(b"/a")
    }),
];

/// (raw, normalised) request paths.
pub const REQUEST_PATHS: &[(&str, &str)] = &[
    ("/", "/"),
    ("/a", "/a"),
    ("/a/", "/a/"),
    ("/a/b", "/a/b"),
    ("/ab", "/ab"),
    ("/abc", "/abc"),
    ("/ac", "/ac"),
    ("/a/b/c", "/a/b/c"),
    ("/a/b/cd", "/a/b/cd"),
    ("/a/12", "/a/12"),
    ("/a/1/b", "/a/1/b"),
    ("/A/B", "/A/B"),
    ("/b", "/b"),
    ("/b/x", "/b/x"),
    ("/bz", "/bz"),
    ("/a/b?x=1", "/a/b"),
    ("/x/../a/b", "/a/b"),
    ("//a//b/", "/a/b/"),
    ("/%61/b", "/a/b"),
];

pub const METHODS: &[&str] = &["GET", "POST", "PUT"];
pub const HEADER_NAMES: &[&str] = &["x-a", "X-B"];
pub const HEADER_VALUES: &[&str] = &["1", "2", "V", "~*^v\\d"];
pub const REQUEST_HEADER_VALUES: &[&str] = &["1", "2", "v", "v7", "V9x", "x"];
pub const SNIS: &[&str] = &["s.com", "t.com."];
pub const REQUEST_SNIS: &[&str] = &["s.com", "t.com", "S.COM"];

// -- Shapes ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Spec {
    pub hosts: Vec<usize>,
    pub plain: Vec<usize>,
    pub regex: Vec<usize>,
    pub methods: Vec<usize>,
    pub headers: Vec<(usize, Vec<usize>)>,
    pub snis: Vec<usize>,
    pub priority: i64,
    pub regex_priority: i64,
    pub mode: PathMode,
}

#[derive(Clone, Debug)]
pub struct Req {
    pub method: usize,
    pub host: usize,
    pub path: usize,
    pub headers: Vec<(usize, usize)>,
    pub https: bool,
    pub sni: Option<usize>,
}

#[derive(Clone, Debug)]
pub enum Op {
    Create(Spec),
    Update(usize, Spec),
    Delete(usize),
    /// Advances the clock by this many seconds before the next write.
    Tick(u64),
}

impl Spec {
    /// Kong refuses an HTTP route that sets none of hosts, paths, methods and
    /// headers: such a spec gets the path `/`.
    pub fn make_matchable(&mut self) {
        if self.hosts.is_empty()
            && self.plain.is_empty()
            && self.regex.is_empty()
            && self.methods.is_empty()
            && self.headers.is_empty()
        {
            self.plain.push(0);
        }
    }
}

pub fn to_route(name: &str, s: &Spec) -> Route {
    let strings = |v: Vec<&str>| (!v.is_empty()).then(|| v.into_iter().map(String::from).collect());
    let mut paths: Vec<&str> = s.plain.iter().map(|&i| PLAIN_PATHS[i]).collect();
    paths.extend(s.regex.iter().map(|&i| REGEX_PATHS[i].0));
    let headers: BTreeMap<String, Vec<String>> = s
        .headers
        .iter()
        .map(|(n, vs)| {
            (
                HEADER_NAMES[*n].to_string(),
                vs.iter().map(|&v| HEADER_VALUES[v].to_string()).collect(),
            )
        })
        .collect();
    Route {
        name: Some(name.to_string()),
        hosts: strings(s.hosts.iter().map(|&i| ROUTE_HOSTS[i]).collect()),
        paths: strings(paths),
        methods: strings(s.methods.iter().map(|&i| METHODS[i]).collect()),
        headers: (!headers.is_empty()).then_some(headers),
        snis: strings(s.snis.iter().map(|&i| SNIS[i]).collect()),
        priority: s.priority,
        regex_priority: s.regex_priority,
        path_mode: s.mode,
        ..Route::default()
    }
}

// -- The reference matcher ---------------------------------------------------------------

pub struct Stored {
    pub name: String,
    pub spec: Spec,
    pub created_at: i64,
    pub seq: u64,
}

pub fn host_matches(entry: &str, name: &str, port: Option<u16>, https: bool) -> bool {
    let entry = entry.to_ascii_lowercase();
    let (bare, entry_port) = match entry.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().unwrap())),
        None => (entry.clone(), None),
    };
    if let Some(suffix) = bare.strip_prefix('*') {
        if !(name.ends_with(suffix) && name.len() > suffix.len()) {
            return false;
        }
    } else if let Some(prefix) = bare.strip_suffix('*') {
        if !(name.starts_with(prefix) && name.len() > prefix.len()) {
            return false;
        }
    } else {
        // Plain host: the entry equals the name, or the name with its port.
        let full = match port {
            Some(p) => format!("{name}:{p}"),
            None => name.to_string(),
        };
        return entry == name || entry == full;
    }
    match entry_port {
        None => true,
        Some(want) => port.unwrap_or(if https { 443 } else { 80 }) == want,
    }
}

pub fn header_value_matches(values: &[usize], value: &str) -> bool {
    if values == [3] {
        // "~*^v\d", case-insensitively.
        let b = value.as_bytes();
        if b.len() >= 2 && b[0].eq_ignore_ascii_case(&b'v') && b[1].is_ascii_digit() {
            return true;
        }
    }
    values
        .iter()
        .any(|&v| HEADER_VALUES[v].eq_ignore_ascii_case(value))
}

/// The rank of one (route, path) entry; smaller is better.
pub type Rank = (i64, i64, i64, i64, i64, i64, i64, i64, u64);

pub fn rank(s: &Stored, regex: bool, plain_len: usize) -> Rank {
    let spec = &s.spec;
    let mut category = 0i64;
    if !spec.hosts.is_empty() {
        category |= 0x40;
    }
    if !spec.headers.is_empty() {
        category |= 0x20;
    }
    if !spec.plain.is_empty() || !spec.regex.is_empty() {
        category |= 0x10;
    }
    if !spec.methods.is_empty() {
        category |= 0x08;
    }
    if !spec.snis.is_empty() {
        category |= 0x04;
    }
    let wildcard_port = spec.hosts.iter().any(|&h| {
        let e = ROUTE_HOSTS[h];
        e.contains('*') && e.contains(':')
    });
    let plain_only =
        !spec.hosts.is_empty() && spec.hosts.iter().all(|&h| !ROUTE_HOSTS[h].contains('*'));
    let weight = 4 * i64::from(wildcard_port) + 2 * i64::from(plain_only) + i64::from(regex);
    (
        -spec.priority,
        -i64::from(category.count_ones()),
        -category,
        -weight,
        -(spec.headers.len() as i64),
        -(if regex { spec.regex_priority } else { 0 }),
        -(plain_len as i64),
        s.created_at,
        s.seq,
    )
}

pub fn reference(routes: &[Stored], r: &Req) -> Option<String> {
    let raw_host = REQUEST_HOSTS[r.host].to_ascii_lowercase();
    let (name, port) = match raw_host.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().unwrap())),
        None => (raw_host.clone(), None),
    };
    let path = REQUEST_PATHS[r.path].1;
    let method = METHODS[r.method];
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|&(n, v)| (HEADER_NAMES[n], REQUEST_HEADER_VALUES[v]))
        .collect();
    let mut best: Option<(Rank, &str)> = None;
    for s in routes {
        let spec = &s.spec;
        if !spec.hosts.is_empty()
            && !spec
                .hosts
                .iter()
                .any(|&h| host_matches(ROUTE_HOSTS[h], &name, port, r.https))
        {
            continue;
        }
        if !spec.methods.is_empty() && !spec.methods.iter().any(|&m| METHODS[m] == method) {
            continue;
        }
        if !spec.snis.is_empty() && r.https {
            let Some(sni) = r.sni.map(|i| REQUEST_SNIS[i]) else {
                continue;
            };
            if !spec
                .snis
                .iter()
                .any(|&i| SNIS[i].trim_end_matches('.').eq_ignore_ascii_case(sni))
            {
                continue;
            }
        }
        let headers_ok = spec.headers.iter().all(|(n, values)| {
            headers.iter().any(|(hn, hv)| {
                hn.eq_ignore_ascii_case(HEADER_NAMES[*n]) && header_value_matches(values, hv)
            })
        });
        if !headers_ok {
            continue;
        }
        // One entry per path (or one without a path).
        let mut entries: Vec<Rank> = Vec::new();
        if spec.plain.is_empty() && spec.regex.is_empty() {
            entries.push(rank(s, false, 0));
        }
        for &p in &spec.plain {
            let rp = PLAIN_PATHS[p];
            let fits = match spec.mode {
                PathMode::Prefix => path.starts_with(rp),
                PathMode::Exact => path == rp,
                PathMode::Segment => {
                    path.starts_with(rp)
                        && (path.len() == rp.len()
                            || rp.ends_with('/')
                            || path.as_bytes()[rp.len()] == b'/')
                }
            };
            if fits {
                entries.push(rank(s, false, rp.len()));
            }
        }
        for &p in &spec.regex {
            if (REGEX_PATHS[p].1)(path) {
                entries.push(rank(s, true, 0));
            }
        }
        for e in entries {
            if best.as_ref().is_none_or(|(b, _)| e < *b) {
                best = Some((e, &s.name));
            }
        }
    }
    best.map(|(_, n)| n.to_string())
}

pub fn registry_answer(registry: &Registry, r: &Req) -> Option<String> {
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|&(n, v)| (HEADER_NAMES[n], REQUEST_HEADER_VALUES[v]))
        .collect();
    let mut req = Request::new(
        METHODS[r.method],
        REQUEST_HOSTS[r.host],
        REQUEST_PATHS[r.path].0,
    )
    .headers(&headers)
    .protocol(if r.https {
        Protocol::Https
    } else {
        Protocol::Http
    });
    if let Some(i) = r.sni {
        req = req.sni(REQUEST_SNIS[i]);
    }
    match registry.find(&req)?.matched {
        Matched::Route(route) => route.name.clone(),
        Matched::CfRoute(key) => Some(format!("cf:{key}")),
        other => panic!("an HTTP request answered by {other:?}"),
    }
}

// -- The comparison ---------------------------------------------------------------------

/// Applies `ops` to a fresh registry and the reference; after each write, every
/// request must get the same answer from both. The error describes the first
/// difference.
pub fn run(ops: &[Op], requests: &[Req]) -> Result<(), String> {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let registry = Registry::new(Config::new().clock(clock.clone()));
    let mut routes: Vec<Stored> = Vec::new();
    let mut seq = 0u64;
    let mut next_name = 0usize;
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Tick(secs) => {
                clock.advance(Duration::from_secs(*secs));
                continue;
            }
            Op::Create(spec) => {
                let name = format!("r{next_name}");
                next_name += 1;
                let stored = registry.create_route(to_route(&name, spec)).unwrap();
                seq += 1;
                routes.push(Stored {
                    name,
                    spec: spec.clone(),
                    created_at: stored.created_at,
                    seq,
                });
            }
            Op::Update(i, spec) => {
                if routes.is_empty() {
                    continue;
                }
                let n = routes.len();
                let target = &mut routes[i % n];
                let mut route = to_route(&target.name, spec);
                route.id = registry.route(&target.name).unwrap().id;
                let stored = registry.update_route(&target.name, route).unwrap();
                if stored.created_at != target.created_at {
                    return Err(format!(
                        "after step {step} ({op:?}): created_at {} became {}",
                        target.created_at, stored.created_at
                    ));
                }
                target.spec = spec.clone();
                if UPDATE_IS_REINSERTION {
                    seq += 1;
                    target.seq = seq;
                }
            }
            Op::Delete(i) => {
                if routes.is_empty() {
                    continue;
                }
                let gone = routes.remove(i % routes.len());
                registry.delete_route(&gone.name).unwrap();
            }
        }
        for r in requests {
            let want = reference(&routes, r);
            let got = registry_answer(&registry, r);
            if got != want {
                return Err(format!(
                    "after step {step} ({op:?}), request {r:?} (host {}, path {}): \
                     the registry answers {got:?}, the reference {want:?}",
                    REQUEST_HOSTS[r.host], REQUEST_PATHS[r.path].0
                ));
            }
        }
    }
    Ok(())
}
