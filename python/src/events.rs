//! `routeyard.Event` and `routeyard.Subscription`: the revisioned change stream.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use routeyard::dialect::kong::Wire;
use routeyard::{Action, Event, Filter, Kind, Object, RecvError, Subscription};
use serde_json::Value;

use crate::errors;
use crate::json;

/// The Python names of the object kinds, in the order of `Kind`'s variants.
const KINDS: [(&str, Kind); 8] = [
    ("http_route", Kind::HttpRoute),
    ("tcp_route_mapping", Kind::TcpRouteMapping),
    ("router_group", Kind::RouterGroup),
    ("port_reservation", Kind::PortReservation),
    ("route", Kind::Route),
    ("service", Kind::Service),
    ("upstream", Kind::Upstream),
    ("server", Kind::Server),
];

/// The longest the interpreter stays detached in one wait, so that a blocked
/// subscriber still sees Ctrl-C (a pending signal) within this time.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

fn kind_name(kind: Kind) -> &'static str {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("unknown", |(name, _)| name)
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Upsert => "upsert",
        Action::Delete => "delete",
        Action::Expire => "expire",
    }
}

/// Builds the filter for `kinds` (`None`: every kind).
///
/// # Errors
///
/// `ProcessRequestError` naming an unknown kind.
pub(crate) fn filter(py: Python<'_>, kinds: Option<Vec<String>>) -> PyResult<Filter> {
    let Some(kinds) = kinds else {
        return Ok(Filter::all());
    };
    let mut filter = Filter::none();
    for name in kinds {
        let Some((_, kind)) = KINDS.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            return Err(errors::unprocessable(
                py,
                format!(
                    "unknown kind '{name}'; expected one of {}",
                    known.join(", ")
                ),
            ));
        };
        filter = filter.with(*kind);
    }
    Ok(filter)
}

/// An object in its dialect's JSON shape: Cloud Foundry's for HTTP routes, TCP
/// mappings and router groups, Kong's Admin API shape for routes and services,
/// `{router_group_guid, port, expires_at}` for port reservations, the core's serde
/// shape for upstreams (`{service_id, backends, config}`), and gobetween's server
/// shape plus its `name` for servers.
pub(crate) fn object_value(object: &Object) -> Value {
    // The core's objects hold strings, integers, booleans, lists and maps with string
    // keys: serializing them into a JSON value cannot fail.
    let value = match object {
        Object::HttpRoute(r) => serde_json::to_value(&**r),
        Object::TcpRouteMapping(m) => serde_json::to_value(&**m),
        Object::RouterGroup(g) => serde_json::to_value(&**g),
        Object::PortReservation(r) => serde_json::to_value(&**r),
        Object::Route(r) => serde_json::to_value(Wire(&**r)),
        Object::Service(s) => serde_json::to_value(Wire(&**s)),
        Object::Upstream(u) => serde_json::to_value(&**u),
        Object::Server(s) => serde_json::to_value(&**s),
        // `Object` is non-exhaustive; a kind the binding does not know yet has no shape.
        _ => Ok(Value::Null),
    };
    value.unwrap_or(Value::Null)
}

/// One committed change: the revision it made, what happened and to which object.
///
/// `action` is `"upsert"`, `"delete"` or `"expire"` (a lease lapsed); `kind` is one of
/// `"http_route"`, `"tcp_route_mapping"`, `"router_group"`, `"port_reservation"`,
/// `"route"`, `"service"`, `"upstream"`, `"server"`; `object` is a fresh dict in the dialect's shape, as the
/// object was after an upsert or just before its removal.
#[pyclass(name = "Event", module = "routeyard", frozen, eq)]
#[derive(PartialEq)]
pub(crate) struct PyEvent {
    inner: Event,
}

impl PyEvent {
    pub(crate) fn new(inner: Event) -> Self {
        PyEvent { inner }
    }
}

#[pymethods]
impl PyEvent {
    /// The registry's revision once this change was applied.
    #[getter]
    fn revision(&self) -> u64 {
        self.inner.revision
    }

    /// `"upsert"`, `"delete"` or `"expire"`.
    #[getter]
    fn action(&self) -> &'static str {
        action_name(self.inner.action)
    }

    /// The kind of object, such as `"http_route"`.
    #[getter]
    fn kind(&self) -> &'static str {
        kind_name(self.inner.kind())
    }

    /// For a leased object (an HTTP route, a TCP mapping, a port reservation), when its
    /// lease ends, in integer nanoseconds on the registry's clock; otherwise `None`.
    #[getter]
    fn expires_at(&self) -> Option<u64> {
        match &self.inner.object {
            Object::HttpRoute(r) => Some(r.expires_at.as_nanos()),
            Object::TcpRouteMapping(m) => Some(m.expires_at.as_nanos()),
            Object::PortReservation(r) => Some(r.expires_at.as_nanos()),
            _ => None,
        }
    }

    /// The object as a dict in its dialect's shape.
    #[getter]
    fn object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::to_python(py, &object_value(&self.inner.object))
    }

    /// The event as one dict: `{"revision", "action", "kind", "object"}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("revision", self.revision())?;
        dict.set_item("action", self.action())?;
        dict.set_item("kind", self.kind())?;
        dict.set_item("object", self.object(py)?)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let object = self.object(py)?.repr()?;
        Ok(format!(
            "Event(revision={}, action='{}', kind='{}', object={})",
            self.revision(),
            self.action(),
            self.kind(),
            object.to_cow()?
        ))
    }
}

/// What one wait of a subscription ended with.
enum Received {
    Event(Event),
    /// The deadline passed, or the registry is gone: iteration ends.
    End,
    /// The slice passed without an event; check signals and wait again.
    Slice,
    Lagged(u64, String),
}

/// A stream of events: first the replayed history, then live changes.
///
/// Iterate over it (`for event in subscription`) to receive `Event`s. Waiting for the
/// next event releases the interpreter. With a `timeout`, iteration ends once no event
/// arrives for that many seconds; a later loop over the same subscription continues
/// where the last one stopped. A subscriber whose buffer overflowed gets the events it
/// was sent, then `LaggedError` with `.resume_from`, and the subscription is closed.
#[pyclass(name = "Subscription", module = "routeyard", frozen)]
pub(crate) struct PySubscription {
    /// `None` once closed.
    inner: Mutex<Option<Subscription>>,
    timeout: Option<Duration>,
}

impl PySubscription {
    pub(crate) fn new(inner: Subscription, timeout: Option<Duration>) -> Self {
        PySubscription {
            inner: Mutex::new(Some(inner)),
            timeout,
        }
    }

    /// One wait of at most `slice`, for an event that must come before `deadline`.
    fn wait(&self, slice: Duration, deadline: Option<Instant>) -> PyResult<Received> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("subscription lock poisoned"))?;
        let Some(sub) = guard.as_mut() else {
            return Ok(Received::End);
        };
        let wait = match deadline {
            Some(d) => slice.min(d.saturating_duration_since(Instant::now())),
            None => slice,
        };
        Ok(match sub.recv_timeout(wait) {
            Ok(event) => Received::Event(event),
            Err(RecvError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    Received::End
                } else {
                    Received::Slice
                }
            }
            Err(err @ RecvError::Lagged { resume_from }) => {
                *guard = None;
                Received::Lagged(resume_from, err.to_string())
            }
            Err(_) => {
                *guard = None;
                Received::End
            }
        })
    }

    /// Waits up to `timeout` (`None`: without end) for the next event; `None` when the
    /// time passed or the subscription is closed.
    fn receive(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<PyEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match py.detach(|| self.wait(SIGNAL_CHECK, deadline))? {
                Received::Event(event) => return Ok(Some(PyEvent::new(event))),
                Received::End => return Ok(None),
                Received::Slice => py.check_signals()?,
                Received::Lagged(resume_from, message) => {
                    return Err(errors::lagged(py, resume_from, message))
                }
            }
        }
    }
}

#[pymethods]
impl PySubscription {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<PyEvent> {
        match self.receive(py, self.timeout)? {
            Some(event) => Ok(event),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// Waits up to `timeout` seconds (default: the subscription's timeout; without one,
    /// without end) for the next event; returns `None` if none came or the subscription
    /// is closed.
    #[pyo3(signature = (timeout = None))]
    fn recv(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PyEvent>> {
        let timeout = match timeout {
            Some(t) => Some(crate::clock::seconds_to_duration("timeout", t)?),
            None => self.timeout,
        };
        self.receive(py, timeout)
    }

    /// The number of events that can be received without waiting.
    #[getter]
    fn pending(&self) -> PyResult<usize> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("subscription lock poisoned"))?;
        Ok(guard.as_ref().map_or(0, Subscription::pending))
    }

    /// Whether the subscription was closed (by `close()`, a lag, or the registry
    /// going away).
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("subscription lock poisoned"))?;
        Ok(guard.is_none())
    }

    /// Unsubscribes; iteration then ends. Waits for a concurrent `recv` to return.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let sub = py.detach(|| {
            self.inner
                .lock()
                .map(|mut guard| guard.take())
                .map_err(|_| PyRuntimeError::new_err("subscription lock poisoned"))
        })?;
        drop(sub);
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        // An exception leaving the block propagates (the method returns None).
        let _ = (exc_type, exc_value, traceback);
        self.close(py)
    }

    fn __repr__(&self) -> String {
        let timeout = match self.timeout {
            Some(t) => format!("{}", t.as_secs_f64()),
            None => "None".to_string(),
        };
        format!("<Subscription timeout={timeout}>")
    }
}
