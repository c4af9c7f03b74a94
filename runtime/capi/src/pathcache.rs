//! A cache for callables named by a dotted path (`pycall "str"`, `pycall "numpy.sum"`),
//! kept valid by dictionary version tags, as CPython's own `LOAD_GLOBAL` cache is.
//!
//! `pmg_call_path` resolves its path at every call, so that redefinitions are seen: two
//! dict lookups for `str` (`__main__`, then builtins), a `sys.modules` lookup and a module
//! getattr per further part for `numpy.linalg.norm`. Every dict carries a version tag
//! (PEP 509) that changes with every change of the dict. A cache records, when the path was
//! resolved by plain dict lookups only, each dict it consulted (hits and misses: `str` is
//! cached as "not in `__main__` at version v1, found in builtins at version v2") and the
//! modules it went through; while none of those versions changed and the modules are still
//! plain modules, the lookups would give the same answer, so the cached callable is that
//! answer. Anything else is resolved as before and not cached: a submodule imported on
//! demand, an import, a module `__getattr__`, a name starting with `__` (attributes of the
//! module type come first there), an object that is not a module (a class: its attribute
//! lookup goes through the type's MRO and descriptors), a path of more than
//! [`MAX_PARTS`] parts.
//!
//! Python 3.12 deprecates the version tags (PEP 699) and 3.14 removes them: there the cache
//! is off and every call resolves its path.

use super::*;

/// Longest path cached.
pub(super) const MAX_PARTS: usize = 4;
const MAX_DICTS: usize = MAX_PARTS + 2;

/// One cache, owned by the caller (a Lisp name-cell). Zeroed: empty. Every object in it is
/// a strong reference; the cache is only touched with the GIL held.
#[repr(C)]
pub struct PmgPathCache {
    callable: Obj,
    ndicts: usize,
    dicts: [Obj; MAX_DICTS],
    versions: [u64; MAX_DICTS],
    nmodules: usize,
    modules: [Obj; MAX_PARTS],
}

/// A new, empty cache (no GIL needed). It lives as long as the process: a caller drops it
/// by forgetting it (a start generation ends it; the few references it holds stay).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_path_cache_new() -> *mut PmgPathCache {
    Box::into_raw(Box::new(PmgPathCache {
        callable: null_mut(),
        ndicts: 0,
        dicts: [null_mut(); MAX_DICTS],
        versions: [0; MAX_DICTS],
        nmodules: 0,
        modules: [null_mut(); MAX_PARTS],
    }))
}

#[cfg(not(Py_3_12))]
#[inline(always)]
unsafe fn version(dict: Obj) -> Option<u64> {
    Some(unsafe { (*(dict as *mut ffi::PyDictObject)).ma_version_tag })
}

#[cfg(Py_3_12)]
#[inline(always)]
unsafe fn version(_dict: Obj) -> Option<u64> {
    None
}

/// What a resolution consulted, while it can still be cached.
pub(super) struct Recorder {
    ok: bool,
    ndicts: usize,
    dicts: [(Obj, u64); MAX_DICTS],
    nmodules: usize,
    modules: [Obj; MAX_PARTS],
}

impl Recorder {
    pub(super) fn new(npath: i64) -> Recorder {
        Recorder {
            ok: npath > 0 && npath as usize <= MAX_PARTS,
            ndicts: 0,
            dicts: [(null_mut(), 0); MAX_DICTS],
            nmodules: 0,
            modules: [null_mut(); MAX_PARTS],
        }
    }

    /// The path can't be cached (this time).
    #[inline]
    pub(super) fn refuse(&mut self) {
        self.ok = false;
    }

    /// `dict` (borrowed) was looked up; its answer depends on its contents.
    pub(super) fn dict(&mut self, dict: Obj) {
        if !self.ok || dict.is_null() || self.ndicts == MAX_DICTS {
            self.ok = false;
            return;
        }
        match unsafe { version(dict) } {
            Some(v) => {
                self.dicts[self.ndicts] = (dict, v);
                self.ndicts += 1;
            }
            None => self.ok = false,
        }
    }

    /// Attribute `name` of `object` (borrowed) was read, giving `value`: cacheable when
    /// `object` is a plain module that has `name` in its dict (the version of which is
    /// recorded).
    pub(super) unsafe fn attribute(&mut self, object: Obj, name: Obj, value: Obj) {
        if !self.ok {
            return;
        }
        unsafe {
            if ffi::Py_TYPE(object) != (&raw mut ffi::PyModule_Type) || dunder(name) || self.nmodules == MAX_PARTS {
                self.ok = false;
                return;
            }
            let dict = ffi::PyModule_GetDict(object);
            if dict.is_null() || ffi::PyDict_GetItemWithError(dict, name) != value {
                // (a module __getattr__ made it; no error can be set by an str key lookup
                // of an exact dict, but clear one rather than leave it)
                ffi::PyErr_Clear();
                self.ok = false;
                return;
            }
            self.modules[self.nmodules] = object;
            self.nmodules += 1;
            self.dict(dict);
        }
    }
}

/// `name` starts with two underscores (attributes of the module type: `__dict__`, ...).
unsafe fn dunder(name: Obj) -> bool {
    unsafe {
        ffi::PyUnicode_GET_LENGTH(name) >= 2
            && ffi::PyUnicode_ReadChar(name, 0) == '_' as u32
            && ffi::PyUnicode_ReadChar(name, 1) == '_' as u32
    }
}

/// The cached callable (new reference) when `cache` is still valid.
#[inline]
pub(super) unsafe fn lookup(cache: *mut PmgPathCache) -> Option<Obj> {
    let c = unsafe { &*cache };
    if c.callable.is_null() {
        return None;
    }
    unsafe {
        for k in 0..c.ndicts {
            if version(c.dicts[k]) != Some(c.versions[k]) {
                return None;
            }
        }
        for k in 0..c.nmodules {
            // (`module.__class__ = ...` changes no dict)
            if ffi::Py_TYPE(c.modules[k]) != (&raw mut ffi::PyModule_Type) {
                return None;
            }
        }
        Some(ffi::Py_NewRef(c.callable))
    }
}

/// Fills `cache` from a resolution that gave `callable` (borrowed), when it can be
/// cached; else empties it.
pub(super) unsafe fn store(cache: *mut PmgPathCache, rec: &Recorder, callable: Obj) {
    let c = unsafe { &mut *cache };
    unsafe {
        // the old references go after the new ones are taken (they may be the same objects)
        let old = (c.callable, c.ndicts, c.dicts, c.nmodules, c.modules);
        c.callable = null_mut();
        c.ndicts = 0;
        c.nmodules = 0;
        if rec.ok {
            c.callable = ffi::Py_NewRef(callable);
            for k in 0..rec.ndicts {
                c.dicts[k] = ffi::Py_NewRef(rec.dicts[k].0);
                c.versions[k] = rec.dicts[k].1;
            }
            c.ndicts = rec.ndicts;
            for k in 0..rec.nmodules {
                c.modules[k] = ffi::Py_NewRef(rec.modules[k]);
            }
            c.nmodules = rec.nmodules;
        }
        let (callable, ndicts, dicts, nmodules, modules) = old;
        for o in
            std::iter::once(callable).chain(dicts[..ndicts].iter().copied()).chain(modules[..nmodules].iter().copied())
        {
            if !o.is_null() {
                ffi::Py_DECREF(o);
            }
        }
    }
}
