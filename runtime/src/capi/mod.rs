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
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments, clippy::type_complexity)]

use pyo3::ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, null_mut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicUsize, Ordering};

mod arrays;
mod call;
mod callbacks;
mod capture;
mod construct;
mod errors;
mod lifecycle;
mod objects;
mod refcount;
mod values;

// The items of the submodules keep their `capi::` paths (the crate's Rust API); the
// `pmg_*` functions are exported from the cdylib under the same names either way.
pub use arrays::*;
pub use call::*;
pub use callbacks::*;
pub use capture::*;
pub use construct::*;
pub use errors::*;
pub use lifecycle::*;
pub use objects::*;
pub use refcount::*;
pub use values::*;

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
static TYPES: [AtomicPtr<ffi::PyObject>; NTYPES] =
    [AtomicPtr::new(null_mut()), AtomicPtr::new(null_mut()), AtomicPtr::new(null_mut()), AtomicPtr::new(null_mut())];

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
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(LastError { parts: [c(ty), c(msg), c(tb)] }));
}

/// Moves the current Python exception (if any) into the thread-local last error.
/// Requires the GIL.
unsafe fn fetch_py_error() {
    use pyo3::prelude::*;
    use pyo3::types::{PyTracebackMethods, PyTypeMethods};
    let py = unsafe { Python::assume_attached() };
    let Some(err) = PyErr::take(py) else {
        set_error("SystemError", "a Python call failed without setting an exception", "");
        return;
    };
    let ty = err.get_type(py);
    let name = ty.fully_qualified_name().map(|s| s.to_string()).unwrap_or_else(|_| "BaseException".into());
    let name = name.strip_prefix("builtins.").unwrap_or(&name).to_string();
    let msg = err.value(py).str().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tb = err.traceback(py).and_then(|tb| tb.format().ok()).unwrap_or_default();
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
            set_error("PythonNotAlive", "Python is not running: call pystart first (or it was stopped by pystop)", "");
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
