//! pymodgen-capi: the C ABI of pymodgen's Common Lisp runtime (`runtime/lisp`, ASDF system
//! "pymodgen"), built as `libpymodgen_capi.so` and called through CFFI.
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
//! - Python runs in Python's floating-point environment (every trap masked), whatever the
//!   caller's; the caller's is restored before returning, and put back for the Lisp code of
//!   a callback (`fpenv`).
//! - A Lisp callback never unwinds through Python's frames: the Lisp side stops a
//!   non-local exit at the callback and reports it with `pmg_set_python_error` kind 4; the
//!   runtime call that ran that Python code then fails with type "pymodgen.LispUnwind" and
//!   the Lisp side resumes the exit (`runtime/lisp/src/portability.lisp`).
//! - Lisp interrupts reach a thread busy in Python as KeyboardInterrupt (`interrupts`).
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

use fpenv::{FpWords, PyFpEnv};

mod abi;
mod arrays;
mod call;
mod callbacks;
mod capture;
mod construct;
mod dedicated;
mod errors;
mod fpenv;
mod interrupts;
mod lifecycle;
mod objects;
mod pathcache;
mod pyinit;
mod refcount;
mod values;

// The items of the submodules are the crate's Rust API (its tests use it); the `pmg_*`
// functions are exported from the cdylib under the same names either way.
pub use abi::*;
pub use arrays::*;
pub use call::*;
pub use callbacks::*;
pub use capture::*;
pub use construct::*;
pub use dedicated::{pmg_call_mode, pmg_set_call_mode};
pub use errors::*;
pub use fpenv::{
    pmg_fp_scope_enter, pmg_fp_scope_exit, pmg_fp_scope_resume, pmg_fp_scope_suspend, pmg_fp_switch, pmg_fp_traps,
    pmg_fp_words, pmg_set_fp_switch,
};
pub use interrupts::*;
pub use lifecycle::*;
pub use objects::*;
pub use pathcache::{PmgPathCache, pmg_path_cache_new};
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
    /// Type name, message, traceback text, MRO (see `pmg_error_part`).
    parts: [CString; 4],
}

thread_local! {
    /// Per-thread GIL state, read through one TLS access per call (see `tls`).
    static TLS: Tls = const {
        Tls {
            depth: Cell::new(0),
            tstate: Cell::new(null_mut()),
            pending: Cell::new(null_mut()),
            lisp_fp: Cell::new(FpWords::UNSET),
            fp_scope: Cell::new(false),
            fp_lazy: Cell::new(0),
            fp_eager: Cell::new(0),
            in_python: Cell::new(0),
            info: Cell::new(ptr::null()),
            unwind_at: Cell::new(0),
        }
    };
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
    /// The floating-point words of the Lisp code that entered Python (restored for the
    /// Lisp code of a callback; see `fpenv`).
    lisp_fp: Cell<FpWords>,
    /// Inside a per-scope switch (`fpenv::pmg_fp_scope_enter`): Python's floating-point
    /// environment stays in force between calls, which skip the switch; `lisp_fp` holds
    /// the words saved at scope entry. Cleared while a Lisp callback runs.
    fp_scope: Cell<bool>,
    /// How many lazy float-switch entries into Python are running on this thread, 0 while
    /// a Lisp callback runs Lisp code inside them: > 0, a float trap on this thread is
    /// Python's, masked by the SIGFPE handler (see `fpenv`); 0, it is Lisp's own.
    fp_lazy: Cell<u32>,
    /// How many more calls of this thread use the eager switch although the lazy one is
    /// in force (after a call that raised a float trap: `fpenv::EAGER_AFTER_TRAP`).
    fp_eager: Cell<u32>,
    /// How many entries from Lisp into Python are running on this thread, minus the
    /// callbacks running Lisp code inside them (> 0: the thread is executing Python).
    in_python: Cell<u32>,
    /// This thread in the registry of interruptible threads (see `interrupts`), once it
    /// has a Python thread state.
    info: Cell<*const interrupts::ThreadInfo>,
    /// GIL depth of the runtime call that must fail because a Lisp callback inside it
    /// made a non-local exit (0: none); see `pmg_set_python_error` kind 4.
    unwind_at: Cell<u32>,
}

/// Thread states of exited threads, cleared and deleted by the next thread that takes the
/// GIL (a dying thread must not block on the GIL).
static DEAD_TSTATES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static DEAD_LEN: AtomicUsize = AtomicUsize::new(0);

impl Drop for Tls {
    fn drop(&mut self) {
        interrupts::unregister(self.info.get());
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
    for &ts in &items {
        unsafe { ffi::PyThreadState_Clear(ts as *mut ffi::PyThreadState) };
    }
    // From Python 3.12, deleting a thread state that the PyGILState API had bound to its
    // (dead) thread clears that binding on the thread that deletes it: this thread's own
    // would be lost, and an extension's PyGILState_Ensure on it (numpy's floating-point
    // error handler) would then wait for the GIL this thread holds. So the deletion, which
    // needs no GIL, runs on a short-lived thread of its own (thread exits are rare).
    #[cfg(Py_3_12)]
    std::thread::scope(|s| {
        s.spawn(|| delete_tstates(&items));
    });
    #[cfg(not(Py_3_12))]
    delete_tstates(&items);
}

/// Deletes thread states already cleared (no GIL needed).
fn delete_tstates(items: &[usize]) {
    for &ts in items {
        unsafe { ffi::PyThreadState_Delete(ts as *mut ffi::PyThreadState) };
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

/// 1 when the thread state the PyGILState API has bound to the calling thread is the one it
/// runs Python with (an extension's `PyGILState_Ensure`, numpy's floating-point error
/// handler's, then finds it instead of waiting for the GIL the thread holds), 0 when not,
/// -1 on error. Diagnostics and tests.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gilstate_is_own() -> i64 {
    with_gil(-1, || unsafe { Some((ffi::PyGILState_GetThisThreadState() == ffi::PyThreadState_Get()) as i64) })
}

/// This thread's state. The reference is valid for the thread's lifetime (its destructor
/// runs at thread exit), so it may be kept across calls made on this thread.
#[inline]
fn tls() -> &'static Tls {
    TLS.with(|t| unsafe { &*(t as *const Tls) })
}

fn set_error(ty: &str, msg: &str, tb: &str) {
    set_error_with_mro(ty, msg, tb, "");
}

/// [`set_error`] for a Python exception whose type's `__mro__` names are known.
fn set_error_with_mro(ty: &str, msg: &str, tb: &str, mro: &str) {
    let c = |s: &str| CString::new(s.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(LastError { parts: [c(ty), c(msg), c(tb), c(mro)] }));
}

/// Moves the current Python exception (if any) into the thread-local last error.
/// Requires the GIL. Only raw C-API calls: it runs at any recursion depth (a
/// RecursionError is fetched at the recursion limit) and must not re-enter lazily
/// initialized state; each step that fails (e.g. a further RecursionError) is cleared and
/// skipped, so the type and message survive.
unsafe fn fetch_py_error() {
    unsafe {
        let Some((ty, val, tb)) = raised_exception() else {
            set_error("SystemError", "a Python call failed without setting an exception", "");
            return;
        };
        let name = type_name(ty);
        let mro = mro_names(ty);
        let msg = exception_text(val);
        let tbtext = traceback_text(tb);
        for o in [ty, val, tb] {
            if !o.is_null() {
                ffi::Py_DECREF(o);
            }
        }
        let full = format!("{tbtext}{name}: {msg}\n");
        set_error_with_mro(&name, &msg, &full, &mro);
    }
}

/// Takes the current exception out of the thread state: (type, normalized value,
/// traceback), new references (the traceback may be NULL), or None when none is set.
#[cfg(Py_3_12)]
unsafe fn raised_exception() -> Option<(Obj, Obj, Obj)> {
    unsafe {
        let val = ffi::PyErr_GetRaisedException();
        if val.is_null() {
            return None;
        }
        let ty = ffi::Py_NewRef(ffi::Py_TYPE(val) as Obj);
        Some((ty, val, ffi::PyException_GetTraceback(val)))
    }
}

/// Takes the current exception out of the thread state: (type, normalized value,
/// traceback), new references (the traceback may be NULL), or None when none is set.
#[cfg(not(Py_3_12))]
unsafe fn raised_exception() -> Option<(Obj, Obj, Obj)> {
    unsafe {
        let (mut ty, mut val, mut tb) = (null_mut(), null_mut(), null_mut());
        ffi::PyErr_Fetch(&mut ty, &mut val, &mut tb);
        if ty.is_null() {
            return None;
        }
        ffi::PyErr_NormalizeException(&mut ty, &mut val, &mut tb);
        if !tb.is_null() && !val.is_null() {
            ffi::PyException_SetTraceback(val, tb);
        }
        Some((ty, val, tb))
    }
}

/// The current exception, taken out of the thread state while other Python code runs,
/// then put back (`restore`) or dropped (`discard`). GIL held.
struct SavedError(#[cfg(Py_3_12)] Obj, #[cfg(not(Py_3_12))] [Obj; 3]);

impl SavedError {
    #[cfg(Py_3_12)]
    unsafe fn take() -> SavedError {
        SavedError(unsafe { ffi::PyErr_GetRaisedException() })
    }

    #[cfg(not(Py_3_12))]
    unsafe fn take() -> SavedError {
        let (mut ty, mut val, mut tb) = (null_mut(), null_mut(), null_mut());
        unsafe { ffi::PyErr_Fetch(&mut ty, &mut val, &mut tb) };
        SavedError([ty, val, tb])
    }

    /// Makes it the current exception again (replacing any).
    #[cfg(Py_3_12)]
    unsafe fn restore(self) {
        unsafe { ffi::PyErr_SetRaisedException(self.0) };
    }

    /// Makes it the current exception again (replacing any).
    #[cfg(not(Py_3_12))]
    unsafe fn restore(self) {
        let [ty, val, tb] = self.0;
        unsafe { ffi::PyErr_Restore(ty, val, tb) };
    }

    /// Drops it.
    unsafe fn discard(self) {
        #[cfg(Py_3_12)]
        let objects = [self.0];
        #[cfg(not(Py_3_12))]
        let objects = self.0;
        for o in objects {
            if !o.is_null() {
                unsafe { ffi::Py_DECREF(o) };
            }
        }
    }
}

/// A str object's text (lossy), or None (error cleared).
unsafe fn str_text(s: Obj) -> Option<String> {
    unsafe {
        if s.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let mut n: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(s, &mut n);
        let r = if p.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, n as usize)).into_owned())
        };
        ffi::Py_DECREF(s);
        r
    }
}

/// "module.QualName" of an exception type, without "builtins.".
unsafe fn type_name(ty: Obj) -> String {
    unsafe {
        let qual = str_text(ffi::PyObject_GetAttrString(ty, c"__qualname__".as_ptr()));
        let module = str_text(ffi::PyObject_GetAttrString(ty, c"__module__".as_ptr()));
        match (module, qual) {
            (Some(m), Some(q)) if m != "builtins" => format!("{m}.{q}"),
            (_, Some(q)) => q,
            _ => {
                if ffi::PyType_Check(ty) != 0 {
                    let tp = ty as *mut ffi::PyTypeObject;
                    let n = CStr::from_ptr((*tp).tp_name).to_string_lossy().into_owned();
                    n.strip_prefix("builtins.").map(str::to_string).unwrap_or(n)
                } else {
                    "BaseException".into()
                }
            }
        }
    }
}

/// The names ([`type_name`]) of the classes of an exception type's `__mro__`, the type
/// itself first, `object` left out, one per line; "" when it has none (or reading it fails:
/// the error is cleared). The Lisp side signals the condition class of the first it knows.
unsafe fn mro_names(ty: Obj) -> String {
    unsafe {
        let mro = ffi::PyObject_GetAttrString(ty, c"__mro__".as_ptr());
        if mro.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let mut names = String::new();
        if ffi::PyTuple_Check(mro) != 0 {
            let object = &raw mut ffi::PyBaseObject_Type as Obj;
            for i in 0..ffi::PyTuple_Size(mro) {
                let t = ffi::PyTuple_GetItem(mro, i);
                if t.is_null() || t == object {
                    continue;
                }
                if !names.is_empty() {
                    names.push('\n');
                }
                names.push_str(&type_name(t));
            }
        }
        ffi::Py_DECREF(mro);
        names
    }
}

/// str(exc), else (str() failed, e.g. at the recursion limit) its first argument when it
/// is a str, else "".
unsafe fn exception_text(val: Obj) -> String {
    unsafe {
        if val.is_null() {
            return String::new();
        }
        if let Some(s) = str_text(ffi::PyObject_Str(val)) {
            return s;
        }
        let args = ffi::PyObject_GetAttrString(val, c"args".as_ptr());
        if args.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let mut r = String::new();
        if ffi::PyTuple_Check(args) != 0 && ffi::PyTuple_Size(args) >= 1 {
            let a0 = ffi::PyTuple_GetItem(args, 0);
            if !a0.is_null() && ffi::PyUnicode_Check(a0) != 0 {
                ffi::Py_INCREF(a0);
                r = str_text(a0).unwrap_or_default();
            }
        }
        ffi::Py_DECREF(args);
        r
    }
}

/// "Traceback (most recent call last):\n" + traceback.format_tb(tb), or "" (no
/// traceback, or formatting failed).
unsafe fn traceback_text(tb: Obj) -> String {
    unsafe {
        if tb.is_null() {
            return String::new();
        }
        let m = ffi::PyImport_ImportModule(c"traceback".as_ptr());
        if m.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let f = ffi::PyObject_GetAttrString(m, c"format_tb".as_ptr());
        ffi::Py_DECREF(m);
        if f.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let lines = ffi::PyObject_CallOneArg(f, tb);
        ffi::Py_DECREF(f);
        if lines.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let empty = ffi::PyUnicode_FromStringAndSize(c"".as_ptr(), 0);
        let joined = if empty.is_null() { null_mut() } else { ffi::PyUnicode_Join(empty, lines) };
        if !empty.is_null() {
            ffi::Py_DECREF(empty);
        }
        ffi::Py_DECREF(lines);
        match str_text(joined) {
            Some(s) => format!("Traceback (most recent call last):\n{s}"),
            None => String::new(),
        }
    }
}

/// GIL guard: takes the GIL unless this thread already holds it through us.
struct Gil {
    acquired: bool,
    t: &'static Tls,
}

impl Gil {
    #[inline]
    fn enter() -> Option<Gil> {
        Gil::enter_t(tls())
    }

    /// `enter` with this thread's state at hand.
    #[inline]
    fn enter_t(t: &'static Tls) -> Option<Gil> {
        if !ALIVE.load(Ordering::Acquire) {
            set_error("PythonNotAlive", "Python is not running: call pystart first (or it was stopped by pystop)", "");
            return None;
        }
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
        if t.info.get().is_null() {
            t.info.set(interrupts::register());
            fpenv::mask_x87();
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

/// What a runtime call returns, and how to drop it when the call must fail after all (a
/// Lisp callback inside made a non-local exit and Python swallowed the exception).
trait CallResult {
    /// Releases what the value owns (a new reference).
    fn discard(self);
}

impl CallResult for Obj {
    fn discard(self) {
        if !self.is_null() {
            unsafe { ffi::Py_DECREF(self) };
        }
    }
}

macro_rules! plain_call_result {
    ($($t:ty),*) => { $(impl CallResult for $t { fn discard(self) {} })* };
}
// (classified results, TAG_*: their object is dropped where it is delivered, see
// `call::deliver`)
plain_call_result!((), bool, c_int, i64);

/// Runs `f` with the GIL, catching panics; `fail` is returned on any failure.
#[inline]
fn with_gil<R: CallResult + Copy>(fail: R, f: impl FnOnce() -> Option<R>) -> R {
    with_gil_t(fail, |_| f())
}

/// `with_gil`, passing this thread's state to `f` (saves a TLS lookup on hot paths).
/// Python runs in its own floating-point environment (every trap masked); the caller's
/// is restored before returning (inside a per-scope switch, `Tls::fp_scope`, neither: it
/// is in force already). When a Lisp callback inside made a non-local exit, the call fails
/// with "pymodgen.LispUnwind" whatever Python did with the exception.
#[inline]
fn with_gil_t<R: CallResult + Copy>(fail: R, f: impl FnOnce(&'static Tls) -> Option<R>) -> R {
    if dedicated::active() {
        return dedicated::ship(fail, move || with_gil_t(fail, f));
    }
    let t = tls();
    let fp = if t.fp_scope.get() { PyFpEnv::in_scope(t.lisp_fp.get()) } else { PyFpEnv::enter_t(t) };
    let Some(g) = Gil::enter_t(t) else { return fail };
    let lisp_fp = t.lisp_fp.replace(fp.saved());
    let inside = t.in_python.get();
    interrupts::set_in_python(t, inside + 1);
    let r = match catch_unwind(AssertUnwindSafe(|| f(t))) {
        Ok(r) => r,
        Err(_) => {
            set_error("RustPanic", "internal error in the pymodgen runtime", "");
            None
        }
    };
    interrupts::set_in_python(t, inside);
    t.lisp_fp.set(lisp_fp);
    if interrupts::TRIPPED.load(Ordering::Relaxed) {
        interrupts::clear_trip();
    }
    if t.unwind_at.get() == t.depth.get() {
        // Python swallowed the LispUnwind exception and returned: the call fails anyway
        // (the exit resumes in Lisp), its result is dropped (still holding the GIL).
        t.unwind_at.set(0);
        if let Some(v) = r {
            v.discard();
        }
        set_error("pymodgen.LispUnwind", UNWIND_MESSAGE, "");
        return fail;
    }
    drop(g);
    drop(fp);
    r.unwrap_or(fail)
}

/// The message of the Python exception that carries a Lisp non-local exit through
/// Python's frames.
const UNWIND_MESSAGE: &str = "a non-local exit from a Lisp callback is unwinding through Python";

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
