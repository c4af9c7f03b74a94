//! Finding the Python interpreter and running pymodgen's scripts in it.
//!
//! Modules are only ever imported in a separate interpreter process: a module pymodgen has
//! never seen is never executed in the pymodgen process (or in rustc, for the macro).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::track::Tracked;
use crate::{Error, Result};

/// The introspection script: `module_hash.py` (the hash, shared with the Lisp runtime),
/// `stubtypes.py` and `stubs.py` (types from annotations and stubs), then `introspect.py`,
/// run as `python - ARGS` with the script on stdin (from a file): Linux caps one argument
/// at 128 KiB, and this script is most of that already, so it is never passed as `-c`.
pub(crate) const SCRIPT: &str = concat!(
    include_str!("module_hash.py"),
    "\n",
    include_str!("stubtypes.py"),
    "\n",
    include_str!("stubs.py"),
    "\n",
    include_str!("introspect.py")
);

/// Default time limit of one script run, in seconds (`PYMODGEN_TIMEOUT` overrides it).
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// A Python interpreter chosen by [`find`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// The command pymodgen runs (as given or found on `PATH`).
    pub path: PathBuf,
    /// Where it came from, for messages: `--python`, `PYMODGEN_PYTHON`, `PATH`, ...
    pub source: String,
    /// `PYTHONPATH` for the scripts: extra directories first, then the inherited value.
    pub pythonpath: Option<OsString>,
}

/// `PYTHONPATH` with `extra` directories (made absolute) in front of the inherited value.
pub(crate) fn pythonpath(extra: &[PathBuf], tracked: &mut Tracked) -> Result<Option<OsString>> {
    let inherited = tracked.env_var("PYTHONPATH");
    if extra.is_empty() {
        return Ok(inherited);
    }
    let mut dirs = Vec::new();
    for dir in extra {
        dirs.push(std::path::absolute(dir).map_err(|e| Error::io("resolving", dir, e))?);
    }
    dirs.extend(inherited.iter().flat_map(std::env::split_paths));
    std::env::join_paths(dirs).map(Some).map_err(|e| Error::Invalid(format!("bad pythonpath entry: {e}")))
}

/// Chooses the interpreter, in this order (the first that is set wins):
///
/// 1. `explicit` (the CLI's `--python`, [`crate::Options::python`]);
/// 2. `PYMODGEN_PYTHON`;
/// 3. `PYO3_PYTHON` (so bindings agree with what pyo3 links);
/// 4. `VIRTUAL_ENV`, then `CONDA_PREFIX`: that environment's `bin/python3`;
/// 5. `python3`, then `python`, on `PATH`.
///
/// An explicit choice (1-4) that does not exist is an error: it is not silently replaced
/// by another interpreter. Every variable read is recorded in `tracked`.
pub fn find(explicit: Option<&Path>, tracked: &mut Tracked) -> Result<Interpreter> {
    let mut tried = Vec::new();
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(path) = explicit {
        candidates.push((path.to_path_buf(), "--python".into()));
    }
    for var in ["PYMODGEN_PYTHON", "PYO3_PYTHON"] {
        if let Some(value) = tracked.env_var(var) {
            candidates.push((PathBuf::from(value), var.into()));
        }
    }
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(prefix) = tracked.env_var(var) {
            candidates.push((PathBuf::from(prefix).join("bin").join("python3"), var.into()));
        }
    }
    if let Some((path, source)) = candidates.into_iter().next() {
        let resolved = resolve_command(&path, tracked);
        return match resolved {
            Some(found) => Ok(Interpreter { path: found, source, pythonpath: None }),
            None => {
                tried.push(format!("{source} {}", path.display()));
                Err(Error::PythonNotFound { tried })
            }
        };
    }
    for name in ["python3", "python"] {
        if let Some(found) = resolve_command(Path::new(name), tracked) {
            return Ok(Interpreter { path: found, source: "PATH".into(), pythonpath: None });
        }
        tried.push(format!("{name} on PATH"));
    }
    Err(Error::PythonNotFound { tried })
}

/// A path with a directory part must exist; a bare name is looked up on `PATH`.
fn resolve_command(path: &Path, tracked: &mut Tracked) -> Option<PathBuf> {
    if path.components().count() > 1 || path.is_absolute() {
        return is_executable(path).then(|| path.to_path_buf());
    }
    let dirs: OsString = tracked.env_var("PATH")?;
    std::env::split_paths(&dirs).map(|d| d.join(path)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The time limit for one run: `PYMODGEN_TIMEOUT` seconds, else [`DEFAULT_TIMEOUT_SECS`].
pub(crate) fn timeout(explicit: Option<Duration>, tracked: &mut Tracked) -> Duration {
    explicit.unwrap_or_else(|| {
        let secs = tracked
            .env_var("PYMODGEN_TIMEOUT")
            .and_then(|v| v.to_str().and_then(|s| s.trim().parse::<u64>().ok()))
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Duration::from_secs(secs)
    })
}

/// Runs [`SCRIPT`] with `args` (after the result-file argument is inserted second) under the
/// time limit and returns the JSON it wrote. The script's result goes to a private file, never to stdout, so a module that
/// prints cannot corrupt it; stdout and stderr go to a log file (no pipe can fill up).
pub(crate) fn run_script(
    interpreter: &Interpreter,
    mode: &str,
    args: &[&str],
    limit: Duration,
    what: &str,
) -> Result<String> {
    run_code(interpreter, SCRIPT, mode, args, limit, what)
}

/// [`run_script`] for any script `code`: it is written to a private file that becomes the
/// interpreter's stdin (`python - MODE RESULT ARGS...`: `sys.path[0]` is the current
/// directory, as with `-c`), so its size has no limit; a script that wants stdin afterwards
/// finds it at its end (introspect.py replaces it with `os.devnull`).
fn run_code(
    interpreter: &Interpreter,
    code: &str,
    mode: &str,
    args: &[&str],
    limit: Duration,
    what: &str,
) -> Result<String> {
    let dir = tempfile::Builder::new()
        .prefix("pymodgen-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
    let script_path = dir.path().join("script.py");
    std::fs::write(&script_path, code).map_err(|e| Error::io("writing", &script_path, e))?;
    let script = std::fs::File::open(&script_path).map_err(|e| Error::io("opening", &script_path, e))?;
    let result_path = dir.path().join("result.json");
    let log_path = dir.path().join("log.txt");
    let log = std::fs::File::create(&log_path).map_err(|e| Error::io("creating", &log_path, e))?;
    let log2 = log.try_clone().map_err(|e| Error::io("opening", &log_path, e))?;
    let mut command = Command::new(&interpreter.path);
    if let Some(path) = &interpreter.pythonpath {
        command.env("PYTHONPATH", path);
    }
    let mut child = command
        .arg("-")
        .arg(mode)
        .arg(&result_path)
        .args(args)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Plotting libraries must not open windows while being introspected.
        .env("MPLBACKEND", "Agg")
        .stdin(Stdio::from(script))
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .spawn()
        .map_err(|e| Error::PythonUnusable {
            path: interpreter.path.clone(),
            reason: format!("cannot start it: {e}"),
        })?;
    let status = match child.wait_timeout(limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout { module: what.to_owned(), seconds: limit.as_secs() });
        }
        Err(e) => return Err(Error::io("waiting for", &interpreter.path, e)),
    };
    let log = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
    match std::fs::read_to_string(&result_path) {
        Ok(json) if status.success() => Ok(json),
        _ => {
            let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            Err(Error::PythonUnusable {
                path: interpreter.path.clone(),
                reason: format!("{status} while introspecting {what}: {}", last.trim()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script larger than Linux's 128 KiB limit on one argument runs whole, with its
    /// arguments, and `sys.path[0]` is the current directory as with `-c`.
    #[test]
    fn scripts_larger_than_one_argument_may_be_run() {
        let interpreter = find(None, &mut Tracked::default()).unwrap();
        let mut code = String::from("import json, sys\n");
        for i in 0..4000 {
            code.push_str(&format!("VALUE_{i} = {i}  # padding the script past 128 KiB of text\n"));
        }
        code.push_str("with open(sys.argv[2], 'w') as f:\n    json.dump([sys.argv[1], sys.argv[3:], VALUE_3999, sys.path[0]], f)\n");
        assert!(code.len() > 200 * 1024 && SCRIPT.len() < code.len(), "{}", code.len());
        let json = run_code(&interpreter, &code, "mode", &["a", "b c"], Duration::from_secs(60), "a test").unwrap();
        assert_eq!(json, r#"["mode", ["a", "b c"], 3999, ""]"#);
    }

    /// The Common Lisp runtime carries a copy of `module_hash.py` (installed, it reads nothing
    /// outside its own directory) and must compute the hash the generator computes: this
    /// file is the source, the copy the same bytes.
    #[test]
    fn the_lisp_runtime_carries_this_module_hash_script() {
        let copy = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/lisp/src/module_hash.py");
        let copy = std::fs::read_to_string(copy).unwrap_or_else(|e| panic!("{copy}: {e}"));
        assert!(
            copy == include_str!("module_hash.py"),
            "runtime/lisp/src/module_hash.py differs from pymodgen/src/python/module_hash.py, its source: copy the source over it"
        );
    }
}
