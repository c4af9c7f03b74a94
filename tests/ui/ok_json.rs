pymodgen_macros::bind_pymodule!("json");
pymodgen_macros::bind_pymodule!("os.path" as os_path);
// Named as written (`path`), though os.path's manifest says `posixpath`.
pymodgen_macros::bind_pymodule!("os.path");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let s = json::dumps(py, vec![1, 2]).unwrap();
        assert_eq!(s.to_string(), "[1, 2]");
        assert_eq!(os_path::basename(py, "/a/b").unwrap().to_string(), "b");
        assert_eq!(path::dirname(py, "/a/b").unwrap().to_string(), "/a");
    });
}
