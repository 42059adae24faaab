//! Unknown paths, wrong methods, oversized bodies, the debug endpoints, HTTPS.

use std::io::{Read, Write};
use std::sync::Arc;

use serde_json::json;

use crate::support::{fixture, Facade};

#[test]
fn unknown_paths_are_404_in_each_dialect() {
    let facade = Facade::start(&[]);
    let answer = facade.get("/routing/v1/nothing");
    assert_eq!(answer.status, 404);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        answer.json(),
        json!({"name": "ResourceNotFoundError", "message": "no such endpoint: /routing/v1/nothing"})
    );
    for path in ["/nothing", "/services/a/b/c", "/pings", "/v3x"] {
        let answer = facade.post(path, "{}");
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json(), json!({"message": "Not found"}), "{path}");
    }
    // gobetween's paths answer a JSON string, CDAP's plain text.
    let answer = facade.post("/servers/a/b", "{}");
    assert_eq!(answer.status, 404);
    assert_eq!(answer.content_type, "application/json; charset=utf-8");
    assert_eq!(answer.json(), json!("Not found"));
    let answer = facade.post("/v3/nothing", "{}");
    assert_eq!(answer.status, 404);
    assert_eq!(answer.content_type, "text/plain; charset=utf-8");
    assert_eq!(
        answer.body,
        "Problem accessing: /v3/nothing. Reason: Not Found"
    );
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let facade = Facade::start(&[]);
    for (method, path, allow) in [
        ("PUT", "/routing/v1/routes", "GET,HEAD,POST,DELETE"),
        ("POST", "/routing/v1/tcp_routes", "GET,HEAD"),
        ("GET", "/routing/v1/tcp_routes/create", "POST"),
        ("DELETE", "/routing/v1/router_groups", "GET,HEAD,POST"),
        ("POST", "/routing/v1/events", "GET,HEAD"),
    ] {
        let answer = facade.send(method, path, &[], "");
        assert_eq!(answer.status, 405, "{method} {path}");
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(
            answer.json(),
            json!({"name": "ResponseError", "message": "Method Not Allowed"}),
        );
    }
    for (method, path, allow) in [
        ("DELETE", "/services", "GET,HEAD,POST"),
        ("POST", "/routes/x", "GET,HEAD,PUT,PATCH,DELETE"),
    ] {
        let answer = facade.send(method, path, &[], "");
        assert_eq!(answer.status, 405, "{method} {path}");
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(answer.json(), json!({"message": "Method not allowed"}));
    }
}

#[test]
fn bodies_over_the_limit_are_413_and_change_nothing() {
    let facade = Facade::start(&["--max-body-bytes", "2048"]);
    let routes: Vec<_> = (0..100)
        .map(|i| json!({"route": format!("r{i}.example.com"), "ip": "10.0.0.1", "port": 80}))
        .collect();
    let big = json!(routes).to_string();
    assert!(big.len() > 2048);
    let answer = facade.post("/routing/v1/routes", &big);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        answer.json(),
        json!({"name": "ProcessRequestError",
               "message": "Cannot process request: request body is larger than 2048 bytes"})
    );
    assert_eq!(facade.get("/routing/v1/routes").body, "[]");
    let answer = facade.post(
        "/routes",
        &format!(r#"{{"paths":["/x"],"tags":["{}"]}}"#, "a".repeat(3000)),
    );
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.json(),
        json!({"message": "request body is larger than 2048 bytes"})
    );
    // Just under the limit is fine.
    let small = json!(routes[..10]).to_string();
    assert_eq!(facade.post("/routing/v1/routes", &small).status, 201);
}

#[test]
fn the_default_limit_is_one_mebibyte() {
    let facade = Facade::start(&[]);
    let body = format!("[{}]", " ".repeat(1 << 20));
    // Refused on its announced length while the client is still writing it: the
    // client must get the answer every time, not a connection closed under it.
    for _ in 0..5 {
        let answer = facade.post("/routing/v1/routes", &body);
        assert_eq!(answer.status, 413);
    }
    let body = format!("[{}]", " ".repeat((1 << 20) - 2));
    let answer = facade.post("/routing/v1/routes", &body);
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[test]
fn debug_match_reports_what_the_matcher_finds() {
    let facade = Facade::start(&[]);
    let answer = facade.post(
        "/routing/v1/routes",
        r#"[{"route":"shop.example.com/cart","ip":"10.0.0.7","port":8080}]"#,
    );
    assert_eq!(answer.status, 201);
    let answer = facade.post(
        "/services",
        r#"{"name":"users","url":"http://users.internal/v2"}"#,
    );
    assert_eq!(answer.status, 201);
    let answer = facade.post(
        "/services/users/routes",
        r#"{"name":"by-id","paths":["~/users/(?<id>\\d+)$"],"hosts":["api.example.com"]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);

    let answer = facade.post(
        "/debug/match",
        r#"{"method":"GET","host":"Shop.Example.com:443","path":"/cart/42","pick":true}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let found = answer.json();
    assert_eq!(
        found["matched"],
        json!({"kind": "cf_route", "route": "shop.example.com/cart"})
    );
    assert_eq!(
        found["backend"],
        json!({"address": "10.0.0.7", "port": 8080})
    );

    let answer = facade.post(
        "/debug/match",
        r#"{"protocol":"https","host":"api.example.com","path":"/users/42","headers":{"x-a":["1","2"]}}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let found = answer.json();
    assert_eq!(found["matched"]["kind"], "route");
    assert_eq!(found["matched"]["route"]["name"], "by-id");
    assert_eq!(found["service"]["name"], "users");
    assert_eq!(found["upstream_host"], "users.internal");
    assert_eq!(found["upstream_path"], "/v2");
    assert_eq!(
        found["captures"],
        json!([{"index": 1, "name": "id", "value": "42"}])
    );
    assert_eq!(found["backend"], json!(null));

    let answer = facade.post(
        "/debug/match",
        r#"{"host":"nowhere.example.com","path":"/"}"#,
    );
    assert_eq!(answer.status, 404);
    let missed = answer.json();
    assert_eq!(missed["message"], "no route matches the request");
    assert_eq!(missed["request"]["host"], "nowhere.example.com");
    assert_eq!(missed["request"]["method"], "GET");

    for body in [
        "{",
        r#"{"protocol":"gopher"}"#,
        r#"{"source":"not an address"}"#,
        r#"{"hostname":"x"}"#,
    ] {
        let answer = facade.post("/debug/match", body);
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the request description"));
    }
}

#[test]
fn https_with_the_given_certificate() {
    let cert = fixture("tls-cert.pem");
    let key = fixture("tls-key.pem");
    let facade = Facade::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        facade.base.starts_with("https://127.0.0.1:"),
        "{}",
        facade.base
    );
    let addr = facade.base.trim_start_matches("https://").to_string();

    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
    let pem = std::fs::read(&cert).unwrap();
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = std::net::TcpStream::connect(&addr).unwrap();
    let mut tls = StreamOwned::new(connection, socket);
    tls.write_all(
        b"GET /routing/v1/router_groups HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = String::new();
    // A peer closing without close_notify is an error to rustls; what was read counts.
    let _ = tls.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"name\":\"default-tcp\""), "{response}");

    // Plain HTTP on the TLS port gets nowhere, and the server keeps serving.
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
}

#[test]
fn tls_files_must_be_usable() {
    let cert = fixture("tls-cert.pem");
    let output = std::process::Command::new(crate::support::BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a PEM private key"), "{stderr}");
}
