//! gobetween's REST API: `GET /` (system information), `GET /ping`, `GET
//! /dump?format=toml|json`, `GET /servers`, `GET|POST|DELETE /servers/{name}` and
//! `GET /servers/{name}/stats`.
//!
//! Server bodies are read, checked and written by the core
//! (`routeyard::dialect::gobetween`), with gobetween's texts; a server lands in the
//! registry as a service with its backends and a stream route on its bind port
//! (see `Registry::create_server`). Answers are gobetween's: JSON indented by four
//! spaces, errors as a JSON string, `200 null` after a create or a delete. Where
//! gobetween answers `200 null` for a server that does not exist (GET, DELETE,
//! stats), this API answers 404 `"Server not found"`; an unknown dump format is a
//! 400 (gobetween: 500). A server gobetween refuses is a 409 with gobetween's text,
//! as in gobetween; a name a service cannot carry, or one a Kong service or route
//! already has, is a 400 or 409 with routeyard's text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use routeyard::dialect::gobetween::{
    self, ConfigSource, ConnectionOptions, Format, GbError, GoDuration, Info, PING_BODY,
};
use routeyard::ErrorKind;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::{ROUTES_READ, ROUTES_WRITE};
use crate::query;

/// The content type of gobetween's JSON answers (gin's).
const JSON: &str = "application/json; charset=utf-8";
/// The content type of gobetween's text answers (gin's): `/ping`, the TOML dump.
const TEXT: &str = "text/plain; charset=utf-8";

/// The endpoints that need credentials when the facade has them.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(info))
        .route("/dump", get(dump))
        .route("/servers", get(list_servers))
        .route(
            "/servers/{name}",
            get(get_server).post(create_server).delete(delete_server),
        )
        .route("/servers/{name}/stats", get(server_stats))
}

/// `GET /ping`, which gobetween serves without authentication.
pub(crate) fn public_router() -> Router<AppState> {
    Router::new().route("/ping", get(ping))
}

/// With JWT authentication on and no Basic credentials configured, gobetween's
/// endpoints need a bearer token: reads `routing.routes.read`, changes
/// `routing.routes.write`. The 401 carries the message as a JSON string.
pub(crate) async fn require_scopes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let scope = if matches!(*request.method(), Method::GET | Method::HEAD) {
        ROUTES_READ
    } else {
        ROUTES_WRITE
    };
    match state.authorize(request.headers(), scope) {
        Ok(()) => next.run(request).await,
        Err(message) => json(StatusCode::UNAUTHORIZED, string(&message)),
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, JSON)], body).into_response()
}

/// A message as gobetween sends it: a JSON string.
fn string(message: &str) -> String {
    Value::String(message.to_string()).to_string()
}

fn fail(err: &GbError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, err.body())
}

/// gobetween's answer to a successful create or delete.
fn done() -> Response {
    json(StatusCode::OK, "null".into())
}

/// `GET /ping`: `OK` as plain text.
async fn ping() -> Response {
    (StatusCode::OK, [(CONTENT_TYPE, TEXT)], PING_BODY).into_response()
}

/// `GET /`: pid, times, uptime, version, and where the configuration came from
/// (`{"kind": "api"}`: servers exist only as created through this API).
async fn info(State(state): State<AppState>) -> Response {
    let now = SystemTime::now();
    let uptime = now.duration_since(state.started).unwrap_or_default();
    let info = Info::new(
        ConfigSource {
            kind: "api".into(),
            details: Default::default(),
        },
        std::process::id(),
        rfc3339_nano(state.started),
        rfc3339_nano(now),
        GoDuration(i64::try_from(uptime.as_nanos()).unwrap_or(i64::MAX)),
        env!("CARGO_PKG_VERSION"),
    );
    json(StatusCode::OK, gobetween::encode_json(&info))
}

/// `GET /dump?format=toml|json` (TOML by default): a gobetween config holding
/// the registry's servers.
async fn dump(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let pairs = query::pairs(raw.as_deref());
    let (format, content_type) = match query::first(&pairs, "format").unwrap_or("toml") {
        "toml" => (Format::Toml, TEXT),
        "json" => (Format::Json, JSON),
        other => {
            return json(
                StatusCode::BAD_REQUEST,
                string(&format!("Unknown format {other}")),
            )
        }
    };
    let config = gobetween::Config {
        servers: state.registry.servers(),
        ..gobetween::Config::default()
    };
    match gobetween::dump(&config, format) {
        Ok(text) => (StatusCode::OK, [(CONTENT_TYPE, content_type)], text).into_response(),
        Err(err) => fail(&err),
    }
}

/// `GET /servers`: every server by name.
async fn list_servers(State(state): State<AppState>) -> Response {
    json(
        StatusCode::OK,
        gobetween::encode_json(&state.registry.servers()),
    )
}

/// `GET /servers/{name}`: the server as gobetween prepared it.
async fn get_server(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.registry.server(&name) {
        Some(named) => json(StatusCode::OK, gobetween::encode_json(&named.server)),
        None => fail(&gobetween::not_found()),
    }
}

/// `POST /servers/{name}`: creates a server from its JSON, in gobetween's order:
/// the body is read (400), the name must be free (409), the server must pass
/// gobetween's checks (409); then the registry's own (the name must suit a
/// service and route, 400, and be free among them, 409).
async fn create_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let server = match gobetween::decode_server(&body) {
        Ok(server) => server,
        Err(err) => return fail(&err),
    };
    if state.registry.server(&name).is_some() {
        return fail(&gobetween::already_exists(&name));
    }
    if let Err(err) = gobetween::prepare_server(&name, &server, &ConnectionOptions::default()) {
        return fail(&err);
    }
    match state.registry.create_server(&name, &server) {
        Ok(_) => done(),
        Err(err) => {
            let status = match err.kind() {
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::InvalidArgument | ErrorKind::ProcessRequest => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json(status, string(err.message()))
        }
    }
}

/// `DELETE /servers/{name}`: removes the server with its service, route and
/// backends.
async fn delete_server(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.registry.delete_server(&name) {
        Ok(_) => done(),
        Err(err) if err.kind() == ErrorKind::NotFound => fail(&gobetween::not_found()),
        Err(err) => json(StatusCode::INTERNAL_SERVER_ERROR, string(err.message())),
    }
}

/// `GET /servers/{name}/stats`: connections and traffic over the server's
/// backends, then each backend.
async fn server_stats(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.registry.server_stats(&name) {
        Some(stats) => json(StatusCode::OK, gobetween::encode_json(&stats)),
        None => fail(&gobetween::not_found()),
    }
}

/// A time as Go's `time.Time` writes it in JSON (RFC 3339 with nanoseconds,
/// trailing zeros of the fraction dropped), in UTC.
fn rfc3339_nano(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Day and month are in 1..=31 and 1..=12.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(rfc3339_nano(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(at(951_782_400 + 3_723, 120_000_000)),
            "2000-02-29T01:02:03.12Z"
        );
        assert_eq!(
            rfc3339_nano(at(1_795_000_000, 5)),
            "2026-11-18T11:06:40.000000005Z"
        );
        assert_eq!(rfc3339_nano(at(4_102_444_799, 0)), "2099-12-31T23:59:59Z");
    }
}
