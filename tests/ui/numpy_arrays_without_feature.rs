// Typed numpy arrays need rust-numpy: without the runtime's `numpy` feature (this test
// crate's pymodgen-runtime has none) the bindings do not compile, with one message.
pymodgen_macros::bind_pymodule!("numpy.linalg" as linalg, numpy_arrays);

fn main() {}
