//! Backends as gobetween's static discovery lists them:
//! `host:port weight=N priority=N max_connections=N sni=S`.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One backend of a server: where it is and how it takes part in balancing.
///
/// Parsed from gobetween's line syntax ([`BackendSpec::from_str`]) and written
/// back in it ([`fmt::Display`]); the two round-trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackendSpec {
    /// The host: a name, an IPv4 address or a bracketed IPv6 address; any
    /// run of non-space characters, as gobetween takes it.
    pub host: String,
    /// The port, `1..=65535`.
    pub port: u16,
    /// The share of traffic under the `weight` balancer, among backends of the
    /// same priority (default 1; 0 takes traffic only when all weights are 0).
    pub weight: u32,
    /// The tier: under the `weight` balancer only the lowest value among
    /// usable backends takes traffic (default 1).
    pub priority: u32,
    /// The most concurrent connections this backend takes; 0 is no limit
    /// (the default).
    pub max_connections: u32,
    /// The SNI hostname this backend serves when the server filters by SNI.
    pub sni: Option<String>,
}

impl BackendSpec {
    /// A backend with gobetween's defaults: weight 1, priority 1, no
    /// connection limit, no SNI.
    pub fn new(host: impl Into<String>, port: u16) -> BackendSpec {
        BackendSpec {
            host: host.into(),
            port,
            weight: 1,
            priority: 1,
            max_connections: 0,
            sni: None,
        }
    }

    /// `host:port`, as gobetween identifies a backend.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Checks that the fields can be written as a line that reads back the
    /// same: a non-empty host, a port above 0, and no whitespace in the host
    /// or the SNI name. `line` names the backend in the message.
    pub(crate) fn check_fields(&self, line: &str) -> Result<(), BackendError> {
        let spaced = |s: &str| s.chars().any(is_go_space);
        if self.host.is_empty() || spaced(&self.host) {
            return Err(BackendError::new(BackendErrorKind::Syntax, line, None));
        }
        if self.port == 0 {
            return Err(BackendError::new(
                BackendErrorKind::PortRange,
                line,
                Some("0".into()),
            ));
        }
        if let Some(sni) = &self.sni {
            if sni.is_empty() || spaced(sni) {
                return Err(BackendError::new(BackendErrorKind::Syntax, line, None));
            }
        }
        Ok(())
    }
}

/// Writes the backend in gobetween's line syntax: weight and priority always,
/// `max_connections` when not 0, `sni` when set.
impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} weight={} priority={}",
            self.host, self.port, self.weight, self.priority
        )?;
        if self.max_connections != 0 {
            write!(f, " max_connections={}", self.max_connections)?;
        }
        if let Some(sni) = &self.sni {
            write!(f, " sni={sni}")?;
        }
        Ok(())
    }
}

/// Why a backend line was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendErrorKind {
    /// The line does not have gobetween's shape (gobetween's `Cant parse`).
    Syntax,
    /// The port is 0 or above 65535.
    PortRange,
    /// A number does not fit (gobetween quietly falls back to the default).
    Overflow,
}

/// A backend line gobetween's syntax, or routeyard's ranges, refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    kind: BackendErrorKind,
    line: String,
    detail: Option<String>,
}

impl BackendError {
    fn new(kind: BackendErrorKind, line: &str, detail: Option<String>) -> BackendError {
        BackendError {
            kind,
            line: line.to_string(),
            detail,
        }
    }

    /// Why the line was refused.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// The line, trimmed as gobetween trims it.
    pub fn line(&self) -> &str {
        &self.line
    }
}

impl fmt::Display for BackendError {
    /// gobetween's `Cant parse <line>`, followed for range errors by what is
    /// out of range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cant parse {}", self.line)?;
        match (self.kind, &self.detail) {
            (BackendErrorKind::PortRange, Some(p)) => {
                write!(f, ": port {p} is not between 1 and 65535")
            }
            (BackendErrorKind::Overflow, Some(field)) => {
                write!(f, ": {field} is larger than {}", u32::MAX)
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for BackendError {}

/// Go's `\s` in regular expressions: ASCII space, tab, newline, form feed and
/// carriage return (not vertical tab).
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // gobetween's default backend pattern, with Go's ASCII `\s`, `\S` and
        // `\d` spelled out (Rust's are Unicode-aware and `\s` takes `\v`).
        let s = r"[\t\n\x0C\r ]";
        let ns = r"[^\t\n\x0C\r ]";
        let d = "[0-9]";
        let src = format!(
            r"^(?P<host>{ns}+):(?P<port>{d}+)({s}weight=(?P<weight>{d}+))?({s}priority=(?P<priority>{d}+))?({s}max_connections=(?P<max_connections>{d}+))?({s}sni=(?P<sni>{ns}+))?$"
        );
        // The pattern is a constant that compiles.
        Regex::new(&src).unwrap_or_else(|_| unreachable!("constant backend pattern"))
    })
}

/// Parses one backend line as gobetween's static discovery does: the line is
/// trimmed of surrounding whitespace, then must read `host:port` followed, in
/// this order and each optional, by ` weight=N`, ` priority=N`,
/// ` max_connections=N` and ` sni=S`, separated by one whitespace character.
/// The host is any run of non-space characters, so the last `:digits` is the
/// port (`[::1]:80` and even `::1:80` give host `[::1]` and `::1`).
///
/// # Errors
///
/// [`BackendErrorKind::Syntax`] with gobetween's `Cant parse <line>` for a line
/// of another shape; [`BackendErrorKind::PortRange`] for a port of 0 or above
/// 65535 and [`BackendErrorKind::Overflow`] for a weight, priority or
/// `max_connections` above `u32::MAX`, where gobetween takes the line and
/// fails later (port) or quietly uses the default (numbers).
pub fn parse_backend(line: &str) -> Result<BackendSpec, BackendError> {
    let line = line.trim();
    let Some(caps) = pattern().captures(line) else {
        return Err(BackendError::new(BackendErrorKind::Syntax, line, None));
    };
    let text = |name: &str| caps.name(name).map(|m| m.as_str());
    let port_s = text("port").unwrap_or_default();
    let port = port_s
        .parse::<u32>()
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            BackendError::new(BackendErrorKind::PortRange, line, Some(port_s.to_string()))
        })?;
    let number = |name: &str, default: u32| -> Result<u32, BackendError> {
        match text(name) {
            None => Ok(default),
            Some(digits) => digits.parse::<u32>().map_err(|_| {
                BackendError::new(BackendErrorKind::Overflow, line, Some(name.to_string()))
            }),
        }
    };
    Ok(BackendSpec {
        host: text("host").unwrap_or_default().to_string(),
        port,
        weight: number("weight", 1)?,
        priority: number("priority", 1)?,
        max_connections: number("max_connections", 0)?,
        sni: text("sni").map(str::to_string),
    })
}

impl FromStr for BackendSpec {
    type Err = BackendError;

    /// See [`parse_backend`].
    fn from_str(s: &str) -> Result<BackendSpec, BackendError> {
        parse_backend(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips() {
        let mut b = BackendSpec::new("[::1]", 80);
        assert_eq!(b.to_string(), "[::1]:80 weight=1 priority=1");
        assert_eq!(parse_backend(&b.to_string()), Ok(b.clone()));
        b.max_connections = 5;
        b.sni = Some("a.test".into());
        assert_eq!(
            b.to_string(),
            "[::1]:80 weight=1 priority=1 max_connections=5 sni=a.test"
        );
        assert_eq!(parse_backend(&b.to_string()), Ok(b));
    }
}
