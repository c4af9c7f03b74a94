//! Generates `$OUT_DIR/numpy.rs` (numpy and its public submodules) with pymodgen::Builder.
//! It prints `rerun-if-env-changed` for the interpreter variables, `rerun-if-changed` for
//! numpy's files that the module version hash covers, and an rpath to libpython.
fn main() {
    if let Err(err) = pymodgen::Builder::new().module("numpy").submodules(true).generate() {
        // One line, as cargo shows build script errors.
        eprintln!("pymodgen: {err}");
        std::process::exit(1);
    }
}
