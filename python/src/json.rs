//! Conversion between Python objects and JSON values.
//!
//! The core speaks its dialects' JSON shapes through serde, so Python dicts go through a
//! `serde_json::Value` on their way in and come back from one on their way out.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Number, Value};

/// Converts a JSON-compatible Python object (None, bool, int, float, str, list, tuple,
/// dict with str keys) into a JSON value.
///
/// # Errors
///
/// `TypeError` for any other object or a non-str dict key; `ValueError` for an int
/// outside the 64-bit range or a float that is NaN or infinite.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        // Checked before int: `bool` is a subclass of `int` in Python.
        Ok(Value::Bool(b.is_true()))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(n) = obj.extract::<i64>() {
            Ok(Value::from(n))
        } else if let Ok(n) = obj.extract::<u64>() {
            Ok(Value::from(n))
        } else {
            Err(PyValueError::new_err(format!(
                "integer {obj} does not fit in 64 bits"
            )))
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("float {obj} is not a JSON number")))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_cow()?.into_owned()))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "dict keys must be str, not {}",
                    key.get_type().name()?
                )));
            };
            map.insert(key.to_cow()?.into_owned(), to_value(&value)?);
        }
        Ok(Value::Object(map))
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.iter().map(|item| to_value(&item)).collect()
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().map(|item| to_value(&item)).collect()
    } else {
        Err(PyTypeError::new_err(format!(
            "{} is not a JSON value",
            obj.get_type().name()?
        )))
    }
}

/// Converts a JSON value into the matching Python object: objects become dicts,
/// arrays lists, numbers int or float.
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_python(py, item)?)?;
            }
            Ok(dict.into_any())
        }
    }
}
