//! `PyInit__capi`: the pymodgen wheel installs this library as `pymodgen/_capi<EXT_SUFFIX>`
//! (maturin builds it as it builds an extension module, for one CPython version), so Python's
//! import system can find it. It is no Python module: importing it raises ImportError saying
//! what it is, rather than failing for want of an init function.

use pyo3::ffi;

#[unsafe(no_mangle)]
#[allow(non_snake_case)]
pub extern "C" fn PyInit__capi() -> *mut ffi::PyObject {
    // Called by the import system, which holds the GIL.
    unsafe {
        ffi::PyErr_SetString(
            ffi::PyExc_ImportError,
            c"pymodgen._capi is the C ABI library of pymodgen's Common Lisp runtime, not a Python module".as_ptr(),
        );
    }
    std::ptr::null_mut()
}
