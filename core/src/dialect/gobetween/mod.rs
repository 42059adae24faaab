//! gobetween: servers (a listener, a balancer and statically discovered
//! backends) as its REST API and its config file take them, the defaults and
//! rules of its `prepareConfig`, the config dump in TOML and JSON, and the JSON
//! shapes of its statistics and system information.
//!
//! A [`Server`] holds what a document says, each field unset when absent, so
//! that [`decode_config`] of [`dump`] gives back the same value in either
//! syntax. [`prepare_server`] applies gobetween's defaults and checks, in
//! gobetween's order and with its texts, and returns the server as gobetween
//! then shows it (`GET /servers/<name>`).
//!
//! # Example
//!
//! ```
//! use routeyard::dialect::gobetween::{self, Balance, ConnectionOptions, Protocol};
//!
//! let body = br#"{
//!     "bind": "0.0.0.0:3000",
//!     "balance": "roundrobin",
//!     "discovery": {"kind": "static", "static_list": ["10.0.0.1:8000 weight=3", "10.0.0.2:8000"]}
//! }"#;
//! let server = gobetween::decode_server(body)?;
//! let ready = gobetween::prepare_server("web", &server, &ConnectionOptions::default())?;
//! assert_eq!(ready.protocol, Some(Protocol::Tcp)); // gobetween's default
//! assert_eq!(ready.balance, Some(Balance::RoundRobin));
//! assert_eq!(ready.client_idle_timeout.as_deref(), Some("0"));
//! let backends = ready.backends()?;
//! assert_eq!((backends[0].weight, backends[1].weight), (3, 1));
//!
//! let err = gobetween::decode_server(br#"{"bind": ":1", "balance": "random"}"#).unwrap_err();
//! assert_eq!((err.status(), err.message()), (409, "Not supported balance type random"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where routeyard differs from gobetween on purpose
//!
//! gobetween's own quirks are kept where they are harmless (its texts, typos
//! included; an empty string meaning "unset"; unknown keys ignored; keys
//! matched ignoring case; 409 for a refused server). These are corrected:
//!
//! - A `static_list` line gobetween cannot parse is logged and skipped there;
//!   here it refuses the server (`Cant parse <line>`), as do a port of 0 or
//!   above 65535 (gobetween dials it and fails) and a weight, priority or
//!   `max_connections` above `u32::MAX` (gobetween quietly uses the default).
//! - A discovery `kind` other than `static`, or none, makes gobetween crash;
//!   here it is refused (`Not supported discovery kind <kind>`). The other
//!   kinds gobetween knows (`srv`, `docker`, `json`, `exec`, `plaintext`,
//!   `consul`, `lxd`) need lookups this dialect does not make.
//! - Connection timeouts and discovery intervals that are not Go durations
//!   silently become 0 in gobetween; here they are refused
//!   (`<field> parsing error: <Go's text>`). A negative `max_connections`
//!   refuses every client in gobetween; here it is refused.
//! - `bind` must be `host:port` with a port in `1..=65535`; gobetween learns
//!   otherwise only when it fails to listen.
//! - `proxy_protocol` with `protocol` unset is refused by gobetween (it checks
//!   before defaulting to `tcp`); here unset counts as `tcp`.
//! - gobetween replaces `probe_send` and `probe_recv` by their unescaped bytes,
//!   so a dumped config no longer reads back the same; here they stay as
//!   written ([`Healthcheck::probe_send_bytes`] gives the bytes).
//! - Names gobetween checks only in `prepareConfig` (`protocol`, `balance`,
//!   the `sni` strategies, the health check's `kind`, `initial_status`,
//!   `probe_protocol` and `probe_strategy`, `failpolicy`, discovery `kind`) are
//!   checked as they are read, with the same texts and status; so a body with
//!   several faults may be refused for another one than gobetween would name
//!   first.
//! - Encoding leaves unset fields out, where gobetween writes Go's zero values
//!   (`"sni": null`, `"max_connections": 0`, ...).

mod backend;
mod duration;
mod read;
mod stats;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

pub use self::backend::{parse_backend, BackendError, BackendErrorKind, BackendSpec};
pub use self::duration::{format_duration, parse_duration, DurationError, GoDuration};
pub use self::stats::{BackendStats, BackendStatus, ConfigSource, Info, ServerStats, PING_BODY};

use self::read::{top, Obj, Syntax};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What went wrong with a gobetween request or document.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GbErrorKind {
    /// The document is not JSON or TOML, or a field has the wrong type.
    /// gobetween's API answers 400.
    Decode,
    /// A server breaks a rule (gobetween's `prepareConfig`, a backend line,
    /// or one of routeyard's corrections). gobetween's API answers 409.
    Invalid,
    /// A server of that name exists already. gobetween's API answers 409.
    Exists,
    /// No server of that name. gobetween's API answers 200 with `null` for
    /// GET and DELETE alike; [`GbError::status`] says 404.
    NotFound,
    /// A config cannot be written in the asked syntax (TOML cannot hold an
    /// integer above `i64::MAX`). gobetween's API answers 500.
    Encode,
}

/// A refused gobetween request or document: the kind and the message
/// gobetween sends (a JSON string body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GbError {
    kind: GbErrorKind,
    message: String,
}

impl GbError {
    pub(crate) fn new(kind: GbErrorKind, message: impl Into<String>) -> GbError {
        GbError {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> GbErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status gobetween's API answers with, except for
    /// [`GbErrorKind::NotFound`] (404 here, `200 null` in gobetween).
    pub fn status(&self) -> u16 {
        match self.kind {
            GbErrorKind::Decode => 400,
            GbErrorKind::Invalid | GbErrorKind::Exists => 409,
            GbErrorKind::NotFound => 404,
            GbErrorKind::Encode => 500,
        }
    }

    /// The response body gobetween sends: the message as a JSON string.
    pub fn body(&self) -> String {
        Value::String(self.message.clone()).to_string()
    }
}

impl fmt::Display for GbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GbError {}

impl From<BackendError> for GbError {
    fn from(e: BackendError) -> GbError {
        GbError::new(GbErrorKind::Invalid, e.to_string())
    }
}

/// The error for creating a server under a name already taken, with
/// gobetween's text.
pub fn already_exists(name: &str) -> GbError {
    GbError::new(
        GbErrorKind::Exists,
        format!("Server with this name already exists: {name}"),
    )
}

/// The error for a server name that is not there, with gobetween's text.
pub fn not_found() -> GbError {
    GbError::new(GbErrorKind::NotFound, "Server not found")
}

// ---------------------------------------------------------------------------
// Named values
// ---------------------------------------------------------------------------

/// A value gobetween names by a fixed string.
pub(crate) trait GbEnum: Sized + Copy {
    fn from_name(s: &str) -> Option<Self>;
    fn unsupported(s: &str) -> String;
}

macro_rules! gb_enum {
    (
        $(#[$meta:meta])*
        $name:ident, |$s:ident| $msg:expr,
        { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in gobetween's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name gobetween writes.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }
        }

        impl GbEnum for $name {
            fn from_name(s: &str) -> Option<$name> {
                match s {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }

            fn unsupported($s: &str) -> String {
                $msg
            }
        }

        impl std::str::FromStr for $name {
            type Err = GbError;

            /// Reads gobetween's name; an unknown one gets gobetween's text.
            fn from_str(s: &str) -> Result<$name, GbError> {
                <$name as GbEnum>::from_name(s)
                    .ok_or_else(|| GbError::new(GbErrorKind::Invalid, <$name as GbEnum>::unsupported(s)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

gb_enum! {
    /// A server's `protocol` (default `tcp`).
    Protocol, |s| format!("Not supported protocol {s}"),
    {
        /// Plain TCP.
        Tcp = "tcp",
        /// TLS terminated by the server (needs a `tls` section).
        Tls = "tls",
        /// UDP sessions.
        Udp = "udp",
    }
}

gb_enum! {
    /// A server's `balance` strategy (default `weight`).
    Balance, |s| format!("Not supported balance type {s}"),
    {
        /// Only the lowest `priority` among usable backends, then a draw
        /// proportional to `weight` (RFC 2782).
        Weight = "weight",
        /// The backend with the fewest active connections.
        LeastConn = "leastconn",
        /// Each backend in turn, sorted by address; weights and priorities
        /// ignored.
        RoundRobin = "roundrobin",
        /// The backend with the least traffic per second.
        LeastBandwidth = "leastbandwidth",
        /// FNV-1a of the client IP modulo the number of backends.
        IpHash = "iphash",
        /// Highest-random-weight hashing of the client IP with each backend's
        /// address.
        IpHash1 = "iphash1",
    }
}

gb_enum! {
    /// How `sni` matches a backend's `sni` name (default `exact`).
    HostnameMatching, |s| format!("Not supported sni matching {s}"),
    {
        /// Equal names.
        Exact = "exact",
        /// The backend's name is a regular expression.
        Regexp = "regexp",
    }
}

gb_enum! {
    /// What `sni` does with a hostname no backend serves (default `default`).
    UnexpectedHostname, |s| format!("Not supported sni unexprected hostname strategy {s}"),
    {
        /// Use the backends without an SNI name.
        Default = "default",
        /// Refuse the connection.
        Reject = "reject",
        /// Use any backend.
        Any = "any",
    }
}

gb_enum! {
    /// A health check's `kind`.
    HealthcheckKind, |s| format!("Not supported healthcheck type {s}"),
    {
        /// A TCP connect (not with UDP servers).
        Ping = "ping",
        /// Send bytes and compare the answer.
        Probe = "probe",
        /// Run a command.
        Exec = "exec",
        /// No health check (written `none`).
        Disabled = "none",
    }
}

gb_enum! {
    /// The state of a newly discovered backend before its first check
    /// (default healthy).
    InitialStatus, |_s| "Unsupported healthcheck initial_status".to_string(),
    {
        /// Live at once.
        Healthy = "healthy",
        /// Not live until a check passes.
        Unhealthy = "unhealthy",
    }
}

gb_enum! {
    /// The transport of a `probe` health check.
    ProbeProtocol, |_s| "Unsupported probe_protocol".to_string(),
    {
        /// TCP.
        Tcp = "tcp",
        /// UDP.
        Udp = "udp",
        /// TLS.
        Tls = "tls",
    }
}

gb_enum! {
    /// How a `probe` health check compares the answer (default `starts_with`).
    ProbeStrategy, |s| format!("Unsupported probe_strategy {s}"),
    {
        /// The answer starts with `probe_recv`.
        StartsWith = "starts_with",
        /// The first `probe_recv_len` bytes match the regular expression
        /// `probe_recv`.
        Regexp = "regexp",
    }
}

gb_enum! {
    /// What discovery does when a lookup fails (default `keeplast`).
    FailPolicy, |s| format!("Not supported failpolicy {s}"),
    {
        /// Keep the last known backends.
        KeepLast = "keeplast",
        /// Drop all backends.
        SetEmpty = "setempty",
    }
}

gb_enum! {
    /// Where a server's backends come from. routeyard takes the static list
    /// only.
    DiscoveryKind, |s| format!("Not supported discovery kind {s}"),
    {
        /// The `static_list` of backend lines.
        Static = "static",
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// The connection options of the `[defaults]` section, which a server
/// overrides field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ConnectionOptions {
    /// Client connections the server accepts at once; 0 is no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i64>,
    /// Idle time after which a client connection is closed (Go duration;
    /// `"0"` is never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_idle_timeout: Option<String>,
    /// Idle time after which a backend connection is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_idle_timeout: Option<String>,
    /// How long a dial to a backend may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_connection_timeout: Option<String>,
}

/// A server's `sni` section: pick backends by the TLS client's server name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Sni {
    /// How names are compared (default `exact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname_matching_strategy: Option<HostnameMatching>,
    /// What to do with a name no backend serves (default `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_hostname_strategy: Option<UnexpectedHostname>,
    /// How long to wait for the client hello (Go duration, default `"2s"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<String>,
}

/// A server's `tls` section, for `protocol = "tls"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Tls {
    /// Hosts to get certificates for through ACME.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme_hosts: Option<Vec<String>>,
    /// The certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// The key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// Cipher suite names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<Vec<String>>,
    /// The lowest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The highest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
    /// Whether session tickets are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_tickets: Option<bool>,
}

/// A server's `backends_tls` section: TLS towards the backends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct BackendsTls {
    /// Skip verifying the backends' certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_verify: Option<bool>,
    /// The CA to verify backends with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_ca_cert_path: Option<String>,
    /// The client certificate file (with `key_path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// The client key file (with `cert_path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// Cipher suite names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<Vec<String>>,
    /// The lowest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The highest TLS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
    /// Whether session tickets are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_tickets: Option<bool>,
}

/// A server's `udp` section, for `protocol = "udp"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Udp {
    /// Datagrams from a client after which its session ends (0: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    /// Datagrams from the backend after which the session ends (0: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_responses: Option<u64>,
    /// Send to backends from the client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparent: Option<bool>,
}

/// A server's `access` section: client address rules, kept as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Access {
    /// `allow` or `deny` for clients no rule matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Rules such as `"allow 10.0.0.0/8"`, first match wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
}

/// A server's `proxy_protocol` section (TCP only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ProxyProtocol {
    /// The PROXY protocol version; only `"1"` is supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A server's `discovery` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Discovery {
    /// Where backends come from; routeyard takes `static` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<DiscoveryKind>,
    /// What a failed lookup does (default `keeplast`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failpolicy: Option<FailPolicy>,
    /// How often to look up again (Go duration; default `"0"`, once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// How long a lookup may take (Go duration, default `"0"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The backends, one line each: `host:port weight=N priority=N
    /// max_connections=N sni=S` (see [`parse_backend`]). Backend objects in a
    /// document are read into this form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_list: Option<Vec<String>>,
}

/// A server's `healthcheck` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Healthcheck {
    /// The kind of check (`none` when the section is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<HealthcheckKind>,
    /// Time between checks (Go duration; must be above 0 unless `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Passing checks that make a backend live (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passes: Option<i64>,
    /// Failing checks that make a backend not live (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fails: Option<i64>,
    /// How long a check may take (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// A new backend's state before its first check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_status: Option<InitialStatus>,
    /// The transport of a `probe`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_protocol: Option<ProbeProtocol>,
    /// How a `probe` compares the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_strategy: Option<ProbeStrategy>,
    /// What a `probe` sends, with Go string escapes (`\n`, `\x00`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_send: Option<String>,
    /// What a `probe` expects: escaped bytes, or a regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_recv: Option<String>,
    /// Bytes a `regexp` probe reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_recv_len: Option<i64>,
    /// The command of an `exec` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_command: Option<String>,
    /// Output meaning healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_expected_positive_output: Option<String>,
    /// Output meaning unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_expected_negative_output: Option<String>,
}

impl Healthcheck {
    /// The bytes a `probe` sends: `probe_send` with its Go escapes resolved;
    /// `None` when unset or not a valid Go string body.
    pub fn probe_send_bytes(&self) -> Option<Vec<u8>> {
        go_unquote(self.probe_send.as_deref()?)
    }

    /// The bytes a `starts_with` probe expects, as [`Self::probe_send_bytes`].
    pub fn probe_recv_bytes(&self) -> Option<Vec<u8>> {
        go_unquote(self.probe_recv.as_deref()?)
    }
}

/// One server: a listener on `bind`, a balancer, and its backends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Server {
    /// `host:port` to listen on (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// The protocol (default `tcp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The balancer (default `weight`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Overrides the default client connection limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i64>,
    /// Overrides the default client idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_idle_timeout: Option<String>,
    /// Overrides the default backend idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_idle_timeout: Option<String>,
    /// Overrides the default backend dial timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_connection_timeout: Option<String>,
    /// Backend choice by TLS server name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<Sni>,
    /// TLS termination, for `protocol = "tls"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// TLS towards the backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends_tls: Option<BackendsTls>,
    /// UDP session limits, for `protocol = "udp"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<Udp>,
    /// Client address rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// PROXY protocol towards the backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Where backends come from (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// How backends are checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
}

impl Server {
    /// A server on `bind` with statically listed backends; everything else
    /// unset (gobetween's defaults apply in [`prepare_server`]).
    pub fn with_static_backends(bind: impl Into<String>, backends: &[BackendSpec]) -> Server {
        Server {
            bind: Some(bind.into()),
            discovery: Some(Discovery {
                kind: Some(DiscoveryKind::Static),
                static_list: Some(backends.iter().map(BackendSpec::to_string).collect()),
                ..Discovery::default()
            }),
            ..Server::default()
        }
    }

    /// The backends of the static list, parsed.
    ///
    /// # Errors
    ///
    /// The first line [`parse_backend`] refuses.
    pub fn backends(&self) -> Result<Vec<BackendSpec>, BackendError> {
        self.discovery
            .as_ref()
            .and_then(|d| d.static_list.as_ref())
            .map(|list| list.iter().map(|l| parse_backend(l)).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// The port of `bind`, if `bind` is `host:port` with a port in
    /// `1..=65535`.
    pub fn bind_port(&self) -> Option<u16> {
        bind_port(self.bind.as_deref()?)
    }
}

/// gobetween's `[logging]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Logging {
    /// `debug`, `info`, `warn` or `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `stdout`, `stderr` or a file path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `text` or `json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The `[api.basic_auth]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct BasicAuth {
    /// The user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The `[api.tls]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ApiTls {
    /// The certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// The key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// gobetween's `[api]` section: the REST API's listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Api {
    /// Whether the API runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `host:port` of the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Optional single-user basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Optional HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ApiTls>,
    /// Whether CORS headers are sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<bool>,
}

/// gobetween's `[metrics]` section (Prometheus).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Metrics {
    /// Whether metrics are served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `host:port` of the metrics endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

/// gobetween's `[acme]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Acme {
    /// The challenge type (`http`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Where the HTTP challenge listens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_bind: Option<String>,
    /// Where certificates are cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<String>,
}

/// gobetween's `[profiler]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Profiler {
    /// Whether the profiler runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `host:port` of the profiler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

fn no_servers(m: &BTreeMap<String, Server>) -> bool {
    m.is_empty()
}

/// A whole gobetween config file: global sections and `[servers.<name>]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Config {
    /// `[logging]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// `[api]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// `[metrics]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// `[defaults]`: connection options servers inherit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defaults: Option<ConnectionOptions>,
    /// `[acme]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
    /// `[profiler]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profiler: Option<Profiler>,
    /// `[servers.<name>]`, by name.
    #[serde(skip_serializing_if = "no_servers")]
    pub servers: BTreeMap<String, Server>,
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// The syntax of a config document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML, gobetween's config file syntax and its dump's default.
    Toml,
    /// JSON, as `GET /dump?format=json` writes it.
    Json,
}

fn read_connection_options(o: &Obj<'_>) -> Result<ConnectionOptions, GbError> {
    Ok(ConnectionOptions {
        max_connections: o.int("max_connections")?,
        client_idle_timeout: o.string("client_idle_timeout")?,
        backend_idle_timeout: o.string("backend_idle_timeout")?,
        backend_connection_timeout: o.string("backend_connection_timeout")?,
    })
}

fn read_server(o: &Obj<'_>) -> Result<Server, GbError> {
    let conn = read_connection_options(o)?;
    let sni = match o.object("sni", "Sni")? {
        None => None,
        Some(s) => Some(Sni {
            hostname_matching_strategy: s.named("hostname_matching_strategy")?,
            unexpected_hostname_strategy: s.named("unexpected_hostname_strategy")?,
            read_timeout: s.string("read_timeout")?,
        }),
    };
    let tls = match o.object("tls", "Tls")? {
        None => None,
        Some(t) => Some(Tls {
            acme_hosts: t.strings("acme_hosts")?,
            cert_path: t.string("cert_path")?,
            key_path: t.string("key_path")?,
            ciphers: t.strings("ciphers")?,
            min_version: t.string("min_version")?,
            max_version: t.string("max_version")?,
            session_tickets: t.boolean("session_tickets")?,
        }),
    };
    let backends_tls = match o.object("backends_tls", "BackendsTls")? {
        None => None,
        Some(t) => Some(BackendsTls {
            ignore_verify: t.boolean("ignore_verify")?,
            root_ca_cert_path: t.string("root_ca_cert_path")?,
            cert_path: t.string("cert_path")?,
            key_path: t.string("key_path")?,
            ciphers: t.strings("ciphers")?,
            min_version: t.string("min_version")?,
            max_version: t.string("max_version")?,
            session_tickets: t.boolean("session_tickets")?,
        }),
    };
    let udp = match o.object("udp", "Udp")? {
        None => None,
        Some(u) => Some(Udp {
            max_requests: u.uint("max_requests")?,
            max_responses: u.uint("max_responses")?,
            transparent: u.boolean("transparent")?,
        }),
    };
    let access = match o.object("access", "AccessConfig")? {
        None => None,
        Some(a) => Some(Access {
            default: a.string("default")?,
            rules: a.strings("rules")?,
        }),
    };
    let proxy_protocol = match o.object("proxy_protocol", "ProxyProtocol")? {
        None => None,
        Some(p) => Some(ProxyProtocol {
            version: p.string("version")?,
        }),
    };
    let discovery = match o.object("discovery", "DiscoveryConfig")? {
        None => None,
        Some(d) => Some(Discovery {
            kind: d.named("kind")?,
            failpolicy: d.named("failpolicy")?,
            interval: d.string("interval")?,
            timeout: d.string("timeout")?,
            static_list: d.static_list("static_list")?,
        }),
    };
    let healthcheck = match o.object("healthcheck", "HealthcheckConfig")? {
        None => None,
        Some(h) => Some(Healthcheck {
            kind: h.named("kind")?,
            interval: h.string("interval")?,
            passes: h.int("passes")?,
            fails: h.int("fails")?,
            timeout: h.string("timeout")?,
            initial_status: h.named("initial_status")?,
            probe_protocol: h.named("probe_protocol")?,
            probe_strategy: h.named("probe_strategy")?,
            probe_send: h.string("probe_send")?,
            probe_recv: h.string("probe_recv")?,
            probe_recv_len: h.int("probe_recv_len")?,
            exec_command: h.string("exec_command")?,
            exec_expected_positive_output: h.string("exec_expected_positive_output")?,
            exec_expected_negative_output: h.string("exec_expected_negative_output")?,
        }),
    };
    Ok(Server {
        bind: o.string("bind")?,
        protocol: o.named("protocol")?,
        balance: o.named("balance")?,
        max_connections: conn.max_connections,
        client_idle_timeout: conn.client_idle_timeout,
        backend_idle_timeout: conn.backend_idle_timeout,
        backend_connection_timeout: conn.backend_connection_timeout,
        sni,
        tls,
        backends_tls,
        udp,
        access,
        proxy_protocol,
        discovery,
        healthcheck,
    })
}

fn read_config(o: &Obj<'_>) -> Result<Config, GbError> {
    let logging = match o.object("logging", "LoggingConfig")? {
        None => None,
        Some(l) => Some(Logging {
            level: l.string("level")?,
            output: l.string("output")?,
            format: l.string("format")?,
        }),
    };
    let api = match o.object("api", "ApiConfig")? {
        None => None,
        Some(a) => Some(Api {
            enabled: a.boolean("enabled")?,
            bind: a.string("bind")?,
            basic_auth: match a.object("basic_auth", "ApiBasicAuthConfig")? {
                None => None,
                Some(b) => Some(BasicAuth {
                    login: b.string("login")?,
                    password: b.string("password")?,
                }),
            },
            tls: match a.object("tls", "ApiTlsConfig")? {
                None => None,
                Some(t) => Some(ApiTls {
                    cert_path: t.string("cert_path")?,
                    key_path: t.string("key_path")?,
                }),
            },
            cors: a.boolean("cors")?,
        }),
    };
    let metrics = match o.object("metrics", "MetricsConfig")? {
        None => None,
        Some(m) => Some(Metrics {
            enabled: m.boolean("enabled")?,
            bind: m.string("bind")?,
        }),
    };
    let defaults = match o.object("defaults", "ConnectionOptions")? {
        None => None,
        Some(d) => Some(read_connection_options(&d)?),
    };
    let acme = match o.object("acme", "AcmeConfig")? {
        None => None,
        Some(a) => Some(Acme {
            challenge: a.string("challenge")?,
            http_bind: a.string("http_bind")?,
            cache_dir: a.string("cache_dir")?,
        }),
    };
    let profiler = match o.object("profiler", "ProfilerConfig")? {
        None => None,
        Some(p) => Some(Profiler {
            enabled: p.boolean("enabled")?,
            bind: p.string("bind")?,
        }),
    };
    let mut servers = BTreeMap::new();
    for (name, s) in o.object_map("servers", "Server")? {
        servers.insert(name, read_server(&s)?);
    }
    Ok(Config {
        logging,
        api,
        metrics,
        defaults,
        acme,
        profiler,
        servers,
    })
}

fn parse_json(body: &[u8]) -> Result<Value, GbError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // What Go's decoder says of an empty body.
        return Err(GbError::new(GbErrorKind::Decode, "EOF"));
    }
    serde_json::from_slice(body).map_err(|e| GbError::new(GbErrorKind::Decode, e.to_string()))
}

fn parse_toml(text: &[u8]) -> Result<Value, GbError> {
    let text = std::str::from_utf8(text).map_err(|e| {
        GbError::new(
            GbErrorKind::Decode,
            format!("toml: invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| GbError::new(GbErrorKind::Decode, format!("toml: {}", e.message())))?;
    Ok(read::toml_to_json(toml::Value::Table(table)))
}

/// Decodes a server from a JSON body, as `POST /servers/<name>` reads it.
///
/// # Errors
///
/// [`GbErrorKind::Decode`] (400) for an empty body (`EOF`), malformed JSON, a
/// body that is not an object, a field of the wrong type (Go's text, such as
/// `json: cannot unmarshal string into Go struct field
/// Server.max_connections of type int`), or a backend object in
/// `static_list` that cannot be a backend (no host or port, a port outside
/// `1..=65535`, a number outside `u32`, whitespace in the host or SNI name);
/// [`GbErrorKind::Invalid`] (409) for an unknown name in a named field
/// (gobetween's text, such as `Not supported protocol http`).
pub fn decode_server(body: &[u8]) -> Result<Server, GbError> {
    let v = parse_json(body)?;
    read_server(&top(Syntax::Json, &v, "config.Server", "Server")?)
}

/// Decodes a whole config file in the given syntax.
///
/// # Errors
///
/// As [`decode_server`], for every server; TOML syntax errors carry the
/// parser's text after `toml: `.
pub fn decode_config(text: &[u8], format: Format) -> Result<Config, GbError> {
    let (v, syntax) = match format {
        Format::Json => (parse_json(text)?, Syntax::Json),
        Format::Toml => (parse_toml(text)?, Syntax::Toml),
    };
    read_config(&top(syntax, &v, "config.Config", "Config")?)
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Writes JSON as gobetween's API and dump do: indented by four spaces.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // The model holds strings, integers, booleans, lists and string-keyed
    // maps only: writing it as JSON cannot fail.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Dumps a config in the given syntax, as `GET /dump?format=` does; decoding
/// the dump gives back the same config.
///
/// # Errors
///
/// [`GbErrorKind::Encode`] for TOML when an integer is above `i64::MAX` (a
/// `udp` limit), which TOML cannot write.
pub fn dump(config: &Config, format: Format) -> Result<String, GbError> {
    match format {
        Format::Json => Ok(encode_json(config)),
        Format::Toml => {
            // TOML integers are 64-bit signed; the writer would put larger
            // ones down anyway, as text no reader takes.
            for (name, server) in &config.servers {
                let udp = server.udp.clone().unwrap_or_default();
                for (field, value) in [
                    ("max_requests", udp.max_requests),
                    ("max_responses", udp.max_responses),
                ] {
                    if value.is_some_and(|v| i64::try_from(v).is_err()) {
                        return Err(GbError::new(
                            GbErrorKind::Encode,
                            format!(
                                "toml: servers.{name}.udp.{field} is above {}, which TOML cannot hold",
                                i64::MAX
                            ),
                        ));
                    }
                }
            }
            toml::to_string(config).map_err(|e| GbError::new(GbErrorKind::Encode, e.to_string()))
        }
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn invalid(message: impl Into<String>) -> GbError {
    GbError::new(GbErrorKind::Invalid, message)
}

/// The port of a `host:port` bind address, if it is in `1..=65535`.
fn bind_port(bind: &str) -> Option<u16> {
    let (host, port) = bind.rsplit_once(':')?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Go's `strconv.Unquote` of `"` + `s` + `"`: the bytes of a Go string body
/// with its escapes resolved, or `None` where Go reports invalid syntax.
fn go_unquote(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        Some(v)
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return None,
            '\\' => {
                let e = chars.next()?;
                match e {
                    'a' => out.push(7),
                    'b' => out.push(8),
                    'f' => out.push(12),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(11),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' => out.push(u8::try_from(hex(&mut chars, 2)?).ok()?),
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.to_digit(8)?;
                        }
                        out.push(u8::try_from(v).ok()?);
                    }
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let c = char::from_u32(hex(&mut chars, n)?)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => return None,
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(out)
}

fn check_duration(field: &str, value: &str) -> Result<GoDuration, GbError> {
    parse_duration(value).map_err(|e| invalid(format!("{field} parsing error: {e}")))
}

/// Fills a `[defaults]` section as gobetween does before any server:
/// no connection limit and `"0"` timeouts where unset.
pub fn fill_defaults(defaults: &ConnectionOptions) -> ConnectionOptions {
    ConnectionOptions {
        max_connections: Some(defaults.max_connections.unwrap_or(0)),
        client_idle_timeout: Some(
            defaults
                .client_idle_timeout
                .clone()
                .unwrap_or_else(|| "0".into()),
        ),
        backend_idle_timeout: Some(
            defaults
                .backend_idle_timeout
                .clone()
                .unwrap_or_else(|| "0".into()),
        ),
        backend_connection_timeout: Some(
            defaults
                .backend_connection_timeout
                .clone()
                .unwrap_or_else(|| "0".into()),
        ),
    }
}

/// Checks a server and fills in gobetween's defaults, as gobetween's
/// `prepareConfig` does when a server is created, in its order and with its
/// texts; then routeyard's own checks (see the module documentation).
/// `defaults` is the config's `[defaults]` section (unset fields there take
/// gobetween's built-in defaults).
///
/// The result is the server as gobetween shows it afterwards: `protocol`,
/// `balance`, a `healthcheck` (kind `none` when absent) with `interval`,
/// `timeout`, `passes` and `fails`, discovery `failpolicy`, `interval` and
/// `timeout`, `sni` strategies and timeout, `udp` for UDP servers and the
/// four connection options are all set.
///
/// # Errors
///
/// [`GbErrorKind::Invalid`] (409) with gobetween's texts, such as
/// `No bind specified for server <name>`, `No .discovery specified for server
/// <name>`, `Healthcheck interval should be greater than 0s`, `Need tls
/// section for tls protocol`, `Cant use ping healthcheck with udp server`;
/// with routeyard's texts for its own checks; and with [`BackendError`]'s text
/// for the first static list line that does not parse.
pub fn prepare_server(
    name: &str,
    server: &Server,
    defaults: &ConnectionOptions,
) -> Result<Server, GbError> {
    let mut s = server.clone();
    let defaults = fill_defaults(defaults);

    if s.bind.as_deref().unwrap_or("").is_empty() {
        return Err(invalid(format!("No bind specified for server {name}")));
    }
    if s.discovery.is_none() {
        return Err(invalid(format!(
            "No .discovery specified for server {name}"
        )));
    }

    // Health check.
    let hc = s.healthcheck.get_or_insert_with(|| Healthcheck {
        kind: Some(HealthcheckKind::Disabled),
        interval: Some("0".into()),
        timeout: Some("0".into()),
        ..Healthcheck::default()
    });
    let Some(kind) = hc.kind else {
        return Err(invalid(HealthcheckKind::unsupported("")));
    };
    if hc.interval.as_deref().unwrap_or("").is_empty() {
        hc.interval = Some("0".into());
    }
    if hc.timeout.as_deref().unwrap_or("").is_empty() {
        hc.timeout = Some("0".into());
    }
    if hc.fails.unwrap_or(0) <= 0 {
        hc.fails = Some(1);
    }
    if hc.passes.unwrap_or(0) <= 0 {
        hc.passes = Some(1);
    }
    let interval = hc.interval.clone().unwrap_or_default();
    if kind != HealthcheckKind::Disabled {
        let d = parse_duration(&interval)
            .map_err(|e| invalid(format!("Could not parse healtcheck interval: {e}")))?;
        if d.0 <= 0 {
            return Err(invalid("Healthcheck interval should be greater than 0s"));
        }
    }
    if kind == HealthcheckKind::Probe {
        if hc.probe_protocol.is_none() {
            return Err(invalid(ProbeProtocol::unsupported("")));
        }
        let send = hc.probe_send.clone().unwrap_or_default();
        let recv = hc.probe_recv.clone().unwrap_or_default();
        if send.is_empty() || recv.is_empty() {
            return Err(invalid(
                "probe healthcheck should have both probe_send and probe_recv specified",
            ));
        }
        let strategy = *hc.probe_strategy.get_or_insert(ProbeStrategy::StartsWith);
        if go_unquote(&send).is_none() {
            return Err(invalid("probe_send has invalid syntax invalid syntax"));
        }
        let recv_len = hc.probe_recv_len.unwrap_or(0);
        match strategy {
            ProbeStrategy::StartsWith => {
                if recv_len > 0 {
                    return Err(invalid(
                        "probe_recv_len is redundant for 'starts_with' strategy",
                    ));
                }
                if go_unquote(&recv).is_none() {
                    return Err(invalid("probe_recv has invalid syntax invalid syntax"));
                }
            }
            ProbeStrategy::Regexp => {
                if recv_len == 0 {
                    return Err(invalid("probe_recv_len required"));
                }
                if let Err(e) = regex::bytes::Regex::new(&recv) {
                    return Err(invalid(format!("probe_recv has invalid syntax {e}")));
                }
            }
        }
    }
    let hc_timeout = hc.timeout.clone().unwrap_or_default();

    // PROXY protocol (unset protocol counts as its default, tcp).
    if let Some(pp) = &s.proxy_protocol {
        let protocol = s.protocol.unwrap_or(Protocol::Tcp);
        if protocol != Protocol::Tcp {
            return Err(invalid(format!(
                "proxy_protocol may be used only with 'tcp' protocol, not with {protocol}"
            )));
        }
        match pp.version.as_deref().unwrap_or("") {
            "" => return Err(invalid("version field for proxy_protocol is not specified")),
            "1" => {}
            v => return Err(invalid(format!("Unsupported proxy_protocol version {v}"))),
        }
    }

    // SNI.
    if let Some(sni) = &mut s.sni {
        if sni.read_timeout.as_deref().unwrap_or("").is_empty() {
            sni.read_timeout = Some("2s".into());
        }
        sni.unexpected_hostname_strategy
            .get_or_insert(UnexpectedHostname::Default);
        sni.hostname_matching_strategy
            .get_or_insert(HostnameMatching::Exact);
        if parse_duration(sni.read_timeout.as_deref().unwrap_or("")).is_err() {
            return Err(invalid("timeout parsing error"));
        }
    }
    if parse_duration(&hc_timeout).is_err() {
        return Err(invalid("timeout parsing error"));
    }
    if parse_duration(&interval).is_err() {
        return Err(invalid("interval parsing error"));
    }

    // TLS.
    if let Some(bt) = &s.backends_tls {
        if bt.key_path.is_none() != bt.cert_path.is_none() {
            return Err(invalid(
                "backend_tls.cert_path and .key_path should be specified together",
            ));
        }
    }
    if let Some(tls) = &s.tls {
        let no_acme = tls.acme_hosts.as_ref().is_none_or(Vec::is_empty);
        let empty = |p: &Option<String>| p.as_deref().unwrap_or("").is_empty();
        if no_acme && (empty(&tls.key_path) || empty(&tls.cert_path)) {
            return Err(invalid(
                "tls requires specify either acme hosts or both key and cert paths",
            ));
        }
    }

    // Protocol.
    let protocol = *s.protocol.get_or_insert(Protocol::Tcp);
    match protocol {
        Protocol::Tls if s.tls.is_none() => {
            return Err(invalid("Need tls section for tls protocol"));
        }
        Protocol::Udp => {
            if s.backends_tls.is_some() {
                return Err(invalid(
                    "backends_tls should not be enabled for udp protocol",
                ));
            }
            let udp = s.udp.get_or_insert_with(Udp::default);
            if udp.max_requests.unwrap_or(0) == 0
                && udp.max_responses.unwrap_or(0) == 0
                && s.client_idle_timeout.is_none()
                && s.backend_idle_timeout.is_none()
            {
                return Err(invalid("udp protocol requires to specify at least one of (client|backend)_idle_timeout, udp.max_requests, udp.max_responses"));
            }
        }
        _ => {}
    }
    if kind == HealthcheckKind::Ping && protocol == Protocol::Udp {
        return Err(invalid("Cant use ping healthcheck with udp server"));
    }

    // Balance and discovery defaults.
    s.balance.get_or_insert(Balance::Weight);
    let discovery = s.discovery.get_or_insert_with(Discovery::default);
    discovery.failpolicy.get_or_insert(FailPolicy::KeepLast);
    if discovery.interval.as_deref().unwrap_or("").is_empty() {
        discovery.interval = Some("0".into());
    }
    if discovery.timeout.as_deref().unwrap_or("").is_empty() {
        discovery.timeout = Some("0".into());
    }

    // Connection options from the defaults.
    if s.max_connections.is_none() {
        s.max_connections = defaults.max_connections;
    }
    if s.client_idle_timeout.is_none() {
        s.client_idle_timeout = defaults.client_idle_timeout;
    }
    if s.backend_idle_timeout.is_none() {
        s.backend_idle_timeout = defaults.backend_idle_timeout;
    }
    if s.backend_connection_timeout.is_none() {
        s.backend_connection_timeout = defaults.backend_connection_timeout;
    }

    // routeyard's own checks, where gobetween fails later or not at all.
    if s.max_connections.unwrap_or(0) < 0 {
        return Err(invalid("max_connections should not be negative"));
    }
    for (field, value) in [
        ("client_idle_timeout", &s.client_idle_timeout),
        ("backend_idle_timeout", &s.backend_idle_timeout),
        ("backend_connection_timeout", &s.backend_connection_timeout),
    ] {
        check_duration(field, value.as_deref().unwrap_or(""))?;
    }
    let discovery = s.discovery.as_ref().cloned().unwrap_or_default();
    if discovery.kind.is_none() {
        return Err(invalid(DiscoveryKind::unsupported("")));
    }
    check_duration(
        "discovery.interval",
        discovery.interval.as_deref().unwrap_or(""),
    )?;
    check_duration(
        "discovery.timeout",
        discovery.timeout.as_deref().unwrap_or(""),
    )?;
    s.backends()?;
    let bind = s.bind.clone().unwrap_or_default();
    if bind_port(&bind).is_none() {
        return Err(invalid(format!(
            "bind {bind} is not host:port with a port between 1 and 65535"
        )));
    }
    Ok(s)
}

/// Prepares every server of a config as gobetween does at start-up (see
/// [`prepare_server`]), by name order, against the config's `[defaults]`.
/// The global sections stay as written, as gobetween's dump shows them.
///
/// # Errors
///
/// The first server's error, in name order.
pub fn prepare_config(config: &Config) -> Result<Config, GbError> {
    let defaults = config.defaults.clone().unwrap_or_default();
    let mut out = config.clone();
    for (name, server) in out.servers.iter_mut() {
        *server = prepare_server(name, server, &defaults)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_like_go() {
        for (s, want) in [
            ("abc", Some(&b"abc"[..])),
            (r"a\nb", Some(b"a\nb")),
            (r"\x00\xff", Some(b"\x00\xff")),
            (r"\101", Some(b"A")),
            (r"\u00e9", Some("é".as_bytes())),
            (r"\U0001F600", Some("😀".as_bytes())),
            (r#"\""#, Some(b"\"")),
            ("é", Some("é".as_bytes())),
            (r"\'", None),
            ("\"", None),
            ("a\nb", None),
            (r"\", None),
            (r"\x1", None),
            (r"\400", None),
            (r"\ud800", None),
            (r"\q", None),
        ] {
            assert_eq!(go_unquote(s).as_deref(), want, "{s}");
        }
    }

    #[test]
    fn bind_ports() {
        for (b, want) in [
            (":3000", Some(3000)),
            ("0.0.0.0:80", Some(80)),
            ("[::1]:443", Some(443)),
            ("localhost:65535", Some(65535)),
            ("::1:80", None),
            (":0", None),
            (":65536", None),
            ("3000", None),
            (":", None),
            (":+80", None),
            (":http", None),
        ] {
            assert_eq!(bind_port(b), want, "{b}");
        }
    }
}
