//! The dict form of the changes `Registry.apply` takes.
//!
//! Each change is a dict with an `"op"` naming the change and the fields that change
//! needs, nothing else:
//!
//! | `op` | fields | core change |
//! |---|---|---|
//! | `upsert_http_route` | `route`: a CF HTTP route | `UpsertHttpRoute` |
//! | `delete_http_route` | `route`: a CF HTTP route | `DeleteHttpRoute` |
//! | `upsert_tcp_route_mapping` | `mapping`: a CF TCP route mapping | `UpsertTcpRouteMapping` |
//! | `delete_tcp_route_mapping` | `mapping`: a CF TCP route mapping | `DeleteTcpRouteMapping` |
//! | `create_router_group` | `group`: a CF router group | `CreateRouterGroup` |
//! | `update_router_group` | `guid`, `reservable_ports`: str | `UpdateRouterGroup` |
//! | `delete_router_group` | `guid`: str | `DeleteRouterGroup` |
//! | `reserve_port` | `router_group_guid`: str, optional `ttl`: seconds or None | `ReservePort` |
//! | `release_port` | `router_group_guid`: str, `port`: int | `ReleasePort` |
//! | `upsert_service` | `service`: a Kong service | `UpsertService` |
//! | `put_service` | `key`: str, `service`: a Kong service | `PutService` |
//! | `delete_service` | `key`: str | `DeleteService` |
//! | `upsert_route` | `route`: a Kong route | `UpsertRoute` |
//! | `put_route` | `key`: str, `route`: a Kong route | `PutRoute` |
//! | `delete_route` | `key`: str | `DeleteRoute` |
//! | `put_upstream` | `service`: str, `backends`: list of backend dicts, optional `config`: dict or None | `PutUpstream` |
//! | `delete_upstream` | `service`: str | `DeleteUpstream` |
//! | `create_server` | `name`: str, `server`: a gobetween server | `CreateServer` |
//! | `delete_server` | `name`: str | `DeleteServer` |
//!
//! The objects are decoded by the core's CF, Kong and gobetween codecs (backends and
//! pool configurations by their serde shapes), exactly as the single-purpose methods
//! decode them.

use std::time::Duration;

use pyo3::prelude::*;
use routeyard::dialect::gobetween::GbError;
use routeyard::dialect::{cf, kong};
use routeyard::{Change, Error as CoreError};
use serde_json::{Map, Value};

use crate::{errors, upstream};

/// Why a batch could not be applied.
pub(crate) enum BatchError {
    /// A change is not in the documented dict form; the message says which and why.
    Shape(String),
    /// The core refused the batch (decoding an object, or applying it).
    Core(CoreError),
    /// The gobetween codec refused a server.
    Gobetween(GbError),
}

impl BatchError {
    /// The exception for this error.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            BatchError::Shape(message) => errors::unprocessable(py, message),
            BatchError::Core(err) => errors::core_error(py, err),
            BatchError::Gobetween(err) => errors::gobetween_error(py, &err),
        }
    }
}

impl From<CoreError> for BatchError {
    fn from(err: CoreError) -> Self {
        BatchError::Core(err)
    }
}

/// The fields each op takes: (name, required).
fn fields_of(op: &str) -> Option<&'static [(&'static str, bool)]> {
    Some(match op {
        "upsert_http_route" | "delete_http_route" => &[("route", true)],
        "upsert_tcp_route_mapping" | "delete_tcp_route_mapping" => &[("mapping", true)],
        "create_router_group" => &[("group", true)],
        "update_router_group" => &[("guid", true), ("reservable_ports", true)],
        "delete_router_group" => &[("guid", true)],
        "reserve_port" => &[("router_group_guid", true), ("ttl", false)],
        "release_port" => &[("router_group_guid", true), ("port", true)],
        "upsert_service" => &[("service", true)],
        "put_service" => &[("key", true), ("service", true)],
        "upsert_route" => &[("route", true)],
        "put_route" => &[("key", true), ("route", true)],
        "delete_service" | "delete_route" => &[("key", true)],
        "put_upstream" => &[("service", true), ("backends", true), ("config", false)],
        "delete_upstream" => &[("service", true)],
        "create_server" => &[("name", true), ("server", true)],
        "delete_server" => &[("name", true)],
        _ => return None,
    })
}

const OPS: &str = "upsert_http_route, delete_http_route, upsert_tcp_route_mapping, \
                   delete_tcp_route_mapping, create_router_group, update_router_group, \
                   delete_router_group, reserve_port, release_port, upsert_service, \
                   put_service, delete_service, upsert_route, put_route, delete_route, \
                   put_upstream, delete_upstream, create_server, delete_server";

/// Decodes a list of change dicts (already converted to JSON values).
pub(crate) fn decode(changes: Vec<Value>) -> Result<Vec<Change>, BatchError> {
    changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| decode_one(change).map_err(|e| at(i, e)))
        .collect()
}

/// Prefixes a shape error with the position of the change it is about.
fn at(index: usize, err: BatchError) -> BatchError {
    match err {
        BatchError::Shape(message) => BatchError::Shape(format!("change {index}: {message}")),
        core => core,
    }
}

fn decode_one(change: Value) -> Result<Change, BatchError> {
    let Value::Object(mut map) = change else {
        return Err(BatchError::Shape(format!(
            "a change must be a dict, not {}",
            json_type(&change)
        )));
    };
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        Some(other) => {
            return Err(BatchError::Shape(format!(
                "'op' must be a str, not {}",
                json_type(&other)
            )))
        }
        None => return Err(BatchError::Shape("missing 'op'".to_string())),
    };
    let Some(fields) = fields_of(&op) else {
        return Err(BatchError::Shape(format!(
            "unknown op '{op}'; expected one of {OPS}"
        )));
    };
    if let Some(extra) = map.keys().find(|k| !fields.iter().any(|(f, _)| f == k)) {
        return Err(BatchError::Shape(format!(
            "unexpected field '{extra}' for op '{op}'"
        )));
    }
    if let Some((missing, _)) = fields
        .iter()
        .find(|(f, required)| *required && !map.contains_key(*f))
    {
        return Err(BatchError::Shape(format!(
            "missing field '{missing}' for op '{op}'"
        )));
    }
    Ok(match op.as_str() {
        "upsert_http_route" => Change::UpsertHttpRoute(http_route(&mut map)?),
        "delete_http_route" => Change::DeleteHttpRoute(http_route(&mut map)?),
        "upsert_tcp_route_mapping" => Change::UpsertTcpRouteMapping(tcp_mapping(&mut map)?),
        "delete_tcp_route_mapping" => Change::DeleteTcpRouteMapping(tcp_mapping(&mut map)?),
        "create_router_group" => {
            let group = take(&mut map, "group");
            Change::CreateRouterGroup(cf::decode_router_group(&to_bytes(&group))?)
        }
        "update_router_group" => Change::UpdateRouterGroup {
            guid: string(&mut map, "guid")?,
            reservable_ports: string(&mut map, "reservable_ports")?,
        },
        "delete_router_group" => Change::DeleteRouterGroup {
            guid: string(&mut map, "guid")?,
        },
        "reserve_port" => Change::ReservePort {
            router_group_guid: string(&mut map, "router_group_guid")?,
            ttl: seconds(take(&mut map, "ttl"))?,
        },
        "release_port" => Change::ReleasePort {
            router_group_guid: string(&mut map, "router_group_guid")?,
            port: port(take(&mut map, "port"))?,
        },
        "upsert_service" => Change::UpsertService(kong_service(&mut map)?),
        "put_service" => Change::PutService {
            key: string(&mut map, "key")?,
            service: kong_service(&mut map)?,
        },
        "delete_service" => Change::DeleteService {
            key: string(&mut map, "key")?,
        },
        "upsert_route" => Change::UpsertRoute(kong_route(&mut map)?),
        "put_route" => Change::PutRoute {
            key: string(&mut map, "key")?,
            route: kong_route(&mut map)?,
        },
        "delete_route" => Change::DeleteRoute {
            key: string(&mut map, "key")?,
        },
        "put_upstream" => Change::PutUpstream {
            service: string(&mut map, "service")?,
            backends: upstream::backends(take(&mut map, "backends"))?,
            config: upstream::pool_config(take(&mut map, "config"))?,
        },
        "delete_upstream" => Change::DeleteUpstream {
            service: string(&mut map, "service")?,
        },
        "create_server" => Change::CreateServer {
            name: string(&mut map, "name")?,
            server: Box::new(upstream::server(&take(&mut map, "server"))?),
        },
        _ => Change::DeleteServer {
            name: string(&mut map, "name")?,
        },
    })
}

pub(crate) fn take(map: &mut Map<String, Value>, field: &str) -> Value {
    map.remove(field).unwrap_or(Value::Null)
}

pub(crate) fn to_bytes(value: &Value) -> Vec<u8> {
    // A JSON value always serializes.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes one CF HTTP route with the core's codec, as a one-element array.
fn http_route(map: &mut Map<String, Value>) -> Result<routeyard::HttpRoute, BatchError> {
    let body = to_bytes(&Value::Array(vec![take(map, "route")]));
    let mut routes = cf::decode_http_routes(&body)?;
    routes
        .pop()
        .ok_or_else(|| BatchError::Shape("'route' must be a dict".to_string()))
}

fn tcp_mapping(map: &mut Map<String, Value>) -> Result<routeyard::TcpRouteMapping, BatchError> {
    let body = to_bytes(&Value::Array(vec![take(map, "mapping")]));
    let mut mappings = cf::decode_tcp_route_mappings(&body)?;
    mappings
        .pop()
        .ok_or_else(|| BatchError::Shape("'mapping' must be a dict".to_string()))
}

fn kong_service(map: &mut Map<String, Value>) -> Result<routeyard::Service, BatchError> {
    Ok(kong::decode_service(&to_bytes(&take(map, "service")))?)
}

fn kong_route(map: &mut Map<String, Value>) -> Result<routeyard::Route, BatchError> {
    Ok(kong::decode_route(&to_bytes(&take(map, "route")))?)
}

fn string(map: &mut Map<String, Value>, field: &str) -> Result<String, BatchError> {
    match take(map, field) {
        Value::String(s) => Ok(s),
        other => Err(BatchError::Shape(format!(
            "'{field}' must be a str, not {}",
            json_type(&other)
        ))),
    }
}

fn port(value: Value) -> Result<u16, BatchError> {
    value
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            BatchError::Shape(format!(
                "'port' must be an int from 0 to 65535, not {value}"
            ))
        })
}

/// An optional TTL in seconds: None, an int or a float, not negative.
fn seconds(value: Value) -> Result<Option<Duration>, BatchError> {
    let bad = || {
        BatchError::Shape(format!(
            "'ttl' must be None or a non-negative number of seconds, not {value}"
        ))
    };
    match &value {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(secs) = n.as_u64() {
                Ok(Some(Duration::from_secs(secs)))
            } else if n.is_f64() {
                let secs = n.as_f64().unwrap_or(f64::NAN);
                Duration::try_from_secs_f64(secs)
                    .map(Some)
                    .map_err(|_| bad())
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
