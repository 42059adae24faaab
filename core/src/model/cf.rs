//! Cloud Foundry's objects: HTTP routes, TCP route mappings, router groups,
//! modification tags, and their validation rules and messages.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, ErrorKind};
use crate::lease::Timestamp;
use crate::model::ports::{self, PortRange};
use crate::model::url::validate_url;

/// Decodes JSON `null` as the type's default, as Go's decoder leaves the field
/// untouched.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Decodes a JSON object (or `null`) into `T`, refusing the arrays that serde's
/// derived impls would otherwise accept field by field: Go's decoder refuses them.
pub(crate) fn object_or_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<ObjectOnly<T>>::deserialize(d)?
        .map(|o| o.0)
        .unwrap_or_default())
}

/// `T` decoded only from a JSON object.
pub(crate) struct ObjectOnly<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

fn is_empty(s: &Arc<str>) -> bool {
    s.is_empty()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// CF's modification tag: a guid fixed at creation and an index bumped by every
/// update. A delete followed by a create yields a new guid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModificationTag {
    /// The guid given when the object was created.
    #[serde(default, deserialize_with = "nullable")]
    pub guid: Arc<str>,
    /// The number of updates since creation.
    #[serde(default, deserialize_with = "nullable")]
    pub index: u32,
}

impl ModificationTag {
    /// Whether `other` is a newer version than `self`, by CF's rule (`SucceededBy`):
    /// true when either guid is empty, the guids differ, or `self.index < other.index`.
    pub fn succeeded_by(&self, other: &ModificationTag) -> bool {
        self.guid.is_empty()
            || other.guid.is_empty()
            || self.guid != other.guid
            || self.index < other.index
    }
}

/// One backend of a CF HTTP route: the route (host and optional path), the
/// backend's address, and its lease.
///
/// Serializes to and from CF's JSON shape. `expires_at` is not part of that shape;
/// the registry sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRoute {
    /// Host and optional path, such as `myapp.com/somepath`.
    #[serde(default, deserialize_with = "nullable")]
    pub route: Arc<str>,
    /// The backend's port.
    #[serde(default, deserialize_with = "nullable")]
    pub port: u16,
    /// The backend's address (not parsed, as in CF).
    #[serde(default, deserialize_with = "nullable")]
    pub ip: Arc<str>,
    /// Seconds the registration lives; `None` means the registry's `max_ttl`.
    #[serde(default)]
    pub ttl: Option<i64>,
    /// Annotates logs of requests sent to this backend.
    #[serde(default, deserialize_with = "nullable")]
    pub log_guid: Arc<str>,
    /// Requests for the route pass through this HTTPS URL first; empty for none.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_empty"
    )]
    pub route_service_url: Arc<str>,
    /// Set by the registry on every create and update.
    #[serde(default, deserialize_with = "object_or_null")]
    pub modification_tag: ModificationTag,
    /// When the lease lapses; set by the registry.
    #[serde(skip)]
    pub expires_at: Timestamp,
}

impl HttpRoute {
    /// A route registration with the registry's default TTL.
    pub fn new(route: &str, ip: &str, port: u16) -> HttpRoute {
        HttpRoute {
            route: route.into(),
            ip: ip.into(),
            port,
            ..HttpRoute::default()
        }
    }

    /// Sets the TTL in seconds.
    pub fn with_ttl(mut self, ttl: i64) -> HttpRoute {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the log guid.
    pub fn with_log_guid(mut self, log_guid: &str) -> HttpRoute {
        self.log_guid = log_guid.into();
        self
    }

    /// Sets the route service URL.
    pub fn with_route_service_url(mut self, url: &str) -> HttpRoute {
        self.route_service_url = url.into();
        self
    }

    pub(crate) fn key(&self) -> HttpKey {
        HttpKey {
            route: self.route.clone(),
            ip: self.ip.clone(),
            port: self.port,
            route_service_url: self.route_service_url.clone(),
        }
    }

    /// The key as borrowed strings, to probe a table without touching reference
    /// counts.
    pub(crate) fn key_ref(&self) -> HttpKeyRef<'_> {
        HttpKeyRef {
            route: &self.route,
            ip: &self.ip,
            port: self.port,
            route_service_url: &self.route_service_url,
        }
    }
}

/// The upsert key of an HTTP route: `(route, ip, port, route_service_url)`.
///
/// Its derived `Hash` equals that of [`HttpKeyRef`] (same fields, same order, and
/// `Arc<str>` hashes as `str`), so either can probe a table keyed by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HttpKey {
    pub(crate) route: Arc<str>,
    pub(crate) ip: Arc<str>,
    pub(crate) port: u16,
    pub(crate) route_service_url: Arc<str>,
}

/// [`HttpKey`] borrowed; ordered field by field, as snapshots sort routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct HttpKeyRef<'a> {
    pub(crate) route: &'a str,
    pub(crate) ip: &'a str,
    pub(crate) port: u16,
    pub(crate) route_service_url: &'a str,
}

impl hashbrown::Equivalent<HttpKey> for HttpKeyRef<'_> {
    fn equivalent(&self, key: &HttpKey) -> bool {
        self.port == key.port
            && self.route == &*key.route
            && self.ip == &*key.ip
            && self.route_service_url == &*key.route_service_url
    }
}

/// One backend of a CF TCP route: external port of a router group, mapped to a
/// backend address, with its lease.
///
/// Serializes to and from CF's JSON shape, fields in routing-api's order.
/// `expires_at` is not part of that shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpRouteMapping {
    /// The router group the external port belongs to.
    #[serde(default, deserialize_with = "nullable")]
    pub router_group_guid: Arc<str>,
    /// The backend's port.
    #[serde(default, deserialize_with = "nullable")]
    pub backend_port: u16,
    /// The backend's TLS port; 0 for none.
    #[serde(default, deserialize_with = "nullable")]
    pub backend_tls_port: i64,
    /// The backend's address.
    #[serde(default, deserialize_with = "nullable")]
    pub backend_ip: Arc<str>,
    /// The SNI host name that selects this backend, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_sni_hostname: Option<Arc<str>>,
    /// The SNI host name sent to the backend instead, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni_rewrite_hostname: Option<Arc<str>>,
    /// The instance behind the backend; kept on update.
    #[serde(default, deserialize_with = "nullable")]
    pub instance_id: Arc<str>,
    /// The external (router) port.
    #[serde(default, deserialize_with = "nullable")]
    pub port: u16,
    /// Set by the registry on every create and update.
    #[serde(default, deserialize_with = "object_or_null")]
    pub modification_tag: ModificationTag,
    /// Seconds the registration lives; `None` means the registry's `max_ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The isolation segment; empty for none. Replaced on update.
    #[serde(default, deserialize_with = "nullable")]
    pub isolation_segment: Arc<str>,
    /// Whether the router terminates TLS for this port.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub terminate_frontend_tls: bool,
    /// Comma-separated ALPN protocols, only with `terminate_frontend_tls`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_empty"
    )]
    pub alpns: Arc<str>,
    /// Whether the router presents a client certificate to the backend.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub enable_backend_mtls: bool,
    /// When the lease lapses; set by the registry.
    #[serde(skip)]
    pub expires_at: Timestamp,
}

impl TcpRouteMapping {
    /// A mapping of `port` of the router group `router_group_guid` to a backend,
    /// with the registry's default TTL.
    pub fn new(router_group_guid: &str, port: u16, backend_ip: &str, backend_port: u16) -> Self {
        TcpRouteMapping {
            router_group_guid: router_group_guid.into(),
            port,
            backend_ip: backend_ip.into(),
            backend_port,
            ..TcpRouteMapping::default()
        }
    }

    /// Sets the TTL in seconds.
    pub fn with_ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    pub(crate) fn key(&self) -> TcpKey {
        TcpKey {
            router_group_guid: self.router_group_guid.clone(),
            port: self.port,
            backend_ip: self.backend_ip.clone(),
            backend_port: self.backend_port,
            backend_tls_port: self.backend_tls_port,
            backend_sni_hostname: self.backend_sni_hostname.clone(),
            enable_backend_mtls: self.enable_backend_mtls,
        }
    }
}

impl fmt::Display for TcpRouteMapping {
    /// CF's form, used inside its error messages: `guid:port<->backend_ip:backend_port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}<->{}:{}",
            self.router_group_guid, self.port, self.backend_ip, self.backend_port
        )
    }
}

/// The upsert key of a TCP mapping, as CF's `FindExistingTcpRouteMapping` builds it.
/// `instance_id` is deliberately not part of it. Ordered field by field, as
/// snapshots sort mappings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TcpKey {
    pub(crate) router_group_guid: Arc<str>,
    pub(crate) port: u16,
    pub(crate) backend_ip: Arc<str>,
    pub(crate) backend_port: u16,
    pub(crate) backend_tls_port: i64,
    pub(crate) backend_sni_hostname: Option<Arc<str>>,
    pub(crate) enable_backend_mtls: bool,
}

/// A CF router group: a named set of routers, and for `tcp` groups the ports
/// that may be mapped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterGroup {
    /// Assigned by the registry on create.
    #[serde(default, deserialize_with = "nullable")]
    pub guid: Arc<str>,
    /// Unique name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: Arc<str>,
    /// `tcp`, `http`, or any other string (CF accepts any).
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub group_type: Arc<str>,
    /// Comma-separated ports and `a-b` ranges, 1024..=65535.
    #[serde(default, deserialize_with = "nullable")]
    pub reservable_ports: Arc<str>,
}

impl RouterGroup {
    /// A router group to create; the registry assigns the guid.
    pub fn new(name: &str, group_type: &str, reservable_ports: &str) -> RouterGroup {
        RouterGroup {
            guid: "".into(),
            name: name.into(),
            group_type: group_type.into(),
            reservable_ports: reservable_ports.into(),
        }
    }
}

/// A port held for a router group until a mapping claims it or its lease lapses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortReservation {
    /// The router group the port belongs to.
    pub router_group_guid: Arc<str>,
    /// The reserved port.
    pub port: u16,
    /// When the reservation lapses.
    pub expires_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Validation, in CF's order and with CF's messages.
// ---------------------------------------------------------------------------

/// Checks every rule CF's `requiredValidation` runs, then, for a create, the TTL
/// (`ttl` already defaulted to `max_ttl`).
pub(crate) fn validate_http_route(route: &HttpRoute, max_ttl: Option<i64>) -> Result<(), Error> {
    validate_url(&route.route).map_err(|m| Error::new(ErrorKind::RouteInvalid, m))?;
    if !route.route_service_url.is_empty() {
        if !route.route_service_url.starts_with("https://") {
            return Err(Error::new(
                ErrorKind::RouteServiceUrlInvalid,
                "Route service url must use HTTPS.",
            ));
        }
        validate_url(&route.route_service_url)
            .map_err(|m| Error::new(ErrorKind::RouteServiceUrlInvalid, m))?;
    }
    let invalid = |m: &str| Err(Error::new(ErrorKind::RouteInvalid, m));
    if route.port == 0 {
        return invalid("Each route request requires a port greater than 0");
    }
    if route.route.is_empty() {
        return invalid("Each route request requires a valid route");
    }
    if route.ip.is_empty() {
        return invalid("Each route request requires an IP");
    }
    if let Some(max_ttl) = max_ttl {
        let ttl = route.ttl.unwrap_or(max_ttl);
        if ttl > max_ttl {
            return Err(Error::new(
                ErrorKind::RouteInvalid,
                format!("Max ttl is {max_ttl}"),
            ));
        }
        if ttl <= 0 {
            return invalid("Request requires a ttl greater than 0");
        }
    }
    Ok(())
}

/// Checks CF's `validateTcpRouteMapping` rules; the TTL ones only for a create.
/// The router-group and TLS-consistency checks need the registry's state and run
/// when the change is applied.
pub(crate) fn validate_tcp_mapping(
    mapping: &TcpRouteMapping,
    max_ttl: Option<i64>,
) -> Result<(), Error> {
    let invalid = |rule: &str| {
        Err(Error::new(
            ErrorKind::TcpRouteMappingInvalid,
            format!("{rule} RouteMapping=[{mapping}]"),
        ))
    };
    if mapping.router_group_guid.is_empty() {
        return invalid("Each tcp mapping requires a non empty router group guid.");
    }
    if mapping.port == 0 {
        return invalid("Each tcp mapping requires a positive external port.");
    }
    if mapping.backend_ip.is_empty() {
        return invalid("Each tcp mapping requires a non empty backend ip.");
    }
    if mapping.backend_port == 0 && mapping.backend_tls_port <= 0 {
        return invalid("Each tcp mapping requires a positive backend port.");
    }
    if mapping.backend_tls_port > 65535 {
        return invalid("Each tcp mapping with a backend TLS port requires that port to be less than or equal to 65535.");
    }
    if let Some(max_ttl) = max_ttl {
        let ttl = mapping.ttl.unwrap_or(max_ttl);
        if ttl > max_ttl {
            return invalid(&format!(
                "Each tcp mapping requires TTL to be less than or equal to {max_ttl}."
            ));
        }
        if ttl <= 0 {
            return Err(Error::new(
                ErrorKind::TcpRouteMappingInvalid,
                "Each tcp route mapping requires a ttl greater than 0",
            ));
        }
    }
    if !mapping.alpns.is_empty() && !mapping.terminate_frontend_tls {
        return invalid(
            "Each tcp mapping can define ALPNs only when TerminateFrontendTLS is enabled.",
        );
    }
    Ok(())
}

/// CF's `RouterGroup.Validate`, returning the parsed ranges.
pub(crate) fn validate_router_group(
    group: &RouterGroup,
    reserved: &[u16],
) -> Result<Vec<PortRange>, Error> {
    let invalid = |m: String| Err(Error::new(ErrorKind::RouterGroupInvalid, m));
    if group.name.is_empty() {
        return invalid("missing name in router group".to_string());
    }
    if group.group_type.is_empty() {
        return invalid("missing type in router group".to_string());
    }
    if group.reservable_ports.is_empty() {
        if &*group.group_type == "tcp" {
            return invalid(format!(
                "missing reservable_ports in router group: {}",
                group.name
            ));
        }
        return Ok(Vec::new());
    }
    if &*group.group_type == "http" {
        return invalid(
            "reservable ports are not supported for router groups of type http".to_string(),
        );
    }
    ports::validate(&group.reservable_ports, reserved)
        .map_err(|m| Error::new(ErrorKind::RouterGroupInvalid, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn succeeded_by_follows_cf() {
        let tag = |g: &str, i| ModificationTag {
            guid: g.into(),
            index: i,
        };
        assert!(tag("", 5).succeeded_by(&tag("a", 0)));
        assert!(tag("a", 5).succeeded_by(&tag("", 0)));
        assert!(tag("a", 5).succeeded_by(&tag("b", 0)));
        assert!(tag("a", 5).succeeded_by(&tag("a", 6)));
        assert!(!tag("a", 5).succeeded_by(&tag("a", 5)));
        assert!(!tag("a", 5).succeeded_by(&tag("a", 4)));
    }

    #[test]
    fn json_shapes() {
        let r: HttpRoute = serde_json::from_str(
            r#"{"route":"a.com/x","ip":"1.2.3.4","port":80,"ttl":null,"log_guid":null,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(r, HttpRoute::new("a.com/x", "1.2.3.4", 80));
        let out = serde_json::to_string(&r.with_ttl(30)).unwrap();
        assert_eq!(
            out,
            r#"{"route":"a.com/x","port":80,"ip":"1.2.3.4","ttl":30,"log_guid":"","modification_tag":{"guid":"","index":0}}"#
        );
        let m = TcpRouteMapping::new("g", 5200, "10.1.1.12", 60000);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"router_group_guid":"g","backend_port":60000,"backend_tls_port":0,"backend_ip":"10.1.1.12","instance_id":"","port":5200,"modification_tag":{"guid":"","index":0},"isolation_segment":""}"#
        );
        assert!(serde_json::from_str::<HttpRoute>(r#"{"port":65536}"#).is_err());
        assert!(serde_json::from_str::<HttpRoute>(r#"{"port":-1}"#).is_err());
        let g: RouterGroup =
            serde_json::from_str(r#"{"name":"g","type":"tcp","reservable_ports":"1024"}"#).unwrap();
        assert_eq!(g, RouterGroup::new("g", "tcp", "1024"));
    }
}
