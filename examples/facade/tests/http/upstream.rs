//! The backends of Kong services: `/services/{name or id}/upstream` and
//! `/services/{name or id}/stats`, and what `/debug/match` picks from them.

use serde_json::{json, Value};

use crate::support::Facade;

const UPSTREAM: &str = "/services/orders/upstream";

fn service_with_route(facade: &Facade) -> String {
    let answer = facade.post("/services", r#"{"name":"orders","host":"orders.internal"}"#);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = facade.post(
        "/services/orders/routes",
        r#"{"name":"orders","paths":["/orders"]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()["service"]["id"].as_str().unwrap().to_string()
}

fn pick(facade: &Facade, extra: Value) -> Value {
    let mut body = json!({"path": "/orders/1", "pick": true});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let answer = facade.post("/debug/match", &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["backend"].clone()
}

#[test]
fn upstreams_are_put_read_picked_and_deleted() {
    let facade = Facade::start(&[]);
    let id = service_with_route(&facade);

    let answer = facade.get(UPSTREAM);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"message": "Not found"}));
    // Without backends a Kong route matches but picks nothing.
    assert_eq!(pick(&facade, json!({})), Value::Null);

    let body = json!({
        "backends": [
            {"address": "10.0.0.1", "port": 8080, "weight": 3},
            {"address": "10.0.0.2", "port": 8080, "max_connections": 10, "state": "live"},
            {"address": "10.0.0.9", "port": 8080, "tier": 1},
        ],
        "config": {"strategy": "roundrobin"},
    });
    let answer = facade.put(UPSTREAM, &body.to_string());
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let stored = answer.json();
    assert_eq!(
        stored,
        json!({
            "service_id": id,
            "backends": [
                {"address": "10.0.0.1", "port": 8080, "weight": 3, "tier": 0,
                 "state": "live", "discovered": true},
                {"address": "10.0.0.2", "port": 8080, "weight": 1, "tier": 0,
                 "max_connections": 10, "state": "live", "discovered": true},
                {"address": "10.0.0.9", "port": 8080, "weight": 1, "tier": 1,
                 "state": "live", "discovered": true},
            ],
            "config": {"strategy": "roundrobin"},
        })
    );
    // By name or id.
    assert_eq!(facade.get(UPSTREAM).json(), stored);
    assert_eq!(
        facade.get(&format!("/services/{id}/upstream")).json(),
        stored
    );

    // Weighted round robin over the preferred tier: 3 to 1 in every 4 picks.
    let mut first = 0;
    for _ in 0..8 {
        let backend = pick(&facade, json!({}));
        assert_eq!(backend["tier"], 0, "{backend}");
        if backend["address"] == "10.0.0.1" {
            assert_eq!(backend["weight"], 3);
            first += 1;
        }
    }
    assert_eq!(first, 6);

    // Replacing: the first tier down, the standby serves.
    let body = json!({"backends": [
        {"address": "10.0.0.1", "port": 8080, "state": "down"},
        {"address": "10.0.0.9", "port": 8080, "tier": 1},
    ]});
    let answer = facade.put(UPSTREAM, &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.body);
    for _ in 0..3 {
        assert_eq!(
            pick(&facade, json!({})),
            json!({"address": "10.0.0.9", "port": 8080, "weight": 1, "tier": 1, "version": null})
        );
    }

    let answer = facade.delete(UPSTREAM, "");
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    assert_eq!(facade.get(UPSTREAM).status, 404);
    assert_eq!(facade.delete(UPSTREAM, "").status, 204, "idempotent");
    assert_eq!(pick(&facade, json!({})), Value::Null);
}

#[test]
fn stats_count_connections_and_bytes() {
    let facade = Facade::start(&[]);
    service_with_route(&facade);
    assert_eq!(facade.get("/services/orders/stats").status, 404);
    let body = json!({"backends": [
        {"address": "10.0.0.1", "port": 8080},
        {"address": "10.0.0.2", "port": 9090, "tier": 2, "max_connections": 5},
    ]});
    assert_eq!(facade.put(UPSTREAM, &body.to_string()).status, 201);
    for _ in 0..3 {
        let backend = pick(&facade, json!({"connect": true, "rx": 100, "tx": 40}));
        assert_eq!(backend["address"], "10.0.0.1");
    }
    let answer = facade.get("/services/orders/stats");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stats = answer.json();
    assert_eq!(
        (
            &stats["active_connections"],
            &stats["rx_total"],
            &stats["tx_total"]
        ),
        (&json!(0), &json!(300), &json!(120))
    );
    let backends = stats["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    assert_eq!(backends[0]["host"], "10.0.0.1");
    assert_eq!(backends[0]["port"], "8080");
    assert_eq!(backends[0]["stats"]["total_connections"], 3, "{stats}");
    assert_eq!(backends[0]["stats"]["rx"], 300);
    assert_eq!(backends[0]["stats"]["active_connections"], 0);
    assert_eq!(backends[1]["host"], "10.0.0.2");
    assert_eq!(backends[1]["priority"], 2);
    assert_eq!(backends[1]["stats"]["total_connections"], 0);
}

#[test]
fn refused_upstreams_change_nothing() {
    let facade = Facade::start(&[]);
    let answer = facade.put("/services/nope/upstream", r#"{"backends":[]}"#);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"message": "Not found"}));

    service_with_route(&facade);
    let good = r#"{"backends":[{"address":"10.0.0.1","port":8080}]}"#;
    assert_eq!(facade.put(UPSTREAM, good).status, 201);
    let before = facade.get(UPSTREAM).json();
    for (body, message) in [
        (
            r#"{"backends":[{"address":"10.0.0.1","port":8080}],"config":{"strategy":"fastest"}}"#,
            "cannot read the upstream: unknown variant `fastest`",
        ),
        (
            r#"{"backend":[]}"#,
            "cannot read the upstream: unknown field `backend`",
        ),
        ("", "cannot read the upstream: EOF while parsing a value"),
        (
            r#"{"backends":[{"address":"10.0.0.1","port":70000}]}"#,
            "cannot read the upstream: invalid value: integer `70000`",
        ),
    ] {
        let answer = facade.put(UPSTREAM, body);
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        let text = answer.json()["message"].as_str().unwrap().to_string();
        assert!(text.starts_with(message), "{body}: {text}");
    }
    for (body, message) in [
        (
            r#"{"backends":[{"address":"10.0.0.1","port":8080},{"address":"10.0.0.1","port":8080}]}"#,
            "backend 10.0.0.1:8080 is listed more than once",
        ),
        (
            r#"{"backends":[{"address":"","port":8080}]}"#,
            "a backend requires a non-empty address",
        ),
        (
            r#"{"backends":[{"address":"10.0.0.1","port":0}]}"#,
            "backend 10.0.0.1 requires a port greater than 0",
        ),
    ] {
        let answer = facade.put(UPSTREAM, body);
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(
            answer.json(),
            json!({"code": 11, "name": "invalid options", "message": message}),
            "{body}"
        );
    }
    assert_eq!(facade.get(UPSTREAM).json(), before);
}
