//! Matching requests: `Registry.match`, `Registry.match_many`, and the `Match` and
//! `Capture` classes they answer with.
//!
//! A request is given as keyword arguments (or, for `match_many`, as a dict with the
//! same keys): `protocol`, `method`, `host`, `path`, `headers`, `sni`, `source`,
//! `destination`, `router_group`, and `key` (bytes or str: the caller key that
//! consistent hashing and sticky splits pick by). The answer is read from the borrowed
//! lookup into an [`Answer`], whose route and service are shared with the index (`Arc`s);
//! they become dicts only when the `route` and `service` attributes are read.

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use routeyard::balance::PickInput;
use routeyard::dialect::kong;
use routeyard::{
    Backend, Capture, Found, Matched, Protocol, Registry, Request, Service, UpstreamPath,
};

use crate::errors;
use crate::json;
use crate::match_object;
use crate::text::{HeldStr, Lent, Text};
use crate::upstream::PyConnection;
use crate::vectorcall::Arguments;

/// The protocol names a request may give, as Kong writes them.
const PROTOCOLS: &str = "grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

/// The keys of a request dict (and the keyword arguments of `match`).
const KEYS: &str =
    "protocol, method, host, path, headers, sni, source, destination, router_group, key";

/// The protocol Kong names `name`.
///
/// # Errors
///
/// `InvalidArgumentError` naming the accepted protocols.
fn protocol(py: Python<'_>, name: &str) -> PyResult<Protocol> {
    Protocol::from_name(name).ok_or_else(|| {
        errors::invalid_argument(
            py,
            format!("unknown protocol '{name}'; expected one of: {PROTOCOLS}"),
        )
    })
}

/// Reads an address: `"ip:port"` (IPv6 in brackets) or an `(ip, port)` tuple.
///
/// # Errors
///
/// `InvalidArgumentError` for text that is not an address or a port outside
/// 0..=65535; `TypeError` for any other kind of object.
fn address(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<SocketAddr> {
    let py = obj.py();
    if let Ok(text) = obj.cast::<PyString>() {
        let text = text.to_cow()?;
        return text.parse().map_err(|_| {
            errors::invalid_argument(
                py,
                format!(
                    "invalid {what} address '{text}': expected 'ip:port', with an IPv6 \
                     address in brackets"
                ),
            )
        });
    }
    if let Ok(pair) = obj.cast::<PyTuple>() {
        if pair.len() == 2 {
            let (ip, port) = (pair.get_item(0)?, pair.get_item(1)?);
            // `bool` is a subclass of `int` in Python, but not a port.
            let port = port
                .cast::<PyInt>()
                .ok()
                .filter(|p| !p.is_instance_of::<PyBool>());
            if let (Ok(ip), Some(port)) = (ip.cast::<PyString>(), port) {
                let ip = ip.to_cow()?;
                let ip: IpAddr = ip.parse().map_err(|_| {
                    errors::invalid_argument(
                        py,
                        format!("invalid {what} address: '{ip}' is not an IP address"),
                    )
                })?;
                let port: u16 = port.extract().map_err(|_| {
                    errors::invalid_argument(
                        py,
                        format!("invalid {what} port {port}: must be from 0 to 65535"),
                    )
                })?;
                return Ok(SocketAddr::new(ip, port));
            }
        }
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be an 'ip:port' str or an (ip: str, port: int) tuple, not {}",
        obj.repr()?.to_cow()?
    )))
}

/// Reads headers: a dict of str to str, or a list (or tuple) of `(name, value)` str
/// pairs; a name may repeat in the list form. The strings are held, not copied.
///
/// # Errors
///
/// `TypeError` for any other shape.
fn headers(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(HeldStr, HeldStr)>> {
    let pair =
        |name: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>| -> PyResult<(HeldStr, HeldStr)> {
            match (name.cast::<PyString>(), value.cast::<PyString>()) {
                (Ok(name), Ok(value)) => Ok((HeldStr::new(name)?, HeldStr::new(value)?)),
                _ => Err(PyTypeError::new_err(format!(
                    "header names and values must be str, not ({}, {})",
                    name.repr()?.to_cow()?,
                    value.repr()?.to_cow()?
                ))),
            }
        };
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict.iter().map(|(k, v)| pair(&k, &v)).collect();
    }
    let items = if let Ok(list) = obj.cast::<PyList>() {
        list.iter().collect::<Vec<_>>()
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "headers must be a dict or a list of (name, value) pairs, not {}",
            obj.get_type().name()?
        )));
    };
    items
        .iter()
        .map(|item| match item.cast::<PyTuple>() {
            Ok(t) if t.len() == 2 => pair(&t.get_item(0)?, &t.get_item(1)?),
            _ => Err(PyTypeError::new_err(format!(
                "each header must be a (name, value) tuple, not {}",
                item.repr()?.to_cow()?
            ))),
        })
        .collect()
}

/// Borrowed `(name, value)` views of held headers, as the core's `Request` takes them.
fn header_refs(headers: &[(HeldStr, HeldStr)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (&**n, &**v)).collect()
}

/// A str argument's text, without a copy, or a `TypeError` naming it
/// (`UnicodeEncodeError` for a str with lone surrogates, which has no UTF-8 form).
fn text<'a, S: Text<'a>>(what: &str, obj: Borrowed<'a, '_, PyAny>) -> PyResult<S> {
    match obj.cast::<PyString>() {
        Ok(s) => S::take(s),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a str, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// An optional str argument: `None` or a str.
fn optional_text<'a, S: Text<'a>>(what: &str, obj: Borrowed<'a, '_, PyAny>) -> PyResult<Option<S>> {
    if obj.is_none() {
        Ok(None)
    } else {
        text(what, obj).map(Some)
    }
}

/// A caller key: the bytes of a `bytes` object, or the UTF-8 text of a str.
///
/// # Errors
///
/// `TypeError` for any other object.
fn caller_key(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        Ok(bytes.as_bytes().to_vec())
    } else if let Ok(text) = obj.cast::<PyString>() {
        Ok(text.to_cow()?.as_bytes().to_vec())
    } else {
        Err(PyTypeError::new_err(format!(
            "key must be bytes or a str, not {}",
            obj.get_type().name()?
        )))
    }
}

/// A request's fields, converted from Python. The strings are the Python objects'
/// own UTF-8 text, without a copy: held by a reference ([`HeldStr`], a Python str never
/// changes) for a batch matched with the interpreter released, or lent for the length
/// of a single call ([`Lent`]). Headers are always held.
#[derive(Debug)]
pub(crate) struct HeldRequest<S = HeldStr> {
    protocol: Protocol,
    method: Option<S>,
    host: Option<S>,
    path: Option<S>,
    headers: Vec<(HeldStr, HeldStr)>,
    sni: Option<S>,
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    router_group: Option<S>,
    key: Option<Vec<u8>>,
}

impl<S> HeldRequest<S> {
    /// A request with every field absent: an HTTP `GET /` without a host.
    fn new() -> HeldRequest<S> {
        HeldRequest {
            protocol: Protocol::Http,
            method: None,
            host: None,
            path: None,
            headers: Vec::new(),
            sni: None,
            source: None,
            destination: None,
            router_group: None,
            key: None,
        }
    }
}

impl<'a, S: Text<'a>> HeldRequest<S> {
    /// Sets the field `key` from `value`.
    fn set(&mut self, py: Python<'_>, key: &str, value: Borrowed<'a, '_, PyAny>) -> PyResult<()> {
        match PARAMS[..PICK].iter().position(|&p| p == key) {
            Some(i) => self.set_param(py, i, value),
            None => Err(PyTypeError::new_err(format!(
                "unexpected key '{key}'; a request takes {KEYS}"
            ))),
        }
    }

    /// Sets the field of the request parameter `PARAMS[i]` (`pick` excepted) from
    /// `value`; `None` leaves an optional field absent.
    fn set_param(
        &mut self,
        py: Python<'_>,
        i: usize,
        value: Borrowed<'a, '_, PyAny>,
    ) -> PyResult<()> {
        let what = PARAMS[i];
        match i {
            0 => self.protocol = protocol(py, &text::<S>(what, value)?)?,
            1 => self.method = Some(text(what, value)?),
            2 => self.host = Some(text(what, value)?),
            3 => self.path = Some(text(what, value)?),
            4 if !value.is_none() => self.headers = headers(&value)?,
            4 => self.headers.clear(),
            5 => self.sni = optional_text(what, value)?,
            6 => {
                self.source = (!value.is_none())
                    .then(|| address(what, &value))
                    .transpose()?
            }
            7 => {
                self.destination = (!value.is_none())
                    .then(|| address(what, &value))
                    .transpose()?
            }
            8 => self.router_group = optional_text(what, value)?,
            _ => self.key = (!value.is_none()).then(|| caller_key(&value)).transpose()?,
        }
        Ok(())
    }
}

impl HeldRequest {
    /// Reads a request dict, whose keys are those of `match`'s keyword arguments.
    fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<HeldRequest> {
        let py = dict.py();
        let mut req = HeldRequest::new();
        for (key, value) in dict.iter() {
            match interned_param(py, CONNECT, &key.as_borrowed()) {
                Some(i) => req.set_param(py, i, value.as_borrowed())?,
                None => {
                    let key: Lent<'_> = text("a request key", key.as_borrowed())?;
                    req.set(py, &key, value.as_borrowed())?
                }
            }
        }
        Ok(req)
    }
}

impl<S: Deref<Target = str>> HeldRequest<S> {
    /// Matches this request and gives the borrowed answer to `f`.
    fn lookup<R>(&self, registry: &Registry, f: impl FnOnce(&Found<'_>) -> R) -> Option<R> {
        let headers = header_refs(&self.headers);
        let mut req = Request::new(
            self.method.as_deref().unwrap_or("GET"),
            self.host.as_deref().unwrap_or(""),
            self.path.as_deref().unwrap_or("/"),
        )
        .protocol(self.protocol)
        .headers(&headers);
        req.sni = self.sni.as_deref();
        req.source = self.source;
        req.destination = self.destination;
        req.router_group = self.router_group.as_deref();
        registry.lookup(&req, f)
    }

    /// What a pick from a service's pool weighs: the caller key and the client
    /// address (the request's source).
    fn pick_input(&self) -> PickInput<'_> {
        let mut input = PickInput::new();
        if let Some(key) = &self.key {
            input = input.key(key);
        }
        if let Some(source) = self.source {
            input = input.client_ip(source.ip());
        }
        input
    }

    /// Matches this request and keeps the owned answer: the route and service by
    /// `Arc`, the rewritten path and host, the captures, and with `pick` a backend.
    ///
    /// Without a key the core's own pick answers (for a Kong route, its service's
    /// pool with the source address as the client; for CF routes, a live
    /// registration round robin). With a key, a Kong route picks from its service's
    /// pool with the key and the source address; CF routes have no pool and ignore it.
    fn find(&self, registry: &Registry, pick: bool) -> Option<Answer> {
        self.find_with(registry, pick, |answer| answer())
    }

    /// [`HeldRequest::find`], handing `keep` a maker of the answer (so that it may
    /// make it where it is to be kept) and returning what `keep` returns.
    fn find_with<R>(
        &self,
        registry: &Registry,
        pick: bool,
        keep: impl FnOnce(&mut dyn FnMut() -> Answer) -> R,
    ) -> Option<R> {
        self.lookup(registry, |found| {
            let backend = if !pick {
                None
            } else if self.key.is_none() || found.route().is_none() {
                found.pick().map(|b| Backend {
                    address: b.address.into(),
                    port: b.port,
                })
            } else {
                found.pick_with(&self.pick_input()).map(|b| Backend {
                    address: b.backend().address.as_str().into(),
                    port: b.backend().port,
                })
            };
            let mut backend = Some(backend);
            keep(&mut || Answer::new(found, backend.take().flatten()))
        })
    }

    /// Matches this request and takes a connection slot on a backend of the matched
    /// route's service pool; `None` when nothing matched, the route's service has no
    /// backends, or none has room.
    fn connect(&self, registry: &Registry) -> Option<routeyard::balance::Connection> {
        self.lookup(registry, |found| found.connect(&self.pick_input()))
            .flatten()
    }
}

/// Reads the request dicts of a batch, naming the position of a bad one.
pub(crate) fn requests(requests: &Bound<'_, PyAny>) -> PyResult<Vec<HeldRequest>> {
    let py = requests.py();
    if requests.is_instance_of::<PyString>() || requests.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "requests must be a list of dicts, not {}",
            requests.get_type().name()?
        )));
    }
    // A list or tuple tells its length; other iterables grow the vector as they go.
    let mut out = Vec::with_capacity(requests.len().unwrap_or(0));
    for (i, item) in requests.try_iter()?.enumerate() {
        let item = item?;
        let dict = item.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "request {i}: a request must be a dict, not {}",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let request = HeldRequest::from_dict(dict).map_err(|err| {
            // The same class, its message prefixed with the position; any other
            // error (a str that cannot be UTF-8) as it is.
            let message = || format!("request {i}: {}", err.value(py));
            if err.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(message())
            } else if err.is_instance_of::<errors::InvalidArgumentError>(py) {
                errors::invalid_argument(py, message())
            } else {
                err
            }
        })?;
        out.push(request);
    }
    Ok(out)
}

/// How many requests of a batch are matched between two takings of the interpreter.
pub(crate) const CHUNK: usize = 64;

/// Matches a batch of converted requests; run with the interpreter released.
pub(crate) fn find_all(
    registry: &Registry,
    requests: &[HeldRequest],
    pick: bool,
) -> Vec<Option<Answer>> {
    requests.iter().map(|r| r.find(registry, pick)).collect()
}

/// The parameters `match` and `connect` take, by name; each method takes some of them,
/// in its own positional order.
const PARAMS: [&str; 11] = [
    "protocol",
    "method",
    "host",
    "path",
    "headers",
    "sni",
    "source",
    "destination",
    "router_group",
    "key",
    "pick",
];

/// `match`'s parameters in positional order (indexes into [`PARAMS`]).
pub(crate) const MATCH: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 9];
/// `connect`'s parameters in positional order: every field of a request (the keys of
/// a `match_many` request dict).
pub(crate) const CONNECT: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/// The position of `pick` in [`PARAMS`].
const PICK: usize = 10;

/// [`PARAMS`] as interned strs: CPython interns the keyword names of calls written in
/// Python, so a keyword is found by identity, without reading its text.
fn interned_params(py: Python<'_>) -> &'static [Py<PyString>] {
    static NAMES: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();
    NAMES.get_or_init(py, || {
        PARAMS
            .iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect()
    })
}

/// The position in [`PARAMS`] of `key` if it is the interned name of one of
/// `method`'s parameters (as keys written in Python source are).
fn interned_param(
    py: Python<'_>,
    method: &[usize],
    key: &Borrowed<'_, '_, PyAny>,
) -> Option<usize> {
    let names = interned_params(py);
    method
        .iter()
        .copied()
        .find(|&i| names[i].as_ptr() == key.as_ptr())
}

/// The position in [`PARAMS`] of the keyword `key`, if `method` takes it.
fn param_of(
    py: Python<'_>,
    method: &[usize],
    key: &Borrowed<'_, '_, PyAny>,
) -> PyResult<Option<usize>> {
    if let Some(i) = interned_param(py, method, key) {
        return Ok(Some(i));
    }
    // A name built at run time (`**{"ho" + "st": ...}`) is equal without being the
    // same object.
    let key = key.cast::<PyString>()?;
    let key = key.to_cow()?;
    Ok(method.iter().copied().find(|&i| PARAMS[i] == key))
}

/// Binds the call nearly every `match` and `connect` is, the way [`read_call`] would
/// but without its general binder: no positional argument, and keyword arguments
/// among `method`, `host` and `path` only, named as Python source names them (by the
/// interned str) and each an exact `str`, whose text is taken as the general binder
/// takes it. Returns whether it bound the call; when it did not, `req` is untouched
/// and [`read_call`] binds it. (Against the general binder alone, this saves about
/// 27 ns a call: 353 against 380 ns a hit, 206 against 235 a miss.)
///
/// # Errors
///
/// `UnicodeEncodeError` for a str with lone surrogates, as [`read_call`] raises.
fn bind_plain<'a>(
    arguments: &Arguments<'a, '_>,
    req: &mut HeldRequest<Lent<'a>>,
) -> PyResult<bool> {
    const PLAIN: &[usize] = &[1, 2, 3];
    let py = arguments.py();
    if arguments.positional_len() != 0 {
        return Ok(false);
    }
    let mut texts: [Option<Lent<'a>>; 3] = [None, None, None];
    for (name, value) in arguments.keywords() {
        let Some(i) = interned_param(py, PLAIN, &name) else {
            return Ok(false);
        };
        if texts[i - 1].is_some() || !value.is_exact_instance_of::<PyString>() {
            return Ok(false);
        }
        // SAFETY: `value` is exactly a str, checked just above.
        texts[i - 1] = Some(Lent::take(unsafe { value.cast_unchecked::<PyString>() })?);
    }
    [req.method, req.host, req.path] = texts;
    Ok(true)
}

/// Reads the arguments of a `match` (or `connect`) call into a request and the value
/// of `pick`, as Python binds them: positional ones in `method`'s order, then keyword
/// ones by name. A `None` value stands for the parameter's default.
///
/// # Errors
///
/// `TypeError` as Python words it for too many positional arguments, an unknown
/// keyword or one given twice, and a `pick` that is not a bool; then whatever reading
/// a field raises.
pub(crate) fn read_call<'a>(
    what: &str,
    method: &[usize],
    arguments: &Arguments<'a, '_>,
    req: &mut HeldRequest<Lent<'a>>,
) -> PyResult<bool> {
    if bind_plain(arguments, req)? {
        return Ok(false);
    }
    let py = arguments.py();
    if arguments.positional_len() > method.len() {
        return Err(PyTypeError::new_err(format!(
            "{what}() takes from 0 to {} positional arguments but {} were given",
            method.len(),
            arguments.positional_len()
        )));
    }
    let mut pick = false;
    let mut given = 0u32;
    let mut bind = |i: usize, value: Borrowed<'a, '_, PyAny>| -> PyResult<()> {
        if given & (1 << i) != 0 {
            return Err(PyTypeError::new_err(format!(
                "{what}() got multiple values for argument '{}'",
                PARAMS[i]
            )));
        }
        given |= 1 << i;
        if value.is_none() {
            return Ok(());
        }
        if i == PICK {
            pick = value
                .cast::<PyBool>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "argument 'pick': must be a bool, not {}",
                        value
                            .get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    ))
                })?
                .is_true();
            return Ok(());
        }
        req.set_param(py, i, value)
    };
    for (&i, value) in method.iter().zip(arguments.positional()) {
        bind(i, value)?;
    }
    for (key, value) in arguments.keywords() {
        match param_of(py, method, &key)? {
            Some(i) => bind(i, value)?,
            None => {
                return Err(PyTypeError::new_err(format!(
                    "{what}() got an unexpected keyword argument '{}'",
                    key.cast::<PyString>()?.to_cow()?
                )))
            }
        }
    }
    Ok(pick)
}

/// `Registry.match`: converts the arguments, matches with the interpreter held (a
/// single lookup is shorter than releasing and taking it back), and wraps the answer.
pub(crate) fn match_one(
    registry: &Registry,
    arguments: &Arguments<'_, '_>,
) -> PyResult<Option<Py<PyAny>>> {
    let py = arguments.py();
    let mut req = HeldRequest::new();
    let pick = read_call("Registry.match", MATCH, arguments, &mut req)?;
    req.find_with(registry, pick, |answer| match_object::new_with(py, answer))
        .transpose()
}

/// `Registry.connect`: converts the arguments, then matches and takes a connection
/// slot with the interpreter held, as `match` does.
pub(crate) fn connect_one(
    registry: &Registry,
    arguments: &Arguments<'_, '_>,
) -> PyResult<Option<PyConnection>> {
    let mut req = HeldRequest::new();
    read_call("Registry.connect", CONNECT, arguments, &mut req)?;
    Ok(req.connect(registry).map(PyConnection::new))
}

/// One capture group of a regex path.
#[pyclass(name = "Capture", module = "routeyard", frozen, eq)]
#[derive(PartialEq)]
pub(crate) struct PyCapture {
    inner: Capture,
}

#[pymethods]
impl PyCapture {
    /// The group's name, for a named group; otherwise `None`.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The group's number, 1 for the first group.
    #[getter]
    fn index(&self) -> usize {
        self.inner.index
    }

    /// The captured text.
    #[getter]
    fn value(&self) -> &str {
        &self.inner.value
    }

    fn __repr__(&self) -> String {
        format!(
            "Capture(name={}, index={}, value={})",
            self.inner
                .name
                .as_deref()
                .map_or("None".to_string(), py_str),
            self.inner.index,
            py_str(&self.inner.value)
        )
    }
}

/// A Python-style literal of a str (single quotes, escapes as `repr` writes them for
/// the common cases).
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// How many bytes of text an answer keeps inline.
const INLINE: usize = 62;

/// The upstream path, the upstream host and the matched path of an answer, back to
/// back: inline when they fit, as they usually do, so that an answer allocates nothing
/// of its own.
enum Joined {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Joined {
    /// The three texts back to back, and where the first two end.
    fn new(path: UpstreamPath<'_>, host: &str, matched: &str) -> (Joined, [usize; 2]) {
        let path_len = path.len();
        let ends = [path_len, path_len + host.len()];
        let len = ends[1] + matched.len();
        if let (Some(parts), Ok(short)) = (path.as_parts(), u8::try_from(len)) {
            if len <= INLINE {
                let mut bytes = [0; INLINE];
                let mut at = 0;
                for piece in parts.into_iter().chain([host, matched]) {
                    bytes[at..at + piece.len()].copy_from_slice(piece.as_bytes());
                    at += piece.len();
                }
                return (Joined::Inline { len: short, bytes }, ends);
            }
        }
        let mut text = String::with_capacity(len);
        path.push_to(&mut text);
        text.push_str(host);
        text.push_str(matched);
        (Joined::Heap(text.into_boxed_str()), ends)
    }

    fn as_str(&self) -> &str {
        match self {
            Joined::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: `new` copies whole strs end to end into `bytes[..len]`, so
                // they are UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Joined::Heap(text) => text,
        }
    }
}

impl PartialEq for Joined {
    fn eq(&self, other: &Joined) -> bool {
        self.as_str() == other.as_str()
    }
}

/// What a `Match` keeps of an answer: the route and service shared with the index
/// (`Arc`s), the upstream path, the upstream host and the matched path back to back,
/// the captures, the backend chosen.
#[derive(PartialEq)]
pub(crate) struct Answer {
    matched: Matched,
    service: Option<Arc<Service>>,
    /// The upstream path, the upstream host and the matched path, in that order.
    text: Joined,
    /// Where the upstream path and the upstream host end in `text`.
    ends: [usize; 2],
    captures: Vec<Capture>,
    backend: Option<Backend>,
    redirect: Option<u16>,
    revision: u64,
}

impl Answer {
    /// Keeps what `found` answered, with `backend` if one was chosen.
    fn new(found: &Found<'_>, backend: Option<Backend>) -> Answer {
        let (text, ends) = Joined::new(
            found.upstream_path_parts(),
            found.upstream_host(),
            found.matched_path(),
        );
        Answer {
            matched: found.matched(),
            service: found.service_arc().cloned(),
            text,
            ends,
            captures: found.captures(),
            backend,
            redirect: found.redirect(),
            revision: found.revision(),
        }
    }

    fn upstream_path(&self) -> &str {
        &self.text.as_str()[..self.ends[0]]
    }

    fn upstream_host(&self) -> &str {
        &self.text.as_str()[self.ends[0]..self.ends[1]]
    }

    fn matched_path(&self) -> &str {
        &self.text.as_str()[self.ends[1]..]
    }
}

impl Answer {
    fn route_ref(&self) -> Option<&routeyard::Route> {
        match &self.matched {
            Matched::Route(route) => Some(route),
            _ => None,
        }
    }

    /// The value of the `Match` attribute `field`: dicts in Kong's shape are new on
    /// every read.
    pub(crate) fn attribute<'py>(
        &self,
        py: Python<'py>,
        field: Field,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dict = |value: serde_json::Value| json::to_python(py, &value);
        match field {
            Field::Route => match self.route_ref() {
                Some(route) => dict(serde_json::to_value(kong::Wire(route)).unwrap_or_default()),
                None => Ok(py.None().into_bound(py)),
            },
            Field::RouteId => self
                .route_ref()
                .map(|r| r.id.as_str())
                .into_bound_py_any(py),
            Field::Service => match &self.service {
                Some(service) => {
                    dict(serde_json::to_value(kong::Wire(&**service)).unwrap_or_default())
                }
                None => Ok(py.None().into_bound(py)),
            },
            Field::ServiceId => self
                .service
                .as_ref()
                .map(|s| s.id.as_str())
                .into_bound_py_any(py),
            Field::CfRoute => match &self.matched {
                Matched::CfRoute(key) => Some(&**key),
                _ => None,
            }
            .into_bound_py_any(py),
            Field::TcpRoute => match &self.matched {
                Matched::TcpRoute {
                    router_group_guid,
                    port,
                } => Some((&**router_group_guid, *port)),
                _ => None,
            }
            .into_bound_py_any(py),
            Field::UpstreamPath => self.upstream_path().into_bound_py_any(py),
            Field::UpstreamHost => self.upstream_host().into_bound_py_any(py),
            Field::MatchedPath => self.matched_path().into_bound_py_any(py),
            Field::Captures => self
                .captures
                .iter()
                .map(|c| PyCapture { inner: c.clone() })
                .collect::<Vec<_>>()
                .into_bound_py_any(py),
            Field::Backend => self
                .backend
                .as_ref()
                .map(|b| (&*b.address, b.port))
                .into_bound_py_any(py),
            Field::Redirect => self.redirect.into_bound_py_any(py),
            Field::Revision => self.revision.into_bound_py_any(py),
        }
    }

    /// `repr(match)`.
    pub(crate) fn repr(&self) -> String {
        let m = self;
        let mut out = String::from("Match(");
        match &m.matched {
            Matched::Route(route) => out.push_str(&format!("route_id={}", py_str(&route.id))),
            Matched::CfRoute(key) => out.push_str(&format!("cf_route={}", py_str(key))),
            Matched::TcpRoute {
                router_group_guid,
                port,
            } => out.push_str(&format!(
                "tcp_route=({}, {port})",
                py_str(router_group_guid)
            )),
            // `Matched` is non-exhaustive; a kind the binding does not know yet.
            other => out.push_str(&py_str(&format!("{other:?}"))),
        }
        if let Some(service) = &m.service {
            out.push_str(&format!(", service_id={}", py_str(&service.id)));
        }
        out.push_str(&format!(
            ", upstream_host={}, upstream_path={}",
            py_str(m.upstream_host()),
            py_str(m.upstream_path())
        ));
        if let Some(backend) = &m.backend {
            out.push_str(&format!(
                ", backend=({}, {})",
                py_str(&backend.address),
                backend.port
            ));
        }
        if let Some(code) = m.redirect {
            out.push_str(&format!(", redirect={code}"));
        }
        out.push_str(&format!(", revision={})", m.revision));
        out
    }
}

/// The attributes of a `Match`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field {
    Route,
    RouteId,
    Service,
    ServiceId,
    CfRoute,
    TcpRoute,
    UpstreamPath,
    UpstreamHost,
    MatchedPath,
    Captures,
    Backend,
    Redirect,
    Revision,
}
