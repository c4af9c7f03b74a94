//! Linking a program with the interpreter's libpython: [`link_python`], the one line a
//! binary's `build.rs` adds.
//!
//! ```no_run
//! // build.rs ([build-dependencies] pymodgen = { version = "0.1", default-features = false })
//! fn main() {
//!     pymodgen::link_python().unwrap_or_else(|e| panic!("pymodgen: {e}"));
//! }
//! ```
//!
//! # Why a program needs it
//! pyo3 links libpython by its soname (`libpython3.11.so.1.0`), and the dynamic loader
//! resolves a soname through `LD_LIBRARY_PATH`, the executable's rpath, then the system
//! directories. An interpreter outside them (pyenv, a relocated build) is only found
//! through an rpath; without one the loader takes a distribution libpython of the same
//! soname if there is one (on Debian `/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0`,
//! 3.11.2 beside pyenv's 3.11.7), and the bindings' calls return a `RuntimeError` naming
//! both versions.
//!
//! # Why a library cannot do it for its dependents
//! The rpath is a linker argument of the final executable, and cargo passes a build
//! script's `cargo:rustc-link-arg` only to the targets of the package that printed it
//! (its binaries, tests, examples, benchmarks), never to dependents; only `-l`/`-L`
//! (`rustc-link-lib`, `rustc-link-search`) propagate, and neither sets an rpath.
//! `links` metadata (`DEP_PYMODGEN_RUNTIME_LIB_DIR`) reaches only the build scripts of
//! *direct* dependents, which must still print the line themselves. Loading the right
//! libpython at run time is too late: the executable's `DT_NEEDED` entry is resolved
//! before any Rust code runs. So pymodgen-runtime and every generated crate link their own
//! tests, examples and benchmarks with the rpath, and a binary that uses them calls
//! [`link_python`] from its `build.rs` (a `Builder` build script already does).

// The example is a whole build.rs: its `fn main` is what a user writes.
#![allow(clippy::needless_doctest_main)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wait_timeout::ChildExt;

use crate::python::{self, Interpreter};
use crate::{Error, Result, Tracked};

/// Prints, for a build script, the lines that link the package's binaries, tests and
/// examples with the libpython of the interpreter pymodgen picks (see the crate docs,
/// "Finding Python"):
/// `cargo:rustc-link-arg=-Wl,-rpath,<LIBDIR>` (when the interpreter has a shared libpython and
/// the target is not Windows), `cargo:rerun-if-env-changed=` for each variable the search
/// read, `cargo:rerun-if-changed=` for the interpreter and, on ELF targets,
/// `cargo:rustc-link-arg=-Wl,--wrap=Py_InitializeEx`: the program then starts that
/// interpreter (its virtual environment included, active or not) when pyo3 first needs
/// Python, or the one `PYMODGEN_PYTHON` names at run time (see the book, "Choosing the
/// interpreter and environments": "Which Python a program runs").
///
/// The error is one line: no interpreter found, or the one found could not be run.
pub fn link_python() -> Result<Libpython> {
    let lib = libpython(None)?;
    for line in lib.cargo_lines() {
        println!("{line}");
    }
    Ok(lib)
}

/// Where an interpreter's libpython is, as found by [`libpython`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Libpython {
    /// The interpreter asked.
    pub interpreter: Interpreter,
    /// Its version (`"3.11.7"`).
    pub version: String,
    /// The directory of its shared libpython (sysconfig `LIBDIR`), `None` if it has none
    /// (a statically linked interpreter: nothing to find at run time).
    pub lib_dir: Option<PathBuf>,
    /// The environment variables read and files looked at.
    pub tracked: Tracked,
}

impl Libpython {
    /// The cargo directives [`link_python`] prints.
    pub fn cargo_lines(&self) -> Vec<String> {
        let mut lines = self.tracked.rerun_if_lines();
        let windows = std::env::var_os("CARGO_CFG_TARGET_FAMILY").is_some_and(|f| f == "windows");
        if let Some(dir) = self.lib_dir.as_ref().filter(|_| !windows) {
            lines.push(format!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display()));
        }
        lines.extend(start_line());
        lines
    }
}

/// `cargo:rustc-link-arg=-Wl,--wrap=Py_InitializeEx` where the linker has `--wrap` (ELF
/// targets: the build script's target, else this host): pyo3's `Py_InitializeEx` then calls
/// pymodgen-runtime's, which starts the interpreter the program was built for (its
/// environment's `sys.prefix` and `sys.path`, without `PATH` or `VIRTUAL_ENV` at run time),
/// or the one `PYMODGEN_PYTHON` names at run time.
pub(crate) fn start_line() -> Option<String> {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_else(|_| std::env::consts::OS.to_owned());
    matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos" | "solaris")
        .then(|| "cargo:rustc-link-arg=-Wl,--wrap=Py_InitializeEx".to_owned())
}

/// Asks the interpreter `python` (else the one found as in the crate docs) where its shared
/// libpython is. Prints nothing.
pub fn libpython(python: Option<&Path>) -> Result<Libpython> {
    let mut tracked = Tracked::default();
    let interpreter = python::find(python, &mut tracked)?;
    tracked.file(&interpreter.path);
    let limit = python::timeout(None, &mut tracked);
    let text = run(&interpreter, limit)?;
    let bad = |reason: String| Error::PythonUnusable { path: interpreter.path.clone(), reason };
    let mut lines = text.lines();
    let (Some(version), Some(libdir), Some(soname)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(bad(format!("unexpected answer to the libpython query: {text:?}")));
    };
    let lib_dir = (!libdir.is_empty() && !soname.is_empty() && Path::new(libdir).join(soname).exists())
        .then(|| PathBuf::from(libdir));
    Ok(Libpython { version: version.to_owned(), lib_dir, tracked, interpreter })
}

/// Python's version, `LIBDIR` and `INSTSONAME`, one a line, written to the file `argv[1]` (not
/// stdout: a `sitecustomize` that prints must not corrupt the answer).
const QUERY: &str = r#"import platform, sys, sysconfig
v = lambda n: str(sysconfig.get_config_var(n) or "")
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("\n".join([platform.python_version(), v("LIBDIR"), v("INSTSONAME") if v("Py_ENABLE_SHARED") == "1" else ""]) + "\n")
"#;

fn run(interpreter: &Interpreter, limit: std::time::Duration) -> Result<String> {
    let unusable = |reason: String| Error::PythonUnusable { path: interpreter.path.clone(), reason };
    let dir = tempfile::Builder::new()
        .prefix("pymodgen-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
    let answer = dir.path().join("libpython.txt");
    let mut child = Command::new(&interpreter.path)
        .arg("-c")
        .arg(QUERY)
        .arg(&answer)
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| unusable(format!("cannot start it: {e}")))?;
    let status = match child.wait_timeout(limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(unusable(format!("asking for its libpython took more than {} s", limit.as_secs())));
        }
        Err(e) => return Err(Error::io("waiting for", &interpreter.path, e)),
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    match std::fs::read_to_string(&answer) {
        Ok(text) if status.success() => Ok(text),
        _ => {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            Err(unusable(format!("{status} while asking for its libpython: {}", last.trim())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shared_libpython_of_a_real_interpreter() {
        let lib = libpython(None).unwrap();
        assert!(lib.version.starts_with("3."), "{lib:?}");
        let lines = lib.cargo_lines();
        assert!(lines.contains(&"cargo:rerun-if-env-changed=PYO3_PYTHON".to_owned()), "{lines:?}");
        #[cfg(target_os = "linux")]
        assert_eq!(lines.last().unwrap(), "cargo:rustc-link-arg=-Wl,--wrap=Py_InitializeEx");
        if let Some(dir) = &lib.lib_dir {
            assert!(dir.is_absolute(), "{dir:?}");
            assert!(lines.contains(&format!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display())), "{lines:?}");
        }
    }

    #[test]
    fn a_missing_interpreter_is_a_one_line_error() {
        let err = libpython(Some(Path::new("/nonexistent/python3"))).unwrap_err().to_string();
        assert!(err.starts_with("no Python interpreter found (tried --python /nonexistent/python3"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
