//! The HTTP application: shared state, the router of every dialect, and the layers
//! that keep every error answer in its dialect's shape (unknown paths, wrong
//! methods, oversized bodies, panics): JSON for CF, Kong and gobetween, plain text
//! for CDAP.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{to_bytes, Body};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use routeyard::dialect::cf::{self, WireError};
use routeyard::{Error as CoreError, Registry};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::{Auth, BasicCredentials};

/// What every handler shares.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    /// The registry served.
    pub(crate) registry: Arc<Registry>,
    /// Bearer token checks; `None` when authentication is off.
    pub(crate) auth: Option<Arc<Auth>>,
    /// Interval of heartbeat comments on event streams.
    pub(crate) heartbeat: Duration,
    /// Turns `true` when the server shuts down; event streams then end.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// When the server started (gobetween's `GET /` reports it).
    pub(crate) started: SystemTime,
}

impl AppState {
    /// Checks the request's bearer token for `scope` (always passes when
    /// authentication is off). The error is the message for a 401.
    pub(crate) fn authorize(&self, headers: &HeaderMap, scope: &str) -> Result<(), String> {
        match &self.auth {
            None => Ok(()),
            Some(auth) => auth.check(headers, scope),
        }
    }
}

/// Options of the router that are not handler state.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The largest request body accepted.
    pub(crate) max_body_bytes: usize,
    /// Basic credentials required on the debug endpoints and gobetween's API
    /// (except `/ping`), if any.
    pub(crate) debug_credentials: Option<BasicCredentials>,
}

/// The router serving every dialect over `state`.
pub(crate) fn router(state: AppState, limits: Limits) -> Router {
    // The debug endpoints take Basic credentials when configured, else a bearer
    // token with the routes read scope when JWT authentication is on.
    let debug = match limits.debug_credentials.clone() {
        Some(credentials) => crate::debug::router().layer(from_fn_with_state(
            credentials,
            crate::auth::require_basic_auth,
        )),
        None => {
            crate::debug::router().layer(from_fn_with_state(state.clone(), require_routes_read))
        }
    };
    // gobetween's API takes its Basic credentials when configured (as gobetween
    // does, except on `/ping`), else bearer tokens with the routes scopes when
    // JWT authentication is on; it is open otherwise.
    let gobetween = match limits.debug_credentials.clone() {
        Some(credentials) => crate::gobetween::router().layer(from_fn_with_state(
            credentials,
            crate::auth::require_basic_auth,
        )),
        None => crate::gobetween::router().layer(from_fn_with_state(
            state.clone(),
            crate::gobetween::require_scopes,
        )),
    };
    let routes = Router::new()
        .merge(crate::cf::router())
        .merge(crate::kong::router())
        .merge(crate::upstream::router())
        .merge(crate::cdap::router())
        .merge(gobetween)
        .merge(crate::gobetween::public_router())
        .merge(debug)
        .fallback(not_found)
        .with_state(state);
    finish(routes, limits.max_body_bytes)
}

/// Answers 401 in Kong's shape unless the request's bearer token has the routes
/// read scope (passes everything when JWT authentication is off).
async fn require_routes_read(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match state.authorize(request.headers(), crate::auth::ROUTES_READ) {
        Ok(()) => next.run(request).await,
        Err(message) => json_response(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "message": message }).to_string(),
        ),
    }
}

/// Adds the body limit, turns panics into 500s, and renders every error that the
/// handlers did not render themselves as JSON in the dialect of its path.
fn finish(routes: Router, max_body_bytes: usize) -> Router {
    routes
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(max_body_bytes, render_errors))
}

/// Which API a path belongs to, for the shape of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `/routing/...`: CF's `{"name", "message"}`.
    Cf,
    /// `/v3/...`: CDAP's plain text.
    Cdap,
    /// `/`, `/ping`, `/dump`, `/servers[/...]`: gobetween's JSON string.
    Gobetween,
    /// Everything else: Kong's `{"message"}`.
    Kong,
}

impl Dialect {
    pub(crate) fn of(path: &str) -> Dialect {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/routing") {
            Dialect::Cf
        } else if under("/v3") {
            Dialect::Cdap
        } else if matches!(path, "/" | "/ping" | "/dump") || under("/servers") {
            Dialect::Gobetween
        } else {
            Dialect::Kong
        }
    }

    /// The body of an error that no handler rendered: `text` is what the framework
    /// wrote, `panic` the message of a caught panic.
    fn error_body(
        self,
        status: StatusCode,
        text: &str,
        panic: Option<&str>,
        limit: usize,
        uri: &str,
    ) -> String {
        let too_large = format!("request body is larger than {limit} bytes");
        match self {
            Dialect::Cdap => match status {
                // netty-http's texts, which CDAP's router answers with.
                StatusCode::NOT_FOUND => format!("Problem accessing: {uri}. Reason: Not Found"),
                StatusCode::METHOD_NOT_ALLOWED => {
                    format!("Problem accessing: {uri}. Reason: Method Not Allowed")
                }
                StatusCode::PAYLOAD_TOO_LARGE => too_large,
                s if s.is_server_error() => format!(
                    "internal error: {}",
                    panic.unwrap_or(if text.is_empty() { "unknown" } else { text })
                ),
                _ => text.to_string(),
            },
            Dialect::Gobetween => {
                let message = match status {
                    StatusCode::NOT_FOUND => "Not found".to_string(),
                    StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".to_string(),
                    StatusCode::PAYLOAD_TOO_LARGE => too_large,
                    s if s.is_server_error() => "An unexpected error occurred".to_string(),
                    _ => text.to_string(),
                };
                serde_json::Value::String(message).to_string()
            }
            Dialect::Cf => {
                let (name, message) = match status {
                    StatusCode::NOT_FOUND => ("ResourceNotFoundError", text.to_string()),
                    StatusCode::METHOD_NOT_ALLOWED => {
                        ("ResponseError", "Method Not Allowed".to_string())
                    }
                    StatusCode::PAYLOAD_TOO_LARGE => (
                        "ProcessRequestError",
                        format!("Cannot process request: {too_large}"),
                    ),
                    s if s.is_server_error() => (
                        "ResponseError",
                        format!("internal error: {}", panic.unwrap_or(text)),
                    ),
                    _ => (
                        "ProcessRequestError",
                        format!("Cannot process request: {text}"),
                    ),
                };
                cf::encode(&WireError {
                    status: status.as_u16(),
                    name,
                    message,
                })
            }
            Dialect::Kong => {
                let message = match status {
                    StatusCode::NOT_FOUND => "Not found".to_string(),
                    StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".to_string(),
                    StatusCode::PAYLOAD_TOO_LARGE => too_large,
                    s if s.is_server_error() => "An unexpected error occurred".to_string(),
                    _ => text.to_string(),
                };
                serde_json::json!({ "message": message }).to_string()
            }
        }
    }
}

/// Marks an error response whose body is meant as it is (CF's empty 404 on
/// deleting an unknown router group).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepBody;

/// The message of a caught panic, for [`render_errors`].
#[derive(Clone, Debug)]
struct PanicMessage(String);

fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response
        .extensions_mut()
        .insert(PanicMessage(what.to_string()));
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The content type of error bodies in `dialect`.
fn error_content_type(dialect: Dialect) -> HeaderValue {
    match dialect {
        Dialect::Cdap => HeaderValue::from_static(TEXT_PLAIN),
        // gin's, as gobetween answers.
        Dialect::Gobetween => HeaderValue::from_static("application/json; charset=utf-8"),
        _ => HeaderValue::from_static("application/json"),
    }
}

/// The content type of CDAP's plain-text answers (netty-http's).
pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// How long a refused body may take to arrive before the refusal is sent anyway.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads and drops the body of a request refused for its announced size, when that
/// size is at most four times the limit: a client that is still writing its body
/// then reads the 413 instead of failing on a connection closed under it. A larger
/// body is not waited for, nor the rest of one still arriving after [`DRAIN_TIME`]
/// (a client that announced more than it sends): the refusal goes out and the
/// connection closes.
async fn drain(body: Body, announced: u64, limit: usize) {
    use futures_util::StreamExt;

    let most = (limit as u64).saturating_mul(4);
    if announced > most {
        return;
    }
    let mut data = body.into_data_stream();
    let mut read = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = data.next().await {
            read += chunk.len() as u64;
            if read > most {
                break;
            }
        }
    })
    .await;
}

/// Gives every error response that is not rendered yet (405 from the router, 413
/// and 400 from extractors, 500 from a panic) a body in its path's dialect,
/// keeping its status and headers (such as `Allow`). A request whose
/// `Content-Length` announces more than the limit is refused with 413 without
/// being handled (see [`drain`] for what is read of its body first).
async fn render_errors(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let dialect = Dialect::of(request.uri().path());
    let uri = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_string(), ToString::to_string);
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&length| length > limit as u64);
    let response = match announced {
        Some(length) => {
            drain(request.into_body(), length, limit).await;
            StatusCode::PAYLOAD_TOO_LARGE.into_response()
        }
        None => next.run(request).await,
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(response.headers())
        || response.extensions().get::<KeepBody>().is_some()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let panic = parts.extensions.get::<PanicMessage>().map(|p| p.0.as_str());
    let rendered = dialect.error_body(status, text.trim(), panic, limit, &uri);
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, error_content_type(dialect));
    Response::from_parts(parts, Body::from(rendered))
}

/// 404 for a path no dialect serves.
async fn not_found(uri: Uri) -> Response {
    let dialect = Dialect::of(uri.path());
    let body = match dialect {
        Dialect::Cf => cf::encode(&WireError {
            status: 404,
            name: "ResourceNotFoundError",
            message: format!("no such endpoint: {}", uri.path()),
        }),
        Dialect::Cdap => {
            let target = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_string(), ToString::to_string);
            format!("Problem accessing: {target}. Reason: Not Found")
        }
        Dialect::Gobetween => r#""Not found""#.to_string(),
        Dialect::Kong => r#"{"message":"Not found"}"#.to_string(),
    };
    let mut response = (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, error_content_type(dialect))],
        body,
    )
        .into_response();
    response.extensions_mut().insert(KeepBody);
    response
}

/// A response carrying JSON text.
pub(crate) fn json_response(status: StatusCode, json: String) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], json).into_response()
}

/// An error answer in CF's shape, `{"name": ..., "message": ...}`, with CF's status code.
#[derive(Debug)]
pub(crate) struct CfError(pub(crate) WireError);

impl CfError {
    /// CF's 401 `UnauthorizedError`.
    pub(crate) fn unauthorized(message: String) -> CfError {
        CfError(WireError {
            status: 401,
            name: "UnauthorizedError",
            message,
        })
    }

    /// CF's 400 `ProcessRequestError`, with its prefix.
    pub(crate) fn process_request(message: &str) -> CfError {
        CfError(WireError {
            status: 400,
            name: "ProcessRequestError",
            message: format!("Cannot process request: {message}"),
        })
    }

    /// A 500 `ResponseError`: the facade itself failed.
    pub(crate) fn from_internal(message: &str) -> CfError {
        CfError(WireError {
            status: 500,
            name: "ResponseError",
            message: message.to_string(),
        })
    }
}

impl From<CoreError> for CfError {
    fn from(err: CoreError) -> CfError {
        CfError(WireError::from(&err))
    }
}

impl IntoResponse for CfError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, cf::encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use axum::routing::get;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    async fn send(router: Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    async fn explode() -> &'static str {
        panic!("handler exploded")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_json_in_each_dialect() {
        let router = finish(
            Router::new()
                .route("/routing/v1/explode", get(explode))
                .route("/services/explode", get(explode)),
            1024,
        );
        let request = Request::get("/routing/v1/explode")
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(router.clone(), request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(
            body,
            json!({"name": "ResponseError", "message": "internal error: handler exploded"})
        );
        let request = Request::get("/services/explode")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(router, request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, json!({"message": "An unexpected error occurred"}));
    }

    #[tokio::test]
    async fn cdap_and_gobetween_errors_keep_their_shapes() {
        let router = finish(
            Router::new()
                .route("/v3/explode", get(explode))
                .route("/servers/explode", get(explode)),
            1024,
        );
        let request = Request::get("/v3/explode").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[CONTENT_TYPE], TEXT_PLAIN);
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(&body[..], b"internal error: handler exploded");

        let request = Request::delete("/v3/explode").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            &body[..],
            b"Problem accessing: /v3/explode. Reason: Method Not Allowed"
        );

        let request = Request::get("/servers/explode")
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(router, request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[CONTENT_TYPE], "application/json; charset=utf-8");
        assert_eq!(body, json!("An unexpected error occurred"));
    }

    #[tokio::test]
    async fn an_announced_length_over_the_limit_is_413_before_the_body_is_read() {
        let echo = |body: axum::body::Bytes| async move { body.len().to_string() };
        let router = finish(
            Router::new().route("/routing/v1/echo", axum::routing::post(echo)),
            1024,
        );
        // Two bytes sent, ten mebibytes announced: refused without waiting for them.
        let request = Request::post("/routing/v1/echo")
            .header(CONTENT_LENGTH, 10 << 20)
            .body(Body::from("[]"))
            .unwrap();
        let (status, _, body) = send(router.clone(), request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body,
            json!({"name": "ProcessRequestError",
                   "message": "Cannot process request: request body is larger than 1024 bytes"})
        );
        // The limit itself is allowed.
        let request = Request::post("/routing/v1/echo")
            .header(CONTENT_LENGTH, 1024)
            .body(Body::from(vec![b' '; 1024]))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn wrong_methods_keep_allow_and_get_a_json_body() {
        let router = finish(Router::new().route("/routes", get(|| async { "" })), 1024);
        let request = Request::delete("/routes").body(Body::empty()).unwrap();
        let (status, headers, body) = send(router, request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers["allow"], "GET,HEAD");
        assert_eq!(body, json!({"message": "Method not allowed"}));
    }

    #[test]
    fn dialects_by_path() {
        assert_eq!(Dialect::of("/routing/v1/routes"), Dialect::Cf);
        assert_eq!(Dialect::of("/routing"), Dialect::Cf);
        assert_eq!(Dialect::of("/routingx"), Dialect::Kong);
        assert_eq!(Dialect::of("/services"), Dialect::Kong);
        assert_eq!(
            Dialect::of("/v3/namespaces/a/apps/b/services/c/routeconfig"),
            Dialect::Cdap
        );
        assert_eq!(Dialect::of("/v3x"), Dialect::Kong);
        for path in ["/", "/ping", "/dump", "/servers", "/servers/a/stats"] {
            assert_eq!(Dialect::of(path), Dialect::Gobetween, "{path}");
        }
        assert_eq!(Dialect::of("/serversx"), Dialect::Kong);
        assert_eq!(Dialect::of("/pingx"), Dialect::Kong);
    }
}
