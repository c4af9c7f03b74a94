// `**kwargs` takes a map (`HashMap`, `BTreeMap`, a Python dict): a list of pairs, which
// Python's `**` refuses at run time ("'list' object is not a mapping"), does not compile.
pymodgen_macros::bind_pymodule!("pymodgen_fixture");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let _ = pymodgen_fixture::everything_with(py, 1, 10).kwargs([("z", 26)]).call();
    });
}
