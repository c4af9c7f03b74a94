//! End to end for Rust: generate a crate with the library (as `pymodgen MODULE --lang rust`
//! does), add a small program that calls it, `cargo run` it with `-D warnings`, check its
//! output. Real Python, no mocks.
//!
//! Everything lives under cargo's `CARGO_TARGET_TMPDIR` (`<target>/tmp/pymodgen-e2e`), so a
//! run from an empty target directory starts from nothing. Target directories: the generated
//! crates share one (`target`, all built alike: one pyo3, `-D warnings`), so pyo3 is built
//! once for them; every other crate graph (its own lock file, its own features or flags)
//! gets its own ([`tools_target`]). Two graphs in one target directory overwrite each
//! other's unhashed artifacts (a cdylib's rlib has no hash in its name) and each build
//! then finds the other's, "Dirty pymodgen-runtime: info of dependency `pyo3` changed".

use std::path::{Path, PathBuf};
use std::process::Command;

use pymodgen::{EmitOptions, Lang, Options};

mod common;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("pymodgen-e2e")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/python")
}

/// Generates the crate for `module` under `<work_dir>/crates/<name>`.
fn generate(module: &str, submodules: bool) -> PathBuf {
    // Tests run in parallel and two of them generate `json`: one writer at a time, so no
    // cargo ever reads a half-written file.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let options = Options { submodules, pythonpath: vec![fixtures()], ..Options::default() };
    let loaded = pymodgen::load(module, &options).unwrap_or_else(|e| panic!("loading {module}: {e}"));
    // The crate is named after the requested module (`os.path` is `posixpath` here).
    let mut emit_options = EmitOptions::default();
    emit_options.rust.crate_name = Some(format!("py-{}", module.replace('.', "-")));
    let output = pymodgen::emit(&loaded.manifests, Lang::Rust, &emit_options).unwrap();
    let dir = work_dir().join("crates").join(module.replace('.', "-"));
    pymodgen::write_output(&dir, &output).unwrap();
    // Same input, same bytes.
    let again = pymodgen::emit(&loaded.manifests, Lang::Rust, &emit_options).unwrap();
    assert_eq!(output, again, "emitting {module} twice differs");
    dir
}

/// The target directory of a generated crate: `target`, shared by all of them, except for
/// crates that turn on the runtime's `numpy` feature (another build of pymodgen-runtime).
fn crates_target(dir: &Path) -> PathBuf {
    let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    work_dir().join(if toml.contains("features = [\"numpy\"]") { "target-numpy" } else { "target" })
}

/// The name of the example that runs `program` in `dir`'s crate: `smoke_<crate>_<digest of
/// the program>`. Generated crates share a target directory, where an example is built as
/// `debug/examples/<name>`, and several tests run programs in one crate (json): with one
/// name for all, a test could run the example another test had just built (seen: os_path's
/// run printed json's output).
fn example(dir: &Path, program: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut digest = std::hash::DefaultHasher::new();
    program.hash(&mut digest);
    let krate = dir.file_name().unwrap().to_string_lossy().replace(['-', '.'], "_");
    format!("smoke_{krate}_{:016x}", digest.finish())
}

/// Writes `program` as an example of `dir`'s crate (see [`example`]), runs it with
/// `-D warnings`, returns its stdout.
fn run(dir: &Path, program: &str) -> String {
    let ex = dir.join("examples");
    std::fs::create_dir_all(&ex).unwrap();
    let name = example(dir, program);
    let path = ex.join(format!("{name}.rs"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(program) {
        std::fs::write(&path, program).unwrap();
    }
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "--example", &name])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", crates_target(dir))
        .env("RUSTFLAGS", "-D warnings")
        .env("PYTHONPATH", fixtures())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo run in {} failed:\n{}\n{stdout}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const PRELUDE: &str =
    "#![allow(unused_imports)]\nuse pymodgen_runtime::pyo3::prelude::*;\nuse pymodgen_runtime::pyo3::types::*;\n";

#[test]
fn json() {
    let dir = generate("json", false);
    let program = format!(
        r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        let d = PyDict::new(py);
        d.set_item("b", 1).unwrap();
        d.set_item("a", 2).unwrap();
        println!("{{}}", py_json::dumps(py, &d).unwrap());
        println!("{{}}", py_json::dumps_with(py, &d).indent(0).sort_keys(true).call().unwrap().to_string().replace('\n', "|"));
        println!("{{}}", py_json::loads(py, "[1, 2]").unwrap());
        let err = py_json::loads(py, "[1,").unwrap_err();
        let text = pymodgen_runtime::render_error(py, &err);
        println!("{{}}", text.lines().last().unwrap());
        assert!(text.contains("Traceback"));
        let enc = py_json::JsonEncoder::new_with(py).sort_keys(true).call().unwrap();
        println!("{{}}", enc.encode(&d).unwrap());
        let any: Bound<'_, PyAny> = enc.clone().into();
        let back: py_json::JsonEncoder<'_> = any.extract().unwrap();
        println!("{{}}", back.encode(1).unwrap());
        assert!(d.extract::<py_json::JsonEncoder<'_>>().is_err());
    }});
}}
"#
    );
    let out = run(&dir, &program);
    assert_eq!(
        out,
        "{\"b\": 1, \"a\": 2}\n{|\"a\": 2,|\"b\": 1|}\n[1, 2]\njson.decoder.JSONDecodeError: Expecting value: line 1 column 4 (char 3)\n{\"a\": 2, \"b\": 1}\n1\n"
    );
    // The runtime is an rlib: a generated crate builds no shared library (the C ABI's cdylib
    // is its own crate, pymodgen-capi, which no generated crate depends on).
    let shared: Vec<String> = artifacts(&dir, &example(&dir, &program))
        .into_iter()
        .filter(|(kinds, files)| {
            kinds.iter().any(|k| k == "cdylib" || k == "dylib")
                || files.iter().any(|f| f.contains("libpymodgen") && f.ends_with(".so"))
        })
        .flat_map(|(_, files)| files)
        .collect();
    assert!(shared.is_empty(), "building a generated crate built shared libraries: {shared:?}");
}

/// A module's exception classes match `PyErr`s by type: `is_instance` (subclasses made at run
/// time included) and `from_err` for the exception object.
#[test]
fn exceptions_by_type() {
    let dir = generate("json", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        match py_json::loads(py, "{{") {{
            Err(e) if py_json::JsonDecodeError::is_instance(py, &e) => println!("decode error"),
            Err(e) => panic!("another error: {{e}}"),
            Ok(v) => panic!("parsed: {{v}}"),
        }}
        let err = py_json::loads(py, "[1,").unwrap_err();
        let decode = py_json::JsonDecodeError::from_err(py, &err).expect("a JSONDecodeError");
        println!("pos {{}}", decode.as_bound().getattr("pos").unwrap());
        assert!(err.is_instance_of::<pymodgen_runtime::pyo3::exceptions::PyValueError>(py));
        let other = py_json::loads(py, 3).unwrap_err();
        assert!(!py_json::JsonDecodeError::is_instance(py, &other), "{{other}}");
        assert!(py_json::JsonDecodeError::from_err(py, &other).is_none());
        py.run(c"import json\nclass Sub(json.JSONDecodeError): pass\nx = None", None, None).unwrap();
        let sub = py.run(c"raise Sub('m', 'doc', 1)", None, None).unwrap_err();
        println!("subclass {{}}", py_json::JsonDecodeError::is_instance(py, &sub));
    }});
}}
"#
        ),
    );
    assert_eq!(out, "decode error\npos 3\nsubclass true\n");
}

/// What building `dir`'s example (see [`example`]) produces, as cargo reports it (fresh units too):
/// each unit's target kinds and files.
fn artifacts(dir: &Path, example: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let out = Command::new(env!("CARGO"))
        .args(["build", "-q", "--example", example, "--message-format=json"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", work_dir().join("target"))
        .env("RUSTFLAGS", "-D warnings")
        .env("PYTHONPATH", fixtures())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo build in {} failed:\n{}", dir.display(), String::from_utf8_lossy(&out.stderr));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
    };
    let units: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .map(|m| (strings(&m["target"]["kind"]), strings(&m["filenames"])))
        .collect();
    assert!(units.iter().any(|(_, files)| files.iter().any(|f| f.contains("libpymodgen_runtime"))), "{units:?}");
    units
}

/// A program whose bindings were made with one interpreter but that loads another
/// libpython (here the distribution's 3.11.2 through LD_LIBRARY_PATH, which outranks the
/// rpath) gets a clear Python error from the first call, not a crash.
#[test]
fn interpreter_mismatch_is_a_clear_error() {
    let other = Path::new("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
    let ours = pymodgen::load("json", &Options::default()).unwrap().manifests[0].python.libpython.clone();
    if !other.exists() || ours.as_deref().map(Path::new) == Some(other) {
        eprintln!("skipped: no second libpython3.11 on this machine");
        return;
    }
    let dir = generate("json", false);
    // Reuses the `smoke` example of the `json` test when present; any call shows it.
    let program = format!(
        r#"{PRELUDE}
fn main() {{
    Python::attach(|py| match py_json::dumps(py, 1) {{
        Ok(s) => println!("ok {{s}}"),
        Err(e) => println!("{{}}", pymodgen_runtime::render_error(py, &e)),
    }});
}}
"#
    );
    let ex = dir.join("examples");
    std::fs::create_dir_all(&ex).unwrap();
    std::fs::write(ex.join("mismatch.rs"), program).unwrap();
    let (ok, _, stderr) = {
        let out = Command::new(env!("CARGO"))
            .args(["build", "-q", "--example", "mismatch"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", crates_target(&dir))
            .env("RUSTFLAGS", "-D warnings")
            .output()
            .unwrap();
        (out.status.success(), (), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert!(ok, "{stderr}");
    let out = Command::new(crates_target(&dir).join("debug/examples/mismatch"))
        .env("LD_LIBRARY_PATH", other.parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "crashed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.starts_with("RuntimeError: pymodgen bindings were generated for Python ")
            && stdout.contains(", but this program runs Python 3.11.2;"),
        "{stdout}"
    );
}

#[test]
fn math() {
    let dir = generate("math", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        println!("{{}}", py_math::PI);
        println!("{{}}", py_math::sqrt(py, 16.0).unwrap());
        println!("{{}}", py_math::gcd_with(py).integers((12, 18)).call().unwrap());
        println!("{{}}", py_math::isclose_with(py, 1.0, 1.0000001).rel_tol(1e-3).call().unwrap());
        println!("{{}}", py_math::log_with(py, 8.0).base(2.0).call().unwrap());
        println!("{{}}", py_math::sqrt(py, -1.0).is_err());
    }});
}}
"#
        ),
    );
    assert_eq!(out, format!("{}\n4\n6\ntrue\n3\ntrue\n", std::f64::consts::PI));
}

#[test]
fn os_path() {
    let dir = generate("os.path", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        println!("{{}}", py_os_path::join_with(py, "/usr").p(("lib", "x.so")).call().unwrap());
        println!("{{}}", py_os_path::basename(py, "/a/b.txt").unwrap());
        // tuple[AnyStr, AnyStr] (AnyStr is str or bytes): a pair of Python objects.
        let (root, ext) = py_os_path::splitext(py, "b.tar.gz").unwrap();
        println!("{{root}} {{ext}}");
        println!("{{}}", py_os_path::isdir(py, "/").unwrap());
    }});
}}
"#
        ),
    );
    assert_eq!(out, "/usr/lib/x.so\nb.txt\nb.tar .gz\ntrue\n");
}

#[test]
fn re() {
    let dir = generate("re", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        // Match[str] | None: an Option of the re.Match wrapper.
        let m: py_re::Match<'_> = py_re::r#match(py, r"(\w+) (\w+)", "hello world").unwrap().unwrap();
        println!("{{}}", m.call_method1("group", (2,)).unwrap());
        let p = py_re::compile_with(py, "A+").flags(py_re::ignorecase(py).unwrap()).call().unwrap();
        println!("{{}}", p.call_method1("findall", ("aAb AA",)).unwrap());
        println!("{{}}", py_re::sub_with(py, "a", "b", "aaa").count(2).call().unwrap());
        println!("{{}}", py_re::Pattern::type_object(py).unwrap());
    }});
}}
"#
        ),
    );
    assert_eq!(out, "world\n['aA', 'AA']\nbba\n<class 're.Pattern'>\n");
}

#[test]
fn collections() {
    let dir = generate("collections", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        let c = py_collections::Counter::new_with(py).iterable("abracadabra").call().unwrap();
        // list[tuple[_T, int]]: a Vec of pairs, the item of the unbound TypeVar dynamic.
        let top: Vec<(Bound<'_, PyAny>, i64)> = c.most_common_with().n(2).call().unwrap();
        println!("{{top:?}}");
        let od = py_collections::OrderedDict::new(py).unwrap();
        od.set_item("x", 1).unwrap();
        od.move_to_end("x").unwrap();
        println!("{{}}", od);
        let dq = py_collections::Deque::new_with(py).iterable(vec![1, 2, 3]).maxlen(2).call().unwrap();
        println!("{{}}", dq);
        let point = py_collections::namedtuple(py, "Point", "x y").unwrap();
        println!("{{}}", point.call1((1, 2)).unwrap());
        // A subclass is usable where its base is expected.
        let as_dict: Bound<'_, PyAny> = od.into();
        println!("{{}}", as_dict.is_instance_of::<PyDict>());
    }});
}}
"#
        ),
    );
    assert_eq!(out, "[('a', 5), ('b', 2)]\nOrderedDict([('x', 1)])\ndeque([2, 3], maxlen=2)\nPoint(x=1, y=2)\ntrue\n");
}

#[test]
fn numpy_with_submodules() {
    let dir = generate("numpy", true);
    let lines: usize = walk(&dir.join("src")).iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).sum();
    eprintln!("numpy --submodules: {lines} generated lines");
    let loaded = pymodgen::load("numpy", &Options { submodules: true, ..Options::default() }).unwrap();
    let mut o = pymodgen::emit::rust::RustOptions::default();
    o.numpy_arrays = Some(true);
    let counts = pymodgen::emit::rust::return_type_counts(&loaded.manifests, &o).unwrap();
    eprintln!("numpy --submodules (Rust, numpy arrays typed): {}", return_share(&counts));
    // numpy's own stubs type hanning's result NDArray[float64] from numpy 2.3 on; numpy 2.2
    // (the last release for Python 3.10) says an array of `floating[Any]`: an untyped array,
    // whose elements are then read as f64 after a checked cast.
    let version = loaded.manifests[0].version.clone().unwrap_or_default();
    let typed_hanning = !(version.starts_with("1.")
        || version.starts_with("2.0.")
        || version.starts_with("2.1.")
        || version.starts_with("2.2."));
    let hanning = if typed_hanning {
        "let h: Bound<'_, PyArrayDyn<f64>> = py_numpy::hanning(py, 3).unwrap();"
    } else {
        "let h: Bound<'_, PyArrayDyn<f64>> = py_numpy::hanning(py, 3).unwrap().into_any().cast_into().unwrap();"
    };
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
fn main() {{
    Python::attach(|py| {{
        let x = py_numpy::linspace_with(py, 0.0, std::f64::consts::PI).num(1001).call().unwrap();
        let s = py_numpy::sin(py, &x).unwrap();
        let total: f64 = py_numpy::sum(py, &s).unwrap().extract().unwrap();
        println!("{{:.3}}", total * std::f64::consts::PI / 1000.0);
        let a = py_numpy::array(py, vec![vec![3.0, 0.0], vec![0.0, 4.0]]).unwrap();
        let svd = py_numpy::linalg::svd_with(py, &a).compute_uv(false).call().unwrap();
        println!("{{}}", svd);
        // Typed arrays (the crate enables the runtime's numpy feature): NDArray[float64].
        use pymodgen_runtime::numpy::{{PyArrayDyn, PyArrayMethods}};
        {hanning}
        println!("{{:?}}", h.readonly().as_slice().unwrap());
    }});
}}
"#
        ),
    );
    assert_eq!(out, "2.000\n[4. 3.]\n[0.0, 1.0, 0.0]\n");
}

#[test]
fn fixture_package() {
    let dir = generate("pymodgen_fixture", true);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_pymodgen_fixture as fx;
fn main() {{
    Python::attach(|py| {{
        println!("{{}}", fx::add(py, 1, 2).unwrap());
        println!("{{}}", fx::greet(py, "Rust").unwrap());
        let s: String = fx::greet_with(py, "Lisp").punctuation("?").call().unwrap();
        println!("{{}}", s);
        println!("{{}}", fx::everything_with(py, 1, 10).b(2).c(3).e(50).args((7, 8)).kwargs([("z", 26)].into_iter().collect::<std::collections::HashMap<_, _>>()).call().unwrap());
        // *args after an unset positional parameter: an error, not a silent shift.
        let err = fx::everything_with(py, 1, 10).args((7,)).call().unwrap_err();
        println!("{{}}", err);
        println!("{{}}", fx::positional_only(py, 1, 2).unwrap());
        println!("{{}}", fx::r#type(py, 1).unwrap());
        println!("{{}}", fx::r#match_with(py, "a", "b").r#loop(1).call().unwrap());
        println!("{{}}", fx::clashing_params_with(py).str_("s").r#box(1).call().unwrap());
        println!("{{}}", fx::ANSWER);
        println!("{{}}", fx::NAME);
        println!("{{}}", fx::big(py).unwrap());
        let sq = fx::Square::new_with(py).side(2.0).call().unwrap();
        println!("{{}} {{:.3}}", sq.area().unwrap(), sq.diagonal().unwrap().extract::<f64>().unwrap());
        // Square derefs to Shape: base methods apply, and it converts where a Shape is expected.
        println!("{{}}", sq.describe_with().precision(1).call().unwrap());
        let shape: fx::Shape<'_> = sq.into();
        println!("{{}}", shape.sides().unwrap());
        let c = fx::Counter::new_with(py).start(5).call().unwrap();
        c.increment().unwrap();
        c.set_current(10).unwrap();
        println!("{{}}", c.current().unwrap());
        println!("{{}}", fx::Counter::zero(py).unwrap());
        println!("{{}}", fx::shapes::Circle::new(py, 1.0).unwrap().area().unwrap());
    }});
}}
"#
        ),
    );
    insta::assert_snapshot!("rust_e2e_fixture_output", out);
}

/// Typed bindings from the fixture's own stubs (`pymodgen_typed/__init__.pyi`): scalars,
/// `Optional`, `list`/`dict`/`tuple`, a `Literal` enum in and out, `Self` and a property,
/// constrained and bound `TypeVar`s, overloads that disagree (a dynamic return), inline
/// annotations of the `inline` submodule.
#[test]
fn typed_fixture() {
    let dir = generate("pymodgen_typed", true);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_pymodgen_typed as t;
use std::collections::HashMap;
fn main() {{
    Python::attach(|py| {{
        // Literal['fast', 'slow'] in, Literal[0, 1] out.
        let fast: i64 = t::mode(py, t::Name::Fast).unwrap();
        println!("{{fast}} {{}} {{}} {{:?}}", t::mode(py, t::Name::Slow).unwrap(), t::Name::Slow, t::Name::ALL);
        // Optional[str] -> str | None.
        let none: Option<String> = t::maybe(py).unwrap();
        println!("{{none:?}} {{:?}}", t::maybe_with(py).text("hi").call().unwrap());
        // list[float] from a nested sequence, list[dict[str, list[float]]].
        let flat: Vec<f64> = t::flatten(py, vec![vec![1.0, 2.0], vec![3.0]]).unwrap();
        println!("{{flat:?}}");
        let rows: Vec<HashMap<String, Vec<f64>>> = t::table(py, vec![HashMap::from([("a", vec![1.5])])]).unwrap();
        println!("{{:?}}", rows[0]["a"]);
        // A TypeVar constrained to (int, float) is a float in Rust: an int result converts.
        let c: f64 = t::clamp(py, 5, 0, 3).unwrap();
        println!("{{c}}");
        // Positional-only (int, str) -> bytes.
        let b: Vec<u8> = t::positional(py, 4, "x").unwrap();
        println!("{{}}", String::from_utf8(b).unwrap());
        // Iterator[tuple[str, int]]: an iterator of typed items.
        let it: pymodgen_runtime::TypedIter<'_, (String, i64)> = t::pairs(py, HashMap::from([("b", 2), ("a", 1)])).unwrap();
        let items: Vec<(String, i64)> = it.collect::<PyResult<_>>().unwrap();
        println!("{{items:?}}");
        // Overloads that disagree (int | float | str): a dynamic result.
        let s: Bound<'_, PyAny> = t::scale_with(py, "ab").factor(3).call().unwrap();
        println!("{{s}} {{}}", t::scale(py, 1.5).unwrap());
        // Self, a property, a class attribute; a static method taking two wrappers.
        let v = t::Vec_::new_with(py).x(3.0).y(4.0).call().unwrap();
        let w: t::Vec_<'_> = v.scaled(2.0).unwrap();
        println!("{{}} {{}}", t::Vec_::dot(py, &v, &w).unwrap(), t::Vec_::zero(py).unwrap().scaled(1.0).is_ok());
        // `__iter__ -> Iterator[float]`: typed items
        let xy: Vec<f64> = v.iter().unwrap().collect::<PyResult<_>>().unwrap();
        println!("{{xy:?}}");
        let b = t::Box_::new(py, 1).unwrap();
        let size: i64 = b.size().unwrap();
        let label: String = b.label().unwrap();
        let again: t::Box_<'_> = b.replace(2).unwrap();
        println!("{{size}} {{label}} {{}}", again.get().unwrap());
        // Inline annotations (from __future__ import annotations), dict[str, list[int]].
        let area: f64 = t::inline::area_with(py, 2.0).h(3.0).call().unwrap();
        let d: HashMap<String, Vec<i64>> = t::inline::describe_with(py, 7).names(("a",)).call().unwrap();
        println!("{{area}} {{:?}}", d["a"]);
        let p = t::inline::Point::new(py, 3, 4).unwrap();
        let moved: t::inline::Point<'_> = p.moved(1).unwrap();
        let norm: f64 = moved.norm().unwrap();
        println!("{{norm:.3}}");
    }});
}}
"#
        ),
    );
    assert_eq!(
        out,
        "0 1 slow [Fast, Slow]\nNone Some(\"HI\")\n[1.0, 2.0, 3.0]\n[1.5]\n3\n4x\n[(\"a\", 1), (\"b\", 2)]\n\
         ababab 3.0\n50 true\n[3.0, 4.0]\n1 box 2\n6 [7]\n5.657\n"
    );
}

/// Classmethods and staticmethods implemented in C (`classmethod_descriptor`s, a C
/// `staticmethod` in the class dict) are associated functions taking `py`, with typeshed's
/// signature where the runtime has none (`date.today`, `datetime.combine`) and `Self` as
/// the class's wrapper.
#[test]
fn c_classmethods_datetime() {
    let dir = generate("datetime", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_datetime as dt;
fn main() {{
    Python::attach(|py| {{
        let today: dt::Date<'_> = dt::Date::today(py).unwrap();
        println!("{{}}", today.year().unwrap() >= 2024);
        let utc = dt::Timezone::new(py, dt::Timedelta::new_with(py).call().unwrap()).unwrap();
        let now: dt::Datetime<'_> = dt::Datetime::now_with(py).tz(&utc).call().unwrap();
        println!("{{}}", now.isoformat().unwrap().ends_with("+00:00"));
        let d = dt::Date::fromisoformat(py, "2024-02-29").unwrap();
        let t = dt::Time::new_with(py).hour(12).call().unwrap();
        let c: dt::Datetime<'_> = dt::Datetime::combine(py, &d, &t).unwrap();
        println!("{{}}", c.isoformat().unwrap());
        let ts = dt::Datetime::combine_with(py, &d, &t).tzinfo(&utc).call().unwrap().timestamp().unwrap();
        println!("{{ts}}");
    }});
}}
"#
        ),
    );
    assert_eq!(out, "true\ntrue\n2024-02-29T12:00:00\n1709208000\n");
}

/// The classmethods and staticmethods of builtin types: `int.from_bytes`, `dict.fromkeys`,
/// `bytes.fromhex` (classmethod descriptors) and `str.maketrans` (a C staticmethod whose text
/// signature has `<unrepresentable>` defaults: optional parameters, set by name).
#[test]
fn c_classmethods_builtins() {
    let dir = generate("builtins", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_builtins as b;
fn main() {{
    Python::attach(|py| {{
        let n: b::Int<'_> = b::Int::from_bytes_with(py, vec![1u8, 0]).byteorder(b::Byteorder::Little).call().unwrap();
        println!("{{n}}");
        let big = b::Int::from_bytes_with(py, vec![0xffu8]).signed(true).call().unwrap();
        println!("{{big}}");
        let d = b::Dict::fromkeys_with(py, vec!["a", "b"]).value(0).call().unwrap();
        println!("{{d}}");
        println!("{{}}", b::Dict::fromkeys(py, ("x",)).unwrap());
        println!("{{}}", b::Bytes::fromhex(py, "4142").unwrap());
        let table = b::Str::maketrans_with(py, "ab").y("xy").call().unwrap();
        println!("{{table}} {{}}", b::Str::maketrans(py, [(97, "z")].into_iter().collect::<std::collections::HashMap<_, _>>()).unwrap());
        let drop = b::Str::maketrans_with(py, "a").y("b").z("c").call().unwrap();
        println!("{{drop}}");
    }});
}}
"#
        ),
    );
    assert_eq!(out, "1\n-1\n{'a': 0, 'b': 0}\n{'x': None}\nb'AB'\n{97: 120, 98: 121} {97: 'z'}\n{97: 98, 99: None}\n");
}

/// A module of adversarial names, docstrings, defaults and Literal values
/// (`tests/fixtures/python/pymodgen_adversarial`): its crate compiles and documents with
/// `-D warnings` (bare CRs, control and bidi characters, `*/`, fences and HTML in doc comments;
/// keywords, `None`/`none`/`NONE`, digits, empty and control-character Literal values as
/// variants), and the values round-trip exactly.
#[test]
fn adversarial_fixture() {
    let dir = generate("pymodgen_adversarial", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_pymodgen_adversarial as a;
fn main() {{
    Python::attach(|py| {{
        // Case-folding duplicates of a prelude name: None_, None2, None3; the values are exact.
        let m = [a::Mode::None_, a::Mode::None2, a::Mode::None3, a::Mode::Empty, a::Mode::Cr, a::Mode::Self2];
        println!("{{:?}}", m.iter().map(|v| v.as_str()).collect::<Vec<_>>());
        println!("{{}}", a::Mode::ALL.len());
        let back: a::LiteralNamesResult = a::literal_names_with(py).mode(a::Mode::None2).call().unwrap();
        println!("{{back:?}} {{:?}}", a::literal_names(py).unwrap());
        // A Literal value that is a bare CR goes to Python and back as itself.
        println!("{{:?}}", a::Self_::r(py, a::X::Cr).unwrap());
        println!("{{:?}}", a::r(py, 1, 2, 3, 4, 5).unwrap().len());
        let d = a::defaults(py).unwrap();
        println!("{{:?}} {{}}", d[0].extract::<String>().unwrap(), d[9].extract::<String>().is_err());
        println!("{{}} {{}}", a::n1st(py).unwrap(), a::item(py).unwrap());
        println!("{{:?}}", a::Self_::new_2(py).unwrap().type_with().r#type("Type").call().unwrap());
    }});
}}
"#
        ),
    );
    assert_eq!(
        out,
        "[\"None\", \"none\", \"NONE\", \"\", \"\\r\", \"Self\"]\n43\nNone2 None_\n\"\\r\"\n12\n\
         \"\\r\\n\\0\\\"\\\\\" true\n1 日本\nSome(\"Type\")\n"
    );
    // rustdoc reads the doc comments as markdown and HTML: no warning either.
    let doc = Command::new(env!("CARGO"))
        .args(["doc", "--no-deps", "-q"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", crates_target(&dir))
        .env("RUSTFLAGS", "-D warnings")
        .env("RUSTDOCFLAGS", "-D warnings")
        .output()
        .unwrap();
    assert!(doc.status.success(), "cargo doc: {}", String::from_utf8_lossy(&doc.stderr));
}

/// A stub that lies gives a TypeError naming the function, the stub's type and what came
/// back; values outside the Rust type are an OverflowError naming the function; honest
/// results that only a careless mapping would refuse (an `int` for `float`, a `bool` for
/// `int`, `None` for `int | None`) convert; a class of a submodule is its wrapper there.
#[test]
fn typed_returns_are_checked() {
    let dir = generate("pymodgen_lies", true);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_pymodgen_lies as l;
fn show<T: std::fmt::Debug>(py: Python<'_>, r: PyResult<T>) {{
    match r {{
        Ok(v) => println!("ok {{v:?}}"),
        Err(e) => {{
            let text = pymodgen_runtime::render_error(py, &e);
            println!("{{}}", text.lines().last().unwrap());
        }}
    }}
}}
fn main() {{
    Python::attach(|py| {{
        show(py, l::count(py));
        show(py, l::name(py));
        show(py, l::names(py));
        show(py, l::pair(py));
        show(py, l::nothing(py));
        show(py, l::color(py));
        show(py, l::not_point(py).map(|p| p.to_string()));
        let p = l::Point::new(py, 1, 2).unwrap();
        show(py, p.moved(1).map(|p| p.to_string()));
        show(py, p.label());
        show(py, l::big(py));
        show(py, l::ratio(py));
        show(py, l::flag(py));
        show(py, l::maybe_count(py));
        show(py, l::colors(py));
        show(py, l::table(py).map(|t| t.into_iter().collect::<std::collections::BTreeMap<_, _>>()));
        show(py, l::point(py).and_then(|p| p.norm2()));
        show(py, p.size());
        show(py, l::halt(py));
        show(py, l::fail(py));
        show(py, l::surrogate(py));
        // A class of another module of the same output: `shapes::Square`'s wrapper.
        let square: l::shapes::Square<'_> = l::unit_square(py).unwrap();
        show(py, square.area());
        // Iterator[int] yielding a str: the item is the error, the iterator goes on.
        for item in l::numbers(py).unwrap() {{
            show(py, item);
        }}
        // The same for a class's `__iter__` typed by its stub.
        for item in p.iter().unwrap() {{
            let item: PyResult<i64> = item;
            show(py, item);
        }}
    }});
}}
"#
        ),
    );
    insta::assert_snapshot!("rust_e2e_typed_returns_checked", out);
}

/// Python protocols as Rust traits and methods (`__eq__` → PartialEq, `__len__` → len(),
/// ...), on fixture classes (including one whose protocol methods raise: no panic, the
/// traits answer false/None/-1 and the methods return the error) and on the stdlib's
/// `fractions.Fraction` and `collections.Counter`.
#[test]
fn protocols() {
    let dir = generate("pymodgen_protocols", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_pymodgen_protocols as p;
use std::collections::HashSet;
fn main() {{
    Python::attach(|py| {{
        let v = |s: &str| p::Version::new(py, s).unwrap();
        let (a, b) = (v("1.2"), v("1.10"));
        println!("{{}} {{}} {{}} {{}}", a < b, a <= b, a > b, a == v("1.2"));
        println!("{{:?}} {{:?}}", a.partial_cmp(&b), b.partial_cmp(&a));
        let mut sorted = vec![b.clone(), v("0.9"), a.clone()];
        sorted.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!("{{:?}}", sorted);
        let set: HashSet<p::Version<'_>> = [a.clone(), v("1.2"), b.clone()].into_iter().collect();
        println!("{{}}", set.len());
        let bag = p::Bag::new(py, vec!["x", "y", "z"]).unwrap();
        println!("{{}} {{}} {{}}", bag.len_2().unwrap(), bag.contains("y").unwrap(), bag.contains("w").unwrap());
        println!("{{}} {{}}", bag.get_item(1).unwrap(), bag.get_item(5).unwrap_err());
        let words: Vec<String> = bag.iter().unwrap().map(|w| w.unwrap().extract().unwrap()).collect();
        println!("{{}} {{}}", words.join(","), bag.len().unwrap());
        let t = p::Touchy::new(py).unwrap();
        println!("{{}} {{}} {{:?}}", t == t, t < t, t.partial_cmp(&t));
        let hashed: HashSet<p::Touchy<'_>> = [t.clone()].into_iter().collect();
        println!("{{}} {{}}", hashed.len(), t.len().unwrap_err());
        let items: Vec<String> = t.iter().unwrap().map(|r| match r {{
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        }}).collect();
        println!("{{}}", items.join(" | "));
    }});
}}
"#
        ),
    );
    assert_eq!(
        out,
        "true true false true\nSome(Less) Some(Greater)\n[Version('0.9'), Version('1.2'), Version('1.10')]\n2\n\
         3 true false\ny IndexError: list index out of range\nx,y,z method\n\
         false false None\n1 ValueError: no length\n1 | ValueError: no more\n"
    );

    let dir = generate("fractions", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_fractions::Fraction;
use std::collections::HashSet;
fn main() {{
    Python::attach(|py| {{
        let f = |n: i64, d: i64| Fraction::new_with(py).numerator(n).denominator(d).call().unwrap();
        let (half, two_quarters, two_thirds) = (f(1, 2), f(2, 4), f(2, 3));
        println!("{{}} {{}} {{}}", half == two_quarters, half < two_thirds, half >= two_thirds);
        println!("{{:?}} {{:?}} {{}}", half.partial_cmp(&two_thirds), half, half);
        let set: HashSet<Fraction<'_>> = [half.clone(), two_quarters, two_thirds.clone()].into_iter().collect();
        println!("{{}}", set.len());
        println!("{{:?}}", [two_thirds, half].iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap());
    }});
}}
"#
        ),
    );
    assert_eq!(out, "true true false\nSome(Less) Fraction(1, 2) 1/2\n2\nFraction(2, 3)\n");

    let dir = generate("collections", false);
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use py_collections::Counter;
fn main() {{
    Python::attach(|py| {{
        let c = |s: &str| Counter::new_with(py).iterable(s).call().unwrap();
        let (small, big) = (c("aab"), c("aabbc"));
        println!("{{}} {{}} {{}} {{}}", small < big, small <= big, big < small, small == c("aba"));
        println!("{{:?}} {{:?}}", small.partial_cmp(&big), c("ab").partial_cmp(&c("ac")));
        println!("{{}} {{}} {{}}", big.len().unwrap(), big.contains("c").unwrap(), big.get_item("b").unwrap());
        let keys: Vec<String> = big.iter().unwrap().map(|k| k.unwrap().extract().unwrap()).collect();
        println!("{{}} {{:?}}", keys.join(","), small);
    }});
}}
"#
        ),
    );
    assert_eq!(out, "true true false true\nSome(Less) None\n3 true 2\na,b,c Counter({'a': 2, 'b': 1})\n");
}

/// The target directory of one crate graph that is not a generated crate's (`name`: the
/// test's): the crates that build the pymodgen library itself (build.rs, proc macro), built
/// without `-D warnings` (which would also apply to pymodgen), each with its own lock file
/// or features, so never in a directory another graph builds in (see the top of the file).
fn tools_target(name: &str) -> PathBuf {
    work_dir().join("target-tools").join(name)
}

fn cargo(dir: &Path, target: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", tools_target(target))
        .env("PYTHONPATH", fixtures())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// tests/build-script: a crate whose build.rs runs pymodgen::Builder. A second build
/// with nothing changed does not rerun the build script or recompile.
#[test]
fn build_script() {
    let dir = root().join("tests/build-script");
    let (ok, stdout, stderr) = cargo(&dir, "build-script", &["run", "-q"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "{\"k\":[1,2]}\na/b\n");
    let (ok, _, stderr) = cargo(&dir, "build-script", &["build", "-v"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("Fresh pymodgen-build-script-test"), "rebuilt with nothing changed:\n{stderr}");
    // What the build script told cargo.
    let build = tools_target("build-script").join("debug/build");
    let output = std::fs::read_dir(&build)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("pymodgen-build-script-test-"))
        .map(|p| p.join("output"))
        .find(|p| p.exists())
        .expect("build script output");
    let output = std::fs::read_to_string(output).unwrap();
    for line in [
        "cargo:rerun-if-env-changed=PYMODGEN_PYTHON",
        "cargo:rerun-if-env-changed=PYO3_PYTHON",
        "cargo:rerun-if-env-changed=VIRTUAL_ENV",
        "cargo:rerun-if-env-changed=PYTHONPATH",
        "cargo:rustc-link-arg=-Wl,-rpath,",
    ] {
        assert!(output.contains(line), "no `{line}` in:\n{output}");
    }
    assert!(output.contains("cargo:rerun-if-changed=") && output.contains("json"), "{output}");
}

/// A user's own crates, outside this workspace (in a temporary directory), each with only
/// the documented build.rs line (`pymodgen::link_python()`), run with no LD_LIBRARY_PATH:
/// one uses `bind_pymodule!`, one a CLI-generated crate by path, one a generated crate by
/// version (`py-json = "0.1.0"`, whose own dependency is `pymodgen-runtime = "=0.1.0"`),
/// both resolved through `[patch.crates-io]` as a local registry would. On this machine a
/// distribution libpython3.11 (3.11.2) sits beside the interpreter's (pyenv 3.11.7): without
/// the rpath the loader picks the former and every call is a RuntimeError (checked too, on a
/// control program without the build.rs line).
#[test]
fn outside_crates_run_without_ld_library_path() {
    let tmp = tempfile::Builder::new().prefix("pymodgen-outside-").tempdir().unwrap();
    let (gen_dir, app) = (tmp.path().join("generated"), tmp.path().join("app"));
    // Generated crates, as `pymodgen math --lang rust` writes them (by path to the runtime,
    // since this pymodgen runs from a checkout) and as a published pymodgen would (by version).
    let emit = |module: &str, runtime: Option<String>| {
        let loaded = pymodgen::load(module, &Options::default()).unwrap();
        let mut options = EmitOptions::default();
        options.rust.runtime_dependency = runtime;
        let output = pymodgen::emit(&loaded.manifests, Lang::Rust, &options).unwrap();
        pymodgen::write_output(&gen_dir.join(module), &output).unwrap();
    };
    emit("math", None);
    emit("json", Some(format!("\"={}\"", pymodgen::VERSION)));
    let math_toml = std::fs::read_to_string(gen_dir.join("math/Cargo.toml")).unwrap();
    assert!(
        math_toml.contains(&format!("pymodgen-runtime = {{ path = {:?} }}", root().join("runtime"))),
        "{math_toml}"
    );
    let readme = std::fs::read_to_string(gen_dir.join("math/README.md")).unwrap();
    let build_rs = "fn main() {\n    pymodgen::link_python().unwrap_or_else(|e| panic!(\"pymodgen: {e}\"));\n}\n";
    assert!(readme.contains(build_rs), "the generated README shows the build.rs line:\n{readme}");

    let path = |p: PathBuf| format!("{:?}", p.display().to_string());
    let version = pymodgen::VERSION;
    let build_dep = format!(
        "[build-dependencies]\npymodgen = {{ path = {}, default-features = false }}\n",
        path(root().join("pymodgen"))
    );
    let programs = [
        (
            "uses-macro",
            format!("pymodgen-macros = {{ path = {} }}\n", path(root().join("pymodgen-macros"))),
            "pymodgen_macros::bind_pymodule!(\"math\");\n\nfn main() {\n    Python::attach(|py| println!(\"{}\", math::sqrt(py, 2.25).unwrap()));\n}\n",
        ),
        (
            "uses-path",
            format!("py-math = {{ path = {} }}\n", path(gen_dir.join("math"))),
            "fn main() {\n    Python::attach(|py| println!(\"{}\", py_math::factorial(py, 5).unwrap()));\n}\n",
        ),
        (
            "uses-version",
            format!("py-json = \"{version}\"\n"),
            "fn main() {\n    Python::attach(|py| println!(\"{}\", py_json::dumps(py, vec![1, 2]).unwrap()));\n}\n",
        ),
    ];
    // The control: the same macro program without the build.rs line.
    let control = app.join("no-build-rs");
    std::fs::create_dir_all(control.join("src")).unwrap();
    std::fs::write(
        control.join("Cargo.toml"),
        format!(
            "[package]\nname = \"no-build-rs\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{}pymodgen-runtime = \"{version}\"\n",
            programs[0].1
        ),
    )
    .unwrap();
    std::fs::write(
        control.join("src/main.rs"),
        "pymodgen_macros::bind_pymodule!(\"math\");\n\nfn main() {\n    pymodgen_runtime::pyo3::Python::attach(|py| match math::sqrt(py, 2.25) {\n        Ok(v) => println!(\"{v}\"),\n        Err(e) => println!(\"{e}\"),\n    });\n}\n",
    )
    .unwrap();
    let mut members = vec![format!("{:?}", "no-build-rs")];
    for (name, dep, main) in &programs {
        let dir = app.join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{dep}pymodgen-runtime = \"{version}\"\n\n{build_dep}"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("build.rs"), build_rs).unwrap();
        std::fs::write(dir.join("src/main.rs"), format!("use pymodgen_runtime::pyo3::prelude::*;\n\n{main}")).unwrap();
        members.push(format!("{name:?}"));
    }
    // A local registry in effect: the version requirements resolve to these sources.
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[patch.crates-io]\npymodgen-runtime = {{ path = {} }}\npy-json = {{ path = {} }}\n",
            members.join(", "),
            path(root().join("runtime")),
            path(gen_dir.join("json"))
        ),
    )
    .unwrap();
    let (ok, _, stderr) = cargo(&app, "outside", &["build", "-q", "--workspace"]);
    assert!(ok, "{stderr}");
    let mut outputs = Vec::new();
    for (name, _, _) in &programs {
        let out = Command::new(tools_target("outside").join("debug").join(name))
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert_eq!(outputs, ["1.5\n", "120\n", "[1, 2]\n"]);
    // Without the line, the loader takes the distribution's libpython of the same soname
    // when there is one (the error names the fix); with none, it finds the right one anyway.
    let out =
        Command::new(tools_target("outside").join("debug/no-build-rs")).env_remove("LD_LIBRARY_PATH").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let ours = pymodgen::libpython(None).unwrap().lib_dir;
    let distribution = Path::new("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
    if distribution.exists() && ours.as_deref() != distribution.parent() {
        assert!(
            stdout.starts_with("RuntimeError: pymodgen bindings were generated for Python ")
                && stdout.contains("pymodgen::link_python()"),
            "{stdout}"
        );
    } else {
        assert_eq!(stdout, "1.5\n");
    }
}

/// `bind_pymodule!` recompiles when the module's version hash changes, and only then:
/// a crate binding a copy of the fixture package is built, rebuilt with nothing changed
/// (fresh), then rebuilt after the package's `__init__.py` changes (recompiled, and the new
/// function is there).
#[test]
fn macro_recompiles_on_module_change() {
    let base = work_dir().join("macro-rebuild");
    let pkg = base.join("python/pymodgen_fixture");
    let krate = base.join("crate");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let src = fixtures().join("pymodgen_fixture");
    for f in ["__init__.py", "shapes.py", "_hidden.py"] {
        std::fs::copy(src.join(f), pkg.join(f)).unwrap();
    }
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"macro-rebuild\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\npymodgen-runtime = {{ path = {:?} }}\npymodgen-macros = {{ path = {:?} }}\n\n[workspace]\n",
            root().join("runtime"),
            root().join("pymodgen-macros")
        ),
    )
    .unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "pymodgen_macros::bind_pymodule!(\"pymodgen_fixture\" as fx);\npub use fx::*;\n",
    )
    .unwrap();
    let build_env = |timeout: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-v"])
            .current_dir(&krate)
            .env("CARGO_TARGET_DIR", tools_target("macro-rebuild"))
            .env("PYTHONPATH", base.join("python"))
            .env_remove("PYMODGEN_TIMEOUT");
        if let Some(t) = timeout {
            cmd.env("PYMODGEN_TIMEOUT", t);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let build = || build_env(None);
    build();
    let again = build();
    assert!(again.contains("Fresh macro-rebuild"), "recompiled with nothing changed:\n{again}");
    // An environment variable the library read (through `option_env!` in the expansion).
    let env_changed = build_env(Some("123"));
    assert!(
        env_changed.contains("Compiling macro-rebuild"),
        "not recompiled after PYMODGEN_TIMEOUT changed:\n{env_changed}"
    );
    build();
    // Change the module: a new function.
    let init = pkg.join("__init__.py");
    let mut text = std::fs::read_to_string(&init).unwrap();
    text.push_str("\n\ndef added_later(x):\n    return x\n");
    text = text.replace("__all__ = [", "__all__ = [\"added_later\", ");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&init, text).unwrap();
    let changed = build();
    assert!(changed.contains("Compiling macro-rebuild"), "not recompiled after the module changed:\n{changed}");
    std::fs::write(
        krate.join("src/lib.rs"),
        "pymodgen_macros::bind_pymodule!(\"pymodgen_fixture\" as fx);\npub use fx::added_later;\n",
    )
    .unwrap();
    build();
    // Restore, so the next run starts from the original again.
    std::fs::copy(src.join("__init__.py"), &init).unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "pymodgen_macros::bind_pymodule!(\"pymodgen_fixture\" as fx);\npub use fx::*;\n",
    )
    .unwrap();
}

/// Standard-library modules the sweeps skip on purpose (shared with tests/introspect.rs).
/// `_frozen_importlib` → `py_priv_frozen_importlib`, `cProfile` → `py_cprofile`.
fn sweep_name(module: &str) -> String {
    let lower = module.to_lowercase();
    let words: Vec<&str> = lower.split(['.', '_']).filter(|w| !w.is_empty()).collect();
    let private = if module.starts_with('_') { "priv_" } else { "" };
    format!("py_{private}{}", words.join("_"))
}

/// Every standard-library module of the sweep, bound into one crate (`pub mod py_<name>`
/// each, as `Builder` writes them), passes `cargo check` with zero errors and zero warnings.
#[test]
fn stdlib_sweep_compiles_without_warnings() {
    let common::Stdlib { modules, skipped, absent } = common::stdlib();
    assert!(modules.len() > 250, "only {} stdlib modules found", modules.len());
    let dir = work_dir().join("crates/stdlib-sweep");
    let mods = dir.join("src/mods");
    std::fs::create_dir_all(&mods).unwrap();
    let chunks: Vec<Vec<String>> = modules.chunks(modules.len().div_ceil(2)).map(|c| c.to_vec()).collect();
    type Emitted = (String, pymodgen::emit::rust::ReturnTypeCounts);
    let results: Vec<(String, Result<Emitted, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|m| {
                            let r = pymodgen::load(m, &Options::default()).map_err(|e| e.to_string()).and_then(|l| {
                                let mut o = pymodgen::emit::rust::RustOptions::default();
                                o.module_name = Some(sweep_name(m));
                                let counts = pymodgen::emit::rust::return_type_counts(&l.manifests, &o)
                                    .map_err(|e| e.to_string())?;
                                let text =
                                    pymodgen::emit::rust::module_file(&l.manifests, &o).map_err(|e| e.to_string())?;
                                Ok((text, counts))
                            });
                            (m.clone(), r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut lib = String::from("//! Every stdlib module of the sweep (generated by tests/rust_e2e.rs).\n");
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut lines = 0;
    let mut counts = pymodgen::emit::rust::ReturnTypeCounts::default();
    for (m, r) in &results {
        match r {
            Ok((text, c)) => {
                counts.functions += c.functions;
                counts.functions_typed += c.functions_typed;
                counts.methods += c.methods;
                counts.methods_typed += c.methods_typed;
                assert!(seen.insert(sweep_name(m)), "two modules named {}", sweep_name(m));
                lines += text.lines().count();
                let file = mods.join(format!("{m}.rs"));
                if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                    std::fs::write(&file, text).unwrap();
                }
                lib.push_str(&format!("include!(\"mods/{m}.rs\");\n"));
            }
            Err(e) => failures.push(format!("{m}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"stdlib-sweep\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\npymodgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            root().join("runtime")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["check", "--message-format", "short"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", tools_target("stdlib-sweep"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours = |kind: &str| stderr.lines().filter(|l| l.starts_with("src/") && l.contains(kind)).count();
    let (errors, warnings) = (ours(": error"), ours(": warning"));
    eprintln!(
        "stdlib sweep (Rust): {} modules in one crate, {lines} generated lines, {} skipped on purpose, {} not on this platform; cargo check: {errors} errors, {warnings} warnings",
        seen.len(),
        skipped.len(),
        absent.len()
    );
    eprintln!("stdlib sweep (Rust): {}", return_share(&counts));
    assert!(out.status.success() && errors == 0 && warnings == 0, "{stderr}");
}

/// `typed/all functions (x %) and typed/all methods (y %) return a concrete Rust type`.
fn return_share(c: &pymodgen::emit::rust::ReturnTypeCounts) -> String {
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    format!(
        "{}/{} module-level functions ({:.1} %) and {}/{} methods ({:.1} %) return a concrete Rust type (not Bound<PyAny>)",
        c.functions_typed,
        c.functions,
        pct(c.functions_typed, c.functions),
        c.methods_typed,
        c.methods,
        pct(c.methods_typed, c.methods)
    )
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A program built in a virtual environment runs outside it: a venv (outside the workspace)
/// holds a package from PyPI (`humanize`, pinned); a crate with `bind_pymodule!("humanize")`
/// and the documented build.rs line is built with only the venv's `VIRTUAL_ENV` and `PATH`,
/// then run with no venv variable and the venv's `bin` not on `PATH`: it starts the venv's
/// interpreter (sys.prefix is the venv, humanize is the venv's) and the call works.
/// (The base interpreter may have humanize too on a shared machine: the checks hold either
/// way.) `PYMODGEN_PYTHON` at run time selects another interpreter: an empty venv's, which
/// lacks the module, and the error names both interpreters; one that does not exist is a
/// one-line error.
#[test]
fn program_built_in_a_venv_runs_outside_it() {
    let base = pymodgen::libpython(None).unwrap().interpreter.path;
    let tmp = tempfile::Builder::new().prefix("pymodgen-venv-").tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let status = Command::new(&base).args(["-m", "venv"]).arg(&venv).status().unwrap();
    assert!(status.success(), "{} -m venv failed", base.display());
    let pip =
        Command::new(venv.join("bin/python")).args(["-m", "pip", "install", "-q", "humanize==4.9.0"]).output().unwrap();
    assert!(
        pip.status.success(),
        "this test needs humanize from PyPI (pip install humanize==4.9.0 in a venv), and pip failed \
         (is the package index reachable?):\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let empty = tmp.path().join("empty");
    let status = Command::new(&base).args(["-m", "venv", "--without-pip"]).arg(&empty).status().unwrap();
    assert!(status.success(), "{} -m venv failed", base.display());

    let krate = tmp.path().join("app");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let path = |p: &str| format!("{:?}", root().join(p).display().to_string());
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"venv-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\npymodgen-runtime = {{ path = {} }}\npymodgen-macros = {{ path = {} }}\n\n[build-dependencies]\npymodgen = {{ path = {}, default-features = false }}\n\n[workspace]\n",
            path("runtime"),
            path("pymodgen-macros"),
            path("pymodgen")
        ),
    )
    .unwrap();
    std::fs::write(
        krate.join("build.rs"),
        "fn main() {\n    pymodgen::link_python().unwrap_or_else(|e| panic!(\"pymodgen: {e}\"));\n}\n",
    )
    .unwrap();
    std::fs::write(
        krate.join("src/main.rs"),
        r#"use pymodgen_runtime::pyo3::prelude::*;

pymodgen_macros::bind_pymodule!("humanize");

fn main() {
    Python::attach(|py| {
        println!("{}", py.import("sys").unwrap().getattr("prefix").unwrap());
        match humanize::intcomma(py, 1234567) {
            Ok(s) => println!("{s}\n{}", py.import("humanize").unwrap().getattr("__file__").unwrap()),
            Err(e) => println!("{}", pymodgen_runtime::render_error(py, &e)),
        }
    });
}
"#,
    )
    .unwrap();
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut build_path = vec![venv.join("bin")];
    build_path.extend(std::env::split_paths(&path_var));
    let target = tools_target("venv");
    let out = Command::new(env!("CARGO"))
        .args(["build", "-q"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", std::env::join_paths(build_path).unwrap())
        .env_remove("PYO3_PYTHON")
        .env_remove("PYMODGEN_PYTHON")
        .env_remove("CONDA_PREFIX")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let run = |python: Option<&Path>| {
        let mut cmd = Command::new(target.join("debug/venv-app"));
        cmd.current_dir(tmp.path()).env("PATH", &path_var);
        for var in ["VIRTUAL_ENV", "CONDA_PREFIX", "PYO3_PYTHON", "PYMODGEN_PYTHON", "PYTHONPATH", "PYTHONHOME"] {
            cmd.env_remove(var);
        }
        if let Some(p) = python {
            cmd.env("PYMODGEN_PYTHON", p);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(None);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let prefix = Path::new(stdout.lines().next().unwrap()).canonicalize().unwrap();
    assert_eq!(prefix, venv.canonicalize().unwrap(), "{stdout}");
    assert_eq!(stdout.lines().nth(1), Some("1,234,567"), "{stdout}");
    let module = Path::new(stdout.lines().nth(2).unwrap()).canonicalize().unwrap();
    assert!(module.starts_with(venv.canonicalize().unwrap()), "{stdout}");

    // An interpreter without the module, chosen at run time: the error names both.
    let other = empty.join("bin/python");
    let (code, stdout, stderr) = run(Some(&other));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let error = stdout.lines().last().unwrap();
    assert!(
        error.starts_with(
            "ModuleNotFoundError: No module named 'humanize' (importing humanize: this program runs Python "
        ) && error.contains(&format!(" at {} ", other.display()))
            && error.contains(&format!(
                "bindings were made for Python {} ({}",
                pymodgen::libpython(None).unwrap().version,
                venv.display()
            ))
            && error.contains("PYMODGEN_PYTHON"),
        "{stdout}"
    );

    // An interpreter that does not exist: one line, exit status 1.
    let (code, stdout, stderr) = run(Some(Path::new("/nonexistent/python3")));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(stderr, "pymodgen: cannot start Python: PYMODGEN_PYTHON is /nonexistent/python3, which is not a file\n");
}

/// Third-party libraries the sweep binds (installed, pinned, by scripts/setup): several ship
/// inline types or stubs (jinja2 with a `Literal[..., '\r']`, click, packaging, humanize,
/// attrs' `.pyi` files, requests through types-requests).
/// matplotlib.pyplot (a `Literal` with `'None'` and `'none'`) comes with matplotlib.
const THIRD_PARTY: &[&str] =
    &["attrs", "click", "humanize", "jinja2", "markupsafe", "matplotlib.pyplot", "packaging.version", "requests"];

/// The third-party sweep: each library of [`THIRD_PARTY`] bound into ONE crate (a module
/// `py_<name>` each), built and run with `-D warnings`: zero warnings, and one call through
/// each library's bindings.
#[test]
fn third_party_sweep() {
    let started = std::time::Instant::now();
    let dir = work_dir().join("crates/third-party-sweep");
    let mut lib = String::from("//! The third-party sweep's libraries (generated by tests/rust_e2e.rs).\n");
    let mut lines = 0;
    let mut counts = (0, 0);
    for m in THIRD_PARTY {
        let loaded = pymodgen::load(m, &Options::default()).unwrap_or_else(|e| panic!("loading {m}: {e}"));
        let mut o = pymodgen::emit::rust::RustOptions::default();
        o.module_name = Some(sweep_name(m));
        let text = pymodgen::emit::rust::module_file(&loaded.manifests, &o).unwrap_or_else(|e| panic!("{m}: {e}"));
        counts.0 += loaded.manifests[0].functions.len();
        counts.1 += loaded.manifests[0].classes.len();
        lines += text.lines().count();
        let file = dir.join(format!("src/mods/{m}.rs"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&file, text).unwrap();
        }
        lib.push_str(&format!("include!(\"mods/{m}.rs\");\n"));
    }
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"third-party-sweep\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\npymodgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            root().join("runtime")
        ),
    )
    .unwrap();
    // As a generated crate's build.rs: its examples get an rpath to the interpreter's libpython.
    std::fs::write(
        dir.join("build.rs"),
        "fn main() {\n    println!(\"cargo::rerun-if-env-changed=DEP_PYMODGEN_RUNTIME_LIB_DIR\");\n    if let Some(dir) = std::env::var_os(\"DEP_PYMODGEN_RUNTIME_LIB_DIR\") {\n        println!(\"cargo::rustc-link-arg=-Wl,-rpath,{}\", dir.to_string_lossy());\n    }\n}\n",
    )
    .unwrap();
    let generated = started.elapsed();
    let out = run(
        &dir,
        &format!(
            r#"{PRELUDE}
use third_party_sweep::*;
fn main() {{
    Python::attach(|py| {{
        println!("{{}}", py_attrs::has(py, py.get_type::<PyInt>()).unwrap());
        println!("{{:?}}", py_click::style_with(py, "x").fg("red").call().unwrap());
        println!("{{}}", py_humanize::intcomma(py, 1234567).unwrap());
        let env = py_jinja2::Environment::new_with(py).call().unwrap();
        let t = env.from_string("Hi {{{{ n }}}}!").unwrap();
        println!("{{}}", t.render_with().kwargs([("n", "there")].into_iter().collect::<std::collections::HashMap<_, _>>()).call().unwrap());
        println!("{{}}", py_markupsafe::escape(py, "<a>").unwrap());
        println!("{{}}", py_matplotlib_pyplot::isinteractive(py).unwrap());
        let v = py_packaging_version::parse(py, "1.2.3").unwrap();
        println!("{{}} {{}}", v.major().unwrap(), v);
        let r = py_requests::PreparedRequest::new(py).unwrap();
        r.prepare_with().method("GET").url("http://example.com/a b").call().unwrap();
        println!("{{}}", r.as_bound().getattr("url").unwrap());
    }});
}}
"#
        ),
    );
    eprintln!(
        "third-party sweep (Rust): {} libraries ({}), {} module-level functions and {} classes, {lines} generated lines; generate {:.1} s, build and run {:.1} s, 0 warnings (-D warnings)",
        THIRD_PARTY.len(),
        THIRD_PARTY.join(", "),
        counts.0,
        counts.1,
        generated.as_secs_f64(),
        (started.elapsed() - generated).as_secs_f64()
    );
    assert_eq!(
        out,
        "false\n\"\\u{1b}[31mx\\u{1b}[0m\"\n1,234,567\nHi there!\n&lt;a&gt;\nfalse\n1 1.2.3\nhttp://example.com/a%20b\n"
    );
}
