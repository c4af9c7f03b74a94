//! Typed results of generated calls: the conversion of a Python return value to the Rust
//! type its stub gives (README, "Types"), and `Literal` enums.
//!
//! A conversion that fails means the stub does not say what the function returned (a
//! "lying" stub: `TypeError`), or the value does not fit the Rust type (an `int` beyond `i64`:
//! `OverflowError`; a `str` with lone surrogates: `ValueError`): either way a Python exception
//! naming the function, the stub's type and what came back, never a panic.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyUnicodeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTypeMethods};

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
    let py = obj.py();
    let actual = type_name(obj);
    let detail = cause.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let err = if cause.is_instance_of::<PyOverflowError>(py) {
        PyOverflowError::new_err(format!(
            "{function} returned an {actual} that does not fit the Rust type of `{expected}` ({detail})"
        ))
    } else if cause.is_instance_of::<PyUnicodeError>(py) {
        PyValueError::new_err(format!(
            "{function} returned a {actual} that a Rust String cannot hold (`{expected}`: {detail})"
        ))
    } else {
        PyTypeError::new_err(format!("{function} returned {actual}, but its type says `{expected}` ({detail})"))
    };
    err.set_cause(py, Some(cause));
    err
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
