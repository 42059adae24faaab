//! `Registry.match` and `Registry.connect`, called in CPython's vectorcall convention.
//!
//! PyO3 builds the methods of a module for the 3.9 stable ABI in the older convention:
//! positional arguments in a tuple and keyword arguments in a dict, which the interpreter
//! builds for every call that passes a keyword. A `match` call is nearly always made
//! with keywords (`registry.match(host=..., path=...)`), and building that dict cost
//! more than the lookup itself. These two methods are therefore defined here, with a
//! `PyMethodDef` of `METH_FASTCALL | METH_KEYWORDS`: the arguments arrive as a C array
//! followed by a tuple of the keywords' names, and nothing is allocated to pass them.
//!
//! The flag is part of the stable ABI from CPython 3.10. CPython 3.7 to 3.9 implement
//! it with the same value and the same calling convention, so the module uses it on
//! every interpreter its wheel supports.

use std::ffi::{c_int, CStr};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use routeyard::Registry;

use crate::gc;
use crate::matching;
use crate::registry::PyRegistry;
use crate::upstream::PyConnection;

/// `METH_FASTCALL`: the value CPython 3.7 and later give it; PyO3 defines the constant
/// only for the 3.10 stable ABI.
const METH_FASTCALL: c_int = 0x0080;

/// The arguments of one vectorcall: the positional ones, then the values of the
/// keyword ones, whose names are in `names`.
pub(crate) struct Arguments<'a, 'py> {
    positional: &'a [*mut ffi::PyObject],
    keywords: &'a [*mut ffi::PyObject],
    names: Option<Borrowed<'a, 'py, PyTuple>>,
    py: Python<'py>,
}

impl<'a, 'py> Arguments<'a, 'py> {
    /// The arguments as the interpreter passes them to a `METH_FASTCALL |
    /// METH_KEYWORDS` function.
    ///
    /// # Safety
    ///
    /// `args` points to `nargs` objects followed by one object for each name in
    /// `kwnames`, which is null or a tuple of strs; all of them stay alive for `'a`.
    unsafe fn new(
        py: Python<'py>,
        args: *const *mut ffi::PyObject,
        nargs: ffi::Py_ssize_t,
        kwnames: *mut ffi::PyObject,
    ) -> Arguments<'a, 'py> {
        let names = if kwnames.is_null() {
            None
        } else {
            // SAFETY: a non-null `kwnames` is a live tuple (the caller's promise).
            Some(unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() })
        };
        let given = usize::try_from(nargs).unwrap_or(0);
        let named = names.map_or(0, |n| n.len());
        let all: &[*mut ffi::PyObject] = if given + named == 0 {
            &[]
        } else {
            // SAFETY: `args` holds `nargs` positional values and one per keyword name.
            unsafe { std::slice::from_raw_parts(args, given + named) }
        };
        let (positional, keywords) = all.split_at(given);
        Arguments {
            positional,
            keywords,
            names,
            py,
        }
    }

    /// The interpreter the call runs in.
    pub(crate) fn py(&self) -> Python<'py> {
        self.py
    }

    /// How many positional arguments were given.
    pub(crate) fn positional_len(&self) -> usize {
        self.positional.len()
    }

    /// The positional arguments, in order.
    pub(crate) fn positional(&self) -> impl Iterator<Item = Borrowed<'a, 'py, PyAny>> + '_ {
        // SAFETY: every pointer is a live object for `'a` (see `new`).
        self.positional
            .iter()
            .map(|&p| unsafe { Borrowed::from_ptr(self.py, p) })
    }

    /// The keyword arguments, as `(name, value)` in the order given, the names
    /// borrowed from the call's tuple of names.
    pub(crate) fn keywords(
        &self,
    ) -> impl Iterator<Item = (Borrowed<'a, 'py, PyAny>, Borrowed<'a, 'py, PyAny>)> + '_ {
        let names = self.names.map_or(ptr::null_mut(), |names| names.as_ptr());
        self.keywords.iter().enumerate().map(move |(i, &value)| {
            // SAFETY: there is a keyword value only when `names` is the call's tuple of
            // names, which holds one live str per value for `'a`; `i` is in range
            // (`isize` always holds it), and `value` is a live object for `'a`.
            unsafe {
                let name = ffi::PyTuple_GetItem(names, i as ffi::Py_ssize_t);
                (
                    Borrowed::from_ptr(self.py, name),
                    Borrowed::from_ptr(self.py, value),
                )
            }
        })
    }
}

/// A method of `Registry` called in the vectorcall convention.
trait Method {
    /// What it answers (or `None`).
    type Output;

    /// The method's body.
    fn call(registry: &Registry, arguments: &Arguments<'_, '_>) -> PyResult<Option<Self::Output>>;

    /// The answer as a new reference to a Python object.
    fn object(py: Python<'_>, value: Self::Output) -> PyResult<*mut ffi::PyObject>;
}

/// `Registry.match`.
struct Match;

impl Method for Match {
    type Output = Py<PyAny>;

    fn call(registry: &Registry, arguments: &Arguments<'_, '_>) -> PyResult<Option<Self::Output>> {
        matching::match_one(registry, arguments)
    }

    fn object(_py: Python<'_>, value: Self::Output) -> PyResult<*mut ffi::PyObject> {
        Ok(value.into_ptr())
    }
}

/// `Registry.connect`.
struct Connect;

impl Method for Connect {
    type Output = PyConnection;

    fn call(registry: &Registry, arguments: &Arguments<'_, '_>) -> PyResult<Option<Self::Output>> {
        matching::connect_one(registry, arguments)
    }

    fn object(py: Python<'_>, value: Self::Output) -> PyResult<*mut ffi::PyObject> {
        Ok(gc::untracked(py, value)?.into_any().into_ptr())
    }
}

/// The body of `match` and `connect`, run inside PyO3's own fastcall trampoline (the
/// one its generated methods use): it marks the thread as attached without asking
/// CPython again, catches a panic and turns it into `PanicException`, and raises a
/// returned error. The trampolines live in `pyo3::impl_`, which PyO3's macros expand
/// to in the crates that use them; `Cargo.lock` pins the version this was built on.
///
/// # Safety
///
/// As the trampoline requires: CPython calls it with the thread attached, `slf` the
/// object the method was looked up on, and the vectorcall arguments.
unsafe fn call<M: Method>(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: `slf` is the live object the method was looked up on, and a method
    // descriptor calls its function only after checking that `slf` is an instance of
    // its class, `Registry` (which has no subclasses).
    let registry = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<PyRegistry>() };
    // SAFETY: the arguments are CPython's (this function's promise).
    let arguments = unsafe { Arguments::new(py, args, nargs, kwnames) };
    Ok(match M::call(registry.get().registry(), &arguments)? {
        Some(value) => M::object(py, value)?,
        None => py.None().into_ptr(),
    })
}

/// The signature of a `METH_FASTCALL | METH_KEYWORDS` function.
type FastCall = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// A method's definition, which CPython reads for as long as the method exists.
struct Definition(ffi::PyMethodDef);

// SAFETY: the definition is never written after it is built; CPython only reads it.
unsafe impl Sync for Definition {}

impl Definition {
    const fn new(name: &'static CStr, doc: &'static CStr, f: FastCall) -> Definition {
        Definition(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                // SAFETY: CPython calls a `METH_FASTCALL | METH_KEYWORDS` method through
                // this slot with the four arguments of `FastCall`; the union's variant
                // for that signature exists only in PyO3's 3.10 stable-ABI build.
                PyCFunction: unsafe { std::mem::transmute::<FastCall, ffi::PyCFunction>(f) },
            },
            ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        })
    }
}

/// A nul-terminated doc string as a `CStr`, checked when compiled.
const fn doc(text: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(text.as_bytes()) {
        Ok(doc) => doc,
        Err(_) => panic!("a doc must end with its only nul"),
    }
}

/// The request parameters of `match` and `connect`, as their signatures show them.
macro_rules! request_params {
    () => {
        "protocol='http', method='GET', host='', path='/', headers=None, sni=None, \
         source=None, destination=None, router_group=None"
    };
}

static MATCH: Definition = Definition::new(
    c"match",
    doc(concat!(
        "match($self, /, ",
        request_params!(),
        ", pick=False, key=None)\n--\n\n",
        "Matches a request; returns a `Match`, or `None` when no route answers.\n\n",
        "`protocol`: a Kong protocol name (default `\"http\"`); `tcp`, `tls`, \
             `tls_passthrough` and `udp` match stream routes, then (given `router_group`) \
             the CF TCP mappings of that group on the destination's port. `headers`: a \
             dict, or a list of `(name, value)` pairs. `source` and `destination`: \
             `\"ip:port\"` (IPv6 in brackets) or `(ip, port)`. `pick`: also choose a \
             backend: for a Kong route, from its service's upstream by the upstream's \
             strategy, tiers and split; for a CF route or CF TCP mappings, a live \
             registration round robin. `key` (bytes or str): the caller key a Kong \
             route's pick hashes (consistent hashing, sticky splits). A single lookup \
             runs with the interpreter held: it is shorter than releasing and taking it \
             back.\0"
    )),
    pyo3::get_trampoline_function!(fastcall_cfunction_with_keywords, call::<Match>),
);

static CONNECT: Definition = Definition::new(
    c"connect",
    doc(concat!(
        "connect($self, /, ",
        request_params!(),
        ", key=None)\n--\n\n",
        "Matches a request as `match` does and takes a connection slot on a backend \
             of the matched route's service (by the pool's strategy, tiers, split and \
             connection caps, with `key` and the source address); returns the \
             `Connection`, or `None` when no route answers, its service has no backends, \
             or none has room. CF routes have no service pool and answer `None`.\0"
    )),
    pyo3::get_trampoline_function!(fastcall_cfunction_with_keywords, call::<Connect>),
);

/// Adds `match` and `connect` to the `Registry` class.
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let class = py.get_type::<PyRegistry>();
    for def in [&MATCH, &CONNECT] {
        // SAFETY: `class` is a live type object and `def` a static definition that
        // CPython only reads; the descriptor is a new reference, owned by `Bound`.
        let descriptor = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyDescr_NewMethod(class.as_type_ptr(), ptr::from_ref(&def.0).cast_mut()),
            )?
        };
        // SAFETY: `class` and `descriptor` are live objects and `ml_name` is one of
        // the nul-terminated names above.
        let set = unsafe {
            ffi::PyObject_SetAttrString(class.as_ptr(), def.0.ml_name, descriptor.as_ptr())
        };
        if set < 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(())
}
