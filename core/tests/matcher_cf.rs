//! gorouter lookups over CF HTTP routes: host and path lowercased, port stripped,
//! longest segment prefix with live backends, exact host before wildcards walked
//! from the nearest suffix outward, and lapsed backends never returned.

use std::time::Duration;

use routeyard::{Clock, Config, HttpRoute, ManualClock, Matched, Registry, Request, Timestamp};

fn setup(routes: &[(&str, &str, i64)]) -> (Registry, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let registry = Registry::new(Config::new().clock(clock.clone()));
    let routes = routes
        .iter()
        .map(|(route, ip, ttl)| HttpRoute::new(route, ip, 8080).with_ttl(*ttl))
        .collect();
    registry.upsert_http_routes(routes).unwrap();
    (registry, clock)
}

fn answer(registry: &Registry, host: &str, path: &str) -> Option<String> {
    let m = registry.find(&Request::new("GET", host, path))?;
    match m.matched {
        Matched::CfRoute(key) => Some(key.to_string()),
        Matched::Route(r) => Some(format!("kong:{}", r.id)),
        other => panic!("an HTTP request answered by {other:?}"),
    }
}

#[test]
fn gorouter_lookup_table() {
    let (registry, _) = setup(&[
        ("foo.com", "10.0.0.1", 60),
        ("foo.com/bar", "10.0.0.2", 60),
        ("foo.com/bar/baz", "10.0.0.3", 60),
        ("*.foo.com", "10.0.0.4", 60),
        ("*.b.foo.com/x", "10.0.0.5", 60),
        ("Mixed.Case.com/Path/", "10.0.0.6", 60),
    ]);
    let table: &[(&str, &str, Option<&str>)] = &[
        ("foo.com", "/", Some("foo.com")),
        ("foo.com", "/bar", Some("foo.com/bar")),
        ("foo.com", "/bar/", Some("foo.com/bar")),
        ("foo.com", "/bar/other", Some("foo.com/bar")),
        ("foo.com", "/barbaz", Some("foo.com")),
        ("foo.com", "/bar/baz/deeper?q=1", Some("foo.com/bar/baz")),
        ("FOO.com:8443", "/BAR", Some("foo.com/bar")),
        ("a.foo.com", "/anything", Some("*.foo.com")),
        ("a.b.foo.com", "/x/y", Some("*.b.foo.com/x")),
        ("a.b.foo.com", "/y", Some("*.foo.com")),
        ("b.foo.com", "/x", Some("*.foo.com")),
        ("mixed.case.com", "/path/x", Some("mixed.case.com/path")),
        ("other.com", "/", None),
        ("oo.com", "/", None),
    ];
    for (host, path, want) in table {
        assert_eq!(
            answer(&registry, host, path).as_deref(),
            *want,
            "{host}{path}"
        );
    }
}

#[test]
fn lapsed_backends_are_never_matched_or_picked() {
    let (registry, clock) = setup(&[
        ("app.com", "10.0.0.1", 60),
        ("app.com/api", "10.0.0.2", 10),
        ("app.com/api", "10.0.0.3", 30),
    ]);
    let pick = |registry: &Registry| {
        registry
            .find_and_pick(&Request::new("GET", "app.com", "/api/v1"))
            .and_then(|m| m.backend)
            .map(|b| b.address.to_string())
    };
    let mut seen: Vec<String> = (0..4).filter_map(|_| pick(&registry)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["10.0.0.2", "10.0.0.3"]);

    clock.advance(Duration::from_secs(10));
    for _ in 0..4 {
        assert_eq!(pick(&registry).as_deref(), Some("10.0.0.3"));
    }
    // Every backend of /api lapsed: the shorter route answers, swept or not.
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        answer(&registry, "app.com", "/api/v1").as_deref(),
        Some("app.com")
    );
    assert_eq!(registry.expire(clock.now()), 2);
    assert_eq!(
        answer(&registry, "app.com", "/api/v1").as_deref(),
        Some("app.com")
    );
    registry
        .delete_http_routes(&[HttpRoute::new("app.com", "10.0.0.1", 8080)])
        .unwrap();
    assert_eq!(answer(&registry, "app.com", "/api/v1"), None);
}

#[test]
fn a_snapshot_in_hand_is_not_changed_by_later_writes() {
    let (registry, _) = setup(&[("app.com/a", "10.0.0.1", 60)]);
    let before = registry
        .find(&Request::new("GET", "app.com", "/a"))
        .unwrap();
    registry
        .upsert_http_routes(vec![HttpRoute::new("app.com/a/b", "10.0.0.2", 8080)])
        .unwrap();
    let after = registry
        .find(&Request::new("GET", "app.com", "/a/b"))
        .unwrap();
    assert_eq!(after.revision, before.revision + 1);
    assert_eq!(after.matched, Matched::CfRoute("app.com/a/b".into()));
}

#[test]
fn a_renewal_in_a_failed_batch_does_not_extend_the_match() {
    use routeyard::{Change, RouterGroup};
    let (registry, clock) = setup(&[("app.com", "10.0.0.1", 10)]);
    let failing = vec![
        Change::UpsertHttpRoute(HttpRoute::new("app.com", "10.0.0.1", 8080).with_ttl(60)),
        Change::CreateRouterGroup(RouterGroup::new("", "tcp", "1024")),
    ];
    assert!(registry.apply(failing).is_err());
    clock.advance(Duration::from_secs(10));
    assert_eq!(answer(&registry, "app.com", "/"), None);
}

#[test]
fn a_lapsed_backend_registered_again_is_matched_and_compaction_keeps_it() {
    let (registry, clock) = setup(&[("app.com", "10.0.0.1", 10), ("other.com", "10.0.0.2", 10)]);
    clock.advance(Duration::from_secs(10));
    assert_eq!(registry.expire(clock.now()), 2);
    assert_eq!(answer(&registry, "app.com", "/"), None);
    // Registered again before the index dropped the lapsed backend.
    registry
        .upsert_http_routes(vec![
            HttpRoute::new("app.com", "10.0.0.1", 8080).with_ttl(30)
        ])
        .unwrap();
    assert_eq!(
        answer(&registry, "app.com", "/").as_deref(),
        Some("app.com")
    );
    registry.compact_index();
    assert_eq!(
        answer(&registry, "app.com", "/").as_deref(),
        Some("app.com")
    );
    assert_eq!(answer(&registry, "other.com", "/"), None);
    // A renewal extends what the matcher sees.
    clock.advance(Duration::from_secs(20));
    registry
        .upsert_http_routes(vec![
            HttpRoute::new("app.com", "10.0.0.1", 8080).with_ttl(30)
        ])
        .unwrap();
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        answer(&registry, "app.com", "/").as_deref(),
        Some("app.com")
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(answer(&registry, "app.com", "/"), None);
}
