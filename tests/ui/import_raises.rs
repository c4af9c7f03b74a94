// PYTHONPATH is set to tests/fixtures/python by tests/rust_ui.rs.
pymodgen_macros::bind_pymodule!("pymodgen_raises");

fn main() {}
