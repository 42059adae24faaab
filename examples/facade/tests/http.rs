//! End-to-end tests: start the real `routeyard-facade` binary on a free loopback port
//! and talk HTTP to it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_routeyard-facade");

/// A running facade, killed if a test fails before stopping it.
struct Facade {
    child: Child,
    stdout: BufReader<ChildStdout>,
    base: String,
    agent: ureq::Agent,
}

impl Facade {
    /// Starts the binary on port 0 and reads the address it bound from its first line.
    fn start(extra_args: &[&str]) -> Facade {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the facade binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the facade prints a line");
        let base = line
            .trim()
            .strip_prefix("routeyard-facade listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let agent = ureq::Agent::config_builder()
            // 4xx and 5xx are answers to check, not transport errors.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Facade {
            child,
            stdout,
            base,
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Returns the status, the content type and the body.
    fn get(&self, path: &str) -> (u16, String, String) {
        let response = self
            .agent
            .get(&self.url(path))
            .call()
            .expect("GET is answered");
        read(response)
    }

    fn post(&self, path: &str, body: &str) -> (u16, String, String) {
        let response = self
            .agent
            .post(&self.url(path))
            .content_type("application/json")
            .send(body)
            .expect("POST is answered");
        read(response)
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("the child can be polled") {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "the facade did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("stdout is readable");
        (exit, rest)
    }
}

impl Drop for Facade {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("the body is text");
    (status, content_type, body)
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}

const GROUPS: &str = "/routing/v1/router_groups";

#[test]
fn serves_the_seeded_router_group() {
    let facade = Facade::start(&[]);
    let (status, content_type, body) = facade.get(GROUPS);
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    let groups = parse(&body);
    let groups = groups.as_array().expect("an array");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default-tcp");
    assert_eq!(groups[0]["type"], "tcp");
    assert_eq!(groups[0]["reservable_ports"], "1024-65535");
    assert!(!groups[0]["guid"].as_str().unwrap().is_empty());

    let (status, _, body) = facade.get(&format!("{GROUPS}?name=default-tcp"));
    assert_eq!(status, 200);
    assert_eq!(parse(&body), Value::Array(groups.clone()));
}

#[test]
fn an_unknown_name_is_404_in_cf_shape() {
    let facade = Facade::start(&[]);
    let (status, content_type, body) = facade.get(&format!("{GROUPS}?name=nope"));
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        parse(&body),
        json!({"name": "ResourceNotFoundError", "message": "router group 'nope' not found"})
    );
}

#[test]
fn post_creates_once_then_returns_the_existing_group() {
    let facade = Facade::start(&[]);
    let group = r#"{"name":"extra","type":"tcp","reservable_ports":"5000-5010"}"#;
    let (status, content_type, body) = facade.post(GROUPS, group);
    assert_eq!(status, 201, "{body}");
    assert_eq!(content_type, "application/json");
    let created = parse(&body);
    assert_eq!(created["name"], "extra");
    assert_eq!(created["reservable_ports"], "5000-5010");

    let (status, _, body) = facade.post(GROUPS, group);
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body), created);

    let (status, _, body) = facade.get(&format!("{GROUPS}?name=extra"));
    assert_eq!(status, 200);
    assert_eq!(parse(&body), json!([created]));
    let (_, _, body) = facade.get(GROUPS);
    assert_eq!(parse(&body).as_array().unwrap().len(), 2);
}

#[test]
fn a_name_taken_by_another_type_is_409() {
    let facade = Facade::start(&[]);
    let (status, content_type, body) =
        facade.post(GROUPS, r#"{"name":"default-tcp","type":"http"}"#);
    assert_eq!(status, 409, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(parse(&body)["name"], "DBConflictError");
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
        let (status, content_type, answer) = facade.post(GROUPS, body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(content_type, "application/json");
        let answer = parse(&answer);
        assert_eq!(answer["name"], "ProcessRequestError", "{body}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("Cannot process request: "),
            "{body}: {message}"
        );
    }
    let (_, _, body) = facade.post(
        GROUPS,
        r#"{"name":"bad","type":"tcp","reservable_ports":"1024, 2000"}"#,
    );
    assert_eq!(
        parse(&body)["message"],
        "Cannot process request: port must be between 1024 and 65535"
    );
    // Nothing was created by the failed requests.
    let (_, _, body) = facade.get(GROUPS);
    assert_eq!(parse(&body).as_array().unwrap().len(), 1);
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let facade = Facade::start(&["--max-ttl", "30"]);
    let (status, _, _) = facade.get(GROUPS);
    assert_eq!(status, 200);
    let (exit, rest) = facade.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(rest.contains("routeyard-facade stopped"), "{rest}");
}

#[test]
fn refuses_a_non_loopback_address_without_insecure() {
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("the facade binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--insecure"), "{stderr}");
}
