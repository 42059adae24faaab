//! Cloud Foundry routing-api: decoding request bodies and mapping errors onto
//! CF's HTTP status codes and `{"name", "message"}` bodies.
//!
//! # Example
//!
//! ```
//! use routeyard::dialect::cf;
//! use routeyard::{Config, Registry};
//!
//! let registry = Registry::new(Config::new());
//! let routes = cf::decode_http_routes(br#"[{"route":"a.com","ip":"1.2.3.4","port":8080}]"#)?;
//! registry.upsert_http_routes(routes)?;
//!
//! let err = cf::decode_http_routes(br#"{"route":"a.com"}"#).unwrap_err();
//! let wire = cf::WireError::from(&err);
//! assert_eq!((wire.status, wire.name), (400, "ProcessRequestError"));
//! assert!(wire.message.starts_with("Cannot process request: "));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::model::cf::{HttpRoute, ObjectOnly, RouterGroup, TcpRouteMapping};

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::new(ErrorKind::ProcessRequest, e.to_string()))
}

fn decode_objects<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, Error> {
    let list: Vec<ObjectOnly<T>> = decode(body)?;
    Ok(list.into_iter().map(|o| o.0).collect())
}

/// Decodes a JSON array of CF HTTP routes.
///
/// # Errors
///
/// [`ErrorKind::ProcessRequest`] with the decoder's message for malformed JSON, a
/// single object where an array is expected, or a field of the wrong type or range
/// (a port of 65536, say).
pub fn decode_http_routes(body: &[u8]) -> Result<Vec<HttpRoute>, Error> {
    decode_objects(body)
}

/// Decodes a JSON array of CF TCP route mappings.
///
/// # Errors
///
/// As [`decode_http_routes`].
pub fn decode_tcp_route_mappings(body: &[u8]) -> Result<Vec<TcpRouteMapping>, Error> {
    decode_objects(body)
}

/// Decodes one CF router group object.
///
/// # Errors
///
/// As [`decode_http_routes`].
pub fn decode_router_group(body: &[u8]) -> Result<RouterGroup, Error> {
    decode::<ObjectOnly<RouterGroup>>(body).map(|o| o.0)
}

/// Encodes any CF object or list of objects as CF's JSON.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> String {
    // The CF types hold only strings, integers and booleans: encoding cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// How routing-api reports an error over HTTP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireError {
    /// The HTTP status code.
    #[serde(skip)]
    pub status: u16,
    /// CF's error name.
    pub name: &'static str,
    /// The message, with CF's `Cannot process request: ` prefix where CF adds one.
    pub message: String,
}

impl From<&Error> for WireError {
    /// CF's mapping: validation and decoding failures are 400; TCP mapping and
    /// router group validation failures travel as `ProcessRequestError` with the
    /// `Cannot process request: ` prefix; not found is 404; a name conflict is 409.
    fn from(err: &Error) -> WireError {
        let (status, name, prefixed) = match err.kind() {
            ErrorKind::RouteInvalid => (400, "RouteInvalidError", false),
            ErrorKind::RouteServiceUrlInvalid => (400, "RouteServiceUrlInvalidError", false),
            ErrorKind::TcpRouteMappingInvalid
            | ErrorKind::RouterGroupInvalid
            | ErrorKind::ProcessRequest
            | ErrorKind::Compacted
            | ErrorKind::InvalidArgument
            | ErrorKind::SchemaViolation
            | ErrorKind::ForeignKeyViolation => (400, "ProcessRequestError", true),
            ErrorKind::NotFound => (404, "ResourceNotFoundError", false),
            ErrorKind::PortRangeExhausted => (409, "PortRangeExhaustedError", false),
            ErrorKind::Conflict | ErrorKind::UniqueViolation => (409, "DBConflictError", false),
        };
        let message = if prefixed {
            format!("Cannot process request: {}", err.message())
        } else {
            err.message().to_string()
        };
        WireError {
            status,
            name,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_failures_are_process_request_errors() {
        for body in [
            &br#"{"route":"a.com"}"#[..],
            br#"[{"port":65537}]"#,
            br#"[{"port":"80"}]"#,
            br#"[{"ttl":1.5}]"#,
            b"not json",
        ] {
            let err = decode_http_routes(body).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ProcessRequest, "{body:?}");
        }
        let err = decode_tcp_route_mappings(br#"[{"backend_port":-1}]"#).unwrap_err();
        assert_eq!(WireError::from(&err).name, "ProcessRequestError");
    }

    #[test]
    fn wire_mapping() {
        let tcp = Error::new(
            ErrorKind::TcpRouteMappingInvalid,
            "Each tcp route mapping requires a ttl greater than 0",
        );
        assert_eq!(
            WireError::from(&tcp),
            WireError {
                status: 400,
                name: "ProcessRequestError",
                message:
                    "Cannot process request: Each tcp route mapping requires a ttl greater than 0"
                        .into(),
            }
        );
        let route = Error::new(ErrorKind::RouteInvalid, "Max ttl is 120");
        assert_eq!(WireError::from(&route).message, "Max ttl is 120");
        assert_eq!(
            WireError::from(&Error::new(ErrorKind::NotFound, "x")).status,
            404
        );
        assert_eq!(
            encode(&WireError::from(&route)),
            r#"{"name":"RouteInvalidError","message":"Max ttl is 120"}"#
        );
    }
}
