//! Kong's Route and Service objects, the general routing model: what a route
//! matches (protocols, hosts, paths, methods, headers, SNIs, sources,
//! destinations), how it ranks, and the service it leads to.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::url::{is_sub_delim, is_unreserved};

use crate::error::{Error, ErrorKind};

/// A protocol a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// gRPC over plain HTTP/2.
    Grpc,
    /// gRPC over TLS.
    Grpcs,
    /// A TCP stream.
    Tcp,
    /// A TLS stream terminated by the proxy.
    Tls,
    /// A TLS stream passed through by SNI.
    TlsPassthrough,
    /// UDP datagrams.
    Udp,
}

impl Protocol {
    /// Whether the protocol is matched at layer 4 (stream routes).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Protocol::Tcp | Protocol::Tls | Protocol::TlsPassthrough | Protocol::Udp
        )
    }

    /// The protocol's name as Kong writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::TlsPassthrough => "tls_passthrough",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the upstream path is built when a route matches by path (Kong's
/// `path_handling`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathHandling {
    /// Kong's default (`get_upstream_uri_v0`).
    #[default]
    V0,
    /// The older, deprecated rules.
    V1,
}

/// How a plain (non-regex) route path compares with the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathMode {
    /// Byte prefix, as Kong: `/foo` matches `/foo`, `/foo/bar` and `/foobar`.
    #[default]
    Prefix,
    /// Segment prefix, as gorouter: `/foo` matches `/foo` and `/foo/bar`, not
    /// `/foobar`.
    Segment,
    /// The whole path, exactly.
    Exact,
}

/// An IP network: an address and a prefix length (a plain address is a /32 or
/// /128). Written `10.1.0.0/16`, `2001:db8::/32` or `10.2.2.2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network's address, as written.
    pub fn addr(self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// Whether the network is a single address.
    pub fn is_host(self) -> bool {
        self.prefix == self.max_prefix()
    }

    fn max_prefix(self) -> u8 {
        match self.addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    /// Whether `ip` lies in the network. An IPv4 network never contains an IPv6
    /// address and the other way round.
    pub fn contains(self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix)
                    == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Why a CIDR did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let invalid = || CidrError(format!("invalid ip or cidr range: '{s}'"));
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                let p: u8 = p.parse().map_err(|_| invalid())?;
                if p > max {
                    return Err(invalid());
                }
                p
            }
            Some(_) => return Err(invalid()),
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One `sources` or `destinations` entry of a stream route: an address or
/// network, a port, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Peer {
    /// The address or network, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Cidr>,
    /// The port, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Peer {
    /// Whether an address and port satisfy this entry: its network (if set)
    /// contains the address and its port (if set) is equal.
    pub fn matches(&self, ip: Option<IpAddr>, port: Option<u16>) -> bool {
        let ip_ok = match self.ip {
            None => true,
            Some(net) => ip.is_some_and(|ip| net.contains(ip)),
        };
        let port_ok = match self.port {
            None => true,
            Some(p) => port == Some(p),
        };
        ip_ok && port_ok
    }
}

/// A reference to a service by id, as Kong writes it: `{"id": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceRef {
    /// The service's id.
    pub id: String,
}

/// A route: how a request is recognised, how it ranks, and where it goes.
///
/// The fields are Kong's Route object; `priority` and `path_mode` are
/// routeyard's additions (an explicit precedence compared before everything else,
/// and a per-route comparison mode for plain paths). Unset lists are `None` and
/// serialize as `null`, as Kong writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// A UUID, assigned on create when not given.
    pub id: String,
    /// A unique name, if any.
    pub name: Option<String>,
    /// The protocols the route accepts; default `["http", "https"]`.
    pub protocols: Vec<Protocol>,
    /// HTTP methods, uppercase.
    pub methods: Option<Vec<String>>,
    /// Host names, each with an optional `:port`; one `*` may replace the
    /// leftmost or the rightmost label.
    pub hosts: Option<Vec<String>>,
    /// Paths: plain paths start with `/`, regexes with `~`.
    pub paths: Option<Vec<String>>,
    /// Header names (case-insensitive) and the values any of which must match; a
    /// single value starting with `~*` is a regex.
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    /// TLS server names.
    pub snis: Option<Vec<String>>,
    /// Client addresses and ports (stream routes).
    pub sources: Option<Vec<Peer>>,
    /// Local addresses and ports (stream routes).
    pub destinations: Option<Vec<Peer>>,
    /// Rank among regex routes of the same category, higher first.
    pub regex_priority: i64,
    /// Whether the matched path prefix is removed from the upstream path.
    pub strip_path: bool,
    /// Whether the request's Host goes upstream instead of the service's host.
    pub preserve_host: bool,
    /// Which rules build the upstream path.
    pub path_handling: PathHandling,
    /// The status code that answers a plain-HTTP request to an HTTPS-only route.
    pub https_redirect_status_code: u16,
    /// Free-form tags.
    pub tags: Option<Vec<String>>,
    /// The service the route leads to.
    pub service: Option<ServiceRef>,
    /// Seconds since the Unix epoch; set by the registry.
    pub created_at: i64,
    /// Seconds since the Unix epoch; set by the registry.
    pub updated_at: i64,
    /// Explicit precedence, higher first, compared before every Kong rule.
    pub priority: i64,
    /// How plain paths compare with the request path.
    pub path_mode: PathMode,
}

impl Default for Route {
    fn default() -> Route {
        Route {
            id: String::new(),
            name: None,
            protocols: vec![Protocol::Http, Protocol::Https],
            methods: None,
            hosts: None,
            paths: None,
            headers: None,
            snis: None,
            sources: None,
            destinations: None,
            regex_priority: 0,
            strip_path: true,
            preserve_host: false,
            path_handling: PathHandling::V0,
            https_redirect_status_code: 426,
            tags: None,
            service: None,
            created_at: 0,
            updated_at: 0,
            priority: 0,
            path_mode: PathMode::Prefix,
        }
    }
}

/// A service: where recognised traffic goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// A UUID, assigned on create when not given.
    pub id: String,
    /// A unique name, if any.
    pub name: Option<String>,
    /// The upstream protocol; default `http`.
    pub protocol: String,
    /// The upstream host.
    pub host: String,
    /// The upstream port; default 80.
    pub port: u16,
    /// The upstream base path, if any.
    pub path: Option<String>,
    /// Retries on failure; default 5.
    pub retries: u32,
    /// Milliseconds; default 60000.
    pub connect_timeout: u32,
    /// Milliseconds; default 60000.
    pub write_timeout: u32,
    /// Milliseconds; default 60000.
    pub read_timeout: u32,
    /// Free-form tags.
    pub tags: Option<Vec<String>>,
    /// Seconds since the Unix epoch; set by the registry.
    pub created_at: i64,
    /// Seconds since the Unix epoch; set by the registry.
    pub updated_at: i64,
}

impl Default for Service {
    fn default() -> Service {
        Service {
            id: String::new(),
            name: None,
            protocol: "http".to_string(),
            host: String::new(),
            port: 80,
            path: None,
            retries: 5,
            connect_timeout: 60_000,
            write_timeout: 60_000,
            read_timeout: 60_000,
            tags: None,
            created_at: 0,
            updated_at: 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Kong's schema rules.
//
// The rules and texts below are Kong 3.x's (`kong/db/schema/entities/routes.lua`,
// `routes_subschemas.lua`, `services.lua`, `kong/db/schema/typedefs.lua`, the
// validators of `kong/db/schema/init.lua`, `kong/tools/ip.lua` and
// `kong/tools/uri.lua`). Regex paths must compile with the `regex` crate, the
// engine of Kong's default `traditional_compatible` router (and of routeyard's
// matcher); SNIs follow the `traditional` router (no wildcard), as routeyard
// matches them.
// ---------------------------------------------------------------------------

/// Kong's protocol list, as its `one_of` message prints it.
pub(crate) const PROTOCOL_LIST: &str = "grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

const LEN_MIN_1: &str = "length must be at least 1";

impl Protocol {
    /// The protocol Kong names `name` (`http`, `tls_passthrough`, ...), if any.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Some(match name {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "grpc" => Protocol::Grpc,
            "grpcs" => Protocol::Grpcs,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            "tls_passthrough" => Protocol::TlsPassthrough,
            "udp" => Protocol::Udp,
            _ => return None,
        })
    }

    /// The `mutually_exclusive_subsets` group of `protocols` the protocol
    /// belongs to, as Kong lists the groups.
    fn subset(self) -> &'static [&'static str] {
        match self {
            Protocol::Http | Protocol::Https => &["http", "https"],
            Protocol::Tcp | Protocol::Tls | Protocol::Udp => &["tcp", "tls", "udp"],
            Protocol::TlsPassthrough => &["tls_passthrough"],
            Protocol::Grpc | Protocol::Grpcs => &["grpc", "grpcs"],
        }
    }
}

/// Schema violations collected the way Kong collects them: rules about the whole
/// object (Kong's `@entity` list) and rules about one field, by path.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    entity: Vec<String>,
    fields: Vec<(String, String)>,
}

impl Violations {
    pub(crate) fn new() -> Violations {
        Violations::default()
    }

    /// A rule broken by the field at `path` (`name`, `hosts.2`, `sources.1.ip`).
    pub(crate) fn field(&mut self, path: impl Into<String>, rule: impl Into<String>) {
        self.fields.push((path.into(), rule.into()));
    }

    /// A rule broken by the object as a whole.
    pub(crate) fn entity(&mut self, rule: impl Into<String>) {
        self.entity.push(rule.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entity.is_empty() && self.fields.is_empty()
    }

    /// Whether `field` or anything inside it already broke a rule.
    fn has_field(&self, field: &str) -> bool {
        self.fields.iter().any(|(p, _)| under(p, field))
    }

    /// Replaces whatever was said about `field` and inside it, as Kong's
    /// `conditional` check does when it sets the field's error.
    fn set_field(&mut self, field: &str, rule: impl Into<String>) {
        self.fields.retain(|(p, _)| !under(p, field));
        self.field(field, rule);
    }

    /// The `(path, rule)` pairs in the order of Kong's message: whole-object
    /// rules first (path `""`), then fields sorted by path, list indexes
    /// numerically.
    pub(crate) fn into_fields(self) -> Vec<(String, String)> {
        let mut fields = self.fields;
        fields.sort_by(|a, b| path_cmp(&a.0, &b.0));
        let mut out: Vec<(String, String)> = self
            .entity
            .into_iter()
            .map(|r| (String::new(), r))
            .collect();
        out.extend(fields);
        out
    }

    /// `Ok` when nothing was collected, else one schema violation listing all.
    pub(crate) fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::with_fields(
                ErrorKind::SchemaViolation,
                self.into_fields(),
            ))
        }
    }
}

fn under(path: &str, field: &str) -> bool {
    path == field
        || path
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Compares two field paths segment by segment, numbers as numbers.
fn path_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn index(s: &str) -> Option<u64> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    }
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (index(x), index(y)) {
                    (Some(i), Some(j)) => i.cmp(&j),
                    _ => x.cmp(y),
                };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Whether `s` has the shape of a UUID (hex digits in 8-4-4-4-12 groups, any
/// case), as Kong's `is_valid_uuid` checks it. The Admin API takes such a key in
/// `/routes/{name or id}` as an id and anything else as a name.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

// --- Hosts and addresses (`kong/tools/ip.lua`) ------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostType {
    Ipv4,
    Ipv6,
    Name,
}

const INVALID_PORT: &str = "invalid port number";

/// `hostname_type`: decided by exclusion, not by validation.
fn hostname_type(s: &str) -> HostType {
    if s.bytes().filter(|&b| b == b':').count() > 1 {
        return HostType::Ipv6;
    }
    let mut rest = s.bytes().filter(|&b| b != b':').peekable();
    if rest.peek().is_some() && rest.all(|b| b.is_ascii_digit() || b == b'.') {
        HostType::Ipv4
    } else {
        HostType::Name
    }
}

/// A decimal port as Lua's `tonumber` reads it, if at most 65535.
fn port_number(digits: &str) -> Result<u16, &'static str> {
    let significant = digits.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(INVALID_PORT);
    }
    let n: u32 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| INVALID_PORT)?
    };
    u16::try_from(n).map_err(|_| INVALID_PORT)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `normalize_ipv4`: `a.b.c.d` or `a.b.c.d:port`.
fn check_ipv4(address: &str) -> Result<Option<u16>, String> {
    let invalid = || format!("invalid ipv4 address: {address}");
    let (ip, port) = match address.split_once(':') {
        Some((ip, port)) if all_digits(port) => (ip, Some(port)),
        Some(_) => return Err(invalid()),
        None => (address, None),
    };
    if ip.split('.').count() != 4 {
        return Err(invalid());
    }
    for o in ip.split('.') {
        if o.is_empty()
            || o.len() > 3
            || !all_digits(o)
            || o.parse::<u16>().map_or(true, |n| n > 255)
        {
            return Err(invalid());
        }
    }
    match port {
        Some(p) => port_number(p).map(Some).map_err(str::to_string),
        None => Ok(None),
    }
}

/// `normalize_ipv6`: `::1`, `[::1]` or `[::1]:port`.
fn check_ipv6(address: &str) -> Result<Option<u16>, String> {
    let (mut check, port) = match balanced_brackets(address) {
        Some((inner, rest)) => {
            let port = if rest.is_empty() {
                None
            } else {
                match rest.strip_prefix(':') {
                    Some(p) if all_digits(p) => Some(port_number(p).map_err(str::to_string)?),
                    _ => return Err("invalid ipv6 address".to_string()),
                }
            };
            (inner.to_string(), port)
        }
        None => (address.to_string(), None),
    };
    if check.starts_with(':') {
        check.insert(0, '0');
    }
    if check.ends_with(':') {
        check.push('0');
    }
    if check.contains("::") {
        let colons = check.bytes().filter(|&b| b == b':').count();
        let ins = format!(":{}", "0:".repeat(8usize.saturating_sub(colons)));
        check = check.replacen("::", &ins, 1);
    }
    let groups: Vec<&str> = check.split(':').collect();
    let ok = groups.len() == 8
        && groups
            .iter()
            .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(port)
    } else {
        Err(format!("invalid ipv6 address: {address}"))
    }
}

/// Lua's `^(%b[])(.-)$`: a bracketed prefix (brackets balanced) and the rest.
fn balanced_brackets(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('[') {
        return None;
    }
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// `check_hostname`: letters, digits, `-`, `.` and `_`, an optional `:port`; no
/// label ends with `-`, and only the last label may be empty (a trailing dot).
fn check_hostname(address: &str) -> Result<Option<u16>, String> {
    let invalid = || format!("invalid hostname: {address}");
    let (name, port) = match address.rsplit_once(':') {
        Some((name, port)) if all_digits(port) => {
            (name, Some(port_number(port).map_err(str::to_string)?))
        }
        _ => (address, None),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(invalid());
    }
    let mut labels = name.split('.').peekable();
    while let Some(label) = labels.next() {
        // Only the last label may be empty (a trailing dot).
        if label.ends_with('-') || (label.is_empty() && labels.peek().is_some()) {
            return Err(invalid());
        }
    }
    Ok(port)
}

/// The common case of [`normalize_ip`] in one pass: a name of lowercase
/// letters, digits, `-`, `.` and `_` with at least one letter, `-` or `_` (so
/// neither an IP address nor anything with a port). `Some(valid)` for such a
/// name, as [`check_hostname`] would judge it; `None` for anything else.
fn plain_hostname(address: &str) -> Option<bool> {
    let mut name_like = false;
    let mut valid = true;
    let mut prev = b'.';
    for &b in address.as_bytes() {
        match b {
            b'a'..=b'z' | b'-' | b'_' => name_like = true,
            b'0'..=b'9' => {}
            // A label that ends in `-`, or an empty label before another one.
            b'.' => valid &= prev != b'-' && prev != b'.',
            _ => return None,
        }
        prev = b;
    }
    // The last label may be empty (a trailing dot) but may not end in `-`.
    Some(valid && prev != b'-' && !address.is_empty()).filter(|_| name_like)
}

/// `normalize_ip`: the kind of host and its port, or Kong's complaint.
fn normalize_ip(address: &str) -> Result<(HostType, Option<u16>), String> {
    if let Some(plain) = plain_hostname(address) {
        return match plain {
            true => Ok((HostType::Name, None)),
            false => Err(format!("invalid hostname: {address}")),
        };
    }
    let kind = hostname_type(address);
    let port = match kind {
        HostType::Ipv4 => check_ipv4(address)?,
        HostType::Ipv6 => check_ipv6(address)?,
        HostType::Name => check_hostname(address)?,
    };
    Ok((kind, port))
}

/// A route's `hosts` entry (`typedefs.hosts`): at most one `*`, as the leftmost
/// or rightmost label, then a host name or IP with an optional port.
pub(crate) fn check_route_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    let stars = host.bytes().filter(|&b| b == b'*').count();
    if stars > 1 {
        return Err("invalid wildcard: must have at most one wildcard".into());
    }
    if !(host.starts_with("*.") || host.ends_with(".*") || stars == 0) {
        return Err("invalid wildcard: must be placed at leftmost or rightmost label".into());
    }
    if stars == 1 {
        normalize_ip(&host.replace('*', "abc")).map(|_| ())
    } else {
        normalize_ip(host).map(|_| ())
    }
}

/// An `snis` entry (`typedefs.sni`): a host name without a port.
///
/// This is the rule of Kong's `traditional` router. Its default
/// `traditional_compatible` router also takes one `*` as the first or last
/// character (`typedefs.wildcard_host`); routeyard matches SNIs exactly, as the
/// traditional router does, so a wildcard is refused here rather than stored and
/// never matched.
pub(crate) fn check_sni(sni: &str) -> Result<(), String> {
    if sni.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    match normalize_ip(sni) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {sni}")),
        Err(_) => Err("must not have a port".into()),
        Ok((kind, _)) if kind != HostType::Name => Err("must not be an IP".into()),
        Ok((_, Some(_))) => Err("must not have a port".into()),
        Ok(_) => Ok(()),
    }
}

/// A service's `host` (`typedefs.host`): a name or IP without a port.
pub(crate) fn check_service_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    match normalize_ip(host) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {host}")),
        Err(_) | Ok((_, Some(_))) => Err("must not have a port".into()),
        Ok(_) => Ok(()),
    }
}

// --- Paths (`typedefs.path`, `typedefs.router_path`, `kong/tools/uri.lua`) --

enum PathError {
    Rfc3986(String),
    Percent(String),
}

/// `validate_path`: RFC 3986 characters only, and well-formed `%XX` escapes.
fn check_path_chars(path: &str) -> Result<(), PathError> {
    let allowed =
        |b: u8| is_unreserved(b) || is_sub_delim(b) || matches!(b, b'/' | b'%' | b':' | b'@');
    if !path.starts_with('/') || !path.bytes().all(allowed) {
        return Err(PathError::Rfc3986(format!(
            "invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
        )));
    }
    if !path.contains('%') {
        return Ok(());
    }
    // Every well-formed escape stands in for three plain bytes; a `%` left over
    // starts a broken one.
    let b = path.as_bytes();
    let mut raw = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            raw.extend_from_slice(b"___");
            i += 3;
        } else {
            raw.push(b[i]);
            i += 1;
        }
    }
    if let Some(at) = raw.iter().position(|&c| c == b'%') {
        let end = (at + 3).min(raw.len());
        return Err(PathError::Percent(format!(
            "invalid url-encoded value: '{}'",
            String::from_utf8_lossy(&raw[at..end])
        )));
    }
    Ok(())
}

/// Kong's `normalize(uri, true)`: decodes escapes of unreserved and "other"
/// bytes, upper-cases escapes of reserved ones, removes dot segments and merges
/// slashes.
fn normalize_uri(uri: &str) -> Vec<u8> {
    const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";
    if uri.is_empty() || uri == "/" {
        return uri.as_bytes().to_vec();
    }
    let src = uri.as_bytes();
    let mut s: Vec<u8> = Vec::with_capacity(src.len());
    if src.contains(&b'%') {
        let mut i = 0;
        while i < src.len() {
            if src[i] == b'%'
                && i + 2 < src.len()
                && src[i + 1].is_ascii_hexdigit()
                && src[i + 2].is_ascii_hexdigit()
            {
                let hex = std::str::from_utf8(&src[i + 1..i + 3]).unwrap_or("00");
                let n = u8::from_str_radix(hex, 16).unwrap_or(0);
                if RESERVED.contains(&n) {
                    s.push(b'%');
                    s.extend(src[i + 1..i + 3].iter().map(u8::to_ascii_uppercase));
                } else {
                    s.push(n);
                }
                i += 3;
            } else {
                s.push(src[i]);
                i += 1;
            }
        }
    } else {
        s.extend_from_slice(src);
    }
    if !s.contains(&b'.') && !s.windows(2).any(|w| w == b"//") {
        return s;
    }
    let mut out: Vec<&[u8]> = Vec::new();
    let mut rest: &[u8] = &s;
    while !rest.is_empty() {
        if rest == b"/." {
            rest = b"/";
        } else if rest == b"/.." {
            rest = b"/";
            out.pop();
        } else if rest == b"." || rest == b".." {
            rest = b"";
        } else if rest.starts_with(b"../") {
            rest = &rest[3..];
        } else if rest.starts_with(b"./") || rest.starts_with(b"/./") {
            rest = &rest[2..];
        } else if rest.starts_with(b"/../") {
            rest = &rest[3..];
            out.pop();
        } else if rest.starts_with(b"//") {
            rest = &rest[1..];
        } else {
            match rest[1..].iter().position(|&c| c == b'/') {
                Some(p) => {
                    out.push(&rest[..p + 1]);
                    rest = &rest[p + 1..];
                }
                None => {
                    out.push(rest);
                    rest = b"";
                }
            }
        }
    }
    out.concat()
}

/// A `regex` error as one line: the parser's own description, without the
/// pattern echo and caret.
fn regex_error(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or_default();
            format!("regex parse error: {}", last.trim_start_matches("error: "))
        }
        other => other.to_string(),
    }
}

fn check_regex(re: &str) -> Result<(), String> {
    regex::Regex::new(re)
        .map(|_| ())
        .map_err(|e| format!("invalid regex: '{re}' ({})", regex_error(&e)))
}

/// Whether `s` has the byte `a` followed by `b`: for the short strings of a
/// route, a plain walk beats setting up a substring search.
fn has_pair(s: &str, a: u8, b: u8) -> bool {
    s.as_bytes().windows(2).any(|w| w[0] == a && w[1] == b)
}

/// A route's `paths` entry (`typedefs.router_path`).
pub(crate) fn check_router_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if has_pair(path, b'/', b'/') {
        return Err("must not have empty segments".into());
    }
    if !(path.starts_with('/') || path.starts_with("~/")) {
        return Err("should start with: / (fixed path) or ~/ (regex path)".into());
    }
    if let Err(PathError::Percent(e)) = check_path_chars(path) {
        return Err(e);
    }
    match path.strip_prefix('~') {
        // Without escapes, dot segments or empty segments (refused above)
        // there is nothing to normalise.
        None if !path.contains('%') && !has_pair(path, b'/', b'.') => Ok(()),
        None => {
            let normalized = normalize_uri(path);
            if normalized != path.as_bytes() {
                return Err(format!(
                    "non-normalized path, consider use '{}' instead",
                    String::from_utf8_lossy(&normalized)
                ));
            }
            Ok(())
        }
        Some(re) => check_regex(re),
    }
}

/// A service's `path` (`typedefs.path`).
pub(crate) fn check_service_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if !path.starts_with('/') {
        return Err("should start with: /".into());
    }
    if path.contains("//") {
        return Err("must not have empty segments".into());
    }
    check_path_chars(path).map_err(|e| match e {
        PathError::Rfc3986(m) | PathError::Percent(m) => m,
    })
}

// --- Names, tags, methods, headers -----------------------------------------

/// `typedefs.utf8_name`: ASCII letters and digits, `.`, `-`, `_`, `~`, and any
/// non-ASCII character.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if name
        .chars()
        .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        ))
    }
}

/// Whether Kong accepts `c` in a tag: printable ASCII and space except `,` and
/// `/`, and any non-ASCII character.
pub(crate) fn is_tag_char(c: char) -> bool {
    !c.is_ascii() || (matches!(c, ' '..='~') && c != ',' && c != '/')
}

/// `typedefs.tag`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if tag.chars().all(is_tag_char) {
        Ok(())
    } else {
        Err(format!(
            "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        ))
    }
}

/// `typedefs.http_method`: upper-case letters only.
pub(crate) fn check_method(method: &str) -> Result<(), String> {
    if method.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if method.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!("invalid value: {method}"))
    }
}

/// A `headers` key: `typedefs.header_name` without `host`.
pub(crate) fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(LEN_MIN_1.into());
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(
            "cannot contain 'host' header, which must be specified in the 'hosts' attribute".into(),
        );
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

fn check_list(
    v: &mut Violations,
    field: &str,
    items: &[String],
    check: impl Fn(&str) -> Result<(), String>,
) {
    for (i, item) in items.iter().enumerate() {
        if let Err(rule) = check(item) {
            v.field(format!("{field}.{}", i + 1), rule);
        }
    }
}

fn check_tags(v: &mut Violations, tags: &Option<Vec<String>>) {
    if let Some(tags) = tags {
        check_list(v, "tags", tags, check_tag);
    }
}

fn check_id(v: &mut Violations, path: &str, id: &str) {
    if !is_uuid(id) {
        v.field(path, "expected a valid UUID");
    }
}

fn check_timestamps(v: &mut Violations, created_at: i64, updated_at: i64) {
    for (field, value) in [("created_at", created_at), ("updated_at", updated_at)] {
        if value < 0 {
            v.field(field, "expected a valid timestamp");
        }
    }
}

fn nonempty<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

/// The route subschema Kong picks: the one of the first protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Http,
    Stream,
    Grpc,
}

impl Family {
    fn of(p: Protocol) -> Family {
        match p {
            Protocol::Http | Protocol::Https => Family::Http,
            Protocol::Grpc | Protocol::Grpcs => Family::Grpc,
            Protocol::Tcp | Protocol::Tls | Protocol::TlsPassthrough | Protocol::Udp => {
                Family::Stream
            }
        }
    }
}

/// Checks a route against every rule of Kong's route schema that needs no
/// database, and reports all the broken ones at once.
///
/// The fields a protocol family may not set, the rules of each field, the
/// checks across fields (what each protocol needs, where SNIs may appear) run as
/// in Kong, so a route breaking several rules gets the same list Kong gives.
/// `priority` and `path_mode` are routeyard's and take any value. Unique names
/// and the existence of the service are the registry's to check.
///
/// # Errors
///
/// [`ErrorKind::SchemaViolation`] whose [`Error::fields`] hold each broken rule
/// by Kong's path (`hosts.2`, `sources.1.ip`, `""` for the whole route), in the
/// order of Kong's message.
pub(crate) fn validate_route(route: &Route) -> Result<(), Error> {
    let mut v = Violations::new();
    let protocols = &route.protocols;
    let Some(&first) = protocols.first() else {
        // Kong cannot pick a subschema without a protocol and stops here.
        v.field("protocols", LEN_MIN_1);
        return v.into_result();
    };
    let family = Family::of(first);

    if !route.id.is_empty() {
        check_id(&mut v, "id", &route.id);
    }
    check_timestamps(&mut v, route.created_at, route.updated_at);
    if let Some(name) = &route.name {
        if let Err(rule) = check_name(name) {
            v.field("name", rule);
        }
    }

    // `mutually_exclusive_subsets`: every protocol in the first one's group, or
    // the groups met, in the order first met.
    let exclusive = protocols.iter().all(|p| p.subset() == first.subset());
    if !exclusive {
        let mut groups: Vec<&[&str]> = Vec::new();
        for p in protocols {
            let g = p.subset();
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        let list: Vec<String> = groups
            .iter()
            .map(|g| {
                let names: Vec<String> = g.iter().map(|n| format!("'{n}'")).collect();
                format!("({})", names.join(", "))
            })
            .collect();
        v.field(
            "protocols",
            format!("these sets are mutually exclusive: {}", list.join(", ")),
        );
    }

    if ![426, 301, 302, 307, 308].contains(&route.https_redirect_status_code) {
        v.field(
            "https_redirect_status_code",
            "expected one of: 426, 301, 302, 307, 308",
        );
    }
    if family == Family::Grpc && route.strip_path {
        v.field(
            "strip_path",
            "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
        );
    }
    check_tags(&mut v, &route.tags);
    if let Some(service) = &route.service {
        check_id(&mut v, "service.id", &service.id);
    }
    if let Some(snis) = &route.snis {
        check_list(&mut v, "snis", snis, check_sni);
    }

    for (field, peers) in [
        ("sources", &route.sources),
        ("destinations", &route.destinations),
    ] {
        let Some(peers) = peers else { continue };
        match family {
            Family::Http => v.field(
                field,
                format!("cannot set '{field}' when 'protocols' is 'http' or 'https'"),
            ),
            Family::Grpc => v.field(
                field,
                format!("cannot set '{field}' when 'protocols' is 'grpc' or 'grpcs'"),
            ),
            Family::Stream => {
                for (i, peer) in peers.iter().enumerate() {
                    if peer.ip.is_none() && peer.port.is_none() {
                        v.field(
                            format!("{field}.{}.@entity", i + 1),
                            "at least one of these fields must be non-empty: 'ip', 'port'",
                        );
                    }
                }
            }
        }
    }

    let stream_only = "when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'";
    if let Some(methods) = &route.methods {
        match family {
            Family::Http => check_list(&mut v, "methods", methods, check_method),
            Family::Grpc => v.field(
                "methods",
                "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
            ),
            Family::Stream => v.field("methods", format!("cannot set 'methods' {stream_only}")),
        }
    }
    if let Some(hosts) = &route.hosts {
        match family {
            Family::Stream => v.field("hosts", format!("cannot set 'hosts' {stream_only}")),
            _ => check_list(&mut v, "hosts", hosts, check_route_host),
        }
    }
    if let Some(paths) = &route.paths {
        match family {
            Family::Stream => v.field("paths", format!("cannot set 'paths' {stream_only}")),
            _ => check_list(&mut v, "paths", paths, check_router_path),
        }
    }
    if let Some(headers) = &route.headers {
        match family {
            Family::Stream => v.field("headers", format!("cannot set 'headers' {stream_only}")),
            _ => check_headers(&mut v, headers),
        }
    }

    // Entity checks of `routes.lua`, then of the subschema. Kong's protocol
    // conditions inherit the `protocols` field's own rules, so none of them
    // holds while the protocols mix exclusive groups.
    let has = |p: Protocol| protocols.contains(&p);
    let tls_capable = protocols.iter().any(|p| {
        matches!(
            p,
            Protocol::Grpcs | Protocol::Https | Protocol::Tls | Protocol::TlsPassthrough
        )
    });
    if exclusive && !tls_capable && nonempty(&route.snis) {
        if !v.has_field("snis") {
            v.set_field("snis", "length must be 0");
        }
        v.entity(
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
        );
    }
    if exclusive {
        let methods = nonempty(&route.methods);
        let hosts = nonempty(&route.hosts);
        let paths = nonempty(&route.paths);
        let snis = nonempty(&route.snis);
        let headers = route.headers.as_ref().is_some_and(|h| !h.is_empty());
        match family {
            Family::Http => {
                if has(Protocol::Https) {
                    if !(methods || hosts || headers || paths || snis) {
                        v.entity("must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'");
                    }
                } else if !(methods || hosts || headers || paths) {
                    v.entity("must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'");
                }
            }
            Family::Grpc => {
                if has(Protocol::Grpcs) {
                    if !(hosts || headers || paths || snis) {
                        v.entity("must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'");
                    }
                } else if !(hosts || headers || paths) {
                    v.entity(
                        "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'",
                    );
                }
            }
            Family::Stream => {
                let sources = nonempty(&route.sources);
                let destinations = nonempty(&route.destinations);
                if protocols
                    .iter()
                    .all(|p| matches!(p, Protocol::Tcp | Protocol::Tls | Protocol::Udp))
                    && !(sources || destinations || snis)
                {
                    v.entity("must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'");
                }
                if protocols.iter().all(|&p| p == Protocol::TlsPassthrough) && !snis {
                    v.entity("must set snis when 'protocols' is 'tls_passthrough'");
                }
            }
        }
    }
    v.into_result()
}

/// `headers`: like Kong's map validation, reports the first header (in name
/// order) that breaks a rule. A bad name is reported on `headers`; bad values
/// on `headers.N`, N counting that header's values. A header whose one value
/// starts with `~*` holds a regex, which must compile.
fn check_headers(v: &mut Violations, headers: &BTreeMap<String, Vec<String>>) {
    for (name, values) in headers {
        if let Err(rule) = check_header_name(name) {
            v.field("headers", rule);
            return;
        }
        let mut bad = false;
        for (i, value) in values.iter().enumerate() {
            let rule = if value.is_empty() {
                Some(LEN_MIN_1.to_string())
            } else if values.len() == 1 {
                value
                    .strip_prefix("~*")
                    .and_then(|re| check_regex(re).err())
            } else {
                None
            };
            if let Some(rule) = rule {
                v.field(format!("headers.{}", i + 1), rule);
                bad = true;
            }
        }
        if bad {
            return;
        }
    }
}

/// Checks a service against Kong's service schema, reporting every broken rule.
///
/// # Errors
///
/// [`ErrorKind::SchemaViolation`] with Kong's paths and texts. An empty `host`
/// is reported as missing, since the struct cannot tell an empty host from an
/// absent one.
pub(crate) fn validate_service(service: &Service) -> Result<(), Error> {
    let mut v = Violations::new();
    if !service.id.is_empty() {
        check_id(&mut v, "id", &service.id);
    }
    check_timestamps(&mut v, service.created_at, service.updated_at);
    if let Some(name) = &service.name {
        if let Err(rule) = check_name(name) {
            v.field("name", rule);
        }
    }
    if service.retries > 32767 {
        v.field("retries", "value should be between 0 and 32767");
    }
    let protocol = Protocol::from_name(&service.protocol);
    if protocol.is_none() {
        v.field("protocol", format!("expected one of: {PROTOCOL_LIST}"));
    }
    if service.host.is_empty() {
        v.field("host", "required field missing");
    } else if let Err(rule) = check_service_host(&service.host) {
        v.field("host", rule);
    }
    if let Some(path) = &service.path {
        if let Err(rule) = check_service_path(path) {
            v.field("path", rule);
        }
    }
    for (field, value) in [
        ("connect_timeout", service.connect_timeout),
        ("write_timeout", service.write_timeout),
        ("read_timeout", service.read_timeout),
    ] {
        if !(1..=2_147_483_646).contains(&value) {
            v.field(field, "value should be between 1 and 2147483646");
        }
    }
    check_tags(&mut v, &service.tags);
    let pathless = matches!(
        protocol,
        Some(Protocol::Tcp | Protocol::Tls | Protocol::Udp | Protocol::Grpc | Protocol::Grpcs)
    );
    if pathless && service.path.is_some() {
        v.set_field("path", "value must be null");
        v.entity("failed conditional validation given value of field 'protocol'");
    }
    v.into_result()
}

fn dedup(list: &mut Vec<impl PartialEq>) {
    // Lists are short: each item is compared with those kept before it, in place.
    let mut i = 0;
    while i < list.len() {
        if list[..i].contains(&list[i]) {
            list.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Kong's normalisation on write: its `set` fields (`protocols`, `methods`,
/// `snis`, `tags`) lose repeated values, keeping the first of each.
///
/// Nothing else changes. Kong keeps `hosts` and `paths` as given (they are
/// arrays, not sets), does not upper-case methods (a lower-case one is an
/// error), and does not lower-case hosts or drop an SNI's trailing dot on write:
/// the router does those when it compiles routes, so they belong to matching.
/// `sources` and `destinations` are sets of records, which Kong compares by
/// identity, so repeated entries stay too.
pub(crate) fn normalize_route(route: &mut Route) {
    dedup(&mut route.protocols);
    for list in [&mut route.methods, &mut route.snis, &mut route.tags]
        .into_iter()
        .flatten()
    {
        dedup(list);
    }
}

/// As [`normalize_route`] for a service: repeated tags go.
pub(crate) fn normalize_service(service: &mut Service) {
    if let Some(tags) = &mut service.tags {
        dedup(tags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let host: Cidr = "10.2.2.2".parse().unwrap();
        assert!(host.is_host());
        assert_eq!(host.to_string(), "10.2.2.2");
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.168.1.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::/129",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn peer_matching() {
        let both = Peer {
            ip: Some("10.1.0.0/16".parse().unwrap()),
            port: Some(1234),
        };
        let ip = "10.1.2.3".parse().ok();
        assert!(both.matches(ip, Some(1234)));
        assert!(!both.matches(ip, Some(1)));
        assert!(!both.matches(None, Some(1234)));
        let port_only = Peer {
            ip: None,
            port: Some(9123),
        };
        assert!(port_only.matches(None, Some(9123)));
    }

    #[test]
    fn route_json_defaults() {
        let r: Route = serde_json::from_str(r#"{"paths":["/foo"]}"#).unwrap();
        assert_eq!(r.protocols, [Protocol::Http, Protocol::Https]);
        assert!(r.strip_path);
        assert_eq!(r.path_mode, PathMode::Prefix);
        let s: Service = serde_json::from_str(r#"{"host":"example.com"}"#).unwrap();
        assert_eq!((s.port, s.protocol.as_str()), (80, "http"));
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    fn fields(err: Error) -> Vec<(String, String)> {
        assert_eq!(err.kind(), ErrorKind::SchemaViolation);
        err.fields().to_vec()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, r)| (p.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn route_hosts() {
        for ok in [
            "example.com",
            "example.com:80",
            "EXAMPLE.com.",
            "example_api.com",
            "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n",
            "*.example.org:321",
            "example.*",
            "1.2.3.4",
            "1.2.3.4:8000",
            "::1",
            "[::1]:80",
            "[2001:db8::1]",
        ] {
            assert_eq!(check_route_host(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "length must be at least 1"),
            (
                "*.example.*",
                "invalid wildcard: must have at most one wildcard",
            ),
            (
                "**.example.com",
                "invalid wildcard: must have at most one wildcard",
            ),
            (
                "*example.com",
                "invalid wildcard: must be placed at leftmost or rightmost label",
            ),
            (
                "mock*bin.com",
                "invalid wildcard: must be placed at leftmost or rightmost label",
            ),
            (
                "example.*:80",
                "invalid wildcard: must be placed at leftmost or rightmost label",
            ),
            ("/example", "invalid hostname: /example"),
            (".example", "invalid hostname: .example"),
            ("example:", "invalid hostname: example:"),
            ("example-.org", "invalid hostname: example-.org"),
            ("hello..example.com", "invalid hostname: hello..example.com"),
            ("*.exa mple.com", "invalid hostname: abc.exa mple.com"),
            ("example.com:1000000", "invalid port number"),
            ("127.", "invalid ipv4 address: 127."),
            ("1.2.3.256", "invalid ipv4 address: 1.2.3.256"),
            ("[::1]x", "invalid ipv6 address"),
            ("[::1]:99999", "invalid port number"),
            ("1:2:3", "invalid ipv6 address: 1:2:3"),
            ("1:2:3:4:5:6:7", "invalid ipv6 address: 1:2:3:4:5:6:7"),
            (
                "1:2:3:4:5:6:7:8:9",
                "invalid ipv6 address: 1:2:3:4:5:6:7:8:9",
            ),
        ] {
            assert_eq!(check_route_host(bad), Err(why.to_string()), "{bad}");
        }
    }

    #[test]
    fn snis_and_service_hosts() {
        assert_eq!(check_sni("www.example.org"), Ok(()));
        assert_eq!(check_sni("example.org."), Ok(()));
        for (bad, why) in [
            ("", "length must be at least 1"),
            ("127.0.0.1", "must not be an IP"),
            ("::1", "must not be an IP"),
            ("example.org:80", "must not have a port"),
            ("example.org:99999", "must not have a port"),
            ("*.example.org", "invalid value: *.example.org"),
        ] {
            assert_eq!(check_sni(bad), Err(why.to_string()), "{bad}");
        }
        assert_eq!(check_service_host("10.0.0.1"), Ok(()));
        assert_eq!(check_service_host("example.test."), Ok(()));
        for (bad, why) in [
            ("example.com:80", "must not have a port"),
            ("example.com:1000000", "must not have a port"),
            ("*example.com", "invalid value: *example.com"),
            ("mock;bin", "invalid value: mock;bin"),
        ] {
            assert_eq!(check_service_host(bad), Err(why.to_string()), "{bad}");
        }
    }

    #[test]
    fn router_paths() {
        for ok in [
            "/",
            "/ovo/",
            "/abcd~user~2",
            "/ä",
            "/a%2Fb",
            "/hello/path$with$!&'()*+,;=stuff",
            "~/users/(?<id>\\d+)$",
            "~/v1/[a-z]+",
        ] {
            assert_eq!(check_router_path(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "length must be at least 1"),
            (
                "foo",
                "should start with: / (fixed path) or ~/ (regex path)",
            ),
            (
                "~foo",
                "should start with: / (fixed path) or ~/ (regex path)",
            ),
            ("/foo//bar", "must not have empty segments"),
            ("foo//bar", "must not have empty segments"),
            ("/some%2words", "invalid url-encoded value: '%2w'"),
            ("/some%20words%", "invalid url-encoded value: '%'"),
            ("/some%20words%ax", "invalid url-encoded value: '%ax'"),
            ("/%c3%A4", "non-normalized path, consider use '/ä' instead"),
            (
                "/a%2fb",
                "non-normalized path, consider use '/a%2Fb' instead",
            ),
            ("/%41", "non-normalized path, consider use '/A' instead"),
            (
                "/foo/../bar",
                "non-normalized path, consider use '/bar' instead",
            ),
            (
                "/foo/./bar",
                "non-normalized path, consider use '/foo/bar' instead",
            ),
            (
                "/foo/.",
                "non-normalized path, consider use '/foo/' instead",
            ),
            (
                "~/users/(foo/profile",
                "invalid regex: '/users/(foo/profile' (regex parse error: unclosed group)",
            ),
        ] {
            assert_eq!(check_router_path(bad), Err(why.to_string()), "{bad}");
        }
    }

    #[test]
    fn service_paths() {
        assert_eq!(
            check_service_path("/hello/path$with$!&'()*+,;=stuff"),
            Ok(())
        );
        for (bad, why) in [
            ("", "length must be at least 1"),
            ("foo", "should start with: /"),
            ("//foo/bar", "must not have empty segments"),
            (
                "/users/|foo/profile",
                "invalid path: '/users/|foo/profile' (characters outside of the reserved list of RFC 3986 found)",
            ),
            ("/some%0Xwords", "invalid url-encoded value: '%0X'"),
        ] {
            assert_eq!(check_service_path(bad), Err(why.to_string()), "{bad}");
        }
    }

    #[test]
    fn names_tags_methods_headers() {
        for ok in ["example", "~3..x4~.M-p~1__3_", "孔", "Конг", "🦍"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_name("examp le"),
            Err("invalid value 'examp le': the only accepted ascii characters are alphanumerics or ., -, _, and ~".into())
        );
        assert_eq!(check_name(""), Err("length must be at least 1".into()));
        assert_eq!(check_tag("with space ü"), Ok(()));
        for bad in ["a,b", "a/b", "a\u{7f}"] {
            assert_eq!(
                check_tag(bad),
                Err(format!("invalid tag '{bad}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"))
            );
        }
        assert_eq!(check_method("CUSTOM"), Ok(()));
        assert_eq!(check_method("get"), Err("invalid value: get".into()));
        assert_eq!(check_method(" GET"), Err("invalid value:  GET".into()));
        assert_eq!(check_header_name("X-Api_1"), Ok(()));
        assert_eq!(
            check_header_name("HoSt"),
            Err(
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
                    .into()
            )
        );
        assert_eq!(
            check_header_name("x y"),
            Err("bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'".into())
        );
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("cbb297c0-a956-486d-ad1d-f9b42df9465a"));
        assert!(is_uuid("CBB297C0-A956-486D-AD1D-F9B42DF9465A"));
        for bad in [
            "cbb297c0a956486dad1df9b42df9465a",
            "{cbb297c0-a956-486d-ad1d-f9b42df9465a}",
            "cbb297c0-a956-486d-ad1d-f9b42df9465",
            "cbb297c0-a956-486d-ad1d_f9b42df9465a",
            "gbb297c0-a956-486d-ad1d-f9b42df9465a",
            "my-route",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn valid_routes() {
        let http = Route {
            name: Some("my_route".into()),
            protocols: vec![Protocol::Http],
            methods: strings(&["GET", "POST"]),
            hosts: strings(&["example.com"]),
            paths: strings(&["/ovo"]),
            headers: Some(BTreeMap::from([(
                "location".to_string(),
                vec!["~*^l".to_string()],
            )])),
            service: Some(ServiceRef {
                id: "64a8670b-900f-44e7-a900-6ec7ef5aa4d3".into(),
            }),
            ..Route::default()
        };
        assert_eq!(validate_route(&http), Ok(()));
        let tcp = Route {
            protocols: vec![Protocol::Tcp, Protocol::Tls],
            snis: strings(&["a.test"]),
            sources: Some(vec![Peer {
                ip: Some("10.0.0.0/8".parse().unwrap()),
                port: None,
            }]),
            ..Route::default()
        };
        assert_eq!(validate_route(&tcp), Ok(()));
        let grpcs = Route {
            protocols: vec![Protocol::Grpcs],
            snis: strings(&["g.test"]),
            strip_path: false,
            ..Route::default()
        };
        assert_eq!(validate_route(&grpcs), Ok(()));
    }

    #[test]
    fn route_violations_in_kong_order() {
        let route = Route {
            id: "nope".into(),
            name: Some("bad name".into()),
            protocols: vec![Protocol::Http],
            methods: strings(&["get"]),
            hosts: strings(&["ok.test", "bad host"]),
            paths: strings(&["/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "x"]),
            snis: strings(&["a.test"]),
            sources: Some(vec![]),
            https_redirect_status_code: 404,
            tags: strings(&["a,b"]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&route).unwrap_err()),
            pairs(&[
                ("", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"),
                ("hosts.2", "invalid hostname: bad host"),
                ("https_redirect_status_code", "expected one of: 426, 301, 302, 307, 308"),
                ("id", "expected a valid UUID"),
                ("methods.1", "invalid value: get"),
                ("name", "invalid value 'bad name': the only accepted ascii characters are alphanumerics or ., -, _, and ~"),
                ("paths.10", "should start with: / (fixed path) or ~/ (regex path)"),
                ("snis", "length must be 0"),
                ("sources", "cannot set 'sources' when 'protocols' is 'http' or 'https'"),
                ("tags.1", "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"),
            ])
        );
    }

    #[test]
    fn route_protocol_rules() {
        let empty = Route {
            protocols: vec![],
            paths: strings(&["x"]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&empty).unwrap_err()),
            pairs(&[("protocols", "length must be at least 1")])
        );
        // Mixed groups: the protocol conditions hold for none, so no entity rule.
        let mixed = Route {
            protocols: vec![Protocol::Http, Protocol::Tcp, Protocol::TlsPassthrough],
            snis: strings(&["a.test"]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&mixed).unwrap_err()),
            pairs(&[(
                "protocols",
                "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough')"
            )])
        );
        let stream = Route {
            protocols: vec![Protocol::Udp],
            methods: Some(vec![]),
            hosts: strings(&["a"]),
            paths: strings(&["/"]),
            headers: Some(BTreeMap::new()),
            destinations: Some(vec![Peer::default()]),
            ..Route::default()
        };
        let only = "when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'";
        assert_eq!(
            fields(validate_route(&stream).unwrap_err()),
            vec![
                (
                    "destinations.1.@entity".to_string(),
                    "at least one of these fields must be non-empty: 'ip', 'port'".to_string()
                ),
                (
                    "headers".to_string(),
                    format!("cannot set 'headers' {only}")
                ),
                ("hosts".to_string(), format!("cannot set 'hosts' {only}")),
                (
                    "methods".to_string(),
                    format!("cannot set 'methods' {only}")
                ),
                ("paths".to_string(), format!("cannot set 'paths' {only}")),
            ]
        );
        let passthrough = Route {
            protocols: vec![Protocol::TlsPassthrough],
            sources: Some(vec![Peer {
                ip: None,
                port: Some(1),
            }]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&passthrough).unwrap_err()),
            pairs(&[("", "must set snis when 'protocols' is 'tls_passthrough'")])
        );
        let grpc = Route {
            protocols: vec![Protocol::Grpc],
            methods: strings(&["GET"]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&grpc).unwrap_err()),
            pairs(&[
                (
                    "",
                    "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"
                ),
                (
                    "methods",
                    "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"
                ),
                (
                    "strip_path",
                    "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
                ),
            ])
        );
    }

    #[test]
    fn route_snis_element_errors_stand() {
        let route = Route {
            protocols: vec![Protocol::Http],
            paths: strings(&["/"]),
            snis: strings(&["1.2.3.4"]),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&route).unwrap_err()),
            pairs(&[
                ("", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"),
                ("snis.1", "must not be an IP"),
            ])
        );
    }

    #[test]
    fn route_headers_first_bad_one() {
        let mut headers = BTreeMap::new();
        headers.insert(
            "a".to_string(),
            vec!["x".to_string(), String::new(), String::new()],
        );
        headers.insert("b".to_string(), vec![String::new()]);
        let route = Route {
            headers: Some(headers),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&route).unwrap_err()),
            pairs(&[
                ("headers.2", "length must be at least 1"),
                ("headers.3", "length must be at least 1"),
            ])
        );
        // A bad name stops the check too: the next header is not looked at.
        let mut headers = BTreeMap::new();
        headers.insert("a b".to_string(), vec!["x".to_string()]);
        headers.insert("c".to_string(), vec![String::new()]);
        let route = Route {
            headers: Some(headers),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&route).unwrap_err()),
            pairs(&[(
                "headers",
                "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
            )])
        );
        let regex = Route {
            headers: Some(BTreeMap::from([("x".to_string(), vec!["~*(".to_string()])])),
            ..Route::default()
        };
        assert_eq!(
            fields(validate_route(&regex).unwrap_err()),
            pairs(&[(
                "headers.1",
                "invalid regex: '(' (regex parse error: unclosed group)"
            )])
        );
        // Two values: neither is a regex.
        let plain = Route {
            headers: Some(BTreeMap::from([(
                "x".to_string(),
                vec!["~*(".to_string(), "y".to_string()],
            )])),
            ..Route::default()
        };
        assert_eq!(validate_route(&plain), Ok(()));
    }

    #[test]
    fn services() {
        let ok = Service {
            name: Some("svc".into()),
            host: "example.com".into(),
            path: Some("/api".into()),
            ..Service::default()
        };
        assert_eq!(validate_service(&ok), Ok(()));
        let bad = Service {
            protocol: "tcp".into(),
            host: String::new(),
            path: Some("api".into()),
            retries: 32768,
            connect_timeout: 0,
            read_timeout: 2_147_483_647,
            tags: strings(&[""]),
            ..Service::default()
        };
        assert_eq!(
            fields(validate_service(&bad).unwrap_err()),
            pairs(&[
                (
                    "",
                    "failed conditional validation given value of field 'protocol'"
                ),
                (
                    "connect_timeout",
                    "value should be between 1 and 2147483646"
                ),
                ("host", "required field missing"),
                ("path", "value must be null"),
                ("read_timeout", "value should be between 1 and 2147483646"),
                ("retries", "value should be between 0 and 32767"),
                ("tags.1", "length must be at least 1"),
            ])
        );
        let protocol = Service {
            protocol: "ftp".into(),
            host: "h".into(),
            ..Service::default()
        };
        assert_eq!(
            validate_service(&protocol).unwrap_err().message(),
            "schema violation (protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
        );
    }

    #[test]
    fn normalization_dedups_sets_only() {
        let mut route = Route {
            protocols: vec![Protocol::Https, Protocol::Http, Protocol::Https],
            methods: strings(&["GET", "GET", "POST"]),
            hosts: strings(&["a.test", "a.test"]),
            paths: strings(&["/a", "/a"]),
            snis: strings(&["s.test.", "s.test.", "S.test"]),
            tags: strings(&["t", "t"]),
            ..Route::default()
        };
        normalize_route(&mut route);
        assert_eq!(route.protocols, [Protocol::Https, Protocol::Http]);
        assert_eq!(route.methods, strings(&["GET", "POST"]));
        assert_eq!(route.hosts, strings(&["a.test", "a.test"]));
        assert_eq!(route.paths, strings(&["/a", "/a"]));
        assert_eq!(route.snis, strings(&["s.test.", "S.test"]));
        assert_eq!(route.tags, strings(&["t"]));
        let mut service = Service {
            tags: strings(&["x", "y", "x"]),
            ..Service::default()
        };
        normalize_service(&mut service);
        assert_eq!(service.tags, strings(&["x", "y"]));
    }

    #[test]
    fn paths_sort_numerically() {
        let mut v = Violations::new();
        v.field("paths.10", "b");
        v.field("paths.9", "a");
        v.field("hosts", "c");
        v.entity("e");
        let got: Vec<String> = v.into_fields().into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, ["", "hosts", "paths.9", "paths.10"]);
    }

    /// Strings of every length up to 24 over `alphabet`, from a fixed seed.
    fn random_strings(alphabet: &[u8]) -> impl Iterator<Item = String> + '_ {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        (0..25).flat_map(move |len| {
            (0..600)
                .map(|_| {
                    (0..len)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            char::from(alphabet[(seed % alphabet.len() as u64) as usize])
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn the_one_pass_hostname_check_agrees_with_kongs_steps() {
        for host in random_strings(b"ab9-._.:A*") {
            let Some(valid) = plain_hostname(&host) else {
                continue;
            };
            assert_eq!(hostname_type(&host), HostType::Name, "{host}");
            assert_eq!(check_hostname(&host).is_ok(), valid, "{host}");
        }
    }

    #[test]
    fn paths_without_escapes_or_dot_segments_are_normal() {
        for raw in random_strings(b"/a.%2f~") {
            let path = format!("/{raw}");
            if path.contains('%') || path.contains("/.") || path.contains("//") {
                continue;
            }
            assert_eq!(normalize_uri(&path), path.as_bytes(), "{path}");
        }
    }
}
