//! Generates `$OUT_DIR/numpy.rs` (numpy and its public submodules) with pymodgen::Builder.
//! It prints `rerun-if-env-changed` for the interpreter variables, `rerun-if-changed` for
//! numpy's files that the module version hash covers, and an rpath to libpython. Arrays are
//! typed with rust-numpy (`numpy_arrays`: `NDArray[float64]` → `Bound<PyArrayDyn<f64>>`),
//! which the runtime's `numpy` feature (Cargo.toml) provides.
fn main() {
    let mut rust = pymodgen::emit::rust::RustOptions::default();
    rust.numpy_arrays = Some(true);
    if let Err(err) = pymodgen::Builder::new().module("numpy").submodules(true).rust_options(rust).generate() {
        // One line, as cargo shows build script errors.
        eprintln!("pymodgen: {err}");
        std::process::exit(1);
    }
}
