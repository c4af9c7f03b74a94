//! Typed results of generated calls: the conversion of a Python return value to the Rust
//! type its stub gives (README, "Types"), and `Literal` enums.
//!
//! A conversion that fails means the stub does not say what the function returned (a
//! "lying" stub: `TypeError`), or the value does not fit the Rust type (an `int` beyond `i64`:
//! `OverflowError`; a `str` with lone surrogates: `ValueError`): either way a Python exception
//! naming the function, the stub's type and what came back, never a panic.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyUnicodeError, PyValueError};
use pyo3::prelude::*;
use std::marker::PhantomData;

use pyo3::types::{PyIterator, PyString, PyTypeMethods};

/// The result of a call converted to `T`. `function` (`json.dumps`) and `expected` (the
/// stub's return type, `str`) only go into the error.
#[inline(always)]
pub fn returned<'py, T>(r: PyResult<Bound<'py, PyAny>>, function: &'static str, expected: &'static str) -> PyResult<T>
where
    T: pyo3::conversion::FromPyObjectOwned<'py>,
{
    let obj = r?;
    match obj.extract::<T>() {
        Ok(v) => Ok(v),
        Err(e) => Err(mismatch(&obj, function, expected, e.into())),
    }
}

/// The result of a call whose stub says `-> None`.
#[inline(always)]
pub fn returned_none(r: PyResult<Bound<'_, PyAny>>, function: &'static str) -> PyResult<()> {
    let obj = r?;
    if obj.is_none() { Ok(()) } else { Err(mismatch(&obj, function, "None", PyTypeError::new_err("expected None"))) }
}

/// The result of a call whose stub says `-> NoReturn`: its exception, else a `TypeError`.
#[inline(always)]
pub fn returned_never(r: PyResult<Bound<'_, PyAny>>, function: &'static str) -> PyResult<std::convert::Infallible> {
    let obj = r?;
    Err(mismatch(&obj, function, "NoReturn", PyTypeError::new_err("it never returns")))
}

/// `module.qualname` of the object's type (`builtins.` left out).
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let ty = obj.get_type();
    match (ty.module(), ty.qualname()) {
        (Ok(m), Ok(q)) if m.to_str().is_ok_and(|m| m != "builtins") => format!("{m}.{q}"),
        (_, Ok(q)) => q.to_string(),
        _ => "<unknown type>".to_owned(),
    }
}

/// The error for a value that does not convert: an `OverflowError` when the number does not
/// fit the Rust type, else a `TypeError`; the conversion's own error is its cause.
#[cold]
#[inline(never)]
fn mismatch(obj: &Bound<'_, PyAny>, function: &str, expected: &str, cause: PyErr) -> PyErr {
    mismatch_of("returned", obj, function, expected, cause)
}

/// [`mismatch`] for a value the function `verb` (`returned`, `yielded`).
#[cold]
#[inline(never)]
fn mismatch_of(verb: &str, obj: &Bound<'_, PyAny>, function: &str, expected: &str, cause: PyErr) -> PyErr {
    let py = obj.py();
    let actual = type_name(obj);
    let detail = cause.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let err = if cause.is_instance_of::<PyOverflowError>(py) {
        PyOverflowError::new_err(format!(
            "{function} {verb} an {actual} that does not fit the Rust type of `{expected}` ({detail})"
        ))
    } else if cause.is_instance_of::<PyUnicodeError>(py) {
        PyValueError::new_err(format!(
            "{function} {verb} a {actual} that a Rust String cannot hold (`{expected}`: {detail})"
        ))
    } else {
        PyTypeError::new_err(format!("{function} {verb} {actual}, but its type says `{expected}` ({detail})"))
    };
    err.set_cause(py, Some(cause));
    err
}

/// The result of a call whose stub says `-> Iterator[T]` (or `Generator[T, ...]`): an iterator
/// whose items convert to `T`. `expected` is the stub's item type, for errors.
#[inline]
pub fn returned_iter<'py, T>(
    r: PyResult<Bound<'py, PyAny>>,
    function: &'static str,
    expected: &'static str,
) -> PyResult<crate::TypedIter<'py, T>>
where
    T: pyo3::conversion::FromPyObjectOwned<'py>,
{
    let obj = r?;
    match obj.cast_into::<PyIterator>() {
        Ok(iter) => Ok(crate::TypedIter { iter, function, expected, item: PhantomData }),
        Err(e) => {
            let obj = e.into_inner();
            let err = PyTypeError::new_err("not an iterator");
            Err(mismatch(&obj, function, "Iterator", err))
        }
    }
}

/// A Python iterator whose items convert to `T`: what a function whose stub says
/// `-> Iterator[T]` returns (`re.finditer` gives `TypedIter<Match>`). Each item is a
/// `PyResult<T>`: an exception while iterating, or an item that does not convert (a
/// `TypeError` naming the function, as for a typed return), is an `Err` item.
pub struct TypedIter<'py, T> {
    iter: Bound<'py, PyIterator>,
    function: &'static str,
    expected: &'static str,
    item: PhantomData<fn() -> T>,
}

impl<'py, T> TypedIter<'py, T> {
    /// The Python iterator.
    pub fn as_bound(&self) -> &Bound<'py, PyIterator> {
        &self.iter
    }

    /// The Python iterator.
    pub fn into_bound(self) -> Bound<'py, PyIterator> {
        self.iter
    }
}

impl<'py, T: pyo3::conversion::FromPyObjectOwned<'py>> Iterator for TypedIter<'py, T> {
    type Item = PyResult<T>;

    fn next(&mut self) -> Option<PyResult<T>> {
        let item = match self.iter.next()? {
            Ok(item) => item,
            Err(e) => return Some(Err(e)),
        };
        Some(match item.extract::<T>() {
            Ok(v) => Ok(v),
            Err(e) => Err(mismatch_of("yielded", &item, self.function, self.expected, e.into())),
        })
    }
}

impl<T> std::fmt::Debug for TypedIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TypedIter({:?}, items: {})", self.iter, self.expected)
    }
}

/// The position of `obj` in `values` (a `Literal` enum's strings), or a `TypeError`.
pub fn literal_index(obj: pyo3::Borrowed<'_, '_, PyAny>, values: &'static [&'static str]) -> PyResult<usize> {
    if let Ok(s) = obj.cast::<PyString>()
        && let Ok(text) = s.to_str()
        && let Some(i) = values.iter().position(|v| *v == text)
    {
        return Ok(i);
    }
    let shown: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    let got = obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "an object".to_owned());
    Err(PyTypeError::new_err(format!("expected one of {}, got {got}", shown.join(", "))))
}
