//! numpy arrays over Lisp memory (numpy's C API when verified, else
//! `numpy.ndarray(shape, dtype, buffer)`), and reading any buffer-protocol array
//! ([`PmgArrayInfo`]).

use super::*;

/// numpy's C API table (`_ARRAY_API`), once verified by `load_numpy_api`.
pub(super) static NP_API: AtomicPtr<*mut c_void> = AtomicPtr::new(null_mut());

type DescrFromType = unsafe extern "C" fn(c_int) -> Obj;
type NewFromDescr = unsafe extern "C" fn(Obj, Obj, c_int, *const isize, *const isize, *mut c_void, c_int, Obj) -> Obj;
const NP_DESCR_FROM_TYPE: usize = 45;
const NP_NEW_FROM_DESCR: usize = 94;

fn numpy_typenum(dtype: &[u8]) -> Option<c_int> {
    Some(match dtype {
        b"f8" => 12,
        b"f4" => 11,
        b"i1" => 1,
        b"u1" => 2,
        b"i2" => 3,
        b"u2" => 4,
        b"i4" => 5,
        b"u4" => 6,
        b"i8" => 7,
        b"u8" => 8,
        b"c8" => 14,
        b"c16" => 15,
        _ => return None,
    })
}

/// The item size in bytes of a dtype `numpy_typenum` knows ("f8" -> 8, "c16" -> 16).
fn numpy_itemsize(dtype: &[u8]) -> Option<u64> {
    numpy_typenum(dtype)?;
    std::str::from_utf8(&dtype[1..]).ok()?.parse().ok()
}

/// The ndarray of an ARG_ARRAY argument (see `call::ARG_ARRAY`): `len` elements of numpy
/// type `typenum` at `data`, one-dimensional, writable, over that memory (new reference),
/// made through numpy's C API; None with the last error set.
#[cold]
pub(super) unsafe fn array_arg(typenum: c_int, data: u64, len: i64) -> Option<Obj> {
    unsafe {
        let dtype: &CStr = match typenum {
            1 => c"i1",
            2 => c"u1",
            3 => c"i2",
            4 => c"u2",
            5 => c"i4",
            6 => c"u4",
            7 => c"i8",
            8 => c"u8",
            11 => c"f4",
            12 => c"f8",
            14 => c"c8",
            15 => c"c16",
            _ => {
                set_error("ValueError", "call: bad array argument (numpy type number)", "");
                return None;
            }
        };
        if len < 0 || (len > 0 && data == 0) {
            set_error("ValueError", "call: bad array argument (length or address)", "");
            return None;
        }
        let api = NP_API.load(Ordering::Acquire);
        let ndarray = TYPES[TY_NDARRAY].load(Ordering::Acquire);
        if api.is_null() || ndarray.is_null() {
            // (numpy's C API unverified: the slower route, numpy.ndarray(shape, dtype, buffer))
            let itemsize = numpy_itemsize(dtype.to_bytes()).unwrap_or(1) as i64;
            let p = pmg_array_over(data as *mut c_void, len * itemsize, dtype.as_ptr(), 1, &len, 1);
            return if p.is_null() { None } else { Some(p) };
        }
        let descr_from_type: DescrFromType = std::mem::transmute(*api.add(NP_DESCR_FROM_TYPE));
        let new_from_descr: NewFromDescr = std::mem::transmute(*api.add(NP_NEW_FROM_DESCR));
        let d = check(descr_from_type(typenum))?;
        let dims = [len as isize];
        // (an empty array: any aligned address, never read)
        let p = if len == 0 { std::ptr::NonNull::<u64>::dangling().as_ptr().cast() } else { data as *mut c_void };
        check(new_from_descr(ndarray, d, 1, dims.as_ptr(), null_mut(), p, 0x0501, null_mut()))
    }
}

/// Finds numpy's C API and checks two of its entries on a known array; on any doubt the
/// runtime keeps using the (slower) `numpy.ndarray(shape, dtype, buffer)` route.
pub(super) unsafe fn load_numpy_api() {
    unsafe {
        let mut cap = null_mut();
        for m in [c"numpy._core._multiarray_umath", c"numpy.core._multiarray_umath"] {
            let module = ffi::PyImport_ImportModule(m.as_ptr());
            if module.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            cap = ffi::PyObject_GetAttrString(module, c"_ARRAY_API".as_ptr());
            ffi::Py_DECREF(module);
            if cap.is_null() {
                ffi::PyErr_Clear();
            } else {
                break;
            }
        }
        if cap.is_null() {
            return;
        }
        let api = ffi::PyCapsule_GetPointer(cap, null_mut()) as *mut *mut c_void;
        ffi::Py_DECREF(cap);
        if api.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        // verify: a float64 array of shape (2,) over [1.5, 2.5] must sum to 4.0
        let descr_from_type: DescrFromType = std::mem::transmute(*api.add(NP_DESCR_FROM_TYPE));
        let new_from_descr: NewFromDescr = std::mem::transmute(*api.add(NP_NEW_FROM_DESCR));
        let ndarray = TYPES[TY_NDARRAY].load(Ordering::Acquire);
        if ndarray.is_null() {
            return;
        }
        let d = descr_from_type(12);
        if d.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let mut data = [1.5f64, 2.5f64];
        let dims = [2isize];
        let a = new_from_descr(ndarray, d, 1, dims.as_ptr(), null_mut(), data.as_mut_ptr().cast(), 0x0501, null_mut());
        if a.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let ok = ffi::PyObject_TypeCheck(a, ndarray.cast()) != 0 && {
            let sum = ffi::PyObject_CallMethod(a, c"sum".as_ptr(), null_mut());
            let v = if sum.is_null() { -1.0 } else { ffi::PyFloat_AsDouble(sum) };
            if !sum.is_null() {
                ffi::Py_DECREF(sum);
            }
            ffi::PyErr_Clear();
            v == 4.0
        };
        ffi::Py_DECREF(a);
        if ok {
            NP_API.store(api, Ordering::Release);
        }
    }
}

/// A numpy array (or, without numpy, a memoryview) over `nbytes` at `data`, no copy:
/// `numpy.ndarray(shape, dtype, buffer=memoryview)`. `dtype` a numpy dtype string
/// ("f8", "i4", "c16" ...). The memory must stay valid (pinned) while Python uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_array_over(
    data: *mut c_void,
    nbytes: i64,
    dtype: *const c_char,
    ndim: i64,
    shape: *const i64,
    writable: c_int,
) -> Obj {
    with_gil(null_mut(), || unsafe {
        let ndarray = TYPES[TY_NDARRAY].load(Ordering::Acquire);
        if ndarray.is_null() {
            set_error("ImportError", "numpy is not available (numpy.ndarray not registered)", "");
            return None;
        }
        if nbytes < 0 || !(0..=32).contains(&ndim) || (ndim > 0 && shape.is_null()) {
            set_error("ValueError", "array_over: bad size, rank or shape", "");
            return None;
        }
        let dtype = cstr(dtype)?;
        // The view must lie within the memory: numpy's C API takes the shape on trust.
        if let Some(itemsize) = numpy_itemsize(dtype.to_bytes()) {
            let dims = if ndim == 0 { &[][..] } else { std::slice::from_raw_parts(shape, ndim as usize) };
            let need = dims.iter().try_fold(itemsize, |acc, &d| if d < 0 { None } else { acc.checked_mul(d as u64) });
            match need {
                Some(need) if need <= nbytes as u64 => {}
                _ => {
                    let msg = format!("array_over: shape {dims:?} of {dtype:?} does not fit in {nbytes} bytes");
                    set_error("ValueError", &msg, "");
                    return None;
                }
            }
        }
        let api = NP_API.load(Ordering::Acquire);
        if let (false, Some(typenum), false, true) =
            (api.is_null(), numpy_typenum(dtype.to_bytes()), data.is_null(), nbytes > 0)
        {
            {
                let descr_from_type: DescrFromType = std::mem::transmute(*api.add(NP_DESCR_FROM_TYPE));
                let new_from_descr: NewFromDescr = std::mem::transmute(*api.add(NP_NEW_FROM_DESCR));
                let d = check(descr_from_type(typenum))?;
                let flags = if writable != 0 { 0x0501 } else { 0x0101 };
                // dims: i64 == npy_intp on 64-bit targets
                return check(new_from_descr(
                    ndarray,
                    d,
                    ndim as c_int,
                    shape as *const isize,
                    null_mut(),
                    data,
                    flags,
                    null_mut(),
                ));
            }
        }
        // memoryview over the memory (a 1-byte dummy for empty arrays: NULL is refused)
        let mut dummy = 0u8;
        let base =
            if data.is_null() || nbytes == 0 { &mut dummy as *mut u8 as *mut c_char } else { data as *mut c_char };
        let flags = if writable != 0 { 0x200 } else { 0x100 }; // PyBUF_WRITE / PyBUF_READ
        let mv = check(ffi::PyMemoryView_FromMemory(base, nbytes as _, flags))?;
        let shp = ffi::PyTuple_New(ndim as _);
        if shp.is_null() {
            ffi::Py_DECREF(mv);
            fetch_py_error();
            return None;
        }
        for k in 0..ndim as usize {
            ffi::PyTuple_SET_ITEM(shp, k as _, ffi::PyLong_FromLongLong(*shape.add(k)));
        }
        let dt = ffi::PyUnicode_FromString(dtype.as_ptr());
        let mut argv = [null_mut(), shp, dt, mv];
        let r = ffi::PyObject_Vectorcall(
            ndarray,
            argv.as_mut_ptr().add(1),
            3 | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
            null_mut(),
        );
        ffi::Py_DECREF(shp);
        if !dt.is_null() {
            ffi::Py_DECREF(dt);
        }
        ffi::Py_DECREF(mv);
        check(r)
    })
}

/// What Lisp needs to copy an array out: data pointer, element format (buffer-protocol
/// struct code, e.g. "d", "f", "q", "B", "?", "Zd"), item size, rank, shape, strides
/// (bytes), and `holder`, a new reference keeping the data alive (decref it when done).
#[repr(C)]
pub struct PmgArrayInfo {
    pub holder: Obj,
    pub data: *mut c_void,
    pub itemsize: i64,
    pub ndim: i64,
    pub format: [c_char; 16],
    pub shape: [i64; 32],
    pub strides: [i64; 32],
    pub readonly: i64,
}

/// Fills `info` for any object with the buffer protocol (numpy arrays). With
/// `contiguous` != 0 the data is C-contiguous (a contiguous copy is made with
/// `numpy.ascontiguousarray` when needed). 0 or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_array_info(o: Obj, contiguous: c_int, info: *mut PmgArrayInfo) -> c_int {
    if info.is_null() {
        set_error("NullPointer", "array_info: NULL info", "");
        return -1;
    }
    with_gil(-1, || unsafe {
        let o = nonnull(o, "array_info")?;
        let info = &mut *info;
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        let flags = if contiguous != 0 { ffi::PyBUF_C_CONTIGUOUS | ffi::PyBUF_FORMAT } else { ffi::PyBUF_RECORDS_RO };
        let mut holder = ffi::Py_NewRef(o);
        if ffi::PyObject_GetBuffer(holder, &mut view, flags) < 0 {
            ffi::PyErr_Clear();
            // not contiguous (or not a buffer): ask numpy for a C-contiguous copy
            let np = ffi::PyImport_ImportModule(c"numpy".as_ptr());
            let f =
                if np.is_null() { null_mut() } else { ffi::PyObject_GetAttrString(np, c"ascontiguousarray".as_ptr()) };
            if !np.is_null() {
                ffi::Py_DECREF(np);
            }
            let c = if f.is_null() { null_mut() } else { ffi::PyObject_CallOneArg(f, o) };
            if !f.is_null() {
                ffi::Py_DECREF(f);
            }
            ffi::Py_DECREF(holder);
            holder = check(c)?;
            if ffi::PyObject_GetBuffer(holder, &mut view, flags) < 0 {
                ffi::Py_DECREF(holder);
                fetch_py_error();
                return None;
            }
        }
        if view.ndim > 32 {
            ffi::PyBuffer_Release(&mut view);
            ffi::Py_DECREF(holder);
            set_error("ValueError", "array_info: rank above 32", "");
            return None;
        }
        info.holder = holder;
        info.data = view.buf;
        info.itemsize = view.itemsize as i64;
        info.ndim = view.ndim as i64;
        info.readonly = view.readonly as i64;
        info.format = [0; 16];
        let fmt = if view.format.is_null() { c"B" } else { CStr::from_ptr(view.format) };
        for (k, b) in fmt.to_bytes().iter().take(15).enumerate() {
            info.format[k] = *b as c_char;
        }
        for k in 0..view.ndim as usize {
            info.shape[k] = *view.shape.add(k) as i64;
            info.strides[k] = if view.strides.is_null() { 0 } else { *view.strides.add(k) as i64 };
        }
        ffi::PyBuffer_Release(&mut view);
        Some(0)
    })
}
