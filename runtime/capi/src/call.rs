//! Calls, the hot path: argument marshalling ([`PmgArg`]), vectorcall, classification
//! of the result, and dotted-path resolution (`pmg_call`, `pmg_call_path`,
//! `pmg_resolve`, `pmg_result`).

use super::pathcache::{self, PmgPathCache, Recorder};
use super::*;
use std::mem::MaybeUninit;

pub const ARG_BORROWED: i64 = 0;
pub const ARG_OWNED: i64 = 1;
pub const ARG_I64: i64 = 2;
pub const ARG_F64: i64 = 3;
pub const ARG_TRUE: i64 = 4;
pub const ARG_FALSE: i64 = 5;
pub const ARG_NONE: i64 = 6;
pub const ARG_STR1: i64 = 7;
pub const ARG_STR4: i64 = 8;
/// A one-dimensional array over the caller's memory, shared with numpy (no copy): `bits`
/// is the address of its `len` elements, numpy's type number is in bits 8-15 of `tag`
/// (NPY_DOUBLE = 12 ...: the types `pmg_array_over` takes). The caller keeps the memory
/// pinned for the call; a result that is this very array comes back as TAG_ARG.
pub const ARG_ARRAY: i64 = 9;

/// One argument: `tag` ARG_*; `bits` is the object pointer (BORROWED, or OWNED: the call
/// steals it), an i64, an f64's bits, or (STR1/STR4) the address of `len` characters of
/// 1 or 4 bytes each (Lisp base-strings / strings, pinned by the caller for the call), or
/// (ARG_ARRAY) the address of `len` elements of an array.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PmgArg {
    pub tag: i64,
    pub bits: u64,
    pub len: i64,
}

const INLINE: usize = 16;

/// Converts `args[0..n]` to objects in `buf[1..=n]` (slot 0 left free for
/// PY_VECTORCALL_ARGUMENTS_OFFSET). On failure, returns how many were converted (those
/// are in `buf[1..=k]`: the caller drops them); the OWNED arguments not converted have
/// been dropped and the last error is set.
#[inline(always)]
unsafe fn marshal(args: *const PmgArg, n: usize, buf: *mut Obj) -> Result<(), usize> {
    for k in 0..n {
        let a = unsafe { *args.add(k) };
        let o = unsafe {
            match a.tag {
                ARG_I64 => ffi::PyLong_FromLongLong(a.bits as i64),
                ARG_BORROWED | ARG_OWNED if a.bits != 0 => {
                    let o = a.bits as Obj;
                    if a.tag == ARG_BORROWED {
                        ffi::Py_INCREF(o);
                    }
                    o
                }
                ARG_F64 => ffi::PyFloat_FromDouble(f64::from_bits(a.bits)),
                ARG_TRUE => ffi::Py_NewRef(ffi::Py_True()),
                ARG_FALSE => ffi::Py_NewRef(ffi::Py_False()),
                ARG_NONE => ffi::Py_NewRef(ffi::Py_None()),
                _ => {
                    let converted = marshal_other(args, k, n, buf);
                    return if converted == n { Ok(()) } else { Err(converted) };
                }
            }
        };
        if o.is_null() {
            unsafe {
                fetch_py_error();
                release_owned_from(args, k + 1, n);
            }
            return Err(k);
        }
        unsafe { buf.add(k + 1).write(o) };
    }
    Ok(())
}

/// The arguments `marshal` leaves out of its hot loop: strings (STR1/STR4) and bad ones.
/// Converts `args[k]`, then the rest through `marshal`; returns how many of `args[0..n]`
/// were converted when one fails (see `marshal`), or `n`.
#[cold]
#[inline(never)]
unsafe fn marshal_other(args: *const PmgArg, k: usize, n: usize, buf: *mut Obj) -> usize {
    let a = unsafe { *args.add(k) };
    let o = unsafe {
        match a.tag {
            ARG_BORROWED | ARG_OWNED => {
                set_error("NullPointer", "call: NULL argument", "");
                release_owned_from(args, k, n);
                return k;
            }
            ARG_STR4 if a.len > 0 && a.bits != 0 && !ucs4_valid(a.bits as *const c_void, a.len) => {
                set_error("ValueError", "call: string argument with a code point above U+10FFFF", "");
                release_owned_from(args, k, n);
                return k;
            }
            ARG_STR1 | ARG_STR4 if a.len >= 0 && (a.len == 0 || a.bits != 0) => {
                let kind = if a.tag == ARG_STR1 { 1 } else { 4 };
                let data = if a.len == 0 { c"".as_ptr() as *const c_void } else { a.bits as *const c_void };
                ffi::PyUnicode_FromKindAndData(kind, data, a.len as _)
            }
            t if t & 0xFF == ARG_ARRAY => match arrays::array_arg((t >> 8) as c_int, a.bits, a.len) {
                Some(o) => o,
                None => {
                    release_owned_from(args, k + 1, n);
                    return k;
                }
            },
            _ => {
                set_error("ValueError", "call: bad argument tag", "");
                release_owned_from(args, k, n);
                return k;
            }
        }
    };
    if o.is_null() {
        unsafe {
            fetch_py_error();
            release_owned_from(args, k + 1, n);
        }
        return k;
    }
    unsafe {
        buf.add(k + 1).write(o);
        match marshal(args.add(k + 1), n - k - 1, buf.add(k + 1)) {
            Ok(()) => n,
            Err(j) => k + 1 + j,
        }
    }
}

/// Drops the OWNED references among `args[from..n]` that were never converted.
unsafe fn release_owned_from(args: *const PmgArg, from: usize, n: usize) {
    for k in from..n {
        let a = unsafe { *args.add(k) };
        if a.tag == ARG_OWNED && a.bits != 0 {
            unsafe { ffi::Py_DECREF(a.bits as Obj) };
        }
    }
}

/// Turns a call result (new reference) into `out`; the tag is returned. With `raw` the
/// object is handed over as it is (tag TAG_OTHER), else it is classified.
#[inline]
pub(super) unsafe fn result_value(r: Obj, out: &mut PmgValue, raw: bool) -> c_int {
    unsafe { deliver(r, out, raw, tls()) }
}

/// [`result_value`] with the thread's state already at hand (the call path has it).
/// A result that arrives while a Lisp non-local exit is pending at this depth (Python
/// swallowed the LispUnwind exception) is dropped here: the call fails (`with_gil_t`).
#[inline]
unsafe fn deliver(r: Obj, out: &mut PmgValue, raw: bool, t: &Tls) -> c_int {
    if t.unwind_at.get() == t.depth.get() {
        unsafe { ffi::Py_DECREF(r) };
        return TAG_ERROR;
    }
    if raw {
        out.tag = TAG_OTHER;
        out.obj = r;
        return TAG_OTHER;
    }
    unsafe { result_value_t(r, out, t) }
}

/// `result_value` with this thread's state at hand.
#[inline]
unsafe fn result_value_t(r: Obj, out: &mut PmgValue, t: &Tls) -> c_int {
    unsafe {
        let tag = classify(r, out);
        match tag {
            TAG_NONE | TAG_TRUE | TAG_FALSE | TAG_INT | TAG_FLOAT | TAG_COMPLEX => {
                ffi::Py_DECREF(r);
                out.obj = null_mut();
            }
            TAG_STR => {
                // Lisp copies the characters; the reference goes at the next call.
                let old = t.pending.replace(r);
                if !old.is_null() {
                    ffi::Py_DECREF(old);
                }
                out.obj = null_mut();
            }
            _ => {}
        }
        tag
    }
}

/// One call as the C ABI receives it: `callable(*args[..nargs], **{kwnames[j]: args[nargs + j]})`.
#[derive(Clone, Copy)]
struct Call {
    callable: Obj,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
}

impl Call {
    fn len(&self) -> usize {
        (self.nargs + self.nkw) as usize
    }
}

#[inline(always)]
unsafe fn do_call(c: Call, out: &mut PmgValue, raw: bool, t: &Tls) -> Option<c_int> {
    if c.len() >= INLINE || c.nkw > 0 {
        return unsafe { do_call_kw(c, out, raw, t) };
    }
    // Positional only, up to INLINE arguments: the hot path, on the stack, nothing zeroed.
    let mut inline = [MaybeUninit::<Obj>::uninit(); INLINE + 1];
    unsafe { call_in(inline.as_mut_ptr() as *mut Obj, c, out, raw, t) }
}

/// `do_call` with keyword arguments or more than INLINE arguments: the objects on the heap.
#[cold]
#[inline(never)]
unsafe fn do_call_kw(c: Call, out: &mut PmgValue, raw: bool, t: &Tls) -> Option<c_int> {
    let mut objs: Vec<Obj> = Vec::with_capacity(c.len() + 1);
    unsafe { call_in(objs.as_mut_ptr(), c, out, raw, t) }
}

/// The call itself, with `buf` room for `c.len() + 1` objects (uninitialized).
#[inline(always)]
unsafe fn call_in(buf: *mut Obj, c: Call, out: &mut PmgValue, raw: bool, t: &Tls) -> Option<c_int> {
    let n = c.len();
    unsafe {
        if let Err(k) = marshal(c.args, n, buf) {
            decref_all(buf.add(1), k);
            return None;
        }
        let kwtuple = if c.nkw > 0 {
            let Some(k) = kwnames_tuple(c.kwnames, c.nkw) else {
                decref_all(buf.add(1), n);
                return None;
            };
            k
        } else {
            null_mut()
        };
        let one = c.nkw == 0 && c.nargs == 1;
        let r = if one && c.callable == (&raw mut ffi::PyUnicode_Type).cast() {
            // str(x): what CPython's own PRECALL_NO_KW_STR_1 specialization does
            ffi::PyObject_Str(*buf.add(1))
        } else if one && c.callable == (&raw mut ffi::PyType_Type).cast() {
            // type(x): PRECALL_NO_KW_TYPE_1
            ffi::Py_NewRef(ffi::Py_TYPE(*buf.add(1)).cast())
        } else {
            let nargsf = c.nargs as usize | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
            ffi::PyObject_Vectorcall(c.callable, buf.add(1), nargsf, kwtuple)
        };
        decref_all(buf.add(1), n);
        if !kwtuple.is_null() {
            ffi::Py_DECREF(kwtuple);
        }
        let r = check(r)?;
        if ffi::Py_TYPE(r) == TYPES[TY_NDARRAY].load(Ordering::Relaxed).cast()
            && let Some(k) = (0..n).find(|&k| (*c.args.add(k)).tag & 0xFF == ARG_ARRAY && *buf.add(k + 1) == r)
        {
            // the array made for argument k: the caller has it (its own Lisp array)
            ffi::Py_DECREF(r);
            if t.unwind_at.get() == t.depth.get() {
                return Some(TAG_ERROR);
            }
            out.tag = TAG_ARG;
            out.i = k as i64;
            return Some(TAG_ARG);
        }
        Some(deliver(r, out, raw, t))
    }
}

/// Drops the `n` references at `objs`.
#[inline(always)]
unsafe fn decref_all(objs: *const Obj, n: usize) {
    for k in 0..n {
        unsafe { ffi::Py_DECREF(*objs.add(k)) };
    }
}

/// The tuple of the `nkw` keyword names (borrowed str objects), or None (error set).
#[cold]
unsafe fn kwnames_tuple(kwnames: *const Obj, nkw: i64) -> Option<Obj> {
    unsafe {
        let kwtuple = ffi::PyTuple_New(nkw as _);
        if kwtuple.is_null() {
            fetch_py_error();
            return None;
        }
        for j in 0..nkw as usize {
            let name = *kwnames.add(j);
            if name.is_null() || ffi::PyUnicode_Check(name) == 0 {
                ffi::Py_DECREF(kwtuple);
                set_error("TypeError", "call: keyword names must be str objects", "");
                return None;
            }
            ffi::Py_INCREF(name);
            ffi::PyTuple_SET_ITEM(kwtuple, j as _, name);
        }
        Some(kwtuple)
    }
}

fn bad_counts(nargs: i64, nkw: i64, args: *const PmgArg, kwnames: *const Obj) -> bool {
    if nargs < 0 || nkw < 0 || (nargs + nkw > 0 && args.is_null()) || (nkw > 0 && kwnames.is_null()) {
        set_error("ValueError", "call: bad argument counts or NULL arrays", "");
        return true;
    }
    false
}

/// Calls `callable(*args[0..nargs], **dict(zip(kwnames, args[nargs..nargs+nkw])))`.
/// `kwnames` are str objects (borrowed). Writes the result to `out`; returns its tag or
/// TAG_ERROR (last error set). OWNED arguments are consumed in every case. With `raw` != 0
/// the result is not classified: `out.obj` is the new reference and the tag TAG_OTHER.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_call(
    callable: Obj,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    if out.is_null() || bad_counts(nargs, nkw, args, kwnames) {
        return TAG_ERROR;
    }
    if callable.is_null() {
        set_error("NullPointer", "call: NULL callable", "");
        with_gil((), || unsafe {
            release_owned_from(args, 0, (nargs + nkw) as usize);
            Some(())
        });
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    let call = move |args: *const PmgArg, out: &mut PmgValue| {
        let call = Call { callable, args, nargs, kwnames, nkw };
        with_gil_t(TAG_ERROR, |t| unsafe { do_call(call, out, raw != 0, t) })
    };
    if dedicated::active() {
        if nkw == 0 && nargs <= 3 {
            // (what a positional call needs, in 16 bytes: with one argument, the message
            // fits its first line)
            let n_raw = nargs as u32 | ((raw != 0) as u32) << 31;
            let small = move |args: *const PmgArg, out: &mut PmgValue| {
                let call =
                    Call { callable, args, nargs: (n_raw & 0x7fff_ffff) as i64, kwnames: std::ptr::null(), nkw: 0 };
                with_gil_t(TAG_ERROR, |t| unsafe { do_call(call, out, n_raw >> 31 != 0, t) })
            };
            return unsafe { dedicated::ship_call(args, nargs as usize, out, small) };
        }
        return unsafe { dedicated::ship_call(args, (nargs + nkw) as usize, out, call) };
    }
    call(args, out)
}

/// Resolves a dotted path given as interned str objects: `path[0]` is looked up in
/// `__main__`, then builtins, then `sys.modules`, then imported; each further part is an
/// attribute (or, for a module, a submodule imported on demand). New reference. `rec`
/// notes what was consulted, for a [`pathcache`] (`Recorder::new(0)` when none).
unsafe fn resolve(path: *const Obj, npath: i64, rec: &mut Recorder) -> Option<Obj> {
    unsafe {
        if npath <= 0 || path.is_null() {
            set_error("ValueError", "resolve: empty name", "");
            return None;
        }
        let first = nonnull(*path, "resolve")?;
        let main = MAIN_DICT.load(Ordering::Acquire);
        let mut cur = ffi::PyDict_GetItemWithError(main, first);
        rec.dict(main);
        if cur.is_null() && ffi::PyErr_Occurred().is_null() {
            let builtins = BUILTINS_DICT.load(Ordering::Acquire);
            cur = ffi::PyDict_GetItemWithError(builtins, first);
            rec.dict(builtins);
        }
        let mut cur = if cur.is_null() {
            if !ffi::PyErr_Occurred().is_null() {
                fetch_py_error();
                return None;
            }
            // an imported module: sys.modules first (cheap), else import it
            let m = ffi::PyImport_GetModule(first);
            rec.dict(ffi::PyImport_GetModuleDict());
            let m = if m.is_null() && ffi::PyErr_Occurred().is_null() {
                rec.refuse();
                ffi::PyImport_Import(first)
            } else {
                m
            };
            if m.is_null() && ffi::PyErr_ExceptionMatches(ffi::PyExc_ModuleNotFoundError) != 0 {
                // `first` is neither a variable nor a module: say so as Python would.
                ffi::PyErr_Clear();
                ffi::PyErr_Format(ffi::PyExc_NameError, c"name '%U' is not defined".as_ptr(), first);
            }
            check(m)?
        } else {
            ffi::Py_NewRef(cur)
        };
        for k in 1..npath as usize {
            let name = nonnull(*path.add(k), "resolve")?;
            let next = ffi::PyObject_GetAttr(cur, name);
            if !next.is_null() {
                rec.attribute(cur, name, next);
            }
            let next = if next.is_null() && ffi::PyModule_Check(cur) != 0 {
                // maybe a submodule not imported yet
                rec.refuse();
                let saved = SavedError::take();
                let modname = ffi::PyModule_GetNameObject(cur);
                let full = if modname.is_null() {
                    null_mut()
                } else {
                    let f = ffi::PyUnicode_FromFormat(c"%U.%U".as_ptr(), modname, name);
                    ffi::Py_DECREF(modname);
                    f
                };
                let m = if full.is_null() { null_mut() } else { ffi::PyImport_Import(full) };
                if !full.is_null() {
                    ffi::Py_DECREF(full);
                }
                if m.is_null() {
                    ffi::PyErr_Clear();
                    saved.restore();
                    null_mut()
                } else {
                    ffi::Py_DECREF(m);
                    saved.discard();
                    ffi::PyObject_GetAttr(cur, name)
                }
            } else {
                next
            };
            ffi::Py_DECREF(cur);
            cur = check(next)?;
        }
        Some(cur)
    }
}

/// `resolve` as a function: new reference to the value of the dotted path, or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_resolve(path: *const Obj, npath: i64) -> Obj {
    with_gil(null_mut(), || unsafe { resolve(path, npath, &mut Recorder::new(0)) })
}

/// `pmg_call` on the callable named by a dotted path (see `pmg_resolve`), resolved at
/// each call (so redefinitions in `__main__` are seen).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_call_path(
    path: *const Obj,
    npath: i64,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    unsafe { pmg_call_path_cached(null_mut(), path, npath, args, nargs, kwnames, nkw, out, raw) }
}

/// `pmg_call_path` with a cache of the resolution (`pmg_path_cache_new`; NULL: none): the
/// callable is resolved again only when a dict the resolution read has changed since (see
/// `pathcache`), so the call sees every redefinition as `pmg_call_path` does. One cache per
/// path, used with that path only.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pmg_call_path_cached(
    cache: *mut PmgPathCache,
    path: *const Obj,
    npath: i64,
    args: *const PmgArg,
    nargs: i64,
    kwnames: *const Obj,
    nkw: i64,
    out: *mut PmgValue,
    raw: c_int,
) -> c_int {
    if out.is_null() || bad_counts(nargs, nkw, args, kwnames) {
        return TAG_ERROR;
    }
    let out = unsafe { &mut *out };
    out.tag = TAG_ERROR;
    let call = move |args: *const PmgArg, out: &mut PmgValue| {
        with_gil_t(TAG_ERROR, |t| unsafe {
            let cached = if cache.is_null() { None } else { pathcache::lookup(cache) };
            let callable = match cached {
                Some(c) => c,
                None => {
                    let mut rec = Recorder::new(if cache.is_null() { 0 } else { npath });
                    let Some(c) = resolve(path, npath, &mut rec) else {
                        release_owned_from(args, 0, (nargs + nkw) as usize);
                        return None;
                    };
                    if !cache.is_null() {
                        pathcache::store(cache, &rec, c);
                    }
                    c
                }
            };
            let r = do_call(Call { callable, args, nargs, kwnames, nkw }, out, raw != 0, t);
            ffi::Py_DECREF(callable);
            r
        })
    };
    if dedicated::active() {
        return unsafe { dedicated::ship_call(args, (nargs + nkw) as usize, out, call) };
    }
    call(args, out)
}

/// Takes ownership of `o` (a new reference) and returns it classified as a call result
/// (see [`PmgValue`]). For results of the other object functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_result(o: Obj, out: *mut PmgValue) -> c_int {
    if out.is_null() || o.is_null() {
        set_error("NullPointer", "result: NULL pointer", "");
        return TAG_ERROR;
    }
    with_gil(TAG_ERROR, || unsafe { Some(result_value(o, &mut *out, false)) })
}
