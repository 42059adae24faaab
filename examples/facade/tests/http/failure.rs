//! Failures from outside: event stream clients that vanish or stall, thousands of
//! held connections, bodies that are too large, lie about their length, are not
//! UTF-8 or not JSON, and tampered or expired tokens. Through all of it the server
//! keeps serving and loses no committed change. Every wait is bounded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{hs256_token, hs256_token_with, now, Facade, BIN};

const EVENTS: &str = "/routing/v1/events";
const ROUTES: &str = "/routing/v1/routes";
/// The longest any single read or write of these tests waits.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

fn route(n: usize) -> Value {
    json!({"route": format!("r{n}.example.com"), "ip": "10.0.0.1", "port": 1024 + n % 60000})
}

fn upsert(facade: &Facade, from: usize, to: usize) {
    let batch: Vec<_> = (from..to).map(route).collect();
    let answer = facade.post(ROUTES, &json!(batch).to_string());
    assert_eq!(answer.status, 201, "{}", answer.body);
}

fn revision(facade: &Facade) -> u64 {
    facade.stats()["revision"].as_u64().expect("a revision")
}

/// `host:port` of a facade's base URL.
fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

fn connect(addr: &str) -> TcpStream {
    let addr: std::net::SocketAddr = addr.parse().expect("an IP:port");
    let socket = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("the facade accepts");
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    socket
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawAnswer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn content_type(&self) -> String {
        self.head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-type")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default()
    }
}

/// Splits a whole HTTP/1.1 response into status, head and (de-chunked) body.
fn parse_answer(bytes: &[u8]) -> Option<RawAnswer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut body = bytes[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some(RawAnswer { status, head, body })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

/// Writes `request` on a fresh connection (the server may stop reading early; a
/// failed write is then expected) and reads until the server closes it. `None`
/// when no whole answer came.
fn raw_exchange(addr: &str, request: &[u8], half_close: bool) -> Option<RawAnswer> {
    let mut socket = connect(addr);
    let _ = socket.write_all(request);
    if half_close {
        let _ = socket.shutdown(Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    parse_answer(&answer)
}

/// A request with a body and `Connection: close`; `length` overrides the
/// Content-Length header (`None`: the true length).
fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    length: Option<usize>,
) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        length.unwrap_or(body.len())
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The same body sent chunked, in chunks of 512 bytes.
fn chunked_bytes(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(512) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// An event stream read off a raw connection, so that no client-side timeout
/// limits how long it may be followed (each read is still bounded by IO_TIMEOUT,
/// and the facades of these tests send heartbeats more often than that).
struct RawStream {
    socket: TcpStream,
    pending: Vec<u8>,
}

/// One frame of a [`RawStream`].
#[derive(Debug, Default)]
struct RawFrame {
    id: Option<u64>,
    event: Option<String>,
    data: Option<String>,
}

impl RawStream {
    fn open(addr: &str, last_event_id: Option<u64>) -> RawStream {
        let mut socket = connect(addr);
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        socket
            .write_all(
                format!("GET {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{resume}\r\n").as_bytes(),
            )
            .unwrap();
        RawStream {
            socket,
            pending: Vec::new(),
        }
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 64 * 1024];
        match self.socket.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(err) => panic!("the event stream reads: {err}"),
        }
    }

    /// How many frames with an id the bytes read so far hold.
    fn ids_seen(&self) -> usize {
        self.pending.windows(4).filter(|w| w == b"id: ").count()
    }

    /// The next frame with an id or an event name; `None` at the end of the stream.
    /// The response head, chunk sizes and heartbeat comments are passed over: a
    /// chunk always holds whole frames, so none of them falls inside a frame.
    fn next_frame(&mut self) -> Option<RawFrame> {
        let mut frame = RawFrame::default();
        loop {
            let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
                if !self.fill() {
                    return None;
                }
                continue;
            };
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8(line).expect("the stream is UTF-8");
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if frame.id.is_some() || frame.event.is_some() {
                    return Some(frame);
                }
            } else if let Some(id) = line.strip_prefix("id: ") {
                frame.id = Some(id.parse().expect("a numeric id"));
            } else if let Some(event) = line.strip_prefix("event: ") {
                frame.event = Some(event.to_string());
            } else if let Some(data) = line.strip_prefix("data: ") {
                frame.data = Some(data.to_string());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Event stream clients that vanish.

/// Many event stream clients connect in waves, read a few events and drop their
/// sockets together (often with data still unread, which the kernel answers with
/// a reset) while a writer keeps committing. Afterwards every stream's thread is
/// gone, and a fresh subscriber from revision 0 and a listing both see every
/// committed route.
#[test]
fn vanishing_stream_clients_lose_no_change() {
    const WAVES: usize = 8;
    const PER_WAVE: usize = 10;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 25;
    let facade = Arc::new(Facade::start(&["--heartbeat", "0.2"]));
    let addr = address(&facade.base);
    let start = revision(&facade);

    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let facade = Arc::clone(&facade);
        let writing = Arc::clone(&writing);
        thread::spawn(move || {
            for b in 0..BATCHES {
                upsert(&facade, b * PER_BATCH, (b + 1) * PER_BATCH);
            }
            writing.store(false, Ordering::SeqCst);
        })
    };
    let mut vanished = 0;
    let mut read_before_vanishing = 0;
    for wave in 0..WAVES {
        // Half the clients start from the beginning, so they have a backlog to read.
        let mut streams: Vec<RawStream> = (0..PER_WAVE)
            .map(|c| RawStream::open(&addr, (c % 2 == 0).then_some(0)))
            .collect();
        for (c, stream) in streams.iter_mut().enumerate() {
            let want = 1 + (wave + c) % 5;
            while stream.ids_seen() < want && writing.load(Ordering::SeqCst) {
                assert!(stream.fill(), "wave {wave} client {c}: the stream ended");
            }
            read_before_vanishing += stream.ids_seen();
        }
        vanished += streams.len();
        drop(streams);
    }
    writer.join().expect("the writer finished");
    let written = BATCHES * PER_BATCH;
    let last = start + written as u64;
    assert_eq!(revision(&facade), last);

    facade.wait_for_stats("every vanished stream unsubscribed", |s| {
        s["subscribers"] == 0
    });
    // The listing has every route.
    let listed = facade.get(ROUTES).json();
    assert_eq!(listed.as_array().unwrap().len(), written);
    // A fresh subscriber from revision 0 replays every change, in order, once.
    let mut fresh = RawStream::open(&addr, Some(0));
    let mut ids = Vec::new();
    while ids.len() < written {
        let frame = fresh.next_frame().expect("a replayed event");
        assert_eq!(frame.event.as_deref(), Some("Upsert"), "{frame:?}");
        ids.push(frame.id.expect("an id"));
    }
    let expected: Vec<u64> = (start + 1..=last).collect();
    assert!(ids == expected, "every change once, in order");
    eprintln!(
        "vanishing clients: {vanished} dropped in {WAVES} waves after reading \
         {read_before_vanishing} events in all, {written} changes written meanwhile"
    );
}

// ---------------------------------------------------------------------------
// A client that never reads.

/// Follows the event stream as documented, reconnecting after a `Resync` frame from
/// its `resume_from`, until it has seen revision `last`; returns every revision
/// received, in order, and how often it resumed.
fn follow_until(addr: &str, from: u64, last: u64) -> (Vec<u64>, usize) {
    let mut seen = Vec::new();
    let mut resumes = 0;
    let mut at = from;
    while at < last {
        assert!(
            resumes < 1000,
            "the follower keeps lagging at {at} of {last}"
        );
        let mut stream = RawStream::open(addr, Some(at));
        while let Some(frame) = stream.next_frame() {
            if frame.event.as_deref() == Some("Resync") {
                let data: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
                assert_eq!(data["reason"], "lagged", "{data}");
                assert_eq!(data["resume_from"].as_u64(), Some(at), "{data}");
                resumes += 1;
                break;
            }
            let id = frame.id.expect("an event has an id");
            seen.push(id);
            at = id;
            if at >= last {
                break;
            }
        }
    }
    (seen, resumes)
}

/// A route whose JSON is at least `PATH + 30` bytes long.
fn long_route(n: usize) -> Value {
    const PATH: usize = 400;
    json!({"route": format!("r{n}.example.com/{}", "p".repeat(PATH)),
           "ip": "10.0.0.1", "port": 1024 + n % 60000})
}

/// The most a Linux TCP connection whose receiver never reads can hold in flight:
/// the sender's buffer may grow to `tcp_wmem`'s maximum, the receiver's stays at
/// `tcp_rmem`'s default (it grows only as the application reads).
fn kernel_buffering() -> usize {
    let field = |file: &str, index: usize, otherwise: usize| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.split_whitespace().nth(index)?.parse().ok())
            .unwrap_or(otherwise)
    };
    field("/proc/sys/net/ipv4/tcp_wmem", 2, 4 << 20)
        + field("/proc/sys/net/ipv4/tcp_rmem", 1, 128 << 10)
}

/// A client opens an event stream and never reads it while thousands of changes are
/// committed, more than the kernel, the server's per-stream buffers and the HTTP
/// layer together can hold. Writers are never held up by it; its stream ends with
/// the documented lag frame and its subscription goes away (so what the server
/// keeps for it is bounded); a client that reads sees every change.
#[test]
fn a_stalled_reader_neither_blocks_writers_nor_costs_other_clients_anything() {
    const PER_BATCH: usize = 500;
    let facade = Facade::start(&["--heartbeat", "1"]);
    let addr = address(&facade.base);
    let start = revision(&facade);

    // Enough events to overflow everything between the registry and the stalled
    // client: the kernel's buffers, 2 MiB for the HTTP layer, and the stream's
    // channels (1024 events in the subscription, 256 in the channel to the
    // connection, 256 more in the chunk being written).
    let frame_bytes = long_route(0).to_string().len();
    let bytes = kernel_buffering() + (2 << 20);
    let batches = (bytes / frame_bytes + 1024 + 2 * 256) / PER_BATCH + 1;
    let batches = batches.max(20);

    // The stalled client: requests the stream, then does not read for the whole run.
    let mut stalled = connect(&addr);
    stalled
        .write_all(format!("GET {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    facade.wait_for_stats("the stalled stream subscribed", |s| s["subscribers"] == 1);

    let written = batches * PER_BATCH;
    let last = start + written as u64;
    let follower = thread::spawn(move || follow_until(&addr, start, last));
    for b in 0..batches {
        let batch: Vec<_> = (b * PER_BATCH..(b + 1) * PER_BATCH)
            .map(long_route)
            .collect();
        let answer = facade.post(ROUTES, &json!(batch).to_string());
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    assert_eq!(revision(&facade), last);

    let (seen, resumes) = follower.join().expect("the follower finished");
    let expected: Vec<u64> = (start + 1..=last).collect();
    assert_eq!(seen.len(), expected.len(), "the follower saw every change");
    assert!(
        seen == expected,
        "the follower saw every change once, in order"
    );

    // The stalled stream was given up: only when it ends does its subscription go.
    facade.wait_for_stats("the stalled subscription was dropped", |s| {
        s["subscribers"] == 0
    });

    // What the stalled client finally reads ends with the lag frame and the end of
    // the response.
    let mut received = Vec::new();
    let _ = stalled.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    let frames_received = text.matches("event: Upsert").count();
    assert!(frames_received < written, "{frames_received} of {written}");
    let resync_at = text
        .rfind("event: Resync")
        .unwrap_or_else(|| panic!("no resync frame in {} bytes", received.len()));
    let tail = &text[resync_at..];
    assert!(tail.contains(r#""reason":"lagged""#), "{tail}");
    assert!(
        !tail.contains("event: Upsert"),
        "nothing follows the resync frame"
    );
    assert!(text.ends_with("0\r\n\r\n"), "the response ended");
    eprintln!(
        "stalled reader: {written} changes (about {} MiB of frames) written while it \
         stalled; it was sent {frames_received} events ({} bytes) before the lag frame; a \
         reading client saw all {written} (after {resumes} resyncs)",
        (written * (received.len() / frames_received.max(1))) >> 20,
        received.len()
    );

    // The server still serves.
    upsert(&facade, 0, 1);
}

// ---------------------------------------------------------------------------
// Thousands of connections.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod fd_limit {
    use std::os::raw::c_int;

    /// `struct rlimit` of x86-64 Linux.
    #[repr(C)]
    pub struct Rlimit {
        pub cur: u64,
        pub max: u64,
    }
    pub const RLIMIT_NOFILE: c_int = 7;
    extern "C" {
        pub fn getrlimit(resource: c_int, rlim: *mut Rlimit) -> c_int;
        pub fn setrlimit(resource: c_int, rlim: *const Rlimit) -> c_int;
    }

    /// This process's (soft, hard) limit on open files.
    pub fn get() -> (u64, u64) {
        let mut limit = Rlimit { cur: 0, max: 0 };
        // SAFETY: a pointer to a live `struct rlimit`.
        assert_eq!(unsafe { getrlimit(RLIMIT_NOFILE, &mut limit) }, 0);
        (limit.cur, limit.max)
    }

    /// Sets this process's soft limit; false when refused.
    pub fn set_soft(soft: u64) -> bool {
        let (_, hard) = get();
        let limit = Rlimit {
            cur: soft,
            max: hard,
        };
        // SAFETY: a pointer to a live `struct rlimit`.
        unsafe { setrlimit(RLIMIT_NOFILE, &limit) == 0 }
    }
}

/// A facade started with a low soft limit on open files (set between fork and exec),
/// with its process id at hand.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
struct LowLimitFacade {
    child: Child,
    addr: String,
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
impl LowLimitFacade {
    fn start(soft: u64) -> LowLimitFacade {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(BIN);
        command
            .args(["--listen", "127.0.0.1:0", "--heartbeat", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: between fork and exec the closure only calls getrlimit and
        // setrlimit (async-signal-safe) on a local struct, and allocates nothing
        // unless they fail.
        unsafe {
            command.pre_exec(move || {
                let mut limit = fd_limit::Rlimit { cur: 0, max: 0 };
                if fd_limit::getrlimit(fd_limit::RLIMIT_NOFILE, &mut limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                limit.cur = soft.min(limit.max);
                if fd_limit::setrlimit(fd_limit::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("the facade binary starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("routeyard-facade listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        // Keep reading its output so that it never blocks on a full pipe.
        thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        LowLimitFacade { child, addr }
    }

    /// The "Max open files" soft limit of the running process.
    fn soft_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id()))
            .expect("/proc/PID/limits is readable");
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("a line for open files");
        line.split_whitespace()
            .nth(3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// One request on a fresh connection, answered before IO_TIMEOUT.
    fn call(&self, method: &str, path: &str, body: &str) -> RawAnswer {
        raw_exchange(
            &self.addr,
            &request_bytes(method, path, &[], body.as_bytes(), None),
            false,
        )
        .unwrap_or_else(|| panic!("{method} {path} got no answer"))
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
impl Drop for LowLimitFacade {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two thousand connections are opened and held (idle, half a request line, whole
/// headers without the promised body, a request cut mid-header) against a facade
/// started with a soft limit of 256 open files; it raises its soft limit, accepts
/// them all, and ordinary requests on new connections are still answered. Closing
/// them all changes nothing.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn thousands_of_held_connections_do_not_stop_the_server() {
    const WANTED: usize = 2000;
    let (soft, hard) = fd_limit::get();
    // This process holds the client ends: raise its own soft limit if needed.
    let need = WANTED as u64 + 256;
    if soft < need {
        assert!(
            fd_limit::set_soft(need.min(hard)),
            "cannot raise the open files limit"
        );
    }
    let (soft, hard) = fd_limit::get();
    let count = WANTED.min(soft.saturating_sub(256) as usize);
    assert!(count >= 500, "the hard limit {hard} allows only {count}");

    let facade = LowLimitFacade::start(256);
    let server_soft = facade.soft_limit();
    assert!(
        server_soft > 256,
        "the facade kept the soft limit of 256 open files"
    );
    let routes = r#"[{"route":"held.example.com","ip":"10.0.0.1","port":80}]"#;
    assert_eq!(facade.call("POST", ROUTES, routes).status, 201);
    let before = facade.call("GET", "/debug/stats", "").json();
    let idle_fds = facade.open_files();

    let mut held = Vec::with_capacity(count);
    let mut kinds = [0usize; 4];
    for i in 0..count {
        let mut socket = connect(&facade.addr);
        let kind = i % 4;
        let partial: &[u8] = match kind {
            0 => b"",
            1 => b"GET /routing/v1/rou",
            2 => b"POST /routing/v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[{\"route\":",
            _ => b"GET /routing/v1/routes HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        };
        socket.write_all(partial).unwrap();
        kinds[kind] += 1;
        held.push(socket);
        // Ordinary requests go on being answered while connections pile up.
        if i % 500 == 499 {
            assert_eq!(facade.call("GET", ROUTES, "").status, 200, "after {i}");
        }
    }
    // The server accepted every one: it holds a descriptor for each.
    let deadline = Instant::now() + IO_TIMEOUT;
    while facade.open_files() < count {
        assert!(
            Instant::now() < deadline,
            "the facade holds {} descriptors for {count} connections",
            facade.open_files()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let server_fds = facade.open_files();
    let answer = facade.call("GET", ROUTES, "");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()[0]["route"], "held.example.com");
    let answer = facade.call(
        "POST",
        ROUTES,
        r#"[{"route":"during.example.com","ip":"10.0.0.2","port":80}]"#,
    );
    assert_eq!(answer.status, 201);

    // The half-sent write never completes: closing its connection commits nothing.
    drop(held);
    let after = facade.call("GET", "/debug/stats", "").json();
    assert_eq!(
        after["revision"].as_u64(),
        before["revision"].as_u64().map(|r| r + 1)
    );
    assert_eq!(after["http_routes"], 2);
    assert_eq!(facade.call("GET", ROUTES, "").status, 200);
    // Every descriptor of a closed connection is given back.
    let deadline = Instant::now() + IO_TIMEOUT;
    while facade.open_files() > idle_fds + 16 {
        assert!(
            Instant::now() < deadline,
            "the facade still holds {} descriptors, {idle_fds} before",
            facade.open_files()
        );
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "held connections: {count} (idle {}, partial request line {}, headers without \
         body {}, cut mid-header {}); the facade raised its soft limit from 256 to \
         {server_soft} and held {server_fds} descriptors",
        kinds[0], kinds[1], kinds[2], kinds[3]
    );
}

/// A thousand event streams open at once (a thread each on the server): a write is
/// still answered at once, every stream gets every change of it, and once the
/// clients close them every subscription and its thread are gone.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_thousand_event_streams_at_once_each_get_every_change() {
    const STREAMS: usize = 1000;
    const CHANGES: usize = 20;
    let (soft, hard) = fd_limit::get();
    let need = STREAMS as u64 + 256;
    if soft < need {
        assert!(
            fd_limit::set_soft(need.min(hard)),
            "cannot raise the open files limit"
        );
    }
    let facade = Facade::start(&["--heartbeat", "1"]);
    let addr = address(&facade.base);
    let start = revision(&facade);
    let mut streams: Vec<RawStream> = (0..STREAMS).map(|_| RawStream::open(&addr, None)).collect();
    facade.wait_for_stats("every stream subscribed", |s| s["subscribers"] == STREAMS);
    upsert(&facade, 0, CHANGES);
    let expected: Vec<u64> = (start + 1..=start + CHANGES as u64).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        let ids: Vec<u64> = (0..CHANGES)
            .map(|_| {
                let frame = stream.next_frame().expect("an event");
                frame.id.expect("an id")
            })
            .collect();
        assert!(ids == expected, "stream {i}: {ids:?}");
    }
    drop(streams);
    facade.wait_for_stats("every stream unsubscribed", |s| s["subscribers"] == 0);
    upsert(&facade, CHANGES, CHANGES + 1);
    eprintln!("concurrent streams: {STREAMS} open at once, each got all {CHANGES} changes");
}

// ---------------------------------------------------------------------------
// Bodies.

/// A write endpoint of one dialect.
struct Endpoint {
    method: &'static str,
    path: String,
    dialect: Dialect,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Cf,
    Kong,
    Cdap,
    Gobetween,
}

/// A facade with one Kong service and route, a backend pool and a router group, and
/// every endpoint that takes a body.
fn facade_with_objects(args: &[&str]) -> (Facade, Vec<Endpoint>) {
    let facade = Facade::start(args);
    let guid = facade.get("/routing/v1/router_groups").json()[0]["guid"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = facade.post(
        "/services",
        r#"{"name":"ns.app.svc","url":"http://up.example.com"}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = facade.post(
        "/services/ns.app.svc/routes",
        r#"{"name":"rt","paths":["/a"]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = facade.put(
        "/services/ns.app.svc/upstream",
        r#"{"backends":[{"address":"10.0.0.1","port":80,"version":"v1"}]}"#,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let endpoints = [
        ("POST", "/routing/v1/routes".to_string(), Dialect::Cf),
        ("DELETE", "/routing/v1/routes".to_string(), Dialect::Cf),
        (
            "POST",
            "/routing/v1/tcp_routes/create".to_string(),
            Dialect::Cf,
        ),
        (
            "POST",
            "/routing/v1/tcp_routes/delete".to_string(),
            Dialect::Cf,
        ),
        ("POST", "/routing/v1/router_groups".to_string(), Dialect::Cf),
        (
            "PUT",
            format!("/routing/v1/router_groups/{guid}"),
            Dialect::Cf,
        ),
        ("POST", "/services".to_string(), Dialect::Kong),
        ("PUT", "/services/other".to_string(), Dialect::Kong),
        ("PATCH", "/services/ns.app.svc".to_string(), Dialect::Kong),
        (
            "POST",
            "/services/ns.app.svc/routes".to_string(),
            Dialect::Kong,
        ),
        (
            "PUT",
            "/services/ns.app.svc/routes/rt".to_string(),
            Dialect::Kong,
        ),
        (
            "PATCH",
            "/services/ns.app.svc/routes/rt".to_string(),
            Dialect::Kong,
        ),
        ("POST", "/routes".to_string(), Dialect::Kong),
        ("PUT", "/routes/rt2".to_string(), Dialect::Kong),
        ("PATCH", "/routes/rt".to_string(), Dialect::Kong),
        (
            "PUT",
            "/services/ns.app.svc/upstream".to_string(),
            Dialect::Kong,
        ),
        (
            "PUT",
            "/v3/namespaces/ns/apps/app/services/svc/routeconfig".to_string(),
            Dialect::Cdap,
        ),
        ("POST", "/servers/web".to_string(), Dialect::Gobetween),
    ]
    .into_iter()
    .map(|(method, path, dialect)| Endpoint {
        method,
        path,
        dialect,
    })
    .collect();
    (facade, endpoints)
}

/// Everything a write could change, to compare before and after.
fn state_of(facade: &Facade) -> Value {
    json!({
        "stats": facade.stats(),
        "routes": facade.get(ROUTES).json(),
        "groups": facade.get("/routing/v1/router_groups").json(),
        "services": facade.get("/services").json(),
        "kong_routes": facade.get("/routes").json(),
        "upstream": facade.get("/services/ns.app.svc/upstream").json(),
        "servers": facade.get("/servers").json(),
    })
}

/// The error body has its dialect's shape; returns its message.
fn dialect_message(endpoint: &Endpoint, answer: &RawAnswer) -> String {
    let what = format!("{} {}", endpoint.method, endpoint.path);
    match endpoint.dialect {
        Dialect::Cf => {
            assert_eq!(answer.content_type(), "application/json", "{what}");
            let body = answer.json();
            assert_eq!(body["name"], "ProcessRequestError", "{what}: {body}");
            let message = body["message"].as_str().unwrap().to_string();
            assert!(
                message.starts_with("Cannot process request: "),
                "{what}: {message}"
            );
            message
        }
        Dialect::Kong => {
            assert_eq!(answer.content_type(), "application/json", "{what}");
            let body = answer.json();
            body["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {body}"))
                .to_string()
        }
        Dialect::Cdap => {
            assert!(
                answer.content_type().starts_with("text/plain"),
                "{what}: {}",
                answer.content_type()
            );
            answer.text()
        }
        Dialect::Gobetween => {
            assert_eq!(
                answer.content_type(),
                "application/json; charset=utf-8",
                "{what}"
            );
            answer
                .json()
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {}", answer.text()))
                .to_string()
        }
    }
}

/// Over the limit with a true Content-Length, with one claiming more than the
/// limit, and chunked without any length: 413 in every dialect, nothing changed.
/// A Content-Length that claims less than is sent cuts the body short (a 4xx, and
/// the rest is not taken as a request that changes anything); one that claims more
/// and never delivers gets no success. Nothing changes in any case.
#[test]
fn oversized_and_lying_bodies_change_nothing_in_any_dialect() {
    const LIMIT: usize = 2048;
    let (facade, endpoints) = facade_with_objects(&["--max-body-bytes", "2048"]);
    let addr = address(&facade.base);
    let before = state_of(&facade);
    let big = format!(
        r#"[{{"route":"big.example.com","pad":"{}"}}]"#,
        "x".repeat(4000)
    );
    let mut faults = [0usize; 5];
    for endpoint in &endpoints {
        let (method, path) = (endpoint.method, endpoint.path.as_str());
        let too_large = format!("request body is larger than {LIMIT} bytes");

        // 1. True length, over the limit.
        let answer = raw_exchange(
            &addr,
            &request_bytes(method, path, &[], big.as_bytes(), None),
            false,
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(answer.status, 413, "{method} {path}: {}", answer.text());
        assert!(dialect_message(endpoint, &answer).contains(&too_large));
        faults[0] += 1;

        // 2. A length over the limit announced, a small body sent.
        let answer = raw_exchange(
            &addr,
            &request_bytes(method, path, &[], b"[]", Some(10 << 20)),
            true,
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(answer.status, 413, "{method} {path}: {}", answer.text());
        assert!(dialect_message(endpoint, &answer).contains(&too_large));
        faults[1] += 1;

        // 3. Chunked, over the limit.
        let answer = raw_exchange(&addr, &chunked_bytes(method, path, big.as_bytes()), false)
            .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(answer.status, 413, "{method} {path}: {}", answer.text());
        assert!(dialect_message(endpoint, &answer).contains(&too_large));
        faults[2] += 1;

        // 4. A length shorter than the body: the JSON is cut off.
        let body = br#"[{"route":"short.example.com","ip":"10.0.0.1","port":80}]"#;
        let answer = raw_exchange(
            &addr,
            &request_bytes(method, path, &[], body, Some(12)),
            false,
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert!(
            (400..500).contains(&answer.status),
            "{method} {path}: {} {}",
            answer.status,
            answer.text()
        );
        faults[3] += 1;

        // 5. A length longer than the body, then the client stops sending.
        let answer = raw_exchange(
            &addr,
            &request_bytes(method, path, &[], body, Some(body.len() + 100)),
            true,
        );
        if let Some(answer) = answer {
            assert!(
                answer.status >= 400,
                "{method} {path}: {} {}",
                answer.status,
                answer.text()
            );
        }
        faults[4] += 1;
    }
    assert_eq!(state_of(&facade), before);
    eprintln!(
        "bodies: {} endpoints; over the limit {}, lying length over the limit {}, chunked \
         over the limit {}, length too short {}, length too long {}",
        endpoints.len(),
        faults[0],
        faults[1],
        faults[2],
        faults[3],
        faults[4]
    );
}

/// Bodies that are not UTF-8, and bodies that are not JSON (or not the JSON the
/// endpoint reads): a 400 in the endpoint's dialect, nothing changed.
#[test]
fn invalid_utf8_and_invalid_json_are_400_and_change_nothing() {
    let (facade, endpoints) = facade_with_objects(&[]);
    let addr = address(&facade.base);
    let before = state_of(&facade);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid UTF-8 in a string",
            b"[{\"route\":\"\xff\xfe.example.com\",\"ip\":\"10.0.0.1\",\"port\":80}]".to_vec(),
        ),
        ("a lone continuation byte", b"{\"name\":\"\x80\"}".to_vec()),
        ("an overlong encoding", b"{\"name\":\"\xc0\xaf\"}".to_vec()),
        (
            "a surrogate encoded in UTF-8",
            b"{\"name\":\"\xed\xa0\x80\"}".to_vec(),
        ),
        (
            "UTF-16",
            "{\"name\":\"x\"}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        ("truncated JSON", b"[{\"route\":\"a.example.com\",".to_vec()),
        ("not JSON", b"route=a.example.com&ip=10.0.0.1".to_vec()),
        ("a trailing comma", b"{\"name\":\"x\",}".to_vec()),
        (
            "two documents",
            b"{\"name\":\"x\"}{\"name\":\"y\"}".to_vec(),
        ),
        ("a bare string", b"\"hello\"".to_vec()),
        (
            "a lone surrogate escape",
            b"{\"name\":\"\\ud800\"}".to_vec(),
        ),
        ("a NUL byte", b"{\"name\":\"a\0b\"}".to_vec()),
        (
            "deep nesting",
            [b"[".repeat(10_000), b"]".repeat(10_000)].concat(),
        ),
    ];
    let mut injected = 0;
    for endpoint in &endpoints {
        for (what, body) in &bodies {
            let (method, path) = (endpoint.method, endpoint.path.as_str());
            let answer = raw_exchange(&addr, &request_bytes(method, path, &[], body, None), false)
                .unwrap_or_else(|| panic!("{method} {path} {what}: no answer"));
            assert_eq!(
                answer.status,
                400,
                "{method} {path}, {what}: {}",
                answer.text()
            );
            let message = dialect_message(endpoint, &answer);
            assert!(!message.is_empty(), "{method} {path}, {what}");
            injected += 1;
        }
    }
    assert_eq!(state_of(&facade), before);
    eprintln!(
        "bodies: {injected} invalid bodies ({} kinds x {} endpoints), all 400",
        bodies.len(),
        endpoints.len()
    );
}

// ---------------------------------------------------------------------------
// Tokens.

const SECRET: &str = "failure-secret";

/// Re-encodes the parts of a token.
fn join(header: &[u8], payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn split(token: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let parts: Vec<Vec<u8>> = token
        .split('.')
        .map(|p| URL_SAFE_NO_PAD.decode(p).unwrap())
        .collect();
    (parts[0].clone(), parts[1].clone(), parts[2].clone())
}

/// Valid write tokens, altered one way each, with the message CF answers.
fn tampered_tokens() -> Vec<(String, String, &'static str)> {
    let scopes = ["routing.routes.write", "routing.router_groups.write"];
    let good = hs256_token(SECRET, &scopes);
    let (header, payload, signature) = split(&good);
    let segments: Vec<&str> = good.split('.').collect();
    let mut out: Vec<(String, String, &'static str)> = Vec::new();
    // Every bit of the signature's first and last byte flipped in turn.
    for (byte, bit) in [0, signature.len() - 1]
        .into_iter()
        .flat_map(|b| (0..8).map(move |bit| (b, bit)))
    {
        let mut flipped = signature.clone();
        flipped[byte] ^= 1 << bit;
        out.push((
            format!("signature byte {byte} bit {bit} flipped"),
            join(&header, &payload, &flipped),
            "signature is invalid",
        ));
    }
    // The payload changed, the signature kept.
    let header_text = String::from_utf8(header.clone()).unwrap();
    let mut claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["scope"] = json!([
        "routing.routes.write",
        "routing.router_groups.write",
        "admin"
    ]);
    out.push((
        "a scope added".into(),
        join(&header, claims.to_string().as_bytes(), &signature),
        "signature is invalid",
    ));
    let mut claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["exp"] = json!(now() + 86_400 * 365);
    out.push((
        "expiry extended".into(),
        join(&header, claims.to_string().as_bytes(), &signature),
        "signature is invalid",
    ));
    // The header changed, the signature kept.
    for alg in [
        "none", "None", "HS384", "HS512", "RS256", "ES256", "hs256", "",
    ] {
        let changed = header_text.replace("HS256", alg);
        out.push((
            format!("alg changed to {alg:?}"),
            join(changed.as_bytes(), &payload, &signature),
            "invalid signing method",
        ));
    }
    out.push((
        "alg none and no signature".into(),
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header_text.replace("HS256", "none")),
            segments[1]
        ),
        "invalid signing method",
    ));
    let with_kid = header_text.replace('{', r#"{"kid":"other","#);
    out.push((
        "a key id added to the header".into(),
        join(with_kid.as_bytes(), &payload, &signature),
        "signature is invalid",
    ));
    // Garbage.
    for (what, token) in [
        (
            "a signature that is not base64url",
            format!("{}.{}.!!!*", segments[0], segments[1]),
        ),
        (
            "a payload that is not base64url",
            format!("{}.%%%.{}", segments[0], segments[2]),
        ),
        (
            "a payload that is not JSON",
            format!(
                "{}.{}.{}",
                segments[0],
                URL_SAFE_NO_PAD.encode("not json"),
                segments[2]
            ),
        ),
        (
            "padded base64 segments",
            format!("{}==.{}.{}", segments[0], segments[1], segments[2]),
        ),
        (
            "binary noise",
            join(&[0xff, 0x00, 0x13], &[0x80; 17], &[0x01; 32]),
        ),
    ] {
        // The signature is checked over the text of header and payload before the
        // payload is read, so garbage there is a bad signature.
        let message = if what.contains("padded") || what.contains("noise") {
            "token is malformed: its header is not base64url JSON"
        } else {
            "signature is invalid"
        };
        out.push((what.to_string(), token, message));
    }
    // Correctly signed, but the claims cannot be read.
    for (what, payload) in [
        ("a signed payload that is not JSON", "not json".to_string()),
        (
            "a signed payload whose scope is a number",
            json!({"scope": 7, "exp": now() + 600}).to_string(),
        ),
        (
            "a signed payload whose expiry is text",
            json!({"scope": scopes, "exp": "tomorrow"}).to_string(),
        ),
    ] {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        out.push((
            what.to_string(),
            format!("{message}.{signature}"),
            "token is malformed",
        ));
    }
    // Four segments: a good token with one more.
    out.push((
        "a fourth segment".into(),
        format!("{good}.{}", segments[2]),
        "token contains an invalid number of segments",
    ));
    out
}

/// Tampered and expired tokens on the write endpoints of CF and Kong and on the
/// event stream: 401 with CF's (or Kong's) body, and nothing changes.
#[test]
fn tampered_and_expired_tokens_are_401_and_change_nothing() {
    let facade = Facade::start(&["--jwt-hs256-secret", SECRET]);
    let admin = hs256_token(
        SECRET,
        &[
            "routing.routes.read",
            "routing.routes.write",
            "routing.router_groups.read",
            "routing.router_groups.write",
        ],
    );
    let auth = format!("bearer {admin}");
    let read_state = || {
        let get = |path: &str| {
            let answer = facade.send("GET", path, &[("Authorization", &auth)], "");
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
            answer.json()
        };
        json!({
            "stats": get("/debug/stats"),
            "routes": get(ROUTES),
            "groups": get("/routing/v1/router_groups"),
            "services": get("/services"),
        })
    };
    let before = read_state();

    let expired = [
        (
            "expired a minute ago",
            hs256_token_with(
                SECRET,
                json!({"scope": ["routing.routes.write", "routing.router_groups.write"],
                       "exp": now() - 60}),
            ),
        ),
        (
            "expired a second ago",
            hs256_token_with(
                SECRET,
                json!({"scope": ["routing.routes.write", "routing.router_groups.write"],
                       "exp": now() - 1}),
            ),
        ),
        (
            "expired before the epoch",
            hs256_token_with(
                SECRET,
                json!({"scope": ["routing.routes.write", "routing.router_groups.write"],
                       "exp": -1}),
            ),
        ),
        (
            "expired a fraction of a second past a minute ago",
            hs256_token_with(
                SECRET,
                json!({"scope": ["routing.routes.write", "routing.router_groups.write"],
                       "exp": now() as f64 - 59.5}),
            ),
        ),
        (
            "expired at the epoch",
            hs256_token_with(
                SECRET,
                json!({"scope": ["routing.routes.write", "routing.router_groups.write"],
                       "exp": 0}),
            ),
        ),
    ];
    let mut cases = tampered_tokens();
    for (what, token) in expired {
        cases.push((what.to_string(), token, "Token is expired"));
    }
    let writes = [
        (
            "POST",
            ROUTES,
            r#"[{"route":"a.example.com","ip":"10.0.0.1","port":80}]"#,
        ),
        (
            "POST",
            "/routing/v1/router_groups",
            r#"{"name":"g","type":"tcp","reservable_ports":"3000"}"#,
        ),
        ("POST", "/services", r#"{"name":"s","url":"http://up"}"#),
    ];
    let mut injected = 0;
    for (what, token, message) in &cases {
        let header = format!("bearer {token}");
        for (method, path, body) in writes {
            let answer = facade.send(method, path, &[("Authorization", &header)], body);
            assert_eq!(
                answer.status, 401,
                "{what}, {method} {path}: {}",
                answer.body
            );
            assert_eq!(answer.content_type, "application/json", "{what}");
            let body = answer.json();
            let got = body["message"].as_str().unwrap_or_default();
            assert!(
                got.starts_with(message),
                "{what}, {method} {path}: {got:?}, wanted {message:?}"
            );
            if path.starts_with("/routing") {
                assert_eq!(body["name"], "UnauthorizedError", "{what}");
                assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
            } else {
                assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            }
            injected += 1;
        }
        // The event stream refuses it too.
        let answer = facade.send("GET", EVENTS, &[("Authorization", &header)], "");
        assert_eq!(answer.status, 401, "{what}");
        assert_eq!(answer.json()["name"], "UnauthorizedError");
        injected += 1;
    }
    assert_eq!(read_state(), before);
    // The good token still writes.
    let answer = facade.send(
        "POST",
        writes[0].1,
        &[("Authorization", &auth)],
        writes[0].2,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    eprintln!(
        "tokens: {} tampered or expired tokens, {injected} requests refused",
        cases.len()
    );
}
