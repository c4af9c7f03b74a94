//! A cache for callables named by a dotted path (`pycall "str"`, `pycall "numpy.sum"`),
//! kept valid by dictionary version tags, as CPython's own `LOAD_GLOBAL` cache is.
//!
//! `pmg_call_path` resolves its path at every call, so that redefinitions are seen: two
//! dict lookups for `str` (`__main__`, then builtins), a `sys.modules` lookup and a module
//! getattr per further part for `numpy.linalg.norm`. Every dict has a version that changes
//! with every change of the dict (see [`versions`]: its PEP 509 version tag up to Python
//! 3.11, a count kept by a dict watcher from 3.12). A cache records, when the path was
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
//! Python 3.12 deprecates the version tags (PEP 699) and 3.14 removes them; from 3.12 the
//! versions come from a dict watcher (`PyDict_AddWatcher`), so the cache works on every
//! version.

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

/// A dict's version: a number that changes with every change of the dict.
/// Up to Python 3.11, its PEP 509 version tag.
#[cfg(not(Py_3_12))]
mod versions {
    use super::*;

    /// `dict`'s version now (None: it cannot be followed).
    #[inline(always)]
    pub(super) unsafe fn version(dict: Obj) -> Option<u64> {
        Some(unsafe { (*(dict as *mut ffi::PyDictObject)).ma_version_tag })
    }

    /// `dict` has not changed since it had `version`.
    #[inline(always)]
    pub(super) unsafe fn unchanged(dict: Obj, version: u64) -> bool {
        unsafe { (*(dict as *mut ffi::PyDictObject)).ma_version_tag == version }
    }
}

/// A dict's version: a number that changes with every change of the dict.
/// From Python 3.12 (which deprecates the version tags; 3.14 removes them), a count of its
/// changes kept by this library's dict watcher (`PyDict_AddWatcher`, `PyDict_Watch`):
/// each followed dict gets a slot of [`CHANGES`], which the watcher's callback bumps at
/// every change (before it is made, with the GIL held). A version is the slot and its
/// count, so checking one is one load, as with a version tag.
#[cfg(Py_3_12)]
mod versions {
    use super::*;
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::atomic::{AtomicI32, AtomicU64};

    // (cpython/dictobject.h; not declared by pyo3-ffi)
    type WatchCallback = unsafe extern "C" fn(event: c_int, dict: Obj, key: Obj, new_value: Obj) -> c_int;
    unsafe extern "C" {
        fn PyDict_AddWatcher(callback: WatchCallback) -> c_int;
    }
    /// `PyDict_EVENT_DEALLOCATED` of `PyDict_WatchEvent`.
    const EVENT_DEALLOCATED: c_int = 5;

    /// How many dicts can be followed at once (a dead dict's slot is reused).
    const SLOTS: usize = 4096;
    const COUNT_BITS: u32 = 48;
    const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

    /// Changes per slot. Only written with the GIL held (relaxed: plain loads and stores).
    static CHANGES: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
    /// This library's watcher: -2 before the first use, -1 when the interpreter had none
    /// left (nothing is followed: no path is cached).
    static WATCHER: AtomicI32 = AtomicI32::new(-2);

    /// Hashes a dict's address (already well spread but for its low bits).
    #[derive(Default)]
    struct AddressHasher(u64);

    impl Hasher for AddressHasher {
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 << 8 | *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            }
        }
        fn write_usize(&mut self, n: usize) {
            self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }

    struct Slots {
        /// The slot of each followed dict, by address.
        of: HashMap<usize, u32, BuildHasherDefault<AddressHasher>>,
        /// Slots of dicts that died.
        free: Vec<u32>,
        /// Slots never used start here.
        next: u32,
    }

    /// Taken with the GIL held, never around Python code (so never by a nested callback).
    static TABLE: Mutex<Option<Slots>> = Mutex::new(None);

    unsafe extern "C" fn changed(event: c_int, dict: Obj, _key: Obj, _new_value: Obj) -> c_int {
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slots) = table.as_mut() {
            let found = if event == EVENT_DEALLOCATED {
                slots.of.remove(&(dict as usize)).inspect(|&s| slots.free.push(s))
            } else {
                slots.of.get(&(dict as usize)).copied()
            };
            if let Some(s) = found {
                let c = &CHANGES[s as usize];
                c.store(c.load(Ordering::Relaxed).wrapping_add(1) & COUNT_MASK, Ordering::Relaxed);
            }
        }
        0
    }

    /// This library's watcher, registered on first use (None: none left).
    fn watcher() -> Option<c_int> {
        let mut w = WATCHER.load(Ordering::Relaxed);
        if w == -2 {
            w = unsafe { PyDict_AddWatcher(changed) };
            if w < 0 {
                unsafe { ffi::PyErr_Clear() };
                w = -1;
            }
            WATCHER.store(w, Ordering::Relaxed);
        }
        (w >= 0).then_some(w)
    }

    /// `dict`'s version now, following it from now on (None: it cannot be followed).
    pub(super) unsafe fn version(dict: Obj) -> Option<u64> {
        let w = watcher()?;
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let slots = table.get_or_insert_with(|| Slots { of: HashMap::default(), free: Vec::new(), next: 0 });
        let slot = match slots.of.get(&(dict as usize)) {
            Some(&s) => s,
            None => {
                let s = match slots.free.pop() {
                    Some(s) => s,
                    None if (slots.next as usize) < SLOTS => {
                        slots.next += 1;
                        slots.next - 1
                    }
                    None => return None,
                };
                if unsafe { ffi::PyDict_Watch(w, dict) } < 0 {
                    unsafe { ffi::PyErr_Clear() };
                    slots.free.push(s);
                    return None;
                }
                slots.of.insert(dict as usize, s);
                s
            }
        };
        Some((slot as u64) << COUNT_BITS | CHANGES[slot as usize].load(Ordering::Relaxed))
    }

    /// `dict` has not changed since it had `version`.
    #[inline(always)]
    pub(super) unsafe fn unchanged(_dict: Obj, version: u64) -> bool {
        CHANGES[(version >> COUNT_BITS) as usize].load(Ordering::Relaxed) == version & COUNT_MASK
    }
}

use versions::version;

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
            if !versions::unchanged(c.dicts[k], c.versions[k]) {
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
