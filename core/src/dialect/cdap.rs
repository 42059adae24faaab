//! CDAP route configs: how the traffic of a user service is split between the
//! deployed versions of its application.
//!
//! The body of `PUT /v3/namespaces/<ns>/apps/<app>/services/<svc>/routeconfig`
//! is a JSON object from version to percentage, such as `{"v1": 80, "v2": 20}`.
//! [`decode`] reads it as CDAP's handler does (through Gson into a
//! `Map<String, Integer>`), [`RouteConfig::try_new`] applies CDAP's rules in
//! CDAP's order with CDAP's texts, and [`encode`] writes the object back. Every
//! failure is a [`CdapError`] carrying the HTTP status CDAP answers with.
//!
//! # Example
//!
//! ```
//! use routeyard::dialect::cdap::{self, ServiceId};
//!
//! let svc = ServiceId::new("default", "MyApp", "MyService");
//! let config = cdap::decode_and_validate(br#"{"v1": 80, "v2": 20}"#, &svc, &["v1", "v2"])?;
//! assert_eq!(config.percentage("v1"), Some(80));
//! assert_eq!(cdap::encode(&config), r#"{"v1":80,"v2":20}"#);
//!
//! let err = cdap::decode_and_validate(br#"{"v1": 80, "v2": 30}"#, &svc, &["v1", "v2"])
//!     .unwrap_err();
//! assert_eq!(err.status(), 400);
//! assert_eq!(err.message(), "Route Percentage needs to add up to 100.");
//!
//! // GET of a service without a config answers 200 `{}`; DELETE answers 404.
//! assert_eq!(cdap::encode(&cdap::RouteConfig::empty()), "{}");
//! assert_eq!(cdap::not_found(&svc).status(), 404);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where routeyard differs from CDAP on purpose
//!
//! - Each percentage must lie in `0..=100`. CDAP checks only the total, so
//!   `{"v1": 150, "v2": -50}` is stored there; here it is refused with
//!   [`CdapErrorKind::PercentageOutOfRange`] (400).
//! - A body that is not JSON, not an object, has a `null` or non-integral value,
//!   or repeats a key is a 400 [`CdapErrorKind::Malformed`]. In CDAP these reach
//!   the handler as Gson exceptions (or a `NullPointerException` for a `null`
//!   value) and surface as server errors.
//! - Gson's lenient syntax (comments, single quotes, unquoted names) is not
//!   accepted: bodies must be standard JSON. What Gson's `Integer` reading does
//!   accept in standard JSON is kept: integral numbers written with a fraction or
//!   exponent (`50.0`, `5e1`) and numeric strings (`"50"`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The version CDAP gives a program id built without one (`ApplicationId.DEFAULT_VERSION`).
pub const DEFAULT_VERSION: &str = "-SNAPSHOT";

/// The text of CDAP's refusal of an empty or absent body.
pub const EMPTY_MESSAGE: &str = "Route config contains invalid format or empty content.";

/// The text of CDAP's refusal of percentages whose total is not 100.
pub const TOTAL_MESSAGE: &str = "Route Percentage needs to add up to 100.";

/// The service a route config belongs to: namespace, application and service
/// names, as in the URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceId {
    /// The namespace id.
    pub namespace: String,
    /// The application name.
    pub app: String,
    /// The service name.
    pub service: String,
}

impl ServiceId {
    /// A service id from its three names.
    pub fn new(
        namespace: impl Into<String>,
        app: impl Into<String>,
        service: impl Into<String>,
    ) -> ServiceId {
        ServiceId {
            namespace: namespace.into(),
            app: app.into(),
            service: service.into(),
        }
    }

    /// CDAP's rendering of the program id of this service in one version of its
    /// application: `program:<namespace>.<app>.<version>.service.<service>`.
    pub fn program_id(&self, version: &str) -> String {
        format!(
            "program:{}.{}.{}.service.{}",
            self.namespace, self.app, version, self.service
        )
    }
}

/// What went wrong with a route config request.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CdapErrorKind {
    /// The body is not a JSON object from strings to integers (400).
    Malformed,
    /// The body is absent, `null` or `{}` (400, CDAP's text [`EMPTY_MESSAGE`]).
    Empty,
    /// Some versions are not deployed (400); the message lists their program ids.
    UnknownVersions,
    /// A percentage lies outside `0..=100` (400; a rule CDAP lacks).
    PercentageOutOfRange,
    /// The percentages do not add up to 100 (400, CDAP's text [`TOTAL_MESSAGE`]).
    TotalNot100,
    /// DELETE of a service that has no route config (404).
    NotFound,
}

impl CdapErrorKind {
    /// The HTTP status CDAP answers with.
    pub fn status(self) -> u16 {
        match self {
            CdapErrorKind::NotFound => 404,
            _ => 400,
        }
    }
}

/// A refused route config request: the kind, the HTTP status and the message
/// CDAP sends as the plain-text response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdapError {
    kind: CdapErrorKind,
    message: String,
}

impl CdapError {
    fn new(kind: CdapErrorKind, message: impl Into<String>) -> CdapError {
        CdapError {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> CdapErrorKind {
        self.kind
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The response body text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CdapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CdapError {}

/// The error for DELETE of a route config that does not exist: 404 with CDAP's
/// text, which names the service's program id in the default version (CDAP's
/// delete handler builds the id without a version).
pub fn not_found(service: &ServiceId) -> CdapError {
    CdapError::new(
        CdapErrorKind::NotFound,
        format!(
            "Route Config for Service {} was not found.",
            service.program_id(DEFAULT_VERSION)
        ),
    )
}

/// A validated route config: versions with their percentages, in the order the
/// body gave them, each in `0..=100`, adding up to exactly 100; or empty, which
/// is what a service without a config shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteConfig {
    routes: Vec<(String, u8)>,
}

impl RouteConfig {
    /// The config of a service that has none: GET answers it as `{}`.
    pub fn empty() -> RouteConfig {
        RouteConfig::default()
    }

    /// Checks decoded entries against CDAP's rules, in CDAP's order: the body is
    /// not empty; every version is deployed (`exists` says which are); every
    /// percentage is in `0..=100`; the total is exactly 100.
    ///
    /// # Errors
    ///
    /// [`CdapErrorKind::Empty`], [`CdapErrorKind::UnknownVersions`] (all missing
    /// versions listed, as CDAP does), [`CdapErrorKind::PercentageOutOfRange`]
    /// (the first such version) or [`CdapErrorKind::TotalNot100`], all 400.
    pub fn try_new(
        routes: Vec<(String, i32)>,
        service: &ServiceId,
        exists: impl Fn(&str) -> bool,
    ) -> Result<RouteConfig, CdapError> {
        if routes.is_empty() {
            return Err(CdapError::new(CdapErrorKind::Empty, EMPTY_MESSAGE));
        }
        let missing: Vec<String> = routes
            .iter()
            .filter(|(v, _)| !exists(v))
            .map(|(v, _)| service.program_id(v))
            .collect();
        if !missing.is_empty() {
            return Err(CdapError::new(
                CdapErrorKind::UnknownVersions,
                format!(
                    "The following versions of the application/service could not be found : [{}]",
                    missing.join(", ")
                ),
            ));
        }
        let mut out = Vec::with_capacity(routes.len());
        let mut total: u32 = 0;
        for (version, pct) in routes {
            let Some(p) = u8::try_from(pct).ok().filter(|p| *p <= 100) else {
                return Err(CdapError::new(
                    CdapErrorKind::PercentageOutOfRange,
                    format!("Route Percentage for version {version} must be between 0 and 100, got {pct}."),
                ));
            };
            total += u32::from(p);
            out.push((version, p));
        }
        if total != 100 {
            return Err(CdapError::new(CdapErrorKind::TotalNot100, TOTAL_MESSAGE));
        }
        Ok(RouteConfig { routes: out })
    }

    /// The versions and their percentages, in body order.
    pub fn routes(&self) -> &[(String, u8)] {
        &self.routes
    }

    /// The percentage of one version, if the config names it.
    pub fn percentage(&self, version: &str) -> Option<u8> {
        self.routes
            .iter()
            .find(|(v, _)| v == version)
            .map(|&(_, p)| p)
    }

    /// Whether this is the empty config of a service without one.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl Serialize for RouteConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.routes.len()))?;
        for (v, p) in &self.routes {
            map.serialize_entry(v, p)?;
        }
        map.end()
    }
}

/// Reads a PUT body into its entries, in body order, as CDAP's Gson reading of
/// `Map<String, Integer>` does: an absent (empty or whitespace-only) body or
/// `null` gives no entries, which validation then refuses as empty.
///
/// # Errors
///
/// [`CdapErrorKind::Malformed`] (400) for a body that is not JSON or not an
/// object, a repeated key (Gson's `duplicate key: <key>`), or a value that is
/// not an integer Gson's `Integer` reading takes (a `null`, a fraction, a value
/// outside Java's `int`, a non-numeric string, a boolean, an array, an object).
pub fn decode(body: &[u8]) -> Result<Vec<(String, i32)>, CdapError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let entries = de
        .deserialize_any(BodyVisitor)
        .and_then(|e| de.end().map(|()| e))
        .map_err(|e| {
            // Errors raised by the visitor carry their own text; serde_json
            // appends a position, which is kept for syntax errors only.
            let text = e.to_string();
            CdapError::new(CdapErrorKind::Malformed, text)
        })?;
    let Some(entries) = entries else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, i32)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if out.iter().any(|(k, _)| *k == key) {
            return Err(CdapError::new(
                CdapErrorKind::Malformed,
                format!("duplicate key: {key}"),
            ));
        }
        let n = gson_int(&value).ok_or_else(|| {
            CdapError::new(
                CdapErrorKind::Malformed,
                format!("Expected an int but was {value} at path $.{key}"),
            )
        })?;
        out.push((key, n));
    }
    Ok(out)
}

/// Decodes and validates a PUT body in one step (see [`decode`] and
/// [`RouteConfig::try_new`]); `existing` lists the deployed versions.
///
/// # Errors
///
/// Every error of [`decode`] and [`RouteConfig::try_new`].
pub fn decode_and_validate(
    body: &[u8],
    service: &ServiceId,
    existing: &[&str],
) -> Result<RouteConfig, CdapError> {
    let routes = decode(body)?;
    RouteConfig::try_new(routes, service, |v| existing.contains(&v))
}

/// Encodes a route config as CDAP's GET returns it: `{"v1":80,"v2":20}`, or
/// `{}` for a service without one.
pub fn encode(config: &RouteConfig) -> String {
    // A map of strings to small integers always encodes.
    serde_json::to_string(config).unwrap_or_default()
}

/// The integer Gson's `Integer` adapter reads from a JSON value: an integral
/// number in Java's `int` range, or a string holding one.
fn gson_int(value: &Value) -> Option<i32> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i32::try_from(i).ok()
            } else if n.as_u64().is_some() {
                None
            } else {
                let f = n.as_f64()?;
                let in_range =
                    f.fract() == 0.0 && (-2_147_483_648.0..=2_147_483_647.0).contains(&f);
                // Checked integral and within `i32` just above.
                in_range.then_some(f as i32)
            }
        }
        Value::String(s) => {
            let t = s.as_str();
            t.parse::<i32>().ok().or_else(|| {
                let f: f64 = t.parse().ok()?;
                let ok = f.is_finite()
                    && f.fract() == 0.0
                    && (-2_147_483_648.0..=2_147_483_647.0).contains(&f)
                    && !t.eq_ignore_ascii_case("nan")
                    && !t.to_ascii_lowercase().contains("inf");
                // Checked integral and within `i32` just above.
                ok.then_some(f as i32)
            })
        }
        _ => None,
    }
}

/// Reads the top-level value: `null` (no entries) or an object kept as its
/// entries in order, duplicates included.
struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Option<Vec<(String, Value)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object from versions to percentages")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.push((k, v));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gson_integer_reading() {
        for (v, want) in [
            (serde_json::json!(50), Some(50)),
            (serde_json::json!(50.0), Some(50)),
            (serde_json::json!(-3), Some(-3)),
            (serde_json::json!("50"), Some(50)),
            (serde_json::json!("5e1"), Some(50)),
            (serde_json::json!(50.5), None),
            (serde_json::json!(2_147_483_648_i64), None),
            (serde_json::json!(u64::MAX), None),
            (serde_json::json!("NaN"), None),
            (serde_json::json!("Infinity"), None),
            (serde_json::json!("x"), None),
            (serde_json::json!(true), None),
            (Value::Null, None),
        ] {
            assert_eq!(gson_int(&v), want, "{v}");
        }
    }
}
