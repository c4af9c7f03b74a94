// Typed bindings from typeshed's stubs: the results are Rust types, the parameters typed
// where the stub gives a scalar.
pymodgen_macros::bind_pymodule!("json");
pymodgen_macros::bind_pymodule!("textwrap");
pymodgen_macros::bind_pymodule!("platform");
pymodgen_macros::bind_pymodule!("os");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let s: String = json::dumps(py, vec![1, 2]).unwrap();
        assert_eq!(s, "[1, 2]");
        let lines: Vec<String> = textwrap::wrap_with(py, "a b c d").width(3).call().unwrap();
        assert_eq!(lines, ["a b", "c d"]);
        let dedented: String = textwrap::dedent(py, "  x\n  y").unwrap();
        assert_eq!(dedented, "x\ny");
        let version: String = platform::python_version(py).unwrap();
        assert!(version.starts_with("3."));
        let cwd: String = os::getcwd(py).unwrap();
        assert_eq!(std::path::Path::new(&cwd), std::env::current_dir().unwrap());
    });
}
