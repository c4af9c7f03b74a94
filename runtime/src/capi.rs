//! The C ABI of the runtime: what the Common Lisp runtime (`runtime/lisp`, ASDF system
//! "pymodgen") calls through CFFI.
//!
//! Contract, for every `pmg_*` function:
//! - It never unwinds into the caller: each body runs under `catch_unwind`; a Rust panic
//!   becomes a Python-style error (`type` "RustPanic").
//! - It never crashes on bad input it can detect: NULL pointers, calls before
//!   `pmg_initialize` or after `pmg_stop` return the failure value (NULL, -1 or
//!   [`TAG_ERROR`]) and store the error in a thread-local that `pmg_error_part` reads.
//! - It takes the GIL itself when the calling thread does not hold it ("GIL per call"),
//!   and skips that when the thread is inside `pmg_gil_enter`/`pmg_gil_exit` (the Lisp
//!   `with-python-gil` scope) or inside a Python -> Lisp callback. Each thread gets its
//!   own cached `PyThreadState`, resumed with `PyEval_RestoreThread`.
//! - Object-returning functions return NEW references unless documented otherwise.
//! - `pmg_decref_deferred` needs no GIL: it queues the pointer; the queue is flushed by the
//!   next call that takes the GIL (Lisp finalizers use it, from any thread).
//!
//! The interpreter is loaded once per process. `pmg_stop` ends the *session* (clears
//! `__main__`, bumps the start generation so cached objects are re-resolved, refuses
//! calls until the next `pmg_initialize`) but does not call `Py_FinalizeEx`: CPython
//! cannot re-initialize extension modules such as numpy in the same process.

// Every pointer-taking function here is `unsafe extern "C"`; its safety contract is the
// module documentation above (pointers come from this runtime or are NULL).
#![allow(
    clippy::missing_safety_doc,
    clippy::too_many_arguments,
    clippy::type_complexity
)]

use pyo3::ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, null_mut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicUsize, Ordering};

type Obj = *mut ffi::PyObject;

// ---------------------------------------------------------------------------------------
// Global and thread-local state

static INITIALIZED: AtomicBool = AtomicBool::new(false);
static ALIVE: AtomicBool = AtomicBool::new(false);
static GENERATION: AtomicI64 = AtomicI64::new(0);
static INTERP: AtomicPtr<ffi::PyInterpreterState> = AtomicPtr::new(null_mut());
static MAIN_DICT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(null_mut());
static BUILTINS_DICT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(null_mut());

/// Types registered by Lisp (see `pmg_register_type`).
const NTYPES: usize = 4;
const TY_FRACTION: usize = 0;
const TY_NDARRAY: usize = 1;
const TY_NPGENERIC: usize = 2;
const TY_LISPOBJ: usize = 3;
static TYPES: [AtomicPtr<ffi::PyObject>; NTYPES] = [
    AtomicPtr::new(null_mut()),
    AtomicPtr::new(null_mut()),
    AtomicPtr::new(null_mut()),
    AtomicPtr::new(null_mut()),
];

static DEFERRED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static DEFERRED_LEN: AtomicUsize = AtomicUsize::new(0);
static FREED_HANDLES: Mutex<Vec<i64>> = Mutex::new(Vec::new());

type LispCallback = unsafe extern "C" fn(i64, Obj, Obj) -> Obj;
static LISP_CALLBACK: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

struct LastError {
    parts: [CString; 3],
}

thread_local! {
    /// Per-thread GIL state, read through one TLS access per call (see `tls`).
    static TLS: Tls = const { Tls { depth: Cell::new(0), tstate: Cell::new(null_mut()), pending: Cell::new(null_mut()) } };
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

struct Tls {
    /// How many runtime scopes hold the GIL on this thread (0: not held through us).
    depth: Cell<u32>,
    /// This thread's PyThreadState, created on first use and kept.
    tstate: Cell<*mut ffi::PyThreadState>,
    /// The last string result handed to Lisp by a call: Lisp copies its characters, and
    /// the reference is dropped at this thread's next call (which holds the GIL anyway).
    pending: Cell<Obj>,
}

/// Thread states of exited threads, cleared and deleted by the next thread that takes the
/// GIL (a dying thread must not block on the GIL).
static DEAD_TSTATES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static DEAD_LEN: AtomicUsize = AtomicUsize::new(0);

impl Drop for Tls {
    fn drop(&mut self) {
        let ts = self.tstate.get();
        if !ts.is_null()
            && self.depth.get() == 0
            && let Ok(mut v) = DEAD_TSTATES.lock()
        {
            v.push(ts as usize);
            DEAD_LEN.store(v.len(), Ordering::Relaxed);
        }
        // (a string result still pending is left alone: releasing it needs the GIL)
    }
}

unsafe fn delete_dead_tstates() {
    let items = {
        let mut v = DEAD_TSTATES.lock().unwrap_or_else(|e| e.into_inner());
        DEAD_LEN.store(0, Ordering::Relaxed);
        std::mem::take(&mut *v)
    };
    for ts in items {
        unsafe {
            ffi::PyThreadState_Clear(ts as *mut ffi::PyThreadState);
            ffi::PyThreadState_Delete(ts as *mut ffi::PyThreadState);
        }
    }
}

/// Number of Python thread states of the interpreter (diagnostics and tests).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_thread_state_count() -> i64 {
    with_gil(-1, || unsafe {
        if DEAD_LEN.load(Ordering::Relaxed) > 0 {
            delete_dead_tstates();
        }
        let mut n = 0;
        let mut ts = ffi::PyInterpreterState_ThreadHead(INTERP.load(Ordering::Acquire));
        while !ts.is_null() {
            n += 1;
            ts = ffi::PyThreadState_Next(ts);
        }
        Some(n)
    })
}

/// This thread's state. The reference is valid for the thread's lifetime (its destructor
/// runs at thread exit), so it may be kept across calls made on this thread.
#[inline]
fn tls() -> &'static Tls {
    TLS.with(|t| unsafe { &*(t as *const Tls) })
}

fn set_error(ty: &str, msg: &str, tb: &str) {
    let c = |s: &str| CString::new(s.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| {
        *e.borrow_mut() = Some(LastError {
            parts: [c(ty), c(msg), c(tb)],
        })
    });
}

/// Moves the current Python exception (if any) into the thread-local last error.
/// Requires the GIL.
unsafe fn fetch_py_error() {
    use pyo3::prelude::*;
    use pyo3::types::{PyTracebackMethods, PyTypeMethods};
    let py = unsafe { Python::assume_attached() };
    let Some(err) = PyErr::take(py) else {
        set_error(
            "SystemError",
            "a Python call failed without setting an exception",
            "",
        );
        return;
    };
    let ty = err.get_type(py);
    let name = ty
        .fully_qualified_name()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "BaseException".into());
    let name = name.strip_prefix("builtins.").unwrap_or(&name).to_string();
    let msg = err
        .value(py)
        .str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tb = err
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    let tb = format!("{tb}{name}: {msg}\n");
    set_error(&name, &msg, &tb);
}

/// GIL guard: takes the GIL unless this thread already holds it through us.
struct Gil {
    acquired: bool,
    t: &'static Tls,
}

impl Gil {
    #[inline]
    fn enter() -> Option<Gil> {
        if !ALIVE.load(Ordering::Acquire) {
            set_error(
                "PythonNotAlive",
                "Python is not running: call pystart first (or it was stopped by pystop)",
                "",
            );
            return None;
        }
        let t = tls();
        let depth = t.depth.get();
        if depth > 0 {
            t.depth.set(depth + 1);
            return Some(Gil { acquired: false, t });
        }
        let mut ts = t.tstate.get();
        unsafe {
            if ts.is_null() {
                ts = ffi::PyThreadState_New(INTERP.load(Ordering::Acquire));
                t.tstate.set(ts);
            }
            ffi::PyEval_RestoreThread(ts);
        }
        t.depth.set(1);
        if DEFERRED_LEN.load(Ordering::Relaxed) > 0 {
            unsafe { flush_deferred() };
        }
        if DEAD_LEN.load(Ordering::Relaxed) > 0 {
            unsafe { delete_dead_tstates() };
        }
        release_pending(t);
        Some(Gil { acquired: true, t })
    }
}

impl Drop for Gil {
    #[inline]
    fn drop(&mut self) {
        self.t.depth.set(self.t.depth.get() - 1);
        if self.acquired {
            unsafe { ffi::PyEval_SaveThread() };
        }
    }
}

#[inline]
fn release_pending(t: &Tls) {
    let p = t.pending.replace(null_mut());
    if !p.is_null() {
        unsafe { ffi::Py_DECREF(p) };
    }
}

unsafe fn flush_deferred() {
    let items = {
        let mut q = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
        DEFERRED_LEN.store(0, Ordering::Relaxed);
        std::mem::take(&mut *q)
    };
    for p in items {
        unsafe { ffi::Py_DECREF(p as Obj) };
    }
}

/// Runs `f` with the GIL, catching panics; `fail` is returned on any failure.
#[inline]
fn with_gil<R>(fail: R, f: impl FnOnce() -> Option<R>) -> R {
    with_gil_t(fail, |_| f())
}

/// `with_gil`, passing this thread's state to `f` (saves a TLS lookup on hot paths).
#[inline]
fn with_gil_t<R>(fail: R, f: impl FnOnce(&'static Tls) -> Option<R>) -> R {
    let Some(g) = Gil::enter() else { return fail };
    let t = g.t;
    match catch_unwind(AssertUnwindSafe(|| f(t))) {
        Ok(Some(r)) => r,
        Ok(None) => fail,
        Err(_) => {
            set_error("RustPanic", "internal error in the pymodgen runtime", "");
            fail
        }
    }
}

/// `r` or, when it is NULL, the fetched Python error.
#[inline]
unsafe fn check(r: Obj) -> Option<Obj> {
    if r.is_null() {
        unsafe { fetch_py_error() };
        None
    } else {
        Some(r)
    }
}

fn nonnull(p: Obj, what: &str) -> Option<Obj> {
    if p.is_null() {
        set_error("NullPointer", &format!("{what}: NULL object pointer"), "");
        None
    } else {
        Some(p)
    }
}

unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        set_error("NullPointer", "NULL string pointer", "");
        None
    } else {
        Some(unsafe { CStr::from_ptr(p) })
    }
}

// ---------------------------------------------------------------------------------------
// Lifecycle

/// The Python version (major.minor) this library was built against, e.g. "3.11".
#[unsafe(no_mangle)]
pub extern "C" fn pmg_built_python_version() -> *const c_char {
    concat!(env!("PYMODGEN_BUILT_PYTHON_VERSION"), "\0").as_ptr() as *const c_char
}

/// Starts (or restarts) the session. `executable` is the chosen interpreter's
/// `sys.executable` (sets `sys.prefix` and `sys.path` on first start); `home` may be NULL.
/// Returns 0, or -1 with the last error set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_initialize(executable: *const c_char, home: *const c_char) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { initialize(executable, home) }));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(msg)) => {
            set_error("PythonInitError", &msg, "");
            -1
        }
        Err(_) => {
            set_error("RustPanic", "panic while starting Python", "");
            -1
        }
    }
}

unsafe fn initialize(executable: *const c_char, home: *const c_char) -> Result<(), String> {
    if ALIVE.load(Ordering::Acquire) {
        return Ok(());
    }
    if !INITIALIZED.load(Ordering::Acquire) {
        unsafe {
            if ffi::Py_IsInitialized() == 0 {
                let mut config: ffi::PyConfig = std::mem::zeroed();
                ffi::PyConfig_InitPythonConfig(&mut config);
                config.install_signal_handlers = 0;
                config.parse_argv = 0;
                if !executable.is_null() {
                    let st = ffi::PyConfig_SetBytesString(
                        &mut config,
                        &mut config.program_name,
                        executable,
                    );
                    if ffi::PyStatus_Exception(st) != 0 {
                        ffi::PyConfig_Clear(&mut config);
                        return Err("cannot set the interpreter's program name".into());
                    }
                }
                if !home.is_null() {
                    let st = ffi::PyConfig_SetBytesString(&mut config, &mut config.home, home);
                    if ffi::PyStatus_Exception(st) != 0 {
                        ffi::PyConfig_Clear(&mut config);
                        return Err("cannot set PYTHONHOME".into());
                    }
                }
                let st = ffi::Py_InitializeFromConfig(&config);
                ffi::PyConfig_Clear(&mut config);
                if ffi::PyStatus_Exception(st) != 0 {
                    let msg = if st.err_msg.is_null() {
                        "Py_InitializeFromConfig failed".to_string()
                    } else {
                        CStr::from_ptr(st.err_msg).to_string_lossy().into_owned()
                    };
                    return Err(msg);
                }
                INTERP.store(ffi::PyInterpreterState_Get(), Ordering::Release);
                let ts = ffi::PyEval_SaveThread();
                tls().tstate.set(ts);
            } else {
                // Someone (e.g. pyo3's auto-initialize) started it: borrow its interpreter.
                let g = ffi::PyGILState_Ensure();
                INTERP.store(ffi::PyInterpreterState_Get(), Ordering::Release);
                ffi::PyGILState_Release(g);
            }
        }
        INITIALIZED.store(true, Ordering::Release);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ALIVE.store(true, Ordering::Release);
    let ok = with_gil(false, || unsafe {
        let main = ffi::PyImport_AddModule(c"__main__".as_ptr()); // borrowed
        let main = check(main)?;
        let d = ffi::PyModule_GetDict(main);
        MAIN_DICT.store(d, Ordering::Release);
        BUILTINS_DICT.store(ffi::PyEval_GetBuiltins(), Ordering::Release);
        Some(true)
    });
    if !ok {
        ALIVE.store(false, Ordering::Release);
        return Err("cannot set up __main__".into());
    }
    Ok(())
}

/// Ends the session: clears `__main__` (keeping `__builtins__` and `__name__`), flushes
/// the decref queue, bumps the generation and refuses further calls until
/// `pmg_initialize`. Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_stop() -> c_int {
    if !ALIVE.load(Ordering::Acquire) {
        return 0;
    }
    with_gil(0, || unsafe {
        let d = MAIN_DICT.load(Ordering::Acquire);
        let code = c"import sys as _s\nfor _k in [k for k in globals() if k not in ('__builtins__','__name__','__doc__','__spec__','__loader__','__package__')]: del globals()[_k]\ndel _k\n";
        let r = ffi::PyRun_StringFlags(code.as_ptr(), ffi::Py_file_input, d, d, null_mut());
        if r.is_null() {
            ffi::PyErr_Clear();
        } else {
            ffi::Py_DECREF(r);
        }
        for t in &TYPES {
            let p = t.swap(null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                ffi::Py_DECREF(p);
            }
        }
        flush_deferred();
        Some(0)
    });
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ALIVE.store(false, Ordering::Release);
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_alive() -> c_int {
    ALIVE.load(Ordering::Acquire) as c_int
}

/// Bumped by every start and stop: cached PyObject pointers from another generation
/// must be re-resolved.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_generation() -> i64 {
    GENERATION.load(Ordering::Acquire)
}

/// Takes the GIL for the calling thread (nestable). Returns 1, or 0 with the last error.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_enter() -> c_int {
    match catch_unwind(Gil::enter) {
        Ok(Some(g)) => {
            // The guard's depth increment stays; pmg_gil_exit undoes it.
            let acquired = g.acquired;
            std::mem::forget(g);
            GIL_SCOPE_ACQ.with(|s| s.borrow_mut().push(acquired));
            1
        }
        _ => 0,
    }
}

thread_local! {
    static GIL_SCOPE_ACQ: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) };
}

/// Leaves a scope opened by `pmg_gil_enter` (releases the GIL at the outermost one).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_exit() {
    let acquired = GIL_SCOPE_ACQ.with(|s| s.borrow_mut().pop());
    if let Some(acquired) = acquired {
        drop(Gil { acquired, t: tls() });
    }
}

/// 1 when the calling thread holds the GIL through this runtime.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_held() -> c_int {
    (tls().depth.get() > 0) as c_int
}

// ---------------------------------------------------------------------------------------
// Errors

/// Part of the calling thread's last error: 0 type name, 1 message, 2 traceback text
/// (UTF-8, NUL-terminated, valid until the next error on this thread); NULL if none.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_error_part(i: c_int) -> *const c_char {
    LAST_ERROR.with(|e| match (&*e.borrow(), i) {
        (Some(err), 0..=2) => err.parts[i as usize].as_ptr(),
        _ => ptr::null(),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_error_clear() {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
}

/// Sets a Python exception (used by Lisp callbacks): `kind` 0 RuntimeError, 1 TypeError,
/// 2 AttributeError, 3 KeyError; `msg` UTF-8. Requires the GIL (callbacks hold it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_set_python_error(kind: c_int, msg: *const c_char) {
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        if tls().depth.get() == 0 {
            return;
        }
        let exc = match kind {
            1 => ffi::PyExc_TypeError,
            2 => ffi::PyExc_AttributeError,
            3 => ffi::PyExc_KeyError,
            _ => ffi::PyExc_RuntimeError,
        };
        let msg = if msg.is_null() {
            c"Lisp error".as_ptr()
        } else {
            msg
        };
        ffi::PyErr_SetString(exc, msg);
    }));
}

// ---------------------------------------------------------------------------------------
// Reference counting

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_decref(o: Obj) {
    if o.is_null() {
        return;
    }
    with_gil((), || unsafe {
        ffi::Py_DECREF(o);
        Some(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_incref(o: Obj) {
    if o.is_null() {
        return;
    }
    with_gil((), || unsafe {
        ffi::Py_INCREF(o);
        Some(())
    })
}

/// Queues a decref; needs no GIL (safe from finalizer threads).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_decref_deferred(o: Obj) {
    if o.is_null() {
        return;
    }
    let _ = catch_unwind(|| {
        let mut q = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
        q.push(o as usize);
        DEFERRED_LEN.store(q.len(), Ordering::Relaxed);
    });
}

/// Number of queued decrefs (for tests and diagnostics).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_deferred_count() -> i64 {
    DEFERRED_LEN.load(Ordering::Relaxed) as i64
}

/// Flushes the decref queue now (takes the GIL). Returns 0, -1 if Python is not alive.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_flush() -> c_int {
    with_gil(-1, || unsafe {
        flush_deferred();
        Some(0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_refcount(o: Obj) -> i64 {
    if o.is_null() {
        return 0;
    }
    with_gil(0, || unsafe { Some(ffi::Py_REFCNT(o) as i64) })
}

// ---------------------------------------------------------------------------------------
// Values: classification (Python -> Lisp)

pub const TAG_ERROR: c_int = 0;
pub const TAG_NONE: c_int = 1;
pub const TAG_TRUE: c_int = 2;
pub const TAG_FALSE: c_int = 3;
pub const TAG_INT: c_int = 4;
pub const TAG_FLOAT: c_int = 5;
pub const TAG_STR: c_int = 6;
pub const TAG_BIGINT: c_int = 7;
pub const TAG_COMPLEX: c_int = 8;
pub const TAG_TUPLE: c_int = 9;
pub const TAG_LIST: c_int = 10;
pub const TAG_DICT: c_int = 11;
pub const TAG_SET: c_int = 12;
pub const TAG_FROZENSET: c_int = 13;
pub const TAG_BYTES: c_int = 14;
pub const TAG_NDARRAY: c_int = 15;
pub const TAG_NPSCALAR: c_int = 16;
pub const TAG_FRACTION: c_int = 17;
pub const TAG_LISPOBJ: c_int = 18;
pub const TAG_OTHER: c_int = 19;

/// A Python value as Lisp sees it. `tag` says which fields are meaningful:
/// INT: `i`; FLOAT: `f`; COMPLEX: `f` + `f2`; STR: `kind` (1, 2, 4 bytes per char),
/// `len` (characters), `data`; BYTES: `len`, `data`; every tag from BIGINT on: `obj`.
/// For `pmg_classify` `obj`/`data` are borrowed from the argument; for call results,
/// `obj` is a new reference owned by Lisp, except for STR whose data stays valid until
/// this thread's next runtime call.
#[repr(C)]
pub struct PmgValue {
    pub tag: c_int,
    pub kind: c_int,
    pub len: i64,
    pub i: i64,
    pub f: f64,
    pub f2: f64,
    pub data: *mut c_void,
    pub obj: Obj,
}

#[inline]
unsafe fn classify(o: Obj, out: &mut PmgValue) -> c_int {
    unsafe {
        out.obj = o;
        let tag = if ffi::PyLong_CheckExact(o) != 0
            || (ffi::PyLong_Check(o) != 0 && ffi::PyBool_Check(o) == 0)
        {
            let mut overflow: c_int = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(o, &mut overflow);
            if overflow != 0 {
                TAG_BIGINT
            } else if v == -1 && !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                TAG_BIGINT
            } else {
                out.i = v;
                TAG_INT
            }
        } else if ffi::PyUnicode_Check(o) != 0 {
            out.kind = ffi::PyUnicode_KIND(o) as c_int;
            out.len = ffi::PyUnicode_GET_LENGTH(o) as i64;
            out.data = ffi::PyUnicode_DATA(o);
            TAG_STR
        } else if ffi::PyFloat_Check(o) != 0 {
            out.f = ffi::PyFloat_AsDouble(o);
            TAG_FLOAT
        } else if o == ffi::Py_None() {
            TAG_NONE
        } else if o == ffi::Py_True() {
            TAG_TRUE
        } else if o == ffi::Py_False() {
            TAG_FALSE
        } else if ffi::PyTuple_Check(o) != 0 {
            out.len = ffi::PyTuple_GET_SIZE(o) as i64;
            TAG_TUPLE
        } else if ffi::PyList_Check(o) != 0 {
            out.len = ffi::PyList_GET_SIZE(o) as i64;
            TAG_LIST
        } else if ffi::PyDict_Check(o) != 0 {
            out.len = ffi::PyDict_Size(o) as i64;
            TAG_DICT
        } else if ffi::PyComplex_Check(o) != 0 {
            out.f = ffi::PyComplex_RealAsDouble(o);
            out.f2 = ffi::PyComplex_ImagAsDouble(o);
            TAG_COMPLEX
        } else if ffi::PyBytes_Check(o) != 0 {
            out.len = ffi::PyBytes_Size(o) as i64;
            out.data = ffi::PyBytes_AsString(o) as *mut c_void;
            TAG_BYTES
        } else if ffi::PyFrozenSet_Check(o) != 0 {
            TAG_FROZENSET
        } else if ffi::PySet_Check(o) != 0 {
            TAG_SET
        } else {
            let ty = ffi::Py_TYPE(o) as Obj;
            let is = |i: usize| {
                let t = TYPES[i].load(Ordering::Acquire);
                !t.is_null() && (ty == t || ffi::PyType_IsSubtype(ty as _, t as _) != 0)
            };
            if is(TY_NDARRAY) {
                TAG_NDARRAY
            } else if is(TY_NPGENERIC) {
                TAG_NPSCALAR
            } else if is(TY_FRACTION) {
                TAG_FRACTION
            } else if is(TY_LISPOBJ) {
                TAG_LISPOBJ
            } else {
                TAG_OTHER
            }
        };
        out.tag = tag;
        tag
    }
}

/// Classifies a borrowed object (see [`PmgValue`]). Returns the tag, TAG_ERROR on NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_classify(o: Obj, out: *mut PmgValue) -> c_int {
    if out.is_null() {
        return TAG_ERROR;
    }
    let Some(o) = nonnull(o, "classify") else {
        unsafe { (*out).tag = TAG_ERROR };
        return TAG_ERROR;
    };
    with_gil(TAG_ERROR, || unsafe { Some(classify(o, &mut *out)) })
}

/// Classifies item `i` of a tuple or list (borrowed, as `pmg_classify`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_item_classify(seq: Obj, i: i64, out: *mut PmgValue) -> c_int {
    if out.is_null() || seq.is_null() {
        set_error("NullPointer", "item_classify: NULL pointer", "");
        return TAG_ERROR;
    }
    with_gil(TAG_ERROR, || unsafe {
        let item =
            if ffi::PyTuple_Check(seq) != 0 && i >= 0 && i < ffi::PyTuple_GET_SIZE(seq) as i64 {
                ffi::PyTuple_GET_ITEM(seq, i as _)
            } else if ffi::PyList_Check(seq) != 0 && i >= 0 && i < ffi::PyList_GET_SIZE(seq) as i64
            {
                ffi::PyList_GET_ITEM(seq, i as _)
            } else {
                set_error(
                    "IndexError",
                    "item_classify: not a tuple/list or index out of range",
                    "",
                );
                return None;
            };
        Some(classify(item, &mut *out))
    })
}

/// Iterates a dict: classifies the next key and value (borrowed). `pos` starts at 0.
/// Returns 1 while there are items, 0 at the end, -1 on error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_dict_next(
    d: Obj,
    pos: *mut isize,
    k: *mut PmgValue,
    v: *mut PmgValue,
) -> c_int {
    if d.is_null() || pos.is_null() || k.is_null() || v.is_null() {
        set_error("NullPointer", "dict_next: NULL pointer", "");
        return -1;
    }
    with_gil(-1, || unsafe {
        if ffi::PyDict_Check(d) == 0 {
            set_error("TypeError", "dict_next: not a dict", "");
            return None;
        }
        let mut key = null_mut();
        let mut val = null_mut();
        if ffi::PyDict_Next(d, pos as *mut ffi::Py_ssize_t, &mut key, &mut val) == 0 {
            return Some(0);
        }
        classify(key, &mut *k);
        classify(val, &mut *v);
        Some(1)
    })
}

// ---------------------------------------------------------------------------------------
// Calls (the hot path)

pub const ARG_BORROWED: i64 = 0;
pub const ARG_OWNED: i64 = 1;
pub const ARG_I64: i64 = 2;
pub const ARG_F64: i64 = 3;
pub const ARG_TRUE: i64 = 4;
pub const ARG_FALSE: i64 = 5;
pub const ARG_NONE: i64 = 6;
pub const ARG_STR1: i64 = 7;
pub const ARG_STR4: i64 = 8;

/// One argument: `tag` ARG_*; `bits` is the object pointer (BORROWED, or OWNED: the call
/// steals it), an i64, an f64's bits, or (STR1/STR4) the address of `len` characters of
/// 1 or 4 bytes each (Lisp base-strings / strings, pinned by the caller for the call).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PmgArg {
    pub tag: i64,
    pub bits: u64,
    pub len: i64,
}

const INLINE: usize = 16;

/// Converts `args[0..n]` to objects in `buf[1..]` (slot 0 left free for
/// PY_VECTORCALL_ARGUMENTS_OFFSET); returns how many were converted (all on success).
unsafe fn marshal(args: *const PmgArg, n: usize, buf: &mut [Obj]) -> Result<(), usize> {
    for k in 0..n {
        let a = unsafe { *args.add(k) };
        let o = unsafe {
            match a.tag {
                ARG_BORROWED | ARG_OWNED => {
                    let o = a.bits as Obj;
                    if o.is_null() {
                        set_error("NullPointer", "call: NULL argument", "");
                        release_owned_from(args, k, n);
                        return Err(k);
                    }
                    if a.tag == ARG_BORROWED {
                        ffi::Py_INCREF(o);
                    }
                    o
                }
                ARG_I64 => ffi::PyLong_FromLongLong(a.bits as i64),
                ARG_F64 => ffi::PyFloat_FromDouble(f64::from_bits(a.bits)),
                ARG_TRUE => ffi::Py_NewRef(ffi::Py_True()),
                ARG_FALSE => ffi::Py_NewRef(ffi::Py_False()),
                ARG_NONE => ffi::Py_NewRef(ffi::Py_None()),
                ARG_STR1 | ARG_STR4 if a.len >= 0 && (a.len == 0 || a.bits != 0) => {
                    let kind = if a.tag == ARG_STR1 { 1 } else { 4 };
                    let data = if a.len == 0 {
                        c"".as_ptr() as *const c_void
                    } else {
                        a.bits as *const c_void
                    };
                    ffi::PyUnicode_FromKindAndData(kind, data, a.len as _)
                }
                _ => {
                    set_error("ValueError", "call: bad argument tag", "");
                    release_owned_from(args, k, n);
                    return Err(k);
                }
            }
        };
        if o.is_null() {
            unsafe {
                fetch_py_error();
                release_owned_from(args, k + 1, n);
            }
            return Err(k);
        }
        buf[k + 1] = o;
    }
    Ok(())
}

/// Drops the OWNED references among `args[from..n]` that were never converted.
unsafe fn release_owned_from(args: *const PmgArg, from: usize, n: usize) {
    for k in from..n {
        let a = unsafe { *args.add(k) };
        if a.tag == ARG_OWNED && a.bits != 0 {
            unsafe { ffi::Py_DECREF(a.bits as Obj) };
        }
    }
}

/// Turns a call result (new reference) into `out`; the tag is returned.
#[inline]
unsafe fn result_value(r: Obj, out: &mut PmgValue) -> c_int {
    unsafe { result_value_t(r, out, tls()) }
}

/// `result_value` with this thread's state at hand.
#[inline]
unsafe fn result_value_t(r: Obj, out: &mut PmgValue, t: &Tls) -> c_int {
    unsafe {
        let tag = classify(r, out);
        match tag {
            TAG_NONE | TAG_TRUE | TAG_FALSE | TAG_INT | TAG_FLOAT | TAG_COMPLEX => {
                ffi::Py_DECREF(r);
                out.obj = null_mut();
            }
            TAG_STR => {
                // Lisp copies the characters; the reference goes at the next call.
                let old = t.pending.replace(r);
                if !old.is_null() {
                    ffi::Py_DECREF(old);
                }
                out.obj = null_mut();
            }
            _ => {}
        }
        tag
    }
}

unsafe fn do_call(
    callable: Obj,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: &mut PmgValue,
    raw: bool,
    t: &Tls,
) -> Option<c_int> {
    let n = (nargs + nkw) as usize;
    let mut inline = [null_mut::<ffi::PyObject>(); INLINE + 1];
    let mut heap = Vec::new();
    let buf: &mut [Obj] = if n < INLINE {
        &mut inline[..]
    } else {
        heap.resize(n + 1, null_mut());
        &mut heap[..]
    };
    unsafe {
        if let Err(k) = marshal(args, n, buf) {
            for o in &buf[1..=k] {
                ffi::Py_DECREF(*o);
            }
            return None;
        }
        let mut kwtuple = null_mut();
        if nkw > 0 {
            kwtuple = ffi::PyTuple_New(nkw as _);
            if kwtuple.is_null() {
                fetch_py_error();
            } else {
                for j in 0..nkw as usize {
                    let name = *kwnames.add(j);
                    if name.is_null() || ffi::PyUnicode_Check(name) == 0 {
                        ffi::Py_DECREF(kwtuple);
                        kwtuple = null_mut();
                        set_error("TypeError", "call: keyword names must be str objects", "");
                        break;
                    }
                    ffi::Py_INCREF(name);
                    ffi::PyTuple_SET_ITEM(kwtuple, j as _, name);
                }
            }
            if kwtuple.is_null() {
                for o in &buf[1..=n] {
                    ffi::Py_DECREF(*o);
                }
                return None;
            }
        }
        let r = if nkw == 0 && nargs == 1 && callable == (&raw mut ffi::PyUnicode_Type).cast() {
            // str(x): what CPython's own PRECALL_NO_KW_STR_1 specialization does
            ffi::PyObject_Str(buf[1])
        } else if nkw == 0 && nargs == 1 && callable == (&raw mut ffi::PyType_Type).cast() {
            // type(x): PRECALL_NO_KW_TYPE_1
            ffi::Py_NewRef(ffi::Py_TYPE(buf[1]).cast())
        } else {
            ffi::PyObject_Vectorcall(
                callable,
                buf.as_ptr().add(1),
                nargs as usize | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
                kwtuple,
            )
        };
        for o in &buf[1..=n] {
            ffi::Py_DECREF(*o);
        }
        if !kwtuple.is_null() {
            ffi::Py_DECREF(kwtuple);
        }
        let r = check(r)?;
        if raw {
            out.tag = TAG_OTHER;
            out.obj = r;
            return Some(TAG_OTHER);
        }
        Some(result_value_t(r, out, t))
    }
}

fn bad_counts(nargs: i64, nkw: i64, args: *const PmgArg, kwnames: *const Obj) -> bool {
    if nargs < 0 || nkw < 0 || (nargs + nkw > 0 && args.is_null()) || (nkw > 0 && kwnames.is_null())
    {
        set_error("ValueError", "call: bad argument counts or NULL arrays", "");
        return true;
    }
    false
}

/// Calls `callable(*args[0..nargs], **dict(zip(kwnames, args[nargs..nargs+nkw])))`.
/// `kwnames` are str objects (borrowed). Writes the result to `out`; returns its tag or
/// TAG_ERROR (last error set). OWNED arguments are consumed in every case. With `raw` != 0
/// the result is not classified: `out.obj` is the new reference and the tag TAG_OTHER.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_call(
    callable: Obj,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    if out.is_null() || bad_counts(nargs, nkw, args, kwnames) {
        return TAG_ERROR;
    }
    if callable.is_null() {
        set_error("NullPointer", "call: NULL callable", "");
        with_gil((), || unsafe {
            release_owned_from(args, 0, (nargs + nkw) as usize);
            Some(())
        });
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil_t(TAG_ERROR, |t| unsafe {
        do_call(callable, args, nargs, kwnames, nkw, out, raw != 0, t)
    })
}

/// Resolves a dotted path given as interned str objects: `path[0]` is looked up in
/// `__main__`, then builtins, then `sys.modules`, then imported; each further part is an
/// attribute (or, for a module, a submodule imported on demand). New reference.
unsafe fn resolve(path: *const Obj, npath: i64) -> Option<Obj> {
    unsafe {
        if npath <= 0 || path.is_null() {
            set_error("ValueError", "resolve: empty name", "");
            return None;
        }
        let first = nonnull(*path, "resolve")?;
        let mut cur = ffi::PyDict_GetItemWithError(MAIN_DICT.load(Ordering::Acquire), first);
        if cur.is_null() && ffi::PyErr_Occurred().is_null() {
            cur = ffi::PyDict_GetItemWithError(BUILTINS_DICT.load(Ordering::Acquire), first);
        }
        let mut cur = if cur.is_null() {
            if !ffi::PyErr_Occurred().is_null() {
                fetch_py_error();
                return None;
            }
            // an imported module: sys.modules first (cheap), else import it
            let m = ffi::PyImport_GetModule(first);
            let m = if m.is_null() && ffi::PyErr_Occurred().is_null() {
                ffi::PyImport_Import(first)
            } else {
                m
            };
            if m.is_null() && ffi::PyErr_ExceptionMatches(ffi::PyExc_ModuleNotFoundError) != 0 {
                // `first` is neither a variable nor a module: say so as Python would.
                ffi::PyErr_Clear();
                ffi::PyErr_Format(
                    ffi::PyExc_NameError,
                    c"name '%U' is not defined".as_ptr(),
                    first,
                );
            }
            check(m)?
        } else {
            ffi::Py_NewRef(cur)
        };
        for k in 1..npath as usize {
            let name = nonnull(*path.add(k), "resolve")?;
            let next = ffi::PyObject_GetAttr(cur, name);
            let next = if next.is_null() && ffi::PyModule_Check(cur) != 0 {
                // maybe a submodule not imported yet
                let mut ptype = null_mut();
                let mut pvalue = null_mut();
                let mut ptb = null_mut();
                ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptb);
                let modname = ffi::PyModule_GetNameObject(cur);
                let full = if modname.is_null() {
                    null_mut()
                } else {
                    let f = ffi::PyUnicode_FromFormat(c"%U.%U".as_ptr(), modname, name);
                    ffi::Py_DECREF(modname);
                    f
                };
                let m = if full.is_null() {
                    null_mut()
                } else {
                    ffi::PyImport_Import(full)
                };
                if !full.is_null() {
                    ffi::Py_DECREF(full);
                }
                if m.is_null() {
                    ffi::PyErr_Clear();
                    ffi::PyErr_Restore(ptype, pvalue, ptb);
                    null_mut()
                } else {
                    ffi::Py_DECREF(m);
                    if !ptype.is_null() {
                        ffi::Py_DECREF(ptype);
                    }
                    if !pvalue.is_null() {
                        ffi::Py_DECREF(pvalue);
                    }
                    if !ptb.is_null() {
                        ffi::Py_DECREF(ptb);
                    }
                    ffi::PyObject_GetAttr(cur, name)
                }
            } else {
                next
            };
            ffi::Py_DECREF(cur);
            cur = check(next)?;
        }
        Some(cur)
    }
}

/// `resolve` as a function: new reference to the value of the dotted path, or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_resolve(path: *const Obj, npath: i64) -> Obj {
    with_gil(null_mut(), || unsafe { resolve(path, npath) })
}

/// `pmg_call` on the callable named by a dotted path (see `pmg_resolve`), resolved at
/// each call (so redefinitions in `__main__` are seen).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_call_path(
    path: *const Obj,
    npath: i64,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    if out.is_null() || bad_counts(nargs, nkw, args, kwnames) {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil_t(TAG_ERROR, |t| unsafe {
        let Some(callable) = resolve(path, npath) else {
            release_owned_from(args, 0, (nargs + nkw) as usize);
            return None;
        };
        let r = do_call(callable, args, nargs, kwnames, nkw, out, raw != 0, t);
        ffi::Py_DECREF(callable);
        r
    })
}

/// Takes ownership of `o` (a new reference) and returns it classified as a call result
/// (see [`PmgValue`]). For results of the other object functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_result(o: Obj, out: *mut PmgValue) -> c_int {
    if out.is_null() || o.is_null() {
        set_error("NullPointer", "result: NULL pointer", "");
        return TAG_ERROR;
    }
    with_gil(TAG_ERROR, || unsafe { Some(result_value(o, &mut *out)) })
}

// ---------------------------------------------------------------------------------------
// Object functions

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_import(name: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyImport_ImportModule(cstr(name)?.as_ptr()))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_getattr(o: Obj, name: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyObject_GetAttrString(
            nonnull(o, "getattr")?,
            cstr(name)?.as_ptr(),
        ))
    })
}

/// `setattr(o, name, value)`; value borrowed. 0 or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_setattr(o: Obj, name: *const c_char, value: Obj) -> c_int {
    with_gil(-1, || unsafe {
        let r = ffi::PyObject_SetAttrString(
            nonnull(o, "setattr")?,
            cstr(name)?.as_ptr(),
            nonnull(value, "setattr")?,
        );
        if r < 0 {
            fetch_py_error();
            return None;
        }
        Some(0)
    })
}

/// `o[key]`, key borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_getitem(o: Obj, key: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyObject_GetItem(
            nonnull(o, "getitem")?,
            nonnull(key, "getitem")?,
        ))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_setitem(o: Obj, key: Obj, value: Obj) -> c_int {
    with_gil(-1, || unsafe {
        if ffi::PyObject_SetItem(
            nonnull(o, "setitem")?,
            nonnull(key, "setitem")?,
            nonnull(value, "setitem")?,
        ) < 0
        {
            fetch_py_error();
            return None;
        }
        Some(0)
    })
}

/// `str(o)` (which = 0) or `repr(o)` (which = 1) as a new str object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_str(o: Obj, which: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let o = nonnull(o, "str")?;
        check(if which == 0 {
            ffi::PyObject_Str(o)
        } else {
            ffi::PyObject_Repr(o)
        })
    })
}

/// Evaluates (`mode` 0, an expression) or executes (`mode` 1, statements) UTF-8 source in
/// `__main__`. Returns the value (None for statements).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_run(code: *const c_char, mode: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let code = cstr(code)?;
        let d = MAIN_DICT.load(Ordering::Acquire);
        let start = if mode == 0 {
            ffi::Py_eval_input
        } else {
            ffi::Py_file_input
        };
        check(ffi::PyRun_StringFlags(
            code.as_ptr(),
            start,
            d,
            d,
            null_mut(),
        ))
    })
}

/// Compiled code objects by source text (one map per mode), so repeated `pyeval` of the
/// same text skips the compiler. Only touched with the GIL held; bounded.
static CODE_CACHE: Mutex<[Option<HashMap<Vec<u8>, usize>>; 2]> = Mutex::new([None, None]);
const CODE_CACHE_MAX: usize = 512;

unsafe fn compiled(code: &CStr, mode: c_int) -> Option<Obj> {
    unsafe {
        let slot = (mode != 0) as usize;
        let mut cache = CODE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let map = cache[slot].get_or_insert_with(HashMap::new);
        if let Some(&c) = map.get(code.to_bytes()) {
            return Some(ffi::Py_NewRef(c as Obj));
        }
        let start = if mode == 0 {
            ffi::Py_eval_input
        } else {
            ffi::Py_file_input
        };
        let c = check(ffi::Py_CompileString(
            code.as_ptr(),
            c"<string>".as_ptr(),
            start,
        ))?;
        if map.len() >= CODE_CACHE_MAX {
            for (_, old) in map.drain() {
                ffi::Py_DECREF(old as Obj);
            }
        }
        map.insert(code.to_bytes().to_vec(), ffi::Py_NewRef(c) as usize);
        Some(c)
    }
}

/// Evaluates (`mode` 0) or executes (`mode` 1) UTF-8 source in `__main__` like `pmg_run`,
/// reusing the compiled code of identical source, and writes the value to `out` as
/// `pmg_call` does (`raw` != 0: unclassified new reference in `out.obj`). Returns the tag.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_eval(
    code: *const c_char,
    mode: c_int,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    if out.is_null() {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil(TAG_ERROR, || unsafe {
        let c = compiled(cstr(code)?, mode)?;
        let d = MAIN_DICT.load(Ordering::Acquire);
        let r = ffi::PyEval_EvalCode(c, d, d);
        ffi::Py_DECREF(c);
        let r = check(r)?;
        if raw != 0 {
            out.tag = TAG_OTHER;
            out.obj = r;
            return Some(TAG_OTHER);
        }
        Some(result_value(r, out))
    })
}

/// Compiles UTF-8 source (`mode` 0 an expression, 1 statements) to a code object (new
/// reference) for `pmg_eval_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_compile(code: *const c_char, mode: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let start = if mode == 0 {
            ffi::Py_eval_input
        } else {
            ffi::Py_file_input
        };
        check(ffi::Py_CompileString(
            cstr(code)?.as_ptr(),
            c"<string>".as_ptr(),
            start,
        ))
    })
}

/// Runs a code object from `pmg_compile` in `__main__`; the value goes to `out` as for
/// `pmg_eval`. Returns the tag.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_eval_code(code: Obj, out: *mut PmgValue, raw: c_int) -> c_int {
    if out.is_null() {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil(TAG_ERROR, || unsafe {
        let code = nonnull(code, "eval_code")?;
        if ffi::PyCode_Check(code) == 0 {
            set_error("TypeError", "eval_code: not a code object", "");
            return None;
        }
        let d = MAIN_DICT.load(Ordering::Acquire);
        let r = check(ffi::PyEval_EvalCode(code, d, d))?;
        if raw != 0 {
            out.tag = TAG_OTHER;
            out.obj = r;
            return Some(TAG_OTHER);
        }
        Some(result_value(r, out))
    })
}

/// `__main__`'s dict (new reference).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_main_dict() -> Obj {
    with_gil(null_mut(), || unsafe {
        Some(ffi::Py_NewRef(MAIN_DICT.load(Ordering::Acquire)))
    })
}

/// Registers a type the classifier recognizes: 0 fractions.Fraction, 1 numpy.ndarray,
/// 2 numpy.generic, 3 the Lisp-object proxy class. `t` borrowed (a reference is kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_register_type(slot: c_int, t: Obj) -> c_int {
    if !(0..NTYPES as c_int).contains(&slot) || t.is_null() {
        set_error("ValueError", "register_type: bad slot or NULL", "");
        return -1;
    }
    with_gil(-1, || unsafe {
        ffi::Py_INCREF(t);
        let old = TYPES[slot as usize].swap(t, Ordering::AcqRel);
        if !old.is_null() {
            ffi::Py_DECREF(old);
        }
        if slot as usize == TY_NDARRAY && NP_API.load(Ordering::Acquire).is_null() {
            load_numpy_api();
        }
        Some(0)
    })
}

/// Is `o` an instance of the registered type `slot`? 1/0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_type_name(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        let o = nonnull(o, "type_name")?;
        let t = ffi::Py_TYPE(o) as Obj;
        let m = ffi::PyObject_GetAttrString(t, c"__module__".as_ptr());
        if m.is_null() {
            ffi::PyErr_Clear();
        }
        let q = check(ffi::PyObject_GetAttrString(t, c"__qualname__".as_ptr()))?;
        if m.is_null()
            || ffi::PyUnicode_Check(m) == 0
            || ffi::PyUnicode_CompareWithASCIIString(m, c"builtins".as_ptr()) == 0
        {
            if !m.is_null() {
                ffi::Py_DECREF(m);
            }
            return Some(q);
        }
        let f = ffi::PyUnicode_FromFormat(c"%U.%U".as_ptr(), m, q);
        ffi::Py_DECREF(m);
        ffi::Py_DECREF(q);
        check(f)
    })
}

// ---------------------------------------------------------------------------------------
// Constructors and accessors (Lisp -> Python)

#[unsafe(no_mangle)]
pub extern "C" fn pmg_long(v: i64) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyLong_FromLongLong(v)) })
}

/// An int of any size from its base-16 text (optional '-' sign, ASCII).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_long_from_hex(s: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyLong_FromString(cstr(s)?.as_ptr(), null_mut(), 16))
    })
}

/// `hex(o)` for an int of any size, as a str object ("-0x..." or "0x...").
#[unsafe(no_mangle)]
pub extern "C" fn pmg_long_to_hex(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyNumber_ToBase(nonnull(o, "long_to_hex")?, 16))
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_float(v: f64) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyFloat_FromDouble(v)) })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_complex(re: f64, im: f64) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyComplex_FromDoubles(re, im))
    })
}

/// `True`/`False` (0 false, else true).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_bool(v: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        Some(ffi::Py_NewRef(if v != 0 {
            ffi::Py_True()
        } else {
            ffi::Py_False()
        }))
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_none() -> Obj {
    with_gil(null_mut(), || unsafe {
        Some(ffi::Py_NewRef(ffi::Py_None()))
    })
}

/// A str from `len` code points of `kind` bytes each (1 latin-1, 2 UCS-2, 4 UCS-4):
/// SBCL strings go in without re-encoding.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_str_from_kind(kind: c_int, data: *const c_void, len: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if !matches!(kind, 1 | 2 | 4) || len < 0 || (len > 0 && data.is_null()) {
            set_error("ValueError", "str_from_kind: bad kind, length or data", "");
            return None;
        }
        let data = if data.is_null() {
            c"".as_ptr() as *const c_void
        } else {
            data
        };
        check(ffi::PyUnicode_FromKindAndData(kind, data, len as _))
    })
}

/// A str from UTF-8 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_str_from_utf8(data: *const c_char, len: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if len < 0 || (len > 0 && data.is_null()) {
            set_error("ValueError", "str_from_utf8: bad length or data", "");
            return None;
        }
        check(ffi::PyUnicode_FromStringAndSize(
            if data.is_null() { c"".as_ptr() } else { data },
            len as _,
        ))
    })
}

/// An interned str from NUL-terminated UTF-8 (for names: keys of dict lookups).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_intern(s: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyUnicode_InternFromString(cstr(s)?.as_ptr()))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_bytes(data: *const c_char, len: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if len < 0 || (len > 0 && data.is_null()) {
            set_error("ValueError", "bytes: bad length or data", "");
            return None;
        }
        check(ffi::PyBytes_FromStringAndSize(
            if data.is_null() { c"".as_ptr() } else { data },
            len as _,
        ))
    })
}

/// New tuple (0), list (1), dict (2), set (3) or frozenset (4) of `n` free slots
/// (n is used by tuple and list only; fill them with `pmg_fill`).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_container(kind: c_int, n: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if n < 0 {
            set_error("ValueError", "container: negative size", "");
            return None;
        }
        check(match kind {
            0 => ffi::PyTuple_New(n as _),
            1 => ffi::PyList_New(n as _),
            2 => ffi::PyDict_New(),
            3 => ffi::PySet_New(null_mut()),
            4 => ffi::PyFrozenSet_New(null_mut()),
            _ => {
                set_error("ValueError", "container: bad kind", "");
                return None;
            }
        })
    })
}

/// Fills a fresh container: tuple/list slot `i` = `v`; dict[`k`] = `v`; set add `v`.
/// `k` and `v` are STOLEN (also on error). 0 or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_fill(c: Obj, i: i64, k: Obj, v: Obj) -> c_int {
    let r = with_gil(-2, || unsafe {
        let drop_kv = || {
            if !k.is_null() {
                ffi::Py_DECREF(k)
            }
            if !v.is_null() {
                ffi::Py_DECREF(v)
            }
        };
        if c.is_null() || v.is_null() {
            set_error("NullPointer", "fill: NULL container or value", "");
            drop_kv();
            return None;
        }
        if ffi::PyTuple_Check(c) != 0 {
            if i < 0 || i >= ffi::PyTuple_GET_SIZE(c) as i64 {
                set_error("IndexError", "fill: tuple index out of range", "");
                drop_kv();
                return None;
            }
            let old = ffi::PyTuple_GET_ITEM(c, i as _);
            ffi::PyTuple_SET_ITEM(c, i as _, v);
            if !old.is_null() {
                ffi::Py_DECREF(old);
            }
        } else if ffi::PyList_Check(c) != 0 {
            if ffi::PyList_SetItem(c, i as _, v) < 0 {
                fetch_py_error();
                if !k.is_null() {
                    ffi::Py_DECREF(k);
                }
                return None;
            }
        } else if ffi::PyDict_Check(c) != 0 {
            if k.is_null() {
                set_error("NullPointer", "fill: NULL dict key", "");
                drop_kv();
                return None;
            }
            let r = ffi::PyDict_SetItem(c, k, v);
            drop_kv();
            if r < 0 {
                fetch_py_error();
                return None;
            }
        } else if ffi::PyAnySet_Check(c) != 0 {
            let r = ffi::PySet_Add(c, v);
            drop_kv();
            if r < 0 {
                fetch_py_error();
                return None;
            }
        } else {
            set_error("TypeError", "fill: not a tuple, list, dict or set", "");
            drop_kv();
            return None;
        }
        Some(0)
    });
    if r == -2 {
        // Python not alive: nothing to release safely.
        return -1;
    }
    r
}

/// `list(o)` (new list; for sets, iterables).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_to_list(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PySequence_List(nonnull(o, "to_list")?))
    })
}

/// `len(o)` or -1.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_len(o: Obj) -> i64 {
    with_gil(-1, || unsafe {
        let n = ffi::PyObject_Size(nonnull(o, "len")?);
        if n < 0 {
            fetch_py_error();
            return None;
        }
        Some(n as i64)
    })
}

/// `iter(o)`.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_iter(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        check(ffi::PyObject_GetIter(nonnull(o, "iter")?))
    })
}

/// `next(it)`: new reference; NULL with `*done` = 1 at the end, NULL with `*done` = 0 on
/// error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_next(it: Obj, done: *mut c_int) -> Obj {
    if done.is_null() {
        return null_mut();
    }
    unsafe { *done = 0 };
    with_gil(null_mut(), || unsafe {
        let r = ffi::PyIter_Next(nonnull(it, "next")?);
        if r.is_null() {
            if ffi::PyErr_Occurred().is_null() {
                *done = 1;
                return None;
            }
            fetch_py_error();
            return None;
        }
        Some(r)
    })
}

/// `a is b` / `a == b` (`op` 0 identity, 1 equality): 1, 0, or -1 on error.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_compare(a: Obj, b: Obj, op: c_int) -> c_int {
    if op == 0 {
        return (a == b) as c_int;
    }
    with_gil(-1, || unsafe {
        let r = ffi::PyObject_RichCompareBool(
            nonnull(a, "compare")?,
            nonnull(b, "compare")?,
            ffi::Py_EQ,
        );
        if r < 0 {
            fetch_py_error();
            return None;
        }
        Some(r)
    })
}

// ---------------------------------------------------------------------------------------
// numpy arrays over Lisp memory, and reading numpy arrays

/// numpy's C API table (`_ARRAY_API`), once verified by `load_numpy_api`.
static NP_API: AtomicPtr<*mut c_void> = AtomicPtr::new(null_mut());

type DescrFromType = unsafe extern "C" fn(c_int) -> Obj;
type NewFromDescr = unsafe extern "C" fn(
    Obj,
    Obj,
    c_int,
    *const isize,
    *const isize,
    *mut c_void,
    c_int,
    Obj,
) -> Obj;
const NP_DESCR_FROM_TYPE: usize = 45;
const NP_NEW_FROM_DESCR: usize = 94;

fn numpy_typenum(dtype: &[u8]) -> Option<c_int> {
    Some(match dtype {
        b"f8" => 12,
        b"f4" => 11,
        b"i1" => 1,
        b"u1" => 2,
        b"i2" => 3,
        b"u2" => 4,
        b"i4" => 5,
        b"u4" => 6,
        b"i8" => 7,
        b"u8" => 8,
        b"c8" => 14,
        b"c16" => 15,
        _ => return None,
    })
}

/// Finds numpy's C API and checks two of its entries on a known array; on any doubt the
/// runtime keeps using the (slower) `numpy.ndarray(shape, dtype, buffer)` route.
unsafe fn load_numpy_api() {
    unsafe {
        let mut cap = null_mut();
        for m in [
            c"numpy._core._multiarray_umath",
            c"numpy.core._multiarray_umath",
        ] {
            let module = ffi::PyImport_ImportModule(m.as_ptr());
            if module.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            cap = ffi::PyObject_GetAttrString(module, c"_ARRAY_API".as_ptr());
            ffi::Py_DECREF(module);
            if cap.is_null() {
                ffi::PyErr_Clear();
            } else {
                break;
            }
        }
        if cap.is_null() {
            return;
        }
        let api = ffi::PyCapsule_GetPointer(cap, null_mut()) as *mut *mut c_void;
        ffi::Py_DECREF(cap);
        if api.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        // verify: a float64 array of shape (2,) over [1.5, 2.5] must sum to 4.0
        let descr_from_type: DescrFromType = std::mem::transmute(*api.add(NP_DESCR_FROM_TYPE));
        let new_from_descr: NewFromDescr = std::mem::transmute(*api.add(NP_NEW_FROM_DESCR));
        let ndarray = TYPES[TY_NDARRAY].load(Ordering::Acquire);
        if ndarray.is_null() {
            return;
        }
        let d = descr_from_type(12);
        if d.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let mut data = [1.5f64, 2.5f64];
        let dims = [2isize];
        let a = new_from_descr(
            ndarray,
            d,
            1,
            dims.as_ptr(),
            null_mut(),
            data.as_mut_ptr().cast(),
            0x0501,
            null_mut(),
        );
        if a.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let ok = ffi::PyObject_TypeCheck(a, ndarray.cast()) != 0 && {
            let sum = ffi::PyObject_CallMethod(a, c"sum".as_ptr(), null_mut());
            let v = if sum.is_null() {
                -1.0
            } else {
                ffi::PyFloat_AsDouble(sum)
            };
            if !sum.is_null() {
                ffi::Py_DECREF(sum);
            }
            ffi::PyErr_Clear();
            v == 4.0
        };
        ffi::Py_DECREF(a);
        if ok {
            NP_API.store(api, Ordering::Release);
        }
    }
}

/// A numpy array (or, without numpy, a memoryview) over `nbytes` at `data`, no copy:
/// `numpy.ndarray(shape, dtype, buffer=memoryview)`. `dtype` a numpy dtype string
/// ("f8", "i4", "c16" ...). The memory must stay valid (pinned) while Python uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_array_over(
    data: *mut c_void,
    nbytes: i64,
    dtype: *const c_char,
    ndim: i64,
    shape: *const i64,
    writable: c_int,
) -> Obj {
    with_gil(null_mut(), || unsafe {
        let ndarray = TYPES[TY_NDARRAY].load(Ordering::Acquire);
        if ndarray.is_null() {
            set_error(
                "ImportError",
                "numpy is not available (numpy.ndarray not registered)",
                "",
            );
            return None;
        }
        if nbytes < 0 || !(0..=32).contains(&ndim) || (ndim > 0 && shape.is_null()) {
            set_error("ValueError", "array_over: bad size, rank or shape", "");
            return None;
        }
        let dtype = cstr(dtype)?;
        let api = NP_API.load(Ordering::Acquire);
        if let (false, Some(typenum), false, true) = (
            api.is_null(),
            numpy_typenum(dtype.to_bytes()),
            data.is_null(),
            nbytes > 0,
        ) {
            {
                let descr_from_type: DescrFromType =
                    std::mem::transmute(*api.add(NP_DESCR_FROM_TYPE));
                let new_from_descr: NewFromDescr = std::mem::transmute(*api.add(NP_NEW_FROM_DESCR));
                let d = check(descr_from_type(typenum))?;
                let flags = if writable != 0 { 0x0501 } else { 0x0101 };
                // dims: i64 == npy_intp on 64-bit targets
                return check(new_from_descr(
                    ndarray,
                    d,
                    ndim as c_int,
                    shape as *const isize,
                    null_mut(),
                    data,
                    flags,
                    null_mut(),
                ));
            }
        }
        // memoryview over the memory (a 1-byte dummy for empty arrays: NULL is refused)
        let mut dummy = 0u8;
        let base = if data.is_null() || nbytes == 0 {
            &mut dummy as *mut u8 as *mut c_char
        } else {
            data as *mut c_char
        };
        let flags = if writable != 0 { 0x200 } else { 0x100 }; // PyBUF_WRITE / PyBUF_READ
        let mv = check(ffi::PyMemoryView_FromMemory(base, nbytes as _, flags))?;
        let shp = ffi::PyTuple_New(ndim as _);
        if shp.is_null() {
            ffi::Py_DECREF(mv);
            fetch_py_error();
            return None;
        }
        for k in 0..ndim as usize {
            ffi::PyTuple_SET_ITEM(shp, k as _, ffi::PyLong_FromLongLong(*shape.add(k)));
        }
        let dt = ffi::PyUnicode_FromString(dtype.as_ptr());
        let mut argv = [null_mut(), shp, dt, mv];
        let r = ffi::PyObject_Vectorcall(
            ndarray,
            argv.as_mut_ptr().add(1),
            3 | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
            null_mut(),
        );
        ffi::Py_DECREF(shp);
        if !dt.is_null() {
            ffi::Py_DECREF(dt);
        }
        ffi::Py_DECREF(mv);
        check(r)
    })
}

/// What Lisp needs to copy an array out: data pointer, element format (buffer-protocol
/// struct code, e.g. "d", "f", "q", "B", "?", "Zd"), item size, rank, shape, strides
/// (bytes), and `holder`, a new reference keeping the data alive (decref it when done).
#[repr(C)]
pub struct PmgArrayInfo {
    pub holder: Obj,
    pub data: *mut c_void,
    pub itemsize: i64,
    pub ndim: i64,
    pub format: [c_char; 16],
    pub shape: [i64; 32],
    pub strides: [i64; 32],
    pub readonly: i64,
}

/// Fills `info` for any object with the buffer protocol (numpy arrays). With
/// `contiguous` != 0 the data is C-contiguous (a contiguous copy is made with
/// `numpy.ascontiguousarray` when needed). 0 or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_array_info(
    o: Obj,
    contiguous: c_int,
    info: *mut PmgArrayInfo,
) -> c_int {
    if info.is_null() {
        set_error("NullPointer", "array_info: NULL info", "");
        return -1;
    }
    with_gil(-1, || unsafe {
        let o = nonnull(o, "array_info")?;
        let info = &mut *info;
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        let flags = if contiguous != 0 {
            ffi::PyBUF_C_CONTIGUOUS | ffi::PyBUF_FORMAT
        } else {
            ffi::PyBUF_RECORDS_RO
        };
        let mut holder = ffi::Py_NewRef(o);
        if ffi::PyObject_GetBuffer(holder, &mut view, flags) < 0 {
            ffi::PyErr_Clear();
            // not contiguous (or not a buffer): ask numpy for a C-contiguous copy
            let np = ffi::PyImport_ImportModule(c"numpy".as_ptr());
            let f = if np.is_null() {
                null_mut()
            } else {
                ffi::PyObject_GetAttrString(np, c"ascontiguousarray".as_ptr())
            };
            if !np.is_null() {
                ffi::Py_DECREF(np);
            }
            let c = if f.is_null() {
                null_mut()
            } else {
                ffi::PyObject_CallOneArg(f, o)
            };
            if !f.is_null() {
                ffi::Py_DECREF(f);
            }
            ffi::Py_DECREF(holder);
            holder = check(c)?;
            if ffi::PyObject_GetBuffer(holder, &mut view, flags) < 0 {
                ffi::Py_DECREF(holder);
                fetch_py_error();
                return None;
            }
        }
        if view.ndim > 32 {
            ffi::PyBuffer_Release(&mut view);
            ffi::Py_DECREF(holder);
            set_error("ValueError", "array_info: rank above 32", "");
            return None;
        }
        info.holder = holder;
        info.data = view.buf;
        info.itemsize = view.itemsize as i64;
        info.ndim = view.ndim as i64;
        info.readonly = view.readonly as i64;
        info.format = [0; 16];
        let fmt = if view.format.is_null() {
            c"B"
        } else {
            CStr::from_ptr(view.format)
        };
        for (k, b) in fmt.to_bytes().iter().take(15).enumerate() {
            info.format[k] = *b as c_char;
        }
        for k in 0..view.ndim as usize {
            info.shape[k] = *view.shape.add(k) as i64;
            info.strides[k] = if view.strides.is_null() {
                0
            } else {
                *view.strides.add(k) as i64
            };
        }
        ffi::PyBuffer_Release(&mut view);
        Some(0)
    })
}

// ---------------------------------------------------------------------------------------
// Capturing Python's output

/// Saved `sys.stdout`/`sys.stderr` objects of open captures (innermost last).
static CAPTURES: Mutex<Vec<(c_int, usize)>> = Mutex::new(Vec::new());

/// Starts capturing `sys.stdout` (`which` 1) or `sys.stderr` (2) into a fresh
/// `io.StringIO`. Captures nest. 0 or -1.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_capture_begin(which: c_int) -> c_int {
    let name = match which {
        1 => c"stdout",
        2 => c"stderr",
        _ => {
            set_error("ValueError", "capture_begin: which must be 1 or 2", "");
            return -1;
        }
    };
    with_gil(-1, || unsafe {
        let io = check(ffi::PyImport_ImportModule(c"io".as_ptr()))?;
        let buf = ffi::PyObject_CallMethod(io, c"StringIO".as_ptr(), null_mut());
        ffi::Py_DECREF(io);
        let buf = check(buf)?;
        let old = ffi::PySys_GetObject(name.as_ptr()); // borrowed, may be NULL
        let old = if old.is_null() { ffi::Py_None() } else { old };
        ffi::Py_INCREF(old);
        if ffi::PySys_SetObject(name.as_ptr(), buf) < 0 {
            ffi::Py_DECREF(old);
            ffi::Py_DECREF(buf);
            fetch_py_error();
            return None;
        }
        ffi::Py_DECREF(buf);
        CAPTURES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((which, old as usize));
        Some(0)
    })
}

/// Ends the innermost capture of `which`: restores the previous stream and returns the
/// captured text (a new str reference), or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_capture_end(which: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let old = {
            let mut v = CAPTURES.lock().unwrap_or_else(|e| e.into_inner());
            let Some(k) = v.iter().rposition(|(w, _)| *w == which) else {
                set_error("ValueError", "capture_end: no capture is open", "");
                return None;
            };
            v.remove(k).1 as Obj
        };
        let name = if which == 1 { c"stdout" } else { c"stderr" };
        let buf = ffi::PySys_GetObject(name.as_ptr()); // borrowed
        let text = if buf.is_null() {
            null_mut()
        } else {
            ffi::PyObject_CallMethod(buf, c"getvalue".as_ptr(), null_mut())
        };
        let restored = ffi::PySys_SetObject(name.as_ptr(), old);
        ffi::Py_DECREF(old);
        if restored < 0 {
            if !text.is_null() {
                ffi::Py_DECREF(text);
            }
            fetch_py_error();
            return None;
        }
        check(text)
    })
}

// ---------------------------------------------------------------------------------------
// Python -> Lisp callbacks

/// Sets the Lisp function Python calls for Lisp callables:
/// `PyObject* f(int64 handle, PyObject* args_tuple, PyObject* kwargs_dict_or_NULL)`,
/// returning a new reference or NULL with a Python exception set. Called with the GIL.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_set_lisp_callback(f: *mut c_void) {
    LISP_CALLBACK.store(f, Ordering::Release);
}

static CALLBACK_CAPSULE: &CStr = c"pymodgen.lisp_callable";

unsafe extern "C" fn capsule_destructor(cap: Obj) {
    unsafe {
        let p = ffi::PyCapsule_GetPointer(cap, CALLBACK_CAPSULE.as_ptr());
        if p.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let handle = p as usize as i64 - 1;
        if let Ok(mut v) = FREED_HANDLES.lock() {
            v.push(handle);
        }
    }
}

unsafe extern "C" fn trampoline(slf: Obj, args: Obj, kwargs: Obj) -> Obj {
    let r = catch_unwind(AssertUnwindSafe(|| unsafe {
        let p = ffi::PyCapsule_GetPointer(slf, CALLBACK_CAPSULE.as_ptr());
        if p.is_null() {
            return null_mut();
        }
        let handle = p as usize as i64 - 1;
        let f = LISP_CALLBACK.load(Ordering::Acquire);
        if f.is_null() {
            ffi::PyErr_SetString(
                ffi::PyExc_RuntimeError,
                c"no Lisp callback dispatcher is set".as_ptr(),
            );
            return null_mut();
        }
        let f: LispCallback = std::mem::transmute(f);
        // Python holds the GIL for us here: runtime calls made by the Lisp function must
        // not take it again (or release it).
        let t = tls();
        t.depth.set(t.depth.get() + 1);
        let r = f(handle, args, kwargs);
        t.depth.set(t.depth.get() - 1);
        if r.is_null() && ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_SetString(ffi::PyExc_RuntimeError, c"Lisp callback failed".as_ptr());
        }
        r
    }));
    r.unwrap_or_else(|_| {
        unsafe {
            ffi::PyErr_SetString(
                ffi::PyExc_RuntimeError,
                c"panic in Lisp callback trampoline".as_ptr(),
            )
        };
        null_mut()
    })
}

struct SyncDef(ffi::PyMethodDef);
unsafe impl Sync for SyncDef {}

static CALLBACK_DEF: SyncDef = SyncDef(ffi::PyMethodDef {
    ml_name: c"lisp_function".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunctionWithKeywords: trampoline,
    },
    ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
    ml_doc: c"A Lisp function called from Python.".as_ptr(),
});

/// A Python callable that calls the Lisp object registered under `handle` (>= 0) through
/// the dispatcher. When Python frees it, `handle` is queued for `pmg_take_freed_handles`.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_make_callable(handle: i64) -> Obj {
    if handle < 0 {
        set_error("ValueError", "make_callable: negative handle", "");
        return null_mut();
    }
    with_gil(null_mut(), || unsafe {
        let cap = check(ffi::PyCapsule_New(
            (handle + 1) as usize as *mut c_void,
            CALLBACK_CAPSULE.as_ptr(),
            Some(capsule_destructor),
        ))?;
        let f = ffi::PyCFunction_NewEx(
            &CALLBACK_DEF.0 as *const ffi::PyMethodDef as *mut _,
            cap,
            null_mut(),
        );
        ffi::Py_DECREF(cap);
        check(f)
    })
}

/// Moves up to `cap` handles of Lisp callables freed by Python into `buf`; returns how
/// many. Needs no GIL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_take_freed_handles(buf: *mut i64, cap: i64) -> i64 {
    if buf.is_null() || cap <= 0 {
        return 0;
    }
    let Ok(mut v) = FREED_HANDLES.lock() else {
        return 0;
    };
    let n = v.len().min(cap as usize);
    for (k, h) in v.drain(..n).enumerate() {
        unsafe { *buf.add(k) = h };
    }
    n as i64
}
