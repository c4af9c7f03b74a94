//! Errors: reading and clearing the thread-local last error, and raising a Python
//! exception from a Lisp callback.

use super::*;

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
        let msg = if msg.is_null() { c"Lisp error".as_ptr() } else { msg };
        ffi::PyErr_SetString(exc, msg);
    }));
}
