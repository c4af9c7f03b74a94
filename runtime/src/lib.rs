//! pymodgen-runtime: what pymodgen-generated bindings call.
//!
//! Generated Rust code uses the hidden [`__private`] module: a callable is looked up once
//! per interpreter and cached ([`__private::Callable`]), arguments go through pyo3's
//! [`IntoPyObject`], and only the optional parameters a caller set are passed, so Python
//! applies its own defaults ([`__private::Call`]).
//!
//! The public API is small: [`pyo3`] itself (re-exported, so a crate of bindings needs no
//! pyo3 dependency of its own), [`render_error`] / [`PyErrExt`] to show a Python exception
//! with its type, message and traceback, [`with_python`], and [`TypedIter`] (what a function
//! whose stub returns `Iterator[T]` gives).
//!
//! # The manual
//! The pymodgen book is `docs/` in the source repository (`scripts/docs` builds it into
//! `target/book`): getting started in Rust and in Common Lisp, guides by task, the reference
//! (command line, manifest schema, type tables, options, environment variables, the C ABI)
//! and the design. What the generated functions, classes and errors look like:
//! its guide "Using Rust bindings".

pub use pyo3;

use pyo3::prelude::*;
use pyo3::types::{PyTracebackMethods, PyTypeMethods};

#[doc(hidden)]
pub mod __private;
#[cfg(unix)]
mod start;
mod typed;

pub use typed::TypedIter;

/// Runs `f` with the Python interpreter attached to this thread (initializing it on first
/// use). Same as [`Python::attach`].
pub fn with_python<F, R>(f: F) -> R
where
    F: for<'py> FnOnce(Python<'py>) -> R,
{
    Python::attach(f)
}

/// Renders a Python exception as Python would print it: the traceback (if any), then
/// `Type: message`.
pub fn render_error(py: Python<'_>, err: &PyErr) -> String {
    let mut out = String::new();
    if let Some(text) = err.traceback(py).and_then(|tb| tb.format().ok()) {
        out.push_str(&text);
    }
    let ty = err.get_type(py);
    let name = match (ty.module(), ty.qualname()) {
        (Ok(m), Ok(q)) if m.to_str().is_ok_and(|m| m != "builtins") => format!("{m}.{q}"),
        (_, Ok(q)) => q.to_string(),
        _ => "<unknown exception type>".to_owned(),
    };
    out.push_str(&name);
    let message = err.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if !message.is_empty() {
        out.push_str(": ");
        out.push_str(&message);
    }
    out
}

/// Convenience methods on [`PyErr`].
pub trait PyErrExt {
    /// See [`render_error`].
    fn render(&self, py: Python<'_>) -> String;
}

impl PyErrExt for PyErr {
    fn render(&self, py: Python<'_>) -> String {
        render_error(py, self)
    }
}

/// rust-numpy, re-exported so that array code and the bindings agree on one version.
#[cfg(feature = "numpy")]
pub use numpy;

/// Generated bindings that type numpy arrays (`RustOptions::numpy_arrays`) call this once per
/// module: with the `numpy` feature it is nothing, without it one clear compile error.
#[cfg(feature = "numpy")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pymodgen_requires_numpy {
    () => {};
}

/// Generated bindings that type numpy arrays (`RustOptions::numpy_arrays`) call this once per
/// module: with the `numpy` feature it is nothing, without it one clear compile error.
#[cfg(not(feature = "numpy"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pymodgen_requires_numpy {
    () => {
        ::core::compile_error!(
            "these pymodgen bindings type numpy arrays with rust-numpy: enable the `numpy` feature of \
             pymodgen-runtime (features = [\"numpy\"]), or generate them without `numpy_arrays`"
        );
    };
}
