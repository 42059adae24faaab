//! Kong's Route and Service objects, the general routing model: what a route
//! matches (protocols, hosts, paths, methods, headers, SNIs, sources,
//! destinations), how it ranks, and the service it leads to.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
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
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "10.0.0.0/", "10.0.0.0/+8", "::/129"] {
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
}
