//! Python strs read as UTF-8 without copying them.
//!
//! The module is built for the stable ABI of CPython 3.9, whose limited API has no way
//! to borrow a str's UTF-8 text: it must be encoded into a new `bytes` object, one
//! allocation and one copy per string. From 3.10 on, `PyUnicode_AsUTF8AndSize` is part
//! of the stable ABI and lends the text the str itself caches (for an ASCII str, its own
//! characters). The interpreter's version is read once, and a str is lent in place on
//! 3.10 and later, encoded on 3.9.

use std::borrow::Cow;
use std::ffi::c_char;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyString;

extern "C" {
    // Part of the stable ABI since CPython 3.10 (and exported with this signature
    // long before); called only on an interpreter of 3.10 or later.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// Whether the running interpreter lends a str's UTF-8 text through the stable ABI.
fn lends_utf8(py: Python<'_>) -> bool {
    static LENDS: OnceLock<bool> = OnceLock::new();
    *LENDS.get_or_init(|| py.version_info() >= (3, 10))
}

/// A str's UTF-8 text, held by a reference to the object that owns it (the str, or
/// the bytes it was encoded into): a Python str never changes, so the text stays put
/// for as long as this lives, with or without the interpreter lock.
pub(crate) enum HeldStr {
    /// Lent by the str itself.
    InPlace {
        _owner: Py<PyString>,
        text: NonNull<str>,
    },
    /// Encoded into a bytes object (CPython 3.9).
    Encoded(PyBackedStr),
}

// SAFETY: the text is immutable and owned by a Python object this value keeps alive;
// reading it needs no lock, and the reference is released through pyo3, which defers
// the decrement until the interpreter lock is held.
unsafe impl Send for HeldStr {}
// SAFETY: as above; nothing is ever written through `text`.
unsafe impl Sync for HeldStr {}

/// The UTF-8 text a str lends in place (CPython 3.10 and later), or `None` on 3.9.
///
/// # Errors
///
/// `UnicodeEncodeError` for a str with lone surrogates, which has no UTF-8 form.
fn lent_utf8<'a>(s: Borrowed<'a, '_, PyString>) -> PyResult<Option<&'a str>> {
    let py = s.py();
    if !lends_utf8(py) {
        return Ok(None);
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str and the interpreter is 3.10 or later, where the
    // function is part of the stable ABI; `len` is writable.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len) };
    if data.is_null() {
        return Err(PyErr::fetch(py));
    }
    let len = usize::try_from(len).unwrap_or(0);
    // SAFETY: on success CPython returns `len` bytes of UTF-8 that live as long as the
    // str, which outlives `'a` and never changes.
    Ok(Some(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), len))
    }))
}

impl HeldStr {
    /// Holds the text of `s`.
    ///
    /// # Errors
    ///
    /// `UnicodeEncodeError` for a str with lone surrogates, which has no UTF-8 form.
    pub(crate) fn new(s: &Bound<'_, PyString>) -> PyResult<HeldStr> {
        match lent_utf8(s.as_borrowed())? {
            Some(text) => Ok(HeldStr::InPlace {
                text: NonNull::from(text),
                _owner: s.clone().unbind(),
            }),
            None => PyBackedStr::try_from(s.clone()).map(HeldStr::Encoded),
        }
    }
}

/// The text of a str for as long as the str is borrowed: lent in place by the str
/// (CPython 3.10 and later) or encoded into a `String` (3.9). Nothing is counted or
/// copied on 3.10 and later, so a single call reads its arguments this way.
pub(crate) type Lent<'a> = Cow<'a, str>;

/// How a request keeps the text of a str argument: [`HeldStr`] outlives the call and
/// the interpreter lock, [`Lent`] only borrows it.
pub(crate) trait Text<'a>: Deref<Target = str> + Sized {
    /// The text of `s`.
    ///
    /// # Errors
    ///
    /// `UnicodeEncodeError` for a str with lone surrogates, which has no UTF-8 form.
    fn take(s: Borrowed<'a, '_, PyString>) -> PyResult<Self>;
}

impl<'a> Text<'a> for HeldStr {
    fn take(s: Borrowed<'a, '_, PyString>) -> PyResult<HeldStr> {
        HeldStr::new(&s)
    }
}

impl<'a> Text<'a> for Lent<'a> {
    fn take(s: Borrowed<'a, '_, PyString>) -> PyResult<Lent<'a>> {
        match lent_utf8(s)? {
            Some(text) => Ok(Cow::Borrowed(text)),
            None => Ok(Cow::Owned(s.to_cow()?.into_owned())),
        }
    }
}

impl Deref for HeldStr {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // SAFETY: the text lives as long as the owner this value holds.
            HeldStr::InPlace { text, .. } => unsafe { text.as_ref() },
            HeldStr::Encoded(backed) => backed,
        }
    }
}

impl fmt::Debug for HeldStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
