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
        // `**kw` takes a map: a Rust map or a Python dict.
        let kw = std::collections::BTreeMap::from([("indent", 1)]);
        assert_eq!(json::dumps_with(py, vec![1]).kw(kw).call().unwrap().to_string(), "[\n 1\n]");
        let kw = pymodgen_runtime::pyo3::types::PyDict::new(py);
        pymodgen_runtime::pyo3::types::PyDictMethods::set_item(&kw, "separators", (",", ":")).unwrap();
        assert_eq!(json::dumps_with(py, vec![1, 2]).kw(&kw).call().unwrap().to_string(), "[1,2]");
    });
}
