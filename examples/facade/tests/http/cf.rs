//! CF routing-api v1: HTTP routes, TCP route mappings, router group updates and
//! deletes, over HTTP.

use serde_json::{json, Value};

use crate::support::Facade;

const ROUTES: &str = "/routing/v1/routes";
const TCP: &str = "/routing/v1/tcp_routes";
const GROUPS: &str = "/routing/v1/router_groups";

fn sorted(list: Value, key: &str) -> Vec<Value> {
    let mut items = list.as_array().expect("an array").clone();
    items.sort_by_key(|v| v[key].to_string());
    items
}

fn default_group(facade: &Facade) -> String {
    facade.get(GROUPS).json()[0]["guid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn http_routes_upsert_list_renew_and_delete() {
    let facade = Facade::start(&[]);
    let answer = facade.get(ROUTES);
    assert_eq!((answer.status, answer.body.as_str()), (200, "[]"));

    let batch = r#"[
        {"route":"a.example.com/x","ip":"10.0.0.1","port":8080,"ttl":60,"log_guid":"g1"},
        {"route":"b.example.com","ip":"10.0.0.2","port":9090,
         "route_service_url":"https://rs.example.com"}
    ]"#;
    let answer = facade.post(ROUTES, batch);
    assert_eq!((answer.status, answer.body.as_str()), (201, ""));

    let answer = facade.get(ROUTES);
    assert_eq!(answer.status, 200);
    let revision: u64 = answer
        .header("x-routeyard-revision")
        .expect("the revision header")
        .parse()
        .unwrap();
    assert!(revision >= 3, "{revision}");
    let routes = sorted(answer.json(), "route");
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0]["route"], "a.example.com/x");
    assert_eq!(routes[0]["ttl"], 60);
    assert_eq!(routes[0]["log_guid"], "g1");
    assert_eq!(routes[0]["modification_tag"]["index"], 0);
    assert_eq!(routes[1]["ttl"], 120, "max_ttl fills a missing ttl");
    assert_eq!(routes[1]["route_service_url"], "https://rs.example.com");
    let guid = routes[0]["modification_tag"]["guid"].clone();

    // Renewing bumps the index and keeps the guid.
    let answer = facade.post(
        ROUTES,
        r#"[{"route":"a.example.com/x","ip":"10.0.0.1","port":8080,"ttl":30}]"#,
    );
    assert_eq!(answer.status, 201);
    let routes = sorted(facade.get(ROUTES).json(), "route");
    assert_eq!(routes[0]["modification_tag"]["guid"], guid);
    assert_eq!(routes[0]["modification_tag"]["index"], 1);
    assert_eq!(
        routes[0]["log_guid"], "g1",
        "an empty log_guid keeps the old one"
    );

    // Delete: 204, also for routes that are not there.
    let answer = facade.delete(
        ROUTES,
        r#"[{"route":"a.example.com/x","ip":"10.0.0.1","port":8080},
            {"route":"nowhere.example.com","ip":"10.9.9.9","port":1}]"#,
    );
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    let routes = facade.get(ROUTES).json();
    assert_eq!(routes.as_array().unwrap().len(), 1);
    assert_eq!(routes[0]["route"], "b.example.com");
}

#[test]
fn http_route_errors_carry_cf_names_and_texts_and_change_nothing() {
    let facade = Facade::start(&["--max-ttl", "60"]);
    for (body, name, message) in [
        (
            r#"[{"route":"a.com","ip":"1.2.3.4","port":80,"ttl":61}]"#,
            "RouteInvalidError",
            "Max ttl is 60",
        ),
        (
            r#"[{"route":"a.com","ip":"1.2.3.4","port":80,"ttl":0}]"#,
            "RouteInvalidError",
            "Request requires a ttl greater than 0",
        ),
        (
            r#"[{"route":"a.com","ip":"1.2.3.4"}]"#,
            "RouteInvalidError",
            "Each route request requires a port greater than 0",
        ),
        (
            r#"[{"ip":"1.2.3.4","port":80}]"#,
            "RouteInvalidError",
            "Each route request requires a valid route",
        ),
        (
            r#"[{"route":"a.com","port":80}]"#,
            "RouteInvalidError",
            "Each route request requires an IP",
        ),
        (
            r#"[{"route":"a.com?x","ip":"1.2.3.4","port":80}]"#,
            "RouteInvalidError",
            "url cannot contain any of [?, #]",
        ),
        (
            r#"[{"route":"a.com","ip":"1.2.3.4","port":80,"route_service_url":"http://x"}]"#,
            "RouteServiceUrlInvalidError",
            "Route service url must use HTTPS.",
        ),
    ] {
        // A valid route first: the batch is refused whole.
        let batch = body.replacen('[', r#"[{"route":"ok.com","ip":"1.1.1.1","port":1},"#, 1);
        let answer = facade.post(ROUTES, &batch);
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(
            answer.json(),
            json!({"name": name, "message": message}),
            "{body}"
        );
    }
    assert_eq!(facade.get(ROUTES).body, "[]");

    for body in ["", "{", r#"{"route":"a.com"}"#, r#"[{"port":65536}]"#] {
        for method in ["POST", "DELETE"] {
            let answer = facade.send(method, ROUTES, &[], body);
            assert_eq!(answer.status, 400, "{method} {body}");
            let answer = answer.json();
            assert_eq!(answer["name"], "ProcessRequestError");
            assert!(answer["message"]
                .as_str()
                .unwrap()
                .starts_with("Cannot process request: "));
        }
    }
    // Delete validates without the TTL rules.
    let answer = facade.delete(ROUTES, r#"[{"route":"a.com","ip":"1.2.3.4","port":0}]"#);
    assert_eq!(
        (answer.status, answer.json()["message"].clone()),
        (
            400,
            json!("Each route request requires a port greater than 0")
        )
    );
    let answer = facade.delete(
        ROUTES,
        r#"[{"route":"a.com","ip":"1.2.3.4","port":1,"ttl":999}]"#,
    );
    assert_eq!(answer.status, 204);
}

#[test]
fn tcp_routes_create_filter_and_delete() {
    let facade = Facade::start(&[]);
    let group = default_group(&facade);
    let batch = json!([
        {"router_group_guid": group, "port": 5000, "backend_ip": "10.0.0.1",
         "backend_port": 6000, "ttl": 60, "isolation_segment": "seg-a"},
        {"router_group_guid": group, "port": 5001, "backend_ip": "10.0.0.2",
         "backend_port": 6001, "isolation_segment": "seg-b"},
        {"router_group_guid": group, "port": 5002, "backend_ip": "10.0.0.3",
         "backend_port": 6002}
    ])
    .to_string();
    let answer = facade.post(&format!("{TCP}/create"), &batch);
    assert_eq!((answer.status, answer.body.as_str()), (201, ""));

    let answer = facade.get(TCP);
    assert_eq!(answer.status, 200);
    assert!(answer.header("x-routeyard-revision").is_some());
    let all = sorted(answer.json(), "port");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["ttl"], 60);
    assert_eq!(all[1]["ttl"], 120);
    assert_eq!(all[2]["isolation_segment"], "");
    assert_eq!(all[0]["backend_tls_port"], 0);
    assert_eq!(all[0]["modification_tag"]["index"], 0);

    let ports = |path: &str| -> Vec<u64> {
        let mut ports: Vec<u64> = facade
            .get(path)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["port"].as_u64().unwrap())
            .collect();
        ports.sort();
        ports
    };
    assert_eq!(ports(&format!("{TCP}?isolation_segment=seg-a")), [5000]);
    assert_eq!(
        ports(&format!(
            "{TCP}?isolation_segment=seg-a&isolation_segment=seg-b&other=1"
        )),
        [5000, 5001]
    );
    assert_eq!(ports(&format!("{TCP}?isolation_segment=")), [5002]);
    assert!(ports(&format!("{TCP}?isolation_segment=nope")).is_empty());
    assert_eq!(ports(&format!("{TCP}?unrelated=x")), [5000, 5001, 5002]);

    let answer = facade.post(
        &format!("{TCP}/delete"),
        &json!([
            {"router_group_guid": group, "port": 5000, "backend_ip": "10.0.0.1", "backend_port": 6000},
            {"router_group_guid": group, "port": 5999, "backend_ip": "10.0.0.9", "backend_port": 1}
        ])
        .to_string(),
    );
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    assert_eq!(ports(TCP), [5001, 5002]);
}

#[test]
fn tcp_route_errors_travel_as_process_request_errors() {
    let facade = Facade::start(&[]);
    let group = default_group(&facade);
    let cases = [
        (
            json!([{"router_group_guid": "", "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 1}]),
            "Cannot process request: Each tcp mapping requires a non empty router group guid. RouteMapping=[:5000<->1.2.3.4:1]",
        ),
        (
            json!([{"router_group_guid": group, "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 1, "ttl": 0}]),
            "Cannot process request: Each tcp route mapping requires a ttl greater than 0",
        ),
        (
            json!([{"router_group_guid": "missing", "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 1}]),
            "Cannot process request: router_group_guid: missing not found",
        ),
    ];
    for (body, message) in cases {
        let answer = facade.post(&format!("{TCP}/create"), &body.to_string());
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            answer.json(),
            json!({"name": "ProcessRequestError", "message": message}),
            "{body}"
        );
    }
    let answer = facade.post(&format!("{TCP}/delete"), "{}");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["name"], "ProcessRequestError");
    assert_eq!(facade.get(TCP).body, "[]");
}

#[test]
fn router_groups_update_and_delete() {
    let facade = Facade::start(&[]);
    let guid = default_group(&facade);

    let answer = facade.put(
        &format!("{GROUPS}/{guid}"),
        r#"{"name":"ignored","type":"http","reservable_ports":"2000-3000,4000"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let warning = answer.header("x-cf-warnings").expect("a warning");
    assert!(
        warning.contains("reservable_ports") && !warning.contains(' '),
        "{warning}"
    );
    assert_eq!(
        answer.json(),
        json!({"guid": guid, "name": "default-tcp", "type": "tcp",
               "reservable_ports": "2000-3000,4000"})
    );

    let answer = facade.put(
        &format!("{GROUPS}/{guid}"),
        r#"{"reservable_ports":"3000-2000"}"#,
    );
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"name": "ProcessRequestError",
               "message": "Cannot process request: range (3000-2000) must be in ascending numeric order"})
    );
    let answer = facade.put(&format!("{GROUPS}/{guid}"), "[1]");
    assert_eq!(answer.json()["name"], "ProcessRequestError");

    let answer = facade.put(&format!("{GROUPS}/nope"), r#"{"reservable_ports":"2000"}"#);
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.json(),
        json!({"name": "ResourceNotFoundError", "message": "router group 'nope' does not exist"})
    );

    // CF has no GET by guid: the path exists, the method does not.
    let answer = facade.get(&format!("{GROUPS}/{guid}"));
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("PUT,DELETE"));

    let answer = facade.delete(&format!("{GROUPS}/{guid}"), "");
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    let answer = facade.delete(&format!("{GROUPS}/{guid}"), "");
    assert_eq!((answer.status, answer.body.as_str()), (404, ""));
    assert_eq!(facade.get(GROUPS).body, "[]");
}
