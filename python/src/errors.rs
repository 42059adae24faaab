//! The exception hierarchy and the one mapping from core errors onto it.
//!
//! Every exception routeyard raises for a refused call derives from
//! `routeyard.RouteyardError`, itself a `ValueError`, and carries `.name`: the Cloud
//! Foundry routing-api name of the error (`"ProcessRequestError"`,
//! `"ResourceNotFoundError"`, ...; errors CF has no name for take the nearest one,
//! `"ProcessRequestError"`, as the core maps them) and `.fields`: for Kong-style errors,
//! the `(path, rule)` pairs of the offending fields, otherwise empty. The message is the
//! core's text, unchanged.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::{create_exception, PyTypeInfo};
use routeyard::dialect::cdap::{CdapError, CdapErrorKind};
use routeyard::dialect::gobetween::{GbError, GbErrorKind};
use routeyard::{Error as CoreError, ErrorKind};

create_exception!(
    routeyard,
    RouteyardError,
    PyValueError,
    "Base class of the errors routeyard raises; `.name` is the Cloud Foundry error name."
);
create_exception!(
    routeyard,
    RouteInvalidError,
    RouteyardError,
    "An HTTP route failed validation."
);
create_exception!(
    routeyard,
    RouteServiceUrlInvalidError,
    RouteyardError,
    "A route service URL failed validation."
);
create_exception!(
    routeyard,
    TcpRouteMappingInvalidError,
    RouteyardError,
    "A TCP route mapping failed validation."
);
create_exception!(
    routeyard,
    RouterGroupInvalidError,
    RouteyardError,
    "A router group failed validation."
);
create_exception!(
    routeyard,
    ProcessRequestError,
    RouteyardError,
    "The request could not be processed, for example a value of the wrong type."
);
create_exception!(
    routeyard,
    NotFoundError,
    RouteyardError,
    "The object named by the call does not exist."
);
create_exception!(
    routeyard,
    ConflictError,
    RouteyardError,
    "The change conflicts with an existing object."
);
create_exception!(
    routeyard,
    PortRangeExhaustedError,
    RouteyardError,
    "No free port is left in the requested range."
);
create_exception!(
    routeyard,
    CompactedError,
    RouteyardError,
    "A revision older than the kept event history was requested; `.oldest_revision` \
     is the oldest revision that can still be replayed."
);
create_exception!(
    routeyard,
    InvalidArgumentError,
    RouteyardError,
    "An argument that can never be valid, such as a revision newer than the registry's."
);
create_exception!(
    routeyard,
    SchemaViolationError,
    RouteyardError,
    "A Kong route or service broke its schema; `.fields` names the fields and rules."
);
create_exception!(
    routeyard,
    UniqueViolationError,
    RouteyardError,
    "A Kong route or service reuses a unique value, such as a name or an id."
);
create_exception!(
    routeyard,
    ForeignKeyViolationError,
    RouteyardError,
    "A Kong route names a service that does not exist, or a service still has routes."
);
create_exception!(
    routeyard,
    LaggedError,
    RouteyardError,
    "A subscription fell behind and was closed; `.resume_from` is the revision to \
     subscribe again from."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RouteyardError", py.get_type::<RouteyardError>())?;
    m.add("RouteInvalidError", py.get_type::<RouteInvalidError>())?;
    m.add(
        "RouteServiceUrlInvalidError",
        py.get_type::<RouteServiceUrlInvalidError>(),
    )?;
    m.add(
        "TcpRouteMappingInvalidError",
        py.get_type::<TcpRouteMappingInvalidError>(),
    )?;
    m.add(
        "RouterGroupInvalidError",
        py.get_type::<RouterGroupInvalidError>(),
    )?;
    m.add("ProcessRequestError", py.get_type::<ProcessRequestError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add(
        "PortRangeExhaustedError",
        py.get_type::<PortRangeExhaustedError>(),
    )?;
    m.add("CompactedError", py.get_type::<CompactedError>())?;
    m.add(
        "InvalidArgumentError",
        py.get_type::<InvalidArgumentError>(),
    )?;
    m.add(
        "SchemaViolationError",
        py.get_type::<SchemaViolationError>(),
    )?;
    m.add(
        "UniqueViolationError",
        py.get_type::<UniqueViolationError>(),
    )?;
    m.add(
        "ForeignKeyViolationError",
        py.get_type::<ForeignKeyViolationError>(),
    )?;
    m.add("LaggedError", py.get_type::<LaggedError>())?;
    Ok(())
}

/// Builds an exception of class `E` with `message`, and sets its `.name` to `cf_name`
/// and `.fields` to `fields`.
fn raise<E: PyTypeInfo>(
    py: Python<'_>,
    cf_name: &str,
    message: String,
    fields: &[(String, String)],
) -> PyErr {
    let err = PyErr::new::<E, _>(message);
    let value = err.value(py);
    let set = value.setattr("name", cf_name).and_then(|()| {
        let fields = PyList::new(py, fields.iter().map(|(p, r)| (p.as_str(), r.as_str())))?;
        value.setattr("fields", fields)
    });
    match set {
        Ok(()) => err,
        Err(setattr_failed) => setattr_failed,
    }
}

/// Maps a core error onto its exception class, keeping its message, CF name, fields and
/// (for [`ErrorKind::Compacted`]) the oldest revision still kept.
pub(crate) fn core_error(py: Python<'_>, err: CoreError) -> PyErr {
    let name = err.cf_name();
    let fields = err.fields();
    let message = err.message().to_owned();
    let exc = match err.kind() {
        ErrorKind::RouteInvalid => raise::<RouteInvalidError>(py, name, message, fields),
        ErrorKind::RouteServiceUrlInvalid => {
            raise::<RouteServiceUrlInvalidError>(py, name, message, fields)
        }
        ErrorKind::TcpRouteMappingInvalid => {
            raise::<TcpRouteMappingInvalidError>(py, name, message, fields)
        }
        ErrorKind::RouterGroupInvalid => {
            raise::<RouterGroupInvalidError>(py, name, message, fields)
        }
        ErrorKind::ProcessRequest => raise::<ProcessRequestError>(py, name, message, fields),
        ErrorKind::NotFound => raise::<NotFoundError>(py, name, message, fields),
        ErrorKind::Conflict => raise::<ConflictError>(py, name, message, fields),
        ErrorKind::PortRangeExhausted => {
            raise::<PortRangeExhaustedError>(py, name, message, fields)
        }
        ErrorKind::Compacted => raise::<CompactedError>(py, name, message, fields),
        ErrorKind::InvalidArgument => raise::<InvalidArgumentError>(py, name, message, fields),
        ErrorKind::SchemaViolation => raise::<SchemaViolationError>(py, name, message, fields),
        ErrorKind::UniqueViolation => raise::<UniqueViolationError>(py, name, message, fields),
        ErrorKind::ForeignKeyViolation => {
            raise::<ForeignKeyViolationError>(py, name, message, fields)
        }
        // `ErrorKind` is non-exhaustive: a kind added to the core is raised as the base
        // class until it gets a class of its own here.
        _ => raise::<RouteyardError>(py, name, message, fields),
    };
    if let Some(oldest) = err.oldest_revision() {
        if let Err(setattr_failed) = exc.value(py).setattr("oldest_revision", oldest) {
            return setattr_failed;
        }
    }
    exc
}

/// An argument of a routeyard call that is not in the shape the call documents (a
/// batch change without a known `op`, a kind that does not exist). Raised as
/// [`ProcessRequestError`], as CF answers a request it cannot process.
pub(crate) fn unprocessable(py: Python<'_>, message: String) -> PyErr {
    raise::<ProcessRequestError>(py, ErrorKind::ProcessRequest.cf_name(), message, &[])
}

/// An argument that can never be valid (a negative duration, a zero interval).
pub(crate) fn invalid_argument(py: Python<'_>, message: String) -> PyErr {
    raise::<InvalidArgumentError>(py, ErrorKind::InvalidArgument.cf_name(), message, &[])
}

/// The subscriber lagged: [`LaggedError`] with `.resume_from`, and the core's message.
pub(crate) fn lagged(py: Python<'_>, resume_from: u64, message: String) -> PyErr {
    let err = raise::<LaggedError>(py, ErrorKind::ProcessRequest.cf_name(), message, &[]);
    if let Err(setattr_failed) = err.value(py).setattr("resume_from", resume_from) {
        return setattr_failed;
    }
    err
}

/// The object a call names does not exist: [`NotFoundError`] with `message`.
pub(crate) fn not_found(py: Python<'_>, message: String) -> PyErr {
    raise::<NotFoundError>(py, ErrorKind::NotFound.cf_name(), message, &[])
}

/// A refusal of the gobetween codec, classed as the registry classes gobetween's
/// refusals: a body that does not decode is a [`ProcessRequestError`], a name in use
/// a [`ConflictError`], an unknown name a [`NotFoundError`], and a server gobetween
/// refuses (or a config it cannot write) an [`InvalidArgumentError`]; gobetween's text
/// is kept.
pub(crate) fn gobetween_error(py: Python<'_>, err: &GbError) -> PyErr {
    let message = err.message().to_owned();
    match err.kind() {
        GbErrorKind::Decode => unprocessable(py, message),
        GbErrorKind::Exists => {
            raise::<ConflictError>(py, ErrorKind::Conflict.cf_name(), message, &[])
        }
        GbErrorKind::NotFound => not_found(py, message),
        _ => invalid_argument(py, message),
    }
}

/// A refusal of CDAP's route config rules, with CDAP's text: [`NotFoundError`] for an
/// unknown service, otherwise [`InvalidArgumentError`] (CDAP answers 400).
pub(crate) fn cdap_error(py: Python<'_>, err: &CdapError) -> PyErr {
    let message = err.message().to_owned();
    match err.kind() {
        CdapErrorKind::NotFound => not_found(py, message),
        _ => invalid_argument(py, message),
    }
}
