//! Bearer tokens (CF routing-api's UAA check, with HS256 or RS256 keys) and Basic
//! credentials.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Scope for reading HTTP routes, TCP mappings and their event streams.
pub(crate) const ROUTES_READ: &str = "routing.routes.read";
/// Scope for changing HTTP routes and TCP mappings.
pub(crate) const ROUTES_WRITE: &str = "routing.routes.write";
/// Scope for reading router groups.
pub(crate) const ROUTER_GROUPS_READ: &str = "routing.router_groups.read";
/// Scope for changing router groups.
pub(crate) const ROUTER_GROUPS_WRITE: &str = "routing.router_groups.write";

/// CF's text when a valid token lacks the scope an endpoint needs.
const NOT_AUTHORIZED: &str = "You are not authorized to perform the requested action";

/// Checks bearer tokens as CF routing-api does: `bearer <jwt>` (any case), a
/// signature by a configured key, not expired, the issuer if one is configured, and
/// the scope the endpoint needs.
pub(crate) struct Auth {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    issuer: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// The `scope` claim: UAA writes a list; a space-separated string (RFC 8693) is
/// accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    scope: Option<ScopeClaim>,
    /// Expiry and start of validity, in seconds since the epoch. jsonwebtoken skips
    /// one it cannot read as a non-negative number as if it were absent, so a token
    /// with `"exp": "tomorrow"` or `"exp": -1` would never expire: they are read
    /// (anything but a number or null makes the token malformed) and checked here.
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

impl Auth {
    /// An authenticator for the configured keys.
    ///
    /// # Errors
    ///
    /// A message when the RSA key file cannot be read or is no PEM RSA public key.
    pub(crate) fn new(
        hs256_secret: Option<&str>,
        rs256_public_key: Option<&Path>,
        issuer: Option<&str>,
    ) -> Result<Auth, String> {
        let rs256 =
            match rs256_public_key {
                None => None,
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    Some(DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                        format!("{} is not a PEM RSA public key: {e}", path.display())
                    })?)
                }
            };
        Ok(Auth {
            hs256: hs256_secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            rs256,
            issuer: issuer.map(str::to_owned),
        })
    }

    /// Checks the `Authorization` header for `scope`. The error is CF's message for
    /// an `UnauthorizedError`.
    pub(crate) fn check(&self, headers: &HeaderMap, scope: &str) -> Result<(), String> {
        let value = headers
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
            .unwrap_or("");
        // As CF: exactly two parts split on one space, the first `bearer` in any case.
        let parts: Vec<&str> = value.split(' ').collect();
        let [kind, token] = parts[..] else {
            return Err("Invalid token format".into());
        };
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("Invalid token type: {kind}"));
        }
        let segments: Vec<&str> = token.split('.').collect();
        if segments.len() != 3 {
            return Err("token contains an invalid number of segments".into());
        }
        let header: Header = URL_SAFE_NO_PAD
            .decode(segments[0])
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| "token is malformed: its header is not base64url JSON".to_string())?;
        let (key, algorithm, bad_signature) = match (header.alg.as_str(), &self.hs256, &self.rs256)
        {
            ("HS256", Some(key), _) => (key, Algorithm::HS256, "signature is invalid"),
            ("RS256", _, Some(key)) => (key, Algorithm::RS256, "crypto/rsa: verification error"),
            _ => return Err("invalid signing method".into()),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        // As CF's parser: `exp` is checked when present, not required.
        validation.required_spec_claims.clear();
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                JwtErrorKind::InvalidSignature => bad_signature.to_string(),
                JwtErrorKind::ExpiredSignature => "Token is expired".to_string(),
                JwtErrorKind::ImmatureSignature => "Token is not valid yet".to_string(),
                JwtErrorKind::InvalidIssuer => "invalid issuer".to_string(),
                _ => format!("token is malformed: {e}"),
            })?
            .claims;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if claims.exp.is_some_and(|exp| exp < now.floor()) {
            return Err("Token is expired".into());
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.ceil()) {
            return Err("Token is not valid yet".into());
        }
        let granted = match &claims.scope {
            Some(ScopeClaim::List(scopes)) => scopes.iter().any(|s| s == scope),
            Some(ScopeClaim::Text(scopes)) => scopes.split(' ').any(|s| s == scope),
            None => false,
        };
        if granted {
            Ok(())
        } else {
            Err(NOT_AUTHORIZED.into())
        }
    }
}

/// Basic credentials, checked by [`require_basic_auth`].
#[derive(Clone, Debug)]
pub(crate) struct BasicCredentials {
    expected: String,
}

impl BasicCredentials {
    /// The credentials `user:pass`.
    pub(crate) fn new(user: &str, pass: &str) -> BasicCredentials {
        BasicCredentials {
            expected: format!("{user}:{pass}"),
        }
    }

    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((kind, encoded)) = value.split_once(' ') else {
            return false;
        };
        if !kind.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(given) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        constant_time_eq(&given, self.expected.as_bytes())
    }
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware answering 401 with a `WWW-Authenticate: Basic` challenge unless the
/// request carries the expected Basic credentials (gobetween's admin API style).
/// Apply it to a router with `axum::middleware::from_fn_with_state`.
pub(crate) async fn require_basic_auth(
    State(credentials): State<BasicCredentials>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.accepts(request.headers()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [
            (WWW_AUTHENTICATE, "Basic realm=\"routeyard\""),
            (CONTENT_TYPE, "application/json"),
        ],
        r#"{"message":"Unauthorized"}"#,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use jsonwebtoken::{encode, EncodingKey};
    use serde_json::json;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn hs256(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn cf_messages_for_each_failure() {
        let auth = Auth::new(Some("k"), None, Some("uaa")).unwrap();
        let good = hs256(
            json!({"scope": [ROUTES_READ], "exp": now() + 600, "iss": "uaa"}),
            "k",
        );
        assert_eq!(
            auth.check(&headers(&format!("BeArEr {good}")), ROUTES_READ),
            Ok(())
        );
        let cases = [
            (String::new(), "Invalid token format"),
            (format!("bearer  {good}"), "Invalid token format"),
            (format!("Basic {good}"), "Invalid token type: Basic"),
            (
                "bearer a.b".into(),
                "token contains an invalid number of segments",
            ),
            (
                "bearer !.b.c".into(),
                "token is malformed: its header is not base64url JSON",
            ),
            (
                format!("bearer {}", hs256(json!({"scope": [ROUTES_READ]}), "other")),
                "signature is invalid",
            ),
            (
                format!(
                    "bearer {}",
                    hs256(
                        json!({"scope": [ROUTES_READ], "exp": now() - 10, "iss": "uaa"}),
                        "k"
                    )
                ),
                "Token is expired",
            ),
            (
                format!(
                    "bearer {}",
                    hs256(json!({"scope": [ROUTES_READ], "iss": "x"}), "k")
                ),
                "invalid issuer",
            ),
            (format!("bearer {good}"), NOT_AUTHORIZED),
        ];
        for (i, (header, message)) in cases.iter().enumerate() {
            let scope = if i == cases.len() - 1 {
                ROUTES_WRITE
            } else {
                ROUTES_READ
            };
            assert_eq!(
                auth.check(&headers(header), scope),
                Err(message.to_string()),
                "{header}"
            );
        }
        assert_eq!(
            auth.check(&HeaderMap::new(), ROUTES_READ),
            Err("Invalid token format".into())
        );
    }

    #[test]
    fn an_expiry_that_is_not_a_whole_positive_number_is_still_checked() {
        let auth = Auth::new(Some("k"), None, None).unwrap();
        let check = |claims: serde_json::Value| {
            let token = hs256(claims, "k");
            auth.check(&headers(&format!("bearer {token}")), ROUTES_READ)
        };
        let scope = json!([ROUTES_READ]);
        for exp in [json!(-1), json!(-1.5e9), json!(now() as f64 - 60.5)] {
            assert_eq!(
                check(json!({"scope": scope, "exp": exp})),
                Err("Token is expired".into()),
                "{exp}"
            );
        }
        for exp in [json!("tomorrow"), json!([1]), json!({"at": 1}), json!(true)] {
            let err = check(json!({"scope": scope, "exp": exp})).unwrap_err();
            assert!(err.starts_with("token is malformed: "), "{exp}: {err}");
        }
        let err = check(json!({"scope": scope, "nbf": "now"})).unwrap_err();
        assert!(err.starts_with("token is malformed: "), "{err}");
        assert_eq!(
            check(json!({"scope": scope, "nbf": now() as f64 + 600.5})),
            Err("Token is not valid yet".into())
        );
        assert_eq!(
            check(json!({"scope": scope, "exp": now() as f64 + 600.5, "nbf": null})),
            Ok(())
        );
        assert_eq!(check(json!({"scope": scope, "exp": null})), Ok(()));
    }

    #[test]
    fn an_algorithm_without_a_key_is_refused() {
        let auth = Auth::new(None, None, None).unwrap();
        let token = hs256(json!({"scope": [ROUTES_READ]}), "k");
        assert_eq!(
            auth.check(&headers(&format!("bearer {token}")), ROUTES_READ),
            Err("invalid signing method".into())
        );
    }

    #[test]
    fn space_separated_scopes() {
        let auth = Auth::new(Some("k"), None, None).unwrap();
        let token = hs256(json!({"scope": "a routing.routes.write"}), "k");
        let h = headers(&format!("bearer {token}"));
        assert_eq!(auth.check(&h, ROUTES_WRITE), Ok(()));
        assert_eq!(auth.check(&h, ROUTES_READ), Err(NOT_AUTHORIZED.into()));
    }

    #[test]
    fn basic_credentials() {
        let creds = BasicCredentials::new("admin", "pw");
        let ok = format!("Basic {}", STANDARD.encode("admin:pw"));
        assert!(creds.accepts(&headers(&ok)));
        assert!(creds.accepts(&headers(&ok.replace("Basic", "basic"))));
        for bad in [
            format!("Basic {}", STANDARD.encode("admin:pX")),
            format!("Basic {}", STANDARD.encode("admin:pw2")),
            "Basic !!!".to_string(),
            format!("Bearer {}", STANDARD.encode("admin:pw")),
            "Basic".to_string(),
        ] {
            assert!(!creds.accepts(&headers(&bad)), "{bad}");
        }
        assert!(!creds.accepts(&HeaderMap::new()));
    }
}
