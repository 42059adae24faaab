//! CF JSON: decoding request bodies and the shapes of encoded routes, mappings,
//! router groups and errors.

use routeyard::dialect::cf::{
    decode_http_routes, decode_router_group, decode_tcp_route_mappings, encode, WireError,
};
use routeyard::{
    Config, Error, ErrorKind, HttpRoute, ManualClock, ModificationTag, Registry, RouterGroup,
    TcpRouteMapping, Timestamp,
};
use serde_json::{json, Value};

fn registry() -> Registry {
    Registry::new(Config::new().clock(ManualClock::new(Timestamp::from_secs(1_000_000))))
}

fn tcp_group(registry: &Registry) -> String {
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    group.guid.to_string()
}

/// A decoding failure must be a `ProcessRequestError` that travels as a 400 with
/// CF's prefix.
fn assert_process_request(err: &Error, body: &str) {
    assert_eq!(err.kind(), ErrorKind::ProcessRequest, "body {body}");
    assert_eq!(err.cf_name(), "ProcessRequestError", "body {body}");
    assert!(!err.message().is_empty(), "body {body}");
    let wire = WireError::from(err);
    assert_eq!(wire.status, 400, "body {body}");
    assert_eq!(wire.name, "ProcessRequestError", "body {body}");
    assert_eq!(
        wire.message,
        format!("Cannot process request: {}", err.message()),
        "body {body}"
    );
}

fn tag(guid: &str, index: u32) -> ModificationTag {
    ModificationTag {
        guid: guid.into(),
        index,
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Rows are request bodies and the routes they decode to (`Err(())`: a
/// `ProcessRequestError`).
struct DecodeHttpTest(Vec<(&'static str, Result<Vec<HttpRoute>, ()>)>);

impl DecodeHttpTest {
    fn run(self) {
        for (body, want) in self.0 {
            match (decode_http_routes(body.as_bytes()), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "body {body}"),
                (Err(err), Err(())) => assert_process_request(&err, body),
                (got, want) => panic!("body {body}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn decode_http_route_arrays() {
    let full = HttpRoute {
        route: "app.example.com/path".into(),
        port: 8080,
        ip: "10.0.0.1".into(),
        ttl: Some(30),
        log_guid: "log-1".into(),
        route_service_url: "https://rs.example.com".into(),
        modification_tag: tag("abc", 3),
        ..HttpRoute::default()
    };
    DecodeHttpTest(vec![
        ("[]", Ok(vec![])),
        (
            r#"[{"route":"app.example.com/path","port":8080,"ip":"10.0.0.1","ttl":30,
                "log_guid":"log-1","route_service_url":"https://rs.example.com",
                "modification_tag":{"guid":"abc","index":3}}]"#,
            Ok(vec![full]),
        ),
        (
            r#"[{"route":"a.example.com","port":80,"ip":"10.0.0.1"},
                {"route":"b.example.com","port":81,"ip":"10.0.0.2","ttl":5}]"#,
            Ok(vec![
                HttpRoute::new("a.example.com", "10.0.0.1", 80),
                HttpRoute::new("b.example.com", "10.0.0.2", 81).with_ttl(5),
            ]),
        ),
        // Missing fields decode as zero values (the port check happens later).
        (r#"[{}]"#, Ok(vec![HttpRoute::default()])),
        (
            r#"[{"route":"a.example.com","ip":"10.0.0.1"}]"#,
            Ok(vec![HttpRoute::new("a.example.com", "10.0.0.1", 0)]),
        ),
        // JSON null leaves a field at its zero value.
        (
            r#"[{"route":null,"port":null,"ip":null,"ttl":null,"log_guid":null,
                "route_service_url":null,"modification_tag":null}]"#,
            Ok(vec![HttpRoute::default()]),
        ),
        (
            r#"[{"route":"a.example.com","port":80,"ip":"10.0.0.1","modification_tag":{"guid":null,"index":null}}]"#,
            Ok(vec![HttpRoute::new("a.example.com", "10.0.0.1", 80)]),
        ),
        // Unknown fields, including server-side ones, are ignored.
        (
            r#"[{"route":"a.example.com","port":80,"ip":"10.0.0.1","guid":"x",
                "expires_at":"2020-01-01T00:00:00Z","extra":{"nested":[1,2]}}]"#,
            Ok(vec![HttpRoute::new("a.example.com", "10.0.0.1", 80)]),
        ),
        (
            r#"[{"route":"a.example.com","port":65535,"ip":"10.0.0.1"}]"#,
            Ok(vec![HttpRoute::new("a.example.com", "10.0.0.1", 65535)]),
        ),
        // A single object where an array is expected.
        (r#"{"route":"a.example.com","port":80,"ip":"10.0.0.1"}"#, Err(())),
        (r#"[{"route":"a.example.com","port":65536,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":65537,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":-1,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":"80","ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":80.5,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":true,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":5,"port":80,"ip":"10.0.0.1"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":80,"ttl":"30"}]"#, Err(())),
        (r#"[{"route":"a.example.com","port":80,"ttl":1.5}]"#, Err(())),
        (r#"[{"modification_tag":{"guid":"a","index":-1}}]"#, Err(())),
        (r#"[{"modification_tag":"abc"}]"#, Err(())),
        ("not json", Err(())),
        ("", Err(())),
        ("[", Err(())),
    ])
    .run();
}

struct DecodeTcpTest(Vec<(&'static str, Result<Vec<TcpRouteMapping>, ()>)>);

impl DecodeTcpTest {
    fn run(self) {
        for (body, want) in self.0 {
            match (decode_tcp_route_mappings(body.as_bytes()), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "body {body}"),
                (Err(err), Err(())) => assert_process_request(&err, body),
                (got, want) => panic!("body {body}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn decode_tcp_route_mapping_arrays() {
    let full = TcpRouteMapping {
        router_group_guid: "rg-1".into(),
        port: 5200,
        backend_port: 60000,
        backend_tls_port: 60001,
        backend_ip: "10.1.1.12".into(),
        backend_sni_hostname: Some("sni.example.com".into()),
        sni_rewrite_hostname: Some("rewrite.example.com".into()),
        instance_id: "instance-1".into(),
        modification_tag: tag("abc", 1),
        ttl: Some(60),
        isolation_segment: "seg-1".into(),
        terminate_frontend_tls: true,
        alpns: "h2,http/1.1".into(),
        enable_backend_mtls: true,
        ..TcpRouteMapping::default()
    };
    let minimal = TcpRouteMapping::new("rg-1", 5200, "10.1.1.12", 60000);
    let with_tls = |port: i64| TcpRouteMapping {
        backend_tls_port: port,
        ..minimal.clone()
    };
    let with_sni = |sni: Option<&str>| TcpRouteMapping {
        backend_sni_hostname: sni.map(Into::into),
        ..minimal.clone()
    };
    DecodeTcpTest(vec![
        ("[]", Ok(vec![])),
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12",
                "backend_port":60000,"backend_tls_port":60001,
                "backend_sni_hostname":"sni.example.com",
                "sni_rewrite_hostname":"rewrite.example.com","instance_id":"instance-1",
                "modification_tag":{"guid":"abc","index":1},"ttl":60,
                "isolation_segment":"seg-1","terminate_frontend_tls":true,
                "alpns":"h2,http/1.1","enable_backend_mtls":true}]"#,
            Ok(vec![full]),
        ),
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000}]"#,
            Ok(vec![minimal.clone()]),
        ),
        // The backend TLS port is a plain int: out-of-range values decode and are
        // left to validation.
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000,"backend_tls_port":70000}]"#,
            Ok(vec![with_tls(70000)]),
        ),
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000,"backend_tls_port":-1}]"#,
            Ok(vec![with_tls(-1)]),
        ),
        // An absent or null SNI host name is not an empty one.
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000,"backend_sni_hostname":null}]"#,
            Ok(vec![with_sni(None)]),
        ),
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000,"backend_sni_hostname":""}]"#,
            Ok(vec![with_sni(Some(""))]),
        ),
        (
            r#"[{"router_group_guid":null,"port":null,"backend_ip":null,"backend_port":null,
                "backend_tls_port":null,"instance_id":null,"ttl":null,"isolation_segment":null,
                "terminate_frontend_tls":null,"alpns":null,"enable_backend_mtls":null,
                "modification_tag":null}]"#,
            Ok(vec![TcpRouteMapping::default()]),
        ),
        (
            r#"[{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000,"host_tls_port":1,"unknown":[true]}]"#,
            Ok(vec![minimal.clone()]),
        ),
        (
            r#"{"router_group_guid":"rg-1","port":5200,"backend_ip":"10.1.1.12","backend_port":60000}"#,
            Err(()),
        ),
        (r#"[{"router_group_guid":"rg-1","port":65536}]"#, Err(())),
        (r#"[{"router_group_guid":"rg-1","port":-1}]"#, Err(())),
        (r#"[{"router_group_guid":"rg-1","port":"5200"}]"#, Err(())),
        (r#"[{"backend_port":65536}]"#, Err(())),
        (r#"[{"backend_port":-1}]"#, Err(())),
        (r#"[{"backend_tls_port":"60001"}]"#, Err(())),
        (r#"[{"terminate_frontend_tls":"true"}]"#, Err(())),
        (r#"[{"enable_backend_mtls":1}]"#, Err(())),
        (r#"[{"alpns":["h2"]}]"#, Err(())),
        (r#"[{"ttl":"60"}]"#, Err(())),
        (r#"[{"router_group_guid":7}]"#, Err(())),
    ])
    .run();
}

#[test]
fn decode_router_group_object() {
    let ok: &[(&str, RouterGroup)] = &[
        (
            r#"{"guid":"client-guid","name":"default-tcp","type":"tcp","reservable_ports":"1024-1033"}"#,
            RouterGroup {
                guid: "client-guid".into(),
                ..RouterGroup::new("default-tcp", "tcp", "1024-1033")
            },
        ),
        (
            r#"{"name":"default-http","type":"http"}"#,
            RouterGroup::new("default-http", "http", ""),
        ),
        (
            r#"{"name":"g","type":null,"reservable_ports":null,"other":1}"#,
            RouterGroup::new("g", "", ""),
        ),
    ];
    for (body, want) in ok {
        assert_eq!(
            &decode_router_group(body.as_bytes()).unwrap(),
            want,
            "{body}"
        );
    }
    for body in [
        r#"[{"name":"g","type":"tcp","reservable_ports":"1024"}]"#,
        r#"{"name":"g","type":"tcp","reservable_ports":1024}"#,
        r#"{"name":1}"#,
    ] {
        let err = decode_router_group(body.as_bytes()).unwrap_err();
        assert_process_request(&err, body);
    }
}

#[test]
fn decode_rejects_an_array_in_place_of_an_object() {
    // Go's decoder refuses to fill a struct from a JSON array ("cannot unmarshal
    // array into Go value"): a wrong field type, so a ProcessRequestError.
    let mut failures = Vec::new();
    let http_rows = [
        r#"[["a.example.com",80,"10.0.0.1"]]"#,
        "[[]]",
        r#"[{"route":"a.example.com","port":80,"ip":"10.0.0.1","modification_tag":["abc",1]}]"#,
    ];
    for body in http_rows {
        match decode_http_routes(body.as_bytes()) {
            Err(err) => assert_process_request(&err, body),
            Ok(got) => failures.push(format!("{body} decoded as {got:?}")),
        }
    }
    for body in [r#"[["rg-1",5200,60000]]"#, "[[]]"] {
        match decode_tcp_route_mappings(body.as_bytes()) {
            Err(err) => assert_process_request(&err, body),
            Ok(got) => failures.push(format!("{body} decoded as {got:?}")),
        }
    }
    for body in ["[]", r#"["guid","name","tcp","1024"]"#] {
        match decode_router_group(body.as_bytes()) {
            Err(err) => assert_process_request(&err, body),
            Ok(got) => failures.push(format!("{body} decoded as {got:?}")),
        }
    }
    assert!(failures.is_empty(), "accepted: {failures:#?}");
}

#[test]
fn decoded_bodies_go_through_validation() {
    let registry = registry();
    let guid = tcp_group(&registry);
    let routes = decode_http_routes(br#"[{"route":"a.example.com","ip":"10.0.0.1"}]"#).unwrap();
    let err = registry.upsert_http_routes(routes).unwrap_err();
    assert_eq!(
        err.message(),
        "Each route request requires a port greater than 0"
    );
    let body = format!(
        r#"[{{"router_group_guid":"{guid}","port":5200,"backend_ip":"10.1.1.12","backend_tls_port":70000}}]"#
    );
    let mappings = decode_tcp_route_mappings(body.as_bytes()).unwrap();
    let err = registry.upsert_tcp_route_mappings(mappings).unwrap_err();
    assert_eq!(
        WireError::from(&err).message,
        format!(
            "Cannot process request: Each tcp mapping with a backend TLS port requires that port to be less than or equal to 65535. RouteMapping=[{guid}:5200<->10.1.1.12:0]"
        )
    );
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Rows are routes to register and the exact JSON of the listed route; `{guid}`
/// stands for its modification tag's guid.
struct EncodeHttpTest(Vec<(HttpRoute, &'static str)>);

impl EncodeHttpTest {
    fn run(self) {
        for (input, want) in self.0 {
            let registry = registry();
            registry.upsert_http_routes(vec![input.clone()]).unwrap();
            let listed = registry.http_routes();
            assert_eq!(listed.len(), 1);
            let want = want.replace("{guid}", &listed[0].modification_tag.guid);
            assert_eq!(encode(&listed[0]), want, "route {input:?}");
            assert_eq!(encode(&listed), format!("[{want}]"), "route {input:?}");
        }
    }
}

#[test]
fn encode_listed_http_routes() {
    EncodeHttpTest(vec![
        (
            HttpRoute::new("app.example.com/path", "10.0.0.1", 8080)
                .with_ttl(30)
                .with_log_guid("log-1"),
            r#"{"route":"app.example.com/path","port":8080,"ip":"10.0.0.1","ttl":30,"log_guid":"log-1","modification_tag":{"guid":"{guid}","index":0}}"#,
        ),
        (
            HttpRoute::new("app.example.com", "10.0.0.1", 8080),
            r#"{"route":"app.example.com","port":8080,"ip":"10.0.0.1","ttl":120,"log_guid":"","modification_tag":{"guid":"{guid}","index":0}}"#,
        ),
        (
            HttpRoute::new("app.example.com", "10.0.0.1", 8080)
                .with_ttl(60)
                .with_route_service_url("https://rs.example.com"),
            r#"{"route":"app.example.com","port":8080,"ip":"10.0.0.1","ttl":60,"log_guid":"","route_service_url":"https://rs.example.com","modification_tag":{"guid":"{guid}","index":0}}"#,
        ),
    ])
    .run();
}

#[test]
fn encode_empty_lists() {
    let registry = registry();
    assert_eq!(encode(&registry.http_routes()), "[]");
    assert_eq!(encode(&registry.tcp_route_mappings()), "[]");
    assert_eq!(encode(&registry.router_groups()), "[]");
}

#[test]
fn encode_update_shows_bumped_index() {
    let registry = registry();
    let route = HttpRoute::new("app.example.com", "10.0.0.1", 8080).with_ttl(30);
    registry.upsert_http_routes(vec![route.clone()]).unwrap();
    registry.upsert_http_routes(vec![route]).unwrap();
    let listed = registry.http_routes();
    let value: Value = serde_json::from_str(&encode(&listed[0])).unwrap();
    assert_eq!(
        value["modification_tag"],
        json!({"guid": &*listed[0].modification_tag.guid, "index": 1})
    );
}

/// Which keys an encoded TCP mapping has: each row lists keys with their value
/// (`None`: the key must be absent). Each row's mapping is put into the test's
/// router group.
struct EncodeTcpTest(Vec<(TcpRouteMapping, Keys)>);

/// Keys of an encoded object and their values (`None`: absent).
type Keys = Vec<(&'static str, Option<Value>)>;

impl EncodeTcpTest {
    fn run(self) {
        for (input, keys) in self.0 {
            let registry = registry();
            let guid = tcp_group(&registry);
            let input = TcpRouteMapping {
                router_group_guid: guid.as_str().into(),
                ..input
            };
            registry
                .upsert_tcp_route_mappings(vec![input.clone()])
                .unwrap();
            let listed = registry.tcp_route_mappings();
            assert_eq!(listed.len(), 1);
            let encoded: Value = serde_json::from_str(&encode(&listed[0])).unwrap();
            let object = encoded.as_object().expect("an object");
            assert_eq!(object["router_group_guid"], json!(guid), "{input:?}");
            assert_eq!(
                object["modification_tag"],
                json!({"guid": &*listed[0].modification_tag.guid, "index": 0}),
                "{input:?}"
            );
            assert!(!object.contains_key("expires_at"), "{input:?}");
            for (key, want) in keys {
                assert_eq!(object.get(key), want.as_ref(), "key {key}, {input:?}");
            }
        }
    }
}

fn present(v: Value) -> Option<Value> {
    Some(v)
}

#[test]
fn encode_listed_tcp_mappings_presence_and_omission() {
    let minimal = TcpRouteMapping::new("", 5200, "10.1.1.12", 60000);
    let mut full = TcpRouteMapping::new("", 5201, "10.1.1.13", 60001);
    full.backend_tls_port = 60002;
    full.backend_sni_hostname = Some("sni.example.com".into());
    full.sni_rewrite_hostname = Some("rewrite.example.com".into());
    full.instance_id = "instance-1".into();
    full.isolation_segment = "seg-1".into();
    full.terminate_frontend_tls = true;
    full.alpns = "h2,http/1.1".into();
    full.enable_backend_mtls = true;
    full.ttl = Some(45);
    let mut empty_sni = minimal.clone();
    empty_sni.backend_sni_hostname = Some("".into());
    EncodeTcpTest(vec![
        (
            minimal,
            vec![
                ("port", present(json!(5200))),
                ("backend_ip", present(json!("10.1.1.12"))),
                ("backend_port", present(json!(60000))),
                // Always present.
                ("backend_tls_port", present(json!(0))),
                ("instance_id", present(json!(""))),
                ("isolation_segment", present(json!(""))),
                // The listed mapping carries the TTL it was given (max_ttl here).
                ("ttl", present(json!(120))),
                // Omitted when unset.
                ("backend_sni_hostname", None),
                ("sni_rewrite_hostname", None),
                ("terminate_frontend_tls", None),
                ("alpns", None),
                ("enable_backend_mtls", None),
                // Go's field is `backend_tls_port`; there is no such key.
                ("host_tls_port", None),
            ],
        ),
        (
            full,
            vec![
                ("port", present(json!(5201))),
                ("backend_tls_port", present(json!(60002))),
                ("backend_sni_hostname", present(json!("sni.example.com"))),
                (
                    "sni_rewrite_hostname",
                    present(json!("rewrite.example.com")),
                ),
                ("instance_id", present(json!("instance-1"))),
                ("isolation_segment", present(json!("seg-1"))),
                ("ttl", present(json!(45))),
                ("terminate_frontend_tls", present(json!(true))),
                ("alpns", present(json!("h2,http/1.1"))),
                ("enable_backend_mtls", present(json!(true))),
            ],
        ),
        // A present but empty SNI host name is shown (a nil pointer is not).
        (
            empty_sni,
            vec![("backend_sni_hostname", present(json!("")))],
        ),
    ])
    .run();
}

#[test]
fn encode_tcp_mapping_with_go_field_order() {
    // routing-api's `TcpMappingEntity` field order, which Go's encoder follows:
    // router_group_guid, backend_port, backend_tls_port, backend_ip,
    // backend_sni_hostname, sni_rewrite_hostname, instance_id, port,
    // modification_tag, ttl, isolation_segment, terminate_frontend_tls, alpns,
    // enable_backend_mtls.
    let registry = registry();
    let guid = tcp_group(&registry);
    let mut mapping = TcpRouteMapping::new(&guid, 5200, "10.1.1.12", 60000).with_ttl(60);
    mapping.backend_tls_port = 60001;
    mapping.backend_sni_hostname = Some("sni.example.com".into());
    mapping.sni_rewrite_hostname = Some("rewrite.example.com".into());
    mapping.instance_id = "instance-1".into();
    mapping.isolation_segment = "seg-1".into();
    mapping.terminate_frontend_tls = true;
    mapping.alpns = "h2".into();
    mapping.enable_backend_mtls = true;
    registry.upsert_tcp_route_mappings(vec![mapping]).unwrap();
    let listed = registry.tcp_route_mappings();
    let tag_guid = &listed[0].modification_tag.guid;
    assert_eq!(
        encode(&listed[0]),
        format!(
            concat!(
                r#"{{"router_group_guid":"{guid}","backend_port":60000,"backend_tls_port":60001,"#,
                r#""backend_ip":"10.1.1.12","backend_sni_hostname":"sni.example.com","#,
                r#""sni_rewrite_hostname":"rewrite.example.com","instance_id":"instance-1","#,
                r#""port":5200,"modification_tag":{{"guid":"{tag}","index":0}},"ttl":60,"#,
                r#""isolation_segment":"seg-1","terminate_frontend_tls":true,"alpns":"h2","#,
                r#""enable_backend_mtls":true}}"#
            ),
            guid = guid,
            tag = tag_guid
        )
    );
}

#[test]
fn encode_router_group() {
    let registry = registry();
    let (group, _) = registry
        .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))
        .unwrap();
    assert_eq!(
        encode(&group),
        format!(
            r#"{{"guid":"{}","name":"default-tcp","type":"tcp","reservable_ports":"1024-1033"}}"#,
            group.guid
        )
    );
    let (http, _) = registry
        .create_router_group(RouterGroup::new("default-http", "http", ""))
        .unwrap();
    assert_eq!(
        encode(&http),
        format!(
            r#"{{"guid":"{}","name":"default-http","type":"http","reservable_ports":""}}"#,
            http.guid
        )
    );
}

#[test]
fn encode_wire_errors() {
    let registry = registry();
    let err = registry
        .upsert_http_routes(vec![
            HttpRoute::new("a.example.com", "10.0.0.1", 80).with_ttl(0)
        ])
        .unwrap_err();
    assert_eq!(
        encode(&WireError::from(&err)),
        r#"{"name":"RouteInvalidError","message":"Request requires a ttl greater than 0"}"#
    );
    let err = registry
        .create_router_group(RouterGroup::new("g", "", ""))
        .unwrap_err();
    assert_eq!(
        encode(&WireError::from(&err)),
        r#"{"name":"ProcessRequestError","message":"Cannot process request: missing type in router group"}"#
    );
}

#[test]
fn listed_objects_decode_back_to_themselves() {
    let registry = registry();
    let guid = tcp_group(&registry);
    registry
        .upsert_http_routes(vec![
            HttpRoute::new("a.example.com", "10.0.0.1", 80).with_log_guid("log-1"),
            HttpRoute::new("b.example.com", "10.0.0.2", 81)
                .with_route_service_url("https://rs.example.com"),
        ])
        .unwrap();
    let mut mapping = TcpRouteMapping::new(&guid, 5200, "10.1.1.12", 60000);
    mapping.backend_sni_hostname = Some("sni.example.com".into());
    mapping.terminate_frontend_tls = true;
    mapping.alpns = "h2".into();
    registry
        .upsert_tcp_route_mappings(vec![
            mapping,
            TcpRouteMapping::new(&guid, 5201, "10.1.1.13", 60001),
        ])
        .unwrap();
    let strip_http = |mut r: HttpRoute| {
        r.expires_at = Timestamp::ZERO;
        r
    };
    let strip_tcp = |mut m: TcpRouteMapping| {
        m.expires_at = Timestamp::ZERO;
        m
    };
    let routes: Vec<HttpRoute> = registry.http_routes().into_iter().map(strip_http).collect();
    assert_eq!(
        decode_http_routes(encode(&routes).as_bytes()).unwrap(),
        routes
    );
    let mappings: Vec<TcpRouteMapping> = registry
        .tcp_route_mappings()
        .into_iter()
        .map(strip_tcp)
        .collect();
    assert_eq!(
        decode_tcp_route_mappings(encode(&mappings).as_bytes()).unwrap(),
        mappings
    );
    let groups = registry.router_groups();
    assert_eq!(
        decode_router_group(encode(&groups[0]).as_bytes()).unwrap(),
        groups[0]
    );
}
