//! The `Match` class, made with CPython's C API rather than as a PyO3 class.
//!
//! A hit makes one `Match`, so its cost is part of every `Registry.match`. PyO3 makes
//! each class a type the cycle collector tracks: an instance is allocated and freed
//! through the collector's bookkeeping and PyO3's deallocation trampoline. A `Match`
//! holds no Python object (its route and service are the core's `Arc`s, its texts are
//! its own), so it cannot be part of a cycle, and here it is a plain type: making one
//! is a `PyObject_Malloc` and a `PyObject_Init`, freeing it a drop and a
//! `PyObject_Free`. Its attributes are read-only getset descriptors; every call into
//! Rust runs inside PyO3's own trampolines, which catch panics.

use std::ffi::{c_int, c_uint, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::{PyMemoryError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyType};

use crate::matching::{Answer, Field};

/// The memory of one `Match`: the object header, then the answer.
#[repr(C)]
struct MatchObject {
    base: ffi::PyObject,
    answer: Answer,
}

/// The class, made once when the module is initialised.
static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A new `Match` holding `answer`.
///
/// # Errors
///
/// `MemoryError` when CPython cannot allocate it.
pub(crate) fn new(py: Python<'_>, answer: Answer) -> PyResult<Bound<'_, PyAny>> {
    let object = allocate(py)?;
    // SAFETY: `object` is initialised but for its answer, which is written here.
    unsafe {
        ptr::addr_of_mut!((*object).answer).write(answer);
        Ok(Bound::from_owned_ptr(py, object.cast()))
    }
}

/// A new `Match` holding the answer `make` makes, made in its place.
///
/// # Errors
///
/// `MemoryError` when CPython cannot allocate it.
pub(crate) fn new_with(py: Python<'_>, make: &mut dyn FnMut() -> Answer) -> PyResult<Py<PyAny>> {
    let object = allocate(py)?;
    // Should making the answer panic, the object is given back before the panic
    // goes on.
    let unmade = Unmade(object.cast());
    // SAFETY: `object` is initialised but for its answer, which is written here.
    unsafe { ptr::addr_of_mut!((*object).answer).write(make()) };
    std::mem::forget(unmade);
    // SAFETY: the object is whole, and this is its one reference.
    Ok(unsafe { Bound::from_owned_ptr(py, object.cast()) }.unbind())
}

/// A new `Match` with its header set (one reference, its class) and its answer not
/// yet written.
fn allocate(py: Python<'_>) -> PyResult<*mut MatchObject> {
    let class = CLASS
        .get(py)
        .ok_or_else(|| PyTypeError::new_err("routeyard.Match is not initialised"))?;
    let class = class.as_ptr().cast::<ffi::PyTypeObject>();
    // SAFETY: any size may be asked of CPython's allocator; the result is checked.
    let object = unsafe { ffi::PyObject_Malloc(std::mem::size_of::<MatchObject>()) };
    if object.is_null() {
        return Err(PyMemoryError::new_err(()));
    }
    // SAFETY: `object` is a fresh block of the class's size, aligned for any object
    // (CPython's allocator aligns to 16 bytes); `PyObject_Init` sets its reference
    // count and type, taking a reference to the heap type.
    unsafe { ffi::PyObject_Init(object.cast(), class) };
    Ok(object.cast())
}

/// Gives back a `Match` whose answer was never written, if dropped.
struct Unmade(*mut ffi::PyObject);

impl Drop for Unmade {
    fn drop(&mut self) {
        // SAFETY: the object is initialised but for its answer, and nothing else
        // refers to it: freeing its memory and the reference to its class undoes
        // `new_with`.
        unsafe {
            let class = ffi::Py_TYPE(self.0);
            ffi::PyObject_Free(self.0.cast());
            ffi::Py_DECREF(class.cast());
        }
    }
}

/// The answer inside `object`.
///
/// # Safety
///
/// `object` is a live `Match`, which the answer does not outlive.
unsafe fn answer<'a>(object: *mut ffi::PyObject) -> &'a Answer {
    // SAFETY: as the caller promises.
    unsafe { &(*object.cast::<MatchObject>()).answer }
}

/// `tp_dealloc`: drops the answer, frees the memory, and gives back the reference to
/// the class that `PyObject_Init` took.
unsafe extern "C" fn dealloc(object: *mut ffi::PyObject) {
    // SAFETY: CPython calls this once, on a `Match` whose last reference went away.
    unsafe {
        let class = ffi::Py_TYPE(object);
        let answer = ptr::addr_of_mut!((*object.cast::<MatchObject>()).answer);
        // Dropping an answer drops `Arc`s and owned texts; should it ever panic, the
        // rest of the answer leaks rather than unwinding into the interpreter.
        let _ = catch_unwind(AssertUnwindSafe(|| ptr::drop_in_place(answer)));
        ffi::PyObject_Free(object.cast());
        ffi::Py_DECREF(class.cast());
    }
}

/// The getter of every attribute; its closure is the attribute's index in [`FIELDS`].
unsafe fn get(
    py: Python<'_>,
    object: *mut ffi::PyObject,
    field: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    let field = FIELDS[field as usize].0;
    // SAFETY: a getset descriptor calls its getter only with an instance of its class.
    let answer = unsafe { answer(object) };
    Ok(answer.attribute(py, field)?.into_ptr())
}

/// `tp_getset`'s getter, in the signature CPython calls it with.
unsafe extern "C" fn getter(object: *mut ffi::PyObject, field: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the thread attached and a live instance; the
    // closure is only read as a number.
    unsafe { pyo3::get_trampoline_function!(binaryfunc, get)(object, field.cast()) }
}

unsafe fn repr(py: Python<'_>, object: *mut ffi::PyObject) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: CPython calls `tp_repr` with an instance of the class.
    let text = unsafe { answer(object) }.repr();
    Ok(PyString::new(py, &text).into_ptr())
}

/// `==` and `!=` compare every field of two matches; other comparisons, and
/// comparisons with other objects, are not implemented.
unsafe fn compare(
    py: Python<'_>,
    object: *mut ffi::PyObject,
    other: *mut ffi::PyObject,
    op: c_int,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: `object` is an instance of the class and `other` a live object.
    let same_class = unsafe { ffi::Py_TYPE(other) == ffi::Py_TYPE(object) };
    if !same_class || (op != ffi::Py_EQ && op != ffi::Py_NE) {
        return Ok(py.NotImplemented().into_ptr());
    }
    // SAFETY: both are instances of the class.
    let equal = unsafe { answer(object) == answer(other) };
    Ok(pyo3::types::PyBool::new(py, equal == (op == ffi::Py_EQ))
        .to_owned()
        .into_any()
        .into_ptr())
}

unsafe fn refuse_new(
    _py: Python<'_>,
    _class: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    Err(PyTypeError::new_err("No constructor defined for Match"))
}

/// The attributes, their names and their docs, in the order of `tp_getset`.
const FIELDS: [(Field, &CStr, &CStr); 13] = [
    (
        Field::Route,
        c"route",
        c"The Kong-style route that matched, as a dict in Kong's shape; `None` when a CF route or CF TCP mappings answered. A new dict on every read.",
    ),
    (
        Field::RouteId,
        c"route_id",
        c"The id of the Kong-style route that matched, or `None`.",
    ),
    (
        Field::Service,
        c"service",
        c"The matched route's service, as a dict in Kong's shape, or `None`. A new dict on every read.",
    ),
    (
        Field::ServiceId,
        c"service_id",
        c"The id of the matched route's service, or `None`.",
    ),
    (
        Field::CfRoute,
        c"cf_route",
        c"The CF HTTP route (`host/path`, lowercased) whose backends answered, or `None`.",
    ),
    (
        Field::TcpRoute,
        c"tcp_route",
        c"`(router_group_guid, port)` of the CF TCP mappings that answered, or `None`.",
    ),
    (
        Field::UpstreamPath,
        c"upstream_path",
        c"The path to send upstream, after `strip_path` and the service's path; `\"\"` for stream requests.",
    ),
    (
        Field::UpstreamHost,
        c"upstream_host",
        c"The `Host` to send upstream: the request's with `preserve_host` and for CF routes, else the service's; for stream requests the SNI.",
    ),
    (
        Field::MatchedPath,
        c"matched_path",
        c"The part of the request path the route's path matched; `\"\"` when the route matched by other fields only, and for CF routes.",
    ),
    (
        Field::Captures,
        c"captures",
        c"The groups of a regex path that took part in the match, in group order.",
    ),
    (
        Field::Backend,
        c"backend",
        c"`(address, port)` of the backend chosen (by the service's upstream, or round robin among a CF route's registrations) when the request asked for one (`pick=True`) and the route has live backends; otherwise `None`.",
    ),
    (
        Field::Redirect,
        c"redirect",
        c"The status code to redirect with when the route accepts only HTTPS and the request came over plain HTTP; otherwise `None`.",
    ),
    (
        Field::Revision,
        c"revision",
        c"The registry revision of the index that answered.",
    ),
];

/// The class's `tp_getset` table: one read-only descriptor per field, then the
/// sentinel.
struct GetSet([ffi::PyGetSetDef; FIELDS.len() + 1]);

// SAFETY: the table is never written after it is built; CPython only reads it.
unsafe impl Sync for GetSet {}

static GETSET: GetSet = GetSet(getset_table());

const fn getset_table() -> [ffi::PyGetSetDef; FIELDS.len() + 1] {
    let mut table = [ffi::PyGetSetDef {
        name: ptr::null(),
        get: None,
        set: None,
        doc: ptr::null(),
        closure: ptr::null_mut(),
    }; FIELDS.len() + 1];
    let mut i = 0;
    while i < FIELDS.len() {
        table[i] = ffi::PyGetSetDef {
            name: FIELDS[i].1.as_ptr(),
            get: Some(getter),
            set: None,
            doc: FIELDS[i].2.as_ptr(),
            closure: i as *mut c_void,
        };
        i += 1;
    }
    table
}

/// Makes the class and adds it to the module as `Match`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let mut slots = [
        slot(
            ffi::Py_tp_doc,
            c"The answer to a request.\n\nImmutable. Comparing two answers compares every field, the revision included."
                .as_ptr()
                .cast_mut()
                .cast(),
        ),
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(
            ffi::Py_tp_getset,
            ptr::from_ref(&GETSET.0).cast_mut().cast(),
        ),
        slot(
            ffi::Py_tp_repr,
            pyo3::get_trampoline_function!(reprfunc, repr) as *mut c_void,
        ),
        slot(
            ffi::Py_tp_richcompare,
            pyo3::get_trampoline_function!(richcmpfunc, compare) as *mut c_void,
        ),
        slot(
            ffi::Py_tp_hash,
            ffi::PyObject_HashNotImplemented as *mut c_void,
        ),
        // Before CPython 3.10 a class without `tp_new` inherits `object`'s, which
        // would make an instance with no answer in it.
        slot(
            ffi::Py_tp_new,
            pyo3::get_trampoline_function!(newfunc, refuse_new) as *mut c_void,
        ),
        slot(0, ptr::null_mut()),
    ];
    let mut spec = ffi::PyType_Spec {
        // CPython keeps this pointer as the class's `tp_name`: it must be static.
        name: c"routeyard.Match".as_ptr(),
        basicsize: c_int::try_from(std::mem::size_of::<MatchObject>())
            .map_err(|_| PyTypeError::new_err("routeyard.Match is too large"))?,
        itemsize: 0,
        flags: c_uint::try_from(ffi::Py_TPFLAGS_DEFAULT).unwrap_or(0),
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: the spec and its slots are valid for the call; the getset table, the
    // docs and the name are static.
    let class = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
    let class = class.cast_into::<PyType>()?;
    // A second initialisation of the module in one process keeps the first class.
    let class = CLASS.get_or_init(py, || class.unbind());
    module.add("Match", class.bind(py))
}
