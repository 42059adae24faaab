//! `routeyard.Registry`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use routeyard::{Config, Registry, RouterGroup};

use crate::errors;
use crate::json;

/// An in-memory route registry.
///
/// A thin wrapper: each method converts its arguments, calls the core and maps its
/// errors. The class is frozen because the core registry synchronises itself; one
/// instance may be shared by any number of threads.
#[pyclass(name = "Registry", module = "routeyard", frozen)]
pub(crate) struct PyRegistry {
    inner: Registry,
}

#[pymethods]
impl PyRegistry {
    /// Creates an empty registry whose leases last at most `max_ttl` seconds.
    #[new]
    #[pyo3(signature = (max_ttl = 120))]
    fn new(max_ttl: u64) -> Self {
        let config = Config::new().max_ttl(Duration::from_secs(max_ttl));
        PyRegistry {
            inner: Registry::new(config),
        }
    }

    /// The revision: a counter that every committed change advances; 0 when new.
    #[getter]
    fn revision(&self) -> u64 {
        self.inner.revision()
    }

    /// Creates a router group from a dict in Cloud Foundry's shape and returns
    /// `(group, created)`.
    ///
    /// A new group gets a new `guid` (one in the input is ignored). If a group with the
    /// same name and type exists, it is returned unchanged with `created` false.
    fn create_router_group<'py>(
        &self,
        group: &Bound<'py, PyDict>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let py = group.py();
        let value = json::to_value(group.as_any())?;
        let group: RouterGroup =
            serde_json::from_value(value).map_err(|cause| errors::undecodable(py, &cause))?;
        let (group, created) = self
            .inner
            .create_router_group(group)
            .map_err(|err| errors::core_error(py, err))?;
        Ok((json::to_python(py, &to_json(&group))?, created))
    }

    /// Lists the router groups as dicts in Cloud Foundry's shape.
    fn router_groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let groups = self
            .inner
            .router_groups()
            .iter()
            .map(|group| json::to_python(py, &to_json(group)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, groups)
    }

    fn __repr__(&self) -> String {
        format!("Registry(max_ttl={})", self.inner.max_ttl().as_secs())
    }
}

fn to_json(group: &RouterGroup) -> serde_json::Value {
    serde_json::to_value(group).expect("a router group serializes to JSON")
}
