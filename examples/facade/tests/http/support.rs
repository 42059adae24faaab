//! Starting the real binary, talking HTTP to it, reading event streams, minting
//! tokens.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_routeyard-facade");

/// A file under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An answer: status, headers we look at, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running facade, killed if a test fails before stopping it.
pub struct Facade {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub base: String,
    agent: ureq::Agent,
}

impl Facade {
    /// Starts the binary on port 0 and reads the address it bound from its first line.
    pub fn start(extra_args: &[&str]) -> Facade {
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
        Facade {
            child,
            stdout,
            base,
            agent: agent(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the given method, headers and body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.as_bytes().to_vec())
            .expect("a valid request");
        let response = self
            .agent
            .run(request)
            .unwrap_or_else(|err| panic!("{method} {path} is answered: {err}"));
        read(response)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], "")
    }

    pub fn post(&self, path: &str, body: &str) -> Answer {
        self.send("POST", path, &[], body)
    }

    pub fn put(&self, path: &str, body: &str) -> Answer {
        self.send("PUT", path, &[], body)
    }

    pub fn patch(&self, path: &str, body: &str) -> Answer {
        self.send("PATCH", path, &[], body)
    }

    pub fn delete(&self, path: &str, body: &str) -> Answer {
        self.send("DELETE", path, &[], body)
    }

    /// Opens an event stream; `headers` may carry `Last-Event-ID` or a token.
    pub fn events(&self, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut request = ureq::http::Request::builder().uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).expect("a valid request");
        let response = agent().run(request).expect("the stream opens");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        EventStream {
            status,
            content_type,
            reader: BufReader::new(Box::new(response.into_body().into_reader())),
        }
    }

    /// `GET /debug/stats` as JSON.
    pub fn stats(&self) -> Value {
        self.get("/debug/stats").json()
    }

    /// Waits until `/debug/stats` satisfies `ok`, for effects that take a moment
    /// (a stream's thread noticing its client left).
    pub fn wait_for_stats(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = self.stats();
            if ok(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "{what}: {stats}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
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

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // 4xx and 5xx are answers to check, not transport errors.
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .expect("the body is text");
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

/// One server-sent event, or a comment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl Frame {
    pub fn data_json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("the frame has data"))
            .expect("the data is JSON")
    }
}

/// An open event stream.
pub struct EventStream {
    pub status: u16,
    pub content_type: String,
    reader: BufReader<Box<dyn Read + Send>>,
}

impl EventStream {
    /// The next frame (up to its blank line); `None` when the stream ended.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let mut frame = Frame::default();
        let mut any = false;
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("the stream reads");
            if n == 0 {
                return any.then_some(frame);
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if any {
                    return Some(frame);
                }
                continue;
            }
            any = true;
            if let Some(comment) = line.strip_prefix(':') {
                frame.comment = Some(comment.trim().to_string());
                continue;
            }
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            let value = Some(value.to_string());
            match field {
                "id" => frame.id = value,
                "event" => frame.event = value,
                "data" => frame.data = value,
                other => panic!("unexpected field {other:?}"),
            }
        }
    }

    /// The next frame that is not a heartbeat.
    pub fn next_event(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_frame()?;
            if frame.comment.is_none() {
                return Some(frame);
            }
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// An HS256 token with these scopes, valid for ten minutes.
pub fn hs256_token(secret: &str, scopes: &[&str]) -> String {
    hs256_token_with(
        secret,
        serde_json::json!({"scope": scopes, "exp": now() + 600}),
    )
}

/// An HS256 token with these claims.
pub fn hs256_token_with(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("the token encodes")
}

/// An RS256 token signed with the fixture key `key`.
pub fn rs256_token(key: &str, claims: Value) -> String {
    let pem = std::fs::read(fixture(key)).expect("the key fixture exists");
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&pem).expect("an RSA private key"),
    )
    .expect("the token encodes")
}
