//! Tells dependents where the interpreter's libpython lives, and links this crate's own
//! tests and benchmarks with an rpath to it.
//!
//! A crate of bindings reads `DEP_PYMODGEN_RUNTIME_LIB_DIR` in its build script and prints
//! `cargo:rustc-link-arg=-Wl,-rpath,<dir>`, so its tests and examples load the libpython
//! pyo3 was built for, not another one of the same soname that the dynamic loader finds first.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    if let Some(dir) = config.lib_dir() {
        println!("cargo::metadata=lib_dir={dir}");
    }
    pyo3_build_config::add_libpython_rpath_link_args();
}
