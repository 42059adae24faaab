//! The HTTP routes: Cloud Foundry routing-api's router group endpoints.

use std::any::Any;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use routeyard::dialect::cf::{self, WireError};
use routeyard::{Error as CoreError, Registry};
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;

/// The router serving `registry`, with panics turned into 500 responses.
pub(crate) fn router(registry: Arc<Registry>) -> Router {
    catch_panics(
        Router::new()
            .route(
                "/routing/v1/router_groups",
                get(list_router_groups).post(create_router_group),
            )
            .with_state(registry),
    )
}

/// Answers a panic in any route with a 500 and a JSON body; the server keeps serving.
fn catch_panics(router: Router) -> Router {
    router.layer(CatchPanicLayer::custom(panic_response))
}

fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    ApiError(WireError {
        status: 500,
        name: "ResponseError",
        message: format!("internal error: {what}"),
    })
    .into_response()
}

/// An error answer in CF's shape, `{"name": ..., "message": ...}`, with CF's status code.
#[derive(Debug)]
struct ApiError(WireError);

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> ApiError {
        ApiError(WireError::from(&err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, cf::encode(&self.0))
    }
}

/// A response carrying JSON text that the core's CF dialect encoded.
fn json_response(status: StatusCode, json: String) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], json).into_response()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    name: Option<String>,
}

/// `GET /routing/v1/router_groups[?name=NAME]`: every group, or the one named NAME as a
/// one-element array (404 if there is none).
async fn list_router_groups(
    State(registry): State<Arc<Registry>>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let json = match query.name.filter(|name| !name.is_empty()) {
        None => cf::encode(&registry.router_groups()),
        Some(name) => cf::encode(&[registry.router_group_by_name(&name)?]),
    };
    Ok(json_response(StatusCode::OK, json))
}

/// `POST /routing/v1/router_groups`: 201 with the new group, or 200 with the existing one
/// when a group of that name and type exists.
async fn create_router_group(
    State(registry): State<Arc<Registry>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let group = cf::decode_router_group(&body)?;
    let (group, created) = registry.create_router_group(group)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, cf::encode(&group)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use routeyard::RouterGroup;
    use serde_json::Value;
    use tower::ServiceExt;

    async fn send(router: Router, request: Request<Body>) -> (StatusCode, String, Value) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_json() {
        async fn explode() -> &'static str {
            panic!("handler exploded")
        }
        let router = catch_panics(Router::new().route("/explode", get(explode)));
        let request = Request::get("/explode").body(Body::empty()).unwrap();
        let (status, content_type, body) = send(router, request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body,
            serde_json::json!({"name": "ResponseError", "message": "internal error: handler exploded"})
        );
    }

    #[tokio::test]
    async fn empty_name_filter_lists_everything() {
        let registry = Arc::new(Registry::new(routeyard::Config::new()));
        registry
            .create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-65535"))
            .unwrap();
        let request = Request::get("/routing/v1/router_groups?name=")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(router(registry), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_array().unwrap().len(), 1);
    }
}
