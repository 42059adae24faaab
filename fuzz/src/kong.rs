//! Kong Admin API bodies: routes and services, created and patched.

use arbitrary::Unstructured;
use routeyard::dialect::kong::{self, KongError};
use routeyard::{Config, ErrorKind, ManualClock, Registry, Route, Service, ServiceRef, Timestamp};
use serde_json::Value;

use crate::gen::{self, Field};

/// The id of the service every fresh registry holds (named `svc`).
pub(crate) const SERVICE_ID: &str = "7f3c1a2b-4d5e-4f60-8a9b-0c1d2e3f4a5b";

const ROUTE_FIELDS: &[Field] = &[
    (
        "id",
        &[r#""0a1b2c3d-0000-4000-8000-000000000001""#, r#""x""#],
    ),
    (
        "name",
        &[
            r#""r1""#, r#""r0""#, r#""svc""#, r#""""#, r#""a b""#, "null",
        ],
    ),
    (
        "protocols",
        &[
            r#"["http"]"#,
            r#"["https"]"#,
            r#"["http","https"]"#,
            r#"["tcp"]"#,
            r#"["tls","udp"]"#,
            r#"["grpc"]"#,
            "[]",
            "null",
        ],
    ),
    (
        "methods",
        &[
            r#"["GET"]"#,
            r#"["get"]"#,
            r#"["GET","GET","POST"]"#,
            r#"[""]"#,
            "[]",
            "null",
        ],
    ),
    (
        "hosts",
        &[
            r#"["a.com"]"#,
            r#"["*.a.com","b.com:8080"]"#,
            r#"["a.*"]"#,
            r#"["*.*.com"]"#,
            r#"["A.COM"]"#,
            r#"["a.com:99999"]"#,
            r#"[""]"#,
            "null",
        ],
    ),
    (
        "paths",
        &[
            r#"["/a"]"#,
            r#"["~/a/(?<id>\\d+)"]"#,
            r#"["a"]"#,
            r#"["/"]"#,
            r#"["~/(["]"#,
            r#"["/a//b","/a"]"#,
            r#"["/%2F","/%zz"]"#,
            "[]",
            "null",
        ],
    ),
    (
        "headers",
        &[
            r#"{"x-a":["1"]}"#,
            r#"{"x-a":["~*^v\\d"]}"#,
            r#"{"host":["a"]}"#,
            r#"{"x-a":[]}"#,
            r#"{"x-a":"1"}"#,
            "null",
        ],
    ),
    (
        "snis",
        &[r#"["s.com"]"#, r#"["s.com."]"#, r#"["*.s.com"]"#, "null"],
    ),
    (
        "sources",
        &[
            r#"[{"ip":"10.0.0.0/8","port":80}]"#,
            r#"[{"ip":"10.0.0.0/33"}]"#,
            r#"[{"port":70000}]"#,
            "[{}]",
            "null",
        ],
    ),
    (
        "destinations",
        &[
            r#"[{"ip":"::1","port":443}]"#,
            r#"[{"ip":"1.2.3.4"}]"#,
            "null",
        ],
    ),
    (
        "regex_priority",
        &["0", "1", "-1", "9223372036854775807", "1.5"],
    ),
    ("strip_path", &["true", "false", "null"]),
    ("preserve_host", &["true", "false", "null"]),
    ("path_handling", &[r#""v0""#, r#""v1""#, r#""v2""#]),
    ("https_redirect_status_code", &["426", "301", "308", "200"]),
    ("request_buffering", &["true", "false"]),
    ("response_buffering", &["true", "false"]),
    (
        "tags",
        &[r#"["a"]"#, r#"["a","a"]"#, r#"["a b"]"#, "[]", "null"],
    ),
    (
        "service",
        &[
            r#"{"id":"7f3c1a2b-4d5e-4f60-8a9b-0c1d2e3f4a5b"}"#,
            r#"{"id":"00000000-0000-4000-8000-000000000000"}"#,
            r#"{"id":"x"}"#,
            r#"{"name":"svc"}"#,
            "null",
        ],
    ),
    ("created_at", &["1", "-1"]),
    ("priority", &["0", "1", "-1"]),
    (
        "path_mode",
        &[r#""prefix""#, r#""segment""#, r#""exact""#, r#""x""#],
    ),
];

const SERVICE_FIELDS: &[Field] = &[
    (
        "id",
        &[r#""0a1b2c3d-0000-4000-8000-000000000002""#, r#""x""#],
    ),
    (
        "name",
        &[
            r#""s1""#, r#""svc""#, r#""r0""#, r#""""#, r#""a b""#, "null",
        ],
    ),
    (
        "protocol",
        &[r#""http""#, r#""https""#, r#""tcp""#, r#""grpc""#, r#""x""#],
    ),
    (
        "host",
        &[
            r#""svc.internal""#,
            r#""""#,
            r#""a b""#,
            r#""*.a""#,
            r#""10.0.0.1""#,
        ],
    ),
    ("port", &["80", "0", "65535", "65536"]),
    (
        "path",
        &[r#""/api""#, r#""api""#, r#""/""#, r#""/a b""#, "null"],
    ),
    (
        "url",
        &[
            r#""http://a.com:8080/x""#,
            r#""https://a.com""#,
            r#""a.com""#,
            r#""http://""#,
            r#""ftp://a""#,
            r#""http://a.com:0""#,
        ],
    ),
    ("retries", &["5", "-1", "32767", "32768"]),
    (
        "connect_timeout",
        &["60000", "0", "2147483647", "2147483648"],
    ),
    ("write_timeout", &["60000", "1"]),
    ("read_timeout", &["60000", "-5"]),
    ("tags", &[r#"["a"]"#, r#"["a","a"]"#, "null"]),
    ("enabled", &["true", "false"]),
    ("client_certificate", &["null", r#"{"id":"x"}"#]),
    ("tls_verify", &["null", "true"]),
    ("tls_verify_depth", &["null", "3"]),
    ("ca_certificates", &["null", "[]"]),
    ("created_at", &["1"]),
];

/// A registry holding the service `svc` and a route `r0` leading to it.
fn fresh() -> Registry {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let registry = Registry::new(Config::new().clock(clock));
    let service = Service {
        id: SERVICE_ID.to_string(),
        name: Some("svc".to_string()),
        host: "svc.internal".to_string(),
        ..Service::default()
    };
    registry.create_service(service).expect("a valid service");
    let route = Route {
        name: Some("r0".to_string()),
        paths: Some(vec!["/r0".to_string()]),
        service: Some(ServiceRef {
            id: SERVICE_ID.to_string(),
        }),
        ..Route::default()
    };
    registry.create_route(route).expect("a valid route");
    registry
}

/// A refusal carries a kind Kong has a body for, and that body is JSON.
fn check_error(err: &routeyard::Error) {
    assert!(!err.message().is_empty(), "{err:?}");
    let wire = KongError::from(err);
    let body: Value = serde_json::from_str(&wire.body()).expect("Kong's error body is JSON");
    assert!(body.get("message").is_some(), "{body}");
}

fn decode_error(err: &routeyard::Error) {
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ProcessRequest | ErrorKind::SchemaViolation
        ),
        "{err:?}"
    );
    check_error(err);
}

/// A stored route is the decoded one plus what the registry assigns.
fn assert_stored_route(sent: &Route, stored: &Route) {
    let mut want = sent.clone();
    if want.id.is_empty() {
        want.id.clone_from(&stored.id);
    }
    want.created_at = stored.created_at;
    want.updated_at = stored.updated_at;
    assert_eq!(stored, &want);
}

fn assert_stored_service(sent: &Service, stored: &Service) {
    let mut want = sent.clone();
    if want.id.is_empty() {
        want.id.clone_from(&stored.id);
    }
    want.created_at = stored.created_at;
    want.updated_at = stored.updated_at;
    assert_eq!(stored, &want);
}

/// Kong's reading of what routeyard writes gives back the same route.
fn route_round_trip(stored: &Route) {
    let text = kong::encode_route(stored);
    let back = kong::decode_route(text.as_bytes())
        .unwrap_or_else(|e| panic!("our own route {text} is refused: {e}"));
    assert_stored_route(&back, stored);
}

fn service_round_trip(stored: &Service) {
    let text = kong::encode_service(stored);
    let back = kong::decode_service(text.as_bytes())
        .unwrap_or_else(|e| panic!("our own service {text} is refused: {e}"));
    assert_stored_service(&back, stored);
}

fn check_route(body: &[u8]) {
    let registry = fresh();
    let before = registry.snapshot();
    match kong::decode_route(body) {
        Err(err) => decode_error(&err),
        Ok(route) => match registry.create_route(route.clone()) {
            Ok(stored) => {
                assert_eq!(registry.route(&stored.id).as_ref(), Some(&stored));
                assert_eq!(registry.revision(), before.revision + 1);
                assert_stored_route(&route, &stored);
                route_round_trip(&stored);
            }
            Err(err) => {
                check_error(&err);
                crate::assert_unchanged(&registry, &before, "route");
            }
        },
    }
    // The same body as a PATCH of `r0`.
    let existing = registry.route("r0").expect("r0 is there");
    let before = registry.snapshot();
    match registry.modify_route("r0", |current| kong::patch_route(current, body)) {
        Ok(stored) => {
            assert_eq!(stored.id, existing.id);
            assert_eq!(stored.created_at, existing.created_at);
            assert_eq!(registry.route(&stored.id).as_ref(), Some(&stored));
            route_round_trip(&stored);
        }
        Err(err) => {
            check_error(&err);
            crate::assert_unchanged(&registry, &before, "patch");
        }
    }
}

fn check_service(body: &[u8]) {
    let registry = fresh();
    let before = registry.snapshot();
    match kong::decode_service(body) {
        Err(err) => decode_error(&err),
        Ok(service) => match registry.create_service(service.clone()) {
            Ok(stored) => {
                assert_eq!(registry.service(&stored.id).as_ref(), Some(&stored));
                assert_eq!(registry.revision(), before.revision + 1);
                assert_stored_service(&service, &stored);
                service_round_trip(&stored);
            }
            Err(err) => {
                check_error(&err);
                crate::assert_unchanged(&registry, &before, "service");
            }
        },
    }
    let before = registry.snapshot();
    match registry.modify_service("svc", |current| kong::patch_service(current, body)) {
        Ok(stored) => {
            assert_eq!(stored.id, SERVICE_ID);
            assert_eq!(registry.service(SERVICE_ID).as_ref(), Some(&stored));
            service_round_trip(&stored);
        }
        Err(err) => {
            check_error(&err);
            crate::assert_unchanged(&registry, &before, "patch");
        }
    }
}

/// See [`crate::kong_json`].
pub(crate) fn run(data: &[u8]) {
    check_route(data);
    check_service(data);
    let mut u = Unstructured::new(data);
    let Ok(is_route) = u.arbitrary::<bool>() else {
        return;
    };
    let fields = if is_route {
        ROUTE_FIELDS
    } else {
        SERVICE_FIELDS
    };
    if let Ok(doc) = gen::object(&mut u, fields) {
        let body = gen::render(&mut u, &Value::Object(doc));
        if is_route {
            check_route(&body);
        } else {
            check_service(&body);
        }
    }
}
