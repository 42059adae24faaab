//! Kong's Admin API for services and routes: `/services`, `/services/{name or id}`,
//! `/services/{name or id}/routes[/{name or id}]`, `/routes`, `/routes/{name or id}`
//! and `/routes/{name or id}/service`.
//!
//! Bodies are decoded, patched and checked by the core (`routeyard::dialect::kong`),
//! which also writes objects, pages and error bodies as Kong does. This module adds
//! Kong's offset pagination (`?size=`, `?offset=`, default 100 and at most 1000 per
//! page), the `?tags=` filter, and Kong's status codes: 201 on create, 200 on read,
//! update and replace (201 when a PUT creates), 204 on delete (also for an unknown
//! object, as Kong's deletes are idempotent).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use routeyard::dialect::kong::{self, KongError, TagFilter, Wire};
use routeyard::{Error as CoreError, ErrorKind, Route, Service, ServiceRef};
use serde_json::Value;

use crate::app::{json_response, AppState};
use crate::auth::{ROUTES_READ, ROUTES_WRITE};
use crate::query;

/// Objects on a page unless `size` says otherwise.
const DEFAULT_PAGE: usize = 100;
/// The largest `size`.
const MAX_PAGE: usize = 1000;

/// The Kong endpoints.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{service}",
            get(get_service)
                .put(put_service)
                .patch(patch_service)
                .delete(delete_service),
        )
        .route(
            "/services/{service}/routes",
            get(list_service_routes).post(create_service_route),
        )
        .route(
            "/services/{service}/routes/{route}",
            get(get_service_route)
                .put(put_service_route)
                .patch(patch_service_route)
                .delete(delete_service_route),
        )
        .route("/routes/{route}/service", get(get_route_service))
        .route("/routes", get(list_routes).post(create_route))
        .route(
            "/routes/{route}",
            get(get_route)
                .put(put_route)
                .patch(patch_route)
                .delete(delete_route),
        )
}

/// An error answer in Kong's shape.
#[derive(Debug)]
pub(crate) struct KongFail(KongError);

impl From<CoreError> for KongFail {
    fn from(err: CoreError) -> KongFail {
        KongFail(KongError::from(&err))
    }
}

impl KongFail {
    /// An error with only a message, as Kong's 404 and 409.
    pub(crate) fn plain(status: u16, message: String) -> KongFail {
        KongFail(KongError {
            status,
            code: None,
            name: None,
            message,
            fields: Value::Null,
        })
    }

    fn coded(code: u16, name: &'static str, message: String) -> KongFail {
        KongFail(KongError {
            status: 400,
            code: Some(code),
            name: Some(name),
            message,
            fields: Value::Null,
        })
    }

    /// Kong's 404 `Not found`.
    pub(crate) fn not_found() -> KongFail {
        KongFail::plain(404, "Not found".into())
    }
}

impl IntoResponse for KongFail {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, self.0.body())
    }
}

/// With JWT authentication on, Kong's endpoints need the routes scopes too: reads
/// `routing.routes.read`, writes `routing.routes.write`.
pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(), KongFail> {
    state
        .authorize(headers, scope)
        .map_err(|message| KongFail::plain(401, message))
}

/// The page asked for by `size`, `offset` and `tags`.
struct PageQuery {
    size: usize,
    /// The `(created_at, id)` of the last object of the previous page.
    after: Option<(i64, String)>,
    tags: Option<TagFilter>,
    /// `tags` and `size` as they go into the `next` link.
    link_query: String,
}

impl PageQuery {
    fn parse(raw: Option<&str>) -> Result<PageQuery, KongFail> {
        let pairs = query::pairs(raw);
        let mut link = Vec::new();
        let tags = match query::first(&pairs, "tags") {
            None => None,
            Some(text) => {
                link.push(format!("tags={}", query::escape(text)));
                Some(TagFilter::parse(text)?)
            }
        };
        let size = match query::first(&pairs, "size") {
            None => DEFAULT_PAGE,
            Some(text) => {
                link.push(format!("size={}", query::escape(text)));
                let number: f64 = text.trim().parse().map_err(|_| {
                    KongFail::coded(9, "invalid size", "size must be a number".into())
                })?;
                if number.fract() != 0.0 || !(1.0..=MAX_PAGE as f64).contains(&number) {
                    return Err(KongFail::coded(
                        9,
                        "invalid size",
                        format!("size must be an integer between 1 and {MAX_PAGE}"),
                    ));
                }
                // A whole number in 1..=1000.
                number as usize
            }
        };
        let after = match query::first(&pairs, "offset") {
            None => None,
            Some(text) => Some(decode_offset(text)?),
        };
        Ok(PageQuery {
            size,
            after,
            tags,
            link_query: link.join("&"),
        })
    }

    /// One page of `items` (sorted by `created_at`, then id) and the offset of the
    /// next, if there is more.
    fn page<'a, T>(
        &self,
        items: &'a [T],
        key: impl Fn(&T) -> (i64, &str),
        tags: impl Fn(&T) -> &Option<Vec<String>>,
    ) -> (Vec<&'a T>, Option<String>) {
        let mut page = Vec::with_capacity(self.size.min(items.len()));
        let mut more = false;
        for item in items {
            if let Some((created_at, id)) = &self.after {
                if key(item) <= (*created_at, id.as_str()) {
                    continue;
                }
            }
            if let Some(filter) = &self.tags {
                if !filter.matches(tags(item)) {
                    continue;
                }
            }
            if page.len() == self.size {
                more = true;
                break;
            }
            page.push(item);
        }
        let next = if more {
            page.last().map(|last| encode_offset(key(last)))
        } else {
            None
        };
        (page, next)
    }

    fn base_path(&self, path: &str) -> String {
        if self.link_query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", self.link_query)
        }
    }
}

/// An offset is base64 text, as Kong's are: here the JSON `[created_at, id]` of the
/// last object of the page before.
fn encode_offset((created_at, id): (i64, &str)) -> String {
    STANDARD.encode(serde_json::json!([created_at, id]).to_string())
}

fn decode_offset(text: &str) -> Result<(i64, String), KongFail> {
    let invalid = |why: &str| {
        KongFail::coded(
            7,
            "invalid offset",
            format!("'{text}' is not a valid offset: {why}"),
        )
    };
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| invalid("bad base64 encoding"))?;
    serde_json::from_slice::<(i64, String)>(&bytes).map_err(|_| invalid("bad json encoding"))
}

fn ok(json: String) -> Response {
    json_response(StatusCode::OK, json)
}

fn created_or_ok(created: bool, json: String) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, json)
}

/// A delete that found nothing is still a success for Kong.
fn deleted(result: Result<u64, CoreError>) -> Result<Response, KongFail> {
    match result {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) => Err(err.into()),
    }
}

fn route_page(routes: &[Route], query: &PageQuery, path: &str) -> Response {
    let (page, next) = query.page(routes, |r| (r.created_at, r.id.as_str()), |r| &r.tags);
    let wires: Vec<Wire<'_, Route>> = page.into_iter().map(Wire).collect();
    ok(kong::encode_page(
        &wires,
        next.as_deref(),
        &query.base_path(path),
    ))
}

// --- Services -----------------------------------------------------------------

async fn list_services(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let query = PageQuery::parse(raw.as_deref())?;
    let services = state.registry.services();
    let (page, next) = query.page(&services, |s| (s.created_at, s.id.as_str()), |s| &s.tags);
    let wires: Vec<Wire<'_, Service>> = page.into_iter().map(Wire).collect();
    Ok(ok(kong::encode_page(
        &wires,
        next.as_deref(),
        &query.base_path("/services"),
    )))
}

async fn create_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let service = kong::decode_service(&body)?;
    let service = state.registry.create_service(service)?;
    Ok(created_or_ok(true, kong::encode_service(&service)))
}

async fn get_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let service = state
        .registry
        .service(&key)
        .ok_or_else(KongFail::not_found)?;
    Ok(ok(kong::encode_service(&service)))
}

async fn put_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let service = kong::decode_service(&body)?;
    let (service, created) = state.registry.put_service(&key, service)?;
    Ok(created_or_ok(created, kong::encode_service(&service)))
}

async fn patch_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    // Read, merge and write in one step: no other write comes in between.
    let service = state
        .registry
        .modify_service(&key, |current| kong::patch_service(current, &body))?;
    Ok(ok(kong::encode_service(&service)))
}

async fn delete_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    deleted(state.registry.delete_service(&key))
}

async fn list_service_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let service = state
        .registry
        .service(&key)
        .ok_or_else(KongFail::not_found)?;
    let query = PageQuery::parse(raw.as_deref())?;
    let routes = state.registry.routes(Some(&service.id));
    let path = format!("/services/{}/routes", service.id);
    Ok(route_page(&routes, &query, &path))
}

/// `POST /services/{name or id}/routes`: a route leading to that service, whatever
/// service the body names.
async fn create_service_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let service = state
        .registry
        .service(&key)
        .ok_or_else(KongFail::not_found)?;
    let mut route = kong::decode_route(&body)?;
    route.service = Some(ServiceRef { id: service.id });
    let route = state.registry.create_route(route)?;
    Ok(created_or_ok(true, kong::encode_route(&route)))
}

/// The route `route_key` if it leads to the service `service_key`; Kong answers 404
/// when either is missing or they are not related.
fn route_of_service(
    state: &AppState,
    service_key: &str,
    route_key: &str,
) -> Result<Route, KongFail> {
    let service = state
        .registry
        .service(service_key)
        .ok_or_else(KongFail::not_found)?;
    state
        .registry
        .route(route_key)
        .filter(|r| r.service.as_ref().is_some_and(|s| s.id == service.id))
        .ok_or_else(KongFail::not_found)
}

async fn get_service_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((service, route)): Path<(String, String)>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let route = route_of_service(&state, &service, &route)?;
    Ok(ok(kong::encode_route(&route)))
}

/// `PUT /services/{service}/routes/{route}`: creates or replaces the route, leading
/// to that service whatever the body says.
async fn put_service_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((service, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let service = state
        .registry
        .service(&service)
        .ok_or_else(KongFail::not_found)?;
    let mut route = kong::decode_route(&body)?;
    route.service = Some(ServiceRef { id: service.id });
    let (route, created) = state.registry.put_route(&key, route)?;
    Ok(created_or_ok(created, kong::encode_route(&route)))
}

async fn patch_service_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((service, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let existing = route_of_service(&state, &service, &key)?;
    let route = state.registry.modify_route(&existing.id, |current| {
        // The route must still lead to that service when the patch applies.
        if current.service != existing.service {
            return Err(CoreError::new(ErrorKind::NotFound, "Not found"));
        }
        kong::patch_route(current, &body)
    })?;
    Ok(ok(kong::encode_route(&route)))
}

/// Unlike the top-level delete, the nested one is 404 for a route that is not
/// there (or not the service's), as in Kong.
async fn delete_service_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((service, key)): Path<(String, String)>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let existing = route_of_service(&state, &service, &key)?;
    deleted(state.registry.delete_route(&existing.id))
}

/// `GET /routes/{route}/service`: the service a route leads to.
async fn get_route_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let service = state
        .registry
        .route(&key)
        .and_then(|r| r.service)
        .and_then(|s| state.registry.service(&s.id))
        .ok_or_else(KongFail::not_found)?;
    Ok(ok(kong::encode_service(&service)))
}

// --- Routes -------------------------------------------------------------------

async fn list_routes(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let query = PageQuery::parse(raw.as_deref())?;
    let routes = state.registry.routes(None);
    Ok(route_page(&routes, &query, "/routes"))
}

async fn create_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let route = kong::decode_route(&body)?;
    let route = state.registry.create_route(route)?;
    Ok(created_or_ok(true, kong::encode_route(&route)))
}

async fn get_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let route = state.registry.route(&key).ok_or_else(KongFail::not_found)?;
    Ok(ok(kong::encode_route(&route)))
}

async fn put_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let route = kong::decode_route(&body)?;
    let (route, created) = state.registry.put_route(&key, route)?;
    Ok(created_or_ok(created, kong::encode_route(&route)))
}

async fn patch_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let route = state
        .registry
        .modify_route(&key, |current| kong::patch_route(current, &body))?;
    Ok(ok(kong::encode_route(&route)))
}

async fn delete_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, KongFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    deleted(state.registry.delete_route(&key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use routeyard::dialect::kong::is_uuid;

    fn query(raw: &str) -> Result<PageQuery, KongError> {
        PageQuery::parse(Some(raw)).map_err(|f| f.0)
    }

    type Item = (i64, String, Option<Vec<String>>);

    fn key(t: &Item) -> (i64, &str) {
        (t.0, t.1.as_str())
    }

    fn tags(t: &Item) -> &Option<Vec<String>> {
        &t.2
    }

    #[test]
    fn uuid_keys() {
        assert!(is_uuid("7c6f5d3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"));
        assert!(is_uuid("7C6F5D3E-8A9B-4C1D-9E2F-0A1B2C3D4E5F"));
        for key in [
            "users",
            "7c6f5d3e-8a9b-4c1d-9e2f-0a1b2c3d4e5",
            "7c6f5d3e8a9b4c1d9e2f0a1b2c3d4e5f",
            "7c6f5d3e-8a9b-4c1d-9e2f-0a1b2c3d4e5g",
        ] {
            assert!(!is_uuid(key), "{key}");
        }
    }

    #[test]
    fn size_rules_and_messages() {
        assert_eq!(query("").unwrap().size, DEFAULT_PAGE);
        assert_eq!(query("size=1000").unwrap().size, 1000);
        assert_eq!(query("size=2.0").unwrap().size, 2);
        for (raw, message) in [
            ("size=x", "size must be a number"),
            ("size=0", "size must be an integer between 1 and 1000"),
            ("size=1001", "size must be an integer between 1 and 1000"),
            ("size=1.5", "size must be an integer between 1 and 1000"),
        ] {
            let Err(err) = query(raw) else {
                panic!("{raw} passed")
            };
            assert_eq!(
                (err.status, err.code, err.name, err.message.as_str()),
                (400, Some(9), Some("invalid size"), message),
                "{raw}"
            );
        }
    }

    #[test]
    fn offsets_round_trip_and_bad_ones_are_kong_errors() {
        let text = encode_offset((17, "abc"));
        assert_eq!(decode_offset(&text).unwrap(), (17, "abc".to_string()));
        let err = decode_offset("!!").unwrap_err().0;
        assert_eq!(
            (err.code, err.message.as_str()),
            (Some(7), "'!!' is not a valid offset: bad base64 encoding")
        );
        let err = decode_offset(&STANDARD.encode("{}")).unwrap_err().0;
        assert_eq!(
            err.message,
            "'e30=' is not a valid offset: bad json encoding"
        );
    }

    #[test]
    fn pages_follow_the_sort_key_and_the_tag_filter() {
        let items: Vec<Item> = (0..5)
            .map(|i| {
                let tags = (i % 2 == 0).then(|| vec!["even".to_string()]);
                (i / 2, format!("id{i}"), tags)
            })
            .collect();
        let q = query("size=2").unwrap();
        let (page, next) = q.page(&items, key, tags);
        assert_eq!(page.len(), 2);
        let next = next.unwrap();
        let q = query(&format!("size=2&offset={}", query::escape(&next))).unwrap();
        let (page, next) = q.page(&items, key, tags);
        assert_eq!(
            page.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["id2", "id3"]
        );
        let q = query(&format!("size=2&offset={}", query::escape(&next.unwrap()))).unwrap();
        let (page, next) = q.page(&items, key, tags);
        assert_eq!((page.len(), next), (1, None));
        let q = query("tags=even").unwrap();
        let (page, _) = q.page(&items, key, tags);
        assert_eq!(page.len(), 3);
        assert_eq!(q.base_path("/routes"), "/routes?tags=even");
    }
}
