//! Errors: reading and clearing the thread-local last error, and raising a Python
//! exception from a Lisp callback.

use super::*;

/// Part of the calling thread's last error: 0 type name, 1 message, 2 traceback text, 3 the
/// names of the classes of the exception type's `__mro__` (the type first, `object` left
/// out, one per line, each named as part 0 names the type; "" for an error the runtime made
/// itself) (UTF-8, NUL-terminated, valid until the next error on this thread); NULL if none.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_error_part(i: c_int) -> *const c_char {
    LAST_ERROR.with(|e| match (&*e.borrow(), i) {
        (Some(err), 0..=3) => err.parts[i as usize].as_ptr(),
        _ => ptr::null(),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_error_clear() {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
}

/// Sets a Python exception (used by Lisp callbacks): `kind` 0 RuntimeError, 1 TypeError,
/// 2 AttributeError, 3 KeyError, 4 `pymodgen.LispUnwind`, 5 RecursionError (a callback
/// refused because the Lisp control stack is nearly exhausted); `msg` UTF-8. Requires the
/// GIL (callbacks hold it).
///
/// Kind 4 is a Lisp non-local exit (throw, return-from, a handler or restart outside)
/// stopped at the callback boundary: the exception (a BaseException, so that `except
/// Exception` lets it through) unwinds Python's frames, and the runtime call that ran
/// this Python code fails with type "pymodgen.LispUnwind" even if Python swallowed it,
/// so that the Lisp side resumes the exit from the frame that made the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_set_python_error(kind: c_int, msg: *const c_char) {
    if dedicated::active() {
        return dedicated::ship((), || unsafe { pmg_set_python_error(kind, msg) });
    }
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        let t = tls();
        let depth = t.depth.get();
        if depth == 0 {
            return;
        }
        let exc = match kind {
            1 => ffi::PyExc_TypeError,
            2 => ffi::PyExc_AttributeError,
            3 => ffi::PyExc_KeyError,
            4 => {
                // the callback runs one GIL scope deeper than the call that made it
                t.unwind_at.set(depth - 1);
                lisp_unwind_type()
            }
            5 => ffi::PyExc_RecursionError,
            _ => ffi::PyExc_RuntimeError,
        };
        let msg = if msg.is_null() { c"Lisp error".as_ptr() } else { msg };
        ffi::PyErr_SetString(exc, msg);
    }));
}

static LISP_UNWIND: AtomicPtr<ffi::PyObject> = AtomicPtr::new(null_mut());

/// The exception type `pymodgen.LispUnwind(BaseException)`, made on first use (with the
/// GIL; the interpreter is never finalized, so it stays valid).
unsafe fn lisp_unwind_type() -> Obj {
    let t = LISP_UNWIND.load(Ordering::Acquire);
    if !t.is_null() {
        return t;
    }
    unsafe {
        let t = ffi::PyErr_NewException(c"pymodgen.LispUnwind".as_ptr(), ffi::PyExc_BaseException, null_mut());
        if t.is_null() {
            ffi::PyErr_Clear();
            return ffi::PyExc_BaseException;
        }
        LISP_UNWIND.store(t, Ordering::Release);
        t
    }
}
