//! Kong-style routes through the registry: the traditional priority rules, the
//! explicit priority, path modes, strip_path and preserve_host, captures.

use std::collections::BTreeMap;

use routeyard::{
    Config, Matched, PathHandling, PathMode, Protocol, Registry, Request, Route, Service,
    ServiceRef,
};

fn registry() -> Registry {
    let registry = Registry::new(Config::new());
    registry
        .create_service(Service {
            name: Some("svc".into()),
            host: "backend.internal".into(),
            path: Some("/base".into()),
            ..Service::default()
        })
        .unwrap();
    registry
}

fn route(registry: &Registry, name: &str, edit: impl FnOnce(&mut Route)) {
    let service = registry.service("svc").unwrap();
    let mut r = Route {
        name: Some(name.into()),
        service: Some(ServiceRef { id: service.id }),
        ..Route::default()
    };
    edit(&mut r);
    registry.create_route(r).unwrap();
}

fn strings(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

fn winner(registry: &Registry, req: &Request<'_>) -> Option<String> {
    match registry.find(req)?.matched {
        Matched::Route(r) => r.name.clone(),
        Matched::CfRoute(k) => Some(format!("cf:{k}")),
        other => panic!("an HTTP request answered by {other:?}"),
    }
}

#[test]
fn traditional_priority_table() {
    let r = registry();
    route(&r, "path-short", |x| x.paths = strings(&["/a"]));
    route(&r, "path-long", |x| x.paths = strings(&["/a/bb"]));
    route(&r, "host-path", |x| {
        x.hosts = strings(&["example.com"]);
        x.paths = strings(&["/a"]);
    });
    route(&r, "host-path-method", |x| {
        x.hosts = strings(&["example.com"]);
        x.paths = strings(&["/a"]);
        x.methods = strings(&["POST"]);
    });
    route(&r, "wild-host", |x| x.hosts = strings(&["*.example.com"]));
    route(&r, "regex", |x| x.paths = strings(&["~/a/(?<id>\\d+)$"]));
    route(&r, "method-only", |x| x.methods = strings(&["DELETE"]));
    route(&r, "header", |x| {
        x.paths = strings(&["/a"]);
        x.headers = Some(BTreeMap::from([(
            "X-Version".to_string(),
            vec!["2".to_string()],
        )]));
    });
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
    );
    let table: &[Row<'_>] = &[
        ("GET", "other.com", "/a/bb/c", &[], Some("path-long")),
        ("GET", "other.com", "/a/b", &[], Some("path-short")),
        ("GET", "example.com", "/a/bb", &[], Some("host-path")),
        ("POST", "example.com", "/a", &[], Some("host-path-method")),
        ("GET", "x.example.com", "/zzz", &[], Some("wild-host")),
        ("GET", "other.com", "/a/42", &[], Some("regex")),
        ("DELETE", "other.com", "/nothing", &[], Some("method-only")),
        (
            "GET",
            "other.com",
            "/a/x",
            &[("x-version", "2")],
            Some("header"),
        ),
        (
            "GET",
            "other.com",
            "/a/x",
            &[("X-VERSION", "3")],
            Some("path-short"),
        ),
        ("GET", "other.com", "/b", &[], None),
    ];
    for (method, host, path, headers, want) in table {
        let req = Request::new(method, host, path).headers(headers);
        assert_eq!(winner(&r, &req).as_deref(), *want, "{method} {host}{path}");
    }
}

#[test]
fn explicit_priority_and_path_modes() {
    let r = registry();
    route(&r, "long", |x| x.paths = strings(&["/foo/bar"]));
    route(&r, "boosted", |x| {
        x.paths = strings(&["/foo"]);
        x.priority = 10;
    });
    route(&r, "segment", |x| {
        x.paths = strings(&["/seg"]);
        x.path_mode = PathMode::Segment;
    });
    route(&r, "exact", |x| {
        x.paths = strings(&["/exact"]);
        x.path_mode = PathMode::Exact;
    });
    let cases = [
        ("/foo/bar", Some("boosted")),
        ("/seg", Some("segment")),
        ("/seg/x", Some("segment")),
        ("/segment", None),
        ("/exact", Some("exact")),
        ("/exact/x", None),
    ];
    for (path, want) in cases {
        assert_eq!(
            winner(&r, &Request::new("GET", "h", path)).as_deref(),
            want,
            "{path}"
        );
    }
}

#[test]
fn upstream_path_host_captures_and_redirect() {
    let r = registry();
    route(&r, "strip", |x| x.paths = strings(&["/route"]));
    route(&r, "keep", |x| {
        x.paths = strings(&["/keep"]);
        x.strip_path = false;
        x.preserve_host = true;
    });
    route(&r, "regex", |x| {
        x.paths = strings(&["~/users/(?<id>\\d+)/(\\w+)"])
    });
    route(&r, "secure", |x| {
        x.paths = strings(&["/secure"]);
        x.protocols = vec![Protocol::Https];
    });
    let m = r.find(&Request::new("GET", "h.com", "/routereq")).unwrap();
    assert_eq!(m.upstream_path, "/base/req");
    assert_eq!(m.upstream_host, "backend.internal");
    assert_eq!(m.matched_path, "/route");
    let m = r.find(&Request::new("GET", "h.com:81", "/keep/x")).unwrap();
    assert_eq!(m.upstream_path, "/base/keep/x");
    assert_eq!(m.upstream_host, "h.com:81");
    let m = r
        .find(&Request::new("GET", "h.com", "/users/42/profile/more"))
        .unwrap();
    let caps: Vec<(Option<&str>, usize, &str)> = m
        .captures
        .iter()
        .map(|c| (c.name.as_deref(), c.index, c.value.as_str()))
        .collect();
    assert_eq!(caps, [(Some("id"), 1, "42"), (None, 2, "profile")]);
    assert_eq!(m.upstream_path, "/base/more");
    let m = r.find(&Request::new("GET", "h.com", "/secure")).unwrap();
    assert_eq!(m.redirect, Some(426));
    let m = r
        .find(&Request::new("GET", "h.com", "/secure").protocol(Protocol::Https))
        .unwrap();
    assert_eq!(m.redirect, None);
}

/// How a route forwards (strip_path, preserve_host, path_handling, its protocols'
/// redirect) follows every update of the route.
#[test]
fn forwarding_follows_updates() {
    let r = registry();
    route(&r, "a", |x| x.paths = strings(&["/route"]));
    let request = Request::new("GET", "h.com:81", "/routereq");
    let m = r.find(&request).unwrap();
    assert_eq!(
        (
            m.upstream_path.as_str(),
            m.upstream_host.as_str(),
            m.redirect
        ),
        ("/base/req", "backend.internal", None)
    );
    let mut updated = r.route("a").unwrap();
    updated.strip_path = false;
    updated.preserve_host = true;
    updated.path_handling = PathHandling::V1;
    updated.protocols = vec![Protocol::Https];
    updated.https_redirect_status_code = 301;
    r.update_route("a", updated).unwrap();
    let m = r.find(&request).unwrap();
    assert_eq!(
        (
            m.upstream_path.as_str(),
            m.upstream_host.as_str(),
            m.redirect
        ),
        ("/baseroutereq", "h.com:81", Some(301))
    );
    let mut updated = r.route("a").unwrap();
    updated.protocols = vec![Protocol::Http, Protocol::Https];
    r.update_route("a", updated).unwrap();
    assert_eq!(r.find(&request).unwrap().redirect, None);
}

/// The route an answer gives is the route as last written, also after an update
/// that leaves every matching field as it was.
#[test]
fn the_answer_is_the_route_as_last_written() {
    let r = registry();
    route(&r, "a", |x| x.paths = strings(&["/a"]));
    let request = Request::new("GET", "h", "/a/1");
    let mut updated = r.route("a").unwrap();
    updated.name = Some("renamed".into());
    updated.tags = strings(&["blue"]);
    r.update_route("a", updated).unwrap();
    assert_eq!(winner(&r, &request).as_deref(), Some("renamed"));
    let tags = r.lookup(&request, |found| found.route().and_then(|x| x.tags.clone()));
    assert_eq!(tags, Some(strings(&["blue"])));
    r.delete_route("renamed").unwrap();
    assert_eq!(winner(&r, &request), None);
}

#[test]
fn updates_and_deletes_reach_the_matcher() {
    let r = registry();
    route(&r, "a", |x| x.paths = strings(&["/a"]));
    assert_eq!(
        winner(&r, &Request::new("GET", "h", "/a")).as_deref(),
        Some("a")
    );
    let mut updated = r.route("a").unwrap();
    updated.paths = strings(&["/b"]);
    r.update_route("a", updated).unwrap();
    assert_eq!(winner(&r, &Request::new("GET", "h", "/a")), None);
    assert_eq!(
        winner(&r, &Request::new("GET", "h", "/b")).as_deref(),
        Some("a")
    );
    r.delete_route("a").unwrap();
    assert_eq!(winner(&r, &Request::new("GET", "h", "/b")), None);
    assert!(r.delete_service("svc").is_ok());
}

/// A replaced route leaves every bucket its old hosts and paths put it in, even
/// when the new one shares none of them, moves to or from layer 4, or names
/// its hosts with other case; an update keeps its place among equal routes.
#[test]
fn replacing_a_route_leaves_no_trace_of_the_old_one() {
    let r = registry();
    // Enough neighbours that this host's paths sit in a tree, not a list.
    for i in 0..20 {
        route(&r, &format!("filler-{i}"), |x| {
            x.hosts = strings(&["a.example.com"]);
            x.paths = strings(&[&format!("/filler/{i}")]);
        });
    }
    route(&r, "moving", |x| {
        x.hosts = strings(&["A.example.com", "*.wild.org", "prefix.*"]);
        x.paths = strings(&["/old", "~/re/(?<n>\\d+)$"]);
    });
    let old_requests = [
        ("a.example.com", "/old/x"),
        ("a.example.com", "/re/7"),
        ("x.wild.org", "/re/7"),
        ("prefix.net", "/old"),
    ];
    for (host, path) in old_requests {
        assert_eq!(
            winner(&r, &Request::new("GET", host, path)).as_deref(),
            Some("moving"),
            "{host}{path}"
        );
    }
    // Replaced by a route on other hosts and paths.
    let mut next = r.route("moving").unwrap();
    next.hosts = strings(&["new.example.com"]);
    next.paths = strings(&["/new"]);
    r.update_route("moving", next.clone()).unwrap();
    for (host, path) in old_requests {
        assert_eq!(
            winner(&r, &Request::new("GET", host, path)),
            None,
            "{host}{path}"
        );
    }
    assert_eq!(
        winner(&r, &Request::new("GET", "new.example.com", "/new")).as_deref(),
        Some("moving")
    );
    // To a stream route and back: HTTP no longer sees it, then sees it again.
    let mut stream = next.clone();
    stream.protocols = vec![Protocol::Tcp];
    stream.hosts = None;
    stream.paths = None;
    stream.destinations = Some(vec![routeyard::Peer {
        ip: None,
        port: Some(9000),
    }]);
    r.update_route("moving", stream).unwrap();
    assert_eq!(
        winner(&r, &Request::new("GET", "new.example.com", "/new")),
        None
    );
    r.update_route("moving", next).unwrap();
    assert_eq!(
        winner(&r, &Request::new("GET", "new.example.com", "/new")).as_deref(),
        Some("moving")
    );

    // Two routes equal in every rank field: the older wins, and still does
    // after it is updated (an update is not a new insertion).
    let r = registry();
    route(&r, "first", |x| x.paths = strings(&["/tie"]));
    route(&r, "second", |x| x.paths = strings(&["/tie"]));
    let created_at = r.route("first").unwrap().created_at;
    assert_eq!(
        r.route("second").unwrap().created_at,
        created_at,
        "same second"
    );
    let request = Request::new("GET", "h", "/tie");
    assert_eq!(winner(&r, &request).as_deref(), Some("first"));
    let mut first = r.route("first").unwrap();
    first.strip_path = !first.strip_path;
    r.update_route("first", first).unwrap();
    assert_eq!(winner(&r, &request).as_deref(), Some("first"));
    r.delete_route("first").unwrap();
    assert_eq!(winner(&r, &request).as_deref(), Some("second"));
}

#[test]
fn borrowed_lookup_agrees_with_the_owned_answer() {
    let r = registry();
    route(&r, "strip", |x| x.paths = strings(&["/route"]));
    route(&r, "host", |x| {
        x.hosts = strings(&["*.example.com"]);
        x.preserve_host = true;
        x.strip_path = false;
    });
    route(&r, "regex", |x| {
        x.paths = strings(&["~/users/(?<id>\\d+)/(\\w+)"])
    });
    // One buffer serves every lookup: the hot path allocates nothing for it.
    let mut upstream = String::with_capacity(64);
    for (host, path) in [
        ("h.com", "/routereq"),
        ("api.example.com", "/x/y"),
        ("h.com", "/users/7/profile"),
        ("h.com", "/nothing"),
    ] {
        let req = Request::new("GET", host, path);
        let owned = r.find(&req);
        let borrowed = r.lookup(&req, |found| {
            found.write_upstream_path(&mut upstream);
            assert_eq!(found.upstream_path(), upstream);
            (
                found.route().and_then(|route| route.name.clone()),
                found.service().map(|s| s.host.clone()),
                upstream.clone(),
                found.upstream_host().to_string(),
                found.matched_path().to_string(),
                found.captures(),
                found.revision(),
                found.to_match(false),
            )
        });
        match (owned, borrowed) {
            (None, None) => {}
            (Some(m), Some((name, service, path, host, matched, captures, revision, copy))) => {
                let Matched::Route(route) = &m.matched else {
                    panic!("a Kong route answers {req:?}");
                };
                assert_eq!(route.name, name);
                assert_eq!(m.service.as_ref().map(|s| s.host.clone()), service);
                assert_eq!(m.upstream_path, path);
                assert_eq!(m.upstream_host, host);
                assert_eq!(m.matched_path, matched);
                assert_eq!(m.captures, captures);
                assert_eq!(m.revision, revision);
                assert_eq!(m, copy);
            }
            (owned, borrowed) => panic!("{req:?}: find {owned:?}, lookup {borrowed:?}"),
        }
    }
}

#[test]
fn buckets_past_the_flat_limit_keep_their_order() {
    // Forty paths under one host: the host's bucket turns into a tree, and the
    // longest path still wins; removing most of them again keeps answers right.
    let r = registry();
    for i in 0..40 {
        route(&r, &format!("r{i}"), |x| {
            x.hosts = strings(&["many.example.com"]);
            x.paths = Some(vec![format!("/p/{}", "x".repeat(i))]);
        });
    }
    for i in [0usize, 1, 17, 39] {
        let path = format!("/p/{}/tail", "x".repeat(i));
        assert_eq!(
            winner(&r, &Request::new("GET", "many.example.com", &path)),
            Some(format!("r{i}")),
            "{path}"
        );
    }
    for i in 1..40 {
        r.delete_route(&format!("r{i}")).unwrap();
    }
    assert_eq!(
        winner(&r, &Request::new("GET", "many.example.com", "/p/xxxx")).as_deref(),
        Some("r0")
    );
}
