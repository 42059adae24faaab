//! gobetween servers on a registry, as gobetween's REST API takes and shows them.
//!
//! Server bodies are decoded, checked and completed with gobetween's defaults by the
//! core's gobetween dialect (`routeyard::dialect::gobetween`), so C sees gobetween's
//! shapes and its error texts. Errors carry gobetween's message; `ry_error_body` gives
//! them in CF's `{"name", "message"}` form, as for the other functions that are not
//! Kong's (gobetween's own body is the bare message as a JSON string).

use std::ffi::c_char;

use routeyard_core::dialect::gobetween::{self, GbError, GbErrorKind, Server};
use routeyard_core::NamedServer;
use serde_json::Value;

use crate::error::{ry_error, ry_status};
use crate::registry::{registry, ry_registry};
use crate::string::{str_arg, write_opt, StringOut};

/// A gobetween refusal as a C error: gobetween's text, with the status of its kind (a
/// body it cannot read is `RY_ERR_INVALID_JSON`, a server it refuses
/// `RY_ERR_INVALID_ARGUMENT`, as gobetween's 400 and 409).
pub(crate) fn gb_error(e: &GbError) -> ry_error {
    let (status, name) = match e.kind() {
        GbErrorKind::Decode => (ry_status::RyErrInvalidJson, "ProcessRequestError"),
        GbErrorKind::Exists => (ry_status::RyErrConflict, "DBConflictError"),
        GbErrorKind::NotFound => (ry_status::RyErrNotFound, "ResourceNotFoundError"),
        _ => (ry_status::RyErrInvalidArgument, "ProcessRequestError"),
    };
    ry_error::new(status, name, e.message())
}

/// A server as gobetween's `GET /servers/{name}` shows it (no name).
fn encode_server(server: &Server) -> String {
    // Strings, integers, booleans, lists and string maps only: cannot fail.
    serde_json::to_string(server).unwrap_or_default()
}

/// A named server as events and snapshots carry it: `{"name": ..., server fields}`.
pub(crate) fn encode_named(server: &NamedServer) -> String {
    // As `encode_server`, with one more string.
    serde_json::to_string(server).unwrap_or_default()
}

/// Reads a named server as `encode_named` writes it: the `name` is taken out and the
/// rest read by gobetween's decoder. The error is the message, prefixed by `context`.
pub(crate) fn decode_named(context: &str, value: Value) -> Result<NamedServer, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("{context}: must be a JSON object"));
    };
    let name = match map.remove("name") {
        Some(Value::String(name)) => name,
        None | Some(Value::Null) => return Err(format!("{context}: `name` is required")),
        Some(_) => return Err(format!("{context}: `name` must be a string")),
    };
    let server = decode_server(context, Value::Object(map))?;
    Ok(NamedServer { name, server })
}

/// Reads one server body with gobetween's decoder; the error is gobetween's text,
/// prefixed by `context`.
pub(crate) fn decode_server(context: &str, value: Value) -> Result<Server, String> {
    gobetween::decode_server(value.to_string().as_bytes())
        .map_err(|e| format!("{context}: {}", e.message()))
}

/// Creates a gobetween server, as gobetween's `POST /servers/{name}`: checked and
/// completed with defaults as gobetween does, it lands as a Kong-style service of the
/// same name whose upstream holds the static backends (`priority` as tier, `balance`
/// as strategy), and a stream route of the same name on the bind port, both tagged
/// `gobetween`.
///
/// The body is gobetween's server object, for example `{"bind": "0.0.0.0:3000",
/// "balance": "weight", "discovery": {"kind": "static", "static_list":
/// ["10.0.0.1:8000 weight=3 priority=1", "10.0.0.2:8000"]}}`. Only static discovery is
/// served.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the server's name, UTF-8.
/// - `json`, `json_len`: the server object, UTF-8.
/// - `out`: receives the stored server as gobetween's `GET /servers/{name}` shows it
///   (defaults filled in); may be NULL.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL. Its message is the dialect's text; `ry_error_body` gives it in CF's
///   `{"name", "message"}` form.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed and nothing is written.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `name` or `json` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` or `json` is not UTF-8.
/// - `RY_ERR_INVALID_JSON` for a body gobetween cannot read (its 400), with its text,
///   such as `json: cannot unmarshal string into Go struct field Server.max_connections
///   of type int`.
/// - `RY_ERR_INVALID_ARGUMENT` for a server gobetween refuses (its 409), with its text,
///   such as `No bind specified for server web` or `Not supported balance type random`,
///   or a name a service cannot carry.
/// - `RY_ERR_CONFLICT` for a name in use: `Server with this name already exists: web`,
///   or a service or route of that name.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `json` is NULL or valid for reading `json_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_create_server_json(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    json: *const u8,
    json_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        // SAFETY: the caller guarantees `json` is NULL or `json_len` readable bytes.
        let json = unsafe { str_arg(json, json_len, "json") }?;
        let server = gobetween::decode_server(json.as_bytes()).map_err(|e| gb_error(&e))?;
        let stored = registry.create_server(name, &server)?;
        if !out.is_null() {
            // SAFETY: `out` is non-NULL; the caller guarantees it and `out_len` are
            // writable or NULL.
            unsafe { StringOut::new(out, out_len)?.write(encode_server(&stored.server)) };
        }
        Ok(())
    })
}

/// Reads a gobetween server as gobetween's `GET /servers/{name}` shows it.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the server's name, UTF-8.
/// - `out`: receives the server object (defaults filled in, no name).
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `name` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown name (gobetween's `Server not found`).
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_server_json(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        let out = StringOut::new(out, out_len)?;
        let named = registry
            .server(name)
            .ok_or_else(|| gb_error(&gobetween::not_found()))?;
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(encode_server(&named.server)) };
        Ok(())
    })
}

/// Lists every gobetween server as gobetween's `GET /servers` does: one JSON object
/// from name to server object, names in byte order; `{}` when there is none.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `out`: receives the JSON text, NUL-terminated.
/// - `out_len`: receives its length in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or `RY_ERR_NULL_ARG` when `reg` or `out` is NULL.
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_servers_json(
    reg: *const ry_registry,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        let out = StringOut::new(out, out_len)?;
        // Written as text around each server's own, so that its fields keep the order
        // `ry_registry_server_json` writes them in.
        let entries: Vec<String> = registry
            .servers()
            .iter()
            .map(|(name, server)| {
                format!("{}:{}", Value::from(name.as_str()), encode_server(server))
            })
            .collect();
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(format!("{{{}}}", entries.join(","))) };
        Ok(())
    })
}

/// Deletes a gobetween server, as gobetween's `DELETE /servers/{name}`, with the route,
/// upstream and service it landed as.
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the server's name, UTF-8.
/// - `revision`: receives the registry's revision after the delete; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; on failure nothing changed.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg` or `name` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown name (gobetween's `Server not found`).
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `revision` is NULL or valid for writing one `uint64_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_delete_server(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    revision: *mut u64,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        let after = registry.delete_server(name)?;
        // SAFETY: the caller guarantees `revision` is NULL or writable.
        unsafe { write_opt(revision, after) };
        Ok(())
    })
}

/// Reads a gobetween server's statistics as gobetween's `GET /servers/{name}/stats`:
/// totals over its backends, then each backend (the shape
/// `ry_registry_pool_stats_json` documents).
///
/// # Arguments
///
/// - `reg`: the registry.
/// - `name`, `name_len`: the server's name, UTF-8.
/// - `out`: receives the statistics.
/// - `out_len`: receives the length of that text in bytes; may be NULL.
/// - `err`: receives NULL on success or an error to free with `ry_error_free`; may be
///   NULL.
///
/// # Returns
///
/// `RY_OK`, or an error status; nothing is written to `out` on failure.
///
/// # Errors
///
/// - `RY_ERR_NULL_ARG` when `reg`, `name` or `out` is NULL.
/// - `RY_ERR_INVALID_UTF8` when `name` is not UTF-8.
/// - `RY_ERR_NOT_FOUND` for an unknown name (gobetween's `Server not found`).
///
/// # Lifetimes
///
/// `*out` is owned by the caller and freed with `ry_string_free`.
///
/// # Safety
///
/// - `reg` is NULL or a live registry handle.
/// - `name` is NULL or valid for reading `name_len` bytes.
/// - `out` is NULL or valid for writing one `char *`.
/// - `out_len` is NULL or valid for writing one `size_t`.
/// - `err` is NULL or valid for writing one `ry_error *`.
#[no_mangle]
pub unsafe extern "C" fn ry_registry_server_stats_json(
    reg: *const ry_registry,
    name: *const u8,
    name_len: usize,
    out: *mut *mut c_char,
    out_len: *mut usize,
    err: *mut *mut ry_error,
) -> ry_status {
    ffi_boundary!(err, {
        // SAFETY: the caller guarantees `reg` is NULL or a live handle.
        let registry = unsafe { registry(reg) }?;
        // SAFETY: the caller guarantees `name` is NULL or `name_len` readable bytes.
        let name = unsafe { str_arg(name, name_len, "name") }?;
        let out = StringOut::new(out, out_len)?;
        let stats = registry
            .server_stats(name)
            .ok_or_else(|| gb_error(&gobetween::not_found()))?;
        // Counters and strings only: serialising cannot fail.
        let text = serde_json::to_string(&stats).unwrap_or_default();
        // SAFETY: the caller guarantees `out` and `out_len` are writable or NULL.
        unsafe { out.write(text) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use routeyard_core::balance::{Backend, PoolConfig, Split, SplitConfig, Strategy};
    use routeyard_core::dialect::kong;
    use routeyard_core::{Config, Registry};

    const WEB: &[u8] = br#"{"bind":"0.0.0.0:3000","balance":"leastconn","max_connections":50,
        "client_idle_timeout":"10m","discovery":{"kind":"static","static_list":
        ["10.1.0.1:8000 weight=3 priority=1","10.1.0.2:8000"]},
        "healthcheck":{"kind":"ping","interval":"2s","timeout":"1s"}}"#;

    /// A registry with a server and a service whose upstream has a split.
    fn populated() -> Registry {
        let registry = Registry::new(Config::new());
        let server = gobetween::decode_server(WEB).unwrap();
        registry.create_server("web", &server).unwrap();
        registry
            .create_service(kong::decode_service(br#"{"name":"orders","host":"o"}"#).unwrap())
            .unwrap();
        registry
            .put_upstream(
                "orders",
                vec![
                    Backend::new("10.0.0.1", 80).with_version("v1"),
                    Backend::new("10.0.0.2", 80)
                        .with_version("v2")
                        .with_metadata("zone", "b"),
                ],
                PoolConfig::new().strategy(Strategy::ConsistentHash).seed(3),
            )
            .unwrap();
        registry
            .set_split(
                "orders",
                SplitConfig::new(Split::new().with("v1", 60).with("v2", 40)).sticky(true),
            )
            .unwrap();
        registry
    }

    #[test]
    fn upstreams_and_servers_read_back_from_a_snapshot() {
        let registry = populated();
        let original = registry.snapshot();
        assert_eq!(original.upstreams.len(), 2);
        assert_eq!(original.servers.len(), 1);
        let text = json::snapshot(&original);
        let mut decoded = json::decode_snapshot(&text).unwrap();
        decoded.sort();
        assert_eq!(decoded, original);
        assert_eq!(json::snapshot(&decoded), text);

        // A second registry restored from it holds the same state.
        let replica = Registry::new(Config::new());
        replica.restore(decoded).unwrap();
        let mut copy = replica.snapshot();
        copy.revision = original.revision;
        assert_eq!(json::snapshot(&copy), text);
    }

    #[test]
    fn a_named_server_needs_its_name_and_a_valid_body() {
        let named = populated().server("web").unwrap();
        let value: Value = serde_json::from_str(&encode_named(&named)).unwrap();
        assert_eq!(decode_named("s", value).unwrap(), named);
        for (value, message) in [
            (serde_json::json!([]), "s: must be a JSON object"),
            (serde_json::json!({"bind": ":1"}), "s: `name` is required"),
            (serde_json::json!({"name": 1}), "s: `name` must be a string"),
            (
                serde_json::json!({"name": "x", "protocol": "http"}),
                "s: Not supported protocol http",
            ),
        ] {
            assert_eq!(decode_named("s", value).unwrap_err(), message);
        }
    }

    #[test]
    fn gobetween_refusals_keep_their_text_and_get_a_status() {
        let decode = gobetween::decode_server(br#"{"max_connections":"x"}"#).unwrap_err();
        let err = gb_error(&decode);
        assert_eq!(err.status(), ry_status::RyErrInvalidJson);
        assert_eq!(err.message_text(), decode.message());
        let invalid = gobetween::decode_server(br#"{"balance":"random"}"#).unwrap_err();
        assert_eq!(gb_error(&invalid).status(), ry_status::RyErrInvalidArgument);
        assert_eq!(
            gb_error(&gobetween::already_exists("web")).status(),
            ry_status::RyErrConflict
        );
        let missing = gb_error(&gobetween::not_found());
        assert_eq!(missing.status(), ry_status::RyErrNotFound);
        assert_eq!(missing.message_text(), "Server not found");
    }
}
