//! The backends of a Kong service: `PUT`, `GET` and `DELETE`
//! `/services/{name or id}/upstream`, and `GET /services/{name or id}/stats`.
//!
//! Kong keeps a service's targets in a separate upstream object; here a service
//! holds its backends, balancing strategy and version split directly, in the
//! registry's own shapes (`routeyard::balance::{Backend, PoolConfig}`):
//!
//! ```json
//! {"backends": [{"address": "10.0.0.1", "port": 8080, "weight": 3, "tier": 0,
//!                "version": "v1", "max_connections": 100, "state": "live"}],
//!  "config": {"strategy": "roundrobin"}}
//! ```
//!
//! `PUT` replaces all of it (a split in `config` too: leaving it out removes the
//! split) and answers 201 when the service had no backends before, else 200, with
//! the stored upstream. `DELETE` answers 204, also when there was nothing (as
//! Kong's deletes). Errors are Kong's `{"message": ...}`. The backends of a
//! gobetween server's service are that server's: they change through
//! `/servers/{name}` only (409 here).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use routeyard::balance::{Backend, PoolConfig};
use routeyard::{ErrorKind, Service};
use serde::Deserialize;

use crate::app::{json_response, AppState};
use crate::auth::{ROUTES_READ, ROUTES_WRITE};
use crate::kong::{authorize, KongFail};

/// The tag the registry puts on the service a gobetween server lands as.
const GOBETWEEN_TAG: &str = "gobetween";

/// The upstream endpoints.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/services/{service}/upstream",
            get(get_upstream).put(put_upstream).delete(delete_upstream),
        )
        .route("/services/{service}/stats", get(get_stats))
}

/// The body of `PUT /services/{service}/upstream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamBody {
    backends: Vec<Backend>,
    #[serde(default)]
    config: PoolConfig,
}

/// The service, or Kong's 404.
fn service(state: &AppState, key: &str) -> Result<Service, KongFail> {
    state.registry.service(key).ok_or_else(KongFail::not_found)
}

/// Refuses changes to the backends of a gobetween server's service.
fn not_a_server(state: &AppState, service: &Service) -> Result<(), KongFail> {
    let Some(name) = &service.name else {
        return Ok(());
    };
    let tagged = service
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == GOBETWEEN_TAG));
    if tagged && state.registry.server(name).is_some() {
        return Err(KongFail::plain(
            409,
            format!(
                "the backends of service '{name}' belong to the gobetween server '{name}': \
                 change them through /servers/{name}"
            ),
        ));
    }
    Ok(())
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    // The upstream and statistics shapes hold strings, numbers, booleans,
    // lists and string-keyed maps only: encoding cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// `PUT /services/{service}/upstream`.
async fn put_upstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let service = service(&state, &key)?;
    not_a_server(&state, &service)?;
    let wanted: UpstreamBody = serde_json::from_slice(&body)
        .map_err(|err| KongFail::plain(400, format!("cannot read the upstream: {err}")))?;
    let existed = state.registry.upstream(&service.id).is_some();
    let upstream = state
        .registry
        .put_upstream(&service.id, wanted.backends, wanted.config)?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(status, encode(&upstream)))
}

/// `GET /services/{service}/upstream`: 404 when the service is unknown or has
/// no backends.
async fn get_upstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let upstream = state
        .registry
        .upstream(&key)
        .ok_or_else(KongFail::not_found)?;
    Ok(json_response(StatusCode::OK, encode(&upstream)))
}

/// `DELETE /services/{service}/upstream`: 204, also when there was nothing.
async fn delete_upstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    if let Some(service) = state.registry.service(&key) {
        not_a_server(&state, &service)?;
    }
    match state.registry.delete_upstream(&key) {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) => Err(err.into()),
    }
}

/// `GET /services/{service}/stats`: the counters of the service's backends in
/// gobetween's shape (`active_connections`, `rx_total`, `tx_total`, `rx_second`,
/// `tx_second`, `backends`); 404 when it has no backends.
async fn get_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let pool = state.registry.pool(&key).ok_or_else(KongFail::not_found)?;
    Ok(json_response(StatusCode::OK, encode(&pool.stats())))
}
