//! gobetween's API: servers, their statistics, the config dump, system
//! information, and Basic credentials.

use base64::Engine as _;
use routeyard::dialect::gobetween::{self, ConnectionOptions, Format};
use serde_json::{json, Value};

use crate::support::{hs256_token, Answer, Facade};

const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

const WEB: &str = r#"{
    "bind": "0.0.0.0:24000",
    "balance": "roundrobin",
    "max_connections": 100,
    "discovery": {"kind": "static", "static_list": ["127.0.0.1:9001", "127.0.0.1:9002"]}
}"#;

const DB: &str = r#"{
    "bind": "127.0.0.1:25432",
    "protocol": "udp",
    "discovery": {
        "kind": "static",
        "static_list": ["10.0.0.5:5432 weight=2 priority=1", "10.0.0.6:5432 priority=2"]
    },
    "udp": {"max_requests": 1}
}"#;

/// The server as gobetween shows it after creation, written as gobetween does.
fn prepared(name: &str, body: &str) -> String {
    let server = gobetween::decode_server(body.as_bytes()).unwrap();
    let ready = gobetween::prepare_server(name, &server, &ConnectionOptions::default()).unwrap();
    gobetween::encode_json(&ready)
}

fn gb(answer: &Answer, status: u16, body: &str) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (status, body),
        "{answer:?}"
    );
    assert_eq!(answer.content_type, JSON);
}

fn string(message: &str) -> String {
    Value::String(message.into()).to_string()
}

fn stream_pick(facade: &Facade, port: u16, extra: Value) -> Answer {
    let mut body = json!({
        "protocol": "tcp",
        "destination": format!("127.0.0.1:{port}"),
        "source": "192.0.2.7:40000",
        "pick": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    facade.post("/debug/match", &body.to_string())
}

#[test]
fn a_server_is_created_picked_counted_and_deleted() {
    let facade = Facade::start(&[]);
    gb(&facade.get("/servers"), 200, "{}");

    gb(&facade.post("/servers/web", WEB), 200, "null");
    gb(&facade.get("/servers/web"), 200, &prepared("web", WEB));
    let all = facade.get("/servers");
    assert_eq!(all.status, 200);
    assert_eq!(
        all.json(),
        json!({"web": serde_json::from_str::<Value>(&prepared("web", WEB)).unwrap()})
    );
    gb(
        &facade.post("/servers/web", WEB),
        409,
        &string("Server with this name already exists: web"),
    );

    // It lands as a Kong service and stream route; a stream to its bind port
    // picks its backends, round robin.
    let stats = facade.stats();
    assert_eq!(
        (
            &stats["servers"],
            &stats["upstreams"],
            &stats["services"],
            &stats["routes"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1))
    );
    let service = facade.get("/services/web").json();
    assert_eq!(service["tags"], json!(["gobetween"]));
    assert_eq!(service["port"], 24000);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let answer = stream_pick(&facade, 24000, json!({}));
        assert_eq!(answer.status, 200, "{}", answer.body);
        let found = answer.json();
        assert_eq!(found["matched"]["kind"], "route");
        assert_eq!(found["matched"]["route"]["name"], "web");
        seen.push(found["backend"]["port"].as_u64().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, [9001, 9001, 9001, 9002, 9002, 9002]);
    // Another port is not the server's.
    assert_eq!(stream_pick(&facade, 24001, json!({})).status, 404);

    // Connections counted through the pool show in the stats.
    for _ in 0..4 {
        let answer = stream_pick(
            &facade,
            24000,
            json!({"connect": true, "rx": 1000, "tx": 10}),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let answer = facade.get("/servers/web/stats");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, JSON);
    let stats = answer.json();
    assert_eq!(stats["active_connections"], 0);
    assert_eq!(stats["rx_total"], 4000);
    assert_eq!(stats["tx_total"], 40);
    let backends = stats["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    for (backend, port) in backends.iter().zip(["9001", "9002"]) {
        assert_eq!(backend["host"], "127.0.0.1");
        assert_eq!(backend["port"], port);
        assert_eq!(backend["priority"], 1);
        assert_eq!(backend["weight"], 1);
        assert_eq!(backend["stats"]["total_connections"], 2, "{stats}");
        assert_eq!(backend["stats"]["rx"], 2000);
        assert_eq!(backend["stats"]["tx"], 20);
        assert_eq!(backend["stats"]["live"], true);
        assert_eq!(backend["stats"]["discovered"], true);
    }
    // The same counters through the Kong service.
    assert_eq!(facade.get("/services/web/stats").json()["rx_total"], 4000);
    // The server's backends change only through gobetween's API.
    let answer = facade.put(
        "/services/web/upstream",
        r#"{"backends":[{"address":"10.9.9.9","port":1}]}"#,
    );
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(
        answer.json()["message"],
        "the backends of service 'web' belong to the gobetween server 'web': change them \
         through /servers/web"
    );
    assert_eq!(facade.delete("/services/web/upstream", "").status, 409);

    gb(&facade.delete("/servers/web", ""), 200, "null");
    let gone = string("Server not found");
    gb(&facade.get("/servers/web"), 404, &gone);
    gb(&facade.get("/servers/web/stats"), 404, &gone);
    gb(&facade.delete("/servers/web", ""), 404, &gone);
    gb(&facade.get("/servers"), 200, "{}");
    assert_eq!(facade.get("/services/web").status, 404);
    let stats = facade.stats();
    assert_eq!(
        (
            &stats["servers"],
            &stats["upstreams"],
            &stats["services"],
            &stats["routes"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(0))
    );
    assert_eq!(stream_pick(&facade, 24000, json!({})).status, 404);
}

#[test]
fn refused_servers_get_gobetween_statuses_and_texts() {
    let facade = Facade::start(&[]);
    assert_eq!(
        facade
            .post("/services", r#"{"name":"taken","host":"t"}"#)
            .status,
        201
    );
    let not_json = gobetween::decode_server(b"{").unwrap_err();
    let wrong_type = gobetween::decode_server(br#"{"max_connections": "ten"}"#).unwrap_err();
    for (name, body, status, message) in [
        ("a", "", 400, "EOF".to_string()),
        ("a", "{", 400, not_json.message().to_string()),
        (
            "a",
            r#"{"max_connections": "ten"}"#,
            400,
            wrong_type.message().to_string(),
        ),
        (
            "a",
            r#"{"bind": ":3000", "balance": "random"}"#,
            409,
            "Not supported balance type random".into(),
        ),
        (
            "a",
            r#"{"discovery": {"kind": "static", "static_list": []}}"#,
            409,
            "No bind specified for server a".into(),
        ),
        (
            "a",
            r#"{"bind": ":3000"}"#,
            409,
            "No .discovery specified for server a".into(),
        ),
        (
            "a%20b",
            WEB,
            400,
            "server name 'a b' cannot name its service and route: invalid value 'a b': the \
             only accepted ascii characters are alphanumerics or ., -, _, and ~"
                .into(),
        ),
        (
            "taken",
            WEB,
            409,
            "a service or route named 'taken' exists already".into(),
        ),
    ] {
        let answer = facade.post(&format!("/servers/{name}"), body);
        gb(&answer, status, &string(&message));
    }
    gb(&facade.get("/servers"), 200, "{}");
    assert_eq!(
        facade.get("/services").json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Wrong methods and unknown paths answer in gobetween's shape.
    let answer = facade.put("/servers/a", WEB);
    gb(&answer, 405, &string("Method not allowed"));
    assert_eq!(answer.header("allow"), Some("GET,HEAD,POST,DELETE"));
    gb(
        &facade.get("/servers/a/stats/more"),
        404,
        &string("Not found"),
    );
}

#[test]
fn the_dump_round_trips_in_toml_and_json() {
    let facade = Facade::start(&[]);
    gb(&facade.post("/servers/web", WEB), 200, "null");
    gb(&facade.post("/servers/db", DB), 200, "null");
    let mut expected = gobetween::Config::default();
    for (name, body) in [("web", WEB), ("db", DB)] {
        let server = gobetween::decode_server(prepared(name, body).as_bytes()).unwrap();
        expected.servers.insert(name.to_string(), server);
    }

    let toml = facade.get("/dump");
    assert_eq!(toml.status, 200);
    assert_eq!(toml.content_type, TEXT);
    assert_eq!(facade.get("/dump?format=toml").body, toml.body);
    let config = gobetween::decode_config(toml.body.as_bytes(), Format::Toml).unwrap();
    assert_eq!(config, expected);
    assert_eq!(gobetween::dump(&config, Format::Toml).unwrap(), toml.body);

    let json = facade.get("/dump?format=json");
    assert_eq!(json.status, 200);
    assert_eq!(json.content_type, JSON);
    let config = gobetween::decode_config(json.body.as_bytes(), Format::Json).unwrap();
    assert_eq!(config, expected);
    assert_eq!(gobetween::dump(&config, Format::Json).unwrap(), json.body);

    gb(
        &facade.get("/dump?format=xml"),
        400,
        &string("Unknown format xml"),
    );
    gb(
        &facade.get("/dump?format="),
        400,
        &string("Unknown format "),
    );

    // A dump of nothing is an empty config.
    gb(&facade.delete("/servers/web", ""), 200, "null");
    gb(&facade.delete("/servers/db", ""), 200, "null");
    let empty = facade.get("/dump?format=json");
    assert_eq!(
        gobetween::decode_config(empty.body.as_bytes(), Format::Json).unwrap(),
        gobetween::Config::default()
    );
}

#[test]
fn system_information_and_ping() {
    let facade = Facade::start(&[]);
    let answer = facade.get("/");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, JSON);
    let info: gobetween::Info = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(info.configuration.kind, "api");
    assert!(info.configuration.details.is_empty());
    assert!(info.pid > 0);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    for time in [&info.start_time, &info.time] {
        assert!(time.ends_with('Z') && time.len() >= 20, "{time}");
        assert_eq!(&time[4..5], "-", "{time}");
        assert_eq!(&time[10..11], "T", "{time}");
    }
    assert!(info.start_time <= info.time);
    assert!(
        gobetween::parse_duration(&info.uptime).is_ok(),
        "{}",
        info.uptime
    );
    // Keys in gobetween's order, indented as gobetween does.
    assert!(
        answer.body.starts_with(
            "{\n    \"configuration\": {\n        \"kind\": \"api\"\n    },\n    \"pid\": "
        ),
        "{}",
        answer.body
    );

    let answer = facade.get("/ping");
    assert_eq!((answer.status, answer.body.as_str()), (200, "OK"));
    assert_eq!(answer.content_type, TEXT);
    gb(&facade.post("/", "{}"), 405, &string("Method not allowed"));
}

#[test]
fn basic_credentials_guard_everything_but_ping() {
    let facade = Facade::start(&["--basic-auth", "admin:s3cret"]);
    let engine = base64::engine::general_purpose::STANDARD;
    let right = format!("Basic {}", engine.encode("admin:s3cret"));
    let wrong = format!("Basic {}", engine.encode("admin:nope"));
    for (method, path, body) in [
        ("GET", "/", ""),
        ("GET", "/dump", ""),
        ("GET", "/servers", ""),
        ("GET", "/servers/web", ""),
        ("POST", "/servers/web", WEB),
        ("DELETE", "/servers/web", ""),
        ("GET", "/servers/web/stats", ""),
    ] {
        for headers in [&[][..], &[("Authorization", wrong.as_str())][..]] {
            let answer = facade.send(method, path, headers, body);
            assert_eq!(answer.status, 401, "{method} {path}");
            assert_eq!(
                answer.header("www-authenticate"),
                Some("Basic realm=\"routeyard\"")
            );
        }
    }
    let auth = [("Authorization", right.as_str())];
    assert_eq!(facade.send("POST", "/servers/web", &auth, WEB).status, 200);
    assert_eq!(
        facade.send("GET", "/servers/web/stats", &auth, "").status,
        200
    );
    assert_eq!(facade.send("GET", "/", &auth, "").status, 200);
    assert_eq!(facade.send("DELETE", "/servers/web", &auth, "").status, 200);
    assert_eq!(facade.get("/ping").body, "OK");
}

#[test]
fn bearer_tokens_guard_the_api_when_jwt_is_on_without_basic_credentials() {
    let secret = "gb-secret";
    let facade = Facade::start(&["--jwt-hs256-secret", secret]);
    gb(
        &facade.get("/servers"),
        401,
        &string("Invalid token format"),
    );
    let read = format!("bearer {}", hs256_token(secret, &["routing.routes.read"]));
    let write = format!("bearer {}", hs256_token(secret, &["routing.routes.write"]));
    let answer = facade.send("GET", "/servers", &[("Authorization", &read)], "");
    gb(&answer, 200, "{}");
    let answer = facade.send("POST", "/servers/web", &[("Authorization", &read)], WEB);
    gb(
        &answer,
        401,
        &string("You are not authorized to perform the requested action"),
    );
    let answer = facade.send("POST", "/servers/web", &[("Authorization", &write)], WEB);
    gb(&answer, 200, "null");
    assert_eq!(facade.get("/ping").body, "OK");
}
