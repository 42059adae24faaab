//! Backends, balancing, version splits and gobetween servers: the dict forms
//! `Registry.put_upstream`, `set_split`, `create_server` and the batch ops take, and
//! `routeyard.Connection`, the connection slot `Registry.connect` hands out.
//!
//! A backend dict is the serde shape of the core's `balance::Backend` (`address`,
//! `port`, `weight`, `tier`, `version`, `max_connections`, `state`, `discovered`,
//! `metadata`); a pool configuration is the shape of `balance::PoolConfig`
//! (`strategy`, `split` = `{split, fallback, sticky}`, `seed`). A gobetween server is
//! its JSON shape, read by the core's gobetween codec.

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use routeyard::balance::{Backend, Connection, Fallback, PoolConfig, Split, SplitConfig, Strategy};
use routeyard::dialect::{cdap, gobetween};
use serde_json::{Map, Value};

use crate::batch::{json_type, to_bytes, BatchError};
use crate::errors;

/// The keys a backend dict may have.
const BACKEND_KEYS: [&str; 9] = [
    "address",
    "port",
    "weight",
    "tier",
    "version",
    "max_connections",
    "state",
    "discovered",
    "metadata",
];

/// The keys a pool configuration dict may have.
const CONFIG_KEYS: [&str; 3] = ["strategy", "split", "seed"];

/// The keys of a configuration's `split`.
const SPLIT_KEYS: [&str; 3] = ["split", "fallback", "sticky"];

/// The fallback names, as the core writes them.
const FALLBACKS: &str = "random, drop, smallest, largest";

/// Refuses a key of `map` that is not in `known`; `what` names the dict.
fn known_keys(what: &str, map: &Map<String, Value>, known: &[&str]) -> Result<(), BatchError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(extra) => Err(BatchError::Shape(format!(
            "{what}: unexpected key '{extra}'; expected {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A dict, or a shape error naming `what`.
fn object(what: &str, value: Value) -> Result<Map<String, Value>, BatchError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(BatchError::Shape(format!(
            "{what} must be a dict, not {}",
            json_type(&other)
        ))),
    }
}

/// Reads a list of backend dicts.
pub(crate) fn backends(value: Value) -> Result<Vec<Backend>, BatchError> {
    let Value::Array(items) = value else {
        return Err(BatchError::Shape(format!(
            "backends must be a list of dicts, not {}",
            json_type(&value)
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let what = format!("backends[{i}]");
            let map = object(&what, item)?;
            known_keys(&what, &map, &BACKEND_KEYS)?;
            serde_json::from_value(Value::Object(map))
                .map_err(|e| BatchError::Shape(format!("{what}: {e}")))
        })
        .collect()
}

/// Reads a pool configuration dict; `None` (JSON null) is the default configuration.
pub(crate) fn pool_config(value: Value) -> Result<PoolConfig, BatchError> {
    if value.is_null() {
        return Ok(PoolConfig::new());
    }
    let map = object("config", value)?;
    known_keys("config", &map, &CONFIG_KEYS)?;
    // An unknown strategy gets the core's own message and kind.
    if let Some(Value::String(name)) = map.get("strategy") {
        name.parse::<Strategy>()?;
    }
    if let Some(Value::Object(split)) = map.get("split") {
        known_keys("config['split']", split, &SPLIT_KEYS)?;
    }
    serde_json::from_value(Value::Object(map))
        .map_err(|e| BatchError::Shape(format!("config: {e}")))
}

/// A fallback by name.
pub(crate) fn fallback(py: Python<'_>, name: &str) -> PyResult<Fallback> {
    serde_json::from_value(Value::String(name.to_owned())).map_err(|_| {
        errors::invalid_argument(
            py,
            format!("unknown fallback '{name}'; expected one of {FALLBACKS}"),
        )
    })
}

/// Reads percentages per version as CDAP's route config handler does (an object of
/// integers), with CDAP's messages for what it refuses.
pub(crate) fn split(value: &Value) -> Result<Split, cdap::CdapError> {
    let routes = cdap::decode(&to_bytes(value))?;
    Ok(routes
        .into_iter()
        .fold(Split::new(), |split, (version, percent)| {
            split.with(version, i64::from(percent))
        }))
}

/// A split configuration with the given percentages, fallback and stickiness.
pub(crate) fn split_config(split: Split, fallback: Fallback, sticky: bool) -> SplitConfig {
    SplitConfig::new(split).fallback(fallback).sticky(sticky)
}

/// Reads a gobetween server from its JSON shape with the core's codec.
pub(crate) fn server(value: &Value) -> Result<gobetween::Server, BatchError> {
    gobetween::decode_server(&to_bytes(value)).map_err(BatchError::Gobetween)
}

/// A config syntax by name.
pub(crate) fn format(py: Python<'_>, name: &str) -> PyResult<gobetween::Format> {
    match name {
        "json" => Ok(gobetween::Format::Json),
        "toml" => Ok(gobetween::Format::Toml),
        _ => Err(errors::invalid_argument(
            py,
            format!("unknown format '{name}'; expected json or toml"),
        )),
    }
}

/// A connection slot on a backend, taken by `Registry.connect`.
///
/// It holds one of the backend's connection slots (counted against its
/// `max_connections` and by least-connections balancing) until `close()`, the end of
/// a `with` block, or garbage collection. Report the connection's life with
/// `established()` (the dial succeeded), `refused()` (it failed; this also closes
/// the slot), and the bytes with `add_rx` and `add_tx`. Closing twice does nothing;
/// reporting on a closed connection raises `InvalidArgumentError`.
#[pyclass(name = "Connection", module = "routeyard", frozen)]
pub(crate) struct PyConnection {
    /// `None` once closed.
    inner: Mutex<Option<Connection>>,
    address: String,
    port: u16,
}

impl PyConnection {
    pub(crate) fn new(inner: Connection) -> PyConnection {
        let backend = inner.backend();
        let (address, port) = (backend.address.clone(), backend.port);
        PyConnection {
            inner: Mutex::new(Some(inner)),
            address,
            port,
        }
    }

    /// Runs `f` on the open connection.
    fn with_open(&self, py: Python<'_>, f: impl FnOnce(&Connection)) -> PyResult<()> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("connection lock poisoned"))?;
        match guard.as_ref() {
            Some(conn) => {
                f(conn);
                Ok(())
            }
            None => Err(errors::invalid_argument(
                py,
                "the connection is closed".to_string(),
            )),
        }
    }

    fn take(&self) -> PyResult<Option<Connection>> {
        self.inner
            .lock()
            .map(|mut guard| guard.take())
            .map_err(|_| PyRuntimeError::new_err("connection lock poisoned"))
    }
}

#[pymethods]
impl PyConnection {
    /// `(address, port)` of the backend.
    #[getter]
    fn backend(&self) -> (&str, u16) {
        (&self.address, self.port)
    }

    /// Whether the slot was given back (by `close()`, `refused()` or a `with` block).
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        self.inner
            .lock()
            .map(|guard| guard.is_none())
            .map_err(|_| PyRuntimeError::new_err("connection lock poisoned"))
    }

    /// The dial succeeded: counts one more connection in the backend's total.
    fn established(&self, py: Python<'_>) -> PyResult<()> {
        self.with_open(py, Connection::established)
    }

    /// The dial failed: counts a refused connection and gives the slot back.
    fn refused(&self, py: Python<'_>) -> PyResult<()> {
        match self.take()? {
            Some(conn) => {
                conn.refused();
                Ok(())
            }
            None => Err(errors::invalid_argument(
                py,
                "the connection is closed".to_string(),
            )),
        }
    }

    /// `n` more bytes were received from the backend.
    fn add_rx(&self, py: Python<'_>, n: u64) -> PyResult<()> {
        self.with_open(py, |c| c.add_rx(n))
    }

    /// `n` more bytes were sent to the backend.
    fn add_tx(&self, py: Python<'_>, n: u64) -> PyResult<()> {
        self.with_open(py, |c| c.add_tx(n))
    }

    /// Gives the slot back; closing again does nothing.
    fn close(&self) -> PyResult<()> {
        drop(self.take()?);
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        // An exception leaving the block propagates (the method returns None).
        let _ = (exc_type, exc_value, traceback);
        self.close()
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "<Connection backend=('{}', {}) closed={}>",
            self.address,
            self.port,
            if self.closed()? { "True" } else { "False" }
        ))
    }
}
