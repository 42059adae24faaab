//! `Registry::reader`: a reader answers as the registry does, and sees every
//! commit from its next call on, also while other threads write.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use routeyard::{
    Config, HttpRoute, Match, Matched, Reader, Registry, Request, Route, Service, ServiceRef,
};

fn route_named(name: &str, path: &str) -> Route {
    Route {
        name: Some(name.into()),
        paths: Some(vec![path.into()]),
        ..Route::default()
    }
}

fn name_of(m: &Match) -> Option<String> {
    match &m.matched {
        Matched::Route(route) => route.name.clone(),
        Matched::CfRoute(key) => Some(format!("cf:{key}")),
        other => panic!("an HTTP request answered by {other:?}"),
    }
}

#[test]
fn a_reader_sees_every_commit_from_its_next_call() {
    let registry = Registry::new(Config::new());
    let mut reader = registry.reader();
    let request = Request::new("GET", "shop.example.com", "/orders/7");
    assert!(reader.find(&request).is_none());

    registry.create_route(route_named("a", "/orders")).unwrap();
    assert_eq!(
        reader.find(&request).and_then(|m| name_of(&m)).as_deref(),
        Some("a")
    );

    // A longer path created later wins, as it does for the registry.
    registry
        .create_route(route_named("b", "/orders/7"))
        .unwrap();
    let name = reader.lookup(&request, |found| found.route().and_then(|r| r.name.clone()));
    assert_eq!(name.flatten().as_deref(), Some("b"));

    let mut b = registry.route("b").unwrap();
    b.paths = Some(vec!["/carts".into()]);
    registry.update_route("b", b).unwrap();
    assert_eq!(
        reader.find(&request).and_then(|m| name_of(&m)).as_deref(),
        Some("a")
    );

    registry.delete_route("a").unwrap();
    assert!(reader.find(&request).is_none());
    assert!(std::ptr::eq(reader.registry(), &registry));
}

#[test]
fn a_reader_answers_as_the_registry_does() {
    let registry = Registry::new(Config::new());
    let service = registry
        .create_service(Service {
            name: Some("svc".into()),
            host: "backend.internal".into(),
            path: Some("/base".into()),
            ..Service::default()
        })
        .unwrap();
    for (name, host, path) in [
        ("exact", "shop.example.com", "/a"),
        ("wild", "*.example.com", "/a"),
        ("deep", "shop.example.com", "/a/b"),
        ("any", "", "/"),
    ] {
        registry
            .create_route(Route {
                name: Some(name.into()),
                hosts: (!host.is_empty()).then(|| vec![host.to_string()]),
                paths: Some(vec![path.into()]),
                strip_path: true,
                service: Some(ServiceRef {
                    id: service.id.clone(),
                }),
                ..Route::default()
            })
            .unwrap();
    }
    registry
        .upsert_http_routes(vec![HttpRoute::new("cf.example.org/app", "10.0.0.1", 8080)])
        .unwrap();
    let mut reader = registry.reader();
    for (host, path) in [
        ("shop.example.com", "/a/b/c"),
        ("shop.example.com", "/a/x"),
        ("api.example.com", "/a"),
        ("other.test", "/zzz"),
        ("cf.example.org", "/app/1"),
        ("cf.example.org:443", "/APP"),
        ("nowhere.test", ""),
    ] {
        let request = Request::new("GET", host, path);
        assert_eq!(
            reader.find(&request),
            registry.find(&request),
            "{host}{path}"
        );
        // One CF backend: either picks it, whatever the round robin's position.
        assert_eq!(
            reader.find_and_pick(&request),
            registry.find_and_pick(&request),
            "{host}{path}"
        );
        let borrowed = reader.lookup(&request, |found| {
            (found.upstream_path(), found.upstream_host().to_string())
        });
        let owned = registry
            .find(&request)
            .map(|m| (m.upstream_path, m.upstream_host));
        assert_eq!(borrowed, owned, "{host}{path}");
    }
}

#[test]
fn readers_on_threads_see_a_writer_s_commits() {
    fn assert_send<T: Send>() {}
    assert_send::<Reader<&'static Registry>>();
    assert_send::<Reader<Arc<Registry>>>();

    let registry = Arc::new(Registry::new(Config::new()));
    registry
        .create_route(route_named("stable", "/stable"))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // Every lookup of either reader, counted so the writer can wait for
    // reads to happen between its commits whatever the scheduler does.
    let lookups = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let registry = Arc::clone(&registry);
            let done = Arc::clone(&done);
            let lookups = Arc::clone(&lookups);
            thread::spawn(move || {
                let mut reader = registry.reader();
                let stable = Request::new("GET", "", "/stable/x");
                while !done.load(Ordering::Acquire) {
                    // The route that never changes is always found.
                    assert!(reader.lookup(&stable, |f| f.route().is_some()).unwrap());
                    lookups.fetch_add(1, Ordering::Relaxed);
                }
                // After the writer finished, its last route is visible.
                let last = Request::new("GET", "", "/r199");
                assert_eq!(
                    reader.find(&last).and_then(|m| name_of(&m)).as_deref(),
                    Some("r199")
                );
            })
        })
        .collect();
    for i in 0..200 {
        if i % 50 == 0 {
            // Let the readers run against the index as it stands now.
            let seen = lookups.load(Ordering::Relaxed);
            // A reader that stopped early has failed; its join reports why.
            while lookups.load(Ordering::Relaxed) < seen + 100
                && !readers.iter().any(|r| r.is_finished())
            {
                thread::yield_now();
            }
        }
        registry
            .create_route(route_named(&format!("r{i}"), &format!("/r{i}")))
            .unwrap();
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().unwrap();
    }
}
