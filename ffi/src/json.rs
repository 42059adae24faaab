//! The JSON forms the C API defines itself: events, snapshots and batches of changes.
//!
//! Objects inside them are always in their dialect's wire shape, written and read by
//! the core's codecs (`routeyard::dialect::cf` and `routeyard::dialect::kong`); this
//! module only adds the envelope around them. Envelopes are written as text around the
//! codecs' output, so objects keep the exact bytes (and field order) the codecs write.

use std::time::Duration;

use routeyard_core::dialect::{cf, kong};
use routeyard_core::{Action, Change, Event, Object, PortReservation, Snapshot, Timestamp};
use serde_json::{Map, Value};

use crate::error::ry_error;
use crate::{server, upstream};

/// A leased CF object's wire JSON with `expires_at` (nanoseconds) added as its last
/// field. The CF encoder always writes a non-empty object, so the text ends in `}`.
fn with_expiry(mut text: String, expires_at: u64) -> String {
    if text.ends_with('}') && text.len() > 2 {
        text.pop();
        text.push_str(&format!(",\"expires_at\":{expires_at}}}"));
    }
    text
}

/// The name an event gives the kind of its object, and the object's wire JSON as the
/// core's codec writes it.
fn object(object: &Object) -> (&'static str, String) {
    match object {
        Object::HttpRoute(r) => ("http_route", cf::encode(&**r)),
        Object::TcpRouteMapping(m) => ("tcp_route_mapping", cf::encode(&**m)),
        Object::RouterGroup(g) => ("router_group", cf::encode(&**g)),
        Object::PortReservation(r) => ("port_reservation", cf::encode(&**r)),
        Object::Route(r) => ("route", kong::encode_route(r)),
        Object::Service(s) => ("service", kong::encode_service(s)),
        Object::Upstream(u) => ("upstream", upstream::encode_upstream(u)),
        Object::Server(v) => ("server", server::encode_named(v)),
        // A kind added to the core reaches C without its object until it is named here.
        _ => ("other", "null".to_owned()),
    }
}

/// An event as C sees it:
/// `{"revision":7,"event":"Delete","action":"Expire","kind":"http_route","object":{...}}`.
///
/// `event` is CF's name on the wire (`Upsert`, or `Delete` for deletions and expiries);
/// `action` tells a deletion from an expiry. The object's text is the codec's, byte for
/// byte, so its fields keep the dialect's order.
pub(crate) fn event(event: &Event) -> String {
    let action = match event.action {
        Action::Upsert => "Upsert",
        Action::Delete => "Delete",
        Action::Expire => "Expire",
    };
    let (kind, object) = object(&event.object);
    format!(
        r#"{{"revision":{},"event":"{}","action":"{action}","kind":"{kind}","object":{object}}}"#,
        event.revision,
        event.action.cf_name(),
    )
}

/// A JSON array of events.
pub(crate) fn events(events: &[Event]) -> String {
    array(events.iter().map(event))
}

/// A JSON array of JSON texts.
fn array(items: impl Iterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// A snapshot as documented on `ry_registry_snapshot_json`.
pub(crate) fn snapshot(snapshot: &Snapshot) -> String {
    let http = snapshot
        .http_routes
        .iter()
        .map(|r| with_expiry(cf::encode(r), r.expires_at.as_nanos()));
    let tcp = snapshot
        .tcp_route_mappings
        .iter()
        .map(|m| with_expiry(cf::encode(m), m.expires_at.as_nanos()));
    format!(
        r#"{{"revision":{},"router_groups":{},"http_routes":{},"tcp_route_mappings":{},"port_reservations":{},"services":{},"routes":{},"upstreams":{},"servers":{}}}"#,
        snapshot.revision,
        cf::encode(&snapshot.router_groups),
        array(http),
        array(tcp),
        cf::encode(&snapshot.port_reservations),
        array(snapshot.services.iter().map(kong::encode_service)),
        array(snapshot.routes.iter().map(kong::encode_route)),
        array(snapshot.upstreams.iter().map(upstream::encode_upstream)),
        array(snapshot.servers.iter().map(server::encode_named)),
    )
}

/// The names of the changes a batch may hold, in the order the header lists them.
const CHANGES: &str = "upsert_http_route, delete_http_route, upsert_tcp_route_mapping, \
                       delete_tcp_route_mapping, create_router_group, update_router_group, \
                       delete_router_group, reserve_port, release_port, upsert_service, \
                       put_service, delete_service, upsert_route, put_route, delete_route, \
                       put_upstream, delete_upstream, create_server, delete_server";

/// Decodes a batch as documented on `ry_registry_apply_json`. CF objects go through
/// the core's CF decoder, so they are read exactly as the CF functions read them.
pub(crate) fn decode_changes(text: &str) -> Result<Vec<Change>, ry_error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ry_error::bad_json(format!("the batch is not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(ry_error::bad_json(
            "the batch must be a JSON array of changes",
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            decode_change(item).map_err(|m| ry_error::bad_json(format!("change {i}: {m}")))
        })
        .collect()
}

/// One change; the error is the message without the change's index.
fn decode_change(item: Value) -> Result<Change, String> {
    let Value::Object(map) = item else {
        return Err(format!(
            "must be an object with one key naming the change ({CHANGES})"
        ));
    };
    if map.len() != 1 {
        return Err(format!(
            "must have exactly one key naming the change ({CHANGES}), found {}",
            map.len()
        ));
    }
    let Some((name, arg)) = map.into_iter().next() else {
        return Err("empty change".into());
    };
    let cf_error = |e: routeyard_core::Error| format!("{name}: {}", e.message());
    let one = |arg: Value| Value::Array(vec![arg]).to_string();
    let change = match name.as_str() {
        "upsert_http_route" | "delete_http_route" => {
            let route = cf::decode_http_routes(one(arg).as_bytes())
                .map_err(cf_error)?
                .pop()
                .ok_or("the decoder returned no route")?;
            if name == "upsert_http_route" {
                Change::UpsertHttpRoute(route)
            } else {
                Change::DeleteHttpRoute(route)
            }
        }
        "upsert_tcp_route_mapping" | "delete_tcp_route_mapping" => {
            let mapping = cf::decode_tcp_route_mappings(one(arg).as_bytes())
                .map_err(cf_error)?
                .pop()
                .ok_or("the decoder returned no mapping")?;
            if name == "upsert_tcp_route_mapping" {
                Change::UpsertTcpRouteMapping(mapping)
            } else {
                Change::DeleteTcpRouteMapping(mapping)
            }
        }
        "create_router_group" => Change::CreateRouterGroup(
            cf::decode_router_group(arg.to_string().as_bytes()).map_err(cf_error)?,
        ),
        "update_router_group" => {
            let mut args = Args::new(&name, arg)?;
            Change::UpdateRouterGroup {
                guid: args.string("guid")?,
                reservable_ports: args.string("reservable_ports")?,
            }
        }
        "delete_router_group" => {
            let mut args = Args::new(&name, arg)?;
            Change::DeleteRouterGroup {
                guid: args.string("guid")?,
            }
        }
        "reserve_port" => {
            let mut args = Args::new(&name, arg)?;
            Change::ReservePort {
                router_group_guid: args.string("router_group_guid")?,
                ttl: args.optional_u64("ttl", u64::MAX)?.map(Duration::from_secs),
            }
        }
        "release_port" => {
            let mut args = Args::new(&name, arg)?;
            let port = args
                .optional_u64("port", u64::from(u16::MAX))?
                .ok_or_else(|| format!("{name}: `port` is required"))?;
            Change::ReleasePort {
                router_group_guid: args.string("router_group_guid")?,
                port: u16::try_from(port).map_err(|e| e.to_string())?,
            }
        }
        "upsert_service" => Change::UpsertService(kong_service(&name, &arg)?),
        "upsert_route" => Change::UpsertRoute(kong_route(&name, &arg)?),
        "put_service" => {
            let mut args = Args::new(&name, arg)?;
            let key = args.string("key")?;
            let service = kong_service(&name, &args.required("service")?)?;
            Change::PutService { key, service }
        }
        "put_route" => {
            let mut args = Args::new(&name, arg)?;
            let key = args.string("key")?;
            let route = kong_route(&name, &args.required("route")?)?;
            Change::PutRoute { key, route }
        }
        "delete_service" => {
            let mut args = Args::new(&name, arg)?;
            Change::DeleteService {
                key: args.string("key")?,
            }
        }
        "delete_route" => {
            let mut args = Args::new(&name, arg)?;
            Change::DeleteRoute {
                key: args.string("key")?,
            }
        }
        "put_upstream" => {
            let mut args = Args::new(&name, arg)?;
            let service = args.string("service")?;
            let (backends, config) = upstream::decode_pool(&name, args.map)?;
            Change::PutUpstream {
                service,
                backends,
                config,
            }
        }
        "delete_upstream" => {
            let mut args = Args::new(&name, arg)?;
            Change::DeleteUpstream {
                service: args.string("service")?,
            }
        }
        "create_server" => {
            let mut args = Args::new(&name, arg)?;
            let server_name = args.string("name")?;
            let server = server::decode_server(&name, args.required("server")?)?;
            Change::CreateServer {
                name: server_name,
                server: Box::new(server),
            }
        }
        "delete_server" => {
            let mut args = Args::new(&name, arg)?;
            Change::DeleteServer {
                name: args.string("name")?,
            }
        }
        other => {
            return Err(format!(
                "unknown change `{other}`; expected one of {CHANGES}"
            ))
        }
    };
    Ok(change)
}

/// A Kong service read by the core's Kong decoder; the error is Kong's message.
fn kong_service(context: &str, value: &Value) -> Result<routeyard_core::Service, String> {
    kong::decode_service(value.to_string().as_bytes())
        .map_err(|e| format!("{context}: {}", kong::KongError::from(&e).message))
}

/// A Kong route read by the core's Kong decoder; the error is Kong's message.
fn kong_route(context: &str, value: &Value) -> Result<routeyard_core::Route, String> {
    kong::decode_route(value.to_string().as_bytes())
        .map_err(|e| format!("{context}: {}", kong::KongError::from(&e).message))
}

/// The keys of a snapshot, as `ry_registry_snapshot_json` writes them.
const SNAPSHOT_KEYS: [&str; 9] = [
    "revision",
    "router_groups",
    "http_routes",
    "tcp_route_mappings",
    "port_reservations",
    "services",
    "routes",
    "upstreams",
    "servers",
];

/// Decodes a snapshot as `ry_registry_snapshot_json` writes it. Every key is required
/// (a misspelt list would otherwise restore as empty), except `upstreams` and `servers`,
/// which older snapshots lack, and no other is allowed; objects go through the core's
/// codecs, and `expires_at` is taken from each leased object.
pub(crate) fn decode_snapshot(text: &str) -> Result<Snapshot, ry_error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ry_error::bad_json(format!("the snapshot is not JSON: {e}")))?;
    let mut args = Args::new("snapshot", value).map_err(ry_error::bad_json)?;
    let snapshot = read_snapshot(&mut args).map_err(ry_error::bad_json)?;
    if let Some(key) = args.map.keys().next() {
        return Err(ry_error::bad_json(format!(
            "snapshot: unknown key `{key}`; expected {}",
            SNAPSHOT_KEYS.join(", ")
        )));
    }
    Ok(snapshot)
}

fn read_snapshot(args: &mut Args<'_>) -> Result<Snapshot, String> {
    let revision = args
        .optional_u64("revision", u64::MAX)?
        .ok_or("snapshot: `revision` is required")?;
    let mut snapshot = Snapshot {
        revision,
        ..Snapshot::default()
    };
    for (i, item) in args.list("router_groups")?.into_iter().enumerate() {
        let group = cf::decode_router_group(item.to_string().as_bytes())
            .map_err(|e| format!("router_groups[{i}]: {}", e.message()))?;
        snapshot.router_groups.push(group);
    }
    for (i, item) in args.list("http_routes")?.into_iter().enumerate() {
        let context = format!("http_routes[{i}]");
        let (item, expires_at) = take_expiry(&context, item)?;
        let mut route = cf::decode_http_routes(Value::Array(vec![item]).to_string().as_bytes())
            .map_err(|e| format!("{context}: {}", e.message()))?
            .pop()
            .ok_or_else(|| format!("{context}: the decoder returned no route"))?;
        route.expires_at = expires_at;
        snapshot.http_routes.push(route);
    }
    for (i, item) in args.list("tcp_route_mappings")?.into_iter().enumerate() {
        let context = format!("tcp_route_mappings[{i}]");
        let (item, expires_at) = take_expiry(&context, item)?;
        let mut mapping =
            cf::decode_tcp_route_mappings(Value::Array(vec![item]).to_string().as_bytes())
                .map_err(|e| format!("{context}: {}", e.message()))?
                .pop()
                .ok_or_else(|| format!("{context}: the decoder returned no mapping"))?;
        mapping.expires_at = expires_at;
        snapshot.tcp_route_mappings.push(mapping);
    }
    for (i, item) in args.list("port_reservations")?.into_iter().enumerate() {
        let context = format!("port_reservations[{i}]");
        let mut fields = Args::new(&context, item)?;
        let router_group_guid = fields.string("router_group_guid")?;
        let port = fields
            .optional_u64("port", u64::from(u16::MAX))?
            .ok_or_else(|| format!("{context}: `port` is required"))?;
        let expires_at = fields
            .optional_u64("expires_at", u64::MAX)?
            .ok_or_else(|| format!("{context}: `expires_at` is required"))?;
        snapshot.port_reservations.push(PortReservation {
            router_group_guid: router_group_guid.into(),
            port: u16::try_from(port).map_err(|e| format!("{context}: {e}"))?,
            expires_at: Timestamp::from_nanos(expires_at),
        });
    }
    for (i, item) in args.list("services")?.into_iter().enumerate() {
        let service = kong_service(&format!("services[{i}]"), &item)?;
        snapshot.services.push(service);
    }
    for (i, item) in args.list("routes")?.into_iter().enumerate() {
        let route = kong_route(&format!("routes[{i}]"), &item)?;
        snapshot.routes.push(route);
    }
    // `upstreams` and `servers` may be absent: snapshots written before they existed
    // hold none.
    for (i, item) in args.optional_list("upstreams")?.into_iter().enumerate() {
        let upstream = upstream::decode_upstream(&format!("upstreams[{i}]"), item)?;
        snapshot.upstreams.push(upstream);
    }
    for (i, item) in args.optional_list("servers")?.into_iter().enumerate() {
        let server = server::decode_named(&format!("servers[{i}]"), item)?;
        snapshot.servers.push(server);
    }
    Ok(snapshot)
}

/// Removes the `expires_at` a snapshot adds to a leased CF object.
fn take_expiry(context: &str, item: Value) -> Result<(Value, Timestamp), String> {
    let Value::Object(mut map) = item else {
        return Err(format!("{context}: must be a JSON object"));
    };
    match map.remove("expires_at") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(nanos) => Ok((Value::Object(map), Timestamp::from_nanos(nanos))),
            None => Err(format!("{context}: `expires_at` must be an integer")),
        },
        None => Err(format!("{context}: `expires_at` is required")),
        Some(_) => Err(format!("{context}: `expires_at` must be an integer")),
    }
}

/// The argument object of a change that is not a CF object.
struct Args<'a> {
    change: &'a str,
    map: Map<String, Value>,
}

impl<'a> Args<'a> {
    fn new(change: &'a str, arg: Value) -> Result<Args<'a>, String> {
        match arg {
            Value::Object(map) => Ok(Args { change, map }),
            _ => Err(format!("{change}: the argument must be a JSON object")),
        }
    }

    /// A required field of any type.
    fn required(&mut self, field: &str) -> Result<Value, String> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Err(format!("{}: `{field}` is required", self.change)),
            Some(value) => Ok(value),
        }
    }

    /// A required array field.
    fn list(&mut self, field: &str) -> Result<Vec<Value>, String> {
        match self.required(field)? {
            Value::Array(items) => Ok(items),
            _ => Err(format!("{}: `{field}` must be an array", self.change)),
        }
    }

    /// An optional array field; absent and `null` are empty.
    fn optional_list(&mut self, field: &str) -> Result<Vec<Value>, String> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(format!("{}: `{field}` must be an array", self.change)),
        }
    }

    /// A required string field.
    fn string(&mut self, field: &str) -> Result<String, String> {
        match self.map.remove(field) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) => Err(format!("{}: `{field}` is required", self.change)),
            Some(_) => Err(format!("{}: `{field}` must be a string", self.change)),
        }
    }

    /// An optional integer field in `0..=max`; absent and `null` are `None`.
    fn optional_u64(&mut self, field: &str, max: u64) -> Result<Option<u64>, String> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(format!(
                    "{}: `{field}` must be an integer from 0 to {max}",
                    self.change
                )),
            },
            Some(_) => Err(format!("{}: `{field}` must be an integer", self.change)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ry_status;

    #[test]
    fn every_change_decodes() {
        let batch = r#"[
            {"create_router_group": {"name": "g", "type": "tcp", "reservable_ports": "5000"}},
            {"update_router_group": {"guid": "x", "reservable_ports": "5000-5001"}},
            {"delete_router_group": {"guid": "x"}},
            {"reserve_port": {"router_group_guid": "x", "ttl": 30}},
            {"reserve_port": {"router_group_guid": "x"}},
            {"release_port": {"router_group_guid": "x", "port": 5000}},
            {"upsert_http_route": {"route": "a.com", "ip": "1.2.3.4", "port": 80}},
            {"delete_http_route": {"route": "a.com", "ip": "1.2.3.4", "port": 80}},
            {"upsert_tcp_route_mapping": {"router_group_guid": "x", "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 80}},
            {"delete_tcp_route_mapping": {"router_group_guid": "x", "port": 5000, "backend_ip": "1.2.3.4", "backend_port": 80}}
        ]"#;
        let changes = decode_changes(batch).unwrap();
        assert_eq!(changes.len(), 10);
        let kong = r#"[
            {"upsert_service": {"name": "s", "host": "h"}},
            {"put_service": {"key": "s", "service": {"host": "h"}}},
            {"delete_service": {"key": "s"}},
            {"upsert_route": {"paths": ["/"]}},
            {"put_route": {"key": "r", "route": {"paths": ["/"]}}},
            {"delete_route": {"key": "r"}}
        ]"#;
        let kong = decode_changes(kong).unwrap();
        assert!(matches!(&kong[0], Change::UpsertService(s) if s.host == "h"));
        assert!(
            matches!(&kong[1], Change::PutService { key, service } if key == "s" && service.host == "h")
        );
        assert_eq!(kong[2], Change::DeleteService { key: "s".into() });
        assert!(matches!(&kong[3], Change::UpsertRoute(r) if r.paths.is_some()));
        assert!(matches!(&kong[4], Change::PutRoute { key, .. } if key == "r"));
        assert_eq!(kong[5], Change::DeleteRoute { key: "r".into() });
        assert_eq!(
            changes[3],
            Change::ReservePort {
                router_group_guid: "x".into(),
                ttl: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            changes[5],
            Change::ReleasePort {
                router_group_guid: "x".into(),
                port: 5000
            }
        );
    }

    #[test]
    fn bad_batches_name_the_change() {
        for (batch, expected) in [
            ("{}", "the batch must be a JSON array of changes"),
            ("[1]", "change 0: must be an object"),
            (r#"[{}]"#, "change 0: must have exactly one key"),
            (
                r#"[{"a":{},"b":{}}]"#,
                "change 0: must have exactly one key",
            ),
            (
                r#"[{"create_router_group":{"name":"g","type":"tcp"}}, {"nope":{}}]"#,
                "change 1: unknown change `nope`",
            ),
            (
                r#"[{"release_port":{"router_group_guid":"x","port":70000}}]"#,
                "change 0: release_port: `port` must be an integer from 0 to 65535",
            ),
            (
                r#"[{"release_port":{"router_group_guid":"x"}}]"#,
                "change 0: release_port: `port` is required",
            ),
            (
                r#"[{"delete_router_group":{"guid":5}}]"#,
                "change 0: delete_router_group: `guid` must be a string",
            ),
            (
                r#"[{"upsert_http_route":{"port":"80"}}]"#,
                "change 0: upsert_http_route: invalid type",
            ),
            (
                r#"[{"reserve_port":[]}]"#,
                "change 0: reserve_port: the argument must be a JSON object",
            ),
        ] {
            let err = decode_changes(batch).unwrap_err();
            assert_eq!(err.status(), ry_status::RyErrInvalidJson, "{batch}");
            assert!(
                err.message_text().starts_with(expected),
                "{batch}: {}",
                err.message_text()
            );
        }
    }

    /// A registry holding one object of every kind, leases and Kong extras included.
    fn populated() -> routeyard_core::Registry {
        use routeyard_core::dialect::{cf, kong};
        use routeyard_core::{Config, ManualClock, Registry};
        let clock = ManualClock::new(Timestamp::from_secs(1_000));
        let registry = Registry::new(Config::new().clock(clock));
        let group = cf::decode_router_group(
            br#"{"name":"tcp-a","type":"tcp","reservable_ports":"2000-2010"}"#,
        )
        .unwrap();
        let (group, _) = registry.create_router_group(group).unwrap();
        let mapping = format!(
            r#"[{{"router_group_guid":"{}","port":2000,"backend_ip":"10.1.0.1","backend_port":7000,"ttl":30,"backend_sni_hostname":"a.test","isolation_segment":"is1"}}]"#,
            group.guid
        );
        registry
            .upsert_tcp_route_mappings(cf::decode_tcp_route_mappings(mapping.as_bytes()).unwrap())
            .unwrap();
        registry.reserve_port(&group.guid, None).unwrap();
        let routes = br#"[{"route":"app.example.com/api","ip":"10.0.0.1","port":8080,"ttl":60,"log_guid":"lg","route_service_url":"https://rs.example.com"},{"route":"app.example.com","ip":"10.0.0.2","port":8080}]"#;
        registry
            .upsert_http_routes(cf::decode_http_routes(routes).unwrap())
            .unwrap();
        let service = registry
            .create_service(
                kong::decode_service(
                    br#"{"name":"billing","url":"https://b.internal:8443/v1","tags":["t"]}"#,
                )
                .unwrap(),
            )
            .unwrap();
        let route = format!(
            r#"{{"name":"invoices","paths":["/invoices"],"hosts":["b.test"],"headers":{{"x-v":["1"]}},"priority":3,"path_mode":"segment","service":{{"id":"{}"}}}}"#,
            service.id
        );
        registry
            .create_route(kong::decode_route(route.as_bytes()).unwrap())
            .unwrap();
        let stream = r#"{"protocols":["tcp"],"sources":[{"ip":"10.0.0.0/8"}],"destinations":[{"port":9000}]}"#;
        registry
            .create_route(kong::decode_route(stream.as_bytes()).unwrap())
            .unwrap();
        registry
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_snapshot() {
        let registry = populated();
        let original = registry.snapshot();
        let text = snapshot(&original);
        let mut decoded = decode_snapshot(&text).unwrap();
        decoded.sort();
        assert_eq!(decoded, original);
        // And the text is stable: written again, it is the same bytes.
        assert_eq!(snapshot(&decoded), text);
    }

    #[test]
    fn events_wrap_the_codecs_bytes() {
        use routeyard_core::dialect::{cf, kong};
        let registry = populated();
        let mut events = registry
            .subscribe(routeyard_core::Filter::all(), Some(0))
            .unwrap();
        let snapshot = registry.snapshot();
        let first = events.try_recv().unwrap().unwrap();
        assert_eq!(
            event(&first),
            format!(
                r#"{{"revision":1,"event":"Upsert","action":"Upsert","kind":"router_group","object":{}}}"#,
                cf::encode(&snapshot.router_groups[0])
            )
        );
        let all: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok().flatten()).collect();
        let last = all.last().unwrap();
        let stream = snapshot.routes.iter().find(|r| r.name.is_none()).unwrap();
        assert_eq!(
            event(last),
            format!(
                r#"{{"revision":{},"event":"Upsert","action":"Upsert","kind":"route","object":{}}}"#,
                last.revision,
                kong::encode_route(stream)
            )
        );
        assert_eq!(events_text_len(&all), all.len());
    }

    /// How many events a JSON array of events holds, read back with serde_json.
    fn events_text_len(all: &[Event]) -> usize {
        let value: Value = serde_json::from_str(&events(all)).unwrap();
        value.as_array().unwrap().len()
    }
}
