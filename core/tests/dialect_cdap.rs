//! CDAP route configs: decoding PUT bodies as CDAP's handler reads them, its
//! rules in its order with its texts and statuses, GET and DELETE of a missing
//! config, encoding, and garbage bodies.
//!
//! Rules and texts come from CDAP's `RouteConfigHttpHandler` (the version that
//! validates), `ZKRouteStore`/`LocalRouteStore` and `ProgramId`.

use proptest::prelude::*;
use routeyard::dialect::cdap::{
    self, decode, decode_and_validate, encode, not_found, CdapError, CdapErrorKind, RouteConfig,
    ServiceId, EMPTY_MESSAGE, TOTAL_MESSAGE,
};

fn svc() -> ServiceId {
    ServiceId::new("default", "MyApp", "MyService")
}

const DEPLOYED: &[&str] = &["v1", "v2", "v3"];

/// What a failing row expects: kind, status and exact message.
type Refusal = (CdapErrorKind, u16, &'static str);

/// Rows are PUT bodies and either the stored routes, in body order, or the
/// refusal; the service has versions v1, v2 and v3 deployed.
struct PutTest(Vec<(&'static str, Outcome)>);

/// The stored routes, in body order, or the refusal.
type Outcome = Result<Vec<(&'static str, u8)>, Refusal>;

impl PutTest {
    fn run(self) {
        for (body, want) in self.0 {
            let got = decode_and_validate(body.as_bytes(), &svc(), DEPLOYED);
            match (got, want) {
                (Ok(config), Ok(routes)) => {
                    let got: Vec<(&str, u8)> = config
                        .routes()
                        .iter()
                        .map(|(v, p)| (v.as_str(), *p))
                        .collect();
                    assert_eq!(got, routes, "body {body}");
                }
                (Err(err), Err((kind, status, message))) => {
                    assert_eq!(err.kind(), kind, "body {body}: {err:?}");
                    assert_eq!(err.status(), status, "body {body}");
                    assert_eq!(err.message(), message, "body {body}");
                    assert_eq!(err.to_string(), message, "body {body}");
                }
                (got, want) => panic!("body {body}: got {got:?}, want {want:?}"),
            }
        }
    }
}

const UNKNOWN_V9: &str = "The following versions of the application/service could not be found : [program:default.MyApp.v9.service.MyService]";
const UNKNOWN_V8_V9: &str = "The following versions of the application/service could not be found : [program:default.MyApp.v8.service.MyService, program:default.MyApp.v9.service.MyService]";

#[test]
fn put_rules_in_cdap_order() {
    use CdapErrorKind::*;
    PutTest(vec![
        // Accepted splits, in body order.
        (r#"{"v1": 80, "v2": 20}"#, Ok(vec![("v1", 80), ("v2", 20)])),
        (r#"{"v2": 20, "v1": 80}"#, Ok(vec![("v2", 20), ("v1", 80)])),
        (r#"{"v1": 100}"#, Ok(vec![("v1", 100)])),
        (r#"{"v1": 100, "v2": 0}"#, Ok(vec![("v1", 100), ("v2", 0)])),
        (
            r#"{"v1": 34, "v2": 33, "v3": 33}"#,
            Ok(vec![("v1", 34), ("v2", 33), ("v3", 33)]),
        ),
        // Gson's Integer reading: integral floats and numeric strings.
        (r#"{"v1": 50.0, "v2": "50"}"#, Ok(vec![("v1", 50), ("v2", 50)])),
        (r#"{"v1": 5e1, "v2": 0.5e2}"#, Ok(vec![("v1", 50), ("v2", 50)])),
        // Empty: CDAP's text, before anything else.
        ("", Err((Empty, 400, EMPTY_MESSAGE))),
        ("  \n", Err((Empty, 400, EMPTY_MESSAGE))),
        ("null", Err((Empty, 400, EMPTY_MESSAGE))),
        ("{}", Err((Empty, 400, EMPTY_MESSAGE))),
        // Undeployed versions, all listed, before the total is looked at.
        (r#"{"v1": 50, "v9": 50}"#, Err((UnknownVersions, 400, UNKNOWN_V9))),
        (r#"{"v9": 10}"#, Err((UnknownVersions, 400, UNKNOWN_V9))),
        (
            r#"{"v8": 50, "v1": 1, "v9": 50}"#,
            Err((UnknownVersions, 400, UNKNOWN_V8_V9)),
        ),
        // Version names are compared exactly.
        (
            r#"{"V1": 100}"#,
            Err((
                UnknownVersions,
                400,
                "The following versions of the application/service could not be found : [program:default.MyApp.V1.service.MyService]",
            )),
        ),
        // The range rule (routeyard's): CDAP would store 150/-50.
        (
            r#"{"v1": 150, "v2": -50}"#,
            Err((
                PercentageOutOfRange,
                400,
                "Route Percentage for version v1 must be between 0 and 100, got 150.",
            )),
        ),
        (
            r#"{"v1": 101}"#,
            Err((
                PercentageOutOfRange,
                400,
                "Route Percentage for version v1 must be between 0 and 100, got 101.",
            )),
        ),
        (
            r#"{"v1": 100, "v2": -1}"#,
            Err((
                PercentageOutOfRange,
                400,
                "Route Percentage for version v2 must be between 0 and 100, got -1.",
            )),
        ),
        // The total.
        (r#"{"v1": 50}"#, Err((TotalNot100, 400, TOTAL_MESSAGE))),
        (r#"{"v1": 80, "v2": 30}"#, Err((TotalNot100, 400, TOTAL_MESSAGE))),
        (r#"{"v1": 0, "v2": 0}"#, Err((TotalNot100, 400, TOTAL_MESSAGE))),
        (r#"{"v1": 99, "v2": 0, "v3": 0}"#, Err((TotalNot100, 400, TOTAL_MESSAGE))),
        // Malformed bodies (400 here).
        (
            r#"{"v1": 50, "v1": 50}"#,
            Err((Malformed, 400, "duplicate key: v1")),
        ),
        (
            r#"{"v1": 50.5, "v2": 49.5}"#,
            Err((Malformed, 400, "Expected an int but was 50.5 at path $.v1")),
        ),
        (
            r#"{"v1": null}"#,
            Err((Malformed, 400, "Expected an int but was null at path $.v1")),
        ),
        (
            r#"{"v1": true}"#,
            Err((Malformed, 400, "Expected an int but was true at path $.v1")),
        ),
        (
            r#"{"v1": "fifty"}"#,
            Err((Malformed, 400, r#"Expected an int but was "fifty" at path $.v1"#)),
        ),
        (
            r#"{"v1": [100]}"#,
            Err((Malformed, 400, "Expected an int but was [100] at path $.v1")),
        ),
        (
            r#"{"v1": {"p": 100}}"#,
            Err((Malformed, 400, r#"Expected an int but was {"p":100} at path $.v1"#)),
        ),
        (
            r#"{"v1": 2147483648}"#,
            Err((Malformed, 400, "Expected an int but was 2147483648 at path $.v1")),
        ),
        (
            r#"{"v1": 18446744073709551616}"#,
            Err((
                Malformed,
                400,
                "Expected an int but was 1.8446744073709552e+19 at path $.v1",
            )),
        ),
    ])
    .run();
}

#[test]
fn malformed_json_is_a_400() {
    for body in [
        &b"{"[..],
        b"[]",
        b"[{\"v1\": 100}]",
        b"100",
        b"\"v1\"",
        b"true",
        b"{\"v1\": 100} {}",
        b"{v1: 100}",
        b"{'v1': 100}",
        b"{\"v1\": 100,}",
        b"{\"v1\": 100 /* c */}",
        b"\xff\xfe",
        b"{\"v\xff\": 100}",
        b"{\"v1\": 1e999}",
    ] {
        let err = decode(body).unwrap_err();
        assert_eq!(err.kind(), CdapErrorKind::Malformed, "{body:?}: {err:?}");
        assert_eq!(err.status(), 400, "{body:?}");
        assert!(!err.message().is_empty(), "{body:?}");
    }
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let deep = format!(
        "{{\"v1\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        decode(deep.as_bytes()).unwrap_err().kind(),
        CdapErrorKind::Malformed
    );
}

#[test]
fn odd_version_names_are_kept() {
    let names = ["", " ", "v 1", "\u{0}", "é", "v1.0.0-SNAPSHOT", "\"q\""];
    for name in names {
        let body = serde_json::json!({ name: 100 }).to_string();
        let config = decode_and_validate(body.as_bytes(), &svc(), &names).unwrap();
        assert_eq!(config.percentage(name), Some(100), "{name:?}");
        assert_eq!(encode(&config), body, "{name:?}");
    }
}

#[test]
fn get_and_delete_of_a_missing_config() {
    // GET answers 200 with an empty map.
    let empty = RouteConfig::empty();
    assert!(empty.is_empty());
    assert_eq!(encode(&empty), "{}");
    // DELETE answers 404 naming the program id in the default version.
    let err = not_found(&svc());
    assert_eq!(err.kind(), CdapErrorKind::NotFound);
    assert_eq!(err.status(), 404);
    assert_eq!(
        err.message(),
        "Route Config for Service program:default.MyApp.-SNAPSHOT.service.MyService was not found."
    );
    assert_eq!(cdap::DEFAULT_VERSION, "-SNAPSHOT");
}

#[test]
fn encode_keeps_body_order() {
    let config =
        decode_and_validate(br#"{"v3": 10, "v1": 60, "v2": 30}"#, &svc(), DEPLOYED).unwrap();
    assert_eq!(encode(&config), r#"{"v3":10,"v1":60,"v2":30}"#);
    assert_eq!(config.percentage("v1"), Some(60));
    assert_eq!(config.percentage("v4"), None);
}

#[test]
fn try_new_with_a_version_lookup() {
    let routes = vec![("blue".to_string(), 70), ("green".to_string(), 30)];
    let config = RouteConfig::try_new(routes.clone(), &svc(), |v| v != "red").unwrap();
    assert_eq!(
        config.routes(),
        &[("blue".to_string(), 70), ("green".to_string(), 30)]
    );
    let err: CdapError = RouteConfig::try_new(routes, &svc(), |v| v == "blue").unwrap_err();
    assert_eq!(err.kind(), CdapErrorKind::UnknownVersions);
    // Extreme values cannot overflow the total.
    let err = RouteConfig::try_new(
        vec![("a".into(), i32::MAX), ("b".into(), i32::MIN)],
        &svc(),
        |_| true,
    )
    .unwrap_err();
    assert_eq!(err.kind(), CdapErrorKind::PercentageOutOfRange);
}

/// A valid split over up to six versions: cut points in 0..=100.
fn split() -> impl Strategy<Value = Vec<(String, u8)>> {
    prop::collection::vec(0u8..=100, 0..6).prop_map(|mut cuts| {
        cuts.sort_unstable();
        let mut prev = 0u8;
        let mut out = Vec::new();
        for (i, c) in cuts.iter().chain(std::iter::once(&100)).enumerate() {
            out.push((format!("v{i}"), c - prev));
            prev = *c;
        }
        out
    })
}

proptest! {
    #[test]
    fn valid_splits_round_trip(routes in split()) {
        let names: Vec<String> = routes.iter().map(|(v, _)| v.clone()).collect();
        let deployed: Vec<&str> = names.iter().map(String::as_str).collect();
        let body = serde_json::Value::Object(
            routes.iter().map(|(v, p)| (v.clone(), serde_json::json!(p))).collect(),
        )
        .to_string();
        let config = decode_and_validate(body.as_bytes(), &svc(), &deployed).unwrap();
        prop_assert_eq!(config.routes(), &routes[..]);
        let again = decode_and_validate(encode(&config).as_bytes(), &svc(), &deployed).unwrap();
        prop_assert_eq!(&again, &config);
        let total: u32 = config.routes().iter().map(|(_, p)| u32::from(*p)).sum();
        prop_assert_eq!(total, 100);
    }

    #[test]
    fn garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_and_validate(&body, &svc(), DEPLOYED);
    }

    #[test]
    fn odd_objects_never_panic(entries in prop::collection::vec((".{0,4}", any::<i64>()), 0..5)) {
        let body = serde_json::Value::Object(
            entries.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect(),
        ).to_string();
        match decode_and_validate(body.as_bytes(), &svc(), DEPLOYED) {
            Ok(config) => {
                let total: u32 = config.routes().iter().map(|(_, p)| u32::from(*p)).sum();
                prop_assert_eq!(total, 100);
            }
            Err(err) => prop_assert_eq!(err.status(), 400),
        }
    }
}
