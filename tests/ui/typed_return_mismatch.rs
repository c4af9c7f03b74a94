// A typed result is what its stub says: `json.dumps` returns a `String`, not an `i64`.
pymodgen_macros::bind_pymodule!("json");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let _n: i64 = json::dumps(py, 1).unwrap();
    });
}
