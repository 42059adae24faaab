//! Kong's Admin API: decoding Route and Service bodies (create and PATCH),
//! encoding objects and pages as Kong writes them, tag filters, and Kong's
//! error bodies.
//!
//! Decoding checks a body the way Kong's Admin API does before it writes: the
//! JSON types of the fields first, then every rule of Kong's schema (see the
//! crate's Kong model), and reports all broken rules of the failing stage in one
//! [`ErrorKind::SchemaViolation`]. Kong's set fields (`protocols`, `methods`,
//! `snis`, `tags`) lose repeated values, as Kong stores them.
//!
//! # Example
//!
//! ```
//! use routeyard::dialect::kong;
//! use routeyard::ErrorKind;
//!
//! let route = kong::decode_route(br#"{"name":"api","paths":["/api"],"hosts":["a.test"]}"#)?;
//! assert_eq!(route.paths.as_deref(), Some(&["/api".to_string()][..]));
//!
//! let err = kong::decode_route(br#"{"paths":["api"]}"#).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::SchemaViolation);
//! assert_eq!(
//!     err.message(),
//!     "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))"
//! );
//! let wire = kong::KongError::from(&err);
//! assert_eq!(wire.status, 400);
//! assert_eq!(
//!     wire.body(),
//!     r#"{"code":2,"name":"schema violation","message":"schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))","fields":{"paths":["should start with: / (fixed path) or ~/ (regex path)"]}}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Fields Kong has and routeyard does not store
//!
//! A route's `request_buffering` and `response_buffering`, and a service's
//! `enabled`, are accepted only with Kong's default `true`; a service's
//! `client_certificate`, `tls_verify`, `tls_verify_depth` and `ca_certificates`
//! only as `null`. Other values are refused with Kong's texts for such a rule
//! (`value must be true`, `value must be null`) rather than silently dropped.
//! Encoding writes them with those values, so a body read back from routeyard
//! can be sent again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::model::kong::{
    is_tag_char, normalize_route, normalize_service, validate_route, validate_service, Cidr,
    PathHandling, PathMode, Peer, Protocol, Route, Service, ServiceRef, Violations, PROTOCOL_LIST,
};

pub use crate::model::kong::is_uuid;

const CANNOT_PARSE: &str = "Cannot parse JSON body";
const REQUIRED: &str = "required field missing";

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(Error::new(ErrorKind::ProcessRequest, CANNOT_PARSE)),
    }
}

/// A schema violation with a single rule, for the checks after which Kong
/// looks no further.
fn only(path: &str, rule: impl Into<String>) -> Error {
    Error::with_fields(
        ErrorKind::SchemaViolation,
        vec![(path.to_string(), rule.into())],
    )
}

/// Whether the body is being created (defaults for what it lacks) or patched
/// onto an existing object (what it lacks is kept).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Patch,
}

/// Reads the JSON fields of one object into typed values, collecting Kong's
/// type errors.
struct Reader {
    v: Violations,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            v: Violations::new(),
        }
    }

    fn string(&mut self, path: &str, val: &Value) -> Option<String> {
        match val {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.v.field(path, "expected a string");
                None
            }
        }
    }

    /// A nullable string: `Some(None)` for `null`.
    fn opt_string(&mut self, path: &str, val: &Value) -> Option<Option<String>> {
        match val {
            Value::Null => Some(None),
            _ => self.string(path, val).map(Some),
        }
    }

    fn boolean(&mut self, path: &str, val: &Value) -> Option<bool> {
        match val {
            Value::Bool(b) => Some(*b),
            Value::Null => {
                self.v.field(path, REQUIRED);
                None
            }
            _ => {
                self.v.field(path, "expected a boolean");
                None
            }
        }
    }

    /// An integer as Kong's `integer` type takes it: any JSON number with no
    /// fraction.
    fn integer(&mut self, path: &str, val: &Value) -> Option<i128> {
        let n = match val {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Some(i128::from(u))
                } else {
                    n.as_f64()
                        .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38)
                        // The filter keeps the value integral and in range.
                        .map(|f| f as i128)
                }
            }
            _ => None,
        };
        if n.is_none() {
            self.v.field(path, "expected an integer");
        }
        n
    }

    /// An integer in `lo..=hi`, or Kong's `between` text.
    fn between(&mut self, path: &str, val: &Value, lo: i128, hi: i128) -> Option<i128> {
        let n = self.integer(path, val)?;
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.v
                .field(path, format!("value should be between {lo} and {hi}"));
            None
        }
    }

    /// A nullable integer that must fit `T`; `Some(None)` for `null`. `range`
    /// is the text for a value that does not fit.
    fn opt_int<T: TryFrom<i128>>(
        &mut self,
        path: &str,
        val: &Value,
        range: &str,
    ) -> Option<Option<T>> {
        if val.is_null() {
            return Some(None);
        }
        let n = self.integer(path, val)?;
        match T::try_from(n) {
            Ok(t) => Some(Some(t)),
            Err(_) => {
                self.v.field(path, range);
                None
            }
        }
    }

    /// A nullable list of strings (`set` says whether Kong calls it a set or an
    /// array); `Some(None)` for `null`.
    fn string_list(&mut self, path: &str, val: &Value, set: bool) -> Option<Option<Vec<String>>> {
        match val {
            Value::Null => Some(None),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        Value::Null => {
                            self.v.field(format!("{path}.{}", i + 1), REQUIRED);
                            ok = false;
                        }
                        _ => {
                            self.v
                                .field(format!("{path}.{}", i + 1), "expected a string");
                            ok = false;
                        }
                    }
                }
                ok.then_some(Some(out))
            }
            _ => {
                self.v.field(
                    path,
                    if set {
                        "expected a set"
                    } else {
                        "expected an array"
                    },
                );
                None
            }
        }
    }

    /// A Kong field routeyard does not store: only `wanted` is accepted.
    fn fixed(&mut self, path: &str, val: &Value, wanted: &Value) {
        if val == wanted {
            return;
        }
        match wanted {
            Value::Bool(b) => {
                if self.boolean(path, val).is_some() {
                    self.v.field(path, format!("value must be {b}"));
                }
            }
            _ => self.v.field(path, "value must be null"),
        }
    }

    fn one_of<T: Copy>(&mut self, path: &str, val: &Value, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(path, val)?;
        match options.iter().find(|(name, _)| *name == s) {
            Some(&(_, t)) => Some(t),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.v
                    .field(path, format!("expected one of: {}", names.join(", ")));
                None
            }
        }
    }

    fn headers(&mut self, val: &Value) -> Option<Option<BTreeMap<String, Vec<String>>>> {
        let obj = match val {
            Value::Null => return Some(None),
            Value::Object(obj) => obj,
            // Kong reads a JSON array as a map keyed by numbers: an empty one is
            // an empty map, any other breaks the rule that names are strings.
            Value::Array(a) if a.is_empty() => return Some(Some(BTreeMap::new())),
            Value::Array(_) => {
                self.v.field("headers", "expected a string");
                return None;
            }
            _ => {
                self.v.field("headers", "expected a map");
                return None;
            }
        };
        let mut out = BTreeMap::new();
        // Like Kong's map check, the first header with a bad value is reported.
        for (name, values) in obj {
            let Value::Array(items) = values else {
                self.v.field("headers", "expected an array");
                return None;
            };
            let mut list = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => list.push(s.clone()),
                    Value::Null => {
                        self.v.field(format!("headers.{}", i + 1), REQUIRED);
                        ok = false;
                    }
                    _ => {
                        self.v
                            .field(format!("headers.{}", i + 1), "expected a string");
                        ok = false;
                    }
                }
            }
            if !ok {
                return None;
            }
            out.insert(name.clone(), list);
        }
        Some(Some(out))
    }

    fn peers(&mut self, path: &str, val: &Value) -> Option<Option<Vec<Peer>>> {
        let items = match val {
            Value::Null => return Some(None),
            Value::Array(items) => items,
            _ => {
                self.v.field(path, "expected a set");
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}.{}", i + 1);
            let Value::Object(obj) = item else {
                self.v.field(
                    at,
                    if item.is_null() {
                        REQUIRED
                    } else {
                        "expected a record"
                    },
                );
                ok = false;
                continue;
            };
            let mut peer = Peer::default();
            for (key, val) in obj {
                let here = format!("{at}.{key}");
                match key.as_str() {
                    "ip" => match self.opt_string(&here, val) {
                        Some(None) => {}
                        Some(Some(s)) => match s.parse::<Cidr>() {
                            Ok(c) => peer.ip = Some(c),
                            Err(e) => {
                                self.v.field(here, e.to_string());
                                ok = false;
                            }
                        },
                        None => ok = false,
                    },
                    "port" => {
                        match self.opt_int::<u16>(&here, val, "value should be between 0 and 65535")
                        {
                            Some(p) => peer.port = p,
                            None => ok = false,
                        }
                    }
                    _ => {
                        self.v.field(here, "unknown field");
                        ok = false;
                    }
                }
            }
            out.push(peer);
        }
        ok.then_some(Some(out))
    }

    fn service_ref(&mut self, val: &Value) -> Option<Option<ServiceRef>> {
        match val {
            Value::Null => Some(None),
            // Kong resolves other keys (a name) against its database; a
            // registry without that lookup needs the id.
            Value::Object(obj) => match obj.get("id") {
                None | Some(Value::Null) => {
                    self.v.field("service.id", "missing primary key");
                    None
                }
                Some(id) => self
                    .string("service.id", id)
                    .map(|id| Some(ServiceRef { id })),
            },
            _ => {
                self.v.field("service", "expected a record");
                None
            }
        }
    }
}

/// Kong's `protocols` handling before anything else: without a protocol it
/// knows, Kong cannot pick the route's subschema and reports only that.
fn read_protocols(r: &mut Reader, val: &Value) -> Result<Option<Vec<Protocol>>, Error> {
    match val {
        Value::Null => Err(only("protocols", REQUIRED)),
        Value::String(s) => {
            if Protocol::from_name(s).is_some() {
                r.v.field("protocols", "expected a set");
                Ok(None)
            } else {
                Err(only("protocols", format!("unknown type: {s}")))
            }
        }
        Value::Array(items) => {
            let known = items
                .iter()
                .any(|i| i.as_str().and_then(Protocol::from_name).is_some());
            if let (false, Some(first)) = (known, items.first()) {
                let shown = match first {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                return Err(only("protocols", format!("unknown type: {shown}")));
            }
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let at = format!("protocols.{}", i + 1);
                match item {
                    Value::String(s) => match Protocol::from_name(s) {
                        Some(p) => out.push(p),
                        None => {
                            r.v.field(at, format!("expected one of: {PROTOCOL_LIST}"));
                            ok = false;
                        }
                    },
                    Value::Null => {
                        r.v.field(at, REQUIRED);
                        ok = false;
                    }
                    _ => {
                        r.v.field(at, "expected a string");
                        ok = false;
                    }
                }
            }
            Ok(ok.then_some(out))
        }
        _ => {
            r.v.field("protocols", "expected a set");
            Ok(None)
        }
    }
}

const PATH_HANDLING: &[(&str, PathHandling)] =
    &[("v0", PathHandling::V0), ("v1", PathHandling::V1)];
const PATH_MODES: &[(&str, PathMode)] = &[
    ("prefix", PathMode::Prefix),
    ("segment", PathMode::Segment),
    ("exact", PathMode::Exact),
];
const REDIRECT_CODES: &str = "expected one of: 426, 301, 302, 307, 308";

fn apply_route(route: &mut Route, obj: &Map<String, Value>, mode: Mode) -> Result<(), Error> {
    let mut r = Reader::new();
    if let Some(val) = obj.get("protocols") {
        if let Some(p) = read_protocols(&mut r, val)? {
            route.protocols = p;
        }
    }
    for (key, val) in obj {
        let k = key.as_str();
        match k {
            "protocols" => {}
            "id" => {
                if let Some(id) = r.opt_string(k, val) {
                    route.id = id.unwrap_or_default();
                }
            }
            "created_at" | "updated_at" => {
                if let Some(t) = r.opt_int::<i64>(k, val, "expected a valid timestamp") {
                    let t = t.unwrap_or_default();
                    if k == "created_at" {
                        route.created_at = t;
                    } else {
                        route.updated_at = t;
                    }
                }
            }
            "name" => {
                if let Some(name) = r.opt_string(k, val) {
                    route.name = name;
                }
            }
            "methods" | "snis" | "tags" | "hosts" | "paths" => {
                let set = !matches!(k, "hosts" | "paths");
                if let Some(list) = r.string_list(k, val, set) {
                    match k {
                        "methods" => route.methods = list,
                        "snis" => route.snis = list,
                        "tags" => route.tags = list,
                        "hosts" => route.hosts = list,
                        _ => route.paths = list,
                    }
                }
            }
            "headers" => {
                if let Some(h) = r.headers(val) {
                    route.headers = h;
                }
            }
            "sources" | "destinations" => {
                if let Some(p) = r.peers(k, val) {
                    if k == "sources" {
                        route.sources = p;
                    } else {
                        route.destinations = p;
                    }
                }
            }
            "regex_priority" | "priority" => {
                if let Some(n) = r.opt_int::<i64>(k, val, "expected an integer") {
                    let n = n.unwrap_or_default();
                    if k == "priority" {
                        route.priority = n;
                    } else {
                        route.regex_priority = n;
                    }
                }
            }
            "strip_path" => {
                if let Some(b) = r.boolean(k, val) {
                    route.strip_path = b;
                }
            }
            "preserve_host" => {
                if let Some(b) = r.boolean(k, val) {
                    route.preserve_host = b;
                }
            }
            "path_handling" => {
                if val.is_null() {
                    route.path_handling = PathHandling::default();
                } else if let Some(p) = r.one_of(k, val, PATH_HANDLING) {
                    route.path_handling = p;
                }
            }
            "path_mode" => {
                if val.is_null() {
                    route.path_mode = PathMode::default();
                } else if let Some(p) = r.one_of(k, val, PATH_MODES) {
                    route.path_mode = p;
                }
            }
            "https_redirect_status_code" => {
                if val.is_null() {
                    r.v.field(k, REQUIRED);
                } else if let Some(Some(code)) = r.opt_int::<u16>(k, val, REDIRECT_CODES) {
                    route.https_redirect_status_code = code;
                }
            }
            "service" => {
                if let Some(s) = r.service_ref(val) {
                    route.service = s;
                }
            }
            "request_buffering" | "response_buffering" => r.fixed(k, val, &Value::Bool(true)),
            _ => r.v.field(k, "unknown field"),
        }
    }
    // Kong's gRPC subschema defaults `strip_path` to false.
    if mode == Mode::Create
        && !obj.contains_key("strip_path")
        && matches!(
            route.protocols.first(),
            Some(Protocol::Grpc | Protocol::Grpcs)
        )
    {
        route.strip_path = false;
    }
    r.v.into_result()
}

fn finish_route(mut route: Route) -> Result<Route, Error> {
    normalize_route(&mut route);
    validate_route(&route)?;
    Ok(route)
}

/// Decodes and checks the body of Kong's `POST /routes` (or `PUT`): a JSON
/// object whose absent fields take Kong's defaults.
///
/// # Errors
///
/// [`ErrorKind::ProcessRequest`] with Kong's `Cannot parse JSON body` unless the
/// body is a JSON object; [`ErrorKind::SchemaViolation`] for fields Kong does
/// not know (`unknown field`), fields of the wrong JSON type (`expected an
/// integer`, `expected a string`, `expected a set`, ...), and then for every
/// broken rule of Kong's route schema.
pub fn decode_route(body: &[u8]) -> Result<Route, Error> {
    let obj = parse_object(body)?;
    let mut route = Route::default();
    apply_route(&mut route, &obj, Mode::Create)?;
    finish_route(route)
}

/// Applies the body of Kong's `PATCH /routes/{name or id}` to `existing`: each
/// field in the body replaces the stored one, `null` resets a field to its
/// default (or unsets it), and fields the body lacks are kept. The merged
/// route is checked as a whole, as Kong does.
///
/// `id`, `created_at` and `updated_at` stay `existing`'s: the path names the
/// route, and the registry keeps the times.
///
/// # Errors
///
/// As [`decode_route`]; a `null` for a field Kong requires (`protocols`,
/// `strip_path`, `preserve_host`, `https_redirect_status_code`) is `required
/// field missing`, as in Kong.
pub fn patch_route(existing: &Route, body: &[u8]) -> Result<Route, Error> {
    let obj = parse_object(body)?;
    let mut route = existing.clone();
    apply_route(&mut route, &obj, Mode::Patch)?;
    route.id.clone_from(&existing.id);
    route.created_at = existing.created_at;
    route.updated_at = existing.updated_at;
    finish_route(route)
}

// --- Services ---------------------------------------------------------------

/// The parts of a URL as LuaSocket's `url.parse` (which Kong uses) splits it.
#[derive(Debug, Default, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
    path: Option<&'a str>,
}

fn parse_url(url: &str) -> UrlParts<'_> {
    let mut parts = UrlParts::default();
    let mut rest = url;
    // `^([%w][%w%+%-%.]*)%:`
    let b = rest.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphanumeric) {
        let end = b
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
            .unwrap_or(b.len());
        if b.get(end) == Some(&b':') {
            parts.scheme = Some(&rest[..end]);
            rest = &rest[end + 1..];
        }
    }
    // `^//([^/%?#]*)`
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        authority = Some(&after[..end]);
        rest = &after[end..];
    }
    // Fragment, query and params go, in that order; the path is what is left.
    for sep in ['#', '?', ';'] {
        if let Some(at) = rest.find(sep) {
            rest = &rest[..at];
        }
    }
    if !rest.is_empty() {
        parts.path = Some(rest);
    }
    if let Some(mut auth) = authority {
        if let Some(at) = auth.find('@') {
            auth = &auth[at + 1..];
        }
        // `:([^:%]]*)$`
        if let Some(colon) = auth.rfind(':') {
            if !auth[colon + 1..].contains(']') {
                parts.port = Some(&auth[colon + 1..]);
                auth = &auth[..colon];
            }
        }
        if !auth.is_empty() {
            let bracketed = auth.len() > 2 && auth.starts_with('[') && auth.ends_with(']');
            parts.host = Some(if bracketed {
                &auth[1..auth.len() - 1]
            } else {
                auth
            });
        }
    }
    parts
}

/// A port as Lua's `tonumber` gives it, as JSON.
fn lua_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<u64>() {
            Ok(n) => Some(Value::from(n)),
            Err(_) => t.parse::<f64>().ok().map(Value::from),
        };
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
}

/// Kong's `url` shorthand: sets `protocol`, `host`, `port` and `path` from the
/// URL, over any of them the body also gives.
fn expand_url(obj: &mut Map<String, Value>) -> Result<(), Error> {
    let Some(url) = obj.remove("url") else {
        return Ok(());
    };
    let url = match url {
        Value::Null => return Ok(()),
        Value::String(s) if s.is_empty() => return Err(only("url", "length must be at least 1")),
        Value::String(s) => s,
        _ => return Err(only("url", "expected a string")),
    };
    let parts = parse_url(&url);
    let number = parts.port.and_then(lua_number);
    let by_port = match number.as_ref().and_then(Value::as_u64) {
        Some(80) => Some("http"),
        Some(443) => Some("https"),
        _ => None,
    };
    let protocol = parts.scheme.or(by_port).unwrap_or("http");
    let port = number
        .or_else(|| parts.port.map(Value::from))
        .unwrap_or_else(|| Value::from(if protocol == "https" { 443 } else { 80 }));
    obj.insert("protocol".into(), Value::from(protocol));
    obj.insert("host".into(), parts.host.map_or(Value::Null, Value::from));
    obj.insert("port".into(), port);
    obj.insert("path".into(), parts.path.map_or(Value::Null, Value::from));
    Ok(())
}

fn apply_service(service: &mut Service, mut obj: Map<String, Value>) -> Result<(), Error> {
    expand_url(&mut obj)?;
    let mut r = Reader::new();
    for (key, val) in &obj {
        let k = key.as_str();
        match k {
            "id" => {
                if let Some(id) = r.opt_string(k, val) {
                    service.id = id.unwrap_or_default();
                }
            }
            "created_at" | "updated_at" => {
                if let Some(t) = r.opt_int::<i64>(k, val, "expected a valid timestamp") {
                    let t = t.unwrap_or_default();
                    if k == "created_at" {
                        service.created_at = t;
                    } else {
                        service.updated_at = t;
                    }
                }
            }
            "name" => {
                if let Some(name) = r.opt_string(k, val) {
                    service.name = name;
                }
            }
            "protocol" => {
                if val.is_null() {
                    r.v.field(k, REQUIRED);
                } else if let Some(p) = r.string(k, val) {
                    service.protocol = p;
                }
            }
            "host" => match val {
                Value::Null => r.v.field(k, REQUIRED),
                Value::String(s) if s.is_empty() => r.v.field(k, "length must be at least 1"),
                _ => {
                    if let Some(h) = r.string(k, val) {
                        service.host = h;
                    }
                }
            },
            "port" => {
                if val.is_null() {
                    r.v.field(k, REQUIRED);
                } else if let Some(p) = r.between(k, val, 0, 65535) {
                    // `between` kept it in range.
                    service.port = u16::try_from(p).unwrap_or_default();
                }
            }
            "path" => {
                if let Some(p) = r.opt_string(k, val) {
                    service.path = p;
                }
            }
            "retries" => {
                let range = "value should be between 0 and 32767";
                if let Some(n) = r.opt_int::<u32>(k, val, range) {
                    service.retries = n.unwrap_or(5);
                }
            }
            "connect_timeout" | "write_timeout" | "read_timeout" => {
                let range = "value should be between 1 and 2147483646";
                if let Some(n) = r.opt_int::<u32>(k, val, range) {
                    let n = n.unwrap_or(60_000);
                    match k {
                        "connect_timeout" => service.connect_timeout = n,
                        "write_timeout" => service.write_timeout = n,
                        _ => service.read_timeout = n,
                    }
                }
            }
            "tags" => {
                if let Some(tags) = r.string_list(k, val, true) {
                    service.tags = tags;
                }
            }
            "enabled" => r.fixed(k, val, &Value::Bool(true)),
            "client_certificate" | "tls_verify" | "tls_verify_depth" | "ca_certificates" => {
                r.fixed(k, val, &Value::Null)
            }
            _ => r.v.field(k, "unknown field"),
        }
    }
    r.v.into_result()
}

fn finish_service(mut service: Service) -> Result<Service, Error> {
    normalize_service(&mut service);
    validate_service(&service)?;
    Ok(service)
}

/// Decodes and checks the body of Kong's `POST /services` (or `PUT`), including
/// Kong's `url` shorthand: `"url": "https://example.test:8443/api"` sets
/// `protocol`, `host`, `port` and `path` (over any of them also given). A URL
/// without a port takes 443 for `https` and 80 otherwise; one without a scheme
/// takes `http` (`https` for port 443).
///
/// # Errors
///
/// As [`decode_route`], with Kong's service rules.
pub fn decode_service(body: &[u8]) -> Result<Service, Error> {
    let obj = parse_object(body)?;
    let mut service = Service::default();
    apply_service(&mut service, obj)?;
    finish_service(service)
}

/// Applies the body of Kong's `PATCH /services/{name or id}` to `existing`, as
/// [`patch_route`] does for routes. A `url` sets all four of `protocol`,
/// `host`, `port` and `path`, unsetting the path when the URL has none.
///
/// # Errors
///
/// As [`decode_service`]; a `null` `protocol`, `host` or `port` is `required
/// field missing`.
pub fn patch_service(existing: &Service, body: &[u8]) -> Result<Service, Error> {
    let obj = parse_object(body)?;
    let mut service = existing.clone();
    apply_service(&mut service, obj)?;
    service.id.clone_from(&existing.id);
    service.created_at = existing.created_at;
    service.updated_at = existing.updated_at;
    finish_service(service)
}

// --- Encoding ---------------------------------------------------------------

fn peers_value(peers: &Option<Vec<Peer>>) -> Value {
    match peers {
        None => Value::Null,
        Some(list) => list
            .iter()
            .map(|p| {
                serde_json::json!({
                    "ip": p.ip.map(|c| c.to_string()),
                    "port": p.port,
                })
            })
            .collect(),
    }
}

fn route_value(r: &Route) -> Value {
    serde_json::json!({
        "id": r.id,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "name": r.name,
        "protocols": r.protocols.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "methods": r.methods,
        "hosts": r.hosts,
        "paths": r.paths,
        "headers": r.headers,
        "https_redirect_status_code": r.https_redirect_status_code,
        "regex_priority": r.regex_priority,
        "strip_path": r.strip_path,
        "path_handling": PATH_HANDLING.iter().find(|(_, p)| *p == r.path_handling).map(|(n, _)| *n),
        "preserve_host": r.preserve_host,
        "request_buffering": true,
        "response_buffering": true,
        "snis": r.snis,
        "sources": peers_value(&r.sources),
        "destinations": peers_value(&r.destinations),
        "tags": r.tags,
        "service": r.service.as_ref().map(|s| serde_json::json!({ "id": s.id })),
        "priority": r.priority,
        "path_mode": PATH_MODES.iter().find(|(_, m)| *m == r.path_mode).map(|(n, _)| *n),
    })
}

fn service_value(s: &Service) -> Value {
    serde_json::json!({
        "id": s.id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "name": s.name,
        "retries": s.retries,
        "protocol": s.protocol,
        "host": s.host,
        "port": s.port,
        "path": s.path,
        "connect_timeout": s.connect_timeout,
        "write_timeout": s.write_timeout,
        "read_timeout": s.read_timeout,
        "tags": s.tags,
        "client_certificate": null,
        "tls_verify": null,
        "tls_verify_depth": null,
        "ca_certificates": null,
        "enabled": true,
    })
}

/// A route or service that serializes as Kong's Admin API writes it: every
/// field present, unset ones as `null`, each `sources`/`destinations` entry
/// with both `ip` and `port`. Use it to put objects into [`encode_page`].
#[derive(Clone, Copy, Debug)]
pub struct Wire<'a, T>(pub &'a T);

impl Serialize for Wire<'_, Route> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        route_value(self.0).serialize(s)
    }
}

impl Serialize for Wire<'_, Service> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        service_value(self.0).serialize(s)
    }
}

/// A route as Kong's Admin API returns it (see [`Wire`]), with routeyard's
/// `priority` and `path_mode` besides.
pub fn encode_route(route: &Route) -> String {
    route_value(route).to_string()
}

/// A service as Kong's Admin API returns it (see [`Wire`]).
pub fn encode_service(service: &Service) -> String {
    service_value(service).to_string()
}

/// Kong's `ngx.escape_uri`: everything but letters, digits and `-._~` as
/// `%XX`.
fn escape_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One page of a Kong collection: `{"data": [...], "offset": ..., "next":
/// ...}`.
///
/// `next` is the offset of the following page, if any: Kong then writes it as
/// `offset` and as a `next` link, `{base_path}?offset={escaped offset}` (query
/// parameters already in `base_path`, such as `tags` or `size`, follow the
/// offset, as Kong orders them). On the last page `next` is `null` and `offset`
/// absent. Pass routes and services through [`Wire`] to get Kong's shape.
///
/// ```
/// use routeyard::dialect::kong::encode_page;
///
/// let page = encode_page(&["a", "b"], Some("b/c=="), "/routes?tags=x");
/// assert_eq!(
///     page,
///     r#"{"data":["a","b"],"next":"/routes?offset=b%2Fc%3D%3D&tags=x","offset":"b/c=="}"#
/// );
/// assert_eq!(encode_page::<u8>(&[], None, "/routes"), r#"{"data":[],"next":null}"#);
/// ```
pub fn encode_page<T: Serialize>(data: &[T], next: Option<&str>, base_path: &str) -> String {
    let data = serde_json::to_value(data).unwrap_or_else(|_| Value::Array(Vec::new()));
    let mut page = Map::new();
    page.insert("data".into(), data);
    match next {
        Some(offset) => {
            let (path, query) = match base_path.split_once('?') {
                Some((p, q)) => (p, format!("&{q}")),
                None => (base_path, String::new()),
            };
            let link = format!("{path}?offset={}{query}", escape_uri(offset));
            page.insert("next".into(), Value::from(link));
            page.insert("offset".into(), Value::from(offset));
        }
        None => {
            page.insert("next".into(), Value::Null);
        }
    }
    Value::Object(page).to_string()
}

// --- Tag filters ------------------------------------------------------------

/// The `tags` filter of Kong's list endpoints: `a,b` keeps objects tagged with
/// all of `a` and `b`, `a/b` objects tagged with any of them. A single tag is
/// "all of" one. At most five tags; `,` and `/` cannot be mixed.
///
/// ```
/// use routeyard::dialect::kong::TagFilter;
///
/// let all = TagFilter::parse("prod,api")?;
/// assert!(all.matches(&Some(vec!["api".into(), "prod".into(), "v2".into()])));
/// assert!(!all.matches(&Some(vec!["api".into()])));
/// let any = TagFilter::parse("prod/staging")?;
/// assert!(any.matches(&Some(vec!["staging".into()])));
/// assert!(!any.matches(&None));
/// assert_eq!(
///     TagFilter::parse("a,b/c").unwrap_err().message(),
///     "invalid option (tags: invalid filter syntax)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    tags: Vec<String>,
    any: bool,
}

impl TagFilter {
    /// Parses the value of the `tags` query parameter.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] with Kong's `invalid options` texts: an
    /// empty value (`invalid option (tags: cannot be null)`), a value mixing `,`
    /// and `/`, with an empty tag in the middle, or with a character Kong
    /// refuses in tags (`invalid option (tags: invalid filter syntax)`), and more
    /// than five tags (`invalid option (tags: cannot query more than 5 tags)`).
    pub fn parse(s: &str) -> Result<TagFilter, Error> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid option (tags: {why})"),
            )
        };
        if s.is_empty() {
            return Err(invalid("cannot be null"));
        }
        // Kong's `^([tag chars]+(?:SEP|$))+$`: non-empty tags, each followed by
        // the separator or the end, so one trailing separator is allowed.
        let fits = |sep: char| {
            s.chars().all(|c| c == sep || is_tag_char(c)) && {
                let pieces: Vec<&str> = s.split(sep).collect();
                let last = pieces.len() - 1;
                !pieces[0].is_empty()
                    && pieces
                        .iter()
                        .enumerate()
                        .all(|(i, p)| !p.is_empty() || i == last)
            }
        };
        let (sep, any) = if fits(',') {
            (',', false)
        } else if fits('/') {
            ('/', true)
        } else {
            return Err(invalid("invalid filter syntax"));
        };
        let tags: Vec<String> = s.split(sep).map(str::to_string).collect();
        if tags.len() > 5 {
            return Err(invalid("cannot query more than 5 tags"));
        }
        Ok(TagFilter { tags, any })
    }

    /// The tags, in the order given.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether one tag is enough (`a/b`) rather than all (`a,b`).
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// Whether an object with these tags passes the filter. An object without
    /// tags never does.
    pub fn matches(&self, tags: &Option<Vec<String>>) -> bool {
        let Some(tags) = tags else { return false };
        let has = |t: &String| tags.contains(t);
        if self.any {
            self.tags.iter().any(has)
        } else {
            self.tags.iter().all(has)
        }
    }
}

impl FromStr for TagFilter {
    type Err = Error;

    fn from_str(s: &str) -> Result<TagFilter, Error> {
        TagFilter::parse(s)
    }
}

// --- Errors -----------------------------------------------------------------

/// How Kong's Admin API reports an error: an HTTP status and a JSON body
/// `{"code", "name", "message", "fields"}` (or just `{"message"}`).
///
/// | kind | status | body |
/// |---|---|---|
/// | [`ErrorKind::SchemaViolation`] | 400 | code 2, `schema violation`, fields nested as Kong nests them |
/// | [`ErrorKind::ForeignKeyViolation`] | 400 | code 4, `foreign key violation` |
/// | [`ErrorKind::UniqueViolation`] | 409 | code 5, `unique constraint violation` |
/// | [`ErrorKind::InvalidArgument`] | 400 | code 11, `invalid options` |
/// | [`ErrorKind::NotFound`] | 404 | `{"message":"Not found"}` |
/// | [`ErrorKind::Conflict`], [`ErrorKind::PortRangeExhausted`] | 409 | `{"message"}` |
/// | any other | 400 | `{"message"}` (`Cannot parse JSON body` for a body that is no JSON object) |
///
/// `fields` nests each `(path, rule)` of [`Error::fields`] by its dots: list
/// indexes (1-based, as Kong counts) become array slots padded with `null`
/// (`{"hosts": [null, "..."]}`), rules about the whole object go to
/// `"@entity": [...]`. The message is rebuilt from the fields as Kong writes
/// it: `schema violation (...)` for one rule, `N schema violations (a; b)` for
/// more. A unique violation's fields are `[(field, value)]` (Kong's
/// `{"name": "taken"}`) and its message Kong's `UNIQUE violation detected on
/// '{name="taken"}'`; a foreign key violation's are `[("service.id", id)]` and
/// its message Kong's `the foreign key '{id="..."}' does not reference an
/// existing 'services' entity.`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KongError {
    /// The HTTP status code.
    pub status: u16,
    /// Kong's error code, if the body carries one.
    pub code: Option<u16>,
    /// Kong's error name, if the body carries one.
    pub name: Option<&'static str>,
    /// The message.
    pub message: String,
    /// The offending fields, nested; `null` when the body has none.
    pub fields: Value,
}

impl KongError {
    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for KongError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Some(code) = self.code {
            map.serialize_entry("code", &code)?;
        }
        if let Some(name) = self.name {
            map.serialize_entry("name", name)?;
        }
        map.serialize_entry("message", &self.message)?;
        if !self.fields.is_null() {
            // Kong's invalid-options errors name the object `options`.
            let key = if self.code == Some(11) {
                "options"
            } else {
                "fields"
            };
            map.serialize_entry(key, &self.fields)?;
        }
        map.end()
    }
}

/// Inserts `leaf` at the dotted `path` below `node`.
fn nest_into(node: &mut Value, segments: &[&str], leaf: &str) {
    let Some((&seg, rest)) = segments.split_first() else {
        return;
    };
    let index = seg
        .parse::<usize>()
        .ok()
        .filter(|&i| i >= 1 && seg.bytes().all(|b| b.is_ascii_digit()));
    if node.is_null() {
        *node = if index.is_some() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
    }
    // Kong's encoder (cjson with `encode_sparse_array(true)`) writes an
    // excessively sparse array (highest index above 10 and above twice the
    // number of entries) as an object keyed by index. Doing the same here keeps
    // a path such as `x.99999999` (an unknown field's own name) from growing
    // an array of that many nulls.
    if let (Value::Array(items), Some(i)) = (&*node, index) {
        let entries = items.iter().filter(|v| !v.is_null()).count() + 1;
        if i > items.len() && i > 10 && i > 2 * entries {
            let Value::Array(items) = std::mem::take(node) else {
                return;
            };
            *node = Value::Object(
                items
                    .into_iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| ((k + 1).to_string(), v))
                    .collect(),
            );
        }
    }
    let child = match (node, index) {
        (Value::Array(items), Some(i)) => {
            if items.len() < i {
                items.resize(i, Value::Null);
            }
            &mut items[i - 1]
        }
        (Value::Object(obj), _) => obj.entry(seg).or_insert(Value::Null),
        // A rule about a field and another about its parts: the first stands.
        _ => return,
    };
    if rest.is_empty() {
        if seg == "@entity" {
            if !child.is_array() {
                *child = Value::Array(Vec::new());
            }
            if let Value::Array(items) = child {
                items.push(Value::from(leaf));
            }
        } else if child.is_null() {
            *child = Value::from(leaf);
        }
    } else {
        nest_into(child, rest, leaf);
    }
}

/// The segments of the path of an unknown field: Kong keys that error by the
/// body's own name, dots and all, so only a `sources` or `destinations`
/// entry's key has a parent (the list and the index).
fn unknown_field_segments(path: &str) -> Vec<&str> {
    for list in ["sources", "destinations"] {
        let Some(rest) = path.strip_prefix(list).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Some((index, key)) = rest.split_once('.') {
            if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
                return vec![list, index, key];
            }
        }
    }
    vec![path]
}

fn nest(fields: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (path, rule) in fields {
        if path.is_empty() {
            nest_into(&mut root, &["@entity"], rule);
        } else if rule == "unknown field" {
            nest_into(&mut root, &unknown_field_segments(path), rule);
        } else {
            let segments: Vec<&str> = path.split('.').collect();
            nest_into(&mut root, &segments, rule);
        }
    }
    root
}

/// Lua's `pl.pretty.write(t, "")` of a flat table of strings: `{a="x",b="y"}`.
fn pretty(pairs: &[(&str, &str)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

fn schema_message(fields: &[(String, String)]) -> String {
    crate::error::violation_message(ErrorKind::SchemaViolation, fields)
}

fn foreign_key_message(err: &Error) -> String {
    let fields = err.fields();
    if let [(path, child)] = fields {
        if path == "@referenced_by" && child == "routes" {
            return "an existing 'routes' entity references this 'services' entity".into();
        }
    }
    let Some((parent, _)) = fields.first().and_then(|(p, _)| p.split_once('.')) else {
        // One rule with its own sentence, such as the registry's.
        return match fields {
            [(_, rule)] => rule.clone(),
            _ => err.message().to_string(),
        };
    };
    let mut keys = Vec::with_capacity(fields.len());
    for (path, value) in fields {
        match path.split_once('.') {
            Some((p, key)) if p == parent && !key.contains('.') => keys.push((key, value.as_str())),
            _ => return err.message().to_string(),
        }
    }
    format!(
        "the foreign key '{}' does not reference an existing '{parent}s' entity.",
        pretty(&keys)
    )
}

impl From<&Error> for KongError {
    fn from(err: &Error) -> KongError {
        let fields = err.fields();
        let nested = || {
            if fields.is_empty() {
                Value::Null
            } else {
                nest(fields)
            }
        };
        let plain = |status: u16, message: &str| KongError {
            status,
            code: None,
            name: None,
            message: message.to_string(),
            fields: Value::Null,
        };
        match err.kind() {
            ErrorKind::SchemaViolation => KongError {
                status: 400,
                code: Some(2),
                name: Some("schema violation"),
                message: if fields.is_empty() {
                    err.message().to_string()
                } else {
                    schema_message(fields)
                },
                fields: nested(),
            },
            ErrorKind::ForeignKeyViolation => KongError {
                status: 400,
                code: Some(4),
                name: Some("foreign key violation"),
                message: foreign_key_message(err),
                fields: nested(),
            },
            ErrorKind::UniqueViolation => KongError {
                status: 409,
                code: Some(5),
                name: Some("unique constraint violation"),
                message: if fields.is_empty() {
                    err.message().to_string()
                } else {
                    let pairs: Vec<(&str, &str)> = fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    format!("UNIQUE violation detected on '{}'", pretty(&pairs))
                },
                fields: nested(),
            },
            ErrorKind::InvalidArgument => KongError {
                status: 400,
                code: Some(11),
                name: Some("invalid options"),
                message: err.message().to_string(),
                fields: nested(),
            },
            ErrorKind::NotFound => plain(404, "Not found"),
            ErrorKind::Conflict | ErrorKind::PortRangeExhausted => plain(409, err.message()),
            ErrorKind::RouteInvalid
            | ErrorKind::RouteServiceUrlInvalid
            | ErrorKind::TcpRouteMappingInvalid
            | ErrorKind::RouterGroupInvalid
            | ErrorKind::ProcessRequest
            | ErrorKind::Compacted => plain(400, err.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_as_luasocket() {
        let p = parse_url("https://user:pw@example.test:8443/a/b;x?q=1#f");
        assert_eq!(
            p,
            UrlParts {
                scheme: Some("https"),
                host: Some("example.test"),
                port: Some("8443"),
                path: Some("/a/b"),
            }
        );
        let v6 = parse_url("http://[::1]:8080");
        assert_eq!(
            (v6.host, v6.port, v6.path),
            (Some("::1"), Some("8080"), None)
        );
        // No `//`: LuaSocket takes `localhost` for a scheme.
        let odd = parse_url("localhost:8080");
        assert_eq!(
            (odd.scheme, odd.host, odd.path),
            (Some("localhost"), None, Some("8080"))
        );
        let bare = parse_url("http://h");
        assert_eq!((bare.host, bare.port, bare.path), (Some("h"), None, None));
    }

    #[test]
    fn url_expansion_defaults() {
        let mut obj = Map::new();
        obj.insert("url".into(), Value::from("//h:443"));
        obj.insert("host".into(), Value::from("ignored.test"));
        expand_url(&mut obj).unwrap();
        assert_eq!(obj["protocol"], "https");
        assert_eq!(obj["host"], "h");
        assert_eq!(obj["port"], 443);
        assert_eq!(obj["path"], Value::Null);
        assert!(!obj.contains_key("url"));

        let mut obj = Map::new();
        obj.insert("url".into(), Value::from("https://h"));
        expand_url(&mut obj).unwrap();
        assert_eq!(obj["port"], 443);
        let mut obj = Map::new();
        obj.insert("url".into(), Value::from("grpc://h"));
        expand_url(&mut obj).unwrap();
        assert_eq!(
            (obj["protocol"].as_str(), obj["port"].as_u64()),
            (Some("grpc"), Some(80))
        );
        let mut obj = Map::new();
        obj.insert("url".into(), Value::from("http://h:x"));
        expand_url(&mut obj).unwrap();
        assert_eq!(obj["port"], "x");
    }

    #[test]
    fn nesting_follows_kong() {
        let fields = vec![
            (String::new(), "whole".to_string()),
            ("hosts.2".to_string(), "bad host".to_string()),
            ("sources.1.ip".to_string(), "bad ip".to_string()),
            ("sources.3.@entity".to_string(), "one of".to_string()),
            ("service.id".to_string(), "bad id".to_string()),
            ("name".to_string(), "bad name".to_string()),
        ];
        assert_eq!(
            nest(&fields),
            serde_json::json!({
                "@entity": ["whole"],
                "hosts": [null, "bad host"],
                "sources": [{"ip": "bad ip"}, null, {"@entity": ["one of"]}],
                "service": {"id": "bad id"},
                "name": "bad name",
            })
        );
    }

    #[test]
    fn messages_follow_kong() {
        let one = vec![("name".to_string(), "x".to_string())];
        assert_eq!(schema_message(&one), "schema violation (name: x)");
        let two = vec![
            (String::new(), "whole".to_string()),
            ("name".to_string(), "x".to_string()),
        ];
        assert_eq!(schema_message(&two), "2 schema violations (whole; name: x)");
        assert_eq!(pretty(&[("b", "2"), ("a", "1")]), r#"{a="1",b="2"}"#);
    }

    #[test]
    fn wire_for_every_kind() {
        let cases = [
            (
                Error::new(ErrorKind::NotFound, "no route"),
                404,
                r#"{"message":"Not found"}"#,
            ),
            (
                Error::new(ErrorKind::ProcessRequest, CANNOT_PARSE),
                400,
                r#"{"message":"Cannot parse JSON body"}"#,
            ),
            (
                Error::new(ErrorKind::Conflict, "taken"),
                409,
                r#"{"message":"taken"}"#,
            ),
            (
                Error::new(ErrorKind::RouteInvalid, "Max ttl is 120"),
                400,
                r#"{"message":"Max ttl is 120"}"#,
            ),
            (
                Error::new(
                    ErrorKind::InvalidArgument,
                    "invalid option (tags: cannot be null)",
                ),
                400,
                r#"{"code":11,"name":"invalid options","message":"invalid option (tags: cannot be null)"}"#,
            ),
            (
                Error::with_fields(
                    ErrorKind::UniqueViolation,
                    vec![("name".into(), "my-route".into())],
                ),
                409,
                r#"{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"my-route\"}'","fields":{"name":"my-route"}}"#,
            ),
            (
                Error::with_fields(
                    ErrorKind::ForeignKeyViolation,
                    vec![(
                        "service.id".into(),
                        "5f1b0a3e-0000-4000-8000-000000000001".into(),
                    )],
                ),
                400,
                r#"{"code":4,"name":"foreign key violation","message":"the foreign key '{id=\"5f1b0a3e-0000-4000-8000-000000000001\"}' does not reference an existing 'services' entity.","fields":{"service":{"id":"5f1b0a3e-0000-4000-8000-000000000001"}}}"#,
            ),
            (
                Error::with_fields(
                    ErrorKind::ForeignKeyViolation,
                    vec![("@referenced_by".into(), "routes".into())],
                ),
                400,
                r#"{"code":4,"name":"foreign key violation","message":"an existing 'routes' entity references this 'services' entity","fields":{"@referenced_by":"routes"}}"#,
            ),
        ];
        for (err, status, body) in cases {
            let wire = KongError::from(&err);
            assert_eq!(wire.status, status, "{err:?}");
            assert_eq!(wire.body(), body, "{err:?}");
        }
    }

    #[test]
    fn tag_filter_syntax() {
        let ok = [
            ("a", vec!["a"], false),
            ("a,b", vec!["a", "b"], false),
            ("a/b", vec!["a", "b"], true),
            ("with space,ü", vec!["with space", "ü"], false),
            // Kong's expression takes one trailing separator (an empty last tag).
            ("a,", vec!["a", ""], false),
        ];
        for (s, tags, any) in ok {
            let f = TagFilter::parse(s).unwrap();
            assert_eq!(
                (f.tags(), f.is_any()),
                (
                    &tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()[..],
                    any
                ),
                "{s}"
            );
        }
        for (s, why) in [
            ("", "cannot be null"),
            ("a,b/c", "invalid filter syntax"),
            ("a,,b", "invalid filter syntax"),
            (",a", "invalid filter syntax"),
            ("a\tb", "invalid filter syntax"),
            ("a,b,c,d,e,f", "cannot query more than 5 tags"),
        ] {
            let err = TagFilter::parse(s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert_eq!(
                err.message(),
                format!("invalid option (tags: {why})"),
                "{s:?}"
            );
        }
        assert_eq!(
            "x/y".parse::<TagFilter>().unwrap(),
            TagFilter::parse("x/y").unwrap()
        );
    }

    #[test]
    fn escaping_as_nginx() {
        assert_eq!(escape_uri("aZ9-._~ /+=ü"), "aZ9-._~%20%2F%2B%3D%C3%BC");
    }
}
