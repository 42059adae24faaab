//! The exception hierarchy and the one mapping from core errors onto it.
//!
//! Every exception routeyard raises derives from `routeyard.RouteyardError`, itself a
//! `ValueError`, and carries `.name`: the Cloud Foundry routing-api name of the error
//! (`"ProcessRequestError"`, `"ResourceNotFoundError"`, ...). The message is the core's
//! text, unchanged.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::{create_exception, PyTypeInfo};
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
    "A revision older than the kept event history was requested."
);
create_exception!(
    routeyard,
    InvalidArgumentError,
    RouteyardError,
    "An argument that can never be valid, such as a revision newer than the registry's."
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
    Ok(())
}

/// Builds an exception of class `E` with `message`, and sets its `.name` to `cf_name`.
fn raise<E: PyTypeInfo>(py: Python<'_>, cf_name: &str, message: String) -> PyErr {
    let err = PyErr::new::<E, _>(message);
    if let Err(setattr_failed) = err.value(py).setattr("name", cf_name) {
        return setattr_failed;
    }
    err
}

/// Maps a core error onto its exception class, keeping its message and CF name.
pub(crate) fn core_error(py: Python<'_>, err: CoreError) -> PyErr {
    let name = err.cf_name();
    let message = err.message().to_owned();
    match err.kind() {
        ErrorKind::RouteInvalid => raise::<RouteInvalidError>(py, name, message),
        ErrorKind::RouteServiceUrlInvalid => {
            raise::<RouteServiceUrlInvalidError>(py, name, message)
        }
        ErrorKind::TcpRouteMappingInvalid => {
            raise::<TcpRouteMappingInvalidError>(py, name, message)
        }
        ErrorKind::RouterGroupInvalid => raise::<RouterGroupInvalidError>(py, name, message),
        ErrorKind::ProcessRequest => raise::<ProcessRequestError>(py, name, message),
        ErrorKind::NotFound => raise::<NotFoundError>(py, name, message),
        ErrorKind::Conflict => raise::<ConflictError>(py, name, message),
        ErrorKind::PortRangeExhausted => raise::<PortRangeExhaustedError>(py, name, message),
        ErrorKind::Compacted => raise::<CompactedError>(py, name, message),
        ErrorKind::InvalidArgument => raise::<InvalidArgumentError>(py, name, message),
        // `ErrorKind` is non-exhaustive: a kind added to the core is raised as the base
        // class until it gets a class of its own here.
        _ => raise::<RouteyardError>(py, name, message),
    }
}

/// A dict that does not decode into the expected shape (a missing field, a field of the
/// wrong type). Cloud Foundry answers these with `ProcessRequestError`.
pub(crate) fn undecodable(py: Python<'_>, cause: &serde_json::Error) -> PyErr {
    raise::<ProcessRequestError>(py, ErrorKind::ProcessRequest.cf_name(), cause.to_string())
}
