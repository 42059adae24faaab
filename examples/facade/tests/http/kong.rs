//! Kong's Admin API: services and routes, pages, tags, errors.

use serde_json::{json, Value};

use crate::support::Facade;

fn create_service(facade: &Facade, body: Value) -> Value {
    let answer = facade.post("/services", &body.to_string());
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    answer.json()
}

#[test]
fn services_crud() {
    let facade = Facade::start(&[]);
    let service = create_service(
        &facade,
        json!({"name": "billing", "url": "https://billing.internal:8443/v1", "tags": ["prod"]}),
    );
    assert_eq!(service["name"], "billing");
    assert_eq!(service["protocol"], "https");
    assert_eq!(service["host"], "billing.internal");
    assert_eq!(service["port"], 8443);
    assert_eq!(service["path"], "/v1");
    let id = service["id"].as_str().unwrap().to_string();

    for key in ["billing", id.as_str()] {
        let answer = facade.get(&format!("/services/{key}"));
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json(), service);
    }

    let answer = facade.patch("/services/billing", r#"{"port":9443,"path":null}"#);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let patched = answer.json();
    assert_eq!(
        (patched["port"].clone(), patched["path"].clone()),
        (json!(9443), Value::Null)
    );
    assert_eq!(
        patched["host"], "billing.internal",
        "PATCH keeps what it does not name"
    );
    assert_eq!(patched["id"], service["id"]);

    // PUT creates (201) or replaces (200).
    let answer = facade.put("/services/search", r#"{"host":"search.internal"}"#);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["name"], "search");
    let answer = facade.put(
        "/services/search",
        r#"{"host":"search2.internal","port":81}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["host"], "search2.internal");
    assert_eq!(answer.json()["name"], "search");
    assert_eq!(facade.get("/services/search").json()["port"], 81);

    let answer = facade.get("/services");
    assert_eq!(answer.status, 200);
    let page = answer.json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], Value::Null);

    let answer = facade.delete("/services/search", "");
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    let answer = facade.delete("/services/search", "");
    assert_eq!(answer.status, 204, "deleting twice is fine");
    let answer = facade.get("/services/search");
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"message": "Not found"}));
    let answer = facade.patch("/services/search", r#"{"port":1}"#);
    assert_eq!(answer.status, 404);
}

#[test]
fn service_errors_are_kong_shaped() {
    let facade = Facade::start(&[]);
    create_service(&facade, json!({"name": "a", "host": "a.internal"}));
    let answer = facade.post("/services", r#"{"name":"a","host":"b.internal"}"#);
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.json(),
        json!({"code": 5, "name": "unique constraint violation",
               "message": "UNIQUE violation detected on '{name=\"a\"}'",
               "fields": {"name": "a"}})
    );
    for body in ["", "{", "[]", "\"x\""] {
        let answer = facade.post("/services", body);
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            answer.json(),
            json!({"message": "Cannot parse JSON body"}),
            "{body}"
        );
    }
    let answer = facade.post("/services", r#"{"name":"b"}"#);
    assert_eq!(answer.status, 400);
    let error = answer.json();
    assert_eq!(
        (error["code"].clone(), error["name"].clone()),
        (json!(2), json!("schema violation"))
    );
    assert_eq!(error["fields"]["host"], "required field missing");
    let answer = facade.patch("/services/a", r#"{"port":"x"}"#);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], 2);
    assert_eq!(
        facade.get("/services").json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn routes_crud_and_nesting_under_services() {
    let facade = Facade::start(&[]);
    let service = create_service(&facade, json!({"name": "api", "host": "api.internal"}));
    let sid = service["id"].as_str().unwrap().to_string();

    let answer = facade.post(
        "/routes",
        &json!({"name": "users", "paths": ["/users"], "hosts": ["example.com"],
                "service": {"id": sid}})
        .to_string(),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let route = answer.json();
    assert_eq!(route["service"], json!({"id": sid}));
    assert_eq!(route["protocols"], json!(["http", "https"]));

    let answer = facade.post(
        "/services/api/routes",
        r#"{"name":"orders","paths":["/orders"]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["service"], json!({"id": sid}));
    let answer = facade.post("/services/missing/routes", r#"{"paths":["/x"]}"#);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"message": "Not found"}));

    let answer = facade.post("/routes", r#"{"name":"loose","paths":["/loose"]}"#);
    assert_eq!(answer.status, 201);

    let names = |path: &str| -> Vec<String> {
        facade.get(path).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut nested = names(&format!("/services/{sid}/routes"));
    nested.sort();
    assert_eq!(nested, ["orders", "users"]);
    assert_eq!(names("/routes").len(), 3);
    assert_eq!(facade.get("/services/missing/routes").status, 404);

    let answer = facade.get("/routes/users");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), route);
    let answer = facade.patch(
        "/routes/users",
        r#"{"paths":["/people"],"strip_path":false}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let patched = answer.json();
    assert_eq!(patched["paths"], json!(["/people"]));
    assert_eq!(patched["strip_path"], false);
    assert_eq!(patched["hosts"], json!(["example.com"]));

    let answer = facade.put("/routes/new-one", r#"{"paths":["/new"]}"#);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["name"], "new-one");
    let answer = facade.put("/routes/new-one", r#"{"paths":["/newer"]}"#);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["paths"], json!(["/newer"]));
    // The path names the route: a replacement keeps that name, whatever the body says.
    assert_eq!(answer.json()["name"], "new-one");
    let answer = facade.put(
        "/routes/new-one",
        r#"{"name":"renamed","paths":["/newest"]}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["name"], "new-one");
    assert_eq!(
        facade.get("/routes/new-one").json()["paths"],
        json!(["/newest"])
    );
    // By id, the body's name stands.
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let answer = facade.put(
        &format!("/routes/{id}"),
        r#"{"name":"renamed","paths":["/x"]}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["name"], "renamed");
    assert_eq!(facade.get("/routes/renamed").json()["id"], json!(id));

    // A service with routes cannot go; its routes can.
    let answer = facade.delete("/services/api", "");
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"code": 4, "name": "foreign key violation",
               "message": "an existing 'routes' entity references this 'services' entity",
               "fields": {"@referenced_by": "routes"}})
    );
    for name in ["users", "orders"] {
        assert_eq!(facade.delete(&format!("/routes/{name}"), "").status, 204);
    }
    assert_eq!(facade.delete("/services/api", "").status, 204);
    assert_eq!(facade.get("/routes/users").status, 404);
    assert_eq!(facade.patch("/routes/users", "{}").status, 404);
    assert_eq!(facade.delete("/routes/users", "").status, 204);
}

#[test]
fn route_errors_are_kong_shaped() {
    let facade = Facade::start(&[]);
    let answer = facade.post("/routes", r#"{"paths":["api"]}"#);
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"code": 2, "name": "schema violation",
               "message": "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))",
               "fields": {"paths": ["should start with: / (fixed path) or ~/ (regex path)"]}})
    );
    let answer = facade.post(
        "/routes",
        r#"{"paths":["/x"],"service":{"id":"7c6f5d3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"}}"#,
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], 4);
    assert_eq!(
        facade.post("/routes", "nope").json(),
        json!({"message": "Cannot parse JSON body"})
    );
    assert_eq!(
        facade
            .post("/routes", r#"{"name":"r","paths":["/a"]}"#)
            .status,
        201
    );
    assert_eq!(
        facade
            .post("/routes", r#"{"name":"r","paths":["/b"]}"#)
            .status,
        409
    );
    assert_eq!(
        facade.get("/routes").json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn pages_and_tag_filters() {
    let facade = Facade::start(&[]);
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["even", "all"])
        } else {
            json!(["odd", "all"])
        };
        let body = json!({"name": format!("r{i}"), "paths": [format!("/p{i}")], "tags": tags});
        assert_eq!(facade.post("/routes", &body.to_string()).status, 201);
    }
    // Walk the pages by their `next` links.
    let mut seen = Vec::new();
    let mut path = "/routes?size=3&tags=all".to_string();
    let mut pages = 0;
    loop {
        let answer = facade.get(&path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let page = answer.json();
        pages += 1;
        for route in page["data"].as_array().unwrap() {
            seen.push(route["name"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert!(page["offset"].is_string());
                assert!(next.starts_with("/routes?offset="), "{next}");
                assert!(next.ends_with("&tags=all&size=3"), "{next}");
                path = next.to_string();
            }
            None => {
                assert!(page.get("offset").is_none());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);

    let count = |path: &str| facade.get(path).json()["data"].as_array().unwrap().len();
    assert_eq!(count("/routes?tags=even"), 4);
    assert_eq!(count("/routes?tags=even,odd"), 0);
    assert_eq!(count("/routes?tags=even/odd"), 7);
    assert_eq!(count("/routes?size=1000"), 7);

    for (query, code, name, message) in [
        (
            "size=0",
            9,
            "invalid size",
            "size must be an integer between 1 and 1000",
        ),
        ("size=lots", 9, "invalid size", "size must be a number"),
        (
            "offset=%21%21",
            7,
            "invalid offset",
            "'!!' is not a valid offset: bad base64 encoding",
        ),
        (
            "offset=e30%3D",
            7,
            "invalid offset",
            "'e30=' is not a valid offset: bad json encoding",
        ),
        (
            "tags=a,b/c",
            11,
            "invalid options",
            "invalid option (tags: invalid filter syntax)",
        ),
    ] {
        let answer = facade.get(&format!("/routes?{query}"));
        assert_eq!(answer.status, 400, "{query}");
        let error = answer.json();
        assert_eq!(
            (
                error["code"].clone(),
                error["name"].clone(),
                error["message"].clone()
            ),
            (json!(code), json!(name), json!(message)),
            "{query}"
        );
    }
    let answer = facade.get("/services?size=0");
    assert_eq!(answer.status, 400);
}

#[test]
fn routes_below_their_service() {
    let facade = Facade::start(&[]);
    let a = create_service(&facade, json!({"name": "a", "host": "a.internal"}));
    create_service(&facade, json!({"name": "b", "host": "b.internal"}));
    assert_eq!(
        facade
            .post("/services/a/routes", r#"{"name":"ra","paths":["/a"]}"#)
            .status,
        201
    );
    assert_eq!(
        facade
            .post("/routes", r#"{"name":"free","paths":["/f"]}"#)
            .status,
        201
    );

    let answer = facade.get("/services/a/routes/ra");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["service"], json!({"id": a["id"]}));
    // Not this service's route, or no such route: 404.
    for path in [
        "/services/b/routes/ra",
        "/services/a/routes/free",
        "/services/a/routes/none",
        "/services/none/routes/ra",
    ] {
        let answer = facade.get(path);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json(), json!({"message": "Not found"}));
    }
    let answer = facade.patch("/services/a/routes/ra", r#"{"methods":["GET"]}"#);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["methods"], json!(["GET"]));
    assert_eq!(facade.patch("/services/b/routes/ra", "{}").status, 404);

    // PUT below b moves a route to b, or creates one there.
    let answer = facade.put("/services/b/routes/ra", r#"{"paths":["/a2"]}"#);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let b_id = facade.get("/services/b").json()["id"].clone();
    assert_eq!(answer.json()["service"], json!({"id": b_id}));
    let answer = facade.put("/services/b/routes/rb", r#"{"paths":["/b"]}"#);
    assert_eq!(answer.status, 201, "{}", answer.body);

    let answer = facade.get("/routes/rb/service");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["name"], "b");
    assert_eq!(facade.get("/routes/free/service").status, 404);
    assert_eq!(facade.get("/routes/none/service").status, 404);

    assert_eq!(facade.delete("/services/a/routes/rb", "").status, 404);
    assert_eq!(facade.delete("/services/b/routes/rb", "").status, 204);
    assert_eq!(facade.delete("/services/b/routes/rb", "").status, 404);
    assert_eq!(facade.get("/routes/rb").status, 404);
}
