//! `routeyard.Registry` and `routeyard.Reaper`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use routeyard::dialect::{cf, gobetween, kong};
use routeyard::{Change, Config, Error as CoreError, Reaper, Registry, Route, Service};
use serde_json::Value;

use crate::batch::{self, BatchError};
use crate::clock::{self, PyManualClock};
use crate::errors;
use crate::events::{self, PyEvent, PySubscription};
use crate::json;
use crate::match_object;
use crate::matching;
use crate::snapshot;
use crate::upstream;

/// An in-memory route registry.
///
/// A thin wrapper: each method converts its arguments, calls the core and maps its
/// errors. The class is frozen because the core registry synchronises itself; one
/// instance may be shared by any number of threads. Every call that takes one of the
/// registry's locks runs with the interpreter released, once its arguments are
/// converted.
#[pyclass(name = "Registry", module = "routeyard", frozen)]
pub(crate) struct PyRegistry {
    inner: Arc<Registry>,
    /// The constructor arguments that were given, as `repr` shows them.
    options: String,
}

/// Serializes a core object into a JSON value; the core's objects hold strings,
/// numbers, booleans, lists and string-keyed maps, so this cannot fail.
macro_rules! value {
    ($object:expr) => {
        serde_json::to_value($object).unwrap_or(Value::Null)
    };
}

/// Serializes a list of core objects.
macro_rules! values {
    ($objects:expr) => {
        $objects.iter().map(|o| value!(o)).collect::<Vec<Value>>()
    };
}

fn kong_route(route: &Route) -> Value {
    value!(kong::Wire(route))
}

fn kong_service(service: &Service) -> Value {
    value!(kong::Wire(service))
}

/// The JSON text of a value, as the core's codecs read it.
fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn list<'py>(py: Python<'py>, values: &[Value]) -> PyResult<Bound<'py, PyList>> {
    let items = values
        .iter()
        .map(|v| json::to_python(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

impl PyRegistry {
    /// The core registry.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner
    }

    fn core<T>(py: Python<'_>, result: Result<T, CoreError>) -> PyResult<T> {
        result.map_err(|err| errors::core_error(py, err))
    }
}

#[pymethods]
impl PyRegistry {
    /// Creates an empty registry.
    ///
    /// `max_ttl`: whole seconds, the longest lease and the lease of a registration that
    /// names none (default 120). `history`: how many past events subscribers can
    /// replay (default 65,536). `subscriber_buffer`: how many undelivered events a
    /// subscriber may hold before it lags (default 1,024). `clock`: a `ManualClock`,
    /// or `None` for the system clock. `reserved_ports`: ports no router group may
    /// make reservable. `reservation_ttl`: seconds a port reservation lives unless
    /// claimed (default `max_ttl`).
    #[new]
    #[pyo3(signature = (
        max_ttl = 120,
        history = None,
        subscriber_buffer = None,
        clock = None,
        reserved_ports = None,
        reservation_ttl = None,
    ))]
    fn new(
        max_ttl: u64,
        history: Option<usize>,
        subscriber_buffer: Option<usize>,
        clock: Option<&Bound<'_, PyManualClock>>,
        reserved_ports: Option<Vec<u16>>,
        reservation_ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut config = Config::new().max_ttl(Duration::from_secs(max_ttl));
        let mut options = format!("max_ttl={max_ttl}");
        if let Some(history) = history {
            config = config.history(history);
            options.push_str(&format!(", history={history}"));
        }
        if let Some(buffer) = subscriber_buffer {
            config = config.subscriber_buffer(buffer);
            options.push_str(&format!(", subscriber_buffer={buffer}"));
        }
        if let Some(clock) = clock {
            config = config.clock(clock.get().inner.clone());
            options.push_str(&format!(", clock={}", clock.repr()?.to_cow()?));
        }
        if let Some(ports) = reserved_ports {
            options.push_str(&format!(", reserved_ports={ports:?}"));
            config = config.reserved_ports(ports);
        }
        if let Some(ttl) = reservation_ttl {
            config = config.reservation_ttl(clock::seconds_to_duration("reservation_ttl", ttl)?);
            options.push_str(&format!(", reservation_ttl={}", ttl.repr()?.to_cow()?));
        }
        Ok(PyRegistry {
            inner: Arc::new(Registry::new(config)),
            options,
        })
    }

    /// The revision: a counter that every committed change advances; 0 when new.
    #[getter]
    fn revision(&self) -> u64 {
        self.inner.revision()
    }

    /// The configured `max_ttl`, in whole seconds.
    #[getter]
    fn max_ttl(&self) -> u64 {
        self.inner.max_ttl().as_secs()
    }

    /// The number of open subscriptions.
    #[getter]
    fn subscriber_count(&self, py: Python<'_>) -> usize {
        let reg = &self.inner;
        py.detach(|| reg.subscriber_count())
    }

    // -- CF HTTP routes ----------------------------------------------------

    /// Creates or renews CF HTTP routes (dicts in CF's shape), all or none; returns the
    /// revision after the call.
    fn upsert_http_routes(&self, py: Python<'_>, routes: &Bound<'_, PyAny>) -> PyResult<u64> {
        let routes = json::to_value(routes)?;
        let reg = &self.inner;
        Self::core(
            py,
            py.detach(|| reg.upsert_http_routes(cf::decode_http_routes(&body(&routes))?)),
        )
    }

    /// Removes CF HTTP routes by key (absent ones are skipped); returns the revision.
    fn delete_http_routes(&self, py: Python<'_>, routes: &Bound<'_, PyAny>) -> PyResult<u64> {
        let routes = json::to_value(routes)?;
        let reg = &self.inner;
        Self::core(
            py,
            py.detach(|| reg.delete_http_routes(&cf::decode_http_routes(&body(&routes))?)),
        )
    }

    /// The live CF HTTP routes, as dicts in CF's shape, in no particular order.
    fn http_routes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let routes = py.detach(|| values!(&reg.http_routes()));
        list(py, &routes)
    }

    // -- CF TCP route mappings ---------------------------------------------

    /// Creates or renews CF TCP route mappings, all or none; returns the revision.
    fn upsert_tcp_route_mappings(
        &self,
        py: Python<'_>,
        mappings: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let mappings = json::to_value(mappings)?;
        let reg = &self.inner;
        Self::core(
            py,
            py.detach(|| {
                reg.upsert_tcp_route_mappings(cf::decode_tcp_route_mappings(&body(&mappings))?)
            }),
        )
    }

    /// Removes CF TCP route mappings by key (absent ones are skipped); returns the
    /// revision.
    fn delete_tcp_route_mappings(
        &self,
        py: Python<'_>,
        mappings: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let mappings = json::to_value(mappings)?;
        let reg = &self.inner;
        Self::core(
            py,
            py.detach(|| {
                reg.delete_tcp_route_mappings(&cf::decode_tcp_route_mappings(&body(&mappings))?)
            }),
        )
    }

    /// The live CF TCP route mappings, in no particular order; with
    /// `isolation_segments`, only those in one of them (`""` selects mappings
    /// without a segment).
    #[pyo3(signature = (isolation_segments = None))]
    fn tcp_route_mappings<'py>(
        &self,
        py: Python<'py>,
        isolation_segments: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let mappings = py.detach(|| {
            let mappings = match &isolation_segments {
                Some(segments) => reg.tcp_route_mappings_in(segments),
                None => reg.tcp_route_mappings(),
            };
            values!(&mappings)
        });
        list(py, &mappings)
    }

    // -- Router groups -----------------------------------------------------

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
        let group = json::to_value(group.as_any())?;
        let reg = &self.inner;
        let (group, created) = Self::core(
            py,
            py.detach(|| {
                let (group, created) =
                    reg.create_router_group(cf::decode_router_group(&body(&group))?)?;
                Ok((value!(&group), created))
            }),
        )?;
        Ok((json::to_python(py, &group)?, created))
    }

    /// Replaces the `reservable_ports` of the group with this guid; returns the group.
    fn update_router_group<'py>(
        &self,
        py: Python<'py>,
        guid: &str,
        reservable_ports: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reg = &self.inner;
        let group = Self::core(
            py,
            py.detach(|| reg.update_router_group(guid, reservable_ports)),
        )?;
        json::to_python(py, &value!(&group))
    }

    /// Removes the group with this guid and its port reservations; returns the
    /// revision.
    fn delete_router_group(&self, py: Python<'_>, guid: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_router_group(guid)))
    }

    /// Lists the router groups as dicts in Cloud Foundry's shape.
    fn router_groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let groups = py.detach(|| values!(&reg.router_groups()));
        list(py, &groups)
    }

    /// The router group with this guid, or `None`.
    fn router_group<'py>(
        &self,
        py: Python<'py>,
        guid: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.router_group(guid).map(|g| value!(&g)))
            .map(|g| json::to_python(py, &g))
            .transpose()
    }

    /// The router group with this name.
    fn router_group_by_name<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reg = &self.inner;
        let group = Self::core(py, py.detach(|| reg.router_group_by_name(name)))?;
        json::to_python(py, &value!(&group))
    }

    // -- Port reservations -------------------------------------------------

    /// Reserves the lowest free port of the group; the reservation lapses after `ttl`
    /// seconds (default: the registry's `reservation_ttl`) unless a TCP mapping on the
    /// port claims it. Returns `{"router_group_guid", "port", "expires_at"}`.
    #[pyo3(signature = (router_group_guid, ttl = None))]
    fn reserve_port<'py>(
        &self,
        py: Python<'py>,
        router_group_guid: &str,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ttl = ttl
            .map(|t| clock::seconds_to_duration("ttl", t))
            .transpose()?;
        let reg = &self.inner;
        let reservation = Self::core(py, py.detach(|| reg.reserve_port(router_group_guid, ttl)))?;
        json::to_python(py, &value!(&reservation))
    }

    /// Releases a port reservation; returns the revision.
    fn release_port(&self, py: Python<'_>, router_group_guid: &str, port: u16) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.release_port(router_group_guid, port)))
    }

    /// The live port reservations, in no particular order.
    fn port_reservations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let reservations = py.detach(|| values!(&reg.port_reservations()));
        list(py, &reservations)
    }

    /// CF's client-side `ReservePort(name, "a-b")`, done atomically: takes the first
    /// port of the range that no router group holds, narrows the group `name` to it
    /// (creating a `tcp` group if needed), and returns the port.
    fn reserve_port_in_range(&self, py: Python<'_>, name: &str, range: &str) -> PyResult<u16> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.reserve_port_in_range(name, range)))
    }

    // -- Kong services -------------------------------------------------------

    /// Creates a service from a dict in Kong's shape (`POST /services`); returns it in
    /// Kong's shape, with every field.
    fn create_service<'py>(
        &self,
        py: Python<'py>,
        service: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let service = json::to_value(service.as_any())?;
        let reg = &self.inner;
        let service = Self::core(
            py,
            py.detach(|| {
                let service = reg.create_service(kong::decode_service(&body(&service))?)?;
                Ok(kong_service(&service))
            }),
        )?;
        json::to_python(py, &service)
    }

    /// Creates or replaces the service named or identified by `key` (`PUT
    /// /services/{name or id}`); returns `(service, created)`.
    fn put_service<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        service: &Bound<'_, PyDict>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let service = json::to_value(service.as_any())?;
        let reg = &self.inner;
        let (service, created) = Self::core(
            py,
            py.detach(|| {
                let (service, created) =
                    reg.put_service(key, kong::decode_service(&body(&service))?)?;
                Ok((kong_service(&service), created))
            }),
        )?;
        Ok((json::to_python(py, &service)?, created))
    }

    /// Applies a partial dict to the service named or identified by `key` (`PATCH
    /// /services/{name or id}`): given fields replace the stored ones, `None` resets
    /// one; returns the service.
    fn update_service<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        patch: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch = json::to_value(patch.as_any())?;
        let reg = &self.inner;
        // Read, merge and write in one step: no other write comes in between.
        let service = Self::core(
            py,
            py.detach(|| {
                reg.modify_service(key, |existing| kong::patch_service(existing, &body(&patch)))
                    .map(|s| kong_service(&s))
            }),
        )?;
        json::to_python(py, &service)
    }

    /// Deletes the service named or identified by `key`; returns the revision.
    fn delete_service(&self, py: Python<'_>, key: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_service(key)))
    }

    /// The service named or identified by `key`, or `None`.
    fn service<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.service(key).map(|s| kong_service(&s)))
            .map(|s| json::to_python(py, &s))
            .transpose()
    }

    /// Every service, oldest first.
    fn services<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let services: Vec<Value> = py.detach(|| reg.services().iter().map(kong_service).collect());
        list(py, &services)
    }

    // -- Kong routes ---------------------------------------------------------

    /// Creates a route from a dict in Kong's shape (`POST /routes`); returns it.
    fn create_route<'py>(
        &self,
        py: Python<'py>,
        route: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let route = json::to_value(route.as_any())?;
        let reg = &self.inner;
        let route = Self::core(
            py,
            py.detach(|| {
                let route = reg.create_route(kong::decode_route(&body(&route))?)?;
                Ok(kong_route(&route))
            }),
        )?;
        json::to_python(py, &route)
    }

    /// Creates or replaces the route named or identified by `key` (`PUT
    /// /routes/{name or id}`); returns `(route, created)`.
    fn put_route<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        route: &Bound<'_, PyDict>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let route = json::to_value(route.as_any())?;
        let reg = &self.inner;
        let (route, created) = Self::core(
            py,
            py.detach(|| {
                let (route, created) = reg.put_route(key, kong::decode_route(&body(&route))?)?;
                Ok((kong_route(&route), created))
            }),
        )?;
        Ok((json::to_python(py, &route)?, created))
    }

    /// Applies a partial dict to the route named or identified by `key` (`PATCH
    /// /routes/{name or id}`); returns the route.
    fn update_route<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        patch: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch = json::to_value(patch.as_any())?;
        let reg = &self.inner;
        let route = Self::core(
            py,
            py.detach(|| {
                reg.modify_route(key, |existing| kong::patch_route(existing, &body(&patch)))
                    .map(|r| kong_route(&r))
            }),
        )?;
        json::to_python(py, &route)
    }

    /// Deletes the route named or identified by `key`; returns the revision.
    fn delete_route(&self, py: Python<'_>, key: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_route(key)))
    }

    /// The route named or identified by `key`, or `None`.
    fn route<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.route(key).map(|r| kong_route(&r)))
            .map(|r| json::to_python(py, &r))
            .transpose()
    }

    /// Every route, oldest first; with `service` (a name or id), only the routes that
    /// lead to it.
    #[pyo3(signature = (service = None))]
    fn routes<'py>(&self, py: Python<'py>, service: Option<&str>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let routes: Vec<Value> = py.detach(|| reg.routes(service).iter().map(kong_route).collect());
        list(py, &routes)
    }

    // -- Upstreams -------------------------------------------------------------

    /// Sets the backends and balancing of the service named or identified by
    /// `service`: its routes then pick among these backends. `backends`: dicts with
    /// `address`, `port` and optionally `weight`, `tier`, `version`,
    /// `max_connections`, `state` (`"live"`, `"draining"`, `"down"`), `discovered`,
    /// `metadata`. `config`: `{"strategy", "split", "seed"}` (default round robin).
    /// Returns the upstream, `{"service_id", "backends", "config"}`.
    #[pyo3(signature = (service, backends, config = None))]
    fn put_upstream<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        backends: &Bound<'_, PyAny>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let backends = upstream::backends(json::to_value(backends)?).map_err(|e| e.into_py(py))?;
        let config = match config {
            Some(config) => json::to_value(config)?,
            None => Value::Null,
        };
        let config = upstream::pool_config(config).map_err(|e| e.into_py(py))?;
        let reg = &self.inner;
        let upstream = Self::core(
            py,
            py.detach(|| {
                reg.put_upstream(service, backends, config)
                    .map(|u| value!(&u))
            }),
        )?;
        json::to_python(py, &upstream)
    }

    /// The upstream of the service named or identified by `service`, or `None`.
    fn upstream<'py>(&self, py: Python<'py>, service: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.upstream(service).map(|u| value!(&u)))
            .map(|u| json::to_python(py, &u))
            .transpose()
    }

    /// Every upstream, by service id.
    fn upstreams<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let reg = &self.inner;
        let upstreams = py.detach(|| values!(&reg.upstreams()));
        list(py, &upstreams)
    }

    /// Removes the backends and balancing of a service; returns the revision.
    fn delete_upstream(&self, py: Python<'_>, service: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_upstream(service)))
    }

    /// Sets the version split of a service (CDAP's route config): `split` maps
    /// version labels of its backends to integer percentages adding up to 100.
    /// `fallback` (`"random"`, `"drop"`, `"smallest"`, `"largest"`) applies when the
    /// split cannot; `sticky` hashes a caller key onto the percentages. CDAP's
    /// refusals raise `InvalidArgumentError` with CDAP's text; an unknown service
    /// `NotFoundError`. Returns the revision.
    #[pyo3(signature = (service, split, fallback = "random", sticky = false))]
    fn set_split(
        &self,
        py: Python<'_>,
        service: &str,
        split: &Bound<'_, PyAny>,
        fallback: &str,
        sticky: bool,
    ) -> PyResult<u64> {
        let fallback = upstream::fallback(py, fallback)?;
        let split =
            upstream::split(&json::to_value(split)?).map_err(|e| errors::cdap_error(py, &e))?;
        let config = upstream::split_config(split, fallback, sticky);
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.set_split(service, config)))
    }

    /// The version split of a service, `{"split", "fallback", "sticky"}`, or `None`.
    fn split<'py>(&self, py: Python<'py>, service: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.split(service).map(|s| value!(&s)))
            .map(|s| json::to_python(py, &s))
            .transpose()
    }

    /// Removes the version split of a service (`NotFoundError` when it has none);
    /// returns the revision.
    fn delete_split(&self, py: Python<'_>, service: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_split(service)))
    }

    /// The statistics of a service's backend pool in gobetween's shape
    /// (`active_connections`, `rx_total`, `tx_total`, `rx_second`, `tx_second`,
    /// `backends`), or `None` when it has no upstream.
    fn pool_stats<'py>(
        &self,
        py: Python<'py>,
        service: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.pool(service).map(|p| value!(&p.stats())))
            .map(|s| json::to_python(py, &s))
            .transpose()
    }

    /// Closes a statistics window at `now` (seconds on the registry's clock; default
    /// its current time) for every backend: the per-second rates become the bytes
    /// since the previous sample divided by the time between them. The reaper does
    /// this on each tick.
    #[pyo3(signature = (now = None))]
    fn sample_stats(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let now = now
            .map(|n| clock::seconds_to_timestamp("now", n))
            .transpose()?;
        let reg = &self.inner;
        py.detach(|| reg.sample_stats(now.unwrap_or_else(|| reg.clock().now())));
        Ok(())
    }

    /// Removes the draining (or no longer discovered) backends that have no
    /// connection left from every upstream; returns how many went.
    fn remove_drained(&self, py: Python<'_>) -> usize {
        let reg = &self.inner;
        py.detach(|| reg.remove_drained())
    }

    // -- gobetween servers -----------------------------------------------------

    /// Creates a gobetween server from a dict in gobetween's JSON shape (`POST
    /// /servers/{name}`), checked and completed with defaults as gobetween does; it
    /// lands as a service and a stream route named `name`. Returns the stored server
    /// with its `name`. gobetween's refusals keep its text: `ConflictError` for a
    /// name in use, `InvalidArgumentError` for a server it refuses,
    /// `ProcessRequestError` for a body that does not decode.
    fn create_server<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        server: &Bound<'_, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let server =
            upstream::server(&json::to_value(server.as_any())?).map_err(|e| e.into_py(py))?;
        let reg = &self.inner;
        let server = Self::core(
            py,
            py.detach(|| reg.create_server(name, &server).map(|s| value!(&s))),
        )?;
        json::to_python(py, &server)
    }

    /// The gobetween server of this name (with its `name`), or `None`.
    fn server<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.server(name).map(|s| value!(&s)))
            .map(|s| json::to_python(py, &s))
            .transpose()
    }

    /// Every gobetween server, as a dict from name to server (gobetween's `GET
    /// /servers`).
    fn servers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let reg = &self.inner;
        let servers = py.detach(|| value!(&reg.servers()));
        json::to_python(py, &servers)
    }

    /// Deletes a gobetween server and the service, route and upstream it landed
    /// as; returns the revision.
    fn delete_server(&self, py: Python<'_>, name: &str) -> PyResult<u64> {
        let reg = &self.inner;
        Self::core(py, py.detach(|| reg.delete_server(name)))
    }

    /// A gobetween server's statistics in gobetween's shape, or `None` for an
    /// unknown name.
    fn server_stats<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reg = &self.inner;
        py.detach(|| reg.server_stats(name).map(|s| value!(&s)))
            .map(|s| json::to_python(py, &s))
            .transpose()
    }

    /// The servers as a gobetween config document (`GET /dump?format=`), in
    /// `"json"` or `"toml"`; only its `[servers.<name>]` sections are written.
    #[pyo3(signature = (format = "json"))]
    fn dump_servers(&self, py: Python<'_>, format: &str) -> PyResult<String> {
        let format = upstream::format(py, format)?;
        let reg = &self.inner;
        py.detach(|| {
            let config = gobetween::Config {
                servers: reg.servers(),
                ..gobetween::Config::default()
            };
            gobetween::dump(&config, format)
        })
        .map_err(|e| errors::gobetween_error(py, &e))
    }

    /// Creates every server of a gobetween config document (in `"json"` or
    /// `"toml"`), each prepared against the document's `[defaults]`, atomically:
    /// all or none. The other global sections are about gobetween's own process and
    /// are not used. Returns the revision.
    #[pyo3(signature = (text, format = "json"))]
    fn load_servers(&self, py: Python<'_>, text: &str, format: &str) -> PyResult<u64> {
        let format = upstream::format(py, format)?;
        let reg = &self.inner;
        py.detach(|| -> Result<u64, BatchError> {
            let config = gobetween::decode_config(text.as_bytes(), format)
                .and_then(|c| gobetween::prepare_config(&c))
                .map_err(BatchError::Gobetween)?;
            let changes = config
                .servers
                .into_iter()
                .map(|(name, server)| Change::CreateServer {
                    name,
                    server: Box::new(server),
                })
                .collect();
            reg.apply(changes)?;
            Ok(reg.revision())
        })
        .map_err(|err| err.into_py(py))
    }

    // -- Matching ------------------------------------------------------------

    // `match` and `connect` are added to the class by `vectorcall::install`, in
    // the vectorcall convention.

    /// Matches a list of requests, each a dict with the keys of `match`'s keyword
    /// arguments (`pick` excepted, `key` included); returns one `Match` or `None` per request, in
    /// order. The requests are all converted first (a bad one raises before any is
    /// matched), then matched with the interpreter released and wrapped, a few dozen
    /// at a time, so that the answers waiting to be wrapped stay in cache.
    #[pyo3(signature = (requests, pick = false))]
    fn match_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        pick: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let requests = matching::requests(requests)?;
        let reg = &self.inner;
        let out = PyList::empty(py);
        for chunk in requests.chunks(matching::CHUNK) {
            let found = py.detach(|| matching::find_all(reg, chunk, pick));
            for answer in found {
                match answer {
                    Some(answer) => out.append(match_object::new(py, answer)?)?,
                    None => out.append(py.None())?,
                }
            }
        }
        Ok(out)
    }

    // -- Batches -------------------------------------------------------------

    /// Applies a list of changes atomically (see the package documentation for the
    /// dict form of a change): all apply, under consecutive revisions, or none does.
    /// Returns the committed events in order.
    fn apply(&self, py: Python<'_>, changes: &Bound<'_, PyList>) -> PyResult<Vec<PyEvent>> {
        let changes = changes
            .iter()
            .map(|change| json::to_value(&change))
            .collect::<PyResult<Vec<_>>>()?;
        let reg = &self.inner;
        let events = py
            .detach(|| -> Result<_, BatchError> { Ok(reg.apply(batch::decode(changes)?)?) })
            .map_err(|err| err.into_py(py))?;
        Ok(events.into_iter().map(PyEvent::new).collect())
    }

    // -- Leases ----------------------------------------------------------------

    /// Removes every lease that lapsed at or before `now` (seconds on the registry's
    /// clock; default: its current time), publishing an `"expire"` event for each;
    /// returns how many were removed.
    #[pyo3(signature = (now = None))]
    fn expire(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let now = now
            .map(|n| clock::seconds_to_timestamp("now", n))
            .transpose()?;
        let reg = &self.inner;
        Ok(py.detach(|| reg.expire(now.unwrap_or_else(|| reg.clock().now()))))
    }

    /// Drops lapsed CF backends from the matcher's index (they are never matched
    /// anyway); returns how many. The reaper does this after every sweep.
    fn compact_index(&self, py: Python<'_>) -> usize {
        let reg = &self.inner;
        py.detach(|| reg.compact_index())
    }

    /// Starts a background thread that expires lapsed leases every `interval` seconds
    /// (then compacts the index); returns its handle. `stop()` it, or use it as a
    /// context manager.
    fn start_reaper(&self, py: Python<'_>, interval: &Bound<'_, PyAny>) -> PyResult<PyReaper> {
        let interval = clock::seconds_to_duration("interval", interval)?;
        if interval.is_zero() {
            return Err(errors::invalid_argument(
                py,
                "interval must be greater than 0".to_string(),
            ));
        }
        let reaper = self.inner.start_reaper(interval);
        Ok(PyReaper {
            inner: Mutex::new(Some(reaper)),
            interval,
        })
    }

    // -- Events and snapshots --------------------------------------------------

    /// Subscribes to events, as an iterator of `Event`s.
    ///
    /// `from_revision`: replay every kept event after this revision first (`None`:
    /// live only). `kinds`: only events about these kinds (`None`: all). `timeout`:
    /// iteration ends once no event came for that many seconds (`None`: it waits
    /// without end).
    #[pyo3(signature = (from_revision = None, kinds = None, timeout = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        from_revision: Option<u64>,
        kinds: Option<Vec<String>>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySubscription> {
        let filter = events::filter(py, kinds)?;
        let timeout = timeout
            .map(|t| clock::seconds_to_duration("timeout", t))
            .transpose()?;
        let reg = &self.inner;
        let sub = Self::core(py, py.detach(|| reg.subscribe(filter, from_revision)))?;
        Ok(PySubscription::new(sub, timeout))
    }

    /// Everything the registry holds and the revision that state shows, as
    /// `{"revision": int, "router_groups": [...], "http_routes": [...],
    /// "tcp_route_mappings": [...], "port_reservations": [...], "routes": [...],
    /// "services": [...], "upstreams": [...], "servers": [...]}`: each object in its
    /// dialect's shape, and leased CF objects with `"expires_at"` (integer
    /// nanoseconds on the registry's clock) besides.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let reg = &self.inner;
        let snapshot = py.detach(|| snapshot::encode(reg.snapshot()));
        json::to_python(py, &snapshot)
    }

    /// Makes the registry hold exactly what `snapshot` (in `snapshot()`'s form) holds,
    /// atomically: only the differences are written, each with its event under a new
    /// revision; objects keep their guids, ids, tags and lease ends. Returns the
    /// revision after the call.
    fn restore(&self, py: Python<'_>, snapshot: &Bound<'_, PyDict>) -> PyResult<u64> {
        let snapshot = json::to_value(snapshot.as_any())?;
        let reg = &self.inner;
        py.detach(|| -> Result<u64, BatchError> { Ok(reg.restore(snapshot::decode(snapshot)?)?) })
            .map_err(|err| err.into_py(py))
    }

    fn __repr__(&self) -> String {
        format!("Registry({})", self.options)
    }
}

/// The background expiry thread `Registry.start_reaper` starts.
///
/// `stop()` ends it and waits for its current sweep; so does leaving a `with` block,
/// and so does the handle being garbage collected.
#[pyclass(name = "Reaper", module = "routeyard", frozen)]
pub(crate) struct PyReaper {
    inner: Mutex<Option<Reaper>>,
    interval: Duration,
}

impl PyReaper {
    fn take(&self) -> PyResult<Option<Reaper>> {
        self.inner
            .lock()
            .map(|mut guard| guard.take())
            .map_err(|_| PyRuntimeError::new_err("reaper lock poisoned"))
    }
}

#[pymethods]
impl PyReaper {
    /// Whether the thread runs (false once stopped).
    #[getter]
    fn running(&self) -> PyResult<bool> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("reaper lock poisoned"))?;
        Ok(guard.as_ref().is_some_and(Reaper::is_running))
    }

    /// Stops the thread and waits for it; stopping again does nothing.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(reaper) = self.take()? {
            py.detach(|| reaper.stop());
        }
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
        self.stop(py)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "<Reaper interval={} running={}>",
            self.interval.as_secs_f64(),
            if self.running()? { "True" } else { "False" }
        ))
    }
}
