//! Starting the interpreter a program was built for.
//!
//! pyo3's `auto-initialize` starts Python with `Py_InitializeEx(0)`, which finds its prefix
//! from the first `python3` on `PATH`: a program built in a virtual environment then runs
//! without the environment's packages as soon as its `bin` is not on `PATH` (another shell,
//! a service). A program whose build.rs calls `pymodgen::link_python()` (or runs a
//! `pymodgen::Builder`) is linked with `-Wl,--wrap=Py_InitializeEx`, so that call comes here
//! instead, and Python starts as the Lisp runtime starts it: `PyConfig.program_name` is the
//! interpreter's executable, so `sys.executable`, `sys.prefix` and `sys.path` are those of
//! its environment (CPython reads the `pyvenv.cfg` beside it). The interpreter, in order:
//!
//! 1. `PYMODGEN_PYTHON` at run time (deploying elsewhere);
//! 2. the interpreter pyo3 was built against ([`BUILT_PYTHON`], what `link_python()` found
//!    too: both follow `PYO3_PYTHON`, `VIRTUAL_ENV`, `CONDA_PREFIX`, `PATH`), if it still
//!    exists;
//! 3. else Python's own search, as `Py_InitializeEx` does.
//!
//! Nothing happens when the program started Python itself: pyo3 only initializes an
//! interpreter that is not running.

use std::ffi::{CStr, CString, OsString, c_int};
use std::path::Path;

use pyo3::ffi;

/// The executable of the interpreter pyo3 was built against (its `sys.executable` at build
/// time), from pyo3's build configuration.
pub const BUILT_PYTHON: &str = env!("PYMODGEN_BUILT_PYTHON_EXECUTABLE");

/// The interpreter to start and where the choice came from: `PYMODGEN_PYTHON`, else
/// [`BUILT_PYTHON`] when it exists, else none (Python searches `PATH`).
pub fn chosen_python() -> Option<(OsString, &'static str)> {
    if let Some(value) = std::env::var_os("PYMODGEN_PYTHON").filter(|v| !v.is_empty()) {
        return Some((value, "PYMODGEN_PYTHON"));
    }
    (!BUILT_PYTHON.is_empty() && Path::new(BUILT_PYTHON).is_file())
        .then(|| (OsString::from(BUILT_PYTHON), "the interpreter the program was built for"))
}

/// What `-Wl,--wrap=Py_InitializeEx` makes of pyo3's (and anyone's) `Py_InitializeEx`.
/// A failure to start is fatal, as in `Py_InitializeEx`, but with a one-line message.
///
/// # Safety
/// As `Py_InitializeEx`: called once, before any other use of Python.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_Py_InitializeEx(install_signal_handlers: c_int) {
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return;
    }
    if let Err(message) = unsafe { start(install_signal_handlers) } {
        eprintln!("pymodgen: cannot start Python: {message}");
        std::process::exit(1);
    }
}

unsafe fn start(install_signal_handlers: c_int) -> Result<(), String> {
    let chosen = chosen_python();
    if let Some((path, source)) = &chosen
        && !Path::new(path).is_file()
    {
        return Err(format!("{source} is {}, which is not a file", Path::new(path).display()));
    }
    unsafe {
        let mut config: ffi::PyConfig = std::mem::zeroed();
        ffi::PyConfig_InitPythonConfig(&mut config);
        config.install_signal_handlers = install_signal_handlers;
        config.parse_argv = 0;
        if let Some((path, source)) = &chosen {
            use std::os::unix::ffi::OsStrExt;
            let Ok(bytes) = CString::new(path.as_bytes()) else {
                ffi::PyConfig_Clear(&mut config);
                return Err(format!("{source} contains a NUL byte"));
            };
            let status = ffi::PyConfig_SetBytesString(&mut config, &mut config.program_name, bytes.as_ptr());
            if ffi::PyStatus_Exception(status) != 0 {
                ffi::PyConfig_Clear(&mut config);
                return Err(format!("cannot set the program name to {source} {}", Path::new(path).display()));
            }
        }
        let status = ffi::Py_InitializeFromConfig(&config);
        ffi::PyConfig_Clear(&mut config);
        if ffi::PyStatus_Exception(status) != 0 {
            let reason = if status.err_msg.is_null() {
                "Py_InitializeFromConfig failed".to_owned()
            } else {
                CStr::from_ptr(status.err_msg).to_string_lossy().into_owned()
            };
            return Err(match &chosen {
                Some((path, source)) => format!("{reason} (with {source} {})", Path::new(path).display()),
                None => reason,
            });
        }
    }
    Ok(())
}

/// Keeps [`__wrap_Py_InitializeEx`] in every program that uses generated bindings: the linker
/// takes a member of an archive (an rlib) only for a symbol still undefined when it reads
/// that archive, and pyo3, which calls `Py_InitializeEx`, comes after this crate.
#[inline(always)]
pub(crate) fn keep() {
    std::hint::black_box(__wrap_Py_InitializeEx as unsafe extern "C" fn(c_int));
}
