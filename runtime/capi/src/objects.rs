//! Object functions: import, attributes, items, str/repr, evaluating and compiling
//! source in `__main__` (with a compiled-code cache), type registration and type names.

use super::*;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_import(name: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyImport_ImportModule(cstr(name)?.as_ptr())) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_getattr(o: Obj, name: *const c_char) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyObject_GetAttrString(nonnull(o, "getattr")?, cstr(name)?.as_ptr())) })
}

/// `setattr(o, name, value)`; value borrowed. 0 or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_setattr(o: Obj, name: *const c_char, value: Obj) -> c_int {
    with_gil(-1, || unsafe {
        let r = ffi::PyObject_SetAttrString(nonnull(o, "setattr")?, cstr(name)?.as_ptr(), nonnull(value, "setattr")?);
        if r < 0 {
            fetch_py_error();
            return None;
        }
        Some(0)
    })
}

/// `o[key]`, key borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_getitem(o: Obj, key: Obj) -> Obj {
    with_gil(null_mut(), || unsafe { check(ffi::PyObject_GetItem(nonnull(o, "getitem")?, nonnull(key, "getitem")?)) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_setitem(o: Obj, key: Obj, value: Obj) -> c_int {
    with_gil(-1, || unsafe {
        if ffi::PyObject_SetItem(nonnull(o, "setitem")?, nonnull(key, "setitem")?, nonnull(value, "setitem")?) < 0 {
            fetch_py_error();
            return None;
        }
        Some(0)
    })
}

/// `str(o)` (which = 0) or `repr(o)` (which = 1) as a new str object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_str(o: Obj, which: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let o = nonnull(o, "str")?;
        check(if which == 0 { ffi::PyObject_Str(o) } else { ffi::PyObject_Repr(o) })
    })
}

/// Evaluates (`mode` 0, an expression) or executes (`mode` 1, statements) UTF-8 source in
/// `__main__`. Returns the value (None for statements).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_run(code: *const c_char, mode: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let code = cstr(code)?;
        let d = MAIN_DICT.load(Ordering::Acquire);
        let start = if mode == 0 { ffi::Py_eval_input } else { ffi::Py_file_input };
        check(ffi::PyRun_StringFlags(code.as_ptr(), start, d, d, null_mut()))
    })
}

/// Compiled code objects by source text (one map per mode), so repeated `pyeval` of the
/// same text skips the compiler. Only touched with the GIL held; bounded. The lock is never
/// held across a call into Python: compiling can release the GIL (for a SyntaxError it
/// reads the source file's line), and another thread, holding the GIL, would then wait for
/// the lock while this one waits for the GIL (found by the C ABI fuzz test: a deadlock).
static CODE_CACHE: Mutex<[Option<HashMap<Vec<u8>, usize>>; 2]> = Mutex::new([None, None]);
const CODE_CACHE_MAX: usize = 512;

unsafe fn compiled(code: &CStr, mode: c_int) -> Option<Obj> {
    unsafe {
        let slot = (mode != 0) as usize;
        {
            let cache = CODE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(&c) = cache[slot].as_ref().and_then(|map| map.get(code.to_bytes())) {
                return Some(ffi::Py_NewRef(c as Obj));
            }
        }
        let start = if mode == 0 { ffi::Py_eval_input } else { ffi::Py_file_input };
        let c = check(ffi::Py_CompileString(code.as_ptr(), c"<string>".as_ptr(), start))?;
        let dropped: Vec<usize> = {
            let mut cache = CODE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
            let map = cache[slot].get_or_insert_with(HashMap::new);
            let mut dropped: Vec<usize> =
                if map.len() >= CODE_CACHE_MAX { map.drain().map(|(_, old)| old).collect() } else { Vec::new() };
            // (another thread may have compiled the same text meanwhile: its entry goes)
            dropped.extend(map.insert(code.to_bytes().to_vec(), ffi::Py_NewRef(c) as usize));
            dropped
        };
        for old in dropped {
            ffi::Py_DECREF(old as Obj);
        }
        Some(c)
    }
}

/// Evaluates (`mode` 0) or executes (`mode` 1) UTF-8 source in `__main__` like `pmg_run`,
/// reusing the compiled code of identical source, and writes the value to `out` as
/// `pmg_call` does (`raw` != 0: unclassified new reference in `out.obj`). Returns the tag.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_eval(code: *const c_char, mode: c_int, out: *mut PmgValue, raw: c_int) -> c_int {
    if out.is_null() {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil(TAG_ERROR, || unsafe {
        let c = compiled(cstr(code)?, mode)?;
        let d = MAIN_DICT.load(Ordering::Acquire);
        let r = ffi::PyEval_EvalCode(c, d, d);
        ffi::Py_DECREF(c);
        let r = check(r)?;
        Some(result_value(r, out, raw != 0))
    })
}

/// Compiles UTF-8 source (`mode` 0 an expression, 1 statements) to a code object (new
/// reference) for `pmg_eval_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_compile(code: *const c_char, mode: c_int) -> Obj {
    with_gil(null_mut(), || unsafe {
        let start = if mode == 0 { ffi::Py_eval_input } else { ffi::Py_file_input };
        check(ffi::Py_CompileString(cstr(code)?.as_ptr(), c"<string>".as_ptr(), start))
    })
}

/// Runs a code object from `pmg_compile` in `__main__`; the value goes to `out` as for
/// `pmg_eval`. Returns the tag.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_eval_code(code: Obj, out: *mut PmgValue, raw: c_int) -> c_int {
    if out.is_null() {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    with_gil(TAG_ERROR, || unsafe {
        let code = nonnull(code, "eval_code")?;
        if ffi::PyCode_Check(code) == 0 {
            set_error("TypeError", "eval_code: not a code object", "");
            return None;
        }
        let d = MAIN_DICT.load(Ordering::Acquire);
        let r = check(ffi::PyEval_EvalCode(code, d, d))?;
        Some(result_value(r, out, raw != 0))
    })
}

/// `__main__`'s dict (new reference).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_main_dict() -> Obj {
    with_gil(null_mut(), || unsafe { Some(ffi::Py_NewRef(MAIN_DICT.load(Ordering::Acquire))) })
}

/// Registers a type the classifier recognizes: 0 fractions.Fraction, 1 numpy.ndarray,
/// 2 numpy.generic, 3 the Lisp-object proxy class. `t` borrowed (a reference is kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_register_type(slot: c_int, t: Obj) -> c_int {
    if !(0..NTYPES as c_int).contains(&slot) || t.is_null() {
        set_error("ValueError", "register_type: bad slot or NULL", "");
        return -1;
    }
    with_gil(-1, || unsafe {
        ffi::Py_INCREF(t);
        let old = TYPES[slot as usize].swap(t, Ordering::AcqRel);
        if !old.is_null() {
            ffi::Py_DECREF(old);
        }
        if slot as usize == TY_NDARRAY && NP_API.load(Ordering::Acquire).is_null() {
            load_numpy_api();
        }
        Some(0)
    })
}

/// Is `o` an instance of the registered type `slot`? 1/0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_type_name(o: Obj) -> Obj {
    with_gil(null_mut(), || unsafe {
        let o = nonnull(o, "type_name")?;
        let t = ffi::Py_TYPE(o) as Obj;
        let m = ffi::PyObject_GetAttrString(t, c"__module__".as_ptr());
        if m.is_null() {
            ffi::PyErr_Clear();
        }
        let q = check(ffi::PyObject_GetAttrString(t, c"__qualname__".as_ptr()))?;
        if m.is_null()
            || ffi::PyUnicode_Check(m) == 0
            || ffi::PyUnicode_CompareWithASCIIString(m, c"builtins".as_ptr()) == 0
        {
            if !m.is_null() {
                ffi::Py_DECREF(m);
            }
            return Some(q);
        }
        let f = ffi::PyUnicode_FromFormat(c"%U.%U".as_ptr(), m, q);
        ffi::Py_DECREF(m);
        ffi::Py_DECREF(q);
        check(f)
    })
}
