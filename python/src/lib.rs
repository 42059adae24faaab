//! The native part of the `routeyard` Python package, imported as `routeyard._routeyard`.
//!
//! Users import from `routeyard`; python/routeyard/__init__.py re-exports what is
//! defined here, and python/routeyard/_routeyard.pyi describes it to type checkers.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use pyo3::prelude::*;

mod batch;
mod clock;
mod errors;
mod events;
mod gc;
mod json;
mod match_object;
mod matching;
mod registry;
mod snapshot;
mod text;
mod upstream;
mod vectorcall;

/// The module `routeyard._routeyard`.
///
/// `gil_used = false`: the module may run on free-threaded CPython. Its state is the
/// core `Registry`, which is `Send + Sync` and synchronises itself with locks that
/// cannot be poisoned, held by frozen classes; the subscription and reaper handles
/// keep their core objects behind a `Mutex` whose poisoning is raised as an exception.
#[pymodule(gil_used = false)]
fn _routeyard(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", routeyard::VERSION)?;
    m.add_class::<registry::PyRegistry>()?;
    vectorcall::install(m.py())?;
    m.add_class::<registry::PyReaper>()?;
    m.add_class::<clock::PyManualClock>()?;
    m.add_class::<events::PyEvent>()?;
    m.add_class::<events::PySubscription>()?;
    match_object::register(m)?;
    m.add_class::<matching::PyCapture>()?;
    m.add_class::<upstream::PyConnection>()?;
    errors::register(m)?;
    Ok(())
}
