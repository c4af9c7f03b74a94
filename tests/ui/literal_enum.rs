// `Literal['fast', 'slow']` is an enum: a string that is not one of its values does not
// compile (`pymodgen_typed.mode(name: Literal['fast', 'slow'])`).
pymodgen_macros::bind_pymodule!("pymodgen_typed");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let _ = pymodgen_typed::mode(py, pymodgen_typed::Name::Fast);
        let _ = pymodgen_typed::mode(py, "medium");
    });
}
