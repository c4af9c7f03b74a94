//! Lifecycle: the built-against Python version, starting and stopping the session
//! (`pmg_initialize`, `pmg_stop`), the start generation, and the explicit GIL scopes
//! (`pmg_gil_enter`/`pmg_gil_exit`) of Lisp's `with-python-gil`.

use super::*;

/// The Python version (major.minor) this library was built against, e.g. "3.11".
#[unsafe(no_mangle)]
pub extern "C" fn pmg_built_python_version() -> *const c_char {
    concat!(env!("PYMODGEN_BUILT_PYTHON_VERSION"), "\0").as_ptr() as *const c_char
}

/// Starts (or restarts) the session. `executable` is the chosen interpreter's
/// `sys.executable` (sets `sys.prefix` and `sys.path` on first start); `home` may be NULL.
/// Returns 0, or -1 with the last error set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pmg_initialize(executable: *const c_char, home: *const c_char) -> c_int {
    if dedicated::active() {
        return dedicated::ship(-1, || unsafe { pmg_initialize(executable, home) });
    }
    let _fp = PyFpEnv::enter_eager();
    fpenv::mask_x87();
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { initialize(executable, home) }));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(msg)) => {
            set_error("PythonInitError", &msg, "");
            -1
        }
        Err(_) => {
            set_error("RustPanic", "panic while starting Python", "");
            -1
        }
    }
}

unsafe fn initialize(executable: *const c_char, home: *const c_char) -> Result<(), String> {
    if ALIVE.load(Ordering::Acquire) {
        return Ok(());
    }
    if !INITIALIZED.load(Ordering::Acquire) {
        unsafe {
            if ffi::Py_IsInitialized() == 0 {
                let mut config: ffi::PyConfig = std::mem::zeroed();
                ffi::PyConfig_InitPythonConfig(&mut config);
                config.install_signal_handlers = 0;
                config.parse_argv = 0;
                // Not even when PYTHONFAULTHANDLER asks: its handlers (SIGSEGV, SIGFPE, ...)
                // and its alternate signal stack would replace the Lisp's (helper.py refuses
                // faulthandler.enable for the same reason).
                config.faulthandler = 0;
                if !executable.is_null() {
                    let st = ffi::PyConfig_SetBytesString(&mut config, &mut config.program_name, executable);
                    if ffi::PyStatus_Exception(st) != 0 {
                        ffi::PyConfig_Clear(&mut config);
                        return Err("cannot set the interpreter's program name".into());
                    }
                }
                if !home.is_null() {
                    let st = ffi::PyConfig_SetBytesString(&mut config, &mut config.home, home);
                    if ffi::PyStatus_Exception(st) != 0 {
                        ffi::PyConfig_Clear(&mut config);
                        return Err("cannot set PYTHONHOME".into());
                    }
                }
                let st = ffi::Py_InitializeFromConfig(&config);
                ffi::PyConfig_Clear(&mut config);
                if ffi::PyStatus_Exception(st) != 0 {
                    let msg = if st.err_msg.is_null() {
                        "Py_InitializeFromConfig failed".to_string()
                    } else {
                        CStr::from_ptr(st.err_msg).to_string_lossy().into_owned()
                    };
                    return Err(msg);
                }
                INTERP.store(ffi::PyInterpreterState_Get(), Ordering::Release);
                interrupts::setup_python_sigint();
                let ts = ffi::PyEval_SaveThread();
                tls().tstate.set(ts);
            } else {
                // Someone (e.g. pyo3's auto-initialize) started it: borrow its interpreter.
                let g = ffi::PyGILState_Ensure();
                INTERP.store(ffi::PyInterpreterState_Get(), Ordering::Release);
                ffi::PyGILState_Release(g);
            }
        }
        INITIALIZED.store(true, Ordering::Release);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ALIVE.store(true, Ordering::Release);
    let ok = with_gil(false, || unsafe {
        let main = ffi::PyImport_AddModule(c"__main__".as_ptr()); // borrowed
        let main = check(main)?;
        let d = ffi::PyModule_GetDict(main);
        MAIN_DICT.store(d, Ordering::Release);
        BUILTINS_DICT.store(ffi::PyEval_GetBuiltins(), Ordering::Release);
        Some(true)
    });
    if !ok {
        ALIVE.store(false, Ordering::Release);
        return Err("cannot set up __main__".into());
    }
    Ok(())
}

/// Ends the session: clears `__main__` (keeping `__builtins__` and `__name__`), flushes
/// the decref queue, bumps the generation and refuses further calls until
/// `pmg_initialize`. Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_stop() -> c_int {
    if !ALIVE.load(Ordering::Acquire) {
        return 0;
    }
    with_gil(0, || unsafe {
        let d = MAIN_DICT.load(Ordering::Acquire);
        let code = c"import sys as _s\nfor _k in [k for k in globals() if k not in ('__builtins__','__name__','__doc__','__spec__','__loader__','__package__')]: del globals()[_k]\ndel _k\n";
        let r = ffi::PyRun_StringFlags(code.as_ptr(), ffi::Py_file_input, d, d, null_mut());
        if r.is_null() {
            ffi::PyErr_Clear();
        } else {
            ffi::Py_DECREF(r);
        }
        for t in &TYPES {
            let p = t.swap(null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                ffi::Py_DECREF(p);
            }
        }
        flush_deferred();
        Some(0)
    });
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ALIVE.store(false, Ordering::Release);
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn pmg_alive() -> c_int {
    ALIVE.load(Ordering::Acquire) as c_int
}

/// Bumped by every start and stop: cached PyObject pointers from another generation
/// must be re-resolved.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_generation() -> i64 {
    GENERATION.load(Ordering::Acquire)
}

/// Takes the GIL for the calling thread (nestable). Returns 1, or 0 with the last error.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_enter() -> c_int {
    if dedicated::active() {
        // the scope opens on the dedicated thread; this thread keeps the floor until it closes
        dedicated::hold_floor();
        let r = dedicated::ship(0, || pmg_gil_enter());
        if r == 0 {
            dedicated::drop_floor();
        }
        return r;
    }
    // (taking the GIL flushes queued decrefs: Python code, in Python's float environment)
    let _fp = PyFpEnv::enter_t(tls());
    match catch_unwind(Gil::enter) {
        Ok(Some(g)) => {
            // The guard's depth increment stays; pmg_gil_exit undoes it.
            let acquired = g.acquired;
            std::mem::forget(g);
            GIL_SCOPE_ACQ.with(|s| s.borrow_mut().push(acquired));
            1
        }
        _ => 0,
    }
}

thread_local! {
    static GIL_SCOPE_ACQ: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) };
}

/// Leaves a scope opened by `pmg_gil_enter` (releases the GIL at the outermost one).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_exit() {
    if dedicated::active() {
        dedicated::ship((), || pmg_gil_exit());
        dedicated::drop_floor();
        return;
    }
    let acquired = GIL_SCOPE_ACQ.with(|s| s.borrow_mut().pop());
    if let Some(acquired) = acquired {
        drop(Gil { acquired, t: tls() });
    }
}

/// 1 when the calling thread holds the GIL through this runtime.
#[unsafe(no_mangle)]
pub extern "C" fn pmg_gil_held() -> c_int {
    if dedicated::active() {
        return dedicated::ship(0, || pmg_gil_held());
    }
    (tls().depth.get() > 0) as c_int
}
