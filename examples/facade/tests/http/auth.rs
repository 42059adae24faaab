//! Bearer tokens on the CF endpoints (and the Kong ones), and Basic credentials on
//! the debug endpoints.

use base64::Engine as _;
use serde_json::json;

use crate::support::{fixture, hs256_token, hs256_token_with, now, rs256_token, Facade};

const SECRET: &str = "test-secret";

fn bearer(token: &str) -> String {
    format!("bearer {token}")
}

fn unauthorized(answer: &crate::support::Answer, message: &str) {
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        answer.json(),
        json!({"name": "UnauthorizedError", "message": message})
    );
}

#[test]
fn each_endpoint_needs_its_scope() {
    let facade = Facade::start(&["--jwt-hs256-secret", SECRET]);
    let guid = {
        let token = hs256_token(SECRET, &["routing.router_groups.read"]);
        let answer = facade.send(
            "GET",
            "/routing/v1/router_groups",
            &[("Authorization", &bearer(&token))],
            "",
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()[0]["guid"].as_str().unwrap().to_string()
    };
    let route = r#"[{"route":"a.com","ip":"1.2.3.4","port":80}]"#;
    let mapping =
        json!([{"router_group_guid": guid, "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 1}])
            .to_string();
    let group = r#"{"name":"g2","type":"tcp","reservable_ports":"3000"}"#;
    let put_group = format!("/routing/v1/router_groups/{guid}");
    let cases: Vec<(&str, &str, &str, &str, u16)> = vec![
        ("GET", "/routing/v1/routes", "", "routing.routes.read", 200),
        (
            "POST",
            "/routing/v1/routes",
            route,
            "routing.routes.write",
            201,
        ),
        (
            "DELETE",
            "/routing/v1/routes",
            route,
            "routing.routes.write",
            204,
        ),
        (
            "GET",
            "/routing/v1/tcp_routes",
            "",
            "routing.routes.read",
            200,
        ),
        (
            "POST",
            "/routing/v1/tcp_routes/create",
            &mapping,
            "routing.routes.write",
            201,
        ),
        (
            "POST",
            "/routing/v1/tcp_routes/delete",
            &mapping,
            "routing.routes.write",
            204,
        ),
        (
            "GET",
            "/routing/v1/router_groups",
            "",
            "routing.router_groups.read",
            200,
        ),
        (
            "POST",
            "/routing/v1/router_groups",
            group,
            "routing.router_groups.write",
            201,
        ),
        (
            "PUT",
            &put_group,
            r#"{"reservable_ports":"1024-2000"}"#,
            "routing.router_groups.write",
            200,
        ),
    ];
    for (method, path, body, scope, status) in cases {
        // Without a token, and with every other scope: 401.
        unauthorized(
            &facade.send(method, path, &[], body),
            "Invalid token format",
        );
        let others: Vec<&str> = [
            "routing.routes.read",
            "routing.routes.write",
            "routing.router_groups.read",
            "routing.router_groups.write",
        ]
        .into_iter()
        .filter(|s| *s != scope)
        .collect();
        let token = hs256_token(SECRET, &others);
        unauthorized(
            &facade.send(method, path, &[("Authorization", &bearer(&token))], body),
            "You are not authorized to perform the requested action",
        );
        let token = hs256_token(SECRET, &[scope]);
        let answer = facade.send(method, path, &[("Authorization", &bearer(&token))], body);
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
    }

    // The event streams need the routes read scope.
    let write_only = hs256_token(SECRET, &["routing.routes.write"]);
    for path in ["/routing/v1/events", "/routing/v1/tcp_routes/events"] {
        unauthorized(&facade.send("GET", path, &[], ""), "Invalid token format");
        unauthorized(
            &facade.send("GET", path, &[("Authorization", &bearer(&write_only))], ""),
            "You are not authorized to perform the requested action",
        );
        let token = hs256_token(SECRET, &["routing.routes.read"]);
        let stream = facade.events(path, &[("Authorization", &bearer(&token))]);
        assert_eq!(stream.status, 200);
    }

    // Delete of a router group, last.
    let path = format!("/routing/v1/router_groups/{guid}");
    let token = hs256_token(SECRET, &["routing.router_groups.read"]);
    unauthorized(
        &facade.send("DELETE", &path, &[("Authorization", &bearer(&token))], ""),
        "You are not authorized to perform the requested action",
    );
    let token = hs256_token(SECRET, &["routing.router_groups.write"]);
    let answer = facade.send("DELETE", &path, &[("Authorization", &bearer(&token))], "");
    assert_eq!(answer.status, 204);
}

#[test]
fn broken_tokens_get_cf_messages() {
    let facade = Facade::start(&["--jwt-hs256-secret", SECRET]);
    let path = "/routing/v1/routes";
    let good = hs256_token(SECRET, &["routing.routes.read"]);
    let expired = hs256_token_with(
        SECRET,
        json!({"scope": ["routing.routes.read"], "exp": now() - 60}),
    );
    let forged = hs256_token("another-secret", &["routing.routes.read"]);
    let unsigned = {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
            engine.encode(r#"{"scope":["routing.routes.read"]}"#)
        )
    };
    for (header, message) in [
        ("".to_string(), "Invalid token format"),
        (good.clone(), "Invalid token format"),
        (format!("Basic {good}"), "Invalid token type: Basic"),
        (format!("bearer {good} extra"), "Invalid token format"),
        (
            "bearer not-a-jwt".to_string(),
            "token contains an invalid number of segments",
        ),
        (
            "bearer e30.e30.e30".to_string(),
            "token is malformed: its header is not base64url JSON",
        ),
        (bearer(&forged), "signature is invalid"),
        (bearer(&expired), "Token is expired"),
        (bearer(&unsigned), "invalid signing method"),
    ] {
        let headers: Vec<(&str, &str)> = if header.is_empty() {
            vec![]
        } else {
            vec![("Authorization", header.as_str())]
        };
        unauthorized(&facade.send("GET", path, &headers, ""), message);
    }
    for scheme in ["bearer", "Bearer", "BEARER"] {
        let answer = facade.send(
            "GET",
            path,
            &[("Authorization", &format!("{scheme} {good}"))],
            "",
        );
        assert_eq!(answer.status, 200, "{scheme}");
    }
    // A refused write changes nothing.
    let write = r#"[{"route":"a.com","ip":"1.2.3.4","port":80}]"#;
    unauthorized(&facade.post(path, write), "Invalid token format");
    let answer = facade.send("GET", path, &[("Authorization", &bearer(&good))], "");
    assert_eq!(answer.body, "[]");
}

#[test]
fn rs256_tokens_and_the_issuer() {
    let key = fixture("jwt-rs256-public.pem");
    let facade = Facade::start(&[
        "--jwt-rs256-public-key",
        key.to_str().unwrap(),
        "--jwt-issuer",
        "https://uaa.example.com/oauth/token",
    ]);
    let path = "/routing/v1/router_groups";
    let claims = |iss: &str| json!({"scope": ["routing.router_groups.read"], "exp": now() + 600, "iss": iss});
    let good = rs256_token(
        "jwt-rs256-private.pem",
        claims("https://uaa.example.com/oauth/token"),
    );
    let answer = facade.send("GET", path, &[("Authorization", &bearer(&good))], "");
    assert_eq!(answer.status, 200, "{}", answer.body);

    let other_key = rs256_token(
        "jwt-rs256-other-private.pem",
        claims("https://uaa.example.com/oauth/token"),
    );
    unauthorized(
        &facade.send("GET", path, &[("Authorization", &bearer(&other_key))], ""),
        "crypto/rsa: verification error",
    );
    let other_issuer = rs256_token("jwt-rs256-private.pem", claims("https://evil.example.com"));
    unauthorized(
        &facade.send(
            "GET",
            path,
            &[("Authorization", &bearer(&other_issuer))],
            "",
        ),
        "invalid issuer",
    );
    // HS256 is not configured here.
    let hs = hs256_token(SECRET, &["routing.router_groups.read"]);
    unauthorized(
        &facade.send("GET", path, &[("Authorization", &bearer(&hs))], ""),
        "invalid signing method",
    );
}

#[test]
fn a_missing_or_bad_key_file_stops_the_start() {
    let output = std::process::Command::new(crate::support::BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--jwt-rs256-public-key",
            "/nonexistent.pem",
        ])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read /nonexistent.pem"), "{stderr}");
    let output = std::process::Command::new(crate::support::BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--jwt-rs256-public-key",
            fixture("tls-cert.pem").to_str().unwrap(),
        ])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a PEM RSA public key"), "{stderr}");
}

#[test]
fn kong_and_debug_endpoints_need_the_routes_scopes_when_auth_is_on() {
    let facade = Facade::start(&["--jwt-hs256-secret", SECRET]);
    let answer = facade.get("/services");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({"message": "Invalid token format"}));
    let read = hs256_token(SECRET, &["routing.routes.read"]);
    let answer = facade.send("GET", "/routes", &[("Authorization", &bearer(&read))], "");
    assert_eq!(answer.status, 200);
    let service = r#"{"name":"s","url":"http://up.example.com"}"#;
    let answer = facade.send(
        "POST",
        "/services",
        &[("Authorization", &bearer(&read))],
        service,
    );
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json(),
        json!({"message": "You are not authorized to perform the requested action"})
    );
    let write = hs256_token(SECRET, &["routing.routes.write"]);
    let answer = facade.send(
        "POST",
        "/services",
        &[("Authorization", &bearer(&write))],
        service,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);

    // So do the debug endpoints, when no Basic credentials are configured.
    let answer = facade.get("/debug/stats");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({"message": "Invalid token format"}));
    let answer = facade.send(
        "POST",
        "/debug/match",
        &[("Authorization", &bearer(&write))],
        "{}",
    );
    assert_eq!(answer.status, 401);
    let answer = facade.send(
        "GET",
        "/debug/stats",
        &[("Authorization", &bearer(&read))],
        "",
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["services"], 1);
}

#[test]
fn basic_credentials_guard_the_debug_endpoints() {
    let facade = Facade::start(&["--basic-auth", "admin:s3cret"]);
    let answer = facade.get("/debug/stats");
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"routeyard\"")
    );
    assert_eq!(answer.json(), json!({"message": "Unauthorized"}));
    let engine = base64::engine::general_purpose::STANDARD;
    let wrong = format!("Basic {}", engine.encode("admin:guess"));
    assert_eq!(
        facade
            .send("GET", "/debug/stats", &[("Authorization", &wrong)], "")
            .status,
        401
    );
    let right = format!("Basic {}", engine.encode("admin:s3cret"));
    let answer = facade.send("GET", "/debug/stats", &[("Authorization", &right)], "");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["router_groups"], 1);
    // The CF endpoints are not behind it.
    assert_eq!(facade.get("/routing/v1/routes").status, 200);
}
