//! Tells dependents where the libpython pyo3 builds against lives
//! (`DEP_PYMODGEN_RUNTIME_LIB_DIR`): a crate of bindings prints
//! `cargo:rustc-link-arg=-Wl,-rpath,<dir>` from it, so its tests and examples load that
//! libpython, not another one of the same soname that the dynamic loader finds first; and
//! links this crate's own tests the same way.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(dir) = config.lib_dir() {
        println!("cargo::metadata=lib_dir={dir}");
    }
    pyo3_build_config::add_libpython_rpath_link_args();
}
