//! Table-driven matcher tests: every field's matching rule, every ranking rule
//! (explicit priority, category size and bitmask, submatch weight, header count,
//! regex_priority, plain path length, created_at, insertion order), path modes,
//! request normalisation, the upstream path tables (v0 and v1), preserve_host,
//! captures, redirects, and gorouter lookups over CF routes.
//!
//! Each group builds a registry from a list of routes and checks rows of
//! (request, expected route name). Failures are collected per group so one run
//! shows every wrong row.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::time::Duration;

use routeyard::{
    Config, HttpRoute, ManualClock, Match, Matched, PathHandling, PathMode, Protocol, Registry,
    Request, Route, Service, ServiceRef, Timestamp,
};

// -- Building routes ------------------------------------------------------------

#[derive(Clone)]
struct R(Route);

fn r(name: &str) -> R {
    R(Route {
        name: Some(name.to_string()),
        ..Route::default()
    })
}

fn list(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

impl R {
    fn hosts(mut self, v: &[&str]) -> Self {
        self.0.hosts = list(v);
        self
    }
    fn paths(mut self, v: &[&str]) -> Self {
        self.0.paths = list(v);
        self
    }
    fn methods(mut self, v: &[&str]) -> Self {
        self.0.methods = list(v);
        self
    }
    fn snis(mut self, v: &[&str]) -> Self {
        self.0.snis = list(v);
        self
    }
    fn header(mut self, name: &str, values: &[&str]) -> Self {
        self.0.headers.get_or_insert_with(BTreeMap::new).insert(
            name.to_string(),
            values.iter().map(|s| s.to_string()).collect(),
        );
        self
    }
    fn priority(mut self, p: i64) -> Self {
        self.0.priority = p;
        self
    }
    fn regex_priority(mut self, p: i64) -> Self {
        self.0.regex_priority = p;
        self
    }
    fn mode(mut self, m: PathMode) -> Self {
        self.0.path_mode = m;
        self
    }
    fn protocols(mut self, p: &[Protocol]) -> Self {
        self.0.protocols = p.to_vec();
        self
    }
    fn strip(mut self, on: bool) -> Self {
        self.0.strip_path = on;
        self
    }
    fn handling(mut self, h: PathHandling) -> Self {
        self.0.path_handling = h;
        self
    }
    fn preserve_host(mut self, on: bool) -> Self {
        self.0.preserve_host = on;
        self
    }
    fn redirect_code(mut self, code: u16) -> Self {
        self.0.https_redirect_status_code = code;
        self
    }
}

/// A registry on a manual clock with one service (`svc`, host `svc.internal`,
/// base path `base`) that every route in `routes` points at. All routes are
/// created within the same second.
fn setup_with_base(base: Option<&str>, routes: &[R]) -> (Registry, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_000_000));
    let registry = Registry::new(Config::new().clock(clock.clone()));
    let service = registry
        .create_service(Service {
            name: Some("svc".into()),
            host: "svc.internal".into(),
            path: base.map(str::to_string),
            ..Service::default()
        })
        .unwrap();
    for route in routes {
        let mut route = route.0.clone();
        route.service = Some(ServiceRef {
            id: service.id.clone(),
        });
        registry.create_route(route).unwrap();
    }
    (registry, clock)
}

fn setup(routes: &[R]) -> Registry {
    setup_with_base(None, routes).0
}

fn add(registry: &Registry, route: R) {
    let service = registry.service("svc").unwrap();
    let mut route = route.0;
    route.service = Some(ServiceRef { id: service.id });
    registry.create_route(route).unwrap();
}

// -- Requests and rows ----------------------------------------------------------

#[derive(Clone)]
struct Q {
    method: &'static str,
    host: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    protocol: Protocol,
    sni: Option<&'static str>,
}

fn q(method: &'static str, host: &'static str, path: &'static str) -> Q {
    Q {
        method,
        host,
        path,
        headers: Vec::new(),
        protocol: Protocol::Http,
        sni: None,
    }
}

/// A GET request.
fn get(host: &'static str, path: &'static str) -> Q {
    q("GET", host, path)
}

impl Q {
    fn h(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
    fn https(mut self) -> Self {
        self.protocol = Protocol::Https;
        self
    }
    fn sni(mut self, sni: &'static str) -> Self {
        self.sni = Some(sni);
        self
    }
    fn describe(&self) -> String {
        format!(
            "{} {}://{}{} headers={:?} sni={:?}",
            self.method, self.protocol, self.host, self.path, self.headers, self.sni
        )
    }
    fn find(&self, registry: &Registry) -> Option<Match> {
        let mut req = Request::new(self.method, self.host, self.path)
            .headers(&self.headers)
            .protocol(self.protocol);
        if let Some(sni) = self.sni {
            req = req.sni(sni);
        }
        registry.find(&req)
    }
}

fn name_of(m: &Match) -> String {
    match &m.matched {
        Matched::Route(r) => r.name.clone().unwrap_or_else(|| r.id.clone()),
        Matched::CfRoute(key) => format!("cf:{key}"),
        other => panic!("an HTTP request answered by {other:?}"),
    }
}

fn winner(registry: &Registry, q: &Q) -> Option<String> {
    q.find(registry).map(|m| name_of(&m))
}

type Row = (Q, Option<&'static str>);

/// Checks every row and panics once, listing all rows that failed.
fn check(group: &str, registry: &Registry, rows: &[Row]) -> usize {
    let mut failures = Vec::new();
    for (req, want) in rows {
        let got = winner(registry, req);
        if got.as_deref() != *want {
            failures.push(format!(
                "  {}: want {:?}, got {:?}",
                req.describe(),
                want,
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{group}: {} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    rows.len()
}

// -- Field matching ---------------------------------------------------------------

#[test]
fn hosts() {
    let reg = setup(&[
        r("plain").hosts(&["a.com"]),
        r("port").hosts(&["b.com:321"]),
        r("port80").hosts(&["c.com:80"]),
        r("wild-suffix").hosts(&["*.x.com"]),
        r("wild-prefix").hosts(&["y.*"]),
        r("wild-port").hosts(&["*.p.com:8080"]),
        r("wild-q-port-80").hosts(&["*.q.org:80"]),
        r("wild-443").hosts(&["*.s.com:443"]),
        r("multi").hosts(&["m1.com", "m2.com"]),
        r("upper").hosts(&["UP.Example.COM"]),
    ]);
    let rows: &[Row] = &[
        (get("a.com", "/"), Some("plain")),
        (get("a.com:80", "/"), Some("plain")),
        (get("a.com:123", "/x"), Some("plain")),
        (get("A.COM", "/"), Some("plain")),
        (get("A.Com:8080", "/"), Some("plain")),
        (get("aa.com", "/"), None),
        (get("b.a.com", "/"), None),
        (get("a.com.evil", "/"), None),
        (get("b.com:321", "/"), Some("port")),
        (get("B.COM:321", "/"), Some("port")),
        (get("b.com", "/"), None),
        (get("b.com:322", "/"), None),
        (get("c.com:80", "/"), Some("port80")),
        (get("c.com", "/"), None),
        (get("a.x.com", "/"), Some("wild-suffix")),
        (get("a.b.x.com", "/"), Some("wild-suffix")),
        (get("A.X.COM:9", "/"), Some("wild-suffix")),
        (get("x.com", "/"), None),
        (get("ax.com", "/"), None),
        (get("y.com", "/"), Some("wild-prefix")),
        (get("y.co.uk", "/"), Some("wild-prefix")),
        (get("y.com:81", "/"), Some("wild-prefix")),
        (get("yy.com", "/"), None),
        (get("ay.com", "/"), None),
        (get("y", "/"), None),
        (get("a.p.com:8080", "/"), Some("wild-port")),
        (get("a.p.com", "/"), None),
        (get("a.p.com:8081", "/"), None),
        (get("a.p.com", "/").https(), None),
        (get("a.q.org", "/"), Some("wild-q-port-80")),
        (get("a.q.org:80", "/"), Some("wild-q-port-80")),
        (get("a.q.org:8080", "/"), None),
        (get("a.q.org", "/").https(), None),
        (get("a.s.com", "/").https(), Some("wild-443")),
        (get("a.s.com", "/"), None),
        (get("a.s.com:443", "/"), Some("wild-443")),
        (get("m1.com:5", "/"), Some("multi")),
        (get("m2.com", "/"), Some("multi")),
        (get("up.example.com", "/"), Some("upper")),
        (get("nothing.org", "/"), None),
    ];
    check("hosts", &reg, rows);
}

#[test]
fn paths_regexes_and_normalisation() {
    let reg = setup(&[
        r("foo").paths(&["/foo"]),
        r("digits").paths(&["~/r/\\d+$"]),
        r("letters").paths(&["~/m/[a-z]+"]),
        r("ci").paths(&["~/(?i)ci/x"]),
    ]);
    let rows: &[Row] = &[
        (get("h", "/foo"), Some("foo")),
        (get("h", "/foobar"), Some("foo")),
        (get("h", "/foo/bar"), Some("foo")),
        (get("h", "/fo"), None),
        (get("h", "/FOO"), None),
        (get("h", "/foo?x=1"), Some("foo")),
        (get("h", "/fo?o"), None),
        (get("h", "/r/12"), Some("digits")),
        (get("h", "/r/12/"), None),
        (get("h", "/r/ab"), None),
        (get("h", "/x/r/12"), None),
        (get("h", "/r/12?q=/r/x"), Some("digits")),
        (get("h", "/m/abc/zzz"), Some("letters")),
        (get("h", "/m/ABC"), None),
        (get("h", "/zz/m/abc"), None),
        (get("h", "/CI/X"), Some("ci")),
        (get("h", "/a/../foo"), Some("foo")),
        (get("h", "//foo"), Some("foo")),
        (get("h", "/%66oo"), Some("foo")),
        (get("h", "/f%6F%6f/x"), Some("foo")),
        (get("h", "/./foo"), Some("foo")),
        (get("h", "/bar/..//foo/x"), Some("foo")),
        (get("h", "/%2Ffoo"), None),
        (get("h", "/r/%31%32"), Some("digits")),
        (get("h", "/r/1/../12"), Some("digits")),
        (get("h", "/nothing"), None),
    ];
    check("paths", &reg, rows);
}

#[test]
fn path_modes() {
    let reg = setup(&[
        r("seg").paths(&["/seg"]).mode(PathMode::Segment),
        r("seg-slash").paths(&["/dir/"]).mode(PathMode::Segment),
        r("exact").paths(&["/ex"]).mode(PathMode::Exact),
        r("prefix").paths(&["/pre"]),
        r("seg-regex").paths(&["~/sr/\\d"]).mode(PathMode::Segment),
    ]);
    let rows: &[Row] = &[
        (get("h", "/seg"), Some("seg")),
        (get("h", "/seg/"), Some("seg")),
        (get("h", "/seg/x/y"), Some("seg")),
        (get("h", "/segx"), None),
        (get("h", "/se"), None),
        (get("h", "/seg?x=1"), Some("seg")),
        (get("h", "/dir/"), Some("seg-slash")),
        (get("h", "/dir/a"), Some("seg-slash")),
        (get("h", "/dir"), None),
        (get("h", "/ex"), Some("exact")),
        (get("h", "/ex?q=1"), Some("exact")),
        (get("h", "/ex/"), None),
        (get("h", "/exx"), None),
        (get("h", "/a/../ex"), Some("exact")),
        (get("h", "/pre"), Some("prefix")),
        (get("h", "/prefix"), Some("prefix")),
        // The mode applies to plain paths; a regex stays a start-anchored regex.
        (get("h", "/sr/1234"), Some("seg-regex")),
    ];
    check("path modes", &reg, rows);
}

#[test]
fn methods() {
    let reg = setup(&[
        r("get").methods(&["GET"]),
        r("put-patch").methods(&["PUT", "PATCH"]).paths(&["/m"]),
    ]);
    let rows: &[Row] = &[
        (q("GET", "h", "/anything"), Some("get")),
        (q("get", "h", "/anything"), None),
        (q("POST", "h", "/"), None),
        (q("PUT", "h", "/m"), Some("put-patch")),
        (q("PATCH", "h", "/m/x"), Some("put-patch")),
        (q("PUT", "h", "/other"), None),
        (q("GET", "h", "/m"), Some("get")),
    ];
    check("methods", &reg, rows);
}

#[test]
fn headers() {
    let reg = setup(&[
        r("ver").header("X-Ver", &["1", "Two"]),
        r("agent").header("x-agent", &["~*mobi(le)?\\b"]),
        r("ver-tier")
            .header("x-ver", &["1"])
            .header("X-Tier", &["gold"]),
        r("two-values").header("x-r", &["~*abc", "def"]),
    ]);
    let rows: &[Row] = &[
        (get("h", "/").h("x-ver", "1"), Some("ver")),
        (get("h", "/").h("X-VER", "two"), Some("ver")),
        (get("h", "/").h("x-ver", "TWO"), Some("ver")),
        (get("h", "/").h("x-ver", "3"), None),
        (get("h", "/"), None),
        (get("h", "/").h("x-ver", "3").h("X-Ver", "1"), Some("ver")),
        (
            get("h", "/").h("x-ver", "1").h("x-tier", "GOLD"),
            Some("ver-tier"),
        ),
        (
            get("h", "/").h("x-ver", "two").h("x-tier", "gold"),
            Some("ver"),
        ),
        (get("h", "/").h("x-tier", "gold"), None),
        (
            get("h", "/").h("x-agent", "Some MOBILE browser"),
            Some("agent"),
        ),
        (get("h", "/").h("X-Agent", "mobi"), Some("agent")),
        (get("h", "/").h("x-agent", "desktop"), None),
        (get("h", "/").h("x-agent", "mobix"), None),
        (get("h", "/").h("x-agent", "automobile"), Some("agent")),
        (get("h", "/").h("x-r", "DEF"), Some("two-values")),
        (get("h", "/").h("x-r", "~*abc"), Some("two-values")),
        (get("h", "/").h("x-r", "xabcx"), None),
    ];
    check("headers", &reg, rows);
}

#[test]
fn snis() {
    let reg = setup(&[
        r("sni").snis(&["s.com."]).paths(&["/s"]),
        r("host").hosts(&["h.com"]),
        r("host-sni").hosts(&["h.com"]).snis(&["t.com"]),
    ]);
    let rows: &[Row] = &[
        (get("x", "/s").https().sni("s.com"), Some("sni")),
        (get("x", "/s").https().sni("S.COM"), Some("sni")),
        (get("x", "/s").https().sni("other.com"), None),
        (get("x", "/s").https(), None),
        // Plain http: the SNI condition counts as satisfied.
        (get("x", "/s"), Some("sni")),
        (get("x", "/s").sni("other.com"), Some("sni")),
        (get("h.com", "/").https().sni("t.com"), Some("host-sni")),
        (get("h.com", "/").https().sni("u.com"), Some("host")),
        (get("h.com", "/").https(), Some("host")),
        // Global order: host+sni ranks above host alone, and is satisfied here.
        (get("h.com", "/"), Some("host-sni")),
    ];
    check("snis", &reg, rows);
}

// -- Ranking --------------------------------------------------------------------------

#[test]
fn category_field_count() {
    let reg = setup(&[
        r("host-path").hosts(&["c.com"]).paths(&["/a"]),
        r("host-path-method")
            .hosts(&["c.com"])
            .paths(&["/a/m"])
            .methods(&["POST"]),
        r("path-method-sni")
            .paths(&["/a"])
            .methods(&["POST"])
            .snis(&["c.com"]),
        r("host-header").hosts(&["c.com"]).header("x-a", &["1"]),
        r("method").methods(&["DELETE"]),
        r("path").paths(&["/z"]),
        r("host").hosts(&["z.com"]),
    ]);
    let rows: &[Row] = &[
        (q("GET", "c.com", "/a"), Some("host-path")),
        (q("POST", "c.com", "/a/m"), Some("host-path-method")),
        (
            q("POST", "c.com", "/a/m").https().sni("c.com"),
            Some("host-path-method"),
        ),
        (
            q("POST", "c.com", "/a/m").https().sni("x.com"),
            Some("host-path-method"),
        ),
        (
            q("POST", "d.com", "/a").https().sni("c.com"),
            Some("path-method-sni"),
        ),
        (q("POST", "d.com", "/a").https().sni("x.com"), None),
        (q("GET", "c.com", "/b").h("x-a", "1"), Some("host-header")),
        // Three kinds beat two regardless of which kinds.
        (
            q("POST", "c.com", "/a").h("x-a", "1").https().sni("c.com"),
            Some("path-method-sni"),
        ),
        (
            q("POST", "c.com", "/a/m")
                .h("x-a", "1")
                .https()
                .sni("x.com"),
            Some("host-path-method"),
        ),
        (q("GET", "c.com", "/a").h("x-a", "1"), Some("host-header")),
        (q("DELETE", "c.com", "/zz"), Some("path")),
        (q("DELETE", "z.com", "/"), Some("host")),
        (q("DELETE", "y.com", "/"), Some("method")),
    ];
    check("category count", &reg, rows);
}

#[test]
fn category_bitmask_single_fields() {
    let reg = setup(&[
        r("sni").snis(&["c.sni"]),
        r("method").methods(&["GET"]),
        r("path").paths(&["/c"]),
        r("header").header("x-a", &["1"]),
        r("host").hosts(&["c.com"]),
    ]);
    let all = |host, path, header, method, sni| {
        let mut q = q(method, host, path).https().sni(sni);
        if header {
            q = q.h("x-a", "1");
        }
        q
    };
    let rows: &[Row] = &[
        (all("c.com", "/c", true, "GET", "c.sni"), Some("host")),
        (all("d.com", "/c", true, "GET", "c.sni"), Some("header")),
        (all("d.com", "/c", false, "GET", "c.sni"), Some("path")),
        (all("d.com", "/d", false, "GET", "c.sni"), Some("method")),
        (all("d.com", "/d", false, "POST", "c.sni"), Some("sni")),
        (all("d.com", "/d", false, "POST", "d.sni"), None),
    ];
    check("bitmask single", &reg, rows);
}

#[test]
fn category_bitmask_pairs() {
    let reg = setup(&[
        r("method-sni").methods(&["GET"]).snis(&["c.sni"]),
        r("path-method").paths(&["/c"]).methods(&["GET"]),
        r("header-path").header("x-a", &["1"]).paths(&["/c"]),
        r("host-method").hosts(&["c.com"]).methods(&["GET"]),
        r("host-path").hosts(&["c.com"]).paths(&["/c"]),
        r("host-header").hosts(&["c.com"]).header("x-a", &["1"]),
        r("header-sni").header("x-a", &["1"]).snis(&["c.sni"]),
    ]);
    let all = |host, path, header, method| {
        let mut q = q(method, host, path).https().sni("c.sni");
        if header {
            q = q.h("x-a", "1");
        }
        q
    };
    let rows: &[Row] = &[
        (all("c.com", "/c", true, "GET"), Some("host-header")),
        (all("c.com", "/c", false, "GET"), Some("host-path")),
        (all("c.com", "/d", false, "GET"), Some("host-method")),
        (all("d.com", "/c", true, "GET"), Some("header-path")),
        (all("d.com", "/d", true, "GET"), Some("header-sni")),
        (all("d.com", "/c", false, "GET"), Some("path-method")),
        (all("d.com", "/d", false, "GET"), Some("method-sni")),
        (all("d.com", "/d", false, "POST"), None),
    ];
    check("bitmask pairs", &reg, rows);
}

#[test]
fn submatch_weights() {
    let reg = setup(&[
        r("wild").hosts(&["*.w.com"]).paths(&["/a/long"]),
        r("wild-regex").hosts(&["*.w.com"]).paths(&["~/a"]),
        r("plain-host").hosts(&["a.w.com"]).paths(&["/a"]),
        r("wild-port").hosts(&["*.w.com:80"]).paths(&["/a"]),
        r("mixed").hosts(&["a.v.com", "*.v.com"]).paths(&["/p"]),
        r("mixed-regex")
            .hosts(&["a.v.com", "*.v.com"])
            .paths(&["~/p"]),
        r("pure").hosts(&["a.v.com"]).paths(&["/p"]),
        r("plain-host-regex").hosts(&["b.u.com"]).paths(&["~/r"]),
        r("plain-host-plain")
            .hosts(&["b.u.com"])
            .paths(&["/r/longer"]),
    ]);
    let rows: &[Row] = &[
        (get("a.w.com", "/a/long"), Some("wild-port")),
        (get("a.w.com:81", "/a/long"), Some("plain-host")),
        (get("b.w.com", "/a/long"), Some("wild-port")),
        (get("b.w.com:81", "/a/long"), Some("wild-regex")),
        (get("b.w.com:81", "/b"), None),
        (get("a.w.com", "/a/long").https(), Some("plain-host")),
        (get("a.v.com", "/p"), Some("pure")),
        (get("b.v.com", "/p"), Some("mixed-regex")),
        // Plain hosts only (2) + regex (1) beats plain hosts only.
        (get("b.u.com", "/r/longer"), Some("plain-host-regex")),
    ];
    check("submatch weights", &reg, rows);
}

#[test]
fn header_count() {
    let reg = setup(&[
        r("one-long")
            .header("x-a", &["1"])
            .paths(&["/h/long/longer"]),
        r("two")
            .header("x-a", &["1"])
            .header("x-b", &["2"])
            .paths(&["/h"]),
        r("one").header("x-a", &["1"]).paths(&["/h"]),
    ]);
    let rows: &[Row] = &[
        (
            get("h", "/h/long/longer").h("x-a", "1").h("x-b", "2"),
            Some("two"),
        ),
        (get("h", "/h/long/longer").h("x-a", "1"), Some("one-long")),
        (get("h", "/h/x").h("x-a", "1"), Some("one")),
        (get("h", "/h/x").h("x-b", "2"), None),
    ];
    check("header count", &reg, rows);
    // The regex weight is compared before the header count.
    let reg = setup(&[
        r("two")
            .header("x-a", &["1"])
            .header("x-b", &["2"])
            .paths(&["/h"]),
        r("one-regex").header("x-a", &["1"]).paths(&["~/h"]),
    ]);
    let rows: &[Row] = &[
        (
            get("h", "/h").h("x-a", "1").h("x-b", "2"),
            Some("one-regex"),
        ),
        (get("h", "/x").h("x-a", "1").h("x-b", "2"), None),
    ];
    check("header count vs regex", &reg, rows);
}

#[test]
fn regex_priority() {
    let reg = setup(&[
        r("r-low").paths(&["~/rp/\\d+"]),
        r("r-high").paths(&["~/rp/1"]).regex_priority(5),
        r("plain-rp").paths(&["/rp/1"]).regex_priority(100),
        r("neg").paths(&["~/n"]).regex_priority(-1),
        r("zero").paths(&["~/n"]),
        r("p-short").paths(&["/q"]).regex_priority(100),
        r("p-long").paths(&["/q/long"]),
    ]);
    let rows: &[Row] = &[
        (get("h", "/rp/1"), Some("r-high")),
        (get("h", "/rp/12"), Some("r-high")),
        (get("h", "/rp/2"), Some("r-low")),
        (get("h", "/rp/x"), None),
        (get("h", "/n"), Some("zero")),
        (get("h", "/q/long"), Some("p-long")),
        (get("h", "/q/lon"), Some("p-short")),
    ];
    check("regex priority", &reg, rows);
}

#[test]
fn plain_path_length_and_split() {
    let reg = setup(&[
        r("split").paths(&["/a", "/bbbbbbb"]),
        r("mid").paths(&["/a/bb"]),
        r("long").paths(&["/a/bb/ccc"]),
    ]);
    let rows: &[Row] = &[
        (get("h", "/a/bb/x"), Some("mid")),
        (get("h", "/a/bb/ccc"), Some("long")),
        (get("h", "/a/bb/cc"), Some("mid")),
        (get("h", "/a/b"), Some("split")),
        (get("h", "/bbbbbbb/x"), Some("split")),
        (get("h", "/bbbbbb"), None),
    ];
    check("path length", &reg, rows);
    let m = get("h", "/bbbbbbb/x").find(&reg).unwrap();
    assert_eq!(m.matched_path, "/bbbbbbb");
    let m = get("h", "/a/b").find(&reg).unwrap();
    assert_eq!(m.matched_path, "/a");
}

#[test]
fn created_at_then_insertion_order() {
    // Same second: insertion order.
    let reg = setup(&[r("first").paths(&["/t"]), r("second").paths(&["/t"])]);
    check("insertion", &reg, &[(get("h", "/t"), Some("first"))]);

    // An older created_at wins even when inserted later.
    let (reg, clock) = setup_with_base(None, &[]);
    add(&reg, r("newer").paths(&["/t"]));
    clock.set(Timestamp::from_secs(999_000));
    add(&reg, r("older").paths(&["/t"]));
    clock.set(Timestamp::from_secs(1_000_500));
    add(&reg, r("newest").paths(&["/t"]));
    check("created_at", &reg, &[(get("h", "/t"), Some("older"))]);

    // Deleting the winner hands over to the next in order.
    reg.delete_route("older").unwrap();
    check("after delete", &reg, &[(get("h", "/t"), Some("newer"))]);
}

#[test]
fn update_keeps_created_at_and_tie_order() {
    // An update keeps created_at; with equal created_at the tie is broken by
    // insertion order, and an update is not a new insertion.
    let reg = setup(&[r("first").paths(&["/t"]), r("second").paths(&["/t"])]);
    let mut first = reg.route("first").unwrap();
    first.tags = Some(vec!["touched".into()]);
    reg.update_route("first", first).unwrap();
    check("update tie order", &reg, &[(get("h", "/t"), Some("first"))]);
}

#[test]
fn explicit_priority() {
    let reg = setup(&[
        r("full")
            .hosts(&["p.com"])
            .paths(&["/z/long"])
            .methods(&["GET"])
            .header("x-a", &["1"]),
        r("boost").paths(&["/z"]).priority(1),
        r("neg").hosts(&["n.com"]).paths(&["/n"]).priority(-1),
        r("plain").paths(&["/n"]),
        r("boost-2").methods(&["GET"]).priority(2),
        r("wild").hosts(&["*.k.com"]).priority(3),
        r("regex-hi")
            .paths(&["~/k"])
            .regex_priority(1000)
            .priority(2),
    ]);
    let rows: &[Row] = &[
        (q("GET", "x.k.com", "/k"), Some("wild")),
        (q("GET", "p.com", "/k"), Some("regex-hi")),
        (q("GET", "p.com", "/q"), Some("boost-2")),
        (q("POST", "p.com", "/k"), Some("regex-hi")),
        (q("GET", "p.com", "/z/long").h("x-a", "1"), Some("boost-2")),
        (q("POST", "p.com", "/z/long"), Some("boost")),
        (q("POST", "n.com", "/n"), Some("plain")),
        (q("POST", "n.com", "/nx"), Some("plain")),
        (q("POST", "n.com", "/m"), None),
    ];
    check("explicit priority", &reg, rows);
}

// -- Upstream path, host, captures, redirect ------------------------------------------

/// (service path, route paths, strip_path, path handling, request path, expected upstream path)
type UpRow = (
    Option<&'static str>,
    &'static [&'static str],
    bool,
    PathHandling,
    &'static str,
    &'static str,
);

#[test]
fn upstream_paths() {
    use PathHandling::{V0, V1};
    let rows: &[UpRow] = &[
        // v0, from the reference's table and fixture.
        (
            Some("/service"),
            &["/route"],
            true,
            V0,
            "/routereq",
            "/service/req",
        ),
        (
            Some("/service"),
            &["/route"],
            true,
            V0,
            "/route/",
            "/service/",
        ),
        (
            Some("/service"),
            &["/route"],
            true,
            V0,
            "/routereq?x=1",
            "/service/req",
        ),
        (Some("/srv/"), &["/rou"], true, V0, "/rou", "/srv"),
        (Some("/srv/"), &["/rou"], true, V0, "/rou/", "/srv/"),
        (Some("/srv/"), &["/rou"], true, V0, "/rou/x", "/srv/x"),
        (Some("/srv/"), &["/rou"], true, V0, "/roux", "/srv/x"),
        (Some("/srv/"), &["/rou"], false, V0, "/rou/x", "/srv/rou/x"),
        (Some("/"), &["/rou"], true, V0, "/rou", "/"),
        (Some("/"), &["/rou"], true, V0, "/rou/x", "/x"),
        (Some("/"), &["/rou"], false, V0, "/rou/x", "/rou/x"),
        (None, &["/rou"], true, V0, "/rou/x", "/x"),
        (None, &["/rou"], true, V0, "/rou", "/"),
        (None, &["/rou"], false, V0, "/rou/x", "/rou/x"),
        (Some("/srv"), &["/rou/"], true, V0, "/rou/", "/srv/"),
        (Some("/srv"), &["/rou"], true, V0, "/rou", "/srv"),
        (Some("/srv"), &["/rou"], true, V0, "/rou/x", "/srv/x"),
        (Some("/srv"), &["/rou"], true, V0, "/roux", "/srv/x"),
        (Some("/srv"), &["/"], false, V0, "/", "/srv"),
        (Some("/srv"), &["/"], true, V0, "/", "/srv"),
        (Some("/srv"), &["/rou"], false, V0, "/rou/x", "/srv/rou/x"),
        (Some("/srv"), &["~/u/\\d+"], true, V0, "/u/42/x", "/srv/x"),
        (Some("/srv/"), &["~/u/\\d+"], true, V0, "/u/42", "/srv"),
        (Some("/srv"), &["~/u/\\d+"], false, V0, "/u/42", "/srv/u/42"),
        // No path on the route: the postfix is the request path.
        (Some("/srv"), &[], true, V0, "/a/b", "/srv/a/b"),
        (Some("/srv"), &[], true, V0, "/", "/srv"),
        (Some("/srv/"), &[], true, V0, "/a/b/", "/srv/a/b/"),
        // v1.
        (Some("/srv"), &["/rou"], true, V1, "/roureq", "/srvreq"),
        (Some("/srv/"), &["/rou"], true, V1, "/rou/x", "/srv/x"),
        (Some("/srv"), &["/rou"], true, V1, "/rou/x", "/srv/x"),
        (Some("/srv"), &["/rou"], false, V1, "/rou/x", "/srvrou/x"),
        (Some("/srv/"), &["/rou"], false, V1, "/rou/x", "/srv/rou/x"),
        (Some("/"), &["/rou"], true, V1, "/rou/x", "/x"),
    ];
    let mut failures = Vec::new();
    for (base, paths, strip, handling, path, want) in rows {
        let mut route = r("up").strip(*strip).handling(*handling);
        if !paths.is_empty() {
            route = route.paths(paths);
        } else {
            route = route.hosts(&["up.com"]);
        }
        let (reg, _) = setup_with_base(*base, &[route]);
        let got = get("up.com", path).find(&reg).map(|m| m.upstream_path);
        if got.as_deref() != Some(*want) {
            failures.push(format!(
                "  base={base:?} paths={paths:?} strip={strip} {handling:?} request={path}: want {want}, got {got:?}"
            ));
        }
        // The borrowed forms of the same path agree with the owned one.
        let forms = reg.lookup(&Request::new("GET", "up.com", path), |found| {
            let parts = found.upstream_path_parts();
            let mut pushed = String::new();
            parts.push_to(&mut pushed);
            let mut room = [MaybeUninit::new(b'#'); 32];
            let copied = parts.copy_to(&mut room).map(|n| {
                let bytes: Vec<u8> = room[..n]
                    .iter()
                    // SAFETY: `copy_to` initialised the first `n` bytes (the rest
                    // were initialised above anyway).
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                String::from_utf8(bytes).unwrap()
            });
            let short = parts.copy_to(&mut room[..parts.len() - 1]);
            (
                parts.to_string(),
                pushed,
                copied,
                parts.len(),
                short,
                parts.as_parts().map(|p| p.concat()),
                *handling,
            )
        });
        let Some((shown, pushed, copied, len, short, joined, handling)) = forms else {
            continue;
        };
        let whole = joined.clone().unwrap_or_else(|| shown.clone());
        let agree = [&shown, &pushed, &whole]
            .iter()
            .all(|s| s.as_str() == *want)
            && copied.as_deref() == Ok(*want)
            && len == want.len()
            && short == Err(want.len())
            && joined.is_none() == (handling == V1);
        if !agree {
            failures.push(format!(
                "  base={base:?} paths={paths:?} strip={strip} {handling:?} request={path}: \
                 borrowed forms {shown:?} {pushed:?} {copied:?} {len} {short:?} {joined:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} upstream rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn upstream_host_and_preserve_host() {
    let reg = setup(&[
        r("keep").paths(&["/keep"]).preserve_host(true),
        r("svc").paths(&["/svc"]),
    ]);
    let rows: &[(Q, &str)] = &[
        (get("Api.Example.com:8443", "/keep"), "Api.Example.com:8443"),
        (get("a.com", "/keep/x"), "a.com"),
        (get("Api.Example.com:8443", "/svc"), "svc.internal"),
    ];
    for (req, want) in rows {
        let m = req.find(&reg).unwrap();
        assert_eq!(m.upstream_host, *want, "{}", req.describe());
    }
}

#[test]
fn captures() {
    let reg = setup(&[
        r("named").paths(&["~/users/(?<id>\\d+)/(\\w+)"]),
        r("optional").paths(&["~/o/(a)?(b)"]),
        r("plain").paths(&["/plain"]),
    ]);
    let caps = |path: &'static str| -> Vec<(Option<String>, usize, String)> {
        get("h", path)
            .find(&reg)
            .unwrap()
            .captures
            .into_iter()
            .map(|c| (c.name, c.index, c.value))
            .collect()
    };
    assert_eq!(
        caps("/users/42/profile/more"),
        [
            (Some("id".to_string()), 1, "42".to_string()),
            (None, 2, "profile".to_string())
        ]
    );
    assert_eq!(
        caps("/o/ab"),
        [(None, 1, "a".into()), (None, 2, "b".into())]
    );
    assert_eq!(caps("/o/b"), [(None, 2, "b".to_string())]);
    assert_eq!(caps("/plain/x"), []);
    let m = get("h", "/users/42/profile/more").find(&reg).unwrap();
    assert_eq!(m.matched_path, "/users/42/profile");
}

#[test]
fn https_redirects() {
    let reg = setup(&[
        r("secure").paths(&["/s"]).protocols(&[Protocol::Https]),
        r("moved")
            .paths(&["/m"])
            .protocols(&[Protocol::Https])
            .redirect_code(301),
        r("both").paths(&["/b"]),
    ]);
    let rows: &[(Q, Option<u16>)] = &[
        (get("h", "/s"), Some(426)),
        (get("h", "/s").https(), None),
        (get("h", "/m"), Some(301)),
        (get("h", "/m").https(), None),
        (get("h", "/b"), None),
        (get("h", "/b").https(), None),
    ];
    for (req, want) in rows {
        let m = req.find(&reg).unwrap();
        assert_eq!(m.redirect, *want, "{}", req.describe());
    }
}

// -- CF routes (gorouter lookup) ----------------------------------------------------------

fn cf_setup(routes: &[(&str, i64)]) -> (Registry, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(5_000));
    let registry = Registry::new(Config::new().clock(clock.clone()));
    let routes = routes
        .iter()
        .enumerate()
        .map(|(i, (route, ttl))| {
            HttpRoute::new(route, &format!("10.0.0.{}", i + 1), 8080).with_ttl(*ttl)
        })
        .collect();
    registry.upsert_http_routes(routes).unwrap();
    (registry, clock)
}

#[test]
fn cf_lookups() {
    let (reg, clock) = cf_setup(&[
        ("app.io", 60),
        ("app.io/api", 60),
        ("app.io/api/v2", 60),
        ("*.app.io", 60),
        ("w.app.io", 60),
        ("*.app.io/long/path", 60),
        ("*.b.c.io", 60),
        ("*.c.io", 60),
        ("*.c.io/p", 60),
        ("Upper.IO/Path/Here/", 60),
        ("short.io/x", 10),
        ("short.io", 60),
    ]);
    let rows: &[Row] = &[
        (get("app.io", "/"), Some("cf:app.io")),
        (get("app.io", "/api"), Some("cf:app.io/api")),
        (get("app.io", "/api/"), Some("cf:app.io/api")),
        (get("app.io", "/api/v1"), Some("cf:app.io/api")),
        (get("app.io", "/apix"), Some("cf:app.io")),
        (get("app.io", "/api/v2/z?x=1"), Some("cf:app.io/api/v2")),
        (get("APP.io:8443", "/API/V2"), Some("cf:app.io/api/v2")),
        (get("x.app.io", "/"), Some("cf:*.app.io")),
        (
            get("x.y.app.io", "/long/path/z"),
            Some("cf:*.app.io/long/path"),
        ),
        // Exact host first, even against a wildcard with a longer path.
        (get("w.app.io", "/long/path"), Some("cf:w.app.io")),
        (get("app2.io", "/"), None),
        (get("pp.io", "/"), None),
        // Nearest wildcard suffix first.
        (get("a.b.c.io", "/p"), Some("cf:*.b.c.io")),
        (get("a.x.c.io", "/p/q"), Some("cf:*.c.io/p")),
        (get("a.x.c.io", "/q"), Some("cf:*.c.io")),
        (get("c.io", "/"), None),
        (
            get("upper.io", "/path/here/x"),
            Some("cf:upper.io/path/here"),
        ),
        (get("UPPER.IO", "/PATH/HERE"), Some("cf:upper.io/path/here")),
        (get("upper.io", "/path"), None),
        (get("short.io", "/x/y"), Some("cf:short.io/x")),
    ];
    check("cf", &reg, rows);
    clock.advance(Duration::from_secs(11));
    check(
        "cf lapsed",
        &reg,
        &[(get("short.io", "/x/y"), Some("cf:short.io"))],
    );
    reg.delete_http_routes(&[HttpRoute::new("app.io/api", "10.0.0.2", 8080)])
        .unwrap();
    check(
        "cf deleted",
        &reg,
        &[(get("app.io", "/api/v1"), Some("cf:app.io"))],
    );
}

#[test]
fn kong_routes_before_cf_routes() {
    let (reg, _) = cf_setup(&[("k.com/x", 60), ("other.com", 60)]);
    let service = reg
        .create_service(Service {
            name: Some("svc".into()),
            host: "svc.internal".into(),
            ..Service::default()
        })
        .unwrap();
    let mut kong = r("kong").hosts(&["k.com"]).paths(&["/"]).0;
    kong.service = Some(ServiceRef { id: service.id });
    reg.create_route(kong).unwrap();
    let rows: &[Row] = &[
        (get("k.com", "/x/y"), Some("kong")),
        (get("k.com", "/"), Some("kong")),
        (get("other.com", "/x"), Some("cf:other.com")),
    ];
    check("kong before cf", &reg, rows);
}
