//! CDAP's route configs: `PUT`, `GET` and `DELETE`
//! `/v3/namespaces/{ns}/apps/{app}/services/{svc}/routeconfig`, the version split of
//! a user service.
//!
//! The CDAP service `{ns}/{app}/{svc}` is the registry service named
//! `{ns}.{app}.{svc}` (a Kong service, created through `/services`); its versions
//! are the `version` labels of that service's backends (`PUT
//! /services/{name}/upstream`). Since `.` joins the three parts, a part may hold
//! only the characters a Kong name can carry other than `.`: ASCII letters and
//! digits, `-`, `_`, `~` and any non-ASCII character; any other part is refused
//! with a 400.
//!
//! Bodies are read and checked by the core (`routeyard::dialect::cdap`) with
//! CDAP's rules, statuses and texts: a service that does not exist or has no
//! backends has no versions, so each version a PUT names is reported missing with
//! its CDAP program id. Answers are CDAP's: 200 with no body for PUT and DELETE,
//! 200 with the split as `{"v1":80,"v2":20}` (or `{}`) for GET, and errors as plain
//! text.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use routeyard::balance::{Split, SplitConfig};
use routeyard::dialect::cdap::{self, ServiceId};
use routeyard::ErrorKind;

use crate::app::{json_response, AppState, KeepBody, TEXT_PLAIN};
use crate::auth::{ROUTES_READ, ROUTES_WRITE};

/// The CDAP endpoints.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/v3/namespaces/{namespace}/apps/{app}/services/{service}/routeconfig",
        get(get_config).put(put_config).delete(delete_config),
    )
}

/// An error answer in CDAP's plain text, kept as it is by the error renderer.
#[derive(Debug)]
struct CdapFail {
    status: u16,
    message: String,
}

fn text(status: u16, message: &str) -> CdapFail {
    CdapFail {
        status,
        message: message.to_string(),
    }
}

impl From<cdap::CdapError> for CdapFail {
    fn from(err: cdap::CdapError) -> CdapFail {
        text(err.status(), err.message())
    }
}

impl IntoResponse for CdapFail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, [(CONTENT_TYPE, TEXT_PLAIN)], self.message).into_response();
        response.extensions_mut().insert(KeepBody);
        response
    }
}

/// Whether `c` may appear in one part of the service name: what a Kong name
/// accepts (`typedefs.utf8_name`) except the `.` that joins the parts.
fn is_part_char(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~')
}

/// The CDAP id from the path and the registry service it maps to, or the 400
/// for a part that cannot be part of a service name.
fn service_of(
    (namespace, app, service): (String, String, String),
) -> Result<(ServiceId, String), CdapFail> {
    for (what, part) in [
        ("namespace", &namespace),
        ("application", &app),
        ("service", &service),
    ] {
        if part.is_empty() || !part.chars().all(is_part_char) {
            return Err(text(
                400,
                &format!(
                    "Invalid {what} name '{part}': it must be non-empty and hold only ASCII \
                     letters, digits, '-', '_', '~' or non-ASCII characters, since the \
                     service is the registry service named '<namespace>.<app>.<service>'."
                ),
            ));
        }
    }
    let key = format!("{namespace}.{app}.{service}");
    Ok((ServiceId::new(namespace, app, service), key))
}

/// With JWT authentication on, reads need `routing.routes.read` and changes
/// `routing.routes.write`; the 401 carries CF's message as plain text.
fn authorize(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<(), CdapFail> {
    state
        .authorize(headers, scope)
        .map_err(|message| text(401, &message))
}

/// `PUT .../routeconfig`: checks the body with CDAP's rules against the
/// versions of the service's backends, then sets the split (keeping the
/// split's fallback and sticky mode, if it had a split before). 200, no body.
async fn put_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(parts): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, CdapFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let (id, key) = service_of(parts)?;
    let upstream = state.registry.upstream(&key);
    let versions: Vec<&str> = upstream
        .as_ref()
        .map(|u| {
            u.backends
                .iter()
                .filter_map(|b| b.version.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let config = cdap::decode_and_validate(&body, &id, &versions)?;
    let split = config
        .routes()
        .iter()
        .fold(Split::new(), |split, (version, percent)| {
            split.with(version.clone(), i64::from(*percent))
        });
    let mut wanted = upstream.and_then(|u| u.config.split).unwrap_or_default();
    wanted.split = Some(split);
    match state.registry.set_split(&key, wanted) {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        // The service went away between the read and the write: as CDAP, every
        // version is then missing.
        Err(err) if err.kind() == ErrorKind::NotFound => {
            Err(match cdap::decode_and_validate(&body, &id, &[]) {
                Err(err) => err.into(),
                Ok(_) => cdap::not_found(&id).into(),
            })
        }
        Err(err) if err.kind() == ErrorKind::InvalidArgument => Err(text(400, err.message())),
        Err(err) => Err(text(500, err.message())),
    }
}

/// `GET .../routeconfig`: the split as `{"v1":80,"v2":20}`, `{}` when the
/// service has none (or does not exist).
async fn get_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(parts): Path<(String, String, String)>,
) -> Result<Response, CdapFail> {
    authorize(&state, &headers, ROUTES_READ)?;
    let (_, key) = service_of(parts)?;
    let split = state
        .registry
        .split(&key)
        .and_then(|config: SplitConfig| config.split)
        .unwrap_or_default();
    // A map of version labels to integers always encodes.
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_string(&split).unwrap_or_else(|_| "{}".into()),
    ))
}

/// `DELETE .../routeconfig`: removes the split (with its fallback and sticky
/// mode); 200, no body. 404 with CDAP's text when there is none.
async fn delete_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(parts): Path<(String, String, String)>,
) -> Result<Response, CdapFail> {
    authorize(&state, &headers, ROUTES_WRITE)?;
    let (id, key) = service_of(parts)?;
    // A service whose upstream has a fallback but no percentages shows `{}`:
    // there is no route config to delete.
    let has_config = state
        .registry
        .split(&key)
        .is_some_and(|config| config.split.is_some());
    if !has_config {
        return Err(cdap::not_found(&id).into());
    }
    match state.registry.delete_split(&key) {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(err) if err.kind() == ErrorKind::NotFound => Err(cdap::not_found(&id).into()),
        Err(err) => Err(text(500, err.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(ns: &str, app: &str, svc: &str) -> (String, String, String) {
        (ns.into(), app.into(), svc.into())
    }

    #[test]
    fn service_names_join_the_parts_with_dots() {
        let (id, key) = service_of(parts("default", "My-App", "svc_1~x")).unwrap();
        assert_eq!(key, "default.My-App.svc_1~x");
        assert_eq!(id, ServiceId::new("default", "My-App", "svc_1~x"));
        assert!(service_of(parts("d\u{e9}j\u{e0}", "a", "b")).is_ok());
    }

    #[test]
    fn parts_a_name_cannot_carry_are_refused() {
        for (ns, app, svc) in [
            ("a.b", "app", "svc"),
            ("ns", "my app", "svc"),
            ("ns", "app", "s/v"),
            ("ns", "", "svc"),
        ] {
            let response = service_of(parts(ns, app, svc)).unwrap_err().into_response();
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{ns}/{app}/{svc}"
            );
            assert_eq!(response.headers()[CONTENT_TYPE], TEXT_PLAIN);
        }
    }
}
