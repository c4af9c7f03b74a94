//! Constructors and accessors, Lisp -> Python: numbers, booleans, None, strings,
//! bytes, containers and filling them, and len/iter/next/compare.

use super::*;

#[unsafe(no_mangle)]
pub extern "C" fn pmg_long(v: i64) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyLong_FromLongLong(v)) })
}

/// An int of any size from its base-16 text (optional '-' sign, ASCII).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_long_from_hex(s: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyLong_FromString(cstr(s)?.as_ptr(), null_mut(), 16)) })
}

/// `hex(o)` for an int of any size, as a str object ("-0x..." or "0x...").
#[unsafe(no_mangle)]
pub extern "C" fn pmg_long_to_hex(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyNumber_ToBase(nonnull(o, "long_to_hex")?, 16)) })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_float(v: f64) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyFloat_FromDouble(v)) })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_complex(re: f64, im: f64) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyComplex_FromDoubles(re, im)) })
}

/// `True`/`False` (0 false, else true).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_bool(v: c_int) -> Obj {
    with_gil(null_mut(), || unsafe { Some(ffi::Py_NewRef(if v != 0 { ffi::Py_True() } else { ffi::Py_False() })) })
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_none() -> Obj {
    with_gil(null_mut(), || unsafe { Some(ffi::Py_NewRef(ffi::Py_None())) })
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
        if kind == 4 && !ucs4_valid(data, len) {
            set_error("ValueError", "str_from_kind: code point above U+10FFFF", "");
            return None;
        }
        let data = if data.is_null() { c"".as_ptr() as *const c_void } else { data };
        check(ffi::PyUnicode_FromKindAndData(kind, data, len as _))
    })
}

/// True when the `len` UCS-4 code units at `data` are all code points (<= U+10FFFF):
/// CPython's `PyUnicode_FromKindAndData` does not check, and a str holding more is invalid.
pub(super) unsafe fn ucs4_valid(data: *const c_void, len: i64) -> bool {
    if len <= 0 || data.is_null() {
        return true;
    }
    let units = unsafe { std::slice::from_raw_parts(data as *const u32, len as usize) };
    units.iter().all(|&u| u <= 0x10FFFF)
}

/// A str from UTF-8 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_str_from_utf8(data: *const c_char, len: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if len < 0 || (len > 0 && data.is_null()) {
            set_error("ValueError", "str_from_utf8: bad length or data", "");
            return None;
        }
        check(ffi::PyUnicode_FromStringAndSize(if data.is_null() { c"".as_ptr() } else { data }, len as _))
    })
}

/// An interned str from NUL-terminated UTF-8 (for names: keys of dict lookups).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_intern(s: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyUnicode_InternFromString(cstr(s)?.as_ptr())) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_bytes(data: *const c_char, len: i64) -> Obj {
    with_gil(null_mut(), || unsafe {
        if len < 0 || (len > 0 && data.is_null()) {
            set_error("ValueError", "bytes: bad length or data", "");
            return None;
        }
        check(ffi::PyBytes_FromStringAndSize(if data.is_null() { c"".as_ptr() } else { data }, len as _))
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

/// Fills a fresh container: tuple/list slot `i` = `v`; dict\[`k`\] = `v`; set add `v`.
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
    with_gil(null_mut(), || unsafe { check(ffi::PySequence_List(nonnull(o, "to_list")?)) })
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
    with_gil(null_mut(), || unsafe { check(ffi::PyObject_GetIter(nonnull(o, "iter")?)) })
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
        let r = ffi::PyObject_RichCompareBool(nonnull(a, "compare")?, nonnull(b, "compare")?, ffi::Py_EQ);
        if r < 0 {
            fetch_py_error();
            return None;
        }
        Some(r)
    })
}
