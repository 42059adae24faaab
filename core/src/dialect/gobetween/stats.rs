//! The JSON shapes of gobetween's statistics and system information.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backend::BackendSpec;
use super::duration::{format_duration, GoDuration};

/// The counters of one backend (`stats` inside each backend of
/// `GET /servers/<name>/stats`), the same shape the stats engine reports.
/// Rates are bytes per second over the last sampling window (gobetween's is
/// 2 seconds).
pub type BackendStats = crate::stats::BackendCounters;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One backend as gobetween's stats list it: its target (the port as a
/// string, as gobetween keeps it), balancing fields and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackendStatus {
    /// The backend's host.
    pub host: String,
    /// The backend's port, as a string.
    pub port: String,
    /// The backend's priority (lower is preferred by the `weight` balancer).
    pub priority: i64,
    /// The backend's weight.
    pub weight: i64,
    /// The backend's connection limit; left out when 0 (no limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_connections: i64,
    /// The backend's SNI name; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sni: String,
    /// The counters.
    pub stats: BackendStats,
}

impl BackendStatus {
    /// The status of a configured backend with the given counters.
    pub fn new(spec: &BackendSpec, stats: BackendStats) -> BackendStatus {
        BackendStatus {
            host: spec.host.clone(),
            port: spec.port.to_string(),
            priority: i64::from(spec.priority),
            weight: i64::from(spec.weight),
            max_connections: i64::from(spec.max_connections),
            sni: spec.sni.clone().unwrap_or_default(),
            stats,
        }
    }
}

/// A server's statistics, as `GET /servers/<name>/stats` returns them. The
/// byte totals are `rx_total`/`tx_total` here but `rx`/`tx` per backend, as in
/// gobetween.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerStats {
    /// Client connections open now.
    pub active_connections: u64,
    /// Bytes received from backends.
    pub rx_total: u64,
    /// Bytes sent to backends.
    pub tx_total: u64,
    /// Bytes received per second.
    pub rx_second: u64,
    /// Bytes sent per second.
    pub tx_second: u64,
    /// The current backends with their counters.
    pub backends: Vec<BackendStatus>,
}

/// Where the running configuration came from (`configuration` in `GET /`):
/// a `kind` (`file`, `url`, `consul`, ...) and that kind's details, such as
/// `path` for `file`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigSource {
    /// The kind of source.
    pub kind: String,
    /// The kind's fields (`path` for a file, `url` for a URL).
    #[serde(flatten)]
    pub details: BTreeMap<String, String>,
}

impl ConfigSource {
    /// A configuration read from a file.
    pub fn file(path: impl Into<String>) -> ConfigSource {
        let mut details = BTreeMap::new();
        details.insert("path".to_string(), path.into());
        ConfigSource {
            kind: "file".to_string(),
            details,
        }
    }
}

/// The body of `GET /`: the process's identity and uptime. Field names and
/// their order are gobetween's (`startTime` in camel case, the rest in lower
/// case, sorted as Go writes a map).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Info {
    /// Where the configuration came from.
    pub configuration: ConfigSource,
    /// The process id.
    pub pid: u32,
    /// When the process started, RFC 3339 with nanoseconds.
    #[serde(rename = "startTime")]
    pub start_time: String,
    /// The time of the answer, RFC 3339 with nanoseconds.
    pub time: String,
    /// `time - startTime` in Go's duration syntax (`"1h2m3.5s"`).
    pub uptime: String,
    /// The version string.
    pub version: String,
}

impl Info {
    /// The info of a process; `uptime` is written in Go's duration syntax.
    pub fn new(
        configuration: ConfigSource,
        pid: u32,
        start_time: impl Into<String>,
        time: impl Into<String>,
        uptime: GoDuration,
        version: impl Into<String>,
    ) -> Info {
        Info {
            configuration,
            pid,
            start_time: start_time.into(),
            time: time.into(),
            uptime: format_duration(uptime),
            version: version.into(),
        }
    }
}

/// The body of `GET /ping`: the plain text `OK` (not a JSON string), the one
/// endpoint gobetween serves without authentication.
pub const PING_BODY: &str = "OK";
