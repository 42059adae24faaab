//! Debugging endpoints: what the matcher answers for a described request, and a
//! few counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use routeyard::balance::{Backend as PoolMember, PickInput};
use routeyard::dialect::kong::Wire;
use routeyard::{Backend, Found, Match, Matched, Protocol, Request};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::{json_response, AppState};

/// The debug endpoints.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/debug/match", post(find))
        .route("/debug/stats", get(stats))
}

/// A header's value, or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

/// The body of `POST /debug/match`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    #[serde(default)]
    protocol: Option<Protocol>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, HeaderValues>,
    #[serde(default)]
    sni: Option<String>,
    #[serde(default)]
    source: Option<SocketAddr>,
    #[serde(default)]
    destination: Option<SocketAddr>,
    /// For a stream request to CF TCP mappings: the router group's guid.
    #[serde(default)]
    router_group: Option<String>,
    /// Also choose a live backend, as a proxy would: for a Kong route, from its
    /// service's backends by their strategy, tiers and split; for CF routes, a
    /// live registration round robin.
    #[serde(default)]
    pick: bool,
    /// For a Kong route: the caller key of a pick (consistent hashing, sticky
    /// splits).
    #[serde(default)]
    key: Option<String>,
    /// For a Kong route: pin the pick to this version's backends, bypassing the
    /// split.
    #[serde(default)]
    version: Option<String>,
    /// For a Kong route: pick, then count one connection to the backend, opened
    /// and closed (honouring its `max_connections`), with `rx` and `tx` bytes, as a
    /// proxy would report it; the backend's statistics show it.
    #[serde(default)]
    connect: bool,
    /// Bytes received from the backend on the counted connection.
    #[serde(default)]
    rx: u64,
    /// Bytes sent to the backend on the counted connection.
    #[serde(default)]
    tx: u64,
}

/// The facts a pick from a service's pool adds to the chosen backend.
fn member(backend: &PoolMember) -> Value {
    json!({
        "address": backend.address,
        "port": backend.port,
        "weight": backend.weight,
        "tier": backend.tier,
        "version": backend.version,
    })
}

/// Runs the pick (or connection) the description asks for on a found route.
fn choose(found: &Found<'_>, described: &MatchRequest) -> (Match, Option<Value>) {
    let mut m = found.to_match(false);
    if !(described.pick || described.connect) {
        return (m, None);
    }
    if found.route().is_none() || found.pool().is_none() {
        // CF routes and TCP mappings: their registrations, round robin.
        m = found.to_match(true);
        let backend = m.backend.as_ref().map(|b| {
            json!({
                "address": &*b.address,
                "port": b.port,
            })
        });
        return (m, backend);
    }
    let mut input = PickInput::new();
    if let Some(source) = described.source {
        input = input.client_ip(source.ip());
    }
    if let Some(key) = &described.key {
        input = input.key(key.as_bytes());
    }
    if let Some(version) = &described.version {
        input = input.version(version);
    }
    let chosen = if described.connect {
        found.connect(&input).map(|connection| {
            connection.established();
            connection.add_rx(described.rx);
            connection.add_tx(described.tx);
            // Dropping the connection closes it.
            connection.backend().clone()
        })
    } else {
        found.pick_with(&input).map(|entry| entry.backend().clone())
    };
    m.backend = chosen.as_ref().map(|b| Backend {
        address: b.address.as_str().into(),
        port: b.port,
    });
    (m, chosen.as_ref().map(member))
}

fn bad_request(message: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({ "message": message }).to_string(),
    )
}

/// `POST /debug/match`: runs the matcher on a described request. 200 with the
/// route, its service, the upstream path and host, the captures and (with `pick`
/// or `connect`) a backend (with its weight, tier and version when it comes from a
/// service's backends); 404 with the request as the matcher saw it when nothing
/// matches.
async fn find(State(state): State<AppState>, body: Bytes) -> Response {
    let described: MatchRequest = match serde_json::from_slice(&body) {
        Ok(described) => described,
        Err(err) => return bad_request(format!("cannot read the request description: {err}")),
    };
    let headers: Vec<(&str, &str)> = described
        .headers
        .iter()
        .flat_map(|(name, values)| match values {
            HeaderValues::One(value) => vec![(name.as_str(), value.as_str())],
            HeaderValues::Many(values) => {
                values.iter().map(|v| (name.as_str(), v.as_str())).collect()
            }
        })
        .collect();
    let mut request = Request::new(
        described.method.as_deref().unwrap_or("GET"),
        described.host.as_deref().unwrap_or(""),
        described.path.as_deref().unwrap_or("/"),
    )
    .protocol(described.protocol.unwrap_or(Protocol::Http))
    .headers(&headers);
    request.sni = described.sni.as_deref();
    request.source = described.source;
    request.destination = described.destination;
    request.router_group = described.router_group.as_deref();
    let found = state
        .registry
        .lookup(&request, |found| choose(found, &described));
    match found {
        Some((m, backend)) => json_response(StatusCode::OK, describe(&m, backend).to_string()),
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({
                "message": "no route matches the request",
                "revision": state.registry.revision(),
                "request": {
                    "protocol": request.protocol.as_str(),
                    "method": request.method,
                    "host": request.host,
                    "path": request.path,
                    "headers": headers,
                    "sni": request.sni,
                    "source": request.source.map(|a| a.to_string()),
                    "destination": request.destination.map(|a| a.to_string()),
                },
            })
            .to_string(),
        ),
    }
}

fn describe(m: &Match, backend: Option<Value>) -> Value {
    let matched = match &m.matched {
        Matched::Route(route) => json!({ "kind": "route", "route": Wire(&**route) }),
        Matched::CfRoute(route) => json!({ "kind": "cf_route", "route": &**route }),
        Matched::TcpRoute {
            router_group_guid,
            port,
        } => json!({
            "kind": "tcp_route",
            "router_group_guid": &**router_group_guid,
            "port": port,
        }),
        other => json!({ "kind": "other", "route": format!("{other:?}") }),
    };
    json!({
        "matched": matched,
        "service": m.service.as_deref().map(Wire),
        "upstream_path": m.upstream_path,
        "upstream_host": m.upstream_host,
        "matched_path": m.matched_path,
        "captures": m.captures.iter().map(|c| json!({
            "index": c.index,
            "name": c.name,
            "value": c.value,
        })).collect::<Vec<_>>(),
        "backend": backend,
        "redirect": m.redirect,
        "revision": m.revision,
    })
}

/// `GET /debug/stats`: the revision, the number of event streams and of objects
/// (services with backends count as `upstreams`, gobetween servers as
/// `servers`).
async fn stats(State(state): State<AppState>) -> Response {
    let registry = &state.registry;
    json_response(
        StatusCode::OK,
        json!({
            "revision": registry.revision(),
            "subscribers": registry.subscriber_count(),
            "router_groups": registry.router_groups().len(),
            "http_routes": registry.http_routes().len(),
            "tcp_routes": registry.tcp_route_mappings().len(),
            "services": registry.services().len(),
            "routes": registry.routes(None).len(),
            "upstreams": registry.upstreams().len(),
            "servers": registry.servers().len(),
        })
        .to_string(),
    )
}
