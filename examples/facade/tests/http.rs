//! End-to-end tests: start the real `routeyard-facade` binary on a free loopback port
//! and talk HTTP to it. One test binary; the dialects' tests live in `tests/http/`.

#[path = "http/auth.rs"]
mod auth;
#[path = "http/cdap.rs"]
mod cdap;
#[path = "http/cf.rs"]
mod cf;
#[path = "http/events.rs"]
mod events;
#[path = "http/failure.rs"]
mod failure;
#[path = "http/gobetween.rs"]
mod gobetween;
#[path = "http/kong.rs"]
mod kong;
#[path = "http/robustness.rs"]
mod robustness;
#[path = "http/support.rs"]
mod support;
#[path = "http/upstream.rs"]
mod upstream;

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{Facade, BIN};

const GROUPS: &str = "/routing/v1/router_groups";

#[test]
fn serves_the_seeded_router_group() {
    let facade = Facade::start(&[]);
    let answer = facade.get(GROUPS);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    let groups = answer.json();
    let groups = groups.as_array().expect("an array");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default-tcp");
    assert_eq!(groups[0]["type"], "tcp");
    assert_eq!(groups[0]["reservable_ports"], "1024-65535");
    assert!(!groups[0]["guid"].as_str().unwrap().is_empty());

    let answer = facade.get(&format!("{GROUPS}?name=default-tcp"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), Value::Array(groups.clone()));
}

#[test]
fn seeded_groups_come_from_the_command_line() {
    let facade = Facade::start(&[
        "--seed-router-group",
        "edge:tcp:5000-5010",
        "--seed-router-group",
        "web:http:",
    ]);
    let mut names: Vec<String> = facade
        .get(GROUPS)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["edge", "web"]);

    // A seed CF refuses stops the start with CF's message.
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed-router-group",
            "bad:tcp:80",
        ])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("port must be between 1024 and 65535"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_name_is_404_in_cf_shape() {
    let facade = Facade::start(&[]);
    let answer = facade.get(&format!("{GROUPS}?name=nope"));
    assert_eq!(answer.status, 404);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        answer.json(),
        json!({"name": "ResourceNotFoundError", "message": "router group 'nope' not found"})
    );
}

#[test]
fn post_creates_once_then_returns_the_existing_group() {
    let facade = Facade::start(&[]);
    let group = r#"{"name":"extra","type":"tcp","reservable_ports":"5000-5010"}"#;
    let answer = facade.post(GROUPS, group);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let created = answer.json();
    assert_eq!(created["name"], "extra");
    assert_eq!(created["reservable_ports"], "5000-5010");

    let answer = facade.post(GROUPS, group);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), created);

    let answer = facade.get(&format!("{GROUPS}?name=extra"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!([created]));
    assert_eq!(facade.get(GROUPS).json().as_array().unwrap().len(), 2);
}

#[test]
fn a_name_taken_by_another_type_is_409() {
    let facade = Facade::start(&[]);
    let answer = facade.post(GROUPS, r#"{"name":"default-tcp","type":"http"}"#);
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.json()["name"], "DBConflictError");
}

#[test]
fn bad_requests_are_400_process_request_errors() {
    let facade = Facade::start(&[]);
    for body in [
        "",
        "{",
        "[]",
        r#"{"name":42,"type":"tcp","reservable_ports":"1024"}"#,
        r#"{"name":"bad","type":"tcp","reservable_ports":"1024, 2000"}"#,
        r#"{"name":"","type":"tcp","reservable_ports":"1024"}"#,
    ] {
        let answer = facade.post(GROUPS, body);
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        let answer = answer.json();
        assert_eq!(answer["name"], "ProcessRequestError", "{body}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("Cannot process request: "),
            "{body}: {message}"
        );
    }
    let answer = facade.post(
        GROUPS,
        r#"{"name":"bad","type":"tcp","reservable_ports":"1024, 2000"}"#,
    );
    assert_eq!(
        answer.json()["message"],
        "Cannot process request: port must be between 1024 and 65535"
    );
    // Nothing was created by the failed requests.
    assert_eq!(facade.get(GROUPS).json().as_array().unwrap().len(), 1);
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let facade = Facade::start(&["--max-ttl", "30"]);
    assert_eq!(facade.get(GROUPS).status, 200);
    let (exit, rest) = facade.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(rest.contains("routeyard-facade stopped"), "{rest}");
}

#[test]
fn refuses_a_non_loopback_address_without_authentication() {
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--insecure"), "{stderr}");
}
