//! Restoring a snapshot, and Kong-style routes and services in atomic batches.

use std::time::Duration;

use routeyard::{
    Change, Config, ErrorKind, Filter, HttpRoute, ManualClock, Matched, Registry, Request, Route,
    RouterGroup, Service, ServiceRef, Snapshot, TcpRouteMapping, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(2_000_000);

fn registry() -> (Registry, ManualClock) {
    let clock = ManualClock::new(T0);
    (Registry::new(Config::new().clock(clock.clone())), clock)
}

fn populate(registry: &Registry) {
    let (group, _) = registry
        .create_router_group(RouterGroup::new("tcp-a", "tcp", "2000-2010"))
        .unwrap();
    registry
        .create_router_group(RouterGroup::new("web", "http", ""))
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![TcpRouteMapping::new(
            &group.guid,
            2000,
            "10.1.0.1",
            7000,
        )])
        .unwrap();
    registry.reserve_port(&group.guid, None).unwrap();
    registry
        .upsert_http_routes(vec![
            HttpRoute::new("app.example.com/api", "10.0.0.1", 8080).with_ttl(60),
            HttpRoute::new("app.example.com", "10.0.0.2", 8080),
        ])
        .unwrap();
    let service = registry
        .create_service(Service {
            name: Some("billing".into()),
            host: "billing.internal".into(),
            ..Service::default()
        })
        .unwrap();
    registry
        .create_route(Route {
            name: Some("invoices".into()),
            paths: Some(vec!["/invoices".into()]),
            service: Some(ServiceRef { id: service.id }),
            ..Route::default()
        })
        .unwrap();
}

/// The state without its revision, to compare registries.
fn state(registry: &Registry) -> Snapshot {
    let mut snap = registry.snapshot();
    snap.revision = 0;
    snap
}

#[test]
fn a_snapshot_restored_into_an_empty_registry_is_the_same_state() {
    let (source, _) = registry();
    populate(&source);
    let (replica, _) = registry();
    let revision = replica.restore(source.snapshot()).unwrap();
    assert!(revision > 0);
    assert_eq!(state(&replica), state(&source));
    // Restored objects keep their identities and answer requests.
    let m = replica
        .find(&Request::new("GET", "app.example.com", "/api/v1"))
        .unwrap();
    assert_eq!(m.matched, Matched::CfRoute("app.example.com/api".into()));
    let m = replica
        .find(&Request::new("GET", "x", "/invoices/7"))
        .unwrap();
    match m.matched {
        Matched::Route(r) => assert_eq!(r.name.as_deref(), Some("invoices")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn restoring_over_other_contents_publishes_only_the_differences() {
    let (source, _) = registry();
    populate(&source);
    let target = source.snapshot();

    let (registry, _) = registry();
    populate(&registry);
    registry
        .upsert_http_routes(vec![HttpRoute::new("other.example.com", "10.9.9.9", 80)])
        .unwrap();
    let before = registry.snapshot();
    let mut events = registry
        .subscribe(Filter::all(), Some(before.revision))
        .unwrap();

    registry.restore(target.clone()).unwrap();
    assert_eq!(state(&registry), {
        let mut t = target.clone();
        t.revision = 0;
        t
    });
    // The events rebuild the new state from the old one.
    let mut rebuilt = before;
    while let Ok(Some(event)) = events.try_recv() {
        rebuilt.apply(&event);
    }
    rebuilt.sort();
    assert_eq!(rebuilt, registry.snapshot());

    // The same snapshot again changes nothing.
    let revision = registry.revision();
    assert_eq!(registry.restore(target).unwrap(), revision);
    assert!(events.try_recv().unwrap().is_none());
}

/// A route the snapshot holds in another shape than the registry does answers
/// by the snapshot's shape alone once restored: its current paths stop matching.
#[test]
fn a_restored_route_replaces_its_current_shape_in_matching() {
    let (registry, _) = registry();
    populate(&registry);
    let target = registry.snapshot();
    registry
        .modify_route("invoices", |r| {
            Ok(Route {
                hosts: Some(vec!["moved.example.com".into()]),
                paths: Some(vec!["/moved".into()]),
                ..r.clone()
            })
        })
        .unwrap();
    let moved = Request::new("GET", "moved.example.com", "/moved");
    let restored = Request::new("GET", "x", "/invoices/7");
    assert!(registry.find(&moved).is_some());
    assert!(registry.find(&restored).is_none());

    registry.restore(target).unwrap();
    assert!(
        registry.find(&moved).is_none(),
        "the moved shape still matches"
    );
    match registry.find(&restored).map(|m| m.matched) {
        Some(Matched::Route(r)) => assert_eq!(r.name.as_deref(), Some("invoices")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn restored_leases_run_from_their_own_expiry() {
    let (source, _) = registry();
    populate(&source);
    let (replica, clock) = registry();
    replica.restore(source.snapshot()).unwrap();
    clock.advance(Duration::from_secs(61));
    // The 60 s route lapsed; the 120 s one did not.
    let routes: Vec<String> = replica
        .http_routes()
        .into_iter()
        .map(|r| r.route.to_string())
        .collect();
    assert_eq!(routes, ["app.example.com"]);
    assert!(replica
        .find(&Request::new("GET", "app.example.com", "/api"))
        .is_some_and(|m| m.matched == Matched::CfRoute("app.example.com".into())));
}

/// A change that spoils a snapshot.
type Edit = Box<dyn Fn(&mut Snapshot)>;

#[test]
fn an_inconsistent_snapshot_is_refused_and_changes_nothing() {
    let (source, _) = registry();
    populate(&source);
    let good = source.snapshot();
    let (registry, _) = registry();
    populate(&registry);
    let before = registry.snapshot();

    let cases: Vec<(&str, Edit, ErrorKind)> = vec![
        (
            "mapping of a missing group",
            Box::new(|s| {
                s.router_groups.retain(|g| &*g.name != "tcp-a");
                s.port_reservations.clear();
            }),
            ErrorKind::TcpRouteMappingInvalid,
        ),
        (
            "route of a missing service",
            Box::new(|s| s.services.clear()),
            ErrorKind::ForeignKeyViolation,
        ),
        (
            "duplicate service id",
            Box::new(|s| {
                let mut twin = s.services[0].clone();
                twin.name = Some("twin".into());
                s.services.push(twin);
            }),
            ErrorKind::InvalidArgument,
        ),
        (
            "duplicate group name",
            Box::new(|s| {
                let mut twin = s.router_groups[0].clone();
                twin.guid = "another-guid".into();
                s.router_groups.push(twin);
            }),
            ErrorKind::InvalidArgument,
        ),
        (
            "invalid CF route",
            Box::new(|s| s.http_routes[0].port = 0),
            ErrorKind::RouteInvalid,
        ),
        (
            "group without guid",
            Box::new(|s| s.router_groups[0].guid = "".into()),
            ErrorKind::RouterGroupInvalid,
        ),
        (
            "invalid ports",
            Box::new(|s| {
                for g in &mut s.router_groups {
                    if &*g.group_type == "tcp" {
                        g.reservable_ports = "70000".into();
                    }
                }
            }),
            ErrorKind::RouterGroupInvalid,
        ),
        (
            "invalid Kong route",
            Box::new(|s| s.routes[0].paths = Some(vec!["no-slash".into()])),
            ErrorKind::SchemaViolation,
        ),
    ];
    for (what, edit, kind) in cases {
        let mut bad = good.clone();
        edit(&mut bad);
        let err = registry.restore(bad).expect_err(what);
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert_eq!(registry.snapshot(), before, "{what} changed the registry");
    }
}

#[test]
fn kong_routes_and_services_in_atomic_batches() {
    let (registry, _) = registry();
    let events = registry
        .apply(vec![
            Change::PutService {
                key: "orders".into(),
                service: Service {
                    host: "orders.internal".into(),
                    ..Service::default()
                },
            },
            Change::UpsertService(Service {
                id: "5b1e3cbb-96c9-4a57-9d2c-6ef28e4f4a7a".into(),
                host: "stock.internal".into(),
                ..Service::default()
            }),
            Change::UpsertRoute(Route {
                id: "0c0e8d55-6a56-4f0e-8a0a-6d1a3c3b6b11".into(),
                paths: Some(vec!["/stock".into()]),
                service: Some(ServiceRef {
                    id: "5b1e3cbb-96c9-4a57-9d2c-6ef28e4f4a7a".into(),
                }),
                ..Route::default()
            }),
            Change::PutRoute {
                key: "orders-route".into(),
                route: Route {
                    hosts: Some(vec!["orders.example.com".into()]),
                    ..Route::default()
                },
            },
        ])
        .unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(registry.services().len(), 2);
    assert_eq!(
        registry.route("orders-route").unwrap().name.as_deref(),
        Some("orders-route")
    );
    assert!(registry.find(&Request::new("GET", "h", "/stock")).is_some());

    // A failing change undoes the whole batch.
    let before = registry.snapshot();
    let err = registry
        .apply(vec![
            Change::DeleteRoute {
                key: "orders-route".into(),
            },
            Change::DeleteService {
                key: "5b1e3cbb-96c9-4a57-9d2c-6ef28e4f4a7a".into(),
            },
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignKeyViolation);
    assert_eq!(registry.snapshot(), before);

    // Routes before their service: both go.
    registry
        .apply(vec![
            Change::DeleteRoute {
                key: "0c0e8d55-6a56-4f0e-8a0a-6d1a3c3b6b11".into(),
            },
            Change::DeleteService {
                key: "5b1e3cbb-96c9-4a57-9d2c-6ef28e4f4a7a".into(),
            },
        ])
        .unwrap();
    assert!(registry.find(&Request::new("GET", "h", "/stock")).is_none());
    assert_eq!(registry.services().len(), 1);
    let err = registry
        .apply(vec![Change::DeleteRoute {
            key: "nothing".into(),
        }])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn put_by_name_keeps_the_name_whatever_the_body_says() {
    let (registry, _) = registry();
    let (first, created) = registry
        .put_service(
            "orders",
            Service {
                host: "a.internal".into(),
                ..Service::default()
            },
        )
        .unwrap();
    assert!(created);
    assert_eq!(first.name.as_deref(), Some("orders"));
    // A replacement whose body names nothing, or something else, stays `orders`.
    for name in [None, Some("renamed".to_string())] {
        let (again, created) = registry
            .put_service(
                "orders",
                Service {
                    name,
                    host: "b.internal".into(),
                    ..Service::default()
                },
            )
            .unwrap();
        assert!(!created);
        assert_eq!(again.id, first.id);
        assert_eq!(again.name.as_deref(), Some("orders"));
        assert_eq!(registry.service("orders").unwrap().host, "b.internal");
    }
    let (route, _) = registry
        .put_route(
            "r1",
            Route {
                paths: Some(vec!["/x".into()]),
                ..Route::default()
            },
        )
        .unwrap();
    let (replaced, created) = registry
        .put_route(
            "r1",
            Route {
                paths: Some(vec!["/y".into()]),
                ..Route::default()
            },
        )
        .unwrap();
    assert!(!created);
    assert_eq!(
        (replaced.id, replaced.name.as_deref()),
        (route.id, Some("r1"))
    );
}

#[test]
fn modify_applies_a_change_atomically() {
    let (registry, _) = registry();
    registry
        .create_service(Service {
            name: Some("svc".into()),
            host: "a.internal".into(),
            ..Service::default()
        })
        .unwrap();
    registry
        .create_route(Route {
            name: Some("r".into()),
            paths: Some(vec!["/r".into()]),
            ..Route::default()
        })
        .unwrap();
    // Kong's PATCH merge, applied under the lock.
    let patched = registry
        .modify_route("r", |current| {
            routeyard::dialect::kong::patch_route(current, br#"{"paths": ["/patched"]}"#)
        })
        .unwrap();
    assert_eq!(patched.paths, Some(vec!["/patched".to_string()]));
    assert_eq!(patched.name.as_deref(), Some("r"));

    // Errors change nothing.
    let before = registry.snapshot();
    let err = registry
        .modify_route("r", |current| {
            routeyard::dialect::kong::patch_route(current, br#"{"paths": ["no-slash"]}"#)
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaViolation);
    assert_eq!(
        registry
            .modify_service("missing", |s| Ok(s.clone()))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(registry.snapshot(), before);

    // Concurrent read-modify-writes never lose one another's change.
    let registry = std::sync::Arc::new(registry);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    registry
                        .modify_service("svc", |s| {
                            let mut next = s.clone();
                            next.retries += 1;
                            Ok(next)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(registry.service("svc").unwrap().retries, 5 + 400);
}
