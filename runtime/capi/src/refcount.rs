//! Reference counting: increments, decrements, the GIL-free deferred decref queue
//! (Lisp finalizers) and its flush.

use super::*;

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
