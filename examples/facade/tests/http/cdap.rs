//! CDAP's route configs: the version split of the service named `NS.APP.SVC`.

use std::collections::BTreeMap;

use routeyard::dialect::cdap;
use serde_json::json;

use crate::support::{hs256_token, Facade};

const CONFIG: &str = "/v3/namespaces/default/apps/MyApp/services/MyService/routeconfig";
const TEXT: &str = "text/plain; charset=utf-8";

/// A Kong service `default.MyApp.MyService` with a route on `/my` and backends:
/// two of version v1, one of v2.
fn deploy(facade: &Facade) {
    let answer = facade.put(
        "/services/default.MyApp.MyService",
        r#"{"host":"my.internal"}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = facade.post(
        "/services/default.MyApp.MyService/routes",
        r#"{"name":"my","paths":["/my"]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let backends = json!({"backends": [
        {"address": "10.0.0.1", "port": 8080, "version": "v1"},
        {"address": "10.0.0.2", "port": 8080, "version": "v1"},
        {"address": "10.0.0.3", "port": 8080, "version": "v2"},
    ]});
    let answer = facade.put(
        "/services/default.MyApp.MyService/upstream",
        &backends.to_string(),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
}

/// Picks `n` times for `/my` and counts the chosen versions and addresses.
fn picks(facade: &Facade, n: usize) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut versions = BTreeMap::new();
    let mut addresses = BTreeMap::new();
    for _ in 0..n {
        let answer = facade.post("/debug/match", r#"{"path":"/my","pick":true}"#);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let backend = answer.json()["backend"].clone();
        let version = backend["version"].as_str().expect("a version").to_string();
        *versions.entry(version).or_insert(0) += 1;
        let address = backend["address"].as_str().expect("an address").to_string();
        *addresses.entry(address).or_insert(0) += 1;
    }
    (versions, addresses)
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

fn plain(answer: &crate::support::Answer, status: u16, body: &str) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (status, body),
        "{answer:?}"
    );
    assert_eq!(answer.content_type, TEXT);
}

#[test]
fn a_split_is_set_read_applied_exactly_and_deleted() {
    let facade = Facade::start(&[]);
    deploy(&facade);

    let answer = facade.get(CONFIG);
    assert_eq!((answer.status, answer.body.as_str()), (200, "{}"));
    assert_eq!(answer.content_type, "application/json");

    let answer = facade.put(CONFIG, r#"{"v1": 80, "v2": 20}"#);
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    let answer = facade.get(CONFIG);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"v1": 80, "v2": 20}));
    // The split is the service's, as its upstream shows.
    let upstream = facade.get("/services/default.MyApp.MyService/upstream");
    assert_eq!(
        upstream.json()["config"]["split"],
        json!({"split": {"v1": 80, "v2": 20}, "fallback": "random", "sticky": false})
    );

    // Any 100 consecutive picks hold the percentages exactly; within v1 the two
    // backends take turns.
    let (versions, addresses) = picks(&facade, 100);
    assert_eq!(versions, counts(&[("v1", 80), ("v2", 20)]));
    assert_eq!(
        addresses,
        counts(&[("10.0.0.1", 40), ("10.0.0.2", 40), ("10.0.0.3", 20)])
    );

    // A new config replaces the old one.
    let answer = facade.put(CONFIG, r#"{"v2": "30", "v1": 70.0}"#);
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    assert_eq!(facade.get(CONFIG).json(), json!({"v1": 70, "v2": 30}));
    let (versions, _) = picks(&facade, 100);
    assert_eq!(versions, counts(&[("v1", 70), ("v2", 30)]));

    // A request may name its version, bypassing the split.
    for _ in 0..5 {
        let answer = facade.post(
            "/debug/match",
            r#"{"path":"/my","pick":true,"version":"v2"}"#,
        );
        assert_eq!(answer.json()["backend"]["address"], "10.0.0.3");
    }

    let answer = facade.delete(CONFIG, "");
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    assert_eq!(facade.get(CONFIG).body, "{}");
    let answer = facade.delete(CONFIG, "");
    plain(
        &answer,
        404,
        "Route Config for Service program:default.MyApp.-SNAPSHOT.service.MyService was not found.",
    );
    // Without a split every backend takes its turn.
    let (_, addresses) = picks(&facade, 30);
    assert_eq!(
        addresses,
        counts(&[("10.0.0.1", 10), ("10.0.0.2", 10), ("10.0.0.3", 10)])
    );
}

#[test]
fn refused_configs_get_cdap_statuses_and_texts_and_change_nothing() {
    let facade = Facade::start(&[]);
    deploy(&facade);
    assert_eq!(facade.put(CONFIG, r#"{"v1": 100}"#).status, 200);

    let program = |version: &str| format!("program:default.MyApp.{version}.service.MyService");
    let malformed = cdap::decode(b"{").unwrap_err();
    let cases: Vec<(&str, u16, String)> = vec![
        (
            "",
            400,
            "Route config contains invalid format or empty content.".into(),
        ),
        (
            "{}",
            400,
            "Route config contains invalid format or empty content.".into(),
        ),
        (
            "null",
            400,
            "Route config contains invalid format or empty content.".into(),
        ),
        (
            r#"{"v1": 80, "v2": 30}"#,
            400,
            "Route Percentage needs to add up to 100.".into(),
        ),
        (
            r#"{"v1": 100, "v3": 0, "v4": 0}"#,
            400,
            format!(
                "The following versions of the application/service could not be found : [{}, {}]",
                program("v3"),
                program("v4")
            ),
        ),
        (
            r#"{"v1": 150, "v2": -50}"#,
            400,
            "Route Percentage for version v1 must be between 0 and 100, got 150.".into(),
        ),
        ("{", 400, malformed.message().to_string()),
        (r#"{"v1": 50, "v1": 50}"#, 400, "duplicate key: v1".into()),
        (
            r#"{"v1": 99.5, "v2": 0.5}"#,
            400,
            "Expected an int but was 99.5 at path $.v1".into(),
        ),
    ];
    for (body, status, message) in &cases {
        let answer = facade.put(CONFIG, body);
        plain(&answer, *status, message);
    }
    // Nothing changed.
    assert_eq!(facade.get(CONFIG).json(), json!({"v1": 100}));

    // A service that does not exist, or has no backends, has no versions.
    let other = "/v3/namespaces/default/apps/Other/services/Svc/routeconfig";
    let answer = facade.put(other, r#"{"v1": 60, "v2": 40}"#);
    plain(
        &answer,
        400,
        "The following versions of the application/service could not be found : \
         [program:default.Other.v1.service.Svc, program:default.Other.v2.service.Svc]",
    );
    assert_eq!(
        facade
            .put("/services/default.Other.Svc", "{\"host\":\"o\"}")
            .status,
        201
    );
    let answer = facade.put(other, r#"{"v1": 100}"#);
    plain(
        &answer,
        400,
        "The following versions of the application/service could not be found : \
         [program:default.Other.v1.service.Svc]",
    );
    assert_eq!(facade.get(other).body, "{}");
    plain(
        &facade.delete(other, ""),
        404,
        "Route Config for Service program:default.Other.-SNAPSHOT.service.Svc was not found.",
    );
}

#[test]
fn ids_that_cannot_name_a_service_and_unknown_paths() {
    let facade = Facade::start(&[]);
    let message = |what: &str, part: &str| {
        format!(
            "Invalid {what} name '{part}': it must be non-empty and hold only ASCII letters, \
             digits, '-', '_', '~' or non-ASCII characters, since the service is the registry \
             service named '<namespace>.<app>.<service>'."
        )
    };
    for (method, path, what, part) in [
        (
            "GET",
            "/v3/namespaces/a.b/apps/x/services/y/routeconfig",
            "namespace",
            "a.b",
        ),
        (
            "PUT",
            "/v3/namespaces/a/apps/my%20app/services/y/routeconfig",
            "application",
            "my app",
        ),
        (
            "DELETE",
            "/v3/namespaces/a/apps/x/services/y%2Fz/routeconfig",
            "service",
            "y/z",
        ),
    ] {
        let body = if method == "PUT" { r#"{"v1":100}"# } else { "" };
        let answer = facade.send(method, path, &[], body);
        plain(&answer, 400, &message(what, part));
    }

    let answer = facade.post(CONFIG, "{}");
    plain(
        &answer,
        405,
        &format!("Problem accessing: {CONFIG}. Reason: Method Not Allowed"),
    );
    let answer = facade.get("/v3/namespaces/default/apps?x=1");
    plain(
        &answer,
        404,
        "Problem accessing: /v3/namespaces/default/apps?x=1. Reason: Not Found",
    );
}

#[test]
fn route_configs_need_the_routes_scopes_with_jwt() {
    let secret = "cdap-secret";
    let facade = Facade::start(&["--jwt-hs256-secret", secret]);
    plain(&facade.get(CONFIG), 401, "Invalid token format");
    let read = format!("bearer {}", hs256_token(secret, &["routing.routes.read"]));
    let answer = facade.send("GET", CONFIG, &[("Authorization", &read)], "");
    assert_eq!((answer.status, answer.body.as_str()), (200, "{}"));
    let answer = facade.send("DELETE", CONFIG, &[("Authorization", &read)], "");
    plain(
        &answer,
        401,
        "You are not authorized to perform the requested action",
    );
    let write = format!("bearer {}", hs256_token(secret, &["routing.routes.write"]));
    let answer = facade.send("DELETE", CONFIG, &[("Authorization", &write)], "");
    assert_eq!(answer.status, 404);
}

#[test]
fn a_config_keeps_the_fallback_and_sticky_mode_of_the_service() {
    let facade = Facade::start(&[]);
    deploy(&facade);
    let upstream = "/services/default.MyApp.MyService/upstream";
    let mut body = facade.get(upstream).json();
    body.as_object_mut().unwrap().remove("service_id");
    body["config"]["split"] = json!({"fallback": "smallest", "sticky": true});
    assert_eq!(facade.put(upstream, &body.to_string()).status, 200);

    // Percentages are what CDAP calls the route config: none yet.
    assert_eq!(facade.get(CONFIG).body, "{}");
    plain(
        &facade.delete(CONFIG, ""),
        404,
        "Route Config for Service program:default.MyApp.-SNAPSHOT.service.MyService was not found.",
    );
    // Without percentages the fallback picks the smallest version.
    let (versions, _) = picks(&facade, 10);
    assert_eq!(versions, counts(&[("v1", 10)]));

    assert_eq!(facade.put(CONFIG, r#"{"v1": 50, "v2": 50}"#).status, 200);
    assert_eq!(
        facade.get(upstream).json()["config"]["split"],
        json!({"split": {"v1": 50, "v2": 50}, "fallback": "smallest", "sticky": true})
    );
    // Sticky: a caller key keeps its version.
    for key in ["alice", "bob", "carol"] {
        let body = json!({"path": "/my", "pick": true, "key": key}).to_string();
        let first = facade.post("/debug/match", &body).json()["backend"]["version"].clone();
        for _ in 0..5 {
            let again = facade.post("/debug/match", &body).json()["backend"]["version"].clone();
            assert_eq!(again, first, "{key}");
        }
    }

    // Deleting the config removes the split with its fallback.
    assert_eq!(facade.delete(CONFIG, "").status, 200);
    assert_eq!(
        facade.get(upstream).json()["config"],
        json!({"strategy": "roundrobin"})
    );
    let (versions, _) = picks(&facade, 30);
    assert_eq!(versions, counts(&[("v1", 20), ("v2", 10)]));
}
