//! The API generated code calls. Not public: it may change in any release, in step with
//! the generator (pyo3's `impl_` convention).

use std::fmt::Write as _;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyTypeMethods};

pub use pyo3;

pub use crate::typed::{literal_index, returned, returned_iter, returned_never, returned_none};

/// A Python callable (or any attribute) `module.path`, looked up once per interpreter.
///
/// The first lookup also checks that the running interpreter is the one the bindings were
/// generated for, and fails with a clear `RuntimeError` if it is not.
pub struct Callable {
    cell: PyOnceLock<Cached>,
    module: &'static str,
    path: &'static str,
    python: &'static str,
}

/// A looked-up object, and whether a call of it has a faster C-API equivalent.
pub struct Cached {
    obj: Py<PyAny>,
    fast: Fast,
}

/// Calls that CPython's own adaptive interpreter also specializes (3.11 `PRECALL_NO_KW_STR_1`):
/// `str(x)` with one positional argument is `PyObject_Str(x)`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fast {
    No,
    Str,
}

impl Callable {
    /// `path` is an attribute path inside `module` (`"dumps"`, `"JSONEncoder.encode"`);
    /// `python` the interpreter version the bindings were generated with (`"3.11.7"`).
    pub const fn new(module: &'static str, path: &'static str, python: &'static str) -> Self {
        Callable { cell: PyOnceLock::new(), module, path, python }
    }

    /// The cached object.
    #[inline(always)]
    pub fn get<'a, 'py>(&'a self, py: Python<'py>) -> PyResult<&'a Bound<'py, PyAny>> {
        self.cached(py).map(|c| c.obj.bind(py))
    }

    #[inline(always)]
    fn cached(&self, py: Python<'_>) -> PyResult<&Cached> {
        match self.cell.get(py) {
            Some(c) => Ok(c),
            None => self.init(py),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&self, py: Python<'_>) -> PyResult<&Cached> {
        #[cfg(unix)]
        crate::start::keep();
        self.cell.get_or_try_init(py, || {
            check_python(py, self.python)?;
            let mut obj = py.import(self.module).map_err(|e| import_error(py, e, self.module, self.python))?.into_any();
            if !self.path.is_empty() {
                for part in self.path.split('.') {
                    obj = obj.getattr(part)?;
                }
            }
            let fast = if obj.is(py.get_type::<PyString>()) { Fast::Str } else { Fast::No };
            Ok::<_, PyErr>(Cached { obj: obj.unbind(), fast })
        })
    }

    /// Starts a call of the cached callable (see [`Call`]).
    #[inline(always)]
    pub fn start<'py, const P: usize>(
        &'static self,
        py: Python<'py>,
        names: &'static [&'static str; P],
        positional_only: usize,
    ) -> Call<'py, P> {
        match self.cached(py) {
            Ok(c) => Call::with_callee(py, Callee::Cached(c), names, positional_only),
            Err(e) => Call::failed(py, e, names, positional_only),
        }
    }
}

/// Checks that the running interpreter has version `expected` (`"3.11.7"`); an empty
/// `expected` accepts any.
pub fn check_python(py: Python<'_>, expected: &str) -> PyResult<()> {
    let _ = py;
    let full = Python::version_str();
    let running = full.split_whitespace().next().unwrap_or(full);
    if expected.is_empty() || running == expected {
        return Ok(());
    }
    Err(PyRuntimeError::new_err(format!(
        "pymodgen bindings were generated for Python {expected}, but this program runs Python \
         {running}; regenerate the bindings with that interpreter, or load the right libpython: \
         call pymodgen::link_python() in the program's build.rs (build-dependency pymodgen with \
         default-features = false), which links it with an rpath to that libpython, or set \
         LD_LIBRARY_PATH"
    )))
}

/// A module that cannot be imported: the same exception type, its message followed by the
/// interpreter this program runs and the one the bindings were made for (the original is
/// the `__cause__`).
fn import_error(py: Python<'_>, err: PyErr, module: &str, python: &str) -> PyErr {
    if !err.is_instance_of::<pyo3::exceptions::PyImportError>(py) {
        return err;
    }
    let sys = |name: &str| -> String {
        py.import("sys").and_then(|s| s.getattr(name)).and_then(|v| v.str().map(|s| s.to_string())).unwrap_or_default()
    };
    let running = Python::version_str();
    let running = running.split_whitespace().next().unwrap_or(running);
    let message = err.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    #[cfg(unix)]
    let built = crate::start::BUILT_PYTHON;
    #[cfg(not(unix))]
    let built = "";
    let made = match (python.is_empty(), built.is_empty()) {
        (false, false) => format!("Python {python} ({built})"),
        (false, true) => format!("Python {python}"),
        (true, false) => built.to_owned(),
        (true, true) => "an unknown interpreter".to_owned(),
    };
    let new = PyErr::from_type(
        err.get_type(py),
        format!(
            "{message} (importing {module}: this program runs Python {running} at {} with sys.prefix {};              its bindings were made for {made}; set PYMODGEN_PYTHON to the interpreter that has the              module, or build the program with pymodgen::link_python() in its build.rs)",
            sys("executable"),
            sys("prefix"),
        ),
    );
    new.set_cause(py, Some(err));
    new
}

/// Converts any [`IntoPyObject`] value into a `Bound<PyAny>`.
#[inline(always)]
pub fn to_py<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>> {
    match value.into_pyobject(py) {
        Ok(v) => Ok(pyo3::BoundObject::into_bound(pyo3::BoundObject::into_any(v))),
        Err(e) => Err(e.into()),
    }
}

/// Wraps a call result into a generated wrapper type.
#[inline(always)]
pub fn wrap<'py, T: From<Bound<'py, PyAny>>>(r: PyResult<Bound<'py, PyAny>>) -> PyResult<T> {
    r.map(T::from)
}

/// The object as an instance of the class `class`, or a `TypeError`.
pub fn instance_of<'py>(obj: pyo3::Borrowed<'_, 'py, PyAny>, class: &'static Callable) -> PyResult<Bound<'py, PyAny>> {
    let cls = class.get(obj.py())?;
    if obj.is_instance(cls)? {
        Ok(obj.to_owned())
    } else {
        Err(PyTypeError::new_err(format!(
            "expected an instance of {}.{}, got {}",
            class.module,
            class.path,
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        )))
    }
}

/// Reads a module attribute (a non-constant module-level object) each time.
pub fn getattr<'py>(module: &'static Callable, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    module.get(py)?.getattr(PyString::intern(py, name))
}

/// A call being built: `P` positional slots (the parameters that Python accepts
/// positionally, in order), keyword arguments, `*args` and `**kwargs`. Only what was set is
/// passed. A slot left empty before a set one makes the later positional-or-keyword
/// arguments go by keyword; a later positional-only one is an error (Python could not tell
/// which parameter it is).
///
/// Small on purpose: keywords, variadics and a conversion error live in a box that only
/// calls using them allocate, so a positional call costs what pyo3's `call1` costs.
pub struct Call<'py, const P: usize> {
    py: Python<'py>,
    callee: Callee<'py>,
    names: &'static [&'static str; P],
    positional_only: usize,
    slots: [Option<Bound<'py, PyAny>>; P],
    extra: Option<Box<Extra<'py>>>,
}

#[doc(hidden)]
pub enum Callee<'py> {
    Cached(&'static Cached),
    Owned(Bound<'py, PyAny>),
    Failed,
}

#[derive(Default)]
struct Extra<'py> {
    keywords: Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>,
    varargs: Vec<Bound<'py, PyAny>>,
    varkw: Option<Bound<'py, PyDict>>,
    error: Option<PyErr>,
}

impl<'py, const P: usize> Call<'py, P> {
    #[inline(always)]
    fn with_callee(
        py: Python<'py>,
        callee: Callee<'py>,
        names: &'static [&'static str; P],
        positional_only: usize,
    ) -> Self {
        Call { py, callee, names, positional_only, slots: [const { None }; P], extra: None }
    }

    /// A call of `callable`. `names` are the parameter names of the positional slots; the
    /// first `positional_only` of them are positional-only.
    #[inline(always)]
    pub fn new(callable: Bound<'py, PyAny>, names: &'static [&'static str; P], positional_only: usize) -> Self {
        Self::with_callee(callable.py(), Callee::Owned(callable), names, positional_only)
    }

    /// A call of a method of `receiver`, looked up by name.
    pub fn method(
        receiver: &Bound<'py, PyAny>,
        name: &'static str,
        names: &'static [&'static str; P],
        positional_only: usize,
    ) -> Self {
        match receiver.getattr(PyString::intern(receiver.py(), name)) {
            Ok(m) => Self::new(m, names, positional_only),
            Err(e) => Self::failed(receiver.py(), e, names, positional_only),
        }
    }

    /// A call whose callable failed to load; `call` returns the error.
    #[cold]
    pub fn failed(py: Python<'py>, error: PyErr, names: &'static [&'static str; P], positional_only: usize) -> Self {
        let mut c = Self::with_callee(py, Callee::Failed, names, positional_only);
        c.extra().error = Some(error);
        c
    }

    fn extra(&mut self) -> &mut Extra<'py> {
        self.extra.get_or_insert_with(Box::default)
    }

    #[inline(always)]
    fn convert<T: IntoPyObject<'py>>(&mut self, value: T) -> Option<Bound<'py, PyAny>> {
        match to_py(self.py, value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.extra().error.get_or_insert(e);
                None
            }
        }
    }

    /// Sets positional slot `i`.
    #[inline(always)]
    pub fn arg<T: IntoPyObject<'py>>(mut self, i: usize, value: T) -> Self {
        let v = self.convert(value);
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = v;
        }
        self
    }

    /// Sets keyword argument `name` (an interned string: generated code passes
    /// `pyo3::intern!(py, "name")`).
    #[inline]
    pub fn kw<T: IntoPyObject<'py>>(mut self, name: &Bound<'py, PyString>, value: T) -> Self {
        if let Some(v) = self.convert(value) {
            let extra = self.extra();
            extra.keywords.retain(|(n, _)| !n.is(name));
            extra.keywords.push((name.clone(), v));
        }
        self
    }

    /// The interpreter token, for `pyo3::intern!` in generated setters.
    #[inline(always)]
    pub fn py(&self) -> Python<'py> {
        self.py
    }

    /// Appends to `*args`: `values` is anything Python can iterate (a Rust tuple, a `Vec`,
    /// a Python list, ...).
    pub fn varargs<T: IntoPyObject<'py>>(mut self, values: T) -> Self {
        if let Some(v) = self.convert(values) {
            let result: PyResult<Vec<Bound<'py, PyAny>>> = v.try_iter().and_then(|it| it.collect());
            match result {
                Ok(items) => self.extra().varargs.extend(items),
                Err(e) => {
                    self.extra().error.get_or_insert(e);
                }
            }
        }
        self
    }

    /// Adds to `**kwargs`: `values` is a mapping (a Rust `HashMap`/`BTreeMap`, a Python dict).
    pub fn varkw<T: IntoPyObject<'py>>(mut self, values: T) -> Self {
        let py = self.py;
        if let Some(v) = self.convert(values) {
            let extra = self.extra();
            let dict = extra.varkw.get_or_insert_with(|| PyDict::new(py)).clone();
            let result = match v.cast::<pyo3::types::PyMapping>() {
                Ok(m) => dict.update(m),
                Err(e) => Err(PyErr::from(e)),
            };
            if let Err(e) = result {
                extra.error.get_or_insert(e);
            }
        }
        self
    }

    /// Makes the call.
    #[inline(always)]
    pub fn call(self) -> PyResult<Bound<'py, PyAny>> {
        if self.extra.is_none() {
            // Positional arguments only, no gap: one vectorcall.
            let mut npos = 0;
            while npos < P && self.slots[npos].is_some() {
                npos += 1;
            }
            if self.slots[npos..].iter().all(Option::is_none) {
                match &self.callee {
                    Callee::Cached(c) => {
                        if c.fast == Fast::Str
                            && npos == 1
                            && let Some(arg) = &self.slots[0]
                        {
                            // SAFETY: `arg` is a live object; PyObject_Str returns a new
                            // reference or NULL with an exception set.
                            return unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyObject_Str(arg.as_ptr())) };
                        }
                        return vectorcall(c.obj.bind(self.py), &self.slots[..npos]);
                    }
                    Callee::Owned(f) => return vectorcall(f, &self.slots[..npos]),
                    Callee::Failed => {}
                }
            }
        }
        self.call_general()
    }

    #[cold]
    #[inline(never)]
    fn call_general(self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let mut extra = self.extra.map(|b| *b).unwrap_or_default();
        if let Some(e) = extra.error.take() {
            return Err(e);
        }
        let callable = match &self.callee {
            Callee::Cached(c) => c.obj.bind(py).clone(),
            Callee::Owned(f) => f.clone(),
            Callee::Failed => return Err(PyRuntimeError::new_err("pymodgen: call of a callable that failed to load")),
        };
        let mut npos = 0;
        while npos < P && self.slots[npos].is_some() {
            npos += 1;
        }
        if !extra.varargs.is_empty() && npos < P {
            // Python would bind the first of *args to it: the caller must set it.
            return Err(PyTypeError::new_err(format!(
                "*args were given but the positional argument '{}' before them was not set",
                self.names[npos]
            )));
        }
        // Slots after a gap go by keyword (positional-only ones cannot).
        let mut keywords: Vec<(Bound<'py, PyString>, &Bound<'py, PyAny>)> = Vec::new();
        for i in npos..P {
            if let Some(v) = &self.slots[i] {
                if i < self.positional_only {
                    let mut msg = String::new();
                    let _ = write!(
                        msg,
                        "positional-only argument '{}' was set but '{}' before it was not; Python has no way to pass it",
                        self.names[i], self.names[npos]
                    );
                    return Err(PyTypeError::new_err(msg));
                }
                keywords.push((PyString::intern(py, self.names[i]), v));
            }
        }
        keywords.extend(extra.keywords.iter().map(|(n, v)| (n.clone(), v)));
        let positional = self.slots[..npos].iter().flatten().chain(extra.varargs.iter());
        match extra.varkw.take() {
            None => {
                // One vectorcall: positional values, then keyword values named by `kwnames`.
                let mut ptrs: Vec<*mut ffi::PyObject> =
                    Vec::with_capacity(1 + npos + extra.varargs.len() + keywords.len());
                ptrs.push(std::ptr::null_mut());
                ptrs.extend(positional.map(|a| a.as_ptr()));
                let nargs = ptrs.len() - 1;
                ptrs.extend(keywords.iter().map(|(_, v)| v.as_ptr()));
                let kwnames =
                    if keywords.is_empty() { None } else { Some(PyTuple::new(py, keywords.iter().map(|(n, _)| n))?) };
                // SAFETY: every pointer is a live object held by `self`, `extra` or
                // `keywords` for the whole call; slot 0 is the scratch slot that
                // PY_VECTORCALL_ARGUMENTS_OFFSET allows the callee to use; the result is a new
                // reference or NULL with an exception set.
                unsafe {
                    Bound::from_owned_ptr_or_err(
                        py,
                        ffi::PyObject_Vectorcall(
                            callable.as_ptr(),
                            ptrs.as_ptr().add(1),
                            nargs | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
                            kwnames.as_ref().map_or(std::ptr::null_mut(), |k| k.as_ptr()),
                        ),
                    )
                }
            }
            Some(kwargs) => {
                for (n, v) in &keywords {
                    kwargs.set_item(n, v)?;
                }
                let positional: Vec<&Bound<'py, PyAny>> = positional.collect();
                callable.call(PyTuple::new(py, positional)?, Some(&kwargs))
            }
        }
    }
}

/// Calls `callable` with positional `args` through the vectorcall protocol.
#[inline(always)]
fn vectorcall<'py>(callable: &Bound<'py, PyAny>, args: &[Option<Bound<'py, PyAny>>]) -> PyResult<Bound<'py, PyAny>> {
    const STACK: usize = 8;
    let py = callable.py();
    let ptr = |a: &Option<Bound<'py, PyAny>>| a.as_ref().map_or(std::ptr::null_mut(), |a| a.as_ptr());
    if args.len() <= STACK {
        // Slot 0 is scratch space the callee may use (PY_VECTORCALL_ARGUMENTS_OFFSET), which
        // saves bound methods a copy.
        let mut ptrs = [std::ptr::null_mut::<ffi::PyObject>(); STACK + 1];
        for (p, a) in ptrs[1..].iter_mut().zip(args) {
            *p = ptr(a);
        }
        // SAFETY: `ptrs[1..=len]` are borrowed, live objects (held by `args`); vectorcall
        // returns a new reference or NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyObject_Vectorcall(
                    callable.as_ptr(),
                    ptrs.as_ptr().add(1),
                    args.len() | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
                    std::ptr::null_mut(),
                ),
            )
        }
    } else {
        let ptrs: Vec<*mut ffi::PyObject> = args.iter().map(ptr).collect();
        // SAFETY: as above, without the scratch slot.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyObject_Vectorcall(callable.as_ptr(), ptrs.as_ptr(), ptrs.len(), std::ptr::null_mut()),
            )
        }
    }
}

/// Python's `a <op> b` as a `bool`, for generated `PartialEq`/`PartialOrd` impls (which
/// cannot fail): an exception (from the comparison or from the truth value of its result)
/// gives `false` and goes to `sys.unraisablehook`, as Python does with exceptions it cannot
/// raise (by default it prints them to stderr).
pub fn compare(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, op: pyo3::basic::CompareOp) -> bool {
    match a.rich_compare(b, op).and_then(|r| r.is_truthy()) {
        Ok(v) => v,
        Err(e) => {
            e.write_unraisable(a.py(), Some(a));
            false
        }
    }
}

/// `Some(Equal)` if `a == b`, else `Some(Less)` if `a < b`, else `Some(Greater)` if `a > b`,
/// else `None` (unordered, like two sets neither of which contains the other). An exception
/// gives `None` and goes to `sys.unraisablehook`.
pub fn partial_cmp(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let order = || -> PyResult<Option<Ordering>> {
        Ok(if a.eq(b)? {
            Some(Ordering::Equal)
        } else if a.lt(b)? {
            Some(Ordering::Less)
        } else if a.gt(b)? {
            Some(Ordering::Greater)
        } else {
            None
        })
    };
    order().unwrap_or_else(|e| {
        e.write_unraisable(a.py(), Some(a));
        None
    })
}

/// Python's `hash(a)`, for generated `Hash` impls: an exception gives -1 (the value CPython
/// reserves for errors) and goes to `sys.unraisablehook`.
pub fn hash(a: &Bound<'_, PyAny>) -> isize {
    a.hash().unwrap_or_else(|e| {
        e.write_unraisable(a.py(), Some(a));
        -1
    })
}
