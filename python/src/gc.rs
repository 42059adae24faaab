//! Objects the cycle collector need not track.
//!
//! PyO3 makes every class a GC type, so each new object is linked into the
//! collector's youngest generation, and every few hundred allocations the collector
//! walks all the tracked objects still alive there. An object that holds no reference
//! to another Python object can never be part of a reference cycle, and tracking it
//! buys nothing: CPython untracks its own tuples and dicts of atoms for the same
//! reason. Connections are made one per `connect` and often kept, so they are made
//! untracked. (`Match`, made on every hit, is not a PyO3 class at all: see
//! `match_object`.)

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::{PyClass, PyClassInitializer};

/// A class whose objects hold no reference to another Python object: only Rust
/// data, which the collector cannot see and which cannot refer back to Python.
pub(crate) trait Atomic: PyClass + Into<PyClassInitializer<Self>> {}

impl Atomic for crate::upstream::PyConnection {}

/// `value` in a new object, not tracked by the cycle collector.
pub(crate) fn untracked<T: Atomic>(py: Python<'_>, value: T) -> PyResult<Bound<'_, T>> {
    let object = Bound::new(py, value)?;
    // SAFETY: `object` is a live object of a GC type (every PyO3 class is one); an
    // object that refers to no other Python object may be untracked at any time, and
    // the class's deallocator untracks again only if it is tracked.
    unsafe { ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
    Ok(object)
}
