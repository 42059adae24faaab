//! gobetween servers in the registry: what they land as, how they match and
//! balance, their errors, statistics, snapshots and batches.

use std::net::SocketAddr;

use routeyard::balance::PickInput;
use routeyard::dialect::gobetween::{self, BackendSpec, Balance, Server};
use routeyard::{Change, Config, ErrorKind, Protocol, Registry, Request};

fn backend(host: &str, port: u16, weight: u32, priority: u32) -> BackendSpec {
    BackendSpec {
        host: host.into(),
        port,
        weight,
        priority,
        max_connections: 0,
        sni: None,
    }
}

fn web() -> Server {
    let mut server = Server::with_static_backends(
        "0.0.0.0:3000",
        &[
            backend("10.0.0.1", 8000, 1, 1),
            backend("10.0.0.2", 8000, 3, 1),
            backend("10.0.0.9", 8000, 1, 2),
        ],
    );
    server.balance = Some(Balance::Weight);
    server
}

fn conn(to_port: u16) -> Request<'static> {
    let from: SocketAddr = "192.0.2.10:50000".parse().unwrap();
    let to: SocketAddr = format!("127.0.0.1:{to_port}").parse().unwrap();
    Request::stream(Protocol::Tcp, from, to)
}

#[test]
fn a_server_lands_as_a_stream_route_a_service_and_an_upstream() {
    let r = Registry::new(Config::new());
    let stored = r.create_server("web", &web()).unwrap();
    // gobetween's defaults are filled in.
    assert_eq!(stored.server.protocol, Some(gobetween::Protocol::Tcp));
    assert!(r.server("web").is_some());
    assert_eq!(r.servers().len(), 1);
    let route = r.route("web").unwrap();
    assert_eq!(route.protocols, [Protocol::Tcp]);
    assert_eq!(route.tags.as_deref(), Some(&["gobetween".to_string()][..]));
    let upstream = r.upstream("web").unwrap();
    assert_eq!(upstream.backends.len(), 3);
    assert_eq!(upstream.backends[2].tier, 2);

    // Connections to the bind port reach the lowest priority, by weight.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..4000 {
        let m = r.find_and_pick(&conn(3000)).unwrap();
        *seen
            .entry(m.backend.unwrap().address.to_string())
            .or_default() += 1;
    }
    assert!(!seen.contains_key("10.0.0.9"), "{seen:?}");
    let share = seen["10.0.0.2"] as f64 / 4000.0;
    assert!((0.70..0.80).contains(&share), "{seen:?}");
    assert!(r.find(&conn(3001)).is_none());

    // Statistics in gobetween's shape.
    let c = r
        .lookup(&conn(3000), |f| f.connect(&PickInput::new()))
        .flatten()
        .unwrap();
    c.established();
    c.add_tx(512);
    let stats = r.server_stats("web").unwrap();
    assert_eq!(stats.active_connections, 1);
    assert_eq!(stats.tx_total, 512);
    assert_eq!(stats.backends.len(), 3);
    drop(c);

    // Deleting takes everything it landed as.
    r.delete_server("web").unwrap();
    assert!(r.route("web").is_none());
    assert!(r.service("web").is_none());
    assert!(r.upstream("web").is_none());
    assert!(r.find(&conn(3000)).is_none());
    assert_eq!(
        r.delete_server("web").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn refused_servers_change_nothing() {
    let r = Registry::new(Config::new());
    r.create_server("web", &web()).unwrap();
    let before = r.snapshot();

    let err = r.create_server("web", &web()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let mut unbound = web();
    unbound.bind = None;
    let err = r.create_server("api", &unbound).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.message(), "No bind specified for server api");

    let err = r.create_server("bad name", &web()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    // A batch that fails after creating a server keeps nothing.
    let err = r
        .apply(vec![
            Change::CreateServer {
                name: "api".into(),
                server: Box::new(Server::with_static_backends(
                    "0.0.0.0:3100",
                    &[backend("10.0.1.1", 9000, 1, 1)],
                )),
            },
            Change::DeleteServer {
                name: "missing".into(),
            },
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(r.snapshot(), before);
}

#[test]
fn servers_travel_in_snapshots() {
    let source = Registry::new(Config::new());
    source.create_server("web", &web()).unwrap();
    let replica = Registry::new(Config::new());
    replica.restore(source.snapshot()).unwrap();
    assert_eq!(replica.servers(), source.servers());
    assert!(replica
        .find_and_pick(&conn(3000))
        .unwrap()
        .backend
        .is_some());
    // Restoring an empty snapshot removes them again.
    replica.restore(routeyard::Snapshot::default()).unwrap();
    assert!(replica.servers().is_empty());
    assert!(replica.find(&conn(3000)).is_none());
}

#[test]
fn gobetween_round_robin_lands_as_weighted_round_robin() {
    let r = Registry::new(Config::new());
    let mut server = Server::with_static_backends(
        "0.0.0.0:3200",
        &[backend("10.0.2.1", 80, 1, 1), backend("10.0.2.2", 80, 9, 1)],
    );
    server.balance = Some(Balance::RoundRobin);
    r.create_server("rr", &server).unwrap();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..100 {
        let m = r.find_and_pick(&conn(3200)).unwrap();
        *seen
            .entry(m.backend.unwrap().address.to_string())
            .or_default() += 1;
    }
    assert_eq!(seen["10.0.2.1"], 10);
    assert_eq!(seen["10.0.2.2"], 90);
    let kept = r.server("rr").unwrap().server.backends().unwrap();
    assert_eq!(kept[1].weight, 9);
}

#[test]
fn backend_stats_carry_the_cap_and_the_sni_name() {
    let r = Registry::new(Config::new());
    let mut capped = backend("10.0.3.1", 80, 1, 1);
    capped.max_connections = 5;
    capped.sni = Some("a.example.com".into());
    let server =
        Server::with_static_backends("0.0.0.0:3300", &[capped, backend("10.0.3.2", 80, 1, 1)]);
    r.create_server("capped", &server).unwrap();
    let stats = serde_json::to_value(r.server_stats("capped").unwrap()).unwrap();
    let backends = stats["backends"].as_array().unwrap();
    assert_eq!(backends[0]["max_connections"], 5);
    assert_eq!(backends[0]["sni"], "a.example.com");
    // Left out without a cap or a name, as gobetween does.
    assert!(backends[1].get("max_connections").is_none());
    assert!(backends[1].get("sni").is_none());
}
