//! The `pymodgen` command line: exit codes, one-line errors, the implicit generate command,
//! the cache, determinism across working directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/python")
}

/// `pymodgen` with a private cache and the fixture package on the Python path.
fn pymodgen(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pymodgen"));
    cmd.env("PYMODGEN_CACHE_DIR", cache).env("PYTHONPATH", fixtures()).env_remove("PYMODGEN_PYTHON");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A user error: non-zero exit, exactly one line on stderr starting with `pymodgen:`, no panic.
fn assert_one_line_error(out: &Output, expected: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("pymodgen: "), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

#[test]
fn inspect_prints_python_signatures() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("module json 2.0.9"), "{text}");
    // Types from typeshed where the runtime has no annotations.
    assert!(text.contains("  dumps(obj: Any, *, skipkeys: bool = False, ensure_ascii: bool = True,"), "{text}");
    assert!(text.contains("  class JSONDecoder\n"), "{text}");
}

#[test]
fn inspect_json_is_a_manifest_and_cached_runs_match() {
    let cache = tempfile::tempdir().unwrap();
    let first = pymodgen(cache.path()).args(["inspect", "pymodgen_fixture", "--json"]).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let value: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(value["schema"], pymodgen::manifest::SCHEMA);
    assert_eq!(value["module"], "pymodgen_fixture");
    // Key order is the struct's field order, stable for tools that diff manifests.
    let text = stdout(&first);
    assert!(
        text.starts_with(
            "{\n  \"schema\": 3,\n  \"module\": \"pymodgen_fixture\",\n  \"version\": \"1.2.3\",\n  \"hash\""
        ),
        "{text}"
    );
    let second = pymodgen(cache.path()).args(["inspect", "pymodgen_fixture", "--json"]).output().unwrap();
    assert_eq!(first.stdout, second.stdout, "a cache hit prints the same manifest");

    let list = pymodgen(cache.path()).args(["cache", "list"]).output().unwrap();
    assert!(stdout(&list).starts_with("pymodgen_fixture "), "{}", stdout(&list));
    let dir = pymodgen(cache.path()).args(["cache", "dir"]).output().unwrap();
    assert_eq!(stdout(&dir).trim(), cache.path().to_str().unwrap());
    let clear = pymodgen(cache.path()).args(["cache", "clear"]).output().unwrap();
    assert!(stdout(&clear).contains("removed 1 cached manifest"), "{}", stdout(&clear));
}

#[test]
fn submodules_json_is_an_array_requested_module_first() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_fixture", "--submodules", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let modules: Vec<_> = value.as_array().unwrap().iter().map(|m| m["module"].as_str().unwrap()).collect();
    assert_eq!(modules, ["pymodgen_fixture", "pymodgen_fixture.shapes"]);
}

#[test]
fn output_does_not_depend_on_the_working_directory() {
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |dir: &Path| {
        let out = pymodgen(cache.path())
            .args(["inspect", "pymodgen_fixture", "--submodules", "--json", "--no-cache"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    assert_eq!(run(a.path()), run(b.path()));
}

#[test]
fn unknown_module() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_no_such_module"]).output().unwrap();
    assert_one_line_error(&out, "no Python module named 'pymodgen_no_such_module'");
}

#[test]
fn module_raising_on_import_shows_the_exception() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_raises"]).output().unwrap();
    assert_one_line_error(&out, "importing 'pymodgen_raises' raised RuntimeError: boom: this module refuses to import");
    // -v adds the Python traceback.
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_raises", "-v"]).output().unwrap();
    assert!(stderr(&out).contains("Traceback (most recent call last)"), "{}", stderr(&out));
}

#[test]
fn bad_python_path() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "json", "--python", "/nonexistent/python3"]).output().unwrap();
    assert_one_line_error(&out, "no Python interpreter found (tried --python /nonexistent/python3)");
    let out = pymodgen(cache.path()).args(["inspect", "json"]).env("PYMODGEN_PYTHON", "/nope/python").output().unwrap();
    assert_one_line_error(&out, "tried PYMODGEN_PYTHON /nope/python");
}

#[test]
fn unwritable_cache() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = pymodgen(&file.path().join("cache")).args(["inspect", "json"]).output().unwrap();
    assert_one_line_error(&out, "creating cache directory");
}

#[test]
fn unwritable_output() {
    let cache = tempfile::tempdir().unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let out =
        pymodgen(cache.path()).args(["json", "--lang", "lisp", "--out"]).arg(file.path().join("out")).output().unwrap();
    assert_one_line_error(&out, "writing lisp bindings for 'json': creating directory ");
    assert!(stderr(&out).contains(&format!("{}", file.path().join("out/json").display())), "{}", stderr(&out));
    assert!(stderr(&out).trim_end().ends_with("Not a directory (os error 20)"), "{}", stderr(&out));
}

/// Every reason output cannot be written is on the one line: the path and the OS error,
/// each once.
#[test]
fn output_errors_carry_their_cause() {
    let cache = tempfile::tempdir().unwrap();
    // A directory that cannot be created.
    let out = pymodgen(cache.path()).args(["json", "--lang", "rust", "--out", "/proc/nope"]).output().unwrap();
    assert_one_line_error(&out, "writing rust bindings for 'json': creating directory /proc/nope/json: ");
    assert!(stderr(&out).trim_end().ends_with("No such file or directory (os error 2)"), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("os error").count(), 1, "{}", stderr(&out));
    // An existing file as --out.
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = pymodgen(cache.path()).args(["json", "--lang", "rust", "--out"]).arg(file.path()).output().unwrap();
    assert_one_line_error(&out, &format!("creating directory {}: ", file.path().join("json").display()));
    assert!(stderr(&out).trim_end().ends_with("Not a directory (os error 20)"), "{}", stderr(&out));
    // A file that cannot be written over: a directory where the crate's Cargo.toml goes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("json/Cargo.toml")).unwrap();
    let out = pymodgen(cache.path()).args(["json", "--lang", "rust", "--out"]).arg(dir.path()).output().unwrap();
    assert_one_line_error(&out, &format!("writing {}: ", dir.path().join("json/Cargo.toml").display()));
    assert!(stderr(&out).trim_end().ends_with("Is a directory (os error 21)"), "{}", stderr(&out));
    // --verbose keeps the cause chain below the line.
    let out =
        pymodgen(cache.path()).args(["json", "--lang", "rust", "--verbose", "--out", "/proc/nope"]).output().unwrap();
    assert!(stderr(&out).contains("\n  caused by: "), "{}", stderr(&out));
}

#[test]
fn generate_needs_a_language_and_a_module() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).arg("json").output().unwrap();
    assert_one_line_error(&out, "--lang is required");
    let out = pymodgen(cache.path()).output().unwrap();
    assert_one_line_error(&out, "nothing to do");
    // A module named like a subcommand goes through the explicit form.
    let out = pymodgen(cache.path()).args(["generate", "inspect"]).output().unwrap();
    assert_one_line_error(&out, "--lang is required");
}

#[test]
fn timeout_flag() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_hangs", "--timeout", "1"]).output().unwrap();
    assert_one_line_error(&out, "did not finish within 1 s");
}

#[test]
fn lisp_package_option_names_one_package() {
    let cache = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path())
        .args(["math", "--lang", "lisp", "--lisp-package", "M", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let packages = std::fs::read_to_string(out_dir.path().join("math/pymodgen-packages.lisp")).unwrap();
    assert!(packages.contains("(cl:defpackage \"M\""), "{packages}");
    let out = pymodgen(cache.path()).args(["math", "json", "--lang", "lisp", "--lisp-package", "M"]).output().unwrap();
    assert_one_line_error(&out, "--lisp-package names one package");
}

#[test]
fn generate_twice_reuses_the_cache_and_leaves_files_alone() {
    let cache = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = pymodgen(cache.path())
            .args(["generate", "pymodgen_fixture", "--submodules", "--lang", "lisp", "--out"])
            .arg(out_dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let first = run();
    assert!(first.contains("introspected") && first.contains("files written"), "{first}");
    // nothing changed: not even emitted again (the output stamp matches)
    let second = run();
    assert!(second.contains("cached manifest") && second.contains("(up to date)"), "{second}");
}

#[test]
fn generate_emits_again_when_its_output_was_touched() {
    let cache = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = pymodgen(cache.path())
            .args(["generate", "pymodgen_fixture", "--lang", "rust", "--out"])
            .arg(out_dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(run(&[]).contains("files written"));
    assert!(run(&[]).contains("(up to date)"));
    let lib = out_dir.path().join("pymodgen-fixture/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    // a hand edit is undone, a removed file comes back
    std::fs::write(&lib, format!("{text}\n// edited\n")).unwrap();
    assert!(run(&[]).contains("(1 file written)"));
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), text);
    std::fs::remove_file(&lib).unwrap();
    assert!(run(&[]).contains("(1 file written)"));
    assert!(run(&[]).contains("(up to date)"));
    // other options emit; --no-cache reads no stamp
    assert!(run(&["--crate-name", "fixture_bindings"]).contains("written"));
    assert!(run(&["--crate-name", "fixture_bindings"]).contains("(up to date)"));
    assert!(run(&["--no-cache"]).contains("written"));
    // the stamps stay out of the manifest cache's listing
    let list = pymodgen(cache.path()).args(["cache", "list"]).output().unwrap();
    assert!(!stdout(&list).contains(".outputs"), "{}", stdout(&list));
}

#[test]
fn generate_from_a_saved_manifest_needs_no_python() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = pymodgen(cache.path()).args(["inspect", "json", "--json"]).output().unwrap();
    let manifest = dir.path().join("json.json");
    std::fs::write(&manifest, &saved.stdout).unwrap();
    let out = pymodgen(cache.path())
        .args(["generate", "--lang", "lisp", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(dir.path().join("out"))
        .env("PYMODGEN_PYTHON", "/nonexistent/python3") // Python is not needed, so not looked for
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("out/json/json.lisp").exists());
}

/// The documented order: --python, PYMODGEN_PYTHON, PYO3_PYTHON, VIRTUAL_ENV, CONDA_PREFIX, PATH.
#[test]
fn interpreter_choice_order() {
    let cache = tempfile::tempdir().unwrap();
    let python = String::from_utf8(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap().stdout,
    )
    .unwrap();
    let python = python.trim();
    let inspect = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = pymodgen(cache.path());
        cmd.args(["inspect", "json"]).args(args);
        for var in ["PYO3_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX"] {
            cmd.env_remove(var);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = inspect(&[("PYO3_PYTHON", "/nope/pyo3-python")], &[]);
    assert_one_line_error(&out, "tried PYO3_PYTHON /nope/pyo3-python");
    let out = inspect(&[("VIRTUAL_ENV", "/nope-venv"), ("CONDA_PREFIX", "/nope-conda")], &[]);
    assert_one_line_error(&out, "tried VIRTUAL_ENV /nope-venv/bin/python3");
    let out = inspect(&[("CONDA_PREFIX", "/nope-conda")], &[]);
    assert_one_line_error(&out, "tried CONDA_PREFIX /nope-conda/bin/python3");
    // An earlier choice wins over a broken later one.
    let out = inspect(&[("PYMODGEN_PYTHON", python), ("PYO3_PYTHON", "/nope/pyo3-python")], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = inspect(&[("PYMODGEN_PYTHON", "/nope/python")], &["--python", python]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Without typeshed-client the standard library still introspects, untyped, and one line on
/// stderr says which types could not be read and how to get them.
#[test]
fn without_typeshed_client_one_line_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let path = std::env::join_paths([fixtures().join("../no-typeshed"), fixtures()]).unwrap();
    let out = pymodgen(cache.path()).env("PYTHONPATH", path).args(["inspect", "json", "--json"]).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("typeshed-client")).collect();
    assert_eq!(notes.len(), 1, "one line expected: {err}");
    assert!(notes[0].starts_with("pymodgen: ") && notes[0].contains("json"), "{err}");
    assert!(notes[0].contains("pip install typeshed-client"), "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let dumps = manifest["functions"].as_array().unwrap().iter().find(|f| f["name"] == "dumps").unwrap();
    assert_eq!(dumps["return_type"], serde_json::Value::Null);
    // Two modules, one run: still one line.
    let out = pymodgen(cache.path())
        .env("PYTHONPATH", std::env::join_paths([fixtures().join("../no-typeshed"), fixtures()]).unwrap())
        .args(["generate", "textwrap", "shlex", "--lang", "lisp", "--out"])
        .arg(cache.path().join("out"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("typeshed-client")).count(), 1, "one line expected: {err}");
}

/// The human output shows the types the stubs give, and each overload.
#[test]
fn inspect_shows_types_and_overloads() {
    let cache = tempfile::tempdir().unwrap();
    let out = pymodgen(cache.path()).args(["inspect", "pymodgen_typed"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // The stub's own text (`Optional[str]`), as the stub writes it.
    assert!(text.contains("maybe(text: Optional[str] = None) -> str | None"), "{text}");
    assert!(text.contains("    @overload scale(x: float, factor: float = 2) -> float"), "{text}");
    assert!(text.contains(".size: int  property (read-only)"), "{text}");
}
