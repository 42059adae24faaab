//! Cloud Foundry routing-api v1: HTTP routes, TCP route mappings and router groups,
//! with CF's status codes, error bodies and scopes.
//!
//! Bodies are decoded and checked by the core (`routeyard::dialect::cf` and the
//! registry); this module only maps requests and answers.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use routeyard::dialect::cf;
use routeyard::ErrorKind;

use crate::app::{json_response, AppState, CfError, KeepBody};
use crate::auth::{ROUTER_GROUPS_READ, ROUTER_GROUPS_WRITE, ROUTES_READ, ROUTES_WRITE};
use crate::query;

/// The registry's revision before a list was read: subscribing to the matching
/// event stream with this as `Last-Event-ID` misses no change made after the list.
pub(crate) const REVISION_HEADER: &str = "x-routeyard-revision";

/// CF's warning on every router group update, sent URL-encoded in `X-Cf-Warnings`.
const PORTS_WARNING: &str = "Routes on ports outside the new reservable_ports stay \
registered, but become unreachable once a load balancer stops forwarding those ports.";

/// The CF endpoints.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/routing/v1/routes",
            get(list_routes).post(upsert_routes).delete(delete_routes),
        )
        .route("/routing/v1/tcp_routes", get(list_tcp_routes))
        .route("/routing/v1/tcp_routes/create", post(upsert_tcp_routes))
        .route("/routing/v1/tcp_routes/delete", post(delete_tcp_routes))
        .route(
            "/routing/v1/router_groups",
            get(list_router_groups).post(create_router_group),
        )
        .route(
            "/routing/v1/router_groups/{guid}",
            put(update_router_group).delete(delete_router_group),
        )
        .route("/routing/v1/events", get(crate::events::http_events))
        .route(
            "/routing/v1/tcp_routes/events",
            get(crate::events::tcp_events),
        )
}

fn authorize(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<(), CfError> {
    state
        .authorize(headers, scope)
        .map_err(CfError::unauthorized)
}

/// A JSON list with the revision it was read at.
fn list_response(revision: u64, json: String) -> Response {
    let mut response = json_response(StatusCode::OK, json);
    response.headers_mut().insert(
        HeaderName::from_static(REVISION_HEADER),
        HeaderValue::from(revision),
    );
    response
}

/// `GET /routing/v1/routes`: every live HTTP route.
async fn list_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_READ)?;
    let revision = state.registry.revision();
    let routes = state.registry.http_routes();
    Ok(list_response(revision, cf::encode(&routes)))
}

/// `POST /routing/v1/routes`: creates or renews a batch, all or none; 201, no body.
async fn upsert_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let routes = cf::decode_http_routes(&body)?;
    state.registry.upsert_http_routes(routes)?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /routing/v1/routes`: removes a batch; 204 even for unknown routes.
async fn delete_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let routes = cf::decode_http_routes(&body)?;
    state.registry.delete_http_routes(&routes)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /routing/v1/tcp_routes[?isolation_segment=X...]`: live TCP mappings, those
/// of any of the named segments when filtered (an empty value: no segment).
async fn list_tcp_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_READ)?;
    let pairs = query::pairs(raw.as_deref());
    let segments = query::all(&pairs, "isolation_segment");
    let revision = state.registry.revision();
    let mappings = if segments.is_empty() {
        state.registry.tcp_route_mappings()
    } else {
        state.registry.tcp_route_mappings_in(&segments)
    };
    Ok(list_response(revision, cf::encode(&mappings)))
}

/// `POST /routing/v1/tcp_routes/create`: creates or renews a batch; 201, no body.
/// Validation failures travel as `ProcessRequestError`, as in CF.
async fn upsert_tcp_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let mappings = cf::decode_tcp_route_mappings(&body)?;
    state.registry.upsert_tcp_route_mappings(mappings)?;
    Ok(StatusCode::CREATED.into_response())
}

/// `POST /routing/v1/tcp_routes/delete`: removes a batch; 204 even for unknown ones.
async fn delete_tcp_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let mappings = cf::decode_tcp_route_mappings(&body)?;
    state.registry.delete_tcp_route_mappings(&mappings)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /routing/v1/router_groups[?name=NAME]`: every group, or the one named NAME as
/// a one-element array (404 if there is none). An empty name lists every group.
async fn list_router_groups(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTER_GROUPS_READ)?;
    let pairs = query::pairs(raw.as_deref());
    let revision = state.registry.revision();
    let json = match query::first(&pairs, "name").filter(|name| !name.is_empty()) {
        None => cf::encode(&state.registry.router_groups()),
        Some(name) => cf::encode(&[state.registry.router_group_by_name(name)?]),
    };
    Ok(list_response(revision, json))
}

/// `POST /routing/v1/router_groups`: 201 with the new group, or 200 with the existing
/// one when a group of that name and type exists.
async fn create_router_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTER_GROUPS_WRITE)?;
    let group = cf::decode_router_group(&body)?;
    let (group, created) = state.registry.create_router_group(group)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, cf::encode(&group)))
}

/// `PUT /routing/v1/router_groups/{guid}`: replaces `reservable_ports` (the body's
/// name and type are ignored, as in CF); 200 with the group and an `X-Cf-Warnings`
/// header.
async fn update_router_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTER_GROUPS_WRITE)?;
    let wanted = cf::decode_router_group(&body)?;
    let group = state
        .registry
        .update_router_group(&guid, &wanted.reservable_ports)?;
    let mut response = json_response(StatusCode::OK, cf::encode(&group));
    if let Ok(value) = HeaderValue::from_str(&query::query_escape(PORTS_WARNING)) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-cf-warnings"), value);
    }
    Ok(response)
}

/// `DELETE /routing/v1/router_groups/{guid}`: 204; an unknown guid is 404 with an
/// empty body, as in CF.
async fn delete_router_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(guid): Path<String>,
) -> Result<Response, CfError> {
    authorize(&state, &headers, ROUTER_GROUPS_WRITE)?;
    match state.registry.delete_router_group(&guid) {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let mut response = StatusCode::NOT_FOUND.into_response();
            response.extensions_mut().insert(KeepBody);
            Ok(response)
        }
        Err(err) => Err(err.into()),
    }
}
