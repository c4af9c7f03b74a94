// A parameter typed `str` takes a `&str`; `textwrap.wrap`'s `width` takes an `i64`.
pymodgen_macros::bind_pymodule!("textwrap");

fn main() {
    pymodgen_runtime::pyo3::Python::attach(|py| {
        let _ = textwrap::dedent(py, 42);
        let _ = textwrap::wrap_with(py, "a b").width("3").call();
    });
}
