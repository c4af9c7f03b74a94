//! Values, Python -> Lisp: the `TAG_*` classification of an object into a
//! [`PmgValue`], for single objects, tuple/list items and dict entries.

use super::*;

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
/// The result is the object made for argument `out.i` of the call (an ARG_ARRAY: the caller
/// returns its own array).
pub const TAG_ARG: c_int = 20;

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
pub(super) unsafe fn classify(o: Obj, out: &mut PmgValue) -> c_int {
    unsafe {
        out.obj = o;
        let tag = if ffi::PyLong_CheckExact(o) != 0 || (ffi::PyLong_Check(o) != 0 && ffi::PyBool_Check(o) == 0) {
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
        let item = if ffi::PyTuple_Check(seq) != 0 && i >= 0 && i < ffi::PyTuple_GET_SIZE(seq) as i64 {
            ffi::PyTuple_GET_ITEM(seq, i as _)
        } else if ffi::PyList_Check(seq) != 0 && i >= 0 && i < ffi::PyList_GET_SIZE(seq) as i64 {
            ffi::PyList_GET_ITEM(seq, i as _)
        } else {
            set_error("IndexError", "item_classify: not a tuple/list or index out of range", "");
            return None;
        };
        Some(classify(item, &mut *out))
    })
}

/// Iterates a dict: classifies the next key and value (borrowed). `pos` starts at 0.
/// Returns 1 while there are items, 0 at the end, -1 on error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_dict_next(d: Obj, pos: *mut isize, k: *mut PmgValue, v: *mut PmgValue) -> c_int {
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
