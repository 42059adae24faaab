//! Layer 4 matching: Kong stream routes by SNI, sources and destinations, and
//! CF TCP route mappings by router group and port.

use std::net::SocketAddr;
use std::time::Duration;

use routeyard::{
    Cidr, Clock, Config, ManualClock, Matched, Peer, Protocol, Registry, Request, Route,
    RouterGroup, TcpRouteMapping, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(3_000_000);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn peer(ip: Option<&str>, port: Option<u16>) -> Peer {
    Peer {
        ip: ip.map(|ip| ip.parse::<Cidr>().unwrap()),
        port,
    }
}

fn stream_route(registry: &Registry, name: &str, edit: impl FnOnce(&mut Route)) {
    let mut route = Route {
        name: Some(name.into()),
        protocols: vec![Protocol::Tcp, Protocol::Tls],
        ..Route::default()
    };
    edit(&mut route);
    registry.create_route(route).unwrap();
}

fn winner(registry: &Registry, req: &Request<'_>) -> Option<String> {
    registry.lookup(req, |found| match found.matched() {
        Matched::Route(r) => r.name.clone().unwrap_or_default(),
        Matched::TcpRoute {
            router_group_guid,
            port,
        } => format!("tcp:{router_group_guid}:{port}"),
        other => format!("{other:?}"),
    })
}

fn tls(sni: &str, from: &str, to: &str) -> Request<'static> {
    let sni: &'static str = Box::leak(sni.to_string().into_boxed_str());
    Request::stream(Protocol::Tls, addr(from), addr(to)).sni(sni)
}

fn tcp(from: &str, to: &str) -> Request<'static> {
    Request::stream(Protocol::Tcp, addr(from), addr(to))
}

#[test]
fn stream_routes_rank_as_kong_does() {
    let r = Registry::new(Config::new());
    stream_route(&r, "dst-port", |x| {
        x.destinations = Some(vec![peer(None, Some(5432))])
    });
    stream_route(&r, "dst-net", |x| {
        x.destinations = Some(vec![peer(Some("10.0.0.0/8"), None)])
    });
    stream_route(&r, "src-net", |x| {
        x.sources = Some(vec![peer(Some("192.168.0.0/16"), None)])
    });
    stream_route(&r, "src-host-port", |x| {
        x.sources = Some(vec![peer(Some("192.168.1.1"), Some(4000))])
    });
    stream_route(&r, "sni", |x| x.snis = Some(vec!["db.example.com".into()]));
    stream_route(&r, "sni-dst", |x| {
        x.snis = Some(vec!["db.example.com".into()]);
        x.destinations = Some(vec![peer(None, Some(5432))]);
    });
    stream_route(&r, "src-dst", |x| {
        x.sources = Some(vec![peer(Some("172.16.0.0/12"), None)]);
        x.destinations = Some(vec![peer(Some("10.1.1.1"), Some(6379))]);
    });

    let table: &[(Request<'static>, Option<&str>)] = &[
        // Two kinds of field beat one.
        (
            tls("db.example.com", "1.1.1.1:1", "10.0.0.1:5432"),
            Some("sni-dst"),
        ),
        (tcp("172.16.5.5:9", "10.1.1.1:6379"), Some("src-dst")),
        // SNI > sources > destinations.
        (
            tls("db.example.com", "192.168.9.9:1", "10.0.0.1:80"),
            Some("sni"),
        ),
        (tcp("192.168.9.9:1", "10.0.0.1:5432"), Some("src-net")),
        // A host and port entry before a network.
        (
            tcp("192.168.1.1:4000", "10.0.0.1:80"),
            Some("src-host-port"),
        ),
        (tcp("192.168.1.1:4001", "10.0.0.1:80"), Some("src-net")),
        // Destinations alone: by port, else by network.
        (tcp("8.8.8.8:1", "10.0.0.1:5432"), Some("dst-port")),
        (tcp("8.8.8.8:1", "10.9.0.1:80"), Some("dst-net")),
        (tcp("8.8.8.8:1", "11.0.0.1:80"), None),
        // A route with SNIs needs the request's SNI; the SNI is compared
        // without case and trailing dot.
        (
            tls("DB.example.com.", "8.8.8.8:1", "11.0.0.1:80"),
            Some("sni"),
        ),
        (tls("other.example.com", "8.8.8.8:1", "11.0.0.1:80"), None),
    ];
    for (req, want) in table {
        assert_eq!(winner(&r, req).as_deref(), *want, "{req:?}");
    }

    // Protocols must agree, and HTTP never sees stream routes.
    let udp = Request::stream(Protocol::Udp, addr("8.8.8.8:1"), addr("10.0.0.1:5432"));
    assert_eq!(winner(&r, &udp), None);
    assert_eq!(
        winner(&r, &Request::new("GET", "db.example.com", "/")),
        None
    );

    // Priority first; updates and deletes reach the index.
    let mut top = r.route("dst-net").unwrap();
    top.priority = 5;
    r.update_route("dst-net", top).unwrap();
    assert_eq!(
        winner(&r, &tls("db.example.com", "1.1.1.1:1", "10.0.0.1:5432")).as_deref(),
        Some("dst-net")
    );
    r.delete_route("dst-net").unwrap();
    r.delete_route("sni-dst").unwrap();
    assert_eq!(
        winner(&r, &tls("db.example.com", "1.1.1.1:1", "10.0.0.1:5432")).as_deref(),
        Some("sni")
    );
    assert_eq!(winner(&r, &tcp("8.8.8.8:1", "10.9.0.1:80")), None);
}

#[test]
fn stream_answers_carry_the_sni_as_host_and_no_path() {
    let r = Registry::new(Config::new());
    stream_route(&r, "sni", |x| {
        x.snis = Some(vec!["db.example.com".into()]);
        x.preserve_host = true;
    });
    let m = r
        .find(&tls("db.example.com", "1.1.1.1:1", "10.0.0.1:5432"))
        .unwrap();
    assert_eq!(m.upstream_host, "db.example.com");
    assert_eq!(m.upstream_path, "");
    assert_eq!(m.matched_path, "");
    assert_eq!(m.redirect, None);
}

fn tcp_setup() -> (Registry, ManualClock, String) {
    let clock = ManualClock::new(T0);
    let r = Registry::new(Config::new().clock(clock.clone()));
    let (group, _) = r
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-2048"))
        .unwrap();
    (r, clock, group.guid.to_string())
}

#[test]
fn cf_tcp_mappings_answer_by_router_group_and_port() {
    let (r, clock, guid) = tcp_setup();
    r.upsert_tcp_route_mappings(vec![
        TcpRouteMapping::new(&guid, 1100, "10.0.0.1", 6000).with_ttl(30),
        TcpRouteMapping::new(&guid, 1100, "10.0.0.2", 6000).with_ttl(60),
        TcpRouteMapping::new(&guid, 1200, "10.0.0.3", 7000).with_ttl(60),
    ])
    .unwrap();
    let on = |port: u16| {
        let to = format!("10.255.0.1:{port}");
        tcp("1.2.3.4:50000", Box::leak(to.into_boxed_str()))
            .router_group(Box::leak(guid.clone().into_boxed_str()))
    };
    assert_eq!(winner(&r, &on(1100)), Some(format!("tcp:{guid}:1100")));
    // Round robin over the port's live backends.
    let mut seen: Vec<String> = (0..4)
        .map(|_| {
            r.lookup(&on(1100), |f| f.pick().unwrap().address.to_string())
                .unwrap()
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["10.0.0.1", "10.0.0.2"]);
    // Without the router group, or on a port without mappings: nothing.
    assert_eq!(winner(&r, &tcp("1.2.3.4:1", "10.255.0.1:1100")), None);
    assert_eq!(winner(&r, &on(1300)), None);

    // A lapsed mapping is never picked, swept or not.
    clock.advance(Duration::from_secs(30));
    for _ in 0..4 {
        let m = r.find_and_pick(&on(1100)).unwrap();
        assert_eq!(&*m.backend.unwrap().address, "10.0.0.2");
    }
    clock.advance(Duration::from_secs(30));
    assert_eq!(winner(&r, &on(1100)), None);
    assert_eq!(r.expire(clock.now()), 3);
    assert_eq!(winner(&r, &on(1200)), None);
}

#[test]
fn cf_tcp_mappings_with_an_sni_host_serve_only_that_name() {
    let (r, _clock, guid) = tcp_setup();
    let mut named = TcpRouteMapping::new(&guid, 1500, "10.0.0.7", 8443);
    named.backend_sni_hostname = Some("a.example.com".into());
    r.upsert_tcp_route_mappings(vec![
        named,
        TcpRouteMapping::new(&guid, 1500, "10.0.0.8", 8443),
    ])
    .unwrap();
    let guid: &'static str = Box::leak(guid.into_boxed_str());
    let pick = |sni: Option<&'static str>| {
        let mut req = tcp("1.2.3.4:1", "10.255.0.1:1500").router_group(guid);
        if let Some(sni) = sni {
            req = req.sni(sni).protocol(Protocol::Tls);
        }
        r.lookup(&req, |f| f.pick().map(|b| b.address.to_string()))
            .flatten()
    };
    for _ in 0..3 {
        assert_eq!(pick(Some("a.example.com")).as_deref(), Some("10.0.0.7"));
        assert_eq!(pick(Some("b.example.com")).as_deref(), Some("10.0.0.8"));
        assert_eq!(pick(None).as_deref(), Some("10.0.0.8"));
    }
    // Deleting the plain one leaves nothing for other names.
    r.delete_tcp_route_mappings(&[TcpRouteMapping::new(guid, 1500, "10.0.0.8", 8443)])
        .unwrap();
    assert_eq!(pick(Some("b.example.com")), None);
    assert_eq!(pick(Some("a.example.com")).as_deref(), Some("10.0.0.7"));
}
