//! `routeyard.ManualClock` and the conversion of seconds given from Python.
//!
//! Times and durations cross into Python as seconds: an `int` (exact) or a `float`
//! (rounded to the nanosecond). The core counts nanoseconds.

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use routeyard::{Clock, ManualClock, Timestamp};

use crate::errors;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Reads a non-negative number of seconds (`int` or `float`) as nanoseconds.
///
/// # Errors
///
/// `TypeError` for anything but an int or a float (a bool included);
/// `InvalidArgumentError` for a negative, NaN or infinite value, or one beyond the
/// 64-bit nanosecond range (about 584 years).
pub(crate) fn seconds_to_nanos(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let py = obj.py();
    let out_of_range = || {
        errors::invalid_argument(
            py,
            format!("{what} must be a number of seconds from 0 to 18446744073, not {obj}"),
        )
    };
    if obj.is_instance_of::<PyBool>() {
        Err(PyTypeError::new_err(format!(
            "{what} must be an int or a float, not bool"
        )))
    } else if obj.is_instance_of::<PyInt>() {
        let secs: u64 = obj.extract().map_err(|_| out_of_range())?;
        secs.checked_mul(NANOS_PER_SEC).ok_or_else(out_of_range)
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let nanos = (f.value() * NANOS_PER_SEC as f64).round();
        // `u64::MAX as f64` rounds up to 2^64, which is out of range itself.
        if nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64 {
            Ok(nanos as u64)
        } else {
            Err(out_of_range())
        }
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be an int or a float, not {}",
            obj.get_type().name()?
        )))
    }
}

/// Reads a duration in seconds.
pub(crate) fn seconds_to_duration(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Duration> {
    seconds_to_nanos(what, obj).map(Duration::from_nanos)
}

/// Reads a point in time in seconds since the clock's epoch.
pub(crate) fn seconds_to_timestamp(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Timestamp> {
    seconds_to_nanos(what, obj).map(Timestamp::from_nanos)
}

/// Nanoseconds as float seconds.
pub(crate) fn nanos_to_seconds(nanos: u64) -> f64 {
    (nanos / NANOS_PER_SEC) as f64 + (nanos % NANOS_PER_SEC) as f64 / NANOS_PER_SEC as f64
}

/// A clock that moves only when told to, for driving leases in tests.
///
/// Pass it as `Registry(clock=...)`; the registry then reads every TTL decision from
/// it. Times are seconds since an epoch of the caller's choosing, as an `int` or a
/// `float`; `now()` returns a float, `now_ns()` the exact nanoseconds.
#[pyclass(name = "ManualClock", module = "routeyard", frozen)]
pub(crate) struct PyManualClock {
    pub(crate) inner: ManualClock,
}

#[pymethods]
impl PyManualClock {
    /// A manual clock showing `now` seconds.
    #[new]
    #[pyo3(signature = (now = None))]
    fn new(now: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let start = match now {
            Some(now) => seconds_to_timestamp("now", now)?,
            None => Timestamp::ZERO,
        };
        Ok(PyManualClock {
            inner: ManualClock::new(start),
        })
    }

    /// The time shown, in seconds.
    fn now(&self) -> f64 {
        nanos_to_seconds(self.inner.now().as_nanos())
    }

    /// The time shown, in nanoseconds.
    fn now_ns(&self) -> u64 {
        self.inner.now().as_nanos()
    }

    /// Moves the clock `seconds` forward.
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.advance(seconds_to_duration("seconds", seconds)?);
        Ok(())
    }

    /// Sets the clock to `now` seconds; it may move backwards.
    fn set(&self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set(seconds_to_timestamp("now", now)?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now={})", self.inner.now())
    }
}
