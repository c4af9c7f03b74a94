//! Capturing Python's output: nested redirections of `sys.stdout`/`sys.stderr` to an
//! `io.StringIO`.

use super::*;

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
        CAPTURES.lock().unwrap_or_else(|e| e.into_inner()).push((which, old as usize));
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
        let text =
            if buf.is_null() { null_mut() } else { ffi::PyObject_CallMethod(buf, c"getvalue".as_ptr(), null_mut()) };
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
