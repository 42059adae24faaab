//! The dict form of a registry snapshot, both ways.
//!
//! ```text
//! {"revision": int,
//!  "router_groups": [CF router group, ...],
//!  "http_routes": [CF HTTP route + "expires_at", ...],
//!  "tcp_route_mappings": [CF TCP route mapping + "expires_at", ...],
//!  "port_reservations": [{"router_group_guid", "port", "expires_at"}, ...],
//!  "routes": [Kong route, ...],
//!  "services": [Kong service, ...],
//!  "upstreams": [{"service_id", "backends", "config"}, ...],
//!  "servers": [gobetween server + "name", ...]}
//! ```
//!
//! `expires_at` is the lease's end in integer nanoseconds on the registry's clock: CF's
//! shapes have no field for it, and a restored lease must run from its own end.

use routeyard::dialect::{cf, kong};
use routeyard::{NamedServer, PortReservation, Snapshot, Timestamp, Upstream};
use serde_json::{Map, Value};

use crate::batch::{json_type, take, to_bytes, BatchError};
use crate::upstream;

const LISTS: [&str; 8] = [
    "router_groups",
    "http_routes",
    "tcp_route_mappings",
    "port_reservations",
    "routes",
    "services",
    "upstreams",
    "servers",
];

/// A CF object's JSON with `expires_at` added.
fn leased(mut object: Value, expires_at: Timestamp) -> Value {
    if let Value::Object(map) = &mut object {
        map.insert("expires_at".into(), Value::from(expires_at.as_nanos()));
    }
    object
}

/// The dict form of `snapshot`, every list sorted by its key (the core sorts
/// upstreams by service id and servers by name).
pub(crate) fn encode(mut s: Snapshot) -> Value {
    // The core sorts the CF lists; routes and services are sorted here by id, so that
    // equal states give equal dicts.
    s.routes.sort_by(|a, b| a.id.cmp(&b.id));
    s.services.sort_by(|a, b| a.id.cmp(&b.id));
    // The core's objects always serialize.
    let to = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    serde_json::json!({
        "revision": s.revision,
        "router_groups": s.router_groups.iter().map(|g| to(serde_json::to_value(g))).collect::<Vec<_>>(),
        "http_routes": s
            .http_routes
            .iter()
            .map(|r| leased(to(serde_json::to_value(r)), r.expires_at))
            .collect::<Vec<_>>(),
        "tcp_route_mappings": s
            .tcp_route_mappings
            .iter()
            .map(|m| leased(to(serde_json::to_value(m)), m.expires_at))
            .collect::<Vec<_>>(),
        "port_reservations": s
            .port_reservations
            .iter()
            .map(|r| to(serde_json::to_value(r)))
            .collect::<Vec<_>>(),
        "routes": s.routes.iter().map(|r| to(serde_json::to_value(kong::Wire(r)))).collect::<Vec<_>>(),
        "services": s.services.iter().map(|r| to(serde_json::to_value(kong::Wire(r)))).collect::<Vec<_>>(),
        "upstreams": s.upstreams.iter().map(|u| to(serde_json::to_value(u))).collect::<Vec<_>>(),
        "servers": s.servers.iter().map(|v| to(serde_json::to_value(v))).collect::<Vec<_>>(),
    })
}

/// Reads the dict form back, decoding every object with the core's codecs. Every key
/// must be present (a missing list would empty that kind on restore) and no other.
pub(crate) fn decode(snapshot: Value) -> Result<Snapshot, BatchError> {
    let shape = |m: String| BatchError::Shape(format!("snapshot: {m}"));
    let Value::Object(mut map) = snapshot else {
        return Err(shape(format!(
            "must be a dict, not {}",
            json_type(&snapshot)
        )));
    };
    if let Some(extra) = map
        .keys()
        .find(|k| k.as_str() != "revision" && !LISTS.contains(&k.as_str()))
    {
        return Err(shape(format!("unexpected key '{extra}'")));
    }
    let revision = match map.remove("revision") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| shape(format!("'revision' must be a non-negative int, not {v}")))?,
        None => return Err(shape("missing key 'revision'".to_string())),
    };
    let mut lists = Vec::with_capacity(LISTS.len());
    for key in LISTS {
        match map.remove(key) {
            Some(Value::Array(items)) => lists.push(items),
            Some(other) => {
                return Err(shape(format!(
                    "'{key}' must be a list, not {}",
                    json_type(&other)
                )))
            }
            None => return Err(shape(format!("missing key '{key}'"))),
        }
    }
    let mut lists = lists.into_iter();
    let mut next = || lists.next().unwrap_or_default();
    let (groups, http, tcp, reservations, routes, services, upstreams, servers) = (
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
    );
    let objects = |key: &str, items: Vec<Value>| -> Result<Vec<Map<String, Value>>, BatchError> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(m) => Ok(m),
                other => Err(shape(format!(
                    "{key}[{i}] must be a dict, not {}",
                    json_type(&other)
                ))),
            })
            .collect()
    };
    let expires_at = |key: &str, i: usize, m: &mut Map<String, Value>| {
        let v = take(m, "expires_at");
        v.as_u64().map(Timestamp::from_nanos).ok_or_else(|| {
            shape(format!(
                "{key}[{i}]['expires_at'] must be an int of nanoseconds, not {v}"
            ))
        })
    };

    let mut snap = Snapshot {
        revision,
        ..Snapshot::default()
    };
    for group in objects("router_groups", groups)? {
        snap.router_groups
            .push(cf::decode_router_group(&to_bytes(&Value::Object(group)))?);
    }
    for (i, mut route) in objects("http_routes", http)?.into_iter().enumerate() {
        let end = expires_at("http_routes", i, &mut route)?;
        let body = to_bytes(&Value::Array(vec![Value::Object(route)]));
        for mut r in cf::decode_http_routes(&body)? {
            r.expires_at = end;
            snap.http_routes.push(r);
        }
    }
    for (i, mut mapping) in objects("tcp_route_mappings", tcp)?.into_iter().enumerate() {
        let end = expires_at("tcp_route_mappings", i, &mut mapping)?;
        let body = to_bytes(&Value::Array(vec![Value::Object(mapping)]));
        for mut m in cf::decode_tcp_route_mappings(&body)? {
            m.expires_at = end;
            snap.tcp_route_mappings.push(m);
        }
    }
    for (i, r) in objects("port_reservations", reservations)?
        .into_iter()
        .enumerate()
    {
        let r: PortReservation = serde_json::from_value(Value::Object(r))
            .map_err(|e| shape(format!("port_reservations[{i}]: {e}")))?;
        snap.port_reservations.push(r);
    }
    for route in objects("routes", routes)? {
        snap.routes
            .push(kong::decode_route(&to_bytes(&Value::Object(route)))?);
    }
    for service in objects("services", services)? {
        snap.services
            .push(kong::decode_service(&to_bytes(&Value::Object(service)))?);
    }
    for (i, mut u) in objects("upstreams", upstreams)?.into_iter().enumerate() {
        let at = |m: String| shape(format!("upstreams[{i}]: {m}"));
        let service_id = match take(&mut u, "service_id") {
            Value::String(id) => id,
            other => {
                return Err(at(format!(
                    "'service_id' must be a str, not {}",
                    json_type(&other)
                )))
            }
        };
        let backends = upstream::backends(take(&mut u, "backends")).map_err(|e| match e {
            BatchError::Shape(m) => at(m),
            other => other,
        })?;
        let config = upstream::pool_config(take(&mut u, "config")).map_err(|e| match e {
            BatchError::Shape(m) => at(m),
            other => other,
        })?;
        if let Some(extra) = u.keys().next() {
            return Err(at(format!("unexpected key '{extra}'")));
        }
        snap.upstreams.push(Upstream {
            service_id,
            backends,
            config,
        });
    }
    for (i, mut server) in objects("servers", servers)?.into_iter().enumerate() {
        let name = match take(&mut server, "name") {
            Value::String(name) => name,
            other => {
                return Err(shape(format!(
                    "servers[{i}]['name'] must be a str, not {}",
                    json_type(&other)
                )))
            }
        };
        let server = upstream::server(&Value::Object(server))?;
        snap.servers.push(NamedServer { name, server });
    }
    Ok(snap)
}
