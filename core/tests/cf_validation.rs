//! CF routing-api validation: every rule for HTTP routes, TCP route mappings and
//! router groups, in CF's order and with CF's messages, and the all-or-nothing
//! behaviour of a batch that holds one invalid item.

use std::time::Duration;

use routeyard::dialect::cf::WireError;
use routeyard::{
    Config, Error, ErrorKind, Filter, HttpRoute, ManualClock, Registry, RouterGroup, Subscription,
    TcpRouteMapping, Timestamp,
};

const T0: Timestamp = Timestamp::from_secs(1_000_000);

fn registry_with(config: Config) -> (Registry, ManualClock) {
    let clock = ManualClock::new(T0);
    (Registry::new(config.clock(clock.clone())), clock)
}

fn registry() -> (Registry, ManualClock) {
    registry_with(Config::new())
}

fn tcp_group(registry: &Registry, name: &str, ports: &str) -> String {
    let (group, created) = registry
        .create_router_group(RouterGroup::new(name, "tcp", ports))
        .expect("router group");
    assert!(created);
    group.guid.to_string()
}

fn assert_no_events(events: &mut Subscription) {
    match events.try_recv() {
        Ok(None) => {}
        other => panic!("expected no event, got {other:?}"),
    }
}

/// The failure a row expects: kind, CF's error name (written out, not derived from
/// the kind) and the exact message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fail {
    kind: ErrorKind,
    cf_name: &'static str,
    message: String,
}

type Expected = Result<(), Fail>;

fn fail(kind: ErrorKind, cf_name: &'static str, message: &str) -> Expected {
    Err(Fail {
        kind,
        cf_name,
        message: message.to_string(),
    })
}

fn route_invalid(message: &str) -> Expected {
    fail(ErrorKind::RouteInvalid, "RouteInvalidError", message)
}

fn rsu_invalid(message: &str) -> Expected {
    fail(
        ErrorKind::RouteServiceUrlInvalid,
        "RouteServiceUrlInvalidError",
        message,
    )
}

fn tcp_invalid(message: &str) -> Expected {
    fail(
        ErrorKind::TcpRouteMappingInvalid,
        "TcpRouteMappingInvalidError",
        message,
    )
}

fn group_invalid(message: &str) -> Expected {
    fail(
        ErrorKind::RouterGroupInvalid,
        "ProcessRequestError",
        message,
    )
}

/// Compares a registry result with a row's expectation; `{g}` in an expected
/// message stands for the guid of the test's router group.
fn check<T: std::fmt::Debug>(
    got: &Result<T, Error>,
    want: &Expected,
    guid: &str,
    row: &dyn std::fmt::Debug,
) {
    match (got, want) {
        (Ok(_), Ok(())) => {}
        (Err(err), Err(fail)) => {
            assert_eq!(err.kind(), fail.kind, "kind, row {row:?}");
            assert_eq!(err.cf_name(), fail.cf_name, "cf_name, row {row:?}");
            assert_eq!(
                err.message(),
                fail.message.replace("{g}", guid),
                "message, row {row:?}"
            );
        }
        (got, want) => panic!("row {row:?}: got {got:?}, want {want:?}"),
    }
}

// ---------------------------------------------------------------------------
// HTTP routes
// ---------------------------------------------------------------------------

fn route(route: &str) -> HttpRoute {
    HttpRoute::new(route, "10.0.0.1", 8080)
}

/// Rows are upserted one at a time into a fresh registry.
struct HttpCreateTest(Vec<(HttpRoute, Expected)>);

impl HttpCreateTest {
    fn run(self) {
        self.run_with(Config::new());
    }

    fn run_with(self, config: Config) {
        for (input, want) in self.0 {
            let (registry, _) = registry_with(config.clone());
            let mut events = registry.subscribe(Filter::all(), None).unwrap();
            let got = registry.upsert_http_routes(vec![input.clone()]);
            check(&got, &want, "", &input);
            let listed = registry.http_routes();
            if want.is_ok() {
                assert_eq!(listed.len(), 1, "row {input:?}");
                assert_eq!(listed[0].route, input.route, "row {input:?}");
                assert_eq!(registry.revision(), 1, "row {input:?}");
            } else {
                assert!(listed.is_empty(), "row {input:?}: {listed:?}");
                assert_eq!(registry.revision(), 0, "row {input:?}");
                assert_no_events(&mut events);
            }
        }
    }
}

/// Rows are deleted from a registry holding one route (`seed.example.com`).
struct HttpDeleteTest(Vec<(HttpRoute, Expected)>);

impl HttpDeleteTest {
    fn run(self) {
        for (input, want) in self.0 {
            let (registry, _) = registry();
            let seed = HttpRoute::new("seed.example.com", "10.0.0.9", 9000);
            registry.upsert_http_routes(vec![seed]).unwrap();
            let got = registry.delete_http_routes(std::slice::from_ref(&input));
            check(&got, &want, "", &input);
            if want.is_err() {
                assert_eq!(registry.http_routes().len(), 1, "row {input:?}");
                assert_eq!(registry.revision(), 1, "row {input:?}");
            }
        }
    }
}

#[test]
fn http_rules_in_cf_order() {
    HttpCreateTest(vec![
        // A body lacking port and route decodes to zeroes: the port rule runs first.
        (
            HttpRoute::default(),
            route_invalid("Each route request requires a port greater than 0"),
        ),
        (
            HttpRoute::new("", "10.0.0.1", 0),
            route_invalid("Each route request requires a port greater than 0"),
        ),
        (
            HttpRoute::new("", "10.0.0.1", 8080),
            route_invalid("Each route request requires a valid route"),
        ),
        (
            HttpRoute::new("", "", 8080),
            route_invalid("Each route request requires a valid route"),
        ),
        (
            HttpRoute::new("app.example.com", "", 8080),
            route_invalid("Each route request requires an IP"),
        ),
        // The IP is never parsed as an address.
        (HttpRoute::new("app.example.com", "not-an-ip", 8080), Ok(())),
        (HttpRoute::new("app.example.com", "10.0.0.1", 1), Ok(())),
        (HttpRoute::new("app.example.com", "10.0.0.1", 65535), Ok(())),
        // The URL rule beats the port rule.
        (
            HttpRoute::new("foo.com/%zz", "10.0.0.1", 0),
            route_invalid(r#"parse "foo.com/%zz": invalid URL escape "%zz""#),
        ),
        (
            HttpRoute::new("foo.com?x=1", "", 0),
            route_invalid("url cannot contain any of [?, #]"),
        ),
        // The route URL is checked before the route service URL.
        (
            route("foo.com/%zz").with_route_service_url("http://rs.example.com"),
            route_invalid(r#"parse "foo.com/%zz": invalid URL escape "%zz""#),
        ),
        // The route service URL is checked before the port.
        (
            HttpRoute::new("app.example.com", "10.0.0.1", 0)
                .with_route_service_url("http://rs.example.com"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
        // Required fields come before the TTL.
        (
            HttpRoute::new("app.example.com", "", 8080).with_ttl(500),
            route_invalid("Each route request requires an IP"),
        ),
        (
            HttpRoute::new("app.example.com", "10.0.0.1", 0).with_ttl(0),
            route_invalid("Each route request requires a port greater than 0"),
        ),
    ])
    .run();
}

#[test]
fn http_route_url_rules() {
    HttpCreateTest(vec![
        (route("app.example.com"), Ok(())),
        (route("app.example.com/some/path"), Ok(())),
        (route("app.example.com/some/path/"), Ok(())),
        (route("*.example.com"), Ok(())),
        (route("app.example.com/%20x"), Ok(())),
        (route("app.example.com/a:b@c!$&'()*+,;="), Ok(())),
        (
            route("app.example.com/x?y=1"),
            route_invalid("url cannot contain any of [?, #]"),
        ),
        (
            route("app.example.com?"),
            route_invalid("url cannot contain any of [?, #]"),
        ),
        (
            route("app.example.com/x#top"),
            route_invalid("url cannot contain any of [?, #]"),
        ),
        (
            route("app.example.com/a b"),
            route_invalid("url cannot contain invalid characters"),
        ),
        (
            route("app example.com"),
            route_invalid("url cannot contain invalid characters"),
        ),
        (
            route("app.example.com/ü"),
            route_invalid("url cannot contain invalid characters"),
        ),
        (
            route("app.example.com/{id}"),
            route_invalid("url cannot contain invalid characters"),
        ),
        (
            route("foo.com/%zz"),
            route_invalid(r#"parse "foo.com/%zz": invalid URL escape "%zz""#),
        ),
        (
            route("foo.com/%"),
            route_invalid(r#"parse "foo.com/%": invalid URL escape "%""#),
        ),
        (
            route("foo.com/%4"),
            route_invalid(r#"parse "foo.com/%4": invalid URL escape "%4""#),
        ),
        (
            route("foo.com/%g1x"),
            route_invalid(r#"parse "foo.com/%g1x": invalid URL escape "%g1""#),
        ),
        (
            route(":foo.com"),
            route_invalid(r#"parse ":foo.com": missing protocol scheme"#),
        ),
        (
            route("https://my app.com"),
            route_invalid(r#"parse "https://my app.com": invalid character " " in host name"#),
        ),
        (
            route("https://app.example.com:http/x"),
            route_invalid(
                r#"parse "https://app.example.com:http/x": invalid port ":http" after host"#,
            ),
        ),
    ])
    .run();
}

#[test]
fn route_service_url_rules() {
    HttpCreateTest(vec![
        (
            route("app.example.com").with_route_service_url("https://rs.example.com"),
            Ok(()),
        ),
        (
            route("app.example.com").with_route_service_url("https://rs.example.com:8443/p"),
            Ok(()),
        ),
        (
            route("app.example.com").with_route_service_url("http://rs.example.com"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
        (
            route("app.example.com").with_route_service_url("HTTPS://rs.example.com"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
        (
            route("app.example.com").with_route_service_url("rs.example.com"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
        // "Must use HTTPS" is checked before the URL rules.
        (
            route("app.example.com").with_route_service_url("http://rs.example.com/?x"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
        (
            route("app.example.com").with_route_service_url("https://rs.example.com/?x"),
            rsu_invalid("url cannot contain any of [?, #]"),
        ),
        (
            route("app.example.com").with_route_service_url("https://rs.example.com/a b"),
            rsu_invalid("url cannot contain invalid characters"),
        ),
        (
            route("app.example.com").with_route_service_url("https://rs.example.com/%zz"),
            rsu_invalid(r#"parse "https://rs.example.com/%zz": invalid URL escape "%zz""#),
        ),
    ])
    .run();
}

#[test]
fn http_ttl_rules() {
    HttpCreateTest(vec![
        (route("app.example.com").with_ttl(1), Ok(())),
        (route("app.example.com").with_ttl(120), Ok(())),
        (route("app.example.com"), Ok(())),
        (
            route("app.example.com").with_ttl(121),
            route_invalid("Max ttl is 120"),
        ),
        (
            route("app.example.com").with_ttl(100_000),
            route_invalid("Max ttl is 120"),
        ),
        (
            route("app.example.com").with_ttl(0),
            route_invalid("Request requires a ttl greater than 0"),
        ),
        (
            route("app.example.com").with_ttl(-5),
            route_invalid("Request requires a ttl greater than 0"),
        ),
    ])
    .run();
}

#[test]
fn http_ttl_rules_follow_configured_max_ttl() {
    HttpCreateTest(vec![
        (route("app.example.com").with_ttl(60), Ok(())),
        (
            route("app.example.com").with_ttl(61),
            route_invalid("Max ttl is 60"),
        ),
        (route("app.example.com"), Ok(())),
    ])
    .run_with(Config::new().max_ttl(Duration::from_secs(60)));
}

#[test]
fn http_delete_runs_required_rules_but_not_ttl() {
    HttpDeleteTest(vec![
        (route("app.example.com").with_ttl(500), Ok(())),
        (route("app.example.com").with_ttl(0), Ok(())),
        (route("app.example.com").with_ttl(-1), Ok(())),
        (
            HttpRoute::default(),
            route_invalid("Each route request requires a port greater than 0"),
        ),
        (
            HttpRoute::new("", "10.0.0.1", 8080),
            route_invalid("Each route request requires a valid route"),
        ),
        (
            HttpRoute::new("app.example.com", "", 8080).with_ttl(500),
            route_invalid("Each route request requires an IP"),
        ),
        (
            route("foo.com/%zz"),
            route_invalid(r#"parse "foo.com/%zz": invalid URL escape "%zz""#),
        ),
        (
            route("app.example.com").with_route_service_url("http://rs.example.com"),
            rsu_invalid("Route service url must use HTTPS."),
        ),
    ])
    .run();
}

#[test]
fn http_delete_ignores_ttl_of_the_request() {
    let (registry, _) = registry();
    let seed = route("app.example.com").with_ttl(30);
    registry.upsert_http_routes(vec![seed]).unwrap();
    registry
        .delete_http_routes(&[route("app.example.com").with_ttl(500)])
        .unwrap();
    assert!(registry.http_routes().is_empty());
    assert_eq!(registry.revision(), 2);
}

#[test]
fn http_batch_reports_first_invalid_route_in_order() {
    let (registry, _) = registry();
    // The first route fails its TTL rule; the second would fail the port rule.
    let err = registry
        .upsert_http_routes(vec![
            route("a.example.com").with_ttl(500),
            HttpRoute::new("b.example.com", "10.0.0.1", 0),
        ])
        .unwrap_err();
    assert_eq!(err.message(), "Max ttl is 120");
}

// ---------------------------------------------------------------------------
// TCP route mappings
// ---------------------------------------------------------------------------

/// Builder-style setters for table rows.
trait TcpRow: Sized {
    fn guid(self, guid: &str) -> Self;
    fn tls_port(self, port: i64) -> Self;
    fn ttl(self, ttl: i64) -> Self;
    fn alpns(self, alpns: &str) -> Self;
    fn terminate(self, on: bool) -> Self;
    fn sni(self, host: &str) -> Self;
}

impl TcpRow for TcpRouteMapping {
    fn guid(mut self, guid: &str) -> Self {
        self.router_group_guid = guid.into();
        self
    }
    fn tls_port(mut self, port: i64) -> Self {
        self.backend_tls_port = port;
        self
    }
    fn ttl(self, ttl: i64) -> Self {
        self.with_ttl(ttl)
    }
    fn alpns(mut self, alpns: &str) -> Self {
        self.alpns = alpns.into();
        self
    }
    fn terminate(mut self, on: bool) -> Self {
        self.terminate_frontend_tls = on;
        self
    }
    fn sni(mut self, host: &str) -> Self {
        self.backend_sni_hostname = Some(host.into());
        self
    }
}

/// A mapping into the test's router group (`{g}` is replaced by its guid).
fn mapping(port: u16, backend_ip: &str, backend_port: u16) -> TcpRouteMapping {
    TcpRouteMapping::new("{g}", port, backend_ip, backend_port)
}

fn base() -> TcpRouteMapping {
    mapping(5200, "10.1.1.12", 60000)
}

fn resolve(mut m: TcpRouteMapping, guid: &str) -> TcpRouteMapping {
    m.router_group_guid = m.router_group_guid.replace("{g}", guid).into();
    m
}

/// Rows are upserted one at a time into a fresh registry with one tcp group
/// (`tcp-a`, ports 1024-1100).
struct TcpCreateTest(Vec<(TcpRouteMapping, Expected)>);

impl TcpCreateTest {
    fn run(self) {
        for (input, want) in self.0 {
            let (registry, _) = registry();
            let guid = tcp_group(&registry, "tcp-a", "1024-1100");
            let mut events = registry.subscribe(Filter::all(), None).unwrap();
            let input = resolve(input, &guid);
            let got = registry.upsert_tcp_route_mappings(vec![input.clone()]);
            check(&got, &want, &guid, &input);
            let listed = registry.tcp_route_mappings();
            if want.is_ok() {
                assert_eq!(listed.len(), 1, "row {input:?}");
            } else {
                assert!(listed.is_empty(), "row {input:?}: {listed:?}");
                assert_eq!(registry.revision(), 1, "row {input:?}");
                assert_no_events(&mut events);
            }
        }
    }
}

/// Rows are deleted from a registry holding one mapping (`base()`).
struct TcpDeleteTest(Vec<(TcpRouteMapping, Expected)>);

impl TcpDeleteTest {
    fn run(self) {
        for (input, want) in self.0 {
            let (registry, _) = registry();
            let guid = tcp_group(&registry, "tcp-a", "1024-1100");
            registry
                .upsert_tcp_route_mappings(vec![resolve(base(), &guid)])
                .unwrap();
            let input = resolve(input, &guid);
            let got = registry.delete_tcp_route_mappings(std::slice::from_ref(&input));
            check(&got, &want, &guid, &input);
            if want.is_err() {
                assert_eq!(registry.tcp_route_mappings().len(), 1, "row {input:?}");
                assert_eq!(registry.revision(), 2, "row {input:?}");
            }
        }
    }
}

#[test]
fn tcp_rules_in_cf_order() {
    TcpCreateTest(vec![
        (base(), Ok(())),
        // 1. Router group guid.
        (
            base().guid(""),
            tcp_invalid(
                "Each tcp mapping requires a non empty router group guid. RouteMapping=[:5200<->10.1.1.12:60000]",
            ),
        ),
        (
            TcpRouteMapping::new("", 0, "", 0),
            tcp_invalid(
                "Each tcp mapping requires a non empty router group guid. RouteMapping=[:0<->:0]",
            ),
        ),
        // 2. External port.
        (
            mapping(0, "10.1.1.12", 60000),
            tcp_invalid(
                "Each tcp mapping requires a positive external port. RouteMapping=[{g}:0<->10.1.1.12:60000]",
            ),
        ),
        (
            mapping(0, "", 0),
            tcp_invalid(
                "Each tcp mapping requires a positive external port. RouteMapping=[{g}:0<->:0]",
            ),
        ),
        // 3. Backend IP.
        (
            mapping(5200, "", 60000),
            tcp_invalid(
                "Each tcp mapping requires a non empty backend ip. RouteMapping=[{g}:5200<->:60000]",
            ),
        ),
        (
            mapping(5200, "", 0).ttl(0),
            tcp_invalid(
                "Each tcp mapping requires a non empty backend ip. RouteMapping=[{g}:5200<->:0]",
            ),
        ),
        // 4. Backend port: either port satisfies it.
        (
            mapping(5200, "10.1.1.12", 0),
            tcp_invalid(
                "Each tcp mapping requires a positive backend port. RouteMapping=[{g}:5200<->10.1.1.12:0]",
            ),
        ),
        (
            mapping(5200, "10.1.1.12", 0).tls_port(-1),
            tcp_invalid(
                "Each tcp mapping requires a positive backend port. RouteMapping=[{g}:5200<->10.1.1.12:0]",
            ),
        ),
        (mapping(5200, "10.1.1.12", 0).tls_port(60001), Ok(())),
        (mapping(5200, "10.1.1.12", 0).tls_port(65535), Ok(())),
        // 5. Backend TLS port bound (a positive TLS port alone passes rule 4).
        (
            mapping(5200, "10.1.1.12", 0).tls_port(65536),
            tcp_invalid(
                "Each tcp mapping with a backend TLS port requires that port to be less than or equal to 65535. RouteMapping=[{g}:5200<->10.1.1.12:0]",
            ),
        ),
        (
            base().tls_port(70000).ttl(500),
            tcp_invalid(
                "Each tcp mapping with a backend TLS port requires that port to be less than or equal to 65535. RouteMapping=[{g}:5200<->10.1.1.12:60000]",
            ),
        ),
        // 6, 7. TTL.
        (base().ttl(120), Ok(())),
        (base().ttl(1), Ok(())),
        (
            base().ttl(121),
            tcp_invalid(
                "Each tcp mapping requires TTL to be less than or equal to 120. RouteMapping=[{g}:5200<->10.1.1.12:60000]",
            ),
        ),
        (
            base().ttl(0),
            tcp_invalid("Each tcp route mapping requires a ttl greater than 0"),
        ),
        (
            base().ttl(-3),
            tcp_invalid("Each tcp route mapping requires a ttl greater than 0"),
        ),
        // 8. ALPNs, after the TTL rules.
        (
            base().alpns("h2,http/1.1"),
            tcp_invalid(
                "Each tcp mapping can define ALPNs only when TerminateFrontendTLS is enabled. RouteMapping=[{g}:5200<->10.1.1.12:60000]",
            ),
        ),
        (
            base().alpns("h2").ttl(0),
            tcp_invalid("Each tcp route mapping requires a ttl greater than 0"),
        ),
        (base().alpns("h2,http/1.1").terminate(true), Ok(())),
        (base().terminate(true), Ok(())),
        // Then the router group must exist (its type is not checked).
        (
            base().guid("no-such-group"),
            tcp_invalid("router_group_guid: no-such-group not found"),
        ),
        // The static rules run before the router group check.
        (
            base().guid("no-such-group").ttl(500),
            tcp_invalid(
                "Each tcp mapping requires TTL to be less than or equal to 120. RouteMapping=[no-such-group:5200<->10.1.1.12:60000]",
            ),
        ),
        // The external port is not checked against the group's reservable ports.
        (mapping(65535, "10.1.1.12", 60000), Ok(())),
        (mapping(80, "10.1.1.12", 60000), Ok(())),
    ])
    .run();
}

#[test]
fn tcp_ttl_message_follows_configured_max_ttl() {
    let (registry, _) = registry_with(Config::new().max_ttl(Duration::from_secs(30)));
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let err = registry
        .upsert_tcp_route_mappings(vec![resolve(base().ttl(31), &guid)])
        .unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "Each tcp mapping requires TTL to be less than or equal to 30. RouteMapping=[{guid}:5200<->10.1.1.12:60000]"
        )
    );
    registry
        .upsert_tcp_route_mappings(vec![resolve(base().ttl(30), &guid)])
        .unwrap();
}

#[test]
fn tcp_router_group_of_any_type_is_accepted() {
    let (registry, _) = registry();
    let (http, _) = registry
        .create_router_group(RouterGroup::new("default-http", "http", ""))
        .unwrap();
    registry
        .upsert_tcp_route_mappings(vec![resolve(base(), &http.guid)])
        .unwrap();
    assert_eq!(registry.tcp_route_mappings().len(), 1);
}

#[test]
fn tcp_delete_skips_ttl_and_router_group_checks() {
    TcpDeleteTest(vec![
        (base(), Ok(())),
        (base().ttl(500), Ok(())),
        (base().ttl(0), Ok(())),
        (base().guid("no-such-group"), Ok(())),
        (
            base().guid(""),
            tcp_invalid(
                "Each tcp mapping requires a non empty router group guid. RouteMapping=[:5200<->10.1.1.12:60000]",
            ),
        ),
        (
            mapping(0, "10.1.1.12", 60000).ttl(500),
            tcp_invalid(
                "Each tcp mapping requires a positive external port. RouteMapping=[{g}:0<->10.1.1.12:60000]",
            ),
        ),
        (
            mapping(5200, "", 60000),
            tcp_invalid(
                "Each tcp mapping requires a non empty backend ip. RouteMapping=[{g}:5200<->:60000]",
            ),
        ),
        (
            mapping(5200, "10.1.1.12", 0),
            tcp_invalid(
                "Each tcp mapping requires a positive backend port. RouteMapping=[{g}:5200<->10.1.1.12:0]",
            ),
        ),
        (
            base().tls_port(65536),
            tcp_invalid(
                "Each tcp mapping with a backend TLS port requires that port to be less than or equal to 65535. RouteMapping=[{g}:5200<->10.1.1.12:60000]",
            ),
        ),
        (
            base().alpns("h2").ttl(0),
            tcp_invalid(
                "Each tcp mapping can define ALPNs only when TerminateFrontendTLS is enabled. RouteMapping=[{g}:5200<->10.1.1.12:60000]",
            ),
        ),
    ])
    .run();
}

#[test]
fn tcp_delete_with_ttl_removes_the_mapping() {
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    registry
        .upsert_tcp_route_mappings(vec![resolve(base().ttl(30), &guid)])
        .unwrap();
    registry
        .delete_tcp_route_mappings(&[resolve(base().ttl(500), &guid)])
        .unwrap();
    assert!(registry.tcp_route_mappings().is_empty());
}

#[test]
fn tcp_batch_reports_first_failing_mapping_in_order() {
    // CF validates each mapping in full (its rules, then its router group) before
    // the next one, so the first mapping's missing group is what is reported.
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let err = registry
        .upsert_tcp_route_mappings(vec![
            resolve(base().guid("no-such-group"), &guid),
            resolve(mapping(0, "10.1.1.12", 60000), &guid),
        ])
        .unwrap_err();
    assert_eq!(err.message(), "router_group_guid: no-such-group not found");
}

#[test]
fn tcp_batch_static_rules_report_first_mapping_in_order() {
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let err = registry
        .upsert_tcp_route_mappings(vec![
            resolve(base().ttl(500), &guid),
            resolve(base().guid(""), &guid),
        ])
        .unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "Each tcp mapping requires TTL to be less than or equal to 120. RouteMapping=[{guid}:5200<->10.1.1.12:60000]"
        )
    );
}

/// Rows are upserted into a registry holding one live mapping with SNI host
/// `a.example.com` on external port 5300 whose `terminate_frontend_tls` is the
/// table's `existing` value. `{g}` is group `tcp-a`; `{h}` is a second group.
struct TlsConsistencyTest {
    existing: bool,
    rows: Vec<(TcpRouteMapping, Expected)>,
}

impl TlsConsistencyTest {
    fn run(self) {
        for (input, want) in self.rows {
            let (registry, _) = registry();
            let guid = tcp_group(&registry, "tcp-a", "1024-1100");
            let other = tcp_group(&registry, "tcp-b", "2000-2100");
            let live = mapping(5300, "10.0.0.1", 6000)
                .sni("a.example.com")
                .terminate(self.existing);
            registry
                .upsert_tcp_route_mappings(vec![resolve(live, &guid)])
                .unwrap();
            let mut input = resolve(input, &guid);
            input.router_group_guid = input.router_group_guid.replace("{h}", &other).into();
            let got = registry.upsert_tcp_route_mappings(vec![input.clone()]);
            check(&got, &want, &guid, &input);
            let expected_count = if want.is_ok() { 2 } else { 1 };
            assert_eq!(
                registry.tcp_route_mappings().len(),
                expected_count,
                "row {input:?}"
            );
        }
    }
}

#[test]
fn terminate_frontend_tls_must_agree_per_sni_and_port() {
    TlsConsistencyTest {
        existing: false,
        rows: vec![
            (
                mapping(5300, "10.0.0.2", 6000)
                    .sni("a.example.com")
                    .terminate(true),
                tcp_invalid("terminate_frontend_tls: true not allowed"),
            ),
            (
                mapping(5300, "10.0.0.2", 6000)
                    .sni("a.example.com")
                    .terminate(true)
                    .alpns("h2"),
                tcp_invalid("terminate_frontend_tls: true not allowed"),
            ),
            // The rule is not scoped to the router group.
            (
                TcpRouteMapping::new("{h}", 5300, "10.0.0.2", 6000)
                    .sni("a.example.com")
                    .terminate(true),
                tcp_invalid("terminate_frontend_tls: true not allowed"),
            ),
            (mapping(5300, "10.0.0.2", 6000).sni("a.example.com"), Ok(())),
            (
                mapping(5301, "10.0.0.2", 6000)
                    .sni("a.example.com")
                    .terminate(true),
                Ok(()),
            ),
            (
                mapping(5300, "10.0.0.2", 6000)
                    .sni("b.example.com")
                    .terminate(true),
                Ok(()),
            ),
            // Without an SNI host name the rule never applies.
            (mapping(5300, "10.0.0.2", 6000).terminate(true), Ok(())),
        ],
    }
    .run();
    TlsConsistencyTest {
        existing: true,
        rows: vec![
            (
                mapping(5300, "10.0.0.2", 6000).sni("a.example.com"),
                tcp_invalid("terminate_frontend_tls: false not allowed"),
            ),
            (
                mapping(5300, "10.0.0.2", 6000)
                    .sni("a.example.com")
                    .terminate(true),
                Ok(()),
            ),
        ],
    }
    .run();
}

#[test]
fn terminate_frontend_tls_rule_ignores_lapsed_mappings() {
    let (registry, clock) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let old = mapping(5300, "10.0.0.1", 6000).sni("a.example.com").ttl(10);
    registry
        .upsert_tcp_route_mappings(vec![resolve(old, &guid)])
        .unwrap();
    let new = resolve(
        mapping(5300, "10.0.0.2", 6000)
            .sni("a.example.com")
            .terminate(true),
        &guid,
    );
    let err = registry
        .upsert_tcp_route_mappings(vec![new.clone()])
        .unwrap_err();
    assert_eq!(err.message(), "terminate_frontend_tls: true not allowed");
    clock.advance(Duration::from_secs(10));
    registry.upsert_tcp_route_mappings(vec![new]).unwrap();
    let listed = registry.tcp_route_mappings();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].terminate_frontend_tls);
}

// ---------------------------------------------------------------------------
// Router groups
// ---------------------------------------------------------------------------

/// Rows are created in a fresh registry (with the table's reserved ports).
struct RouterGroupTest {
    reserved: Vec<u16>,
    rows: Vec<(RouterGroup, Expected)>,
}

impl RouterGroupTest {
    fn new(rows: Vec<(RouterGroup, Expected)>) -> Self {
        RouterGroupTest {
            reserved: Vec::new(),
            rows,
        }
    }

    fn run(self) {
        for (input, want) in self.rows {
            let (registry, _) = registry_with(Config::new().reserved_ports(self.reserved.clone()));
            let got = registry.create_router_group(input.clone());
            check(&got, &want, "", &input);
            match got {
                Ok((group, created)) => {
                    assert!(created, "row {input:?}");
                    assert_eq!(registry.router_groups(), vec![group], "row {input:?}");
                }
                Err(_) => {
                    assert!(registry.router_groups().is_empty(), "row {input:?}");
                    assert_eq!(registry.revision(), 0, "row {input:?}");
                }
            }
        }
    }
}

fn tcp(ports: &str) -> RouterGroup {
    RouterGroup::new("tcp-1", "tcp", ports)
}

const INVALID_PORT: &str = "port must be between 1024 and 65535";

#[test]
fn router_group_name_type_and_port_presence() {
    RouterGroupTest::new(vec![
        (
            RouterGroup::new("", "tcp", "1024"),
            group_invalid("missing name in router group"),
        ),
        (
            RouterGroup::new("", "", ""),
            group_invalid("missing name in router group"),
        ),
        (
            RouterGroup::new("g", "", "1024"),
            group_invalid("missing type in router group"),
        ),
        (
            RouterGroup::new("g", "", ""),
            group_invalid("missing type in router group"),
        ),
        (
            RouterGroup::new("tcp-one", "tcp", ""),
            group_invalid("missing reservable_ports in router group: tcp-one"),
        ),
        (RouterGroup::new("default-http", "http", ""), Ok(())),
        (
            RouterGroup::new("default-http", "http", "1024"),
            group_invalid("reservable ports are not supported for router groups of type http"),
        ),
        // The http rule comes before the ports are parsed.
        (
            RouterGroup::new("default-http", "http", "not-ports"),
            group_invalid("reservable ports are not supported for router groups of type http"),
        ),
        // Any other type string is accepted, with or without ports.
        (RouterGroup::new("odd", "foo", ""), Ok(())),
        (RouterGroup::new("odd", "foo", "1024-2000"), Ok(())),
        (
            RouterGroup::new("odd", "foo", "bogus"),
            group_invalid(INVALID_PORT),
        ),
        // Type names are case-sensitive: "TCP" is not "tcp".
        (RouterGroup::new("upper", "TCP", ""), Ok(())),
    ])
    .run();
}

#[test]
fn reservable_ports_messages() {
    RouterGroupTest::new(vec![
        (tcp("1024"), Ok(())),
        (tcp("65535"), Ok(())),
        (tcp("1024-65535"), Ok(())),
        (tcp("1024-1024"), Ok(())),
        (tcp("6001-6010,6020-6022,6045,6050-6060"), Ok(())),
        (tcp("7000,6000-6005"), Ok(())),
        // Whitespace is not trimmed.
        (tcp("1024, 2000"), group_invalid(INVALID_PORT)),
        (tcp(" 1024"), group_invalid(INVALID_PORT)),
        (tcp("1024 "), group_invalid(INVALID_PORT)),
        (tcp("1024,"), group_invalid(INVALID_PORT)),
        (tcp(","), group_invalid(INVALID_PORT)),
        (tcp("abc"), group_invalid(INVALID_PORT)),
        (tcp("+1024"), group_invalid(INVALID_PORT)),
        // Bounds.
        (tcp("1023"), group_invalid(INVALID_PORT)),
        (tcp("0"), group_invalid(INVALID_PORT)),
        (tcp("65536"), group_invalid(INVALID_PORT)),
        (tcp("80-1030"), group_invalid(INVALID_PORT)),
        (tcp("1000-1023"), group_invalid(INVALID_PORT)),
        // Range parts.
        (
            tcp("-9999"),
            group_invalid("range (-9999) requires a starting port"),
        ),
        (
            tcp("abc-2000"),
            group_invalid("range (abc-2000) requires a starting port"),
        ),
        (
            tcp("70000-80000"),
            group_invalid("range (70000-80000) requires a starting port"),
        ),
        (
            tcp("1030-"),
            group_invalid("range (1030-) requires an ending port"),
        ),
        (
            tcp("1024-70000"),
            group_invalid("range (1024-70000) requires an ending port"),
        ),
        (
            tcp("1024-1100,2000-x"),
            group_invalid("range (2000-x) requires an ending port"),
        ),
        (
            tcp("2000-1500"),
            group_invalid("range (2000-1500) must be in ascending numeric order"),
        ),
        // Order is checked before bounds.
        (
            tcp("1000-900"),
            group_invalid("range (1000-900) must be in ascending numeric order"),
        ),
        (
            tcp("1024-2000-3000"),
            group_invalid("range (1024-2000-3000) has too many '-' separators"),
        ),
        (
            tcp("1024--2000"),
            group_invalid("range (1024--2000) has too many '-' separators"),
        ),
        // The first bad item is reported.
        (tcp("1024-1100,5,2000-1000"), group_invalid(INVALID_PORT)),
    ])
    .run();
}

#[test]
fn reservable_ports_overlaps() {
    RouterGroupTest::new(vec![
        (
            tcp("6010-6020,6015-6030"),
            group_invalid("Overlapping values: [6010-6020] and [6015-6030]"),
        ),
        (
            tcp("1024,1024"),
            group_invalid("Overlapping values: 1024 and 1024"),
        ),
        (
            tcp("2000-3000,2000-3000"),
            group_invalid("Overlapping values: [2000-3000] and [2000-3000]"),
        ),
        // Ends are inclusive.
        (
            tcp("6010-6020,6020"),
            group_invalid("Overlapping values: [6010-6020] and 6020"),
        ),
        (
            tcp("6020,6010-6020"),
            group_invalid("Overlapping values: 6020 and [6010-6020]"),
        ),
        // CF compares every pair in order: the first item with any overlap is
        // named first, with its first partner.
        (
            tcp("3000,1500-2500,2500"),
            group_invalid("Overlapping values: [1500-2500] and 2500"),
        ),
        (
            tcp("5000,6010-6020,7000-8000,6015,5000"),
            group_invalid("Overlapping values: 5000 and 5000"),
        ),
        (
            tcp("7000-8000,1024,7500,1024"),
            group_invalid("Overlapping values: [7000-8000] and 7500"),
        ),
        // Adjacent ranges are fine.
        (tcp("6010-6020,6021-6030"), Ok(())),
        (tcp("6021-6030,6010-6020,6031"), Ok(())),
    ])
    .run();
}

#[test]
fn reserved_system_component_ports() {
    let message = "Invalid ports. Reservable ports must not include the following reserved system component ports: [2822 2825 8080].";
    RouterGroupTest {
        reserved: vec![2822, 2825, 8080],
        rows: vec![
            (tcp("2000-3000"), group_invalid(message)),
            (tcp("2822"), group_invalid(message)),
            (tcp("1024-1100,8080"), group_invalid(message)),
            (tcp("2823-2824"), Ok(())),
            (tcp("3000-4000"), Ok(())),
            // Parsing and overlaps come first.
            (tcp("2822, 3000"), group_invalid(INVALID_PORT)),
            (
                tcp("2000-3000,2500"),
                group_invalid("Overlapping values: [2000-3000] and 2500"),
            ),
            // Groups without ports are not affected.
            (RouterGroup::new("default-http", "http", ""), Ok(())),
        ],
    }
    .run();
    // Without reserved ports configured, the same ranges are fine.
    RouterGroupTest::new(vec![(tcp("2000-3000"), Ok(()))]).run();
}

/// Rows update the reservable ports of a group created as `(type, ports)`.
struct RouterGroupUpdateTest(Vec<((&'static str, &'static str, &'static str), Expected)>);

impl RouterGroupUpdateTest {
    fn run(self) {
        for ((group_type, ports, update), want) in self.0 {
            let (registry, _) = registry();
            let (group, _) = registry
                .create_router_group(RouterGroup::new("group-1", group_type, ports))
                .unwrap();
            let got = registry.update_router_group(&group.guid, update);
            check(&got, &want, "", &(group_type, ports, update));
            let stored = registry.router_group(&group.guid).unwrap();
            if want.is_ok() {
                assert_eq!(&*stored.reservable_ports, update);
            } else {
                assert_eq!(stored, group);
                assert_eq!(registry.revision(), 1);
            }
        }
    }
}

#[test]
fn router_group_update_is_validated_against_the_existing_type() {
    RouterGroupUpdateTest(vec![
        (("tcp", "1024-1100", "2000-2100"), Ok(())),
        (
            ("tcp", "1024-1100", ""),
            group_invalid("missing reservable_ports in router group: group-1"),
        ),
        (
            ("tcp", "1024-1100", "1024, 2000"),
            group_invalid(INVALID_PORT),
        ),
        (
            ("tcp", "1024-1100", "2000-3000,2500"),
            group_invalid("Overlapping values: [2000-3000] and 2500"),
        ),
        (
            ("http", "", "1024-1100"),
            group_invalid("reservable ports are not supported for router groups of type http"),
        ),
        (("foo", "", "1024-1100"), Ok(())),
        (("foo", "1024-1100", ""), Ok(())),
    ])
    .run();
}

// ---------------------------------------------------------------------------
// Wire mapping of errors
// ---------------------------------------------------------------------------

struct WireTest(Vec<(Error, WireError)>);

impl WireTest {
    fn run(self) {
        for (err, want) in self.0 {
            assert_eq!(WireError::from(&err), want, "error {err:?}");
        }
    }
}

fn wire(status: u16, name: &'static str, message: &str) -> WireError {
    WireError {
        status,
        name,
        message: message.to_string(),
    }
}

#[test]
fn errors_on_the_wire() {
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let http_ttl = registry
        .upsert_http_routes(vec![route("a.example.com").with_ttl(121)])
        .unwrap_err();
    let http_rsu = registry
        .upsert_http_routes(vec![
            route("a.example.com").with_route_service_url("http://rs.example.com")
        ])
        .unwrap_err();
    let tcp_rule = registry
        .upsert_tcp_route_mappings(vec![resolve(mapping(0, "10.1.1.12", 60000), &guid)])
        .unwrap_err();
    let tcp_ttl = registry
        .upsert_tcp_route_mappings(vec![resolve(base().ttl(0), &guid)])
        .unwrap_err();
    let tcp_group_missing = registry
        .upsert_tcp_route_mappings(vec![base().guid("no-such-group")])
        .unwrap_err();
    let group_ports = registry.create_router_group(tcp("1024, 2000")).unwrap_err();
    let group_unknown = registry
        .update_router_group("no-such-guid", "1024")
        .unwrap_err();
    let group_by_name = registry.router_group_by_name("nope").unwrap_err();
    let conflict = registry
        .create_router_group(RouterGroup::new("tcp-a", "http", ""))
        .unwrap_err();
    let conflict_message = conflict.message().to_string();
    WireTest(vec![
        (http_ttl, wire(400, "RouteInvalidError", "Max ttl is 120")),
        (
            http_rsu,
            wire(
                400,
                "RouteServiceUrlInvalidError",
                "Route service url must use HTTPS.",
            ),
        ),
        // TCP mapping and router group failures travel as ProcessRequestError.
        (
            tcp_rule,
            wire(
                400,
                "ProcessRequestError",
                &format!(
                    "Cannot process request: Each tcp mapping requires a positive external port. RouteMapping=[{guid}:0<->10.1.1.12:60000]"
                ),
            ),
        ),
        (
            tcp_ttl,
            wire(
                400,
                "ProcessRequestError",
                "Cannot process request: Each tcp route mapping requires a ttl greater than 0",
            ),
        ),
        (
            tcp_group_missing,
            wire(
                400,
                "ProcessRequestError",
                "Cannot process request: router_group_guid: no-such-group not found",
            ),
        ),
        (
            group_ports,
            wire(
                400,
                "ProcessRequestError",
                "Cannot process request: port must be between 1024 and 65535",
            ),
        ),
        (
            group_unknown,
            wire(
                404,
                "ResourceNotFoundError",
                "router group 'no-such-guid' does not exist",
            ),
        ),
        (
            group_by_name,
            wire(404, "ResourceNotFoundError", "router group 'nope' not found"),
        ),
        (conflict, wire(409, "DBConflictError", &conflict_message)),
    ])
    .run();
}

// ---------------------------------------------------------------------------
// Batches: one invalid item anywhere applies nothing
// ---------------------------------------------------------------------------

/// Rows are HTTP batches given to a registry holding `seed.example.com`; each
/// must fail and leave the registry as it was.
struct HttpBatchTest(Vec<(Vec<HttpRoute>, Expected)>);

impl HttpBatchTest {
    fn run(self) {
        for (batch, want) in self.0 {
            let (registry, _) = registry();
            let seed = HttpRoute::new("seed.example.com", "10.0.0.9", 9000).with_ttl(60);
            registry.upsert_http_routes(vec![seed]).unwrap();
            let before = registry.snapshot();
            let listed = registry.http_routes();
            let mut events = registry.subscribe(Filter::all(), None).unwrap();
            let got = registry.upsert_http_routes(batch.clone());
            check(&got, &want, "", &batch);
            assert_eq!(registry.revision(), 1, "batch {batch:?}");
            assert_eq!(registry.http_routes(), listed, "batch {batch:?}");
            assert_eq!(registry.snapshot(), before, "batch {batch:?}");
            assert_no_events(&mut events);
        }
    }
}

#[test]
fn http_batch_with_one_invalid_route_applies_nothing() {
    let renew_seed = HttpRoute::new("seed.example.com", "10.0.0.9", 9000).with_ttl(120);
    HttpBatchTest(vec![
        (
            vec![
                route("a.example.com"),
                route("b.example.com"),
                route("c.example.com").with_ttl(0),
            ],
            route_invalid("Request requires a ttl greater than 0"),
        ),
        (
            vec![route("a.example.com?x"), route("b.example.com")],
            route_invalid("url cannot contain any of [?, #]"),
        ),
        (
            vec![
                renew_seed,
                route("b.example.com"),
                HttpRoute::new("c.example.com", "", 8080),
            ],
            route_invalid("Each route request requires an IP"),
        ),
    ])
    .run();
}

#[test]
fn http_delete_batch_with_one_invalid_route_deletes_nothing() {
    let (registry, _) = registry();
    let seed = HttpRoute::new("seed.example.com", "10.0.0.9", 9000);
    registry.upsert_http_routes(vec![seed.clone()]).unwrap();
    let err = registry
        .delete_http_routes(&[seed, HttpRoute::new("x.example.com", "10.0.0.1", 0)])
        .unwrap_err();
    assert_eq!(
        err.message(),
        "Each route request requires a port greater than 0"
    );
    assert_eq!(registry.http_routes().len(), 1);
    assert_eq!(registry.revision(), 1);
}

#[test]
fn tcp_batch_with_one_invalid_mapping_applies_nothing() {
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let reservation = registry.reserve_port(&guid, None).unwrap();
    assert_eq!(reservation.port, 1024);
    registry
        .upsert_tcp_route_mappings(vec![resolve(mapping(1050, "10.0.0.1", 6000), &guid)])
        .unwrap();
    let before = registry.snapshot();
    let mut events = registry.subscribe(Filter::all(), None).unwrap();
    let batches = vec![
        // Fails a static rule at the end.
        vec![
            resolve(mapping(1024, "10.0.0.2", 6000), &guid),
            resolve(mapping(1050, "10.0.0.1", 6000), &guid),
            resolve(mapping(1060, "10.0.0.3", 0), &guid),
        ],
        // Fails the router group check at the end, after a mapping that would
        // claim the reservation of port 1024 and one that would renew.
        vec![
            resolve(mapping(1024, "10.0.0.2", 6000), &guid),
            resolve(mapping(1050, "10.0.0.1", 6000).ttl(60), &guid),
            mapping(1060, "10.0.0.3", 6000).guid("no-such-group"),
        ],
    ];
    for batch in batches {
        registry
            .upsert_tcp_route_mappings(batch.clone())
            .expect_err("batch must fail");
        assert_eq!(registry.snapshot(), before, "batch {batch:?}");
        assert_eq!(registry.port_reservations().len(), 1);
        assert_eq!(registry.tcp_route_mappings().len(), 1);
        assert_no_events(&mut events);
    }
    // The reservation is intact: the next free port is still 1025.
    assert_eq!(registry.reserve_port(&guid, None).unwrap().port, 1025);
}

#[test]
fn tcp_delete_batch_with_one_invalid_mapping_deletes_nothing() {
    let (registry, _) = registry();
    let guid = tcp_group(&registry, "tcp-a", "1024-1100");
    let live = resolve(base(), &guid);
    registry
        .upsert_tcp_route_mappings(vec![live.clone()])
        .unwrap();
    registry
        .delete_tcp_route_mappings(&[live, resolve(base().alpns("h2"), &guid)])
        .unwrap_err();
    assert_eq!(registry.tcp_route_mappings().len(), 1);
    assert_eq!(registry.revision(), 2);
}
