//! Python -> Lisp callbacks: Python callables that call a Lisp dispatcher with a
//! handle, and the queue of handles Python has freed.

use super::*;

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
            ffi::PyErr_SetString(ffi::PyExc_RuntimeError, c"no Lisp callback dispatcher is set".as_ptr());
            return null_mut();
        }
        let f: LispCallback = std::mem::transmute(f);
        // Python holds the GIL for us here: runtime calls made by the Lisp function must
        // not take it again (or release it).
        // Lisp code runs in Lisp's floating-point environment (the one saved when Lisp
        // entered Python), Python's is put back after.
        let t = tls();
        t.depth.set(t.depth.get() + 1);
        let inside = t.in_python.get();
        interrupts::set_in_python(t, 0);
        // (inside a per-scope switch too: the scope is suspended for the Lisp code, whose
        // own calls into Python switch per call, and resumed after)
        let scope = t.fp_scope.replace(false);
        let lazy = t.fp_lazy.replace(0);
        let py_fp = FpWords::read();
        let lisp_fp = t.lisp_fp.get();
        if lisp_fp != FpWords::UNSET {
            lisp_fp.restore();
        }
        let r = dedicated::call_lisp(f, handle, args, kwargs);
        py_fp.restore();
        fpenv::mask_x87();
        t.fp_lazy.set(lazy);
        t.fp_scope.set(scope);
        interrupts::set_in_python(t, inside);
        t.depth.set(t.depth.get() - 1);
        if r.is_null() && ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_SetString(ffi::PyExc_RuntimeError, c"Lisp callback failed".as_ptr());
        }
        r
    }));
    r.unwrap_or_else(|_| {
        unsafe { ffi::PyErr_SetString(ffi::PyExc_RuntimeError, c"panic in Lisp callback trampoline".as_ptr()) };
        null_mut()
    })
}

struct SyncDef(ffi::PyMethodDef);
unsafe impl Sync for SyncDef {}

static CALLBACK_DEF: SyncDef = SyncDef(ffi::PyMethodDef {
    ml_name: c"lisp_function".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer { PyCFunctionWithKeywords: trampoline },
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
        let f = ffi::PyCFunction_NewEx(&CALLBACK_DEF.0 as *const ffi::PyMethodDef as *mut _, cap, null_mut());
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
